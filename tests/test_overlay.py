"""Data appended to programs (self-extractors) and to pictures (smuggled files).

Programs are pip's real ``t64.exe`` launcher; archives are written by ``zipfile`` and
``py7zr``; JPEGs by libjpeg-turbo's ``cjpeg``; PNGs with ``zlib`` chunk by chunk.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import struct
import subprocess
import zipfile
import zlib

import py7zr
import pytest
from conftest import CLAM_EXE_SHA256, node_named, rules_of

from filewall.extract.overlay import (
    SEARCH_WINDOW,
    bmp_end,
    gif_end,
    jpeg_end,
    overlay_start,
    pe_image_end,
    png_end,
)
from filewall.model import Node

SFX_CONFIG = (
    b';!@Install@!UTF-8!\r\nTitle="Invoice"\r\nRunProgram="wscript.exe test.vbs"\r\n;!@InstallEnd@!\r\n'
)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def seven_zip_bytes(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w") as archive:
        archive.writestr(data, name)
    return buffer.getvalue()


def png_bytes(width: int = 8, height: int = 8) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in (x * 30, y * 30, 128)) for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module", params=["baseline", "progressive"])
def jpeg_bytes(request) -> bytes:
    """A real JPEG from libjpeg-turbo (progressive ones have several scans)."""
    if shutil.which("cjpeg") is None:
        pytest.fail("cjpeg is missing: install libjpeg-turbo-progs (scripts/system-packages.txt)")
    pixels = bytes((i * 7) % 256 for i in range(32 * 32 * 3))
    args = ["cjpeg", "-quality", "90"] + (["-progressive"] if request.param == "progressive" else [])
    return subprocess.run(args, input=b"P6\n32 32\n255\n" + pixels, capture_output=True, check=True).stdout


# --- self-extracting programs ------------------------------------------------------------------


def test_program_with_appended_zip_is_self_extracting(scan, pe_bytes):
    script = b'CreateObject("WScript.Shell").Run "calc.exe"\r\n'
    archive = zip_bytes({"run.vbs": script})
    report = scan(pe_bytes + archive, "setup.exe")
    assert report.verdict.value == "malicious"
    facts = {fact.rule: fact.params for fact in report.tree.facts}
    assert facts["archive.self_extracting"] == {"format": "zip", "offset": len(pe_bytes)}
    appended = node_named(report, "[appended zip]")
    assert appended.kind == "zip" and appended.sha256 == sha256(archive)
    assert node_named(report, "run.vbs").sha256 == sha256(script)


def test_7zip_sfx_config_and_archive(scan, pe_bytes):
    archive = seven_zip_bytes("test.vbs", b'WScript.Echo "hello"\r\n')
    report = scan(pe_bytes + SFX_CONFIG + archive, "invoice.exe")
    assert report.tree.info["sfx"]["config"] == {"Title": "Invoice", "RunProgram": "wscript.exe test.vbs"}
    facts = {fact.rule: fact.params for fact in report.tree.facts}
    assert facts["archive.self_extracting"]["run_program"] == "wscript.exe test.vbs"
    assert facts["archive.self_extracting"]["offset"] == len(pe_bytes) + len(SFX_CONFIG)
    appended = node_named(report, "[appended 7z]")
    assert appended.kind == "7z" and appended.sha256 == sha256(archive)
    assert report.verdict.value == "malicious"


def test_zip_with_file_relative_offsets_found_from_its_end(tmp_path, scan, pe_bytes):
    """Info-ZIP/WinZip style: the zip starts well after the image (past the search
    window) and its offsets count from the start of the program file."""
    path = tmp_path / "sfx.exe"
    path.write_bytes(pe_bytes + b"\x00" * (SEARCH_WINDOW + 4096))
    with zipfile.ZipFile(path, "a") as archive:  # appending to a non-zip: absolute offsets
        archive.writestr("readme.txt", "hello")
    data = path.read_bytes()
    report = scan(data, "sfx.exe")
    zip_start = len(pe_bytes) + SEARCH_WINDOW + 4096
    assert {fact.rule: fact.params for fact in report.tree.facts}["archive.self_extracting"][
        "offset"
    ] == zip_start
    assert node_named(report, "readme.txt").sha256 == sha256(b"hello")


def test_clam_exe_inside_zip_appended_to_a_program(scan, pe_bytes, clam_testfiles):
    """ClamAV's own "zipsfx" composite: a program plus clam.zip."""
    report = scan(pe_bytes + (clam_testfiles / "clam.zip").read_bytes(), "zipsfx.exe")
    found = [node.path for node in report.tree.walk() if node.sha256 == CLAM_EXE_SHA256]
    assert found == ["zipsfx.exe/[appended zip]/clam.exe"]


