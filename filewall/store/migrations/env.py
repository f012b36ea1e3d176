"""Alembic environment for the support desk's database (SQLite or PostgreSQL).

Run by :meth:`filewall.store.db.Database.migrate` with an open connection in
``config.attributes["connection"]``; for a developer's ``alembic`` command line, the URL
comes from ``FILEWALL_DATABASE_URL`` (or ``sqlalchemy.url``).
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from filewall.store.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: later migrations rebuild tables in batch mode.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = os.environ.get("FILEWALL_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set FILEWALL_DATABASE_URL to the database to migrate")
    from filewall.service.settings import _normalize_url

    engine = create_engine(_normalize_url(url))
    with engine.begin() as connection:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; give a database URL")
run()
