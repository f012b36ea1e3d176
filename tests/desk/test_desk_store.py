"""The storage layer on its own: the content-addressed sample store, the migrations, the
settings (data folder and database URL), on SQLite and the real PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import os
import threading

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from filewall.service.settings import Settings
from filewall.storage import BlobStore, TooLarge
from filewall.store import Accounts, Database, ShopScope
from filewall.store.models import Base


# -- sample store ------------------------------------------------------------------------------------
def test_put_is_content_addressed_and_idempotent(tmp_path):
    store = BlobStore(tmp_path / "samples").setup()
    data = b"MZ" + os.urandom(5000)
    first = store.put_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    assert first.sha256 == sha and first.size == len(data) and first.created
    assert first.path == tmp_path / "samples" / sha[:2] / sha[2:4] / sha
    assert first.path.read_bytes() == data
    second = store.put_stream(io.BytesIO(data))
    assert second.path == first.path and not second.created
    assert not list(store.tmp.iterdir())


def test_put_refuses_past_the_limit_and_leaves_nothing(tmp_path):
    store = BlobStore(tmp_path).setup()
    with pytest.raises(TooLarge):
        store.put_stream(io.BytesIO(b"x" * 5000), max_bytes=4096)
    assert not list(store.tmp.iterdir())
    assert [path.name for path in tmp_path.iterdir()] == ["tmp"]


def test_staged_bytes_are_not_addressable_until_committed(tmp_path):
    store = BlobStore(tmp_path).setup()
    staged = store.stage([b"abc", b"def"])
    assert staged.sha256 == hashlib.sha256(b"abcdef").hexdigest()
    assert not store.exists(staged.sha256)
    store.commit(staged)
    assert store.exists(staged.sha256)


def test_setup_clears_temp_files_left_by_a_crash(tmp_path):
    store = BlobStore(tmp_path).setup()
    (store.tmp / "in-leftover").write_bytes(b"half a sample")
    BlobStore(tmp_path).setup()
    assert not list(store.tmp.iterdir())


def test_concurrent_puts_of_the_same_bytes(tmp_path):
    store = BlobStore(tmp_path).setup()
    data = os.urandom(300_000)
    errors = []

    def put():
        try:
            store.put_bytes(data)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=put) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert store.path_for(hashlib.sha256(data).hexdigest()).read_bytes() == data


def test_path_for_rejects_anything_but_a_sha256(tmp_path):
    store = BlobStore(tmp_path)
    for bad in ("../../etc/passwd", "A" * 64, "abc", ""):
        with pytest.raises(ValueError):
            store.path_for(bad)


# -- database and migrations ---------------------------------------------------------------------------
def test_migrations_create_exactly_the_models(fresh_db_url):
    db = Database(fresh_db_url)
    db.migrate()
    db.migrate()  # idempotent
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        version = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    assert version == "0001"
    db.dispose()


def test_concurrent_first_starts_migrate_once(fresh_db_url):
    errors = []

    def start():
        try:
            db = Database(fresh_db_url)
            db.migrate()
            db.dispose()
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors


def test_times_round_trip_as_aware_utc(fresh_db_url):
    db = Database(fresh_db_url)
    db.migrate()
    with db.write() as session:
        shop = Accounts(session).create_shop("时间测试")
        shop_id = shop.id
    with db.read() as session:
        shop = Accounts(session).shop_by_id(shop_id)
        assert shop.created_at.tzinfo is not None and shop.created_at.utcoffset().total_seconds() == 0
    db.dispose()


def test_sqlite_is_durable_and_concurrent(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.migrate()
    with db.write() as session:
        shop_id = Accounts(session).create_shop("s").id
    errors = []

    def write(index: int) -> None:
        try:
            for number in range(10):
                with db.write() as session:
                    scope = ShopScope(session, shop_id)
                    scope.record_sample(f"{index:02d}{number:02d}".ljust(64, "0"), 1)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    db.dispose()


# -- settings -----------------------------------------------------------------------------------------------
def test_settings_data_folder_order(tmp_path, monkeypatch):
    monkeypatch.setenv("FILEWALL_DATA", str(tmp_path / "from-env"))
    assert Settings.load(tmp_path / "given").data_dir == (tmp_path / "given").resolve()
    assert Settings.load().data_dir == (tmp_path / "from-env").resolve()
    monkeypatch.delenv("FILEWALL_DATA")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert Settings.load().data_dir.name == "filewall"


def test_settings_database_and_limits_from_env_and_config(tmp_path):
    data = tmp_path / "d"
    data.mkdir()
    settings = Settings.load(data, environ={})
    assert settings.database == f"sqlite:///{(data / 'filewall.db').as_posix()}"
    (data / "config.toml").write_text('database_url = "postgres://u@h/db"\nmax_upload_mb = 7\nmax_files = 3\n')
    settings = Settings.load(data, environ={"FILEWALL_MAX_FILES": "9"})
    assert settings.database == "postgresql+psycopg://u@h/db"
    assert settings.max_upload_bytes == 7 * 1024 * 1024
    assert settings.max_files == 9
    assert Settings.load(data, environ={}, max_files=4).max_files == 4
