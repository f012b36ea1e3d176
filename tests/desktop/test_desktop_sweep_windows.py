"""The Windows collectors on a fake Windows drive built here: a Startup folder with a real
.lnk (pylnk3) to an exe in Temp, task XML files (UTF-16, as Windows writes them), a
regedit export (.reg, UTF-16) with Run keys, StartupApproved, TaskCache and services.
Each planted item is found; the ordinary entries beside them are not flagged."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pylnk3
import pytest

from filewall.desktop.sweep import SweepOptions, run_sweep
from filewall.desktop.sweep.registry import REG_EXPAND_SZ, REG_MULTI_SZ, RegExportSource, parse_reg_text
from filewall.desktop.sweep.report import to_html
from filewall.desktop.sweep.tasks import parse_taskcache_actions

ROOT = Path(__file__).resolve().parents[2]
USER = "Agent"
SID = "S-1-5-21-1111111111-2222222222-3333333333-1001"
TASK_NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"
CV = r"SOFTWARE\Microsoft\Windows\CurrentVersion"


def task_xml(uri: str, command: str, arguments: str = "", hidden: bool = False) -> bytes:
    text = f"""<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="{TASK_NS}">
  <RegistrationInfo><Author>{USER}</Author><URI>{uri}</URI></RegistrationInfo>
  <Triggers><LogonTrigger><Enabled>true</Enabled></LogonTrigger></Triggers>
  <Principals><Principal id="Author"><UserId>{SID}</UserId><LogonType>InteractiveToken</LogonType>
  <RunLevel>LeastPrivilege</RunLevel></Principal></Principals>
  <Settings><Enabled>true</Enabled><Hidden>{str(hidden).lower()}</Hidden></Settings>
  <Actions Context="Author"><Exec><Command>{command}</Command><Arguments>{arguments}</Arguments></Exec></Actions>
</Task>
"""
    return "\ufeff".encode("utf-16-le") + text.replace("\n", "\r\n").encode("utf-16-le")


def bstr(text: str) -> bytes:
    raw = text.encode("utf-16-le")
    return struct.pack("<I", len(raw)) + raw


def actions_blob(command: str, arguments: str) -> bytes:
    return (struct.pack("<H", 3) + bstr("Author") + struct.pack("<H", 0x6666) + bstr("") + bstr(command)
            + bstr(arguments) + bstr("") + struct.pack("<H", 0))


def hex_value(data: bytes, kind: str = "hex") -> str:
    """regedit's layout: comma-separated bytes, lines continued with a backslash."""
    parts = [f"{byte:02x}" for byte in data]
    lines, line = [], f"{kind}:"
    for index, part in enumerate(parts):
        piece = part + ("," if index < len(parts) - 1 else "")
        if len(line) + len(piece) > 76:
            lines.append(line + "\\")
            line = "  "
        line += piece
    lines.append(line)
    return "\r\n".join(lines)


