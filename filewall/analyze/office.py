"""Office documents that carry code: macros, XLM, DDE, ActiveX, remote templates, exploits.

One analyzer per container family, all stating facts about the *document* (so the report
names the file the agent sees, not ``vbaProject.bin``):

- OLE2 (doc/xls/ppt), OOXML (docx/xlsx/pptx, macro forms, xlsb), Word/Excel 2003 XML and
  SYLK: VBA and Excel 4.0 (XLM) macros through oletools' ``olevba``. Whether a macro is
  dangerous is decided by our own short list of calls that run programs, download, write
  the registry or inject code (:data:`DANGEROUS_CALLS`): olevba's "suspicious" list also
  holds words like ``Open`` and ``Write`` that every business macro uses.
- DDE fields: oletools' ``msodde`` for OOXML, xls and the XML formats; for Word 97-2003 a
  regex over the ``WordDocument`` stream (msodde reads it one byte per Python call, which
  takes seconds on a large document).
- OOXML relationships (remote ``attachedTemplate``, remote OLE objects, frames,
  sub-documents, other external links), macro sheets and ``Auto_Open`` names, ActiveX
  controls and class ids known from exploit documents (oletools' ``KNOWN_CLSIDS``).
- OpenDocument: Basic and script macros, and macros bound to the "document opened" event.

Encrypted files are left to :mod:`filewall.extract.ole`, which decrypts them: the plain
document becomes a child and is analysed like any other.
"""

from __future__ import annotations

import html
import io
import posixpath
import re
import zipfile
import zlib
from collections.abc import Iterable
from typing import TYPE_CHECKING
from xml.etree import ElementTree

import olefile
from oletools import msodde, xls_parser
from oletools.common.clsid import KNOWN_CLSIDS
from oletools.olevba import TYPE_TEXT, VBA_Parser, VBA_Scanner

from ..extract._docs import add_urls, disk_path, is_remote, quiet_oletools, shorten, urls_in_text
from ..extract.ole import is_encrypted_office, open_ole
from ..registry import analyzer

if TYPE_CHECKING:
    from ..content import Content
    from ..engine import ScanContext
    from ..model import Node

quiet_oletools()

#: Macro source analysed per document (an obfuscated project can be tens of MB).
MAX_CODE = 4 * 1024 * 1024
#: Size of one OOXML XML part read for relationships, ActiveX or names.
MAX_PART = 8 * 1024 * 1024
#: Relationship parts read per package.
MAX_RELS = 2000
#: Files larger than this are parsed from disk rather than copied in memory.
IN_MEMORY = 32 * 1024 * 1024

