"""cpio archives: old binary (little- and big-endian), odc (``070707``), newc and crc
(``070701``/``070702``) — Linux initramfs, RPM payloads, and a trick to hide a program.

libarchive reads all of them and is used when it can be loaded. There is no maintained
pure-Python cpio reader with Windows wheels, so a small bounded reader is built in for
computers without libarchive: headers are fixed-size, names are capped, each member is a
byte range of the archive read lazily, and a member that runs past the end of the file is
an error, not a silent short read.
"""

from __future__ import annotations

import io
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from ..engine import ExtractError
from ..registry import Child, extractor
from . import _tools

#: Longest member name accepted (Linux PATH_MAX); longer is a damaged or hostile header.
MAX_NAME = 4096
TRAILER = "TRAILER!!!"
_BINARY = struct.Struct("13H")


@dataclass
class CpioEntry:
    """One header: name, mode, where the data starts and how long it is."""

    name: str
    mode: int
    offset: int
    size: int
    raw_name: bytes = b""

    @property
    def is_link(self) -> bool:
        return stat.S_ISLNK(self.mode)

    @property
    def is_regular(self) -> bool:
        # Some writers leave the type bits empty for plain files.
        return stat.S_ISREG(self.mode) or stat.S_IFMT(self.mode) == 0


@extractor("cpio")
def cpio_members(node, content, ctx):
    """Yield the members of a cpio archive (libarchive when present, else the built-in reader)."""
    if _tools.libarchive() is not None:
        yield from _tools.libarchive_children(node, content, ctx, "cpio")
    else:
        yield from builtin_children(content, ctx)


def builtin_children(content, ctx) -> Iterator[Child]:
    """The pure-Python path: walk the headers, yield each member as a byte range."""
    with content.open() as stream:
        for entry in iter_entries(stream, content.size):
            ctx.check_time()
            info = {"stored_name": entry.name, "mode": oct(entry.mode)}
            if entry.is_link:
                stream.seek(entry.offset)
                info["link_target"] = stream.read(min(entry.size, _tools._MAX_LINK)).decode(
                    "utf-8", "replace"
                )
                yield Child(name=entry.name, open=None, declared_size=0, info=info)
            elif entry.is_regular:
                yield Child(
                    name=entry.name,
                    open=lambda entry=entry: _range(content, entry.offset, entry.size),
                    declared_size=entry.size,
                    packed_size=entry.size,
                    info=info,
                )


def iter_entries(stream, total: int) -> Iterator[CpioEntry]:
    """Parse every header of a cpio archive held in ``stream`` (``total`` bytes long)."""
    position = 0
    while True:
        stream.seek(position)
        magic = stream.read(6)
        if len(magic) < 2:
            raise ExtractError("the cpio archive ends without its closing entry")
        entry, position = _read_header(stream, magic, position)
        if entry.name == TRAILER:
            return
        if entry.offset + entry.size > total:
            raise ExtractError(f"the member {entry.name!r} runs past the end of the cpio archive")
        yield entry


def _read_header(stream, magic: bytes, position: int) -> tuple[CpioEntry, int]:
    """Read one header at ``position``; returns the entry and where the next one starts."""
    if magic in (b"070701", b"070702"):
        return _newc(stream, position)
    if magic == b"070707":
        return _odc(stream, position)
    if magic[:2] in (b"\xc7\x71", b"\x71\xc7"):
        return _binary(stream, position, "<" if magic[:2] == b"\xc7\x71" else ">")
    raise ExtractError(f"unknown cpio header at byte {position}")


def _newc(stream, position: int) -> tuple[CpioEntry, int]:
    header = _exact(stream, position, 110)
    try:
        fields = [int(header[6 + 8 * i : 14 + 8 * i], 16) for i in range(13)]
    except ValueError as error:
        raise ExtractError(f"damaged cpio header at byte {position}") from error
    mode, size, name_size = fields[1], fields[6], fields[11]
    raw = _name(stream, position + 110, name_size)
    data = _align(position + 110 + name_size, 4)
    return CpioEntry(_decode(raw), mode, data, size, raw), _align(data + size, 4)


def _odc(stream, position: int) -> tuple[CpioEntry, int]:
    header = _exact(stream, position, 76)
    try:
        mode, name_size, size = int(header[18:24], 8), int(header[59:65], 8), int(header[65:76], 8)
    except ValueError as error:
        raise ExtractError(f"damaged cpio header at byte {position}") from error
    raw = _name(stream, position + 76, name_size)
    data = position + 76 + name_size
    return CpioEntry(_decode(raw), mode, data, size, raw), data + size


def _binary(stream, position: int, order: str) -> tuple[CpioEntry, int]:
    words = struct.unpack(order + "13H", _exact(stream, position, _BINARY.size))
    mode, name_size = words[3], words[10]
    size = words[11] << 16 | words[12]  # 32-bit values are stored high word first
    raw = _name(stream, position + 26, name_size)
    data = _align(position + 26 + name_size, 2)
    return CpioEntry(_decode(raw), mode, data, size, raw), _align(data + size, 2)


def _exact(stream, position: int, length: int) -> bytes:
    stream.seek(position)
    data = stream.read(length)
    if len(data) < length:
        raise ExtractError("the cpio archive is cut short inside a header")
    return data


def _name(stream, position: int, size: int) -> bytes:
    if not 0 < size <= MAX_NAME:
        raise ExtractError(f"a cpio member name of {size} bytes is not valid")
    return _exact(stream, position, size).split(b"\x00", 1)[0]


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030", "replace")


def _align(value: int, to: int) -> int:
    return (value + to - 1) // to * to


def _range(content, offset: int, size: int):
    stream = content.open()
    stream.seek(offset)
    return _Limited(stream, size)


class _Limited(io.RawIOBase):
    """At most ``size`` bytes of ``stream`` from where it stands."""

    def __init__(self, stream, size: int):
        self._stream, self._left = stream, size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._left <= 0:
            return 0
        data = self._stream.read(min(len(buffer), self._left))
        buffer[: len(data)] = data
        self._left -= len(data)
        return len(data)

    def close(self) -> None:
        self._stream.close()
        super().close()