def reg_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_export(tmp_path: Path) -> Path:
    onedrive = r'"C:\Program Files\Microsoft OneDrive\OneDrive.exe" /background'
    ghost_id = "{6C2D8E94-1B3A-4F7D-9E21-0A5B7C3D9F10}"
    mm_id = "{0B7E1F3A-5C6D-4E8F-9A1B-2C3D4E5F6A7B}"
    defrag_id = "{A1B2C3D4-E5F6-4711-8899-AABBCCDDEEFF}"
    lines = [
        "Windows Registry Editor Version 5.00",
        "",
        rf"[HKEY_CURRENT_USER\{CV}\Run]",
        '"Management"=' + reg_string(r"C:\ProgramData\Shine.exe"),
        '"OneDrive"=' + reg_string(onedrive),
        "",
        rf"[HKEY_CURRENT_USER\{CV}\Explorer\StartupApproved\Run]",
        '"OneDrive"=hex:02,00,00,00,00,00,00,00,00,00,00,00',
        "",
        rf"[HKEY_LOCAL_MACHINE\{CV}\Run]",
        '"SecurityHealth"=' + hex_value("%windir%\\system32\\SecurityHealthSystray.exe".encode("utf-16-le") + b"\0\0", "hex(2)"),
        "",
        r"[HKEY_LOCAL_MACHINE\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Run]",
        '"Updater"=' + reg_string(r"C:\Users\Public\Music\Update\AutoHotKey\AutoHotKey.exe C:\Users\Public\Music\Update\a.ahk"),
        "",
        rf"[HKEY_USERS\{SID}\{CV}\Run]".replace(r"\SOFTWARE", r"\Software"),
        '"Management"=' + reg_string(r"C:\ProgramData\Shine.exe"),
        "",
        r"[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Schedule\TaskCache\Tree\Microsoft\Windows\Defrag\ScheduledDefrag]",
        f'"Id"="{defrag_id}"',
        '"SD"=hex:01,00,04,80',
        r"[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Schedule\TaskCache\Tree\.NET Framework NGEN v4.0.30318]",
        f'"Id"="{ghost_id}"',
        '"Index"=dword:00000003',
        r"[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Schedule\TaskCache\Tree\MM]",
        f'"Id"="{mm_id}"',
        '"SD"=hex:01,00,04,80',
        rf"[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Schedule\TaskCache\Tasks\{ghost_id}]",
        r'"Path"="\\.NET Framework NGEN v4.0.30318"',
        '"Actions"=' + hex_value(actions_blob(r"C:\ProgramData\Microsoft Drive\NGEN.exe", "/run")),
        rf"[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Schedule\TaskCache\Tasks\{mm_id}]",
        r'"Path"="\\MM"',
        '"Actions"=' + hex_value(actions_blob(r"C:\Users\Public\Documents\MM\svchos1.exe", "")),
        rf"[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Schedule\TaskCache\Tasks\{defrag_id}]",
        '"Actions"=' + hex_value(actions_blob(r"%windir%\system32\defrag.exe", "-c -h -o -$")),
        "",
        r"[HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\Dnscache]",
        '"ImagePath"=' + hex_value("%SystemRoot%\\system32\\svchost.exe -k NetworkService -p".encode("utf-16-le") + b"\0\0", "hex(2)"),
        '"Start"=dword:00000002',
        '"ObjectName"="NT AUTHORITY\\\\NetworkService"',
        r"[HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\Dnscache\Parameters]",
        '"ServiceDll"=' + hex_value("%SystemRoot%\\System32\\dnsrslvr.dll".encode("utf-16-le") + b"\0\0", "hex(2)"),
        r"[HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\Termaintor]",
        r'"ImagePath"="\\??\\C:\\Program Files\\RunTime\\Amsdk_Service.sys"',
        '"Start"=dword:00000001',
        '"Type"=dword:00000001',
        r"[HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\wuauserv]",
        r'"ImagePath"="C:\\Windows\\system32\\svchost.exe -k netsvcs -p"',
        '"Start"=dword:00000003',
        "",
    ]
    path = tmp_path / "autoruns.reg"
    path.write_bytes(b"\xff\xfe" + "\r\n".join(lines).encode("utf-16-le"))
    return path


def build_drive(tmp_path: Path, pe_bytes: bytes) -> Path:
    drive = tmp_path / "C"
    profile = drive / "Users" / USER
    temp = profile / "AppData" / "Local" / "Temp"
    temp.mkdir(parents=True)
    (temp / "svchost.exe").write_bytes(pe_bytes)
    startup = profile / "AppData" / "Roaming" / "Microsoft" / "Windows" / "Start Menu" / "Programs" / "Startup"
    startup.mkdir(parents=True)
    buffer = io.BytesIO()
    pylnk3.for_file(rf"C:\Users\{USER}\AppData\Local\Temp\svchost.exe", arguments="-silent").write(buffer)
    (startup / "WeChat Helper.lnk").write_bytes(buffer.getvalue())
    (startup / "desktop.ini").write_bytes(b"[.ShellClassInfo]\r\n")
    common = drive / "ProgramData" / "Microsoft" / "Windows" / "Start Menu" / "Programs" / "Startup"
    common.mkdir(parents=True)
    buffer = io.BytesIO()
    pylnk3.for_file(r"C:\Program Files\Adobe\Acrobat DC\Acrobat\AdobeCollabSync.exe").write(buffer)
    (common / "Adobe Collab.lnk").write_bytes(buffer.getvalue())
    tasks = drive / "Windows" / "System32" / "Tasks"
    (tasks / "Microsoft" / "Windows" / "Defrag").mkdir(parents=True)
    (tasks / "Microsoft" / "Windows" / "Defrag" / "ScheduledDefrag").write_bytes(
        task_xml(r"\Microsoft\Windows\Defrag\ScheduledDefrag", r"%windir%\system32\defrag.exe", "-c -h -o -$"))
    (tasks / "MM").write_bytes(task_xml(r"\MM", r"C:\Users\Public\Documents\MM\svchos1.exe"))
    (tasks / "OneDrive Reporting Task").write_bytes(task_xml(
        r"\OneDrive Reporting Task", r"%localappdata%\Microsoft\OneDrive\OneDriveStandaloneUpdater.exe", "/reporting"))
    (tasks / "UpdateCheck").write_bytes(task_xml(
        r"\UpdateCheck", r"C:\Windows\System32\rundll32.exe",
        rf'"C:\Users\{USER}\AppData\Roaming\Updater\upd.dll",Start'))
    roaming = profile / "AppData" / "Roaming" / "Updater"
    roaming.mkdir(parents=True)
    (roaming / "upd.dll").write_bytes(pe_bytes)
    (drive / "ProgramData" / "Shine.exe").write_bytes(pe_bytes)
    (drive / "Program Files" / "Microsoft OneDrive").mkdir(parents=True)
    (drive / "Program Files" / "Microsoft OneDrive" / "OneDrive.exe").write_bytes(pe_bytes)
    return drive


