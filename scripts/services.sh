#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer on 127.0.0.1; start them where this machine can.
set -uo pipefail

port_open() {  # host port
  python3 - "$1" "$2" <<'PY'
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()
except OSError:
    sys.exit(1)
PY
}

wait_for() {  # name host port
  for _ in $(seq 1 30); do
    port_open "$2" "$3" && return 0
    sleep 1
  done
  return 1
}

missing=()

if ! port_open 127.0.0.1 5432; then
  echo "PostgreSQL is not answering on 127.0.0.1:5432; starting it"
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start || true
  fi
  wait_for PostgreSQL 127.0.0.1 5432 || missing+=("PostgreSQL on 127.0.0.1:5432 (install postgresql, or set TEST_DATABASE_URL)")
fi

if ! port_open 127.0.0.1 6379; then
  echo "Redis is not answering on 127.0.0.1:6379; starting it"
  if command -v redis-server >/dev/null 2>&1; then
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null || true
  fi
  wait_for Redis 127.0.0.1 6379 || missing+=("Redis on 127.0.0.1:6379 (install redis-server, or set TEST_REDIS_URL)")
fi

# MariaDB: the MySQL source's tests need it where this machine has the server.
if [ -x /usr/sbin/mariadbd ] && ! port_open 127.0.0.1 3306; then
  echo "MariaDB is not answering on 127.0.0.1:3306; starting it"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- \
    --user=mysql --bind-address=127.0.0.1 --port=3306 || true
  wait_for MariaDB 127.0.0.1 3306 || missing+=("MariaDB on 127.0.0.1:3306 (install mariadb-server)")
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "error: the test suite needs services that are not running and could not be started:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi
