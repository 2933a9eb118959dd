"""Print the digest of what the lock files are made from: pyproject.toml's dependency lists
(and the Python and build backend it asks for). scripts/lock.sh writes it into each lock file;
scripts/setup.sh refuses to install from a lock whose digest differs, so a dependency added to
pyproject.toml without `bash scripts/lock.sh` fails at once, by name, not later in CI."""

import hashlib
import json
import sys
import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text(encoding="utf-8"))
inputs = {
    "requires-python": project["project"].get("requires-python"),
    "dependencies": project["project"].get("dependencies", []),
    "optional-dependencies": project["project"].get("optional-dependencies", {}),
    "build-system": project.get("build-system", {}).get("requires", []),
}
sys.stdout.write(hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16] + "\n")
