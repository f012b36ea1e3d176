"""7z: plain, AES, encrypted names, bombs, codecs py7zr lacks, damaged archives.

Fixtures are written with py7zr itself (and 7-Zip's ``7zz`` for a filter py7zr cannot
decode) around pip's real ``t64.exe`` launcher; ClamAV's ``clam.7z`` is read as shipped.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import time

import py7zr
import pytest
from conftest import CLAM_EXE_SHA256, node_named, rules_of

from filewall.limits import Limits

LURE = "订单详情.pdf.exe"
PASSWORD = "店铺-售后-7391"  # not in the common-password list, so only a given one opens it


def _seven(tmp_path, name, members, **options):
    path = tmp_path / name
    with py7zr.SevenZipFile(path, "w", **options) as archive:
        for member_name, data in members.items():
            archive.writestr(data, member_name)
    return path.read_bytes()


@pytest.fixture
def lure_members(pe_bytes):
    return {LURE: pe_bytes, "资料/说明.txt": "尺寸表见附件".encode()}


def test_clamav_7z_yields_clam_exe(scan, clam_testfiles):
    report = scan((clam_testfiles / "clam.7z").read_bytes(), "clam.7z")
    assert node_named(report, "clam.exe").sha256 == CLAM_EXE_SHA256
    assert report.verdict.value == "malicious"


def test_plain_7z_members_have_names_and_content(tmp_path, scan, lure_members, pe_bytes):
    report = scan(_seven(tmp_path, "a.7z", lure_members), "定制需求.7z")
    program = node_named(report, LURE)
    assert program.kind == "pe" and program.sha256 == hashlib.sha256(pe_bytes).hexdigest()
    assert program.info["stored_name"] == LURE and "encrypted" not in program.info
    note = node_named(report, "资料/说明.txt")
    assert note.kind == "text" and note.size == len("尺寸表见附件".encode())
    assert report.verdict.value == "malicious" and "type.executable" in rules_of(report)


def test_benign_7z_is_clean(tmp_path, scan):
    report = scan(_seven(tmp_path, "b.7z", {"尺码.txt": b"S M L XL\n"}), "尺码.7z")
    assert report.verdict.value == "clean", [f.rule for f in report.findings]
    assert node_named(report, "尺码.txt").size == 9


def test_aes_7z_opens_with_given_password(tmp_path, scan, lure_members, pe_bytes):
    data = _seven(tmp_path, "enc.7z", lure_members, password=PASSWORD)
    report = scan(data, "enc.7z", passwords=["wrong-one", PASSWORD])
    program = node_named(report, LURE)
    assert program.has_content and program.sha256 == hashlib.sha256(pe_bytes).hexdigest()
    assert program.info["encrypted"] is True and PASSWORD in program.info["password_source"]
    assert "archive.encrypted" in rules_of(report) and "archive.encrypted_unopened" not in rules_of(report)


def test_aes_7z_without_password_is_unopened_but_names_checked(tmp_path, scan, lure_members):
    data = _seven(tmp_path, "enc.7z", {"说明.txt": b"hello"}, password=PASSWORD)
    report = scan(data, "enc.7z")
    member = node_named(report, "说明.txt")
    assert not member.has_content and member.info["encrypted"] is True
    assert "archive.encrypted_unopened" in rules_of(report)
    assert report.verdict.value in ("suspicious", "malicious")


def test_header_encrypted_7z_hides_names_without_password(tmp_path, scan, lure_members):
    data = _seven(tmp_path, "he.7z", lure_members, password=PASSWORD, header_encryption=True)
    assert LURE.encode("utf-16-le") not in data  # the names really are hidden
    report = scan(data, "he.7z", passwords=["not-it"])
    assert "archive.names_hidden" in rules_of(report)
    assert report.tree.children == []
    assert report.verdict.value in ("suspicious", "malicious")


def test_header_encrypted_7z_with_password_scans_everything(tmp_path, scan, lure_members, pe_bytes):
    data = _seven(tmp_path, "he.7z", lure_members, password=PASSWORD, header_encryption=True)
    report = scan(data, "he.7z", passwords=[PASSWORD])
    assert {node.name for node in report.tree.children} == set(lure_members)
    assert node_named(report, LURE).sha256 == hashlib.sha256(pe_bytes).hexdigest()
    assert "archive.names_hidden" not in rules_of(report)
    assert report.verdict.value == "malicious"


def test_bomb_member_is_sampled_not_unpacked(tmp_path, scan):
    limits = Limits(max_file_size=1024 * 1024, bomb_sample_bytes=64 * 1024)
    data = _seven(tmp_path, "bomb.7z", {"zeros.bin": bytes(8 * 1024 * 1024), "after.txt": b"x"})
    report = scan(data, "bomb.7z", limits=limits)
    bomb = node_named(report, "zeros.bin")
    assert bomb.size == 64 * 1024
    assert "archive.decompression_bomb" in rules_of(report)


@pytest.mark.skipif(shutil.which("7zz") is None, reason="7-Zip (Debian 7zip) is not installed")
def test_codec_py7zr_lacks_goes_to_7zz(tmp_path, scan, pe_bytes, monkeypatch):
    (tmp_path / "l.exe").write_bytes(pe_bytes)
    subprocess.run(
        ["7zz", "a", "-mf=ARM64", "arm.7z", "l.exe"], cwd=tmp_path, check=True, capture_output=True
    )
    data = (tmp_path / "arm.7z").read_bytes()
    report = scan(data, "arm.7z")
    assert node_named(report, "l.exe").sha256 == hashlib.sha256(pe_bytes).hexdigest()
    monkeypatch.setenv("FILEWALL_DISABLE_TOOLS", "7zz")
    report = scan(data, "arm.7z")
    assert "archive.unsupported" in rules_of(report) and report.verdict.value == "suspicious"


def test_absolute_stored_name_is_reported_as_stored(tmp_path, scan, pe_bytes):
    source = tmp_path / "src" / "l.exe"
    source.parent.mkdir()
    source.write_bytes(pe_bytes)
    if shutil.which("7zz") is None:
        pytest.skip("7-Zip is needed to store an absolute path")
    subprocess.run(
        ["7zz", "a", "-spf", str(tmp_path / "abs.7z"), str(source)], check=True, capture_output=True
    )
    report = scan((tmp_path / "abs.7z").read_bytes(), "abs.7z")
    assert node_named(report, "l.exe").info["stored_name"] == str(source)
    assert "archive.absolute_path" in rules_of(report)


@pytest.mark.parametrize("password", [None, PASSWORD])
def test_truncated_7z_is_an_error_not_a_crash(tmp_path, scan, lure_members, password):
    data = _seven(tmp_path, "t.7z", {"a.txt": b"hello" * 1000}, password=password)
    started = time.monotonic()
    report = scan(data[: len(data) // 2], "t.7z", passwords=[PASSWORD])
    assert report.verdict.value == "error" and "file.corrupt" in rules_of(report)
    assert time.monotonic() - started < 5


def test_truncated_clam_7z_is_an_error(scan, clam_testfiles):
    data = (clam_testfiles / "clam.7z").read_bytes()
    report = scan(data[: len(data) // 2], "clam.7z")
    assert report.verdict.value == "error"
