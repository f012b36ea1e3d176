"""The quarantine: dangerous files kept out of reach, nothing ever lost.

Layout under the data folder::

    quarantine/objects/ab/cd/<sha256>   the files, content-addressed (filewall.storage)
    quarantine/index.sqlite3            one row per quarantined file: original path, size,
                                        mode, times, the scan report, and its state
    quarantine/lock                     taken by every operation (watcher, CLI, recovery)

A **move** is copy → fsync → verify → index → delete:

1. the file is copied into the object store while it is hashed, ``fsync``-ed and renamed
   to its address (:class:`filewall.storage.BlobStore`);
2. the stored copy is read back and its hash checked, then the original is hashed again
   (a file that changed since it was scanned or copied is left alone);
3. the index row is committed (SQLite, ``synchronous=FULL``) with state ``pending_delete``;
4. the original is deleted and its folder ``fsync``-ed; the row becomes ``quarantined``.

A crash at any point leaves the file in place, or in quarantine, and :meth:`recover`
(run at every start) finishes or undoes what was interrupted: an object with no index
row is an extra copy (the original was never touched) and is removed; a
``pending_delete`` row whose original is still there is completed. So the file exists
exactly once. **Restore** writes a temp file beside the original path, verifies it and
links it into place without ever overwriting: a different file at that path is refused.

Stored objects have no extension and are never opened except as bytes.
"""

from __future__ import annotations

import datetime
import errno
import hashlib
import json
import os
import signal
import sqlite3
import stat
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..datadir import DataLayout
from ..storage import CHUNK, BlobStore, _fsync_dir
from ..text import visible_name

