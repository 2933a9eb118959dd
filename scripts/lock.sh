#!/usr/bin/env bash
# Refresh the lock files from pyproject.toml (run after changing a dependency, and commit the
# result with it): requirements/run.txt for running, requirements/test.txt with the test extra.
# Versions are kept where pyproject still allows them; `bash scripts/lock.sh --upgrade` takes the
# newest allowed ones. pip-tools runs in a venv of its own, pinned here.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
[ -x .venv-lock/bin/pip-compile ] || { "$python" -m venv .venv-lock && .venv-lock/bin/pip install --quiet pip-tools==7.6.2; }
compile() {
  .venv-lock/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
    --no-emit-find-links "$@" pyproject.toml requirements/build.in
}
compile -o requirements/run.txt "$@"
compile --extra test -o requirements/test.txt "$@"
# What they were made from (scripts/lock_inputs.py): setup.sh checks it before installing.
inputs=$("$python" scripts/lock_inputs.py)
for lock in requirements/run.txt requirements/test.txt; do
  echo "# pyproject.toml dependencies: $inputs" >> "$lock"
done
echo "locked: $(grep -c '==' requirements/run.txt) packages to run, $(grep -c '==' requirements/test.txt) to test"
