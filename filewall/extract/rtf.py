"""RTF documents: the objects embedded in them (oletools' ``rtfobj``).

Each ``\\objdata`` object becomes a child: for an OLE Package (the "icon that runs a
file") the file itself, under the name it was embedded with; for any other OLE object its
native data (often a whole OLE compound file, which :mod:`filewall.extract.ole` opens in
turn); for data that is not a valid OLE 1.0 object, the raw decoded bytes.

The parse is shared with :mod:`filewall.analyze.rtf` (which runs first) through
``ctx.state`` so a large RTF is parsed once.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from oletools import rtfobj

from ..registry import Child, extractor
from ._docs import quiet_oletools

if TYPE_CHECKING:
    from ..content import Content
    from ..engine import ScanContext
    from ..model import Node

quiet_oletools()

_STATE = "rtf.parsed"


@dataclass
class ParsedRtf:
    """What the RTF parser saw: the objects, and tricks used to hide them."""

    objects: list[rtfobj.RtfObject] = field(default_factory=list)
    #: Control words found *inside* object data (Word ignores them; scanners choke).
    cwords_in_objdata: int = 0
    #: ``\\bin`` raw-binary runs inside object data.
    bin_in_objdata: int = 0


class _CountingParser(rtfobj.RtfObjParser):
    """rtfobj's object parser, also counting the obfuscation tricks it silently skips."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.cwords_in_objdata = 0
        self.bin_in_objdata = 0

    def control_word(self, matchobject, cword, param):
        if self.current_destination.cword == b"objdata" and cword != b"objdata":
            self.cwords_in_objdata += 1
        super().control_word(matchobject, cword, param)

    def bin(self, bindata):
        if self.current_destination.cword == b"objdata":
            self.bin_in_objdata += 1
        super().bin(bindata)


#: A backslash that rtfobj's parser can match as nothing (a control word name longer than
#: Word's 250-letter limit); it stops with a RuntimeError there, as at a final backslash.
_OVERLONG_CONTROL_WORD = re.compile(rb"\\(?=[a-zA-Z]{251})")


def _parseable(data: bytes) -> bytes:
    """``data`` with the two byte patterns rtfobj cannot parse made plain text.

    Each such backslash becomes a space (same length, so object offsets stay right): a
    backslash at the very end, and one before an over-long control word.
    """
    if data.endswith(b"\\"):
        data = data[:-1] + b" "
    if _OVERLONG_CONTROL_WORD.search(data):
        data = _OVERLONG_CONTROL_WORD.sub(b" ", data)
    return data


def has_objects(data: bytes) -> bool:
    """Cheap test before the (slow, pure Python) parse: is there object data at all?

    Word ignores CR and LF anywhere, even inside a control word, so they are removed
    before looking for ``\\objdata``.
    """
    if b"objdata" in data:
        return True
    return b"\\objdata" in data.replace(b"\r", b"").replace(b"\n", b"")


def parse_rtf(node: Node, content: Content, ctx: ScanContext) -> ParsedRtf:
    """Parse once per node; the analyzer and the extractor share the result."""
    cache: dict[str, ParsedRtf] = ctx.state.setdefault(_STATE, {})
    if node.path not in cache:
        data = bytes(content.view())
        parsed = ParsedRtf()
        if has_objects(data):
            parser = _CountingParser(_parseable(data))
            parser.parse()
            parsed = ParsedRtf(parser.objects, parser.cwords_in_objdata, parser.bin_in_objdata)
        cache[node.path] = parsed
    return cache[node.path]


@extractor("rtf")
def rtf_objects(node: Node, content: Content, ctx: ScanContext) -> Iterator[Child]:
    """Yield the file or data of every object embedded in the RTF document."""
    parsed = parse_rtf(node, content, ctx)
    ctx.state.get(_STATE, {}).pop(node.path, None)  # done with it: free the memory
    for number, obj in enumerate(parsed.objects, 1):
        yield _object_child(number, obj)


def _object_child(number: int, obj: rtfobj.RtfObject) -> Child:
    class_name = _class_name(obj)
    info = {"embedded_as": "RTF object", "class_name": class_name, "offset": obj.start}
    if obj.is_package and obj.olepkgdata is not None:
        name = _package_name(obj) or f"object-{number}"
        data = bytes(obj.olepkgdata)
        info.update(source_path=obj.src_path or "", temp_path=obj.temp_path or "")
    elif obj.is_ole and obj.oledata:
        name, data = f"object-{number} ({class_name or 'OLE'})", bytes(obj.oledata)
    else:
        name, data = f"object-{number} (raw)", bytes(obj.rawdata or b"")
    return Child(name=name, open=lambda: io.BytesIO(data), declared_size=len(data), info=info)


def _class_name(obj: rtfobj.RtfObject) -> str:
    raw = obj.class_name or b""
    return raw.rstrip(b"\x00").decode("latin-1", "replace") if isinstance(raw, bytes) else str(raw)


def _package_name(obj: rtfobj.RtfObject) -> str:
    for candidate in (obj.filename, obj.src_path, obj.temp_path):
        if candidate:
            return candidate.replace("\\", "/").rsplit("/", 1)[-1]
    return ""


__all__ = ["rtf_objects", "parse_rtf", "ParsedRtf", "has_objects"]