#: States an index row goes through. ``pending_delete``: copied and verified, original
#: not yet removed. ``restoring``/``deleting``: an operation is under way.
LIVE_STATES = ("pending_delete", "quarantined", "restoring", "deleting")
#: Only for tests: ``FILEWALL_TEST_CRASH_AT=<point>`` kills the process at that point.
CRASH_ENV = "FILEWALL_TEST_CRASH_AT"
DELETE_RETRIES = 10
DELETE_RETRY_SECONDS = 0.25

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    original_path TEXT NOT NULL,
    mode INTEGER,
    mtime_ns INTEGER,
    atime_ns INTEGER,
    zone_identifier BLOB,
    quarantined_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    verdict TEXT,
    summary TEXT,
    summary_zh TEXT,
    report TEXT,
    state TEXT NOT NULL,
    note TEXT
);
CREATE INDEX IF NOT EXISTS entries_sha ON entries(sha256);
CREATE INDEX IF NOT EXISTS entries_state ON entries(state);
"""


class QuarantineError(Exception):
    """An operation could not be done; the message says why, in plain words."""


class RestoreRefused(QuarantineError):
    """Restore would overwrite a different file, or the entry is not restorable."""


class FileChanged(QuarantineError):
    """The file changed since it was scanned (or while it was copied); it was left alone."""


@dataclass
class Entry:
    id: int
    sha256: str
    size: int
    original_path: str
    quarantined_at: str
    updated_at: str
    state: str
    verdict: str | None = None
    summary: str | None = None
    summary_zh: str | None = None
    note: str | None = None
    mode: int | None = None
    mtime_ns: int | None = None
    atime_ns: int | None = None

    @property
    def name(self) -> str:
        return visible_name(os.path.basename(self.original_path) or self.original_path)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["name"] = self.name
        return data


class Quarantine:
    """The quarantine under ``<data>/quarantine``; safe across threads and processes."""

    def __init__(self, data_dir: str | os.PathLike[str]):
        self.root = DataLayout(data_dir).quarantine_dir
        self.store = BlobStore(self.root / "objects")
        self._db_path = self.root / "index.sqlite3"
        self._lock = _InterProcessLock(self.root / "lock")
        self._opened = False

    # -- setup ---------------------------------------------------------------------------
    def open(self) -> Quarantine:
        """Create the folders and the index, and repair what a crash left (:meth:`recover`)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock:
            with self._db() as db:
                db.executescript(_SCHEMA)
            self._opened = True
            self._recover_locked()
        return self

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self._db_path, timeout=30, isolation_level=None)
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA synchronous=FULL")
            yield db
        finally:
            db.close()

    # -- moving in -----------------------------------------------------------------------
    def quarantine(self, path: str | os.PathLike[str], report: dict[str, Any] | None = None) -> Entry:
        """Move ``path`` into quarantine (see the module docstring for the steps).

        ``report``: the scan report dict; when it carries the file's sha256, a file whose
        content changed since that scan is left in place (:class:`FileChanged`).
        Raises :class:`QuarantineError` when the file could not be moved; the file is then
        still where it was.
        """
        original = os.path.abspath(path)
        expected = ((report or {}).get("tree") or {}).get("sha256")
        with self._lock:
            self._require_open()
            try:
                info = os.lstat(original)
            except OSError as error:
                raise QuarantineError(f"cannot read {original}: {error.strerror or error}") from error
            if not stat.S_ISREG(info.st_mode):
                raise QuarantineError(f"{original} is not a regular file (a link or a device); it was left alone")
            try:
                with open(original, "rb") as handle:
                    staged = self.store.stage(iter(lambda: handle.read(CHUNK), b""))
            except OSError as error:
                raise QuarantineError(f"cannot copy {original}: {error.strerror or error}") from error
            _crash_point("after_stage")
            stored = self.store.commit(staged)
            _crash_point("after_copy")
            try:
                if _sha256_file(stored.path) != staged.sha256:
                    raise QuarantineError(f"the quarantine copy of {original} did not verify; the file was left alone")
                if expected and expected != staged.sha256:
                    raise FileChanged(f"{original} changed after it was scanned; it was left alone to be scanned again")
                if _sha256_file(original) != staged.sha256:
                    raise FileChanged(f"{original} changed while it was being copied; it was left alone")
            except (QuarantineError, OSError) as error:
                self._drop_object_if_unused(staged.sha256)
                if isinstance(error, OSError):
                    raise QuarantineError(f"cannot verify {original}: {error.strerror or error}") from error
                raise
            now = _now()
            with self._db() as db:
                cursor = db.execute(
                    "INSERT INTO entries (sha256, size, original_path, mode, mtime_ns, atime_ns, zone_identifier,"
                    " quarantined_at, updated_at, verdict, summary, summary_zh, report, state)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending_delete')",
                    (
                        staged.sha256,
                        staged.size,
                        original,
                        stat.S_IMODE(info.st_mode),
                        info.st_mtime_ns,
                        info.st_atime_ns,
                        _read_zone_identifier(original),
                        now,
                        now,
                        (report or {}).get("verdict"),
                        (report or {}).get("summary"),
                        (report or {}).get("summary_zh"),
                        json.dumps(report, ensure_ascii=False) if report else None,
                    ),
                )
                entry_id = cursor.lastrowid
            _crash_point("after_index")
            removed = _remove_original(original)
            _crash_point("after_delete")
            if removed is None:
                self._set_state(entry_id, "quarantined")
            else:
                self._set_state(
                    entry_id, "pending_delete", note=f"could not remove the original yet ({removed}); will retry"
                )
            return self.get(entry_id)

    # -- reading -------------------------------------------------------------------------
    def list(self, include_closed: bool = False) -> list[Entry]:
        """Entries in quarantine (with ``include_closed``: restored and deleted ones too)."""
        self._require_open()
        query = "SELECT * FROM entries"
        if not include_closed:
            query += " WHERE state IN ('pending_delete', 'quarantined', 'restoring', 'deleting')"
        with self._db() as db:
            return [_entry(row) for row in db.execute(query + " ORDER BY id")]

    def get(self, entry_id: int | str) -> Entry:
        self._require_open()
        try:
            number = int(entry_id)
        except (TypeError, ValueError) as error:
            raise QuarantineError(f"no quarantine entry {entry_id!r} (ids are numbers; see `filewall quarantine list`)") from error
        with self._db() as db:
            row = db.execute("SELECT * FROM entries WHERE id = ?", (number,)).fetchone()
        if row is None:
            raise QuarantineError(f"no quarantine entry {entry_id} (see `filewall quarantine list`)")
        return _entry(row)

    def report(self, entry_id: int | str) -> dict[str, Any] | None:
        entry = self.get(entry_id)
        with self._db() as db:
            row = db.execute("SELECT report FROM entries WHERE id = ?", (entry.id,)).fetchone()
        return json.loads(row["report"]) if row and row["report"] else None

    def object_path(self, sha256: str) -> Path:
        return self.store.path_for(sha256)

    def is_released(self, path: str | os.PathLike[str], sha256: str) -> bool:
        """True when the user restored this very file (same content, same place): the
        watcher then reports it but does not take it away again."""
        self._require_open()
        with self._db() as db:
            row = db.execute(
                "SELECT 1 FROM entries WHERE state = 'restored' AND sha256 = ? AND original_path = ?",
                (sha256, os.path.abspath(path)),
            ).fetchone()
        return row is not None

    # -- restore and delete --------------------------------------------------------------
    def restore(self, entry_id: int | str) -> Entry:
        """Put the file back where it was, byte for byte; never overwrite another file."""
        with self._lock:
            entry = self.get(entry_id)
            if entry.state == "pending_delete":
                self._recover_locked()
                entry = self.get(entry.id)
            if entry.state != "quarantined":
                raise RestoreRefused(f"entry {entry.id} ({entry.name}) is {entry.state}, not in quarantine")
            source = self.store.path_for(entry.sha256)
            if not source.is_file() or _sha256_file(source) != entry.sha256:
                raise QuarantineError(
                    f"the quarantined copy of {entry.name} is missing or damaged (was it removed by another "
                    f"antivirus program?); nothing was restored"
                )
            dest = entry.original_path
            if os.path.lexists(dest):
                if os.path.isfile(dest) and not os.path.islink(dest) and _sha256_file(dest) == entry.sha256:
                    self._finish_restore(entry, note="the same file was already back in place")
                    return self.get(entry.id)
                raise RestoreRefused(
                    f"a different file now exists at {dest}; filewall did not overwrite it. "
                    f"Move or rename that file, then restore again."
                )
            folder = os.path.dirname(dest)
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError as error:
                raise QuarantineError(f"cannot create the folder {folder}: {error.strerror or error}") from error
            self._set_state(entry.id, "restoring")
            temp = _restore_temp(entry)
            try:
                _copy_verified(source, temp, entry.sha256)
                _crash_point("restore_after_copy")
                if entry.mode is not None:
                    os.chmod(temp, entry.mode)
                if entry.mtime_ns is not None:
                    os.utime(temp, ns=(entry.atime_ns or entry.mtime_ns, entry.mtime_ns))
                _link_no_clobber(temp, dest)
            except FileExistsError as error:
                _unlink_quietly(temp)
                self._set_state(entry.id, "quarantined")
                raise RestoreRefused(
                    f"a file appeared at {dest} while restoring; filewall did not overwrite it. "
                    f"Move or rename that file, then restore again."
                ) from error
            except OSError as error:
                _unlink_quietly(temp)
                self._set_state(entry.id, "quarantined")
                raise QuarantineError(f"cannot restore to {dest}: {error.strerror or error}") from error
            _fsync_dir_quietly(folder)
            self._write_zone_identifier(entry.id, dest)
            self._finish_restore(entry)
            return self.get(entry.id)

    def delete(self, entry_id: int | str) -> Entry:
        """Remove a quarantined file for good (the index keeps the record)."""
        with self._lock:
            entry = self.get(entry_id)
            if entry.state != "quarantined":
                raise QuarantineError(f"entry {entry.id} ({entry.name}) is {entry.state}, not in quarantine")
            self._set_state(entry.id, "deleting")
            self._drop_object_if_unused(entry.sha256)
            self._set_state(entry.id, "deleted")
            return self.get(entry.id)

    # -- recovery ------------------------------------------------------------------------
    def recover(self) -> list[str]:
        """Finish or undo operations a crash interrupted; returns what was done."""
        with self._lock:
            self._require_open()
            return self._recover_locked()

    def _recover_locked(self) -> list[str]:
        done: list[str] = []
        self.store.setup()  # clears half-written copies in objects/tmp
        for entry in self.list():
            if entry.state == "pending_delete":
                done.append(self._recover_move(entry))
            elif entry.state == "restoring":
                _unlink_quietly(_restore_temp(entry))
                if os.path.isfile(entry.original_path) and _sha256_file(entry.original_path) == entry.sha256:
                    self._finish_restore(entry, note="finished an interrupted restore")
                    done.append(f"entry {entry.id}: finished restoring {entry.original_path}")
                else:
                    self._set_state(entry.id, "quarantined", note="an interrupted restore was undone")
                    done.append(f"entry {entry.id}: undid an interrupted restore")
            elif entry.state == "deleting":
                self._drop_object_if_unused(entry.sha256)
                self._set_state(entry.id, "deleted")
                done.append(f"entry {entry.id}: finished deleting")
        done += self._drop_orphans()
        return [line for line in done if line]

    def _recover_move(self, entry: Entry) -> str:
        source = self.store.path_for(entry.sha256)
        copy_ok = source.is_file() and _sha256_file(source) == entry.sha256
        path = entry.original_path
        same = False
        if os.path.isfile(path) and not os.path.islink(path):
            try:
                same = _sha256_file(path) == entry.sha256
            except OSError:
                return ""  # unreadable for now (locked): try again next time
        if same and not copy_ok:
            self._set_state(entry.id, "rolled_back", note="the quarantine copy was damaged; the file stayed in place")
            return f"entry {entry.id}: left {path} in place (quarantine copy damaged)"
        if same:
            problem = _remove_original(path)
            if problem is not None:
                return f"entry {entry.id}: still cannot remove {path} ({problem})"
            self._set_state(entry.id, "quarantined", note="finished an interrupted move")
            return f"entry {entry.id}: finished moving {path} into quarantine"
        self._set_state(entry.id, "quarantined", note="the original had already been removed")
        return f"entry {entry.id}: confirmed {path} is in quarantine"

    def _drop_orphans(self) -> list[str]:
        """Objects no live entry refers to: copies made before a crash that came before
        the index row was written (the original was never touched)."""
        with self._db() as db:
            live = {row[0] for row in db.execute(
                "SELECT sha256 FROM entries WHERE state IN ('pending_delete', 'quarantined', 'restoring', 'deleting')"
            )}
        dropped = []
        if not self.store.root.is_dir():
            return dropped
        for first in self.store.root.iterdir():
            if first == self.store.tmp or not first.is_dir():
                continue
            for second in first.iterdir():
                for blob in second.iterdir() if second.is_dir() else ():
                    if blob.name not in live:
                        _unlink_quietly(blob)
                        dropped.append(f"removed an unindexed copy {blob.name[:12]}… (its original was never touched)")
        return dropped

    # -- helpers -------------------------------------------------------------------------
    def _finish_restore(self, entry: Entry, note: str | None = None) -> None:
        self._set_state(entry.id, "restored", note=note)
        self._drop_object_if_unused(entry.sha256)

    def _drop_object_if_unused(self, sha256: str) -> None:
        with self._db() as db:
            row = db.execute(
                "SELECT 1 FROM entries WHERE sha256 = ? AND state IN ('pending_delete', 'quarantined', 'restoring')",
                (sha256,),
            ).fetchone()
        if row is None:
            _unlink_quietly(self.store.path_for(sha256))

    def _set_state(self, entry_id: int, state: str, note: str | None = None) -> None:
        with self._db() as db:
            db.execute(
                "UPDATE entries SET state = ?, updated_at = ?, note = COALESCE(?, note) WHERE id = ?",
                (state, _now(), note, entry_id),
            )

    def _write_zone_identifier(self, entry_id: int, dest: str) -> None:
        if os.name != "nt":
            return
        with self._db() as db:
            row = db.execute("SELECT zone_identifier FROM entries WHERE id = ?", (entry_id,)).fetchone()
        if row and row["zone_identifier"]:
            try:
                with open(dest + ":Zone.Identifier", "wb") as handle:
                    handle.write(row["zone_identifier"])
            except OSError:
                pass

    def _require_open(self) -> None:
        if not self._opened:
            raise QuarantineError("the quarantine is not open (call open() first)")


