"""HTML, SVG and HTA pages (and text with ``data:`` links): files hidden inside them (HTML smuggling).

A smuggling page carries its payload as data and has the browser write it to disk:
``<a href="data:application/octet-stream;base64,..." download="invoice.zip">``, or a
base64 string passed to ``atob()`` and wrapped in a ``Blob``, or an array of byte values.
Each such blob is decoded (bounded) and, when it *is* a file of a kind worth judging (an
archive, a program, a document, another page), yielded as a child under the name the page
would save it as. Inline pictures and fonts (``data:image/png;base64,...``), which every
saved web page has by the dozen, are not yielded: they are what they claim to be.

Nothing on the page is executed; strings split with ``"..." + "..."`` are joined
textually before decoding, which is the common obfuscation.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..identify import IMAGE_KINDS, identify
from ..registry import Child, extractor

if TYPE_CHECKING:
    from ..content import Content
    from ..engine import ScanContext
    from ..model import Node

#: Page text read (a smuggling page is small; a saved web page can be large).
MAX_TEXT = 32 * 1024 * 1024
#: Blobs decoded per page.
MAX_BLOBS = 64
#: Kinds a decoded blob is not worth yielding as.
_PLAIN_KINDS = IMAGE_KINDS | {"text", "binary", "empty", "woff", "woff2", "ttf", "otf", "unknown", "mp3", "ogg"}

#: Substrings without which a page holds no blob (JavaScript names are case-sensitive).
_HINTS = (b"base64", b"BASE64", b"Base64", b"atob", b"Uint8Array")
_DATA_URL_RE = re.compile(rb"data:([\w.+/-]{0,100})((?:;[\w.+=-]{1,100})*);base64,([A-Za-z0-9+/=\s\\]{64,})", re.I)
_B64_LITERAL_RE = re.compile(rb"""["'`]([A-Za-z0-9+/\r\n\\]{256,}={0,2})["'`]""")
_BYTE_ARRAY_RE = re.compile(rb"\[\s*((?:\d{1,3}\s*,\s*){256,}\d{1,3})\s*\]")
_CONCAT_RE = re.compile(rb"""(["'])\s*\+\s*(?:\r?\n\s*)?\1""")
_DOWNLOAD_RE = re.compile(rb"""download\s*=\s*["']([^"'<>]{1,200})["']|\.download\s*=\s*["']([^"'<>]{1,200})["']""",
                          re.I)
_MSSAVE_RE = re.compile(rb"""msSaveOrOpenBlob\s*\([^,]{1,200},\s*["']([^"'<>]{1,200})["']""", re.I)
_EXTENSION_FOR_MIME = {
    "application/zip": "zip", "application/x-zip-compressed": "zip", "application/x-msdownload": "exe",
    "application/x-iso9660-image": "iso", "application/pdf": "pdf", "text/html": "html", "image/svg+xml": "svg",
}


_EXTENSION_FOR_KIND = {"pe": "exe", "dos-mz": "exe", "ole": "doc", "ooxml": "docx", "msi": "msi", "lnk": "lnk",
                       "html": "html", "svg": "svg", "hta": "hta", "pdf": "pdf", "rtf": "rtf"}


@extractor("html", "svg", "hta", "xml", "text")
def smuggled_files(node: Node, content: Content, ctx: ScanContext) -> Iterator[Child]:
    view = content.view()
    if not any(view.find(hint, 0, MAX_TEXT) >= 0 for hint in _HINTS):
        return  # no encoded data at all: the common case, decided by plain substring search
    text = bytes(view[:MAX_TEXT])
    joined = _CONCAT_RE.sub(b"", text)
    names = [next(name for name in match if name) for match in _DOWNLOAD_RE.findall(joined)]
    names += _MSSAVE_RE.findall(joined)
    seen: set[bytes] = set()
    number = 0
    for how, mime, data in _blobs(joined):
        ctx.check_time()
        digest = data[:64] + len(data).to_bytes(8, "little")
        if digest in seen:
            continue
        seen.add(digest)
        kind = identify(data[:65536], len(data)).kind
        if kind in _PLAIN_KINDS:
            continue
        number += 1
        if number > MAX_BLOBS:
            return
        yield _child(data, how, mime, kind, names, number)


def _blobs(text: bytes) -> Iterator[tuple[str, str, bytes]]:
    """(how it was stored, declared type, decoded bytes) for each candidate blob."""
    for match in _DATA_URL_RE.finditer(text):
        data = _b64(match.group(3))
        if data:
            yield "data: URL", match.group(1).decode("latin-1").lower(), data
    for match in _B64_LITERAL_RE.finditer(text):
        data = _b64(match.group(1))
        if data:
            yield "base64 string", "", data
    for match in _BYTE_ARRAY_RE.finditer(text):
        values = [int(value) for value in re.findall(rb"\d+", match.group(1))]
        if all(value < 256 for value in values):
            yield "byte array", "", bytes(values)


def _b64(raw: bytes) -> bytes:
    cleaned = re.sub(rb"[\s\\]|\\[rn]", b"", raw)
    cleaned = cleaned[: len(cleaned) - len(cleaned) % 4] if not cleaned.endswith(b"=") else cleaned
    try:
        return base64.b64decode(cleaned, validate=False)
    except (binascii.Error, ValueError):
        return b""


def _child(data: bytes, how: str, mime: str, kind: str, names: list[bytes], number: int) -> Child:
    if number <= len(names):
        name = names[number - 1].decode("utf-8", "replace").replace("\\", "/").rsplit("/", 1)[-1]
    else:
        name = f"smuggled-{number}.{_EXTENSION_FOR_MIME.get(mime) or _EXTENSION_FOR_KIND.get(kind, 'bin')}"
    return Child(
        name=name or f"smuggled-{number}",
        open=lambda: io.BytesIO(data),
        declared_size=len(data),
        info={"embedded_as": f"HTML {how}", "declared_type": mime},
    )
