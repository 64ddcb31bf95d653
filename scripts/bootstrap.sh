#!/usr/bin/env bash
# Create the virtual environment and install Landed with its development tools.
set -euo pipefail
python="${1:-python3}"
venv="${2:-.venv}"

if ! command -v "$python" >/dev/null 2>&1; then
  echo "error: '$python' not found; Landed needs Python 3.11 or newer" >&2
  exit 1
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "error: Landed needs Python 3.11 or newer; '$python' is $("$python" -V 2>&1)" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "Creating virtual environment in $venv"
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e '.[dev]'
# The browser that the admin's browser tests drive (Debian's chromium), where it can be had.
"$(dirname "$0")/browser.sh"
