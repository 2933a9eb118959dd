"""Fault injection at larger counts than CI runs: kill -9 of workers during scripted
conversations, every update delivered three times, two workers sweeping reminders, PostgreSQL
cut for a while behind a TCP proxy, the Bot API answering 500/429/timing out. Loopback only;
each scenario gets a fresh PostgreSQL database (CHIDOAN_TEST_PG, default the local server's
`test`) and prints its figures, as the tests in tests/test_faults_*.py do.

Run: python bench/faults.py [--conversations 100] [--kills 7] [--only kill9 postgres ...]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SCENARIOS = ("kill9", "redelivery", "sweepers", "postgres", "botapi")


async def scenario(name: str, args: argparse.Namespace, tmp: Path) -> None:
    from tests.conftest import pg_database
    from tests.test_faults_botapi import ODDS, run_botapi
    from tests.test_faults_kill import run_kill9
    from tests.test_faults_postgres import run_outage
    from tests.test_faults_redelivery import run_redelivery
    from tests.test_faults_sweepers import run_sweepers

    if name == "botapi":  # one process: SQLite
        await run_botapi(f"sqlite:///{tmp}/botapi.sqlite3", args.people, ODDS)
        return
    with pg_database() as url:
        if name == "kill9":
            await run_kill9(tmp, url, args.conversations, args.kills)
        elif name == "redelivery":
            await run_redelivery(url, args.conversations)
        elif name == "sweepers":
            await run_sweepers(tmp, url, args.units, rounds=args.rounds)
        elif name == "postgres":
            await run_outage(url, args.conversations, args.cut)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--kills", type=int, default=7)
    parser.add_argument("--people", type=int, default=300, help="Bot API faults: people, two replies each")
    parser.add_argument("--units", type=int, default=100, help="sweepers: base units, each with a branch")
    parser.add_argument("--rounds", type=int, default=2, help="sweepers: times both workers start (and sweep)")
    parser.add_argument("--cut", type=float, default=10.0, help="postgres: seconds the database is unreachable")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the retries' warnings are the point, not news
    for name in args.only:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(scenario(name, args, Path(tmp)))


if __name__ == "__main__":
    main()
