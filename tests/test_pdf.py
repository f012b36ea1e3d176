"""PDF active content on real and hand-written files (ClamAV's clam.pdf; the R16 recipe
with /Launch and /JavaScript; disguised names; object streams; attachments; passwords).
Scripts are text and never run; addresses use reserved names."""

from __future__ import annotations

import io
import zlib

import pytest
from _docs import PAGE, PAGES, finding_at, make_pdf, make_pdf_with_object_stream, reason_is_node_with_hash
from conftest import CLAM_EXE_SHA256, node_named, rules_of
from pypdf import PdfWriter

CATALOG = b"<< /Type /Catalog /Pages 2 0 R %s >>"


def _pdf(catalog_extra: bytes, *more: bytes, page: bytes = PAGE) -> bytes:
    return make_pdf([CATALOG % catalog_extra, PAGES, page, *more])


def test_clamav_program_attached_to_pdf_is_found_by_hash(scan, clam_testfiles):
    report = scan((clam_testfiles / "clam.pdf").read_bytes(), "说明书.pdf")
    attachment = node_named(report, "clam.exe")
    assert attachment.sha256 == CLAM_EXE_SHA256
    assert report.verdict.value == "malicious"
    assert reason_is_node_with_hash(report, CLAM_EXE_SHA256)


def test_launch_and_javascript_on_open(scan):
    pdf = _pdf(b"/OpenAction 4 0 R",
               b"<< /S /Launch /Win << /F (cmd.exe) /P (/c echo TEST-ONLY) >> /Next 5 0 R >>",
               b'<< /S /JavaScript /JS (app.alert\\("TEST-ONLY"\\);) >>')
    report = scan(pdf, "发票.pdf")
    assert {"pdf.launch", "pdf.javascript", "pdf.javascript_on_open"} <= rules_of(report)
    assert "cmd.exe /c echo TEST-ONLY" in finding_at(report, "pdf.launch")[0].message
    assert report.verdict.value == "malicious"


def test_disguised_javascript_name(scan):
    pdf = _pdf(b"/OpenAction 4 0 R", b'<< /S /J#61vaScript /JS (app.launchURL\\("https://example.invalid/x"\\);) >>')
    report = scan(pdf, "a.pdf")
    assert "/J#61vaScript = /JavaScript" in finding_at(report, "pdf.obfuscated_names")[0].message
    assert "pdf.javascript_on_open" in rules_of(report)  # the reader decodes the name, and so do we
    assert any(item["value"] == "https://example.invalid/x" for item in report.indicators)


def test_escaped_font_name_is_not_disguise(scan):
    # "#20" (a space) in a font name is ordinary; only escaped letters in action names count.
    pdf = _pdf(b"", b"<< /Type /Font /Subtype /Type1 /BaseFont /Arial#20Bold >>")
    assert "pdf.obfuscated_names" not in rules_of(scan(pdf, "a.pdf"))


def test_javascript_inside_compressed_object_stream(scan):
    pdf = make_pdf_with_object_stream(
        [CATALOG % b"/OpenAction 4 0 R", PAGES, PAGE],
        [b'<< /S /JavaScript /JS (this.exportDataObject\\({cName: "a.zip", nLaunch: 2}\\);) >>'])
    assert b"JavaScript" not in pdf  # only visible once the object stream is decoded
    report = scan(pdf, "订单.pdf")
    assert {"pdf.javascript", "pdf.javascript_on_open"} <= rules_of(report)


def test_javascript_in_a_form_field_only_is_suspicious_not_malicious(scan):
    widget = (b"<< /Type /Annot /Subtype /Widget /FT /Tx /T (amount) /Rect [0 0 100 20] "
              b"/AA << /K << /S /JavaScript /JS (AFNumber_Keystroke\\(2, 0, 0, 0, \"\", true\\);) >> >> >>")
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Annots [4 0 R] >>"
    report = scan(_pdf(b"/AcroForm << /Fields [4 0 R] >>", widget, page=page), "表单.pdf")
    assert "pdf.javascript" in rules_of(report) and "pdf.javascript_on_open" not in rules_of(report)
    assert report.verdict.value == "suspicious"


