"""Windows programs (PE: .exe, .dll, drivers, .NET): what kind, signed or not, packed or
padded, what it imports, and what it says about itself.

Parsing is done by ``pefile`` with ``fast_load=True`` and only the directories needed
(imports, delay imports, debug, resources for the version information). Everything that
reads section bytes is bounded: at most :data:`MAX_SECTIONS` sections and
:data:`SAMPLE_BYTES` bytes of each region are looked at, so a 400 MB padded installer costs
the same few milliseconds as a small one.

Results go to ``node.info["pe"]`` (the overlay extractor reads ``overlay_offset`` /
``overlay_size`` from there; the correlation code reads ``imphash``); observations go out
as facts (``pe.packed``, ``pe.suspicious_imports`` ...). The verdict for "it is a program at
all" is ``type.executable`` from :mod:`filewall.analyze.filetype`.
"""

from __future__ import annotations

import datetime
import re
import struct
from dataclasses import dataclass

import numpy as np
import pefile

from ..registry import analyzer
from ..text import base_name

MiB = 1024 * 1024

#: Sections looked at (pefile itself accepts up to 2048; real programs have < 20).
MAX_SECTIONS = 96
#: Bytes sampled per region for entropy and padding: 64 evenly spread 64 KiB blocks.
SAMPLE_BLOCK = 64 * 1024
SAMPLE_BLOCKS = 64
SAMPLE_BYTES = SAMPLE_BLOCK * SAMPLE_BLOCKS
#: A region this large made of one repeated byte is padding (T1027.001 "binary padding").
PADDING_MIN = 1 * MiB
#: Share of the most common byte above which a sampled region counts as filler.
FILLER_SHARE = 0.995
#: Code whose entropy is this high is compressed or encrypted (plain x86 code is ~6-6.7).
HIGH_ENTROPY = 7.2
#: Strings from version info and debug data are cut to this length.
MAX_TEXT = 200

_DIRECTORIES = [
    pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_IMPORT"],
    pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_DELAY_IMPORT"],
    pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_DEBUG"],
    pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_RESOURCE"],
]
_SECURITY = pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_SECURITY"]
_CLR = pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_COM_DESCRIPTOR"]

MACHINES = {
    0x14C: "x86",
    0x8664: "x64",
    0xAA64: "arm64",
    0x1C0: "arm",
    0x1C4: "arm (thumb-2)",
    0x200: "itanium",
    0xA641: "arm64ec",
}
SUBSYSTEMS = {
    1: "native",
    2: "windows-gui",
    3: "windows-console",
    5: "os2-console",
    7: "posix-console",
    9: "windows-ce-gui",
    10: "efi-application",
    11: "efi-boot-driver",
    12: "efi-runtime-driver",
    13: "efi-rom",
    14: "xbox",
    16: "windows-boot-application",
}

# -- packers ---------------------------------------------------------------------------------------

