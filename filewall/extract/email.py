"""E-mail messages (``.eml``, MIME): attachments, inline parts, bodies and attached mails.

Parsed with the stdlib ``email`` package. Its MIME structure, base64 / quoted-printable
decoding and RFC 2231 parameters (``filename*=gbk''%B7%A2…``, continuations) are used as
they are; RFC 2047 words in names (``=?GB2312?B?…?=``) are decoded with ``email.header``.

Why ``compat32`` and not ``policy.default``: the modern header parser behind
``policy.default`` is quadratic on crafted parameter lists, and the parser calls it while
it reads the structure — a 500 KB message with 100 parts whose ``Content-Type`` holds 2,000
quote characters took 19 s to parse here, against 4 ms with ``compat32``. ``compat32``
still has quadratic spots on very long values, so :class:`_BoundedPolicy` cuts every header
value to :data:`MAX_HEADER_CHARS` (and :data:`MAX_PARAMS` parameters) *as it is read*; for ``Content-Type`` and
``Content-Disposition`` it keeps the parameters that matter (boundary, name, filename,
charset) so that padding a header cannot hide the parts behind it.

Around the parser:

- names that Chinese mail clients write as raw GBK bytes (no encoding at all) come out as
  surrogate escapes and are decoded here (UTF-8, else GB18030);
- ``x-uuencode`` parts are decoded with :mod:`.uuencode`; text bodies become children
  (``body.txt``, ``body.html``), where the uuencode extractor finds ``begin 644 name``
  blocks typed into them; BinHex and TNEF parts are left to their own extractors, which
  the engine picks by content;
- an attached message (``message/rfc822``) becomes a child ``.eml`` that the engine unpacks
  in turn, so a forwarded lure shows as its own level in the tree;
- the walk over parts is iterative and bounded by :data:`MAX_PARTS`.
"""

from __future__ import annotations

import binascii
import email.header
import io
import mimetypes
import quopri
import re
from collections.abc import Iterator
from email import policy
from email.message import Message
from email.parser import BytesFeedParser
from email.policy import Compat32

from ..engine import ExtractError
from ..registry import Child, extractor
from .uuencode import block_child, decode_name, find_blocks

#: Parts visited per message (attachments, bodies, containers); more is a bomb.
MAX_PARTS = 1000
#: Longest header value kept; real ones (a 100-character Chinese name in RFC 2231 form
#: is about 1,000 characters) are far shorter.
MAX_HEADER_CHARS = 4096
#: More parameters than this in one header is padding (each costs the parser a pass).
MAX_PARAMS = 64
#: Parameters kept when a Content-Type / Content-Disposition value is cut.
_KEEP_PARAM_RE = re.compile(
    r'(?i)(?:^|;)\s*((?:boundary|charset|name|filename)(?:\*\d{1,3})?\*?)\s*=\s*("[^"]{0,2048}"|[^;\s]{0,2048})'
)
_MAX_KEPT_PARAMS = 32
_UU_ENCODINGS = {"x-uuencode", "uuencode", "uue", "x-uue"}
_FEED_CHUNK = 1024 * 1024
#: Generator policy for re-writing an attached message: headers as they were sent.
_AS_IS = policy.compat32.clone(max_line_length=0)
#: Names for parts that have none, by content type.
_BODY_NAMES = {"text/plain": "body.txt", "text/html": "body.html"}


class _BoundedPolicy(Compat32):
    """``compat32`` that cuts long header values as the parser reads them (and says which)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        object.__setattr__(self, "cut_headers", [])

    def header_source_parse(self, sourcelines):
        name, value = super().header_source_parse(sourcelines)
        if len(value) > MAX_HEADER_CHARS or value.count(";") > MAX_PARAMS:
            self.cut_headers.append(name)
            value = _shorten(name, value)
        return name, value


def _shorten(name: str, value: str) -> str:
    """A long value cut down; MIME headers keep their type and the parameters that matter."""
    if name.lower() not in ("content-type", "content-disposition"):
        return value[:MAX_HEADER_CHARS]
    kept = _KEEP_PARAM_RE.findall(value)[:_MAX_KEPT_PARAMS]
    return value.split(";", 1)[0][:200] + "".join(f"; {key}={text}" for key, text in kept)


@extractor("email")
def email_parts(node, content, ctx) -> Iterator[Child]:
    """Bodies, attachments and attached messages of one message, in document order."""
    message, bounded = _parse(content.view())
    node.info["email"] = _summary(message)
    if bounded.cut_headers:
        node.info["email"]["headers_cut"] = sorted(set(bounded.cut_headers))[:20]
    names: dict[str, int] = {}
    for number, part in enumerate(_leaves(node, message, ctx), 1):
        yield _part_child(part, number, names)


def _parse(view) -> tuple[Message, _BoundedPolicy]:
    """Parse the whole message; a structure too deep for the parser is a plain error."""
    bounded = _BoundedPolicy()
    parser = BytesFeedParser(policy=bounded)
    try:
        for start in range(0, len(view), _FEED_CHUNK):
            parser.feed(bytes(view[start : start + _FEED_CHUNK]))
        return parser.close(), bounded
    except RecursionError as error:
        raise ExtractError("the message's parts are nested too deeply to read") from error


def _leaves(node, message: Message, ctx) -> Iterator[Message]:
    """Every part that holds content (not a multipart container), in document order."""
    stack = [message]
    seen = 0
    while stack:
        part = stack.pop()
        seen += 1
        if seen > MAX_PARTS:
            ctx.fact(node, "limit.members", limit=MAX_PARTS)
            return
        if part.get_content_maintype() == "multipart" and part.is_multipart():
            stack.extend(reversed(part.get_payload()))
        elif part.get_content_maintype() == "message" and part.get_content_type() != "message/rfc822":
            continue  # delivery reports and the like: header blocks, no files
        else:
            yield part


def _part_child(part: Message, number: int, names: dict[str, int]) -> Child:
    content_type = part.get_content_type()
    name = _part_name(part)
    info = {"content_type": content_type}
    encoding = part.get("content-transfer-encoding")
    if encoding:
        info["transfer_encoding"] = str(encoding).strip().lower()[:40]
    disposition = part.get_content_disposition()
    if disposition:
        info["disposition"] = disposition
    if content_type == "message/rfc822":
        return Child(
            _unique(name or f"attached-message-{number}.eml", names), lambda: _message_bytes(part), info=info
        )
    if not name:
        name = _BODY_NAMES.get(content_type) or f"part-{number}{_extension(content_type)}"
    return Child(_unique(name, names), lambda: io.BytesIO(_payload(part)), info=info)


def _part_name(part: Message) -> str | None:
    """The part's file name: RFC 2231 decoded by the parser, RFC 2047 and raw 8-bit here."""
    probe = _decoded_mime_headers(part)
    try:
        name = (probe or part).get_filename()
    except (LookupError, UnicodeError, ValueError):
        name = None  # a charset Python does not know
    if isinstance(name, str) and "=?" in name:
        name = _decode_words(name)
    return _fix_name(name)