def test_program_appended_to_a_program(scan, pe_bytes, pe_bytes_alt):
    report = scan(pe_bytes + pe_bytes_alt, "dropper.exe")
    appended = node_named(report, "[appended program]")
    assert appended.kind == "pe" and appended.sha256 == sha256(pe_bytes_alt)
    assert "archive.self_extracting" not in {fact.rule for fact in report.tree.facts}


def test_plain_program_has_no_appended_child(scan, pe_bytes):
    report = scan(pe_bytes, "tool.exe")
    assert report.tree.children == []
    assert "archive.self_extracting" not in rules_of(report)


def test_random_overlay_and_false_signatures_give_no_child(scan, pe_bytes):
    noise = bytes((i * 131 + 7) % 251 for i in range(5000))
    fake = (
        b"PK\x03\x04"
        + b"\xff" * 40
        + b"7z\xbc\xaf\x27\x1c"
        + b"\x00" * 40
        + b"MSCF\x00\x00\x00\x00"
        + b"\xff" * 40
    )
    report = scan(pe_bytes + noise + fake, "tool.exe")
    assert report.tree.children == []
    assert "archive.self_extracting" not in rules_of(report)


def test_image_end_from_the_pe_analyzer_is_used(pe_bytes):
    assert pe_image_end(pe_bytes) == len(pe_bytes)
    node = Node(name="x.exe", path="x.exe", info={"pe": {"overlay_offset": 1000}})
    assert overlay_start(node, pe_bytes + b"tail") == 1000
    node = Node(name="x.exe", path="x.exe", info={"pe": {"overlay_offset": None}})
    assert overlay_start(node, pe_bytes + b"tail") is None
    assert overlay_start(Node(name="x.exe", path="x.exe"), pe_bytes + b"tail") == len(pe_bytes)


@pytest.mark.parametrize("cut", [0x40, 0x100, 0x200, 3000])
def test_truncated_program_does_not_crash(scan, pe_bytes, cut):
    archive = zip_bytes({"a.txt": b"x"})
    report = scan(pe_bytes[:cut] + archive, "cut.exe")
    assert not [f for f in report.findings if f.rule == "file.corrupt" and f.params.get("format") == "pe"]
    if cut >= 0x200:  # headers whole, sections cut: the zip after them is still found
        assert node_named(report, "[appended zip]").sha256 == sha256(archive)


# --- pictures ------------------------------------------------------------------------------------


def test_png_with_zip_appended(scan, pe_bytes):
    picture = png_bytes()
    archive = zip_bytes({"发票.pdf.exe": pe_bytes})
    report = scan(picture + archive, "商品图.png")
    assert png_end(picture + archive) == len(picture)
    facts = {fact.rule: fact.params for fact in report.tree.facts}
    assert facts["file.appended_data"]["size"] == len(archive)
    assert facts["file.appended_data"]["what"] == "a zip archive"
    hidden = node_named(report, "[data after picture]")
    assert hidden.kind == "zip" and hidden.sha256 == sha256(archive)
    assert node_named(report, "发票.pdf.exe").sha256 == sha256(pe_bytes)
    assert report.verdict.value == "malicious"
    finding = next(f for f in report.findings if f.rule == "file.appended_data")
    assert "图片" in finding.message_zh and "zip" in finding.message_zh


def test_png_with_harmless_zip_is_suspicious(scan):
    report = scan(png_bytes() + zip_bytes({"note.txt": b"hello"}), "photo.png")
    assert "file.appended_data" in rules_of(report)
    assert report.verdict.value == "suspicious"


