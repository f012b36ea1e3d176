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
