"""Indicators: URLs, domains and IP addresses a file mentions, for people and for hunting.

Runs after the other analyzers (``order=900``) so it also reads what they found and put
in ``node.info`` (an LNK's arguments, decoded PowerShell, a ``.url`` target ...). Results
go to ``node.info["indicators"]`` as ``{"type": "url"|"domain"|"ip", "value", "tags"}``,
deduplicated per node; :func:`filewall.policy.judge` gathers them for the whole tree
(``report.indicators``, each with ``where``). Not a finding.

Reserved names (``example.com``, ``.invalid``, ``.test`` ...) and special IP ranges
(loopback, private, documentation, link-local ...) are kept but tagged, so a test file's
``127.0.0.1`` does not look like a command server. XML namespace addresses
(``http://www.w3.org/2000/svg``) are names, not places, and are left out.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from ..registry import analyzer
from .script import read_text

HEAD_BYTES = 1024 * 1024
TAIL_BYTES = 64 * 1024
MAX_INDICATORS = 500
MAX_INFO_STRINGS = 2000
#: Kinds whose bytes are read as text for indicators.
TEXT_KINDS = {"text", "html", "xml", "svg", "hta", "url", "reg", "email", "script", "rtf", "uuencode", "mbox"}

#: Top-level domains accepted for bare names ("example.cn"); names that are also common
#: file extensions (.py, .pl, .sh, .md, .rs, .zip, .mov, .exe ...) are left out on purpose.
TLDS = frozenset({
    "com", "net", "org", "info", "biz", "edu", "gov", "mil", "int", "io", "co", "cc", "cn", "ru",
    "su", "ua", "by", "kz", "uk", "de", "fr", "nl", "be", "it", "es", "jp", "kr", "tw", "hk", "mo",
    "sg", "my", "th", "vn", "id", "ph", "in", "pk", "ir", "tr", "br", "ar", "mx", "cl", "au", "nz",
    "ca", "us", "eu", "ch", "at", "se", "no", "fi", "dk", "cz", "hu", "ro", "bg", "gr", "pt", "ie",
    "il", "za", "ng", "ke", "top", "xyz", "icu", "club", "site", "online", "shop", "store", "vip",
    "win", "bid", "loan", "work", "live", "life", "fun", "space", "tech", "website", "link", "click",
    "pw", "tk", "ml", "ga", "cf", "gq", "buzz", "cyou", "sbs", "bond", "asia", "mobi", "name", "pro",
    "app", "dev", "cloud", "tv", "me", "ws", "la", "ly", "gl", "gd", "to", "im", "gg", "ai", "cx",
    "nu", "ms", "vc", "fm", "am", "example", "invalid", "test", "localhost", "local", "onion",
})  # fmt: skip
#: RFC 2606/6761 names: kept, tagged ``reserved``.
RESERVED_SUFFIXES = (".invalid", ".test", ".example", ".localhost", ".local")
RESERVED_DOMAINS = {"example.com", "example.net", "example.org", "localhost"}
#: XML namespace hosts (identifiers, never fetched).
NAMESPACE_HOSTS = {
    "www.w3.org", "w3.org", "schemas.openxmlformats.org", "schemas.microsoft.com", "purl.org",
    "ns.adobe.com", "www.inkscape.org", "inkscape.sourceforge.net", "sodipodi.sourceforge.net",
    "creativecommons.org", "web.resource.org", "xml.org", "schemas.xmlsoap.org",
}  # fmt: skip

_URL_RE = re.compile(r"\b(?:https?|hxxps?|ftps?|fxp)://[^\s\"'<>()\[\]{}\\^`|]{1,2000}+", re.I)
_UNC_RE = re.compile(r"(?<![\w\\:])\\\\([a-z0-9][a-z0-9._-]{0,252})(?:@ssl)?(?:@\d{1,5})?\\", re.I)
# A method call or assignment ("element.click()", "window.top =") is code, not a name.
_DOMAIN_RE = re.compile(r"(?<![\w.-])(?:[a-z0-9-]{1,63}+\.)+[a-z]{2,24}+(?![\w-])(?!\s*[(=])", re.I)
#: First labels that mean "a program object", not a host: ``window.top``, ``this.name``.
_CODE_OBJECTS = frozenset({
    "window", "document", "this", "self", "parent", "top", "element", "el", "e", "btn", "button",
    "link", "a", "obj", "item", "node", "form", "event", "navigator", "location", "console", "math",
    "json", "object", "array", "string", "me",
})  # fmt: skip
_IPV4_RE = re.compile(
    r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\.?\d)"
)
_IPV6_RE = re.compile(r"(?<![\w:.])(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}(?![\w:])", re.I)
_TRAILING = ".,;:!?'\")]}>"
# Cheap tests run before the patterns above. Those start with a look-behind or ``\b``,
# so ``re`` tries them at every position of a long CSV or letter (~100 ms per MB); these
# start with a character ``re`` can skip ahead to.
_TLD_HINT_RE = re.compile(r"\.([a-z]{2,24})(?![\w-])", re.I)
_IPV4_HINT_RE = re.compile(r"\.\d{1,3}\.\d{1,3}\.\d")
_IPV6_HINT_RE = re.compile(r":[0-9a-f]{1,4}:", re.I)  # eight groups without "::" hold this


def find_indicators(text: str) -> list[dict[str, Any]]:
    """URLs, domains and IPs in ``text``, deduplicated, in order of first appearance."""
    found: dict[tuple[str, str], dict[str, Any]] = {}

    def add(kind: str, value: str) -> None:
        key = (kind, value.lower() if kind != "url" else value)
        if key not in found and len(found) < MAX_INDICATORS:
            found[key] = {"type": kind, "value": value, "tags": _tags(kind, value)}

    if "://" in text:
        for match in _URL_RE.finditer(text):
            url = _refang(match.group(0).rstrip(_TRAILING))
            host = _host(url)
            if not host or host in NAMESPACE_HOSTS:
                continue
            add("url", url)
            _add_host(host, add)
    if "\\\\" in text:
        for match in _UNC_RE.finditer(text):
            _add_host(match.group(1).lower(), add)
    if _mentions_tld(text):
        for match in _DOMAIN_RE.finditer(text):
            name = match.group(0).lower().rstrip(".")
            labels = name.split(".")
            if labels[-1] in TLDS and labels[0] not in _CODE_OBJECTS and name not in NAMESPACE_HOSTS:
                add("domain", name)
    if _IPV4_HINT_RE.search(text):
        for match in _IPV4_RE.finditer(text):
            add("ip", match.group(0))
    if ":" in text and ("::" in text or _IPV6_HINT_RE.search(text)):
        for match in _IPV6_RE.finditer(text):
            _add_ipv6(match.group(0), add)
    return list(found.values())


def _mentions_tld(text: str) -> bool:
    """Whether some ``.word`` in the text is a top-level domain (a domain may be there)."""
    return any(match.group(1).lower() in TLDS for match in _TLD_HINT_RE.finditer(text))


def _refang(url: str) -> str:
    return re.sub(r"(?i)^hxxp", "http", re.sub(r"(?i)^fxp", "ftp", url))


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""


def _add_host(host: str, add) -> None:
    if _is_ip(host):
        add("ip", host)
    elif "." in host or host == "localhost":
        add("domain", host)


def _add_ipv6(candidate: str, add) -> None:
    # "::" alone, "a::b" in C++ and "12:30:00" are not addresses: at least two groups,
    # and a digit unless there are three or more.
    groups = [group for group in candidate.split(":") if group]
    if len(groups) < 2 or (len(groups) == 2 and not any(char.isdigit() for char in candidate)):
        return
    try:
        address = ipaddress.IPv6Address(candidate)
    except ValueError:
        return
    add("ip", str(address))


_IP_CHARS = frozenset("0123456789abcdefABCDEF:.[]%")


def _is_ip(value: str) -> bool:
    if not _IP_CHARS.issuperset(value):  # a host name: skip the costly parse
        return False
    try:
        ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return False
    return True


def _tags(kind: str, value: str) -> list[str]:
    host = _host(value) if kind == "url" else value.lower()
    if _is_ip(host):
        return _ip_tags(ipaddress.ip_address(host.strip("[]")))
    if host == "localhost":
        return ["loopback"]
    if (
        host in RESERVED_DOMAINS
        or host.endswith(RESERVED_SUFFIXES)
        or host.endswith(tuple("." + name for name in RESERVED_DOMAINS))
    ):
        return ["reserved"]
    return []


_DOCUMENTATION = [
    ipaddress.ip_network(net)
    for net in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
]


def _ip_tags(address) -> list[str]:
    """Why an address is special; empty for an ordinary public address."""
    if address.is_loopback:
        return ["loopback"]
    if any(address in net for net in _DOCUMENTATION if net.version == address.version):
        return ["documentation", "reserved"]
    if address.is_unspecified:
        return ["unspecified"]
    if address.is_link_local:
        return ["link-local"]
    if address.is_multicast:
        return ["multicast"]
    if address.is_private:
        return ["private"]
    if address.is_reserved or not address.is_global:
        return ["reserved"]
    return []


def _info_strings(value: Any, depth: int = 0) -> Iterator[str]:
    """Every string in another analyzer's details (bounded in depth and count)."""
    if depth > 6:
        return
    if isinstance(value, str):
        yield value[:65536]
    elif isinstance(value, dict):
        for key, item in value.items():
            # Shortened quotes ("evidence") would give cut-off URLs; the full text is read anyway.
            if key not in ("indicators", "behaviours", "evidence"):
                yield from _info_strings(item, depth + 1)
    elif isinstance(value, (list, tuple, set)):
        for item in list(value)[:MAX_INFO_STRINGS]:
            yield from _info_strings(item, depth + 1)


@analyzer(name="indicators.extract", needs_content=False, order=900)
def extract_indicators(node, content, ctx) -> None:
    """Collect the node's indicators into ``node.info["indicators"]``."""
    parts = []
    if content is not None and node.kind in TEXT_KINDS:
        parts.append(read_text(content, HEAD_BYTES, TAIL_BYTES))
    strings = list(_info_strings(node.info))[:MAX_INFO_STRINGS]
    if strings:
        parts.append("\n".join(strings))
    if not parts:
        return
    indicators = find_indicators("\n".join(parts))
    if indicators:
        node.info["indicators"] = indicators
