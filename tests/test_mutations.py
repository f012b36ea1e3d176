"""Hostile input, every format: one real sample per format, seeded mutations, one rule.

The rule (the project's): a parser never crashes or hangs on hostile input and never
leaves files behind; a corrupt file is an ``error`` verdict with a reason. Each sample is
built at test time from the same libraries and fixtures the format's own tests use
(zipfile, pyzipper, py7zr, rarfile's test corpus, pycdlib, gcab, python-docx, openpyxl,
python-pptx, fpdf2, pylnk3, Pillow, oletools' test data, ClamAV's test files, pip's
launcher), then damaged by :func:`mutate`: bytes flipped in the first 4 KiB or anywhere,
a cut at a random point, a 4-byte field overwritten with 0, 0xFFFFFFFF or 0x7FFFFFFF, a
chunk duplicated or removed. For the ``*-parts`` formats the same is done to one or two
parts of a zip package, which is then packed again with right CRCs, so that the damage
reaches the XML and picture parsers instead of stopping at a CRC check. Seeds are fixed
(``<format>:<n>``), so a failure names the mutation that reproduces it; most samples are
the same bytes every run (fixed timestamps), not the AES zip, 7z, ISO, CAB, MSI, e-mail.

``bench/fuzz_scan.py`` runs the same mutations for hours; this file keeps ~20 per format.
"""

from __future__ import annotations

import bz2
import datetime
import email.message
import gzip
import importlib.util
import io
import lzma
import random
import re
import shutil
import struct
import subprocess
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from filewall.engine import ScanOptions, scan_bytes
from filewall.limits import Limits

HERE = Path(__file__).resolve().parent
CLAM = Path("/usr/share/clamav-testfiles")
VERDICTS = {"clean", "suspicious", "malicious", "error"}
#: Per-file time limit given to the engine, and the slack allowed on top of it.
SECONDS = 10.0
SLACK = 5.0
PER_FORMAT = 20
PASSWORD = "password"

TEXT = ("订单 order 12345, size 42 x 7 cm\n" * 40).encode()


# -- the mutations ---------------------------------------------------------------------------------------------

