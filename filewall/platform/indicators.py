"""What one scan report says about where it came from: the values campaigns are linked by.

:func:`from_report` reads a ``Report.to_dict()`` (as the engine returns it and the desk
stores it) plus what came with the file (the chat text, the sender account) and returns a
:class:`ReportIndicators`:

- **files**: every node with content, at every depth: SHA-256 (and MD5/SHA-1 for export),
  name, type, size, TLSH (when the scan ran with :func:`tlsh_hook`, or computed here from
  the top-level bytes when they are given) and the PE import hash;
- **values** ``(kind, value)``: ``sha256``, ``imphash``, ``url``, ``domain``, ``ip`` (from
  every node's ``info["indicators"]``, LNK targets and the report's own list) and
  ``sender``. IPs that are only a PE's version number (``1.1.0.14`` in ``FileVersion``)
  and IPs tagged ``reserved`` (LAN/loopback) are dropped: they name no one's server;
- **lure**: a :class:`LureFingerprint` of the conversation, for near-duplicate detection of
  the scripts fake customers paste into many shops' chats.

Fuzzy hashes: TLSH only (``py-tlsh==5.0.0``, the ``platform`` extra: it is published as
an sdist only, so it is compiled on the desk server and absent on shops' PCs, where the
hook simply records nothing). ssdeep is left out on purpose: the ``ssdeep`` package (3.4)
ships no wheels at all (``pip download
--only-binary=:all: ssdeep`` finds nothing; it builds against the C ``libfuzzy``, which
Windows shops do not have), and the pure-Python ``ppdeep`` is too slow for every member of
every upload. The literature also finds TLSH the more accurate of the two for clustering
(see :mod:`.correlate`).

Lure-text fingerprint: the chat is folded with :func:`filewall.chat.normalize.fold`
(NFKC, lower case, traditional → simplified, separators dropped), digit runs become ``#``
(order numbers and amounts change from chat to chat, the script does not), then the set of
character 4-grams ("shingles", Broder 1997) is summarised by a 64-value MinHash. Two
fingerprints' share of equal MinHash values estimates the Jaccard resemblance of their
shingle sets; :mod:`.correlate` finds candidates with LSH banding (Leskovec, Rajaraman &
Ullman, *Mining of Massive Datasets*, ch. 3: 16 bands × 4 rows ≈ threshold
``(1/16)^(1/4) = 0.5``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np

#: Kinds that link two reports on their own when equal (unless over-correlating).
STRONG_KINDS = ("sha256", "domain", "url", "ip", "sender")
#: Kinds that only add weight to a link found by something else.
WEAK_KINDS = ("imphash",)
KINDS = STRONG_KINDS + WEAK_KINDS
#: Verdicts (of the file) and chat risks that make a report worth correlating.
INTERESTING_VERDICTS = ("suspicious", "malicious")
INTERESTING_CHAT = ("medium", "high")

#: TLSH needs at least 50 bytes with some variety (trendmicro/tlsh README).
TLSH_MIN_BYTES = 50
TLSH_MAX_BYTES = 256 * 1024 * 1024
#: Files smaller than this do not link by hash (empty files, one-line notes).
MIN_LINK_SIZE = 16
#: Files smaller than this do not link by TLSH: on a few hundred bytes of text the
#: distance says more about the language than the author (TLSH, like ssdeep, is made for
#: files of kilobytes; the tlsh README's 50 bytes is the minimum to compute, not to trust).
TLSH_MIN_LINK_SIZE = 512

SHINGLE = 4
MINHASH_PERMUTATIONS = 64
#: Fewer shingles than this is too short a text to call two chats "the same script".
LURE_MIN_SHINGLES = 20
_DIGITS = re.compile(r"\d+")


def _seeds() -> np.ndarray:
    """Fixed per-permutation seeds, derived from names: the same on every machine."""
    return np.array(
        [int.from_bytes(hashlib.blake2b(f"minhash{i}".encode(), digest_size=8).digest(), "little")
         for i in range(MINHASH_PERMUTATIONS)],
        dtype=np.uint64,
    )  # fmt: skip


_SEEDS = _seeds()


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijection on 64-bit words that scatters every input bit."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@dataclass(frozen=True)
class LureFingerprint:
    #: The folded text (first 300 characters), for people reading a campaign.
    text: str
    shingles: int
    minhash: tuple[int, ...]

    def similarity(self, other: LureFingerprint) -> float:
        """Estimated Jaccard resemblance of the two shingle sets (0..1)."""
        if not self.minhash or len(self.minhash) != len(other.minhash):
            return 0.0
        same = sum(1 for x, y in zip(self.minhash, other.minhash, strict=True) if x == y)
        return same / len(self.minhash)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "shingles": self.shingles, "minhash": list(self.minhash)}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> LureFingerprint | None:
        if not data:
            return None
        return cls(
            text=data["text"], shingles=int(data["shingles"]), minhash=tuple(int(v) for v in data["minhash"])
        )


def normalize_lure(text: str) -> str:
    from ..chat.normalize import fold

    return _DIGITS.sub("#", fold(text or "").text).strip(" ,")


def lure_fingerprint(text: str | None) -> LureFingerprint | None:
    """The MinHash fingerprint of a chat text, or None when it is too short to compare."""
    folded = normalize_lure(text or "")
    if len(folded) < SHINGLE:
        return None
    shingles = {folded[i : i + SHINGLE] for i in range(len(folded) - SHINGLE + 1)}
    if len(shingles) < LURE_MIN_SHINGLES:
        return None
    values = np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(item.encode("utf-8"), digest_size=8).digest(), "little")
            for item in shingles
        ),
        dtype=np.uint64,
        count=len(shingles),
    )
    # One "permutation" per seed: mix(x XOR seed), a bijection of the 64-bit shingle hash
    # (uint64 arithmetic wraps, as intended).
    with np.errstate(over="ignore"):
        hashed = _mix(values[None, :] ^ _SEEDS[:, None])
    return LureFingerprint(
        text=folded[:300], shingles=len(shingles), minhash=tuple(int(v) for v in hashed.min(axis=1))
    )


# -- TLSH ---------------------------------------------------------------------------------------


def tlsh_of(data: bytes | memoryview | Iterable[bytes]) -> str | None:
    """The TLSH digest (``T1…``) of the bytes, or None when too short or too uniform
    (or when ``py-tlsh`` is not installed: it is the ``platform`` extra)."""
    try:
        import tlsh
    except ImportError:
        return None

    digest = tlsh.Tlsh()
    total = 0
    chunks = [data] if isinstance(data, bytes | bytearray | memoryview) else data
    for chunk in chunks:
        total += len(chunk)
        if total > TLSH_MAX_BYTES:
            return None
        digest.update(bytes(chunk))
    if total < TLSH_MIN_BYTES:
        return None
    digest.final()
    return digest.hexdigest() if digest.is_valid else None


def tlsh_hook(chain: Callable[[Any, Any], None] | None = None) -> Callable[[Any, Any], None]:
    """An ``ScanOptions.on_node`` hook that puts each node's TLSH in ``node.info["tlsh"]``.

    ``chain`` is another hook to call as well (the desk's safe-view collector, say).
    """

    def hook(node, content) -> None:
        try:
            if TLSH_MIN_BYTES <= (node.size or 0) <= TLSH_MAX_BYTES:
                view = content.view()
                value = tlsh_of(_pieces(view))
                if value:
                    node.info["tlsh"] = value
        finally:
            if chain is not None:
                chain(node, content)

    return hook


def _pieces(view, size: int = 1 << 20) -> Iterator[bytes]:
    buffer = memoryview(view)
    for start in range(0, len(buffer), size):
        yield buffer[start : start + size]


# -- one report ---------------------------------------------------------------------------------


@dataclass
class FileRef:
    sha256: str
    name: str
    type: str
    size: int
    depth: int
    md5: str | None = None
    sha1: str | None = None
    tlsh: str | None = None
    imphash: str | None = None
    #: It had members (an archive): its TLSH mostly measures the compression, not the
    #: content, so only its members are compared (research notes §3.3).
    container: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if value is not None}


@dataclass
class ReportIndicators:
    report_id: str
    shop_id: str
    seen_at: dt.datetime
    verdict: str = "clean"
    chat_risk: str = "low"
    sender: str | None = None
    files: list[FileRef] = field(default_factory=list)
    values: set[tuple[str, str]] = field(default_factory=set)
    lure: LureFingerprint | None = None

    @property
    def of_interest(self) -> bool:
        """A blocked file or a risky chat: only such reports seed or join campaigns."""
        return self.verdict in INTERESTING_VERDICTS or self.chat_risk in INTERESTING_CHAT

    def tlsh_digests(self) -> list[tuple[str, str]]:
        """``(sha256, tlsh)`` of every file that has one, each digest once."""
        seen: dict[str, str] = {}
        for item in self.files:
            if item.tlsh and item.size >= TLSH_MIN_LINK_SIZE and not item.container:
                seen.setdefault(item.tlsh, item.sha256)
        return [(sha, digest) for digest, sha in seen.items()]

    def to_dict(self) -> dict[str, Any]:
        return {
            "report_id": self.report_id,
            "shop_id": self.shop_id,
            "seen_at": self.seen_at.astimezone(dt.UTC).isoformat(),
            "verdict": self.verdict,
            "chat_risk": self.chat_risk,
            "sender": self.sender,
            "files": [item.to_dict() for item in self.files],
            "values": sorted([kind, value] for kind, value in self.values),
            "lure": self.lure.to_dict() if self.lure else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReportIndicators:
        seen = dt.datetime.fromisoformat(data["seen_at"])
        return cls(
            report_id=data["report_id"],
            shop_id=data["shop_id"],
            seen_at=seen if seen.tzinfo else seen.replace(tzinfo=dt.UTC),
            verdict=data.get("verdict", "clean"),
            chat_risk=data.get("chat_risk", "low"),
            sender=data.get("sender"),
            files=[FileRef(**item) for item in data.get("files", [])],
            values={(kind, value) for kind, value in data.get("values", [])},
            lure=LureFingerprint.from_dict(data.get("lure")),
        )


def normalize_sender(sender: str | None) -> str | None:
    value = " ".join((sender or "").split()).lower()
    return value[:256] or None


def normalize_domain(value: str) -> str:
    return value.strip().rstrip(".").lower()


def normalize_url(value: str) -> str:
    value = value.strip()
    if value.lower().startswith("hxxp"):
        value = "http" + value[4:]
    try:
        parts = urlsplit(value)
    except ValueError:
        return value
    if not parts.scheme or not parts.netloc:
        return value
    rest = value[len(parts.scheme) + 3 + len(parts.netloc) :]
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{rest}"


def _url_host(url: str) -> str | None:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.rstrip(".").lower() if host else None


def _walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.get("children") or []))


def _version_numbers(info: dict[str, Any]) -> set[str]:
    version = (info.get("pe") or {}).get("version") or {}
    found: set[str] = set()
    for value in version.values():
        found.update(re.findall(r"\d+(?:\.\d+){3}", str(value)))
    return found


def _add_indicator(values: set[tuple[str, str]], item: dict[str, Any], skip_ips: set[str]) -> None:
    kind, value = item.get("type"), str(item.get("value") or "")
    tags = item.get("tags") or []
    if not value:
        return
    if kind == "url":
        url = normalize_url(value)
        values.add(("url", url))
        host = _url_host(url)
        if host:
            values.add(
                ("ip" if re.fullmatch(r"[\d.]+|\[?[0-9a-f:]+\]?", host) else "domain", host.strip("[]"))
            )
    elif kind == "domain":
        values.add(("domain", normalize_domain(value)))
    elif kind == "ip":
        if value in skip_ips or "reserved" in tags:
            return
        values.add(("ip", value))


def from_report(
    report: dict[str, Any],
    *,
    report_id: str,
    shop_id: str,
    seen_at: dt.datetime,
    sender: str | None = None,
    chat_text: str | None = None,
    chat: dict[str, Any] | None = None,
    data: bytes | None = None,
) -> ReportIndicators:
    """The indicators of one report (``Report.to_dict()``).

    ``chat`` is the conversation's analysis (``analyze_chat(text).to_dict()``); when the text
    itself is not kept (the desk stores only the analysis), the lure fingerprint is taken
    from the quoted words of its reasons. ``data`` is the top-level file's bytes, to compute
    its TLSH when the scan did not.
    """
    tree = report.get("tree") or {}
    files: list[FileRef] = []
    values: set[tuple[str, str]] = set()
    skip_ips: set[str] = set()
    for node in _walk(tree):
        skip_ips |= _version_numbers(node.get("info") or {})
    for node in _walk(tree):
        info = node.get("info") or {}
        sha256 = node.get("sha256")
        for item in info.get("indicators") or []:
            _add_indicator(values, item, skip_ips)
        for url in (info.get("lnk") or {}).get("urls") or []:
            _add_indicator(values, {"type": "url", "value": url}, skip_ips)
        if not sha256:
            continue
        imphash = (info.get("pe") or {}).get("imphash") or None
        tlsh_value = info.get("tlsh")
        if tlsh_value is None and data is not None and node is tree:
            tlsh_value = tlsh_of(data)
        size = int(node.get("size") or 0)
        files.append(
            FileRef(
                sha256=sha256,
                name=str(node.get("name") or ""),
                type=str(node.get("type") or ""),
                size=size,
                depth=int(node.get("depth") or 0),
                md5=node.get("md5"),
                sha1=node.get("sha1"),
                tlsh=tlsh_value,
                imphash=imphash,
                container=True if node.get("children") else None,
            )
        )
        if size >= MIN_LINK_SIZE:
            values.add(("sha256", sha256))
        if imphash:
            values.add(("imphash", imphash))
    for item in report.get("indicators") or []:
        _add_indicator(values, item, skip_ips)
    sender = normalize_sender(sender)
    if sender:
        values.add(("sender", sender))
    chat = chat if chat is not None else report.get("chat")
    if chat_text is None and chat:
        chat_text = "\n".join(reason.get("quote", "") for reason in chat.get("reasons") or [])
    return ReportIndicators(
        report_id=report_id,
        shop_id=shop_id,
        seen_at=seen_at if seen_at.tzinfo else seen_at.replace(tzinfo=dt.UTC),
        verdict=str(report.get("verdict") or "clean"),
        chat_risk=str((chat or {}).get("risk") or "low"),
        sender=sender,
        files=files,
        values=values,
        lure=lure_fingerprint(chat_text),
    )
