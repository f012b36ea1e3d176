"""The data folder's layout: where the desk, the workers and the desktop keep their state.

One folder holds everything: the optional ``config.toml``, the SQLite database
(``filewall.db``, used when no database URL is given), the samples (``samples/``), the
safe previews (``previews/``), the platform's signing key
(``platform/update_signing_key.pem``), the verified platform update (``updates/`` with
``rules/``, ``blocklist/`` and ``state.json``), and on a desktop the quarantine
(``quarantine/``) and the logs (``logs/``). The folder is, in order: an explicit argument
(``--data``), ``FILEWALL_DATA``, or the platform's per-user data folder (platformdirs:
on Linux ``~/.local/share/filewall``, on Windows ``%LOCALAPPDATA%\\filewall``); empty
values count as not given and ``~`` is expanded (:func:`given_data_dir`).

Every caller makes that same choice here; they differ, by design of the code that came
before this module, only in how the chosen folder is then normalised:

- the desk and the workers (:class:`filewall.service.settings.Settings`,
  :class:`filewall.queue.QueueConfig`) resolve it (:func:`resolve_data_dir`: absolute,
  symlinks and ``..`` resolved);
- the desktop (:func:`filewall.desktop.data_dir`) makes it absolute without resolving
  symlinks or ``..``;
- the platform update client and the rule loader (:mod:`filewall.platform.updates`,
  :mod:`filewall.rulesets`) keep it as given (a relative folder stays relative).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The environment variable naming the data folder.
DATA_ENV = "FILEWALL_DATA"
APP_NAME = "filewall"


def default_data_dir() -> Path:
    """The platform's per-user data folder for filewall (not created)."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def given_data_dir(
    data_dir: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Path:
    """The data folder as given: ``data_dir``, else ``$FILEWALL_DATA``, else the default.

    Empty values count as not given and ``~`` is expanded; the path is not made absolute
    (a relative folder stays relative to the working directory). ``environ`` defaults to
    the process environment, read at the call.
    """
    environ = os.environ if environ is None else environ
    return Path(data_dir or environ.get(DATA_ENV) or default_data_dir()).expanduser()


def resolve_data_dir(
    data_dir: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Path:
    """The data folder, absolute: :func:`given_data_dir` with symlinks and ``..`` resolved."""
    return given_data_dir(data_dir, environ).resolve()


@dataclass(frozen=True)
class DataLayout:
    """The paths under one data folder (nothing is created or read here)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @classmethod
    def resolve(
        cls, data_dir: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
    ) -> DataLayout:
        """The layout of the data folder chosen as :func:`resolve_data_dir` does."""
        return cls(resolve_data_dir(data_dir, environ))

    @classmethod
    def given(
        cls, data_dir: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
    ) -> DataLayout:
        """The layout of the data folder chosen as :func:`given_data_dir` does (not resolved)."""
        return cls(given_data_dir(data_dir, environ))

    @property
    def config_file(self) -> Path:
        return self.root / "config.toml"

    def read_config(self) -> dict[str, Any]:
        """``config.toml`` as a table, ``{}`` when there is none (invalid TOML raises
        :class:`tomllib.TOMLDecodeError`; each caller decides what that means for it)."""
        try:
            with open(self.config_file, "rb") as handle:
                return tomllib.load(handle)
        except FileNotFoundError:
            return {}

    @property
    def database_file(self) -> Path:
        """The SQLite database used when no database URL is configured."""
        return self.root / "filewall.db"

    @property
    def sqlite_url(self) -> str:
        return f"sqlite:///{self.database_file.as_posix()}"

    @property
    def samples_dir(self) -> Path:
        return self.root / "samples"

    @property
    def previews_dir(self) -> Path:
        return self.root / "previews"

    @property
    def signing_key_file(self) -> Path:
        """The platform's Ed25519 update signing key (unless ``FILEWALL_UPDATE_SIGNING_KEY``)."""
        return self.root / "platform" / "update_signing_key.pem"

    @property
    def updates_dir(self) -> Path:
        """The verified platform update that ``filewall update`` installs."""
        return self.root / "updates"

    @property
    def update_rules_dir(self) -> Path:
        return self.updates_dir / "rules"

    @property
    def update_blocklist_dir(self) -> Path:
        return self.updates_dir / "blocklist"

    @property
    def update_state_file(self) -> Path:
        return self.updates_dir / "state.json"

    @property
    def quarantine_dir(self) -> Path:
        """The desktop quarantine (:class:`filewall.desktop.quarantine.Quarantine`)."""
        return self.root / "quarantine"

    @property
    def logs_dir(self) -> Path:
        """The desktop watcher's logs."""
        return self.root / "logs"


def settings_values(
    cls: type, config: Mapping[str, Any], environ: Mapping[str, str], skip: Iterable[str] = ()
) -> dict[str, Any]:
    """Values for the fields of dataclass ``cls`` (except ``skip``): ``FILEWALL_<FIELD>``
    from ``environ``, else the top-level key of ``config.toml``; an empty value counts as
    not given; each is converted to the type of the field's default."""
    values: dict[str, Any] = {}
    for item in dataclasses.fields(cls):
        if item.name in skip:
            continue
        raw = environ.get(f"FILEWALL_{item.name.upper()}")
        if raw is None or raw == "":
            raw = config.get(item.name)
        if raw is not None and raw != "":
            values[item.name] = _convert(raw, item.default)
    return values


def _convert(raw: Any, default: Any) -> Any:
    if isinstance(default, bool):
        return raw if isinstance(raw, bool) else str(raw).strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(float(raw))
    if isinstance(default, float):
        return float(raw)
    return str(raw)


__all__ = [
    "DATA_ENV",
    "DataLayout",
    "default_data_dir",
    "given_data_dir",
    "resolve_data_dir",
    "settings_values",
]
