"""Precision: the documents customers really send must come out ``clean``.

More than 30 ordinary documents, written here with python-docx, openpyxl, python-pptx and
pypdf or by hand (PDFs with pictures, links, bookmarks and an "open at page 1" action; web
pages and SVG pictures without scripts), plus oletools' own harmless samples. Hyperlinks
are everywhere on purpose: a link is an indicator, never a reason for suspicion.
"""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from _docs import PAGE, PAGES, docx_bytes, make_pdf, oletools_data

LINK = "https://shop.example.com/item/10086"


def _png(width: int = 4, height: int = 3, colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A real (tiny) PNG picture."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(colour) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


# -- Word ------------------------------------------------------------------------------------


def _docx(build) -> bytes:
    import docx

    document = docx.Document()
    build(document)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _word_documents() -> dict[str, bytes]:
    from docx.enum.text import WD_BREAK
    from docx.shared import Inches

    def table(document):
        document.add_heading("订单明细", level=1)
        grid = document.add_table(rows=3, cols=3)
        for row, values in enumerate([("商品", "数量", "单价"), ("连衣裙", "2", "199.00"), ("T恤", "5", "59.00")]):
            for column, value in enumerate(values):
                grid.cell(row, column).text = value

    def picture(document):
        document.add_paragraph("产品实拍图如下：")
        document.add_picture(io.BytesIO(_png(40, 30)), width=Inches(2))

    def headers(document):
        section = document.sections[0]
        section.header.paragraphs[0].text = "某某贸易有限公司"
        section.footer.paragraphs[0].text = "第 1 页"
        document.add_paragraph("合同正文。")

    def pages(document):
        document.add_paragraph("第一页")
        document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
        document.add_paragraph("第二页", style="List Bullet")

    return {
        "需求说明.docx": docx_bytes("您好，我想定制一批T恤。", "尺码：M 20件，L 30件。"),
        "售后申请.docx": docx_bytes("订单号 123456，收到的商品有破损。", link=LINK),
        "English order.docx": docx_bytes("Please ship 20 units to our warehouse.", "Thanks!", link="http://example.com/po"),
        "订单明细.docx": _docx(table),
        "实拍图.docx": _docx(picture),
        "合同.docx": _docx(headers),
        "两页.docx": _docx(pages),
    }


# -- Excel -----------------------------------------------------------------------------------


def _xlsx(build) -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    build(workbook)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _excel_documents() -> dict[str, bytes]:
    from openpyxl.comments import Comment
    from openpyxl.worksheet.datavalidation import DataValidation

    def orders(workbook):
        sheet = workbook.active
        sheet.append(["订单号", "商品", "数量", "单价", "金额"])
        for number in range(1, 30):
            sheet.append([f"NO{number:05d}", "连衣裙", number, 199.0, f"=C{number + 1}*D{number + 1}"])
        sheet.append(["合计", None, "=SUM(C2:C30)", None, "=SUM(E2:E30)"])

    def links(workbook):
        sheet = workbook.active
        sheet["A1"] = "商品链接"
        sheet["A1"].hyperlink = LINK
        sheet["A2"] = "=HYPERLINK(\"https://shop.example.com/a\", \"店铺\")"

    def sheets(workbook):
        for name in ("一月", "二月", "三月"):
            sheet = workbook.create_sheet(name)
            sheet.append(["日期", "销量"])
            sheet.append(["2024-01-01", 10])
        sheet.merge_cells("A4:B4")

    def formats(workbook):
        sheet = workbook.active
        sheet["A1"] = 0.25
        sheet["A1"].number_format = "0.00%"
        sheet["B1"] = 1234567.891
        sheet["B1"].number_format = "#,##0.00"
        sheet["C1"].comment = Comment("请确认价格", "客户")

    def validation(workbook):
        sheet = workbook.active
        rule = DataValidation(type="list", formula1='"S,M,L,XL"', allow_blank=True)
        sheet.add_data_validation(rule)
        rule.add("A1:A20")
        sheet["A1"] = "M"

    return {
        "订单列表.xlsx": _xlsx(orders),
        "链接.xlsx": _xlsx(links),
        "月报.xlsx": _xlsx(sheets),
        "报价.xlsx": _xlsx(formats),
        "尺码表.xlsx": _xlsx(validation),
    }


# -- PowerPoint ------------------------------------------------------------------------------


def _pptx(build) -> bytes:
    import pptx

    presentation = pptx.Presentation()
    build(presentation)
    out = io.BytesIO()
    presentation.save(out)
    return out.getvalue()


def _powerpoint_documents() -> dict[str, bytes]:
    from pptx.util import Inches

    def title(presentation):
        slide = presentation.slides.add_slide(presentation.slide_layouts[0])
        slide.shapes.title.text = "新品发布"
        slide.placeholders[1].text = "2024 春季"

    def bullets(presentation):
        slide = presentation.slides.add_slide(presentation.slide_layouts[1])
        slide.shapes.title.text = "合作方案"
        body = slide.placeholders[1].text_frame
        body.text = "批量采购"
        body.add_paragraph().text = "定制包装"

    def picture(presentation):
        slide = presentation.slides.add_slide(presentation.slide_layouts[6])
        slide.shapes.add_picture(io.BytesIO(_png(60, 40, (20, 120, 200))), Inches(1), Inches(1))

    def table(presentation):
        slide = presentation.slides.add_slide(presentation.slide_layouts[5])
        grid = slide.shapes.add_table(2, 2, Inches(1), Inches(1), Inches(4), Inches(1)).table
        grid.cell(0, 0).text, grid.cell(1, 0).text = "型号", "A-100"

    def link(presentation):
        slide = presentation.slides.add_slide(presentation.slide_layouts[1])
        slide.shapes.title.text = "店铺"
        run = slide.placeholders[1].text_frame.paragraphs[0].add_run()
        run.text = "访问店铺"
        run.hyperlink.address = LINK

    return {name: _pptx(build) for name, build in {
        "发布会.pptx": title, "方案.pptx": bullets, "图片.pptx": picture, "参数.pptx": table, "链接.pptx": link,
    }.items()}


# -- PDF -------------------------------------------------------------------------------------


def _text_page(text: bytes, extra: bytes = b"") -> list[bytes]:
    content = b"BT /F1 18 Tf 72 720 Td (" + text + b") Tj ET"
    return [
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> "
        b"/Contents 4 0 R " + extra + b">>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]


def _pdf_documents() -> dict[str, bytes]:
    from pypdf import PdfWriter

    plain = make_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", PAGES, *_text_page(b"Invoice 2024-001")])
    link = make_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", PAGES, *_text_page(b"Catalogue", b"/Annots [6 0 R] "),
                     b"<< /Type /Annot /Subtype /Link /Rect [72 700 300 740] /Border [0 0 0] "
                     b"/A << /S /URI /URI (" + LINK.encode() + b") >> >>"])
    pixels = zlib.compress(bytes([200, 30, 30]) * 64 * 48)
    image = make_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>", PAGES,
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /XObject << /Im1 5 0 R >> >> "
        b"/Contents 4 0 R >>",
        b"<< /Length 33 >>\nstream\nq 256 0 0 192 72 500 cm /Im1 Do Q\nendstream",
        b"<< /Type /XObject /Subtype /Image /Width 64 /Height 48 /ColorSpace /DeviceRGB /BitsPerComponent 8 "
        b"/Filter /FlateDecode /Length %d >>\nstream\n" % len(pixels) + pixels + b"\nendstream"])
    # "Open at page 1, fit to window" and bookmarks: OpenAction and GoTo are ordinary.
    opened = make_pdf([b"<< /Type /Catalog /Pages 2 0 R /OpenAction [3 0 R /Fit] /Outlines 6 0 R /PageMode /UseOutlines >>",
                       PAGES, *_text_page(b"Manual"),
                       b"<< /Type /Outlines /First 7 0 R /Last 7 0 R /Count 1 >>",
                       b"<< /Title (Chapter 1) /Parent 6 0 R /A << /S /GoTo /D [3 0 R /Fit] >> >>"])
    writer = PdfWriter()
    for _ in range(3):
        writer.add_blank_page(width=595, height=842)
    writer.add_metadata({"/Title": "Order", "/Author": "Customer"})
    multi = io.BytesIO()
    writer.write(multi)
    restricted = PdfWriter()
    restricted.add_blank_page(width=595, height=842)
    restricted.encrypt(user_password="", owner_password="owner", permissions_flag=0)
    locked = io.BytesIO()
    restricted.write(locked)
    return {
        "发票.pdf": plain, "目录.pdf": link, "实拍.pdf": image, "说明书.pdf": opened,
        "订单.pdf": multi.getvalue(), "对账单.pdf": locked.getvalue(),
        "minimal.pdf": make_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", PAGES, PAGE]),
    }


