"""The data folder's layout (filewall.datadir) gives the desk's and the workers' paths.

The expected paths are written out literally, as ``Settings`` and ``QueueConfig`` computed
them before both used :class:`DataLayout`: ``<data>/samples``, ``<data>/previews``,
``<data>/config.toml``, ``sqlite:///<data>/filewall.db``; the folder is the argument,
else ``FILEWALL_DATA``, else the per-user data folder, with ``~`` expanded and resolved.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
import typer

from filewall.datadir import DATA_ENV, DataLayout, default_data_dir, resolve_data_dir
from filewall.queue import QueueConfig, open_storage
from filewall.service.settings import Settings


@pytest.fixture
def tmp_path(tmp_path):
    """Resolved, as the classes resolve the data folder (``/tmp`` may be a symlink)."""
    return tmp_path.resolve()


def _expected(root: Path) -> dict[str, object]:
    return {
        "samples": root / "samples",
        "previews": root / "previews",
        "config": root / "config.toml",
        "db_file": root / "filewall.db",
        "db_url": f"sqlite:///{root.as_posix()}/filewall.db",
    }


def _assert_all(root: Path, data_dir, environ: dict[str, str]) -> None:
    """Both classes, and the layout, land on ``root`` and its fixed sub-paths."""
    want = _expected(root)
    settings = Settings.load(data_dir, environ=environ)
    config = QueueConfig.load(data_dir, environ=environ)
    layout = DataLayout.resolve(data_dir, environ)
    for obj in (settings, config):
        assert obj.data_dir == root
        assert obj.samples_dir == want["samples"]
        assert obj.previews_dir == want["previews"]
        assert obj.layout == layout
    assert layout.root == root
    assert layout.samples_dir == want["samples"]
    assert layout.previews_dir == want["previews"]
    assert layout.config_file == want["config"]
    assert layout.database_file == want["db_file"]
    assert layout.sqlite_url == want["db_url"]
    assert settings.database == want["db_url"]
    assert config.database() == want["db_url"]


def test_layout_paths_under_root(tmp_path):
    layout = DataLayout(tmp_path)
    assert layout.samples_dir == tmp_path / "samples"
    assert layout.previews_dir == tmp_path / "previews"
    assert layout.config_file == tmp_path / "config.toml"
    assert layout.database_file == tmp_path / "filewall.db"
    assert layout.sqlite_url == f"sqlite:///{tmp_path.as_posix()}/filewall.db"


def test_layout_is_frozen_and_takes_strings(tmp_path):
    layout = DataLayout(str(tmp_path))
    assert layout.root == tmp_path and isinstance(layout.root, Path)
    assert layout == DataLayout(tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        layout.root = tmp_path / "other"  # type: ignore[misc]


def test_explicit_folder(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    _assert_all(data, data, {})
    _assert_all(data, str(data), {})


def test_env_var_folder(tmp_path):
    data = tmp_path / "from-env"
    data.mkdir()
    assert DATA_ENV == "FILEWALL_DATA"
    _assert_all(data, None, {"FILEWALL_DATA": str(data)})


def test_argument_beats_env_var(tmp_path):
    arg, env = tmp_path / "arg", tmp_path / "env"
    arg.mkdir()
    env.mkdir()
    _assert_all(arg, arg, {"FILEWALL_DATA": str(env)})


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG_DATA_HOME is the Linux per-user folder")
@pytest.mark.parametrize("environ", [{}, {"FILEWALL_DATA": ""}])
def test_default_is_per_user_data_folder(tmp_path, monkeypatch, environ):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "filewall"
    _assert_all(tmp_path / "xdg" / "filewall", None, environ)
    _assert_all(tmp_path / "xdg" / "filewall", "", environ)


def test_default_without_xdg_is_under_home(tmp_path, monkeypatch):
    import platformdirs

    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_data_dir() == Path(platformdirs.user_data_dir("filewall", appauthor=False))
    if sys.platform.startswith("linux"):
        assert default_data_dir() == tmp_path / ".local" / "share" / "filewall"
    _assert_all(default_data_dir().resolve(), None, {})


def test_relative_folder_resolved_against_cwd(tmp_path, monkeypatch):
    (tmp_path / "x").mkdir()
    monkeypatch.chdir(tmp_path)
    _assert_all(tmp_path / "x", "rel/../x", {})
    _assert_all(tmp_path / "x", None, {"FILEWALL_DATA": "x"})


def test_tilde_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    _assert_all(tmp_path / "fw-data", "~/fw-data", {})
    _assert_all(tmp_path / "fw-data", None, {"FILEWALL_DATA": "~/fw-data"})


def test_symlinked_folder_resolved(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    _assert_all(real, link, {})
    assert resolve_data_dir(None, {"FILEWALL_DATA": str(link)}) == real


def test_resolve_reads_process_environment_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("FILEWALL_DATA", str(tmp_path))
    assert resolve_data_dir() == tmp_path
    assert DataLayout.resolve().root == tmp_path
    assert Settings.load().data_dir == tmp_path
    assert QueueConfig.load().data_dir == tmp_path


def test_both_read_config_toml_in_the_folder(tmp_path):
    (tmp_path / "config.toml").write_text('queue = "other"\nmax_files = 3\n', encoding="utf-8")
    assert DataLayout(tmp_path).config_file.is_file()
    assert Settings.load(tmp_path, environ={}).max_files == 3
    assert QueueConfig.load(tmp_path, environ={}).queue == "other"


def test_database_url_still_overrides_sqlite(tmp_path):
    environ = {"FILEWALL_DATABASE_URL": "postgres://u:p@h/db"}
    assert Settings.load(tmp_path, environ=environ).database == "postgresql+psycopg://u:p@h/db"
    assert QueueConfig.load(tmp_path, environ=environ).database() == "postgresql+psycopg://u:p@h/db"


def test_default_storage_is_layout_samples_on_disk(tmp_path):
    config = QueueConfig.load(tmp_path, environ={})
    storage = open_storage(config)
    assert storage.describe() == str(tmp_path / "samples")
    stored = storage.put_bytes(b"hello layout")
    assert stored.path.is_file()
    assert tmp_path / "samples" in stored.path.parents
    with storage.local_path(stored.sha256) as local:
        assert Path(local).read_bytes() == b"hello layout"


def test_settings_and_queue_agree_after_data_dir_changes(tmp_path):
    settings = Settings.load(tmp_path / "a", environ={})
    settings.data_dir = tmp_path / "b"
    assert settings.samples_dir == tmp_path / "b" / "samples"
    assert settings.previews_dir == tmp_path / "b" / "previews"
    assert settings.database == f"sqlite:///{(tmp_path / 'b').as_posix()}/filewall.db"


def test_campaigns_cli_looks_for_layout_database(tmp_path, capsys, monkeypatch):
    from filewall.platform.cli import _open

    monkeypatch.delenv("FILEWALL_DATABASE_URL", raising=False)
    with pytest.raises(typer.Exit) as raised:
        _open(tmp_path)
    assert raised.value.exit_code == 2
    assert f"no desk database in {tmp_path}" in capsys.readouterr().err
