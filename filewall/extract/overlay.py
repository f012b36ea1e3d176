"""Data appended after the end of a program or a picture: self-extractors and smuggling.

A program followed by an archive is a self-extracting archive (WinRAR, 7-Zip, WinZip,
Info-ZIP SFX; R14 in the research notes): opening it runs the program, which unpacks and
often starts what is inside. The end of the PE image comes from the PE analyzer
(``node.info["pe"]["overlay_offset"]``) when it ran, else from a small bounded parse of
the section table (:mod:`._pe_layout`, shared with :mod:`.pe_payloads`). An archive
signature at or shortly after that offset — or a zip whose central directory ends the
file — becomes a child ``[appended zip]`` (``7z``, ``rar``, ``cab``, ``gzip``) that the
engine unpacks, and the program gets the fact ``archive.self_extracting``. A 7-Zip SFX
configuration block is read for its ``RunProgram`` command.

A picture (PNG after its ``IEND`` chunk, JPEG after its end-of-image marker, GIF after
its trailer, BMP after its pixel data and colour profile) followed by something else — a
zip, a program — becomes a child ``[data after picture]`` and the fact
``file.appended_data``. Phones append a few things to ordinary photos (a second JPEG for
depth maps, an MP4 for motion photos, Samsung's ``SEFT`` trailer); those become children
too but are not reported.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from collections.abc import Iterator

from ..identify import identify
from ..registry import Child, extractor
from ._pe_layout import raw_sections, read_headers, size_of_headers

#: How far after the end of the image an archive may start (SFX stubs put a config
#: block or a little padding first).
SEARCH_WINDOW = 64 * 1024
#: A zip's end record is within this distance of the end of the file (comment ≤ 64 KiB).
EOCD_WINDOW = 22 + 65535
MAX_CONFIG = 64 * 1024
MAX_PNG_CHUNKS = 100_000
MAX_JPEG_SEGMENTS = 100_000
MAX_GIF_STEPS = 2_000_000
#: Trailing bytes that are only padding, or fewer than this, are not worth a child.
MIN_APPENDED = 16

SFX_CONFIG_START = b";!@Install@!UTF-8!"
SFX_CONFIG_END = b";!@InstallEnd@!"
_CONFIG_LINE_RE = re.compile(r'^\s*([A-Za-z][\w]*)\s*=\s*"(.*)"\s*$', re.M)
_JPEG_MARKER_RE = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
#: BMP compressions whose pixel rows are plain (RGB, bit fields, alpha bit fields, CMYK).
_BMP_UNCOMPRESSED = frozenset({0, 3, 6, 11})
_BMP_EMBEDDED_PROFILE = 0x4D424544  # "MBED"

#: Appended kinds that phones and cameras add to ordinary photos.
_BENIGN_PHOTO_TRAILERS = {"jpeg", "mp4"}
_KIND_WORDS = {
    "zip": ("a zip archive", "zip 压缩包"),
    "7z": ("a 7z archive", "7z 压缩包"),
    "rar": ("a RAR archive", "RAR 压缩包"),
    "cab": ("a CAB archive", "CAB 压缩包"),
    "gzip": ("a gzip archive", "gzip 压缩包"),
    "pe": ("a Windows program", "Windows 程序"),
    "elf": ("a Linux program", "Linux 程序"),
    "png": ("another picture", "另一张图片"),
    "jpeg": ("another picture", "另一张图片"),
}


# --- programs -------------------------------------------------------------------------


@extractor("pe")
def appended_to_program(node, content, ctx) -> Iterator[Child]:
    """An archive (or program) appended to a Windows program, and its SFX config."""
    view = content.view()
    start = overlay_start(node, view)
    if start is None:
        return
    found = _archive_after(view, start)
    config = _sfx_config(view, start, found[1] if found else min(len(view), start + SEARCH_WINDOW))
    if config is not None:
        node.info["sfx"] = {"format": "7-Zip SFX", "config": config}
    if found is None:
        if config is not None:
            ctx.fact(node, "archive.self_extracting", format="7z", **_run_params(config))
        return
    kind, offset = found
    end = _certificate_start(view, offset) or len(view)
    if kind != "pe":
        ctx.fact(node, "archive.self_extracting", format=kind, offset=offset, **_run_params(config))
    label = "program" if kind == "pe" else kind
    yield _range_child(f"[appended {label}]", view, offset, end, {"offset": offset})


def overlay_start(node, view) -> int | None:
    """Where the bytes after the PE image start, or None when there are none."""
    pe_info = node.info.get("pe")
    if isinstance(pe_info, dict) and "overlay_offset" in pe_info:
        offset = pe_info["overlay_offset"]
        if offset is None:
            return None  # the analyzer found none (or only a few bytes of alignment)
        if isinstance(offset, int) and 0 < offset < len(view):
            return offset
        # An offset of 0 or past the end comes from a broken header: work it out here.
    end = pe_image_end(view)
    return end if end is not None and end < len(view) else None


def pe_image_end(view) -> int | None:
    """End of the last section's raw data (or of the headers): a bounded header parse."""
    headers = read_headers(view)
    if headers is None:
        return None
    end = size_of_headers(view, headers) or 0
    for raw_size, raw_pointer in raw_sections(view, headers):
        if raw_size and raw_pointer:
            end = max(end, raw_pointer + raw_size)
    return end or None