# -- web pages and pictures --------------------------------------------------------------------

_HTML = {
    "商品页.html": """<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8"><title>连衣裙</title>
<style>body{font-family:sans-serif} .price{color:#c00}</style></head><body>
<h1>夏季连衣裙</h1><p class="price">￥199</p><a href="https://shop.example.com/item/1">购买</a>
<img src="https://img.example.com/1.jpg" alt="图"></body></html>""",
    "邮件.html": """<html><body><table border="1"><tr><th>订单号</th><th>状态</th></tr>
<tr><td>123456</td><td>已发货</td></tr></table><p>物流查询：<a href="https://track.example.com/?no=123">点击</a></p>
</body></html>""",
    "内嵌图.html": '<html><body><p>截图：</p><img src="data:image/png;base64,'
                   + __import__("base64").b64encode(_png()).decode() + '"></body></html>',
}
_SVG = {
    "logo.svg": """<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="120" height="60" viewBox="0 0 120 60">
<defs><linearGradient id="g"><stop offset="0" stop-color="#f00"/><stop offset="1" stop-color="#00f"/></linearGradient></defs>
<rect width="120" height="60" fill="url(#g)"/><text x="10" y="35" font-size="20">SHOP</text></svg>""",
    "尺寸图.svg": """<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="200" height="100">
<a xlink:href="https://shop.example.com/size"><line x1="0" y1="50" x2="200" y2="50" stroke="black"/></a>
<text x="80" y="40">50 cm</text></svg>""",
}