#: Section names packers leave behind (compared case-sensitively after stripping NULs).
PACKER_SECTIONS = {
    "UPX0": "UPX",
    "UPX1": "UPX",
    "UPX2": "UPX",
    "UPX!": "UPX",
    ".UPX0": "UPX",
    ".UPX1": "UPX",
    ".aspack": "ASPack",
    ".ASPack": "ASPack",
    ".MPRESS1": "MPRESS",
    ".MPRESS2": "MPRESS",
    ".themida": "Themida",
    ".Themida": "Themida",
    ".winlice": "WinLicense",
    ".vmp0": "VMProtect",
    ".vmp1": "VMProtect",
    ".vmp2": "VMProtect",
    "PEC2": "PECompact",
    "PECompact2": "PECompact",
    "pec1": "PECompact",
    "pec2": "PECompact",
    "PEC2TO": "PECompact",
    ".petite": "Petite",
    "petite": "Petite",
    ".WWP32": "WWPack32",
    ".WWPACK": "WWPack32",
    "yC": "yC (yoda's Crypter)",
    ".yP": "yoda's Protector",
    ".nsp0": "NsPack",
    ".nsp1": "NsPack",
    ".nsp2": "NsPack",
    "nsp0": "NsPack",
    "nsp1": "NsPack",
    ".enigma1": "Enigma Protector",
    ".enigma2": "Enigma Protector",
    ".taz": "PESpin",
    ".packed": "RLPack",
    ".RLPack": "RLPack",
    "FSG!": "FSG",
    ".perplex": "Perplex",
    ".spack": "Simple Pack",
    ".MaskPE": "MaskPE",
    ".neolit": "NeoLite",
    ".neolite": "NeoLite",
    ".svkp": "SVKP",
    "kkrunchy": "kkrunchy",
    ".boom": "The Boomerang",
    ".ccg": "CCG",
    ".ASPack2": "ASPack",
    "ExeS": "EXE Stealth",
    "MEW": "MEW",
    ".sforce3": "StarForce",
    ".lif": "Obsidium",
    ".obsidium": "Obsidium",
}
#: Entry-point byte patterns (None = any byte), from the public signatures ClamAV's
#: unpackers and PEiD use. Checked against the first bytes at the entry point.
_EP = lambda text: tuple(None if part == "??" else int(part, 16) for part in text.split())  # noqa: E731
PACKER_ENTRY_POINTS: list[tuple[str, tuple[int | None, ...]]] = [
    ("UPX", _EP("60 BE ?? ?? ?? ?? 8D BE ?? ?? ?? ??")),
    ("ASPack", _EP("60 E8 03 00 00 00 E9 EB 04 5D 45 55 C3 E8 01 00 00 00")),
    ("ASPack", _EP("60 E8 00 00 00 00 5D 81 ED ?? ?? ?? ?? B8 ?? ?? ?? ?? 03 C5")),
    ("PESpin", _EP("EB 01 ?? 60 E8 00 00 00 00 8B 1C 24 83 C3")),
    ("yC (yoda's Crypter)", _EP("55 8B EC 53 56 57 60 E8 00 00 00 00 5D 81 ED")),
    ("Petite", _EP("B8 ?? ?? ?? ?? 68 ?? ?? ?? ?? 64 FF 35 00 00 00 00")),
    ("Petite", _EP("B8 ?? ?? ?? ?? 66 9C 60 50")),
    ("WWPack32", _EP("53 55 8B E8 33 DB EB 60 0D 0A 0D 0A 57 57 50 61 63 6B 33 32")),
    ("FSG", _EP("87 25 ?? ?? ?? ?? 61 94 55 A4 B6 80 FF 13")),
    ("FSG", _EP("BE A4 01 40 00 AD 93 AD 97 AD 56 96 B2 80 BE")),
    ("FSG", _EP("BB D0 01 40 00 BF 00 10 40 00 BE")),
    ("MEW", _EP("E9 ?? ?? FF FF 0C ?? 00 00 00 00 00 00 00 00 00")),
    ("Upack", _EP("BE ?? ?? ?? ?? AD 50 FF 76 34 EB 7C 48")),
    (
        "PECompact",
        _EP(
            "B8 ?? ?? ?? ?? 50 64 FF 35 00 00 00 00 64 89 25 00 00 00 00 33 C0 89 08 50 45 43 6F 6D 70 61 63 74 32"
        ),
    ),
    ("MPRESS", _EP("60 E8 00 00 00 00 58 05 ?? ?? 00 00 8B 30 03 F0 2B C0 8B FE 66 AD C1 E0 0C")),
    ("NsPack", _EP("9C 60 E8 00 00 00 00 5D B8 07 00 00 00")),
]

# -- imports ---------------------------------------------------------------------------------------

