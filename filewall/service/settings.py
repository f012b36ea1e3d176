"""Where the support desk keeps its state, and its limits.

All state lives under one data folder: the database (``filewall.db`` when no database URL
is given), the samples (``samples/``), the safe previews (``previews/``) and an optional
``config.toml``. The folder is, in order: the ``data`` argument (``filewall serve --data``),
``FILEWALL_DATA``, or the platform's per-user data folder (platformdirs: on Linux
``~/.local/share/filewall``, on Windows ``%LOCALAPPDATA%\\filewall``). The layout is
:class:`filewall.datadir.DataLayout`, shared with the workers' configuration.

Every other setting is taken, in order, from the explicit argument, the environment
(``FILEWALL_<NAME>``, e.g. ``FILEWALL_DATABASE_URL``, ``FILEWALL_MAX_UPLOAD_MB``), the
data folder's ``config.toml`` (``database_url = "postgresql://..."``, ``max_upload_mb = 50``)
and the default below.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..datadir import DataLayout, settings_values
from ..datadir import default_data_dir as default_data_dir  # re-exported: its former home
from ..limits import Limits

MiB = 1024 * 1024


@dataclass
class Settings:
    data_dir: Path
    #: SQLAlchemy URL; empty means SQLite in the data folder.
    database_url: str = ""
    #: Largest total upload in one submission (all files together), in MiB.
    max_upload_mb: float = 100.0
    #: Most files in one submission.
    max_files: int = 20
    #: Longest chat text accepted with a submission, in characters.
    max_chat_chars: int = 100_000
    #: Most passwords given with one submission.
    max_passwords: int = 20
    #: Scanning processes (0: one per core).
    scan_workers: int = 0
    #: Kill a scanning process that uses more than this (MiB of resident memory).
    worker_memory_mb: int = 2048
    #: How long a login lasts without logging in again, in hours.
    session_hours: float = 12.0
    #: Mark the session cookie Secure (set when the desk is served over HTTPS).
    cookie_secure: bool = False
    #: Failed logins for one user name within ``login_window_s`` before logins are refused.
    login_max_failures: int = 10
    login_window_s: float = 300.0
    #: Limits of the scan engine for uploads (FILEWALL_MAX_DEPTH etc., as for the CLI).
    limits: Limits = field(default_factory=Limits.from_env)
    #: Mount the HTML pages (filewall.service.pages) when that module exists.
    include_pages: bool = True

    @property
    def layout(self) -> DataLayout:
        return DataLayout(self.data_dir)

    @property
    def database(self) -> str:
        if self.database_url:
            return _normalize_url(self.database_url)
        return self.layout.sqlite_url

    @property
    def samples_dir(self) -> Path:
        return self.layout.samples_dir

    @property
    def previews_dir(self) -> Path:
        return self.layout.previews_dir

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * MiB)

    @property
    def workers(self) -> int:
        return self.scan_workers or max(1, os.cpu_count() or 1)

    @classmethod
    def load(
        cls,
        data_dir: str | os.PathLike[str] | None = None,
        environ: dict[str, str] | None = None,
        **overrides: Any,
    ) -> Settings:
        environ = dict(os.environ if environ is None else environ)
        layout = DataLayout.resolve(data_dir, environ)
        try:
            config = layout.read_config()
        except tomllib.TOMLDecodeError as error:
            raise SystemExit(f"filewall: {layout.config_file} is not valid TOML: {error}") from error
        values = settings_values(cls, config, environ, skip=("data_dir", "limits"))
        values.update({key: value for key, value in overrides.items() if value is not None})
        if "limits" not in values:
            values["limits"] = Limits.from_env(environ)
        return cls(data_dir=layout.root, **values)

    def public(self) -> dict[str, Any]:
        """The limits a client may know (shown by ``GET /api/v1/me``)."""
        return {
            "max_upload_bytes": self.max_upload_bytes,
            "max_files": self.max_files,
            "max_chat_chars": self.max_chat_chars,
            "max_passwords": self.max_passwords,
        }


def _normalize_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` mean psycopg 3 (the driver shipped)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
