"""Text of the legacy document formats for the safe view (:mod:`filewall.preview`).

- Word 97-2003 ``.doc``: the main text through the piece table (FIB → CLX → PlcPcd; MS-DOC
  2.4.1), read from the OLE streams with olefile. No maintained library on PyPI does this
  without an external program (antiword, LibreOffice) or Windows (COM), so it is a compact
  reader here: every offset and count checked against the stream, at most a few times
  :data:`~filewall.preview.MAX_TEXT_CHARS` characters read. Word 6/95 files are read when
  their text is stored in one run (no piece table).
- Excel 97-2003 ``.xls`` (and Excel 5/95): xlrd (pure Python, maintained), sheets loaded one
  at a time on demand, rows not padded, formulas not parsed.
- PowerPoint 97-2003 ``.ppt``: the TextCharsAtom/TextBytesAtom records of the "PowerPoint
  Document" stream, walked record by record (masters and handouts skipped).
- RTF: a bounded stripper (below): ``\\ansicpg``, ``\\fcharset`` of the fonts, ``\\'hh``
  (GBK double bytes included), ``\\uN`` with ``\\ucN``, ``\\bin``; font, colour, style and
  information tables, pictures, objects, field instructions and every ``\\*`` destination
  are skipped.
- OpenDocument (odt/ods/odp): ``content.xml`` through the same bounded pull parser as
  Office Open XML (declared and read size capped, DTDs refused, elements freed as read).

Nothing is ever executed. Each reader raises :class:`Encrypted` or :class:`Damaged`;
:func:`filewall.preview.legacy_preview` turns them into notes.
"""

from __future__ import annotations

import codecs
import datetime
import re
import struct
import time
import zipfile
from collections.abc import Callable
from typing import Any

from .preview import MAX_PARTS, MAX_TEXT_CHARS, MAX_XML_BYTES, _local, _TextBuilder, _xml_events, decode_text

#: Largest legacy document opened at all (OLE or RTF).
MAX_LEGACY_BYTES = 32 * 1024 * 1024
#: Seconds spent at most in one RTF or OpenDocument parse.
MAX_LEGACY_SECONDS = 5.0
#: Characters of a Word document read from its pieces (field codes are dropped afterwards).
_WORD_READ_CHARS = 4 * MAX_TEXT_CHARS
#: Records of a PowerPoint stream looked at, at most.
_PPT_MAX_RECORDS = 2_000_000


class Encrypted(Exception):
    """The document is protected by a password."""


class Damaged(Exception):
    """The document cannot be read (the message says why)."""


class TooLarge(Exception):
    """A part of the document is over its size budget (a decompression bomb?)."""


# -- OLE: which kind -----------------------------------------------------------------------------


def ole_text(stream: Any, data: Callable[[], bytes]) -> tuple[str, str, bool] | None:
    """``(text, format, truncated)`` of a Word, Excel or PowerPoint 97-2003 file, or None
    when the OLE file is none of them (an Outlook message, a Visio drawing …).

    ``stream``: the file; ``data()``: all its bytes (only xlrd needs them)."""
    import olefile

    try:
        ole = olefile.OleFileIO(stream)
    except Exception as error:
        raise Damaged(f"not a readable OLE file ({type(error).__name__}: {error})") from error
    with ole:
        if ole.exists("EncryptionInfo") or ole.exists("EncryptedPackage"):
            raise Encrypted  # an encrypted docx/xlsx/pptx travels as an OLE file
        if ole.exists("WordDocument"):
            return _doc_result(ole)
        if ole.exists("Workbook") or ole.exists("Book"):
            text, truncated = _xls_text(data())
            return text, "xls", truncated
        if ole.exists("PowerPoint Document"):
            text, truncated = _ppt_text(ole)
            return text, "ppt", truncated
    return None


def _doc_result(ole: Any) -> tuple[str, str, bool]:
    text, truncated = _doc_text(ole)
    return text, "doc", truncated


