"""ZIP: every compression method, zip64, encryption, Chinese names, damage.

Fixtures are built at test time with zipfile, pyzipper, Info-ZIP ``zip`` and 7-Zip
(``7zz``) from harmless parts (pip's launcher PE, text), plus ClamAV's own test zips.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import subprocess
import time
import zipfile
import zlib

import pytest
import pyzipper
from conftest import CLAM_EXE_SHA256, node_named, rules_of

from filewall.content import Content
from filewall.engine import ScanContext, ScanOptions
from filewall.extract._passwords import (
    COMMON,
    GIVEN,
    Candidate,
    candidates,
    remembered,
    try_passwords,
    zip_encodings,
)
from filewall.extract.zip import decode_member_name, decode_zip_name, zip_members
from filewall.limits import Limits
from filewall.model import Node

#: A password in no built-in list, so "not given" really means "not known".
SECRET = "qs-20240611-报价"
SECRET_ASCII = "qs20240611"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def zip_bytes(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED, **kwargs) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression, **kwargs) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def run_tool(args: list, cwd) -> None:
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# -- ClamAV's test zips ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("file_name", "method"),
    [
        ("clam.zip", "deflate"),
        ("clam.bz2.zip", "bzip2"),
        ("clam.d64.zip", "deflate64"),
        ("clam.impl.zip", "implode"),
    ],
)
def test_clamav_zips_yield_clam_exe(clam_testfiles, scan, file_name, method):
    report = scan((clam_testfiles / file_name).read_bytes(), file_name)
    member = next(node for node in report.tree.walk() if node.sha256 == CLAM_EXE_SHA256)
    assert member.depth == 1 and member.kind == "pe"
    assert member.info["method"] == method
    assert report.verdict.value == "malicious"


def test_implode_without_7zip_is_reported_not_guessed(clam_testfiles, scan, monkeypatch):
    monkeypatch.setenv("FILEWALL_DISABLE_TOOLS", "7zz")
    report = scan((clam_testfiles / "clam.impl.zip").read_bytes(), "clam.impl.zip")
    member = node_named(report, "CLAM.EXE")
    assert not member.has_content and member.sha256 is None
    assert "archive.unsupported_method" in {fact.rule for fact in member.facts}
    finding = next(f for f in report.findings if f.rule == "archive.unsupported_method")
    assert "implode" in finding.message and "CLAM.EXE" in finding.message_zh
    assert report.verdict.value in ("suspicious", "malicious")


def test_method_7zip_does_not_know_either(clam_testfiles, scan):
    data = bytearray((clam_testfiles / "clam.impl.zip").read_bytes())
    directory = data.index(b"PK\x01\x02")
    for offset in (8, directory + 10):  # local and central method fields: 18 (IBM TERSE)
        data[offset : offset + 2] = struct.pack("<H", 18)
    report = scan(bytes(data), "terse.zip")
    member = node_named(report, "CLAM.EXE")
    assert not member.has_content
    assert next(f for f in member.facts if f.rule == "archive.unsupported_method").params["method"] == "terse"


def test_damaged_imploded_member_is_corrupt_not_unsupported(clam_testfiles, scan):
    data = bytearray((clam_testfiles / "clam.impl.zip").read_bytes())
    start = 30 + struct.unpack_from("<H", data, 26)[0] + struct.unpack_from("<H", data, 28)[0]
    for offset in range(start + 10, start + 40, 7):
        data[offset] ^= 0xFF
    report = scan(bytes(data), "damaged.zip")
    corrupt = next(f for f in report.findings if f.rule == "file.corrupt")
    assert "7-Zip" in corrupt.params["reason"] and "Data Error" in corrupt.params["reason"]
    assert "archive.unsupported_method" not in rules_of(report)


# -- methods and sizes ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("compression", "method"),
    [
        (zipfile.ZIP_STORED, "store"),
        (zipfile.ZIP_DEFLATED, "deflate"),
        (zipfile.ZIP_BZIP2, "bzip2"),
        (zipfile.ZIP_LZMA, "lzma"),
    ],
)
def test_every_zipfile_method(scan, pe_bytes, compression, method):
    data = zip_bytes({"参考图.exe": pe_bytes, "readme.txt": b"see the picture"}, compression)
    report = scan(data, "参考图.zip")
    program = node_named(report, "参考图.exe")
    assert program.kind == "pe" and program.sha256 == sha256(pe_bytes)
    assert program.info["method"] == method and program.info["stored_name"] == "参考图.exe"
    assert node_named(report, "readme.txt").kind == "text"
    assert report.verdict.value == "malicious"


def test_zip64_member(scan, pe_bytes):
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("big/program.exe", "w", force_zip64=True) as member,
    ):
        member.write(pe_bytes)
    data = buffer.getvalue()
    assert struct.unpack_from("<H", data, 4)[0] == 45  # "needs zip64" in the local header
    report = scan(data, "zip64.zip")
    assert node_named(report, "program.exe").sha256 == sha256(pe_bytes)


def test_deflate64_written_by_7zip(tmp_path, scan, pe_bytes):
    (tmp_path / "报价单.pdf.exe").write_bytes(pe_bytes)
    run_tool(["7zz", "a", "-tzip", "-mm=Deflate64", "d64.zip", "报价单.pdf.exe"], tmp_path)
    report = scan((tmp_path / "d64.zip").read_bytes(), "d64.zip")
    program = node_named(report, "报价单.pdf.exe")
    assert program.info["method"] == "deflate64" and program.sha256 == sha256(pe_bytes)


def test_declared_size_reaches_the_bomb_check(scan):
    data = zip_bytes({"zeros.bin": bytes(8 * 1024 * 1024)})
    assert len(data) < 64 * 1024
    report = scan(data, "bomb.zip", limits=Limits.from_env({}, max_file_size=1024 * 1024))
    member = node_named(report, "zeros.bin")
    assert "archive.decompression_bomb" in {fact.rule for fact in member.facts}
    assert member.size <= Limits().bomb_sample_bytes


def test_plain_zip_is_clean(scan):
    report = scan(zip_bytes({"photos/1.txt": b"size chart", "photos/2.txt": b"colour: red"}), "photos.zip")
    assert report.verdict.value == "clean", report.findings
    assert {node.name for node in report.tree.children} == {"photos/1.txt", "photos/2.txt"}


# -- names ----------------------------------------------------------------------------------------
class _GbkZipInfo(zipfile.ZipInfo):
    """Writes the name as GBK bytes with the UTF-8 flag clear, as Chinese Windows does."""

    def _encodeFilenameFlags(self):  # noqa: N802 (zipfile's name)
        return self.filename.encode("gbk"), self.flag_bits & ~0x800


def gbk_zip(names: list[str], data: bytes, extra: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            info = _GbkZipInfo(name, date_time=(2024, 6, 11, 9, 30, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.extra = extra
            archive.writestr(info, data)
    return buffer.getvalue()


def test_gbk_names_without_utf8_flag(scan, pe_bytes):
    data = gbk_zip(["设计图.jpg.exe", "资料/说明.txt"], pe_bytes)
    assert "设计图".encode("gbk") in data and "设计图".encode() not in data
    with zipfile.ZipFile(io.BytesIO(data)) as archive:  # what zipfile alone would show
        assert archive.infolist()[0].flag_bits & 0x800 == 0
        assert archive.namelist()[0] != "设计图.jpg.exe"
    report = scan(data, "定制需求.zip")
    program = node_named(report, "设计图.jpg.exe")
    assert program.info["name_encoding"] == "gb18030"
    assert node_named(report, "资料/说明.txt").info["stored_name"] == "资料/说明.txt"
    assert "name.double_extension" in rules_of(report)


def test_gbk_names_written_by_info_zip(tmp_path, scan, pe_bytes):
    folder = tmp_path / "src"
    folder.mkdir()
    # Linux keeps file names as bytes: a GBK-named file, as copied from a Windows disk.
    with open(os.path.join(os.fsencode(folder), "设计图.jpg.exe".encode("gbk")), "wb") as out:
        out.write(pe_bytes)
    run_tool(["zip", "-q", "../gbk.zip", "-r", "."], folder)
    report = scan((tmp_path / "gbk.zip").read_bytes(), "gbk.zip")
    assert node_named(report, "设计图.jpg.exe").sha256 == sha256(pe_bytes)


def test_utf8_names_without_the_flag(tmp_path, scan):
    # Info-ZIP on Linux stores UTF-8 bytes but leaves bit 11 clear.
    (tmp_path / "说明.txt").write_text("尺寸表", encoding="utf-8")
    run_tool(["zip", "-q", "infozip.zip", "说明.txt"], tmp_path)
    data = (tmp_path / "infozip.zip").read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.infolist()[0].flag_bits & 0x800 == 0
    member = node_named(scan(data, "infozip.zip"), "说明.txt")
    assert member.info["stored_name"] == "说明.txt" and "name_encoding" not in member.info


def _unicode_path(raw_name: bytes, unicode_name: str, crc: int | None = None) -> bytes:
    body = (
        b"\x01"
        + struct.pack("<I", zlib.crc32(raw_name) if crc is None else crc)
        + unicode_name.encode("utf-8")
    )
    return struct.pack("<HH", 0x7075, len(body)) + body


def test_unicode_path_extra_field_is_honoured(scan):
    # Stored bytes say "sheji.txt" in GBK-looking junk; the 0x7075 field holds the truth.
    raw = "旧名.txt".encode("gbk")
    data = gbk_zip(["旧名.txt"], b"text", extra=_unicode_path(raw, "新名.txt"))
    member = scan(data, "u.zip").tree.children[0]
    assert member.name == "新名.txt" and member.info["name_encoding"] == "utf-8 (extra field)"


def test_stale_unicode_path_extra_field_is_ignored():
    raw = "旧名.txt".encode("gbk")
    stale = _unicode_path(raw, "新名.txt", crc=zlib.crc32(b"something else"))
    assert decode_zip_name(raw, 0, stale) == ("旧名.txt", "gb18030")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"invoice.pdf", ("invoice.pdf", "ascii")),
        ("发票.pdf".encode(), ("发票.pdf", "utf-8")),
        ("发票.pdf".encode("gbk"), ("发票.pdf", "gb18030")),
        ("【报价】“新品”.xlsx".encode("gbk"), ("【报价】“新品”.xlsx", "gb18030")),
        # A Western name from an old DOS tool stays CP437 rather than turning into Chinese.
        ("Café.txt".encode("cp437"), ("Café.txt", "cp437")),
        ("Übersicht.doc".encode("cp437"), ("Übersicht.doc", "cp437")),
        # ... while Chinese Windows writes the same accented name in GBK.
        ("Café.txt".encode("gbk"), ("Café.txt", "gb18030")),
    ],
)
def test_decode_member_name(raw, expected):
    assert decode_member_name(raw) == expected


# -- encryption -----------------------------------------------------------------------------------
def aes_zip(members: dict[str, bytes], password: str) -> bytes:
    buffer = io.BytesIO()
    with pyzipper.AESZipFile(
        buffer, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
    ) as archive:
        archive.setpassword(password.encode("utf-8"))
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def zipcrypto_zip_infozip(tmp_path, members: dict[str, bytes], password: bytes) -> bytes:
    folder = tmp_path / "plain"
    folder.mkdir(exist_ok=True)
    for name, data in members.items():
        (folder / name).write_bytes(data)
    run_tool([b"zip", b"-q", b"-P", password, b"../zc.zip", *[name.encode() for name in members]], folder)
    return (tmp_path / "zc.zip").read_bytes()


def zip_7zip(tmp_path, members: dict[str, bytes], password: str, method: str) -> bytes:
    folder = tmp_path / "plain7"
    folder.mkdir(exist_ok=True)
    for name, data in members.items():
        (folder / name).write_bytes(data)
    run_tool(["7zz", "a", "-tzip", f"-p{password}", f"-mem={method}", "../7.zip", *members], folder)
    return (tmp_path / "7.zip").read_bytes()


@pytest.fixture(params=["aes-pyzipper", "aes-7zip", "zipcrypto-infozip", "zipcrypto-7zip"])
def encrypted_lure(request, tmp_path, pe_bytes):
    """An encrypted zip holding a program named like a picture, built four ways."""
    members = {"设计图.jpg.exe": pe_bytes}
    if request.param == "aes-pyzipper":
        return aes_zip(members, SECRET)
    if request.param == "aes-7zip":
        return zip_7zip(tmp_path, members, SECRET_ASCII, "AES256")  # 7-Zip takes ASCII only
    if request.param == "zipcrypto-infozip":
        return zipcrypto_zip_infozip(tmp_path, members, SECRET.encode("utf-8"))
    return zip_7zip(tmp_path, members, SECRET_ASCII, "ZipCrypto")


def test_encrypted_zip_with_password_is_opened(scan, pe_bytes, encrypted_lure):
    report = scan(encrypted_lure, "定制需求.zip", passwords=["wrong", SECRET, SECRET_ASCII])
    program = node_named(report, "设计图.jpg.exe")
    assert program.kind == "pe" and program.sha256 == sha256(pe_bytes)
    assert program.info["encrypted"] is True
    finding = next(f for f in report.findings if f.rule == "archive.encrypted")
    assert "chat" in finding.message and "聊天" in finding.message_zh
    assert "type.executable" in rules_of(report)
    assert "archive.encrypted_unopened" not in rules_of(report)


def test_encrypted_zip_without_password_still_judges_the_name(scan, encrypted_lure):
    report = scan(encrypted_lure, "定制需求.zip")
    program = node_named(report, "设计图.jpg.exe")
    assert not program.has_content and program.kind == "unknown"
    assert "archive.encrypted_unopened" in {fact.rule for fact in program.facts}
    # Only the name is known, and the name alone gives it away.
    assert report.verdict.value == "malicious"


def test_encrypted_document_without_password_is_suspicious(scan):
    report = scan(aes_zip({"报价单.xlsx": b"PK\x03\x04 not really"}, SECRET), "报价.zip")
    assert rules_of(report) >= {"archive.encrypted_unopened"}
    assert report.verdict.value == "suspicious"


def test_common_password_opens_without_being_told(scan, pe_bytes):
    report = scan(aes_zip({"a.exe": pe_bytes}, "infected"), "sample.zip")
    finding = next(f for f in report.findings if f.rule == "archive.encrypted")
    assert "infected" in finding.message and "常见" in finding.message_zh
    assert node_named(report, "a.exe").sha256 == sha256(pe_bytes)


def test_gbk_encoded_zipcrypto_password(tmp_path, scan, pe_bytes):
    # Chinese Windows tools encrypt with the GBK bytes of the password.
    data = zipcrypto_zip_infozip(tmp_path, {"图纸.exe": pe_bytes}, "密码".encode("gbk"))
    report = scan(data, "图纸.zip", passwords=["密码"])
    assert node_named(report, "图纸.exe").sha256 == sha256(pe_bytes)


def test_large_zipcrypto_member_is_decrypted_quickly(tmp_path, scan):
    payload = os.urandom(16 * 1024 * 1024)  # pure-Python ZipCrypto needs ~11 s for this
    folder = tmp_path / "big"
    folder.mkdir()
    (folder / "video.bin").write_bytes(payload)
    run_tool(["zip", "-q", "-0", "-P", SECRET_ASCII, "../big.zip", "video.bin"], folder)
    scan(b"warm up", "warm-up.txt")  # plugin loading is not what is timed
    started = time.perf_counter()
    report = scan((tmp_path / "big.zip").read_bytes(), "big.zip", passwords=[SECRET_ASCII])
    assert time.perf_counter() - started < 5
    assert node_named(report, "video.bin").sha256 == sha256(payload)


def test_same_password_opens_nested_archives(scan, pe_bytes):
    inner = aes_zip({"木马.exe": pe_bytes}, SECRET)
    outer = aes_zip({"inner.zip": inner}, SECRET)
    report = scan(outer, "outer.zip", passwords=[SECRET])
    assert node_named(report, "木马.exe").sha256 == sha256(pe_bytes)
    assert sum(f.rule == "archive.encrypted" for f in report.findings) == 2


def test_many_encrypted_members_do_not_multiply_password_guessing(scan):
    data = aes_zip({f"图{index}.txt": b"x" for index in range(200)}, SECRET)
    scan(b"warm up", "warm-up.txt")  # plugin loading is not what is timed
    started = time.perf_counter()
    report = scan(data, "many.zip")
    # Guessing every password on every member would take ~7 s (a key derivation each).
    assert time.perf_counter() - started < 2
    assert sum(f.rule == "archive.encrypted_unopened" for f in report.findings) == 200


def test_encrypted_members_of_a_damaged_zip(scan, pe_bytes):
    data = aes_zip({"a.exe": pe_bytes, "b.txt": b"hello"}, SECRET_ASCII)
    cut = data[: data.index(b"PK\x01\x02") + 5]
    report = scan(cut, "cut.zip", passwords=[SECRET_ASCII])
    # No central directory: AES members go through 7-Zip, from their local headers.
    assert node_named(report, "a.exe").sha256 == sha256(pe_bytes)
    assert node_named(report, "b.txt").size == 5
    assert {"file.corrupt", "archive.encrypted", "type.executable"} <= rules_of(report)


def test_password_candidates_order_dedupe_cap_and_memory():
    options = ScanOptions(passwords=["8888", "chat-pw", "8888"], limits=Limits.from_env({}, max_passwords=5))
    ctx = ScanContext(options, "/nonexistent")
    first = candidates(ctx)
    assert [c.password for c in first] == ["8888", "chat-pw", "infected", "1234", "123456"]
    assert [c.source for c in first] == [GIVEN, GIVEN, COMMON, COMMON, COMMON]

    def attempt(password: str) -> str | None:
        if password != "1234":
            raise RuntimeError("Bad password")  # how zipfile says it
        return "opened"

    assert try_passwords(ctx, attempt) == ("opened", Candidate("1234", COMMON))
    assert [c.password for c in candidates(ctx)][:3] == ["1234", "8888", "chat-pw"]
    assert remembered(ctx) == [Candidate("1234", COMMON)]
    assert try_passwords(ctx, lambda password: None) is None
    assert list(zip_encodings("密码")) == ["密码".encode(), "密码".encode("gbk")]
    assert list(zip_encodings("abc")) == [b"abc"]


# -- links ----------------------------------------------------------------------------------------
def test_unix_symlink_member_is_a_link(scan):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("config")
        info.create_system = 3
        info.external_attr = 0o120777 << 16
        archive.writestr(info, "/etc/passwd")
    report = scan(buffer.getvalue(), "links.zip")
    link = node_named(report, "config")
    assert link.info["link_target"] == "/etc/passwd" and not link.has_content
    assert {"archive.link", "archive.path_traversal"} <= rules_of(report)


# -- damage ---------------------------------------------------------------------------------------
def _unseekable_zip(members: dict[str, bytes]) -> bytes:
    """A zip written as a stream: sizes only in data descriptors after each member."""

    class Sink(io.RawIOBase):
        def __init__(self):
            self.buffer = io.BytesIO()

        def writable(self):
            return True

        def write(self, data):
            return self.buffer.write(data)

    sink = Sink()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            with archive.open(name, "w") as member:
                member.write(data)
    return sink.buffer.getvalue()


@pytest.mark.parametrize("streamed", [False, True], ids=["sizes-in-headers", "data-descriptors"])
def test_truncated_zip_is_an_error_but_members_are_recovered(scan, pe_bytes, streamed):
    members = {"a.txt": b"hello " * 200, "b.txt": b"second file", "c.txt": b"third"}
    data = _unseekable_zip(members) if streamed else zip_bytes(members)
    cut = data[: data.index(b"PK\x01\x02") + 10]  # in the middle of the table of contents
    report = scan(cut, "cut.zip")
    assert report.verdict.value == "error"
    corrupt = next(f for f in report.findings if f.rule == "file.corrupt")
    assert corrupt.where == "cut.zip" and "table of contents" in corrupt.message
    assert {node.name for node in report.tree.children} == set(members)
    assert node_named(report, "a.txt").sha256 == sha256(members["a.txt"])
    # The next file is scanned normally.
    assert scan(zip_bytes({"ok.txt": b"fine"}), "next.zip").verdict.value == "clean"


def test_program_in_a_cut_zip_is_still_found(scan, pe_bytes):
    data = zip_bytes({"设计图.jpg.exe": pe_bytes})
    report = scan(data[: len(data) // 2], "cut.zip")
    assert node_named(report, "设计图.jpg.exe").kind == "pe"
    assert report.verdict.value == "malicious"


def test_zip_that_is_not_a_zip_at_all(scan):
    report = scan(b"PK\x05\x06" + bytes(10), "empty-looking.zip")
    assert report.verdict.value == "error"
    assert "file.corrupt" in rules_of(report)


def test_damaged_member_keeps_what_was_read(scan):
    text = b"order list\n" * 300
    data = bytearray(zip_bytes({"orders.txt": text}, zipfile.ZIP_STORED))
    data[data.index(b"order list") + 5] ^= 0xFF  # breaks the CRC, not the structure
    report = scan(bytes(data), "orders.zip")
    member = node_named(report, "orders.txt")
    assert member.kind == "text" and member.size == len(text)
    corrupt = next(f for f in report.findings if f.rule == "file.corrupt")
    assert "orders.txt" in corrupt.params["reason"] and "CRC" in corrupt.params["reason"]
    assert report.verdict.value == "error"


def _run_extractor(data: bytes, tmp_path) -> list:
    ctx = ScanContext(ScanOptions(limits=Limits.from_env({})), str(tmp_path))
    node = Node(name="x.zip", path="x.zip", kind="zip")
    content = Content.from_bytes(data)
    return [
        (child.name, child.open().read() if child.open else None) for child in zip_members(node, content, ctx)
    ]


def test_junk_before_the_zip_is_skipped(tmp_path, pe_bytes):
    # identify() only sees a zip at offset 0; a zip behind a stub (as in SFX) is carved by
    # the overlay extractor and then read here, where zipfile corrects the offsets.
    data = b"junk stub " * 100 + zip_bytes({"a.exe": pe_bytes, "b.txt": b"b"})
    assert _run_extractor(data, tmp_path) == [("a.exe", pe_bytes), ("b.txt", b"b")]


def test_forged_huge_entry_count_is_walked_lazily(tmp_path):
    data = zip_bytes({"a.txt": b"a", "b.txt": b"b"})
    end = data.rindex(b"PK\x05\x06")
    cd_size, cd_offset = struct.unpack_from("<II", data, end + 12)
    zip64_end = struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, 10**9, 10**9, cd_size, cd_offset)
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, end, 1)
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, cd_size, cd_offset, 0)
    forged = data[:end] + zip64_end + locator + eocd
    started = time.perf_counter()
    assert _run_extractor(forged, tmp_path) == [("a.txt", b"a"), ("b.txt", b"b")]
    assert time.perf_counter() - started < 2


# -- smuggling: members the central directory does not list -----------------------------------
SMUGGLING_RULES = {"archive.hidden_member", "archive.name_mismatch", "archive.overlapping_members"}


def _drop_from_directory(data: bytes, drop: str) -> bytes:
    """Rewrite the central directory without ``drop``; its local header and data stay."""
    end = data.rindex(b"PK\x05\x06")
    cd_size, cd_offset = struct.unpack_from("<II", data, end + 12)
    entries, position, kept = [], cd_offset, 0
    while position < cd_offset + cd_size:
        name_length, extra_length, comment_length = struct.unpack_from("<HHH", data, position + 28)
        entry_end = position + 46 + name_length + extra_length + comment_length
        name = data[position + 46 : position + 46 + name_length].decode()
        if name != drop:
            entries.append(data[position:entry_end])
            kept += 1
        position = entry_end
    directory = b"".join(entries)
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, kept, kept, len(directory), cd_offset, 0)
    return data[:cd_offset] + directory + eocd


def test_member_dropped_from_the_directory_is_found_and_scanned(scan, pe_bytes):
    data = _drop_from_directory(
        zip_bytes({"photo1.txt": b"size chart", "invoice.exe": pe_bytes}), "invoice.exe"
    )
    assert [info.filename for info in zipfile.ZipFile(io.BytesIO(data)).infolist()] == ["photo1.txt"]
    report = scan(data, "photos.zip")
    hidden = node_named(report, "invoice.exe")
    assert hidden.kind == "pe" and hidden.sha256 == sha256(pe_bytes) and hidden.info["hidden"] is True
    finding = next(f for f in report.findings if f.rule == "archive.hidden_member")
    assert finding.where == "photos.zip" and finding.params["count"] == 1
    assert "invoice.exe" in finding.message and "invoice.exe" in finding.message_zh
    assert report.verdict.value == "malicious"
    assert node_named(report, "photo1.txt").kind == "text"


def test_hidden_harmless_member_alone_is_suspicious(scan):
    data = _drop_from_directory(zip_bytes({"a.txt": b"size chart", "b.txt": b"colour: red"}), "b.txt")
    report = scan(data, "list.zip")
    assert rules_of(report) == {"archive.hidden_member"}
    assert report.verdict.value == "suspicious"
    assert node_named(report, "b.txt").sha256 == sha256(b"colour: red")


@pytest.mark.parametrize("order", ["hidden-first", "hidden-last"])
def test_two_zips_glued_together(scan, pe_bytes, order):
    hidden = zip_bytes({"setup.exe": pe_bytes})
    shown = zip_bytes({"readme.txt": b"hello"}, zipfile.ZIP_STORED)
    # zipfile reads the directory at the end of the file: the other zip is invisible to it.
    data = hidden + shown if order == "hidden-first" else shown + hidden
    listed = {info.filename for info in zipfile.ZipFile(io.BytesIO(data)).infolist()}
    expected_hidden = "setup.exe" if order == "hidden-first" else "readme.txt"
    assert expected_hidden not in listed
    report = scan(data, "glued.zip")
    finding = next(f for f in report.findings if f.rule == "archive.hidden_member")
    assert finding.params["names"] == expected_hidden and finding.params["second_directory"] is True
    assert node_named(report, "setup.exe").kind == "pe"
    assert report.verdict.value == "malicious"


def test_local_header_in_the_archive_comment_is_found(scan, pe_bytes):
    extra = zip_bytes({"run.exe": pe_bytes})
    extra = extra[: extra.index(b"PK\x01\x02")]  # local header and data only
    assert len(extra) < 65535  # fits in a comment
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", b"hello")
        archive.comment = extra
    data = buffer.getvalue()
    assert [info.filename for info in zipfile.ZipFile(io.BytesIO(data)).infolist()] == ["readme.txt"]
    report = scan(data, "tail.zip")
    assert node_named(report, "run.exe").sha256 == sha256(pe_bytes)
    assert "archive.hidden_member" in rules_of(report)


def test_local_name_differs_from_the_directory_name(scan, pe_bytes):
    data = bytearray(zip_bytes({"photo.jpg": pe_bytes}))
    local_name = data.index(b"photo.jpg")  # the first copy is the local header's
    assert local_name == 30
    data[local_name : local_name + 9] = b"photo.exe"
    report = scan(bytes(data), "photo.zip")
    member = node_named(report, "photo.jpg")
    assert member.info["local_name"] == "photo.exe"
    assert member.kind == "pe" and member.sha256 == sha256(pe_bytes)  # read despite zipfile refusing
    finding = next(f for f in report.findings if f.rule == "archive.name_mismatch")
    assert "photo.exe" in finding.message and "photo.exe" in finding.message_zh
    assert "archive.hidden_member" not in rules_of(report)
    assert report.verdict.value == "malicious"


def _smuggling_rules(report) -> set[str]:
    return {fact.rule for node in report.tree.walk() for fact in node.facts} & SMUGGLING_RULES


def test_ordinary_zips_have_no_hidden_members(scan, pe_bytes):
    inner = zip_bytes({"inner.txt": b"x" * 500, "more.txt": b"y"}, zipfile.ZIP_STORED)
    # A stored zip inside a zip: its local headers are the member's data, not hidden.
    outer = zip_bytes({"docs/inner.zip": inner, "docs/": b"", "a.txt": b"a"}, zipfile.ZIP_STORED)
    report = scan(outer, "outer.zip")
    assert _smuggling_rules(report) == set() and report.verdict.value == "clean", report.findings
    assert node_named(report, "inner.txt").depth == 2


def test_data_descriptor_zip_has_no_hidden_members(scan):
    inner = zip_bytes({"inner.txt": b"nested"}, zipfile.ZIP_STORED)
    data = _unseekable_zip({"a.txt": b"hello " * 200, "inner.zip": inner, "b.txt": b"bye"})
    assert data[6] & 0x08  # general-purpose bit 3: sizes in a data descriptor
    report = scan(data, "streamed.zip")
    assert _smuggling_rules(report) == set() and report.verdict.value == "clean", report.findings


def test_zip64_zip_has_no_hidden_members(scan):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name in ("a.txt", "b.txt"):
            with archive.open(name, "w", force_zip64=True) as member:
                member.write(b"zip64 " * 100)
        archive.writestr("c.txt", b"plain")
    data = buffer.getvalue()
    assert struct.unpack_from("<H", data, 4)[0] == 45
    report = scan(data, "zip64.zip")
    assert _smuggling_rules(report) == set() and report.verdict.value == "clean", report.findings


def test_zip_written_by_info_zip_has_no_hidden_members(tmp_path, scan):
    (tmp_path / "a.txt").write_bytes(b"hello " * 1000)
    (tmp_path / "b.txt").write_bytes(b"bye")
    run_tool(["zip", "-q", "-X", "plain.zip", "a.txt", "b.txt"], tmp_path)
    report = scan((tmp_path / "plain.zip").read_bytes(), "plain.zip")
    assert _smuggling_rules(report) == set() and report.verdict.value == "clean", report.findings


def test_hidden_members_are_bounded(tmp_path):
    one = zip_bytes({"x.txt": b"x"}, zipfile.ZIP_STORED)
    headers = one[: one.index(b"PK\x01\x02")] * 50
    data = headers + zip_bytes({"shown.txt": b"shown"})
    ctx = ScanContext(ScanOptions(limits=Limits.from_env({}, max_members=5)), str(tmp_path))
    node = Node(name="x.zip", path="x.zip", kind="zip")
    children = list(zip_members(node, Content.from_bytes(data), ctx))
    assert [child.name for child in children] == ["shown.txt"] + ["x.txt"] * 5
    assert [fact.params["count"] for fact in node.facts if fact.rule == "archive.hidden_member"] == [5]


def test_signature_bytes_in_the_gaps_are_not_members(tmp_path):
    junk = b"PK\x03\x04" + bytes(26) + b"PK\x03\x04\xff\xff" + b"random " * 100  # version 0xFFFF
    data = junk + zip_bytes({"a.txt": b"a"})
    ctx = ScanContext(ScanOptions(limits=Limits.from_env({})), str(tmp_path))
    node = Node(name="x.zip", path="x.zip", kind="zip")
    assert [child.name for child in zip_members(node, Content.from_bytes(data), ctx)] == ["a.txt"]
    assert node.facts == []


# -- overlapping members: Fifield's bombs, entries pointing into each other ------------------------
def _local(name: bytes, data: bytes, method: int = 0, plain: bytes | None = None) -> bytes:
    """A local header (no data descriptor) for ``data``, stored unless ``method`` says."""
    plain = data if plain is None else plain
    sizes = (zlib.crc32(plain), len(data), len(plain))
    return struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, method, 0, 0x21, *sizes, len(name), 0) + name


def _central(name: bytes, local: bytes, offset: int) -> bytes:
    """The directory entry for the member whose local header is ``local``, at ``offset``."""
    version, flags, method, raw_time, raw_date, crc, packed, size = struct.unpack_from("<HHHHHIII", local, 4)
    return struct.pack(
        "<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, version, flags, method, raw_time, raw_date, crc, packed, size,
        len(name), 0, 0, 0, 0, 0, offset,
    ) + name  # fmt: skip


def _with_directory(body: bytes, entries: list[bytes]) -> bytes:
    directory = b"".join(entries)
    count = len(entries)
    return (
        body
        + directory
        + struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, count, count, len(directory), len(body), 0)
    )


def fifield_bomb(count: int, kernel_size: int) -> bytes:
    """David Fifield's quoted-overlap zip bomb, small: every member's deflate data quotes
    the next member's local header in a stored block, then runs on into that member's
    data, so all members end in one shared kernel of ``kernel_size`` zeros."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    body, plain = packer.compress(bytes(kernel_size)) + packer.flush(), bytes(kernel_size)
    headers: list[bytes] = []
    for index in reversed(range(count)):
        header = _local(f"{index:03d}.txt".encode(), body, 8, plain)
        headers.insert(0, header)
        quote = b"\x00" + struct.pack("<HH", len(header), len(header) ^ 0xFFFF)  # stored, not final
        body, plain = quote + header + body, header + plain
    offsets = [0]
    for header in headers[:-1]:
        offsets.append(offsets[-1] + len(header) + 5)  # each header follows the previous one's quote
    file_body = body[5:]  # the first header is not quoted by anything
    entries = [
        _central(f"{i:03d}.txt".encode(), header, offset)
        for i, (header, offset) in enumerate(zip(headers, offsets, strict=True))
    ]
    return _with_directory(file_body, entries)


