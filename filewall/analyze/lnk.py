"""Windows shortcuts (.lnk): what they start, with which command, how they hide.

A shortcut from a customer is already ``type.shortcut`` by content; this analyzer says
*why* it is dangerous (it runs PowerShell with a hidden window and an encoded command, it
borrows Edge's icon ...) and puts every detail in ``node.info["lnk"]``: target, arguments,
working folder, icon, window state, drive and network info, the machine it was made on,
and the URLs and hosts it points to (for indicators and campaign grouping).

Parsing: ``LnkParse3`` reads the header, the LinkInfo and the extra data blocks. The
layout around them is walked here, by the spec (MS-SHLLINK), for two reasons found while
testing: LnkParse3 stops reading a working folder or description at 260 characters but
does not skip the rest, so a longer one shifts every later field (an attacker could hide
the arguments that way); and its extra-data loop copies the remaining bytes per block,
which turns thousands of tiny blocks into seconds of work. So strings are read here,
extra blocks are delimited here (at most :data:`MAX_EXTRA_BLOCKS`) and only then decoded
by LnkParse3, and target paths from a bare item-ID list (shortcuts made by tools, with no
LinkInfo) are rebuilt here, long file names included.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re
import struct
import uuid
import warnings
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import LnkParse3
from LnkParse3.extra_data import ExtraData

from ..extensions import lookup
from ..registry import analyzer

#: Bytes of a shortcut that are parsed (real ones are a few KB; arguments max 64K chars).
MAX_LNK_BYTES = 1024 * 1024
MAX_EXTRA_BLOCKS = 32
MAX_ID_ITEMS = 64
#: Longest argument text shown in a message (the full text is in node.info).
SHOWN_ARGUMENTS = 200
MAX_DECODED = 4000

# Link flags (MS-SHLLINK 2.1.1).
HAS_ID_LIST, HAS_LINK_INFO, HAS_NAME, HAS_RELATIVE_PATH = 0x1, 0x2, 0x4, 0x8
HAS_WORKING_DIR, HAS_ARGUMENTS, HAS_ICON_LOCATION, IS_UNICODE = 0x10, 0x20, 0x40, 0x80
SHOW_COMMANDS = {1: "normal", 3: "maximized", 7: "minimized without focus"}
SW_SHOWMINNOACTIVE = 7

#: Programs that run a command, a script or a download when given arguments (LOLBins).
SHELL_PROGRAMS = {
    "cmd",
    "powershell",
    "pwsh",
    "powershell_ise",
    "mshta",
    "rundll32",
    "regsvr32",
    "wscript",
    "cscript",
    "certutil",
    "bitsadmin",
    "msiexec",
    "forfiles",
    "conhost",
    "explorer",
    "hh",
    "wmic",
    "schtasks",
    "cmstp",
    "installutil",
    "regasm",
    "regsvcs",
    "msbuild",
    "odbcconf",
    "pcalua",
    "scriptrunner",
    "bash",
    "wsl",
    "curl",
    "msdt",
    "control",
    "mavinject",
    "syncappvpublishingserver",
    "finger",
    "ftp",
    "msxsl",
    "wmiprvse",
    "runonce",
    "infdefaultinstall",
    "ieexec",
    "dfsvc",
    "presentationhost",
    "cipher",
}
#: Explorer is only a launcher when handed a URL or a remote path.
NEEDS_REMOTE_ARGUMENT = {"explorer"}

#: Icons that make a shortcut look like a document, picture, folder or web page.
ICON_SOURCES = {
    "msedge.exe": ("the Edge browser", "Edge 浏览器"),
    "chrome.exe": ("the Chrome browser", "Chrome 浏览器"),
    "firefox.exe": ("the Firefox browser", "Firefox 浏览器"),
    "iexplore.exe": ("Internet Explorer", "IE 浏览器"),
    "winword.exe": ("Microsoft Word", "Word"),
    "excel.exe": ("Microsoft Excel", "Excel"),
    "powerpnt.exe": ("Microsoft PowerPoint", "PowerPoint"),
    "acrord32.exe": ("Adobe Reader (PDF)", "Adobe PDF 阅读器"),
    "acrobat.exe": ("Adobe Acrobat (PDF)", "Adobe PDF 阅读器"),
    "foxitpdfreader.exe": ("Foxit PDF Reader", "福昕 PDF 阅读器"),
    "foxitreader.exe": ("Foxit PDF Reader", "福昕 PDF 阅读器"),
    "sumatrapdf.exe": ("Sumatra PDF", "Sumatra PDF 阅读器"),
    "wps.exe": ("WPS Office", "WPS"),
    "et.exe": ("WPS Spreadsheets", "WPS 表格"),
    "wpp.exe": ("WPS Presentation", "WPS 演示"),
    "wpspdf.exe": ("WPS PDF", "WPS PDF"),
    "notepad.exe": ("Notepad", "记事本"),
    "wordpad.exe": ("WordPad", "写字板"),
    "mspaint.exe": ("Paint", "画图"),
    "explorer.exe": ("a folder (Explorer)", "文件夹（资源管理器）"),
    "shell32.dll": ("Windows' built-in icons (folders, documents)", "Windows 自带图标（文件夹、文档）"),
    "imageres.dll": (
        "Windows' built-in icons (folders, documents, pictures)",
        "Windows 自带图标（文件夹、文档、图片）",
    ),
    "moricons.dll": ("Windows' built-in icons", "Windows 自带图标"),
    "zipfldr.dll": ("a ZIP folder", "压缩文件夹"),
}

_URL_RE = re.compile(r"(?i)\b(?:https?|ftp|file)://[^\s\"'<>()\[\]{}|^`]+")
_UNC_RE = re.compile(r"(?<![\w\\])\\\\([A-Za-z0-9_.\-\[\]:@]+)\\[^\s\"'<>|]*")
# A command-line switch and its value: "-w hidden", "-enc SQBFAFgA...", "/c". A value never
# starts with "-" (that is the next switch).
_SWITCH_RE = re.compile(
    r"(?:^|\s)[-/\u2013\u2014]([A-Za-z]+)(?:\s*[:\s]\s*[\"']?([A-Za-z0-9+/=_][A-Za-z0-9+/=_-]*))?"
)
_BASE64_RE = re.compile(r"^[A-Za-z0-9+/]{16,}={0,2}$")
_BASE64_HINT_RE = re.compile(
    r"(?i)FromBase64String|certutil(?:\.exe)?\s+-decode|\bbase64\s+(?:-d|--decode)|\batob\("
)
#: Environment variables that name a shell (``%COMSPEC%`` is cmd.exe).
ALIASES = {"%comspec%": "cmd"}


@dataclass
class Layout:
    """Where each part of a shortcut sits, walked by the spec."""

    flags: int
    id_list: bytes = b""
    link_info_end: int = 0
    strings: dict[str, str] = field(default_factory=dict)
    extra_start: int = 0
    extra_end: int = 0
    extra_blocks: list[bytes] = field(default_factory=list)


class LnkError(ValueError):
    """The shortcut's structure is broken."""


