"""Scripts and command text: what a script *does*, not what it is called.

The names analyzer already flags ``.bat``/``.ps1``/``.vbs``...; this module reads the text
(bat/cmd, PowerShell, VBScript, JScript, HTA, WSF, and the same commands hiding in ``.txt``,
HTML, XML or SVG) and records what it would do: download and run, decode hidden commands,
abuse Windows tools, start with Windows, hide its window, switch off protection.

Where the text sits decides how hard it is judged. A ``.bat`` runs whatever is inside when
double-clicked, so each behaviour is its own finding (``script.download_cradle`` ...). A
``.txt`` or web page holding the same commands does not run by itself; it gets one softer
finding, ``script.commands_in_text``, that says what the commands would do.

Matching works on a normalised copy of the text: carets (``p^o^w^e^r``), backticks
(``I`E`X``) and string concatenation (``'Down'+'loadString'``) are removed first, so the
patterns see what the interpreter sees. Encoded PowerShell (``-enc``) and base64 literals
are decoded and read again. Only the first 1 MiB and the last 64 KiB of a file are read,
and every pattern is written to run in linear time on hostile input.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeAlias

from ..registry import analyzer
from ..text import base_name

HEAD_BYTES = 1024 * 1024
TAIL_BYTES = 64 * 1024
QUOTE_CHARS = 100
MAX_QUOTES = 3
MAX_DECODE_DEPTH = 2
MAX_DECODES = 8
DECODED_KEEP = 2000

#: Extensions Windows runs on a double-click (``.ps1``: on "Run with PowerShell"), plus
#: scriptlets (``.sct``/``.wsc``, run by regsvr32) and MMC consoles (``.msc``, which run
#: embedded script: "GrimResource").
RUNNABLE_EXTENSIONS = {
    ".bat": "batch", ".cmd": "batch", ".ps1": "powershell", ".psm1": "powershell",
    ".vbs": "vbscript", ".vbe": "vbscript", ".js": "jscript", ".jse": "jscript",
    ".wsf": "wsf", ".wsh": "wsf", ".hta": "hta", ".sct": "scriptlet", ".wsc": "scriptlet",
    ".msc": "mmc console", ".inf": "setup information", ".scf": "shell command file",
}  # fmt: skip
#: Kinds analysed here. ``url`` and ``reg`` are parsed by :mod:`.shortcut_files`.
TEXT_KINDS = ("text", "hta", "html", "xml", "svg", "unknown", "script")
#: Kinds where a ``.js`` link or a base64 ``data:`` picture is ordinary web content.
WEB_KINDS = {"html", "svg", "xml"}

#: rule → (what it does, in the soft message; English, Chinese)
BEHAVIOURS = {
    "script.download_cradle": ("downloads and runs files from the internet", "从网上下载并运行文件"),
    "script.encoded_command": ("hidden encoded commands", "编码隐藏的命令"),
    "script.lolbin": ("misuses Windows system tools", "滥用 Windows 系统工具"),
    "script.autostart": ("makes something start with Windows", "设置开机自动启动"),
    "script.remote_executable": ("points to programs on the internet", "指向网络上的程序"),
    "script.hidden_window": ("runs commands in a hidden window", "在隐藏窗口中执行命令"),
    "script.disables_security": ("switches off security protection", "关闭安全防护"),
    "script.shellcode_loader": (
        "loads hidden machine code into memory and runs it",
        "把隐藏的机器码载入内存并运行",
    ),
    "script.obfuscated": ("deliberately scrambled code", "故意打乱的代码"),
}


@dataclass
class Evidence:
    """What the text would do: rule → short quotes, plus decoded hidden text."""

    quotes: dict[str, list[str]] = field(default_factory=dict)
    decoded: list[str] = field(default_factory=list)
    decodes: int = 0

    def add(self, rule: str, quote: str) -> None:
        found = self.quotes.setdefault(rule, [])
        if quote and quote not in found and len(found) < MAX_QUOTES:
            found.append(quote)

    def merge(self, other: Evidence, prefix: str = "") -> None:
        for rule, quotes in other.quotes.items():
            for quote in quotes:
                self.add(rule, prefix + quote)
        self.decoded.extend(other.decoded)

    def __bool__(self) -> bool:
        return bool(self.quotes)


#: A check reads normalised text and adds evidence: ``(text, evidence, web, depth)``.
Check: TypeAlias = Callable[[str, Evidence, bool, int], None]


# -- reading -------------------------------------------------------------------------------------


def read_text(content, head: int = HEAD_BYTES, tail: int = TAIL_BYTES) -> str:
    """The first ``head`` and last ``tail`` bytes of ``content``, decoded as text.

    Both parts are decoded with the encoding found at the start, so the tail of a big
    UTF-16 file stays readable.
    """
    view = content.view()
    size = len(view)
    if size <= head + tail:
        return decode_bytes(bytes(view))
    first = bytes(view[:head])
    codec, skip = _codec(first)
    start = size - tail
    if codec.startswith("utf-16"):
        start -= (start - skip) % 2  # stay on a character boundary
    last = bytes(view[start:])
    return _decode(first[skip:], codec) + "\n" + _decode(last, codec)


def decode_bytes(data: bytes) -> str:
    """Decode script text: BOMs, UTF-16 without BOM, UTF-8, then GB18030 (Chinese Windows)."""
    codec, skip = _codec(data)
    return _decode(data[skip:], codec)


def _codec(data: bytes) -> tuple[str, int]:
    """The encoding of ``data`` and the length of its byte-order mark."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8", 3
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) and not fake_utf16_bom(data):
        return ("utf-16-le" if data.startswith(b"\xff\xfe") else "utf-16-be"), 2
    # A false marker: cmd.exe reads the bytes after it as they are, and so do we.
    skip = 2 if data.startswith((b"\xff\xfe", b"\xfe\xff")) else 0
    sample = data[skip : skip + 4096]
    if len(sample) >= 8 and sample[1::2].count(0) > len(sample) // 2 * 0.9:
        return "utf-16-le", skip
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(sample) - 4:  # not just a character cut at the sample's end
            return "gb18030", skip
    return "utf-8", skip


