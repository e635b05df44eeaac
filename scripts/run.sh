#!/usr/bin/env bash
# Installs everything, indexes the articles (only what changed), and shows the store.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
printf '\n==> Indexing the articles\n' >&2
.venv/bin/rag index
.venv/bin/rag info