def _stream(ole: Any, name: str) -> bytes:
    try:
        if ole.get_size(name) > MAX_LEGACY_BYTES:
            raise Damaged(f"the {name} stream is larger than the file")
        with ole.openstream(name) as handle:
            return handle.read(MAX_LEGACY_BYTES)
    except Damaged:
        raise
    except Exception as error:
        raise Damaged(f"the {name} stream cannot be read ({type(error).__name__})") from error


# -- Word 97-2003 ------------------------------------------------------------------------------

#: Word's special characters (MS-DOC 2.8.25): paragraph, cell, line and page marks become
#: line ends and tabs; anchors of pictures, notes and drawn objects disappear.
_WORD_MARKS = str.maketrans(
    {
        "\r": "\n",
        "\x07": "\t",
        "\x0b": "\n",
        "\x0c": "\n",
        "\x0e": "\n",
        "\x1e": "-",
        "\x1f": "",
        "\x00": "",
        "\x01": "",
        "\x02": "",
        "\x03": "",
        "\x04": "",
        "\x05": "",
        "\x08": "",
    }
)


def _doc_text(ole: Any) -> tuple[str, bool]:
    word = _stream(ole, "WordDocument")
    if len(word) < 0x20:
        raise Damaged("the Word header is cut")
    ident, nfib = struct.unpack_from("<HH", word, 0)
    flags = struct.unpack_from("<H", word, 0x0A)[0]
    if ident != 0xA5EC:
        raise Damaged("not a Word document (bad FIB signature)")
    if flags & 0x0100 or flags & 0x8000:  # fEncrypted, fObfuscated
        raise Encrypted
    if nfib < 0xC1:  # Word 6/95: no FibRgLw97; text in one run when not fast-saved
        return _word6_text(word, flags)
    try:
        pos = 0x20
        csw = struct.unpack_from("<H", word, pos)[0]
        pos += 2 + 2 * csw
        cslw = struct.unpack_from("<H", word, pos)[0]
        ccp_text = struct.unpack_from("<i", word, pos + 2 + 12)[0]
        pos += 2 + 4 * cslw
        cb_fclcb = struct.unpack_from("<H", word, pos)[0]
        if cb_fclcb <= 33:
            raise Damaged("the Word header has no piece table")
        fc_clx, lcb_clx = struct.unpack_from("<II", word, pos + 2 + 33 * 8)
    except struct.error as error:
        raise Damaged("the Word header is cut") from error
    table_name = "1Table" if flags & 0x0200 else "0Table"
    if not ole.exists(table_name):
        raise Damaged(f"the {table_name} stream is missing")
    table = _stream(ole, table_name)
    if lcb_clx == 0 or fc_clx + lcb_clx > len(table):
        raise Damaged("the piece table lies outside the table stream")
    pieces = _plc_pcd(table[fc_clx : fc_clx + lcb_clx])
    wanted = ccp_text if ccp_text > 0 else None
    out: list[str] = []
    length = 0
    truncated = False
    for cp_start, cp_end, fc, compressed in pieces:
        if wanted is not None and cp_start >= wanted:
            break
        count = cp_end - cp_start
        if wanted is not None:
            count = min(count, wanted - cp_start)
        if count <= 0:
            continue
        if length + count > _WORD_READ_CHARS:
            count, truncated = _WORD_READ_CHARS - length, True
        if compressed:
            raw = word[fc // 2 : fc // 2 + count]
            piece = raw.decode("cp1252", "replace")
        else:
            raw = word[fc : fc + 2 * count]
            piece = raw.decode("utf-16-le", "replace")
        out.append(piece)
        length += len(piece)
        if truncated:
            break
    return _word_visible("".join(out)), truncated


def _plc_pcd(clx: bytes) -> list[tuple[int, int, int, bool]]:
    """The pieces ``(cp start, cp end, fc, compressed)`` of a Clx (MS-DOC 2.9.38)."""
    pos = 0
    while pos < len(clx) and clx[pos] == 0x01:  # Prc: property modifiers, skipped
        if pos + 3 > len(clx):
            break
        size = struct.unpack_from("<h", clx, pos + 1)[0]
        if size < 0:
            raise Damaged("a broken piece table")
        pos += 3 + size
    if pos + 5 > len(clx) or clx[pos] != 0x02:
        raise Damaged("no piece table in the Clx")
    lcb = struct.unpack_from("<I", clx, pos + 1)[0]
    plc = clx[pos + 5 : pos + 5 + lcb]
    if lcb < 16 or len(plc) < lcb or (lcb - 4) % 12:
        raise Damaged("a broken piece table")
    count = (lcb - 4) // 12
    cps = struct.unpack_from(f"<{count + 1}i", plc, 0)
    pieces = []
    for index in range(count):
        fc_raw = struct.unpack_from("<I", plc, 4 * (count + 1) + 8 * index + 2)[0]
        start, end = cps[index], cps[index + 1]
        if start < 0 or end < start:
            raise Damaged("a broken piece table")
        compressed = bool(fc_raw & 0x40000000)
        pieces.append((start, end, fc_raw & 0x3FFFFFFF, compressed))
    return pieces


def _word_visible(text: str) -> str:
    """What Word shows: field results kept, field instructions (``\\x13 … \\x14``) dropped."""
    if "\x13" in text:
        out = []
        stack: list[bool] = []  # per open field: True while in its instruction
        hidden = 0  # open fields still in their instruction
        for char in text:
            if char == "\x13":
                stack.append(True)
                hidden += 1
            elif char == "\x14":
                if stack and stack[-1]:
                    stack[-1] = False
                    hidden -= 1
            elif char == "\x15":
                if stack and stack.pop():
                    hidden -= 1
            elif not hidden:
                out.append(char)
        text = "".join(out)
    return text.translate(_WORD_MARKS)


def _word6_text(word: bytes, flags: int) -> tuple[str, bool]:
    if flags & 0x0004:  # fComplex: fast-saved, the text is in pieces
        raise Damaged("a fast-saved Word 6/95 document")
    try:
        fc_min, fc_mac = struct.unpack_from("<II", word, 0x18)
    except struct.error as error:
        raise Damaged("the Word header is cut") from error
    if not 0 < fc_min <= fc_mac <= len(word):
        raise Damaged("the Word 6/95 text lies outside the file")
    end = min(fc_mac, fc_min + _WORD_READ_CHARS)
    text, _ = decode_text(word[fc_min:end])
    return _word_visible(text), end < fc_mac


# -- Excel 97-2003 -----------------------------------------------------------------------------


class _Discard:
    def write(self, _text: str) -> None:
        pass


def _xls_text(data: bytes) -> tuple[str, bool]:
    import xlrd

    try:
        book = xlrd.open_workbook(
            file_contents=data,
            on_demand=True,
            ragged_rows=True,
            formatting_info=False,
            logfile=_Discard(),
            verbosity=0,
            ignore_workbook_corruption=True,
        )
    except xlrd.XLRDError as error:
        if "encrypted" in str(error).lower():
            raise Encrypted from error
        raise Damaged(f"{error}") from error
    except Exception as error:
        raise Damaged(f"{type(error).__name__}: {error}") from error
    out = _TextBuilder()
    truncated = False
    try:
        names = book.sheet_names()
        for index, title in enumerate(names[:MAX_PARTS]):
            try:
                sheet = book.sheet_by_index(index)
            except Exception:  # one broken sheet: keep the others
                continue
            out.add(f"== {title} ==\n")
            for row in range(sheet.nrows):
                cells = [_xls_cell(cell, book.datemode) for cell in sheet.row(row)]
                out.add("\t".join(cells).rstrip("\t") + "\n")
                if out.full:
                    break
            book.unload_sheet(index)
            out.add("\n")
            if out.full:
                truncated = True
                break
        truncated = truncated or len(names) > MAX_PARTS
    finally:
        book.release_resources()
    return out.text(), truncated


def _xls_cell(cell: Any, datemode: int) -> str:
    import xlrd

    value = cell.value
    if cell.ctype == xlrd.XL_CELL_NUMBER:
        return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)
    if cell.ctype == xlrd.XL_CELL_DATE:
        try:
            moment = xlrd.xldate.xldate_as_datetime(value, datemode)
        except Exception:
            return repr(value)
        if moment.time() == datetime.time(0):
            return moment.date().isoformat()
        return moment.isoformat(" ")
    if cell.ctype == xlrd.XL_CELL_BOOLEAN:
        return "TRUE" if value else "FALSE"
    if cell.ctype == xlrd.XL_CELL_ERROR:
        return xlrd.biffh.error_text_from_code.get(value, "#ERR")
    return str(value) if value is not None else ""


