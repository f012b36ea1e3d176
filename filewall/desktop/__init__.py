"""On the agent's own computer: watch the chat download folders, quarantine what is
dangerous, and sweep for Trojans already planted.

- :mod:`.watch` — folder watcher (watchdog, polling fallback) that scans each file once it
  is complete and quarantines ``malicious`` ones;
- :mod:`.quarantine` — content-addressed, crash-safe quarantine with restore;
- :mod:`.locations` — where chat apps save received files (one data table);
- :mod:`.autostart` — start the watcher at logon for the current user (no admin);
- :mod:`.notify` / :mod:`.tray` — tell the user (desktop notification, Windows tray);
- :mod:`.sweep` — one pass over autostart entries, recent files, processes and
  connections, with a terminal, JSON and HTML report.

State (quarantine, logs) lives in one data folder: ``--data``, else ``FILEWALL_DATA``,
else the platform's per-user data folder — the support desk's rule, from
:mod:`filewall.datadir` (its :class:`~filewall.datadir.DataLayout` names the sub-folders).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..datadir import given_data_dir


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: ``explicit``, else ``$FILEWALL_DATA``, else the user data dir.

    Made absolute against the working directory, but not resolved: unlike the desk's
    (:func:`filewall.datadir.resolve_data_dir`), symlinks and ``..`` are kept as given.
    """
    return given_data_dir(explicit).absolute()
