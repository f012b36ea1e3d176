"""BinHex 4.0 (``.hqx``): the old Macintosh mail encoding that still hides programs.

Python 3.11 removed both the ``binhex`` module and ``binascii.a2b_hqx``/``rledecode_hqx``,
and no maintained pure-Python package replaces them, so this is a small decoder of our own:

1. the text between the first ``:`` after the banner and the next ``:`` is 6-bit encoded
   with BinHex's own 64-character alphabet (decoded by translating it to the base64
   alphabet, since both pack four 6-bit digits into three bytes, big-endian);
2. the result is run-length encoded: ``X 0x90 n`` means ``X`` n times, ``0x90 0x00`` a
   literal ``0x90`` — so output is bounded here, a few bytes can claim 255-fold growth;
3. it then reads: name length, name, version, type, creator, flags, data-fork length,
   resource-fork length, header CRC; the data fork and its CRC; the resource fork and its
   CRC (CRC-CCITT, ``binascii.crc_hqx``).
"""

from __future__ import annotations

import base64
import binascii
import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from ..engine import ExtractError
from ..registry import Child, extractor
from .uuencode import decode_name

BANNER = b"(This file must be converted with BinHex"
ALPHABET = b"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr"
_TO_BASE64 = bytes.maketrans(ALPHABET, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_WHITESPACE = b" \t\r\n\x0b\x0c"
_RLE = 0x90
#: Longest possible header: length byte, 255-byte name, version, type, creator, flags,
#: two fork lengths and the CRC.
_HEADER_MAX = 1 + 255 + 1 + 4 + 4 + 2 + 4 + 4 + 2


@dataclass(frozen=True)
class Header:
    name: str
    file_type: str
    creator: str
    data_length: int
    resource_length: int
    #: Offset of the data fork in the run-length-decoded stream.
    data_offset: int
    crc_ok: bool


@extractor("binhex")
def binhex_forks(node, content, ctx) -> Iterator[Child]:
    """The data fork (named as the Mac file was) and, if any, the resource fork."""
    packed = _sixbit_decode(_encoded_text(content.view()))
    header = _parse_header(_unrle(packed, _HEADER_MAX))
    node.info["binhex"] = {
        "name": header.name,
        "type": header.file_type,
        "creator": header.creator,
        "header_crc_ok": header.crc_ok,
    }
    budget = max(0, min(ctx.limits.max_file_size, ctx.remaining_bytes()))
    wanted = header.data_offset + header.data_length + 2 + header.resource_length + 2
    # Only what the header declares, and never more than may still be unpacked.
    stream = _unrle(packed, min(wanted, header.data_offset + budget + 4))
    data_end = header.data_offset + header.data_length
    yield _fork_child(header.name, stream, header.data_offset, header.data_length, "data")
    if header.resource_length:
        start = data_end + 2
        yield _fork_child(f"{header.name} (resource fork)", stream, start, header.resource_length, "resource")


def _fork_child(name: str, stream: bytes, start: int, length: int, fork: str) -> Child:
    data = stream[start : start + length]
    stored = stream[start + length : start + length + 2]
    info: dict = {"fork": fork, "declared_size": length}
    if len(data) < length:
        info["incomplete"] = f"the BinHex text ends {length - len(data)} bytes early"
    elif len(stored) == 2:
        info["crc_ok"] = struct.unpack(">H", stored)[0] == binascii.crc_hqx(data, 0)
    return Child(name=name, open=lambda: io.BytesIO(data), declared_size=length, info=info)


def _encoded_text(view) -> bytes:
    """The 6-bit text between the colons that follow the banner."""
    banner = view.find(BANNER)
    if banner < 0:
        raise ExtractError("the BinHex banner line is missing")
    start = view.find(b":", banner + len(BANNER))
    if start < 0:
        raise ExtractError("the BinHex data never starts")
    end = view.find(b":", start + 1)
    text = bytes(view[start + 1 : end if end >= 0 else len(view)])
    return text.translate(None, _WHITESPACE)


def _sixbit_decode(text: bytes) -> bytes:
    if text.translate(None, ALPHABET):
        raise ExtractError("the BinHex text contains characters BinHex never uses")
    text = text.translate(_TO_BASE64)
    text = text[: len(text) - len(text) % 4 if len(text) % 4 == 1 else len(text)]
    padded = text + b"=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded, validate=True)
    except binascii.Error as error:  # cannot happen after the checks above; kept plain
        raise ExtractError(f"the BinHex text cannot be decoded ({error})") from error


def _unrle(data: bytes, limit: int) -> bytes:
    """Undo BinHex run-length encoding, stopping once ``limit`` bytes are out."""
    out = bytearray()
    position, size = 0, len(data)
    while position < size and len(out) < limit:
        marker = data.find(_RLE, position)
        if marker < 0:
            out += data[position : position + limit - len(out)]
            break
        out += data[position:marker]
        if marker + 1 >= size:
            break  # a marker cut off at the very end
        count = data[marker + 1]
        if count == 0:
            out.append(_RLE)
        elif out:
            out += bytes((out[-1],)) * min(count - 1, max(0, limit - len(out)))
        else:
            raise ExtractError("the BinHex data starts with a repeat of nothing")
        position = marker + 2
    return bytes(out[:limit])


def _parse_header(head: bytes) -> Header:
    if not head:
        raise ExtractError("the BinHex data is empty")
    name_length = head[0]
    fixed = 1 + name_length + 1 + 4 + 4 + 2 + 4 + 4
    if len(head) < fixed + 2:
        raise ExtractError("the BinHex header is cut off")
    name = decode_name(head[1 : 1 + name_length], "mac_roman")
    offset = 2 + name_length
    file_type, creator = head[offset : offset + 4], head[offset + 4 : offset + 8]
    data_length, resource_length = struct.unpack_from(">II", head, offset + 10)
    stored_crc = struct.unpack_from(">H", head, fixed)[0]
    return Header(
        name=name or "binhex-data",
        file_type=file_type.decode("mac_roman").rstrip("\x00 "),
        creator=creator.decode("mac_roman").rstrip("\x00 "),
        data_length=data_length,
        resource_length=resource_length,
        data_offset=fixed + 2,
        crc_ok=stored_crc == binascii.crc_hqx(head[:fixed], 0),
    )