def test_jpeg_with_program_appended(scan, jpeg_bytes, pe_bytes):
    assert jpeg_end(jpeg_bytes) == len(jpeg_bytes)
    report = scan(jpeg_bytes + pe_bytes, "photo.jpg")
    hidden = node_named(report, "[data after picture]")
    assert hidden.kind == "pe" and hidden.sha256 == sha256(pe_bytes)
    assert {fact.rule: fact.params for fact in report.tree.facts}["file.appended_data"][
        "what"
    ] == "a Windows program"
    assert report.verdict.value == "malicious"


def test_plain_pictures_have_no_child(scan, jpeg_bytes):
    for data, name in ((png_bytes(), "a.png"), (jpeg_bytes, "a.jpg")):
        report = scan(data, name)
        assert report.tree.kind in ("png", "jpeg")
        assert report.tree.children == [] and "file.appended_data" not in rules_of(report)


def test_padding_and_phone_trailers_are_not_reported(scan, jpeg_bytes):
    report = scan(jpeg_bytes + b"\x00" * 4096, "padded.jpg")
    assert report.tree.children == [] and "file.appended_data" not in rules_of(report)
    # A second JPEG after the first (depth map / multi-picture format) is shown, not reported.
    report = scan(jpeg_bytes + jpeg_bytes, "portrait.jpg")
    assert node_named(report, "[data after picture]").kind == "jpeg"
    assert "file.appended_data" not in rules_of(report)