def _archive_after(view, start: int) -> tuple[str, int] | None:
    """The first archive (or program) that starts in the window after ``start``."""
    window = bytes(view[start : start + SEARCH_WINDOW])
    if _is_pe_at(window, 0):
        return "pe", start
    best = None
    for kind, magic in _SIGNATURES:
        position = window.find(magic)
        while position >= 0 and not _VALID[kind](window, position, len(view) - start - position):
            position = window.find(magic, position + 1)
        if position >= 0 and (best is None or position < best[1]):
            best = (kind, position)
    if best is not None:
        return best[0], start + best[1]
    zip_start = _zip_start_from_end(view)
    if zip_start is not None and zip_start >= start:
        return "zip", zip_start
    return None


def _zip_start_from_end(view) -> int | None:
    """First local header of a zip whose end record closes the file (WinZip/Info-ZIP SFX)."""
    tail_start = max(0, len(view) - EOCD_WINDOW)
    tail = bytes(view[tail_start:])
    eocd = tail.rfind(b"PK\x05\x06")
    if eocd < 0 or eocd + 22 > len(tail):
        return None
    cd_size, cd_offset = struct.unpack_from("<II", tail, eocd + 12)
    cd_location = tail_start + eocd - cd_size
    if cd_location < 0 or bytes(view[cd_location : cd_location + 4]) != b"PK\x01\x02":
        return None
    first_entry = struct.unpack_from("<I", view, cd_location + 42)[0]
    # Offsets are relative to the zip's own start, or to the file's when the SFX tool
    # adjusted them ("zip -A"); the difference between both readings is the zip's base.
    base = cd_location - cd_offset
    for local in (base + first_entry, first_entry):
        if local >= 0 and bytes(view[local : local + 4]) == b"PK\x03\x04":
            return local
    return None


def _sfx_config(view, start: int, end: int) -> dict[str, str] | None:
    """The 7-Zip SFX configuration between the stub and the archive, if there is one."""
    region = bytes(view[start : min(end, start + SEARCH_WINDOW)])
    begin = region.find(SFX_CONFIG_START)
    if begin < 0:
        return None
    stop = region.find(SFX_CONFIG_END, begin)
    block = region[begin + len(SFX_CONFIG_START) : stop if stop >= 0 else begin + MAX_CONFIG]
    text = block[:MAX_CONFIG].decode("utf-8", "replace")
    return {key: value.replace('\\"', '"') for key, value in _CONFIG_LINE_RE.findall(text)}


def _run_params(config: dict[str, str] | None) -> dict[str, str]:
    """The command an SFX runs after unpacking, for the finding's details."""
    if not config:
        return {}
    for key in ("RunProgram", "ExecuteFile", "AutoInstall"):
        if config.get(key):
            command = config[key]
            if key == "ExecuteFile" and config.get("ExecuteParameters"):
                command = f"{command} {config['ExecuteParameters']}"
            return {"run_program": command[:500]}
    return {}


def _certificate_start(view, after: int) -> int | None:
    """Start of an Authenticode signature that follows the archive, so it is not carved."""
    if len(view) < 0x40:
        return None
    pe = struct.unpack_from("<I", view, 0x3C)[0]
    if pe + 26 > len(view):
        return None
    optional = pe + 24
    magic = struct.unpack_from("<H", view, optional)[0]
    directory = optional + (96 if magic == 0x10B else 112) + 4 * 8
    if directory + 8 > len(view):
        return None
    offset, size = struct.unpack_from("<II", view, directory)
    return offset if size and after < offset < len(view) and offset + size == len(view) else None


