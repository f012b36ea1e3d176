"""7z: plain, AES, encrypted names, bombs, codecs py7zr lacks, damaged archives.

Fixtures are written with py7zr itself (and 7-Zip's ``7zz`` for a filter py7zr cannot
decode) around pip's real ``t64.exe`` launcher; ClamAV's ``clam.7z`` is read as shipped.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import threading
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


# --- passwords never in a helper's argv ----------------------------------------------------
# Every user can read a process's arguments (ps, /proc/PID/cmdline): 7-Zip gets the password
# on stdin. Checked on real argv two ways: a wrapper named 7zz, first on PATH, records the
# arguments it was started with before exec'ing the real 7-Zip, and a thread reads every
# process's /proc/PID/cmdline while the scan runs.

ARGV_PASSWORD = "argv-secret-5517"  # ASCII so 7-Zip's ZIP encryption takes it too
REAL_7ZZ = shutil.which("7zz") or "7zz"  # fixtures are made by the real one, outside the record
needs_7zz = pytest.mark.skipif(shutil.which("7zz") is None, reason="7-Zip (Debian 7zip) is not installed")


@pytest.fixture
def recorded_7zz(tmp_path, monkeypatch):
    """Put a recording 7zz first on PATH; yields a function returning each run's argv."""
    from filewall.extract import _tools

    real = shutil.which("7zz")
    folder = tmp_path / "bin"
    folder.mkdir()
    log = tmp_path / "argv.log"
    wrapper = folder / "7zz"
    wrapper.write_text(
        f"#!/bin/sh\nprintf '%s\\0' \"$@\" >> '{log}'\necho >> '{log}'\nexec '{real}' \"$@\"\n"
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ.get('PATH', '')}")
    _tools._which.cache_clear()
    assert _tools.sevenzip() == str(wrapper)

    def runs() -> list[list[str]]:
        if not log.exists():
            return []
        return [line.split("\0")[:-1] for line in log.read_text("utf-8").splitlines() if line]

    yield runs
    monkeypatch.undo()
    _tools._which.cache_clear()


class _CmdlineWatch:
    """Reads every process's /proc/PID/cmdline until stopped; keeps those with ``needle``."""

    def __init__(self, needle: str):
        self.needle = needle.encode("utf-8")
        self.hits: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
                try:
                    with open(cmdline, "rb") as stream:
                        argv = stream.read()
                except OSError:
                    continue
                if self.needle in argv:
                    self.hits.append(argv)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _arm64_7z(tmp_path, pe_bytes, *switches: str) -> bytes:
    """An AES 7z with the ARM64 filter (py7zr lacks it), so 7-Zip itself unpacks it."""
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "l.exe").write_bytes(pe_bytes)
    subprocess.run(
        [REAL_7ZZ, "a", "-mf=ARM64", f"-p{ARGV_PASSWORD}", *switches, "../arm.7z", "l.exe"],
        cwd=tmp_path / "src",
        check=True,
        capture_output=True,
    )
    return (tmp_path / "arm.7z").read_bytes()


def _assert_no_password_in(runs: list[list[str]], watch: _CmdlineWatch) -> None:
    assert runs, "7-Zip was not run at all: the test would prove nothing"
    for argv in runs:
        assert not any(ARGV_PASSWORD in arg for arg in argv), argv
    assert watch.hits == []


@needs_7zz
@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
@pytest.mark.parametrize("encrypted_names", [True, False])
def test_7zz_gets_the_password_on_stdin_not_argv(tmp_path, scan, pe_bytes, recorded_7zz, encrypted_names):
    data = _arm64_7z(tmp_path, pe_bytes, *(["-mhe=on"] if encrypted_names else []))
    with _CmdlineWatch(ARGV_PASSWORD) as watch:
        report = scan(data, "arm.7z", passwords=["wrong-one", ARGV_PASSWORD])
    member = node_named(report, "l.exe")
    assert member.sha256 == hashlib.sha256(pe_bytes).hexdigest() and member.info["encrypted"]
    assert "archive.encrypted" in rules_of(report)
    runs = recorded_7zz()
    _assert_no_password_in(runs, watch)
    # A listing (with encrypted names) and an extraction, each asked through stdin.
    # The extraction that opened it had no password switch at all: 7-Zip read it from stdin.
    assert any(argv[0] == "x" and not any(arg.startswith("-p") for arg in argv) for argv in runs)
    if encrypted_names:  # the names were listed with the password, too
        assert any(argv[0] == "l" and not any(arg.startswith("-p") for arg in argv) for argv in runs)


