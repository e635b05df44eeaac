#!/usr/bin/env bash
# Installs everything the tests need, then runs ruff and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --test
printf '\n==> ruff\n' >&2
.venv/bin/ruff check .
printf '\n==> pytest\n' >&2
exec .venv/bin/python -m pytest "$@"
