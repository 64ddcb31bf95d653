#!/usr/bin/env bash
# The whole check that CI runs: lint, import contracts and types, migrations in step with the
# models, the test suite against real PostgreSQL and Redis. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VENV:-.venv}"
export PATH="$PWD/$venv/bin:$PATH"

if [ -z "${TEST_DATABASE_URL:-}" ] || [ -z "${TEST_REDIS_URL:-}" ]; then
  scripts/services.sh
fi
# The admin's browser tests drive Debian's chromium: installed here when missing (as root).
scripts/browser.sh
# pytest-django creates (and drops) test_<name>; the server's own database is never touched.
export DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
# A Redis database of its own, so that tests never touch data of a running platform.
export REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}"
export SECRET_KEY="${SECRET_KEY:-test-only-secret-key-not-for-production}"

echo "== ruff"
ruff check .
ruff format --check .
# Import contracts and types (scripts/guards.sh prints its own headings). A failure there fails
# the run at the end, after pytest, so that one run reports both.
guards=0
VENV="$venv" scripts/guards.sh || guards=$?
echo "== migrations are up to date"
python manage.py makemigrations --check --dry-run
echo "== pytest"
status=0
python -m pytest "$@" || status=$?
if [ "$guards" -ne 0 ]; then
  echo "== import contracts or types failed (see above)" >&2
  [ "$status" -ne 0 ] || status=$guards
fi
exit "$status"
