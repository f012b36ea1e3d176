"""OLE2 compound files (doc/xls/ppt and friends): what they carry inside.

Children, in this order:

1. the **decrypted document**, when the file is password-protected Office (msoffcrypto-tool):
   first Office's built-in "transparent" passwords (Excel's ``VelvetSweatshop``,
   PowerPoint's), then the passwords of the scan (:mod:`._passwords`);
2. files embedded as **OLE Package** objects (``\\x01Ole10Native`` streams, parsed by
   oletools' ``OleNativeStream``): the icon in the document that runs a program when
   double-clicked;
3. objects PowerPoint stores zlib-compressed inside its ``PowerPoint Document`` stream
   (``ExOleObjStg`` records, read with oletools' ``ppt_record_parser``);
4. any other stream whose bytes *are* a file of a known kind (an embedded ``.docx`` in a
   ``Package`` stream, a PDF in ``CONTENTS``, a program hidden in a stream of its own), or
   that is one once inflated (Word 2003 XML's ``oledata.mso`` objects: size + zlib).

Also here: the OLE document inside an ActiveMime blob (``editdata.mso``).

Outlook ``.msg`` files are OLE too; their attachments are the e-mail extractor's job and
are left alone here.
"""

from __future__ import annotations

import functools
import io
import os
import struct
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msoffcrypto
import olefile
from oletools import oleobj
from oletools.ppt_record_parser import PptFile, PptRecordExOleVbaActiveXAtom, is_ppt

from ..engine import ExtractError
from ..identify import identify
from ..registry import Child, extractor
from ._docs import quiet_oletools
from ._passwords import candidates, remember, source_params

if TYPE_CHECKING:
    from ..content import Content
    from ..engine import ScanContext
    from ..model import Node

quiet_oletools()

#: Passwords Office itself uses when a file is "protected" without the user typing one.
#: Malware uses them so that scanners see only ciphertext while Excel opens it silently.
TRANSPARENT_PASSWORDS = (
    ("VelvetSweatshop", "Excel's built-in default password", "Excel 内置的默认密码"),
    ("/01Hannes Ruescher/01", "PowerPoint's built-in default password", "PowerPoint 内置的默认密码"),
)
#: Streams looked at per file; a crafted file may declare hundreds of thousands.
MAX_STREAMS = 4000
#: Kinds a stream is not worth yielding as (they are the document's own data).
_BORING_KINDS = {"binary", "text", "empty", "unknown"}
#: Bytes read from a stream to decide whether it is a file of its own.
_PEEK = 4096


def open_ole(source) -> olefile.OleFileIO:
    """Open an OLE compound file whose sector sizes are ones [MS-CFB] allows.

    olefile only notes a wrong sector shift as a defect and goes on; with a flipped header
    byte a mini sector of 2**161 bytes then makes every stream read fail (OverflowError).
    """
    ole = olefile.OleFileIO(source)
    if ole.sector_size not in (512, 4096) or ole.mini_sector_size != 64:
        ole.close()
        raise ValueError(f"impossible sector sizes ({ole.sector_shift}, {ole.mini_sector_shift})")
    return ole


@dataclass
class Decrypted:
    """A decrypted Office document written into the scan's temp folder."""

    path: str
    params: dict[str, str]


@extractor("ole")
def ole_members(node: Node, content: Content, ctx: ScanContext) -> Iterator[Child]:
    """Yield the decrypted document, embedded files and embedded objects of an OLE file."""
    if is_encrypted_office(content):
        yield from _decrypted_child(node, content, ctx)
        return
    try:
        ole = open_ole(content.open())
    except Exception as error:
        raise ExtractError(f"not a readable OLE compound file ({error})") from error
    with ole:
        if _is_outlook_message(ole):
            return
        yield from _package_children(ole, ctx)
        yield from _stream_children(ole, ctx)
    if is_ppt(content.open()):
        yield from _powerpoint_objects(content, ctx)


# -- encryption ------------------------------------------------------------------------


def is_encrypted_office(content: Content) -> bool:
    """True for a password-protected Word, Excel or PowerPoint file (any version)."""
    try:
        return bool(msoffcrypto.OfficeFile(content.open()).is_encrypted())
    except Exception:  # not an Office format msoffcrypto knows: not Office encryption
        return False


