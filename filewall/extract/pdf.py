"""PDF: the files attached to it, and the shared, bounded parse used by the PDF analyzer.

pypdf (pure Python, so it runs wherever filewall does) reads the document: it follows the
cross-reference table (rebuilding it when broken), decodes object streams and filters,
and decrypts with the empty user password or the scan's passwords. Every object is
visited once through :func:`iter_objects`, which stops at :data:`MAX_OBJECTS` and at the
scan deadline.

Children: each embedded file (``/EmbeddedFile`` streams, found through the file
specifications that name them: the document's attachment list *and* file-attachment
annotations; orphan embedded-file streams too), under the name the PDF gives it.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pypdf import PdfReader
from pypdf.generic import DictionaryObject, IndirectObject, StreamObject

from ..engine import ExtractError
from ..registry import Child, extractor
from ._passwords import candidates, remember

if TYPE_CHECKING:
    from ..content import Content
    from ..engine import ScanContext
    from ..model import Node

for _name in ("pypdf", "pypdf._reader", "pypdf.generic", "pypdf._crypt_providers"):
    logging.getLogger(_name).setLevel(logging.CRITICAL + 1)

#: Objects visited per document; a crafted PDF can declare millions.
MAX_OBJECTS = 200_000
_STATE = "pdf.parsed"


@dataclass
class ParsedPdf:
    """The opened document, or why it could not be opened."""

    reader: PdfReader | None
    encrypted: bool = False
    #: False when encrypted and no password opened it.
    readable: bool = True
    error: str = ""
    #: Where the password came from when one was needed.
    password_source: str = ""
    objects: list[tuple[int, Any]] = field(default_factory=list)


def open_pdf(node: Node, content: Content, ctx: ScanContext) -> ParsedPdf:
    """Open once per node; the analyzer and the extractor share the result."""
    cache: dict[str, ParsedPdf] = ctx.state.setdefault(_STATE, {})
    if node.path not in cache:
        cache[node.path] = _open(content, ctx)
    return cache[node.path]


def _open(content: Content, ctx: ScanContext) -> ParsedPdf:
    try:
        reader = PdfReader(content.open(), strict=False)
    except Exception as error:  # pypdf raises many types on hostile input
        return ParsedPdf(None, readable=False, error=f"{type(error).__name__}: {error}"[:200])
    if not reader.is_encrypted:
        return ParsedPdf(reader)
    # Most encrypted PDFs only restrict printing or copying and open with an empty password.
    for candidate in [None, *candidates(ctx)]:
        ctx.check_time()
        password = "" if candidate is None else candidate.password
        try:
            if reader.decrypt(password):
                if candidate is not None:
                    remember(ctx, candidate)
                source = "" if candidate is None else candidate.source
                return ParsedPdf(reader, encrypted=True, password_source=source)
        except Exception as error:  # unsupported encryption: no password will help
            return ParsedPdf(reader, encrypted=True, readable=False, error=str(error)[:200])
    return ParsedPdf(reader, encrypted=True, readable=False)


def iter_objects(parsed: ParsedPdf, ctx: ScanContext) -> Iterator[tuple[int, Any]]:
    """Every object of the document (resolved), once, within the limits."""
    if parsed.objects:
        yield from parsed.objects
        return
    reader = parsed.reader
    if reader is None or not parsed.readable:
        return
    numbers: set[tuple[int, int]] = set()
    for generation, table in reader.xref.items():
        numbers.update((number, generation) for number in table)
    numbers.update((number, 0) for number in reader.xref_objStm)
    collected = []
    for number, generation in sorted(numbers)[:MAX_OBJECTS]:
        ctx.check_time()
        try:
            obj = reader.get_object(IndirectObject(number, generation, reader))
        except Exception:
            continue  # one broken object does not hide the others
        if obj is not None:
            collected.append((number, obj))
    parsed.objects = collected
    yield from collected


def resolve(value: Any, depth: int = 0) -> Any:
    """Follow indirect references (bounded: a reference loop must not hang us)."""
    while isinstance(value, IndirectObject) and depth < 32:
        try:
            value = value.get_object()
        except Exception:
            return None
        depth += 1
    return value


@extractor("pdf")
def pdf_attachments(node: Node, content: Content, ctx: ScanContext) -> Iterator[Child]:
    """Yield every file embedded in the PDF."""
    parsed = open_pdf(node, content, ctx)
    try:
        if parsed.reader is None:
            raise ExtractError(f"not a readable PDF ({parsed.error or 'unknown structure'})")
        yield from _embedded_files(parsed, ctx)
    finally:
        ctx.state.get(_STATE, {}).pop(node.path, None)


def _embedded_files(parsed: ParsedPdf, ctx: ScanContext) -> Iterator[Child]:
    seen: set[int] = set()
    named: dict[int, str] = {}
    objects = list(iter_objects(parsed, ctx))
    for _, obj in objects:
        if isinstance(obj, DictionaryObject) and "/EF" in obj:
            for stream_ref, name in _filespec_streams(obj):
                named.setdefault(stream_ref, name)
    for number, obj in objects:
        if not (isinstance(obj, StreamObject) and obj.get("/Type") == "/EmbeddedFile") or number in seen:
            continue
        seen.add(number)
        yield _stream_child(obj, named.get(number) or f"embedded-file-{number}")


def _filespec_streams(spec: DictionaryObject) -> Iterator[tuple[int, str]]:
    files = resolve(spec.get("/EF"))
    if not isinstance(files, DictionaryObject):
        return
    name = str(resolve(spec.get("/UF")) or resolve(spec.get("/F")) or "").replace("\\", "/").rsplit("/", 1)[-1]
    for key in ("/UF", "/F", "/DOS", "/Mac", "/Unix"):
        reference = files.raw_get(key) if key in files else None
        if isinstance(reference, IndirectObject):
            yield reference.idnum, name


def _stream_child(stream: StreamObject, name: str) -> Child:
    def opener() -> io.BytesIO:
        return io.BytesIO(stream.get_data())  # decodes the stream's filters

    params = resolve(stream.get("/Params"))
    declared = resolve(params.get("/Size")) if isinstance(params, DictionaryObject) else None
    return Child(
        name=name or "embedded-file",
        open=opener,
        declared_size=int(declared) if isinstance(declared, int) and declared >= 0 else None,
        info={"embedded_as": "PDF attachment", "subtype": str(stream.get("/Subtype", ""))[:80]},
    )
