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

from ..keywords import KeywordSet
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


#: Every word some pattern below needs (see :class:`Words`).
_GATE_WORDS: set[bytes] = set()
_gate_keywords: KeywordSet | None = None


def _needs(*words: str) -> tuple[bytes, ...]:
    """Words (any one) a pattern cannot match without, lower case; registered for :class:`Words`."""
    encoded = tuple(word.encode() for word in words)
    _GATE_WORDS.update(encoded)
    return encoded


class Words:
    """Which gate words occur in a text, for cheap "could this pattern match?" tests.

    Python's ``re`` tries a pattern that starts with ``\\b`` or a look-behind at every
    position (~50-200 ns each), which made ordinary CSV and prose cost 30-200 ms per MB.
    Every pattern below names words it cannot match without; all of them are looked for
    at once in the lower-case ASCII of the text, and a pattern runs only when one of its
    words is there. Dropping non-ASCII characters can only add false "maybe" answers,
    never hide a word (the patterns' Unicode case folding also takes a Kelvin sign for
    ``k``; no Windows tool is started by such a spelling, so ASCII words are what counts).
    """

    __slots__ = ("present",)

    def __init__(self, text: str):
        global _gate_keywords
        if _gate_keywords is None:
            _gate_keywords = KeywordSet(_GATE_WORDS)
        self.present = _gate_keywords.present(text.encode("ascii", "ignore").lower())

    def has(self, words: tuple[bytes, ...]) -> bool:
        return not self.present.isdisjoint(words)


def _gated(*items: tuple[str | tuple[str, ...], re.Pattern]) -> list[tuple[tuple[bytes, ...], re.Pattern]]:
    """Pair each pattern with the words (any one) it needs."""
    return [(_needs(*((needs,) if isinstance(needs, str) else needs)), pattern) for needs, pattern in items]


Gated: TypeAlias = list[tuple[tuple[bytes, ...], re.Pattern]]
#: A check reads normalised text and adds evidence: ``(text, words, evidence, web, depth)``.
Check: TypeAlias = Callable[[str, Words, Evidence, bool, int], None]


# -- reading -------------------------------------------------------------------------------------


def read_text(content, head: int = HEAD_BYTES, tail: int = TAIL_BYTES) -> str:
    """The first ``head`` and last ``tail`` bytes of ``content``, decoded as text.

    Both parts are decoded with the encoding found at the start, so the tail of a big
    UTF-16 file stays readable. Decoded once per node: the script and indicator
    analyzers share the result through ``content.memo``.
    """
    key = ("text", head, tail)
    cached = content.memo.get(key)
    if cached is None:
        cached = content.memo[key] = _read_text(content.view(), head, tail)
    return cached


def _read_text(view, head: int, tail: int) -> str:
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
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "^" in text:
        text = text.replace("^", "")
    if "`" in text:
        text = text.replace("`", "")
    text = _JOIN_RE.sub("", text)
    if '""' in text:  # the pattern starts with a look-behind, which re cannot skip ahead to
        text = _EMPTY_QUOTES_RE.sub("", text)
    return text


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
_CRADLES = _gated(
    ("urlcache", re.compile(r"\bcertutil(?:\.exe)?\b[^\n]{0,200}?-urlcache\b[^\n]{0,200}?(?:\s-f\b|https?://)", _I)),
    ("verifyctl", re.compile(r"\bcertutil(?:\.exe)?\b[^\n]{0,200}?-verifyctl\b[^\n]{0,200}?https?://", _I)),
    ("bitsadmin", re.compile(r"\bbitsadmin(?:\.exe)?\b[^\n]{0,100}?/transfer\b", _I)),
    ("mshta", re.compile(r"\bmshta(?:\.exe)?[\s\"']+(?:https?://|\\\\)", _I)),
    ("msiexec", re.compile(
        r"\bmsiexec(?:\.exe)?\b[^\n]{0,150}?(?:[/-]i|[/-]package|[/-]y)\s*[\"']?(?:https?://|\\\\)", _I
    )),
    ("regsvr32", re.compile(r"\bregsvr32(?:\.exe)?\b[^\n]{0,200}?[/-]i:\s*[\"']?(?:https?://|\\\\)", _I)),
    ("hh", re.compile(r"\bhh(?:\.exe)?\s+[\"']?https?://", _I)),
)  # fmt: skip
#: Words without which ``_DOWNLOAD`` cannot match.
_DOWNLOAD_WORDS = _needs(
    "download", "openread", "webrequest", "iwr", "irm", "restmethod", "bitstransfer", "webclient", "curl",
    "wget", "xmlhttp", "winhttp", "httpclient",
)  # fmt: skip
_SAVE_TO_FILE = re.compile(r"\.savetofile\b", _I)
_ADODB = _needs("adodb.stream")
_HTTP_OBJECTS = _needs("xmlhttp", "winhttprequest")