@needs_7zz
def test_7zz_wrong_password_on_stdin_does_not_hang(tmp_path, scan, pe_bytes, recorded_7zz):
    data = _arm64_7z(tmp_path, pe_bytes)
    started = time.monotonic()
    report = scan(data, "arm.7z", passwords=["not-it"], limits=Limits(max_passwords=1))
    assert time.monotonic() - started < 20
    member = node_named(report, "l.exe")
    assert not member.has_content and "archive.encrypted_unopened" in rules_of(report)
    assert "file.corrupt" not in rules_of(report)
    assert any(argv[0] == "x" and not any(arg.startswith("-p") for arg in argv) for argv in recorded_7zz())


@needs_7zz
@pytest.mark.parametrize("encrypted_names", [True, False])
def test_7zz_helpers_right_and_wrong_password_on_stdin(tmp_path, pe_bytes, encrypted_names):
    """Listing and extraction straight through the helpers: no hang, right one opens."""
    from filewall.extract import _tools

    _arm64_7z(tmp_path, pe_bytes, *(["-mhe=on"] if encrypted_names else []))
    archive, real = str(tmp_path / "arm.7z"), REAL_7ZZ
    for password in (None, "not-it"):
        started = time.monotonic()
        listing = _tools.list_sevenzip(real, archive, password, timeout=30)
        assert listing.needs_password == encrypted_names
        out = _tools.new_folder(str(tmp_path), "x-")
        budget = {"max_bytes": 10**8, "max_files": 100, "deadline": time.monotonic() + 30}
        assert not _tools.extract_sevenzip(real, archive, out, password, **budget).ok
        assert time.monotonic() - started < 20
    listing = _tools.list_sevenzip(real, archive, ARGV_PASSWORD, timeout=30)
    assert [entry.name for entry in listing.entries] == ["l.exe"] and listing.entries[0].encrypted
    out = _tools.new_folder(str(tmp_path), "x-")
    budget = {"max_bytes": 10**8, "max_files": 100, "deadline": time.monotonic() + 30}
    assert _tools.extract_sevenzip(real, archive, out, ARGV_PASSWORD, **budget).ok
    assert (tmp_path / out / "l.exe").read_bytes() == pe_bytes


@needs_7zz
@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_zip_method_python_lacks_gets_the_password_on_stdin(tmp_path, scan, pe_bytes, recorded_7zz):
    """A PPMd ZIP member (``zipfile`` cannot read PPMd) is unpacked by 7-Zip, password on stdin."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "l.exe").write_bytes(pe_bytes)
    subprocess.run(
        [REAL_7ZZ, "a", "-tzip", "-mm=PPMd", "-mem=ZipCrypto", f"-p{ARGV_PASSWORD}", "../p.zip", "l.exe"],
        cwd=tmp_path / "src",
        check=True,
        capture_output=True,
    )
    data = (tmp_path / "p.zip").read_bytes()
    with _CmdlineWatch(ARGV_PASSWORD) as watch:
        report = scan(data, "p.zip", passwords=["wrong-one", ARGV_PASSWORD])
    assert node_named(report, "l.exe").sha256 == hashlib.sha256(pe_bytes).hexdigest()
    _assert_no_password_in(recorded_7zz(), watch)


@needs_7zz
@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_the_cmdline_watch_does_see_a_password_in_argv(tmp_path, pe_bytes):
    """Control: the watch is not blind (the old way, ``-pPASSWORD``, is caught)."""
    _arm64_7z(tmp_path, pe_bytes)
    with _CmdlineWatch(ARGV_PASSWORD) as watch:
        for _ in range(3):
            subprocess.run(
                [REAL_7ZZ, "t", f"-p{ARGV_PASSWORD}", str(tmp_path / "arm.7z")], capture_output=True
            )
    assert watch.hits


def test_a_password_that_is_not_one_line_is_refused_not_put_in_argv():
    from filewall.extract import _tools

    assert _tools.sevenzip_password(None) == (["-p"], None)
    assert _tools.sevenzip_password("") == (["-p"], None)
    assert _tools.sevenzip_password("密码 8888") == ([], "密码 8888\n".encode())
    for bad in ("two\nlines", "cr\r", "nul\0", "x" * 2000):
        with pytest.raises(_tools.ToolError):
            _tools.sevenzip_password(bad)