def by_name(result, name, source=None):
    found = [entry for entry in result.entries if entry.name == name and (source is None or entry.source == source)]
    assert found, f"{name} not found in {[(e.source, e.name) for e in result.entries]}"
    return found[0]


def rules(entry) -> set[str]:
    return {finding.rule for finding in entry.findings}


@pytest.fixture
def image(tmp_path, pe_bytes):
    return build_drive(tmp_path, pe_bytes), build_export(tmp_path)


def test_offline_windows_image(image):
    drive, export = image
    result = run_sweep(SweepOptions(root=drive, registry_exports=[export], files=False, home_country="CN"))
    assert result.target.os == "windows" and not result.target.live

    management = by_name(result, "Management", "run_key")
    assert management.verdict == "malicious"
    assert {"sweep.known_trojan", "sweep.starts_from_user_folder"} <= rules(management)
    assert management.image == r"C:\ProgramData\Shine.exe" and management.image_exists
    assert management.scan["verdict"] == "malicious" and management.signed is False
    assert len([e for e in result.entries if e.name == "Management"]) == 1  # HKCU and HKU\SID: one entry

    onedrive = by_name(result, "OneDrive", "run_key")
    assert onedrive.verdict == "clean" and onedrive.findings == [] and onedrive.enabled is True
    assert onedrive.image == r"C:\Program Files\Microsoft OneDrive\OneDrive.exe" and onedrive.folder_class == "program_files"
    assert by_name(result, "SecurityHealth").verdict == "clean"
    assert by_name(result, "Updater").verdict == "malicious"  # WOW6432Node, Public\Music\Update

    shortcut = by_name(result, "WeChat Helper.lnk", "startup_folder")
    assert shortcut.verdict == "malicious" and "sweep.starts_from_temp" in rules(shortcut)
    assert shortcut.image == rf"C:\Users\{USER}\AppData\Local\Temp\svchost.exe" and shortcut.image_exists
    assert by_name(result, "Adobe Collab.lnk").verdict == "clean"
    assert not [e for e in result.entries if e.name == "desktop.ini"]

    rundll = by_name(result, r"\UpdateCheck", "task")
    assert rundll.verdict in ("suspicious", "malicious")
    assert {"sweep.via_system_tool", "sweep.starts_from_user_folder"} <= rules(rundll)
    assert rundll.image.endswith(r"AppData\Roaming\Updater\upd.dll") and rundll.details["host"] == "rundll32.exe"
    assert by_name(result, r"\Microsoft\Windows\Defrag\ScheduledDefrag").verdict == "clean"
    mm = by_name(result, r"\MM")
    assert mm.verdict == "malicious" and "sweep.known_trojan" in rules(mm) and "sweep.task_hidden" not in rules(mm)

    ghost = by_name(result, r"\.NET Framework NGEN v4.0.30318")
    assert {"sweep.task_hidden", "sweep.known_trojan"} <= rules(ghost)
    assert ghost.command.startswith(r'"C:\ProgramData\Microsoft Drive\NGEN.exe"')

    assert by_name(result, "Dnscache", "service").verdict == "clean"
    assert by_name(result, "Dnscache").image == r"C:\Windows\System32\dnsrslvr.dll"
    assert by_name(result, "Termaintor", "service").verdict == "malicious"
    assert not [e for e in result.entries if e.name == "wuauserv"]  # manual start, system folder

    data = result.to_dict()
    assert data["verdict"] == "malicious"
    assert {item["name"] for item in data["findings"]} >= {"Management", "WeChat Helper.lnk", r"\UpdateCheck", r"\MM"}
    assert json.dumps(data, ensure_ascii=False)
    html = to_html(result, "zh")
    assert "<script" not in html and "发现的问题" in html and "WeChat Helper.lnk" in html