@analyzer("lnk", name="lnk.analyze_lnk", order=20)
def analyze_lnk(node, content, ctx) -> None:
    """Parse a shortcut into ``node.info["lnk"]`` and record what makes it dangerous."""
    data = content.head(MAX_LNK_BYTES)
    try:
        info = parse_lnk(data)
    except (LnkError, struct.error, ValueError, IndexError) as error:
        ctx.fact(node, "file.corrupt", reason=f"broken shortcut: {error}", format="shortcut")
        return
    if content.size > len(data):
        info["appended_bytes"] = content.size - info["parsed_size"]
    node.info["lnk"] = info
    _facts(node, ctx, info)


# -- parsing -------------------------------------------------------------------------------------------


def parse_lnk(data: bytes) -> dict:
    """Everything a shortcut says, as plain data (see the module docstring for why the
    layout is walked here and only the pieces are handed to LnkParse3)."""
    layout = walk_layout(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LnkParse3 warns on every odd field; we report our own way
        parsed = LnkParse3.lnk_file(indata=data[: layout.link_info_end]).get_json()
        header, link_info = parsed["header"], parsed.get("link_info") or {}
        extras = _extras(layout)
    strings = layout.strings
    info: dict = {
        "target": None,
        "arguments": strings.get("arguments", ""),
        "working_dir": strings.get("working_dir"),
        "icon_location": strings.get("icon_location")
        or _extra(extras, "ICON_LOCATION_BLOCK", "target_unicode"),
        "icon_index": header.get("icon_index"),
        "description": strings.get("description"),
        "relative_path": strings.get("relative_path"),
        "show_window": SHOW_COMMANDS.get(_show_command(data), "normal"),
        "show_command": _show_command(data),
        "hotkey": header.get("hotkey"),
        "link_flags": header.get("link_flags", []),
        "created": _time(header.get("creation_time")),
        "modified": _time(header.get("modified_time")),
        "accessed": _time(header.get("accessed_time")),
        "target_size": header.get("file_size"),
        "parsed_size": layout.extra_end,
    }
    info.update(_location(link_info))
    info.update(_tracker(extras))
    candidates = _targets(layout, link_info, extras)
    info["target"] = candidates[0] if candidates else None
    info["target_candidates"] = candidates
    info["id_list_path"] = id_list_path(layout.id_list)
    info["appended_bytes"] = max(0, len(data) - layout.extra_end)
    return info


def walk_layout(data: bytes) -> Layout:
    """Offsets of the ID list, LinkInfo, string data and extra blocks (MS-SHLLINK 2)."""
    if len(data) < 0x4C or struct.unpack_from("<I", data, 0)[0] != 0x4C:
        raise LnkError("header is missing or has the wrong size")
    flags = struct.unpack_from("<I", data, 0x14)[0]
    layout = Layout(flags)
    position = 0x4C
    if flags & HAS_ID_LIST:
        size = struct.unpack_from("<H", data, position)[0]
        layout.id_list = data[position + 2 : position + 2 + size]
        position += 2 + size
    if flags & HAS_LINK_INFO:
        size = struct.unpack_from("<I", data, position)[0]
        if size < 0x1C or position + size > len(data):
            raise LnkError("LinkInfo is out of bounds")
        position += size
    layout.link_info_end = min(position, len(data))
    position = _read_strings(data, position, flags, layout.strings)
    layout.extra_start = position
    layout.extra_end = _walk_extra_blocks(data, position, layout.extra_blocks)
    return layout


def _read_strings(data: bytes, position: int, flags: int, out: dict[str, str]) -> int:
    width = 2 if flags & IS_UNICODE else 1
    for flag, key in (
        (HAS_NAME, "description"),
        (HAS_RELATIVE_PATH, "relative_path"),
        (HAS_WORKING_DIR, "working_dir"),
        (HAS_ARGUMENTS, "arguments"),
        (HAS_ICON_LOCATION, "icon_location"),
    ):
        if not flags & flag:
            continue
        if position + 2 > len(data):
            raise LnkError(f"the {key.replace('_', ' ')} is cut short")
        count = struct.unpack_from("<H", data, position)[0]
        raw = data[position + 2 : position + 2 + count * width]
        if len(raw) < count * width:
            raise LnkError(f"the {key.replace('_', ' ')} is cut short")
        text = raw.decode("utf-16-le", "replace") if width == 2 else raw.decode("cp1252", "replace")
        out[key] = text.split("\x00", 1)[0]
        position += 2 + count * width
    return position


def _walk_extra_blocks(data: bytes, position: int, blocks: list[bytes]) -> int:
    while position + 4 <= len(data) and len(blocks) < MAX_EXTRA_BLOCKS:
        size = struct.unpack_from("<I", data, position)[0]
        if size < 4:
            return position + 4  # the terminal block
        if size < 8 or position + size > len(data):
            return position  # broken block: stop, what follows is appended data
        blocks.append(data[position : position + size])
        position += size
    return position


def _extras(layout: Layout) -> dict:
    if not layout.extra_blocks:
        return {}
    return ExtraData(indata=b"".join(layout.extra_blocks) + b"\x00" * 4).as_dict()


def _extra(extras: dict, block: str, key: str) -> str | None:
    found = extras.get(block)
    return (found.get(key) or None) if isinstance(found, dict) else None


def _show_command(data: bytes) -> int:
    return struct.unpack_from("<I", data, 0x3C)[0]


def _time(value) -> str | None:
    if isinstance(value, datetime.datetime) and value.year > 1601:
        return value.isoformat()
    return None


def _location(link_info: dict) -> dict:
    location = link_info.get("location_info") or {}
    result = {
        "drive_type": location.get("drive_type"),
        "drive_serial": location.get("drive_serial_number"),
        "volume_label": location.get("volume_label_unicode") or location.get("volume_label"),
        "network_share": location.get("net_name_unicode") or location.get("net_name"),
        "network_device": location.get("device_name_unicode") or location.get("device_name"),
    }
    return {key: value for key, value in result.items() if value}


def _tracker(extras: dict) -> dict:
    """Machine name and MAC address of the computer the shortcut was made on."""
    block = extras.get("DISTRIBUTED_LINK_TRACKER_BLOCK")
    if not isinstance(block, dict):
        return {}
    result = {"machine_id": (block.get("machine_identifier") or "").strip("\x00") or None}
    droid = block.get("birth_droid_file_identifier") or block.get("droid_file_identifier")
    try:
        parsed = uuid.UUID(str(droid))
        if parsed.version == 1:  # time-based: the last 6 bytes are the MAC address
            result["mac_address"] = ":".join(f"{byte:02x}" for byte in parsed.node.to_bytes(6, "big"))
    except (ValueError, TypeError):
        pass
    return {key: value for key, value in result.items() if value}


def _targets(layout: Layout, link_info: dict, extras: dict) -> list[str]:
    """Every place the shortcut names as its target; Windows prefers them in this order."""
    candidates = [
        _extra(extras, "ENVIRONMENTAL_VARIABLES_LOCATION_BLOCK", "target_unicode"),
        _extra(extras, "ENVIRONMENTAL_VARIABLES_LOCATION_BLOCK", "target_ansi"),
        _link_info_path(link_info),
        id_list_path(layout.id_list),
        layout.strings.get("relative_path"),
    ]
    return list(dict.fromkeys(item for item in candidates if item))


def _link_info_path(link_info: dict) -> str | None:
    suffix = link_info.get("common_path_suffix_unicode") or link_info.get("common_path_suffix") or ""
    base = link_info.get("local_base_path_unicode") or link_info.get("local_base_path")
    if base:
        return base + suffix
    share = (link_info.get("location_info") or {}).get("net_name")
    if share:
        return share.rstrip("\\") + ("\\" + suffix if suffix else "")
    return None


def id_list_path(id_list: bytes) -> str | None:
    """The target path spelled by a LinkTargetIDList (drive, folders, long file names)."""
    parts: list[str] = []
    position = 0
    for _ in range(MAX_ID_ITEMS):
        if position + 2 > len(id_list):
            break
        size = struct.unpack_from("<H", id_list, position)[0]
        if size < 3 or position + size > len(id_list):
            break
        part = _id_item_name(id_list[position : position + size])
        if part:
            parts.append(part)
        position += size
    if not parts:
        return None
    path = parts[0]
    for part in parts[1:]:
        path = path + part if path.endswith("\\") else path + "\\" + part
    return path


def _id_item_name(item: bytes) -> str | None:
    kind = item[2]
    if kind == 0x1F:  # root folder (My Computer ...): not part of the path
        return None
    if 0x20 <= kind <= 0x2F:  # volume: "C:\"
        return item[3:].split(b"\x00", 1)[0].decode("cp1252", "replace") or None
    if 0x30 <= kind <= 0x3F:  # file or folder
        return _file_entry_name(item, kind)
    if 0x40 <= kind <= 0x4F:  # network location: "\\server\share"
        return item[5:].split(b"\x00", 1)[0].decode("cp1252", "replace") or None
    if kind == 0x61:  # URI
        text = item[3:].decode("utf-16-le", "ignore")
        found = _URL_RE.search(text)
        return found.group(0) if found else None
    return None


def _file_entry_name(item: bytes, kind: int) -> str | None:
    """Long name from the 0xBEEF0004 extension block, else the (8.3) primary name."""
    long_name = _beef0004_long_name(item)
    if long_name:
        return long_name
    raw = item[14:]
    if kind & 0x04:  # the primary name is UTF-16
        return raw.decode("utf-16-le", "replace").split("\x00", 1)[0] or None
    return raw.split(b"\x00", 1)[0].decode("cp1252", "replace") or None


def _beef0004_long_name(item: bytes) -> str | None:
    signature = item.find(b"\x04\x00\xef\xbe")
    if signature < 4:
        return None
    start = signature - 4
    version = struct.unpack_from("<H", item, start + 2)[0]
    # Layout from libfwsi: v3 name at 20; v7 adds 18 bytes; v8 and v9 add 4 more each.
    offset = {3: 20, 7: 38, 8: 42, 9: 46}.get(version)
    if offset is None or start + offset >= len(item):
        return None
    raw = item[start + offset :]
    end = next((index for index in range(0, len(raw) - 1, 2) if raw[index : index + 2] == b"\x00\x00"), None)
    if end is None:
        return None
    return raw[:end].decode("utf-16-le", "replace") or None


# -- judging ---------------------------------------------------------------------------------------------


def _facts(node, ctx, info: dict) -> None:
    arguments = info["arguments"] or ""
    program = launched_program(info)
    info["launches"] = program
    decoded = _decode_command(arguments, program)
    if decoded:
        info["decoded_command"] = decoded
    _indicators(info, arguments, decoded)
    if program:
        ctx.fact(node, "lnk.launches_shell", program=program, arguments=_shown(arguments) or "(none)")
    hidden = _hidden_window(info, arguments, program)
    if hidden:
        ctx.fact(node, "lnk.hidden_window", evidence=hidden)
    encoded = _encoded_evidence(arguments, program)
    if encoded:
        ctx.fact(node, "lnk.encoded_command", evidence=encoded)
    remote = next((item for item in info["target_candidates"] if _is_remote(item)), None)
    if remote:
        ctx.fact(node, "lnk.remote_target", target=remote)
    _icon_disguise(node, ctx, info, program)


def launched_program(info: dict) -> str | None:
    """The command-running program a shortcut starts (``powershell.exe``), or None.

    A LOLBin counts when it gets arguments (``cmd.exe`` alone just opens a window);
    a script file counts by itself, since Windows runs it with its script host.
    """
    arguments = info["arguments"] or ""
    for target in info["target_candidates"]:
        name = _basename(target)
        stem, _, ext = name.lower().rpartition(".")
        stem = ALIASES.get(stem or ext, stem or ext)
        if stem in SHELL_PROGRAMS and arguments.strip():
            if stem in NEEDS_REMOTE_ARGUMENT and not (_URL_RE.search(arguments) or _UNC_RE.search(arguments)):
                continue
            return name
        entry = lookup(ext) if ext else None
        if entry is not None and entry.cls.id == "script":
            return name
    return None


def _hidden_window(info: dict, arguments: str, program: str | None) -> str | None:
    for word, value in _SWITCH_RE.findall(arguments):
        word, value = word.lower(), (value or "").lower()
        if (
            "windowstyle".startswith(word)
            and word.startswith("w")
            and (value in ("1", "hidden") or (value and "hidden".startswith(value)))
        ):
            return f"-{word} {value}"
    if re.search(r"(?i)\bstart\s+(?:\"[^\"]*\"\s+)?/min\b", arguments):
        return "start /min"
    if info["show_command"] == SW_SHOWMINNOACTIVE and (program or arguments.strip()):
        return "window state: minimized without focus (SW_SHOWMINNOACTIVE)"
    return None


def _encoded_switch(arguments: str) -> tuple[str, str] | None:
    """PowerShell's ``-EncodedCommand`` (any accepted abbreviation: -e, -ec, -enc ...) and
    its base64 value. Only when PowerShell is involved: ``certutil -encode`` is not it."""
    if not re.search(r"(?i)powershell|pwsh", arguments):
        return None
    for word, value in _SWITCH_RE.findall(arguments):
        word = word.lower()
        is_switch = word == "ec" or (word.startswith("e") and "encodedcommand".startswith(word))
        if is_switch and _BASE64_RE.match(value):
            return word, value
    return None


def _encoded_evidence(arguments: str, program: str | None) -> str | None:
    found = _encoded_switch(f"{program or ''} {arguments}")
    if found:
        word, value = found
        return f"-{word} {value[:40]}{'…' if len(value) > 40 else ''}"
    hint = _BASE64_HINT_RE.search(arguments)
    return hint.group(0) if hint else None


def _decode_command(arguments: str, program: str | None) -> str | None:
    """The text of a PowerShell ``-EncodedCommand`` (base64 of UTF-16LE), if present."""
    found = _encoded_switch(f"{program or ''} {arguments}")
    if not found:
        return None
    value = found[1]
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None
    text = raw.decode("utf-16-le", "replace") if raw[1:2] == b"\x00" else raw.decode("utf-8", "replace")
    return text[:MAX_DECODED]


def _indicators(info: dict, arguments: str, decoded: str | None) -> None:
    texts = [
        arguments,
        decoded or "",
        info.get("working_dir") or "",
        info.get("icon_location") or "",
        *info["target_candidates"],
        info.get("network_share") or "",
    ]
    urls: list[str] = []
    hosts: list[str] = []
    for text in texts:
        for url in _URL_RE.findall(text):
            url = url.rstrip(".,;'\")")
            urls.append(url)
            host = urlsplit(url).hostname
            if host:
                hosts.append(host)
        for match in _UNC_RE.finditer(text):
            urls.append(match.group(0))
            hosts.append(match.group(1).split("@", 1)[0])
    info["urls"] = list(dict.fromkeys(urls))[:50]
    info["hosts"] = list(dict.fromkeys(hosts))[:50]


def _is_remote(path: str) -> bool:
    lowered = path.strip().lower()
    return lowered.startswith(("\\\\", "//")) or "://" in lowered or "davwwwroot" in lowered


def _icon_disguise(node, ctx, info: dict, program: str | None) -> None:
    icon = (info.get("icon_location") or "").strip().strip('"')
    if not icon:
        return
    icon_name = _basename(icon).lower()
    source = ICON_SOURCES.get(icon_name)
    if source is None:
        entry = lookup(icon_name.rpartition(".")[2]) if "." in icon_name else None
        if entry is None or entry.cls.id not in ("document", "picture", "archive", "web", "text"):
            return
        source = (f"a {entry.en}", entry.zh)
    target_name = _basename(info.get("target") or "").lower()
    target_entry = lookup(target_name.rpartition(".")[2]) if "." in target_name else None
    runs_code = bool(program) or (target_entry is not None and target_entry.runs_code)
    if not runs_code or target_name == icon_name:
        return  # a shortcut to Word with Word's icon is just a shortcut
    ctx.fact(
        node,
        "lnk.icon_disguise",
        icon=_basename(icon),
        what=source[0],
        what_zh=source[1],
        index=info.get("icon_index"),
    )


def _basename(path: str) -> str:
    return re.split(r"[\\/]", path.strip().strip('"').rstrip("\\/"))[-1]


def _shown(arguments: str) -> str:
    """Arguments as a person should see them: blanks collapsed, long text cut."""
    text = " ".join(arguments.split())
    return text if len(text) <= SHOWN_ARGUMENTS else text[: SHOWN_ARGUMENTS - 1] + "…"
