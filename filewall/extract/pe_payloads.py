"""Programs inside programs: whole programs carried inside, AutoIt scripts, InstallShield
setups.

Three ways a Windows program hands over another one that the overlay extractor
(:mod:`.overlay`, archives and a program appended right after the image) does not see:

- **Embedded programs.** Droppers and "white + black" bundles carry a complete second
  program inside a section, a resource or the overlay. The first :data:`MAX_CARVE_BYTES`
  bytes are searched for ``MZ`` at offsets past 0 whose ``e_lfanew`` leads to ``PE\\0\\0``
  and a plausible header; the image's size comes from its own headers (end of the last
  section's raw data, the headers, an Authenticode table after them), limited to the
  section (or file) it sits in. At most :data:`MAX_CARVED` children ``[embedded program
  @0x…]``; programs inside a carved one are found when that child is scanned. The offset
  the overlay extractor already hands over (a program or archive right after the image)
  and everything after it are left to that extractor.
- **AutoIt v3** compiled scripts (``EA05``, ``EA06``): the script and every
  ``FileInstall`` payload are decrypted and decompressed with ``autoit-ripper`` (pure
  Python, MIT, needs only ``pefile``). The script comes out as ``script.au3``, each payload
  under its stored file name (its source path goes to ``info["source_path"]``).
- **InstallShield** setups that append their files as plain records (name, path, version,
  size, then the bytes): each file is a child under its path (``Disk1/setup.exe``);
  carving leaves that overlay to this reader.

Packed programs (UPX and the like) are not unpacked: that needs the packer's own tool
(UPX is not packaged for Debian 12 nor on PyPI, so it could not be tested here) or an
emulator. They are programs, so the policy already judges them malicious, and the PE
analyzer names the packer.
"""

from __future__ import annotations

import io
import logging
import re
import struct
from collections.abc import Iterator
from pathlib import PureWindowsPath
from typing import TYPE_CHECKING

from ..registry import Child, extractor
from . import _tools
from ._pe_layout import MAX_SECTIONS, raw_sections, read_headers, size_of_headers
from .overlay import _archive_after, _Range, overlay_start

if TYPE_CHECKING:
    from ..content import Content
    from ..engine import ScanContext
    from ..model import Node

MiB = 1024 * 1024

#: Bytes of a program searched for embedded programs (N).
MAX_CARVE_BYTES = 64 * MiB
#: Embedded programs handed over per program (K).
MAX_CARVED = 16
#: ``MZ`` candidates looked at per program (a file full of "MZ" costs no more than this).
MAX_CANDIDATES = 200_000
#: Largest program searched for AutoIt data.
MAX_AUTOIT_BYTES = 64 * MiB
#: AutoIt data decrypted per program. autoit-ripper decrypts and decompresses in pure
#: Python (about 0.5 MB/s for EA06) and cannot be interrupted, so this bounds the time
#: (a few seconds); a file reaching past it fails its checksum and ends the list.
MAX_AUTOIT_DATA = 4 * MiB
#: Files handed over from one AutoIt script.
MAX_AUTOIT_FILES = 256

_MACHINES = {0x14C, 0x8664, 0xAA64, 0x1C0, 0x1C4, 0x200, 0xA641, 0x1C2, 0xEBC}
_SECURITY_INDEX = 4

# The library logs every "not AutoIt" and CRC mismatch at error level; its findings reach
# the report through the children, so its own log is kept quiet.
logging.getLogger("autoit_ripper").setLevel(logging.CRITICAL)


# --- programs carried whole --------------------------------------------------------------


@extractor("pe")
def embedded_programs(node: Node, content: Content, ctx: ScanContext) -> Iterator[Child]:
    """Complete programs stored inside this one's sections, resources or overlay."""
    view = content.view()
    limit = min(len(view), MAX_CARVE_BYTES)
    for handled in (_overlay_handled_from(node, view), _installshield_start(node, view)):
        if handled is not None:
            limit = min(limit, handled)
    sections = _section_ranges(node)
    position = 1
    carved = candidates = 0
    while carved < MAX_CARVED and candidates < MAX_CANDIDATES:
        position = view.find(b"MZ", position, limit)
        if position < 0:
            break
        candidates += 1
        if candidates % 4096 == 0:
            ctx.check_time()
        where, bound = _container(position, sections, len(view))
        size = embedded_size(view, position, min(bound, len(view)))
        if size is None:
            position += 1
            continue
        carved += 1
        yield Child(
            name=f"[embedded program @0x{position:x}]",
            open=_range_opener(view, position, position + size),
            declared_size=size,
            info={"offset": position, "embedded_in": where},
        )
        position += size  # programs inside this one are found when it is scanned


