"""Watch folders and scan each new or changed file as soon as it is complete.

Events come from watchdog's native observer (inotify, ReadDirectoryChangesW, FSEvents),
or from its polling observer when the native one cannot start (too many watches, a
network drive) or when asked. A file is scanned **once, complete**:

- every event for a path (created, modified, moved in, closed) only *touches* a
  candidate and records its size and modification time;
- a candidate is ready when nothing happened to it for ``settle`` seconds and its size and
  time did not change; on Linux, inotify's "closed after writing" event makes it ready
  at once (after :data:`CLOSE_DEBOUNCE`), and a file renamed into place (a browser's or
  chat app's temp file renamed when the download ends) is treated the same way; on Windows
  a file that another program still holds open for writing is not ready (a share-mode
  probe);
- names of unfinished downloads (``.crdownload``, ``.part`` …) wait for
  :data:`PARTIAL_SETTLE` seconds, so they are scanned under their final name, yet a
  partial file left lying around is still scanned in the end;
- a folder dropped or unpacked into a watched folder is walked and each file in it
  becomes a candidate;
- the same path with the same size and time is not scanned twice.

Files are scanned in the supervised process pool (:class:`filewall.pool.ScanPool`), so a
file built to crash a parser costs one ``error`` report, never the watcher. A
``malicious`` file is moved to the quarantine; a ``suspicious`` (or unscannable) one is
reported; the user is told either way (:class:`~filewall.desktop.notify.Notifier`).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from ..engine import ScanOptions
from ..pool import ScanPool
from ..text import visible_name
from .locations import APP_INTERNAL_SUFFIXES
from .notify import Notifier
from .quarantine import FileChanged, Quarantine, QuarantineError

log = logging.getLogger("filewall.desktop.watch")

#: Quiet time after the last event before a file counts as complete (no close event).
SETTLE_SECONDS = 1.0
#: After a "closed after writing" event or a rename into place.
CLOSE_DEBOUNCE = 0.05
#: Names of downloads still in progress; they usually get renamed when done.
PARTIAL_SUFFIXES = (".crdownload", ".part", ".partial", ".download", ".downloading", ".tmp", ".temp", ".!qb", ".td")
PARTIAL_SETTLE = 30.0
#: Files in a folder dropped in that are walked at once (the rest wait for events).
MAX_WALK = 10_000
#: Paths remembered as already scanned (same size and time are not scanned again).
MAX_REMEMBERED = 50_000
RESTORE_TEMP_PREFIX = ".filewall-restore-"
_EVENTS = [FileCreatedEvent, FileModifiedEvent, FileMovedEvent, FileClosedEvent, DirCreatedEvent, DirMovedEvent]


@dataclass
class WatchEvent:
    """What the watcher did with one file (for the console, the tray, tests, the bench)."""

    path: str
    verdict: str
    #: quarantined | reported | clean | released | failed
    action: str
    report: dict[str, Any]
    entry_id: int | None = None
    detail: str = ""
    #: Seconds from the last file-system event for this file to the end of the action.
    latency: float = 0.0
    at: float = field(default_factory=time.time)

    @property
    def name(self) -> str:
        return visible_name(os.path.basename(self.path))


@dataclass
class _Candidate:
    key: tuple[int, int] | None
    due: float
    last_event: float
    partial: bool = False


class Watcher:
    """Watch ``folders``; use :meth:`start` / :meth:`stop` or as a context manager."""

    def __init__(
        self,
        folders: Iterable[str | os.PathLike[str]],
        quarantine: Quarantine,
        *,
        options: ScanOptions | None = None,
        workers: int = 1,
        settle: float = SETTLE_SECONDS,
        poll: bool = False,
        poll_interval: float = 1.0,
        notifier: Notifier | None = None,
        on_event: Callable[[WatchEvent], None] | None = None,
        language: str = "en",
        ignore: Iterable[str | os.PathLike[str]] = (),
        app_data_folders: Iterable[str | os.PathLike[str]] = (),
        discover: Callable[[], Iterable[str | os.PathLike[str]]] | None = None,
        discover_every: float = 60.0,
        scan_existing: bool = False,
    ):
        self.folders = [os.path.abspath(folder) for folder in folders]
        self.quarantine = quarantine
        self.options = options or ScanOptions()
        self.workers = max(1, workers)
        self.settle = settle
        self.poll = poll
        self.poll_interval = poll_interval
        self.notifier = notifier or Notifier(desktop=False)
        self.on_event = on_event
        self.language = language
        self.ignore = [os.path.abspath(path) for path in ignore] + [os.path.abspath(quarantine.root)]
        self.app_data_folders = [os.path.abspath(path) for path in app_data_folders]
        self.discover = discover
        self.discover_every = discover_every
        self.scan_existing = scan_existing
        self.observer_kind = ""
        self._candidates: dict[str, _Candidate] = {}
        self._scanned: dict[str, tuple[int, int]] = {}
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._observer = None
        self._pool: ScanPool | None = None
        self._thread: threading.Thread | None = None
        self._watched: set[str] = set()

    # -- life cycle ----------------------------------------------------------------------
    def __enter__(self) -> Watcher:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        # The pool forks its workers: start it before any other thread exists.
        self._pool = ScanPool(self.options, workers=self.workers)
        self._pool.__enter__()
        self._observer = self._start_observer(self.folders)
        if self.scan_existing:
            for folder in self.folders:
                self._add_tree(folder, time.monotonic())
        self._thread = threading.Thread(target=self._loop, name="filewall-watch", daemon=True)
        self._thread.start()
        log.info("watching %s (%s)", ", ".join(self.folders) or "nothing", self.observer_kind)

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._pool is not None:
            self._pool.__exit__(None, None, None)
            self._pool = None

    def run_forever(self) -> None:
        """Block until interrupted (Ctrl+C) or :meth:`stop` is called from another thread."""
        try:
            while not self._stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def pending(self) -> int:
        with self._cond:
            return len(self._candidates)

    # -- observers -----------------------------------------------------------------------
    def _start_observer(self, folders: list[str]):
        handler = _Handler(self)
        if not self.poll:
            observer = Observer()
            try:
                for folder in folders:
                    observer.schedule(handler, folder, recursive=True, event_filter=_EVENTS)
                observer.start()
                self.observer_kind = type(observer).__name__
                self._watched.update(folders)
                return observer
            except OSError as error:
                log.warning("native folder watching failed (%s); falling back to polling", error)
                try:
                    observer.stop()
                except Exception:
                    pass
        observer = PollingObserver(timeout=self.poll_interval)
        for folder in folders:
            observer.schedule(handler, folder, recursive=True)
        observer.start()
        self.observer_kind = "PollingObserver"
        self._watched.update(folders)
        return observer

    def _watch_more(self, folders: Iterable[str | os.PathLike[str]]) -> None:
        new = [os.path.abspath(folder) for folder in folders]
        new = [folder for folder in new if folder not in self._watched and os.path.isdir(folder)]
        if not new or self._observer is None:
            return
        handler = _Handler(self)
        for folder in new:
            try:
                if isinstance(self._observer, PollingObserver):
                    self._observer.schedule(handler, folder, recursive=True)
                else:
                    self._observer.schedule(handler, folder, recursive=True, event_filter=_EVENTS)
                self._watched.add(folder)
                self.folders.append(folder)
                log.info("now also watching %s", folder)
            except OSError as error:
                log.warning("cannot watch %s: %s", folder, error)

    # -- events --------------------------------------------------------------------------
    def touch(self, path: str, ready_soon: bool = False) -> None:
        """Note that ``path`` was written (called from the observer's thread)."""
        path = os.path.abspath(path)
        if self._ignored(path):
            return
        now = time.monotonic()
        key = _stat_key(path)
        if key is None:
            return
        partial = path.lower().endswith(PARTIAL_SUFFIXES)
        with self._cond:
            candidate = self._candidates.get(path)
            if partial:
                due = now + PARTIAL_SETTLE
            elif ready_soon:
                due = now + CLOSE_DEBOUNCE
            else:
                due = now + (min(self.settle, 0.3) if sys.platform == "win32" else self.settle)
            if candidate is None:
                self._candidates[path] = _Candidate(key, due, now, partial)
            else:
                candidate.key, candidate.due, candidate.last_event, candidate.partial = key, due, now, partial
            self._cond.notify()

    def _add_tree(self, folder: str, now: float) -> None:
        count = 0
        for root, dirs, files in os.walk(folder):
            dirs[:] = [name for name in dirs if not self._ignored(os.path.join(root, name))]
            for name in files:
                self.touch(os.path.join(root, name), ready_soon=True)
                count += 1
                if count >= MAX_WALK:
                    log.warning("%s holds more than %d files; the rest are scanned when they change", folder, MAX_WALK)
                    return

    def _ignored(self, path: str) -> bool:
        if os.path.basename(path).startswith(RESTORE_TEMP_PREFIX):
            return True
        for root in self.ignore:
            if path == root or path.startswith(root + os.sep):
                return True
        for root in self.app_data_folders:
            if path.startswith(root + os.sep) and path.lower().endswith(APP_INTERNAL_SUFFIXES):
                return True
        return False

    # -- the loop ------------------------------------------------------------------------
    def _loop(self) -> None:
        next_discovery = time.monotonic() + self.discover_every
        while not self._stop.is_set():
            ready = self._wait_for_ready()
            if ready:
                try:
                    self._scan(ready)
                except Exception:  # the watcher must keep watching
                    log.exception("scanning %d file(s) failed", len(ready))
            if self.discover is not None and time.monotonic() >= next_discovery:
                next_discovery = time.monotonic() + self.discover_every
                try:
                    self._watch_more(self.discover())
                except Exception:
                    log.debug("looking for new folders failed", exc_info=True)

    def _wait_for_ready(self) -> list[tuple[str, _Candidate]]:
        with self._cond:
            now = time.monotonic()
            upcoming = [candidate.due for candidate in self._candidates.values()]
            wait = min(upcoming) - now if upcoming else 0.5
            if wait > 0:
                self._cond.wait(min(wait, 0.5))
            now = time.monotonic()
            due = [(path, c) for path, c in self._candidates.items() if c.due <= now]
        ready = []
        for path, candidate in due:
            key = _stat_key(path)
            with self._cond:
                if self._candidates.get(path) is not candidate or candidate.due > time.monotonic():
                    continue  # touched again meanwhile
                if key is None:
                    del self._candidates[path]
                    continue
                if key != candidate.key:
                    candidate.key, candidate.due = key, time.monotonic() + self.settle
                    continue
                if sys.platform == "win32" and _writer_active(path):
                    candidate.due = time.monotonic() + 0.25
                    continue
                del self._candidates[path]
            if self._scanned.get(path) == key:
                continue  # the same content was already judged
            ready.append((path, candidate))
        return ready

    def _scan(self, ready: list[tuple[str, _Candidate]]) -> None:
        assert self._pool is not None
        paths = [path for path, _ in ready]
        for (path, candidate), report in zip(ready, self._pool.scan(paths), strict=True):
            key = _stat_key(path)
            if key is not None:
                if len(self._scanned) >= MAX_REMEMBERED:
                    self._scanned.clear()  # only an optimisation: forgetting costs a rescan
                self._scanned[path] = key
            self._act(path, candidate, report)

    def _act(self, path: str, candidate: _Candidate, report: dict[str, Any]) -> None:
        verdict = report.get("verdict", "error")
        sha256 = (report.get("tree") or {}).get("sha256")
        if verdict == "malicious":
            if sha256 and self.quarantine.is_released(path, sha256):
                event = WatchEvent(path, verdict, "released", report, detail="restored by the user earlier; left in place")
            else:
                try:
                    entry = self.quarantine.quarantine(path, report)
                except FileChanged:
                    self._scanned.pop(path, None)
                    self.touch(path)
                    return
                except QuarantineError as error:
                    event = WatchEvent(path, verdict, "failed", report, detail=str(error))
                else:
                    action = "quarantined" if entry.state == "quarantined" else "failed"
                    event = WatchEvent(path, verdict, action, report, entry_id=entry.id, detail=entry.note or "")
        elif verdict in ("suspicious", "error"):
            event = WatchEvent(path, verdict, "reported", report)
        else:
            event = WatchEvent(path, verdict, "clean", report)
        event.latency = time.monotonic() - candidate.last_event
        self._tell(event)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.debug("on_event callback failed", exc_info=True)

    def _tell(self, event: WatchEvent) -> None:
        zh = self.language == "zh"
        summary = event.report.get("summary_zh" if zh else "summary") or ""
        name = event.name
        if event.action == "clean":
            log.info("clean: %s (%.0f ms after the last write)", event.path, event.latency * 1000)
            return
        if event.action == "quarantined":
            title = f"filewall 已拦截 {name}" if zh else f"filewall blocked {name}"
            tail = (f"已移入隔离区（编号 {event.entry_id}）。" if zh
                    else f"It was moved to quarantine (entry {event.entry_id}).")
            self.notifier.notify(title, f"{summary} {tail}", "danger")
        elif event.action == "failed":
            title = f"危险文件 {name} 未能移走" if zh else f"Dangerous file {name} could not be moved"
            tail = "不要打开它。" if zh else "Do not open it."
            self.notifier.notify(title, f"{summary} {tail} ({event.detail})", "danger")
        elif event.action == "released":
            title = f"{name}：已被你恢复，未再隔离" if zh else f"{name}: restored by you, left in place"
            self.notifier.notify(title, summary, "warning")
        else:
            label = ("可疑" if event.verdict == "suspicious" else "无法检查") if zh else (
                "suspicious" if event.verdict == "suspicious" else "could not be checked")
            title = f"{name}：{label}" if zh else f"{name} is {label}"
            self.notifier.notify(title, summary, "warning")


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: Watcher):
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        if kind not in ("created", "modified", "moved", "closed"):
            return
        path = event.dest_path if kind == "moved" else event.src_path
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if event.is_directory:
            if kind in ("created", "moved"):
                self.watcher._add_tree(path, time.monotonic())
            return
        self.watcher.touch(path, ready_soon=kind in ("closed", "moved"))


