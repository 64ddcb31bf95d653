#!/usr/bin/env bash
# The headless browser of the admin's browser tests: Debian's chromium (and its driver).
# Installed when missing, where this machine can (root with apt-get); otherwise the tests that
# need it are skipped, and say why.
set -uo pipefail

if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: chromium is not installed (the admin's browser tests will be skipped);" \
    "install Debian's chromium and chromium-driver to run them" >&2
  exit 0
fi
echo "Installing chromium for the admin's browser tests"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1; then
  # A fresh machine has no package lists yet.
  apt-get update -qq >/dev/null 2>&1 || true
  apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 \
    || echo "note: could not install chromium; the admin's browser tests will be skipped" >&2
fi
exit 0
