"""``filewall icap``: an ICAP server (RFC 3507) for proxies such as Squid.

- ``OPTIONS``: the service's methods, ``ISTag`` (changes when rules or blocklists
  change), ``Preview: 1024``, ``Allow: 204``, ``Options-TTL``, ``Max-Connections``;
- ``RESPMOD`` (downloads) and ``REQMOD`` (uploads; ``multipart/form-data`` is split and
  each file part is scanned under its own name): the encapsulated HTTP message is read
  with its ``Encapsulated`` offsets and its chunked body, including the preview
  exchange (``100 Continue`` unless the preview held the whole body, ``ieof``);
- a file that passes gets ``204 No Content`` (or, when the client did not send
  ``Allow: 204`` and the body came after a preview, ``200`` with the message unchanged);
- a file that is blocked gets ``200`` carrying an HTTP ``403`` page that says, in Chinese
  and English, which file was stopped and why, with its verdict and SHA-256.

Service names: ``/respmod`` (RESPMOD), ``/reqmod`` (REQMOD); any other name, e.g.
``/filewall`` or ``/avscan``, takes both. What counts as blocked (``suspicious`` and
``error`` by default too) is explained in :mod:`filewall.protocols`. Bodies larger than
``--max-object-mb`` are blocked with a page that says so, never passed unchecked.

Squid::

    icap_enable on
    icap_preview_enable on
    icap_preview_size 1024
    icap_service fw_resp respmod_precache icap://127.0.0.1:1344/respmod bypass=off
    icap_service fw_req reqmod_precache icap://127.0.0.1:1344/reqmod bypass=off
    adaptation_access fw_resp allow all
    adaptation_access fw_req allow all
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import html
import logging
import os
import signal
import socket
import socketserver
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

from .. import __version__
from . import Answer, BodySpool, ProtocolScanner, SocketReader, rules_fingerprint
from . import ConnectionClosed as _Closed

log = logging.getLogger(__name__)

MiB = 1024 * 1024
DEFAULT_MAX_OBJECT = 100 * MiB
#: A body over the limit is still read (and dropped) up to this much, to answer it cleanly.
DRAIN_MAX = 256 * MiB
PREVIEW = 1024
MAX_HEADER = 64 * 1024
SERVICES = {"respmod": ("RESPMOD",), "reqmod": ("REQMOD",)}
BOTH = ("RESPMOD", "REQMOD")
REASONS = {
    100: "Continue", 200: "OK", 204: "No Content", 400: "Bad Request", 404: "ICAP Service Not Found",
    405: "Method Not Allowed", 413: "Request Entity Too Large", 500: "Server Error", 501: "Method Not Implemented",
    505: "ICAP Version Not Supported",
}  # fmt: skip


class _TooLarge(Exception):
    pass


@dataclass
class HttpPart:
    """An encapsulated HTTP header block: its first line and headers (raw bytes kept)."""

    raw: bytes
    first_line: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def parse(cls, raw: bytes) -> HttpPart:
        # Proxies pass non-ASCII URLs and file names as raw UTF-8 more often than not.
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        lines = text.split("\r\n")
        part = cls(raw, lines[0] if lines else "")
        for line in lines[1:]:
            if not line:
                break
            name, _, value = line.partition(":")
            part.headers.append((name.strip(), value.strip()))
        return part

    def get(self, name: str, default: str = "") -> str:
        lower = name.lower()
        for key, value in self.headers:
            if key.lower() == lower:
                return value
        return default


@dataclass
class IcapRequest:
    method: str
    uri: str
    service: str
    headers: dict[str, str]
    req_hdr: HttpPart | None = None
    res_hdr: HttpPart | None = None
    body_kind: str = "null-body"
    preview: int | None = None


class IcapServer:
    def __init__(
        self,
        scanner: ProtocolScanner,
        host: str = "127.0.0.1",
        port: int = 1344,
        max_object: int = DEFAULT_MAX_OBJECT,
        timeout: float = 120.0,
        max_connections: int = 100,
    ):
        self.scanner = scanner
        self.max_object = max_object
        self.timeout = timeout
        self.max_connections = max_connections
        self.istag = f'"FW-{rules_fingerprint()}"'
        self._stopped = threading.Event()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                _Connection(outer, self.request).run()

        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server_class = type(
            "IcapTCPServer",
            (socketserver.ThreadingTCPServer,),
            {"address_family": family, "allow_reuse_address": True, "daemon_threads": True},
        )
        self.server = server_class((host, port), Handler)
        self.port = self.server.server_address[1]
        self.host = host
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )

    def start(self) -> IcapServer:
        self._thread.start()
        return self

    def wait(self) -> None:
        self._stopped.wait()

    def close(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.server.shutdown()
        self.server.server_close()
        self.scanner.close()


class _Connection(SocketReader):
    max_unterminated = MAX_HEADER

    def __init__(self, server: IcapServer, sock: socket.socket):
        self.server = server
        self.sock = sock
        self.buffer = bytearray()

    def run(self) -> None:
        self.sock.settimeout(self.server.timeout)
        try:
            while self._one():
                pass
        except (_Closed, OSError, TimeoutError):
            pass
        except Exception:
            log.exception("ICAP connection failed")
            with contextlib.suppress(OSError):
                self._respond(500, {})

    # -- one request -------------------------------------------------------------------
    def _one(self) -> bool:
        try:
            head = self._read_until(b"\r\n\r\n")
        except _Closed:
            return False
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            self._respond(400, {})
            return False
        method, uri, version = parts
        if version != "ICAP/1.0":
            self._respond(505, {})
            return False
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        service = urllib.parse.urlsplit(uri).path.strip("/").split("/")[0].lower() or "filewall"
        methods = SERVICES.get(service, BOTH)
        keep_alive = headers.get("connection", "").lower() != "close"
        if method == "OPTIONS":
            self._discard_encapsulated(headers)
            self._options(methods)
            return keep_alive
        if method not in BOTH:
            self._discard_encapsulated(headers)
            self._respond(501, {})
            return keep_alive
        if method not in methods:
            self._discard_encapsulated(headers)
            self._respond(405, {})
            return keep_alive
        request = self._read_request(method, uri, service, headers)
        if request is None:
            return False
        return self._modify(request) and keep_alive

    def _options(self, methods: tuple[str, ...]) -> None:
        self._respond(
            200,
            {
                "Methods": ", ".join(methods),
                "Service": f"filewall/{__version__} ICAP",
                "Service-ID": "filewall",
                "Max-Connections": str(self.server.max_connections),
                "Options-TTL": "3600",
                "Allow": "204",
                "Preview": str(PREVIEW),
                "Transfer-Preview": "*",
                "Encapsulated": "null-body=0",
            },
        )

    def _read_request(
        self, method: str, uri: str, service: str, headers: dict[str, str]
    ) -> IcapRequest | None:
        request = IcapRequest(method, uri, service, headers)
        if "preview" in headers:
            with contextlib.suppress(ValueError):
                request.preview = int(headers["preview"])
        sections = _parse_encapsulated(headers.get("encapsulated", ""))
        if sections is None:
            self._respond(400, {})
            return None
        position = 0
        for index, (name, offset) in enumerate(sections):
            if name.endswith("-hdr"):
                end = sections[index + 1][1] if index + 1 < len(sections) else offset
                raw = self._read_exact(end - position)
                position = end
                part = HttpPart.parse(raw)
                if name == "req-hdr":
                    request.req_hdr = part
                else:
                    request.res_hdr = part
            else:
                request.body_kind = name
        return request

    def _modify(self, request: IcapRequest) -> bool:
        if request.body_kind not in ("req-body", "res-body"):
            # Nothing to scan (a GET without a body, headers only).
            self._respond(204, {"Encapsulated": "null-body=0"})
            return True
        with self._spool() as spool:
            try:
                after_preview = self._read_body(request, spool)
            except _TooLarge:
                self._send_block(request, None, too_large=True)
                return True  # the body was read to its end: the connection is still in step
            self._answer(request, spool.finish(), after_preview)
        return True

    def _read_body(self, request: IcapRequest, spool: BodySpool) -> bool:
        """Read the body, with its preview exchange; True when the rest came after a preview."""
        if request.preview is None:
            self._read_chunks(spool)
            return False
        if self._read_chunks(spool, preview=True):
            return False
        self._respond(100, {})
        self._read_chunks(spool)
        return True

    def _answer(self, request: IcapRequest, data: bytes | str, after_preview: bool) -> None:
        answers = self._scan(request, data)
        blocked = [(name, answer) for name, answer in answers if answer.infected or answer.error]
        if blocked:
            self._send_block(request, blocked[0])
        elif "204" in request.headers.get("allow", "") or not after_preview:
            # After a preview that held the whole body (or with Allow: 204) 204 is allowed.
            self._respond(204, {"Encapsulated": "null-body=0"})
        else:
            self._echo(request, data)

    # -- scanning ----------------------------------------------------------------------
    def _scan(self, request: IcapRequest, data: bytes | str) -> list[tuple[str, Answer]]:
        url = _request_url(request.req_hdr)
        name = _file_name(request.res_hdr, url) if request.method == "RESPMOD" else _file_name(None, url)
        content_type = (request.req_hdr.get("Content-Type") if request.req_hdr else "") or ""
        if request.method == "REQMOD" and content_type.lower().startswith("multipart/form-data"):
            raw = data if isinstance(data, bytes) else open(data, "rb").read()
            files = _multipart_files(content_type, raw)
            if files:
                return [
                    (part_name, self.server.scanner.scan(body, part_name, method=request.method, url=url)[1])
                    for part_name, body in files
                ]
        return [(name, self.server.scanner.scan(data, name, method=request.method, url=url)[1])]

    # -- answers -----------------------------------------------------------------------
    def _send_block(
        self, request: IcapRequest, blocked: tuple[str, Answer] | None, too_large: bool = False
    ) -> None:
        if too_large:
            name = _file_name(
                request.res_hdr if request.method == "RESPMOD" else None, _request_url(request.req_hdr)
            )
            page = block_page(name, None, too_large=self.server.max_object)
        else:
            name, answer = blocked
            page = block_page(name, answer)
        body = page.encode("utf-8")
        http_head = (
            "HTTP/1.1 403 Forbidden\r\n"
            "Content-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Cache-Control: no-store\r\n"
            "X-Filewall-Verdict: " + ("too-large" if too_large else blocked[1].verdict) + "\r\n"
            "Connection: close\r\n\r\n"
        ).encode("latin-1")
        headers = {"Encapsulated": f"res-hdr=0, res-body={len(http_head)}"}
        if not too_large:
            headers["X-Infection-Found"] = f"Type=0; Resolution=2; Threat={blocked[1].name or 'filewall'};"
            headers["X-Violations-Found"] = f"1\r\n\t{name}\r\n\t{blocked[1].name}\r\n\t0\r\n\t2"
        self._respond(200, headers, http_head + _chunk(body))

    def _echo(self, request: IcapRequest, data: bytes | str) -> None:
        """The message unchanged (a clean body after a preview, without Allow: 204)."""
        head = request.res_hdr if request.method == "RESPMOD" else request.req_hdr
        head_raw = head.raw if head is not None else b""
        body = data if isinstance(data, bytes) else open(data, "rb").read()
        kind = "res" if request.method == "RESPMOD" else "req"
        if head is None:
            headers = {"Encapsulated": f"{kind}-body=0"}
        else:
            headers = {"Encapsulated": f"{kind}-hdr=0, {kind}-body={len(head_raw)}"}
        self._respond(200, headers, head_raw + _chunk(body))

    def _respond(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        lines = [f"ICAP/1.0 {status} {REASONS.get(status, 'Unknown')}"]
        if status != 100:
            lines.append(f"ISTag: {self.server.istag}")
            lines.append(f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime())}")
            lines.append(f"Server: filewall/{__version__}")
            if status >= 400:
                headers = {**headers, "Encapsulated": "null-body=0"}
        lines += [f"{key}: {value}" for key, value in headers.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body)

    # -- reading -----------------------------------------------------------------------
    def _discard_encapsulated(self, headers: dict[str, str]) -> None:
        """Read past whatever a request we answer without looking carries."""
        sections = _parse_encapsulated(headers.get("encapsulated", "null-body=0")) or []
        if not sections:
            return
        name, offset = sections[-1]
        if offset:
            self._read_exact(offset)  # the header blocks
        if name in ("req-body", "res-body", "opt-body"):
            with self._spool() as spool, contextlib.suppress(_TooLarge):
                self._read_chunks(spool)

    def _spool(self) -> BodySpool:
        """Where a body goes: memory, then a temp file, never more than ``--max-object-mb``."""
        return BodySpool(
            self.server.max_object, prefix="filewall-icap-", temp_root=self.server.scanner.options.temp_root
        )

    def _read_chunks(self, spool: BodySpool, preview: bool = False) -> bool:
        """Read a chunked body to its last chunk into ``spool``; returns ieof (True unless a
        preview ended without it). Over the limit: the body is dropped, then :class:`_TooLarge`."""
        start = spool.size
        while True:
            size, extension = self._chunk_head()
            if size == 0:
                self._read_until(b"\r\n")  # the empty line (trailers are not used by ICAP)
                break
            if spool.admit(size):
                spool.append(self._read_exact(size))
                self._read_exact(2)
            else:
                self._drop_chunk(spool, start, size)
        if spool.over_limit:
            spool.discard()
            raise _TooLarge()
        return "ieof" in extension or not preview

    def _chunk_head(self) -> tuple[int, str]:
        """A chunk's size line: (size, extension)."""
        line = self._read_until(b"\r\n").decode("latin-1")
        size_text, _, extension = line.partition(";")
        try:
            return int(size_text.strip(), 16), extension
        except ValueError as error:
            raise _Closed() from error

    def _drop_chunk(self, spool: BodySpool, start: int, size: int) -> None:
        """A chunk past the limit. Read the rest and drop it (up to a bound, counted from
        ``start``), so that the answer is read by a client that is still sending rather than
        lost in a reset connection."""
        if spool.size - start > max(8 * (spool.limit - start), DRAIN_MAX):
            raise _Closed()
        spool.discard()
        self._skip(size + 2)

    def _skip(self, count: int) -> None:
        while count > 0:
            if not self.buffer:
                self._fill()
            step = min(count, len(self.buffer))
            del self.buffer[:step]
            count -= step


