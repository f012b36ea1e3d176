"""Alembic environment for the platform's tables (own history, own version table).

Run by :func:`filewall.platform.store_models.migrate` with an open connection in
``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context

from filewall.platform.store_models import VERSION_TABLE, PlatformBase

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise SystemExit("run through filewall.platform.store_models.migrate(Database(url))")
context.configure(
    connection=connection,
    target_metadata=PlatformBase.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
