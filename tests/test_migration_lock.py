"""Several workers starting at once on one PostgreSQL database: the schema upgrade runs one at a
time under an advisory lock (chidoan/storage/db.py), each through the real `chidoan migrate`."""

import subprocess
import sys
import time

import pytest
from sqlalchemy import func, inspect, select, text

from chidoan.storage.db import MIGRATION_LOCK, make_db
from tests.conftest import ROOT, command_env

pytestmark = pytest.mark.postgres


def migrate(url: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "chidoan", "migrate"],
        cwd=ROOT,
        env=command_env(CHIDOAN_DATABASE_URL=url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def head() -> str:
    from alembic.script import ScriptDirectory

    from chidoan.storage.db import alembic_config

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def versions(url: str) -> list[str]:
    db = make_db(url)
    try:
        with db.connect() as conn:
            return list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    finally:
        db.dispose()


def test_workers_starting_together_upgrade_one_at_a_time(pg_url):
    """Four `chidoan migrate` at once on a fresh database (without the lock, all but one failed
    on a table or type that already existed, every time): all succeed, the schema is at head once."""
    processes = [migrate(pg_url) for _ in range(4)]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in processes]
    for code, err in results:
        assert code == 0, err
    assert versions(pg_url) == [head()]


def test_the_upgrade_waits_for_the_lock(pg_url):
    """Whoever holds the migration lock, the upgrade waits for it: nothing is created until it
    is released, then the upgrade finishes."""
    db = make_db(pg_url)
    try:
        with db.connect() as holder:
            holder.execute(select(func.pg_advisory_lock(MIGRATION_LOCK)))
            holder.commit()
            process = migrate(pg_url)
            time.sleep(5)  # imports and connecting take about a second on a busy machine
            assert process.poll() is None, process.communicate()
            assert not inspect(db).has_table("alembic_version")
            holder.execute(select(func.pg_advisory_unlock(MIGRATION_LOCK)))
            holder.commit()
        assert process.wait(timeout=120) == 0, process.communicate()
    finally:
        db.dispose()
    assert versions(pg_url) == [head()]
