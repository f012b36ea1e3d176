"""Helpers for the document tests: oletools' real test data, and small document writers.

- :func:`oletools_data`: oletools 0.60.2's ``tests/test-data`` (BSD-2-Clause), unpacked
  from its sdist on PyPI by :func:`_registry.sdist_root` (once, into ``.cache/``);
- :func:`from_protected_zip`: the 7 samples oletools keeps inside zips encrypted with the
  password ``infected-test`` (so that antivirus software leaves its source alone);
- :func:`make_pdf`: a PDF written object by object with a correct cross-reference table
  (scripts in it are text and are never run; addresses use reserved names);
- :func:`office_zip`: an Office package rewritten with extra or replaced parts (used to add
  a remote template relationship to a document python-docx wrote).
"""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path

from _registry import sdist_root

PASSWORD = b"infected-test"


def oletools_data() -> Path:
    return sdist_root("oletools", "0.60.2") / "tests" / "test-data"


def from_protected_zip(path: Path) -> tuple[str, bytes]:
    """(name, bytes) of the single sample inside one of oletools' protected zips."""
    with zipfile.ZipFile(path) as archive:
        name = archive.namelist()[0]
        return name, archive.read(name, pwd=PASSWORD)


def make_pdf(objects: list[bytes], root: int = 1, trailer_extra: bytes = b"") -> bytes:
    """A PDF whose object N (1-based) is ``objects[N-1]``, with a valid xref table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root %d 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, root, trailer_extra, xref)
    return bytes(out)


def make_pdf_with_object_stream(plain: list[bytes], packed: list[bytes]) -> bytes:
    """A PDF 1.5 file: ``plain`` objects as usual, ``packed`` ones inside a compressed
    object stream (numbered after the plain ones), indexed by a cross-reference stream."""
    first_packed = len(plain) + 1
    header, body = [], b""
    for index, obj in enumerate(packed):
        header.append(b"%d %d" % (first_packed + index, len(body)))
        body += obj + b"\n"
    head = b" ".join(header) + b"\n"
    stream = zlib.compress(head + body)
    objstm_number = first_packed + len(packed)
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number, obj in enumerate(plain, 1):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    offsets[objstm_number] = len(out)
    out += b"%d 0 obj\n<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode /Length %d >>\nstream\n" % (
        objstm_number, len(packed), len(head), len(stream)) + stream + b"\nendstream\nendobj\n"
    xref_number = objstm_number + 1
    offsets[xref_number] = len(out)
    rows = [b"\x00" + (0).to_bytes(4, "big") + (65535).to_bytes(2, "big")]
    for number in range(1, xref_number + 1):
        if first_packed <= number < objstm_number:
            rows.append(b"\x02" + objstm_number.to_bytes(4, "big") + (number - first_packed).to_bytes(2, "big"))
        else:
            rows.append(b"\x01" + offsets[number].to_bytes(4, "big") + (0).to_bytes(2, "big"))
    table = zlib.compress(b"".join(rows))
    out += (b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root 1 0 R /Filter /FlateDecode /Length %d >>\n"
            b"stream\n" % (xref_number, xref_number + 1, len(table))) + table + b"\nendstream\nendobj\n"
    out += b"startxref\n%d\n%%%%EOF\n" % offsets[xref_number]
    return bytes(out)


PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"
PAGES = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"


def office_zip(original: bytes, replace: dict[str, bytes]) -> bytes:
    """``original`` (an Office zip) with parts added or replaced."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(original)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename not in replace:
                target.writestr(info, source.read(info))
        for name, data in replace.items():
            target.writestr(name, data)
    return out.getvalue()


def docx_bytes(*paragraphs: str, link: str | None = None) -> bytes:
    """A Word document written by python-docx (optionally with one hyperlink)."""
    import docx
    from docx.opc.constants import RELATIONSHIP_TYPE

    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    if link:
        paragraph = document.add_paragraph("Our shop: ")
        rel_id = paragraph.part.relate_to(link, RELATIONSHIP_TYPE.HYPERLINK, is_external=True)
        hyperlink = docx.oxml.OxmlElement("w:hyperlink")
        hyperlink.set(docx.oxml.ns.qn("r:id"), rel_id)
        run = docx.oxml.OxmlElement("w:r")
        text = docx.oxml.OxmlElement("w:t")
        text.text = link
        run.append(text)
        hyperlink.append(run)
        paragraph._p.append(hyperlink)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def finding_at(report, rule: str):
    """The findings of ``rule`` in ``report``."""
    return [finding for finding in report.findings if finding.rule == rule]


def reason_is_node_with_hash(report, sha256: str) -> bool:
    """True when a top-scoring finding is about a node whose content has ``sha256``."""
    nodes = {node.path: node for node in report.tree.walk()}
    top = max(finding.score for finding in report.findings)
    return any(
        finding.score == top and nodes.get(finding.where) is not None and nodes[finding.where].sha256 == sha256
        for finding in report.findings
    )
