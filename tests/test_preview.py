"""The safe view (filewall.preview): thumbnails, extracted text, names as they really are.

Every sample is made here: pictures by Pillow, a decompression bomb by hand (a PNG header
claiming 100000 × 100000 pixels over a few bytes of data), Office files by python-docx,
openpyxl and python-pptx, a PDF written byte by byte.
"""

from __future__ import annotations

import io
import struct
import time
import zipfile
import zlib

import pytest
from PIL import Image

from filewall.content import Content
from filewall.engine import ScanOptions, scan_bytes
from filewall.identify import identify
from filewall.model import Node
from filewall.preview import (
    MAX_TEXT_CHARS,
    PreviewCollector,
    build_preview,
    decode_text,
    load_preview_index,
    load_preview_text,
    name_parts,
    preview_png_path,
    visible_tree,
)
from filewall.service.i18n import Translator

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def preview_of(data: bytes, name: str = "sample.bin"):
    content = Content.from_bytes(data)
    file_type = identify(content.head(4096), content.size)
    node = Node(name=name, path=name, kind=file_type.kind, mime=file_type.mime, size=content.size)
    try:
        return build_preview(node, content)
    finally:
        content.close()


def picture(fmt: str, size=(1200, 800), mode="RGB", colour=(200, 30, 30)) -> bytes:
    image = Image.new(mode, size, colour)
    for x in range(0, size[0], 50):  # some structure, so the encoders have work to do
        for y in range(0, size[1], 3):
            image.putpixel((x, y), (0, 0, 255) if mode == "RGB" else 0)
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` × ``height`` RGB pixels, with a few bytes of data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return PNG_MAGIC + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


# -- pictures ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF"])
def test_pictures_become_png_thumbnails(fmt):
    data = picture(fmt)
    preview = preview_of(data, f"photo.{fmt.lower()}")
    assert preview["kind"] == "image", preview
    assert preview["png"].startswith(PNG_MAGIC)
    assert (preview["width"], preview["height"]) == (1200, 800)
    thumb = Image.open(io.BytesIO(preview["png"]))
    assert thumb.format == "PNG"
    assert max(thumb.size) <= 320 and thumb.size == (preview["thumb_width"], preview["thumb_height"])
    assert thumb.size[0] > thumb.size[1]  # the aspect ratio is kept


def test_palette_and_transparent_pictures():
    image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    image.paste((0, 200, 0, 255), (16, 16, 48, 48))
    out = io.BytesIO()
    image.save(out, format="PNG")
    preview = preview_of(out.getvalue(), "logo.png")
    assert preview["kind"] == "image"
    assert Image.open(io.BytesIO(preview["png"])).mode == "RGBA"
    gif = picture("GIF", size=(40, 30), mode="P", colour=3)
    assert preview_of(gif, "a.gif")["kind"] == "image"


def test_decompression_bomb_header_is_refused_before_decoding():
    bomb = png_claiming(100_000, 100_000)
    assert len(bomb) < 200
    started = time.perf_counter()
    preview = preview_of(bomb, "bomb.png")
    assert time.perf_counter() - started < 2
    assert preview["kind"] == "error"
    assert preview["note"].startswith("bomb")
    assert "decompression bomb" in preview["message"] and "解压炸弹" in preview["message_zh"]


def test_picture_just_over_the_budget_is_refused_with_its_size():
    preview = preview_of(png_claiming(9000, 9000), "big.png")  # 81 Mpx > 50 Mpx, < Pillow's 2×
    assert preview["kind"] == "error" and preview["note"] == "bomb"
    assert "9000 × 9000" in preview["message"]
    strip = preview_of(png_claiming(40_000, 10), "strip.png")
    assert strip["kind"] == "error" and strip["note"] == "bomb"


def test_broken_picture_gives_a_note_not_an_exception():
    data = picture("PNG")[:200]  # header fine, data cut
    preview = preview_of(data, "cut.png")
    assert preview["kind"] == "error"
    assert preview["message"] and preview["message_zh"]
    junk = PNG_MAGIC + b"\x00" * 50
    assert preview_of(junk, "junk.png")["kind"] == "error"


# -- text -------------------------------------------------------------------------------------


def test_gbk_text_is_detected():
    text = "您好，这是订单 8866 的发票。\n解压密码 8866，请查收附件中的设计图。\n"
    preview = preview_of(text.encode("gbk"), "说明.txt")
    assert preview["kind"] == "text"
    assert preview["encoding"] in ("gbk", "gb18030")
    assert preview["text"] == text


def test_gbk_csv_and_utf8_with_and_without_bom():
    rows = "订单号,商品,数量\n1001,连衣裙,2\n1002,手机壳,1\n"
    csv = preview_of(rows.encode("gb18030"), "orders.csv")
    assert csv["kind"] == "text" and csv["text"] == rows
    utf8 = preview_of("Grüße, 你好\n".encode(), "a.txt")
    assert utf8 == utf8 | {"kind": "text", "encoding": "utf-8", "text": "Grüße, 你好\n"}
    bom = preview_of(b"\xef\xbb\xbf" + "你好\n".encode(), "b.txt")
    assert bom["text"] == "你好\n" and bom["encoding"] == "utf-8-sig"


def test_decode_text_falls_back_without_failing():
    text, encoding = decode_text("Ceci est un résumé très détaillé du problème rencontré.".encode("cp1252"))
    assert "résumé" in text and encoding
    assert decode_text(bytes(range(256)))[0]  # anything at all decodes to something


def test_text_is_cut_and_controls_made_visible():
    long = ("第一行 line\n" * 5000).encode()
    preview = preview_of(long, "long.txt")
    assert len(preview["text"]) == MAX_TEXT_CHARS and preview["truncated"]
    tricky = preview_of("pay to \u202eacct\u202c now\n".encode(), "x.txt")
    assert "\u202e" not in tricky["text"] and "[RLO]" in tricky["text"]


def test_html_and_svg_are_shown_as_source_text():
    html = b"<html><body><script>alert(1)</script><p>hi</p></body></html>"
    preview = preview_of(html, "page.html")
    assert preview["kind"] == "text" and "<script>alert(1)</script>" in preview["text"]
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect/></svg>'
    preview = preview_of(svg, "pic.svg")
    assert preview["kind"] == "text" and "onload" in preview["text"]


def test_programs_get_no_preview(pe_bytes):
    assert preview_of(pe_bytes, "设计图.jpg.exe") is None


# -- documents --------------------------------------------------------------------------------


def test_docx_text():
    import docx

    document = docx.Document()
    document.add_heading("退货申请", level=1)
    document.add_paragraph("订单号 1001，商品有质量问题。")
    document.add_paragraph("Please refund to the original card.")
    out = io.BytesIO()
    document.save(out)
    preview = preview_of(out.getvalue(), "退货.docx")
    assert preview["kind"] == "text" and preview["format"] == "docx"
    assert "退货申请\n订单号 1001，商品有质量问题。\nPlease refund" in preview["text"]


def test_xlsx_text():
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "订单"
    sheet.append(["订单号", "商品", "金额"])
    sheet.append([1001, "连衣裙", 199.5])
    other = book.create_sheet("备注")
    other["A1"] = "请尽快发货"
    out = io.BytesIO()
    book.save(out)
    preview = preview_of(out.getvalue(), "orders.xlsx")
    assert preview["kind"] == "text" and preview["format"] == "xlsx"
    text = preview["text"]
    assert "== 订单 ==\n订单号\t商品\t金额\n1001\t连衣裙\t199.5" in text
    assert text.index("== 备注 ==") > text.index("连衣裙") and "请尽快发货" in text


def test_pptx_text():
    import pptx

    deck = pptx.Presentation()
    for number in (1, 2):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = f"第 {number} 页 标题"
        slide.placeholders[1].text = f"body text {number}"
    out = io.BytesIO()
    deck.save(out)
    preview = preview_of(out.getvalue(), "deck.pptx")
    assert preview["kind"] == "text" and preview["format"] == "pptx"
    text = preview["text"]
    assert text.index("第 1 页 标题") < text.index("body text 1") < text.index("第 2 页 标题")


@pytest.mark.parametrize("padding", [0, 300_000])  # the DTD in the first chunk, or pushed past it
def test_ooxml_entity_bomb_is_not_expanded(padding):
    lol = (
        '<?xml version="1.0"?>'
        + ("<!--" + "x" * padding + "-->" if padding else "")
        + '<!DOCTYPE w [<!ENTITY a "aaaaaaaaaa">'
        + "".join(f'<!ENTITY {chr(98 + i)} "' + f"&{chr(97 + i)};" * 10 + '">' for i in range(8))
        + ']><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        "<w:body><w:p><w:r><w:t>&i;</w:t></w:r></w:p></w:body></w:document>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'wordprocessingml.document.main+xml"/></Types>',
        )
        archive.writestr("word/document.xml", lol)
    started = time.perf_counter()
    preview = preview_of(out.getvalue(), "lol.docx")
    assert time.perf_counter() - started < 2
    assert preview["kind"] == "error" and preview["note"] == "empty"


def minimal_pdf(lines: list[str]) -> bytes:
    """A small valid PDF (one page, Helvetica) written by hand, xref offsets computed."""
    stream = "BT /F1 14 Tf 72 720 Td 18 TL " + " ".join(f"({line}) '" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def test_pdf_text():
    data = minimal_pdf(["Invoice 2024-0815", "Total due: 88.66 USD", "Thank you for your order"])
    preview = preview_of(data, "invoice.pdf")
    assert preview["kind"] == "text" and preview["format"] == "pdf", preview
    text = preview["text"]
    assert "Invoice 2024-0815" in text and "Total due: 88.66 USD" in text
    assert text.index("Invoice") < text.index("Thank you")


def test_broken_pdf_gives_a_note():
    preview = preview_of(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF", "broken.pdf")
    assert preview["kind"] == "error"


# -- names ------------------------------------------------------------------------------------


def test_name_parts_highlight_the_real_extension():
    parts = name_parts("设计图.jpg.exe")
    assert parts["real_extension"] == "exe" and parts["extension_runs_code"]
    assert (parts["stem_shown"], parts["ext_shown"], parts["tail_shown"]) == ("设计图.jpg.", "exe", "")
    rlo = name_parts("invoice_\u202egpj.exe")
    assert rlo["display_name"] == "invoice_[RLO]gpj.exe" and rlo["hidden_chars"] == ["RLO"]
    assert rlo["real_extension"] == "exe" and rlo["looks_like"] == "invoice_exe.jpg"
    padded = name_parts("photo.jpg" + " " * 40 + ".scr")
    assert padded["real_extension"] == "scr" and padded["ext_shown"] == "scr"
    assert "40 spaces" in padded["stem_shown"]
    trailing = name_parts("report.exe. . ")
    assert trailing["real_extension"] == "exe" and trailing["tail_shown"] == ". . "
    plain = name_parts("folder/readme")
    assert plain["real_extension"] == "" and plain["display_name"] == "folder/readme"


def test_visible_tree_numbers_nodes_like_the_collector(pe_bytes):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("图片/a.png", picture("PNG", size=(100, 80)))
        zipped.writestr("设计图.jpg.exe", pe_bytes)
        zipped.writestr("b\u202egpj.scr", b"MZ")
        zipped.writestr("说明.txt", "解压密码 8866".encode("gbk"))
    collector = PreviewCollector()
    report = scan_bytes(archive.getvalue(), "lure.zip", ScanOptions(on_node=collector))
    tree = visible_tree(report.to_dict()["tree"])
    flat = []

    def walk(node):
        flat.append(node)
        for child in node["children"]:
            walk(child)

    walk(tree)
    assert [node["index"] for node in flat] == list(range(len(flat)))
    by_name = {node["name"]: node for node in flat}
    assert by_name["设计图.jpg.exe"]["real_extension"] == "exe"
    assert by_name["b\u202egpj.scr"]["display_name"] == "b[RLO]gpj.scr"
    previews = collector.indexed(report.tree)
    png_index = by_name["图片/a.png"]["index"]
    txt_index = by_name["说明.txt"]["index"]
    assert previews[png_index]["kind"] == "image"
    assert previews[txt_index]["text"] == "解压密码 8866"
    assert by_name["设计图.jpg.exe"]["index"] not in previews
    original = report.to_dict()["tree"]
    visible_tree(original)
    assert "index" not in original and "display_name" not in original["children"][0]  # a copy


def test_collector_saves_and_loads(tmp_path):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("a.jpg", picture("JPEG", size=(640, 480)))
        zipped.writestr("b.txt", "hello 你好".encode())
        zipped.writestr("bomb.png", png_claiming(100_000, 100_000))
    collector = PreviewCollector()
    report = scan_bytes(archive.getvalue(), "pics.zip", ScanOptions(on_node=collector))
    folder = tmp_path / "previews" / "1"
    collector.save(str(folder), report.tree)
    index = load_preview_index(str(folder))
    names = [node.name for node in report.tree.walk()]
    jpg, txt, bomb = names.index("a.jpg"), names.index("b.txt"), names.index("bomb.png")
    assert index[jpg]["kind"] == "image" and index[jpg]["width"] == 640
    assert Image.open(preview_png_path(str(folder), jpg)).format == "PNG"
    assert load_preview_text(str(folder), txt) == "hello 你好"
    assert index[bomb]["kind"] == "error" and preview_png_path(str(folder), bomb) is None


def test_a_failing_hook_never_breaks_the_scan():
    def hook(node, content):
        raise RuntimeError("boom")

    report = scan_bytes(picture("PNG", size=(10, 10)), "a.png", ScanOptions(on_node=hook))
    assert report.verdict.value == "clean"


# -- legacy documents: Word/Excel/PowerPoint 97-2003, RTF, OpenDocument --------------------------
#
# The Office 97-2003 files are real ones: oletools 0.60.2's test data (from its sdist on
# PyPI, see _docs.py) and ClamAV's clam.ppt (Debian clamav-testfiles). Damaged variants
# are those files with a stream overwritten in place by olefile. RTF and OpenDocument
# files are written here, byte for byte as Word/WPS and LibreOffice write them.


@pytest.fixture(scope="module")
def ole_data():
    from _docs import oletools_data

    return oletools_data()


def from_zip(path) -> bytes:
    from _docs import from_protected_zip

    return from_protected_zip(path)[1]


def overwrite_stream(tmp_path, source, stream: str, change) -> bytes:
    """``source`` (a real OLE file) with ``stream`` replaced by ``change(old)`` (same size)."""
    import olefile

    copy = tmp_path / source.name
    copy.write_bytes(source.read_bytes())
    with olefile.OleFileIO(str(copy), write_mode=True) as ole:
        old = ole.openstream(stream).read()
        new = change(old)
        assert len(new) == len(old)
        ole.write_stream(stream, new)
    return copy.read_bytes()


def test_doc_text_through_the_piece_table(ole_data):
    preview = preview_of((ole_data / "msodde" / "harmless-clean.doc").read_bytes(), "clean.doc")
    assert preview["kind"] == "text" and preview["format"] == "doc", preview
    text = preview["text"]
    assert text.startswith("Test\n\nThis is a harmless test document.\n")
    assert "we add some ünicöde-ßtringß and different text sizes" in text  # compressed (cp1252) pieces
    # Field instructions (here DDEAUTO / DDE commands) are not text; their results are.
    dde = preview_of((ole_data / "msodde" / "dde-test-from-office2016.doc").read_bytes(), "dde.doc")
    assert "Hope this works." in dde["text"] and "End-of-field" in dde["text"]
    assert "DDE" not in dde["text"].replace("dde", "") and "\x13" not in dde["text"]


def test_doc_utf16_pieces_korean(ole_data):
    data = from_zip(ole_data / "msodde" / "dde-test-from-office2013-utf_16le-korean.doc.zip")
    preview = preview_of(data, "korean.doc")
    assert preview["kind"] == "text" and preview["format"] == "doc"
    assert preview["text"] == "Testing DDE in word\n!수식 끝이 잘못되었습니다.\nkijeong\n"


def test_xls_text(ole_data):
    preview = preview_of((ole_data / "oleobj" / "embedded-simple-2007.xls").read_bytes(), "book.xls")
    assert preview["kind"] == "text" and preview["format"] == "xls", preview
    text = preview["text"]
    assert text.startswith("== Tabelle1 ==\nThis spreadsheet contains an embedded object\n")
    assert "Have fun parsing :-)" in text and text.index("== Tabelle2 ==") > text.index("Have fun")


def test_ppt_text(ole_data):
    preview = preview_of((ole_data / "oleobj" / "embedded-simple-2007.ppt").read_bytes(), "deck.ppt")
    assert preview["kind"] == "text" and preview["format"] == "ppt", preview
    assert preview["text"] == (
        "Embedded Objects\nThis slide contains an embedded object\nIt is a simple harmless ASCII text file\n"
    )
    with open("/usr/share/clamav-testfiles/clam.ppt", "rb") as handle:
        clam = preview_of(handle.read(), "clam.ppt")
    assert clam["kind"] == "text" and "This is a ClamAV test file with embedded clam.exe" in clam["text"]


@pytest.mark.parametrize("name", ["encrypted.doc", "encrypted.xls", "encrypted.ppt"])
def test_encrypted_office_97_gives_the_encrypted_note(ole_data, name):
    preview = preview_of((ole_data / "encrypted" / name).read_bytes(), name)
    assert preview["kind"] == "error" and preview["note"] == "encrypted", preview
    assert "password" in preview["message"] and "密码" in preview["message_zh"]


def _fcclx_far_away(word: bytes) -> bytes:
    return word[:0x1A2] + struct.pack("<I", 0x7FFFFFF0) + word[0x1A6:]


@pytest.mark.parametrize(
    ("member", "stream", "change"),
    [
        ("msodde/harmless-clean.doc", "WordDocument", _fcclx_far_away),
        ("oleobj/embedded-simple-2007.xls", "Workbook", lambda old: b"\x00" * len(old)),
        ("oleobj/embedded-simple-2007.ppt", "PowerPoint Document", lambda old: b"\xff" * len(old)),
    ],
)
def test_damaged_office_97_gives_a_note(ole_data, tmp_path, member, stream, change):
    source = ole_data / member
    data = overwrite_stream(tmp_path, source, stream, change)
    preview = preview_of(data, source.name)
    assert preview["kind"] == "error" and preview["note"] == "bad_document", preview
    assert preview["message"].startswith("No text could be read") and preview["message_zh"]
    cut = preview_of(source.read_bytes()[:1536], source.name)  # the OLE header and little else
    assert cut["kind"] == "error", cut


def rtf_escaped(text: str, encoding: str = "gbk") -> str:
    """Non-ASCII characters as ``\\'hh`` escapes of their bytes (what Word writes)."""
    return "".join(
        char if char.isascii() else "".join(f"\\'{byte:02x}" for byte in char.encode(encoding))
        for char in text
    )


def test_rtf_gbk_unicode_and_skipped_groups():
    rtf = (
        r"{\rtf1\ansi\ansicpg936\deff0\uc1"
        r"{\fonttbl{\f0\fnil\fcharset134 " + rtf_escaped("宋体") + r";}{\f1\fswiss\fcharset0 Arial;}}"
        r"{\colortbl;\red255\green0\blue0;}{\stylesheet{\s0 Normal SECRETSTYLE;}}"
        r"{\info{\title SECRETTITLE}{\author SECRETAUTHOR}}{\*\generator SECRETGEN;}"
        r"{\*\themedata 504b0304 SECRETTHEME}"
        "\r\n\\pard\\plain\\f0 " + rtf_escaped("您好，这是订单") + r" 8866" + rtf_escaped("。") + "\\par\r\n"
        r"\f1 Unicode \u36864?\u-28672?\u36135?, emoji \u-10179?\u-8704? ok\par"
        r"{\uc2 \u35746\'b6\'a9\u21333\'b5\'a5}\tab tab\line next\~line\par"
        r"{\field{\*\fldinst HYPERLINK \"http://fldinst.invalid/\"}{\fldrslt "
        + rtf_escaped("点击这里")
        + "}}\\par "
        r"{\pict\pngblip\picw10\pich10 89504e470d0a1a0a SECRETPICT}"
        r"{\object\objemb{\*\objclass Package}{\*\objdata 01050000 SECRETOBJ}}"
        r"raw {\*\bkmkstart b1}\bin6 {}\par}after \{braces\} \\ end\par}"
    ).encode("ascii")
    preview = preview_of(rtf, "订单.rtf")
    assert preview["kind"] == "text" and preview["format"] == "rtf", preview
    assert preview["text"] == (
        "您好，这是订单 8866。\n"
        "Unicode 退退货, emoji 😀 ok\n"
        "订单\ttab\nnext\u00a0line\n"
        "点击这里\n"
        "raw after {braces} \\ end\n"
    )
    assert "SECRET" not in preview["text"] and "fldinst" not in preview["text"]


def test_rtf_font_charset_decides_the_code_page():
    # WPS and older writers: ANSI document, Chinese in a GB2312 font (\fcharset134).
    rtf = (
        r"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0\froman\fcharset0 Times New Roman;}"
        r"{\f1\fnil\fcharset134 SimSun;}}"
        r"\f0 Caf" + rtf_escaped("é", "cp1252") + r" \f1 " + rtf_escaped("退货申请") + r"\par}"
    ).encode("ascii")
    preview = preview_of(rtf, "wps.rtf")
    assert preview["kind"] == "text" and preview["text"] == "Café 退货申请\n"


def test_rtf_real_specification_is_cut(ole_data):
    data = (ole_data / "msodde" / "RTF-Spec-1.7.rtf").read_bytes()
    started = time.perf_counter()
    preview = preview_of(data, "spec.rtf")
    assert time.perf_counter() - started < 5
    assert preview["kind"] == "text" and preview["truncated"]
    assert len(preview["text"]) == MAX_TEXT_CHARS
    assert "Rich Text Format (RTF) Specification" in preview["text"] and "\\" not in preview["text"][:2000]


def test_rtf_damaged_or_bomb_gives_a_note():
    cut = preview_of(rb"{\rtf1\ansi{\fonttbl{\f0\fnil Arial;}}{\pict 89504e47", "cut.rtf")
    assert cut["kind"] == "error" and cut["note"] == "empty"
    deep = b"{\\rtf1 " + b"{" * 300_000 + b"deep" + b"}" * 300_000 + b"}"
    started = time.perf_counter()
    preview = preview_of(deep, "deep.rtf")
    assert time.perf_counter() - started < 5
    assert preview["kind"] == "text" and preview["text"] == "deep"


ODF_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
    'xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0"'
)


def odf_package(kind: str, body: str | bytes, manifest_extra: str = "") -> bytes:
    """An OpenDocument package as LibreOffice writes it: ``mimetype`` first and stored."""
    content = (
        body
        if isinstance(body, bytes)
        else (
            f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ODF_NS} office:version="1.3">'
            f"<office:body>{body}</office:body></office:document-content>"
        ).encode()
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
        'manifest:version="1.3">'
        f'<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.{kind}"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"'
        + (f">{manifest_extra}</manifest:file-entry>" if manifest_extra else "/>")
        + "</manifest:manifest>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), f"application/vnd.oasis.opendocument.{kind}",
                         compress_type=zipfile.ZIP_STORED)  # fmt: skip
        archive.writestr("content.xml", content)
        archive.writestr("META-INF/manifest.xml", manifest)
    return out.getvalue()


ODT_BODY = (
    "<office:text><text:tracked-changes><text:changed-region><text:deletion>"
    "<text:p>DELETED TEXT</text:p></text:deletion></text:changed-region></text:tracked-changes>"
    '<text:h text:outline-level="1">退货申请</text:h>'
    '<text:p>订单号<text:s text:c="3"/>1001<text:tab/>连衣裙<text:line-break/>'
    "第二行 <text:span>加粗</text:span>结束</text:p>"
    "<table:table><table:table-row><table:table-cell><text:p>商品</text:p></table:table-cell>"
    "<table:table-cell><text:p>数量</text:p></table:table-cell></table:table-row></table:table>"
    "<text:p>Please refund.</text:p></office:text>"
)


def test_odt_text():
    preview = preview_of(odf_package("text", ODT_BODY), "退货.odt")
    assert preview["kind"] == "text" and preview["format"] == "odt", preview
    assert preview["text"] == "退货申请\n订单号   1001\t连衣裙\n第二行 加粗结束\n商品\t数量\nPlease refund.\n"


def test_ods_and_odp_text():
    ods = (
        '<office:spreadsheet><table:table table:name="订单">'
        "<table:table-row><table:table-cell><text:p>订单号</text:p></table:table-cell>"
        '<table:table-cell table:number-columns-repeated="2"><text:p>商品</text:p></table:table-cell>'
        '<table:table-cell table:number-columns-repeated="16000"/></table:table-row>'
        '<table:table-row table:number-rows-repeated="1048000"><table:table-cell/></table:table-row>'
        '<table:table-row><table:table-cell office:value-type="float" office:value="1001">'
        "<text:p>1001</text:p></table:table-cell></table:table-row>"
        '</table:table><table:table table:name="备注"><table:table-row><table:table-cell>'
        "<text:p>请尽快发货</text:p></table:table-cell></table:table-row></table:table></office:spreadsheet>"
    )
    preview = preview_of(odf_package("spreadsheet", ods), "orders.ods")
    assert preview["kind"] == "text" and preview["format"] == "ods", preview
    assert preview["text"] == "== 订单 ==\n订单号\t商品\t商品\n1001\n\n== 备注 ==\n请尽快发货\n\n"
    odp = (
        "<office:presentation>"
        + "".join(
            f'<draw:page draw:name="p{number}"><draw:frame><draw:text-box><text:p>第 {number} 页 标题</text:p>'
            f"<text:p>body text {number}</text:p></draw:text-box></draw:frame></draw:page>"
            for number in (1, 2)
        )
        + "</office:presentation>"
    )
    deck = preview_of(odf_package("presentation", odp), "deck.odp")
    assert deck["kind"] == "text" and deck["format"] == "odp"
    assert deck["text"] == "— 1 —\n第 1 页 标题\nbody text 1\n— 2 —\n第 2 页 标题\nbody text 2\n"


@pytest.mark.parametrize(
    "name", ["embedded-simple-2007.odt", "embedded-simple-2007.ods", "embedded-simple-2007.odp"]
)
def test_real_opendocument_files(ole_data, name):
    preview = preview_of((ole_data / "oleobj" / name).read_bytes(), name)
    assert preview["kind"] == "text" and preview["format"] == name[-3:], preview
    assert ("embedded" in preview["text"]) and "<" not in preview["text"]


def test_odf_bombs_encryption_and_damage_give_notes():
    started = time.perf_counter()
    # A content.xml of 40 MB that deflates from ~40 KB: refused from its declared size.
    huge = b"<office:document-content>" + b" " * (40 * 1024 * 1024) + b"</office:document-content>"
    bomb = preview_of(odf_package("text", huge), "bomb.odt")
    assert bomb["kind"] == "error" and bomb["note"] == "too_large", bomb
    # The same, lying about its size in the central directory: reading stops at the lie.
    data = bytearray(odf_package("text", huge))
    entry = data.rfind(b"PK\x01\x02", 0, data.rfind(b"content.xml"))
    struct.pack_into("<I", data, entry + 24, 1000)
    liar = preview_of(bytes(data), "liar.odt")
    assert liar["kind"] == "error", liar
    # Entity expansion: the DTD is refused, nothing is expanded.
    lol = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY a "aaaaaaaaaa">'
        + "".join(f'<!ENTITY {chr(98 + i)} "' + f"&{chr(97 + i)};" * 10 + '">' for i in range(8))
        + f"]><office:document-content {ODF_NS}><office:body><office:text><text:p>&i;</text:p>"
        "</office:text></office:body></office:document-content>"
    ).encode()
    entities = preview_of(odf_package("text", lol), "lol.odt")
    assert entities["kind"] == "error" and entities["note"] == "empty"
    assert time.perf_counter() - started < 10
    # A password-protected document (LibreOffice's manifest: content.xml is encrypted).
    sealed = odf_package(
        "text",
        bytes(range(256)) * 8,
        '<manifest:encryption-data manifest:checksum-type="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0#sha256-1k" '
        'manifest:checksum="AAAA"><manifest:algorithm manifest:algorithm-name="http://www.w3.org/2001/04/xmlenc#aes256-cbc" '
        'manifest:initialisation-vector="AAAA"/></manifest:encryption-data>',
    )
    encrypted = preview_of(sealed, "sealed.odt")
    assert encrypted["kind"] == "error" and encrypted["note"] == "encrypted", encrypted
    # Cut in the middle: no central directory.
    whole = odf_package("text", ODT_BODY)
    cut = preview_of(whole[: len(whole) // 2], "cut.odt")
    assert cut["kind"] == "error" and cut["note"] == "bad_document", cut


def test_legacy_documents_inside_an_archive_get_previews(ole_data):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("clean.doc", (ole_data / "msodde" / "harmless-clean.doc").read_bytes())
        zipped.writestr("退货.odt", odf_package("text", ODT_BODY))
        zipped.writestr("note.rtf", rb"{\rtf1\ansi\ansicpg936 " + rtf_escaped("请退款").encode() + b"\\par}")
    collector = PreviewCollector()
    report = scan_bytes(archive.getvalue(), "docs.zip", ScanOptions(on_node=collector))
    previews = collector.indexed(report.tree)
    by_name = {node.name: index for index, node in enumerate(report.tree.walk())}
    assert "This is a harmless test document." in previews[by_name["clean.doc"]]["text"]
    assert previews[by_name["退货.odt"]]["text"].startswith("退货申请\n")
    assert previews[by_name["note.rtf"]]["text"] == "请退款\n"
    # The desk names each of these formats for the agent, in both languages.
    for name in ("clean.doc", "退货.odt", "note.rtf"):
        fmt = previews[by_name[name]]["format"]
        assert Translator("zh").format(fmt) != fmt and Translator("en").format(fmt) != fmt