def test_attachment_program_is_extracted_and_judged(scan, pe_bytes):
    packed = zlib.compress(pe_bytes)
    pdf = _pdf(b"/Names << /EmbeddedFiles << /Names [(invoice.exe) 4 0 R] >> >>",
               b"<< /Type /Filespec /F (invoice.exe) /UF (invoice.exe) /EF << /F 5 0 R >> >>",
               b"<< /Type /EmbeddedFile /Filter /FlateDecode /Length %d /Params << /Size %d >> >>\nstream\n"
               % (len(packed), len(pe_bytes)) + packed + b"\nendstream")
    report = scan(pdf, "invoice.pdf")
    assert node_named(report, "invoice.exe").kind == "pe"
    assert "type.executable" in rules_of(report) and "pdf.embedded_file" in rules_of(report)


def test_attached_invoice_xml_is_clean(scan):
    # e-invoices (ZUGFeRD / Factur-X) attach their XML data to the PDF: ordinary.
    xml = b'<?xml version="1.0"?><Invoice><ID>2024-001</ID><Total>99.00</Total></Invoice>'
    pdf = _pdf(b"/Names << /EmbeddedFiles << /Names [(factur-x.xml) 4 0 R] >> >>",
               b"<< /Type /Filespec /F (factur-x.xml) /EF << /F 5 0 R >> >>",
               b"<< /Type /EmbeddedFile /Length %d >>\nstream\n" % len(xml) + xml + b"\nendstream")
    report = scan(pdf, "invoice.pdf")
    assert node_named(report, "factur-x.xml").kind == "xml"
    assert report.verdict.value == "clean", [finding.rule for finding in report.findings]


def test_link_opened_automatically(scan):
    report = scan(_pdf(b"/OpenAction 4 0 R", b"<< /S /URI /URI (https://login.example.invalid/verify) >>"), "a.pdf")
    assert "pdf.opens_link" in rules_of(report) and report.verdict.value == "suspicious"


def test_clickable_link_is_an_indicator_only(scan):
    annot = b"<< /Type /Annot /Subtype /Link /Rect [0 0 100 20] /A << /S /URI /URI (https://shop.example.com/item/9) >> >>"
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Annots [4 0 R] >>"
    report = scan(_pdf(b"", annot, page=page), "目录.pdf")
    assert report.verdict.value == "clean" and not [finding for finding in report.findings if finding.score]
    assert any(item["value"] == "https://shop.example.com/item/9" for item in report.indicators)


def test_forms_that_send_data_and_links_to_other_files(scan):
    submit = b"<< /S /SubmitForm /F << /FS /URL /F (https://collect.example.invalid/form) >> >>"
    goto = b"<< /S /GoToR /F (\\\\\\\\198.51.100.7\\\\share\\\\doc.pdf) /D [0 /Fit] >>"
    report = scan(_pdf(b"", submit, goto), "a.pdf")
    assert {"pdf.submit_form", "pdf.remote_goto"} <= rules_of(report)
    assert "collect.example.invalid" in finding_at(report, "pdf.submit_form")[0].message


def test_richmedia_and_xfa_script(scan):
    xfa = b'<xdp:xdp xmlns:xdp="http://ns.adobe.com/xdp/"><template><script contentType="application/x-javascript">app.alert(1)</script></template></xdp:xdp>'
    pdf = _pdf(b"/AcroForm << /Fields [] /XFA 4 0 R >>",
               b"<< /Length %d >>\nstream\n" % len(xfa) + xfa + b"\nendstream",
               b"<< /Type /Annot /Subtype /RichMedia /Rect [0 0 10 10] >>")
    report = scan(pdf, "a.pdf")
    assert {"pdf.xfa", "pdf.javascript", "pdf.richmedia"} <= rules_of(report)


def _encrypted(user_password: str) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_password_protected_pdf(scan):
    locked = _encrypted("kefu-2024")
    report = scan(locked, "对账单.pdf")
    assert "pdf.encrypted_unopened" in rules_of(report) and report.verdict.value == "suspicious"
    opened = scan(locked, "对账单.pdf", passwords=["kefu-2024"])
    assert opened.verdict.value == "clean" and "pdf.encrypted_unopened" not in rules_of(opened)
    # Restrictions only (empty user password): opens like any PDF.
    assert scan(_encrypted(""), "账单.pdf").verdict.value == "clean"


@pytest.mark.parametrize("damage", [b"", b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog", b"%PDF-1.4\n" + b"\x00" * 300])
def test_damaged_pdf_does_not_crash(scan, damage):
    report = scan(damage, "broken.pdf")
    assert report.verdict.value in ("clean", "error", "suspicious")
