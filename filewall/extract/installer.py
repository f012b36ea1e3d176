"""Installers: what an MSI package and an NSIS setup program carry inside.

**MSI** databases are OLE compound files whose stream names are compressed into CJK code
points (two name characters per UTF-16 unit, tables prefixed with U+4840), and whose
tables are stored column by column against a shared string pool. olefile reads the
streams; :class:`MsiDatabase` is the small decoder for the names, the string pool and
the tables. It is written here because the one PyPI reader (``pymsi``) is an early
pre-release, and the format is small and stable (see msitools' ``libmsi``: ``table.c``,
``string.c``). Children: the ``Binary`` table's streams (custom-action programs, DLLs and
scripts) and embedded cabinets (the files to be installed; the CAB extractor unpacks them).
Icons are left out: they are pictures (often in program form) shown in Add/Remove Programs.

**NSIS** setup programs (a PE with a ``NullsoftInst`` header appended) are unpacked with
7-Zip when it is installed (:mod:`._tools`); without it, the setup program is still a
program, and an installer, by policy.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import olefile

from ..engine import ExtractError
from ..identify import identify
from ..registry import Child, extractor
from . import _tools
from .ole import open_ole

if TYPE_CHECKING:
    from ..content import Content
    from ..engine import ScanContext
    from ..model import Node

_CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._"
_TABLE_PREFIX = "\u4840"
#: Column type bits (msitools ``msipriv.h``).
_TYPE_STRING, _TYPE_NULLABLE, _TYPE_VALID = 0x0800, 0x1000, 0x0100
#: Rows read per table; a real package has a few thousand at most.
MAX_ROWS = 100_000
#: Bytes of one table stream read (string pools of big packages are a few MB).
MAX_TABLE_BYTES = 64 * 1024 * 1024
NSIS_MAGIC = b"\xef\xbe\xad\xdeNullsoftInst"


def decode_stream_name(name: str) -> tuple[bool, str]:
    """(is a table, readable name) of an MSI stream name."""
    is_table = name.startswith(_TABLE_PREFIX)
    out = []
    for char in name[1:] if is_table else name:
        code = ord(char)
        if 0x3800 <= code < 0x4800:
            code -= 0x3800
            out.append(_CHARSET[code & 0x3F])
            out.append(_CHARSET[(code >> 6) & 0x3F])
        elif 0x4800 <= code < 0x4840:
            out.append(_CHARSET[code - 0x4800])
        else:
            out.append(char)
    return is_table, "".join(out)


class MsiDatabase:
    """Read-only access to the tables of an MSI package opened with olefile."""

    def __init__(self, ole: olefile.OleFileIO):
        self.ole = ole
        self.tables: dict[str, list[str]] = {}
        self.streams: dict[str, list[str]] = {}
        for path in ole.listdir(streams=True, storages=False)[:20_000]:
            if len(path) != 1:
                continue
            is_table, name = decode_stream_name(path[0])
            (self.tables if is_table else self.streams)[name] = path
        self.strings, self.ref_size = self._string_pool()
        self.columns = self._columns()

    def _read(self, table: str) -> bytes:
        path = self.tables.get(table)
        if path is None:
            return b""
        return self.ole.openstream(path).read(MAX_TABLE_BYTES)

    def _string_pool(self) -> tuple[list[str], int]:
        pool, data = self._read("_StringPool"), self._read("_StringData")
        if len(pool) < 4:
            return [""], 2
        codepage = struct.unpack_from("<I", pool, 0)[0]
        ref_size = 3 if codepage & 0x80000000 else 2
        encoding = _codepage((codepage & 0xFFFF) or 1252)
        strings, offset, index = [""], 0, 4
        while index + 4 <= len(pool):
            length, refs = struct.unpack_from("<HH", pool, index)
            index += 4
            if length == 0 and refs != 0 and index + 4 <= len(pool):
                # A string over 64 KiB: this entry holds the high word, the next the low.
                low, _ = struct.unpack_from("<HH", pool, index)
                length, index = (refs << 16) | low, index + 4
            strings.append(data[offset : offset + length].decode(encoding, "replace"))
            offset += length
        return strings, ref_size

    def _columns(self) -> dict[str, list[tuple[int, str, int]]]:
        """table → [(number, name, type)] from the _Columns system table."""
        widths = [self.ref_size, 2, self.ref_size, 2]
        rows = self._rows(self._read("_Columns"), widths)
        columns: dict[str, list[tuple[int, str, int]]] = {}
        for table, number, name, col_type in rows:
            if not number or not col_type:
                continue  # a damaged row: columns are numbered from 1 and always have a type
            columns.setdefault(self._string(table), []).append(
                (_int(number, 2), self._string(name), _int(col_type, 2))
            )
        for entries in columns.values():
            entries.sort()
        return columns

    def _rows(self, data: bytes, widths: list[int]) -> list[list[int]]:
        row_size = sum(widths)
        if not row_size or not data:
            return []
        count = min(len(data) // row_size, MAX_ROWS)
        rows = [[0] * len(widths) for _ in range(count)]
        offset = 0
        for column, width in enumerate(widths):  # stored column by column
            for row in range(count):
                rows[row][column] = int.from_bytes(data[offset : offset + width], "little")
                offset += width
        return rows

    def _string(self, ref: int) -> str:
        return self.strings[ref] if 0 < ref < len(self.strings) else ""

    def table(self, name: str) -> list[dict[str, Any]]:
        """Rows of one table as {column: value} (strings resolved, integers unbiased)."""
        definition = self.columns.get(name)
        if not definition:
            return []
        widths = [self._width(col_type) for _, _, col_type in definition]
        result = []
        for raw in self._rows(self._read(name), widths):
            row = {}
            for (_, column, col_type), width, value in zip(definition, widths, raw, strict=True):
                row[column] = self._string(value) if col_type & _TYPE_STRING else _int(value, width)
            result.append(row)
        return result

    def _width(self, col_type: int) -> int:
        if (col_type & ~_TYPE_NULLABLE) == (_TYPE_STRING | _TYPE_VALID):
            return 2  # a stream ("binary") column stores a 2-byte placeholder
        if col_type & _TYPE_STRING:
            return self.ref_size
        return 2 if (col_type & 0xFF) <= 2 else 4


def _int(value: int, width: int) -> int | None:
    """MSI stores integers offset by 0x8000 / 0x80000000; 0 means empty."""
    if value == 0:
        return None
    return value - (0x8000 if width == 2 else 0x80000000)


def _codepage(number: int) -> str:
    return {0: "cp1252", 65001: "utf-8", 936: "gbk", 950: "big5"}.get(number, f"cp{number}")


# -- children ------------------------------------------------------------------------------


@extractor("msi")
def msi_streams(node: Node, content: Content, ctx: ScanContext) -> Iterator[Child]:
    """Yield the Binary table's streams and embedded cabinets of an MSI package."""
    try:
        ole = open_ole(content.open())
    except Exception as error:
        raise ExtractError(f"not a readable Windows Installer package ({error})") from error
    with ole:
        database = MsiDatabase(ole)
        for name, path in database.streams.items():
            if name.startswith(("\x05", "Icon.")) or name in ("DigitalSignature", "MsiDigitalSignatureEx"):
                continue
            ctx.check_time()
            size = ole.get_size(path)
            if (
                not name.startswith("Binary.")
                and identify(ole.openstream(path).read(4096), size).kind != "cab"
            ):
                continue
            yield Child(
                name=name,
                open=lambda path=path: ole.openstream(path),
                declared_size=size,
                info={"embedded_as": "MSI Binary table" if name.startswith("Binary.") else "MSI cabinet"},
            )


@extractor("pe")
def nsis_setup(node: Node, content: Content, ctx: ScanContext) -> Iterator[Child]:
    """Unpack an NSIS setup program with 7-Zip, when 7-Zip is installed."""
    if content.view().find(NSIS_MAGIC) < 0 or _tools.can_open("nsis", ("7zz",)) is None:
        return
    yield from _tools.tool_children(node, content, ctx, format_name="nsis", tools=("7zz",))
