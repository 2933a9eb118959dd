#!/usr/bin/env bash
# Set up and run the whole test suite: the linters (ruff, mypy), then unit and end-to-end tests
# through the web chat, the fake Telegram Bot API, headless Chromium, and the local PostgreSQL
# server (127.0.0.1:5432, database "test"; set CHIDOAN_TEST_PG to use another). Outside CI, what
# is missing is skipped; in CI (CI=true) a missing Chromium or PostgreSQL fails the run.
# Arguments go to pytest; CHIDOAN_TEST_WORKERS sets how many processes run the tests (2).
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=test source scripts/setup.sh
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser test…"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
echo "ruff…" && .venv/bin/ruff check --quiet . && .venv/bin/ruff format --check --quiet .
echo "mypy…" && .venv/bin/mypy
# Two pytest processes (pytest-xdist): most of a test is waiting on sockets, child processes and
# the database, so two share the 2 cores of CI; `-n 0` (after, so it wins) runs in one.
exec .venv/bin/python -m pytest -n "${CHIDOAN_TEST_WORKERS:-2}" "$@"