def embedded_size(view, start: int, bound: int) -> int | None:
    """Size of a complete PE image at ``start`` ending by ``bound``, or None if there is none.

    Plausible means: ``e_lfanew`` within 4 KiB, a known machine, 1–96 sections, a
    32/64-bit optional header, the "executable image" flag and a power-of-two file
    alignment. The size is the end of the last section's raw data, of the headers (cut to
    ``bound``: tiny hand-made programs declare more header than they have) and of an
    Authenticode table that follows; every section must end by ``bound``.
    """
    headers = read_headers(view, start, bound)
    if headers is None or not 0x40 <= headers.e_lfanew <= 0x1000:
        return None
    sections, optional_size, optional = headers.sections, headers.optional_size, headers.optional
    if (
        headers.machine not in _MACHINES
        or not 1 <= sections <= MAX_SECTIONS
        or not headers.characteristics & 0x0002
    ):
        return None
    if optional + optional_size > bound or optional_size < 0x60:
        return None
    magic = struct.unpack_from("<H", view, optional)[0]
    directories = optional + (96 if magic == 0x10B else 112)
    if magic not in (0x10B, 0x20B) or directories > optional + optional_size:
        return None
    (file_alignment,) = struct.unpack_from("<I", view, optional + 36)
    if not file_alignment or file_alignment & (file_alignment - 1) or file_alignment > 0x10000:
        return None
    table = headers.table
    if table + 40 * sections > bound:
        return None
    end = table + 40 * sections - start
    for raw_size, raw_pointer in raw_sections(view, headers, bound):
        if raw_size:
            end = max(end, raw_pointer + raw_size)
    if start + end > bound:
        return None  # cut short: not a complete program
    available = bound - start
    end = max(end, min(size_of_headers(view, headers) or 0, available))
    entry = directories + 8 * _SECURITY_INDEX
    if struct.unpack_from("<I", view, directories - 4)[0] > _SECURITY_INDEX and entry + 8 <= table:
        cert_offset, cert_size = struct.unpack_from("<II", view, entry)
        if cert_size >= 8 and end <= cert_offset and cert_offset + cert_size <= available:
            end = cert_offset + cert_size
    return end


def _overlay_handled_from(node: Node, view) -> int | None:
    """Where the overlay extractor's child starts (it owns everything from there on)."""
    start = overlay_start(node, view)
    if start is None:
        return None
    found = _archive_after(view, start)
    return found[1] if found else None


def _section_ranges(node: Node) -> list[tuple[str, int, int]]:
    pe_info = node.info.get("pe")
    sections = pe_info.get("sections") if isinstance(pe_info, dict) else None
    ranges = []
    for section in sections or []:
        start, size = section.get("raw_offset") or 0, section.get("raw_size") or 0
        if size:
            ranges.append((section.get("name", "?"), start, start + size))
    return ranges


def _container(position: int, sections: list[tuple[str, int, int]], size: int) -> tuple[str, int]:
    """Where ``position`` lies (a section, or the overlay) and where that region ends."""
    for name, start, end in sections:
        if start <= position < end:
            return f"section {name}", end
    image_end = max((end for _, _, end in sections), default=0)
    if image_end and position >= image_end:
        return "overlay", size
    return "headers", size


def _range_opener(view, start: int, end: int):
    def open_range() -> io.BufferedReader:
        return io.BufferedReader(_Range(view, start, end))

    return open_range


# --- InstallShield ----------------------------------------------------------------------

#: Files read from one InstallShield overlay.
MAX_INSTALLSHIELD_FILES = 4096
_IS_NAME = re.compile(rb"[^\x00-\x1f]{1,260}")
_IS_VERSION = re.compile(rb"\d{1,5}(?:\.\d{1,5}){0,3}")
_IS_SIZE = re.compile(rb"\d{1,12}")