#: Windows functions Trojans rely on, by what they let a program do. "A"/"W" variants
#: match their base name. "strong" categories fire ``pe.suspicious_imports`` on their own;
#: "run" (ShellExecute, common in ordinary programs) only adds to a strong one.
SUSPICIOUS_IMPORTS: dict[str, str] = {
    # injecting code into other programs
    "VirtualAllocEx": "inject",
    "WriteProcessMemory": "inject",
    "CreateRemoteThread": "inject",
    "CreateRemoteThreadEx": "inject",
    "NtCreateThreadEx": "inject",
    "RtlCreateUserThread": "inject",
    "QueueUserAPC": "inject",
    "NtQueueApcThread": "inject",
    "SetThreadContext": "inject",
    "NtUnmapViewOfSection": "inject",
    "ZwUnmapViewOfSection": "inject",
    "NtWriteVirtualMemory": "inject",
    # fetching files from the internet
    "URLDownloadToFile": "download",
    "URLDownloadToCacheFile": "download",
    "InternetOpenUrl": "download",
    # recording the keyboard
    "SetWindowsHookEx": "keylog",
    "GetAsyncKeyState": "keylog",
    # starting commands
    "WinExec": "exec",
    "ShellExecute": "run",
    "ShellExecuteEx": "run",
}
IMPORT_CATEGORIES = {
    "inject": ("writes code into other programs", "向其他程序注入代码"),
    "download": ("downloads files from the internet", "从网上下载文件"),
    "keylog": ("records what you type", "记录键盘输入"),
    "exec": ("runs commands", "执行命令"),
    "run": ("starts other programs", "启动其他程序"),
}
_STRONG = {"inject", "download", "keylog", "exec"}

VERSION_KEYS = (
    "CompanyName",
    "FileDescription",
    "ProductName",
    "OriginalFilename",
    "InternalName",
    "FileVersion",
    "ProductVersion",
    "LegalCopyright",
)


@dataclass
class Region:
    """Entropy and filler share of a byte range, measured on a bounded sample."""

    entropy: float
    filler_share: float


@analyzer("pe", name="pe.analyze_pe", order=20)
def analyze_pe(node, content, ctx) -> None:
    """Parse a PE, fill ``node.info["pe"]`` and record what stands out."""
    data = content.view()
    old_format = _is_16bit(data)
    if old_format:
        node.info["pe"] = {"format": old_format}
        return
    try:
        pe = pefile.PE(data=data, fast_load=True)
    except pefile.PEFormatError as error:
        _corrupt(node, ctx, f"not a valid Windows program header: {error}", "程序头无效")
        return
    try:
        node.info["pe"] = _describe(pe, data, content.trailing_padding, node, ctx)
    finally:
        del pe  # pefile holds the (possibly mapped) buffer; let it go before Content closes


def _describe(pe: pefile.PE, data, trailing_padding: int, node, ctx) -> dict:
    size = len(data)
    _parse_directories(pe)
    sections = _sections(pe, data)
    overlay_offset, overlay_size = _overlay(pe, size)
    info = {
        **_header(pe),
        "signed": _signed(pe, size),
        "overlay_offset": overlay_offset,
        "overlay_size": overlay_size,
        "sections": sections,
        "number_of_sections": pe.FILE_HEADER.NumberOfSections,
        "imphash": _imphash(pe),
        "packer": _packers(pe, data, sections),
        "pdb": _pdb_path(pe),
        "version": _version_info(pe),
    }
    imports, dlls = _imports(pe)
    info["dlls"] = dlls[:64]
    info["import_count"] = len(imports)
    if "ntoskrnl.exe" in dlls or "hal.dll" in dlls or info["subsystem"] == "native":
        info["kind"] = "driver"
    info["padding"] = _padding(trailing_padding, data, sections, (overlay_offset, overlay_size))
    _facts(node, ctx, pe, info, imports, data)
    return info


# -- header ------------------------------------------------------------------------------------------


def _is_16bit(data) -> str | None:
    """``"NE"``/``"LE"``/``"LX"`` for old 16-bit and VxD programs pefile does not parse."""
    if len(data) < 0x40:
        return None
    offset = struct.unpack_from("<I", data, 0x3C)[0]
    tag = bytes(data[offset : offset + 2]) if offset + 2 <= len(data) else b""
    return tag.decode() if tag in (b"NE", b"LE", b"LX") else None


def _header(pe: pefile.PE) -> dict:
    file_header, optional = pe.FILE_HEADER, pe.OPTIONAL_HEADER
    is_dll = bool(file_header.Characteristics & 0x2000)
    directories = optional.DATA_DIRECTORY
    timestamp = file_header.TimeDateStamp
    return {
        "machine": MACHINES.get(file_header.Machine, hex(file_header.Machine)),
        "bits": 64 if optional.Magic == 0x20B else 32,
        "kind": "dll" if is_dll else "exe",
        "is_dll": is_dll,
        "subsystem": SUBSYSTEMS.get(optional.Subsystem, str(optional.Subsystem)),
        "is_dotnet": len(directories) > _CLR and directories[_CLR].VirtualAddress != 0,
        "entry_point": optional.AddressOfEntryPoint,
        "compiled": _iso_time(timestamp),
    }


