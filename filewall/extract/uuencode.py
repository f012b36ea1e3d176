"""uuencoded text: standalone ``.uue`` files and ``begin 644 name`` blocks inside mail text.

Python 3.13 removed the stdlib ``uu`` module and ``email`` only decodes a whole
``x-uuencode`` part, so blocks are found here with a regex and decoded line by line with
``binascii.a2b_uu`` (the C routine ``uu`` itself used). ``begin-base64`` blocks (the
POSIX ``uuencode -m`` variant) are decoded with ``binascii.a2b_base64``.

The helpers are shared with the mail extractor (``x-uuencode`` parts), and :func:`decode_name` turns the legacy byte names that mail formats carry
(GBK from Chinese mail clients, Mac Roman from BinHex) into text.
"""

from __future__ import annotations

import binascii
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

from ..registry import Child, extractor

#: More blocks than any real mail carries; the engine's member limit applies as well.
MAX_BLOCKS = 1000

_BEGIN_RE = re.compile(rb"^begin(-base64)?[ \t]+([0-7]{3,4})[ \t]+([^\r\n]{1,4096})\r?$", re.M)
_END_UU_RE = re.compile(rb"^end[ \t]*\r?$", re.M)
_END_B64_RE = re.compile(rb"^====[ \t]*\r?$", re.M)


@dataclass(frozen=True)
class Block:
    """Where one encoded block lies inside a text."""

    name: str
    mode: str
    base64: bool
    #: Offsets of the encoded lines (after the ``begin`` line, before the ``end`` line).
    start: int
    end: int
    #: False when the closing ``end`` / ``====`` line is missing (a cut-off message).
    complete: bool


def decode_name(raw: bytes, *fallbacks: str) -> str:
    """Text of a file name stored as bytes: UTF-8 if valid, else the given legacy
    encodings in order (GB18030 is a superset of GBK and GB2312), else Latin-1."""
    for encoding in ("utf-8", *fallbacks, "gb18030"):
        try:
            return raw.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
    return raw.decode("latin-1")


def find_blocks(text, limit: int = MAX_BLOCKS) -> Iterator[Block]:
    """Yield the uuencoded blocks in ``text`` (bytes or mmap), first to last."""
    position = 0
    for _ in range(limit):
        begin = _BEGIN_RE.search(text, position)
        if begin is None:
            return
        is_base64 = begin.group(1) is not None
        start = begin.end() + 1
        closing = (_END_B64_RE if is_base64 else _END_UU_RE).search(text, start)
        end = closing.start() if closing else len(text)
        name = decode_name(begin.group(3).rstrip(b" \t\r"))
        yield Block(name, begin.group(2).decode(), is_base64, start, end, closing is not None)
        position = closing.end() if closing else len(text)


def decode_block(text, block: Block) -> bytes:
    """The bytes a block encodes; damaged lines end the block early (partial result)."""
    lines = bytes(text[block.start : block.end]).splitlines()
    if block.base64:
        return _decode_base64_lines(lines)
    return _decode_uu_lines(lines)


def block_child(text, block: Block, source: str) -> Child:
    """A child for one block; decoding happens when the engine opens it."""
    info = {"encoding": "base64 (uuencode -m)" if block.base64 else "uuencode", "mode": block.mode}
    if not block.complete:
        info["incomplete"] = f"the {source} ends before the block's closing line"
    return Child(
        name=block.name,
        open=lambda: io.BytesIO(decode_block(text, block)),
        declared_size=(block.end - block.start) * 3 // 4,
        info=info,
    )


def _decode_uu_lines(lines: list[bytes]) -> bytes:
    out = bytearray()
    for line in lines:
        line = line.rstrip(b"\r")
        if not line:
            continue
        if line[0] in (0x60, 0x20) and len(line.strip()) <= 1:
            break  # the zero-length line that precedes "end"
        try:
            # A line cut short is zero-filled by a2b_uu: keep only what its characters hold.
            out += binascii.a2b_uu(line)[: max(0, (len(line) - 1) * 3 // 4)]
        except binascii.Error:
            # Some encoders pad lines with extra characters: decode only the bytes the
            # length character announces (as the old ``uu`` module did).
            count = (((line[0] - 32) & 63) * 4 + 5) // 3
            try:
                out += binascii.a2b_uu(line[:count])
            except binascii.Error:
                break
    return bytes(out)


def _decode_base64_lines(lines: list[bytes]) -> bytes:
    out = bytearray()
    for line in lines:
        try:
            out += binascii.a2b_base64(line.strip())
        except binascii.Error:
            break
    return bytes(out)


@extractor("uuencode", "text")
def uuencoded_files(node, content, ctx) -> Iterator[Child]:
    """Each ``begin … end`` block becomes a child: in ``.uue`` files, and in any plain
    text (a mail body, a pasted message) where a block may start after the first 8 KiB
    that identification looks at."""
    text = content.view()
    if text.find(b"begin") < 0:
        return  # the common case, by substring search (``^begin`` makes re try every position)
    for block in find_blocks(text):
        yield block_child(text, block, "file")
