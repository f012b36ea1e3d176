"""The safe view: what a person may look at instead of opening the file.

- Pictures are decoded here, on the server, by Pillow (only the plain raster formats; never
  EPS or anything that calls out to another program), within a pixel budget checked from
  the header before any decoding, and re-encoded as small PNG thumbnails. The browser only
  ever receives our PNG, never the customer's bytes.
- Documents (Word, Excel, PowerPoint: 97-2003 and Open XML; PDF; RTF; OpenDocument) and
  text files (TXT, CSV, HTML, SVG, scripts …) become plain text: the first
  :data:`MAX_TEXT_CHARS` characters, with the encoding detected (UTF-8, GBK/GB18030, then
  charset-normalizer). OOXML is read straight from its XML with ``zipfile`` +
  ``ElementTree``, every member and every byte bounded; PDFs by pypdf, page by page within
  a page and time budget; the legacy formats (.doc/.xls/.ppt, RTF, odt/ods/odp) by
  :mod:`filewall._legacy_text`, within the same kind of limits. HTML and SVG are *text*
  here: the page shows their source, it never renders them.
- :func:`visible_tree` prepares a report's tree for the page: every name as it really is
  (bidi and invisible characters made visible), split so the extension Windows would use
  can be highlighted.

:func:`build_preview` never raises: a file it cannot show gives an ``error`` note that the
page displays instead. :class:`PreviewCollector` plugs it into a scan through
``ScanOptions.on_node`` and writes the results next to the report.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import time
import unicodedata
import zipfile
from collections.abc import Iterator
from typing import Any
from xml.etree.ElementTree import ParseError, XMLPullParser

from .text import BIDI_CONTROLS, INVISIBLE, base_name, hidden_characters, visible_name

log = logging.getLogger(__name__)

#: Characters of text kept for the page.
MAX_TEXT_CHARS = 20_000
#: Bytes of a text file read to find those characters.
MAX_TEXT_BYTES = 256 * 1024
#: Thumbnails fit in this box (pixels).
THUMB_BOX = (320, 320)
#: Largest picture decoded (width × height, from the header, before decoding).
MAX_IMAGE_PIXELS = 50_000_000
#: Largest side of a picture decoded, whatever its area (a 1 × 10⁹ strip is a bomb too).
MAX_IMAGE_SIDE = 30_000
#: Largest picture file opened at all.
MAX_IMAGE_BYTES = 64 * 1024 * 1024
#: OOXML: largest member read (uncompressed, as declared and as actually read), members read.
MAX_XML_BYTES = 16 * 1024 * 1024
MAX_PARTS = 200
#: PDF: pages read and seconds spent at most.
MAX_PDF_PAGES = 30
MAX_PDF_SECONDS = 5.0
MAX_PDF_BYTES = 64 * 1024 * 1024

#: Content kinds shown as a thumbnail, and the Pillow decoders allowed for them.
IMAGE_FORMATS = {
    "png": "PNG",
    "jpeg": "JPEG",
    "gif": "GIF",
    "bmp": "BMP",
    "tiff": "TIFF",
    "ico": "ICO",
    "webp": "WEBP",
}
#: Documents whose text is extracted: Office Open XML, PDF, Office 97-2003 (OLE), RTF, ODF.
DOCUMENT_KINDS = frozenset({"ooxml", "pdf", "ole", "rtf", "odf"})
#: Content kinds shown as their text (sources are shown, never rendered).
TEXT_KINDS = frozenset({"text", "html", "svg", "xml", "email", "url", "reg", "hta", "uuencode", "slk"})

try:  # Pillow is a core dependency; keep the engine usable without it all the same
    from PIL import Image, ImageOps

    # The process-wide guard: Pillow refuses (error) above twice this and warns above it;
    # _image() refuses anything above it before decoding.
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
except ImportError:  # pragma: no cover
    Image = ImageOps = None  # type: ignore[assignment]


# -- notes ----------------------------------------------------------------------------------

_NOTES = {
    "too_large": ("The file is too large to preview.", "文件太大，无法预览。"),
    "bomb": (
        "This picture claims to be enormous ({width} × {height} pixels): it was not opened (a decompression bomb?).",
        "这张图片声称尺寸巨大（{width} × {height} 像素），未打开（可能是解压炸弹）。",
    ),
    "bomb_pixels": (
        "This picture claims to be enormous ({pixels} pixels): it was not opened (a decompression bomb?).",
        "这张图片声称尺寸巨大（{pixels} 像素），未打开（可能是解压炸弹）。",
    ),
    "bad_image": ("This picture could not be read: {reason}", "无法读取这张图片：{reason}"),
    "no_pillow": ("Picture previews are not available on this server.", "此服务器不能预览图片。"),
    "bad_document": ("No text could be read from this document: {reason}", "无法从此文档读取文字：{reason}"),
    "encrypted": (
        "The document is protected by a password; its text cannot be shown.",
        "文档有密码保护，无法显示文字。",
    ),
    "empty": ("The document contains no text.", "文档中没有文字。"),
    "truncated": (
        "Only part of the file was read (a size limit); no preview.",
        "文件只读取了一部分（大小限制），无法预览。",
    ),
    "failed": ("The preview failed: {reason}", "预览失败：{reason}"),
}


def _note(code: str, **params: Any) -> dict[str, Any]:
    english, chinese = _NOTES[code]
    return {
        "kind": "error",
        "note": code,
        "message": english.format(**params),
        "message_zh": chinese.format(**params),
    }


def _short(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= 200 else text[:197] + "..."


# -- the entry point ------------------------------------------------------------------------


def build_preview(node: Any, content: Any) -> dict[str, Any] | None:
    """The safe view of one node: a thumbnail, its text, an error note, or None (nothing to show).

    ``node`` is a :class:`filewall.model.Node` (its ``kind``, ``mime`` and ``name`` are used),
    ``content`` a :class:`filewall.content.Content`. Pure, bounded, never raises.
    """
    try:
        kind = getattr(node, "kind", "") or ""
        if kind not in IMAGE_FORMATS and kind not in TEXT_KINDS and kind not in DOCUMENT_KINDS:
            return None
        if getattr(node, "truncated", False) or getattr(content.outcome, "truncated", False):
            return _note("truncated")
        if kind in IMAGE_FORMATS:
            return image_preview(content, IMAGE_FORMATS[kind])
        if kind == "ooxml":
            return ooxml_preview(content, getattr(node, "mime", ""))
        if kind == "pdf":
            return pdf_preview(content)
        if kind in ("ole", "rtf", "odf"):
            return legacy_preview(content, kind)
        return text_preview(content.head(MAX_TEXT_BYTES), fmt=kind)
    except Exception as error:  # never let a hostile file break the scan or the page
        log.debug("preview failed for %s", getattr(node, "path", "?"), exc_info=True)
        return _note("failed", reason=_short(error))


# -- pictures -------------------------------------------------------------------------------


def image_preview(content: Any, pillow_format: str, box: tuple[int, int] = THUMB_BOX) -> dict[str, Any]:
    """Decode a picture within the pixel budget and re-encode it as a PNG thumbnail."""
    if Image is None:  # pragma: no cover
        return _note("no_pillow")
    if content.size > MAX_IMAGE_BYTES:
        return _note("too_large")
    try:
        with Image.open(content.open(), formats=[pillow_format]) as image:
            # Only the header has been read so far: judge the size before decoding.
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS or max(width, height) > MAX_IMAGE_SIDE:
                return _note("bomb", width=width, height=height)
            if image.format == "JPEG":
                image.draft("RGB", (box[0] * 2, box[1] * 2))  # decode at 1/2 … 1/8 scale
            image.load()
            picture = image
            try:
                picture = ImageOps.exif_transpose(image) or image
            except Exception:  # a broken orientation tag: show it as stored
                picture = image
            picture = _displayable(picture)
            picture.thumbnail(box)
            out = io.BytesIO()
            picture.save(out, format="PNG", optimize=False)
            thumb_width, thumb_height = picture.size
    except Image.DecompressionBombError as error:  # over twice the budget: Pillow refuses in open()
        numbers = re.findall(r"\d+", str(error))
        return _note("bomb_pixels", pixels=f"{int(numbers[0]):,}" if numbers else "?")
    except MemoryError:
        return _note("bomb_pixels", pixels="?")
    except Exception as error:
        return _note("bad_image", reason=_short(error))
    return {
        "kind": "image",
        "png": out.getvalue(),
        "width": width,
        "height": height,
        "thumb_width": thumb_width,
        "thumb_height": thumb_height,
        "format": pillow_format,
    }


def _displayable(image):
    """The picture in a mode PNG can hold and a browser shows (RGB or RGBA)."""
    if image.mode in ("RGB", "RGBA"):
        return image
    if image.mode in ("P", "PA", "LA") or "transparency" in image.info:
        return image.convert("RGBA")
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        return ImageOps.autocontrast(image.convert("I").point(lambda v: v / 256).convert("L")).convert("RGB")
    return image.convert("RGB")


# -- text -----------------------------------------------------------------------------------

#: Characters that would reorder or hide the text on the page: shown as ``[RLO]`` etc.
_SHOWN_AS_LABELS = {**BIDI_CONTROLS, "\u200b": INVISIBLE["\u200b"], "\ufeff": INVISIBLE["\ufeff"]}


def clean_text(text: str) -> str:
    """Text safe to put on the page: bidi controls made visible, other controls dropped."""
    out = []
    for char in text:
        label = _SHOWN_AS_LABELS.get(char)
        if label:
            out.append(f"[{label}]")
        elif char in "\n\t":
            out.append(char)
        elif char == "\r":
            continue
        elif unicodedata.category(char) == "Cc":
            out.append("\ufffd")
        else:
            out.append(char)
    return "".join(out)


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode bytes of unknown encoding: ``(text, encoding)``.

    Order: a byte-order mark; UTF-8; GBK/GB18030 when the result reads as Chinese (the
    encoding of most text files made on Chinese Windows); charset-normalizer's best guess;
    Latin-1 as the last resort (never fails).
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", "replace"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace"), "utf-16"
    text = _strict(data, "utf-8")
    if text is not None:
        return text, "ascii" if text.isascii() else "utf-8"
    for encoding in ("gbk", "gb18030"):
        text = _strict(data, encoding)
        if text is not None and _reads_as_chinese(text):
            return text, encoding
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data[:65536]).best()
        if best is not None and best.encoding:
            return data.decode(best.encoding, "replace"), best.encoding
    except Exception:  # pragma: no cover - charset-normalizer is a core dependency
        pass
    return data.decode("latin-1"), "latin-1"


def _strict(data: bytes, encoding: str) -> str | None:
    """Decode strictly, forgiving only a multi-byte character cut at the very end."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        if error.start < len(data) - 4:
            return None
        try:
            return data[: error.start].decode(encoding)
        except UnicodeDecodeError:
            return None


