#!/usr/bin/env bash
# The README's test command: install what the tests need on this machine (idempotent), then run them.
#   scripts/test.sh            the whole suite
#   scripts/test.sh tests/x.py pytest arguments pass through
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec python3 -m pytest -q "$@"