# -- PowerPoint 97-2003 ------------------------------------------------------------------------

_PPT_TEXT_CHARS = 0x0FA0
_PPT_TEXT_BYTES = 0x0FA8
_PPT_DOCUMENT = 0x03E8
#: Containers whose text is not the presentation's: main masters and handouts.
_PPT_SKIPPED = {0x03F8, 0x0FC9}


def _ppt_text(ole: Any) -> tuple[str, bool]:
    if ole.exists("Current User"):
        user = _stream(ole, "Current User")
        if len(user) >= 16 and struct.unpack_from("<I", user, 12)[0] == 0xF3D1C4DF:
            raise Encrypted
    data = _stream(ole, "PowerPoint Document")
    if len(data) < 8:
        raise Damaged("the PowerPoint stream is empty")
    out = _TextBuilder()
    seen: set[str] = set()
    pos = records = 0
    documents = 0
    while pos + 8 <= len(data) and records < _PPT_MAX_RECORDS:
        records += 1
        ver_instance, kind, size = struct.unpack_from("<HHI", data, pos)
        if ver_instance & 0x0F == 0x0F:  # a container: its records follow
            documents += kind == _PPT_DOCUMENT
            pos += 8 + size if kind in _PPT_SKIPPED else 8
            continue
        body = data[pos + 8 : pos + 8 + size]
        pos += 8 + size
        if kind == _PPT_TEXT_CHARS:
            text = body[: len(body) & ~1].decode("utf-16-le", "replace")
        elif kind == _PPT_TEXT_BYTES:
            text = body.decode("latin-1")
        else:
            continue
        text = text.replace("\r", "\n").replace("\x0b", "\n").strip()
        # The same placeholder text is kept in the slide list and in the slide's drawing.
        if not text or text in seen:
            continue
        if len(seen) < 100_000:
            seen.add(text)
        out.add(text + "\n")
        if out.full:
            return out.text(), True
    if not documents and not out.length:
        raise Damaged("no PowerPoint document record")
    return out.text(), False


