"""Disc images: ISO 9660 with Joliet or Rock Ridge names, and UDF (bridge or UDF-only).

A customer's ``.iso``/``.img`` opens as a drive with one double-click on Windows 10/11,
which is why Trojan senders wrap programs in them (it also used to drop the "downloaded
from the internet" mark). Members are read with pycdlib (pure Python). Names are shown as
Windows shows them: UDF names first, then Joliet (UTF-16, e.g. ``订单详情.pdf.exe``), then
Rock Ridge, and only then the 8.3 ISO names (``ORDER.EXE;1``).

pycdlib needs an ISO 9660 volume descriptor; a UDF-only image (``BEA01``/``NSR02`` at
sector 16, nothing else) is handed to ``7zz`` when it is installed, and otherwise reported
as one filewall cannot open here.
"""

from __future__ import annotations

import posixpath
import re

import pycdlib
from pycdlib.pycdlibexception import PyCdlibException

from ..engine import ExtractError
from ..registry import Child, extractor
from . import _tools

#: Name spaces in the order Windows prefers them.
NAMESPACES = ("udf_path", "joliet_path", "rr_path", "iso_path")
_LABELS = {"udf_path": "UDF", "joliet_path": "Joliet", "rr_path": "Rock Ridge", "iso_path": "ISO 9660"}
_VERSION = re.compile(r";\d*$")


@extractor("iso")
def iso_members(node, content, ctx):
    """Yield the files of a disc image."""
    stream = content.open()
    iso = pycdlib.PyCdlib()
    try:
        try:
            iso.open_fp(stream)
        except (PyCdlibException, ValueError, IndexError, KeyError, OSError) as error:
            yield from _without_pycdlib(node, content, ctx, error)
            return
        namespace = _namespace(iso)
        try:
            yield from _walk(iso, namespace, ctx)
        except (PyCdlibException, ValueError, IndexError, KeyError) as error:
            raise ExtractError(f"the disc image is damaged ({_plain(error)})") from error
    finally:
        try:
            iso.close()
        except PyCdlibException:
            pass  # never opened
        stream.close()


def _namespace(iso) -> str:
    if iso.has_udf():
        return "udf_path"
    if iso.has_joliet():
        return "joliet_path"
    if iso.has_rock_ridge():
        return "rr_path"
    return "iso_path"


def _walk(iso, namespace: str, ctx):
    for root, _dirs, files in iso.walk(**{namespace: "/"}):
        for name in files:
            ctx.check_time()
            path = posixpath.join(root, name)
            record = iso.get_record(**{namespace: path})
            yield _child(iso, namespace, path, record)


def _child(iso, namespace: str, path: str, record) -> Child:
    stored = path.lstrip("/")
    shown = _VERSION.sub("", stored).rstrip(".") if namespace == "iso_path" else stored
    info: dict = {"stored_name": stored, "names": _LABELS[namespace]}
    if getattr(record, "file_flags", 0) & 1:
        info["hidden"] = True  # the ISO 9660 "existence" bit: Explorer does not list it
    target = _link_target(record)
    if target is not None:
        info["link_target"] = target
        return Child(shown, None, 0, None, [], info)
    size = record.get_data_length()

    def open_member():
        stream = iso.open_file_from_iso(**{namespace: path})
        stream.__enter__()  # pycdlib sets up its read position there
        return _tools.exact_length(stream, size)

    return Child(shown, open_member, size, size, [], info)


def _link_target(record) -> str | None:
    """The target of a Rock Ridge or UDF symbolic link, else None."""
    rock_ridge = getattr(record, "rock_ridge", None)
    if rock_ridge is not None and rock_ridge.is_symlink():
        return rock_ridge.symlink_path().decode("utf-8", "replace")
    if hasattr(record, "file_ident") and record.is_symlink():
        return "?"  # UDF keeps the target in the data; it is not followed either way
    return None


def _without_pycdlib(node, content, ctx, error: BaseException):
    """UDF-only images (and ISOs pycdlib refuses) go to 7-Zip when it is here."""
    head = content.head(0x8006)
    udf_only = head[0x8001:0x8006] in (b"BEA01", b"NSR02", b"NSR03")
    if _tools.can_open("udf" if udf_only else "iso", ("7zz",)) is not None:
        yield from _tools.tool_children(
            node, content, ctx, format_name="udf" if udf_only else "iso", tools=("7zz",)
        )
        return
    if udf_only:
        ctx.fact(
            node, "archive.unsupported", format="UDF disc image", format_zh="UDF 光盘映像", helpers="7zz"
        )
        return
    raise ExtractError(f"the disc image is damaged ({_plain(error)})")


def _plain(error: BaseException) -> str:
    return (str(error) or type(error).__name__)[:200]
