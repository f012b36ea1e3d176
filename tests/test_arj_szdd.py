"""ARJ (through 7-Zip or unar) and SZDD (MS-Compress, built-in decoder).

Fixtures: Debian's ``arj`` and ``mscompress`` tools pack pip's real ``t64.exe`` launcher
and a text file; ClamAV's ``clam.arj`` and ``clam.exe.szdd`` are read as shipped.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import time

import pytest
from conftest import CLAM_EXE_SHA256, node_named, rules_of

from filewall.engine import ExtractError
from filewall.extract import _tools
from filewall.extract.szdd import SzddReader, restored_name
from filewall.limits import Limits

LURE = "订单详情.pdf.exe"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: it is listed in scripts/system-packages.txt")
    return path


@pytest.fixture
def arj_files(tmp_path, pe_bytes):
    arj = _tool("arj")
    (tmp_path / LURE).write_bytes(pe_bytes)
    (tmp_path / "readme.txt").write_bytes(b"hello\n")
    for args in (["a", "lure.arj", LURE, "readme.txt"], ["a", "plain.arj", "readme.txt"],
                 ["a", "-gsecret", "locked.arj", "readme.txt"]):  # fmt: skip
        subprocess.run([arj, *args], cwd=tmp_path, check=True, capture_output=True)
    return {name: (tmp_path / f"{name}.arj").read_bytes() for name in ("lure", "plain", "locked")}


# --- ARJ -------------------------------------------------------------------------------------


@pytest.mark.parametrize("without", ["", "7zz"], ids=["7zz", "unar"])
def test_clamav_arj_yields_clam_exe(scan, clam_testfiles, monkeypatch, without):
    monkeypatch.setenv("FILEWALL_DISABLE_TOOLS", without)
    report = scan((clam_testfiles / "clam.arj").read_bytes(), "clam.arj")
    assert node_named(report, "clam.exe").sha256 == CLAM_EXE_SHA256


@pytest.mark.parametrize("without", ["", "7zz"], ids=["7zz", "unar"])
def test_arj_lure_names_and_content(scan, arj_files, pe_bytes, monkeypatch, without):
    monkeypatch.setenv("FILEWALL_DISABLE_TOOLS", without)
    report = scan(arj_files["lure"], "需求.arj")
    program = node_named(report, LURE)
    assert program.kind == "pe" and program.sha256 == sha(pe_bytes)
    assert program.info["stored_name"] == LURE
    assert node_named(report, "readme.txt").sha256 == sha(b"hello\n")
    assert report.verdict.value == "malicious"


def test_benign_arj_is_clean(scan, arj_files):
    report = scan(arj_files["plain"], "plain.arj")
    assert report.verdict.value == "clean", [f.rule for f in report.findings]


def test_arj_without_helpers_is_unsupported_and_suspicious(scan, clam_testfiles, monkeypatch):
    monkeypatch.setenv("FILEWALL_DISABLE_TOOLS", "7zz,unar")
    report = scan((clam_testfiles / "clam.arj").read_bytes(), "clam.arj")
    assert rules_of(report) == {"archive.unsupported"} and report.verdict.value == "suspicious"
    finding = report.findings[0]
    assert "ARJ" in finding.message and "ARJ" in finding.message_zh and "clam.arj" in finding.message_zh


def test_garbled_arj_opens_with_password_via_unar(scan, arj_files):
    _tool("unar")  # 7-Zip cannot decrypt ARJ; the next helper is tried
    report = scan(arj_files["locked"], "locked.arj", passwords=["secret"])
    member = node_named(report, "readme.txt")
    assert member.sha256 == sha(b"hello\n") and member.info["encrypted"]
    assert "archive.encrypted" in rules_of(report)


def test_garbled_arj_without_password_is_unopened(scan, arj_files):
    report = scan(arj_files["locked"], "locked.arj", passwords=["wrong"], limits=Limits(max_passwords=1))
    member = node_named(report, "readme.txt")
    assert not member.has_content and member.info["encrypted"]
    assert "archive.encrypted_unopened" in rules_of(report) and "file.corrupt" not in rules_of(report)


@pytest.mark.parametrize("which", ["clam", "lure"])
@pytest.mark.parametrize("without", ["", "7zz"], ids=["7zz", "unar"])
def test_truncated_arj_is_an_error(scan, clam_testfiles, arj_files, monkeypatch, which, without):
    monkeypatch.setenv("FILEWALL_DISABLE_TOOLS", without)
    data = (clam_testfiles / "clam.arj").read_bytes() if which == "clam" else arj_files["lure"]
    started = time.monotonic()
    report = scan(data[: len(data) // 2], "half.arj")
    assert report.verdict.value == "error", [(f.rule, f.params) for f in report.findings]
    assert time.monotonic() - started < 5


def test_accelerator_report_names_every_helper():
    found = _tools.available()
    assert set(found) == {"7zz", "unar", "libarchive"}
    assert all(value for value in found.values()), found  # all installed on this machine and CI
    assert {row[0] for row in _tools.FORMATS} >= {"7z", "RAR 4/5", "ARJ", "SZDD (MS-Compress)"}


# --- SZDD ------------------------------------------------------------------------------------


@pytest.fixture
def squeezed(tmp_path, pe_bytes):
    mscompress = _tool("mscompress")
    (tmp_path / "setup.exe").write_bytes(pe_bytes)
    (tmp_path / "readme.txt").write_bytes(b"hello, this is only text\n" * 40)
    subprocess.run([mscompress, "setup.exe", "readme.txt"], cwd=tmp_path, check=True, capture_output=True)
    return (tmp_path / "setup.exe_").read_bytes(), (tmp_path / "readme.txt_").read_bytes()


def test_clamav_szdd_yields_clam_exe(scan, clam_testfiles):
    report = scan((clam_testfiles / "clam.exe.szdd").read_bytes(), "clam.exe.szdd")
    child = report.tree.children[0]
    assert child.name == "clam.exe" and child.sha256 == CLAM_EXE_SHA256
    assert report.verdict.value == "malicious"


def test_mscompress_program_is_found(scan, squeezed, pe_bytes):
    report = scan(squeezed[0], "setup.exe_")
    assert report.tree.kind == "szdd"
    child = node_named(report, "setup.exe")
    assert child.kind == "pe" and child.sha256 == sha(pe_bytes)
    assert report.verdict.value == "malicious"


def test_mscompress_text_is_clean(scan, squeezed):
    report = scan(squeezed[1], "readme.tx_")
    assert report.tree.children[0].kind == "text"
    assert report.verdict.value == "clean", [f.rule for f in report.findings]


def test_restored_names():
    assert restored_name("SETUP.EX_", b"E") == "SETUP.EXE"
    assert restored_name("disk1/clam.ex_", b"e") == "clam.exe"
    assert restored_name("setup.exe_", b"\x00") == "setup.exe"
    assert restored_name("clam.exe.szdd", b"\x00") == "clam.exe"
    assert restored_name("blob", b"\x00") == "blob.unpacked"


def test_decoder_stops_at_declared_size_and_fails_on_short_input(squeezed, pe_bytes):
    data = squeezed[0]
    assert SzddReader(io.BytesIO(data), 100).read() == pe_bytes[:100]  # a lying size cannot run on
    with pytest.raises(ExtractError):
        SzddReader(io.BytesIO(data[: len(data) // 2]), len(pe_bytes)).read()


@pytest.mark.parametrize("which", ["clam", "setup"])
def test_truncated_szdd_is_an_error(scan, clam_testfiles, squeezed, which):
    data = (clam_testfiles / "clam.exe.szdd").read_bytes() if which == "clam" else squeezed[0]
    started = time.monotonic()
    report = scan(data[: len(data) // 2], "half.ex_")
    assert report.verdict.value == "error", [(f.rule, f.params) for f in report.findings]
    assert time.monotonic() - started < 5