# -- RTF ---------------------------------------------------------------------------------------

_RTF_TOKEN = re.compile(
    rb"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?"  # control word, parameter, delimiting space
    rb"|\\'([0-9a-fA-F]{2})"  # a byte in the current code page
    rb"|\\([^a-zA-Z'])"  # control symbol
    rb"|([{}])"
    rb"|[\r\n]+"  # line ends are not text in RTF
    rb"|([^\\{}\r\n]+)",  # text
    re.S,
)

_RTF_SKIPPED = frozenset(
    b"""colortbl stylesheet info pict object objdata objclass datastore themedata
    colorschememapping latentstyles listtable listoverridetable rsidtbl generator xmlnstbl
    mmathPr fldinst shppict nonshppict sp header footer headerl headerr headerf footerl
    footerr footerf filetbl revtbl pgdsctbl docvar template passwordhash userprops fontemb
    fontfile falt panose blipuid xe tc bkmkstart bkmkend""".split()
)
_RTF_BREAKS = {b"par": "\n", b"line": "\n", b"sect": "\n", b"page": "\n", b"row": "\n",
               b"tab": "\t", b"cell": "\t", b"emdash": "—", b"endash": "–", b"lquote": "‘",
               b"rquote": "’", b"ldblquote": "“", b"rdblquote": "”", b"bullet": "•",
               b"emspace": " ", b"enspace": " ", b"qmspace": " "}  # fmt: skip