@extractor("pe")
def installshield_files(node: Node, content: Content, ctx: ScanContext) -> Iterator[Child]:
    """The files an InstallShield setup carries after its program, one record after another.

    Each record is four NUL-terminated texts (name, path such as ``Disk1\\setup.exe``,
    version, size in decimal) followed by that many bytes of the file (the format ClamAV's
    ``ishield.c`` reads). The newer ``ISSetupStream`` format is not read here.
    """
    view = content.view()
    start = _installshield_start(node, view)
    if start is None:
        return
    position, files = start, 0
    while files < MAX_INSTALLSHIELD_FILES:
        record = _installshield_record(view, position)
        if record is None:
            break
        path, data_start, size = record
        files += 1
        yield Child(
            name=_tools.shown(path),
            open=_range_opener(view, data_start, data_start + size),
            declared_size=size,
            info={"offset": data_start, "embedded_as": "InstallShield file"},
        )
        position = data_start + size
    node.info["installshield"] = {"files": files, "complete": position == len(view)}


def _installshield_start(node: Node, view) -> int | None:
    start = overlay_start(node, view)
    if start is None or _installshield_record(view, start) is None:
        return None
    return start


def _installshield_record(view, position: int) -> tuple[str, int, int] | None:
    """(path, where the data starts, size) of the record at ``position``, if it is one."""
    head = bytes(view[position : position + 1024])
    texts = head.split(b"\x00", 4)
    if len(texts) < 5:
        return None
    name, path, version, size = texts[:4]
    if not (
        _IS_NAME.fullmatch(name)
        and _IS_NAME.fullmatch(path)
        and _IS_VERSION.fullmatch(version)
        and _IS_SIZE.fullmatch(size)
    ):
        return None
    data_start = position + len(name) + len(path) + len(version) + len(size) + 4
    length = int(size)
    if data_start + length > len(view):
        return None
    return path.decode("utf-8", "replace"), data_start, length


# --- AutoIt ------------------------------------------------------------------------------

#: Start of an AutoIt v3 resource: 16 magic bytes, then ``AU3!EA05`` or ``AU3!EA06``.
AUTOIT_MAGIC = bytes.fromhex("a3484bbe986c4aa9994c530a86d6487d")


@extractor("pe")
def autoit_script(node: Node, content: Content, ctx: ScanContext) -> Iterator[Child]:
    """The script and ``FileInstall`` files of a compiled AutoIt v3 program."""
    view = content.view()
    if len(view) > MAX_AUTOIT_BYTES:
        return
    at = view.find(AUTOIT_MAGIC + b"AU3!")
    if at < 0:
        return
    version = bytes(view[at + 20 : at + 24])
    if version not in (b"EA05", b"EA06"):
        return
    try:
        from autoit_ripper import autoit_unpack, utils
    except ImportError:
        return
    data_end = min(len(view), at + 24 + MAX_AUTOIT_DATA)
    stream = utils.ByteStream(bytes(view[at + 24 : data_end]))
    if version == b"EA05":
        checksum, decryptor = sum(stream.get_bytes(16)), utils.EA05Decryptor()
    else:
        stream.skip_bytes(16)
        checksum, decryptor = 0, utils.EA06Decryptor()
    node.info["autoit"] = {"version": version.decode(), "files": 0}
    entries = autoit_unpack.parse_au3_header(stream=stream, checksum=checksum, decryptor=decryptor)
    for _ in range(MAX_AUTOIT_FILES):
        ctx.check_time()
        try:
            stored, data = next(entries)
        except StopIteration:
            return
        except Exception as error:  # a damaged script: keep what came out, say why
            node.info["autoit"]["error"] = f"{type(error).__name__}: {error}"[:200]
            return
        node.info["autoit"]["files"] += 1
        is_script = stored == "script.au3"
        name = "script.au3" if is_script else (PureWindowsPath(stored).name or "(no name)")
        yield Child(
            name=name,
            open=lambda data=data: io.BytesIO(data),
            declared_size=len(data),
            info={
                "source_path": stored[:500],  # the author's file, not where it is written
                "embedded_as": "AutoIt script" if is_script else "AutoIt FileInstall file",
            },
        )