#: Calls that make a macro dangerous, with the plain words shown to the agent.
DANGEROUS_CALLS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"\bShell\s*\(|\bShell\s+[\"\w]|\bShellExecute[AW]?\b|\.ShellExecute\b", re.I),
        "Shell (runs a program)",
    ),
    (
        re.compile(r"WScript\.Shell|Shell\.Application", re.I),
        "WScript.Shell / Shell.Application (runs programs)",
    ),
    (re.compile(r"\bpowershell\b", re.I), "PowerShell"),
    (re.compile(r"\bcmd(?:\.exe)?\s*/[ck]\b|\bcmd\.exe\b", re.I), "cmd.exe"),
    (re.compile(r"URLDownloadToFile", re.I), "URLDownloadToFile (downloads a file)"),
    (
        re.compile(r"(?:MSXML2|Microsoft)\.(?:Server)?XMLHTTP|WinHttp\.WinHttpRequest|Net\.WebClient", re.I),
        "downloads from the internet",
    ),
    (re.compile(r"\.SaveToFile\b|ADODB\.Stream", re.I), "ADODB.Stream (saves downloaded data as a file)"),
    (re.compile(r"winmgmts|Win32_Process\b", re.I), "WMI (starts processes)"),
    (
        re.compile(
            r"\b(?:VirtualAlloc(?:Ex)?|RtlMoveMemory|WriteProcessMemory|CreateRemoteThread|CreateThread|"
            r"QueueUserAPC|EnumSystemLocales[AW]?|CallWindowProc[AW]?)\b",
            re.I,
        ),
        "code injection into memory",
    ),
    (
        re.compile(r"\bRegWrite\b|\bRegSetValue(?:Ex)?[AW]?\b|\bRegCreateKey", re.I),
        "writes the Windows registry",
    ),
    (
        re.compile(r"\.Environment\s*\(.{0,80}\)\s*\(|SetEnvironmentVariable", re.I),
        "changes environment variables",
    ),
    (re.compile(r"\bExecuteExcel4Macro\b", re.I), "ExecuteExcel4Macro"),
    (re.compile(r"\bMacScript\b|\bAppleScriptTask\b", re.I), "runs a Mac script"),
    (
        re.compile(
            r"\b(?:mshta|rundll32|regsvr32|certutil|bitsadmin|schtasks|wmic|cscript|wscript|msiexec)(?:\.exe)?\b",
            re.I,
        ),
        "Windows tools Trojans abuse",
    ),
    (re.compile(r"\bCallByName\b", re.I), "CallByName (hides which function is called)"),
    # Excel 4.0 macro functions that run code or programs.
    (re.compile(r"\b(?:EXEC|CALL|REGISTER)\s*\(", re.I), "XLM EXEC/CALL/REGISTER (runs programs or DLLs)"),
]
#: olevba "AutoExec" names that need a click or typing: not automatic.
_USER_EVENTS = re.compile(
    r"_(?:Click|DblClick|Change|KeyDown|KeyUp|KeyPress|MouseDown|MouseUp|MouseMove|BeforeUpdate|AfterUpdate|"
    r"Enter|Exit|BeforeDragOver|BeforeDropOrPaste|SpinUp|SpinDown|Scroll)$",
    re.I,
)
#: olevba result types that mean the strings are hidden on purpose.
_OBFUSCATION_TYPES = {"Base64 String", "Dridex String", "VBA string"}
#: Words in a KNOWN_CLSIDS description that mark an exploit vehicle (not "Forms.Image").
_EXPLOIT_WORDS = re.compile(
    r"Equation|Moniker|StdOleLink|OLE2Link|HTML Application|MSCOMCTL|Known Related|potential exploit", re.I
)
#: Relationship types that load something when the document opens.
_LOADING_TYPES = {"attachedtemplate", "frame", "subdocument", "oleobject", "package"}
#: URL schemes of Windows protocol handlers abused to run code (Follina, search-ms ...).
_HANDLER_SCHEME = re.compile(r"^(?:mhtml|ms-[a-z-]+|search-ms|search|its|mk|res|javascript|vbscript):", re.I)
_WORD_XML = (
    b"http://schemas.microsoft.com/office/word/2003/wordml",
    b"http://schemas.microsoft.com/office/2006/xmlPackage",
    b"urn:schemas-microsoft-com:office:spreadsheet",
    b"<?mso-application",
)
_DOC_FIELD_RE = re.compile(rb"\x13\x00?([^\x13\x14\x15]{1,2000}?)[\x14\x15]")
_FORMULA_RE = re.compile(rb"<(?:\w+:)?f\b[^>]*>([^<]{1,32768})</", re.I)
_CSV_DDE_RE = re.compile(r"""^\s*"?[=+\-@][^|\n]{1,200}\|[^!\n]{1,500}![^\n]*""", re.M)


# -- entry points --------------------------------------------------------------------------


@analyzer("ole", order=40)
def ole_document(node: Node, content: Content, ctx: ScanContext) -> None:
    """Word/Excel/PowerPoint 97-2003 (and other OLE files): macros, DDE, ActiveX, exploits."""
    if is_encrypted_office(content):
        return  # the extractor decrypts it; the plain document is analysed as a child
    try:
        ole = open_ole(content.open())
    except Exception:
        return  # not a readable OLE file: the extractor reports it as damaged
    with ole:
        _ole_objects(node, ole, ctx)
        word_dde = _word_dde(ole) if ole.exists("WordDocument") else []
        is_excel = ole.exists("Workbook") or ole.exists("Book")
    _macros(node, content, ctx)
    for command in word_dde:
        ctx.fact(node, "office.dde", command=shorten(command))
    if is_excel:
        _msodde(node, msodde.process_xls, disk_path(content, ctx, ".xls"), ctx)