# -- file helpers ------------------------------------------------------------------------


def _sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _remove_original(path: str) -> str | None:
    """Delete the original; ``None`` when gone, else why not (a file in use on Windows
    is retried for a couple of seconds: chat apps let go of a received file quickly)."""
    for attempt in range(DELETE_RETRIES):
        try:
            os.remove(path)
        except FileNotFoundError:
            return None
        except PermissionError as error:
            if attempt + 1 == DELETE_RETRIES:
                return error.strerror or str(error)
            time.sleep(DELETE_RETRY_SECONDS)
            continue
        except OSError as error:
            return error.strerror or str(error)
        _fsync_dir_quietly(os.path.dirname(path))
        return None
    return "still in use"


def _copy_verified(source: Path, temp: str, sha256: str) -> None:
    digest = hashlib.sha256()
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    try:
        with open(source, "rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                digest.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    if digest.hexdigest() != sha256 or _sha256_file(temp) != sha256:
        raise OSError(errno.EIO, "the restored copy did not verify")


def _link_no_clobber(temp: str, dest: str) -> None:
    """Move ``temp`` to ``dest`` atomically, failing with FileExistsError if dest exists."""
    if os.name == "nt":
        os.rename(temp, dest)  # Windows: rename never replaces an existing file
        return
    try:
        os.link(temp, dest)  # POSIX: link never replaces either
    except FileExistsError:
        raise
    except OSError:
        # File systems without hard links (FAT, exFAT, some network shares).
        if os.path.lexists(dest):
            raise FileExistsError(errno.EEXIST, "exists", dest) from None
        os.rename(temp, dest)
        return
    os.unlink(temp)


def _restore_temp(entry: Entry) -> str:
    return os.path.join(os.path.dirname(entry.original_path), f".filewall-restore-{entry.id}.tmp")


def _read_zone_identifier(path: str) -> bytes | None:
    """The Windows "downloaded from the internet" mark (kept and put back on restore)."""
    if os.name != "nt":
        return None
    try:
        with open(path + ":Zone.Identifier", "rb") as handle:
            return handle.read(64 * 1024)
    except OSError:
        return None


def _unlink_quietly(path: str | os.PathLike[str]) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync_dir_quietly(folder: str) -> None:
    try:
        _fsync_dir(Path(folder))
    except OSError:
        pass


def _crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        if sys.platform == "win32":
            os._exit(137)
        os.kill(os.getpid(), signal.SIGKILL)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _entry(row: sqlite3.Row) -> Entry:
    names = set(row.keys()) & set(Entry.__dataclass_fields__)  # sqlite3.Row: keys() is the only way
    return Entry(**{key: row[key] for key in names})


class _InterProcessLock:
    """One lock for every process and thread using the same quarantine (re-entrant)."""

    def __init__(self, path: Path):
        self.path = path
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._handle = None

    def __enter__(self) -> _InterProcessLock:
        self._thread_lock.acquire()
        if self._depth == 0:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+b")
            try:
                _lock_file(handle)
            except BaseException:
                handle.close()
                self._thread_lock.release()
                raise
            self._handle = handle
        self._depth += 1
        return self

    def __exit__(self, *exc) -> None:
        self._depth -= 1
        if self._depth == 0 and self._handle is not None:
            try:
                _unlock_file(self._handle)
            finally:
                self._handle.close()
                self._handle = None
        self._thread_lock.release()


if os.name == "nt":  # pragma: no cover - Windows only
    import msvcrt

    def _lock_file(handle) -> None:
        handle.seek(0)
        deadline = time.monotonic() + 60
        while True:
            try:
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise QuarantineError("the quarantine is busy (another filewall holds its lock)") from None
                time.sleep(0.05)

    def _unlock_file(handle) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock_file(handle) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)

    def _unlock_file(handle) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