_ENCODED_ARG = re.compile(r"(?<![\w-])[-/](?:e|ec|en[a-z]{0,13})\s+[\"']?([A-Za-z0-9+/]{16,}+={0,2})", _I)
_B64_LITERAL = re.compile(r"frombase64string\s*\(\s*[\"']([A-Za-z0-9+/]{20,}+={0,2})[\"']", _I)
_FROM_B64 = re.compile(r"frombase64string", _I)
_ENCODED_ARG_WORDS = _needs("-e", "/e")
_FROM_B64_WORDS = _needs("frombase64string")
_RUNS_DECODED = re.compile(
    r"\biex\b|invoke-expression|\[scriptblock\]::create|assembly\]::load|\.invoke\(|gzipstream|deflatestream",
    _I,
)
_OTHER_ENCODED = _gated(
    ("bin.base64", re.compile(r"\.datatype\s*=\s*[\"']bin\.base64[\"']", _I)),
    ("atob", re.compile(r"\beval\s*\(\s*(?:window\.)?atob\s*\(", _I)),
    ("-decode", re.compile(r"\bcertutil(?:\.exe)?\b[^\n]{0,100}?-decode(?:hex)?\b", _I)),
    # Python loaders ("qd.jpg" run by a bundled python.exe): exec of decoded bytes.
    ("exec", re.compile(
        r"\bexec\s*\(\s*(?:base64\.b\d\ddecode|zlib\.decompress|marshal\.loads|bytes\.fromhex|codecs\.decode)",
        _I,
    )),
)  # fmt: skip
#: Putting machine code into memory and starting it, from PowerShell (Add-Type), Python
#: (ctypes), VBA/VBScript (Declare) or .NET: allocate, copy, run.
_ALLOCATE = re.compile(r"\b(?:virtualalloc(?:ex)?|virtualprotect(?:ex)?|ntallocatevirtualmemory)\b", _I)
_ALLOCATE_WORDS = _needs("virtualalloc", "virtualprotect", "ntallocatevirtualmemory")
_COPY = re.compile(
    r"\b(?:rtlmovememory|rtlcopymemory|writeprocessmemory|memmove|marshal\]::copy|marshal\.copy)\b", _I
)
_START = re.compile(
    r"\b(?:createthread|createremotethread|queueuserapc|enumsystemlocalesa?|enumwindows|etwpcreateetwthread"
    r"|certenumsystemstore|getdelegateforfunctionpointer|cfunctype|winfunctype)\b",
    _I,
)