@analyzer("ooxml", order=40)
def ooxml_document(node: Node, content: Content, ctx: ScanContext) -> None:
    """docx/xlsx/pptx and macro forms: macros, XLM sheets, DDE, ActiveX, external links."""
    try:
        archive = zipfile.ZipFile(content.open())
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
        return  # the extractor reports a damaged package
    # A directory entry whose local header lies outside the file (a damaged or crafted
    # offset: zipfile would seek before the start) cannot be read: skip it, say so.
    parts = [info for info in archive.infolist() if 0 <= info.header_offset < content.size]
    if len(parts) < len(archive.infolist()):
        ctx.fact(node, "file.corrupt", reason="a part lies outside the package", format="Office document")
        # Parts are opened by name: a name must not resolve to a dropped duplicate entry.
        archive.filelist, archive.NameToInfo = parts, {info.filename: info for info in parts}
    names = [info.filename for info in parts]
    xlm, main_type, has_fields, holds_ole = False, "", False, True
    try:
        with archive:
            holds_ole = any(_may_be_ole(content.view(), info) for info in parts)
            xlm, main_type, has_fields = _ooxml_parts(node, archive, names, ctx)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as error:
        # A damaged part (or one zipfile refuses: "zip file version 14.2", flag bit 5): what
        # Office would make of it is unknown; the macros are still read.
        ctx.fact(node, "file.corrupt", reason=shorten(str(error), 120), format="Office document")
    # VBA lives in an OLE part (vbaProject.bin, under any name); olevba opens every part
    # to find one, which is most of the cost of an ordinary document: skip it when none is.
    has_vba = (holds_ole and _macros(node, content, ctx)) or any(
        name.lower().endswith("vbaproject.bin") for name in names
    )
    if "macroenabled" in main_type.lower() and not has_vba and not xlm:
        ctx.fact(node, "office.macro_enabled_type", ext=posixpath.splitext(node.name)[1] or main_type)
    if has_fields:
        _msodde(node, _docx_dde, disk_path(content, ctx, ".docx"), ctx)


_LOCAL_HEADER = b"PK\x03\x04"


def _may_be_ole(view, info: zipfile.ZipInfo) -> bool:
    """Whether a package part may start with the OLE signature (False only when sure).

    Inflates just the first bytes of the part from the package in memory, instead of
    opening it through ``zipfile`` as olevba does for every part.
    """
    if info.file_size < len(olefile.MAGIC):
        return False
    at = info.header_offset
    header = bytes(view[at : at + 30])
    if len(header) < 30 or not header.startswith(_LOCAL_HEADER) or info.flag_bits & 0x1:
        return True  # unusual layout or encrypted: let olevba decide
    start = at + 30 + int.from_bytes(header[26:28], "little") + int.from_bytes(header[28:30], "little")
    packed = bytes(view[start : start + min(info.compress_size, 512)])
    if info.compress_type == zipfile.ZIP_STORED:
        head = packed[: len(olefile.MAGIC)]
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        try:
            head = zlib.decompressobj(-15).decompress(packed, len(olefile.MAGIC))
        except zlib.error:
            return True
    else:
        return True
    return head == olefile.MAGIC


@analyzer("xml", order=40)
def office_xml_document(node: Node, content: Content, ctx: ScanContext) -> None:
    """Word 2003 XML, Flat OPC and Excel 2003 XML: macros (ActiveMime) and DDE."""
    head = content.head(8192)
    if not any(marker in head for marker in _WORD_XML):
        return
    _macros(node, content, ctx)
    _msodde(node, msodde.process_file, disk_path(content, ctx, ".xml"), ctx)


