#!/usr/bin/env bash
# Create .venv and install chidoan into it from the lock file: requirements/run.txt, or
# requirements/test.txt with EXTRAS=test. Every package (pip and the build backend included) is
# pinned with its hashes, so a fresh machine installs exactly what CI tested; a no-op when
# neither pyproject.toml nor the lock changed. Sourced by scripts/run.sh and scripts/test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
lock=requirements/${EXTRAS:-run}.txt
python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "chidoan needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
made_from=$(sed -n 's/^# pyproject.toml dependencies: //p' "$lock")
if [ "$made_from" != "$("$python" scripts/lock_inputs.py)" ]; then
  echo "$lock was not made from pyproject.toml's dependencies as they are now: run bash scripts/lock.sh and commit both" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=".venv/.installed-$(cat pyproject.toml "$lock" | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r "$lock"
  # The project itself, editable, built with the locked setuptools already in .venv.
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation --editable .
  rm -f .venv/.installed-*
  touch "$stamp"
fi