_FIELDS = (b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\xff\xff\xff\x7f", b"\x7f\xff\xff\xff")


def mutate(data: bytes, seed: str) -> tuple[bytes, list[str]]:
    """A damaged copy of ``data`` and the list of what was done (deterministic in ``seed``)."""
    rng = random.Random(seed)
    out = bytearray(data)
    done: list[str] = []
    for _ in range(rng.randint(1, 3)):
        if not out:
            break
        operation = rng.choice(
            ("flip_head", "flip_head", "flip_any", "truncate", "field", "field", "dup", "cut")
        )
        if operation == "flip_head":
            for _ in range(rng.randint(1, 8)):
                position = rng.randrange(min(len(out), 4096))
                out[position] = rng.randrange(256)
            done.append("flip_head")
        elif operation == "flip_any":
            for _ in range(rng.randint(1, 8)):
                out[rng.randrange(len(out))] = rng.randrange(256)
            done.append("flip_any")
        elif operation == "truncate":
            cut = rng.randrange(len(out))
            del out[cut:]
            done.append(f"truncate@{cut}")
        elif operation == "field":
            limit = min(len(out), 4096) if rng.random() < 0.6 else len(out)
            position = rng.randrange(max(1, limit - 3))
            value = rng.choice(_FIELDS)
            out[position : position + 4] = value
            done.append(f"field@{position}={value.hex()}")
        elif operation == "dup":
            start = rng.randrange(len(out))
            chunk = out[start : start + rng.randint(1, 4096)]
            at = rng.randrange(len(out) + 1)
            out[at:at] = chunk
            done.append(f"dup[{start}+{len(chunk)}]@{at}")
        else:
            start = rng.randrange(len(out))
            length = rng.randint(1, 4096)
            del out[start : start + length]
            done.append(f"cut[{start}+{length}]")
    return bytes(out), done


def mutate_parts(data: bytes, seed: str) -> tuple[bytes, list[str]]:
    """A zip package with one or two of its parts damaged by :func:`mutate` and packed again
    with right CRCs, so that the damage reaches the parsers of the parts (XML, pictures)."""
    rng = random.Random(seed)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = [(info.filename, archive.read(info), info.compress_type) for info in archive.infolist()]
    done = []
    for index in sorted(rng.sample(range(len(members)), min(len(members), rng.randint(1, 2)))):
        name, part, method = members[index]
        part, what = mutate(part, f"{seed}:{name}")
        members[index] = (name, part, method)
        done.append(f"{name}: {', '.join(what)}")
    return _stable_zip(members), done


def mutated(fmt: str, data: bytes, seed: str) -> tuple[bytes, list[str]]:
    """The sample of ``fmt`` damaged the way that format is damaged (see ``FORMATS``)."""
    return (mutate_parts if fmt.endswith("-parts") else mutate)(data, seed)


# -- the samples -----------------------------------------------------------------------------------------------


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec and spec.submodule_search_locations, f"{package} is not installed"
    return Path(next(iter(spec.submodule_search_locations)), *parts)


def _pe() -> bytes:
    return _package_file("pip", "_vendor", "distlib", "t64.exe").read_bytes()


def _png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (48, 32), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def _image(kind: str) -> Callable[[Path], bytes]:
    def build(_work: Path) -> bytes:
        from PIL import Image

        picture = Image.new("RGB", (64, 48))
        picture.putdata([(x * 4 % 256, y * 5 % 256, (x * y) % 256) for y in range(48) for x in range(64)])
        buffer = io.BytesIO()
        if kind == "JPEG":
            exif = picture.getexif()
            exif[0x010F] = "TestCam"
            picture.save(buffer, kind, exif=exif)
        elif kind == "GIF":
            frames = [picture.convert("P"), Image.new("P", (64, 48), 3)]
            frames[0].save(buffer, kind, save_all=True, append_images=frames[1:], comment=b"test")
        else:
            picture.save(buffer, kind)
        return buffer.getvalue()

    return build


def _stable_zip(members: list[tuple[str, bytes, int]]) -> bytes:
    """A zip of ``(name, data, method)`` with fixed timestamps (same bytes every run)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data, method in members:
            archive.writestr(zipfile.ZipInfo(name, (2024, 5, 1, 12, 0, 0)), data, method)
    return buffer.getvalue()


def _restamped(package: bytes, method: int | None = None) -> bytes:
    """An Office package rewritten with fixed timestamps, so a seed names the same bytes
    (and with every part stored, when ``method`` says so, for flips to reach the XML)."""
    members = []
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        for info in archive.infolist():
            data = archive.read(info)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z?", b"2024-05-01T12:00:00Z", data)
            members.append((info.filename, data, info.compress_type if method is None else method))
    return _stable_zip(members)


def _stored(builder: Callable[[Path], bytes]) -> Callable[[Path], bytes]:
    return lambda work: _restamped(builder(work), zipfile.ZIP_STORED)


def _zip(_work: Path) -> bytes:
    return _stable_zip(
        [
            ("订单/说明.txt", TEXT, zipfile.ZIP_DEFLATED),
            ("logo.png", _png(), zipfile.ZIP_STORED),
            ("inner.zip", _inner_zip(), zipfile.ZIP_DEFLATED),
        ]
    )


def _inner_zip() -> bytes:
    return _stable_zip([("a.txt", TEXT[:200], zipfile.ZIP_DEFLATED)])


def _zip_aes(_work: Path) -> bytes:
    import pyzipper

    buffer = io.BytesIO()
    with pyzipper.AESZipFile(
        buffer, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
    ) as archive:
        archive.setpassword(PASSWORD.encode())
        archive.writestr("说明.txt", TEXT)
        archive.writestr("logo.png", _png())
    return buffer.getvalue()


def _seven(_work: Path) -> bytes:
    import py7zr

    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w") as archive:
        archive.writestr(TEXT, "订单/说明.txt")
        archive.writestr(_png(), "logo.png")
    return buffer.getvalue()


def _rar(name: str) -> Callable[[Path], bytes]:
    def build(_work: Path) -> bytes:
        import sys

        sys.path.insert(0, str(HERE))
        from _registry import sdist_file

        return sdist_file("rarfile", "4.5", f"test/files/{name}").read_bytes()

    return build


def _tar_bytes() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in (("资料/说明.txt", TEXT), ("logo.png", _png())):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 0
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _compressed(kind: str) -> Callable[[Path], bytes]:
    def build(_work: Path) -> bytes:
        import zstandard

        payload = _tar_bytes() if kind == "tar.gz" else TEXT
        return {
            "tar.gz": lambda: gzip.compress(payload, mtime=0),
            "gz": lambda: gzip.compress(payload, mtime=0),
            "bz2": lambda: bz2.compress(payload),
            "xz": lambda: lzma.compress(payload),
            "zst": lambda: zstandard.ZstdCompressor().compress(payload),
        }[kind]()

    return build


def _iso(_work: Path) -> bytes:
    import pycdlib

    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09")
    iso.add_directory("/D1", joliet_path="/资料", rr_name="d1")
    iso.add_fp(io.BytesIO(TEXT), len(TEXT), "/D1/F0.TXT;1", joliet_path="/资料/说明.txt", rr_name="a.txt")
    png = _png()
    iso.add_fp(io.BytesIO(png), len(png), "/F1.PNG;1", joliet_path="/logo.png", rr_name="logo.png")
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    return out.getvalue()


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


def _cab(work: Path) -> bytes:
    folder = work / "cab"
    folder.mkdir()
    (folder / "readme.txt").write_bytes(TEXT)
    (folder / "logo.png").write_bytes(_png())
    subprocess.run([_tool("gcab"), "-c", "-z", "t.cab", "readme.txt", "logo.png"], cwd=folder, check=True)
    return (folder / "t.cab").read_bytes()


def _eml(_work: Path) -> bytes:
    message = email.message.EmailMessage()
    message["From"] = "客户 <buyer@example.invalid>"
    message["To"] = "shop@example.invalid"
    message["Subject"] = "订单 12345"
    message.set_content("请看附件。\nhttps://example.invalid/order/12345\n")
    message.add_alternative(
        "<html><body><p>请看附件 <a href='https://example.invalid/'>订单</a></p></body></html>",
        subtype="html",
    )
    message.add_attachment(_inner_zip(), maintype="application", subtype="zip", filename="订单.zip")
    message.add_attachment(_png(), maintype="image", subtype="png", filename="logo.png")
    return message.as_bytes()


def _docx(_work: Path) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("订单 12345", 1)
    document.add_paragraph("尺寸 42 x 7 cm. https://example.invalid/order")
    document.add_picture(io.BytesIO(_png()))
    buffer = io.BytesIO()
    document.save(buffer)
    return _restamped(buffer.getvalue())


def _xlsx(_work: Path) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["订单", "数量", "单价"])
    for row in range(20):
        sheet.append([f"A{row}", row, row * 1.5])
    sheet["E1"] = "=SUM(B2:B21)"
    buffer = io.BytesIO()
    book.save(buffer)
    return _restamped(buffer.getvalue())


def _pptx(_work: Path) -> bytes:
    import pptx

    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "订单 12345"
    slide.placeholders[1].text = "尺寸 42 x 7 cm"
    buffer = io.BytesIO()
    deck.save(buffer)
    return _restamped(buffer.getvalue())


def _oletools(member: str) -> Callable[[Path], bytes]:
    def build(_work: Path) -> bytes:
        import sys

        sys.path.insert(0, str(HERE))
        from _docs import oletools_data

        return (oletools_data() / member).read_bytes()

    return build


def _clam(name: str) -> Callable[[Path], bytes]:
    def build(_work: Path) -> bytes:
        path = CLAM / name
        if not path.exists():
            pytest.skip(f"{path} is missing")
        return path.read_bytes()

    return build


def _pdf(_work: Path, compress: bool = True) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_compression(compress)
    pdf.set_creation_date(datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC))
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="Order 12345: size 42 x 7 cm")
    pdf.ln()
    pdf.cell(text="https://example.invalid/order", link="https://example.invalid/order")
    pdf.image(io.BytesIO(_png()), x=10, y=40, w=20)
    return bytes(pdf.output())


def _lnk(_work: Path) -> bytes:
    import pylnk3

    target = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
    link = pylnk3.for_file(target, arguments="-nop -c \"Write-Output 'TEST-ONLY'\"", icon_file=target)
    buffer = io.BytesIO()
    link.write(buffer)
    return buffer.getvalue()


_WXS = """<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="12345678-1234-1234-1234-123456789011" Name="TestOnly" Language="1033" Version="1.0.0"
           Manufacturer="Example" UpgradeCode="12345678-1234-1234-1234-123456789012">
    <Package InstallerVersion="200" Compressed="yes" />
    <Media Id="1" Cabinet="product.cab" EmbedCab="yes" />
    <Directory Id="TARGETDIR" Name="SourceDir"><Directory Id="ProgramFilesFolder">
      <Directory Id="INSTALLDIR" Name="TestOnly">
        <Component Id="Readme" Guid="12345678-1234-1234-1234-123456789013"><File Id="readme" Source="readme.txt" /></Component>
      </Directory></Directory></Directory>
    <Feature Id="Main" Level="1"><ComponentRef Id="Readme" /></Feature>
  </Product>
</Wix>
"""


def _msi(work: Path) -> bytes:
    folder = work / "msi"
    folder.mkdir()
    (folder / "readme.txt").write_bytes(TEXT)
    (folder / "t.wxs").write_text(_WXS)
    subprocess.run(
        [_tool("wixl"), "-o", "t.msi", "t.wxs"], cwd=folder, check=True, capture_output=True, timeout=60
    )
    return (folder / "t.msi").read_bytes()


def _onenote(_work: Path) -> bytes:
    header = bytes.fromhex("e4525c7b8cd8a74daeb15378d02996d3")
    fdso = bytes.fromhex("e716e3bd65261145a4c48d4d0b7a9eac")
    footer = bytes.fromhex("22a7fb71790f0b4abb13899256426b24")
    out = header + b"\x00" * 1008
    for data in (_png(), TEXT):
        out += (
            fdso
            + struct.pack("<QIQ", len(data), 0, 0)
            + data
            + b"\x00" * (-len(data) % 8)
            + footer
            + b"\x00" * 64
        )
    return out


#: format -> (file name, builder, scan options); each builder returns the sample's bytes.
FORMATS: dict[str, tuple[str, Callable[[Path], bytes], dict]] = {
    "zip": ("订单.zip", _zip, {}),
    "zip-aes": ("加密.zip", _zip_aes, {"passwords": [PASSWORD]}),
    "7z": ("资料.7z", _seven, {}),
    "rar3": ("a.rar", _rar("rar3-solid.rar"), {}),
    "rar5": ("b.rar", _rar("rar5-solid.rar"), {}),
    "rar5-psw": ("c.rar", _rar("rar5-psw.rar"), {"passwords": [PASSWORD]}),
    "tar.gz": ("资料.tar.gz", _compressed("tar.gz"), {}),
    "gz": ("说明.txt.gz", _compressed("gz"), {}),
    "bz2": ("说明.txt.bz2", _compressed("bz2"), {}),
    "xz": ("说明.txt.xz", _compressed("xz"), {}),
    "zst": ("说明.txt.zst", _compressed("zst"), {}),
    "iso": ("光盘.iso", _iso, {}),
    "cab": ("t.cab", _cab, {}),
    "eml": ("订单.eml", _eml, {}),
    "docx": ("订单.docx", _docx, {}),
    "xlsx": ("订单.xlsx", _xlsx, {}),
    "pptx": ("订单.pptx", _pptx, {}),
    "docx-stored": ("订单.docx", _stored(_docx), {}),
    "xlsx-stored": ("订单.xlsx", _stored(_xlsx), {}),
    "pptx-stored": ("订单.pptx", _stored(_pptx), {}),
    # The parts themselves damaged, the package intact (names ending in -parts).
    "docx-parts": ("订单.docx", _docx, {}),
    "xlsx-parts": ("订单.xlsx", _xlsx, {}),
    "pptx-parts": ("订单.pptx", _pptx, {}),
    "zip-parts": ("订单.zip", _zip, {}),
    "doc": ("harmless.doc", _oletools("msodde/harmless-clean.doc"), {}),
    "doc-ole-object": ("embedded.doc", _oletools("oleobj/embedded-simple-2007.doc"), {}),
    "xls": ("embedded.xls", _oletools("oleobj/embedded-simple-2007.xls"), {}),
    "xls-macro": ("macro.xls", _oletools("excel4-macros/excel4_sample_macro.xls"), {}),
    "ppt": ("clam.ppt", _clam("clam.ppt"), {}),
    "rtf": ("issue_251.rtf", _oletools("rtfobj/issue_251.rtf"), {}),
    "rtf-object": ("clam.exe.rtf", _clam("clam.exe.rtf"), {}),
    "pdf": ("订单.pdf", _pdf, {}),
    "pdf-plain": ("订单.pdf", lambda work: _pdf(work, compress=False), {}),
    "pdf-clam": ("clam.pdf", _clam("clam.pdf"), {}),
    "lnk": ("订单.pdf.lnk", _lnk, {}),
    "pe": ("tool.exe", lambda _work: _pe(), {}),
    "png": ("a.png", _image("PNG"), {}),
    "jpeg": ("a.jpg", _image("JPEG"), {}),
    "gif": ("a.gif", _image("GIF"), {}),
    "bmp": ("a.bmp", _image("BMP"), {}),
    "chm": ("clam.chm", _clam("clam.chm"), {}),
    "msi": ("setup.msi", _msi, {}),
    "onenote": ("笔记.one", _onenote, {}),
    "arj": ("clam.arj", _clam("clam.arj"), {}),
    "cpio": ("clam.newc.cpio", _clam("clam.newc.cpio"), {}),
    "tnef": ("winmail.dat", _clam("clam.tnef"), {}),
    "szdd": ("clam.ex_", _clam("clam.exe.szdd"), {}),
    "binhex": ("clam.hqx", _clam("clam.exe.binhex"), {}),
    "mbox-uu": ("clam.mbox", _clam("clam.exe.mbox.uu"), {}),
    "html": ("clam.exe.html", _clam("clam.exe.html"), {}),
    "nsis": ("clam-nsis.exe", _clam("clam-nsis.exe"), {}),
}


# -- one scan, checked -----------------------------------------------------------------------------------------


class Outcome:
    """What one scan of one mutated sample did; ``problems`` is empty when it kept the rule."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.verdict = ""
        self.seconds = 0.0
        #: (rule, plugin or format, error) of each analyzer_failed / file.corrupt fact.
        self.failures: list[tuple[str, str, str]] = []


def leftovers(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def scan_checked(
    data: bytes, name: str, temp_root: Path, seconds: float = SECONDS, slack: float = SLACK, **options
) -> Outcome:
    """Scan ``data`` with the engine's temp folder under ``temp_root``; check the rule."""
    outcome = Outcome()
    temp_root.mkdir(parents=True, exist_ok=True)
    limits = Limits.from_env({}, max_seconds=seconds)
    started = time.perf_counter()
    try:
        report = scan_bytes(data, name, ScanOptions(limits=limits, temp_root=str(temp_root), **options))
    except BaseException as error:  # noqa: BLE001 - what escaped is the finding
        if isinstance(error, KeyboardInterrupt):
            raise
        outcome.problems.append(f"exception: {type(error).__name__}: {error}")
        report = None
    outcome.seconds = time.perf_counter() - started
    if outcome.seconds > seconds + slack:
        outcome.problems.append(f"hang: {outcome.seconds:.1f} s (limit {seconds} s)")
    if report is not None:
        outcome.verdict = report.verdict.value
        if outcome.verdict not in VERDICTS:
            outcome.problems.append(f"verdict {outcome.verdict!r}")
        for node in report.tree.walk():
            for fact in node.facts:
                if fact.rule == "scan.analyzer_failed":
                    outcome.failures.append(
                        (fact.rule, fact.params.get("analyzer", "?"), fact.params.get("error", ""))
                    )
                elif fact.rule == "file.corrupt":
                    outcome.failures.append(
                        (fact.rule, f"{fact.params.get('format', '?')}", fact.params.get("reason", ""))
                    )
    left = leftovers(temp_root)
    if left:
        outcome.problems.append(f"left in the temp root: {left[:5]}")
        shutil.rmtree(temp_root, ignore_errors=True)
    return outcome


# -- the test --------------------------------------------------------------------------------------------------

_built: dict[str, bytes] = {}


def sample(fmt: str, work: Path) -> bytes:
    if fmt not in _built:
        work.mkdir(parents=True, exist_ok=True)
        _built[fmt] = FORMATS[fmt][1](work)
    return _built[fmt]


@pytest.fixture
def system_tmp(tmp_path, monkeypatch):
    """Point the process's (and helpers') default temp folder at a watched empty folder."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setenv("TMPDIR", str(folder))
    return folder


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_mutated_samples_never_crash_hang_or_leave_files(fmt, tmp_path, system_tmp):
    name, _, options = FORMATS[fmt]
    data = sample(fmt, tmp_path / "work")
    original = scan_checked(data, name, tmp_path / "scan-root", **options)
    assert not original.problems, original.problems
    problems = []
    for number in range(PER_FORMAT):
        seed = f"{fmt}:{number}"
        damaged, done = mutated(fmt, data, seed)
        outcome = scan_checked(damaged, name, tmp_path / "scan-root", **options)
        problems += [f"seed {seed} ({', '.join(done)}): {problem}" for problem in outcome.problems]
    assert not problems, problems
    assert not leftovers(system_tmp), leftovers(system_tmp)


# -- regressions: what the fuzz run (bench/fuzz_scan.py) found, as minimal samples ------------------------------


def _failures(report) -> list:
    return [f for f in report.findings if f.rule == "scan.analyzer_failed"]


def _scan(data: bytes, name: str, tmp_path: Path):
    limits = Limits.from_env({}, max_seconds=SECONDS)
    return scan_bytes(data, name, ScanOptions(limits=limits, temp_root=str(tmp_path)))


def _shift_directory_offset(data: bytes, by: int) -> bytes:
    """The zip with its end record's directory offset raised by ``by``: zipfile trusts the
    directory's position from the end and moves every local header back by ``by``."""
    end = data.rindex(b"PK\x05\x06")
    offset = struct.unpack_from("<I", data, end + 16)[0]
    return data[: end + 16] + struct.pack("<I", offset + by) + data[end + 20 :]


def test_office_part_before_the_start_of_the_package(tmp_path):
    """Seed 1:docx:224 (and 80 more of 1,500 docx/xlsx/pptx mutations): a local header
    offset that comes out negative made zipfile seek before the start (ValueError)."""
    report = _scan(_shift_directory_offset(_docx(tmp_path), 600), "订单.docx", tmp_path)
    assert not _failures(report), _failures(report)
    assert any(
        f.rule == "file.corrupt" and "outside the package" in f.params["reason"] for f in report.findings
    )


def test_office_part_whose_name_also_names_a_damaged_entry(tmp_path):
    """Seed t:docx:1: the same part name twice, the entry zipfile opens by that name
    lying before the start; the readable entry of that name is used."""
    with zipfile.ZipFile(io.BytesIO(_docx(tmp_path))) as source:
        members = [(info.filename, source.read(info), info.compress_type) for info in source.infolist()]
    first = members[0]
    assert first[0] == "[Content_Types].xml"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data, method in [*members, first]:
            archive.writestr(zipfile.ZipInfo(name, (2024, 5, 1, 12, 0, 0)), data, method)
        # The directory lists the later (readable) copy before the one at offset 0, so
        # zipfile's name lookup (the last entry wins) finds the one moved to -64.
        archive.filelist.insert(0, archive.filelist.pop())
    data = bytearray(_shift_directory_offset(buffer.getvalue(), 64))
    at = data.index(b"PK\x01\x02")
    while data[at : at + 4] == b"PK\x01\x02":  # every other entry moved back into place
        offset = struct.unpack_from("<I", data, at + 42)[0]
        if offset:
            struct.pack_into("<I", data, at + 42, offset + 64)
        at += 46 + sum(struct.unpack_from("<HHH", data, at + 28))
    report = _scan(bytes(data), "订单.docx", tmp_path)
    assert not _failures(report), _failures(report)


@pytest.mark.parametrize(
    "data",
    [
        b"{\\rtf1{\\object\\objdata 01050000}}\\",  # seed 1:rtf:172: a backslash as the last byte
        b"{\\rtf1{\\object\\objdata 0105\\" + b"a" * 300 + b" 0000}}",  # a control word over 250 letters
    ],
)
def test_rtf_that_rtfobj_cannot_tokenise(tmp_path, data):
    """rtfobj's parser raised RuntimeError('Should not have reached this point')."""
    report = _scan(data, "订单.rtf", tmp_path)
    assert not _failures(report), _failures(report)
    assert not [f for f in report.findings if f.rule == "file.corrupt"], report.findings


def test_ole_document_cut_inside_its_last_sector(tmp_path):
    """Seed 1:doc-ole-object:24: olefile read a cut mini-FAT sector as 32-bit entries
    (ValueError: bytes length not a multiple of item size) inside olevba."""
    data = FORMATS["doc-ole-object"][1](tmp_path)[:15366]
    report = _scan(data, "embedded.doc", tmp_path)
    assert not _failures(report), _failures(report)


def test_office_package_whose_directory_needs_a_newer_zip(tmp_path):
    """Seeds 2:xlsx:164, 2:docx:154: "version needed to extract" 14.2 in the directory;
    zipfile refuses the whole package with NotImplementedError."""
    data = bytearray(_docx(tmp_path))
    struct.pack_into("<H", data, data.index(b"PK\x01\x02") + 6, 142)
    report = _scan(bytes(data), "订单.docx", tmp_path)
    assert not _failures(report), _failures(report)
    assert report.verdict.value == "error"


def test_ole_file_with_an_impossible_mini_sector_size(tmp_path):
    """Seed 2:xls:352: mini sector shift 161 (a 2**161-byte mini sector); olefile only
    notes it, then every stream read raised OverflowError (in olevba and the extractor)."""
    data = bytearray(FORMATS["xls"][1](tmp_path))
    struct.pack_into("<H", data, 0x20, 161)
    report = _scan(bytes(data), "embedded.xls", tmp_path)
    assert not _failures(report), _failures(report)
    assert any("impossible sector sizes" in f.params.get("reason", "") for f in report.findings)


def test_msi_column_rows_with_number_or_type_zero():
    """Seeds 2:msi:228, 2:msi:263: a _Columns row whose number or type is 0 (empty) gave
    None, which failed sorting the columns and sizing the table's rows (TypeError)."""
    from filewall.extract.installer import MsiDatabase

    class Tables(MsiDatabase):
        # _Columns, column by column: table refs, numbers, name refs, types (3 rows: the
        # first without a number, the last without a type).
        data = {"_Columns": struct.pack("<12H", 1, 1, 1, 0, 0x8001, 0x8002, 0, 0, 0, 0x8502, 0x8502, 0)}

        def _read(self, table: str) -> bytes:
            return self.data.get(table, b"")

        def _string_pool(self):
            return ["", "T"], 2

    class NoStreams:
        def listdir(self, streams=True, storages=False):
            return []

    database = Tables(NoStreams())
    assert database.columns == {"T": [(1, "", 0x0502)]}
    assert database.table("T") == []


def test_office_relationships_with_an_unknown_xml_encoding(tmp_path):
    """Seed 4:pptx-parts:1088: ``encoding="UTw-8"`` in a .rels part; expat raises
    LookupError (not ParseError) for an encoding it does not know."""
    members = []
    with zipfile.ZipFile(io.BytesIO(_pptx(tmp_path))) as archive:
        for info in archive.infolist():
            data = archive.read(info)
            if info.filename.endswith(".rels") or info.filename == "[Content_Types].xml":
                data = data.replace(b"encoding='UTF-8'", b"encoding='UTw-8'", 1)
            members.append((info.filename, data, info.compress_type))
    assert sum(b"UTw-8" in data for _, data, _ in members) >= 2
    report = _scan(_stable_zip(members), "订单.pptx", tmp_path)
    assert not _failures(report), _failures(report)


def test_zip_member_whose_local_header_lies_before_the_start(tmp_path):
    """Seed 4:eml:132: every member of the inner zip moved before the start by the end
    record's directory offset; the member is damaged, with a reason, not "negative seek"."""
    report = _scan(_shift_directory_offset(_inner_zip(), 3), "a.zip", tmp_path)
    reasons = [f.params.get("reason", "") for node in report.tree.walk() for f in node.facts]
    assert not any("negative seek" in reason for reason in reasons), reasons
    assert "ExtractError: the member's local header lies outside the archive" in reasons


def test_mutate_is_deterministic():
    data = bytes(range(256)) * 64
    assert mutate(data, "zip:3") == mutate(data, "zip:3")
    assert mutate(data, "zip:3") != mutate(data, "zip:4")


__all__ = ["FORMATS", "mutate", "mutated", "sample", "scan_checked", "leftovers"]
