"""Programs: the PE analyzer on real launchers and ClamAV's packed samples, and the ELF /
Mach-O header readers on binaries from this machine and ones linked here by LLVM.

Fixtures are real parts: pip's and setuptools' launchers, Debian's ``clamav-testfiles``
(packed copies of the harmless ``clam.exe``), a launcher signed here with a throw-away
certificate by ``osslsigncode``, Mach-O files assembled and linked by ``llvm-mc`` and
``ld64.lld``. Nothing is ever run.
"""

from __future__ import annotations

import glob
import importlib.util
import io
import os
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

import numpy
import pefile
import pytest
from conftest import rules_of

from filewall.analyze.elf_macho import parse_elf
from filewall.analyze.pe import PADDING_MIN, SAMPLE_BYTES, measure, suspicious_imports

MiB = 1024 * 1024


def pe_info(report) -> dict:
    return report.tree.info["pe"]


def launcher(name: str) -> bytes:
    spec = importlib.util.find_spec("pip")
    return Path(next(iter(spec.submodule_search_locations)), "_vendor", "distlib", name).read_bytes()


def tool(*names: str) -> str:
    """A Debian tool the tests need (listed in scripts/test-packages.txt)."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(f"missing test tool {names[0]}: run scripts/test (it installs scripts/test-packages.txt)")


# -- real launchers -----------------------------------------------------------------------------------


def test_64_bit_console_launcher(scan, pe_bytes):
    report = scan(pe_bytes, "t64.exe")
    info = pe_info(report)
    assert (info["machine"], info["bits"], info["kind"], info["subsystem"]) == (
        "x64",
        64,
        "exe",
        "windows-console",
    )
    assert info["is_dotnet"] is False and info["signed"] is False and info["packer"] == []
    assert info["overlay_offset"] is None and info["overlay_size"] == 0
    assert info["imphash"] == pefile.PE(data=pe_bytes).get_imphash()
    assert info["pdb"].endswith("t64.pdb")
    assert (
        info["version"]["OriginalFilename"] == "t64.exe"
        and info["version"]["ProductName"] == "Simple Launcher"
    )
    assert [section["name"] for section in info["sections"]][:3] == [".text", ".rdata", ".data"]
    assert "kernel32.dll" in info["dlls"]
    rules = rules_of(report)
    assert "pe.unsigned" in rules and "type.executable" in rules
    assert not rules & {
        "pe.packed",
        "pe.high_entropy",
        "pe.suspicious_imports",
        "pe.overlay",
        "pe.corrupt",
        "pe.original_name",
        "archive.padded_member",
    }


def test_32_bit_gui_launcher(scan):
    report = scan(launcher("w32.exe"), "w32.exe")
    info = pe_info(report)
    assert (info["machine"], info["bits"], info["subsystem"]) == ("x86", 32, "windows-gui")
    assert not rules_of(report) & {"pe.packed", "pe.high_entropy", "pe.suspicious_imports", "pe.corrupt"}


def test_setuptools_launcher_without_version_info(scan, pe_bytes_alt):
    report = scan(pe_bytes_alt, "cli-64.exe")
    info = pe_info(report)
    assert info["version"] == {} and info["pdb"] is None and info["machine"] == "x64"
    assert not rules_of(report) & {"pe.packed", "pe.suspicious_imports", "pe.original_name"}


def test_renamed_program_reports_its_original_name(scan, pe_bytes):
    report = scan(pe_bytes, "报价单.exe")
    finding = next(item for item in report.findings if item.rule == "pe.original_name")
    assert finding.params["original"] == "t64.exe" and "报价单.exe" in finding.message_zh
    assert finding.severity.value == "info"


def test_dll_and_dotnet_flags_are_read_from_the_header(scan, pe_bytes):
    pe = pefile.PE(data=pe_bytes)
    pe.FILE_HEADER.Characteristics |= 0x2000  # IMAGE_FILE_DLL
    clr = pe.OPTIONAL_HEADER.DATA_DIRECTORY[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_COM_DESCRIPTOR"]]
    clr.VirtualAddress, clr.Size = pe.sections[1].VirtualAddress, 0x48
    info = pe_info(scan(pe.write(), "library.dll"))
    assert info["kind"] == "dll" and info["is_dll"] is True and info["is_dotnet"] is True


# -- packers (ClamAV's packed copies of clam.exe) ----------------------------------------------------------

PACKED = {
    "clam-upx.exe": "UPX",
    "clam-aspack.exe": "ASPack",
    "clam-mew.exe": "MEW",
    "clam-petite.exe": "Petite",
    "clam-pespin.exe": "PESpin",
    "clam-wwpack.exe": "WWPack32",
    "clam-yc.exe": "yC (yoda's Crypter)",
    "clam-upack.exe": "Upack",
    "clam.ea06.exe": "UPX",  # AutoIt's compiled-script stub is UPX-packed
}


@pytest.mark.parametrize("file_name, packer", sorted(PACKED.items()))
def test_clamav_packed_samples(file_name, packer, scan, clam_testfiles):
    report = scan((clam_testfiles / file_name).read_bytes(), file_name)
    assert packer in pe_info(report)["packer"]
    finding = next(item for item in report.findings if item.rule == "pe.packed")
    assert packer in finding.params["packer"] and packer in finding.message_zh
    # A known packer is the reason; "high entropy" would only repeat it.
    assert "pe.high_entropy" not in rules_of(report)


def test_clamav_fsg_sample_is_not_actually_packed(scan, clam_testfiles):
    """Debian's clam-fsg.exe is a plain host program carrying clam.exe unpacked in a
    ``.clamav`` section (no FSG stub at the entry point), so no packer is claimed."""
    data = (clam_testfiles / "clam-fsg.exe").read_bytes()
    host = pefile.PE(data=data)
    section = next(s for s in host.sections if s.Name.rstrip(b"\0") == b".clamav")
    assert b"MZ" in section.get_data() and b"[CLAMAV]" in section.get_data()
    report = scan(data, "clam-fsg.exe")
    assert pe_info(report)["packer"] == [] and "pe.packed" not in rules_of(report)


def test_plain_clam_exe_is_not_packed(scan, clam_testfiles):
    report = scan((clam_testfiles / "clam.exe").read_bytes(), "clam.exe")
    assert pe_info(report)["packer"] == []


def test_unknown_packer_shows_as_high_entropy_code(scan, pe_bytes):
    pe = pefile.PE(data=pe_bytes)
    text = pe.sections[0]
    scrambled = bytearray(pe_bytes)
    start, size = text.PointerToRawData, text.SizeOfRawData
    scrambled[start : start + size] = os.urandom(size)  # code replaced by random (encrypted-looking) bytes
    report = scan(bytes(scrambled), "scrambled.exe")
    finding = next(item for item in report.findings if item.rule == "pe.high_entropy")
    assert finding.params["section"] == ".text" and finding.params["entropy"] > 7.9


# -- imports -------------------------------------------------------------------------------------------------


def test_suspicious_imports_in_a_real_installer(scan, clam_testfiles):
    report = scan((clam_testfiles / "clam_ISmsi_ext.exe").read_bytes(), "clam_ISmsi_ext.exe")
    finding = next(item for item in report.findings if item.rule == "pe.suspicious_imports")
    assert {"WriteProcessMemory", "SetThreadContext"} <= set(finding.params["names"])
    assert "writes code into other programs" in finding.message and "注入" in finding.message_zh


def test_suspicious_import_table_groups_and_thresholds():
    found = suspicious_imports(["URLDownloadToFileW", "ShellExecuteW", "CreateFileW", "GetAsyncKeyState"])
    assert found == {
        "download": ["URLDownloadToFileW"],
        "run": ["ShellExecuteW"],
        "keylog": ["GetAsyncKeyState"],
    }
    assert suspicious_imports(["CreateProcessW", "GetKeyState"]) == {}


# -- overlays, padding, signatures -----------------------------------------------------------------------------


def test_overlay_offset_and_size_for_the_overlay_extractor(scan, pe_bytes):
    appended = io.BytesIO()
    with zipfile.ZipFile(appended, "w") as archive:
        archive.writestr("readme.txt", "hello")
    report = scan(pe_bytes + appended.getvalue(), "setup.exe")
    info = pe_info(report)
    assert info["overlay_offset"] == len(pe_bytes) and info["overlay_size"] == len(appended.getvalue())
    finding = next(item for item in report.findings if item.rule == "pe.overlay")
    assert finding.params["size"] == len(appended.getvalue())


def test_nsis_installer_overlay(scan, clam_testfiles):
    data = (clam_testfiles / "clam-nsis.exe").read_bytes()
    info = pe_info(scan(data, "clam-nsis.exe"))
    assert info["overlay_offset"] == pefile.PE(data=data).get_overlay_data_start_offset()
    assert info["overlay_offset"] + info["overlay_size"] == len(data)


@pytest.mark.parametrize("filler", [b"\x00", b"\xff"])
def test_program_padded_with_50_mb_of_one_byte(filler, scan, pe_bytes):
    padded = pe_bytes + filler * (50 * MiB)
    started = time.perf_counter()
    report = scan(padded, "WPS_Setup.exe")
    elapsed = time.perf_counter() - started
    finding = next(item for item in report.findings if item.rule == "archive.padded_member")
    assert finding.params["padding"] >= 50 * MiB
    info = pe_info(report)
    assert info["overlay_offset"] == len(pe_bytes) and info["overlay_size"] == 50 * MiB
    assert "pe.overlay" not in rules_of(report)  # the overlay is nothing but the padding
    assert report.verdict.value == "malicious"
    assert elapsed < 20, elapsed


def test_padding_followed_by_a_small_trailer_is_still_padding(scan, pe_bytes):
    report = scan(pe_bytes + b"\x00" * (8 * MiB) + b"TRAILER!" * 8, "installer.exe")
    assert (
        next(item for item in report.findings if item.rule == "archive.padded_member").params["padding"]
        >= 8 * MiB
    )


def test_small_zero_tail_is_not_padding(scan, pe_bytes):
    assert "archive.padded_member" not in rules_of(scan(pe_bytes + b"\x00" * 4096, "t64.exe"))


@pytest.fixture(scope="module")
def signed_launcher(tmp_path_factory) -> bytes:
    """t64.exe signed here with a throw-away self-signed certificate (Authenticode)."""
    folder = tmp_path_factory.mktemp("sign")
    openssl, osslsigncode = tool("openssl"), tool("osslsigncode")
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=filewall test",
            "-keyout",
            str(folder / "key.pem"),
            "-out",
            str(folder / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    (folder / "in.exe").write_bytes(launcher("t64.exe"))
    subprocess.run(
        [
            osslsigncode,
            "sign",
            "-certs",
            str(folder / "cert.pem"),
            "-key",
            str(folder / "key.pem"),
            "-in",
            str(folder / "in.exe"),
            "-out",
            str(folder / "out.exe"),
        ],
        check=True,
        capture_output=True,
    )
    return (folder / "out.exe").read_bytes()


def test_signed_program(scan, signed_launcher):
    report = scan(signed_launcher, "t64.exe")
    info = pe_info(report)
    assert info["signed"] is True
    assert "pe.signed" in rules_of(report) and "pe.unsigned" not in rules_of(report)
    # The signature sits at the end of the file; it is not "extra data".
    assert info["overlay_offset"] is None and "pe.overlay" not in rules_of(report)


def test_data_appended_after_a_signature_is_overlay(scan, signed_launcher):
    report = scan(signed_launcher + b"APPENDED" * 512, "t64.exe")
    info = pe_info(report)
    assert info["overlay_offset"] == len(signed_launcher) and info["overlay_size"] == 4096


# -- broken programs ----------------------------------------------------------------------------------------


def test_truncated_program_is_corrupt(scan, pe_bytes):
    report = scan(pe_bytes[:4096], "cut.exe")
    finding = next(item for item in report.findings if item.rule == "pe.corrupt")
    assert "cut short" in finding.message and "不完整" in finding.message_zh
    assert report.tree.kind == "pe" and report.verdict.value == "malicious"


def test_broken_header_is_corrupt_not_a_crash(scan, pe_bytes):
    broken = bytearray(pe_bytes[:1024])
    offset = int.from_bytes(broken[0x3C:0x40], "little")
    broken[offset + 4 : offset + 24] = b"\xff" * 20  # file header garbage, optional header size absurd
    report = scan(bytes(broken), "broken.exe")
    assert "pe.corrupt" in rules_of(report) and "scan.analyzer_failed" not in rules_of(report)


def test_mutated_headers_never_crash_the_analyzer(scan, pe_bytes):
    import random

    rng = random.Random(20250501)
    for _ in range(40):
        mutated = bytearray(pe_bytes)
        for _ in range(rng.randint(1, 12)):
            mutated[rng.randrange(0x3C, 0x400)] = rng.randrange(256)
        report = scan(bytes(mutated), "mutated.exe")
        failed = [
            f
            for f in report.findings
            if f.rule == "scan.analyzer_failed" and "pe." in f.params.get("analyzer", "")
        ]
        assert not failed, failed


# -- entropy measurement ----------------------------------------------------------------------------------------


def test_measure_entropy_and_filler_share():
    assert measure(b"\x00" * 4096, 0, 4096).entropy == 0.0
    assert measure(b"\x00" * 4096, 0, 4096).filler_share == 1.0
    random_block = os.urandom(1 * MiB)
    assert measure(random_block, 0, len(random_block)).entropy > 7.99
    assert measure(bytes(range(256)) * 16, 0, 4096).entropy == pytest.approx(8.0)


def test_measure_is_bounded_on_large_regions():
    big = b"\x00" * (8 * SAMPLE_BYTES)
    started = time.perf_counter()
    region = measure(big, 0, len(big))
    assert time.perf_counter() - started < 1.0 and region.filler_share == 1.0
    assert PADDING_MIN <= 8 * SAMPLE_BYTES


# -- ELF -----------------------------------------------------------------------------------------------------------


def test_elf_executable_from_this_machine(scan):
    data = Path("/bin/true").read_bytes()
    report = scan(data, "true")
    info = report.tree.info["elf"]
    assert report.tree.kind == "elf" and "type.executable" in rules_of(report)
    assert info["bits"] == 64 and info["byte_order"] == "little"
    assert info["type"] in ("executable", "executable (position-independent)") and info["machine"] in (
        "x86-64",
        "arm64",
    )


def test_elf_shared_library_from_numpy(scan):
    library = sorted(glob.glob(os.path.join(numpy.__path__[0], "_core", "_multiarray_umath*.so")))[0]
    info = scan(Path(library).read_bytes(), os.path.basename(library)).tree.info["elf"]
    assert (
        info["type"] == "shared library" and info["dynamically_linked"] is True and "interpreter" not in info
    )


def test_elf_object_assembled_here(tmp_path, scan):
    source = tmp_path / "a.s"
    source.write_text(".globl f\nf:\n  ret\n")
    subprocess.run(
        [
            tool("llvm-mc"),
            "-triple=aarch64-linux-gnu",
            "-filetype=obj",
            str(source),
            "-o",
            str(tmp_path / "a.o"),
        ],
        check=True,
    )
    info = scan((tmp_path / "a.o").read_bytes(), "a.o").tree.info["elf"]
    assert (info["type"], info["machine"], info["bits"]) == ("relocatable object", "arm64", 64)


def test_elf_header_cut_short():
    with pytest.raises(ValueError):
        parse_elf(b"\x7fELF\x02\x01\x01" + b"\x00" * 20, 27)


# -- Mach-O (assembled by llvm-mc, linked by LLVM's ld64.lld) ----------------------------------------------------------


@pytest.fixture(scope="module")
def macho_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("macho")
    llvm_mc, ld64 = tool("llvm-mc", "llvm-mc-14"), tool("ld64.lld", "ld64.lld-14")
    (folder / "arm.s").write_text(".globl _main\n.p2align 2\n_main:\n  mov w0, #0\n  ret\n")
    (folder / "x86.s").write_text(".globl _main\n_main:\n  xorl %eax, %eax\n  retq\n")
    for arch, triple in (("arm", "arm64-apple-macos11"), ("x86", "x86_64-apple-macos11")):
        subprocess.run(
            [
                llvm_mc,
                f"-triple={triple}",
                "-filetype=obj",
                str(folder / f"{arch}.s"),
                "-o",
                str(folder / f"{arch}.o"),
            ],
            check=True,
        )
    link = [ld64, "-platform_version", "macos", "11.0", "11.0"]
    subprocess.run(
        [*link, "-arch", "arm64", "-e", "_main", "-o", str(folder / "arm"), str(folder / "arm.o")],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [*link, "-arch", "x86_64", "-e", "_main", "-o", str(folder / "x86"), str(folder / "x86.o")],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [*link, "-arch", "x86_64", "-dylib", "-o", str(folder / "lib.dylib"), str(folder / "x86.o")],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            tool("llvm-lipo", "llvm-lipo-14"),
            "-create",
            str(folder / "arm"),
            str(folder / "x86"),
            "-output",
            str(folder / "fat"),
        ],
        check=True,
    )
    return {name: folder / name for name in ("arm", "x86", "lib.dylib", "fat", "arm.o")}


def test_macho_executables(scan, macho_files):
    arm = scan(macho_files["arm"].read_bytes(), "报价单").tree
    assert arm.kind == "macho"
    assert (arm.info["macho"]["cpu"], arm.info["macho"]["type"], arm.info["macho"]["pie"]) == (
        "arm64",
        "executable",
        True,
    )
    assert arm.info["macho"]["signed"] is True  # ld64 signs arm64 output ad hoc, as Apple's linker does
    x86 = scan(macho_files["x86"].read_bytes(), "tool").tree.info["macho"]
    assert (x86["cpu"], x86["type"], x86["signed"]) == ("x86-64", "executable", False)


def test_macho_library_object_and_universal(scan, macho_files):
    assert (
        scan(macho_files["lib.dylib"].read_bytes(), "lib.dylib").tree.info["macho"]["type"]
        == "shared library"
    )
    assert scan(macho_files["arm.o"].read_bytes(), "arm.o").tree.info["macho"]["type"] == "relocatable object"
    report = scan(macho_files["fat"].read_bytes(), "app")
    fat = report.tree.info["macho"]
    assert fat["universal"] is True and sorted(fat["architectures"]) == ["arm64", "x86-64"]
    assert "type.executable" in rules_of(report)


def test_macho_with_lying_load_commands_is_described_not_crashed(scan, macho_files):
    data = bytearray(macho_files["x86"].read_bytes())
    data[20:24] = (0x7FFFFFF0).to_bytes(4, "little")  # sizeofcmds far beyond the file
    report = scan(bytes(data), "tool")
    assert "error" in report.tree.info["macho"] and "scan.analyzer_failed" not in rules_of(report)
