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
else the platform's per-user data folder (the same rule as the support desk's).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: ``explicit``, else ``$FILEWALL_DATA``, else the user data dir."""
    chosen = explicit or os.environ.get("FILEWALL_DATA") or platformdirs.user_data_dir("filewall", appauthor=False)
    return Path(chosen).expanduser().absolute()