def _iso_time(timestamp: int) -> str | None:
    # Reproducible builds write a hash here, not a time; only plausible dates are shown.
    if not 631152000 <= timestamp <= 4102444800:  # 1990 .. 2100
        return None
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).isoformat()


def _signed(pe: pefile.PE, size: int) -> bool:
    directories = pe.OPTIONAL_HEADER.DATA_DIRECTORY
    if len(directories) <= _SECURITY:
        return False
    entry = directories[_SECURITY]
    # The security directory holds a *file offset* (not an RVA) to the Authenticode blob.
    return entry.VirtualAddress > 0 and entry.Size >= 8 and entry.VirtualAddress + entry.Size <= size


def _parse_directories(pe: pefile.PE) -> None:
    try:
        pe.parse_data_directories(directories=_DIRECTORIES)
    except Exception:  # a broken directory must not hide the rest of the header
        pass


# -- sections, entropy, padding ---------------------------------------------------------------------


def _sections(pe: pefile.PE, data) -> list[dict]:
    result = []
    size = len(data)
    for index, section in enumerate(pe.sections[:MAX_SECTIONS]):
        start = min(section.PointerToRawData, size)
        end = min(start + section.SizeOfRawData, size)
        region = measure(data, start, end)
        flags = section.Characteristics
        result.append(
            {
                "name": _section_name(section.Name, index),
                "raw_offset": section.PointerToRawData,
                "raw_size": section.SizeOfRawData,
                "virtual_size": section.Misc_VirtualSize,
                "entropy": round(region.entropy, 2),
                "filler_share": round(region.filler_share, 3),
                "access": ("r" if flags & 0x40000000 else "-")
                + ("w" if flags & 0x80000000 else "-")
                + ("x" if flags & 0x20000000 else "-"),
                "code": bool(flags & 0x20),
            }
        )
    return result


def _section_name(raw: bytes, index: int) -> str:
    text = raw.rstrip(b"\x00").decode("latin-1")
    return text if text and text.isprintable() else f"#{index}"


def measure(data, start: int, end: int) -> Region:
    """Shannon entropy (bits per byte) and most-common-byte share of ``data[start:end]``.

    Regions larger than :data:`SAMPLE_BYTES` are sampled in evenly spread blocks, so the
    cost is bounded whatever the file size. Works on ``bytes`` and ``mmap`` alike.
    """
    length = end - start
    if length <= 0:
        return Region(0.0, 0.0)
    counts = np.zeros(256, dtype=np.int64)
    if length <= SAMPLE_BYTES:
        counts += _count(data, start, length)
    else:
        step = (length - SAMPLE_BLOCK) // (SAMPLE_BLOCKS - 1)
        for block in range(SAMPLE_BLOCKS):
            counts += _count(data, start + block * step, SAMPLE_BLOCK)
    total = counts.sum()
    probabilities = counts[counts > 0] / total
    entropy = float(-(probabilities * np.log2(probabilities)).sum())
    return Region(entropy, float(counts.max() / total))


def _count(data, offset: int, length: int) -> np.ndarray:
    view = memoryview(data)[offset : offset + length]
    try:
        return np.bincount(np.frombuffer(view, dtype=np.uint8), minlength=256)
    finally:
        view.release()


def _overlay(pe: pefile.PE, size: int) -> tuple[int | None, int]:
    """Where data appended after the program starts, and how many bytes it has.

    pefile counts an Authenticode signature as overlay; it is part of a signed program,
    so a signature at the very end is left out (anything after it is still overlay).
    """
    start = pe.get_overlay_data_start_offset()
    if start is None:
        return None, 0
    overlay = size - start
    directories = pe.OPTIONAL_HEADER.DATA_DIRECTORY
    if len(directories) > _SECURITY:
        cert_offset, cert_size = directories[_SECURITY].VirtualAddress, directories[_SECURITY].Size
        if cert_size and start <= cert_offset and cert_offset + cert_size <= size:
            before, after = cert_offset - start, size - cert_offset - cert_size
            overlay = before + after
            if before <= 16:  # only alignment before the signature
                start, overlay = cert_offset + cert_size, after
    if overlay <= 16:
        return None, 0
    return start, overlay


