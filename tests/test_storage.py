"""Schema and storage: migrations match the models on both databases; the org tree queries."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from chidoan.storage.db import make_engine, upgrade
from chidoan.storage.uow import unit_of_work
from tests.conftest import seed_org


def schema_drift(engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)


def test_migrations_match_the_models_on_sqlite(db):
    assert schema_drift(db) == []
    upgrade(db)  # a second start is a no-op
    assert schema_drift(db) == []


@pytest.mark.postgres
def test_migrations_match_the_models_on_postgresql(pg_url):
    engine = make_engine(pg_url)
    assert engine.url.drivername == "postgresql+psycopg"
    upgrade(engine)
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
