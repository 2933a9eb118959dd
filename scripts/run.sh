#!/usr/bin/env bash
# Set up and run chidoan on the embedded default: a SQLite file in data/, the local web chat on
# http://127.0.0.1:8080 with the demo data loaded on first start, and Telegram too when
# TELEGRAM_BOT_TOKEN is set (in the environment or in .env).
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS= source scripts/setup.sh
exec .venv/bin/chidoan run --demo "$@"
