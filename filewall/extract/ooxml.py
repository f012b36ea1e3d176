"""Office zip packages (docx/xlsx/pptx, their macro forms, xlsb; OpenDocument): the parts
worth a look of their own.

An Office file is a zip of a few dozen XML parts. Yielding all of them would bury the
report in noise, so this extractor yields only what can carry something of its own:
embedded objects and packages (``*/embeddings/*``), pictures and media, and any part
whose content type the package does not declare as an ordinary Office part. The XML
itself (relationships, macro sheets, ActiveX, fields) is read by
:mod:`filewall.analyze.office`, which judges the document as a whole; the VBA project
(``vbaProject.bin``) is analysed there too and is therefore not yielded again.

Smuggling: the package gets the zip extractor's layout check (:class:`.zip._Layout`): a
part whose local header no directory entry lists (Word and scanners never see it,
streaming unzippers do) gets ``archive.hidden_member`` and is yielded; a part whose local
header names it differently gets ``archive.name_mismatch``; parts that overlap get
``archive.overlapping_members``.
"""

from __future__ import annotations

import base64
import binascii
import io
import posixpath
import re
import zipfile
from collections.abc import Iterator
from typing import TYPE_CHECKING
from xml.etree import ElementTree

from ..engine import ExtractError
from ..registry import Child, extractor
from .zip import _Layout, _MemberReader, hidden_children, listed_child, report_layout

if TYPE_CHECKING:
    from ..content import Content
    from ..engine import ScanContext
    from ..model import Node

#: Content types of ordinary Office parts (besides every ``...+xml`` type).
_INTERNAL_TYPES = (
    "application/vnd.ms-excel.",  # xlsb binary parts (sheets, styles, strings ...)
    "application/vnd.ms-office.vbaproject",  # analysed with the document
    "application/vnd.ms-office.vbaprojectsignature",
    "application/vnd.ms-office.activex",  # ActiveX persistence; reported by the analyzer
    "application/vnd.openxmlformats-officedocument.spreadsheetml.printersettings",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.printersettings",
    "application/vnd.openxmlformats-officedocument.presentationml.printersettings",
    "application/vnd.openxmlformats-package.relationships",
    "application/vnd.openxmlformats-officedocument.obfuscatedfont",
    "application/xml",
)
#: Parts never yielded, whatever their declared type.
_SKIP_SUFFIXES = (".xml", ".rels", ".vml")
#: Parts read from [Content_Types].xml at most (a hostile one can be huge).
_MAX_TYPES_BYTES = 4 * 1024 * 1024
#: OpenDocument parts that are the document's own data.
_ODF_INTERNAL = ("mimetype", "layout-cache", "Configurations2/")


@extractor("ooxml", "odf")
def office_package_parts(node: Node, content: Content, ctx: ScanContext) -> Iterator[Child]:
    """Yield embedded objects, media and undeclared parts of an Office zip package."""
    try:
        archive = zipfile.ZipFile(content.open())
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as error:
        raise ExtractError(f"the Office package is not a readable zip ({error})") from error
    reader = _MemberReader(node, content, ctx)
    with archive:
        try:
            layout = _Layout.of(content, archive, ctx)
            hidden = report_layout(node, ctx, layout)
            types = _content_types(archive) if node.kind == "ooxml" else None
            for index, info in enumerate(archive.infolist()):
                if not info.is_dir():
                    yield from _part(reader, archive, layout, types, index, info)
            yield from hidden_children(reader, hidden)
        finally:
            reader.close()


def _part(
    reader: _MemberReader,
    archive: zipfile.ZipFile,
    layout: _Layout | None,
    types: ContentTypes | None,
    index: int,
    info: zipfile.ZipInfo,
) -> Iterator[Child]:
    """The part as a child, if worth yielding; always when its local header renames it
    or it overlaps another part (read as the zip extractor reads such members)."""
    part_type = types.lookup(info.filename) if types else ""
    renamed = layout is not None and layout.local_name_differs(info) is not None
    if not renamed and not _worth_yielding(info.filename, types, reader.node.kind):
        return
    if renamed or (layout is not None and layout.overlapping_data(info) is not None):
        child = listed_child(reader, archive, layout, index, info)
        child.info["part_type"] = part_type
        yield child
        return
    yield Child(
        name=info.filename,
        open=lambda: archive.open(info),
        declared_size=info.file_size,
        packed_size=info.compress_size,
        info={"part_type": part_type},
    )


