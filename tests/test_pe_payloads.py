"""Programs inside programs (filewall/extract/pe_payloads.py): carried whole, AutoIt, InstallShield.

Real files only: ClamAV's test files (``clam-fsg.exe`` is a plain program with clam.exe
stored raw in a ``.clamav`` section; ``clam.ea05.exe``/``clam.ea06.exe`` are compiled AutoIt
scripts that FileInstall clam.exe; ``clam-upx.exe`` is clam.exe packed with UPX) and the
launchers pip and setuptools ship (``t64.exe``, ``cli-64.exe``) as hosts and payloads.
Nothing is executed.
"""

from __future__ import annotations

import hashlib
import time

import pytest
from conftest import CLAM_EXE_SHA256, node_named

from filewall.extract.pe_payloads import MAX_CARVED, embedded_size


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def embedded(report) -> list:
    return [node for node in report.tree.walk() if node.name.startswith("[embedded program @")]


def clam_nodes(report) -> list:
    return [node for node in report.tree.walk() if node.sha256 == CLAM_EXE_SHA256]


# --- programs carried whole --------------------------------------------------------------


def test_clam_exe_stored_in_a_section_is_carved(scan, clam_testfiles):
    report = scan((clam_testfiles / "clam-fsg.exe").read_bytes(), "clam-fsg.exe")
    [child] = embedded(report)
    assert child.name == "[embedded program @0x17e0]"
    assert child.sha256 == CLAM_EXE_SHA256
    assert (child.info["offset"], child.info["embedded_in"]) == (0x17E0, "section .clamav")
    assert report.verdict.value == "malicious"


def test_real_launchers_have_no_false_embedded_programs(scan, pe_bytes, pe_bytes_alt):
    for data, name in ((pe_bytes, "t64.exe"), (pe_bytes_alt, "cli-64.exe")):
        report = scan(data, name)
        assert embedded(report) == [], name
        assert report.tree.children == [], name


def test_a_program_hidden_in_the_overlay_is_carved_to_its_exact_size(scan, pe_bytes, pe_bytes_alt):
    # A dropper: a host program, then its own data, the payload program, more data.
    prefix = pe_bytes_alt + b"\x00CFG" + bytes(range(256)) * 4
    data = prefix + pe_bytes + b"trailing data " * 100
    report = scan(data, "invoice.exe")
    [child] = embedded(report)
    assert child.info["offset"] == len(prefix)
    assert child.info["embedded_in"] == "overlay"
    assert child.size == len(pe_bytes)
    assert child.sha256 == sha256(pe_bytes)


def test_size_comes_from_the_headers(pe_bytes, clam_testfiles):
    assert embedded_size(pe_bytes, 0, len(pe_bytes)) == len(pe_bytes)
    # Cut short: not a complete program.
    assert embedded_size(pe_bytes, 0, len(pe_bytes) - 1) is None
    # clam.exe declares 0x400 bytes of headers in a 544-byte file: cut to what is there.
    clam = (clam_testfiles / "clam.exe").read_bytes()
    assert embedded_size(clam, 0, len(clam)) == 544
    # Not a program at all.
    assert embedded_size(b"MZ" + bytes(200), 0, 202) is None


def test_a_program_the_overlay_extractor_hands_over_is_not_carved_again(scan, pe_bytes, pe_bytes_alt):
    report = scan(pe_bytes_alt + pe_bytes, "bundle.exe")
    assert [node.name for node in report.tree.children] == ["[appended program]"]
    assert report.tree.children[0].sha256 == sha256(pe_bytes)


def test_at_most_k_programs_are_carved(scan, pe_bytes, pe_bytes_alt):
    data = pe_bytes_alt + b"".join(b"\x00" * 64 + pe_bytes for _ in range(MAX_CARVED + 3))
    report = scan(data, "many.exe")
    assert len(embedded(report)) == MAX_CARVED
    assert {node.sha256 for node in embedded(report)} == {sha256(pe_bytes)}


def test_a_flood_of_mz_markers_costs_little_and_yields_nothing(scan, pe_bytes):
    data = pe_bytes + b"MZ" * (4 * 1024 * 1024)
    started = time.monotonic()
    report = scan(data, "flood.exe")
    assert time.monotonic() - started < 20
    assert embedded(report) == []


# --- AutoIt --------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "version"), [("clam.ea05.exe", "EA05"), ("clam.ea06.exe", "EA06")])
def test_autoit_script_and_fileinstall_files_come_out(scan, clam_testfiles, name, version):
    report = scan((clam_testfiles / name).read_bytes(), name)
    root = report.tree
    assert root.info["autoit"] == {"version": version, "files": 2}
    script = node_named(report, "script.au3")
    assert script.depth == 1 and script.info["embedded_as"] == "AutoIt script"
    [clam] = clam_nodes(report)
    assert clam.path == f"{name}/clam.exe"
    assert clam.info["source_path"] == "C:\\clam.exe"
    assert clam.info["embedded_as"] == "AutoIt FileInstall file"
    # The author's source path is not an archive path: no "absolute path" finding.
    assert "archive.absolute_path" not in {fact.rule for fact in clam.facts}


def test_autoit_text_is_decompiled(scan, clam_testfiles):
    report = scan((clam_testfiles / "clam.ea05.exe").read_bytes(), "clam.ea05.exe")
    assert node_named(report, "script.au3").size == 11250


def test_programs_without_autoit_are_left_alone(scan, pe_bytes):
    report = scan(pe_bytes, "t64.exe")
    assert "autoit" not in report.tree.info


# --- InstallShield -------------------------------------------------------------------------


def test_installshield_overlay_files_come_out(scan, clam_testfiles):
    report = scan((clam_testfiles / "clam_IScab_ext.exe").read_bytes(), "clam_IScab_ext.exe")
    root = report.tree
    assert root.info["installshield"] == {"files": 10, "complete": True}
    names = [node.name for node in root.children]
    assert names[:2] == ["Disk1/clam.exe", "Disk1/data1.cab"] and "Disk1/setup.exe" in names
    [clam] = clam_nodes(report)
    assert clam.path == "clam_IScab_ext.exe/Disk1/clam.exe"
    assert clam.info["embedded_as"] == "InstallShield file"
    # The setup.exe record is handed over once, not carved a second time.
    assert embedded(report) == []
    assert node_named(report, "IKernel.dll").depth == 2  # engine32.cab is unpacked in turn


def test_a_program_with_text_after_it_is_not_an_installshield_setup(scan, pe_bytes):
    report = scan(pe_bytes + b"name\x00path\x001.0\x00999999\x00short", "t64.exe")
    assert "installshield" not in report.tree.info


def test_overlay_and_carving_share_one_header_walk(pe_bytes, pe_bytes_alt):
    from filewall.extract import _pe_layout
    from filewall.extract.overlay import pe_image_end

    for program in (pe_bytes, pe_bytes_alt):
        headers = _pe_layout.read_headers(program)
        assert headers is not None and headers.machine == 0x8664 and 1 <= headers.sections <= 96
        assert pe_image_end(program) == embedded_size(program, 0, len(program)) == len(program)
        # The same program further into a file: offsets are relative to its own start.
        padded = b"\x00" * 0x200 + program
        assert _pe_layout.read_headers(padded, 0x200).e_lfanew == headers.e_lfanew
        assert embedded_size(padded, 0x200, len(padded)) == len(program)
    assert _pe_layout.read_headers(b"MZ" + bytes(100)) is None
