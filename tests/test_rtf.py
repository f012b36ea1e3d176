"""RTF documents: embedded objects extracted as children, exploit object classes, objects
that load themselves, malformation, DDE. Real files: ClamAV's clam.exe.rtf, oletools'
rtfobj samples and the 2 MB RTF specification; objects built here follow MS-OLEDS."""

from __future__ import annotations

import struct
import time

import pytest
from _docs import finding_at, from_protected_zip, oletools_data, reason_is_node_with_hash
from conftest import CLAM_EXE_SHA256, node_named, rules_of


@pytest.fixture(scope="session")
def data():
    return oletools_data()


def _ole1_object(class_name: str, native: bytes) -> bytes:
    """An OLE 1.0 embedded object (MS-OLEDS 2.2.4/2.2.5): header, class name, data."""
    name = class_name.encode() + b"\x00"
    return (struct.pack("<II", 0x0501, 2) + struct.pack("<I", len(name)) + name + struct.pack("<II", 0, 0)
            + struct.pack("<I", len(native)) + native)


def _package(file_name: str, content: bytes) -> bytes:
    """OLE Package native data: the file and where it came from."""
    path = f"C:\\Users\\kefu\\Desktop\\{file_name}".encode() + b"\x00"
    return (struct.pack("<H", 2) + file_name.encode() + b"\x00" + path + struct.pack("<II", 0x30000, 0)
            + path + struct.pack("<I", len(content)) + content + b"\x00\x00")


def _rtf(class_name: str, native: bytes, extra: bytes = b"") -> bytes:
    hexdata = _ole1_object(class_name, native).hex().encode()
    lines = b"\r\n".join(hexdata[i:i + 128] for i in range(0, len(hexdata), 128))
    return (b"{\\rtf1\\ansi\\deff0{\\fonttbl{\\f0 Arial;}}\\pard \xb6\xa9\xb5\xa5\\par\r\n"
            b"{\\object\\objemb" + extra + b"{\\*\\objclass " + class_name.encode() + b"}\\objw1000\\objh800"
            b"{\\*\\objdata\r\n" + lines + b"\r\n}}\\par}")


def test_clamav_program_in_rtf_is_found_by_hash(scan, clam_testfiles):
    report = scan((clam_testfiles / "clam.exe.rtf").read_bytes(), "需求.rtf")
    program = node_named(report, "Clam.exe")
    assert program.sha256 == CLAM_EXE_SHA256 and program.info["embedded_as"] == "RTF object"
    assert report.verdict.value == "malicious"
    assert reason_is_node_with_hash(report, CLAM_EXE_SHA256)
    assert "rtf.obfuscated" not in rules_of(report)  # a plain Word-made RTF


def test_package_with_program_built_here(scan, pe_bytes):
    report = scan(_rtf("Package", _package("发票.pdf.exe", pe_bytes)), "发票.rtf")
    program = next(node for node in report.tree.walk() if node.depth and node.kind == "pe")
    assert program.size == len(pe_bytes)
    assert report.verdict.value == "malicious"


def test_package_with_text_file_is_clean(scan):
    report = scan(_rtf("Package", _package("notes.txt", b"size M, colour red\r\n")), "订单备注.rtf")
    assert node_named(report, "notes.txt").kind == "text"
    assert report.verdict.value == "clean", [finding.rule for finding in report.findings]


def test_equation_editor_object_is_an_exploit(scan):
    report = scan(_rtf("Equation.3", b"\x1c\x00\x00\x00\x02\x00" + b"\x90" * 64), "报价.rtf")
    exploit = finding_at(report, "rtf.exploit_object")
    assert exploit and "CVE-2017-11882" in exploit[0].message
    assert report.verdict.value == "malicious"


def test_object_that_loads_itself(scan):
    report = scan(_rtf("Word.Document.8", b"\x00" * 64, extra=b"\\objupdate"), "a.rtf")
    assert "rtf.object_autoupdate" in rules_of(report)
    plain = scan(_rtf("Word.Document.8", b"\x00" * 64), "b.rtf")
    assert "rtf.object_autoupdate" not in rules_of(plain)


def test_malformed_exploit_sample(scan, data):
    report = scan((data / "rtfobj/issue_251.rtf").read_bytes(), "issue_251.rtf")
    assert {"rtf.exploit_object", "rtf.object_autoupdate", "rtf.obfuscated"} <= rules_of(report)
    assert "rtf2" in finding_at(report, "rtf.obfuscated")[0].message


def test_protected_sample_with_bin_in_object_data(scan, data):
    name, content = from_protected_zip(data / "rtfobj/issue_185.rtf.zip")
    report = scan(content, name)
    assert len([node for node in report.tree.walk() if node.depth == 1]) == 1  # rtfobj: exactly 1 object
    assert "rtf.obfuscated" in rules_of(report)


def test_dde_field_in_rtf(scan):
    rtf = (b'{\\rtf1\\ansi{\\field{\\*\\fldinst DDEAUTO c:\\\\windows\\\\system32\\\\cmd.exe "/k echo TEST-ONLY"}'
           b"{\\fldrslt TEST}}}")
    report = scan(rtf, "说明.rtf")
    assert any("cmd.exe" in finding.message for finding in finding_at(report, "office.dde"))


def test_large_real_rtf_is_clean_and_quick(scan, data):
    started = time.perf_counter()
    report = scan((data / "msodde/RTF-Spec-1.7.rtf").read_bytes(), "RTF-Spec-1.7.rtf")
    assert report.verdict.value == "clean", [finding.rule for finding in report.findings]
    assert time.perf_counter() - started < 30