@analyzer("slk", order=40)
def sylk_document(node: Node, content: Content, ctx: ScanContext) -> None:
    """SYLK spreadsheets, which Excel opens and which can hold XLM macros."""
    _macros(node, content, ctx)


@analyzer("odf", order=40)
def opendocument(node: Node, content: Content, ctx: ScanContext) -> None:
    """OpenDocument (odt/ods/odp): Basic and script macros, and macros bound to opening."""
    try:
        archive = zipfile.ZipFile(content.open())
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
        return
    with archive:
        names = [info.filename for info in archive.infolist()]
        modules = [name for name in names if _is_odf_macro(name)]
        if not modules:
            return
        ctx.fact(node, "office.macros", modules=_names(modules), count=len(modules))
        code = "\n".join(_read_part(archive, name).decode("utf-8", "replace") for name in modules[:50])
        events = _read_part(archive, "content.xml") if "content.xml" in names else b""
    if re.search(rb"event-name=\"(?:office:load|dom:load|office:new)\"", events):
        ctx.fact(node, "office.macro_autoexec", triggers="document opened")
    _scan_code(node, html.unescape(code), ctx)


@analyzer("text", order=40)
def csv_dde(node: Node, content: Content, ctx: ScanContext) -> None:
    """CSV files: Excel runs ``=cmd|'/c ...'!A1`` formulas (DDE) when the file is opened."""
    if not node.name.lower().endswith((".csv", ".tsv")):
        return
    text = content.head(ctx.limits.spool_threshold).decode("utf-8", "replace")
    if "|" not in text or "!" not in text:
        return  # no DDE formula without both; ``^`` makes re try every position otherwise
    for match in _CSV_DDE_RE.finditer(text):
        ctx.fact(node, "office.dde", command=shorten(match.group(0)))
        break


# -- macros --------------------------------------------------------------------------------


def _macros(node: Node, content: Content, ctx: ScanContext) -> bool:
    """VBA and XLM macros through olevba; True when the document has any."""
    try:
        parser = _vba_parser(node, content, ctx)
    except Exception:
        return False  # olevba does not know this variant: nothing it can tell
    try:
        if parser.type == TYPE_TEXT:
            return False  # olevba's fallback reads any text as VBA source: not a document macro
        vba = bool(parser.detect_vba_macros())
        xlm = bool(parser.detect_xlm_macros())
        if not vba and not xlm:
            return False
        modules, code = _macro_code(parser, ctx)
    finally:
        parser.close()
    if vba:
        ctx.fact(node, "office.macros", modules=_names(modules) or "VBA", count=len(modules))
    if xlm:
        ctx.fact(node, "office.xlm_macros")
    _scan_code(node, code, ctx)
    return True


def _vba_parser(node: Node, content: Content, ctx: ScanContext) -> VBA_Parser:
    if content.size <= IN_MEMORY:
        data = bytes(content.view())
        if data.startswith(olefile.MAGIC) and len(data) % 512:
            # A cut last sector (Office reads it as zeros): olefile reads the mini-FAT
            # from it as 32-bit entries and fails on a length not a multiple of 4.
            data += b"\x00" * (-len(data) % 512)
        return VBA_Parser(node.name, data=data, disable_pcode=True)
    return VBA_Parser(disk_path(content, ctx), disable_pcode=True)


def _macro_code(parser: VBA_Parser, ctx: ScanContext) -> tuple[list[str], str]:
    modules, parts, total = [], [], 0
    for _, _, module, code in parser.extract_macros():
        ctx.check_time()
        if isinstance(code, bytes):
            code = code.decode("utf-8", "replace")
        modules.append(str(module))
        parts.append(code or "")
        total += len(code or "")
        if total > MAX_CODE:
            break
    for line in parser.xlm_macros or []:
        parts.append(str(line))
    return modules, "\n".join(parts)[:MAX_CODE]


