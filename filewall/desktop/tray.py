"""A Windows tray icon: protection is on, and the last file blocked.

``pystray`` is an optional, Windows-only dependency (``pip install filewall[desktop]``)
and is imported only inside :meth:`Tray.start`, only on Windows. The state and the icon
picture are plain code (testable anywhere); without pystray the watcher runs the same,
only without the icon.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

from .watch import WatchEvent

log = logging.getLogger("filewall.desktop.tray")


@dataclass
class TrayState:
    language: str = "en"
    blocked: int = 0
    last_blocked: str | None = None
    last_warning: str | None = None

    def update(self, event: WatchEvent) -> bool:
        """Take in a watcher event; True when what the tray shows changed."""
        if event.action == "quarantined":
            self.blocked += 1
            self.last_blocked = event.name
            return True
        if event.action in ("failed", "reported"):
            self.last_warning = event.name
            return True
        return False

    @property
    def alert(self) -> bool:
        return self.blocked > 0

    def title(self) -> str:
        if self.language == "zh":
            text = "filewall：防护已开启"
            if self.last_blocked:
                text += f"\n最近拦截：{self.last_blocked}（共 {self.blocked} 个）"
        else:
            text = "filewall: protection is on"
            if self.last_blocked:
                text += f"\nLast blocked: {self.last_blocked} ({self.blocked} in all)"
        return text[:127]  # Windows limits tray tooltips to 128 characters

    def last_blocked_line(self) -> str:
        if self.language == "zh":
            return f"最近拦截：{self.last_blocked}" if self.last_blocked else "还没有拦截任何文件"
        return f"Last blocked: {self.last_blocked}" if self.last_blocked else "Nothing blocked yet"


def icon_image(alert: bool, size: int = 64):
    """A shield: green while all is well, red once something was blocked."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    colour = (200, 30, 30, 255) if alert else (30, 150, 60, 255)
    s = size
    shield = [(s * 0.5, s * 0.06), (s * 0.9, s * 0.2), (s * 0.84, s * 0.62), (s * 0.5, s * 0.95),
              (s * 0.16, s * 0.62), (s * 0.1, s * 0.2)]
    draw.polygon(shield, fill=colour)
    tick = [(s * 0.3, s * 0.5), (s * 0.45, s * 0.65), (s * 0.72, s * 0.35)]
    if alert:
        draw.line([(s * 0.5, s * 0.25), (s * 0.5, s * 0.6)], fill="white", width=max(2, s // 10))
        draw.ellipse([s * 0.45, s * 0.7, s * 0.55, s * 0.8], fill="white")
    else:
        draw.line(tick, fill="white", width=max(2, s // 10))
    return image


class Tray:
    """The icon itself (Windows only). Call :meth:`on_event` with each watcher event."""

    def __init__(self, language: str = "en", log_file: str | None = None, on_quit: Callable[[], None] | None = None):
        self.state = TrayState(language=language)
        self.log_file = log_file
        self.on_quit = on_quit
        self._icon = None
        self._lock = threading.Lock()

    def start(self) -> bool:
        """Show the icon; False where there is none (not Windows, pystray missing)."""
        if sys.platform != "win32":
            return False
        try:
            import pystray  # noqa: PLC0415 - optional, Windows only
        except ImportError:
            log.info("no tray icon: the optional 'pystray' package is not installed (pip install filewall[desktop])")
            return False
        zh = self.state.language == "zh"
        menu = pystray.Menu(
            pystray.MenuItem("防护已开启" if zh else "Protection is on", None, enabled=False),
            pystray.MenuItem(lambda item: self.state.last_blocked_line(), None, enabled=False),
            pystray.MenuItem("查看日志" if zh else "Show log", self._show_log, enabled=bool(self.log_file)),
            pystray.MenuItem("退出" if zh else "Quit", self._quit),
        )
        self._icon = pystray.Icon("filewall", icon_image(False), self.state.title(), menu)
        self._icon.run_detached()
        return True

    def on_event(self, event: WatchEvent) -> None:
        with self._lock:
            if not self.state.update(event) or self._icon is None:
                return
            try:
                self._icon.icon = icon_image(self.state.alert)
                self._icon.title = self.state.title()
                self._icon.update_menu()
            except Exception:
                log.debug("tray update failed", exc_info=True)

    def stop(self) -> None:
        if self._icon is not None:
            try:
                self._icon.stop()
            except Exception:
                pass

    def _show_log(self, icon=None, item=None) -> None:  # pragma: no cover - Windows only
        if self.log_file and os.path.exists(self.log_file):
            os.startfile(self.log_file)  # a .log opens in Notepad

    def _quit(self, icon=None, item=None) -> None:  # pragma: no cover - Windows only
        self.stop()
        if self.on_quit is not None:
            self.on_quit()