# -- helpers -------------------------------------------------------------------------------
def _parse_encapsulated(value: str) -> list[tuple[str, int]] | None:
    sections = []
    for item in value.split(","):
        name, _, offset = item.strip().partition("=")
        if not name:
            continue
        try:
            sections.append((name.strip().lower(), int(offset)))
        except ValueError:
            return None
    known = {"req-hdr", "res-hdr", "req-body", "res-body", "null-body", "opt-body"}
    if not sections or any(name not in known for name, _ in sections):
        return None
    return sections


def _chunk(body: bytes) -> bytes:
    return (f"{len(body):x}\r\n".encode() + body + b"\r\n" if body else b"") + b"0\r\n\r\n"


def _request_url(req_hdr: HttpPart | None) -> str:
    if req_hdr is None:
        return ""
    parts = req_hdr.first_line.split(" ")
    if len(parts) < 2:
        return ""
    target = parts[1]
    if target.startswith("/") and req_hdr.get("Host"):
        target = f"http://{req_hdr.get('Host')}{target}"
    return target


def _file_name(res_hdr: HttpPart | None, url: str) -> str:
    """The download's name: Content-Disposition's filename, else the URL's last segment."""
    if res_hdr is not None:
        disposition = res_hdr.get("Content-Disposition")
        if disposition:
            name = _disposition_filename(disposition)
            if name:
                return name
    path = urllib.parse.urlsplit(url).path
    name = urllib.parse.unquote(path.rsplit("/", 1)[-1]) if path else ""
    return name or "download"


