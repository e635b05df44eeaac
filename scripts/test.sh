#!/usr/bin/env bash
# Installs everything the tests need (Debian's chromium for the browser tests, the test
# extras, the default model), then runs ruff and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  printf '\n==> Installing Debian'"'"'s chromium for the browser tests\n' >&2
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium
fi

scripts/install.sh --test
printf '\n==> ruff\n' >&2
.venv/bin/ruff check .
printf '\n==> pytest (two workers, a test module each at a time)\n' >&2
exec .venv/bin/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder "$@"