def _is_pe_at(data: bytes, position: int) -> bool:
    if data[position : position + 2] != b"MZ" or len(data) < position + 0x40:
        return False
    pe = position + struct.unpack_from("<I", data, position + 0x3C)[0]
    return data[pe : pe + 4] == b"PE\x00\x00"


def _valid_zip(data: bytes, at: int, remaining: int) -> bool:
    if len(data) < at + 30:
        return False
    version, _, method = struct.unpack_from("<HHH", data, at + 4)
    name_length = struct.unpack_from("<H", data, at + 26)[0]
    return version < 100 and method in (0, 1, 6, 8, 9, 12, 14, 93, 95, 98, 99) and 0 < name_length < 4096


def _valid_7z(data: bytes, at: int, remaining: int) -> bool:
    if len(data) < at + 32:
        return remaining >= 32  # header beyond the window: trust the 6-byte magic
    stored = struct.unpack_from("<I", data, at + 8)[0]
    return data[at + 6] == 0 and stored == zlib.crc32(data[at + 12 : at + 32])


def _valid_cab(data: bytes, at: int, remaining: int) -> bool:
    if len(data) < at + 36:
        return False
    size = struct.unpack_from("<I", data, at + 8)[0]
    return 36 <= size <= remaining and data[at + 24 : at + 26] == b"\x03\x01"


def _valid_gzip(data: bytes, at: int, remaining: int) -> bool:
    return len(data) > at + 3 and data[at + 3] & 0xE0 == 0


_SIGNATURES = [
    ("zip", b"PK\x03\x04"),
    ("7z", b"7z\xbc\xaf\x27\x1c"),
    ("rar", b"Rar!\x1a\x07"),
    ("cab", b"MSCF\x00\x00\x00\x00"),
    ("gzip", b"\x1f\x8b\x08"),
]
_VALID = {
    "zip": _valid_zip,
    "7z": _valid_7z,
    "rar": lambda data, at, remaining: data[at + 6 : at + 7] in (b"\x00", b"\x01"),
    "cab": _valid_cab,
    "gzip": _valid_gzip,
}


# --- pictures -------------------------------------------------------------------------


@extractor("png", "jpeg", "gif", "bmp")
def appended_to_picture(node, content, ctx) -> Iterator[Child]:
    """Whatever follows the end of a PNG, JPEG, GIF or BMP picture."""
    view = content.view()
    end = _PICTURE_ENDS[node.kind](view)
    if end is None or len(view) - end < MIN_APPENDED:
        return
    tail_sample = bytes(view[end : end + 65536])
    if not tail_sample.strip(b"\x00\xff \t\r\n") and len(view) - end <= len(tail_sample):
        return  # padding only
    kind = identify(tail_sample, len(view) - end).kind
    size = len(view) - end
    if not (node.kind in ("png", "jpeg") and _benign_photo_trailer(kind, view)):
        what, what_zh = _KIND_WORDS.get(kind, (f"{kind} data", f"{kind} 数据"))
        ctx.fact(
            node,
            "file.appended_data",
            size=size,
            what=what,
            what_zh=what_zh,
            format="picture",
            format_zh="图片",
        )
    yield _range_child("[data after picture]", view, end, len(view), {"offset": end, "kind": kind})


def png_end(view) -> int | None:
    """Offset just after the ``IEND`` chunk, walking the chunks; None if cut off."""
    position, size = 8, len(view)
    for _ in range(MAX_PNG_CHUNKS):
        if position + 12 > size:
            return None
        length, chunk_type = struct.unpack_from(">I4s", view, position)
        following = position + 12 + length
        if following > size:
            return None
        if chunk_type == b"IEND":
            return following
        position = following
    # Absurdly many chunks: fall back to the fixed 12 bytes of an IEND chunk.
    found = view.find(_PNG_IEND, position)
    return found + len(_PNG_IEND) if found >= 0 else None


def jpeg_end(view) -> int | None:
    """Offset just after the end-of-image marker, following segments and scans."""
    position, size = 2, len(view)
    for _ in range(MAX_JPEG_SEGMENTS):
        if position + 2 > size or view[position] != 0xFF:
            return None
        marker = view[position + 1]
        if marker == 0xFF:
            position += 1  # fill byte
            continue
        if marker == 0xD9:
            return position + 2
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            position += 2
            continue
        if position + 4 > size:
            return None
        length = struct.unpack_from(">H", view, position + 2)[0]
        if length < 2:
            return None
        position += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data runs to the next marker
            match = _JPEG_MARKER_RE.search(view, position)
            if match is None:
                return None
            position = match.start()
    return None