def test_member_pointing_into_another_members_data(scan, pe_bytes):
    inner = _local(b"invoice.exe", pe_bytes) + pe_bytes
    outer = _local(b"notes.txt", inner)
    # notes.txt's stored data is a whole member; a second entry points right into it.
    data = _with_directory(
        outer + inner, [_central(b"notes.txt", outer, 0), _central(b"invoice.exe", inner, len(outer))]
    )
    assert [info.filename for info in zipfile.ZipFile(io.BytesIO(data)).infolist()] == [
        "notes.txt",
        "invoice.exe",
    ]
    report = scan(data, "notes.zip")
    finding = next(f for f in report.findings if f.rule == "archive.overlapping_members")
    assert finding.where == "notes.zip" and finding.params == {"count": 2, "names": "notes.txt, invoice.exe"}
    assert "invoice.exe" in finding.message and "解压炸弹" in finding.message_zh
    assert _smuggling_rules(report) == {"archive.overlapping_members"}
    assert node_named(report, "invoice.exe").sha256 == sha256(pe_bytes)
    assert report.verdict.value == "malicious"


def test_entries_sharing_one_local_header(scan):
    # Byte surgery on the directory: every entry points at the first member's header.
    data = bytearray(zip_bytes({"a.txt": b"same text", "b.txt": b"same text", "c.txt": b"same text"}))
    end = data.rindex(b"PK\x05\x06")
    position = struct.unpack_from("<I", data, end + 16)[0]
    while data[position : position + 4] == b"PK\x01\x02":
        struct.pack_into("<I", data, position + 42, 0)
        position += 46 + sum(struct.unpack_from("<HHH", data, position + 28))
    report = scan(bytes(data), "same.zip")
    finding = next(f for f in report.findings if f.rule == "archive.overlapping_members")
    assert finding.params == {"count": 3, "names": "a.txt, b.txt, c.txt"}
    assert report.verdict.value == "malicious"
    # The headers no entry points to any more are reported as hidden members too.
    assert "archive.hidden_member" in rules_of(report)


