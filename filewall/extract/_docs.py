"""Small helpers shared by the document extractors and analyzers (Office, RTF, PDF, HTML ...).

- :func:`disk_path`: some parsers (msodde, msoffcrypto on some formats) want a real file;
  the bytes are written once per scan into the scan's own temp folder.
- :func:`add_urls`: web addresses found in a document are put in ``node.info["urls"]``
  (deduplicated, bounded) for the indicators collector; finding one is never a finding.
- :func:`quiet_oletools`: oletools logs to the root logger on some paths; a scan prints
  nothing of its own.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..content import Content
    from ..engine import ScanContext
    from ..model import Node

#: Addresses kept per node; a page stuffed with links must not bloat the report.
MAX_URLS = 200

URL_RE = re.compile(r"""(?:https?|ftp)://[^\s"'<>\\\x00-\x1f()\[\]{}`^|]{2,2000}""", re.I)
URL_BYTES_RE = re.compile(rb"""(?:https?|ftp)://[^\s"'<>\\\x00-\x1f()\[\]{}`^|]{2,2000}""", re.I)
_NAMESPACE_RE = re.compile(
    r"https?://(?:www\.)?(?:w3\.org|schemas\.openxmlformats\.org|schemas\.microsoft\.com|purl\.org|ns\.adobe\.com|"
    r"schemas\.xmlsoap\.org|openoffice\.org/20\d\d|www\.inkscape\.org|creativecommons\.org/ns)[/#]",
    re.I,
)
UNC_RE = re.compile(r"^(?:\\\\|//)[^\\/\s]+[\\/]")

_STATE_PATHS = "documents.disk_paths"


def disk_path(content: Content, ctx: ScanContext, suffix: str = "") -> str:
    """A file holding ``content``'s bytes: its own spool file, or a copy in the scan temp folder."""
    if content.path_on_disk:
        return content.path_on_disk
    paths: dict[tuple[str, str], str] = ctx.state.setdefault(_STATE_PATHS, {})
    key = (content.sha256, suffix)
    if key not in paths:
        handle, path = tempfile.mkstemp(prefix="doc-", suffix=suffix, dir=ctx.temp_dir)
        with os.fdopen(handle, "wb") as stream:
            stream.write(content.view())
        paths[key] = path
    return paths[key]


def add_urls(node: Node, urls: Iterable[str]) -> None:
    """Record web addresses found in ``node`` (for the indicators collector), deduplicated."""
    found: list[str] = node.info.setdefault("urls", [])
    for url in urls:
        url = clean_url(url)
        if _NAMESPACE_RE.match(url):
            continue  # an XML namespace is a name, never fetched
        if url and url not in found and len(found) < MAX_URLS:
            found.append(url)
    if not found:
        node.info.pop("urls", None)


def clean_url(url: str) -> str:
    """Trim the punctuation a sentence or markup leaves glued to an address."""
    return url.strip().rstrip(".,;:'\")]}>").strip()


def urls_in_text(text: str) -> list[str]:
    return URL_RE.findall(text)


def urls_in_bytes(data: bytes) -> list[str]:
    return [match.decode("latin-1") for match in URL_BYTES_RE.findall(data)]


def is_remote(target: str) -> bool:
    """True for a target on another computer: a web address or a Windows network share."""
    lowered = target.strip().lower()
    if lowered.startswith(("http://", "https://", "ftp://", "webdav://")):
        return True
    if UNC_RE.match(target.strip()):
        return True
    # file://host/share (but not file:///C:/ which is this computer)
    return lowered.startswith("file://") and not lowered.startswith("file:///") and not re.match(
        r"file://[a-z]:", lowered
    )


def shorten(text: str, limit: int = 160) -> str:
    """One line, at most ``limit`` characters, for a message."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quiet_oletools() -> None:
    """Keep oletools' loggers silent: warnings about the sample are ours to report."""
    for name in ("olevba", "oleobj", "rtfobj", "msodde", "crypto", "ooxml", "xls_parser", "ppt_record_parser",
                 "olefile", "oleid", "ftguess", "record_base", "oleform", "msoffcrypto"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.CRITICAL + 1)
        logger.propagate = False
