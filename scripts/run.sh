#!/usr/bin/env bash
# Start the Landed platform: apply migrations, then run the API (gunicorn with uvicorn workers,
# landed/gunicorn_conf.py), the Celery workers (syncs, light scheduled work, webhooks) and beat
# together; Ctrl-C stops them all.
# With nothing configured it runs embedded (SQLite file, a file-based broker and a local secret
# key under LANDED_DATA_DIR, default ./var); DATABASE_URL and REDIS_URL switch to PostgreSQL
# and Redis. RUN_WORKERS=false serves the API alone (workers run elsewhere).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VENV:-.venv}"
export PATH="$PWD/$venv/bin:$PATH"
export PORT="${PORT:-8000}"
export HOST="${HOST:-127.0.0.1}"
export LANDED_DATA_DIR="${LANDED_DATA_DIR:-$PWD/var}"
mkdir -p "$LANDED_DATA_DIR"

if [ -z "${SECRET_KEY:-}" ]; then
  # A key generated once for this data directory (so sessions survive restarts), by the code
  # the settings use for it too: on the embedded default, manage.py finds the same key.
  SECRET_KEY="$(python -m landed.secret_key "$LANDED_DATA_DIR")"
  export SECRET_KEY
fi

case "$HOST" in
  127.*|localhost|::1)
    # Plain HTTP on the loopback: curl would never send a Secure cookie back.
    export SESSION_COOKIE_SECURE="${SESSION_COOKIE_SECURE:-false}"
    # A local, single-user install: let connectors reach databases on this machine's network.
    export ALLOW_PRIVATE_NETWORKS="${ALLOW_PRIVATE_NETWORKS:-true}"
    # Webhook receivers on this machine may be plain HTTP too.
    export WEBHOOK_REQUIRE_HTTPS="${WEBHOOK_REQUIRE_HTTPS:-false}" ;;
esac

if [ -n "${DATABASE_URL:-}" ]; then db="${DATABASE_URL%%://*} (DATABASE_URL)"; else db="SQLite in $LANDED_DATA_DIR"; fi
if [ -n "${REDIS_URL:-}" ]; then cache="Redis (REDIS_URL)"; else cache="in-process (single server process)"; fi

python manage.py migrate --no-input -v 0
python manage.py collectstatic --no-input -v 0
# The support chat's index of the docs and API reference (rebuilt only if they changed); a
# server that starts without it builds it at its first question.
python manage.py support_index -v 0 >/dev/null || echo "support index not built; it will be built on first use" >&2

if [ -n "${REDIS_URL:-}" ]; then broker="Redis"; else broker="files in $LANDED_DATA_DIR/broker"; fi
mkdir -p "$LANDED_DATA_DIR/broker/processed" "$LANDED_DATA_DIR/broker/control"

# Every process is started in a process group of its own (job control on while they start),
# so that one left behind can be killed with its children; a terminal's Ctrl-C then reaches
# this script alone, which stops them all as below.
pids=()
stop_signals=()
start() {
  local stop_signal="$1"
  shift
  set -m
  "$@" &
  set +m
  pids+=($!)
  stop_signals+=("$stop_signal")
}

stop_all() {
  trap - INT TERM EXIT
  local i
  for i in "${!pids[@]}"; do kill -"${stop_signals[$i]}" "${pids[$i]}" 2>/dev/null || true; done
  # Bounded: whatever still runs after STOP_TIMEOUT_SECONDS is killed (a worker that stopped
  # consuming but hangs on its way out); a process group left behind (a pool process whose
  # parent is gone) goes with it.
  local waits=$((${STOP_TIMEOUT_SECONDS:-8} * 10)) alive pid
  for ((i = 0; i < waits; i++)); do
    alive=false
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=true; done
    [ "$alive" = true ] || break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop_all INT TERM EXIT

if [ "${RUN_WORKERS:-true}" = "true" ]; then
  # The workers stop at SIGQUIT, Celery's cold shutdown: the tasks they are running are
  # stopped and taken up again after the next start (every task is idempotent and
  # acknowledged late; a sync resumes from its checkpoint). SIGTERM's warm shutdown waits for
  # them: a sync for as long as it takes, a webhook delivery up to its 10 s timeout, so
  # Ctrl-C took 15 s and more.
  # Syncs on workers of their own.
  # A pool process that a sync left holding more than WORKER_MAX_MEMORY_MIB (memory its
  # drivers keep after a large read) is replaced by a fresh one once the sync is done.
  start QUIT celery -A landed worker --queues syncs --concurrency "${WORKER_CONCURRENCY:-2}" \
    --max-memory-per-child "$((${WORKER_MAX_MEMORY_MIB:-300} * 1024))" \
    --hostname "syncs@%h" --loglevel "${LOG_LEVEL:-INFO}"
  # The light work on another: the scheduler's and reaper's tasks, and webhook deliveries and
  # alerts (short HTTP calls, on a queue of their own so that a fleet can give them workers of
  # their own, as compose.yaml does); a long sync never delays them. A receiver that hangs
  # holds one of its slots at most (one attempt at a time per endpoint, then its circuit
  # breaker: docs/webhooks.md), so the other keeps delivering to everyone else.
  start QUIT celery -A landed worker --queues default,webhooks \
    --concurrency "${LIGHT_WORKER_CONCURRENCY:-2}" \
    --hostname "default@%h" --loglevel "${LOG_LEVEL:-INFO}"
  start TERM celery -A landed beat --loglevel "${LOG_LEVEL:-INFO}" \
    --schedule "$LANDED_DATA_DIR/celerybeat-schedule"
  workers_note="; sync worker and scheduler (broker: $broker)"
else
  workers_note=""
fi

echo "Landed API on http://$HOST:$PORT  (database: $db; cache: $cache$workers_note). Ctrl-C stops it."
start TERM gunicorn --config python:landed.gunicorn_conf landed.asgi
# Stop everything as soon as any of the processes exits.
wait -n "${pids[@]}"