_RTF_SYMBOLS = {
    b"\n": "\n",
    b"\r": "\n",
    b"~": "\u00a0",
    b"_": "-",
    b"-": "",
    b"{": "{",
    b"}": "}",
    b"\\": "\\",
}
#: Windows code page of each RTF font charset (\fcharsetN).
_CHARSET_CODEPAGE = {
    77: "mac_roman", 128: "cp932", 129: "cp949", 130: "johab", 134: "cp936", 136: "cp950",
    161: "cp1253", 162: "cp1254", 163: "cp1258", 177: "cp1255", 178: "cp1256", 186: "cp1257",
    204: "cp1251", 222: "cp874", 238: "cp1250", 255: "cp437",
}  # fmt: skip
_MAX_DEPTH = 1000
#: Bytes of text waiting for their code page, at most (one run of text is cut there).
_MAX_PENDING = 4 * MAX_TEXT_CHARS


def rtf_text(data: bytes) -> tuple[str, bool]:
    """``(text, truncated)`` of an RTF document (``data``: its first bytes, within a budget)."""
    if not data.lstrip()[:5] == b"{\\rtf":
        raise Damaged("not an RTF document")
    started = time.monotonic()
    out = _TextBuilder()
    fonts: dict[int, str] = {}
    default_codepage = "cp1252"
    default_font = -1
    # Group state: [skipped, in font table, \uc count, font number]
    state: list[Any] = [False, False, 1, -1]
    stack: list[list[Any]] = []
    excess = 0  # groups opened beyond _MAX_DEPTH (ignored, but balanced)
    pending = bytearray()  # bytes waiting for their code page (GBK takes two \'hh)
    skip_chars = 0  # characters still to skip after \uN
    group_start = False  # the previous token opened a group (a destination may follow)
    font_table_font = -1
    high_surrogate = 0
    pos, tokens, truncated = 0, 0, False

    def codepage() -> str:
        return fonts.get(state[3], default_codepage)

    def flush() -> None:
        if pending:
            if not state[0] and not state[1]:
                out.add(pending.decode(codepage(), "replace"))
            pending.clear()

    while pos < len(data):
        tokens += 1
        if tokens % 4096 == 0 and (out.full or time.monotonic() - started > MAX_LEGACY_SECONDS):
            truncated = True
            break
        match = _RTF_TOKEN.match(data, pos)
        if match is None:  # a lone backslash at the very end
            break
        pos = match.end()
        word, param, hexbyte, symbol, brace, text = match.groups()
        opened, group_start = group_start, False
        if brace is not None:
            flush()
            skip_chars = 0
            if brace == b"{":
                if len(stack) >= _MAX_DEPTH:
                    excess += 1
                else:
                    stack.append(state)
                    state = list(state)
                group_start = True
            elif excess:
                excess -= 1
            elif stack:
                state = stack.pop()
            continue
        if hexbyte is not None:
            if skip_chars:
                skip_chars -= 1
            elif not state[0] and not state[1] and len(pending) < _MAX_PENDING:
                pending.append(int(hexbyte, 16))
            continue
        if text is not None:
            if skip_chars:
                drop = min(skip_chars, len(text))
                skip_chars -= drop
                text = text[drop:]
            if not state[0] and not state[1]:  # skipped text (picture data …) is never kept
                pending.extend(text[: max(0, _MAX_PENDING - len(pending))])
            continue
        if word is None and symbol is None:  # line ends: a destination may still follow "{"
            group_start = opened
            continue
        flush()
        if symbol is not None:
            if symbol == b"*" and opened:
                state[0] = True
            elif skip_chars:
                skip_chars -= 1
            elif not state[0] and not state[1]:
                out.add(_RTF_SYMBOLS.get(symbol, ""))
            continue
        number = int(param) if param is not None else None
        if word == b"bin" and number:
            pos += max(0, number)  # raw binary data: never text
            continue
        if skip_chars:
            if word != b"u":
                skip_chars -= 1
                continue
            skip_chars = 0
        if opened and word in _RTF_SKIPPED:
            state[0] = True
        elif opened and word == b"fonttbl":
            state[1] = True
        elif word == b"u" and number is not None:
            code = number + 65536 if number < 0 else number
            skip_chars = state[2]
            if state[0] or state[1]:
                continue
            if 0xD800 <= code < 0xDC00:
                high_surrogate = code
                continue
            if 0xDC00 <= code < 0xE000 and high_surrogate:
                code = 0x10000 + ((high_surrogate - 0xD800) << 10) + (code - 0xDC00)
            high_surrogate = 0
            out.add(chr(code) if code < 0x110000 and not 0xD800 <= code < 0xE000 else "\ufffd")
        elif word == b"uc" and number is not None:
            state[2] = max(0, min(number, 10))
        elif word == b"f" and number is not None:
            if state[1]:
                font_table_font = number
            else:
                state[3] = number
        elif word == b"fcharset" and number is not None and state[1]:
            page = _CHARSET_CODEPAGE.get(number)
            if page and font_table_font >= 0 and len(fonts) < 10_000:
                fonts[font_table_font] = page
        elif word == b"ansicpg" and number:
            default_codepage = _codepage(number, default_codepage)
        elif word in (b"mac", b"pc", b"pca"):
            default_codepage = {b"mac": "mac_roman", b"pc": "cp437", b"pca": "cp850"}[word]
        elif word == b"deff" and number is not None:
            default_font = number
            if state[3] == -1:
                state[3] = number
        elif word == b"plain":
            state[3] = default_font
        elif not state[0] and not state[1]:
            out.add(_RTF_BREAKS.get(word, ""))
    flush()
    if out.full:
        truncated = True
    return out.text(), truncated


