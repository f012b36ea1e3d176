"""ZIP (and Java/Android packages when they are unpacked as plain zips).

Libraries, and why:

- ``zipfile`` (stdlib) reads the central directory and stored, deflate, bzip2, lzma and
  zip64 members, and decrypts ZipCrypto; :mod:`._deflate64` adds deflate64 (``inflate64``).
- ``pyzipper`` reads WinZip AES members (method 99) — only for those, because it is a
  fork of ``zipfile`` that the deflate64 patch does not reach.
- Methods neither reads (implode, shrink, PPMd ...) go through 7-Zip (``7zz``/``7z``)
  when it is installed (found by :func:`._tools.sevenzip`, so ``FILEWALL_DISABLE_TOOLS=7zz``
  switches it off): the one member's raw bytes are copied into a single-member zip
  in the scan's temp folder and 7-Zip decompresses that, so no stored name is ever used
  as a path and output is cut at the size budget. Without 7-Zip the member gets
  ``archive.unsupported_method`` (its name is still checked).

Names: Windows in Chinese writes member names in GBK/CP936 without the UTF-8 flag
(general-purpose bit 11), and ``zipfile`` then decodes them as CP437 (``Éè¼ÆÍ¼.jpg.exe``
for ``设计图.jpg.exe``), which would blind every name check. :func:`decode_zip_name`
honours the Info-ZIP Unicode Path extra field (0x7075) when its CRC matches, otherwise
re-encodes to the raw bytes and tries UTF-8 (some tools omit the flag), then GB18030
(a superset of GBK) when the result is plausible Chinese, then CP437.

Encrypted members: passwords come from :mod:`filewall.extract._passwords`. A member that
opens gets ``archive.encrypted`` (which password, from where); one that does not is
yielded with ``open=None`` and ``archive.encrypted_unopened`` so its name is still
judged (``设计图.jpg.exe`` needs no content to be caught). After three members no
password opened, only passwords that already worked are tried, so a zip of 10,000 AES
members cannot turn into 300,000 key derivations.

Damage: without a readable central directory (truncated download, bytes cut off) the
members are recovered from their local headers, and ``file.corrupt`` says so; a member
whose data ends early keeps what was read (:class:`~.compressed.SalvagingReader`).

Smuggling: ``zipfile`` (like Windows and most scanners) reads only the central directory,
while streaming unzippers read local headers front to back. Local headers that no
directory entry covers (a second zip glued before or after, an entry dropped from the
directory, one hidden in the archive comment) are found by :class:`_Layout`, which
searches only the gaps between listed members: the zip gets ``archive.hidden_member``
and each hidden member is yielded (``info["hidden"]``) and scanned. A member whose local
header names it differently from the directory gets ``archive.name_mismatch`` and is
read from its local header (``zipfile`` refuses it); the name analyzer judges that local
name too (``info["local_name"]``). Listed members whose bytes overlap (David Fifield's
overlapping-files bomb, entries pointing into each other) give the zip
``archive.overlapping_members`` (one sort of the members, one pass); they are still
scanned, read from their local headers, within the usual byte and time limits. Office
packages (:mod:`.ooxml`) get the same checks through :func:`report_layout`,
:func:`listed_child` and :func:`hidden_children`.
"""

from __future__ import annotations

import copy
import logging
import os
import struct
import subprocess
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, BinaryIO

import pyzipper

from ..engine import ExtractError
from ..registry import Child, extractor
from ..text import visible_name
from . import _deflate64, _tools
from ._passwords import Candidate, candidates, remember, remembered, source_params, zip_encodings
from .compressed import SalvagingReader, damage_recorder, describe_error

if TYPE_CHECKING:
    from ..content import Content
    from ..engine import ScanContext
    from ..model import Node

log = logging.getLogger(__name__)

#: Methods ``zipfile`` reads here: stored, deflate, deflate64 (patched), bzip2, lzma.
SUPPORTED_METHODS = frozenset({0, 8, 9, 12, 14})
AES_METHOD = 99
METHOD_NAMES = {**zipfile.compressor_names, 93: "zstd", 95: "xz", 96: "jpeg", 99: "aes"}

_FLAG_ENCRYPTED = 0x0001
_FLAG_DATA_DESCRIPTOR = 0x0008
_FLAG_UTF8 = 0x0800
_EXTRA_ZIP64 = 0x0001
_EXTRA_UNICODE_PATH = 0x7075
_LOCAL_HEADER = b"PK\x03\x04"
_END_OF_DIRECTORY = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_DATA_DESCRIPTOR = b"PK\x07\x08"