def _reads_as_chinese(text: str) -> bool:
    """True when nearly every character is common Chinese, ASCII or CJK punctuation."""
    letters = [char for char in text if not char.isspace()]
    if not letters:
        return False
    common = sum(
        1
        for char in letters
        if char.isascii()
        or "\u4e00" <= char <= "\u9fff"
        or "\u3000" <= char <= "\u303f"
        or "\uff00" <= char <= "\uffef"
        or char in "“”‘’…—·"
    )
    private = any("\ue000" <= char <= "\uf8ff" for char in letters)
    return not private and common >= 0.97 * len(letters)


def text_preview(data: bytes, fmt: str = "text") -> dict[str, Any]:
    """The first :data:`MAX_TEXT_CHARS` characters of a text file, encoding detected."""
    cut = len(data) >= MAX_TEXT_BYTES
    text, encoding = decode_text(data)
    return _text_result(text, encoding, fmt, truncated=cut)


def _text_result(text: str, encoding: str, fmt: str, truncated: bool = False) -> dict[str, Any]:
    if len(text) > MAX_TEXT_CHARS:
        text, truncated = text[:MAX_TEXT_CHARS], True
    return {
        "kind": "text",
        "text": clean_text(text),
        "encoding": encoding,
        "format": fmt,
        "truncated": truncated,
    }


