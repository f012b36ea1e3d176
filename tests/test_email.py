"""Mail containers and text encodings: .eml/MIME, mbox, uuencode, BinHex, TNEF.

Samples are ClamAV's own test files (each must yield ``clam.exe``) and messages written
at test time with the stdlib ``email`` package around real parts (pip's ``t64.exe``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import struct
import zipfile
from email import encoders, policy
from email.mime.application import MIMEApplication
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest
from conftest import CLAM_EXE_SHA256, node_named, rules_of

from filewall.identify import identify

PROGRAM_RULES = {"type.executable", "type.script", "type.installer", "archive.self_extracting"}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def at(report, path: str):
    """The node at exactly ``path`` in the report's tree."""
    found = [node for node in report.tree.walk() if node.path == path]
    assert found, f"no {path!r} in {[node.path for node in report.tree.walk()]}"
    return found[0]


def uuencode(data: bytes, name: str) -> bytes:
    """uuencode as the ``uuencode`` tool writes it (45 bytes a line)."""
    lines = [binascii.b2a_uu(data[i : i + 45]) for i in range(0, len(data), 45)]
    return b"begin 644 " + name.encode() + b"\n" + b"".join(lines) + b"`\nend\n"


def zip_holding(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


# --- ClamAV's test files -----------------------------------------------------------------


@pytest.mark.parametrize(
    "sample, where",
    [
        ("clam.mail", "clam.mail/clam.exe"),
        ("clam.exe.mbox.base64", "clam.exe.mbox.base64/message-1.eml/clam.exe"),
        ("clam.exe.mbox.uu", "clam.exe.mbox.uu/message-1.eml/clam.exe"),
        ("clam.exe.binhex", "clam.exe.binhex/clam.exe"),
        ("clam.tnef", "clam.tnef/clam.exe"),
    ],
)
def test_clamav_mail_samples_yield_clam_exe(scan, clam_testfiles, sample, where):
    report = scan((clam_testfiles / sample).read_bytes(), sample)
    found = [node for node in report.tree.walk() if node.sha256 == CLAM_EXE_SHA256]
    assert [node.path for node in found] == [where]
    assert found[0].kind == "pe"
    assert report.verdict.value == "malicious"


def test_binhex_header_is_read(scan, clam_testfiles):
    report = scan((clam_testfiles / "clam.exe.binhex").read_bytes(), "clam.exe.hqx")
    assert report.tree.kind == "binhex"
    assert report.tree.info["binhex"] == {
        "name": "clam.exe",
        "type": "EXE",
        "creator": "Clam",
        "header_crc_ok": True,
    }
    assert node_named(report, "clam.exe").info["crc_ok"] is True


# --- a lure message written with the stdlib email package -----------------------------------


@pytest.fixture
def lure_message(pe_bytes) -> tuple[bytes, dict[str, bytes]]:
    """A customer's mail: QP text, a zip with a disguised program under a GBK RFC 2231
    name, and a uuencoded attachment."""
    parts = {
        "说明.txt": "亲，订单发票在附件里，请查收。=\n".encode() * 3,
        "订单发票.zip": zip_holding("发票.pdf.exe", pe_bytes),
        "付款截图.exe": pe_bytes[:4096],
    }
    message = MIMEMultipart()
    message["From"] = "customer@example.com"
    message["To"] = "shop@example.com"
    message["Subject"] = "=?utf-8?b?" + base64.b64encode("订单问题".encode()).decode() + "?="
    text = MIMEText(parts["说明.txt"].decode(), "plain", "utf-8")
    text.replace_header("Content-Transfer-Encoding", "quoted-printable")
    text.set_payload(_qp(parts["说明.txt"]))
    message.attach(text)
    archive = MIMEApplication(parts["订单发票.zip"], "zip")  # base64 by default
    archive.add_header("Content-Disposition", "attachment", filename=("gbk", "", "订单发票.zip"))
    message.attach(archive)
    uu = MIMEBase("application", "octet-stream")
    uu.set_payload(uuencode(parts["付款截图.exe"], "screenshot.exe").decode())
    uu["Content-Transfer-Encoding"] = "x-uuencode"
    uu.add_header("Content-Disposition", "attachment", filename=("utf-8", "", "付款截图.exe"))
    message.attach(uu)
    return message.as_bytes(policy=policy.compat32), parts


def _qp(data: bytes) -> str:
    return binascii.b2a_qp(data).decode()


def test_lure_message_written_with_stdlib_email(scan, lure_message, pe_bytes):
    raw, parts = lure_message
    assert b"filename*=gbk''%B6%A9%B5%A5%B7%A2%C6%B1.zip" in raw  # the GBK RFC 2231 form
    report = scan(raw, "订单.eml")
    assert report.tree.kind == "email"
    assert report.tree.info["email"]["subject"] == "订单问题"
    archive = node_named(report, "订单发票.zip")
    assert archive.kind == "zip" and archive.sha256 == sha256(parts["订单发票.zip"])
    assert archive.info["transfer_encoding"] == "base64"
    program = node_named(report, "发票.pdf.exe")
    assert program.path == "订单.eml/订单发票.zip/发票.pdf.exe"
    assert program.sha256 == sha256(pe_bytes) and program.kind == "pe"
    body = node_named(report, "body.txt")
    assert body.info["transfer_encoding"] == "quoted-printable"
    assert body.sha256 == sha256(parts["说明.txt"])
    uu = node_named(report, "付款截图.exe")
    assert uu.sha256 == sha256(parts["付款截图.exe"]) and uu.info["transfer_encoding"] == "x-uuencode"
    assert report.verdict.value == "malicious"
    assert "type.executable" in rules_of(report)


def test_rfc2047_and_raw_gbk_filenames(scan, pe_bytes):
    name_2047 = "=?GB2312?B?" + base64.b64encode("报价单.exe".encode("gb2312")).decode() + "?="
    raw_gbk = "合同.exe".encode("gbk")
    payload = base64.encodebytes(pe_bytes[:1024])
    message = (
        b"From: customer@example.com\r\nSubject: price\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="'
        + name_2047.encode()
        + b'"\r\n\r\n'
        + payload
        + b"--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="' + raw_gbk + b'"\r\n\r\n' + payload + b"--b1--\r\n"
    )
    report = scan(message, "price.eml")
    assert {node.name for node in report.tree.children} == {"报价单.exe", "合同.exe"}
    assert all(node.sha256 == sha256(pe_bytes[:1024]) for node in report.tree.children)


def test_inline_uuencoded_block_in_a_plain_text_body(scan, pe_bytes):
    body = b"Hello, the design is below.\n\n" + uuencode(pe_bytes, "design.jpg.exe") + b"\nThanks\n"
    message = b"From: customer@example.com\nTo: shop@example.com\nSubject: design\n\n" + body
    report = scan(message, "design.eml")
    program = node_named(report, "design.jpg.exe")
    assert program.path == "design.eml/body.txt/design.jpg.exe"
    assert program.sha256 == sha256(pe_bytes)
    assert report.verdict.value == "malicious"


def test_attached_message_is_its_own_level(scan, pe_bytes):
    inner = MIMEMultipart()
    inner["DKIM-Signature"] = "v=1; a=rsa-sha256; d=example.com; s=s1; b=abc"
    inner["From"] = "boss@example.com"
    inner["Subject"] = "invoice"
    inner.attach(MIMEText("see attached", "plain"))
    attachment = MIMEApplication(zip_holding("invoice.pdf.exe", pe_bytes), "zip")
    attachment.add_header("Content-Disposition", "attachment", filename="invoice.zip")
    inner.attach(attachment)
    outer = MIMEMultipart()
    outer["From"] = "customer@example.com"
    outer["Subject"] = "Fwd: invoice"
    outer.attach(MIMEText("forwarding", "plain"))
    forwarded = MIMEBase("message", "rfc822")
    forwarded.set_payload([inner])
    outer.attach(forwarded)
    report = scan(outer.as_bytes(), "fwd.eml")
    program = node_named(report, "invoice.pdf.exe")
    # The forwarded message is the second part of the outer one.
    assert program.path == "fwd.eml/attached-message-2.eml/invoice.zip/invoice.pdf.exe"
    assert at(report, "fwd.eml/attached-message-2.eml").kind == "email"
    assert program.sha256 == sha256(pe_bytes)


def test_mail_identified_when_first_header_is_unusual():
    head = (
        b"DKIM-Signature: v=1; a=rsa-sha256;\r\n\td=example.com\r\nThread-Topic: order\r\n"
        b"From: a@example.com\r\nSubject: hi\r\nContent-Type: text/html\r\n\r\n<html><body>hi</body></html>"
    )
    assert identify(head).kind == "email"
    # A text with a colon in its first line is not mail.
    assert identify(b"Note: call me\nthe order is late\n\nthanks").kind == "text"


# --- benign controls -----------------------------------------------------------------------


def test_normal_mail_with_pdf_and_html_body_is_not_a_program(scan):
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    message = MIMEMultipart("mixed")
    message["From"] = "customer@example.com"
    message["Subject"] = "订单 12345 的发票"
    alternative = MIMEMultipart("alternative")
    alternative.attach(MIMEText("您好，发票见附件。", "plain", "utf-8"))
    alternative.attach(MIMEText("<html><body><p>您好，发票见附件。</p></body></html>", "html", "utf-8"))
    message.attach(alternative)
    attachment = MIMEApplication(pdf, "pdf")
    attachment.add_header("Content-Disposition", "attachment", filename=("utf-8", "", "发票.pdf"))
    message.attach(attachment)
    report = scan(message.as_bytes(), "invoice.eml")
    assert report.tree.kind == "email"
    assert [node.name for node in report.tree.children] == ["body.txt", "body.html", "发票.pdf"]
    assert node_named(report, "body.html").kind == "html"
    assert node_named(report, "发票.pdf").sha256 == sha256(pdf)
    assert not rules_of(report) & PROGRAM_RULES
    assert report.verdict.value != "malicious"


# --- mbox --------------------------------------------------------------------------------


def test_mbox_splits_messages_and_unescapes_from_lines(scan, pe_bytes):
    first = b"From: a@example.com\nSubject: one\n\nhello\n>From here on it is quoted\n"
    second = (
        b"From: b@example.com\nSubject: two\nMIME-Version: 1.0\n"
        b'Content-Type: application/octet-stream; name="a.exe"\nContent-Transfer-Encoding: base64\n\n'
        + base64.encodebytes(pe_bytes)
    )
    mbox = (
        b"From a@example.com Thu Jul 31 13:49:50 2008\n"
        + first
        + b"\nFrom b@example.com Fri Aug 1 10:00:00 2008\n"
        + second
    )
    report = scan(mbox, "inbox.mbox")
    assert report.tree.kind == "mbox"
    assert [node.name for node in report.tree.children] == ["message-1.eml", "message-2.eml"]
    body = at(report, "inbox.mbox/message-1.eml/body.txt")
    assert body.sha256 == sha256(b"hello\nFrom here on it is quoted\n\n")
    assert node_named(report, "a.exe").sha256 == sha256(pe_bytes)


# --- standalone uuencode and BinHex ------------------------------------------------------------


def test_uuencoded_file_with_two_blocks_and_base64_variant(scan, pe_bytes, eicar):
    base64_block = b"begin-base64 644 eicar.com\n" + base64.encodebytes(eicar) + b"====\n"
    text = b"two files\n" + uuencode(pe_bytes, "a.exe") + b"\n" + base64_block
    report = scan(text, "files.uue")
    assert report.tree.kind == "uuencode"
    assert [node.name for node in report.tree.children] == ["a.exe", "eicar.com"]
    assert node_named(report, "a.exe").sha256 == sha256(pe_bytes)
    assert node_named(report, "eicar.com").sha256 == sha256(eicar)


def test_uuencode_without_end_line_gives_partial_result(scan, pe_bytes):
    lines = uuencode(pe_bytes, "cut.exe").splitlines(keepends=True)
    # The begin line, 100 full lines of 45 bytes, and half of the next line.
    text = b"".join(lines[:101]) + lines[101][:31]
    report = scan(text, "cut.uue")
    node = node_named(report, "cut.exe")
    assert node.info["incomplete"]
    assert node.sha256 == sha256(pe_bytes[: 100 * 45 + 22])


def _hqx(raw: bytes) -> bytes:
    """BinHex 6-bit encoding (no RLE) of ``raw``, for building damaged samples."""
    from filewall.extract.binhex import ALPHABET

    text = base64.b64encode(raw).rstrip(b"=")
    text = text.translate(
        bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", ALPHABET)
    )
    lines = b"\n".join(text[i : i + 64] for i in range(0, len(text), 64))
    return b"(This file must be converted with BinHex 4.0)\n\n:" + lines + b":\n"


def _binhex_header(name: bytes, data_length: int, resource_length: int = 0) -> bytes:
    header = (
        bytes([len(name)]) + name + b"\x00TEXTttxt\x00\x00" + struct.pack(">II", data_length, resource_length)
    )
    return header + struct.pack(">H", binascii.crc_hqx(header, 0))


def test_binhex_run_length_bomb_is_bounded(scan):
    # 'A' then 0x90 0xFF repeated: each three bytes claim 254 more 'A's, and the header
    # claims 4 GiB. Output must stop at what may be unpacked, not follow the claim.
    runs = b"A" + b"\x90\xff" * 20000
    raw = _binhex_header(b"big.txt", 0xFFFFFFF0) + runs
    from filewall.limits import Limits

    report = scan(_hqx(raw), "big.hqx", limits=Limits.from_env({}, max_file_size=1024 * 1024))
    node = node_named(report, "big.txt")
    assert node.size <= 1024 * 1024 + 4
    assert "archive.decompression_bomb" in {fact.rule for fact in node.facts}


def test_damaged_binhex_is_an_error_not_a_crash(scan, clam_testfiles):
    original = (clam_testfiles / "clam.exe.binhex").read_bytes()
    damaged = original.replace(b"!!!!!!!!", b"~~~~~~~~", 1)
    report = scan(damaged, "bad.hqx")
    assert "file.corrupt" in rules_of(report) and report.verdict.value == "error"


def test_truncated_binhex_keeps_the_part_that_is_there(scan, clam_testfiles):
    original = (clam_testfiles / "clam.exe.binhex").read_bytes()
    report = scan(original[:500], "cut.hqx")
    node = node_named(report, "clam.exe")
    assert "incomplete" in node.info and 0 < node.size < 544


# --- TNEF ------------------------------------------------------------------------------------


def test_truncated_tnef_is_graceful(scan, clam_testfiles):
    original = (clam_testfiles / "clam.tnef").read_bytes()
    # Message attributes only: nothing to unpack, and nothing broken to report.
    report = scan(original[:3000], "winmail.dat")
    assert report.tree.kind == "tnef" and report.tree.children == []
    # Cut inside the attachment's data: the part that is there is still checked.
    report = scan(original[:3600], "winmail.dat")
    (child,) = report.tree.children
    assert child.name == "attachment-1" and child.size == 3600 - 3345
    # Only the last checksum missing: the program is whole.
    report = scan(original[:-3], "winmail.dat")
    assert report.tree.children[0].sha256 == CLAM_EXE_SHA256


def test_tnef_inside_a_mail_is_unpacked(scan, clam_testfiles):
    message = MIMEMultipart()
    message["From"] = "customer@example.com"
    message["Subject"] = "outlook"
    part = MIMEBase("application", "ms-tnef")
    part.set_payload((clam_testfiles / "clam.tnef").read_bytes())
    encoders.encode_base64(part)
    part.add_header("Content-Disposition", "attachment", filename="winmail.dat")
    message.attach(part)
    report = scan(message.as_bytes(), "outlook.eml")
    assert at(report, "outlook.eml/winmail.dat").kind == "tnef"
    assert at(report, "outlook.eml/winmail.dat/clam.exe").sha256 == CLAM_EXE_SHA256


# --- hostile structure --------------------------------------------------------------------------


def test_deeply_nested_multipart_is_an_error_not_a_crash(scan):
    levels = 3000
    head = b"From: a@example.com\nSubject: deep\nMIME-Version: 1.0\n"
    body = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i) for i in range(levels)
    )
    report = scan(head + body, "deep.eml")
    assert report.verdict.value == "error"
    assert "file.corrupt" in rules_of(report)


