"""Office documents that carry code, on real samples: oletools' test data (downloaded from
PyPI at test time), ClamAV's test files, and documents written here with python-docx,
openpyxl and msoffcrypto-tool. Commands in fixtures are text; nothing is run."""

from __future__ import annotations

import io
import zipfile

import msoffcrypto
import pytest
from _docs import (
    docx_bytes,
    finding_at,
    from_protected_zip,
    office_zip,
    oletools_data,
    reason_is_node_with_hash,
)
from conftest import CLAM_EXE_SHA256, node_named, rules_of


@pytest.fixture(scope="session")
def data():
    return oletools_data()


# -- VBA and XLM macros ---------------------------------------------------------------------


def test_vba_macro_is_reported_once_and_needs_a_click(scan, data):
    report = scan((data / "olevba/sample_with_vba.ppt").read_bytes(), "报价.ppt")
    macros = finding_at(report, "office.macros")
    assert len(macros) == 1 and "Module1" in macros[0].message and macros[0].where == "报价.ppt"
    # Action_Click runs on a click, not on opening; the MsgBox macro calls nothing dangerous.
    assert "office.macro_autoexec" not in rules_of(report)
    assert "office.macro_suspicious" not in rules_of(report)
    assert report.verdict.value == "suspicious"
    assert "启用内容" in macros[0].message_zh


@pytest.mark.parametrize("sample", ["xls", "xlsb", "xlsm", "xlt", "xltm", "slk", "_excel5_format.xls"])
def test_excel4_macros_with_auto_open(scan, data, sample):
    name = f"excel4_sample_macro{sample}" if sample.startswith("_") else f"excel4_sample_macro.{sample}"
    report = scan((data / "excel4-macros" / name).read_bytes(), name)
    assert {"office.xlm_macros", "office.macro_autoexec"} <= rules_of(report)
    assert "Auto_Open" in finding_at(report, "office.macro_autoexec")[0].message
    assert report.verdict.value == "malicious"


def _sylk(formula: str) -> bytes:
    # A SYLK macro sheet ("O;E"): Auto_Open names cell R1C1, which holds the formula.
    lines = ["ID;PWXL;N;E", "P;PGeneral", "O;L;E;D;V0;K47;G100 0.001", "NN;NAuto_Open;ER1C1",
             "C;Y1;X1;K0;E" + formula, "C;Y2;X1;K0;EHALT()", "E"]
    return ("\r\n".join(lines) + "\r\n").encode()


def test_xlm_formula_that_runs_a_program_is_dangerous(scan):
    report = scan(_sylk('EXEC("cmd.exe /c echo TEST-ONLY")'), "订单.slk")
    assert {"office.xlm_macros", "office.macro_suspicious"} <= rules_of(report)
    assert "EXEC" in finding_at(report, "office.macro_suspicious")[0].message
    harmless = scan(_sylk('ALERT("TEST-ONLY")'), "订单2.slk")
    assert "office.xlm_macros" in rules_of(harmless)
    assert "office.macro_suspicious" not in rules_of(harmless)


def _odt_with_macro(code: str, on_open: bool) -> bytes:
    listener = ('<office:scripts><office:event-listeners><script:event-listener script:language="ooo:script" '
                'script:event-name="office:load" xlink:href="vnd.sun.star.script:Standard.Module1.Main?'
                'language=Basic&amp;location=document"/></office:event-listeners></office:scripts>') if on_open else ""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text", compress_type=zipfile.ZIP_STORED)
        archive.writestr("content.xml", '<?xml version="1.0"?><office:document-content xmlns:office="urn:oasis:'
                         'names:tc:opendocument:xmlns:office:1.0" xmlns:script="urn:oasis:names:tc:opendocument:'
                         'xmlns:script:1.0" xmlns:xlink="http://www.w3.org/1999/xlink">' + listener +
                         "<office:body><office:text/></office:body></office:document-content>")
        archive.writestr("Basic/Standard/Module1.xml", '<?xml version="1.0"?><script:module xmlns:script="http:'
                         '//openoffice.org/2000/script" script:name="Module1" script:language="StarBasic">'
                         f"Sub Main\n  {code}\nEnd Sub</script:module>")
        archive.writestr("Basic/Standard/script-lb.xml", "<library/>")
        archive.writestr("META-INF/manifest.xml", "<manifest/>")
    return out.getvalue()


def test_opendocument_macro_that_runs_on_open(scan):
    report = scan(_odt_with_macro('Shell("cmd.exe /c echo TEST-ONLY")', on_open=True), "需求.odt")
    assert {"office.macros", "office.macro_autoexec", "office.macro_suspicious"} <= rules_of(report)
    assert report.verdict.value == "malicious"
    quiet = scan(_odt_with_macro('MsgBox "TEST-ONLY"', on_open=False), "需求2.odt")
    assert rules_of(quiet) & {"office.macros"} and not rules_of(quiet) & {"office.macro_autoexec",
                                                                         "office.macro_suspicious"}