#: Bytes read from a member to confirm that a password really decrypts it (ZipCrypto's
#: one-byte check lets 1 wrong password in 256 through; the data then fails to inflate).
_VERIFY_BYTES = 16 * 1024
#: Encrypted (ZipCrypto) members larger than this are decrypted by 7-Zip when present.
_NATIVE_ZIPCRYPTO_FROM = 256 * 1024
#: Members no password opened before only already-working passwords are tried.
_GIVE_UP_AFTER = 3
#: Longest symlink target read from a member.
_MAX_LINK_TARGET = 4096
#: More central-directory entries than this (or twice ``max_members``) and members are
#: walked lazily instead, so a forged zip64 count cannot make ``zipfile`` build millions
#: of objects up front.
_MAX_DIRECTORY_ENTRIES = 65_535
#: Local-header signatures looked at between listed members (a gap full of ``PK\3\4``
#: costs no more than this).
_MAX_HIDDEN_CANDIDATES = 200_000
#: Plausible non-ASCII characters in a GB18030-decoded name: CJK ideographs, CJK and
#: full-width punctuation, kana, general punctuation (“” … —), circled numbers, ·, and the
#: accented Latin, Greek and Cyrillic letters GB2312 also has.
_CJK_RANGES = (
    (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x3000, 0x30FF),
    (0xFF00, 0xFFEF), (0x2000, 0x206F), (0x2460, 0x24FF), (0x2500, 0x25FF),
    (0x00B7, 0x00B7), (0x00D7, 0x00D7), (0x2116, 0x2116), (0x20000, 0x2FFFF),
    (0x00C0, 0x01DC), (0x0391, 0x03C9), (0x0401, 0x0451),  # pinyin, Greek, Cyrillic rows of GB2312
)  # fmt: skip


@extractor("zip", "jar", "apk")
def zip_members(node: Node, content: Content, ctx: ScanContext) -> Iterator[Child]:
    """Yield every file of a zip, lazily; damaged zips are recovered from local headers."""
    stream = content.open()
    reader = _MemberReader(node, content, ctx)
    try:
        try:
            archive = _open_directory(
                content, stream, max(_MAX_DIRECTORY_ENTRIES, 2 * ctx.limits.max_members)
            )
        except _DirectoryUnusable as unusable:
            yield from _recover(reader, unusable)
            return
        with archive:
            layout = _Layout.of(content, archive, ctx)
            hidden = report_layout(node, ctx, layout)
            for index, info in enumerate(archive.infolist()):
                if not info.is_dir():
                    yield listed_child(reader, archive, layout, index, info)
            yield from hidden_children(reader, hidden)
    finally:
        reader.close()
        stream.close()  # zipfile leaves a file object it was given open


def listed_child(
    reader: _MemberReader, archive: zipfile.ZipFile, layout: _Layout | None, index: int, info: zipfile.ZipInfo
) -> Child:
    """The child for a member the directory lists (also used for Office packages).

    A member whose local header names it differently is read from that header
    (``zipfile`` refuses it); so is one that overlaps another member (newer ``zipfile``
    refuses those), so every Python reads the same bytes.
    """
    local = layout.local_name_differs(info) if layout else None
    if local is not None:
        local_name, data_offset = local
        child = reader.child(info, _LocalHeaderOpener(reader.content, data_offset, True))
        child.info["local_name"] = local_name
        child.facts.append(("archive.name_mismatch", {"local_name": visible_name(local_name)}))
        return child
    data_offset = layout.overlapping_data(info) if layout else None
    if data_offset is not None:
        return reader.child(info, _LocalHeaderOpener(reader.content, data_offset, True))
    return reader.child(info, _DirectoryOpener(archive, reader, index))


def hidden_children(reader: _MemberReader, hidden: list[_Hidden]) -> Iterator[Child]:
    """Children for the members :meth:`_Layout.hidden_members` found."""
    for info, raw_name, opener in hidden:
        child = reader.child(info, opener, raw_name)
        child.info.update(hidden=True, offset=info.header_offset)
        yield child


# -- names ----------------------------------------------------------------------------------
def decode_zip_name(raw: bytes, flags: int, extra: bytes = b"") -> tuple[str, str]:
    """A member name as the sender's computer showed it, and the encoding used.

    ``raw`` is the name exactly as stored in the zip. The Unicode Path extra field wins
    when its CRC matches ``raw`` (the spec says to ignore a stale one).
    """
    unicode_path = _unicode_path_extra(raw, extra)
    if unicode_path is not None:
        return unicode_path, "utf-8 (extra field)"
    if flags & _FLAG_UTF8:
        try:
            return raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass  # a lying flag: fall through to detection
    return decode_member_name(raw)


def decode_member_name(raw: bytes) -> tuple[str, str]:
    """Decode a stored name of unknown encoding: UTF-8, then plausible GB18030, then CP437.

    Also used for tar and gzip names, which have the same problem.
    """
    if raw.isascii():
        return raw.decode("ascii"), "ascii"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError:
        text = None
    if text is not None and _plausibly_chinese(text) and _mostly_gb2312(raw):
        return text, "gb18030"
    return raw.decode("cp437"), "cp437"


def _plausibly_chinese(text: str) -> bool:
    return all(
        ord(char) < 0x80 or any(low <= ord(char) <= high for low, high in _CJK_RANGES) for char in text
    )


def _mostly_gb2312(raw: bytes) -> bool:
    """Whether at least half the double-byte characters are in the GB2312 block.

    People's file names use the 6,763 common characters of GB2312 (both bytes 0xA1-0xFE),
    while CP437 accented letters (0x80-0xA5) followed by a letter decode as rare GBK
    extension characters: ``Übersicht`` must not become ``歜ersicht``.
    """
    common = rare = index = 0
    while index < len(raw):
        lead = raw[index]
        if lead < 0x80:
            index += 1
            continue
        trail = raw[index + 1] if index + 1 < len(raw) else 0
        if 0x30 <= trail <= 0x39:  # a four-byte GB18030 sequence
            rare += 1
            index += 4
            continue
        if 0xA1 <= lead <= 0xF7 and 0xA1 <= trail <= 0xFE:
            common += 1
        else:
            rare += 1
        index += 2
    return common >= rare