def _scan_code(node: Node, code: str, ctx: ScanContext) -> None:
    results = VBA_Scanner(code).scan(include_decoded_strings=False, deobfuscate=False) if code else []
    triggers = sorted(
        {keyword for kind, keyword, _ in results if kind == "AutoExec" and not _USER_EVENTS.search(keyword)}
    )
    if triggers:
        ctx.fact(node, "office.macro_autoexec", triggers=", ".join(triggers[:6]))
    _dangerous_calls(node, code, ctx)
    obfuscation = sorted({kind for kind, _, _ in results if kind in _OBFUSCATION_TYPES})
    if obfuscation or re.search(r"\bStrReverse\b", code, re.I):
        ctx.fact(node, "office.macro_obfuscated", evidence=", ".join(obfuscation) or "StrReverse")
    add_urls(node, [keyword for kind, keyword, _ in results if kind == "IOC" and "://" in keyword])
    add_urls(node, urls_in_text(code))


def _dangerous_calls(node: Node, code: str, ctx: ScanContext) -> None:
    found = [words for pattern, words in DANGEROUS_CALLS if pattern.search(code)]
    if found:
        ctx.fact(node, "office.macro_suspicious", evidence="; ".join(found[:6]))


def _names(modules: Iterable[str], limit: int = 6) -> str:
    unique = list(dict.fromkeys(posixpath.basename(module) for module in modules))
    shown = ", ".join(unique[:limit])
    return shown + (f" (+{len(unique) - limit})" if len(unique) > limit else "")


def _is_odf_macro(name: str) -> bool:
    lowered = name.lower()
    if lowered.startswith("scripts/") and not lowered.endswith("/"):
        return True
    return (
        lowered.startswith("basic/")
        and lowered.endswith(".xml")
        and posixpath.basename(lowered)
        not in ("script-lb.xml", "script-lc.xml", "dialog-lb.xml", "dialog-lc.xml")
    )


# -- DDE -----------------------------------------------------------------------------------


def _msodde(node: Node, process, path: str, ctx: ScanContext) -> None:
    """Run one msodde parser and record each DDE command it finds."""
    try:
        text = process(path) or ""
    except Exception:
        return  # msodde cannot parse this variant; the rest of the analysis stands
    for line in text.splitlines()[:20]:
        if line.strip():
            ctx.fact(node, "office.dde", command=shorten(line))


def _ooxml_parts(
    node: Node, archive: zipfile.ZipFile, names: list[str], ctx: ScanContext
) -> tuple[bool, str, bool]:
    """Macro sheets, relationships, ActiveX and spreadsheet DDE; (has XLM, main type, has fields)."""
    xlm = _macro_sheets(node, archive, names, ctx)
    _relationships(node, archive, names, ctx)
    _ooxml_activex(node, archive, names, ctx)
    for command in _spreadsheet_dde(archive, names):
        ctx.fact(node, "office.dde", command=shorten(command))
    return xlm, _main_content_type(archive), _has_word_fields(archive, names)


def _spreadsheet_dde(archive: zipfile.ZipFile, names: list[str]) -> list[str]:
    """DDE links of xlsx/xlsm (``<ddeLink>``) and xlsb (SupBook records) workbooks.

    Read from the external-link parts only, where Excel keeps them: msodde's
    ``process_xlsx`` walks every element of every sheet, seconds on a large workbook.
    """
    links = []
    for name in names:
        if not re.fullmatch(r"xl/externalLinks/[^/]+\.(?:xml|bin)", name, re.I):
            continue
        data = _read_part(archive, name)
        if name.lower().endswith(".xml"):
            try:
                root = ElementTree.fromstring(data)
            except (ElementTree.ParseError, LookupError):  # LookupError: encoding="UTw-8"
                continue
            links += [
                f"{element.get('ddeService', '')} {element.get('ddeTopic', '')}"
                for element in root.iter()
                if element.tag.rsplit("}", 1)[-1] == "ddeLink"
            ]
        else:
            links += _xlsb_dde(data, name)
    return links