def _codepage(number: int, fallback: str) -> str:
    name = f"cp{number}"
    try:
        codecs.lookup(name)
    except LookupError:
        return fallback
    return name


# -- OpenDocument ------------------------------------------------------------------------------

_ODF_FORMATS = {
    "text": "odt",
    "spreadsheet": "ods",
    "presentation": "odp",
    "graphics": "odg",
}
_ODF_PARAGRAPHS = {"p", "h"}
_ODF_REPEAT = 100  # repeated cells / rows shown at most this many times


def odf_text(archive: zipfile.ZipFile) -> tuple[str, str, bool]:
    """``(text, format, truncated)`` of an OpenDocument package."""
    mimetype = ""
    try:
        info = archive.getinfo("mimetype")
        if info.file_size <= 200 and not info.flag_bits & 0x1:
            mimetype = archive.read(info).decode("ascii", "replace").strip()
    except KeyError:
        pass
    except Exception as error:
        raise Damaged(f"{type(error).__name__}: {error}") from error
    kind = mimetype.rsplit(".", 1)[-1].removesuffix("-template")
    fmt = _ODF_FORMATS.get(kind, "odf")
    try:
        content = archive.getinfo("content.xml")
    except KeyError as error:
        raise Damaged("content.xml is missing") from error
    if content.flag_bits & 0x1 or _odf_encrypted(archive):
        raise Encrypted
    if content.file_size > MAX_XML_BYTES:
        raise TooLarge
    started = time.monotonic()
    out = _TextBuilder()
    open_elements: list[Any] = []
    in_paragraph = 0  # depth of text:p / text:h
    skipped = 0  # inside tracked changes (deleted text)
    row: list[str] | None = None
    cell: list[str] | None = None
    pages = 0
    events = 0
    truncated = False
    for event, element in _xml_events(archive, "content.xml"):
        events += 1
        if events % 4096 == 0 and time.monotonic() - started > MAX_LEGACY_SECONDS:
            truncated = True
            break
        tag = _local(element.tag)
        if event == "start":
            open_elements.append(element)
            if tag in _ODF_PARAGRAPHS:
                in_paragraph += 1
            elif tag == "tracked-changes":
                skipped += 1
            elif in_paragraph or skipped:
                pass
            elif tag == "table" and fmt == "ods":
                out.add(f"== {_attribute(element, 'name')} ==\n")
            elif tag == "page" and fmt in ("odp", "odg"):
                pages += 1
                out.add(f"— {pages} —\n")
            elif tag == "table-row":
                row = []
            elif tag == "table-cell" or tag == "covered-table-cell":
                cell = []
            continue
        if open_elements:
            open_elements.pop()
        parent = open_elements[-1] if open_elements else None
        if tag in _ODF_PARAGRAPHS:
            in_paragraph -= 1
            if in_paragraph == 0:
                text = _odf_paragraph(element) if not skipped else ""
                if cell is not None:
                    cell.append(text)
                elif not skipped:
                    out.add(text + "\n")
        elif tag == "tracked-changes":
            skipped -= 1
        elif in_paragraph:
            continue  # kept until its paragraph ends
        elif tag in ("table-cell", "covered-table-cell") and cell is not None and row is not None:
            repeat = _repeat(element, "number-columns-repeated")
            value = " ".join(part for part in cell if part)
            row.extend([value] * repeat)
            cell = None
        elif tag == "table-row" and row is not None:
            line = "\t".join(row).rstrip("\t")
            if line:
                for _ in range(_repeat(element, "number-rows-repeated")):
                    out.add(line + "\n")
            row = None
        elif tag == "table" and fmt == "ods":
            out.add("\n")
        element.clear()
        if parent is not None:
            try:
                parent.remove(element)  # freed as read: the tree never grows
            except ValueError:
                pass
        if out.full:
            truncated = True
            break
    return out.text(), fmt, truncated


