"""HTML, HTA, SVG and XML pages: scripts and what they do, smuggling, automatic redirects.

What an ordinary page has (links, pictures, styles, even scripts on a saved web page) is
not a finding; links are indicators. What is:

- ``ShortCut`` command buttons (the HTML Help ActiveX control, CLSID
  ``adb880a6-d8ff-11cf-9377-00aa003b7a11``) that run a program from a CHM page;
- script that reaches for Windows components able to run programs or write files
  (``WScript.Shell``, ``Shell.Application``, ``ActiveXObject`` ...): HTA-style code;
- HTML smuggling: a script that builds a file in the browser from hidden data
  (``atob``/base64 + ``Blob``/``msSaveOrOpenBlob``/``createObjectURL`` + a download);
  the blob itself is decoded by :mod:`filewall.extract.html` and judged as a child;
- ``<meta http-equiv="refresh">`` straight to a download, or to another site;
- SVG pictures with script (``<script>``, ``on...=`` handlers, ``javascript:`` links).

Nothing is executed; the checks read the text.
"""

from __future__ import annotations

import html as html_module
import re
from typing import TYPE_CHECKING

from ..extract._docs import add_urls, shorten
from ..registry import analyzer

if TYPE_CHECKING:
    from ..content import Content
    from ..engine import ScanContext
    from ..model import Node

#: Page text read for the checks.
MAX_TEXT = 16 * 1024 * 1024

#: Lower-case substrings one of which every check below needs (cheap gate for big XML).
_MARKERS = (b"<script", b"script:", b"onload", b"onerror", b"onclick", b"onmouseover", b"onfocus", b"onbegin",
            b"onend", b"onactivate", b"onpageshow", b"onanimationstart", b"ontoggle", b"activex", b"wscript",
            b"shell.application", b"http-equiv", b"adb880a6", b"base64", b"atob", b"href", b"src", b"action",
            b"createobject", b"location")

# The patterns below run on a lower-cased copy of the page, without re.I: a literal
# prefix lets the regex engine skip ahead, which re.I prevents (10 s vs 0.3 s on 4 MB).
_SCRIPT_TAG_RE = re.compile(r"<script\b")
_HANDLER_RE = re.compile(r"<[a-z][^>]{0,2000}?\son(?:load|error|click|mouseover|focus|begin|end|activate|"
                         r"pageshow|animationstart|toggle)\s*=")
_JS_URL_RE = re.compile(r"""(?:href|src|action)\s*=\s*["']?\s*(?:java|vb)script:""")
_SHORTCUT_RE = re.compile(r"clsid:\s*adb880a6-d8ff-11cf-9377-00aa003b7a11")
_SHORTCUT_COMMAND_RE = re.compile(r"""<param\s+name\s*=\s*["']?command["']?\s+value\s*=\s*["']?shortcut""")
_ITEM1_RE = re.compile(r"""<param\s+name\s*=\s*["']?item1["']?\s+value\s*=\s*(["'])(.{0,500}?)\1""", re.S)
_WINDOWS_COMPONENTS = [
    (re.compile(r"wscript\.shell"), "WScript.Shell"),
    (re.compile(r"shell\.application"), "Shell.Application"),
    (re.compile(r"scripting\.filesystemobject"), "Scripting.FileSystemObject"),
    (re.compile(r"adodb\.stream"), "ADODB.Stream"),
    (re.compile(r"getobject\s*\(\s*[\"']winmgmts"), "WMI"),
    (re.compile(r"activexobject\s*\("), "ActiveXObject"),
    (re.compile(r"createobject\s*\("), "CreateObject"),
    (re.compile(r"<msxsl:script\b"), "msxsl:script"),
]
#: The three steps of smuggling; each a list of literal-led patterns (an alternation
#: or a leading \b would make the engine try every position).
_SMUGGLING = {
    "decode": [re.compile(r"atob\s*\("), re.compile("base64,"), re.compile("uint8array"),
               re.compile("fromcharcode")],
    "build": [re.compile(r"blob\s*\("), re.compile("mssaveoropenblob"), re.compile("mssaveblob"),
              re.compile(r"createobjecturl\s*\("), re.compile(r"data:application/")],
    "save": [re.compile(r"\.download\s*="), re.compile(r"download\s*=\s*[\"']"), re.compile("mssaveoropenblob"),
             re.compile("mssaveblob"), re.compile(r"\.click\s*\(\s*\)")],
}
_META_REFRESH_RE = re.compile(r"""<meta\b[^>]*http-equiv\s*=\s*["']?refresh["']?[^>]*>""")
_CONTENT_ATTR_RE = re.compile(r"""content\s*=\s*(["'])(.*?)\1""", re.S)
_REFRESH_URL_RE = re.compile(r"""url\s*=\s*['"]?([^'"\s>]+)""", re.I)
_LOCATION_RE = re.compile(r"""(?:window\.|document\.|top\.|self\.)?location(?:\.href)?\s*=\s*["']([^"']{4,500})["']|"""
                          r"""location\.(?:replace|assign)\s*\(\s*["']([^"']{4,500})["']""")