# -- Office Open XML (docx, xlsx, pptx) ------------------------------------------------------

_REL_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def ooxml_preview(content: Any, mime: str = "") -> dict[str, Any]:
    """Text of a Word, Excel or PowerPoint file, read straight from its XML parts."""
    try:
        archive = zipfile.ZipFile(content.open())
    except Exception as error:
        return _note("bad_document", reason=_short(error))
    with archive:
        names = set(archive.namelist()[:10_000])
        if "wordprocessingml" in mime or "word/document.xml" in names:
            text, fmt = _docx_text(archive), "docx"
        elif "spreadsheetml" in mime or "xl/workbook.xml" in names:
            text, fmt = _xlsx_text(archive, names), "xlsx"
        elif "presentationml" in mime or "ppt/presentation.xml" in names:
            text, fmt = _pptx_text(archive, names), "pptx"
        else:
            return _note("bad_document", reason="not a Word, Excel or PowerPoint file")
    if not text.strip():
        return _note("empty")
    return _text_result(text, "", fmt, truncated=len(text) > MAX_TEXT_CHARS)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml_events(archive: zipfile.ZipFile, name: str) -> Iterator[tuple[str, Any]]:
    """``(event, element)`` pairs of one part, read in chunks within :data:`MAX_XML_BYTES`.

    A part with a DTD or entity declarations is refused (OOXML has none; they only serve
    entity-expansion bombs). Parsing stops quietly at the byte budget or at broken XML.
    """
    try:
        info = archive.getinfo(name)
    except KeyError:
        return
    if info.file_size > MAX_XML_BYTES or info.flag_bits & 0x1:
        return
    parser = XMLPullParser(events=("start", "end"))
    read = 0
    tail = b""
    try:
        with archive.open(info) as stream:
            while read < MAX_XML_BYTES:
                chunk = stream.read(min(256 * 1024, MAX_XML_BYTES - read))
                if not chunk:
                    break
                window = tail + chunk  # a declaration split between two chunks is still seen
                if b"<!DOCTYPE" in window or b"<!ENTITY" in window:
                    return
                tail = chunk[-16:]
                read += len(chunk)
                parser.feed(chunk)
                yield from parser.read_events()
        parser.close()
        yield from parser.read_events()
    except (ParseError, zipfile.BadZipFile, EOFError, OSError, RuntimeError, ValueError):
        return


