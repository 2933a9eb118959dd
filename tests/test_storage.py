"""Schema and storage: migrations match the models on both databases; the org tree queries."""

import asyncio
from collections.abc import Callable

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from chidoan.storage.db import make_db, migrate, schema_transaction, upgrade
from chidoan.storage.uow import unit_of_work
from tests.conftest import seed_org


def schema_drift(engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)


def migrator(engine) -> Callable[..., None]:
    """`to(revision)` upgrades `engine`'s schema to `revision`; `to(revision, command.downgrade)` downgrades."""

    def to(revision: str, step=command.upgrade) -> None:
        with engine.connect() as conn, schema_transaction(conn):
            migrate(conn, revision, step)

    return to


def test_migrations_match_the_models(empty_database_url):
    engine = make_db(empty_database_url)
    upgrade(engine)
    assert schema_drift(engine) == []
    upgrade(engine)  # a second start is a no-op
    assert schema_drift(engine) == []
    engine.dispose()


def test_postgres_urls_get_the_shipped_driver():
    from chidoan.bot.config import normalise_database_url

    assert normalise_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_reviewer_is_the_nearest_reviewing_ancestor_at_any_depth(db):
    units = seed_org(db)
    with unit_of_work(db) as uow:
        assert uow.units.reviewer(units["RG-VB-KP1"]).code == "RG"
        assert uow.units.reviewer(units["RG-VB"]).code == "RG"
        assert uow.units.reviewer(units["KG-CD"]).code == "KG"  # directly under the province
        assert uow.units.reviewer(units["KG"]) is None
        subtree = [u.code for u in uow.units.subtree(units["RG"])]
        assert subtree == ["RG", "RG-VB", "RG-VB-KP1"]


def test_secrets_are_never_shown(settings):
    from chidoan.bot.config import Settings

    s = Settings(_env_file=None, TELEGRAM_BOT_TOKEN="123:SECRET-TOKEN", TELEGRAM_WEBHOOK_SECRET="hush")
    assert "SECRET-TOKEN" not in repr(s) and "hush" not in repr(s) and "SECRET-TOKEN" not in str(s.model_dump())


def test_a_question_kept_per_account_is_kept_for_the_chat_used_last(tmp_path):
    """Revision 0010: the last question becomes one per chat; the one kept before goes to the
    chat the account wrote from last, and downgrading keeps each account's newest."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import text

    engine = make_db(f"sqlite:///{tmp_path}/m.sqlite3")
    to = migrator(engine)
    to("0009")
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO account (id, locale, created_at) VALUES (1, 'vi', :t), (2, 'vi', :t)"), {"t": t0}
        )
        identities = [
            (1, "web", "w1", t0 + timedelta(days=2)),
            (1, "zalo", "z1", t0 + timedelta(days=1)),
            (1, "telegram", "t1", None),
            (2, "web", "w2", None),
        ]
        for account, channel, chat, seen in identities:
            conn.execute(
                text(
                    "INSERT INTO channel_identity (channel, external_id, chat_id, account_id, reachable, created_at,"
                    " last_seen_at, preferred) VALUES (:c, :x, :x, :a, 1, :t, :s, 0)"
                ),
                {"c": channel, "x": chat, "a": account, "t": t0, "s": seen},
            )
        for account in (1, 2):
            conn.execute(
                text("INSERT INTO prompt (account_id, seq, body, updated_at) VALUES (:a, 3, :b, :t)"),
                {"a": account, "b": f'{{"text": "Q{account}", "buttons": []}}', "t": t0},
            )
    to("head")
    assert schema_drift(engine) == []
    with unit_of_work(engine) as uow:
        assert uow.prompts.last(1, "web", "w1") == (3, {"text": "Q1", "buttons": []})
        assert uow.prompts.last(1, "zalo", "z1") is None and uow.prompts.last(2, "web", "w2")[1]["text"] == "Q2"
        uow.prompts.put(1, "zalo", "z1", 4, {"text": "newer"}, t0 + timedelta(days=3))
    to("0009", command.downgrade)
    with engine.connect() as conn:
        kept = dict(conn.execute(text("SELECT account_id, seq FROM prompt")).all())
    assert kept == {1: 4, 2: 3}
    engine.dispose()


@pytest.mark.sqlite_only("SQLite's write-ahead log; PostgreSQL checkpoints on its own")
async def test_the_service_checkpoints_the_wal_beside_its_commits(settings, org):
    """The service's own connection never checkpoints inside a commit (bot/checkpointer.py does,
    on a connection of its own); the WAL is emptied at stop."""
    import os

    from sqlalchemy import text

    from chidoan.bot.app import App

    app = App(settings)
    await app.start()
    try:
        every = await app.processor.run(lambda uow: uow.conn.execute(text("PRAGMA wal_autocheckpoint")).scalar())
        assert every == 0
        for n in range(200):  # a few hundred pages of WAL
            await app.processor.run(lambda uow, n=n: uow.kv.put(f"k{n}", "x" * 400))
        wal = settings.database_url.removeprefix("sqlite:///") + "-wal"
        await asyncio.sleep(1.2)  # two checkpoints: the WAL's frames are in the database now
        with make_db(settings.database_url).connect() as conn:
            busy, frames, copied = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
        assert frames == copied
    finally:
        await app.stop()
    assert not os.path.exists(wal) or os.path.getsize(wal) == 0