def test_fifield_quoted_overlap_bomb(scan):
    data = fifield_bomb(8, 1024 * 1024)
    assert len(data) < 4096
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert sum(info.file_size for info in archive.infolist()) > 8 * 1024 * 1024
    started = time.perf_counter()
    report = scan(data, "bomb.zip")
    assert time.perf_counter() - started < 10
    finding = next(f for f in report.findings if f.rule == "archive.overlapping_members")
    assert finding.params["count"] == 8 and finding.params["names"].endswith("… (+3)")
    assert report.verdict.value == "malicious"
    first = node_named(report, "000.txt")
    assert first.size == archive.infolist()[0].file_size  # read whole, CRC and all
    # Its bytes are the next members' headers: a damaged zip of its own, but read fine.
    assert all(fact.params.get("format") != "member" for fact in first.facts)
    assert next(n for n in report.tree.walk() if n.path == "bomb.zip/007.txt").size == 1024 * 1024


def test_fifield_bomb_stays_within_the_byte_budget(scan):
    limits = Limits.from_env({}, max_total_bytes=3 * 1024 * 1024)
    report = scan(fifield_bomb(16, 1024 * 1024), "bomb.zip", limits=limits)
    assert {"archive.overlapping_members", "limit.total_bytes"} <= rules_of(report)
    assert report.verdict.value == "malicious"


