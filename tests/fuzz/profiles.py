"""Hypothesis profiles for the fuzz tests (tests/test_fuzz_*.py, bench/fuzz.py).

"ci" (the default in tests): few examples, derandomized, no example database, no deadline: the
same cases on every run and every machine, nothing written beside the repository. "dev": more
examples, random, remembering failures in .hypothesis/ (ignored by git) — choose it with
HYPOTHESIS_PROFILE=dev. "bench": what bench/fuzz.py runs, 10,000 cases in all.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

# Each example drives real journeys on a real database: slower than hypothesis expects, and the
# database is made once per test, not per example (a function-scoped fixture reused on purpose).
_QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]

settings.register_profile(
    "ci", max_examples=40, deadline=None, derandomize=True, database=None, suppress_health_check=_QUIET
)
settings.register_profile(
    "dev",
    max_examples=500,
    deadline=None,
    database=DirectoryBasedExampleDatabase(".hypothesis/examples"),
    suppress_health_check=_QUIET,
)
settings.register_profile(
    "bench", max_examples=1000, deadline=None, database=None, derandomize=False, suppress_health_check=_QUIET
)


def load(default: str = "ci") -> None:
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", default))
