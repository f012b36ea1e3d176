"""Servers that let existing tools use filewall unchanged: clamd and ICAP.

Both scan through :class:`ProtocolScanner`: isolated slots (:class:`filewall.worker.ScanSlots`,
one supervised child process per slot, killed and replaced on a crash, hang or memory
blow-up), counted in :mod:`filewall.metrics` and logged as structured events.

How a verdict is answered over a protocol that only knows "infected or not" is decided
here, once, by :class:`Answering`:

- ``malicious`` → infected, named ``Filewall.Malicious.<rule>``;
- ``suspicious`` → infected by default, named ``Filewall.Suspicious.<rule>``
  (``--suspicious ok`` makes it pass). A shop's mail server or file share should hold
  what filewall finds suspicious (an encrypted archive with no password, a macro
  document from a stranger): that is where these lures live, and the person who would
  open it is a support agent, not an analyst. The distinct name lets a mail filter
  quarantine ``Filewall.Suspicious.*`` while it rejects ``Filewall.Malicious.*``;
- ``error`` (the scan crashed, hung, blew a limit or the file is damaged) → infected by
  default, named ``Filewall.Error.<rule>``, because a file built to stall a scanner must
  not pass because it did (``--error error`` answers clamd's ``... ERROR`` instead,
  which most mail filters turn into a temporary failure). This follows ClamAV's own
  ``Heuristics.Limits.Exceeded`` and ``Heuristics.Broken.Executable`` detections.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from .. import __version__
from ..engine import ScanOptions
from ..limits import Limits
from ..logging import event
from ..metrics import METRICS
from ..worker import ScanSlots

log = logging.getLogger(__name__)

#: A request body (clamd INSTREAM, ICAP) is kept in memory up to this size, then spooled.
IN_MEMORY = 16 * 1024 * 1024
SUSPICIOUS_CHOICES = ("found", "ok")
ERROR_CHOICES = ("found", "error", "ok")


@dataclass(frozen=True)
class Answer:
    """What a protocol server says about one file."""

    infected: bool
    #: The signature-like name for an infected file (``Filewall.Malicious.type.executable``).
    name: str = ""
    #: True when the server should answer "error" rather than infected/clean.
    error: bool = False
    message: str = ""
    verdict: str = "clean"
    summary: str = ""
    summary_zh: str = ""


@dataclass
class Answering:
    """Verdict → protocol answer (see the module docstring for why these defaults)."""

    suspicious: str = "found"
    error: str = "found"

    def __post_init__(self) -> None:
        if self.suspicious not in SUSPICIOUS_CHOICES:
            raise ValueError(f"suspicious must be one of {', '.join(SUSPICIOUS_CHOICES)}")
        if self.error not in ERROR_CHOICES:
            raise ValueError(f"error must be one of {', '.join(ERROR_CHOICES)}")

    def answer(self, report: dict[str, Any]) -> Answer:
        verdict = report.get("verdict", "error")
        rule = _top_rule(report)
        common = {
            "verdict": verdict,
            "summary": report.get("summary", ""),
            "summary_zh": report.get("summary_zh", ""),
        }
        if verdict == "malicious":
            return Answer(True, f"Filewall.Malicious.{rule}", **common)
        if verdict == "suspicious":
            if self.suspicious == "ok":
                return Answer(False, **common)
            return Answer(True, f"Filewall.Suspicious.{rule}", **common)
        if verdict == "error":
            if self.error == "ok":
                return Answer(False, **common)
            if self.error == "error":
                reason = _one_line(report.get("summary") or "scan error")
                return Answer(False, error=True, message=reason, **common)
            return Answer(True, f"Filewall.Error.{rule}", **common)
        return Answer(False, **common)


def _top_rule(report: dict[str, Any]) -> str:
    findings = [item for item in report.get("findings", []) if item.get("score", 0) > 0] or report.get(
        "findings", []
    )
    rule = findings[0]["rule"] if findings else "unknown"
    # Signature names are one token: keep letters, digits, dots, dashes and underscores.
    return re.sub(r"[^A-Za-z0-9._-]", "_", rule)


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class ProtocolScanner:
    """Isolated scanning for a protocol server, with metrics and logs."""

    source: str
    workers: int = 0
    limits: Limits = field(default_factory=Limits.from_env)
    answering: Answering = field(default_factory=Answering)
    hard_timeout: float | None = None
    memory_limit: int | None = None
    max_tasks: int = 200

    def __post_init__(self) -> None:
        size = self.workers or max(1, os.cpu_count() or 1)
        self.slots = ScanSlots(
            size, hard_timeout=self.hard_timeout, memory_limit=self.memory_limit, max_tasks=self.max_tasks
        )
        self.options = ScanOptions(limits=self.limits)

    def scan(self, source: str | bytes, name: str, **fields: Any) -> tuple[dict[str, Any], Answer]:
        """Scan a path or bytes; returns the report dict and the protocol answer."""
        METRICS.in_flight.labels(self.source).inc()
        started = time.perf_counter()
        try:
            outcome = self.slots.scan(source, name, self.options)
        finally:
            METRICS.in_flight.labels(self.source).dec()
        seconds = time.perf_counter() - started
        report = outcome.report
        METRICS.observe_scan(self.source, report.get("verdict", "error"), seconds, outcome.failure)
        answer = self.answering.answer(report)
        sha256 = (report.get("tree") or {}).get("sha256")
        event(
            log,
            "scanned",
            source=self.source,
            file=name,
            sha256=sha256,
            verdict=report.get("verdict"),
            answer=answer.name or ("error" if answer.error else "ok"),
            failure=outcome.failure,
            ms=round(seconds * 1000, 2),
            **fields,
        )
        return report, answer

    def health(self) -> dict[str, Any]:
        return {"ok": True, "source": self.source, "slots": self.slots.size, "busy": self.slots.busy}

    def close(self) -> None:
        self.slots.close()


class ConnectionClosed(Exception):
    """The client went away, or the connection must be closed now."""


class SocketReader:
    """Buffered reads of one client socket, as both protocols need them: exactly ``count``
    bytes, or up to a marker. A client that sends more than ``max_unterminated`` bytes
    without the marker is cut off. Users set ``sock`` and ``buffer`` (a ``bytearray``);
    clamd overrides :meth:`_fill` to take file descriptors too."""

    max_unterminated = 64 * 1024
    sock: Any
    buffer: bytearray

    def _read_exact(self, count: int) -> bytes:
        while len(self.buffer) < count:
            self._fill()
        data = bytes(self.buffer[:count])
        del self.buffer[:count]
        return data

    def _read_until(self, marker: bytes) -> bytes:
        """The bytes before ``marker``; the marker itself is consumed."""
        while True:
            index = self.buffer.find(marker)
            if index >= 0:
                data = bytes(self.buffer[:index])
                del self.buffer[: index + len(marker)]
                return data
            if len(self.buffer) > self.max_unterminated:
                raise ConnectionClosed()
            self._fill()

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionClosed()
        self.buffer.extend(data)


class BodySpool:
    """A request body read piece by piece (clamd's INSTREAM, ICAP's chunked bodies).

    Kept in memory until more than ``in_memory`` bytes are held, then spooled to a temp
    file (named ``prefix...``) in ``temp_root``, the folder the scan-owned temp folders are
    made in (``None``: the system temp folder). ``limit`` is the most the body may hold:
    :meth:`admit` counts each piece before it is read, so a body over the limit is refused
    without being kept. The spool owns its temp file until :meth:`discard`, which a ``with``
    block calls on the way out, whatever happens::

        with BodySpool(limit, prefix="filewall-x-") as spool:
            while piece := next_length():
                if not spool.admit(piece):
                    ...  # over the limit
                spool.append(read(piece))
            scan(spool.finish())
    """

    def __init__(
        self,
        limit: int,
        *,
        prefix: str = "filewall-body-",
        in_memory: int = IN_MEMORY,
        temp_root: str | None = None,
    ):
        self.limit = limit
        self.prefix = prefix
        self.in_memory = in_memory
        self.temp_root = temp_root
        #: Bytes counted by :meth:`admit` so far (kept or not).
        self.size = 0
        self._held = 0
        self._chunks: list[bytes] = []
        self._file: Any = None
        self._path: str | None = None

    def __enter__(self) -> BodySpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()

    @property
    def over_limit(self) -> bool:
        """True once the bytes counted are more than ``limit``."""
        return self.size > self.limit

    @property
    def spooled(self) -> bool:
        """True when the body went to a temp file."""
        return self._path is not None

    def admit(self, length: int) -> bool:
        """Count ``length`` more bytes of body; False when that takes it over the limit."""
        self.size += length
        return not self.over_limit

    def append(self, data: bytes) -> None:
        """Keep ``data``: in memory, or in the temp file once the body has grown past ``in_memory``."""
        self._held += len(data)
        if self._path is None and self._held > self.in_memory:
            self._spill()
        if self._file is not None:
            self._file.write(data)
        else:
            self._chunks.append(data)

    def _spill(self) -> None:
        self._file = tempfile.NamedTemporaryFile(prefix=self.prefix, dir=self.temp_root, delete=False)
        self._path = self._file.name
        self._file.writelines(self._chunks)
        self._chunks = []

    def finish(self) -> bytes | str:
        """The body for the scanner: its bytes, or the temp file's path (closed; still owned here)."""
        if self._path is None:
            data = b"".join(self._chunks)
            self._chunks = [data]
            return data
        if self._file is not None:
            self._file.close()
            self._file = None
        return self._path

    def discard(self) -> None:
        """Drop the body and remove its temp file (safe to call again)."""
        self._chunks = []
        self._held = 0
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        if self._path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._path)
            self._path = None


