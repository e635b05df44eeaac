#!/usr/bin/env bash
# Installs everything, brings the store in step with content/ (only what changed), and
# starts the browser chat on http://127.0.0.1:7860 (RAG_HOST, RAG_PORT).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
printf '\n==> Indexing the articles\n' >&2
.venv/bin/rag index
.venv/bin/rag info
printf '\n==> Starting the chat (Ctrl+C to stop)\n' >&2
exec .venv/bin/python app.py