def test_too_many_parts_is_a_limit_finding(scan):
    parts = b"".join(b"--b\nContent-Type: text/plain\n\nx\n" for _ in range(1200))
    message = (
        b"From: a@example.com\nSubject: many\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n"
        + parts
        + b"--b--\n"
    )
    report = scan(message, "many.eml")
    assert "limit.members" in rules_of(report)
    assert len(report.tree.children) < 1000


def test_oversized_header_is_cut_before_parsing(scan, pe_bytes):
    huge = "x" * 200_000
    message = (
        b"From: a@example.com\nSubject: long\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n"
        b"--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n"
        b'Content-Disposition: attachment; filename="'
        + huge.encode()
        + b'.exe"\n\n'
        + base64.encodebytes(pe_bytes)
        + b"--b--\n"
    )
    report = scan(message, "long.eml")
    (child,) = report.tree.children
    assert report.tree.info["email"]["headers_cut"] == ["Content-Disposition"]
    assert child.sha256 == sha256(pe_bytes)
    assert len(child.name) <= 4096


def test_padding_a_header_does_not_hide_the_parts_behind_it(scan, pe_bytes):
    """Junk parameters before ``boundary=`` must not turn the message into one blob."""
    padding = "; ".join(f'x{i}="{"a" * 40}"' for i in range(200))  # about 10,000 characters
    message = (
        b"From: a@example.com\nSubject: padded\nMIME-Version: 1.0\n"
        b"Content-Type: multipart/mixed; " + padding.encode() + b'; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\nhello\n"
        b"--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n"
        b"Content-Disposition: attachment; "
        + padding.encode()
        + b'; filename="tool.exe"\n\n'
        + base64.encodebytes(pe_bytes)
        + b"--b--\n"
    )
    report = scan(message, "padded.eml")
    assert node_named(report, "tool.exe").sha256 == sha256(pe_bytes)
    assert report.tree.info["email"]["headers_cut"] == ["Content-Disposition", "Content-Type"]