def _attribute(element: Any, name: str) -> str:
    for key, value in element.attrib.items():
        if _local(key) == name:
            return value
    return ""


def _repeat(element: Any, name: str) -> int:
    try:
        return max(1, min(int(_attribute(element, name) or 1), _ODF_REPEAT))
    except ValueError:
        return 1


def _odf_paragraph(element: Any) -> str:
    """A paragraph's text: ``text:s`` spaces, tabs and line breaks; nested depth capped."""
    parts: list[str] = []
    budget = [MAX_TEXT_CHARS * 2]

    def walk(node: Any, depth: int) -> None:
        if node.text:
            parts.append(node.text)
        for child in node:
            if budget[0] <= 0:
                return
            budget[0] -= 1
            tag = _local(child.tag)
            if tag == "s":
                count = _attribute(child, "c")
                parts.append(" " * (max(1, min(int(count), 100)) if count.isdigit() else 1))
            elif tag == "tab":
                parts.append("\t")
            elif tag == "line-break":
                parts.append("\n")
            elif tag in _ODF_PARAGRAPHS and depth < 64:
                parts.append("\n")
                walk(child, depth + 1)
            elif depth < 64:
                walk(child, depth + 1)
            if child.tail:
                parts.append(child.tail)

    walk(element, 0)
    return "".join(parts)


def _odf_encrypted(archive: zipfile.ZipFile) -> bool:
    """True when the manifest says content.xml is encrypted (a password-protected file)."""
    entry = ""
    for event, element in _xml_events(archive, "META-INF/manifest.xml"):
        tag = _local(element.tag)
        if event == "start" and tag == "file-entry":
            entry = _attribute(element, "full-path")
        elif event == "start" and tag == "encryption-data" and entry == "content.xml":
            return True
    return False
