"""Fixtures for the support desk: a real database (SQLite file, or a PostgreSQL database
created for this test session on the real server and dropped afterwards), the real app
(in-process through FastAPI's TestClient, with its real scanning processes), and real
``filewall serve`` processes on free loopback ports.

Every desk test runs twice, once per backend (``db_url`` is parametrized). PostgreSQL is
never skipped: ``scripts/services`` starts it, and a test run without it fails.
"""

from __future__ import annotations

import functools
import os
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

# Starlette 1.x suggests httpx2 for its TestClient; httpx is what is installed and works.
warnings.filterwarnings("ignore", message=".*httpx2.*")

from fastapi.testclient import TestClient  # noqa: E402

from filewall.service.app import create_app  # noqa: E402
from filewall.service.settings import Settings  # noqa: E402
from filewall.store import Accounts  # noqa: E402

from ._desk import MAX_FILES, MAX_UPLOAD_MB, PASSWORD, Server, lure_zip  # noqa: E402

#: The server the PostgreSQL runs use (scripts/services starts one on 127.0.0.1:5432).
PG_ADMIN_URL = os.environ.get("FILEWALL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def pytest_configure(config) -> None:
    config.addinivalue_line("filterwarnings", "ignore:.*httpx2.*")


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A fresh database on the real PostgreSQL server, dropped at the end of the session."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"filewall_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # never skip: PostgreSQL is part of the test run
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({error}); run scripts/services")
    url = sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def db_url(backend, tmp_path_factory, request) -> str:
    """The database URL of this run: a SQLite file, or the session's PostgreSQL database."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'desk.db'}"
    return request.getfixturevalue("pg_database_url")


@functools.cache
def _password_hash() -> str:
    from filewall.store.security import hash_password

    return hash_password(PASSWORD)


@dataclass
class Desk:
    """The running app of one backend, and helpers to make shops, users and clients."""

    app: object
    data_dir: Path
    db_url: str
    clients: list[TestClient] = field(default_factory=list)

    def client(self) -> TestClient:
        client = TestClient(self.app, base_url="http://desk.test")
        self.clients.append(client)
        return client

    def shop(self, name: str | None = None) -> str:
        with self.app.state.db.write() as session:
            return Accounts(session).create_shop(name or f"shop-{uuid.uuid4().hex[:8]}").id

    def user(self, shop_id: str, role: str = "agent", username: str | None = None) -> str:
        """A user whose password is PASSWORD (hashed once per session: argon2 is slow)."""
        username = username or f"{role}-{uuid.uuid4().hex[:10]}"
        with self.app.state.db.write() as session:
            accounts = Accounts(session)
            accounts.create_user(accounts.shop_by_id(shop_id), username, None, role, password_hash=_password_hash())
        return username

    def login(self, username: str) -> TestClient:
        """A client with a session for ``username`` (the login endpoint has its own tests)."""
        client = self.client()
        with self.app.state.db.write() as session:
            accounts = Accounts(session)
            secret = accounts.create_session(accounts.user_by_username(username), 1.0)
        client.cookies.set("filewall_session", secret, domain="desk.test")
        return client

    def token(self, username: str, role: str = "agent") -> str:
        with self.app.state.db.write() as session:
            accounts = Accounts(session)
            secret, _ = accounts.create_token(accounts.user_by_username(username), "test", role)
        return secret

    def bearer(self, secret: str) -> TestClient:
        client = self.client()
        client.headers["Authorization"] = f"Bearer {secret}"
        return client


@pytest.fixture(scope="session")
def desk(db_url, tmp_path_factory) -> Iterator[Desk]:
    data_dir = tmp_path_factory.mktemp("desk-data")
    settings = Settings.load(
        data_dir,
        environ={},
        database_url=db_url,
        max_upload_mb=MAX_UPLOAD_MB,
        max_files=MAX_FILES,
        scan_workers=2,
        include_pages=False,
    )
    app = create_app(settings)
    with TestClient(app, base_url="http://desk.test"):  # runs the lifespan: starts the scanner
        assert app.state.scanner.wait_ready(120), "the scanning processes did not start"
        desk = Desk(app, data_dir, db_url)
        yield desk
        for client in desk.clients:
            client.close()


@dataclass
class Tenant:
    """A shop with an owner and an agent, each logged in with their own client."""

    shop_id: str
    owner_name: str
    agent_name: str
    owner: TestClient
    agent: TestClient


@pytest.fixture
def tenant(desk) -> Tenant:
    shop_id = desk.shop()
    owner_name = desk.user(shop_id, "owner")
    agent_name = desk.user(shop_id, "agent")
    return Tenant(shop_id, owner_name, agent_name, desk.login(owner_name), desk.login(agent_name))


@pytest.fixture
def other_tenant(desk) -> Tenant:
    shop_id = desk.shop()
    owner_name = desk.user(shop_id, "owner")
    agent_name = desk.user(shop_id, "agent")
    return Tenant(shop_id, owner_name, agent_name, desk.login(owner_name), desk.login(agent_name))


@pytest.fixture
def lure(pe_bytes) -> bytes:
    return lure_zip(pe_bytes)


@pytest.fixture
def server_factory(tmp_path) -> Iterator:
    servers: list[Server] = []

    def make(db_url: str, data_dir: Path | None = None, workers: int = 1) -> Server:
        server = Server(data_dir or tmp_path / f"serve-{len(servers)}", db_url, workers)
        server.data_dir.mkdir(parents=True, exist_ok=True)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def fresh_db_url(backend, tmp_path) -> Iterator[str]:
    """A database of its own for one test (SQLite file or a new PostgreSQL database)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'own.db'}"
        return
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"filewall_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