class _SizedStream(io.BytesIO):
    """oletools' xlsb record reader wants a stream with a ``size``."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.size = len(data)


def _xlsb_dde(data: bytes, name: str) -> list[str]:
    links = []
    try:
        for record in xls_parser.parse_xlsb_part(_SizedStream(data), None, name):
            if (
                isinstance(record, xls_parser.XlsbBeginSupBook)
                and record.link_type == xls_parser.XlsbBeginSupBook.LINK_TYPE_DDE
            ):
                links.append(f"{record.string1} {record.string2}")
    except Exception:
        pass  # a damaged part: what was read so far stands
    return links


#: Word parts that hold formatting, never text with fields (styles.xml is often the largest).
_NO_FIELDS_RE = re.compile(
    r"word/(?:styles|stylesWithEffects|fontTable|settings|webSettings|numbering|theme/[^/]+)\.xml$", re.I
)


def _has_word_fields(archive: zipfile.ZipFile, names: list[str]) -> bool:
    """Only documents with field codes can hold DDE; msodde's walk is skipped for the rest."""
    for name in names:
        if name.startswith("word/") and name.endswith(".xml") and not _NO_FIELDS_RE.match(name):
            data = _read_part(archive, name)
            if b"instrText" in data or b"fldSimple" in data:
                return True
    return False


def _docx_dde(path: str) -> str:
    return msodde.process_docx(path, msodde.FIELD_FILTER_DDE)


def _word_dde(ole: olefile.OleFileIO) -> list[str]:
    """DDE/DDEAUTO field instructions in a Word 97-2003 document."""
    size = ole.get_size("WordDocument")
    data = ole.openstream("WordDocument").read(min(size, 64 * 1024 * 1024))
    commands = []
    for match in _DOC_FIELD_RE.finditer(data):
        raw = match.group(1)
        text = (
            raw.decode("utf-16-le", "replace") if raw.count(b"\x00") * 3 > len(raw) else raw.decode("latin-1")
        )
        text = text.replace("\x00", "").strip()
        if re.match(r"dde(?:auto)?\b", text, re.I):
            commands.append(text)
    return commands


# -- OLE objects ---------------------------------------------------------------------------


def _ole_objects(node: Node, ole: olefile.OleFileIO, ctx: ScanContext) -> None:
    """ActiveX controls and object classes known from exploit documents."""
    controls = []
    for path in ole.listdir(streams=False, storages=True)[:4000]:
        clsid = (ole.getclsid(path) or "").upper()
        description = KNOWN_CLSIDS.get(clsid, "")
        if description and _EXPLOIT_WORDS.search(description):
            ctx.fact(node, "office.exploit_object", object=description.split(" (")[0], detail=description)
        if ole.exists("/".join(path + ["\x03OCXNAME"])):
            controls.append(description.split(" (")[0] if description else clsid or path[-1])
    if any(entry[-1] == "Equation Native" for entry in ole.listdir()[:4000]):
        ctx.fact(
            node,
            "office.exploit_object",
            object="Microsoft Equation Editor",
            detail="Equation Native stream (CVE-2017-11882, CVE-2018-0802)",
        )
    if controls:
        ctx.fact(node, "office.activex", controls=", ".join(sorted(set(controls))[:6]))


# -- OOXML parts ---------------------------------------------------------------------------


def _read_part(archive: zipfile.ZipFile, name: str, limit: int = MAX_PART) -> bytes:
    with archive.open(name) as stream:
        return stream.read(limit)


def _main_content_type(archive: zipfile.ZipFile) -> str:
    try:
        data = _read_part(archive, "[Content_Types].xml")
    except KeyError:
        return ""
    match = re.search(
        rb'PartName="/(?:word/document|xl/workbook|ppt/presentation)\.(?:xml|bin)"\s+ContentType="([^"]+)"',
        data,
    ) or re.search(
        rb'ContentType="([^"]+)"\s+PartName="/(?:word/document|xl/workbook|'
        rb'ppt/presentation)\.(?:xml|bin)"',
        data,
    )
    return match.group(1).decode("latin-1") if match else ""


