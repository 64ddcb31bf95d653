#!/usr/bin/env bash
# Start the Landed platform: apply migrations, then serve the API with gunicorn.
# With nothing configured it runs embedded (SQLite file and a local secret key under
# LANDED_DATA_DIR, default ./var); DATABASE_URL and REDIS_URL switch to PostgreSQL and Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VENV:-.venv}"
export PATH="$PWD/$venv/bin:$PATH"
export PORT="${PORT:-8000}"
export HOST="${HOST:-127.0.0.1}"
export LANDED_DATA_DIR="${LANDED_DATA_DIR:-$PWD/var}"
mkdir -p "$LANDED_DATA_DIR"

if [ -z "${SECRET_KEY:-}" ]; then
  # A key generated once for this data directory, so sessions survive restarts.
  key_file="$LANDED_DATA_DIR/secret_key"
  if [ ! -s "$key_file" ]; then
    (umask 077 && python -c 'import secrets; print(secrets.token_urlsafe(50))' >"$key_file")
  fi
  SECRET_KEY="$(cat "$key_file")"
  export SECRET_KEY
fi

case "$HOST" in
  127.*|localhost|::1)
    # Plain HTTP on the loopback: curl would never send a Secure cookie back.
    export SESSION_COOKIE_SECURE="${SESSION_COOKIE_SECURE:-false}" ;;
esac

if [ -n "${DATABASE_URL:-}" ]; then db="${DATABASE_URL%%://*} (DATABASE_URL)"; else db="SQLite in $LANDED_DATA_DIR"; fi
if [ -n "${REDIS_URL:-}" ]; then cache="Redis (REDIS_URL)"; else cache="in-process (single server process)"; fi

python manage.py migrate --no-input -v 0
python manage.py collectstatic --no-input -v 0

echo "Landed API on http://$HOST:$PORT  (database: $db; cache: $cache). Ctrl-C stops it."
exec gunicorn --config python:landed.gunicorn_conf landed.wsgi
