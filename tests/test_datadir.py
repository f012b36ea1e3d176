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


# -- the desktop, the platform update client, the campaign pipeline and the rule loader ----------
#
# Recorded before they went through filewall.datadir (a script ran every case below, and more,
# through the old code and the new, with identical output); the expectations are literal. They
# all choose the folder by the same rule, then normalise it differently, on purpose:
#   desk/workers  resolve_data_dir     absolute, symlinks and ".." resolved
#   desktop       desktop.data_dir     absolute, symlinks and ".." kept
#   updates/rules DataLayout.given     as given (a relative folder stays relative)
# The pipeline and the signing key take a folder already chosen (Settings.data_dir) as it is.

from filewall import rulesets  # noqa: E402
from filewall.datadir import given_data_dir  # noqa: E402
from filewall.desktop import data_dir as desktop_data_dir  # noqa: E402
from filewall.platform import pipeline, updates  # noqa: E402

UPDATE_VARIABLES = (
    "FILEWALL_DATA",
    "FILEWALL_UPDATE_PUBLIC_KEY",
    "FILEWALL_UPDATE_SIGNING_KEY",
    "FILEWALL_RULES",
    "FILEWALL_BLOCKLIST",
    "FILEWALL_CAMPAIGN_ALERT_SHOPS",
)
#: Folder (relative to the sandbox) → the marker its config.toml holds.
FOLDERS = {
    "abs": 1,
    "env": 2,
    "cwd/rel": 3,
    "home/tilde": 4,
    "real": 5,
    "xdg/filewall": 6,
    "cwd": 7,
}


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """HOME, XDG_DATA_HOME and the working directory under ``tmp_path``; ``link`` → ``real``;
    each folder of FOLDERS with a config.toml naming it and an empty ``updates/{rules,blocklist}``."""
    for name in UPDATE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    for name, marker in FOLDERS.items():
        folder = tmp_path / name
        for kind in ("rules", "blocklist"):
            (folder / "updates" / kind).mkdir(parents=True, exist_ok=True)
        (folder / "config.toml").write_text(
            f'[update]\npublic_key = "key-{marker}"\n[platform]\nalert_shops = {marker}\n', encoding="utf-8"
        )
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    monkeypatch.chdir(tmp_path / "cwd")
    rulesets._listings.clear()
    yield tmp_path
    rulesets._listings.clear()


# (argument, FILEWALL_DATA or None for unset) → (folder as given, the desktop's, the desk's),
# "S/" standing for the sandbox; a given folder without "S/" is relative to S/cwd.
CASES = {
    "neither": (None, None, "S/xdg/filewall", "S/xdg/filewall", "S/xdg/filewall"),
    "empty env": (None, "", "S/xdg/filewall", "S/xdg/filewall", "S/xdg/filewall"),
    "empty argument": ("", None, "S/xdg/filewall", "S/xdg/filewall", "S/xdg/filewall"),
    "empty argument, env": ("", "S/env", "S/env", "S/env", "S/env"),
    "argument": ("S/abs", None, "S/abs", "S/abs", "S/abs"),
    "argument as Path": (Path("S/abs"), None, "S/abs", "S/abs", "S/abs"),
    "env": (None, "S/env", "S/env", "S/env", "S/env"),
    "both": ("S/abs", "S/env", "S/abs", "S/abs", "S/abs"),
    "both, empty env": ("S/abs", "", "S/abs", "S/abs", "S/abs"),
    "relative argument": ("rel", None, "rel", "S/cwd/rel", "S/cwd/rel"),
    "relative Path argument": (Path("rel"), "S/env", "rel", "S/cwd/rel", "S/cwd/rel"),
    "relative env": (None, "rel", "rel", "S/cwd/rel", "S/cwd/rel"),
    "dotted relative argument": ("./rel/../rel", None, "rel/../rel", "S/cwd/rel/../rel", "S/cwd/rel"),
    "tilde argument": ("~/tilde", "S/env", "S/home/tilde", "S/home/tilde", "S/home/tilde"),
    "tilde env": (None, "~/tilde", "S/home/tilde", "S/home/tilde", "S/home/tilde"),
    "symlink argument": ("S/link", None, "S/link", "S/link", "S/real"),
    "symlink env": (None, "S/link", "S/link", "S/link", "S/real"),
}


