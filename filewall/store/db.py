"""Connecting to the desk's database and bringing its schema up to date.

One code path for SQLite and PostgreSQL; the differences are confined to connection setup:

- SQLite: WAL journal with ``synchronous=FULL`` (a committed report survives a power cut,
  not only a crash), foreign keys on, a 30 s busy timeout, and write transactions opened
  with ``BEGIN IMMEDIATE`` so two writers queue up instead of failing with SQLITE_BUSY
  when one upgrades a read lock. Reads stay ``BEGIN`` (deferred) and run beside a writer.
- PostgreSQL (psycopg 3): a connection pool with pre-ping; commits are durable by the
  server's default ``synchronous_commit=on``.

Migrations (Alembic, shipped in ``filewall/store/migrations``) run on first use, under a
lock: ``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL, so two processes
starting at once do not both migrate.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: pg_advisory_xact_lock key for migrations ("filewall" in ASCII, folded into 63 bits).
_PG_MIGRATION_LOCK = 0x66696C6577616C6C
_WRITE = "filewall_write"


class Database:
    def __init__(self, url: str | URL, pool_size: int = 10):
        self.url = make_url(url)
        self.dialect = self.url.get_backend_name()
        if self.dialect == "sqlite":
            database = self.url.database
            if database and database != ":memory:" and not database.startswith("file:"):
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(
                self.url,
                connect_args={"check_same_thread": False, "timeout": 30},
                pool_size=pool_size,
                max_overflow=2 * pool_size,
            )
            _configure_sqlite(self.engine)
        else:
            self.engine = create_engine(
                self.url, pool_size=pool_size, max_overflow=2 * pool_size, pool_pre_ping=True
            )
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def describe(self) -> str:
        """The URL without its password, for logs and ``/healthz``."""
        return self.url.render_as_string(hide_password=True)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; closed (its transaction ended) at the end. Objects read
        stay usable afterwards, detached."""
        with self._sessions() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose work is committed (durably) when the block ends without error."""
        with self._sessions() as session:
            session.connection(execution_options={_WRITE: True})
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def migrate(self) -> None:
        """Apply every migration not yet applied (safe to call at every start).

        On SQLite, processes starting together on a brand-new file race for the switch to
        WAL mode, which SQLite answers with an immediate "database is locked" (the busy
        timeout does not cover it); such a start is retried for a few seconds.
        """
        attempts = 20 if self.is_sqlite else 1
        for attempt in range(attempts):
            try:
                self._migrate_once()
                return
            except OperationalError as error:
                if attempt + 1 == attempts or "locked" not in str(error):
                    raise
                time.sleep(0.05 * (attempt + 1))

    def _migrate_once(self) -> None:
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.connect().execution_options(**{_WRITE: True}) as connection, connection.begin():
            if self.dialect == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, record) -> None:
        # The driver must not open transactions on its own: the "begin" event does it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:
        immediate = connection.get_execution_options().get(_WRITE)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