def _stat_key(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    if not os.path.isfile(path):
        return None
    return info.st_size, info.st_mtime_ns


def _writer_active(path: str) -> bool:  # pragma: no cover - Windows only
    """True while another program holds ``path`` open for writing (Windows).

    Opens it asking others to share *read only*: Windows refuses that (sharing
    violation) while someone has it open for writing.
    """
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    create = kernel32.CreateFileW
    create.argtypes = [wintypes.LPCWSTR, wintypes.DWORD, wintypes.DWORD, wintypes.LPVOID, wintypes.DWORD,
                       wintypes.DWORD, wintypes.HANDLE]
    create.restype = wintypes.HANDLE
    generic_read, share_read, open_existing = 0x80000000, 0x1, 3
    handle = create(path, generic_read, share_read, None, open_existing, 0, None)
    if handle == wintypes.HANDLE(-1).value:
        return ctypes.get_last_error() == 32  # ERROR_SHARING_VIOLATION
    kernel32.CloseHandle(handle)
    return False


def folders_to_watch(given: Iterable[str | os.PathLike[str]]) -> tuple[list[Path], list[Path], list[str]]:
    """(folders, app-data folders, descriptions): ``given``, or the chat apps' received
    files and Downloads when nothing is given."""
    from .locations import watch_folders

    given = [Path(folder) for folder in given]
    if given:
        return given, [], [str(folder) for folder in given]
    found = watch_folders()
    folders = [item.path for item in found]
    app_data = [item.path for item in found if item.app_data]
    return folders, app_data, [f"{item.app}: {item.path}" for item in found]