def _macro_sheets(node: Node, archive: zipfile.ZipFile, names: list[str], ctx: ScanContext) -> bool:
    """Excel 4.0 macro sheets in xlsx/xlsm/xlsb, and the Auto_Open names that start them."""
    sheets = [name for name in names if re.search(r"/(?:intl)?macrosheets/[^/]+\.(?:xml|bin)$", name, re.I)]
    if not sheets:
        return False
    ctx.fact(node, "office.xlm_macros")
    workbook = next((name for name in names if re.fullmatch(r"xl/workbook\.(?:xml|bin)", name)), None)
    data = _read_part(archive, workbook) if workbook else b""
    if re.search(rb"auto_open|auto_close", data, re.I) or "auto_open".encode("utf-16-le") in data.lower():
        ctx.fact(node, "office.macro_autoexec", triggers="Auto_Open")
    text = "\n".join(_formulas(name, _read_part(archive, name, 2 * 1024 * 1024)) for name in sheets[:20])
    _dangerous_calls(node, text, ctx)
    add_urls(node, urls_in_text(text))
    return True


def _formulas(name: str, data: bytes) -> str:
    """Formula text of a macro sheet: ``<f>`` elements (xml) or UTF-16 strings (xlsb)."""
    if name.lower().endswith(".xml"):
        return "\n".join(match.decode("utf-8", "replace") for match in _FORMULA_RE.findall(data))
    return data.decode("utf-16-le", "replace")


def _relationships(node: Node, archive: zipfile.ZipFile, names: list[str], ctx: ScanContext) -> None:
    """External targets: remote templates and objects are findings; links are indicators."""
    for name in [name for name in names if name.lower().endswith(".rels")][:MAX_RELS]:
        ctx.check_time()
        try:
            root = ElementTree.fromstring(_read_part(archive, name))
        except (ElementTree.ParseError, LookupError):  # LookupError: encoding="UTw-8"
            continue
        for element in root:
            if element.get("TargetMode", "").lower() != "external":
                continue
            _external_target(node, element.get("Type", "").rsplit("/", 1)[-1], element.get("Target", ""), ctx)


def _external_target(node: Node, rel_type: str, target: str, ctx: ScanContext) -> None:
    kind = rel_type.lower()
    target = target.strip()
    add_urls(node, urls_in_text(target))
    if kind == "hyperlink" and not _HANDLER_SCHEME.match(target):
        return  # a link the reader may click: an indicator, not a finding
    shown = shorten(target, 200)
    if _HANDLER_SCHEME.match(target) or (kind == "oleobject" and is_remote(target)):
        ctx.fact(node, "office.remote_object", target=shown, relationship=rel_type)
    elif kind in _LOADING_TYPES and is_remote(target):
        ctx.fact(node, "office.remote_template", target=shown, relationship=rel_type)
    elif is_remote(target):
        ctx.fact(node, "office.external_link", target=shown, relationship=rel_type)


def _ooxml_activex(node: Node, archive: zipfile.ZipFile, names: list[str], ctx: ScanContext) -> None:
    parts = [name for name in names if re.search(r"/activeX/activeX\d*\.xml$", name, re.I)]
    if not parts:
        return
    controls = []
    for name in parts[:200]:
        match = re.search(rb'classid="\{?([0-9A-Fa-f-]{36})\}?"', _read_part(archive, name, 64 * 1024))
        clsid = match.group(1).decode().upper() if match else ""
        description = KNOWN_CLSIDS.get(clsid, "")
        if description and _EXPLOIT_WORDS.search(description):
            ctx.fact(node, "office.exploit_object", object=description.split(" (")[0], detail=description)
        controls.append(description.split(" (")[0] if description else clsid or "unknown control")
    ctx.fact(node, "office.activex", controls=", ".join(sorted(set(controls))[:6]))