class ContentTypes:
    """The package's [Content_Types].xml: declared type per part name or extension."""

    def __init__(self, defaults: dict[str, str], overrides: dict[str, str]):
        self.defaults = defaults
        self.overrides = overrides

    def lookup(self, part: str) -> str:
        declared = self.overrides.get("/" + part.lstrip("/").lower())
        if declared is None:
            declared = self.defaults.get(posixpath.splitext(part)[1].lstrip(".").lower(), "")
        return declared.lower()


def _content_types(archive: zipfile.ZipFile) -> ContentTypes:
    defaults: dict[str, str] = {}
    overrides: dict[str, str] = {}
    try:
        info = archive.getinfo("[Content_Types].xml")
    except KeyError:
        return ContentTypes(defaults, overrides)
    if info.file_size > _MAX_TYPES_BYTES:
        return ContentTypes(defaults, overrides)
    try:
        root = ElementTree.fromstring(archive.read(info))
    except (ElementTree.ParseError, LookupError, zipfile.BadZipFile, OSError, ValueError):
        return ContentTypes(defaults, overrides)
    for element in root:
        tag = element.tag.rsplit("}", 1)[-1]
        if tag == "Default":
            defaults[element.get("Extension", "").lower()] = element.get("ContentType", "")
        elif tag == "Override":
            overrides[element.get("PartName", "").lower()] = element.get("ContentType", "")
    return ContentTypes(defaults, overrides)


def _worth_yielding(part: str, types: ContentTypes | None, kind: str) -> bool:
    lowered = part.lower()
    if lowered.endswith(_SKIP_SUFFIXES) or lowered == "[content_types].xml":
        return False
    if kind == "odf":
        return not part.startswith(_ODF_INTERNAL) and not lowered.startswith("meta-inf/")
    if "/embeddings/" in lowered or "/media/" in lowered:
        return True
    declared = types.lookup(part) if types else ""
    return not (declared.endswith("+xml") or declared.startswith(_INTERNAL_TYPES))


# -- Office XML (Word 2003 XML, Flat OPC): parts stored as base64 inside the XML ----------

_OFFICE_XML_MARKERS = (
    b"<?mso-application",
    b"schemas.microsoft.com/office/word/2003/wordml",
    b"schemas.microsoft.com/office/2006/xmlPackage",
)
_BINDATA_RE = re.compile(
    rb"<(?:\w+:)?binData\b[^>]*?name=\"([^\"]{0,300})\"[^>]*>([A-Za-z0-9+/=\s]{16,})</"
    rb"|<(?:\w+:)?part\b[^>]*?name=\"([^\"]{0,300})\"[^>]*>\s*<(?:\w+:)?binaryData>([A-Za-z0-9+/=\s]{16,})</",
)
#: Size of Office XML read for embedded parts.
_MAX_XML = 64 * 1024 * 1024


@extractor("xml")
def office_xml_parts(node: Node, content: Content, ctx: ScanContext) -> Iterator[Child]:
    """Embedded objects and macro containers stored as base64 in single-file Office XML."""
    if not any(marker in content.head(8192) for marker in _OFFICE_XML_MARKERS):
        return
    text = bytes(content.view()[:_MAX_XML])
    for match in _BINDATA_RE.finditer(text):
        ctx.check_time()
        name = (match.group(1) or match.group(3) or b"part").decode("utf-8", "replace")
        try:
            data = base64.b64decode(re.sub(rb"\s+", b"", match.group(2) or match.group(4)))
        except (binascii.Error, ValueError):
            continue
        is_picture = name.startswith("wordml://") and not data.startswith(b"\xd0\xcf\x11\xe0")
        if is_picture or name.lower().endswith((".rels", ".xml")):
            continue  # pictures (wordml://…png) and XML parts are the document itself
        yield Child(
            name=name.lstrip("/").replace("\\", "/"),
            open=lambda data=data: io.BytesIO(data),
            declared_size=len(data),
            info={"embedded_as": "Office XML base64 part"},
        )