def _in(sandbox: Path, value):
    """``value`` with ``S/`` put in the sandbox (a Path stays a Path)."""
    if value is None:
        return None
    text = str(value)
    text = str(sandbox / text[2:]) if text.startswith("S/") else text
    return Path(text) if isinstance(value, Path) else text


def _case(sandbox, monkeypatch, name):
    raw_arg, raw_env, given, desktop, desk = CASES[name]
    arg, env = _in(sandbox, raw_arg), _in(sandbox, raw_env)
    environ = {} if env is None else {"FILEWALL_DATA": env}
    if env is not None:
        monkeypatch.setenv("FILEWALL_DATA", env)
    return arg, environ, Path(_in(sandbox, given)), Path(_in(sandbox, desktop)), Path(_in(sandbox, desk))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG_DATA_HOME is the Linux per-user folder")
@pytest.mark.parametrize("name", list(CASES))
def test_every_caller_chooses_the_same_folder(sandbox, monkeypatch, name):
    arg, environ, given, desktop, desk = _case(sandbox, monkeypatch, name)
    marker = FOLDERS[str(desk.relative_to(sandbox))]

    assert given_data_dir(arg, environ) == given
    assert DataLayout.given(arg, environ) == DataLayout(given)
    assert resolve_data_dir(arg, environ) == desk
    assert Settings.load(arg, environ=environ).data_dir == desk
    assert desktop_data_dir(arg) == desktop  # the process environment, as the CLI has it
    assert desktop.resolve() == desk
    # The platform update client: the folder as given, with the dict or the process environment.
    assert updates.updates_dir(arg, environ) == given / "updates"
    assert updates.updates_dir(arg) == given / "updates"
    assert updates.configured_public_key(arg) == f"key-{marker}"
    monkeypatch.setenv("FILEWALL_UPDATE_PUBLIC_KEY", "from-env")
    assert updates.configured_public_key(arg) == "from-env"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG_DATA_HOME is the Linux per-user folder")
@pytest.mark.parametrize("name", list(CASES))
def test_update_installs_where_the_rule_loader_reads(sandbox, monkeypatch, name):
    arg, environ, given, _desktop, desk = _case(sandbox, monkeypatch, name)
    payload = {
        "version": 3,
        "hashes": [{"value": "a" * 64, "label": "platform"}],
        "rules": [{"id": 7, "text": "rule platform_seven { condition: false }"}],
    }
    result = updates.install(payload, arg)
    assert result.folder == given / "updates"
    assert (result.version, result.hashes, result.rules, result.changed) == (3, 1, 1, True)
    written = sorted(str(path.relative_to(sandbox)) for path in sandbox.rglob("*") if path.is_file())
    root = str(desk.relative_to(sandbox))
    for relative in ("updates/blocklist/platform.txt", "updates/rules/platform-7.yar", "updates/state.json"):
        assert f"{root}/{relative}" in written
    layout = DataLayout(desk)
    assert (
        (layout.update_blocklist_dir / "platform.txt")
        .read_text(encoding="utf-8")
        .endswith("a" * 64 + " platform\n")
    )
    assert layout.update_state_file.is_file()
    # The loader takes FILEWALL_DATA only (no argument): from the dict, or the process environment.
    for environment in (environ, None):
        env_given = given_data_dir(None, environ)
        assert rulesets._update_paths("rules", environment) == [env_given / "updates" / "rules"]
        assert rulesets._update_paths("blocklist", environment) == [env_given / "updates" / "blocklist"]
    if arg is None:  # the update just installed is what `filewall scan` loads
        assert (
            rulesets.rule_files(environ=environ)[-1].resolve() == layout.update_rules_dir / "platform-7.yar"
        )
        assert any(
            p.resolve() == layout.update_blocklist_dir / "platform.txt"
            for p in rulesets.blocklist_files(environ=environ)
        )


def test_rule_loader_skips_a_missing_update_folder(sandbox):
    environ = {"FILEWALL_DATA": str(sandbox / "nothing-here")}
    assert rulesets._update_paths("rules", environ) == []
    assert rulesets._update_paths("blocklist", environ) == []