def test_crafted_parameter_lists_parse_quickly(scan):
    import time

    parts = b"".join(
        b"--b\nContent-Type: application/octet-stream; name=" + b'"' * 4000 + b"\n"
        b"Content-Disposition: attachment; filename=" + b"a;" * 2000 + b"\n\nxx\n"
        for _ in range(300)
    )
    message = (
        b"From: a@example.com\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n"
        + parts
        + b"--b--\n"
    )
    started = time.perf_counter()
    report = scan(message, "crafted.eml")
    assert time.perf_counter() - started < 10
    assert len(report.tree.children) == 300


def test_truncated_mail_gives_partial_results(scan, lure_message):
    raw, parts = lure_message
    for cut in (len(raw) // 3, len(raw) // 2, len(raw) - 10):
        report = scan(raw[:cut], "cut.eml")
        assert report.tree.kind == "email"
        # The text part comes first and is whole in every cut.
        assert at(report, "cut.eml/body.txt").sha256 == sha256(parts["说明.txt"])
        assert not [f for f in report.findings if f.rule == "file.corrupt" and f.where == "cut.eml"]


def _tnef_attribute(level: int, name: int, kind: int, data: bytes) -> bytes:
    checksum = sum(data) & 0xFFFF
    return bytes([level]) + struct.pack("<HHI", name, kind, len(data)) + data + struct.pack("<H", checksum)


def _mapi_variable(prop_type: int, prop_id: int, value: bytes) -> bytes:
    padded = value + b"\x00" * (-len(value) % 4)
    return struct.pack("<HHII", prop_type, prop_id, 1, len(value)) + padded


def test_tnef_mapi_properties_with_chinese_codepage(scan, pe_bytes):
    """Name and data given only as MAPI properties, the name in the OEM code page 936."""
    props = (
        struct.pack("<I", 2)
        + _mapi_variable(0x001E, 0x3707, "报价单.exe".encode("gbk") + b"\x00")
        + _mapi_variable(0x0102, 0x3701, pe_bytes)
    )
    stream = (
        b"\x78\x9f\x3e\x22\x01\x00"
        + _tnef_attribute(1, 0x9007, 0x0006, struct.pack("<II", 936, 0))
        + _tnef_attribute(2, 0x9002, 0x0006, b"\x01\x00" + b"\x00" * 12)
        + _tnef_attribute(2, 0x9005, 0x0006, props)
    )
    report = scan(stream, "winmail.dat")
    (child,) = report.tree.children
    assert child.name == "报价单.exe" and child.sha256 == sha256(pe_bytes)


def test_tnef_with_absurd_counts_finishes(scan):
    # Four-billion properties, and a four-billion-value multi-valued property.
    props = struct.pack("<I", 0xFFFFFFFF) + struct.pack("<HHI", 0x1003, 0x3000, 0xFFFFFFFF) + b"\x00" * 64
    stream = b"\x78\x9f\x3e\x22\x01\x00" + _tnef_attribute(2, 0x9005, 0x0006, props) * 3
    report = scan(stream, "winmail.dat")
    assert [child.name for child in report.tree.children] == ["attachment-1"]
    assert report.tree.children[0].has_content is False


def test_encoded_attached_message_and_raw_gbk_subject(scan, pe_bytes):
    """An attached message sent base64-encoded, whose headers are raw GBK bytes."""
    inner = (
        b"From: a@example.com\nSubject: "
        + "订单".encode("gbk")
        + b"\nContent-Type: application/octet-stream\n"
        b'Content-Disposition: attachment; filename="' + "合同.exe".encode("gbk") + b'"\n'
        b"Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(pe_bytes)
    )
    outer = (
        b"From: b@example.com\nSubject: fwd\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n"
        b"--b\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(inner)
        + b"\n--b--\n"
    )
    report = scan(outer, "fwd.eml")
    forwarded = at(report, "fwd.eml/attached-message-1.eml")
    assert forwarded.kind == "email" and forwarded.info["email"]["subject"] == "订单"
    assert at(report, "fwd.eml/attached-message-1.eml/合同.exe").sha256 == sha256(pe_bytes)


def test_binhex_after_a_note_is_still_binhex(clam_testfiles):
    text = b"Sent from an old Mac.\n\n" + (clam_testfiles / "clam.exe.binhex").read_bytes()
    assert identify(text).kind == "binhex"