def test_truncated_pictures_do_not_crash(scan, jpeg_bytes):
    picture = png_bytes()
    for data, name in ((picture[:40], "cut.png"), (jpeg_bytes[: len(jpeg_bytes) // 2], "cut.jpg")):
        report = scan(data, name)
        assert report.tree.children == [] and "file.appended_data" not in rules_of(report)
    assert png_end(picture[:-5]) is None and jpeg_end(jpeg_bytes[:-1]) is None


def test_signature_after_the_archive_is_not_carved(scan, pe_bytes):
    """A signed self-extractor: the Authenticode block after the zip stays out of it."""
    archive = zip_bytes({"a.txt": b"hello"})
    certificate = struct.pack("<IHH", 64, 0x0200, 0x0002) + b"\x30" * 56
    program = bytearray(pe_bytes)
    optional = struct.unpack_from("<I", program, 0x3C)[0] + 24
    assert struct.unpack_from("<H", program, optional)[0] == 0x20B  # PE32+: directories at +112
    struct.pack_into("<II", program, optional + 112 + 4 * 8, len(pe_bytes) + len(archive), len(certificate))
    report = scan(bytes(program) + archive + certificate, "signed-sfx.exe")
    assert node_named(report, "[appended zip]").sha256 == sha256(archive)


# --- GIF and BMP ----------------------------------------------------------------------------------


def _pillow_picture(kind: str) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    if kind == "animated-gif":
        frames = [Image.new("RGB", (24, 16), (i * 60, 200 - i * 40, 90)) for i in range(4)]
        for index, frame in enumerate(frames):
            frame.paste((255, 255, 255), (index * 4, 2, index * 4 + 6, 12))
        frames[0].save(
            buffer, "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0, comment=b"hi"
        )
        return buffer.getvalue()
    image = Image.new("RGB", (33, 21))  # odd width: BMP rows are padded to 4 bytes
    image.putdata([((x * 7) % 256, (y * 11) % 256, (x * y) % 256) for y in range(21) for x in range(33)])
    if kind == "gif":
        image.save(buffer, "GIF")
    elif kind == "bmp":
        image.save(buffer, "BMP")
    elif kind == "bmp-8bit":
        image.convert("P").save(buffer, "BMP")
    elif kind == "bmp-alpha":
        image.convert("RGBA").save(buffer, "BMP")
    return buffer.getvalue()


PICTURE_KINDS = ["gif", "animated-gif", "bmp", "bmp-8bit", "bmp-alpha"]


@pytest.mark.parametrize("kind", PICTURE_KINDS)
def test_plain_gif_and_bmp_have_no_child(scan, kind):
    data = _pillow_picture(kind)
    end = gif_end(data) if "gif" in kind else bmp_end(data)
    assert end == len(data)
    extension = "gif" if "gif" in kind else "bmp"
    report = scan(data, f"picture.{extension}")
    assert report.tree.kind == extension
    assert report.tree.children == [] and report.verdict.value == "clean", report.findings


@pytest.mark.parametrize("kind", PICTURE_KINDS)
def test_zip_with_program_appended_to_gif_or_bmp(scan, pe_bytes, kind):
    picture = _pillow_picture(kind)
    archive = zip_bytes({"t64.exe": pe_bytes})
    report = scan(picture + archive, "商品图.gif" if "gif" in kind else "商品图.bmp")
    hidden = node_named(report, "[data after picture]")
    assert hidden.kind == "zip" and hidden.sha256 == sha256(archive) and hidden.info["offset"] == len(picture)
    assert node_named(report, "t64.exe").sha256 == sha256(pe_bytes)
    facts = {fact.rule: fact.params for fact in report.tree.facts}
    assert facts["file.appended_data"]["size"] == len(archive)
    assert report.verdict.value == "malicious"


def test_program_appended_to_gif(scan, pe_bytes):
    report = scan(_pillow_picture("animated-gif") + pe_bytes, "动图.gif")
    assert node_named(report, "[data after picture]").kind == "pe"
    assert report.verdict.value == "malicious"


def test_bmp_file_size_field_does_not_hide_appended_data(scan, pe_bytes):
    picture = _pillow_picture("bmp")
    archive = zip_bytes({"note.txt": b"hello"})
    forged = bytearray(picture + archive)
    struct.pack_into("<I", forged, 2, len(forged))  # claims the zip is part of the picture
    assert bmp_end(bytes(forged)) == len(picture)
    report = scan(bytes(forged), "photo.bmp")
    assert "file.appended_data" in rules_of(report)


def test_gif_and_bmp_padding_and_damage(scan):
    gif, bmp = _pillow_picture("gif"), _pillow_picture("bmp")
    for data, name in ((gif + bytes(4096), "padded.gif"), (bmp + bytes(4096), "padded.bmp")):
        report = scan(data, name)
        assert report.tree.children == [] and "file.appended_data" not in rules_of(report)
    for data, name in ((gif[:-1], "cut.gif"), (gif[:30], "cut2.gif"), (bmp[:-10], "cut.bmp")):
        report = scan(data, name)
        assert report.tree.children == [] and "file.appended_data" not in rules_of(report)
    assert gif_end(gif[:-1]) is None and bmp_end(bmp[:-10]) is None
    assert gif_end(b"GIF89a" + bytes(7) + b"\x21\xf9" + b"\x01" * 100_000) is None  # no terminator


def test_gif_walk_is_bounded(monkeypatch):
    from filewall.extract import overlay

    monkeypatch.setattr(overlay, "MAX_GIF_STEPS", 1000)
    many = b"GIF89a" + bytes(7) + b"\x21\xfe" + b"\x01x" * 5000 + b"\x00\x3b"
    assert overlay.gif_end(many) is None
    monkeypatch.setattr(overlay, "MAX_GIF_STEPS", 10_000)
    assert overlay.gif_end(many) == len(many)


def test_rle_bmp_ends_at_its_stated_image_size():
    rle = b"\x04\x01\x00\x00" * 2 + b"\x00\x01"  # two rows of 4 pixels, end of bitmap
    palette = bytes(4 * 2)
    pixels = 14 + 40 + len(palette)
    header = struct.pack("<2sIHHI", b"BM", pixels + len(rle), 0, 0, pixels)
    info = struct.pack("<IiiHHIIiiII", 40, 4, 2, 1, 8, 1, len(rle), 2835, 2835, 2, 0)
    data = header + info + palette + rle
    assert bmp_end(data) == len(data)
    assert bmp_end(data + b"PK\x03\x04" + bytes(100)) == len(data)
