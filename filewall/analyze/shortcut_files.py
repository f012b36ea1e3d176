"""Internet shortcuts (``.url``) and registry files (``.reg``): small text files that act.

A ``.url`` opens whatever its ``URL=`` says: a web page, but also a program on another
computer (``file://host/share/x.exe``, ``\\\\host\\share\\x.exe``, WebDAV), a program on
this one, or a protocol that starts one (``search-ms:``, ``ms-msdt:`` ...). Its
``IconFile`` can sit on another computer, so merely showing the folder contacts it.

A ``.reg`` changes Windows settings when double-clicked; the keys it writes tell whether
it makes something start with Windows (Run/RunOnce, Winlogon, IFEO, services ...) or
switches off protection (Defender, UAC, firewall). Its values are read as command text
by :func:`filewall.analyze.script.analyze_text`.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, unquote, urlsplit

from ..registry import analyzer
from . import script
from .script import Evidence, analyze_text, decode_bytes, defang, record

MAX_BYTES = 1024 * 1024
PROGRAM_EXTENSIONS = (
    ".exe", ".dll", ".scr", ".com", ".pif", ".bat", ".cmd", ".ps1", ".vbs", ".vbe", ".js", ".jse",
    ".wsf", ".wsh", ".hta", ".msi", ".msix", ".appx", ".appinstaller", ".jar", ".lnk", ".url",
    ".cpl", ".sct", ".wsc", ".chm", ".inf", ".reg", ".library-ms", ".searchconnector-ms",
)  # fmt: skip
#: URL schemes that start a program or script rather than show a page.
PROGRAM_SCHEMES = {
    "javascript", "vbscript", "ms-msdt", "search-ms", "search", "ms-appinstaller", "ms-officecmd",
    "ms-cxh", "ms-cxh-full", "mk", "ms-its", "its", "hcp", "shell", "ms-excel", "ms-word",
    "ms-powerpoint",
}  # fmt: skip
#: Icons that make a shortcut look like a document.
_DOCUMENT_ICON = re.compile(
    r"(?:winword|excel|powerpnt|acrord32|acrobat|foxitreader|foxitpdfreader|wps|wpspdf)\.exe$"
    r"|\.(?:pdf|docx?|xlsx?|pptx?|jpe?g|png|txt|rtf|wps|et|dps)$",
    re.I,
)


def _text(content) -> str:
    return decode_bytes(content.head(MAX_BYTES))


# -- .url -------------------------------------------------------------------------------------------


def parse_url_file(text: str) -> dict[str, str]:
    """Keys of the ``[InternetShortcut]`` section (lower-cased names, first value wins)."""
    values: dict[str, str] = {}
    section = ""
    for raw in text.splitlines()[:2000]:
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip().lower()
        elif "=" in line and section == "internetshortcut":
            key, _, value = line.partition("=")
            values.setdefault(key.strip().lower(), value.strip())
    return values


def classify_target(target: str) -> str:
    """``remote_program``, ``local_program``, ``program_scheme``, ``remote`` or ``web``."""
    if target.startswith(("\\\\", "//")):
        return "remote_program" if _is_program(target) else "remote"
    parts = _split(target)
    scheme = parts.scheme.lower() if ":" in target else ""
    if len(scheme) == 1:  # C:\Windows\...
        return "local_program" if _is_program(target) else "web"
    if scheme == "file":
        host = parts.netloc.lower()
        remote = host not in ("", "localhost") or target[5:].startswith(("////", "\\\\"))
        if _is_program(target):
            return "remote_program" if remote else "local_program"
        return "remote" if remote else "web"
    if scheme in PROGRAM_SCHEMES:
        return "program_scheme"
    if scheme in ("http", "https", "ftp", "ftps") and _is_program(parts.path):
        return "remote_program"
    return "web"


def _split(target: str) -> SplitResult:
    """``urlsplit`` that never raises (a hostile ``URL=http://[`` is just not a web page)."""
    try:
        return urlsplit(target)
    except ValueError:
        scheme, _, rest = target.partition(":")
        return SplitResult(scheme if scheme.isalpha() else "", "", rest, "", "")


def _is_program(path: str) -> bool:
    return unquote(path).rstrip(" ./\\").lower().endswith(PROGRAM_EXTENSIONS)


@analyzer("url", name="shortcut_files.url", order=40)
def internet_shortcut(node, content, ctx) -> None:
    """Record where a ``.url`` leads and what that would start."""
    values = parse_url_file(_text(content))
    target = values.get("url", "")
    node.info["url_file"] = {
        key: values[key] for key in ("url", "iconfile", "iconindex", "workingdirectory") if key in values
    }
    ctx.fact(node, "type.internet_shortcut", target=defang(target[:200]) or "(nothing)")
    kind = classify_target(target)
    if kind == "remote_program":
        ctx.fact(node, "script.remote_executable", evidence=defang(target[:200]))
    elif kind in ("local_program", "program_scheme"):
        ctx.fact(node, "urlfile.runs_program", target=defang(target[:200]))
    if kind == "program_scheme" and _split(target).scheme.lower() in ("javascript", "vbscript"):
        record(ctx, node, analyze_text(unquote(target)), runnable=True)
    _icon(node, values.get("iconfile", ""), ctx)


def _icon(node, icon: str, ctx) -> None:
    if not icon:
        return
    if icon.startswith(("\\\\", "//")) or re.match(r"(?i)(?:https?|ftp|file)://(?!/|localhost/)", icon):
        ctx.fact(node, "urlfile.remote_icon", icon=defang(icon[:200]))
    elif _DOCUMENT_ICON.search(icon.strip().strip('"')):
        ctx.fact(node, "lnk.icon_disguise", icon=icon[:200])


# -- .reg -------------------------------------------------------------------------------------------

_HIVE_RE = re.compile(
    r"^(?:hkey_local_machine|hklm|hkey_current_user|hkcu|hkey_users|hku|hkey_classes_root|hkcr)\\", re.I
)
_RUN = r"software\\(?:wow6432node\\)?microsoft\\windows\\currentversion\\(?:run|runonce|runonceex|runservices|runservicesonce|policies\\explorer\\run)"
_ONE = re.compile(r"^dword:0*1$", re.I)
_ZERO = re.compile(r"^dword:0+$", re.I)
#: (key pattern, value-name pattern, value-data pattern (None: any), rule, what it means)
REG_KEYS: list[tuple[re.Pattern, re.Pattern | None, re.Pattern | None, str, str]] = [
    (re.compile(_RUN + r"(?:\\|$)", re.I), None, None, "script.autostart", "Run key"),
    (re.compile(r"microsoft\\windows nt\\currentversion\\winlogon$", re.I),
     re.compile(r"^(?:shell|userinit|taskman|appsetup)$", re.I), None, "script.autostart", "Winlogon"),
    (re.compile(r"microsoft\\windows nt\\currentversion\\image file execution options\\[^\\]+$", re.I),
     re.compile(r"^(?:debugger|globalflag)$", re.I), None, "script.autostart", "debugger hijack (IFEO)"),
    (re.compile(r"microsoft\\windows nt\\currentversion\\silentprocessexit\\", re.I),
     re.compile(r"^monitorprocess$", re.I), None, "script.autostart", "debugger hijack (IFEO)"),
    (re.compile(r"^system\\(?:currentcontrolset|controlset\d+)\\services\\[^\\]+$", re.I),
     re.compile(r"^imagepath$", re.I), None, "script.autostart", "service"),
    (re.compile(r"microsoft\\windows nt\\currentversion\\windows$", re.I),
     re.compile(r"^(?:appinit_dlls|load|run)$", re.I), re.compile(r"\S"), "script.autostart", "AppInit/Load"),
    (re.compile(r"microsoft\\active setup\\installed components\\", re.I),
     re.compile(r"^stubpath$", re.I), None, "script.autostart", "Active Setup"),
    (re.compile(r"microsoft\\command processor$", re.I), re.compile(r"^autorun$", re.I), None,
     "script.autostart", "cmd AutoRun"),
    (re.compile(r"explorer\\(?:user )?shell folders$", re.I), re.compile(r"^(?:common )?startup$", re.I), None,
     "script.autostart", "Startup folder moved"),
    (re.compile(r"policies\\microsoft\\windows defender(?:\\|$)", re.I),
     re.compile(r"^disable\w+$", re.I), _ONE, "script.disables_security", "Defender switched off"),
    (re.compile(r"windows defender\\exclusions\\", re.I), None, None, "script.disables_security", "Defender exclusion"),
    (re.compile(r"currentversion\\policies\\system$", re.I),
     re.compile(r"^(?:enablelua|consentpromptbehavioradmin|promptonsecuredesktop)$", re.I), _ZERO,
     "script.disables_security", "UAC switched off"),
    (re.compile(r"^system\\(?:currentcontrolset|controlset\d+)\\services\\windefend$", re.I),
     re.compile(r"^start$", re.I), re.compile(r"^dword:0*4$", re.I), "script.disables_security", "Defender service"),
    (re.compile(r"firewallpolicy\\\w+profile$", re.I), re.compile(r"^enablefirewall$", re.I), _ZERO,
     "script.disables_security", "firewall switched off"),
    (re.compile(r"classes\\(?:ms-settings|mscfile|exefile|folder)\\shell\\open\\command$", re.I), None, None,
     "script.disables_security", "UAC bypass"),
]  # fmt: skip
_VALUE_RE = re.compile(r'^\s*(@|"(?:[^"\\]|\\.)*")\s*=\s*(.*)$', re.S)


def parse_reg_file(text: str) -> list[tuple[str, str, str]]:
    """``(key, value name, value data as text)`` for every value a ``.reg`` file writes.

    Keys being deleted (``[-HKEY...]``) and values being deleted (``"x"=-``) are skipped;
    ``hex(2)``/``hex(7)`` data (expandable/multi strings) is decoded from UTF-16LE so
    commands stored that way are readable.
    """
    entries: list[tuple[str, str, str]] = []
    key = ""
    for line in _logical_lines(text):
        if line.startswith("["):
            name = line.strip("[] \t")
            key = "" if name.startswith("-") else name
            continue
        match = _VALUE_RE.match(line)
        if not key or not match:
            continue
        value_name = _unescape(match.group(1)[1:-1]) if match.group(1) != "@" else "@"
        data = match.group(2).strip()
        if data == "-":
            continue
        entries.append((key, value_name, _value_text(data)))
        if len(entries) >= 20000:
            break
    return entries


def _logical_lines(text: str):
    """Lines with ``\\``-continued hex data joined."""
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.endswith("\\") and not line.startswith("["):
            pending += line[:-1]
            continue
        yield pending + line
        pending = ""
    if pending:
        yield pending


def _unescape(text: str) -> str:
    """Undo .reg string escapes (``\\\\`` and ``\\"``)."""
    return re.sub(r"\\(.)", r"\1", text)


def _value_text(data: str) -> str:
    if data.startswith('"'):
        return _unescape(data[1:-1] if data.endswith('"') and len(data) > 1 else data[1:])
    lower = data.lower()
    if lower.startswith(("hex(2):", "hex(7):", "hex(1):")):
        try:
            raw = bytes.fromhex(data.split(":", 1)[1].replace(",", "").replace(" ", ""))
            return raw.decode("utf-16-le", "replace").replace("\x00", " ").strip()
        except ValueError:
            return data
    return data


def _subkey(key: str) -> str:
    return _HIVE_RE.sub("", key)


@analyzer("reg", name="shortcut_files.reg", order=40)
def registry_file(node, content, ctx) -> None:
    """Record what a ``.reg`` file would make start, switch off, or run."""
    entries = parse_reg_file(_text(content))
    evidence = Evidence()
    for key, name, data in entries:
        for key_pattern, name_pattern, data_pattern, rule, what in REG_KEYS:
            if (
                key_pattern.search(_subkey(key))
                and (name_pattern is None or name_pattern.match(name))
                and (data_pattern is None or data_pattern.search(data))
            ):
                evidence.add(rule, defang(f"{what}: {_short_key(key)} {name or '@'} = {data[:80]}"))
    commands = "\n".join(data for _, _, data in entries if data)[: script.HEAD_BYTES]
    evidence.merge(analyze_text(commands))
    node.info["reg_file"] = {"values": len(entries), "keys": len({key for key, _, _ in entries})}
    record(ctx, node, evidence, runnable=True)


def _short_key(key: str) -> str:
    key = re.sub(r"(?i)^hkey_current_user", "HKCU", re.sub(r"(?i)^hkey_local_machine", "HKLM", key))
    return key if len(key) <= 90 else key[:40] + "…" + key[-45:]