def gif_end(view) -> int | None:
    """Offset just after the trailer (``0x3B``), walking the blocks; None if cut off.

    After the header, the screen descriptor and its colour table come blocks: extensions
    (``0x21``, a label, then sub-blocks) and images (``0x2C``, a 9-byte descriptor, a
    local colour table, the LZW code size, then sub-blocks). Sub-blocks are a length
    byte and that many bytes, ended by a zero length. At most :data:`MAX_GIF_STEPS` blocks
    and sub-blocks are read (a 400 MB GIF of full sub-blocks needs 1.6 million).
    """
    size = len(view)
    if size < 13:
        return None
    flags = view[10]
    position = 13 + (3 << ((flags & 0x07) + 1) if flags & 0x80 else 0)
    steps = 0
    while steps < MAX_GIF_STEPS:
        if position >= size:
            return None
        introducer = view[position]
        if introducer == 0x3B:
            return position + 1
        if introducer == 0x21:
            position += 2  # introducer, label
        elif introducer == 0x2C:
            if position + 10 > size:
                return None
            local = view[position + 9]
            position += 10 + (3 << ((local & 0x07) + 1) if local & 0x80 else 0) + 1  # + LZW size
        else:
            return None
        while steps < MAX_GIF_STEPS:  # sub-blocks up to the zero-length terminator
            steps += 1
            if position >= size:
                return None
            length = view[position]
            position += 1 + length
            if length == 0:
                break
    return None


def bmp_end(view) -> int | None:
    """Offset just after the pixel data (and an embedded colour profile), from the headers.

    The file-size field is not trusted for this (whoever appends data can set it to cover
    that data too); it is used only when the pixel data's size cannot be worked out.
    """
    size = len(view)
    if size < 26:
        return None
    declared, pixels, header_size = struct.unpack_from("<I4xII", view, 2)
    fallback = declared if 14 + header_size <= declared <= size else None
    if pixels < 14 + header_size:
        return fallback
    if header_size == 12:
        width, height, _, bits = struct.unpack_from("<HHHH", view, 18)
        compression = image_size = 0
    elif 40 <= header_size <= 124 and size >= 14 + 40:
        width, height, _, bits, compression, image_size = struct.unpack_from("<iiHHII", view, 18)
    else:
        return fallback
    if compression in _BMP_UNCOMPRESSED and bits in (1, 2, 4, 8, 16, 24, 32, 48, 64):
        stride = (bits * abs(width) + 31) // 32 * 4
        end = pixels + stride * abs(height)
    elif image_size:
        end = pixels + image_size  # RLE, JPEG or PNG inside: the size the header states
    else:
        return fallback
    if header_size >= 124 and size >= 14 + 124:
        cs_type, profile, profile_size = struct.unpack_from("<I", view, 14 + 56) + struct.unpack_from(
            "<II", view, 14 + 112
        )
        if cs_type == _BMP_EMBEDDED_PROFILE and profile_size:
            end = max(end, 14 + profile + profile_size)
    return end if end <= size else None


def _benign_photo_trailer(kind: str, view) -> bool:
    """Extra pictures (depth maps), motion-photo videos and Samsung's SEFT metadata."""
    return kind in _BENIGN_PHOTO_TRAILERS or bytes(view[-4:]) == b"SEFT"


_PICTURE_ENDS = {"png": png_end, "jpeg": jpeg_end, "gif": gif_end, "bmp": bmp_end}


# --- shared ---------------------------------------------------------------------------


class _Range(io.RawIOBase):
    """A read-only stream over part of the parent's bytes, without copying them."""

    def __init__(self, view, start: int, end: int):
        self._view, self._position, self._end = view, start, end

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), self._end - self._position)
        if count <= 0:
            return 0
        buffer[:count] = self._view[self._position : self._position + count]
        self._position += count
        return count


def _range_child(name: str, view, start: int, end: int, info: dict) -> Child:
    return Child(
        name=name,
        open=lambda: io.BufferedReader(_Range(view, start, end)),
        declared_size=end - start,
        info=info,
    )
