"""Microsoft Cabinet (``.cab``) files: Windows updates, driver packages, and lures.

``cabarchive`` (pure Python) unpacks stored and MSZIP cabinets, but it inflates every
folder into memory at once, keys members by name (two members with the same name collapse
into one) and only decodes UTF-8 names. So filewall first reads the cabinet's own tables
(a few fixed-size records; :func:`read_directory`) and uses cabarchive only when that is
safe: MSZIP or stored, no more than the engine's in-memory size, UTF-8 names, no duplicate
names. Everything else (LZX, Quantum, big cabinets, GBK names) is streamed by libarchive,
or unpacked by ``7zz``; with neither, members are listed by name and the cabinet gets
``archive.unsupported``.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field

import cabarchive

from ..engine import ExtractError
from ..registry import Child, extractor
from . import _tools

_HEADER = struct.Struct("<4sIIIIIBBHHHHH")
_FOLDER = struct.Struct("<IHH")
_FILE = struct.Struct("<IIHHHH")
_DATA = struct.Struct("<IHH")
COMPRESSION = {0: "stored", 1: "MSZIP", 2: "Quantum", 3: "LZX"}
_NAME_IS_UTF8 = 0x80
_MAX_NAME = 1024


@dataclass
class CabFile:
    name: str
    size: int
    folder: int
    utf8: bool


@dataclass
class CabDirectory:
    """What the cabinet's tables say: files, each folder's method and unpacked size."""

    files: list[CabFile] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    unpacked: int = 0


@extractor("cab")
def cab_members(node, content, ctx):
    """Yield the members of a cabinet."""
    directory = read_directory(content.view())
    if _cabarchive_is_safe(directory, ctx):
        yield from _with_cabarchive(content, directory)
    elif _tools.libarchive() is not None:
        yield from _tools.libarchive_children(node, content, ctx, "cab")
    elif _tools.can_open("cab", ("7zz",)) is not None:
        yield from _tools.tool_children(node, content, ctx, format_name="cab", tools=("7zz",))
    else:
        ctx.fact(node, "archive.unsupported", format=f"CAB ({', '.join(sorted(set(directory.methods)))})")
        for item in directory.files:
            yield Child(item.name.replace("\\", "/"), None, item.size, None, [], {"stored_name": item.name})


def read_directory(data) -> CabDirectory:
    """Parse CFHEADER, CFFOLDER and CFFILE records (and CFDATA sizes), all bounds-checked."""
    try:
        return _read_directory(data)
    except (struct.error, IndexError) as error:
        raise ExtractError("the cabinet is cut short inside its tables") from error


def _read_directory(data) -> CabDirectory:
    (magic, _, size, _, files_at, _, minor, major, folders, files, flags, _, _) = _HEADER.unpack_from(data, 0)
    if magic != b"MSCF" or major != 1:
        raise ExtractError(f"not a cabinet this version reads (version {major}.{minor})")
    if size > len(data):
        raise ExtractError(f"the cabinet is cut short ({len(data)} of {size} bytes)")
    offset, folder_reserve, data_reserve = _HEADER.size, 0, 0
    if flags & 0x4:
        header_reserve, folder_reserve, data_reserve = struct.unpack_from("<HBB", data, offset)
        offset += 4 + header_reserve
    for _ in range((flags & 1) * 2 + (flags >> 1 & 1) * 2):  # previous/next cabinet names
        offset = _string_end(data, offset) + 1
    directory = CabDirectory()
    for _ in range(folders):
        data_at, blocks, method = _FOLDER.unpack_from(data, offset)
        offset += _FOLDER.size + folder_reserve
        directory.methods.append(COMPRESSION.get(method & 0xF, f"method {method & 0xF}"))
        directory.unpacked += _folder_size(data, data_at, blocks, data_reserve)
    offset = files_at
    for _ in range(files):
        size, _, folder, _, _, attributes = _FILE.unpack_from(data, offset)
        end = _string_end(data, offset + _FILE.size)
        raw = bytes(data[offset + _FILE.size : end])
        utf8 = bool(attributes & _NAME_IS_UTF8)
        directory.files.append(CabFile(_decode(raw, utf8), size, folder, utf8))
        offset = end + 1
    return directory


def _folder_size(data, offset: int, blocks: int, reserve: int) -> int:
    total = 0
    for _ in range(blocks):
        _, packed, unpacked = _DATA.unpack_from(data, offset)
        total += unpacked
        offset += _DATA.size + reserve + packed
    return total


def _string_end(data, offset: int) -> int:
    end = data.find(b"\x00", offset, offset + _MAX_NAME)
    if end < 0:
        raise ExtractError("a cabinet name is not terminated")
    return end


def _decode(raw: bytes, utf8: bool) -> str:
    if utf8:
        return raw.decode("utf-8", "replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gbk", "replace")  # Chinese Windows tools write the ANSI code page


def _cabarchive_is_safe(directory: CabDirectory, ctx) -> bool:
    names = [item.name for item in directory.files]
    return (
        set(directory.methods) <= {"stored", "MSZIP"}
        and directory.unpacked <= min(ctx.limits.spool_threshold, ctx.remaining_bytes())
        and len(set(names)) == len(names)
        and all(_utf8(item.name) for item in directory.files)
    )


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8").decode("utf-8")
    except UnicodeError:
        return False
    return "\ufffd" not in name


def _with_cabarchive(content, directory: CabDirectory):
    try:
        archive = cabarchive.CabArchive(bytes(content.view()))
    except (cabarchive.CorruptionError, cabarchive.NotSupportedError, UnicodeDecodeError) as error:
        raise ExtractError(f"the cabinet is damaged ({error or type(error).__name__})") from error
    for item in directory.files:
        member = archive.get(item.name)
        data = member.buf if member is not None and member.buf is not None else b""
        yield Child(
            item.name.replace("\\", "/"),
            lambda data=data: io.BytesIO(data),
            item.size,
            None,
            [],
            {"stored_name": item.name},
        )
