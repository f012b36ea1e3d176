"""OneNote sections (.one): the files attached to the pages.

OneNote stores every attached file and picture as a *FileDataStoreObject* ([MS-ONESTORE]
2.6.13): the GUID ``{BDE316E7-2665-4511-A4C4-8D4D0B7A9EAC}`` (bytes
``e716e3bd65261145a4c48d4d0b7a9eac``), a 64-bit length, 12 reserved bytes, the file's
bytes, then a footer GUID. Attackers put a program or script on a page behind a picture
of a "Double click to view" button; each such file becomes a child here and is judged
by what it is. Pictures are yielded too (they are the page's images) but carry no fact.

The objects are found by their header GUID rather than by walking the whole revision
store: the GUID is fixed by the format, and this stays correct on files whose other
structures are damaged on purpose. The names OneNote shows are kept in property sets
elsewhere in the file and are not read; children are named by position.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..identify import IMAGE_KINDS, identify
from ..registry import Child, extractor

if TYPE_CHECKING:
    from ..content import Content
    from ..engine import ScanContext
    from ..model import Node

FILE_DATA_GUID = bytes.fromhex("e716e3bd65261145a4c48d4d0b7a9eac")
#: Bytes between the GUID and the data: cbLength (8), unused (4), reserved (8).
_HEADER = 20
#: Attached files looked at per section.
MAX_OBJECTS = 2000


@extractor("onenote")
def onenote_files(node: Node, content: Content, ctx: ScanContext) -> Iterator[Child]:
    view = content.view()
    position, number = 0, 0
    while number < MAX_OBJECTS:
        ctx.check_time()
        position = view.find(FILE_DATA_GUID, position)
        if position < 0 or position + 16 + _HEADER > len(view):
            return
        length = struct.unpack_from("<Q", view, position + 16)[0]
        start = position + 16 + _HEADER
        end = min(start + length, len(view))  # a length past the end is cut, not trusted
        position = max(end, position + 16)
        if end <= start:
            continue
        number += 1
        yield _attachment(view, start, end, number)


def _attachment(view, start: int, end: int, number: int) -> Child:
    data = bytes(view[start:end])
    kind = identify(data[:65536], len(data)).kind
    facts = [] if kind in IMAGE_KINDS else [("onenote.embedded_file", {})]
    return Child(
        name=f"attachment-{number}",
        open=lambda: io.BytesIO(data),
        declared_size=len(data),
        facts=facts,
        info={"embedded_as": "OneNote file data", "offset": start},
    )
