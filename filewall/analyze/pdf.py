"""PDF: active content. JavaScript (and whether it runs by itself), Launch, automatic
links, forms that send data, links to other files, Flash/RichMedia, XFA, disguised names,
passwords nobody gave us.

Every object of the document is visited once (:func:`filewall.extract.pdf.iter_objects`;
object streams and filters are decoded by pypdf), and every dictionary nested in it is
looked at, so an action hidden in a compressed object stream is seen like any other. The
raw bytes are also searched for names written with ``#xx`` escapes (``/J#61vaScript``):
readers accept them, and only someone hiding from scanners writes them.

Web addresses (``/URI`` links, addresses in scripts) are indicators, not findings.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, StreamObject

from ..extract._docs import add_urls, shorten, urls_in_text
from ..extract.pdf import iter_objects, open_pdf, resolve
from ..registry import analyzer

if TYPE_CHECKING:
    from ..content import Content
    from ..engine import ScanContext
    from ..model import Node

#: How deep nested dictionaries are followed inside one object.
MAX_NESTING = 12
#: Script text kept per document for looking for addresses.
MAX_SCRIPT = 1024 * 1024
#: Pages whose open/close actions are checked.
MAX_PAGES = 5000
#: Names a reader acts on; one written with #xx escapes is disguised on purpose.
SENSITIVE_NAMES = {
    "JavaScript", "JS", "OpenAction", "AA", "Launch", "EmbeddedFile", "EmbeddedFiles", "URI", "SubmitForm",
    "RichMedia", "XFA", "AcroForm", "GoToR", "GoToE", "ObjStm", "Filespec", "ImportData", "Action", "S", "Names",
}
_ESCAPED_NAME_RE = re.compile(rb"/[A-Za-z0-9]*#[0-9A-Fa-f]{2}[A-Za-z0-9#]*")
_WHERE = {
    True: ("runs by itself when the file is opened", "打开文件时自动运行"),
    False: ("in a link, button or form field", "在链接、按钮或表单字段中"),
}


@analyzer("pdf", order=40)
def pdf_document(node: Node, content: Content, ctx: ScanContext) -> None:
    _disguised_names(node, content, ctx)
    parsed = open_pdf(node, content, ctx)
    if parsed.encrypted and not parsed.readable:
        ctx.fact(node, "pdf.encrypted_unopened")
        return
    if parsed.reader is None:
        return  # the extractor reports the damage
    if parsed.password_source:
        node.info["password_source"] = parsed.password_source
    automatic = _automatic_actions(parsed.reader, ctx)
    scripts: list[str] = []
    for _, obj in iter_objects(parsed, ctx):
        for item in _nested(obj):
            _check_dict(node, item, id(item) in automatic, scripts, ctx)
    if scripts:
        add_urls(node, urls_in_text("\n".join(scripts)[:MAX_SCRIPT]))
    _xfa(node, parsed.reader, ctx)


# -- what runs by itself ------------------------------------------------------------------


def _automatic_actions(reader, ctx: ScanContext) -> set[int]:
    """Identities of the action dictionaries that run without a click."""
    found: set[int] = set()
    try:
        catalog = resolve(reader.trailer["/Root"])
    except Exception:
        return found
    if not isinstance(catalog, DictionaryObject):
        return found
    _add_chain(resolve(catalog.get("/OpenAction")), found)
    _add_triggers(resolve(catalog.get("/AA")), found)
    names = resolve(catalog.get("/Names"))
    if isinstance(names, DictionaryObject):
        for action in _name_tree_values(resolve(names.get("/JavaScript"))):
            _add_chain(action, found)
    try:
        pages = reader.pages
        for index in range(min(len(pages), MAX_PAGES)):
            ctx.check_time()
            _add_triggers(resolve(pages[index].get("/AA")), found)
    except Exception:
        pass  # a broken page tree: the per-object pass still sees every action
    return found


def _add_triggers(triggers: Any, found: set[int]) -> None:
    if isinstance(triggers, DictionaryObject):
        for key in list(triggers.keys())[:32]:
            _add_chain(resolve(triggers.get(key)), found)


def _add_chain(action: Any, found: set[int]) -> None:
    """An action and the ones it chains to with /Next."""
    pending = [action]
    while pending and len(found) < 10_000:
        current = resolve(pending.pop())
        if isinstance(current, ArrayObject):
            pending.extend(list(current)[:64])
        elif isinstance(current, DictionaryObject) and id(current) not in found:
            found.add(id(current))
            if "/Next" in current:
                pending.append(current.get("/Next"))


def _name_tree_values(tree: Any, depth: int = 0) -> Iterator[Any]:
    if not isinstance(tree, DictionaryObject) or depth > 16:
        return
    names = resolve(tree.get("/Names"))
    if isinstance(names, ArrayObject):
        for value in list(names)[1::2][:10_000]:
            yield resolve(value)
    kids = resolve(tree.get("/Kids"))
    if isinstance(kids, ArrayObject):
        for kid in list(kids)[:10_000]:
            yield from _name_tree_values(resolve(kid), depth + 1)


# -- every dictionary ----------------------------------------------------------------------


def _nested(obj: Any, depth: int = 0) -> Iterator[DictionaryObject]:
    """The dictionary and the direct dictionaries inside it (references are visited as
    objects of their own, so they are not followed here)."""
    if depth > MAX_NESTING:
        return
    if isinstance(obj, DictionaryObject):
        yield obj
        values = list(obj.values())[:4096]
    elif isinstance(obj, ArrayObject):
        values = list(obj)[:4096]
    else:
        return
    for value in values:
        if not isinstance(value, IndirectObject) and isinstance(value, (DictionaryObject, ArrayObject)):
            yield from _nested(value, depth + 1)


def _check_dict(node: Node, item: DictionaryObject, automatic: bool, scripts: list[str], ctx: ScanContext) -> None:
    action = str(resolve(item.get("/S")) or "")
    if action == "/JavaScript" or "/JS" in item:
        where, where_zh = _WHERE[automatic]
        ctx.fact(node, "pdf.javascript", where=where, where_zh=where_zh)
        if automatic:
            ctx.fact(node, "pdf.javascript_on_open")
        scripts.append(_text(item.get("/JS")))
    elif action == "/Launch":
        ctx.fact(node, "pdf.launch", target=shorten(_launch_target(item)) or "?")
    elif action == "/URI":
        uri = _text(item.get("/URI"))
        add_urls(node, [uri] if "://" in uri else [])
        if automatic:
            ctx.fact(node, "pdf.opens_link", target=shorten(uri))
    elif action == "/SubmitForm":
        ctx.fact(node, "pdf.submit_form", target=shorten(_file_target(item.get("/F"))) or "?")
    elif action in ("/GoToR", "/GoToE"):
        ctx.fact(node, "pdf.remote_goto", target=shorten(_file_target(item.get("/F"))) or "an attached file")
    elif action == "/RichMediaExecute" or resolve(item.get("/Subtype")) in ("/RichMedia", "/Flash"):
        ctx.fact(node, "pdf.richmedia", what=str(resolve(item.get("/Subtype")) or action).lstrip("/"))
    if "/EF" in item:
        ctx.fact(node, "pdf.embedded_file", file=shorten(_file_target(item), 80) or "unnamed")


def _text(value: Any) -> str:
    value = resolve(value)
    if isinstance(value, StreamObject):
        try:
            return value.get_data()[:MAX_SCRIPT].decode("latin-1")
        except Exception:
            return ""
    return str(value or "")[:MAX_SCRIPT]


def _file_target(spec: Any) -> str:
    spec = resolve(spec)
    if isinstance(spec, DictionaryObject):
        for key in ("/UF", "/F", "/DOS", "/Unix"):
            if key in spec:
                return _text(spec.get(key))
        return ""
    return _text(spec)


def _launch_target(action: DictionaryObject) -> str:
    windows = resolve(action.get("/Win"))
    if isinstance(windows, DictionaryObject):
        return f"{_file_target(windows.get('/F'))} {_text(windows.get('/P'))}".strip()
    return _file_target(action.get("/F"))


def _xfa(node: Node, reader, ctx: ScanContext) -> None:
    try:
        form = resolve(resolve(reader.trailer["/Root"]).get("/AcroForm"))
    except Exception:
        return
    if not isinstance(form, DictionaryObject) or "/XFA" not in form:
        return
    ctx.fact(node, "pdf.xfa")
    xfa = resolve(form.get("/XFA"))
    parts = list(xfa)[1::2] if isinstance(xfa, ArrayObject) else [xfa]
    for part in parts[:64]:
        text = _text(part)
        if re.search(r"<script\b", text, re.I):
            where, where_zh = "in the XFA form", "在 XFA 表单中"
            ctx.fact(node, "pdf.javascript", where=where, where_zh=where_zh)
            add_urls(node, urls_in_text(text))


# -- disguised names ---------------------------------------------------------------------


def _disguised_names(node: Node, content: Content, ctx: ScanContext) -> None:
    """Action keywords written with #xx escapes, e.g. /J#61vaScript for /JavaScript."""
    view = content.view()
    disguised = set()
    for match in _ESCAPED_NAME_RE.finditer(view):
        raw = match.group(0)
        decoded = _unescape(raw[1:])
        escaped_letters = any(chr(int(code, 16)).isalnum() for code in re.findall(rb"#([0-9A-Fa-f]{2})", raw)[:16])
        if decoded in SENSITIVE_NAMES and escaped_letters:
            disguised.add(f"{raw.decode('latin-1')} = /{decoded}")
        if len(disguised) >= 8:
            break
    if disguised:
        ctx.fact(node, "pdf.obfuscated_names", names=", ".join(sorted(disguised)))


def _unescape(name: bytes) -> str:
    return re.sub(rb"#([0-9A-Fa-f]{2})", lambda match: bytes([int(match.group(1), 16)]), name).decode("latin-1")