def _decode(data: bytes, codec: str) -> str:
    if codec == "utf-8":
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("gb18030", "replace")
    return data.decode(codec, "replace")


def fake_utf16_bom(data: bytes) -> bool:
    """A UTF-16 byte-order mark on text that is not UTF-16.

    Editors then show Chinese-looking garbage while ``cmd.exe`` runs the batch file as
    plain text: a trick to hide commands from a person who looks at the file.
    """
    sample = data[2:4098]
    if not data.startswith((b"\xff\xfe", b"\xfe\xff")) or len(sample) < 8:
        return False
    zeros = sample[1::2] if data.startswith(b"\xff\xfe") else sample[0::2]
    return zeros.count(0) < len(zeros) * 0.1 and sum(32 <= byte < 127 for byte in sample) > 0.8 * len(sample)


_JOIN_RE = re.compile(r"""(["'])\s*[+&]\s*\1""")
_EMPTY_QUOTES_RE = re.compile(r'(?<=\w)""(?=\w)')


def normalize(text: str) -> str:
    """Undo cheap obfuscation so the patterns see what the interpreter runs."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("^", "").replace("`", "")
    text = _JOIN_RE.sub("", text)
    return _EMPTY_QUOTES_RE.sub("", text)


def defang(text: str) -> str:
    """Make links in quotes unclickable (``hxxp://``) wherever the report is shown."""
    return re.sub(r"(?i)\b(h)tt(ps?)(:|%3a)", r"\1xx\2\3", re.sub(r"(?i)\bftp://", "fxp://", text))


def quote(text: str, start: int, end: int) -> str:
    """The line around ``text[start:end]``, shortened and made safe to show."""
    line_start = max(text.rfind("\n", max(0, start - 300), start) + 1, start - 300)
    line_end = text.find("\n", end, end + 300)
    line_end = end + 300 if line_end < 0 else line_end
    line = " ".join(text[line_start:line_end].split())
    if len(line) > QUOTE_CHARS:
        # Start at the line's beginning when the match fits; else a little before it.
        fits = end - line_start <= QUOTE_CHARS - 10
        offset = 0 if fits else max(0, min(start - line_start - 30, len(line) - QUOTE_CHARS))
        line = ("…" if offset else "") + line[offset : offset + QUOTE_CHARS] + "…"
    return defang(line)


# -- patterns ------------------------------------------------------------------------------------

_I = re.IGNORECASE
_IM = re.IGNORECASE | re.MULTILINE
_PROGRAM_EXT = (
    r"(?:exe|dll|scr|pif|bat|cmd|ps1|psm1|vbs|vbe|js|jse|wsf|wsh|hta|msi|msix|msp|appx|appxbundle"
    r"|appinstaller|jar|lnk|url|cpl|sct|wsc|chm|inf|reg|iso|img|vhdx?)"
)
_AFTER_EXT = r"(?=$|[\s\"'<>?#&);,\]|])"

_DOWNLOAD = re.compile(
    r"downloadstring|downloadfile|downloaddata|\bopenread\b|invoke-webrequest|\biwr\b|invoke-restmethod"
    r"|\birm\b|start-bitstransfer|net\.webclient|\bcurl(?:\.exe)?\s|\bwget(?:\.exe)?\s"
    r"|msxml2\.(?:server)?xmlhttp|microsoft\.xmlhttp|winhttp\.winhttprequest|net\.http\.httpclient",
    _I,
)
_EXECUTE = re.compile(
    r"\biex\b|invoke-expression|invoke-command|start-process|\bsaps\b|invoke-item"
    r"|\[scriptblock\]::create|reflection\.assembly\]::load|\.invoke\(|(?<!&)&\s*\(|\|\s*&(?!&)"
    r"|\bstart\s+[\"']?[^\s\"'&|]+\.(?:exe|bat|cmd|vbs|js|hta|msi|scr)\b|\.shellexecute|\.run\b|\.exec\b"
    r"|\beval\s*\(|\bexecute(?:global)?\b|\brundll32|\bregsvr32|\bmsiexec|\bcmd(?:\.exe)?\s+/[ck]"
    r"|\bcall\s+\S+\.(?:exe|bat|cmd)\b|&&?\s*[\"']?[^\s&|\"']+\.(?:exe|bat|cmd|vbs|js|scr)\b",
    _I,
)
_CRADLES = [
    re.compile(r"\bcertutil(?:\.exe)?\b[^\n]{0,200}?-urlcache\b[^\n]{0,200}?(?:\s-f\b|https?://)", _I),
    re.compile(r"\bcertutil(?:\.exe)?\b[^\n]{0,200}?-verifyctl\b[^\n]{0,200}?https?://", _I),
    re.compile(r"\bbitsadmin(?:\.exe)?\b[^\n]{0,100}?/transfer\b", _I),
    re.compile(r"\bmshta(?:\.exe)?[\s\"']+(?:https?://|\\\\)", _I),
    re.compile(
        r"\bmsiexec(?:\.exe)?\b[^\n]{0,150}?(?:[/-]i|[/-]package|[/-]y)\s*[\"']?(?:https?://|\\\\)", _I
    ),
    re.compile(r"\bregsvr32(?:\.exe)?\b[^\n]{0,200}?[/-]i:\s*[\"']?(?:https?://|\\\\)", _I),
    re.compile(r"\bhh(?:\.exe)?\s+[\"']?https?://", _I),
]
_SAVE_TO_FILE = re.compile(r"\.savetofile\b", _I)

_ENCODED_ARG = re.compile(r"(?<![\w-])[-/](?:e|ec|en[a-z]{0,13})\s+[\"']?([A-Za-z0-9+/]{16,}+={0,2})", _I)
_B64_LITERAL = re.compile(r"frombase64string\s*\(\s*[\"']([A-Za-z0-9+/]{20,}+={0,2})[\"']", _I)
_FROM_B64 = re.compile(r"frombase64string", _I)
_RUNS_DECODED = re.compile(
    r"\biex\b|invoke-expression|\[scriptblock\]::create|assembly\]::load|\.invoke\(|gzipstream|deflatestream",
    _I,
)
_OTHER_ENCODED = [
    re.compile(r"\.datatype\s*=\s*[\"']bin\.base64[\"']", _I),
    re.compile(r"\beval\s*\(\s*(?:window\.)?atob\s*\(", _I),
    re.compile(r"\bcertutil(?:\.exe)?\b[^\n]{0,100}?-decode(?:hex)?\b", _I),
    # Python loaders ("qd.jpg" run by a bundled python.exe): exec of decoded bytes.
    re.compile(
        r"\bexec\s*\(\s*(?:base64\.b\d\ddecode|zlib\.decompress|marshal\.loads|bytes\.fromhex|codecs\.decode)",
        _I,
    ),
]
#: Putting machine code into memory and starting it, from PowerShell (Add-Type), Python
#: (ctypes), VBA/VBScript (Declare) or .NET: allocate, copy, run.
_ALLOCATE = re.compile(r"\b(?:virtualalloc(?:ex)?|virtualprotect(?:ex)?|ntallocatevirtualmemory)\b", _I)
_COPY = re.compile(
    r"\b(?:rtlmovememory|rtlcopymemory|writeprocessmemory|memmove|marshal\]::copy|marshal\.copy)\b", _I
)
_START = re.compile(
    r"\b(?:createthread|createremotethread|queueuserapc|enumsystemlocalesa?|enumwindows|etwpcreateetwthread"
    r"|certenumsystemstore|getdelegateforfunctionpointer|cfunctype|winfunctype)\b",
    _I,
)

_LOLBINS = [
    re.compile(r"\brundll32(?:\.exe)?[\s\"',]+[^\n]{0,200}?(?:,|javascript:)", _I),
    re.compile(r"\bregsvr32(?:\.exe)?\b[^\n]{0,200}?(?:[/-]i:|scrobj|\.sct\b|[/-]s\b)", _I),
    re.compile(r"\bmshta(?:\.exe)?[\s\"']+\S", _I),
    re.compile(r"\bcertutil(?:\.exe)?\b[^\n]{0,200}?-(?:urlcache|decode|decodehex|verifyctl|encode)\b", _I),
    re.compile(r"\bbitsadmin(?:\.exe)?\b[^\n]{0,200}?/(?:transfer|addfile|setnotifycmdline|create)\b", _I),
    re.compile(r"\bwmic(?:\.exe)?\b[^\n]{0,200}?(?:process\s+call\s+create|/format:)", _I),
    re.compile(r"\bschtasks(?:\.exe)?\b[^\n]{0,60}?[/-]create\b", _I),
    re.compile(r"\bforfiles(?:\.exe)?\b[^\n]{0,200}?[/-]c\s", _I),
    re.compile(r"\bpcalua(?:\.exe)?\s+[^\n]{0,50}?-a\s", _I),
    re.compile(r"\binstallutil(?:\.exe)?\s+[^\n]{0,200}?\.(?:dll|exe)\b", _I),
    re.compile(r"\bmsbuild(?:\.exe)?\s+[^\n]{0,200}?\.(?:xml|csproj|proj|targets)\b", _I),
    re.compile(r"\bcmstp(?:\.exe)?\s+[^\n]{0,100}?(?:[/-]s\b|[/-]ni\b|\.inf\b)", _I),
    re.compile(r"\bodbcconf(?:\.exe)?\s+[^\n]{0,100}?(?:[/-]a\b|[/-]f\b|regsvr)", _I),
    re.compile(r"\bregasm(?:\.exe)?\s|\bregsvcs(?:\.exe)?\s", _I),
    re.compile(r"\bmsiexec(?:\.exe)?\b[^\n]{0,150}?(?:[/-][iy]\b|[/-]q)[^\n]{0,150}?(?:https?://|\\\\)", _I),
    re.compile(r"\bhh(?:\.exe)?\s+[^\n]{0,100}?(?:https?://|-decompile)", _I),
    re.compile(r"\b[wc]script(?:\.exe)?\s+[^\n]{0,100}?(?://e:|//b\b|\.(?:vbs|vbe|js|jse|wsf)\b)", _I),
    re.compile(
        r"\b(?:powershell|pwsh)(?:\.exe)?\b[^\n]{0,300}?[/-](?:ep|exec|executionpolicy)\s+(?:bypass|unrestricted)\b",
        _I,
    ),
    re.compile(
        r"\b(?:mavinject|msxsl|presentationhost|ieexec|xwizard|syncappvpublishingserver|desktopimgdownldr|extrac32)(?:\.exe)?\s",
        _I,
    ),
    re.compile(r"\besentutl(?:\.exe)?\s+[^\n]{0,100}?/y\b", _I),
    re.compile(r"\bcontrol(?:\.exe)?\s+[^\n]{0,100}?\.cpl\b", _I),
]

_RUN_KEY = r"\\(?:wow6432node\\)?microsoft\\windows\\currentversion\\(?:run|runonce|runonceex|runservices|runservicesonce|policies\\explorer\\run)(?=[\\\"'\s]|$)"
_AUTOSTART = [
    re.compile(r"\breg(?:\.exe)?\s+add\s+[^\n]{0,200}?" + _RUN_KEY, _IM),
    re.compile(
        r"(?:new-itemproperty|set-itemproperty|new-item|\bsp\b|regwrite)[^\n]{0,300}?" + _RUN_KEY, _IM
    ),
    re.compile(r"software" + _RUN_KEY, _IM),
    re.compile(
        r"\breg(?:\.exe)?\s+add\s+[^\n]{0,200}?\\winlogon\b[^\n]{0,200}?/v\s+[\"']?(?:shell|userinit|taskman)\b",
        _I,
    ),
    re.compile(r"\breg(?:\.exe)?\s+add\s+[^\n]{0,200}?image file execution options[^\n]{0,200}?debugger", _I),
    re.compile(r"\\start menu\\programs\\startup\b|\bshell:(?:common )?startup\b", _I),
    re.compile(r"getfolderpath\s*\(\s*[\"']?(?:\[environment\+specialfolder\]::)?(?:common)?startup\b", _I),
    re.compile(r"specialfolders\s*\(\s*[\"'](?:all users )?startup[\"']", _I),
    re.compile(r"\bschtasks(?:\.exe)?\b[^\n]{0,60}?[/-]create\b", _I),
    re.compile(r"\bregister-scheduledtask\b|\bnew-scheduledtasktrigger\b", _I),
    re.compile(r"\bsc(?:\.exe)?\s+create\s+\S+[^\n]{0,200}?binpath", _I),
    re.compile(r"\bnew-service\s+[^\n]{0,200}?-binarypathname", _I),
    re.compile(r"commandlineeventconsumer|__filtertoconsumerbinding", _I),
]

_REMOTE = [
    re.compile(
        r"\b(?:https?|ftps?)://[^\s/\"'<>\\]{1,255}/[^\s\"'<>?#]{0,500}?\." + _PROGRAM_EXT + _AFTER_EXT, _I
    ),
    re.compile(
        r"(?<![\w\\:])\\\\[a-z0-9._-]{1,253}(?:@ssl)?(?:@\d{1,5})?\\[^\s\"'<>|*?]{1,300}?\."
        + _PROGRAM_EXT
        + _AFTER_EXT,
        _I,
    ),
    re.compile(r"\bfile:(?://|\\\\)(?!/|localhost[/\\])[^\s\"'<>]{1,300}?\." + _PROGRAM_EXT + _AFTER_EXT, _I),
]

_HIDDEN = [
    re.compile(r"(?<![\w-])[-/]w[a-z]{0,10}\s+[\"']?(?:h|hid|hidd|hidde|hidden)\b", _I),
    re.compile(r"\b(?:powershell|pwsh)(?:\.exe)?\b[^\n]{0,200}?\s[-/]w[a-z]{0,10}\s+[\"']?1\b", _I),
    re.compile(
        r"windowstyle\s*=\s*[\"']?hidden|processwindowstyle\]::hidden|createnowindow\s*=\s*\$?true", _I
    ),
    re.compile(r"\.run\b\s*\(?\s*[^,\n]{1,300},\s*(?:0|vbhide)\s*(?:,|\)|$)", _IM),
    re.compile(r"shellexecute\b[^\n]{0,300}?,\s*0\s*\)", _I),
    re.compile(r"\bstart\s+(?:\"[^\"\n]{0,80}\"\s+)?/min\b", _I),
    re.compile(r"windowstate\s*=\s*[\"']?minimize", _I),
    re.compile(r"\bconhost(?:\.exe)?\s+--headless\b", _I),
]

_SECURITY = [
    re.compile(r"\bset-mppreference\b[^\n]{0,200}?-disable\w*", _I),
    re.compile(r"\badd-mppreference\b[^\n]{0,200}?-exclusion\w*", _I),
    re.compile(
        r"\bdisable(?:realtimemonitoring|antispyware|antivirus|behaviormonitoring|ioavprotection|scriptscanning)\b",
        _I,
    ),
    re.compile(r"windows defender\\exclusions\\", _I),
    re.compile(r"\bnetsh(?:\.exe)?\s+advfirewall\s+set\s+\w+\s+state\s+off\b", _I),
    re.compile(r"\bnetsh(?:\.exe)?\s+firewall\s+set\s+opmode\s+(?:mode\s*=\s*)?disable\b", _I),
    re.compile(r"\benablelua\b[^\n]{0,100}?(?:/d\s+0\b|dword:0+\b|-value\s+0\b|,\s*0\b|\s0\s*$)", _IM),
    re.compile(
        r"\bconsentpromptbehavioradmin\b[^\n]{0,100}?(?:/d\s+0\b|dword:0+\b|-value\s+0\b|,\s*0\b|\s0\s*$)",
        _IM,
    ),
    re.compile(r"\b(?:sc(?:\.exe)?\s+(?:stop|config|delete)|stop-service\b[^\n]{0,40}?)\s*windefend\b", _I),
    re.compile(r"\bamsiutils\b|\bamsiinitfailed\b|\bamsiscanbuffer\b", _I),
    re.compile(r"\bvssadmin(?:\.exe)?\s+delete\s+shadows\b|\bwbadmin(?:\.exe)?\s+delete\s+catalog\b", _I),
    re.compile(r"\bbcdedit(?:\.exe)?\b[^\n]{0,100}?recoveryenabled\s+no\b", _I),
    re.compile(r"\bwevtutil(?:\.exe)?\s+cl\b", _I),
]

# Letters split by carets or backticks inside one word (p^o^w^e^r, I`E`X). A single one
# (math "a^j", Markdown "`int`s", PowerShell "`n") is ordinary.
_CARET_CHAIN = re.compile(r"(?:[A-Za-z]\^){2,}[A-Za-z]")
_BACKTICK_CHAIN = re.compile(r"(?:[A-Za-z]`){2,}[A-Za-z]")
_FRAGMENTS = re.compile(r"""(["'])[^"'\n]{1,4}\1\s*[+&]\s*(?=["'])""")
_CHR_CHAIN = re.compile(r"(?:chrw?\s*\(\s*(?:\d{1,5}|&h[0-9a-f]{1,4})\s*\)\s*[&+]\s*){4,}", _I)
_CHAR_CAST = re.compile(r"\[char\]\s*(?:0x[0-9a-f]+|\d{1,5})", _I)
_CHAR_CODES = re.compile(r"(?:fromcharcode|\[char\[\]\])\s*\(?\s*\d{1,5}(?:\s*,\s*\d{1,5}){9,}", _I)
_ENV_SLICE = re.compile(r"%[a-z_][\w]{0,30}:~-?\d{1,4}(?:,-?\d{1,4})?%", _I)
_LONG_BASE64 = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{1000,}+")
_REVERSED = re.compile(r"\bstrreverse\s*\(", _I)
_PACKER = re.compile(r"eval\s*\(\s*function\s*\(\s*p\s*,\s*a\s*,\s*c\s*,\s*k\s*,\s*e\s*,", _I)


# -- checks --------------------------------------------------------------------------------------


def _first(patterns: list[re.Pattern], text: str, evidence: Evidence, rule: str) -> None:
    for pattern in patterns:
        for match in pattern.finditer(text):
            evidence.add(rule, quote(text, match.start(), match.end()))
            if len(evidence.quotes[rule]) >= MAX_QUOTES:
                return
            break  # one quote per pattern is enough


def _download_cradle(text: str, evidence: Evidence, web: bool, depth: int) -> None:
    """Download plus execution close together, or a tool that does both in one command."""
    _first(_CRADLES, text, evidence, "script.download_cradle")
    for count, match in enumerate(_DOWNLOAD.finditer(text)):
        if count >= 50:
            break
        window = text[max(0, match.start() - 400) : match.end() + 400]
        if _EXECUTE.search(window):
            evidence.add("script.download_cradle", quote(text, match.start(), match.end()))
            break
    low = text.lower()
    if "adodb.stream" in low and ("xmlhttp" in low or "winhttprequest" in low):
        match = _SAVE_TO_FILE.search(text)
        if match:
            evidence.add("script.download_cradle", quote(text, match.start(), match.end()))


def _encoded(text: str, evidence: Evidence, web: bool, depth: int) -> None:
    """Encoded commands and payloads; decodable text is decoded and read again."""
    rule = "script.encoded_command"
    for match in _ENCODED_ARG.finditer(text):
        decoded = _decode_base64(match.group(1), utf16=True)
        if decoded is None:
            continue  # "-e" + something that is not an encoded command (grep -e, echo -e ...)
        evidence.add(rule, quote(text, match.start(), match.end()))
        _read_decoded(decoded, evidence, depth)
    for match in _B64_LITERAL.finditer(text):
        raw = _b64(match.group(1))
        if raw is None:
            continue
        if raw[:2] == b"MZ":
            evidence.add(rule, quote(text, match.start(), match.end()) + " (a hidden program)")
            continue
        decoded = _decode_base64(match.group(1), utf16=None)
        if decoded is not None:
            evidence.add(rule, quote(text, match.start(), match.end()))
            _read_decoded(decoded, evidence, depth)
    for match in _FROM_B64.finditer(text):
        if _RUNS_DECODED.search(text, max(0, match.start() - 300), match.end() + 300):
            evidence.add(rule, quote(text, match.start(), match.end()))
            break
    _first(_OTHER_ENCODED, text, evidence, rule)


def _read_decoded(decoded: str, evidence: Evidence, depth: int) -> None:
    """Analyse decoded hidden text as if it were the script itself (bounded)."""
    if depth >= MAX_DECODE_DEPTH or evidence.decodes >= MAX_DECODES:
        return
    evidence.decodes += 1
    evidence.decoded.append(decoded[:DECODED_KEEP])
    inner = analyze_text(decoded, depth=depth + 1)
    evidence.merge(inner, prefix="decoded: ")


def _b64(blob: str) -> bytes | None:
    blob = blob.rstrip("=")
    blob += "=" * (-len(blob) % 4)
    try:
        return base64.b64decode(blob[: 4 * 1024 * 1024], validate=True)
    except (binascii.Error, ValueError):
        return None


def _decode_base64(blob: str, utf16: bool | None) -> str | None:
    """Decode base64 into readable text (UTF-16LE for ``-enc``), else None."""
    raw = _b64(blob)
    if not raw or len(raw) < 4:
        return None
    if utf16 is None:
        utf16 = raw[1::2].count(0) > len(raw) // 2 * 0.8
    try:
        text = raw[: len(raw) // 2 * 2].decode("utf-16-le") if utf16 else raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    # Commands are mostly ASCII; random base64 decodes to scattered CJK-looking noise.
    sample = text[:4096]
    readable = sum(1 for char in sample if " " <= char <= "~" or char in "\r\n\t")
    return text if readable >= 0.8 * len(sample) else None


def _obfuscated(original: str, evidence: Evidence, web: bool) -> None:
    """Signs of deliberate scrambling, counted on the text as written (not normalised)."""
    rule = "script.obfuscated"
    for pattern, mark, what in ((_CARET_CHAIN, "^", "carets (^)"), (_BACKTICK_CHAIN, "`", "backticks (`)")):
        chains = list(itertools.islice(pattern.finditer(original), 200))
        if sum(match.group().count(mark) for match in chains) >= 4:
            evidence.add(
                rule, f"letters split by {what}: " + quote(original, chains[0].start(), chains[0].end())
            )
    counted = [
        (_FRAGMENTS, 8, "words glued from tiny pieces"),
        (_CHAR_CAST, 8, "text built from character codes"),
        (_ENV_SLICE, 5, "commands cut out of environment variables"),
    ]
    for pattern, threshold, what in counted:
        first = _count(pattern, original, threshold)
        if first:
            evidence.add(rule, f"{what}: " + quote(original, first.start(), first.end()))
    for pattern in (_CHR_CHAIN, _CHAR_CODES, _REVERSED, _PACKER):
        match = pattern.search(original)
        if match:
            evidence.add(rule, quote(original, match.start(), match.end()))
    for match in _LONG_BASE64.finditer(original):
        before = original[max(0, match.start() - 60) : match.start()].lower()
        if web and "base64," in before:
            continue  # a picture embedded in a web page (data: URI)
        evidence.add(rule, f"a {match.end() - match.start():,}-character block of encoded data")
        break


def _count(pattern: re.Pattern, text: str, threshold: int) -> re.Match | None:
    """The first match if ``pattern`` occurs at least ``threshold`` times, else None."""
    first = None
    for number, match in enumerate(pattern.finditer(text), 1):
        first = first or match
        if number >= threshold:
            return first
    return None


def _remote(text: str, evidence: Evidence, web: bool, depth: int) -> None:
    """Links and share paths that end in a program."""
    for pattern in _REMOTE:
        for match in pattern.finditer(text):
            target = match.group(0)
            if target.lower().startswith(("http", "ftp")) and target.lower().endswith((".js", ".jse")):
                continue  # web pages and their documentation link JavaScript all the time
            evidence.add("script.remote_executable", defang(target[:QUOTE_CHARS]))
            if len(evidence.quotes["script.remote_executable"]) >= MAX_QUOTES:
                return


def _shellcode_loader(text: str, evidence: Evidence, web: bool, depth: int) -> None:
    """Allocate + copy + start, all three present: the shape of every shellcode runner."""
    allocate = _ALLOCATE.search(text)
    if allocate and _COPY.search(text) and _START.search(text):
        evidence.add("script.shellcode_loader", quote(text, allocate.start(), allocate.end()))


def _quote_patterns(patterns: list[re.Pattern], rule: str) -> Check:
    """A check that quotes the first match of each of ``patterns`` as ``rule``."""

    def check(text: str, evidence: Evidence, web: bool, depth: int) -> None:
        _first(patterns, text, evidence, rule)

    return check


#: Keywords (any one must appear, lower case) that make a check worth running, and the check.
_CHECKS: list[tuple[tuple[str, ...], Check]] = [
    (("download", "webrequest", "iwr", "irm", "restmethod", "bits", "webclient", "curl", "wget", "xmlhttp",
      "winhttp", "httpclient", "certutil", "mshta", "msiexec", "regsvr32", "hh"), _download_cradle),
    (("-e", "/e", "base64", "atob", "decode"), _encoded),
    (("rundll32", "regsvr32", "mshta", "certutil", "bitsadmin", "wmic", "schtasks", "forfiles", "pcalua",
      "installutil", "msbuild", "cmstp", "odbcconf", "regasm", "regsvcs", "msiexec", "hh", "script",
      "powershell", "pwsh", "mavinject", "msxsl", "presentationhost", "ieexec", "xwizard",
      "syncappvpublishingserver", "desktopimgdownldr", "extrac32", "esentutl", "control"),
     _quote_patterns(_LOLBINS, "script.lolbin")),
    (("currentversion", "winlogon", "image file", "startup", "schtasks", "scheduledtask", "sc", "new-service",
      "eventconsumer"), _quote_patterns(_AUTOSTART, "script.autostart")),
    (("://", "\\\\"), _remote),
    (("-w", "/w", "windowstyle", "createnowindow", ".run", "shellexecute", "/min", "windowstate", "headless"),
     _quote_patterns(_HIDDEN, "script.hidden_window")),
    (("mppreference", "disable", "defender", "netsh", "enablelua", "consentprompt", "windefend", "amsi",
      "vssadmin", "wbadmin", "bcdedit", "wevtutil"), _quote_patterns(_SECURITY, "script.disables_security")),
    (("virtualalloc", "virtualprotect", "ntallocatevirtualmemory"), _shellcode_loader),
]  # fmt: skip


def analyze_text(original: str, web: bool = False, depth: int = 0) -> Evidence:
    """Everything the (already bounded) text would do, with short quotes as evidence.

    ``web``: the text is a web page or XML, where ``.js`` links and ``data:`` pictures
    are ordinary. ``depth``: how many decodings deep this text is.
    """
    evidence = Evidence()
    text = normalize(original)
    low = text.lower()
    for keywords, check in _CHECKS:
        if any(keyword in low for keyword in keywords):
            check(text, evidence, web, depth)
    _obfuscated(original, evidence, web)
    return evidence


# -- language (shown in the tree, not judged) -----------------------------------------------------

_LANGUAGE_MARKERS = {
    "batch": re.compile(r"^\s*@?echo\s+off\b|^\s*(?:setlocal|goto\s|set\s+\w+=|rem\s)|%~dp0", _IM),
    "powershell": re.compile(
        r"\$[a-z_]\w*\s*=|\b(?:new-object|invoke-\w+|get-\w+|set-\w+)\b|\[convert\]::", _I
    ),
    "vbscript": re.compile(r"\bcreateobject\s*\(|^\s*dim\s+\w|\bend\s+sub\b|on\s+error\s+resume\s+next", _IM),
    "jscript": re.compile(r"\bnew\s+activexobject\s*\(|\bwscript\.createobject\s*\(", _I),
    "wsf": re.compile(r"<job\b[^>]*>|<script\s+language\s*=", _I),
    "python": re.compile(r"^\s*(?:import\s+\w+|from\s+[\w.]+\s+import\s|def\s+\w+\s*\(.*\)\s*:)", _IM),
}


def guess_language(text: str) -> str | None:
    """The script language the text most looks like, or None for ordinary text."""
    best, best_count = None, 0
    sample = text[:65536]
    for language, pattern in _LANGUAGE_MARKERS.items():
        count = len(pattern.findall(sample, 0, 65536)[:20])
        if count > best_count:
            best, best_count = language, count
    return best


# -- judging ------------------------------------------------------------------------------------


def is_runnable(node) -> bool:
    """Whether Windows runs this text as a script when the agent opens it.

    The extension decides (Windows strips trailing dots and spaces), plus HTA content and
    pages inside a CHM help file (HTML Help runs their script with full rights).
    """
    if node.kind == "hta":
        return True
    name = base_name(node.name).rstrip(" .").lower()
    if any(name.endswith(extension) for extension in RUNNABLE_EXTENSIONS):
        return True
    parents = node.path.split("/")[:-1]
    return any(part.rstrip(" .").lower().endswith(".chm") for part in parents)


def record(ctx, node, evidence: Evidence, runnable: bool) -> None:
    """Turn evidence into facts: one per behaviour if the text runs, else one soft fact."""
    if runnable:
        for rule, quotes in evidence.quotes.items():
            ctx.fact(node, rule, evidence="; ".join(quotes))
        return
    # Scrambling alone (a long base64 block, say) is not a command.
    acting = [rule for rule in evidence.quotes if rule != "script.obfuscated"]
    if not acting:
        return
    rules = list(evidence.quotes)
    quotes = [evidence.quotes[rule][0] for rule in rules][:MAX_QUOTES]
    ctx.fact(
        node,
        "script.commands_in_text",
        behaviours=", ".join(BEHAVIOURS[rule][0] for rule in rules),
        behaviours_zh="、".join(BEHAVIOURS[rule][1] for rule in rules),
        evidence="; ".join(quotes),
    )


@analyzer(*TEXT_KINDS, name="script.behaviour", order=40)
def script_behaviour(node, content, ctx) -> None:
    """Read the text and record what it would do (see the module docstring)."""
    text = read_text(content)
    if "\x00" in text[:4096] and node.kind == "unknown":
        return  # not text after all
    evidence = analyze_text(text, web=node.kind in WEB_KINDS)
    if fake_utf16_bom(content.head(4098)):
        evidence.add(
            "script.obfuscated", "a false UTF-16 marker that makes editors show the commands as garbage"
        )
    runnable = is_runnable(node)
    language = guess_language(text)
    if evidence or language:
        node.info["script"] = {
            "language": language or RUNNABLE_EXTENSIONS.get(_extension(node.name)),
            "runs_when_opened": runnable,
            "behaviours": evidence.quotes,
            **({"decoded": evidence.decoded} if evidence.decoded else {}),
        }
    record(ctx, node, evidence, runnable)


def _extension(name: str) -> str:
    name = base_name(name).rstrip(" .").lower()
    dot = name.rfind(".")
    return name[dot:] if dot >= 0 else ""
