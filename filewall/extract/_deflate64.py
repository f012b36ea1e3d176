"""Deflate64 (zip method 9) for the stdlib ``zipfile``, from ``inflate64``.

Windows Explorer writes Deflate64 for large "Send to > Compressed folder" archives, and
``zipfile`` does not read it. ``zipfile-deflate64`` adds it but publishes no Windows wheel
for CPython 3.11, so installing it on an agent's computer needs a compiler. ``inflate64``
(which ``py7zr`` already depends on) does have wheels everywhere; this module teaches
``zipfile`` to use it, the same two hooks ``zipfile-deflate64`` patches.

``inflate64`` has no output limit per call, so :class:`BoundedReads` (used by the zip
extractor for method-9 members) asks ``zipfile`` for small pieces: one read of
``PIECE`` compressed bytes inflates to at most ~1,032 times as much (Deflate64's best
ratio), which keeps a bomb's memory bounded however the engine reads the member.
"""

from __future__ import annotations

import io
import zipfile

import inflate64

DEFLATE64 = 9
PIECE = 16 * 1024


class _Deflate64Decompressor:
    """The interface ``zipfile.ZipExtFile`` expects of a non-deflate decompressor."""

    def __init__(self) -> None:
        self._inflater = inflate64.Inflater()

    @property
    def eof(self) -> bool:
        return self._inflater.eof

    def decompress(self, data: bytes) -> bytes:
        return self._inflater.inflate(data)


_original_check = zipfile._check_compression
_original_get = zipfile._get_decompressor


def _check_compression(compression: int) -> None:
    if compression != DEFLATE64:
        _original_check(compression)


def _get_decompressor(compress_type: int):
    if compress_type == DEFLATE64:
        return _Deflate64Decompressor()
    return _original_get(compress_type)


def install() -> None:
    """Make ``zipfile`` read method 9 (idempotent)."""
    zipfile._check_compression = _check_compression
    zipfile._get_decompressor = _get_decompressor


class BoundedReads(io.RawIOBase):
    """Read a ``ZipExtFile`` in small pieces so each inflate call's output stays small."""

    def __init__(self, member: io.BufferedIOBase):
        self._member = member

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        parts, total = [], 0
        while size < 0 or total < size:
            want = PIECE if size < 0 else min(PIECE, size - total)
            piece = self._member.read(want)
            if not piece:
                break
            parts.append(piece)
            total += len(piece)
        return b"".join(parts)

    def read1(self, size: int = -1) -> bytes:
        return self._member.read(PIECE if size < 0 else min(PIECE, size))

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._member.close()
        super().close()


install()
