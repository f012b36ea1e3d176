"""The data folder's layout: where the desk and the workers keep their state.

One folder holds everything: the optional ``config.toml``, the SQLite database
(``filewall.db``, used when no database URL is given), the samples (``samples/``) and
the safe previews (``previews/``). The folder is, in order: an explicit argument
(``--data``), ``FILEWALL_DATA``, or the platform's per-user data folder (platformdirs:
on Linux ``~/.local/share/filewall``, on Windows ``%LOCALAPPDATA%\\filewall``).

:class:`filewall.service.settings.Settings` and :class:`filewall.queue.QueueConfig`
both derive their paths from here, so the desk and the workers agree on them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: The environment variable naming the data folder.
DATA_ENV = "FILEWALL_DATA"
APP_NAME = "filewall"


def default_data_dir() -> Path:
    """The platform's per-user data folder for filewall (not created)."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def resolve_data_dir(
    data_dir: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Path:
    """The data folder, absolute: ``data_dir``, else ``$FILEWALL_DATA``, else the default.

    Empty values count as not given; ``~`` is expanded and symlinks resolved.
    """
    environ = os.environ if environ is None else environ
    return Path(data_dir or environ.get(DATA_ENV) or default_data_dir()).expanduser().resolve()


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

    @property
    def config_file(self) -> Path:
        return self.root / "config.toml"

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


__all__ = ["DATA_ENV", "DataLayout", "default_data_dir", "resolve_data_dir"]
