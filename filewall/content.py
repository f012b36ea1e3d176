"""Bytes of one node, read once: hashed while streaming, kept in memory or spooled.

A member is inflated exactly once; the same buffer then feeds identification, every
analyzer and YARA. Large members go to a temp file inside the scan's own temp folder
and are handed to analyzers as a read-only ``mmap``, so a 300 MB padded program costs
page cache, not heap. Reading stops at the limits given by the caller.
"""

from __future__ import annotations

import hashlib
import io
import mmap
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

CHUNK = 1024 * 1024


@dataclass
class ReadOutcome:
    """Why reading stopped, when it did not reach the end."""

    truncated: bool = False
    reason: str = ""


class Content:
    """The (possibly partial) bytes of a node plus their hashes."""

    def __init__(self, data: bytes | None = None, path: str | None = None, size: int = 0):
        self._data = data
        self._path = path
        self._mmap: mmap.mmap | None = None
        self._file = None
        self.size = size if data is None else len(data)
        self.md5 = self.sha1 = self.sha256 = ""
        #: Length of the run of one repeated byte at the end (padding), in bytes.
        self.trailing_padding = 0
        self.outcome = ReadOutcome()
        #: Values analyzers derive from the bytes and share (decoded text ...), by key.
        self.memo: dict = {}

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_bytes(cls, data: bytes) -> Content:
        content = cls(data=bytes(data))
        content._hash_all(content._data)
        content.trailing_padding = _trailing_run(content._data)
        return content

    @classmethod
    def from_stream(
        cls,
        stream: BinaryIO,
        *,
        max_bytes: int,
        spool_threshold: int,
        temp_dir: str | Callable[[], str],
    ) -> Content:
        """Read ``stream`` to its end or to ``max_bytes``, hashing as it goes.

        Memory stays at ``spool_threshold`` plus one chunk: past the threshold the bytes
        go to a temp file in ``temp_dir`` (the scan-owned area, removed after the scan).
        """
        md5, sha1, sha256 = hashlib.md5(), hashlib.sha1(), hashlib.sha256()
        buffer = io.BytesIO()
        spill = None
        total = 0
        padding = 0
        pad_byte = -1
        outcome = ReadOutcome()
        while True:
            want = min(CHUNK, max_bytes - total)
            if want <= 0:
                if stream.read(1):
                    outcome = ReadOutcome(True, "size")
                break
            chunk = stream.read(want)
            if not chunk:
                break
            total += len(chunk)
            md5.update(chunk)
            sha1.update(chunk)
            sha256.update(chunk)
            padding, pad_byte = _extend_run(chunk, padding, pad_byte)
            if spill is None and buffer.tell() + len(chunk) > spool_threshold:
                folder = temp_dir() if callable(temp_dir) else temp_dir  # created on first spill
                spill = tempfile.NamedTemporaryFile(dir=folder, delete=False, prefix="node-")
                spill.write(buffer.getbuffer())
                buffer = io.BytesIO()
            (spill or buffer).write(chunk)
        if spill is not None:
            spill.close()
            content = cls(path=spill.name, size=total)
        else:
            content = cls(data=buffer.getvalue())
        content.md5, content.sha1, content.sha256 = md5.hexdigest(), sha1.hexdigest(), sha256.hexdigest()
        content.trailing_padding = padding
        content.outcome = outcome
        return content

    @classmethod
    def from_file(
        cls, path: str, *, max_bytes: int, spool_threshold: int, temp_dir: str | Callable[[], str]
    ) -> Content:
        """Read a file from disk; large ones are mapped in place rather than copied."""
        size = os.path.getsize(path)
        if size <= spool_threshold and size <= max_bytes:
            # The common case (a photo, a document): one read into one buffer, no chunking.
            with open(path, "rb") as stream:
                data = stream.read(size + 1)
                if len(data) <= size:
                    return cls.from_bytes(data)
                stream.seek(0)  # it grew since stat(): read it like a stream, within the limits
                return cls.from_stream(
                    stream, max_bytes=max_bytes, spool_threshold=spool_threshold, temp_dir=temp_dir
                )
        if size <= spool_threshold or size > max_bytes:
            with open(path, "rb") as stream:
                return cls.from_stream(
                    stream, max_bytes=max_bytes, spool_threshold=spool_threshold, temp_dir=temp_dir
                )
        content = cls(path=path, size=size)
        content._borrowed = True
        view = content.view()
        content._hash_all(view)
        content.trailing_padding = _trailing_run(view)
        return content

    # -- access ------------------------------------------------------------------------
    def view(self) -> bytes | mmap.mmap:
        """All bytes read, as ``bytes`` or a read-only ``mmap`` (both support slicing,
        ``find``, ``count`` and the buffer protocol)."""
        if self._data is not None:
            return self._data
        if self._mmap is None:
            if self.size == 0:
                return b""
            self._file = open(self._path, "rb")
            self._mmap = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        return self._mmap

    def head(self, length: int) -> bytes:
        return bytes(self.view()[:length])

    def open(self) -> BinaryIO:
        """A fresh file object over the bytes, for libraries that want one."""
        if self._data is not None:
            return io.BytesIO(self._data)
        return open(self._path, "rb")

    @property
    def path_on_disk(self) -> str | None:
        """A real file holding the bytes, if there is one (for libraries that need a path)."""
        return self._path

    def close(self) -> None:
        if self._mmap is not None:
            self._mmap.close()
            self._mmap = None
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._path and not getattr(self, "_borrowed", False):
            try:
                os.unlink(self._path)
            except OSError:
                pass
            self._path = None
        self._data = None
        self.memo.clear()

    # -- internals ---------------------------------------------------------------------
    def _hash_all(self, data) -> None:
        md5, sha1, sha256 = hashlib.md5(), hashlib.sha1(), hashlib.sha256()
        view = memoryview(data)
        for start in range(0, len(view), 16 * CHUNK):
            part = view[start : start + 16 * CHUNK]
            md5.update(part)
            sha1.update(part)
            sha256.update(part)
        view.release()
        self.md5, self.sha1, self.sha256 = md5.hexdigest(), sha1.hexdigest(), sha256.hexdigest()


def _extend_run(chunk: bytes, run: int, run_byte: int) -> tuple[int, int]:
    """Update the trailing run of one repeated byte after appending ``chunk``."""
    last = chunk[-1]
    if chunk[0] == last:  # maybe one byte throughout (padding): rstrip then copies nothing
        stripped = len(chunk) - len(chunk.rstrip(bytes((last,))))
    else:
        stripped = _tail_run(chunk, last)
    if stripped == len(chunk):
        return (run + stripped if last == run_byte else stripped), last
    return stripped, last


def _trailing_run(data) -> int:
    if not len(data):
        return 0
    return _tail_run(data, data[-1])


def _tail_run(data, last: int) -> int:
    """Length of the run of byte ``last`` at the end of ``data`` (bytes or mmap).

    Looks at 4 KiB first and doubles from there, so a file without padding costs a 4 KiB
    copy, not a megabyte; a padded one is still read only once.
    """
    pattern = bytes((last,))
    step = 4096
    run = 0
    end = len(data)
    while end > 0:
        start = max(0, end - step)
        block = bytes(data[start:end])
        stripped = len(block) - len(block.rstrip(pattern))
        run += stripped
        if stripped < len(block):
            break
        end = start
        step = min(step * 2, 16 * CHUNK)
    return run
