"""tar archives (plain; gzip/bzip2/xz/zstd around them are peeled by :mod:`.compressed`).

``tarfile`` (stdlib) reads every tar dialect (v7, ustar, GNU long names and sparse files,
PAX). Members are read one at a time from the archive as the engine asks for them, so
nothing is held in memory.

- ``ignore_zeros=True``: members written after an end-of-archive marker (two zero
  blocks) are still found. GNU tar stops at the marker, but other unpackers and
  ``tar -i`` do not, so a file hidden behind it must be seen too. tarfile then also
  steps silently over unreadable headers, so every stretch it skipped is checked:
  anything but zeros there is damage (``file.corrupt``), never a silent loss.
- Symlinks and hard links are members with ``link_target`` and no content; the archive
  traps analyzer reports them (``archive.link``).
- Device files and pipes hold no data: they are skipped and listed in one
  ``archive.special_skipped`` note on the tar.
- Names: PAX names are UTF-8; older headers carry raw bytes, decoded like zip names
  (UTF-8, then GB18030, then CP437) by :func:`.zip.decode_member_name`.
"""

from __future__ import annotations

import tarfile
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

from ..registry import Child, extractor
from .compressed import SalvagingReader, damage_recorder
from .zip import decode_member_name

if TYPE_CHECKING:
    from ..content import Content
    from ..engine import ScanContext
    from ..model import Node

#: Special entries named in the skip note, at most.
_MAX_NOTED = 5
_ZERO_CHECK_CHUNK = 1024 * 1024


@extractor("tar")
def tar_members(node: Node, content: Content, ctx: ScanContext) -> Iterator[Child]:
    """Yield the files, links and hidden-after-the-end members of a tar, in order."""
    stream = content.open()
    skipped: list[str] = []
    view = content.view()
    try:
        # errors="surrogateescape" keeps undecodable name bytes recoverable for detection.
        with tarfile.open(fileobj=stream, mode="r:", ignore_zeros=True, errors="surrogateescape") as archive:
            expected = 0  # where the next header should start if nothing was skipped
            while (member := archive.next()) is not None:
                _check_gap(node, ctx, view, expected, member.offset)
                expected = archive.offset
                if member.isdir():
                    continue
                if member.ischr() or member.isblk() or member.isfifo():
                    skipped.append(_decode(member.name)[0])
                    continue
                yield _child(node, ctx, archive, member, content)
            _check_gap(node, ctx, view, expected, len(view))
    finally:
        stream.close()
    if skipped:
        ctx.fact(
            node,
            "archive.special_skipped",
            count=len(skipped),
            names=skipped[:_MAX_NOTED],
        )


def _check_gap(node: Node, ctx: ScanContext, view, start: int, end: int) -> None:
    """Record damage when tarfile skipped non-zero bytes between entries or at the end.

    ``ignore_zeros`` makes tarfile step over unreadable headers silently, which would
    hide a member whose header was broken; zero blocks (end markers, padding) are fine.
    """
    if end > start and not _all_zero(view, start, end):
        where = "after the last file" if end == len(view) else "between two files"
        ctx.fact(
            node,
            "file.corrupt",
            reason=f"{end - start} bytes {where} could not be read as tar entries",
            format="tar",
        )


def _all_zero(view, start: int, end: int) -> bool:
    for position in range(start, end, _ZERO_CHECK_CHUNK):
        if bytes(view[position : min(end, position + _ZERO_CHECK_CHUNK)]).strip(b"\x00"):
            return False
    return True


def _child(
    node: Node, ctx: ScanContext, archive: tarfile.TarFile, member: tarfile.TarInfo, content: Content
) -> Child:
    name, encoding = _decode(member.name)
    info: dict = {"stored_name": name}
    if encoding not in ("ascii", "utf-8"):
        info["name_encoding"] = encoding
    modified = _timestamp(member.mtime)
    if modified:
        info["modified"] = modified
    if member.issym() or member.islnk():
        info["link_target"] = _decode(member.linkname)[0]
        info["link_kind"] = "symlink" if member.issym() else "hardlink"
        return Child(name=name.replace("\\", "/"), open=None, info=info)
    record = damage_recorder(node, ctx, f"the data of {name}")
    if member.issparse():
        open_member = lambda: SalvagingReader(archive.extractfile(member), record)  # noqa: E731
    else:
        # A plain member is one contiguous run of bytes: read it directly, which is
        # faster than tarfile's reader and hands over every byte before a cut-off.
        open_member = lambda: SalvagingReader(_Slice(content.open(), member.offset_data, member.size), record)  # noqa: E731
    return Child(
        name=name.replace("\\", "/"),
        open=open_member,
        declared_size=member.size,
        packed_size=member.size,
        info=info,
    )


class _Slice:
    """``length`` bytes of ``stream`` from ``start``; raises only after handing over what
    there was, if the file ends early."""

    def __init__(self, stream: BinaryIO, start: int, length: int):
        self.stream, self.left = stream, length
        stream.seek(start)

    def read(self, size: int = -1) -> bytes:
        want = self.left if size is None or size < 0 else min(size, self.left)
        data = self.stream.read(want) if want else b""
        self.left -= len(data)
        if not data and self.left > 0:
            raise EOFError()
        return data

    def close(self) -> None:
        self.stream.close()


def _timestamp(mtime: float) -> str | None:
    """The member's time as ``YYYY-MM-DD HH:MM:SS`` (UTC), or None for nonsense values."""
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(mtime)) if mtime else None
    except (OverflowError, OSError, ValueError):
        return None


def _decode(text: str) -> tuple[str, str]:
    """Re-decode a name ``tarfile`` could not read as UTF-8 (it kept the raw bytes)."""
    raw = text.encode("utf-8", "surrogateescape")
    return decode_member_name(raw)