_LOLBINS = _gated(
    ("rundll32", re.compile(r"\brundll32(?:\.exe)?[\s\"',]+[^\n]{0,200}?(?:,|javascript:)", _I)),
    ("regsvr32", re.compile(r"\bregsvr32(?:\.exe)?\b[^\n]{0,200}?(?:[/-]i:|scrobj|\.sct\b|[/-]s\b)", _I)),
    ("mshta", re.compile(r"\bmshta(?:\.exe)?[\s\"']+\S", _I)),
    ("certutil", re.compile(r"\bcertutil(?:\.exe)?\b[^\n]{0,200}?-(?:urlcache|decode|decodehex|verifyctl|encode)\b", _I)),
    ("bitsadmin", re.compile(r"\bbitsadmin(?:\.exe)?\b[^\n]{0,200}?/(?:transfer|addfile|setnotifycmdline|create)\b", _I)),
    ("wmic", re.compile(r"\bwmic(?:\.exe)?\b[^\n]{0,200}?(?:process\s+call\s+create|/format:)", _I)),
    ("schtasks", re.compile(r"\bschtasks(?:\.exe)?\b[^\n]{0,60}?[/-]create\b", _I)),
    ("forfiles", re.compile(r"\bforfiles(?:\.exe)?\b[^\n]{0,200}?[/-]c\s", _I)),
    ("pcalua", re.compile(r"\bpcalua(?:\.exe)?\s+[^\n]{0,50}?-a\s", _I)),
    ("installutil", re.compile(r"\binstallutil(?:\.exe)?\s+[^\n]{0,200}?\.(?:dll|exe)\b", _I)),
    ("msbuild", re.compile(r"\bmsbuild(?:\.exe)?\s+[^\n]{0,200}?\.(?:xml|csproj|proj|targets)\b", _I)),
    ("cmstp", re.compile(r"\bcmstp(?:\.exe)?\s+[^\n]{0,100}?(?:[/-]s\b|[/-]ni\b|\.inf\b)", _I)),
    ("odbcconf", re.compile(r"\bodbcconf(?:\.exe)?\s+[^\n]{0,100}?(?:[/-]a\b|[/-]f\b|regsvr)", _I)),
    (("regasm", "regsvcs"), re.compile(r"\bregasm(?:\.exe)?\s|\bregsvcs(?:\.exe)?\s", _I)),
    ("msiexec", re.compile(r"\bmsiexec(?:\.exe)?\b[^\n]{0,150}?(?:[/-][iy]\b|[/-]q)[^\n]{0,150}?(?:https?://|\\\\)", _I)),
    ("hh", re.compile(r"\bhh(?:\.exe)?\s+[^\n]{0,100}?(?:https?://|-decompile)", _I)),
    ("script", re.compile(r"\b[wc]script(?:\.exe)?\s+[^\n]{0,100}?(?://e:|//b\b|\.(?:vbs|vbe|js|jse|wsf)\b)", _I)),
    (("bypass", "unrestricted"), re.compile(
        r"\b(?:powershell|pwsh)(?:\.exe)?\b[^\n]{0,300}?[/-](?:ep|exec|executionpolicy)\s+(?:bypass|unrestricted)\b",
        _I,
    )),
    (("mavinject", "msxsl", "presentationhost", "ieexec", "xwizard", "syncappvpublishingserver", "desktopimgdownldr", "extrac32"), re.compile(
        r"\b(?:mavinject|msxsl|presentationhost|ieexec|xwizard|syncappvpublishingserver|desktopimgdownldr|extrac32)(?:\.exe)?\s",
        _I,
    )),
    ("esentutl", re.compile(r"\besentutl(?:\.exe)?\s+[^\n]{0,100}?/y\b", _I)),
    (".cpl", re.compile(r"\bcontrol(?:\.exe)?\s+[^\n]{0,100}?\.cpl\b", _I)),
)  # fmt: skip