def _all_documents() -> dict[str, bytes]:
    documents: dict[str, bytes] = {}
    documents.update(_word_documents())
    documents.update(_excel_documents())
    documents.update(_powerpoint_documents())
    documents.update(_pdf_documents())
    documents.update({name: text.encode() for name, text in {**_HTML, **_SVG}.items()})
    documents["价格.csv"] = "商品,数量,单价,金额\r\n连衣裙,2,199,=B2*C2\r\nT恤,5,59,=B3*C3\r\n".encode("gb18030")
    data = oletools_data()
    for sample in ("msodde/harmless-clean.doc", "msodde/harmless-clean.docx", "oleobj/embedded-simple-2007.xlsx"):
        documents[sample.rsplit("/", 1)[-1]] = (data / sample).read_bytes()
    return documents


DOCUMENTS = _all_documents()


def test_there_are_at_least_thirty_clean_documents_of_every_kind():
    assert len(DOCUMENTS) >= 30
    extensions = {name.rsplit(".", 1)[-1] for name in DOCUMENTS}
    assert {"docx", "xlsx", "pptx", "pdf", "html", "svg", "doc"} <= extensions


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_ordinary_document_is_clean(scan, name):
    report = scan(DOCUMENTS[name], name)
    assert report.verdict.value == "clean", [(finding.rule, finding.where) for finding in report.findings]