def _decrypted_child(node: Node, content: Content, ctx: ScanContext) -> Iterator[Child]:
    decrypted = decrypt_office(content, ctx)
    if decrypted is None:
        ctx.fact(node, "office.encrypted_unopened")
        return
    ctx.fact(node, "office.encrypted", **decrypted.params)
    yield Child(
        name=f"{os.path.basename(node.name) or 'document'} (decrypted)",
        open=functools.partial(open, decrypted.path, "rb"),
        declared_size=os.path.getsize(decrypted.path),
        info={"decrypted": True, "password_source": decrypted.params["password_source"]},
    )


def decrypt_office(content: Content, ctx: ScanContext) -> Decrypted | None:
    """Try Office's transparent passwords, then the scan's; write the plain file to temp."""
    for password, source, source_zh in TRANSPARENT_PASSWORDS:
        path = _try_password(content, ctx, password)
        if path:
            return Decrypted(path, {"password_source": source, "password_source_zh": source_zh})
    for candidate in candidates(ctx):
        ctx.check_time()
        path = _try_password(content, ctx, candidate.password)
        if path:
            remember(ctx, candidate)
            return Decrypted(path, source_params(candidate))
    return None


def _try_password(content: Content, ctx: ScanContext, password: str) -> str | None:
    """Decrypt with one password into a temp file; None when it is the wrong one."""
    handle, path = tempfile.mkstemp(prefix="decrypted-", dir=ctx.temp_dir)
    try:
        office = msoffcrypto.OfficeFile(content.open())
        # verify_password is not accepted by every format class; a wrong key raises in
        # load_key (97-2003 formats) or in decrypt (OOXML), so both are inside the try.
        office.load_key(password=password)
        with os.fdopen(handle, "wb") as out:
            handle = None
            office.decrypt(out)
        if os.path.getsize(path) == 0:
            raise ValueError("empty result")
        return path
    except Exception:  # each format signals a wrong password differently
        if handle is not None:
            os.close(handle)
        os.unlink(path)
        return None


# -- embedded files ----------------------------------------------------------------------


def _is_outlook_message(ole: olefile.OleFileIO) -> bool:
    return ole.exists("__properties_version1.0") and any(
        entry[0].startswith("__substg1.0_") for entry in ole.listdir()[:50]
    )


def _streams(ole: olefile.OleFileIO) -> list[list[str]]:
    return ole.listdir(streams=True, storages=False)[:MAX_STREAMS]


def _package_children(ole: olefile.OleFileIO, ctx: ScanContext) -> Iterator[Child]:
    """Files dropped into the document as OLE Package objects (\\x01Ole10Native)."""
    for path in _streams(ole):
        if path[-1] != "\x01Ole10Native":
            continue
        ctx.check_time()
        size = ole.get_size(path)
        if size > ctx.limits.max_file_size:
            continue  # declared larger than anything we may read; the parent says so below
        data = ole.openstream(path).read()
        yield from package_child(data, "/".join(path), ctx)


def package_child(native: bytes, where: str, ctx: ScanContext, package: bool = False) -> Iterator[Child]:
    """The file inside an OLENativeStream (``package=True``: without its size prefix)."""
    try:
        stream = oleobj.OleNativeStream(native, package=package)
    except Exception:
        return
    if stream.is_link or stream.data is None:
        return
    name = _embedded_name(stream)
    data = bytes(stream.data)
    yield Child(
        name=name,
        open=lambda: io.BytesIO(data),
        declared_size=stream.actual_size,
        info={
            "embedded_as": "OLE Package",
            "stored_in": _printable(where),
            "source_path": _printable(stream.src_path or ""),
            "temp_path": _printable(stream.temp_path or ""),
        },
    )


def _embedded_name(stream: oleobj.OleNativeStream) -> str:
    for candidate in (stream.filename, stream.src_path, stream.temp_path):
        if candidate:
            return _printable(candidate.replace("\\", "/").rsplit("/", 1)[-1]) or "embedded-file"
    return "embedded-file"


def _stream_children(ole: olefile.OleFileIO, ctx: ScanContext) -> Iterator[Child]:
    """Streams that are whole files of a known kind (embedded documents, hidden programs)."""
    for path in _streams(ole):
        if path[-1] == "\x01Ole10Native":
            continue
        size = ole.get_size(path)
        if size < 4:
            continue
        ctx.check_time()
        head = ole.openstream(path).read(_PEEK)
        kind = identify(head, size).kind
        if kind in _BORING_KINDS:
            inflated = _zlib_stream(ole, path, head, ctx)
            if inflated is not None:
                yield Child(
                    name=_printable("/".join(path)),
                    open=lambda data=inflated: io.BytesIO(data),
                    declared_size=len(inflated),
                    info={"embedded_as": "compressed OLE stream"},
                )
            continue
        yield Child(
            name=_printable("/".join(path)),
            open=lambda path=path: ole.openstream(path),
            declared_size=size,
            info={"embedded_as": "OLE stream"},
        )


