"""Zip smuggling inside Office packages: a docx/xlsx/pptx is a zip, and a part that only
its local header announces is invisible to Word (and to the package's own directory)
but unpacked by streaming unzippers. The package gets the zip extractor's layout check."""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile

import pytest
from _docs import docx_bytes, office_zip
from conftest import node_named, rules_of
from test_names import png_bytes

SMUGGLING_RULES = {"archive.hidden_member", "archive.name_mismatch", "archive.overlapping_members"}


def _with_hidden_part(package: bytes, name: str, data: bytes) -> bytes:
    """``package`` with a member (local header and deflated data) slipped in before its
    central directory; the directory is moved, not changed, so nothing lists the member."""
    one = io.BytesIO()
    with zipfile.ZipFile(one, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    smuggled = one.getvalue()[: one.getvalue().index(b"PK\x01\x02")]
    end = package.rindex(b"PK\x05\x06")
    directory = struct.unpack_from("<I", package, end + 16)[0]
    eocd = bytearray(package[end:])
    struct.pack_into("<I", eocd, 16, directory + len(smuggled))
    return package[:directory] + smuggled + package[directory:end] + bytes(eocd)


def _smuggling_rules(report) -> set[str]:
    return {fact.rule for node in report.tree.walk() for fact in node.facts} & SMUGGLING_RULES


def test_program_hidden_in_a_docx_is_found_and_scanned(scan, pe_bytes):
    import docx

    data = _with_hidden_part(docx_bytes("尺码表：S M L XL"), "word/media/invoice.exe", pe_bytes)
    assert "word/media/invoice.exe" not in zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert docx.Document(io.BytesIO(data)).paragraphs[0].text == "尺码表：S M L XL"  # Word sees nothing
    report = scan(data, "尺码表.docx")
    assert report.tree.kind == "ooxml"
    finding = next(f for f in report.findings if f.rule == "archive.hidden_member")
    assert finding.where == "尺码表.docx" and finding.params["count"] == 1
    assert "invoice.exe" in finding.message and "invoice.exe" in finding.message_zh
    hidden = node_named(report, "invoice.exe")
    assert hidden.kind == "pe" and hidden.info["hidden"] is True
    assert hidden.sha256 == hashlib.sha256(pe_bytes).hexdigest()
    assert report.verdict.value == "malicious"


def test_harmless_hidden_part_alone_is_suspicious(scan):
    data = _with_hidden_part(docx_bytes("hello"), "notes.txt", b"colour: red")
    report = scan(data, "order.docx")
    assert rules_of(report) == {"archive.hidden_member"}
    assert report.verdict.value == "suspicious"


def test_part_renamed_in_its_local_header(scan):
    original = office_zip(docx_bytes("photo"), {"word/media/image1.png": png_bytes()})
    data = bytearray(original)
    local = data.index(b"word/media/image1.png")  # the local header's copy comes first
    assert data[local - 30 : local - 26] == b"PK\x03\x04"
    data[local : local + 21] = b"word/media/image1.exe"
    report = scan(bytes(data), "photo.docx")
    part = node_named(report, "image1.png")
    assert part.kind == "png" and part.info["local_name"] == "word/media/image1.exe"
    assert {"archive.name_mismatch", "name.risky_extension"} <= rules_of(report)
    assert report.verdict.value == "malicious"


def _xlsx() -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["尺码", "价格"])
    book.active.append(["XL", 99])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _pptx() -> bytes:
    import pptx

    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "新品"
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: docx_bytes("尺码表", link="https://example.com/"), "尺码表.docx"),
        (lambda: office_zip(docx_bytes("photo"), {"word/media/image1.png": png_bytes()}), "photo.docx"),
        (_xlsx, "价格.xlsx"),
        (_pptx, "新品.pptx"),
    ],
)
def test_clean_office_packages_have_no_smuggling_findings(scan, make, name):
    report = scan(make(), name)
    assert report.tree.kind == "ooxml"
    assert _smuggling_rules(report) == set(), report.findings
    assert report.verdict.value == "clean", report.findings
