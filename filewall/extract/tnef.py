"""TNEF (``winmail.dat``, ``application/ms-tnef``): Outlook's wrapper around attachments.

Why our own reader: the one pure-Python package, ``tnefparse`` (last release 2021), trusts
the counts in the file — a four-byte property count or recipient-row count makes it loop
up to four billion times — and copies the rest of the stream for every attribute, so
hostile input can stall it. This reader follows [MS-OXTNEF] for the attributes that carry
files only, with every count bounded and every offset checked, and keeps byte ranges
rather than copies until the engine opens a child.

Layout: signature ``78 9F 3E 22``, a 2-byte key, then attributes: level (1 = message,
2 = attachment), attribute id (low 16 bits name, high 16 bits type), length, data and a
2-byte checksum. An attachment starts with ``attAttachRendData``; its bytes are in
``attAttachData`` or in the ``PR_ATTACH_DATA_OBJ`` property of ``attAttachment``, its
name in ``attAttachTitle`` or the ``PR_ATTACH_LONG_FILENAME`` property. An attached
Outlook message is itself a TNEF stream (after a 16-byte interface id) and becomes a
child that the engine unpacks in turn.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..engine import ExtractError
from ..registry import Child, extractor
from .uuencode import decode_name

SIGNATURE = b"\x78\x9f\x3e\x22"
LEVEL_ATTACHMENT = 2
# Attribute names (low 16 bits of the attribute id).
ATT_ATTACH_DATA = 0x800F
ATT_ATTACH_TITLE = 0x8010
ATT_ATTACH_REND_DATA = 0x9002
ATT_ATTACHMENT = 0x9005
ATT_OEM_CODEPAGE = 0x9007
# MAPI property ids inside attAttachment.
PR_DISPLAY_NAME = 0x3001
PR_ATTACH_DATA_OBJ = 0x3701
PR_ATTACH_FILENAME = 0x3704
PR_ATTACH_METHOD = 0x3705
PR_ATTACH_LONG_FILENAME = 0x3707
PR_ATTACH_MIME_TAG = 0x370E
# MAPI property types: the variable-length ones, and the size of each fixed one as stored
# in TNEF (16-bit values are padded to four bytes).
PT_STRING8, PT_UNICODE, PT_BINARY, PT_OBJECT = 0x001E, 0x001F, 0x0102, 0x000D
_VARIABLE = {PT_STRING8, PT_UNICODE, PT_BINARY, PT_OBJECT}
_FIXED = {
    0x0002: 4,
    0x0003: 4,
    0x0004: 4,
    0x000A: 4,
    0x000B: 4,
    0x0005: 8,
    0x0006: 8,
    0x0007: 8,
    0x0014: 8,
    0x0040: 8,
    0x0048: 16,
}
MULTI_VALUED = 0x1000
#: The interface id that marks an attached Outlook message (IID_IMessage).
IID_IMESSAGE = bytes.fromhex("0703020000000000c000000000000046")

MAX_ATTRIBUTES = 100_000
MAX_PROPERTIES = 4096
MAX_VALUES = 1024


@dataclass
class Attachment:
    """What is known of one attachment: names as bytes or text, content as a byte range."""

    title: bytes = b""
    long_name: str = ""
    short_name: str = ""
    display_name: str = ""
    mime_type: str = ""
    method: int | None = None
    data: tuple[int, int] | None = None
    #: True when ``data`` is an embedded object (an attached message or OLE object).
    is_object: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Property:
    type: int
    id: int
    #: (start, end) of each value's bytes.
    values: list[tuple[int, int]]


@extractor("tnef")
def tnef_attachments(node, content, ctx) -> Iterator[Child]:
    """Every attachment of a TNEF stream, in order."""
    view = content.view()
    if bytes(view[:4]) != SIGNATURE:
        raise ExtractError("the TNEF signature is missing")
    codepage = "cp1252"
    current: Attachment | None = None
    number = 0
    for level, name, start, end in _attributes(view):
        if name == ATT_OEM_CODEPAGE and end - start >= 4:
            codepage = f"cp{struct.unpack_from('<I', view, start)[0]}"
        if level != LEVEL_ATTACHMENT:
            continue
        if name == ATT_ATTACH_REND_DATA or current is None:
            if current is not None:
                number += 1
                yield _child(view, current, number, codepage)
            current = Attachment()
        _add_attribute(view, current, name, start, end, codepage)
    if current is not None:
        yield _child(view, current, number + 1, codepage)


def _attributes(view) -> Iterator[tuple[int, int, int, int]]:
    """(level, attribute name, data start, data end) of each attribute, bounded."""
    position, size = 6, len(view)
    for _ in range(MAX_ATTRIBUTES):
        if position + 9 > size:
            return
        level = view[position]
        attribute_id, length = struct.unpack_from("<II", view, position + 1)
        start = position + 9
        if length > size - start:
            # A cut-off stream: hand over what is there, then stop.
            yield level, attribute_id & 0xFFFF, start, size
            return
        yield level, attribute_id & 0xFFFF, start, start + length
        position = start + length + 2


def _add_attribute(view, attachment: Attachment, name: int, start: int, end: int, codepage: str) -> None:
    if name == ATT_ATTACH_TITLE:
        attachment.title = bytes(view[start:end]).split(b"\x00", 1)[0]
    elif name == ATT_ATTACH_DATA:
        attachment.data = (start, end)
    elif name == ATT_ATTACHMENT:
        for prop in _properties(view, start, end):
            _add_property(view, attachment, prop, codepage)


def _add_property(view, attachment: Attachment, prop: Property, codepage: str) -> None:
    if not prop.values:
        return
    first = prop.values[0]
    if prop.id in (PR_ATTACH_LONG_FILENAME, PR_ATTACH_FILENAME, PR_DISPLAY_NAME, PR_ATTACH_MIME_TAG):
        text = _string(view, prop.type, first, codepage)
        attribute = {
            PR_ATTACH_LONG_FILENAME: "long_name",
            PR_ATTACH_FILENAME: "short_name",
            PR_DISPLAY_NAME: "display_name",
            PR_ATTACH_MIME_TAG: "mime_type",
        }[prop.id]
        setattr(attachment, attribute, text)
    elif prop.id == PR_ATTACH_DATA_OBJ and prop.type in (PT_BINARY, PT_OBJECT):
        attachment.data = first
        attachment.is_object = prop.type == PT_OBJECT
    elif prop.id == PR_ATTACH_METHOD and first[1] - first[0] >= 4:
        attachment.method = struct.unpack_from("<I", view, first[0])[0]


def _properties(view, start: int, end: int) -> Iterator[Property]:
    """The MAPI properties encoded in ``view[start:end]``; stops at the first oddity."""
    if end - start < 4:
        return
    count = struct.unpack_from("<I", view, start)[0]
    position = start + 4
    for _ in range(min(count, MAX_PROPERTIES)):
        if position + 4 > end:
            return
        prop_type, prop_id = struct.unpack_from("<HH", view, position)
        position += 4
        if prop_id >= 0x8000:  # a named property: GUID, then a number or a name
            position = _skip_property_name(view, position, end)
            if position < 0:
                return
        values, position = _values(view, prop_type, position, end)
        if values is None:
            return
        yield Property(prop_type & ~MULTI_VALUED, prop_id, values)


def _skip_property_name(view, position: int, end: int) -> int:
    if position + 20 > end:
        return -1
    kind = struct.unpack_from("<I", view, position + 16)[0]
    position += 20
    if kind == 0:
        return position + 4
    if position + 4 > end:
        return -1
    length = struct.unpack_from("<I", view, position)[0]
    return position + 4 + _padded(length)


def _values(view, prop_type: int, position: int, end: int) -> tuple[list[tuple[int, int]] | None, int]:
    base = prop_type & ~MULTI_VALUED
    if base not in _VARIABLE and base not in _FIXED:
        return None, position
    count = 1
    if base in _VARIABLE or prop_type & MULTI_VALUED:
        if position + 4 > end:
            return None, position
        count = struct.unpack_from("<I", view, position)[0]
        position += 4
        if count > MAX_VALUES:
            return None, position
    values = []
    for _ in range(count):
        if base in _VARIABLE:
            if position + 4 > end:
                return None, position
            length = struct.unpack_from("<I", view, position)[0]
            position += 4
            values.append((position, min(position + length, end)))
            position += _padded(length)
        else:
            values.append((position, position + _FIXED[base]))
            position += _FIXED[base]
        if position > end:
            return values, position
    return values, position


def _string(view, prop_type: int, span: tuple[int, int], codepage: str) -> str:
    raw = bytes(view[span[0] : min(span[1], span[0] + 4096)])
    if prop_type == PT_UNICODE:
        return raw.decode("utf-16-le", "replace").split("\x00", 1)[0]
    return decode_name(raw.split(b"\x00", 1)[0], codepage)


def _child(view, attachment: Attachment, number: int, codepage: str) -> Child:
    name = (
        attachment.long_name
        or attachment.short_name
        or decode_name(attachment.title, codepage)
        or attachment.display_name
        or f"attachment-{number}"
    )
    info: dict = {}
    if attachment.mime_type:
        info["content_type"] = attachment.mime_type
    if attachment.data is None:
        info["note"] = "the attachment carries no content"
        return Child(name=name, open=None, info=info)
    start, end = attachment.data
    if attachment.is_object:
        if bytes(view[start : start + 16]) == IID_IMESSAGE:
            info["embedded"] = "attached Outlook message"
            if not name.lower().endswith((".tnef", ".dat")):
                name = f"{name}.tnef"
        start = min(start + 16, end)
    return Child(
        name=name,
        open=lambda: io.BytesIO(bytes(view[start:end])),
        declared_size=end - start,
        info=info,
    )


def _padded(length: int) -> int:
    return length + (-length % 4)