def rules_fingerprint() -> str:
    """Changes whenever the rules or blocklists on disk change (ICAP ISTag, clamd VERSION)."""
    digest = hashlib.sha256(__version__.encode())
    try:
        from ..rulesets import blocklist_files, rule_files

        files = sorted(rule_files() + blocklist_files())
    except Exception:  # the rules cannot be listed: the tag still identifies this version
        log.warning("cannot list rule files for the rules fingerprint", exc_info=True)
        files = []
    for path in files:
        try:
            info = path.stat()
        except OSError:
            continue
        digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def parse_listen(text: str) -> tuple[str, Any]:
    """``tcp:HOST:PORT``, ``HOST:PORT``, ``unix:PATH`` → ("tcp", (host, port)) / ("unix", path)."""
    text = text.strip()
    if text.startswith("unix:"):
        path = text[5:]
        if not path:
            raise ValueError("unix: needs a socket path")
        return "unix", path
    if text.startswith("tcp:"):
        text = text[4:]
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"not a listen address: {text!r} (use tcp:HOST:PORT or unix:PATH)")
    return "tcp", (host.strip("[]") or "127.0.0.1", int(port))


__all__ = [
    "Answer",
    "Answering",
    "BodySpool",
    "ConnectionClosed",
    "ProtocolScanner",
    "SocketReader",
    "parse_listen",
    "rules_fingerprint",
]
