"""The database handle and schema upgrades. The handle is SQLAlchemy's `Engine`, called `db` in
this code: "engine" is the conversation engine (chidoan.engine).

SQLite (the default) runs in WAL mode with one writer connection: the service funnels every
write through one thread (see `bot/processor.py`), which is what SQLite wants anyway.
PostgreSQL gets a small pool; several processes can share it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, create_engine, event, func, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The PostgreSQL advisory lock every process takes around the upgrade (a signed 64-bit key, fixed).
MIGRATION_LOCK = int.from_bytes(hashlib.sha256(b"chidoan-migrate").digest()[:8], "big", signed=True)
log = logging.getLogger(__name__)


def make_db(url: str, *, checkpoints: bool = True, connections: int = 5) -> Engine:
    """`checkpoints=False` (SQLite): commits never copy the WAL back into the database file
    (an automatic checkpoint, with its fsync, took 100-200 ms inside whichever commit crossed
    1,000 pages, a reply's as often as not); a `Checkpointer` does it beside them instead.
    `connections` (PostgreSQL): the pool's size, at least the threads that may each hold one."""
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        db = create_engine(
            url,
            hide_parameters=True,  # errors and logs must never quote what people or platforms sent
            connect_args={"check_same_thread": False},
            poolclass=StaticPool,  # one connection: SQLite has one writer at a time anyway
        )
        event.listen(db, "connect", _sqlite_pragmas)
        if not checkpoints:
            event.listen(db, "connect", _no_checkpoints)
        return db
    return create_engine(url, pool_size=connections, max_overflow=5, pool_pre_ping=True, hide_parameters=True)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode survives a crash of the process (the only failure that matters between
    # storing an update and acknowledging it); a power cut may lose the last commits.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def _no_checkpoints(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA wal_autocheckpoint=0")
    cur.close()


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(db: Engine) -> None:
    """Bring the schema to the newest migration (run on every start; a no-op when current).

    On PostgreSQL several workers start at once: each waits for a session-level advisory lock,
    so one upgrades and the others then find the schema current (without it, all but one failed
    on a table or type that already existed). SQLite is one file used by one process: no lock."""
    with db.connect() as conn:
        if conn.dialect.name != "postgresql":
            _upgrade(conn)
            return
        conn.execute(select(func.pg_advisory_lock(MIGRATION_LOCK)))
        conn.commit()  # the lock belongs to the session: it outlives this transaction
        try:
            _upgrade(conn)
        finally:
            if not conn.invalidated:  # a lost connection has released its lock already
                conn.execute(select(func.pg_advisory_unlock(MIGRATION_LOCK)))
                conn.commit()


def _upgrade(conn: Connection) -> None:
    with schema_transaction(conn):
        before = MigrationContext.configure(conn).get_current_revision()
        migrate(conn, "head")
        after = MigrationContext.configure(conn).get_current_revision()
    if after != before:  # Alembic's own lines are quiet below DEBUG (bot/logs.py): say it once
        log.info("database schema upgraded from %s to %s", before or "nothing (a new database)", after)


def migrate(conn: Connection, revision: str, step: Callable[[Config, str], None] = command.upgrade) -> None:
    """Alembic's `step` (upgrade or downgrade) to `revision` on `conn`, inside the caller's
    `schema_transaction`."""
    cfg = alembic_config(conn.engine.url.render_as_string(hide_password=False))
    cfg.attributes["connection"] = conn
    step(cfg, revision)


@contextmanager
def schema_transaction(conn: Connection) -> Iterator[None]:
    """One transaction around schema changes, all or nothing.

    SQLite alters a table by copying it and dropping the old one (Alembic's batch mode), which
    fails while other tables' rows reference it if foreign keys are enforced (make_db turns
    them on): as SQLite's documentation prescribes for such rebuilds, they are off during the
    change (the PRAGMA is ignored inside a transaction, hence before BEGIN) and checked with
    `foreign_key_check` before the commit. And the driver opens its implicit transactions only
    before data changes, leaving CREATE/DROP TABLE outside one: a failed migration stayed half
    done. Here the transaction is begun explicitly, so DDL rolls back too."""
    if conn.dialect.name != "sqlite":
        with conn.begin():
            yield
        return
    raw = conn.connection.dbapi_connection
    if raw is None or raw.in_transaction:
        raise RuntimeError("a schema change must begin its own transaction")
    enforced = raw.execute("PRAGMA foreign_keys").fetchone()[0]
    level = raw.isolation_level
    raw.execute("PRAGMA foreign_keys=OFF")
    raw.isolation_level = None  # no implicit BEGIN: ours below covers every statement
    try:
        with conn.begin():
            conn.exec_driver_sql("BEGIN")
            yield
            broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
            if broken:
                raise DatabaseNotReady(f"the schema change leaves rows referencing missing ones: {broken[:5]}")
    finally:
        raw.isolation_level = level
        raw.execute(f"PRAGMA foreign_keys={int(enforced)}")


class DatabaseNotReady(Exception):
    """The database cannot be reached, or cannot be written; the message is one line."""


def prepare(db: Engine) -> None:
    """Bring the schema up to date, then check that the database takes writes: a write in a
    transaction that is rolled back. A read-only database (a read-only file or mount, a
    PostgreSQL replica or `default_transaction_read_only`) is refused here, at start, instead
    of refusing every update later."""
    where = db.url.render_as_string(hide_password=True)
    try:
        upgrade(db)
    except SQLAlchemyError as exc:
        raise DatabaseNotReady(f"the database {where} cannot be used: {_reason(exc)}") from exc
    from sqlmodel import SQLModel

    setting = SQLModel.metadata.tables["setting"]
    try:
        with db.connect() as conn:
            conn.execute(insert(setting).values(key="chidoan.write-check", value="start"))
            conn.rollback()
    except SQLAlchemyError as exc:
        raise DatabaseNotReady(f"the database {where} cannot be written: {_reason(exc)}") from exc


def _reason(exc: SQLAlchemyError) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