_RUN_KEY = r"\\(?:wow6432node\\)?microsoft\\windows\\currentversion\\(?:run|runonce|runonceex|runservices|runservicesonce|policies\\explorer\\run)(?=[\\\"'\s]|$)"
_AUTOSTART = _gated(
    ("currentversion", re.compile(r"\breg(?:\.exe)?\s+add\s+[^\n]{0,200}?" + _RUN_KEY, _IM)),
    ("currentversion", re.compile(
        r"(?:new-itemproperty|set-itemproperty|new-item|\bsp\b|regwrite)[^\n]{0,300}?" + _RUN_KEY, _IM
    )),
    ("currentversion", re.compile(r"software" + _RUN_KEY, _IM)),
    ("winlogon", re.compile(
        r"\breg(?:\.exe)?\s+add\s+[^\n]{0,200}?\\winlogon\b[^\n]{0,200}?/v\s+[\"']?(?:shell|userinit|taskman)\b",
        _I,
    )),
    ("image file", re.compile(r"\breg(?:\.exe)?\s+add\s+[^\n]{0,200}?image file execution options[^\n]{0,200}?debugger", _I)),
    ("startup", re.compile(r"\\start menu\\programs\\startup\b|\bshell:(?:common )?startup\b", _I)),
    ("startup", re.compile(r"getfolderpath\s*\(\s*[\"']?(?:\[environment\+specialfolder\]::)?(?:common)?startup\b", _I)),
    ("startup", re.compile(r"specialfolders\s*\(\s*[\"'](?:all users )?startup[\"']", _I)),
    ("schtasks", re.compile(r"\bschtasks(?:\.exe)?\b[^\n]{0,60}?[/-]create\b", _I)),
    ("scheduledtask", re.compile(r"\bregister-scheduledtask\b|\bnew-scheduledtasktrigger\b", _I)),
    ("binpath", re.compile(r"\bsc(?:\.exe)?\s+create\s+\S+[^\n]{0,200}?binpath", _I)),
    ("binarypathname", re.compile(r"\bnew-service\s+[^\n]{0,200}?-binarypathname", _I)),
    ("consumer", re.compile(r"commandlineeventconsumer|__filtertoconsumerbinding", _I)),
)  # fmt: skip

_REMOTE = _gated(
    ("://", re.compile(
        r"\b(?:https?|ftps?)://[^\s/\"'<>\\]{1,255}/[^\s\"'<>?#]{0,500}?\." + _PROGRAM_EXT + _AFTER_EXT, _I
    )),
    ("\\\\", re.compile(
        r"(?<![\w\\:])\\\\[a-z0-9._-]{1,253}(?:@ssl)?(?:@\d{1,5})?\\[^\s\"'<>|*?]{1,300}?\."
        + _PROGRAM_EXT
        + _AFTER_EXT,
        _I,
    )),
    ("file:", re.compile(r"\bfile:(?://|\\\\)(?!/|localhost[/\\])[^\s\"'<>]{1,300}?\." + _PROGRAM_EXT + _AFTER_EXT, _I)),
)  # fmt: skip

_HIDDEN = _gated(
    (("-w", "/w"), re.compile(r"(?<![\w-])[-/]w[a-z]{0,10}\s+[\"']?(?:h|hid|hidd|hidde|hidden)\b", _I)),
    (("-w", "/w"), re.compile(r"\b(?:powershell|pwsh)(?:\.exe)?\b[^\n]{0,200}?\s[-/]w[a-z]{0,10}\s+[\"']?1\b", _I)),
    (("windowstyle", "createnowindow"), re.compile(
        r"windowstyle\s*=\s*[\"']?hidden|processwindowstyle\]::hidden|createnowindow\s*=\s*\$?true", _I
    )),
    (".run", re.compile(r"\.run\b\s*\(?\s*[^,\n]{1,300},\s*(?:0|vbhide)\s*(?:,|\)|$)", _IM)),
    ("shellexecute", re.compile(r"shellexecute\b[^\n]{0,300}?,\s*0\s*\)", _I)),
    ("/min", re.compile(r"\bstart\s+(?:\"[^\"\n]{0,80}\"\s+)?/min\b", _I)),
    ("windowstate", re.compile(r"windowstate\s*=\s*[\"']?minimize", _I)),
    ("headless", re.compile(r"\bconhost(?:\.exe)?\s+--headless\b", _I)),
)  # fmt: skip