def _zlib_stream(ole: olefile.OleFileIO, path: list[str], head: bytes, ctx: ScanContext) -> bytes | None:
    """Word 2003 XML keeps embedded objects as a 4-byte size plus zlib data in oledata.mso."""
    if len(head) < 8 or head[4] != 0x78 or head[5] not in (0x01, 0x5E, 0x9C, 0xDA):
        return None
    declared = struct.unpack_from("<I", head)[0]
    budget = min(declared, ctx.limits.max_file_size, ctx.remaining_bytes())
    try:
        data = zlib.decompressobj().decompress(ole.openstream(path).read()[4:], budget)
    except zlib.error:
        return None
    return data if identify(data[:_PEEK], len(data)).kind not in _BORING_KINDS else None


def _powerpoint_objects(content: Content, ctx: ScanContext) -> Iterator[Child]:
    """Embedded objects PowerPoint keeps zlib-compressed in ExOleObjStg records."""
    budget = min(ctx.limits.max_file_size, ctx.remaining_bytes())
    ppt = PptFile(content.open())
    try:
        number = 0
        for stream in ppt.iter_streams():
            for record in stream.iter_records():
                ctx.check_time()
                if not isinstance(record, PptRecordExOleVbaActiveXAtom):
                    continue
                data = _bounded_join(record.iter_uncompressed(), budget)
                if not data.startswith(olefile.MAGIC) or _is_vba_storage(data):
                    continue  # a VBA project or ActiveX storage, analysed with the document
                number += 1
                yield Child(
                    name=f"embedded-object-{number}",
                    open=lambda data=data: io.BytesIO(data),
                    info={"embedded_as": "PowerPoint OLE object"},
                )
    finally:
        ppt.close()


def _is_vba_storage(data: bytes) -> bool:
    """PowerPoint keeps its VBA project in the same record type as embedded objects."""
    try:
        with olefile.OleFileIO(data) as storage:
            return storage.exists("PROJECT") or storage.exists("VBA")
    except Exception:
        return False


def _bounded_join(chunks, budget: int) -> bytes:
    parts, total = [], 0
    for chunk in chunks:
        parts.append(chunk)
        total += len(chunk)
        if total > budget:
            break
    return b"".join(parts)[:budget]


def _printable(text: str) -> str:
    """OLE names start with control characters (\\x01Ole, \\x05Summary...): drop them."""
    return "".join(ch for ch in str(text) if ch >= " " and ch != "\x7f")


__all__ = ["ole_members", "activemime_document", "is_encrypted_office", "decrypt_office", "package_child"]


# -- ActiveMime (.mso) -----------------------------------------------------------------------

ACTIVEMIME_MAGIC = b"ActiveMime"


@extractor("binary")
def activemime_document(node: Node, content: Content, ctx: ScanContext) -> Iterator[Child]:
    """The OLE document inside an ActiveMime blob (``editdata.mso``, ``oledata.mso``).

    Word and Excel put these in "single file web page" (MHTML) and 2003 XML saves; the
    mail extractor hands them over as parts. oletools' ``mso_file_extract`` would inflate
    without a bound, so the same offsets are tried here with one.
    """
    if content.head(len(ACTIVEMIME_MAGIC)) != ACTIVEMIME_MAGIC:
        return
    data = bytes(content.view())
    budget = min(ctx.limits.max_file_size, ctx.remaining_bytes())
    offsets = [0x32, 0x22A]
    if len(data) >= 0x20:
        offsets.insert(0, struct.unpack_from("<H", data, 0x1E)[0] + 46)
    for start in offsets:
        try:
            inflated = zlib.decompressobj().decompress(data[start:], budget)
        except zlib.error:
            continue
        if inflated:
            yield Child(
                name="activemime-content",
                open=lambda inflated=inflated: io.BytesIO(inflated),
                declared_size=len(inflated),
                info={"embedded_as": "ActiveMime"},
            )
            return
