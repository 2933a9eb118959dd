"""Alembic environment: uses the connection the app hands over, or the configured URL."""

from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

from chidoan.storage import models  # noqa: F401  (registers the tables)

target_metadata = SQLModel.metadata
config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        db = create_engine(config.get_main_option("sqlalchemy.url"))
        with db.begin() as connection:
            _configure_and_run(connection)
        return
    _configure_and_run(connection)


def _configure_and_run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copy
    )
    with context.begin_transaction():
        context.run_migrations()


run()
