#!/usr/bin/env bash
# The checks that keep the code's shape: import contracts (import-linter, [tool.importlinter] in
# pyproject.toml) and static types (mypy with the Django and DRF plugins, [tool.mypy]). Both run
# even if the first fails; the exit status is non-zero if either did. Run by scripts/test.sh
# and `make lint`.
set -uo pipefail
cd "$(dirname "$0")/.."
venv="${VENV:-.venv}"
export PATH="$PWD/$venv/bin:$PATH"

# mypy's Django plugin loads landed.settings, which refuses to start without SECRET_KEY; the same
# test-only defaults as scripts/test.sh (no database is opened).
export SECRET_KEY="${SECRET_KEY:-test-only-secret-key-not-for-production}"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
# The plugin imports the settings of this checkout, whatever the virtualenv was installed from.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

failed=()

echo "== import contracts (lint-imports)"
lint-imports --no-logo || failed+=("import contracts")

echo "== types (mypy)"
# A cache of its own: mypy replays the errors it cached for a module from an earlier run that
# checked it, even where this configuration only reads that module silently.
mypy --cache-dir .mypy_cache/guards || failed+=("types")

if [ "${#failed[@]}" -gt 0 ]; then
  echo "== failed: ${failed[*]} (see above)" >&2
  exit 1
fi
