"""SZDD: files squeezed by Microsoft's ``COMPRESS.EXE`` (``SETUP.EX_``, ``clam.exe.szdd``).

No Python library reads SZDD (libmspack does, in C, without a maintained binding), and the
format is a 14-byte header plus plain LZSS, so it is decoded here, lazily and bounded:

- header: ``SZDD\\x88\\xf0\\x27\\x33``, method ``A``, the character the name lost (``EXE``
  was stored as ``EX_``), then the unpacked size (32-bit little-endian);
- body: a flag byte, then 8 items, low bit first: flag 1 = one literal byte; flag 0 = two
  bytes ``lo, hi`` meaning "copy ``(hi & 0x0F) + 3`` bytes from window position
  ``lo | (hi & 0xF0) << 4``" in a 4096-byte ring that starts filled with spaces, with the
  write position at 4096 - 16.

Output stops at the declared size, so a lying header cannot make it run on, and copying
stops one byte past what the engine may read.
"""

from __future__ import annotations

import io
import posixpath
import struct

from ..engine import ExtractError
from ..registry import Child, extractor
from . import _tools

MAGIC = b"SZDD\x88\xf0\x27\x33"
HEADER = struct.Struct("<8sBcI")
_WINDOW = 4096
_CHUNK = 64 * 1024


@extractor("szdd")
def szdd_member(node, content, ctx):
    """Yield the one file inside an SZDD file, under its restored name."""
    head = content.head(HEADER.size)
    if len(head) < HEADER.size:
        raise ExtractError("the MS-Compress header is cut short")
    magic, method, missing, size = HEADER.unpack(head)
    if magic != MAGIC or method != ord("A"):
        raise ExtractError(f"unknown MS-Compress method {method:#x}")
    # Decoded before it is handed over, so a damaged file is one "damaged" finding on the
    # SZDD file rather than a half-read member.
    with SzddReader(content.open(), size) as reader:
        opener = _tools.copy_out(iter(lambda: reader.read(_CHUNK), b""), size, ctx)
    yield Child(
        name=restored_name(node.name, missing),
        open=opener,
        declared_size=size,
        packed_size=content.size - HEADER.size,
        info={"stored_name": restored_name(node.name, missing), "method": "SZDD LZSS"},
    )


def restored_name(outer: str, missing: bytes) -> str:
    """``clam.ex_`` + ``e`` → ``clam.exe``; ``clam.exe.szdd`` → ``clam.exe``."""
    base = posixpath.basename(outer.replace("\\", "/")) or "unpacked"
    char = missing.decode("latin-1") if missing not in (b"\x00", b"") else ""
    if base.endswith("_"):
        return base[:-1] + char if char.isprintable() and char not in "/\\" else base[:-1]
    if base.lower().endswith(".szdd"):
        return base[:-5] or "unpacked"
    return base + ".unpacked"


class SzddReader(io.RawIOBase):
    """Decodes the LZSS body on demand; raises when the input ends before the declared size."""

    def __init__(self, stream, size: int):
        self._input = stream
        self._input.seek(HEADER.size)
        self._left = size
        self._window = bytearray(b" " * _WINDOW)
        self._position = _WINDOW - 16
        self._pending = bytearray()
        self._source = b""
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending and self._left > 0:
            self._decode_some()
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        del self._pending[:count]
        return count

    def close(self) -> None:
        self._input.close()
        super().close()

    def _byte(self) -> int:
        if self._offset >= len(self._source):
            self._source, self._offset = self._input.read(_CHUNK), 0
            if not self._source:
                raise ExtractError("the MS-Compress data ends before the file is complete")
        value = self._source[self._offset]
        self._offset += 1
        return value

    def _decode_some(self) -> None:
        """Decode until about one chunk is pending or the declared size is reached."""
        window, out = self._window, self._pending
        while self._left > 0 and len(out) < _CHUNK:
            flags = self._byte()
            for bit in range(8):
                if self._left <= 0:
                    break
                if flags >> bit & 1:
                    self._emit(self._byte(), window, out)
                    continue
                low, high = self._byte(), self._byte()
                start = low | (high & 0xF0) << 4
                for index in range(min((high & 0x0F) + 3, self._left)):
                    self._emit(window[(start + index) % _WINDOW], window, out)

    def _emit(self, value: int, window: bytearray, out: bytearray) -> None:
        window[self._position] = value
        self._position = (self._position + 1) % _WINDOW
        out.append(value)
        self._left -= 1