def _padding(content_padding: int, data, sections: list[dict], overlay: tuple[int | None, int]) -> int:
    """Bytes of filler in the file: trailing run, filler overlay, filler-only sections."""
    padding = content_padding
    offset, size = overlay
    if (
        offset is not None
        and size >= PADDING_MIN
        and measure(data, offset, offset + size).filler_share >= FILLER_SHARE
    ):
        padding = max(padding, size)
    in_sections = sum(
        section["raw_size"]
        for section in sections
        if section["raw_size"] >= PADDING_MIN and section["filler_share"] >= FILLER_SHARE
    )
    return max(padding, in_sections)


# -- packers, imports, debug, version ----------------------------------------------------------------


def _packers(pe: pefile.PE, data, sections: list[dict]) -> list[str]:
    found: list[str] = []
    for section in sections:
        name = section["name"]
        packer = PACKER_SECTIONS.get(name) or ("MEW" if name.startswith("MEW") else None)
        if packer and packer not in found:
            found.append(packer)
    entry = _entry_bytes(pe, data)
    for packer, pattern in PACKER_ENTRY_POINTS:
        if packer not in found and _matches(entry, pattern):
            found.append(packer)
    # Upack and MEW overlap the PE header with the DOS header; Upack also stores its
    # import DLL name there ("MZKERNEL32.DLL").
    if bytes(data[2:14]).upper() == b"KERNEL32.DLL" and "Upack" not in found:
        found.append("Upack")
    return found


def _entry_bytes(pe: pefile.PE, data, length: int = 48) -> bytes:
    try:
        offset = pe.get_offset_from_rva(pe.OPTIONAL_HEADER.AddressOfEntryPoint)
    except Exception:
        return b""
    if offset is None or offset >= len(data):
        return b""
    return bytes(data[offset : offset + length])


def _matches(blob: bytes, pattern: tuple[int | None, ...]) -> bool:
    if len(blob) < len(pattern):
        return False
    return all(want is None or blob[index] == want for index, want in enumerate(pattern))


def _imports(pe: pefile.PE) -> tuple[list[str], list[str]]:
    """Imported function names and DLL names (lower case), regular and delay-loaded."""
    functions: list[str] = []
    dlls: list[str] = []
    for attribute in ("DIRECTORY_ENTRY_IMPORT", "DIRECTORY_ENTRY_DELAY_IMPORT"):
        for entry in getattr(pe, attribute, []) or []:
            dll = (entry.dll or b"").decode("latin-1", "replace").lower()
            if dll and dll not in dlls:
                dlls.append(dll)
            functions.extend(item.name.decode("latin-1", "replace") for item in entry.imports if item.name)
    return functions, dlls


def suspicious_imports(functions: list[str]) -> dict[str, list[str]]:
    """Imported functions from :data:`SUSPICIOUS_IMPORTS`, grouped by category."""
    found: dict[str, list[str]] = {}
    for function in functions:
        base = (
            function[:-1] if function[-1:] in ("A", "W") and function[:-1] in SUSPICIOUS_IMPORTS else function
        )
        category = SUSPICIOUS_IMPORTS.get(base)
        if category and function not in found.get(category, []):
            found.setdefault(category, []).append(function)
    return found


def _imphash(pe: pefile.PE) -> str | None:
    try:
        return pe.get_imphash() or None
    except Exception:
        return None


def _pdb_path(pe: pefile.PE) -> str | None:
    for entry in getattr(pe, "DIRECTORY_ENTRY_DEBUG", []) or []:
        name = getattr(getattr(entry, "entry", None), "PdbFileName", None)
        if name:
            return name.split(b"\x00", 1)[0].decode("utf-8", "replace")[:MAX_TEXT]
    return None