def _decoded_mime_headers(part: Message) -> Message | None:
    """When the MIME headers carry raw 8-bit bytes (GBK names written by Chinese mail
    clients), a copy of them decoded as text; ``compat32`` would turn those bytes into
    replacement characters."""
    raw = [
        (key, value)
        for key, value in part.raw_items()
        if key.lower() in ("content-type", "content-disposition")
    ]
    if not any(_has_surrogates(value) for _, value in raw):
        return None
    probe = Message()
    for key, value in raw:
        probe[key] = (
            decode_name(value.encode("ascii", "surrogateescape")) if _has_surrogates(value) else value
        )
    return probe


def _has_surrogates(text: str) -> bool:
    return any("\udc80" <= char <= "\udcff" for char in text)


def _payload(part: Message) -> bytes:
    """The decoded bytes of a leaf part (base64, quoted-printable, uuencode or as is)."""
    encoding = str(part.get("content-transfer-encoding", "")).strip().lower()
    if encoding in _UU_ENCODINGS:
        raw = _raw_payload(part)
        block = next(find_blocks(raw, limit=1), None)
        if block is not None:
            return block_child(raw, block, "part").open().read()
        return raw
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _raw_payload(part: Message) -> bytes:
    """The part's body exactly as sent. ``get_payload(decode=False)`` re-decodes 8-bit
    bytes with the part's charset and loses them, so the stored text (ASCII plus the
    parser's surrogate escapes) is read directly."""
    payload = part._payload
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape")
    return b""


def _message_bytes(part: Message) -> io.BytesIO:
    """An attached message as bytes of its own (its headers kept as they were sent)."""
    payload = part.get_payload()
    if not isinstance(payload, list) or not payload:
        return io.BytesIO(_payload(part))
    data = payload[0].as_bytes(policy=_AS_IS)
    # Some senders encode the attached message itself; the parser read the encoded text
    # as a message without headers, so decode what it holds.
    encoding = str(part.get("content-transfer-encoding", "")).strip().lower()
    if encoding == "base64":
        data = binascii.a2b_base64(b"".join(data.split()), strict_mode=False)
    elif encoding == "quoted-printable":
        data = quopri.decodestring(data)
    return io.BytesIO(data)


def _fix_name(name: str | None) -> str | None:
    """Undo the parser's surrogate escapes for names sent as raw 8-bit bytes (GBK...)."""
    if not name:
        return None
    if _has_surrogates(name):
        name = decode_name(name.encode("utf-8", "surrogateescape"))
    return name.strip().strip("\x00") or None


def _decode_words(text: str) -> str:
    """Decode RFC 2047 encoded words; the raw text if they are malformed."""
    try:
        return str(email.header.make_header(email.header.decode_header(text)))
    except Exception:  # any malformed encoded word or unknown charset
        return text


def _unique(name: str, names: dict[str, int]) -> str:
    """Two parts with one name get ``name (2)`` so the tree tells them apart."""
    count = names.get(name, 0) + 1
    names[name] = count
    return name if count == 1 else f"{name} ({count})"


def _extension(content_type: str) -> str:
    return mimetypes.guess_extension(content_type, strict=False) or ".bin"


def _summary(message: Message) -> dict:
    """Sender and subject for the tree, decoded (RFC 2047, raw GBK) and cut short."""
    summary = {}
    for header in ("from", "to", "subject", "date"):
        raw = next((value for key, value in message.raw_items() if key.lower() == header), "")
        if raw:
            summary[header] = (_fix_name(_decode_words(raw[:1000])) or "")[:300]
    return summary