def test_without_registry_the_files_are_still_checked(image):
    drive, _ = image
    result = run_sweep(SweepOptions(root=drive, files=False))
    assert any(item.source == "registry" and item.status == "skipped" for item in result.coverage)
    assert by_name(result, "WeChat Helper.lnk").verdict == "malicious"
    assert by_name(result, r"\UpdateCheck").verdict != "clean"


def test_recent_files_in_a_chat_folder(image, pe_bytes):
    drive, export = image
    month = drive / "Users" / USER / "Documents" / "WeChat Files" / "wxid_abc123" / "FileStorage" / "File" / "2026-11"
    month.mkdir(parents=True)
    (month / "设计图.jpg").write_bytes(pe_bytes)  # a program named as a picture
    (month / "商品.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    downloads = drive / "Users" / USER / "Downloads"
    downloads.mkdir()
    (downloads / "报价单.xlsx").write_bytes(b"not really, but not runnable either")
    result = run_sweep(SweepOptions(root=drive, registry_exports=[export], files=True))
    received = by_name(result, "设计图.jpg", "recent_file")
    assert received.verdict == "malicious" and "sweep.received_file_dangerous" in rules(received)
    assert received.details["app"] == "WeChat 3.x"
    assert not [e for e in result.entries if e.name in ("商品.png", "报价单.xlsx")]
    temp_exe = by_name(result, "svchost.exe", "recent_file")
    assert "sweep.temp_program" in rules(temp_exe)


def test_sweep_cli_against_the_image(image, tmp_path):
    drive, export = image
    html = tmp_path / "report.html"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LANG": "C.UTF-8"}
    done = subprocess.run(
        [sys.executable, "-m", "filewall", "sweep", "--root", str(drive), "--registry-export", str(export), "--json",
         "--html", str(html), "--no-files"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1, done.stderr
    data = json.loads(done.stdout)
    assert data["target"]["root"] == str(drive) and data["verdict"] == "malicious"
    assert any(item["rule"] == "sweep.known_trojan" for item in data["findings"])
    page = html.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and "Management" in page and "http" not in page.split("</style>")[0]
    human = subprocess.run(
        [sys.executable, "-m", "filewall", "sweep", "--root", str(drive), "--registry-export", str(export),
         "--no-files", "--lang", "en"], capture_output=True, text=True, env=env, timeout=300)
    assert human.returncode == 1 and "MALICIOUS" in human.stdout and "Management" in human.stdout


def test_reg_parser_details():
    text = "\r\n".join([
        "Windows Registry Editor Version 5.00",
        r"[HKEY_CURRENT_USER\Software\Test]",
        '@="default"',
        r'"Quoted"="a \"b\" c:\\d"',
        '"Expand"=hex(2):25,00,54,00,45,00,4d,00,50,00,25,00,00,00',
        '"Multi"=hex(7):61,00,00,00,62,00,00,00,00,00',
        '"Num"=dword:0000002a',
        '"Big"=hex(b):01,00,00,00,00,00,00,00',
        '"Gone"="x"',
        '"Gone"=-',
        r"[-HKEY_CURRENT_USER\Software\Test\Removed]",
        r"[HKCU\Software\Test\Child]",
        '"Long"=hex:01,02,\\',
        "  03,04",
    ])
    ops = parse_reg_text(text)
    assert ops[0] == ("key", r"HKEY_CURRENT_USER\Software\Test", None)
    source = RegExportSource.__new__(RegExportSource)
    source._keys, source._children = {}, {}
    source._load(ops)
    values = source.values(r"HKCU\Software\Test")
    assert values[""].data == "default" and values["quoted"].data == r'a "b" c:\d'
    assert values["expand"].type == REG_EXPAND_SZ and values["expand"].data == "%TEMP%"
    assert values["multi"].type == REG_MULTI_SZ and values["multi"].data == ["a", "b"]
    assert values["num"].data == 42 and values["big"].data == 1 and "gone" not in values
    assert source.subkeys(r"HKEY_CURRENT_USER\Software\Test") == ["Child"]
    assert source.values(r"HKCU\Software\Test\Child")["long"].data == b"\x01\x02\x03\x04"


def test_taskcache_actions_blob():
    blob = actions_blob(r"C:\x\a.exe", "-y") + struct.pack("<H", 0x7777) + bstr("") + bytes(range(16)) + bstr("data")
    actions = parse_taskcache_actions(blob)
    assert actions[0] == {"command": r"C:\x\a.exe", "arguments": "-y", "working_dir": ""}
    assert actions[1]["clsid"] == "{03020100-0504-0706-0809-0A0B0C0D0E0F}"
    assert parse_taskcache_actions(blob[:-7])[:1] == actions[:1]  # a cut value keeps what was read
    assert parse_taskcache_actions(b"\x01") == []
