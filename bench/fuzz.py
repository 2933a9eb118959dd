"""The fuzz tests (tests/test_fuzz_engine.py, tests/test_fuzz_webhooks.py) at bench size: 10,000
hypothesis cases (profile "bench": random, no example database) — texts, numbers, dates and
buttons at every step of a meeting report and of joining, random walks of a secretary through
the journeys, and Telegram, Zalo Bot and Zalo OA bodies through the served webhooks. Every event
is checked: no crash, answered, nothing stored that was not confirmed, text kept as typed.
SQLite in a temporary folder (or, with --postgres, a fresh database on the local PostgreSQL);
everything runs in this process.

    .venv/bin/python bench/fuzz.py [--cases 10000] [--only walks,telegram] [--postgres]

It ends with `cases run: <n>; ...; crashes: 0; unanswered: 0; stored-unconfirmed: 0; ...; time: <s> s`
and exits 1 if any property failed (the failing example, shrunk, is printed above).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import tempfile
import time
import traceback
import uuid
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import settings  # noqa: E402
from hypothesis.stateful import run_state_machine_as_test  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from chidoan.handlers import build_engine  # noqa: E402
from chidoan.storage.db import make_db, upgrade  # noqa: E402
from tests import test_fuzz_engine as engine_tests  # noqa: E402
from tests import test_fuzz_webhooks as webhook_tests  # noqa: E402
from tests.conftest import PG_ADMIN_URL, make_settings, seed_org  # noqa: E402
from tests.fuzz import profiles  # noqa: E402
from tests.fuzz.harness import Driver, Tally  # noqa: E402
from tests.fuzz.walks import Walk  # noqa: E402
from tests.fuzz.webhooks import Served  # noqa: E402

# Shares of the cases (per 10,000).
ENGINE = {
    engine_tests.test_any_text_with_nothing_open: 2000,
    engine_tests.test_any_answer_at_every_step_of_a_meeting_report: 2000,
    engine_tests.test_any_answer_while_joining: 500,
    engine_tests.test_forged_and_stale_buttons_at_every_step: 1000,
    engine_tests.test_numbers: 700,
    engine_tests.test_dates: 700,
}
WALKS = 300  # of up to 40 events each
WEBHOOKS = {
    webhook_tests.test_telegram_bodies: 1200,
    webhook_tests.test_telegram_garbage: 300,
    webhook_tests.test_zalo_bot_bodies: 700,
    webhook_tests.test_zalo_oa_events: 600,
}


@contextlib.contextmanager
def database(folder: str, name: str, postgres: bool):
    """A migrated database with the test org: SQLite in `folder`, or a fresh one on the local
    PostgreSQL (CHIDOAN_TEST_PG), dropped afterwards."""
    if not postgres:
        yield migrated(f"sqlite:///{folder}/{name}.sqlite3")
        return
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    created = f"chidoan_fuzz_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{created}"'))
    try:
        yield migrated(make_url(PG_ADMIN_URL).set(database=created).render_as_string(hide_password=False))
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{created}" WITH (FORCE)'))
        admin.dispose()


def migrated(url: str):
    db = make_db(url)
    upgrade(db)
    seed_org(db)
    return url, db


def run(name: str, test, tally: Tally, failures: list[str], only: str | None = None) -> None:
    if only and not any(part in name for part in only.split(",")):
        return
    started = time.perf_counter()
    before = tally.cases
    try:
        test()
    except Exception as exc:  # a property failed: hypothesis has shrunk and printed the example
        failures.append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        traceback.print_exc(limit=3)
    print(f"  {name}: {tally.cases - before} cases, {time.perf_counter() - started:.1f} s", flush=True)


def main(args: argparse.Namespace) -> int:
    profiles.load("bench")
    scale = args.cases / 10_000
    tally = Tally()
    failures: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder, database(folder, "engine", args.postgres) as (url, db):
        with Driver(db, build_engine(make_settings(url)), tally) as driver:
            for test, share in ENGINE.items():
                sized = settings(max_examples=max(1, round(share * scale)))(test)
                run(test.__name__, lambda sized=sized: sized(driver=driver), tally, failures, args.only)
            Walk.driver = driver
            walks = max(1, round(WALKS * scale))
            run(
                "random walks",
                lambda: run_state_machine_as_test(Walk, settings=settings(max_examples=walks, stateful_step_count=40)),
                tally,
                failures,
                args.only,
            )
        db.dispose()
    with tempfile.TemporaryDirectory() as folder, database(folder, "webhooks", args.postgres) as (url, db):
        served = Served.start(url, tally)
        try:
            for test, share in WEBHOOKS.items():
                sized = settings(max_examples=max(1, round(share * scale)))(test)
                run(test.__name__, lambda sized=sized: sized(served=served), tally, failures, args.only)
        finally:
            served.stop()
            db.dispose()
    tally.seconds = time.perf_counter() - started
    for failure in failures:
        print("  failed:", failure)
    for problem in tally.problems:
        print("  problem:", problem[:500])
    print(tally.line())
    return 1 if failures or tally.problems else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000, help="cases in all (default 10,000)")
    parser.add_argument("--postgres", action="store_true", help="on the local PostgreSQL (CHIDOAN_TEST_PG)")
    parser.add_argument("--only", help="only the parts whose names contain these words (comma-separated)")
    # Errors shown (the driver counts them as crashes); not the channels' warnings about what the fuzz sends.
    warnings.filterwarnings("ignore", "Detected unknown update type", RuntimeWarning)  # aiogram, of {"update_id": 1}
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    raise SystemExit(main(parser.parse_args()))