class _TextBuilder:
    """Collects text up to a little more than :data:`MAX_TEXT_CHARS`."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0

    def add(self, text: str | None) -> None:
        if text:
            self.parts.append(text)
            self.length += len(text)

    @property
    def full(self) -> bool:
        return self.length > MAX_TEXT_CHARS

    def text(self) -> str:
        return "".join(self.parts)


def _paragraph_text(archive: zipfile.ZipFile, name: str, out: _TextBuilder) -> None:
    """Text of a WordprocessingML/DrawingML part: ``t`` runs, one line per paragraph."""
    for event, element in _xml_events(archive, name):
        tag = _local(element.tag)
        if event == "start":
            if tag == "tab":
                out.add("\t")
            elif tag in ("br", "cr"):
                out.add("\n")
            continue
        if tag == "t":
            out.add(element.text)
        elif tag == "p":
            out.add("\n")
            element.clear()
            if out.full:
                return


def _docx_text(archive: zipfile.ZipFile) -> str:
    out = _TextBuilder()
    _paragraph_text(archive, "word/document.xml", out)
    return out.text()


def _numbered(names: set[str], pattern: str) -> list[str]:
    regex = re.compile(pattern)
    found = [(int(match.group(1)), name) for name in names if (match := regex.fullmatch(name))]
    return [name for _, name in sorted(found)][:MAX_PARTS]


def _pptx_text(archive: zipfile.ZipFile, names: set[str]) -> str:
    out = _TextBuilder()
    for number, name in enumerate(_numbered(names, r"ppt/slides/slide(\d+)\.xml"), 1):
        out.add(f"— {number} —\n")
        _paragraph_text(archive, name, out)
        out.add("\n")
        if out.full:
            break
    return out.text()


def _xlsx_text(archive: zipfile.ZipFile, names: set[str]) -> str:
    shared = _shared_strings(archive)
    out = _TextBuilder()
    for title, part in _sheets(archive, names):
        out.add(f"== {title} ==\n")
        row: list[str] = []
        cell_type, value, inline = "", None, []
        for event, element in _xml_events(archive, part):
            tag = _local(element.tag)
            if event == "start":
                if tag == "c":
                    cell_type, value, inline = element.get("t", ""), None, []
                continue
            if tag == "v":
                value = element.text
            elif tag == "t":
                inline.append(element.text or "")
            elif tag == "c":
                if cell_type == "s" and value is not None:
                    try:
                        row.append(shared[int(value)])
                    except (ValueError, IndexError):
                        row.append("")
                elif cell_type == "inlineStr":
                    row.append("".join(inline))
                else:
                    row.append(value or "")
                element.clear()
            elif tag == "row":
                out.add("\t".join(row).rstrip("\t") + "\n")
                row = []
                element.clear()
                if out.full:
                    return out.text()
        out.add("\n")
    return out.text()


def _shared_strings(archive: zipfile.ZipFile) -> list[str]:
    strings: list[str] = []
    current: list[str] = []
    total = 0
    for event, element in _xml_events(archive, "xl/sharedStrings.xml"):
        if event != "end":
            continue
        tag = _local(element.tag)
        if tag == "t":
            current.append(element.text or "")
        elif tag == "si":
            text = "".join(current)
            strings.append(text)
            total += len(text)
            current = []
            element.clear()
            if len(strings) >= 200_000 or total > 4 * MAX_TEXT_CHARS * 10:
                break
    return strings


def _sheets(archive: zipfile.ZipFile, names: set[str]) -> list[tuple[str, str]]:
    """``(sheet name, part name)`` in the workbook's order."""
    targets: dict[str, str] = {}
    for event, element in _xml_events(archive, "xl/_rels/workbook.xml.rels"):
        if event == "end" and _local(element.tag) == "Relationship":
            target = element.get("Target", "")
            target = target.lstrip("/") if target.startswith("/") else "xl/" + target
            targets[element.get("Id", "")] = os.path.normpath(target).replace("\\", "/")
    sheets = []
    for event, element in _xml_events(archive, "xl/workbook.xml"):
        if event == "end" and _local(element.tag) == "sheet":
            part = targets.get(element.get(_REL_ID, "") or "")
            if part in names:
                sheets.append((element.get("name", "") or part, part))
    if not sheets:
        sheets = [
            (name.rsplit("/", 1)[-1], name) for name in _numbered(names, r"xl/worksheets/sheet(\d+)\.xml")
        ]
    return sheets[:MAX_PARTS]


