#!/usr/bin/env bash
# Run a Celery worker or beat of the platform on its own (containers, a fleet of workers):
#   scripts/celery.sh worker --queues syncs     scripts/celery.sh beat
# Without SECRET_KEY it uses the key `make run` keeps in LANDED_DATA_DIR, which it waits for:
# every process of one platform must share the key (it also derives the secrets' key).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VENV:-.venv}"
export PATH="$PWD/$venv/bin:$PATH"
export LANDED_DATA_DIR="${LANDED_DATA_DIR:-$PWD/var}"

if [ -z "${SECRET_KEY:-}" ]; then
  key_file="$LANDED_DATA_DIR/secret_key"
  for _ in $(seq 1 60); do
    [ -s "$key_file" ] && break
    sleep 1
  done
  if [ ! -s "$key_file" ]; then
    echo "error: set SECRET_KEY, or start the API (scripts/run.sh) first: it creates $key_file" >&2
    exit 1
  fi
  SECRET_KEY="$(cat "$key_file")"
  export SECRET_KEY
fi

case "${1:-}" in
  beat) shift; exec celery -A landed beat --schedule "$LANDED_DATA_DIR/celerybeat-schedule" "$@" ;;
  worker) shift; exec celery -A landed worker "$@" ;;
  *) echo "usage: scripts/celery.sh worker|beat [celery options]" >&2; exit 2 ;;
esac
