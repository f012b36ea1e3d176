"""What a file *is*, from its bytes: magic numbers first, then structure, then text sniffing.

The name is evidence, never truth: ``identify`` looks only at content. The name analyzer
compares the result with the extension to catch a program called ``.jpg``.

libmagic costs ~0.24 ms a call and is not on Windows without extra DLLs, so the common
types a customer sends (and every type the engine can unpack) are recognised by the
table below; libmagic, when present, only names what the table does not know.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

HEAD_SIZE = 64 * 1024


@dataclass(frozen=True)
class FileType:
    kind: str
    mime: str


# (offset, magic, kind, mime). Order matters only where one magic prefixes another.
MAGIC: list[tuple[int, bytes, str, str]] = [
    (0, b"MZ", "pe", "application/vnd.microsoft.portable-executable"),
    (0, b"\x7fELF", "elf", "application/x-executable"),
    (0, b"\xcf\xfa\xed\xfe", "macho", "application/x-mach-binary"),
    (0, b"\xce\xfa\xed\xfe", "macho", "application/x-mach-binary"),
    (0, b"\xfe\xed\xfa\xcf", "macho", "application/x-mach-binary"),
    (0, b"\xfe\xed\xfa\xce", "macho", "application/x-mach-binary"),
    (0, b"PK\x03\x04", "zip", "application/zip"),
    (0, b"PK\x05\x06", "zip", "application/zip"),
    (0, b"PK\x07\x08PK", "zip", "application/zip"),
    (0, b"7z\xbc\xaf\x27\x1c", "7z", "application/x-7z-compressed"),
    (0, b"Rar!\x1a\x07\x01\x00", "rar", "application/vnd.rar"),
    (0, b"Rar!\x1a\x07\x00", "rar", "application/vnd.rar"),
    (0, b"\x1f\x8b", "gzip", "application/gzip"),
    (0, b"BZh", "bzip2", "application/x-bzip2"),
    (0, b"\xfd7zXZ\x00", "xz", "application/x-xz"),
    (0, b"\x28\xb5\x2f\xfd", "zstd", "application/zstd"),
    (0, b"MSCF\x00\x00\x00\x00", "cab", "application/vnd.ms-cab-compressed"),
    (0, b"\x60\xea", "arj", "application/x-arj"),
    (0, b"SZDD\x88\xf0\x27\x33", "szdd", "application/x-ms-compress-szdd"),
    (0, b"070707", "cpio", "application/x-cpio"),
    (0, b"070701", "cpio", "application/x-cpio"),
    (0, b"070702", "cpio", "application/x-cpio"),
    (0, b"\xc7\x71", "cpio", "application/x-cpio"),
    (0, b"\x71\xc7", "cpio", "application/x-cpio"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole", "application/x-ole-storage"),
    (0, b"%PDF-", "pdf", "application/pdf"),
    (0, b"{\\rt", "rtf", "text/rtf"),
    (0, b"ITSF\x03\x00\x00\x00", "chm", "application/vnd.ms-htmlhelp"),
    (0, b"\xe4\x52\x5c\x7b\x8c\xd8\xa7\x4d\xae\xb1\x53\x78\xd0\x29\x96\xd3", "onenote", "application/onenote"),
    (0, b"L\x00\x00\x00\x01\x14\x02\x00", "lnk", "application/x-ms-shortcut"),
    (0, b"\x78\x9f\x3e\x22", "tnef", "application/vnd.ms-tnef"),
    (0, b"\x89PNG\r\n\x1a\n", "png", "image/png"),
    (0, b"\xff\xd8\xff", "jpeg", "image/jpeg"),
    (0, b"GIF87a", "gif", "image/gif"),
    (0, b"GIF89a", "gif", "image/gif"),
    (0, b"BM", "bmp", "image/bmp"),
    (0, b"II*\x00", "tiff", "image/tiff"),
    (0, b"MM\x00*", "tiff", "image/tiff"),
    (0, b"\x00\x00\x01\x00", "ico", "image/vnd.microsoft.icon"),
    (0, b"8BPS", "psd", "image/vnd.adobe.photoshop"),
    (0, b"AC10", "dwg", "image/vnd.dwg"),
    (0, b"conectix", "vhd", "application/x-vhd"),
    (0, b"vhdxfile", "vhdx", "application/x-vhdx"),
    (0, b"xar!", "xar", "application/x-xar"),
    (0, b"\xca\xfe\xba\xbe", "macho", "application/x-mach-binary"),
    (0, b"\x00asm", "wasm", "application/wasm"),
    (0, b"dex\n", "dex", "application/vnd.android.dex"),
    (0, b"OggS", "ogg", "audio/ogg"),
    (0, b"ID3", "mp3", "audio/mpeg"),
    (0, b"fLaC", "flac", "audio/flac"),
    (0, b"\x1aE\xdf\xa3", "mkv", "video/x-matroska"),
    (0, b"wOFF", "woff", "font/woff"),
    (0, b"wOF2", "woff2", "font/woff2"),
    (0, b"\x00\x01\x00\x00\x00", "ttf", "font/ttf"),
    (0, b"OTTO", "otf", "font/otf"),
    (0, b"-lh", "lzh", "application/x-lzh-compressed"),
    (2, b"-lh", "lzh", "application/x-lzh-compressed"),
    (0, b"(This file must be converted with BinHex", "binhex", "application/mac-binhex40"),
    (0, b"SQLite format 3\x00", "sqlite", "application/vnd.sqlite3"),
]

#: kind → MIME type of the table above, built once (not per identified file).
_MIME_OF_KIND = {kind: mime for _, _, kind, mime in MAGIC}

#: Kinds that are pictures, for the "program named like a picture" checks.
IMAGE_KINDS = {"png", "jpeg", "gif", "bmp", "tiff", "ico", "webp", "heic", "avif", "psd"}
#: Kinds that run code on Windows (or on the agent's other computers) when opened.
EXECUTABLE_KINDS = {"pe", "elf", "macho", "dex", "msi", "jar"}

_HTML_RE = re.compile(rb"<\s*(!doctype\s+html|html|head|body|script|iframe|meta)\b", re.I)
_SVG_RE = re.compile(rb"<svg[\s>]", re.I)
_XML_RE = re.compile(rb"^\s*<\?xml", re.I)
_EML_RE = re.compile(
    rb"^(?:(?:Received|Return-Path|From|To|Subject|Date|MIME-Version|Message-ID|Content-Type|X-[\w-]+|Delivered-To):[^\n]*\r?\n)+",
    re.I,
)
_UUE_RE = re.compile(rb"^begin(?:-base64)? [0-7]{3,4} \S", re.M)
#: BinHex text often has a blank line or a note before its banner.
BINHEX_BANNER = b"(This file must be converted with BinHex"
_HEADER_FIELD_RE = re.compile(rb"([!-9;-~]{1,76}):")
_MAIL_FIELDS = {b"from", b"to", b"cc", b"subject", b"date", b"message-id", b"mime-version", b"content-type",
                b"received", b"return-path", b"reply-to", b"sender", b"delivered-to", b"in-reply-to", b"references"}
_MAIL_CORE_FIELDS = {b"from", b"subject", b"mime-version", b"content-type", b"message-id", b"received"}


def identify(head: bytes, size: int | None = None) -> FileType:
    """Identify a file from its first bytes (``HEAD_SIZE`` is plenty)."""
    for offset, magic, kind, _mime in MAGIC:
        if head.startswith(magic, offset):
            refined = _refine(kind, head)
            if refined is not None:
                return refined
    structured = _by_structure(head)
    if structured is not None:
        return structured
    return _sniff_text(head)


def _refine(kind: str, head: bytes) -> FileType | None:
    """Second look at a magic hit: subtypes, and rejecting weak magic that misfired."""
    if kind == "pe":
        return _refine_pe(head)
    if kind == "zip":
        return _refine_zip(head)
    if kind == "ole":
        if b"\x84\x10\x0c\x00" in head[:4096] or _has_utf16(head, "SummaryInformation") and _msi_clsid(head):
            return FileType("msi", "application/x-msi")
        return FileType("ole", "application/x-ole-storage")
    if kind == "bmp":
        return FileType("bmp", "image/bmp") if len(head) >= 26 and head[14] in (12, 40, 52, 56, 64, 108, 124) else None
    if kind == "ico":
        return FileType("ico", "image/vnd.microsoft.icon") if len(head) >= 6 and 0 < head[4] < 64 and head[5] == 0 else None
    if kind == "arj":
        return FileType("arj", "application/x-arj") if len(head) > 10 and 0 < struct.unpack_from("<H", head, 2)[0] <= 2600 else None
    if kind == "ttf":
        return FileType("ttf", "font/ttf") if len(head) > 12 else None
    if kind == "macho" and head.startswith(b"\xca\xfe\xba\xbe"):
        # Java class files share this magic; a fat Mach-O has a small architecture count.
        count = struct.unpack_from(">I", head, 4)[0] if len(head) >= 8 else 0
        return FileType("macho", "application/x-mach-binary") if 0 < count < 20 else FileType("java-class", "application/java-vm")
    if kind == "lzh" and not re.match(rb"-lh[0-7d]-", head[2:7] if head[2:5] == b"-lh" else head[:5]):
        return None
    return FileType(kind, _MIME_OF_KIND[kind])


def _refine_pe(head: bytes) -> FileType | None:
    if len(head) < 0x40:
        # A bare "MZ" with nothing behind it is a truncated or non-PE DOS file.
        return FileType("dos-mz", "application/x-dosexec") if len(head) >= 28 else None
    pe_offset = struct.unpack_from("<I", head, 0x3C)[0]
    if pe_offset + 4 <= len(head) and head[pe_offset : pe_offset + 4] == b"PE\x00\x00":
        return FileType("pe", "application/vnd.microsoft.portable-executable")
    if pe_offset + 2 <= len(head) and head[pe_offset : pe_offset + 2] in (b"NE", b"LE", b"LX"):
        return FileType("pe", "application/x-dosexec")
    return FileType("dos-mz", "application/x-dosexec")


_OOXML_PARTS = (b"docProps/app.xml", b"docProps/core.xml", b"word/document.xml", b"xl/workbook.", b"xl/worksheets/",
                b"ppt/presentation.xml", b"ppt/slides/")


def _refine_zip(head: bytes) -> FileType:
    """Tell Office Open XML, OpenDocument, Java and Android packages from plain zips."""
    names = set(_zip_local_names(head))
    joined = b"\n".join(names)
    # Some writers (openpyxl) put [Content_Types].xml last, past a big sheet; the parts
    # every Office package has are as telling.
    if b"[Content_Types].xml" in names or b"_rels/.rels" in names or any(
        name.startswith(_OOXML_PARTS) for name in names
    ):
        if b"word/" in joined:
            return FileType("ooxml", "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
        if b"xl/" in joined:
            return FileType("ooxml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        if b"ppt/" in joined:
            return FileType("ooxml", "application/vnd.openxmlformats-officedocument.presentationml.presentation")
        return FileType("ooxml", "application/vnd.openxmlformats-package")
    if head[30:38] == b"mimetype" and b"application/vnd.oasis.opendocument" in head[:200]:
        return FileType("odf", "application/vnd.oasis.opendocument")
    if b"AndroidManifest.xml" in names or b"classes.dex" in names:
        return FileType("apk", "application/vnd.android.package-archive")
    if b"META-INF/MANIFEST.MF" in names or any(name.endswith(b".class") for name in names):
        return FileType("jar", "application/java-archive")
    return FileType("zip", "application/zip")


def _zip_local_names(head: bytes):
    position = 0
    for _ in range(64):
        position = head.find(b"PK\x03\x04", position)
        if position < 0 or position + 30 > len(head):
            return
        name_length, extra_length = struct.unpack_from("<HH", head, position + 26)
        yield head[position + 30 : position + 30 + name_length]
        position += 30 + name_length + extra_length


def _has_utf16(head: bytes, text: str) -> bool:
    return text.encode("utf-16-le") in head


def _msi_clsid(head: bytes) -> bool:
    # Root entry CLSID of an MSI database: {000C1084-0000-0000-C000-000000000046}.
    return b"\x84\x10\x0c\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46" in head


def _by_structure(head: bytes) -> FileType | None:
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return FileType("webp", "image/webp")
    if head[:4] == b"RIFF" and head[8:12] in (b"WAVE", b"AVI "):
        return FileType("riff", "audio/wav" if head[8:12] == b"WAVE" else "video/x-msvideo")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"heis"):
            return FileType("heic", "image/heic")
        if brand in (b"avif", b"avis"):
            return FileType("avif", "image/avif")
        return FileType("mp4", "video/mp4")
    if len(head) > 0x8006 and head[0x8001:0x8006] in (b"CD001", b"BEA01", b"NSR02", b"NSR03"):
        return FileType("iso", "application/x-iso9660-image")
    if len(head) > 262 and head[257:262] == b"ustar":
        return FileType("tar", "application/x-tar")
    if len(head) >= 512 and _looks_like_v7_tar(head):
        return FileType("tar", "application/x-tar")
    if head[:5] == b"From " and b"\n" in head[:200]:
        return FileType("mbox", "application/mbox")
    return None


def _mail_header_block(head: bytes) -> bool:
    """A message whose first header is not in ``_EML_RE`` (DKIM-Signature, Thread-Topic,
    an attached message as re-written by the mail extractor): every line up to the first
    empty one is a header field or a folded continuation, and at least two are mail fields."""
    if _HEADER_FIELD_RE.match(head) is None:  # the first line must be a field: skip the copy below
        return False
    block = head[:16384].replace(b"\r\n", b"\n")
    end = block.find(b"\n\n")
    if end <= 0:
        return False
    fields = set()
    for line in block[:end].split(b"\n"):
        if line[:1] in (b" ", b"\t") and fields:
            continue
        match = _HEADER_FIELD_RE.match(line)
        if match is None:
            return False
        fields.add(match.group(1).lower())
    return len(fields & _MAIL_FIELDS) >= 2 and bool(fields & _MAIL_CORE_FIELDS)


def _looks_like_v7_tar(head: bytes) -> bool:
    checksum_field = head[148:156]
    try:
        stored = int(checksum_field.strip(b" \x00") or b"-1", 8)
    except ValueError:
        return False
    computed = sum(head[:148]) + 8 * 32 + sum(head[156:512])
    return stored == computed and head[0] != 0


def _sniff_text(head: bytes) -> FileType:
    if not head:
        return FileType("empty", "application/x-empty")
    text = _decode_text(head)
    if text is None:
        return FileType("binary", "application/octet-stream")
    lowered = head[:4096].lower()
    # Before HTML: most mail carries an HTML body within its first 8 KiB.
    if _EML_RE.match(head) and re.search(rb"^(From|Subject|Content-Type):", head[:8192], re.I | re.M) or _mail_header_block(head):
        return FileType("email", "message/rfc822")
    if BINHEX_BANNER in head[:4096]:
        return FileType("binhex", "application/mac-binhex40")
    if _XML_RE.match(head) and _SVG_RE.search(head[:8192]) or lowered.lstrip().startswith(b"<svg"):
        return FileType("svg", "image/svg+xml")
    if b"<hta:application" in lowered:
        return FileType("hta", "application/hta")
    if _HTML_RE.search(head[:8192]):
        return FileType("html", "text/html")
    if _XML_RE.match(head):
        return FileType("xml", "application/xml")
    if _UUE_RE.search(head[:8192]):
        return FileType("uuencode", "text/x-uuencode")
    if head.startswith(b"[InternetShortcut]") or b"\n[InternetShortcut]" in head[:1024]:
        return FileType("url", "application/x-mswinurl")
    if head.lstrip(b"\xef\xbb\xbf\xff\xfe\x00").startswith((b"Windows Registry Editor", b"REGEDIT4", b"W\x00i\x00n\x00d\x00o\x00w\x00s\x00 \x00R")):
        return FileType("reg", "text/x-ms-regedit")
    if head.startswith(b"ID;P"):
        # SYLK spreadsheet: Excel opens it (and runs XLM macros in it) whatever its name.
        return FileType("slk", "application/x-sylk")
    return FileType("text", "text/plain")


def _decode_text(head: bytes) -> str | None:
    """Return the text if ``head`` looks like text in a common encoding, else None."""
    sample = head[:8192]
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return sample.decode("utf-16")
        except UnicodeDecodeError:
            return sample[: len(sample) // 2 * 2].decode("utf-16", "ignore")
    if b"\x00" in sample:
        return None
    for encoding in ("utf-8", "gb18030"):
        try:
            return sample.decode(encoding)
        except UnicodeDecodeError as error:
            # A multi-byte character cut at the end of the sample is still text.
            if error.start >= len(sample) - 4:
                return sample[: error.start].decode(encoding)
    controls = sum(1 for byte in sample if byte < 9 or 13 < byte < 32)
    return None if controls > len(sample) // 100 else sample.decode("latin-1")
