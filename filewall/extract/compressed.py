"""Bare compressed streams: gzip, bzip2, xz and zstd, each holding exactly one file.

``x.tar.gz`` needs nothing special: this module yields the tar as the one child and the
engine unpacks that tar with :mod:`filewall.extract.tar`.

The child is named after the gzip header's original name (FNAME) when there is one, else
after the outer name without its compression suffix (``x.tar.gz`` → ``x.tar``, ``x.tgz``
→ ``x.tar``). Decompression is lazy (``gzip.GzipFile``, ``bz2.BZ2File``,
``lzma.LZMAFile``, zstandard's ``stream_reader``) so the engine's size limits stop a bomb
after reading only as much as they allow.

:class:`SalvagingReader` is shared with the zip and tar extractors: a stream that ends in
damage keeps what was read (a truncated ``.gz`` of a program is still a program) and the
damage is recorded as ``file.corrupt`` on the container.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, BinaryIO

import zstandard

from ..engine import ScanTimeout
from ..registry import Child, extractor
from ..text import base_name

if TYPE_CHECKING:
    from ..content import Content
    from ..engine import ScanContext
    from ..model import Node

#: Outer-name suffix → what it becomes when the compression is removed, per kind.
SUFFIXES: dict[str, dict[str, str]] = {
    "gzip": {".tgz": ".tar", ".taz": ".tar", ".gz": "", ".gzip": "", ".z": ""},
    "bzip2": {".tbz2": ".tar", ".tbz": ".tar", ".tb2": ".tar", ".bz2": "", ".bz": ""},
    "xz": {".txz": ".tar", ".xz": ""},
    "zstd": {".tzst": ".tar", ".tzs": ".tar", ".zst": "", ".zstd": ""},
}

#: Longest gzip original name read from a header, so a missing NUL cannot run away.
_MAX_FNAME = 1024
#: Largest read passed to a wrapped decompressor (see :meth:`SalvagingReader.read`).
_SALVAGE_PIECE = 256 * 1024
#: zstd frames may ask for a window this large at most (zstd's own default cap, 128 MiB).
_ZSTD_MAX_WINDOW = 1 << 27

_GZIP_FEXTRA, _GZIP_FNAME = 0x04, 0x08
_ZSTD_MAGIC, _ZSTD_SKIPPABLE = 0xFD2FB528, 0x184D2A50
_ZSTD_CUT = "the data ends too early (the file was cut off)"


class SalvagingReader(io.RawIOBase):
    """Wrap a decompressing stream so damage ends it early instead of losing it all.

    The engine drops a member whose read raises; for a truncated or corrupt stream that
    would throw away everything read so far. Here the stream simply ends, and
    ``on_damage(error)`` is called once so the extractor can record ``file.corrupt``.
    """

    def __init__(
        self,
        stream: BinaryIO,
        on_damage: Callable[[Exception], None],
        closing: BinaryIO | None = None,
    ):
        super().__init__()
        self._stream = stream
        # read1 returns what one step of decompression gave, instead of looping until the
        # size asked for (and losing it all when the data breaks off half way).
        self._read_piece = getattr(stream, "read1", stream.read)
        self._on_damage = on_damage
        #: The raw file under ``stream``, which decompressors given a file object leave open.
        self._closing = closing
        self._damaged = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        # One decompression step at a time (read1, at most _SALVAGE_PIECE): a decompressor
        # that fails discards only the step it was working on, not everything asked for.
        pieces = []
        wanted = size if size is not None and size >= 0 else 1 << 62
        while wanted > 0 and not self._damaged:
            try:
                piece = self._read_piece(min(wanted, _SALVAGE_PIECE))
            except ScanTimeout:
                raise
            except Exception as error:  # every library has its own corruption errors
                self._damaged = True
                self._on_damage(error)
                break
            if not piece:
                break
            pieces.append(piece)
            wanted -= len(piece)
        return b"".join(pieces)

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._stream.close()
            if self._closing is not None:
                self._closing.close()
        finally:
            super().close()


def damage_recorder(node: Node, ctx: ScanContext, what: str) -> Callable[[Exception], None]:
    """A callback for :class:`SalvagingReader` that records ``file.corrupt`` on ``node``."""

    def record(error: Exception) -> None:
        ctx.fact(node, "file.corrupt", reason=f"{what}: {describe_error(error)}", format=node.kind)

    return record


def describe_error(error: BaseException) -> str:
    """A short, plain reason for a decompression error."""
    if isinstance(error, EOFError):
        return "the data ends too early (the file was cut off)"
    text = str(error) or type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."


@extractor("gzip", "bzip2", "xz", "zstd")
def compressed_stream(node: Node, content: Content, ctx: ScanContext) -> Iterator[Child]:
    """Yield the one file inside a gzip/bzip2/xz/zstd stream, decompressed lazily."""
    stored = gzip_original_name(content.head(10 + 2 + 65535 + _MAX_FNAME)) if node.kind == "gzip" else None
    name = stored or child_name(node.name, node.kind)
    opener = _OPENERS[node.kind]
    on_damage = damage_recorder(node, ctx, f"{node.kind} data of {base_name(node.name)}")
    info = {"compression": node.kind}
    if stored:
        info["stored_name"] = stored
    if node.kind == "zstd":
        # zstandard's readers end quietly at a cut-off frame; walk the frames to know.
        problem = zstd_frames_problem(content.view(), ctx)
        if problem:
            ctx.fact(
                node,
                "file.corrupt",
                reason=f"zstd data of {base_name(node.name)}: {problem}",
                format=node.kind,
            )

    def open_member() -> BinaryIO:
        raw = content.open()
        return SalvagingReader(opener(raw), on_damage, closing=raw)

    yield Child(
        name=name,
        open=open_member,
        packed_size=content.size,
        info=info,
    )


def child_name(outer: str, kind: str) -> str:
    """``x.tar.gz`` → ``x.tar``, ``x.tgz`` → ``x.tar``; unknown suffix: the name itself."""
    name = base_name(outer)
    lowered = name.lower()
    for suffix, replacement in SUFFIXES.get(kind, {}).items():
        if lowered.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)] + replacement
    return name


def gzip_original_name(head: bytes) -> str | None:
    """The FNAME field of a gzip header (RFC 1952), decoded, or None when absent."""
    if len(head) < 10 or head[:2] != b"\x1f\x8b":
        return None
    flags = head[3]
    if not flags & _GZIP_FNAME:
        return None
    position = 10
    if flags & _GZIP_FEXTRA:
        if position + 2 > len(head):
            return None
        (extra_length,) = struct.unpack_from("<H", head, position)
        position += 2 + extra_length
    end = head.find(b"\x00", position, position + _MAX_FNAME)
    if end <= position:
        return None
    # RFC 1952 says Latin-1, but Chinese systems write GBK and newer tools UTF-8.
    from .zip import decode_member_name

    return decode_member_name(head[position:end])[0]


def _open_gzip(stream: BinaryIO) -> BinaryIO:
    return gzip.GzipFile(fileobj=stream, mode="rb")


def _open_bzip2(stream: BinaryIO) -> BinaryIO:
    return bz2.BZ2File(stream, mode="rb")


def _open_xz(stream: BinaryIO) -> BinaryIO:
    return lzma.LZMAFile(stream, mode="rb", format=lzma.FORMAT_AUTO)


def _open_zstd(stream: BinaryIO) -> BinaryIO:
    decompressor = zstandard.ZstdDecompressor(max_window_size=_ZSTD_MAX_WINDOW)
    return decompressor.stream_reader(stream, read_across_frames=True, closefd=True)


def zstd_frames_problem(view, ctx: ScanContext) -> str | None:
    """Why a zstd stream is incomplete or malformed (RFC 8878 frame layout), or None.

    Only headers are read: each block header gives the size of its payload to skip, so
    this costs one step per 128 KiB block, not a decompression.
    """
    position, steps = 0, 0
    while position < len(view):
        (magic,) = struct.unpack_from("<I", view, position) if position + 4 <= len(view) else (None,)
        if magic is not None and magic & 0xFFFFFFF0 == _ZSTD_SKIPPABLE:
            if position + 8 > len(view):
                return _ZSTD_CUT
            position += 8 + struct.unpack_from("<I", view, position + 4)[0]
            continue
        if magic != _ZSTD_MAGIC:
            return "there is unexpected data after the compressed stream"
        position = _zstd_frame_end(view, position + 4)
        if position < 0:
            return _ZSTD_CUT
        steps += 1
        if steps % 4096 == 0:
            ctx.check_time()
    return None if position == len(view) else _ZSTD_CUT


def _zstd_frame_end(view, position: int) -> int:
    """Offset just after the frame whose header starts at ``position``; -1 if cut off."""
    if position >= len(view):
        return -1
    descriptor = view[position]
    single_segment = descriptor >> 5 & 1
    content_size_bytes = (0 if not single_segment else 1, 2, 4, 8)[descriptor >> 6]
    dictionary_bytes = (0, 1, 2, 4)[descriptor & 3]
    position += 1 + (0 if single_segment else 1) + dictionary_bytes + content_size_bytes
    for _ in range(len(view)):  # each block advances at least 3 bytes: bounded
        if position + 3 > len(view):
            return -1
        header = view[position] | view[position + 1] << 8 | view[position + 2] << 16
        block_type, block_size = header >> 1 & 3, header >> 3
        position += 3 + (1 if block_type == 1 else block_size)
        if header & 1:  # last block
            position += 4 if descriptor & 4 else 0  # content checksum
            return position if position <= len(view) else -1
    return -1


_OPENERS: dict[str, Callable[[BinaryIO], BinaryIO]] = {
    "gzip": _open_gzip,
    "bzip2": _open_bzip2,
    "xz": _open_xz,
    "zstd": _open_zstd,
}