_SECURITY = _gated(
    ("mppreference", re.compile(r"\bset-mppreference\b[^\n]{0,200}?-disable\w*", _I)),
    ("mppreference", re.compile(r"\badd-mppreference\b[^\n]{0,200}?-exclusion\w*", _I)),
    ("disable", re.compile(
        r"\bdisable(?:realtimemonitoring|antispyware|antivirus|behaviormonitoring|ioavprotection|scriptscanning)\b",
        _I,
    )),
    ("exclusions", re.compile(r"windows defender\\exclusions\\", _I)),
    ("netsh", re.compile(r"\bnetsh(?:\.exe)?\s+advfirewall\s+set\s+\w+\s+state\s+off\b", _I)),
    ("netsh", re.compile(r"\bnetsh(?:\.exe)?\s+firewall\s+set\s+opmode\s+(?:mode\s*=\s*)?disable\b", _I)),
    ("enablelua", re.compile(r"\benablelua\b[^\n]{0,100}?(?:/d\s+0\b|dword:0+\b|-value\s+0\b|,\s*0\b|\s0\s*$)", _IM)),
    ("consentprompt", re.compile(
        r"\bconsentpromptbehavioradmin\b[^\n]{0,100}?(?:/d\s+0\b|dword:0+\b|-value\s+0\b|,\s*0\b|\s0\s*$)",
        _IM,
    )),
    ("windefend", re.compile(r"\b(?:sc(?:\.exe)?\s+(?:stop|config|delete)|stop-service\b[^\n]{0,40}?)\s*windefend\b", _I)),
    ("amsi", re.compile(r"\bamsiutils\b|\bamsiinitfailed\b|\bamsiscanbuffer\b", _I)),
    (("vssadmin", "wbadmin"), re.compile(r"\bvssadmin(?:\.exe)?\s+delete\s+shadows\b|\bwbadmin(?:\.exe)?\s+delete\s+catalog\b", _I)),
    ("bcdedit", re.compile(r"\bbcdedit(?:\.exe)?\b[^\n]{0,100}?recoveryenabled\s+no\b", _I)),
    ("wevtutil", re.compile(r"\bwevtutil(?:\.exe)?\s+cl\b", _I)),
)  # fmt: skip

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


def _first(patterns: Gated, text: str, words: Words, evidence: Evidence, rule: str) -> None:
    for needs, pattern in patterns:
        if not words.has(needs):
            continue
        for match in pattern.finditer(text):
            evidence.add(rule, quote(text, match.start(), match.end()))
            if len(evidence.quotes[rule]) >= MAX_QUOTES:
                return
            break  # one quote per pattern is enough


def _download_cradle(text: str, words: Words, evidence: Evidence, web: bool, depth: int) -> None:
    """Download plus execution close together, or a tool that does both in one command."""
    _first(_CRADLES, text, words, evidence, "script.download_cradle")
    if words.has(_DOWNLOAD_WORDS):
        for count, match in enumerate(_DOWNLOAD.finditer(text)):
            if count >= 50:
                break
            window = text[max(0, match.start() - 400) : match.end() + 400]
            if _EXECUTE.search(window):
                evidence.add("script.download_cradle", quote(text, match.start(), match.end()))
                break
    if words.has(_ADODB) and words.has(_HTTP_OBJECTS):
        match = _SAVE_TO_FILE.search(text)
        if match:
            evidence.add("script.download_cradle", quote(text, match.start(), match.end()))


def _encoded(text: str, words: Words, evidence: Evidence, web: bool, depth: int) -> None:
    """Encoded commands and payloads; decodable text is decoded and read again."""
    rule = "script.encoded_command"
    if words.has(_ENCODED_ARG_WORDS):
        for match in _ENCODED_ARG.finditer(text):
            decoded = _decode_base64(match.group(1), utf16=True)
            if decoded is None:
                continue  # "-e" + something that is not an encoded command (grep -e, echo -e ...)
            evidence.add(rule, quote(text, match.start(), match.end()))
            _read_decoded(decoded, evidence, depth)
    if words.has(_FROM_B64_WORDS):
        _from_base64(text, evidence, depth)
    _first(_OTHER_ENCODED, text, words, evidence, rule)


