"""CHM help files, installers (MSI, NSIS, InstallShield) and OneNote sections.

Real files: ClamAV's clam.chm, clam-nsis.exe and clam_IS*.exe; CHMs compiled here with
Free Pascal's ``chmcmd`` (Debian ``fp-utils-3.2.2``) and MSIs built with ``wixl`` (Debian
``wixl``), both listed in scripts/test-packages.txt. Commands are ``echo TEST-ONLY`` text;
nothing is run."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from _docs import finding_at, reason_is_node_with_hash
from conftest import CLAM_EXE_SHA256, node_named, rules_of


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: run scripts/test (it installs scripts/test-packages.txt)")
    return path


# -- CHM -------------------------------------------------------------------------------------

_SHORTCUT_PAGE = """<html><head><title>订单详情</title></head><body>
<OBJECT id=x classid="clsid:adb880a6-d8ff-11cf-9377-00aa003b7a11" width=1 height=1>
<PARAM name="Command" value="ShortCut">
<PARAM name="Button" value="Bitmap::shortcut">
<PARAM name="Item1" value=",cmd.exe,/c echo TEST-ONLY">
<PARAM name="Item2" value="273,1,1">
</OBJECT>
<SCRIPT>x.Click();</SCRIPT>
</body></html>
"""


def _chm(tmp_path: Path, page: str, extra: dict[str, bytes]) -> bytes:
    folder = tmp_path / "chm-src"
    folder.mkdir()
    (folder / "index.html").write_text(page, encoding="utf-8")
    for name, data in extra.items():
        (folder / name).write_bytes(data)
    files = "\n".join(["index.html", *extra])
    (folder / "help.hhp").write_text(
        f"[OPTIONS]\nCompiled file=help.chm\nDefault topic=index.html\nTitle=Help\n\n[FILES]\n{files}\n")
    subprocess.run([_tool("chmcmd-3.2.2"), "help.hhp"], cwd=folder, check=True, capture_output=True, timeout=60)
    return (folder / "help.chm").read_bytes()


def test_clamav_program_inside_chm_is_found_by_hash(scan, clam_testfiles):
    _tool("7zz")
    report = scan((clam_testfiles / "clam.chm").read_bytes(), "clam.chm")
    assert any(node.sha256 == CLAM_EXE_SHA256 for node in report.tree.walk() if node.depth)
    assert reason_is_node_with_hash(report, CLAM_EXE_SHA256)
    assert not [node for node in report.tree.walk() if node.name.startswith(("#", "$"))]


def test_chm_shortcut_command_button(scan, tmp_path, pe_bytes):
    _tool("7zz")
    chm = _chm(tmp_path, _SHORTCUT_PAGE, {"payload.exe": pe_bytes})
    report = scan(chm, "使用说明.chm")
    shortcut = finding_at(report, "html.shortcut_command")
    assert shortcut and "cmd.exe /c echo TEST-ONLY" in shortcut[0].message
    assert shortcut[0].where.endswith("index.html")
    assert node_named(report, "payload.exe").size == len(pe_bytes)
    assert "type.help_file" in rules_of(report)


def test_plain_help_page_has_no_shortcut(scan, tmp_path):
    _tool("7zz")
    report = scan(_chm(tmp_path, "<html><body><h1>Size chart</h1></body></html>", {}), "尺码.chm")
    assert "html.shortcut_command" not in rules_of(report)
    assert node_named(report, "index.html").kind == "html"
    assert report.verdict.value == "malicious"  # a CHM from a customer is malicious by policy


def test_chm_without_7zip_is_still_malicious(scan, tmp_path, monkeypatch, clam_testfiles):
    monkeypatch.setenv("FILEWALL_DISABLE_TOOLS", "7zz")
    report = scan((clam_testfiles / "clam.chm").read_bytes(), "clam.chm")
    assert "type.help_file" in rules_of(report) and report.verdict.value == "malicious"
    assert not report.tree.children
    assert "7-Zip" in report.tree.info["unpacked"]


# -- MSI -------------------------------------------------------------------------------------

_WXS = """<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="*" Name="TestOnly" Language="1033" Version="1.0.0" Manufacturer="Example"
           UpgradeCode="12345678-1234-1234-1234-123456789012">
    <Package InstallerVersion="200" Compressed="yes" />
    <Media Id="1" Cabinet="product.cab" EmbedCab="yes" />
    {binary}
    <Directory Id="TARGETDIR" Name="SourceDir"><Directory Id="ProgramFilesFolder">
      <Directory Id="INSTALLDIR" Name="TestOnly">
        <Component Id="Readme" Guid="12345678-1234-1234-1234-123456789013"><File Id="readme" Source="readme.txt" /></Component>
      </Directory></Directory></Directory>
    <Feature Id="Main" Level="1"><ComponentRef Id="Readme" /></Feature>
    {action}
  </Product>