# -- Office 97-2003, RTF, OpenDocument ---------------------------------------------------------


def legacy_preview(content: Any, kind: str) -> dict[str, Any] | None:
    """Text of a Word/Excel/PowerPoint 97-2003 file (``kind`` "ole"), an RTF document or an
    OpenDocument file (``kind`` "odf"): see :mod:`filewall._legacy_text`.

    None for an OLE file that is not a Word, Excel or PowerPoint document.
    """
    from . import _legacy_text as legacy

    if content.size > legacy.MAX_LEGACY_BYTES and kind != "rtf":
        return _note("too_large")
    try:
        if kind == "rtf":
            data = content.head(legacy.MAX_LEGACY_BYTES)
            text, truncated = legacy.rtf_text(data)
            fmt, truncated = "rtf", truncated or content.size > len(data)
        elif kind == "odf":
            with content.open() as stream:
                try:
                    archive = zipfile.ZipFile(stream)
                except Exception as error:
                    return _note("bad_document", reason=_short(error))
                with archive:
                    text, fmt, truncated = legacy.odf_text(archive)
        else:
            with content.open() as stream:
                result = legacy.ole_text(stream, lambda: bytes(content.view()))
            if result is None:
                return None
            text, fmt, truncated = result
    except legacy.Encrypted:
        return _note("encrypted")
    except legacy.TooLarge:
        return _note("too_large")
    except legacy.Damaged as error:
        return _note("bad_document", reason=str(error)[:200])
    except (MemoryError, RecursionError) as error:
        return _note("bad_document", reason=_short(error))
    if not text.strip():
        return _note("empty")
    return _text_result(text, "", fmt, truncated=truncated)


# -- PDF --------------------------------------------------------------------------------------