def test_macro_that_hides_its_strings(scan):
    code = 'Dim s\n  s = StrReverse("YLNO-TSET ohce c/ exe.dmc")\n  MsgBox s'
    report = scan(_odt_with_macro(code, on_open=False), "需求3.odt")
    assert "StrReverse" in finding_at(report, "office.macro_obfuscated")[0].message
    assert "office.macro_obfuscated" not in rules_of(scan(_odt_with_macro('MsgBox "hi"', False), "需求4.odt"))


def test_macro_enabled_type_without_macros_is_noted_not_flagged(scan, data):
    report = scan((data / "msodde/harmless-clean.docm").read_bytes(), "harmless-clean.docm")
    assert "office.macro_enabled_type" in rules_of(report)
    assert report.verdict.value == "clean"


def test_vba_forms_document(scan, data):
    report = scan((data / "oleform/oleform-PR314.docm").read_bytes(), "oleform.docm")
    assert "office.macros" in rules_of(report)
    assert "office.macro_autoexec" not in rules_of(report)  # only _Click/_Change handlers


# -- DDE -------------------------------------------------------------------------------------


@pytest.mark.parametrize("sample", ["dde-test.docx", "dde-test.docm", "dde-test.xlsx", "dde-test.xlsb",
                                    "dde-test.xlsm", "dde-test-from-office2016.doc", "dde-in-csv.csv",
                                    "dde-in-excel2003.xml"])
def test_dde_fields(scan, data, sample):
    report = scan((data / "msodde" / sample).read_bytes(), sample)
    dde = finding_at(report, "office.dde")
    assert dde, rules_of(report)
    assert any("calc" in finding.message.lower() for finding in dde)
    assert report.verdict.value == "malicious"
    assert "office.macros" not in rules_of(report)


@pytest.mark.parametrize("sample", ["msodde/dde-test-from-office2003.doc.zip",
                                    "msodde/dde-test-from-office2013-utf_16le-korean.doc.zip",
                                    "msodde/dde-in-word2003.xml.zip", "msodde/dde-in-word2007.xml.zip"])
def test_dde_fields_in_protected_samples(scan, data, sample):
    name, content = from_protected_zip(data / sample)
    report = scan(content, name)
    assert any("cmd" in finding.message and "calc" in finding.message for finding in finding_at(report, "office.dde"))


@pytest.mark.parametrize("sample", ["harmless-clean.doc", "harmless-clean.docx", "harmless-clean.docm",
                                    "harmless-clean.xml", "harmless-clean-2003.xml"])
def test_documents_without_dde_stay_clean(scan, data, sample):
    report = scan((data / "msodde" / sample).read_bytes(), sample)
    assert "office.dde" not in rules_of(report)
    assert report.verdict.value == "clean", [finding.rule for finding in report.findings]


# -- embedded objects and files --------------------------------------------------------------

_TEXT_MD5 = {"doc": "bd5c063a5a43f67b3c50dc7b0f1195af", "xls": "ab8c65e4c0fc51739aa66ca5888265b4"}
_FORMATS = [(ext, "doc") for ext in ("doc", "dot", "docx", "docm", "dotx", "dotm", "odt")] + [
    (ext, "xls") for ext in ("xls", "xlsx", "xlsb", "xlsm", "xlt", "xltm", "xltx", "ppt", "pptx", "pptm", "pps",
                             "ppsx", "ppsm", "pot", "potx", "potm", "ods", "odp")]


@pytest.mark.parametrize("ext,family", _FORMATS)
def test_embedded_file_is_extracted_from_every_office_format(scan, data, ext, family):
    report = scan((data / f"oleobj/embedded-simple-2007.{ext}").read_bytes(), f"embedded.{ext}")
    embedded = node_named(report, "simple-text-file.txt")
    assert embedded.md5 == _TEXT_MD5[family]
    assert report.verdict.value == "clean"  # an embedded text file is not a threat


@pytest.mark.parametrize("sample", ["embedded-simple-2007.xml", "embedded-simple-2007-as2003.xml"])
def test_embedded_file_in_single_file_office_xml(scan, data, sample):
    report = scan((data / "oleobj" / sample).read_bytes(), sample)
    assert node_named(report, "simple-text-file.txt").md5 == _TEXT_MD5["doc"]