_LINK_RE = re.compile(r"""(?:href|src|action|data|xlink:href)\s*=\s*["']((?:https?|ftp)://[^"'<>\s]{1,2000})["']""")
#: Pages at most this long are "just a redirect" when their script sets the location.
_REDIRECT_PAGE = 16 * 1024
#: Endings of a download a page should never start by itself.
_DOWNLOAD_EXT_RE = re.compile(
    r"\.(?:exe|scr|com|pif|msi|msix|appx|bat|cmd|ps1|vbs|vbe|js|jse|wsf|hta|lnk|iso|img|vhd|vhdx|zip|rar|7z|"
    r"cab|jar|apk|dll|chm|one|docm|xlsm|pptm|dotm|xll)(?:$|[?#])",
    re.I,
)


class Page:
    """The page text, and a lower-cased copy to search; values are cut from the original."""

    def __init__(self, text: str):
        self.text = text
        self.low = text.lower()
        # str.lower() keeps positions except for a few letters (İ); then values come lower-cased.
        self.aligned = len(self.low) == len(text)

    def value(self, match: re.Match, group: int) -> str:
        if match.group(group) is None:
            return ""
        return self.text[match.start(group):match.end(group)] if self.aligned else match.group(group)


@analyzer("html", "hta", "svg", "xml", order=40)
def page(node: Node, content: Content, ctx: ScanContext) -> None:
    data = bytes(content.view()[:MAX_TEXT])
    if not any(marker in data.lower() for marker in _MARKERS):
        return  # nothing active and no link: the regexes below would find nothing
    text = Page(_decode(data))
    _shortcut_buttons(node, text, ctx)
    _windows_components(node, text, ctx)
    _smuggling(node, text, ctx)
    _refresh(node, text, ctx)
    _scripts(node, text, ctx)
    add_urls(node, [html_module.unescape(text.value(match, 1)) for match in _first(_LINK_RE, text.low, 500)])


def _first(pattern: re.Pattern, text: str, limit: int) -> list[re.Match]:
    matches = []
    for match in pattern.finditer(text):
        matches.append(match)
        if len(matches) >= limit:
            break
    return matches


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030", "replace")


def _shortcut_buttons(node: Node, page: Page, ctx: ScanContext) -> None:
    if not (_SHORTCUT_RE.search(page.low) and _SHORTCUT_COMMAND_RE.search(page.low)):
        return
    match = _ITEM1_RE.search(page.low)
    command = html_module.unescape(page.value(match, 2)).strip(" ,") if match else "a command"
    ctx.fact(node, "html.shortcut_command", command=shorten(command.replace(",", " ", 2)))


def _windows_components(node: Node, page: Page, ctx: ScanContext) -> None:
    if not (_SCRIPT_TAG_RE.search(page.low) or node.kind in ("hta", "xml")):
        return  # the words in a page's visible text are not code
    found = [name for pattern, name in _WINDOWS_COMPONENTS if pattern.search(page.low)]
    # CreateObject alone is VBScript's everyday "new"; it counts with a component only.
    if found and found != ["CreateObject"]:
        ctx.fact(node, "html.runs_programs", evidence=", ".join(found[:6]))


def _smuggling(node: Node, page: Page, ctx: ScanContext) -> None:
    hits = {step: next((match for pattern in patterns if (match := pattern.search(page.low))), None)
            for step, patterns in _SMUGGLING.items()}
    if all(hits.values()):
        evidence = ", ".join(shorten(page.value(match, 0), 40) for match in hits.values() if match)
        ctx.fact(node, "html.smuggling", evidence=evidence)


def _refresh(node: Node, page: Page, ctx: ScanContext) -> None:
    targets = []
    for tag in _first(_META_REFRESH_RE, page.low, 10):
        content_attr = _CONTENT_ATTR_RE.search(page.value(tag, 0))
        url = _REFRESH_URL_RE.search(html_module.unescape(content_attr.group(2))) if content_attr else None
        if url:
            targets.append(url.group(1))
    if _SCRIPT_TAG_RE.search(page.low) and len(page.text) <= _REDIRECT_PAGE:
        # Only on a small page: a saved shop page sets location in a hundred places.
        targets += [page.value(match, 1) or page.value(match, 2) for match in _first(_LOCATION_RE, page.low, 10)]
    for target in targets:
        add_urls(node, [target] if "://" in target else [])
        if _DOWNLOAD_EXT_RE.search(target):
            ctx.fact(node, "html.refresh_download", url=shorten(target))
        elif re.match(r"(?:https?:)?//", target, re.I):
            ctx.fact(node, "html.redirect", url=shorten(target))


def _scripts(node: Node, page: Page, ctx: ScanContext) -> None:
    evidence = []
    if _SCRIPT_TAG_RE.search(page.low):
        evidence.append("<script>")
    if _HANDLER_RE.search(page.low):
        evidence.append("event handler (on...=)")
    if _JS_URL_RE.search(page.low):
        evidence.append("javascript: link")
    if not evidence:
        return
    if node.kind == "svg":
        ctx.fact(node, "svg.script", evidence=", ".join(evidence))
    elif node.kind == "html":
        ctx.fact(node, "html.script")