def test_bomb_declaring_more_than_the_size_limit_is_consistent(scan):
    limits = Limits.from_env({}, max_file_size=512 * 1024)
    report = scan(fifield_bomb(4, 1024 * 1024), "bomb.zip", limits=limits)
    assert {"archive.overlapping_members", "archive.decompression_bomb"} <= rules_of(report)
    assert report.verdict.value == "malicious"


def test_many_listed_members_are_checked_for_overlap_quickly(tmp_path):
    data = zip_bytes({f"{index}.txt": b"x" for index in range(20_000)}, zipfile.ZIP_STORED)
    ctx = ScanContext(ScanOptions(limits=Limits.from_env({})), str(tmp_path))
    node = Node(name="x.zip", path="x.zip", kind="zip")
    started = time.perf_counter()
    children = zip_members(node, Content.from_bytes(data), ctx)
    assert next(children).name == "0.txt"
    assert time.perf_counter() - started < 2 and node.facts == []


# -- a damaged directory is damage, not smuggling ------------------------------------------------
def _directory_entries(data: bytes) -> list[int]:
    """Offsets of the central-directory entries of ``data``."""
    end = data.rindex(b"PK\x05\x06")
    position = struct.unpack_from("<I", data, end + 16)[0]
    entries = []
    while data[position : position + 4] == b"PK\x01\x02":
        entries.append(position)
        position += 46 + sum(struct.unpack_from("<HHH", data, position + 28))
    return entries


def test_entry_pointing_nowhere_is_damage_and_its_member_is_still_scanned(scan, pe_bytes):
    data = bytearray(zip_bytes({"说明.txt": b"see the picture", "设计图.jpg.exe": pe_bytes}))
    second = _directory_entries(bytes(data))[1]
    struct.pack_into("<I", data, second + 42, 7)  # the offset of the program's entry, flipped
    report = scan(bytes(data), "damaged.zip")
    assert "archive.hidden_member" not in rules_of(report)
    assert "file.corrupt" in rules_of(report)
    # The program is still found from its own local header, and judged.
    assert report.verdict.value == "malicious"
    assert any(node.sha256 == sha256(pe_bytes) for node in report.tree.walk())


def test_a_flipped_size_does_not_make_members_overlap(scan):
    data = bytearray(zip_bytes({"a.txt": b"first text " * 50, "b.txt": b"second text " * 50}))
    first = _directory_entries(bytes(data))[0]
    struct.pack_into("<I", data, first + 20, 0x00FFFFFF)  # a.txt's packed size, damaged
    report = scan(bytes(data), "damaged.zip")
    assert "archive.overlapping_members" not in rules_of(report)
    assert report.verdict.value != "malicious"