def _from_base64(text: str, evidence: Evidence, depth: int) -> None:
    """``FromBase64String`` literals (a hidden program, or text read again) and calls that run the result."""
    rule = "script.encoded_command"
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


#: (pattern, what it shows, words it needs in the text as written, lower case)
_OBFUSCATION_COUNTED = [
    (_FRAGMENTS, 8, "words glued from tiny pieces", _needs('"', "'")),
    (_CHAR_CAST, 8, "text built from character codes", _needs("[char]")),
    (_ENV_SLICE, 5, "commands cut out of environment variables", _needs(":~")),
]
_OBFUSCATION_ANY = _gated(
    ("chr", _CHR_CHAIN),
    (("fromcharcode", "[char[]]"), _CHAR_CODES),
    ("strreverse", _REVERSED),
    ("eval", _PACKER),
)
#: Byte table that maps the base64 alphabet to ``A`` and everything else to ``.``.
_BASE64_MAP = bytes(
    0x41 if chr(code).isascii() and (chr(code).isalnum() or chr(code) in "+/") else 0x2E
    for code in range(256)
)
_BASE64_RUN = b"A" * 1000


def _obfuscated(original: str, words: Words, evidence: Evidence, web: bool) -> None:
    """Signs of deliberate scrambling, counted on the text as written (not normalised)."""
    rule = "script.obfuscated"
    for pattern, mark, what in ((_CARET_CHAIN, "^", "carets (^)"), (_BACKTICK_CHAIN, "`", "backticks (`)")):
        if mark not in original:
            continue
        chains = list(itertools.islice(pattern.finditer(original), 200))
        if sum(match.group().count(mark) for match in chains) >= 4:
            evidence.add(
                rule, f"letters split by {what}: " + quote(original, chains[0].start(), chains[0].end())
            )
    quoted = '"' in original or "'" in original  # normalising may have removed quotes
    for pattern, threshold, what, needs in _OBFUSCATION_COUNTED:
        maybe = quoted if pattern is _FRAGMENTS else words.has(needs)
        first = _count(pattern, original, threshold) if maybe else None
        if first:
            evidence.add(rule, f"{what}: " + quote(original, first.start(), first.end()))
    for needs, pattern in _OBFUSCATION_ANY:
        match = pattern.search(original) if words.has(needs) else None
        if match:
            evidence.add(rule, quote(original, match.start(), match.end()))
    if _BASE64_RUN in original.encode("ascii", "replace").translate(_BASE64_MAP):
        _long_base64(original, evidence, web)


def _long_base64(original: str, evidence: Evidence, web: bool) -> None:
    for match in _LONG_BASE64.finditer(original):
        before = original[max(0, match.start() - 60) : match.start()].lower()
        if web and "base64," in before:
            continue  # a picture embedded in a web page (data: URI)
        evidence.add(
            "script.obfuscated", f"a {match.end() - match.start():,}-character block of encoded data"
        )
        break


def _count(pattern: re.Pattern, text: str, threshold: int) -> re.Match | None:
    """The first match if ``pattern`` occurs at least ``threshold`` times, else None."""
    first = None
    for number, match in enumerate(pattern.finditer(text), 1):
        first = first or match
        if number >= threshold:
            return first
    return None


def _remote(text: str, words: Words, evidence: Evidence, web: bool, depth: int) -> None:
    """Links and share paths that end in a program."""
    for needs, pattern in _REMOTE:
        if not words.has(needs):
            continue
        for match in pattern.finditer(text):
            target = match.group(0)
            if target.lower().startswith(("http", "ftp")) and target.lower().endswith((".js", ".jse")):
                continue  # web pages and their documentation link JavaScript all the time
            evidence.add("script.remote_executable", defang(target[:QUOTE_CHARS]))
            if len(evidence.quotes["script.remote_executable"]) >= MAX_QUOTES:
                return