def _version_info(pe: pefile.PE) -> dict[str, str]:
    found: dict[str, str] = {}
    for group in getattr(pe, "FileInfo", []) or []:
        for item in group:
            for table in getattr(item, "StringTable", []) or []:
                for key, value in table.entries.items():
                    text_key = key.decode("utf-8", "replace")
                    if text_key in VERSION_KEYS and text_key not in found:
                        found[text_key] = value.decode("utf-8", "replace").strip("\x00 ")[:MAX_TEXT]
    return found


# -- facts -------------------------------------------------------------------------------------------


def _facts(node, ctx, pe: pefile.PE, info: dict, imports: list[str], data) -> None:
    ctx.fact(node, "pe.signed" if info["signed"] else "pe.unsigned")
    _structure(node, ctx, pe, len(data))
    padding = info["padding"]
    if padding >= PADDING_MIN:
        ctx.fact(node, "archive.padded_member", padding=padding)
    if info["overlay_size"] and info["overlay_size"] - padding > 16:
        ctx.fact(node, "pe.overlay", size=info["overlay_size"], offset=info["overlay_offset"])
    if info["packer"]:
        ctx.fact(node, "pe.packed", packer=", ".join(info["packer"]))
    else:
        _high_entropy(node, ctx, info)
    _suspicious_imports(node, ctx, info, imports)
    _original_name(node, ctx, info)


def _structure(node, ctx, pe: pefile.PE, size: int) -> None:
    """Sections that cannot be read, or that end past the end of the file (cut short)."""
    declared, readable = pe.FILE_HEADER.NumberOfSections, len(pe.sections)
    if readable < declared:
        _corrupt(
            node,
            ctx,
            f"its header lists {declared:,} sections but only {readable:,} can be read",
            f"程序头声明有 {declared:,} 个节，但只能读出 {readable:,} 个",
        )
        return
    if node.truncated:
        return  # cut at a scan limit: limit.file_size already says so
    ends = [s.PointerToRawData + s.SizeOfRawData for s in pe.sections[:MAX_SECTIONS] if s.SizeOfRawData]
    expected = max(ends, default=0)
    if expected > size:
        _corrupt(
            node,
            ctx,
            f"the file is cut short: it has {size:,} bytes but its sections need {expected:,}",
            f"文件不完整：只有 {size:,} 字节，程序结构需要 {expected:,} 字节",
        )


def _high_entropy(node, ctx, info: dict) -> None:
    """Packed or encrypted code without a known packer: the most random code section."""
    candidates = [
        section
        for section in info["sections"]
        if (section["code"] or "x" in section["access"])
        and section["raw_size"] >= 1024
        and section["entropy"] >= HIGH_ENTROPY
    ]
    if candidates:
        top = max(candidates, key=lambda section: section["entropy"])
        ctx.fact(node, "pe.high_entropy", section=top["name"], entropy=top["entropy"])


def _suspicious_imports(node, ctx, info: dict, imports: list[str]) -> None:
    found = suspicious_imports(imports)
    info["suspicious_imports"] = found
    if not _STRONG & found.keys():
        return
    order = [category for category in IMPORT_CATEGORIES if category in found]
    en = "; ".join(f"{', '.join(found[c])} ({IMPORT_CATEGORIES[c][0]})" for c in order)
    zh = "；".join(f"{', '.join(found[c])}（{IMPORT_CATEGORIES[c][1]}）" for c in order)
    ctx.fact(
        node,
        "pe.suspicious_imports",
        functions=en,
        functions_zh=zh,
        names=sorted(name for c in order for name in found[c]),
    )


def _original_name(node, ctx, info: dict) -> None:
    """The program's own version info names another file: it was renamed (e.g. a signed
    tool renamed for a side-loading bundle, or ``putty.exe`` sent as ``报价单.exe``)."""
    original = info["version"].get("OriginalFilename", "")
    original = re.sub(r"\.mui$", "", original.strip(), flags=re.I)
    shown = base_name(node.name)
    if not original or "." not in original or len(original) > 120:
        return
    if _stem(original) != _stem(shown):
        product = info["version"].get("ProductName") or info["version"].get("FileDescription") or "?"
        ctx.fact(node, "pe.original_name", original=original, product=product)


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0].strip().casefold()


def _corrupt(node, ctx, reason: str, reason_zh: str) -> None:
    ctx.fact(node, "pe.corrupt", reason=reason, reason_zh=reason_zh)