def _disposition_filename(value: str) -> str:
    message = email.parser.HeaderParser(policy=email.policy.default).parsestr(
        f"Content-Disposition: {value}\n\n"
    )
    header = message["Content-Disposition"]
    with contextlib.suppress(Exception):
        name = header.params.get("filename")
        if name:
            return os.path.basename(str(name).replace("\\", "/"))
    return ""


def _multipart_files(content_type: str, body: bytes) -> list[tuple[str, bytes]]:
    """The file parts of a multipart/form-data upload: (file name, bytes)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    files = []
    if not message.is_multipart():
        return files
    for part in message.iter_parts():
        name = part.get_filename()
        if name is None:
            continue
        payload = part.get_payload(decode=True) or b""
        files.append((os.path.basename(name.replace("\\", "/")) or "upload", payload))
    return files


def block_page(name: str, answer: Answer | None, too_large: int | None = None) -> str:
    """The page shown instead of a blocked download or upload (Chinese first, then English)."""
    shown = html.escape(name)
    if too_large is not None:
        limit = f"{too_large // MiB} MB"
        zh = f"文件 {shown} 超过 {limit}，无法检查，已被拦截。请让对方压缩或拆分后重新发送。"
        en = f"The file {shown} is larger than {limit} and could not be checked, so it was blocked."
        detail = ""
    else:
        assert answer is not None
        zh_verdict = {"malicious": "危险", "suspicious": "可疑", "error": "无法检查"}.get(
            answer.verdict, answer.verdict
        )
        zh = f"文件 {shown} 已被拦截（{zh_verdict}）：{html.escape(answer.summary_zh or '')}"
        en = f"The file {shown} was blocked ({html.escape(answer.verdict)}): {html.escape(answer.summary or '')}"
        detail = f"<p class=detail>{html.escape(answer.name)}</p>"
    return (
        "<!doctype html><html lang=zh><head><meta charset=utf-8>"
        "<title>已拦截 · Blocked by filewall</title>"
        "<style>body{font-family:system-ui,'Noto Sans CJK SC',sans-serif;max-width:40em;margin:3em auto;"
        "padding:0 1em;color:#222}h1{color:#b00020}.detail{color:#666;font-family:monospace}</style>"
        "</head><body>"
        "<h1>已拦截 · Blocked</h1>"
        f"<p lang=zh>{zh}</p><p lang=zh>不要设法绕过拦截去打开它。如有疑问，请联系店铺管理员。</p>"
        f"<p lang=en>{en}</p><p lang=en>Do not try to get around this to open it. "
        "If in doubt, ask the shop's administrator.</p>"
        f"{detail}<p class=detail>filewall {html.escape(__version__)}</p>"
        "</body></html>"
    )


def serve(server: IcapServer) -> None:
    def stop(signum, frame) -> None:
        threading.Thread(target=server.close, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.start()
    server.wait()


__all__ = ["IcapServer", "block_page", "serve"]