</Wix>
"""
_ACTION = """<Property Id="CMDEXE" Value="cmd.exe" />
    <CustomAction Id="RunCmd" Property="CMDEXE" ExeCommand="/c echo TEST-ONLY" Return="ignore" />
    <InstallExecuteSequence><Custom Action="RunCmd" After="InstallFiles" /></InstallExecuteSequence>"""


def _msi(tmp_path: Path, with_action: bool, helper: bytes | None) -> bytes:
    (tmp_path / "readme.txt").write_text("hello\n")
    binary = ""
    if helper is not None:
        (tmp_path / "helper.exe").write_bytes(helper)
        binary = '<Binary Id="helper" SourceFile="helper.exe" />'
    (tmp_path / "t.wxs").write_text(_WXS.format(binary=binary, action=_ACTION if with_action else ""))
    subprocess.run([_tool("wixl"), "-o", "t.msi", "t.wxs"], cwd=tmp_path, check=True, capture_output=True, timeout=60)
    return (tmp_path / "t.msi").read_bytes()


def test_msi_custom_action_and_embedded_binary(scan, tmp_path, clam_testfiles):
    msi = _msi(tmp_path, True, (clam_testfiles / "clam.exe").read_bytes())
    report = scan(msi, "金税四期(电脑版)-uninstall.msi")
    assert "type.installer" in rules_of(report) and report.verdict.value == "malicious"
    action = finding_at(report, "installer.custom_action")
    assert action and "RunCmd: cmd.exe /c echo TEST-ONLY" in action[0].message
    assert node_named(report, "Binary.helper").sha256 == CLAM_EXE_SHA256
    cabinet = node_named(report, "product.cab")
    assert cabinet.kind == "cab"
    assert report.tree.info["msi"]["binaries"] == ["Binary.helper"]


def test_msi_without_custom_actions(scan, tmp_path):
    report = scan(_msi(tmp_path, False, None), "setup.msi")
    assert "type.installer" in rules_of(report)
    assert "installer.custom_action" not in rules_of(report)
    assert report.tree.info["msi"]["custom_actions"] == []


# -- setup programs ----------------------------------------------------------------------------


def test_nsis_setup_is_an_installer_and_unpacked(scan, clam_testfiles):
    _tool("7zz")
    report = scan((clam_testfiles / "clam-nsis.exe").read_bytes(), "clam-nsis.exe")
    assert "NSIS" in finding_at(report, "type.installer")[0].message
    assert node_named(report, "clam.exe").sha256 == CLAM_EXE_SHA256


@pytest.mark.parametrize("sample", ["clam_ISmsi_ext.exe", "clam_ISmsi_int.exe", "clam_IScab_ext.exe",
                                    "clam_IScab_int.exe"])
def test_installshield_setup_is_recognised(scan, clam_testfiles, sample):
    report = scan((clam_testfiles / sample).read_bytes(), sample)
    assert "InstallShield" in finding_at(report, "type.installer")[0].message
    assert report.tree.info["installer"] == "InstallShield"


def test_ordinary_program_is_not_called_an_installer(scan, pe_bytes):
    report = scan(pe_bytes, "tool.exe")
    assert "type.installer" not in rules_of(report) and "type.executable" in rules_of(report)


# -- OneNote -----------------------------------------------------------------------------------

_ONE_HEADER = bytes.fromhex("e4525c7b8cd8a74daeb15378d02996d3")
_FDSO = bytes.fromhex("e716e3bd65261145a4c48d4d0b7a9eac")
_FOOTER = bytes.fromhex("22a7fb71790f0b4abb13899256426b24")
_PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63"
                     "f80f00000101000518d84e0000000049454e44ae426082")


def _file_data(data: bytes) -> bytes:
    """A FileDataStoreObject ([MS-ONESTORE] 2.6.13): GUID, length, reserved, data, footer."""
    return _FDSO + struct.pack("<QIQ", len(data), 0, 0) + data + b"\x00" * (-len(data) % 8) + _FOOTER


def _one(*attachments: bytes) -> bytes:
    return _ONE_HEADER + b"\x00" * 1008 + b"".join(_file_data(item) + b"\x00" * 64 for item in attachments)


def test_onenote_attachment_behind_a_picture(scan, clam_testfiles):
    report = scan(_one(_PNG, (clam_testfiles / "clam.exe").read_bytes()), "订单.one")
    picture, program = (node for node in report.tree.walk() if node.depth == 1)
    assert picture.kind == "png" and not picture.facts
    assert program.sha256 == CLAM_EXE_SHA256
    assert {fact.rule for fact in program.facts} >= {"onenote.embedded_file"}
    assert report.verdict.value == "malicious"


def test_onenote_with_pictures_only_has_no_attachment_finding(scan):
    report = scan(_one(_PNG, _PNG[:-12] + b"\x00" * 12), "笔记.one")
    assert "onenote.embedded_file" not in rules_of(report)


def test_onenote_length_past_the_end_is_cut(scan):
    broken = _ONE_HEADER + b"\x00" * 100 + _FDSO + struct.pack("<QIQ", 1 << 40, 0, 0) + b"MZ" + b"\x00" * 100
    report = scan(broken, "broken.one")
    node = next(node for node in report.tree.walk() if node.depth == 1)
    assert node.size == 102 and "archive.decompression_bomb" not in rules_of(report)