def _unicode_path_extra(raw: bytes, extra: bytes) -> str | None:
    for tag, body in _extra_fields(extra):
        if tag == _EXTRA_UNICODE_PATH and len(body) > 5 and body[0] == 1:
            (crc,) = struct.unpack_from("<I", body, 1)
            if crc == zlib.crc32(raw):
                try:
                    return body[5:].decode("utf-8")
                except UnicodeDecodeError:
                    return None
    return None


def _extra_fields(extra: bytes) -> Iterator[tuple[int, bytes]]:
    position = 0
    while position + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, position)
        yield tag, extra[position + 4 : position + 4 + length]
        position += 4 + length


def _raw_name(info: zipfile.ZipInfo) -> bytes:
    """The stored bytes of a name that ``zipfile`` decoded (CP437 and UTF-8 round-trip)."""
    if info.flag_bits & _FLAG_UTF8:
        return info.orig_filename.encode("utf-8")
    return info.orig_filename.encode("cp437")


# -- members --------------------------------------------------------------------------------
class _MemberReader:
    """Turns ``ZipInfo`` entries into children; shared by the normal and recovery paths."""

    def __init__(self, node: Node, content: Content, ctx: ScanContext):
        self.node, self.content, self.ctx = node, content, ctx
        self.unopened = 0
        self._aes: pyzipper.AESZipFile | None = None
        self._aes_stream: BinaryIO | None = None

    def child(self, info: zipfile.ZipInfo, opener: _Opener, raw_name: bytes | None = None) -> Child:
        raw = _raw_name(info) if raw_name is None else raw_name
        name, encoding = decode_zip_name(raw, info.flag_bits, info.extra)
        details = {
            "stored_name": name,
            "method": METHOD_NAMES.get(info.compress_type, str(info.compress_type)),
        }
        if encoding not in ("ascii", "utf-8"):
            details["name_encoding"] = encoding
        if _valid_date(info.date_time):
            details["modified"] = "{:04d}-{:02d}-{:02d} {:02d}:{:02d}:{:02d}".format(*info.date_time)
        child = Child(
            name=name.replace("\\", "/"),
            open=None,
            declared_size=info.file_size if opener.sizes_known else None,
            packed_size=info.compress_size if opener.sizes_known else None,
            info=details,
        )
        if info.flag_bits & _FLAG_ENCRYPTED:
            details["encrypted"] = True
            self._encrypted(child, info, opener)
        elif _is_symlink(info):
            details["link_target"] = self._link_target(info, opener)
        elif opener.can_read(info):
            child.open = self._salvaging(
                lambda: _CrcChecked(opener.open(_without_crc(info), None), info), name
            )
        else:
            self._unsupported(child, info, None)
        return child

    def _encrypted(self, child: Child, info: zipfile.ZipInfo, opener: _Opener) -> None:
        if not opener.can_read(info):
            self._unsupported(child, info, self._password_pool())
            return
        found = self._find_password(info, opener)
        if found is None:
            self._mark_unopened(child)
            return
        password, candidate = found
        open_python = lambda: opener.open(info, password)  # noqa: E731
        if info.compress_type != AES_METHOD and info.compress_size > _NATIVE_ZIPCRYPTO_FROM:
            child.open = self._salvaging(
                lambda: self._zipcrypto_natively(info, candidate, open_python), child.info["stored_name"]
            )
        else:
            child.open = self._salvaging(open_python, child.info["stored_name"])
        self._mark_opened(child, candidate)

    def _zipcrypto_natively(
        self, info: zipfile.ZipInfo, candidate: Candidate, fallback: Callable[[], BinaryIO]
    ) -> BinaryIO:
        """Decrypt a large ZipCrypto member with 7-Zip (native speed) when it is here.

        ``zipfile`` decrypts ZipCrypto in pure Python at about 1.5 MB/s, so a 100 MB
        member would outlast the time limit; 7-Zip does the same in well under a second.
        """
        tool = _tools.sevenzip()
        result = _SevenZipMember(self, info, tool).extract([candidate]) if tool else None
        if result is None:
            return fallback()
        return _DeleteOnClose(result[0])

    def _find_password(self, info: zipfile.ZipInfo, opener: _Opener) -> tuple[bytes, Candidate] | None:
        for candidate in self._password_pool():
            for password in zip_encodings(candidate.password):
                self.ctx.check_time()
                if _decrypts(opener, info, password):
                    remember(self.ctx, candidate)
                    return password, candidate
        return None

    def _password_pool(self) -> list[Candidate]:
        return remembered(self.ctx) if self.unopened >= _GIVE_UP_AFTER else candidates(self.ctx)

    def _mark_opened(self, child: Child, candidate: Candidate) -> None:
        params = source_params(candidate)
        child.info["password_source"] = params["password_source"]
        child.facts.append(("archive.encrypted", params))

    def _mark_unopened(self, child: Child) -> None:
        self.unopened += 1
        child.facts.append(("archive.encrypted_unopened", {}))

    def _unsupported(self, child: Child, info: zipfile.ZipInfo, pool: list[Candidate] | None) -> None:
        """A method ``zipfile`` cannot read: let 7-Zip decompress it, if it is installed."""
        method = child.info["method"]
        tool = _tools.sevenzip()
        if tool is None:
            child.facts.append(("archive.unsupported_method", {"method": method}))
            return
        sevenzip = _SevenZipMember(self, info, tool)
        result = sevenzip.extract(pool)
        if result is None and pool is not None:
            self._mark_unopened(child)
        elif result is None and "unsupported" in sevenzip.error.lower():
            child.facts.append(("archive.unsupported_method", {"method": method}))
        elif result is None:
            reason = f"7-Zip could not unpack it: {sevenzip.error or 'unknown error'}"
            child.facts.append(("file.corrupt", {"reason": reason, "format": "zip"}))
        else:
            path, candidate = result
            child.open = self._salvaging(lambda: _DeleteOnClose(path), child.info["stored_name"])
            child.info["extracted_by"] = "7-Zip"
            if candidate is not None:
                self._mark_opened(child, candidate)

    def _link_target(self, info: zipfile.ZipInfo, opener: _Opener) -> str:
        try:
            with opener.open(info, None) as stream:
                target = stream.read(_MAX_LINK_TARGET)
        except Exception as error:  # a broken link entry is still reported as a link
            return f"(unreadable: {describe_error(error)})"
        return decode_member_name(target)[0]

    def _salvaging(self, open_stream: Callable[[], BinaryIO], name: str) -> Callable[[], BinaryIO]:
        record = damage_recorder(self.node, self.ctx, f"the data of {name}")
        return lambda: SalvagingReader(open_stream(), record)

    def aes_archive(self) -> pyzipper.AESZipFile:
        """pyzipper's view of the same zip, opened the first time an AES member needs it."""
        if self._aes is None:
            self._aes_stream = self.content.open()
            self._aes = pyzipper.AESZipFile(self._aes_stream)
        return self._aes

    def close(self) -> None:
        if self._aes is not None:
            self._aes.close()
            self._aes_stream.close()