def test_embedded_program_and_shortcut_are_judged_like_any_other(scan, data):
    calc = scan((data / "oleobj/sample_with_calc_embedded.doc").read_bytes(), "合同.doc")
    program = node_named(calc, "calc.exe")
    assert program.md5 == "40e85286357723f326980a3b30f84e4f" and program.kind == "pe"
    assert calc.verdict.value == "malicious" and "type.executable" in rules_of(calc)
    for sample in ("sample_with_lnk_file.doc", "sample_with_lnk_file.ppt", "sample_with_lnk_file.pps"):
        report = scan((data / "oleobj" / sample).read_bytes(), sample)
        assert node_named(report, "calc.lnk").md5 == "6aedb1a876d4ad5236f1fbbbeb7274f3"
        assert "type.shortcut" in rules_of(report)


@pytest.mark.parametrize("sample", ["clam.ole.doc", "clam.ppt"])
def test_clamav_program_inside_ole_package_is_found_by_hash(scan, clam_testfiles, sample):
    report = scan((clam_testfiles / sample).read_bytes(), sample)
    assert report.verdict.value == "malicious"
    hashes = {node.sha256 for node in report.tree.walk() if node.depth}
    assert CLAM_EXE_SHA256 in hashes
    assert reason_is_node_with_hash(report, CLAM_EXE_SHA256)


# -- relationships: remote templates, remote objects, links ---------------------------------

_TEMPLATE_REL = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="http://schemas.openxmlformats.org/'
    'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/attachedTemplate" Target="{target}" TargetMode="External"/></Relationships>'
)


def _with_template(target: str) -> bytes:
    original = docx_bytes("报价单", "请查收。")
    with zipfile.ZipFile(io.BytesIO(original)) as archive:
        settings = archive.read("word/settings.xml").decode()
    settings = settings.replace("<w:zoom", '<w:attachedTemplate r:id="rId1"/><w:zoom', 1)
    if "xmlns:r=" not in settings.split(">", 2)[1]:
        settings = settings.replace("<w:settings ", '<w:settings xmlns:r="http://schemas.openxmlformats.org/'
                                    'officeDocument/2006/relationships" ', 1)
    return office_zip(original, {"word/settings.xml": settings.encode(),
                                 "word/_rels/settings.xml.rels": _TEMPLATE_REL.format(target=target).encode()})


def test_remote_template_injection(scan):
    report = scan(_with_template("http://example.invalid/TEST-ONLY.dotm"), "报价单.docx")
    template = finding_at(report, "office.remote_template")
    assert template and "example.invalid" in template[0].message
    assert report.verdict.value == "malicious"
    unc = scan(_with_template("\\\\198.51.100.7\\share\\t.dotm"), "报价单2.docx")
    assert "office.remote_template" in rules_of(unc)


def test_local_template_is_ordinary(scan):
    # Word records the template a document was made from; usually Normal.dotm on this PC.
    report = scan(_with_template("file:///C:\\Users\\kefu\\AppData\\Roaming\\Microsoft\\Templates\\Normal.dotm"),
                  "报价单.docx")
    assert report.verdict.value == "clean", [finding.rule for finding in report.findings]


@pytest.mark.parametrize("ext", ["docx", "docm", "dotx", "dotm", "xlsx", "xlsm", "xlsb", "pptx", "pptm", "ppsx",
                                 "ppsm", "potx", "potm"])
def test_remote_ole_object(scan, data, ext):
    report = scan((data / f"oleobj/external_link/sample_with_external_link_to_doc.{ext}").read_bytes(), f"a.{ext}")
    assert "office.remote_object" in rules_of(report)
    assert any("raw.githubusercontent.com" in item["value"] for item in report.indicators)


_IMAGE_REL = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="http://schemas.openxmlformats.org/'
    'package/2006/relationships"><Relationship Id="rId99" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/image" Target="{target}" TargetMode="External"/></Relationships>'
)


def test_other_remote_part_is_a_low_note(scan):
    remote = office_zip(docx_bytes("图片"), {"word/_rels/footer1.xml.rels": _IMAGE_REL.format(
        target="http://img.example.invalid/track.png").encode()})
    report = scan(remote, "图片.docx")
    assert "office.external_link" in rules_of(report) and report.verdict.value == "clean"
    local = office_zip(docx_bytes("图片"), {"word/_rels/footer1.xml.rels": _IMAGE_REL.format(
        target="file:///C:/Users/kefu/Pictures/a.png").encode()})
    assert "office.external_link" not in rules_of(scan(local, "图片.docx"))


def test_hyperlink_is_an_indicator_not_a_finding(scan):
    report = scan(docx_bytes("订单详情见链接", link="https://shop.example.com/order/123"), "订单.docx")
    assert report.verdict.value == "clean" and not [f for f in report.findings if f.score]
    assert any(item["value"].startswith("https://shop.example.com/order/123") for item in report.indicators)


