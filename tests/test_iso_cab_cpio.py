"""Disc images (ISO 9660, Joliet, Rock Ridge, UDF), CAB and cpio.

Fixtures: images built with pycdlib (and Debian's ``mkudffs`` for a UDF-only image),
cabinets built with Debian's ``gcab``, cpio archives built with ``bsdtar`` (libarchive),
ClamAV's own ``clam.cab`` and four ``clam.*.cpio`` files. pip's ``t64.exe`` is the program.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import time

import pycdlib
import pytest
from conftest import CLAM_EXE_SHA256, node_named, rules_of

from filewall.extract import cpio as cpio_module
from filewall.identify import identify
from filewall.limits import Limits

LURE = "订单详情.pdf.exe"
CPIO_FILES = ["clam.bin-be.cpio", "clam.bin-le.cpio", "clam.newc.cpio", "clam.odc.cpio"]
#: Paths through the code: with every helper, and as on a computer without libarchive/7zz.
WITHOUT = {"all helpers": "", "no libarchive": "libarchive", "no helpers": "libarchive,7zz,unar"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_iso(tmp_path, members: dict[str, bytes], **new) -> bytes:
    """An image holding ``members`` (Joliet/UDF/Rock Ridge names as requested in ``new``)."""
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, **new)
    folders = set()
    for index, (name, data) in enumerate(members.items()):
        parent = os.path.dirname(name)
        if parent and parent not in folders:
            folders.add(parent)
            iso.add_directory(f"/D{len(folders)}", **_names(new, "/" + parent, f"d{len(folders)}"))
        iso_dir = f"/D{len(folders)}" if parent else ""
        names = _names(new, "/" + name, os.path.basename(name))
        iso.add_fp(io.BytesIO(data), len(data), f"{iso_dir}/F{index}.BIN;1", **names)
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    return out.getvalue()


def _names(new: dict, long_path: str, rr_name: str) -> dict:
    names = {}
    if new.get("joliet"):
        names["joliet_path"] = long_path
    if new.get("udf"):
        names["udf_path"] = long_path
    if new.get("rock_ridge"):
        names["rr_name"] = rr_name
    return names


def udf_only(bridge: bytes) -> bytes:
    """Turn a UDF bridge image into a UDF-only one: drop the ISO 9660 descriptors and move
    the UDF recognition sequence (BEA01, NSR02, TEA01) to sector 16, where a UDF-only disc
    has it. The UDF structures themselves (anchor at sector 256) are untouched."""
    data = bytearray(bridge)
    sector = 2048
    found = [bytes(data[n * sector : (n + 1) * sector]) for n in range(16, 32)]
    keep = [block for block in found if block[1:6] in (b"BEA01", b"NSR02", b"NSR03", b"TEA01")]
    data[16 * sector : 32 * sector] = bytes(16 * sector)
    for index, block in enumerate(keep):
        data[(16 + index) * sector : (17 + index) * sector] = block
    return bytes(data)


# --- ISO -------------------------------------------------------------------------------------


def test_joliet_names_are_shown_not_8_3_names(tmp_path, scan, pe_bytes):
    report = scan(build_iso(tmp_path, {LURE: pe_bytes}, joliet=3), "资料.iso")
    program = node_named(report, LURE)
    assert program.kind == "pe" and program.sha256 == sha(pe_bytes)
    assert program.info["names"] == "Joliet" and program.info["stored_name"] == LURE
    assert report.verdict.value == "malicious" and "type.executable" in rules_of(report)


def test_udf_bridge_names_and_folders(tmp_path, scan, pe_bytes):
    members = {LURE: pe_bytes, "资料/说明.txt": "尺码表".encode()}
    report = scan(build_iso(tmp_path, members, joliet=3, udf="2.60", rock_ridge="1.09"), "a.iso")
    assert node_named(report, "资料/说明.txt").sha256 == sha("尺码表".encode())
    assert node_named(report, LURE).info["names"] == "UDF"


def test_rock_ridge_and_plain_iso_names(tmp_path, scan, pe_bytes):
    report = scan(build_iso(tmp_path, {"setup.exe": pe_bytes}, rock_ridge="1.09"), "rr.iso")
    assert node_named(report, "setup.exe").info["names"] == "Rock Ridge"
    report = scan(build_iso(tmp_path, {"x": pe_bytes}), "plain.iso")
    program = report.tree.children[0]
    assert program.name == "F0.BIN" and program.info["stored_name"] == "F0.BIN;1"
    assert program.sha256 == sha(pe_bytes)


def test_rock_ridge_symlink_is_reported_not_followed(scan):
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, rock_ridge="1.09")
    iso.add_fp(io.BytesIO(b"hi"), 2, "/A.TXT;1", rr_name="a.txt")
    iso.add_symlink(symlink_path="/LINK.;1", rr_symlink_name="link", rr_path="../../Windows/System32")
    out = io.BytesIO()
    iso.write_fp(out)
    report = scan(out.getvalue(), "links.iso")
    link = node_named(report, "link")
    assert link.info["link_target"] == "../../Windows/System32" and not link.has_content
    assert {"archive.link", "archive.path_traversal"} <= rules_of(report)


def test_benign_iso_has_only_the_disk_image_finding(tmp_path, scan):
    report = scan(build_iso(tmp_path, {"说明.txt": b"hello\n"}, joliet=3), "说明.iso")
    assert node_named(report, "说明.txt").kind == "text"
    assert rules_of(report) == {"type.disk_image"}  # a disc image is itself worth a look


@pytest.mark.skipif(shutil.which("mkudffs") is None, reason="mkudffs (Debian udftools) is not installed")
def test_udf_only_image_made_by_mkudffs_is_identified(tmp_path):
    image = tmp_path / "udf.img"
    subprocess.run(
        ["mkudffs", "--media-type=hd", "--blocksize=2048", str(image), "300"], check=True, capture_output=True
    )
    head = image.read_bytes()[:0x8010]
    assert head[0x8001:0x8006] == b"BEA01" and b"CD001" not in head
    assert identify(head).kind == "iso"


@pytest.mark.parametrize("disabled", ["", "7zz"])
def test_udf_only_image_needs_7zz(tmp_path, scan, pe_bytes, monkeypatch, disabled):
    bridge = build_iso(tmp_path, {LURE: pe_bytes}, joliet=3, udf="2.60")
    monkeypatch.setenv("FILEWALL_DISABLE_TOOLS", disabled)
    report = scan(udf_only(bridge), "disc.img")
    assert report.tree.kind == "iso"
    if disabled or shutil.which("7zz") is None:
        assert "archive.unsupported" in rules_of(report) and report.verdict.value != "clean"
    else:
        assert node_named(report, LURE).sha256 == sha(pe_bytes)


def test_truncated_iso_is_reported_damaged(tmp_path, scan, pe_bytes):
    data = build_iso(tmp_path, {LURE: pe_bytes}, joliet=3, udf="2.60")
    started = time.monotonic()
    report = scan(data[: len(data) // 2], "half.iso")
    # file.corrupt (40) plus the policy's type.disk_image (40) add up past "malicious".
    assert "file.corrupt" in rules_of(report) and report.verdict.value in ("error", "malicious")
    assert time.monotonic() - started < 5


# --- CAB -------------------------------------------------------------------------------------


@pytest.fixture
def lure_cab(tmp_path, pe_bytes):
    if shutil.which("gcab") is None:
        pytest.fail("gcab (Debian gcab) is missing: it is listed in scripts/system-packages.txt")
    folder = tmp_path / "cab"
    folder.mkdir()
    (folder / LURE).write_bytes(pe_bytes)
    (folder / "readme.txt").write_bytes(b"hello\n")
    subprocess.run(["gcab", "-c", "-z", "lure.cab", LURE, "readme.txt"], cwd=folder, check=True)
    subprocess.run(["gcab", "-c", "plain.cab", "readme.txt"], cwd=folder, check=True)
    return (folder / "lure.cab").read_bytes(), (folder / "plain.cab").read_bytes()


def test_clamav_cab_yields_clam_exe(scan, clam_testfiles):
    report = scan((clam_testfiles / "clam.cab").read_bytes(), "clam.cab")
    assert node_named(report, "clam.exe").sha256 == CLAM_EXE_SHA256


@pytest.mark.parametrize("path", ["cabarchive", "libarchive", "7zz"])
def test_mszip_cab_members(scan, lure_cab, pe_bytes, monkeypatch, path):
    limits = Limits() if path == "cabarchive" else Limits(spool_threshold=1024)  # too big for cabarchive
    monkeypatch.setenv("FILEWALL_DISABLE_TOOLS", "libarchive" if path == "7zz" else "")
    report = scan(lure_cab[0], "lure.cab", limits=limits)
    assert node_named(report, LURE).sha256 == sha(pe_bytes)
    assert node_named(report, "readme.txt").sha256 == sha(b"hello\n")
    assert report.verdict.value == "malicious"


def test_cab_without_helpers_lists_names_and_is_not_clean(scan, lure_cab, monkeypatch):
    monkeypatch.setenv("FILEWALL_DISABLE_TOOLS", "libarchive,7zz")
    report = scan(lure_cab[0], "lure.cab", limits=Limits(spool_threshold=1024))
    assert not node_named(report, LURE).has_content
    assert "archive.unsupported" in rules_of(report) and report.verdict.value != "clean"


def test_benign_cab_is_clean(scan, lure_cab):
    report = scan(lure_cab[1], "plain.cab")
    assert report.verdict.value == "clean" and node_named(report, "readme.txt").size == 6


@pytest.mark.parametrize("which", ["lure", "clam"])
def test_truncated_cab_is_an_error(scan, lure_cab, clam_testfiles, which):
    data = lure_cab[0] if which == "lure" else (clam_testfiles / "clam.cab").read_bytes()
    report = scan(data[: len(data) // 2], "half.cab")
    assert report.verdict.value == "error"


# --- cpio ------------------------------------------------------------------------------------


@pytest.mark.parametrize("without", list(WITHOUT.values()), ids=list(WITHOUT))
@pytest.mark.parametrize("name", CPIO_FILES)
def test_clamav_cpio_variants_both_paths(scan, clam_testfiles, monkeypatch, name, without):
    monkeypatch.setenv("FILEWALL_DISABLE_TOOLS", without)
    report = scan((clam_testfiles / name).read_bytes(), name)
    assert node_named(report, "clam.exe").sha256 == CLAM_EXE_SHA256


@pytest.mark.parametrize("name", CPIO_FILES)
def test_builtin_reader_matches_the_format(clam_testfiles, name):
    data = (clam_testfiles / name).read_bytes()
    entries = list(cpio_module.iter_entries(io.BytesIO(data), len(data)))
    assert [entry.name for entry in entries] == ["clam.exe"]
    exe = entries[0]
    assert sha(data[exe.offset : exe.offset + exe.size]) == CLAM_EXE_SHA256


@pytest.fixture
def newc_with_link(tmp_path, pe_bytes):
    if shutil.which("bsdtar") is None:
        pytest.skip("bsdtar (Debian libarchive-tools) is not installed")
    folder = tmp_path / "tree"
    folder.mkdir()
    (folder / LURE).write_bytes(pe_bytes)
    os.symlink("../../Windows/System32", folder / "link")
    subprocess.run(["bsdtar", "--format", "newc", "-cf", "../x.cpio", LURE, "link"], cwd=folder, check=True)
    return (tmp_path / "x.cpio").read_bytes()


@pytest.mark.parametrize("without", ["", "libarchive"], ids=["libarchive", "builtin"])
def test_newc_names_links_and_content(scan, newc_with_link, pe_bytes, monkeypatch, without):
    monkeypatch.setenv("FILEWALL_DISABLE_TOOLS", without)
    report = scan(newc_with_link, "x.cpio")
    assert node_named(report, LURE).sha256 == sha(pe_bytes)
    link = node_named(report, "link")
    assert link.info["link_target"] == "../../Windows/System32" and not link.has_content
    assert "archive.link" in rules_of(report)


@pytest.mark.parametrize("without", ["", "libarchive"], ids=["libarchive", "builtin"])
@pytest.mark.parametrize("name", CPIO_FILES)
def test_truncated_cpio_is_an_error(scan, clam_testfiles, monkeypatch, name, without):
    monkeypatch.setenv("FILEWALL_DISABLE_TOOLS", without)
    data = (clam_testfiles / name).read_bytes()
    started = time.monotonic()
    report = scan(data[: len(data) // 2], name)
    assert report.verdict.value == "error", [(f.rule, f.params) for f in report.findings]
    assert time.monotonic() - started < 5


def test_builtin_reader_refuses_absurd_name_sizes():
    header = b"070701" + b"00000000" * 11 + b"7FFFFFFF" + b"00000000"
    with pytest.raises(Exception, match="name"):
        list(cpio_module.iter_entries(io.BytesIO(header + bytes(64)), len(header) + 64))