def _decrypts(opener: _Opener, info: zipfile.ZipInfo, password: bytes) -> bool:
    """Whether ``password`` opens the member and its first bytes decompress."""
    try:
        with opener.open(info, password) as stream:
            stream.read(_VERIFY_BYTES)
    except Exception:  # wrong password: RuntimeError, zlib.error, BadZipFile (CRC) ...
        return False
    return True


def _without_crc(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    """A copy of ``info`` that ``zipfile`` reads without checking the CRC itself.

    ``zipfile`` raises at the end of a member whose CRC is wrong and drops the bytes of
    that last read; :class:`_CrcChecked` checks instead, after handing the bytes over.
    """
    clone = copy.copy(info)
    if hasattr(clone, "CRC"):
        del clone.CRC
    return clone


class _CrcChecked:
    """Passes a member's bytes through and raises only at the end if the CRC is wrong."""

    def __init__(self, stream: BinaryIO, info: zipfile.ZipInfo):
        self.stream = stream
        self.expected = getattr(info, "CRC", None)
        self.crc = 0
        self.name = info.orig_filename

    def read(self, size: int = -1) -> bytes:
        return self._check(self.stream.read(size))

    def read1(self, size: int = -1) -> bytes:
        return self._check(self.stream.read1(size))

    def _check(self, data: bytes) -> bytes:
        if data:
            self.crc = zlib.crc32(data, self.crc)
        elif self.expected is not None and self.crc != self.expected:
            self.expected = None  # report once
            raise zipfile.BadZipFile(f"Bad CRC-32 for file {self.name!r}")
        return data

    def close(self) -> None:
        self.stream.close()


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    # Unix "made by" (3) keeps st_mode in the high 16 bits of the external attributes.
    return info.create_system == 3 and (info.external_attr >> 16) & 0o170000 == 0o120000


def _valid_date(date_time: tuple[int, ...]) -> bool:
    return 1 <= date_time[1] <= 12 and 1 <= date_time[2] <= 31


# -- ways to open a member --------------------------------------------------------------------
class _Opener:
    """How to get a member's bytes: via the central directory, or a bare local header."""

    sizes_known = True

    def can_read(self, info: zipfile.ZipInfo) -> bool:
        raise NotImplementedError

    def open(self, info: zipfile.ZipInfo, password: bytes | None) -> BinaryIO:
        raise NotImplementedError


class _DirectoryOpener(_Opener):
    def __init__(self, archive: zipfile.ZipFile, reader: _MemberReader, index: int):
        self.archive, self.reader, self.index = archive, reader, index

    def can_read(self, info: zipfile.ZipInfo) -> bool:
        if info.compress_type == AES_METHOD:
            # pyzipper knows the real method from the AES extra field; not deflate64.
            try:
                return self._aes_info().compress_type in SUPPORTED_METHODS - {9}
            except Exception:  # pyzipper refuses what zipfile read: let 7-Zip try
                return False
        return info.compress_type in SUPPORTED_METHODS

    def _aes_info(self) -> zipfile.ZipInfo:
        return self.reader.aes_archive().infolist()[self.index]

    def open(self, info: zipfile.ZipInfo, password: bytes | None) -> BinaryIO:
        if info.compress_type == AES_METHOD:
            return self.reader.aes_archive().open(self._aes_info(), pwd=password)
        if not 0 <= info.header_offset < self.reader.content.size:
            # The directory's offset (with the shift zipfile infers from where the directory
            # really is) points before the start or past the end: zipfile would seek there.
            raise ExtractError("the member's local header lies outside the archive")
        member = self.archive.open(info, pwd=password)
        return _deflate64.BoundedReads(member) if info.compress_type == _deflate64.DEFLATE64 else member


class _LocalHeaderOpener(_Opener):
    """Reads a member found by its local header, without a central directory."""

    def __init__(self, content: Content, data_offset: int, sizes_known: bool):
        self.content, self.data_offset, self.sizes_known = content, data_offset, sizes_known

    def can_read(self, info: zipfile.ZipInfo) -> bool:
        return info.compress_type in SUPPORTED_METHODS

    def open(self, info: zipfile.ZipInfo, password: bytes | None) -> BinaryIO:
        stream = self.content.open()
        stream.seek(self.data_offset)
        try:
            # ZipExtFile is what ZipFile.open returns; given the data offset it needs no
            # central directory (documented as "returned by open", stable since 2.6).
            member = zipfile.ZipExtFile(stream, "r", info, password, close_fileobj=True)
            return _deflate64.BoundedReads(member) if info.compress_type == _deflate64.DEFLATE64 else member
        except BaseException:
            stream.close()
            raise


# -- damaged zips ---------------------------------------------------------------------------
class _DirectoryUnusable(Exception):
    """The central directory cannot be used; ``reason`` says why, ``damaged`` if it is."""

    def __init__(self, reason: str, damaged: bool = True):
        super().__init__(reason)
        self.reason, self.damaged = reason, damaged


def _open_directory(content: Content, stream: BinaryIO, max_entries: int) -> zipfile.ZipFile:
    entries = _directory_entries(content.view())
    if entries is not None and entries > max_entries:
        raise _DirectoryUnusable(f"{entries} entries", damaged=False)
    try:
        return zipfile.ZipFile(stream)
    except Exception as error:  # BadZipFile, bad UTF-8 names, struct errors, EOF ...
        raise _DirectoryUnusable(describe_error(error)) from None


def _directory_entries(view) -> int | None:
    """Entry count from the end-of-central-directory record (zip64 aware), if found."""
    tail_start = max(0, len(view) - 22 - 65535)
    position = view.rfind(_END_OF_DIRECTORY, tail_start)
    if position < 0 or position + 22 > len(view):
        return None
    (entries,) = struct.unpack_from("<H", view, position + 10)
    locator = position - 20
    if entries == 0xFFFF and locator >= 0 and view[locator : locator + 4] == _ZIP64_LOCATOR:
        (record,) = struct.unpack_from("<Q", view, locator + 8)
        if record + 56 <= len(view):
            (entries,) = struct.unpack_from("<Q", view, record + 32)
    return entries


def _recover(reader: _MemberReader, unusable: _DirectoryUnusable) -> Iterator[Child]:
    """Walk local headers front to back: what a damaged (or huge) zip still holds."""
    node, content, ctx = reader.node, reader.content, reader.ctx
    view = content.view()
    if view.find(_LOCAL_HEADER) < 0:
        raise ExtractError(f"not a readable zip file ({unusable.reason})")
    if unusable.damaged:
        ctx.fact(
            node,
            "file.corrupt",
            reason=f"its table of contents is missing or damaged ({unusable.reason}); "
            "only the files that could be found one by one were checked",
            format="zip",
        )
    for info, raw_name, opener in _local_headers(content, view, ctx.limits.max_members):
        if not info.filename.endswith("/"):
            yield reader.child(info, opener, raw_name)


def _local_headers(content: Content, view, limit: int) -> Iterator[tuple[zipfile.ZipInfo, bytes, _Opener]]:
    position = 0
    for _ in range(limit):
        position = view.find(_LOCAL_HEADER, position)
        if position < 0:
            return
        found = _local_header_at(content, view, position)
        if found is None:
            return
        info, raw_name, opener, position = found
        yield info, raw_name, opener


def _local_header_at(content: Content, view, position: int):
    """The member whose local header starts at ``position``: ``(info, raw name, opener,
    where the next header may start)``, or None when the header is cut off."""
    if position + 30 > len(view):
        return None
    fields = struct.unpack_from("<HHHHHIIIHH", view, position + 4)
    _, flags, method, raw_time, raw_date, crc, packed, size, name_length, extra_length = fields
    raw_name = bytes(view[position + 30 : position + 30 + name_length])
    extra = bytes(view[position + 30 + name_length : position + 30 + name_length + extra_length])
    data_offset = position + 30 + name_length + extra_length
    if data_offset > len(view):
        return None
    packed, size = _zip64_sizes(extra, packed, size)
    sizes_known = not (flags & _FLAG_DATA_DESCRIPTOR and packed == 0)
    info = _local_info(raw_name, flags, method, raw_time, raw_date, extra, position)
    if sizes_known:
        info.CRC, info.compress_size, info.file_size = crc, packed, size
    else:
        # Streamed member (sizes only in a trailing descriptor): deflate and friends
        # end by themselves; read to the end of the file at most, without a CRC.
        info.compress_size = len(view) - data_offset
        info.file_size = len(view) * 1024
    following = max(data_offset + (packed if sizes_known else 0), data_offset)
    return info, raw_name, _LocalHeaderOpener(content, data_offset, sizes_known), following


def _local_info(
    raw_name: bytes, flags: int, method: int, raw_time: int, raw_date: int, extra: bytes, offset: int
):
    name = raw_name.decode("utf-8" if flags & _FLAG_UTF8 else "cp437", "replace")
    info = zipfile.ZipInfo(name)
    info.orig_filename = name
    info.flag_bits, info.compress_type, info.extra, info.header_offset = flags, method, extra, offset
    info._raw_time = raw_time
    info.date_time = ((raw_date >> 9) + 1980, (raw_date >> 5) & 0xF, raw_date & 0x1F,
                      raw_time >> 11, (raw_time >> 5) & 0x3F, (raw_time & 0x1F) * 2)  # fmt: skip
    return info


def _zip64_sizes(extra: bytes, packed: int, size: int) -> tuple[int, int]:
    if packed != 0xFFFFFFFF and size != 0xFFFFFFFF:
        return packed, size
    for tag, body in _extra_fields(extra):
        if tag == _EXTRA_ZIP64 and len(body) >= 16:
            size, packed = struct.unpack_from("<QQ", body, 0)
    return packed, size


# -- smuggling: members the central directory does not list ----------------------------------
#: A member found by its local header alone: (info, raw name, opener).
_Hidden = tuple[zipfile.ZipInfo, bytes, "_Opener"]


class _Layout:
    """Where each listed member lies in the file, to find local headers nothing lists.

    ``zipfile`` (and Windows, 7-Zip, most scanners) read only the central directory;
    other tools (streaming unzippers, some mail gateways, Java's ``ZipInputStream``)
    read local headers front to back. A member whose local header nobody lists (a second
    zip glued before or after, a directory rewritten to drop an entry) is unpacked by
    the latter and seen by none of the former. The file is cut into the spans that the
    listed members (header and data, from the directory's own sizes, so zip64 and data
    descriptors need nothing special) and the directory itself cover; only the gaps
    between them are searched, front to back, so the cost is the size of the gaps, once.
    """

    def __init__(self, content: Content, archive: zipfile.ZipFile, ctx: ScanContext):
        self.content, self.view, self.ctx = content, content.view(), ctx
        view = self.view
        self.second_directory = False
        #: Listed entries that lead to no local header: a damaged directory (zipfile
        #: reports each when it is opened), which also explains as many uncovered headers.
        self.broken_entries = 0
        #: header offset -> (local raw name, data offset) for each listed member.
        self._local: dict[int, tuple[bytes, int]] = {}
        #: (header offset, end of data, member) for each listed member, for overlaps.
        self._members: list[tuple[int, int, zipfile.ZipInfo]] = []
        spans = []
        for info in archive.infolist():
            local = self._read_local(info.header_offset)
            if local is None:
                self.broken_entries += 1
                continue
            self._local[info.header_offset] = local[:2]
            end = local[1] + info.compress_size
            if _sizes_agree(local[2], local[3], info):
                # Overlap is judged only between entries whose two headers agree: a flipped
                # size in a damaged download makes ranges overlap too, by accident.
                self._members.append((info.header_offset, end, info))
            if info.flag_bits & _FLAG_DATA_DESCRIPTOR:
                end += self._descriptor_length(end, info)
            spans.append((info.header_offset, end))
        self._overlapping = _overlapping_offsets(self._members)
        end_record = _end_record(view)
        directory_end = end_record + 22 if end_record is not None else len(view)
        spans.append((archive.start_dir, max(archive.start_dir, directory_end)))
        spans.sort()
        self.gaps: list[tuple[int, int]] = []
        position = 0
        for start, end in spans:
            if start > position:
                self.gaps.append((position, start))
            position = max(position, end)
        if position < len(view):
            self.gaps.append((position, len(view)))

    @classmethod
    def of(cls, content: Content, archive: zipfile.ZipFile, ctx: ScanContext) -> _Layout | None:
        """The layout, or None when a forged directory upsets even this (the members
        are then read as before, the error is logged)."""
        try:
            return cls(content, archive, ctx)
        except (struct.error, ValueError, TypeError, OverflowError):
            log.debug("zip layout unreadable", exc_info=True)
            return None

    def _read_local(self, offset: int) -> tuple[bytes, int, int, int] | None:
        """(raw name, data offset, packed size, flags) of the local header at ``offset``."""
        view = self.view
        if offset < 0 or offset + 30 > len(view) or view[offset : offset + 4] != _LOCAL_HEADER:
            return None
        flags = struct.unpack_from("<H", view, offset + 6)[0]
        packed = struct.unpack_from("<I", view, offset + 18)[0]
        name_length, extra_length = struct.unpack_from("<HH", view, offset + 26)
        raw = bytes(view[offset + 30 : offset + 30 + name_length])
        return raw, offset + 30 + name_length + extra_length, packed, flags

    def _descriptor_length(self, at: int, info: zipfile.ZipInfo) -> int:
        sizes = 16 if info.compress_size >= 0xFFFFFFFF or info.file_size >= 0xFFFFFFFF else 8
        signed = self.view[at : at + 4] == _DATA_DESCRIPTOR
        return (4 if signed else 0) + 4 + sizes

    def local_name_differs(self, info: zipfile.ZipInfo) -> tuple[str, int] | None:
        """(local name, data offset) when the local header names the member differently."""
        local = self._local.get(info.header_offset)
        if local is None or local[0] == _raw_name(info):
            return None
        return decode_zip_name(local[0], info.flag_bits)[0], local[1]

    def overlapping_members(self) -> list[zipfile.ZipInfo]:
        """Listed members whose header or data lie (partly) inside another's, in order."""
        return [info for start, _, info in self._members if start in self._overlapping]

    def overlapping_data(self, info: zipfile.ZipInfo) -> int | None:
        """The data offset of ``info`` when it overlaps another member, else None."""
        if info.header_offset not in self._overlapping:
            return None
        return self._local[info.header_offset][1]

    def hidden_members(self) -> list[_Hidden]:
        """Members with a plausible local header in a gap, at most ``max_members``."""
        view, limit = self.view, self.ctx.limits.max_members
        found: list[_Hidden] = []
        candidates = 0
        for gap_start, gap_end in self.gaps:
            if view.find(_END_OF_DIRECTORY, gap_start, gap_end) >= 0:
                self.second_directory = True
            position = gap_start
            while len(found) < limit and candidates < _MAX_HIDDEN_CANDIDATES:
                position = view.find(_LOCAL_HEADER, position, gap_end)
                if position < 0:
                    break
                candidates += 1
                if candidates % 1024 == 0:
                    self.ctx.check_time()
                member = _local_header_at(self.content, view, position)
                if member is None or not _plausible_local(view, position, member[1], member[0]):
                    position += 4
                    continue
                info, raw_name, opener, following = member
                if not info.filename.endswith("/"):
                    found.append((info, raw_name, opener))
                # Skip the member's data (a stored zip inside it is its own business) when
                # its size is known and it stays inside the gap.
                position = following if following <= gap_end else position + 4
        return found


def _sizes_agree(local_packed: int, local_flags: int, info: zipfile.ZipInfo) -> bool:
    """Whether a local header's packed size agrees with the directory's (or says nothing:
    a data descriptor holds it, or zip64 keeps it in the extra field)."""
    if local_flags & _FLAG_DATA_DESCRIPTOR or local_packed == 0xFFFFFFFF:
        return True
    return local_packed == info.compress_size


def _plausible_local(view, position: int, raw_name: bytes, info: zipfile.ZipInfo) -> bool:
    """A real local header, not four bytes that merely spell its signature."""
    version = struct.unpack_from("<H", view, position + 4)[0]
    return (
        (version & 0xFF) < 100
        and info.compress_type in METHOD_NAMES
        and 0 < len(raw_name) <= 4096
        and b"\x00" not in raw_name
    )


def _end_record(view) -> int | None:
    """Offset of the end-of-central-directory record ``zipfile`` reads (the last one)."""
    position = view.rfind(_END_OF_DIRECTORY, max(0, len(view) - 22 - 65535))
    return position if position >= 0 else None


def _overlapping_offsets(members: list[tuple[int, int, zipfile.ZipInfo]]) -> set[int]:
    """Header offsets of members that overlap another (one sort, one pass).

    Honest writers put members one after another; overlapping ones are a decompression
    bomb (David Fifield's "overlapping files": every entry reuses the same compressed
    data) or entries pointing into each other to hide or duplicate data.
    """
    overlapping: set[int] = set()
    furthest_start, furthest_end = -1, -1
    for start, end, _ in sorted(members, key=lambda member: member[:2]):
        if start < furthest_end:
            overlapping.update((start, furthest_start))
        if end > furthest_end:
            furthest_start, furthest_end = start, end
    return overlapping


def report_layout(node: Node, ctx: ScanContext, layout: _Layout | None) -> list[_Hidden]:
    """Record hidden and overlapping members on ``node``; the hidden members to yield."""
    if layout is None:
        return []
    hidden = layout.hidden_members()
    # Entries of a damaged directory that lead nowhere explain as many uncovered headers
    # (those members are still read and scanned; zipfile reports the damage).
    if len(hidden) > layout.broken_entries:
        names = [decode_zip_name(raw, info.flag_bits, info.extra)[0] for info, raw, _ in hidden]
        second = layout.second_directory
        ctx.fact(
            node, "archive.hidden_member", count=len(names), names=_shown(names), second_directory=second
        )
    overlapping = layout.overlapping_members()
    if overlapping:
        names = [decode_zip_name(_raw_name(info), info.flag_bits, info.extra)[0] for info in overlapping]
        ctx.fact(node, "archive.overlapping_members", count=len(names), names=_shown(names))
    return hidden


def _shown(names: list[str]) -> str:
    """The first five names, made visible, and how many more."""
    shown = ", ".join(visible_name(name) for name in names[:5])
    return shown + (f" … (+{len(names) - 5})" if len(names) > 5 else "")


# -- 7-Zip for methods Python cannot read ---------------------------------------------------------
class _SevenZipMember:
    """Decompress one member with 7-Zip, bounded in bytes and time, inside the temp dir."""

    def __init__(self, reader: _MemberReader, info: zipfile.ZipInfo, tool: str):
        self.reader, self.info, self.tool = reader, info, tool
        self.ctx = reader.ctx
        self.folder = self.ctx.temp_dir
        #: 7-Zip's last error line ("Unsupported Method", "Data Error" ...), if it failed.
        self.error = ""

    def extract(self, pool: list[Candidate] | None) -> tuple[str, Candidate | None] | None:
        """Path of the decompressed member (and the password used), or None on failure."""
        single = self._single_member_zip()
        if single is None:
            return None
        try:
            if pool is None:
                path = self._run(single, "")
                return (path, None) if path else None
            for candidate in pool:
                # 7-Zip encodes the password for the zip itself.
                path = self._run(single, candidate.password)
                if path:
                    remember(self.ctx, candidate)
                    return path, candidate
            return None
        finally:
            os.unlink(single)

    def _single_member_zip(self) -> str | None:
        """Copy the member's raw bytes into a fresh zip whose only name is ``member``."""
        info, view = self.info, self.reader.content.view()
        offset = info.header_offset
        if offset + 30 > len(view) or view[offset : offset + 4] != _LOCAL_HEADER:
            return None
        if not hasattr(info, "CRC"):
            return None  # a streamed member whose sizes are unknown: nothing to copy
        if info.file_size > 0xFFFFFFFF or info.compress_size > 0xFFFFFFFF:
            return None  # beyond every size limit anyway
        version, flags, method, raw_time, raw_date = struct.unpack_from("<HHHHH", view, offset + 4)
        name_length, extra_length = struct.unpack_from("<HH", view, offset + 26)
        extra_start = offset + 30 + name_length
        # Keep the extra fields (AES needs its 0x9901 field), minus zip64 sizes: the
        # new headers hold the sizes themselves.
        extra = b"".join(
            struct.pack("<HH", tag, len(body)) + body
            for tag, body in _extra_fields(bytes(view[extra_start : extra_start + extra_length]))
            if tag != _EXTRA_ZIP64
        )
        start = extra_start + extra_length
        data = memoryview(view)[start : start + info.compress_size]
        sizes = (info.CRC, len(data), info.file_size)
        name = b"member"
        local = struct.pack(
            "<4sHHHHHIIIHH", _LOCAL_HEADER, version, flags, method, raw_time, raw_date, *sizes, len(name), len(extra),
        ) + name + extra  # fmt: skip
        central = struct.pack(
            "<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", version, version, flags, method, raw_time, raw_date,
            *sizes, len(name), len(extra), 0, 0, 0, 0, 0,
        ) + name + extra  # fmt: skip
        end = struct.pack(
            "<4sHHHHIIH", _END_OF_DIRECTORY, 0, 0, 1, 1, len(central), len(local) + len(data), 0
        )
        path = os.path.join(self.folder, f"single-{time.monotonic_ns()}-{id(self)}.zip")
        try:
            with open(path, "wb") as out:
                out.write(local)
                out.write(data)
                out.write(central + end)
        finally:
            data.release()  # an mmap cannot close while a view of it is alive
        return path

    def _run(self, archive: str, password: str) -> str | None:
        out_path, error_path = archive + ".out", archive + ".err"
        budget = min(self.ctx.limits.max_file_size, self.ctx.remaining_bytes()) + 1
        try:
            # The password goes to 7-Zip's stdin, never its argv (readable by every user).
            switch, secret = _tools.sevenzip_password(password)
        except _tools.ToolError as error:
            self.error = str(error)
            return None
        command = [self.tool, "e", "-so", "-y", "-bd", "-sccUTF-8", *switch, "--", archive]
        with open(out_path, "wb") as out, open(error_path, "wb") as errors:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL if secret is None else subprocess.PIPE,
                stdout=out,
                stderr=errors,
                env=_tools._env(),  # same clean UTF-8 environment as every other helper run
                start_new_session=os.name == "posix",
            )
            try:
                _tools._feed(process, secret)
                status = _wait_bounded(process, out_path, budget, self.ctx)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        self.error = _last_error_line(error_path)
        os.unlink(error_path)
        if status == 0 or status == "cut":
            return out_path
        os.unlink(out_path)
        return None


def _last_error_line(path: str) -> str:
    with open(path, "rb") as errors:
        text = errors.read(4096).decode("utf-8", "replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1].removeprefix("ERROR:").strip()[:200] if lines else ""


def _wait_bounded(process: subprocess.Popen, out_path: str, budget: int, ctx: ScanContext) -> int | str:
    """Wait for 7-Zip; stop it when its output passes ``budget`` or the scan's time is up."""
    while True:
        try:
            return process.wait(timeout=0.02)
        except subprocess.TimeoutExpired:
            pass
        if os.path.getsize(out_path) > budget:
            return "cut"
        ctx.check_time()


class _DeleteOnClose:
    """A file 7-Zip wrote into the temp folder, removed once the engine has read it."""

    def __init__(self, path: str):
        self.path = path
        self.stream = open(path, "rb")  # noqa: SIM115  (closed by close(), which the engine calls)

    def read(self, size: int = -1) -> bytes:
        return self.stream.read(size)

    def close(self) -> None:
        self.stream.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass

    def __enter__(self) -> _DeleteOnClose:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