def _shellcode_loader(text: str, words: Words, evidence: Evidence, web: bool, depth: int) -> None:
    """Allocate + copy + start, all three present: the shape of every shellcode runner."""
    if not words.has(_ALLOCATE_WORDS):
        return
    allocate = _ALLOCATE.search(text)
    if allocate and _COPY.search(text) and _START.search(text):
        evidence.add("script.shellcode_loader", quote(text, allocate.start(), allocate.end()))


def _quote_patterns(patterns: Gated, rule: str) -> Check:
    """A check that quotes the first match of each of ``patterns`` as ``rule``."""

    def check(text: str, words: Words, evidence: Evidence, web: bool, depth: int) -> None:
        _first(patterns, text, words, evidence, rule)

    return check


#: Every check; each skips the patterns whose words are not in the text.
_CHECKS: list[Check] = [
    _download_cradle,
    _encoded,
    _quote_patterns(_LOLBINS, "script.lolbin"),
    _quote_patterns(_AUTOSTART, "script.autostart"),
    _remote,
    _quote_patterns(_HIDDEN, "script.hidden_window"),
    _quote_patterns(_SECURITY, "script.disables_security"),
    _shellcode_loader,
]


def analyze_text(original: str, web: bool = False, depth: int = 0) -> Evidence:
    """Everything the (already bounded) text would do, with short quotes as evidence.

    ``web``: the text is a web page or XML, where ``.js`` links and ``data:`` pictures
    are ordinary. ``depth``: how many decodings deep this text is.
    """
    evidence = Evidence()
    text = normalize(original)
    words = Words(text)
    for check in _CHECKS:
        check(text, words, evidence, web, depth)
    # Normalising only removes quotes, carets and backticks, so every gate word of the
    # original (none holds those characters, quotes aside) is still in ``words``.
    _obfuscated(original, words, evidence, web)
    return evidence


# -- language (shown in the tree, not judged) -----------------------------------------------------

#: language → (words one of which its marks need, lower case; the marks)
_LANGUAGE_MARKERS = {
    "batch": (
        ("echo", "setlocal", "goto", "set", "rem", "%~dp0"),
        re.compile(r"^\s*@?echo\s+off\b|^\s*(?:setlocal|goto\s|set\s+\w+=|rem\s)|%~dp0", _IM),
    ),
    "powershell": (
        ("$", "new-object", "invoke-", "get-", "set-", "[convert]"),
        re.compile(r"\$[a-z_]\w*\s*=|\b(?:new-object|invoke-\w+|get-\w+|set-\w+)\b|\[convert\]::", _I),
    ),
    "vbscript": (
        ("createobject", "dim", "sub", "on"),
        re.compile(r"\bcreateobject\s*\(|^\s*dim\s+\w|\bend\s+sub\b|on\s+error\s+resume\s+next", _IM),
    ),
    "jscript": (
        ("activexobject", "createobject"),
        re.compile(r"\bnew\s+activexobject\s*\(|\bwscript\.createobject\s*\(", _I),
    ),
    "wsf": (("<job", "<script"), re.compile(r"<job\b[^>]*>|<script\s+language\s*=", _I)),
    "python": (
        ("import", "def"),
        re.compile(r"^\s*(?:import\s+\w+|from\s+[\w.]+\s+import\s|def\s+\w+\s*\(.*\)\s*:)", _IM),
    ),
}
_LANGUAGE_MARKERS_GATED = {
    language: (_needs(*needs), pattern) for language, (needs, pattern) in _LANGUAGE_MARKERS.items()
}


def guess_language(text: str) -> str | None:
    """The script language the text most looks like, or None for ordinary text."""
    best, best_count = None, 0
    sample = text[:65536]
    words = Words(sample)
    for language, (needs, pattern) in _LANGUAGE_MARKERS_GATED.items():
        if not words.has(needs):
            continue
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
