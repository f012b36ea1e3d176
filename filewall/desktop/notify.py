"""Telling the user: always the log and the console, plus a desktop notification where
the platform has one.

- Windows: a toast through ``windows-toasts`` (the optional ``desktop`` extra, Windows
  only); without it, the log, the console and the tray icon still say it.
- Linux: ``notify-send`` (libnotify) when it is installed and a desktop session is there.
- macOS: ``osascript`` ``display notification``.

File names are chosen by the attacker, so they never reach a shell: programs get them as
separate arguments (``--`` first, so a name starting with ``-`` is not an option), the
notification text is escaped for libnotify's markup, and AppleScript reads them from
``argv`` instead of from its own source text. Hidden characters are made visible first.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
from typing import Any

from rich.console import Console
from rich.markup import escape

log = logging.getLogger("filewall.desktop")

LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "danger": logging.ERROR}
_STYLES = {"info": "green", "warning": "yellow", "danger": "bold red"}
DESKTOP_TIMEOUT = 5.0


class Notifier:
    """Log + console always; desktop notification when ``desktop`` and available."""

    def __init__(self, console: Console | None = None, desktop: bool = True, app_name: str = "filewall"):
        self.console = console
        self.desktop = desktop
        self.app_name = app_name
        self._toaster: Any = None

    def notify(self, title: str, message: str, level: str = "warning") -> None:
        log.log(LEVELS.get(level, logging.WARNING), "%s: %s", title, message)
        if self.console is not None and self.console.file is not None:
            style = _STYLES.get(level, "yellow")
            self.console.print(f"[{style}]{escape(title)}[/] {escape(message)}")
        if self.desktop:
            # Never let a slow notification daemon hold up the watcher.
            threading.Thread(target=self._desktop, args=(title, message, level), daemon=True).start()

    def _desktop(self, title: str, message: str, level: str) -> None:
        try:
            if sys.platform == "win32":
                self._windows_toast(title, message)
            elif sys.platform == "darwin":
                _run(["osascript", "-e", "on run argv", "-e",
                      "display notification (item 2 of argv) with title (item 1 of argv)", "-e", "end run",
                      title, message])
            else:
                command = notify_send_command(title, message, level, self.app_name)
                if command is not None:
                    _run(command)
        except Exception:  # a notification must never end the watcher
            log.debug("desktop notification failed", exc_info=True)

    def _windows_toast(self, title: str, message: str) -> None:  # pragma: no cover - Windows only
        if self._toaster is None:
            try:
                from windows_toasts import WindowsToaster
            except ImportError:
                self._toaster = False
                log.info("desktop notifications need the optional 'windows-toasts' package (pip install filewall[desktop])")
                return
            self._toaster = WindowsToaster(self.app_name)
        if self._toaster is False:
            return
        from windows_toasts import Toast

        toast = Toast()
        toast.text_fields = [title, message]
        self._toaster.show_toast(toast)


def notify_send_command(title: str, message: str, level: str = "warning", app_name: str = "filewall") -> list[str] | None:
    """The ``notify-send`` command for this message, or None where it cannot show."""
    program = shutil.which("notify-send")
    if program is None:
        return None
    if not any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS")):
        return None
    urgency = "critical" if level == "danger" else "normal"
    return [program, f"--app-name={app_name}", f"--urgency={urgency}", "--", title, _markup_escape(message)]


def _markup_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _run(command: list[str]) -> None:
    subprocess.run(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        timeout=DESKTOP_TIMEOUT, check=False,
    )