def test_activex_control_in_word_document(scan):
    activex = ('<?xml version="1.0" encoding="UTF-8"?><ax:ocx ax:classid="{{{clsid}}}" ax:persistence="persistStorage" '
               'r:id="rId1" xmlns:ax="http://schemas.microsoft.com/office/2006/activeX" '
               'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"/>')
    plain = office_zip(docx_bytes("表单"), {"word/activeX/activeX1.xml": activex.format(
        clsid="8BD21D40-EC42-11CE-9E0D-00AA006002F3").encode()})  # Forms.CheckBox
    report = scan(plain, "表单.docx")
    assert "office.activex" in rules_of(report) and "office.exploit_object" not in rules_of(report)
    assert report.verdict.value == "suspicious"
    exploit = office_zip(docx_bytes("表单"), {"word/activeX/activeX1.xml": activex.format(
        clsid="BDD1F04B-858B-11D1-B16A-00C0F0283628").encode()})  # MSCOMCTL.ListViewCtrl
    assert "office.exploit_object" in rules_of(scan(exploit, "表单.docx"))


# -- encryption ------------------------------------------------------------------------------


def test_excel_default_password_is_opened_and_macros_found(scan, data):
    report = scan((data / "encrypted/autostart-encrypt-standardpassword.xlsm").read_bytes(), "价格表.xlsm")
    assert "office.encrypted" in rules_of(report)
    assert "Excel" in finding_at(report, "office.encrypted")[0].message
    decrypted = node_named(report, "(decrypted)")
    assert decrypted.kind == "ooxml"
    assert {"office.macros", "office.macro_autoexec"} <= rules_of(report)


@pytest.mark.parametrize("ext", ["doc", "docx", "xls", "xlsx", "ppt", "pptx", "xlsb"])
def test_unknown_password_is_suspicious(scan, data, ext):
    report = scan((data / f"encrypted/encrypted.{ext}").read_bytes(), f"加密.{ext}")
    assert "office.encrypted_unopened" in rules_of(report)
    assert report.verdict.value == "suspicious"


def test_password_from_the_chat_opens_the_document(scan):
    plain = docx_bytes("机密报价", link="https://shop.example.com/p/1")
    encrypted = io.BytesIO()
    msoffcrypto.format.ooxml.OOXMLFile(io.BytesIO(plain)).encrypt("kefu-2024", encrypted)
    locked = scan(encrypted.getvalue(), "报价.docx")
    assert "office.encrypted_unopened" in rules_of(locked) and locked.verdict.value == "suspicious"
    opened = scan(encrypted.getvalue(), "报价.docx", passwords=["kefu-2024"])
    assert "office.encrypted" in rules_of(opened)
    assert "kefu-2024" in finding_at(opened, "office.encrypted")[0].message
    assert node_named(opened, "(decrypted)").sha256 is not None
    assert opened.verdict.value == "clean"


# -- damaged input -----------------------------------------------------------------------------

_MINE = ("office.", "rtf.", "pdf.", "html.", "installer.", "ole.", "ooxml.")


@pytest.mark.parametrize("sample", ["olevba/sample_with_vba.ppt", "oleobj/sample_with_calc_embedded.doc",
                                    "msodde/dde-test.docx", "excel4-macros/excel4_sample_macro.xlsb",
                                    "encrypted/encrypted.docx"])
def test_damaged_office_files_are_reported_not_crashed(scan, data, sample):
    import random

    original = (data / sample).read_bytes()
    shuffle = random.Random(sample)
    variants = [original[: len(original) * cut // 4] for cut in (1, 2, 3)]
    for _ in range(3):
        damaged = bytearray(original)
        for _ in range(30):
            damaged[shuffle.randrange(len(damaged))] = shuffle.randrange(256)
        variants.append(bytes(damaged))
    for variant in variants:
        report = scan(variant, sample.rsplit("/", 1)[-1])
        failed = [f.params.get("analyzer", "") for f in report.findings if f.rule == "scan.analyzer_failed"]
        assert not [name for name in failed if name.startswith(_MINE)], failed


def test_activemime_blob_from_a_web_page_save(scan, clam_testfiles):
    import struct
    import zlib

    document = (clam_testfiles / "clam.ole.doc").read_bytes()
    header = bytearray(b"ActiveMime" + b"\x00" * 0x28)
    struct.pack_into("<H", header, 0x1E, 0x32 - 46)
    report = scan(bytes(header) + zlib.compress(document), "editdata.mso")
    assert node_named(report, "activemime-content").kind == "ole"
    assert reason_is_node_with_hash(report, CLAM_EXE_SHA256)