def test_rule_listing_is_relisted_when_filewall_data_changes(sandbox, monkeypatch):
    for name in ("abs", "env"):
        (sandbox / name / "updates" / "rules" / f"{name}.yar").write_text(
            f"rule only_{name} {{ condition: false }}", encoding="utf-8"
        )
    monkeypatch.setenv("FILEWALL_DATA", str(sandbox / "abs"))
    first = rulesets._recent_listing("rules", (), None, rulesets.rule_files)
    monkeypatch.setenv("FILEWALL_DATA", str(sandbox / "env"))
    second = rulesets._recent_listing("rules", (), None, rulesets.rule_files)
    assert sandbox / "abs" / "updates" / "rules" / "abs.yar" in first
    assert sandbox / "env" / "updates" / "rules" / "env.yar" in second
    assert {key[-1] for key in rulesets._listings} == {str(sandbox / "abs"), str(sandbox / "env")}


def test_pipeline_and_signing_key_take_the_chosen_folder_as_is(sandbox):
    # Their callers pass Settings.data_dir (already resolved); nothing is expanded here.
    assert pipeline.PlatformSettings.load(sandbox / "abs", {}).alert_shops == 1
    assert pipeline.PlatformSettings.load(str(sandbox / "real"), {}).alert_shops == 5
    assert pipeline.PlatformSettings.load("rel", {}).alert_shops == 3
    assert pipeline.PlatformSettings.load("", {}).alert_shops == 7  # the working directory
    assert pipeline.PlatformSettings.load(None, {}).alert_shops == 10  # no folder: defaults
    assert (
        pipeline.PlatformSettings.load(sandbox / "abs", {"FILEWALL_CAMPAIGN_ALERT_SHOPS": "4"}).alert_shops
        == 4
    )
    assert pipeline.PlatformSettings.load(sandbox / "nothing-here", {}).alert_shops == 10

    key = updates.load_signing_key(sandbox / "abs")
    path = DataLayout(sandbox / "abs").signing_key_file
    assert path == sandbox / "abs" / "platform" / "update_signing_key.pem"
    assert path.is_file() and (path.stat().st_mode & 0o777) == 0o600
    assert updates.public_key_b64(updates.load_signing_key(sandbox / "abs")) == updates.public_key_b64(key)
    updates.load_signing_key("rel")
    assert (sandbox / "cwd" / "rel" / "platform" / "update_signing_key.pem").is_file()


def test_layout_update_and_desktop_paths(tmp_path):
    layout = DataLayout(tmp_path)
    assert layout.signing_key_file == tmp_path / "platform" / "update_signing_key.pem"
    assert layout.updates_dir == tmp_path / "updates"
    assert layout.update_rules_dir == tmp_path / "updates" / "rules"
    assert layout.update_blocklist_dir == tmp_path / "updates" / "blocklist"
    assert layout.update_state_file == tmp_path / "updates" / "state.json"
    assert layout.quarantine_dir == tmp_path / "quarantine"
    assert layout.logs_dir == tmp_path / "logs"
    assert DataLayout("rel").updates_dir == Path("rel/updates")  # nothing made absolute


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG_DATA_HOME is the Linux per-user folder")
def test_desktop_quarantine_and_logs_are_the_layouts(sandbox, monkeypatch):
    import logging
    import plistlib

    from filewall.desktop import autostart
    from filewall.desktop.commands import setup_logging
    from filewall.desktop.quarantine import Quarantine

    folder = desktop_data_dir(None)
    layout = DataLayout(folder)
    assert folder == sandbox / "xdg" / "filewall"
    quarantine = Quarantine(folder).open()
    assert quarantine.root == layout.quarantine_dir and layout.quarantine_dir.is_dir()

    logger = logging.getLogger("filewall")
    handlers, level = list(logger.handlers), logger.level
    try:
        assert setup_logging(folder, "watch") == layout.logs_dir / "watch.log"
    finally:
        for handler in logger.handlers[len(handlers) :]:
            handler.close()
            logger.removeHandler(handler)
        logger.setLevel(level)

    installed = autostart.install(folder, home=sandbox / "home", system="darwin")
    assert installed.where == str(autostart.launch_agent_path(sandbox / "home"))
    agent = plistlib.loads(Path(installed.where).read_bytes())
    assert Path(agent["StandardOutPath"]).parent == layout.logs_dir


def test_desktop_and_desk_share_the_default_folder(sandbox):
    """Same rule and the same per-user folder; only the desk resolves symlinks and ``..``."""
    assert desktop_data_dir() == Settings.load(environ={}).data_dir == QueueConfig.load(environ={}).data_dir
    assert desktop_data_dir(sandbox / "link") == sandbox / "link"
    assert Settings.load(sandbox / "link", environ={}).data_dir == sandbox / "real"