def pdf_preview(content: Any) -> dict[str, Any]:
    """Text of a PDF, page by page, within :data:`MAX_PDF_PAGES` and :data:`MAX_PDF_SECONDS`."""
    if content.size > MAX_PDF_BYTES:
        return _note("too_large")
    try:
        from pypdf import PdfReader
    except ImportError as error:  # pragma: no cover - pypdf is a core dependency
        return _note("bad_document", reason=_short(error))
    started = time.monotonic()
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(content.open(), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            return _note("encrypted")
        pages = reader.pages
        count = len(pages)
    except Exception as error:
        return _note("bad_document", reason=_short(error))
    out = _TextBuilder()
    truncated = False
    for number in range(min(count, MAX_PDF_PAGES)):
        if time.monotonic() - started > MAX_PDF_SECONDS or out.full:
            truncated = True
            break
        try:
            text = pages[number].extract_text() or ""
        except Exception:  # one broken page: keep the others
            text = ""
        if count > 1:
            out.add(f"— {number + 1} —\n")
        out.add(text.strip() + "\n\n")
    truncated = truncated or count > MAX_PDF_PAGES
    text = out.text()
    if not text.replace("—", "").strip(" \n0123456789"):
        return _note("empty")
    return _text_result(text, "", "pdf", truncated=truncated)


# -- names ------------------------------------------------------------------------------------


def name_parts(name: str) -> dict[str, Any]:
    """How a name should be shown: visible text, hidden characters, the real extension.

    ``stem_shown + ext_shown + tail_shown == display_name``; ``ext_shown`` is the ending
    Windows uses (after the last dot, once trailing dots and spaces are dropped), so the page
    can highlight it; ``tail_shown`` is what Windows drops.
    """
    from .analyze.names import parse_name, rendered_name

    bare = base_name(name)
    parts = parse_name(bare)
    prefix = name[: len(name) - len(bare)] if name.endswith(bare) else ""
    effective = parts.effective
    if parts.ext or effective.endswith("."):
        dot = effective.rfind(".")
        stem_raw, ext_raw = effective[: dot + 1], effective[dot + 1 :]
    else:
        stem_raw, ext_raw = effective, ""
    tail_raw = bare[len(effective) :]
    entry = parts.entry
    hidden = [label for _, label in hidden_characters(name)]
    shown = visible_name(name)
    stem_shown = visible_name(prefix + stem_raw)
    ext_shown = visible_name(ext_raw)
    tail_shown = visible_name(tail_raw)
    if stem_shown + ext_shown + tail_shown != shown:  # long padding was shortened across parts
        stem_shown, ext_shown, tail_shown = (
            shown[: len(shown) - len(ext_shown) - len(tail_shown)],
            ext_shown,
            tail_shown,
        )
        if not shown.endswith(ext_shown + tail_shown):
            stem_shown, ext_shown, tail_shown = shown, "", ""
    rendered = rendered_name(bare)
    return {
        "display_name": shown,
        "stem_shown": stem_shown,
        "ext_shown": ext_shown,
        "tail_shown": tail_shown,
        "hidden_chars": hidden,
        "real_extension": parts.ext,
        "extension_class": entry.cls.id if entry else "",
        "extension_runs_code": bool(entry and (entry.cls.runs_code or entry.cls.mounts)),
        "extension_en": entry.cls.en if entry else "",
        "extension_zh": entry.cls.zh if entry else "",
        "looks_like": rendered if rendered != bare else "",
    }


def visible_tree(tree: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of ``Report.to_dict()["tree"]`` ready for the page.

    Each node gets ``index`` (pre-order, as :meth:`Node.walk` and :class:`PreviewCollector`
    number them) and the keys of :func:`name_parts` (``display_name``, ``hidden_chars``,
    ``real_extension`` …). The original dict is not modified.
    """
    if not tree:
        return {}
    counter = [0]

    def copy(node: dict[str, Any]) -> dict[str, Any]:
        result = {key: value for key, value in node.items() if key != "children"}
        result["index"] = counter[0]
        counter[0] += 1
        try:
            result.update(name_parts(str(node.get("name", ""))))
        except Exception:  # a name we cannot split is still shown, made visible
            result.update(
                display_name=visible_name(str(node.get("name", ""))), hidden_chars=[], real_extension=""
            )
        result["children"] = [copy(child) for child in node.get("children", []) or []]
        return result

    return copy(tree)


# -- wiring into a scan -----------------------------------------------------------------------


class PreviewCollector:
    """An ``on_node`` hook for :class:`~filewall.engine.ScanOptions` that builds previews.

    Usage::

        collector = PreviewCollector()
        report = scan_bytes(data, name, ScanOptions(on_node=collector))
        collector.save(folder, report.tree)     # <folder>/<index>.png|.txt + index.json

    ``index`` is the node's position in :meth:`Node.walk` order (the ``index`` that
    :func:`visible_tree` gives the page). Bounded: at most ``max_nodes`` previews and
    ``max_bytes`` of thumbnails and text in all.
    """

    def __init__(self, max_nodes: int = 200, max_bytes: int = 16 * 1024 * 1024):
        self.max_nodes = max_nodes
        self.max_bytes = max_bytes
        self.used = 0
        self._previews: dict[int, tuple[Any, dict[str, Any]]] = {}

    def __call__(self, node: Any, content: Any) -> None:
        if len(self._previews) >= self.max_nodes or self.used >= self.max_bytes:
            return
        preview = build_preview(node, content)
        if preview is None:
            return
        self.used += len(preview.get("png", b"")) + len(preview.get("text", "")) * 3
        self._previews[id(node)] = (node, preview)

    def indexed(self, tree: Any) -> dict[int, dict[str, Any]]:
        """Previews by node index (pre-order position in ``tree``)."""
        if tree is None:
            return {}
        found = {}
        for index, node in enumerate(tree.walk()):
            entry = self._previews.get(id(node))
            if entry is not None and entry[0] is node:
                found[index] = entry[1]
        return found

    def save(self, folder: str, tree: Any) -> dict[int, dict[str, Any]]:
        """Write the previews of ``tree`` to ``folder``; returns the index (also saved)."""
        return save_previews(folder, self.indexed(tree))


def scan_for_desk(source: str | bytes, name: str, options: Any) -> dict[str, Any]:
    """Scan for the support desk: the report dict plus ``previews`` of its nodes.

    Called in the desk's scanning process (``filewall.service._worker.PREVIEW_HOOK``);
    ``source`` is the stored sample's path or the uploaded bytes. The result is
    ``Report.to_dict()`` with ``previews``: ``{"<node index>": preview}`` where a picture's
    preview carries its thumbnail as ``png`` bytes (the desk stores those as blobs) and a
    text preview its ``text``.
    """
    import dataclasses

    from .engine import scan_bytes, scan_path

    collector = PreviewCollector()
    options = dataclasses.replace(options, on_node=collector)
    if isinstance(source, (bytes, bytearray, memoryview)):
        report = scan_bytes(bytes(source), name, options)
    else:
        report = scan_path(str(source), options, display_name=name)
    data = report.to_dict()
    data["previews"] = {str(index): preview for index, preview in collector.indexed(report.tree).items()}
    return data


def save_previews(folder: str, previews: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Write ``<index>.png`` thumbnails, ``<index>.txt`` texts and ``index.json`` (the rest)."""
    os.makedirs(folder, exist_ok=True)
    meta: dict[int, dict[str, Any]] = {}
    for index, preview in previews.items():
        entry = {key: value for key, value in preview.items() if key not in ("png", "text")}
        if preview.get("kind") == "image":
            with open(os.path.join(folder, f"{int(index)}.png"), "wb") as handle:
                handle.write(preview["png"])
        elif preview.get("kind") == "text":
            with open(os.path.join(folder, f"{int(index)}.txt"), "w", encoding="utf-8") as handle:
                handle.write(preview["text"])
        meta[int(index)] = entry
    with open(os.path.join(folder, "index.json"), "w", encoding="utf-8") as handle:
        json.dump({str(key): value for key, value in meta.items()}, handle, ensure_ascii=False)
    return meta


def load_preview_index(folder: str) -> dict[int, dict[str, Any]]:
    """What :func:`save_previews` wrote (``{}`` when there is nothing)."""
    try:
        with open(os.path.join(folder, "index.json"), encoding="utf-8") as handle:
            return {int(key): value for key, value in json.load(handle).items()}
    except (OSError, ValueError):
        return {}


def load_preview_text(folder: str, index: int) -> str | None:
    try:
        with open(os.path.join(folder, f"{int(index)}.txt"), encoding="utf-8") as handle:
            return handle.read(MAX_TEXT_CHARS + 1)
    except OSError:
        return None


def preview_png_path(folder: str, index: int) -> str | None:
    path = os.path.join(folder, f"{int(index)}.png")
    return path if os.path.isfile(path) else None


__all__ = [
    "build_preview",
    "image_preview",
    "text_preview",
    "ooxml_preview",
    "pdf_preview",
    "legacy_preview",
    "decode_text",
    "clean_text",
    "name_parts",
    "visible_tree",
    "PreviewCollector",
    "scan_for_desk",
    "save_previews",
    "load_preview_index",
    "load_preview_text",
    "preview_png_path",
]
