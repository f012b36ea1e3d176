"""tar archives and bare gzip/bzip2/xz/zstd streams, built with the real libraries."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import struct
import tarfile
import time
import zlib

import pytest
import zstandard
from conftest import CLAM_EXE_SHA256, node_named, rules_of

from filewall.extract.compressed import child_name, gzip_original_name
from filewall.limits import Limits

MiB = 1024 * 1024


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tar_bytes(members: dict[str, bytes], **kwargs) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", **kwargs) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1718000000
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def add_special(archive: tarfile.TarFile, name: str, kind: bytes, target: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    archive.addfile(info)


COMPRESSORS = {
    "gz": lambda data: gzip.compress(data, compresslevel=6, mtime=0),
    "bz2": lambda data: bz2.compress(data, 1),  # 100 kB blocks: a cut stream keeps whole blocks
    "xz": lzma.compress,
    "zst": lambda data: zstandard.ZstdCompressor().compress(data),
}


# -- ClamAV's test files ----------------------------------------------------------------------------
@pytest.mark.parametrize("file_name", ["clam.tar.gz", "clam_cache_emax.tgz", "clam.exe.bz2"])
def test_clamav_streams_yield_clam_exe(clam_testfiles, scan, file_name):
    report = scan((clam_testfiles / file_name).read_bytes(), file_name)
    assert any(node.sha256 == CLAM_EXE_SHA256 and node.kind == "pe" for node in report.tree.walk())
    assert report.verdict.value == "malicious"


def test_clam_tar_gz_shape(clam_testfiles, scan):
    report = scan((clam_testfiles / "clam.tar.gz").read_bytes(), "clam.tar.gz")
    tar = report.tree.children[0]
    assert (report.tree.kind, tar.name, tar.kind) == ("gzip", "clam.tar", "tar")
    assert [child.name for child in tar.children] == ["clam.exe"]


def test_clam_cache_emax_reaches_the_depth_limit_and_still_finds_the_program(clam_testfiles, scan):
    # Eight .tgz inside each other: the deepest copy passes the depth limit, but clam.exe is
    # also stored higher up, and the nesting itself is reported.
    report = scan((clam_testfiles / "clam_cache_emax.tgz").read_bytes(), "clam_cache_emax.tgz")
    assert {"archive.nested_archives", "type.executable"} <= rules_of(report)


# -- tar ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", ["gz", "bz2", "xz", "zst"])
def test_compressed_tar_is_peeled_then_unpacked(scan, pe_bytes, suffix):
    data = COMPRESSORS[suffix](tar_bytes({"资料/设计图.jpg.exe": pe_bytes, "资料/说明.txt": "尺寸".encode()}))
    report = scan(data, f"资料.tar.{suffix}")
    tar = report.tree.children[0]
    assert tar.name == "资料.tar" and tar.kind == "tar"
    program = node_named(report, "设计图.jpg.exe")
    assert program.sha256 == sha256(pe_bytes) and program.depth == 2
    assert program.info["stored_name"] == "资料/设计图.jpg.exe"
    assert report.verdict.value == "malicious"


def test_plain_tar_of_text_is_clean(scan):
    report = scan(tar_bytes({"a.txt": b"size chart", "b/c.txt": b"colour"}), "photos.tar")
    assert report.verdict.value == "clean", report.findings
    assert [node.name for node in report.tree.children] == ["a.txt", "b/c.txt"]


def test_gbk_names_in_an_old_style_tar(scan):
    data = tar_bytes({"设计图.txt": b"x"}, format=tarfile.GNU_FORMAT, encoding="gbk")
    assert "设计图".encode("gbk") in data
    member = scan(data, "gbk.tar").tree.children[0]
    assert member.name == "设计图.txt" and member.info["name_encoding"] == "gb18030"


def test_links_are_reported_without_content(scan):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        add_special(archive, "docs/passwd", tarfile.SYMTYPE, "/etc/passwd")
        add_special(archive, "docs/up", tarfile.SYMTYPE, "../../.bashrc")
        add_special(archive, "docs/same", tarfile.LNKTYPE, "docs/readme.txt")
    report = scan(buffer.getvalue(), "links.tar")
    links = {node.name: node for node in report.tree.children}
    assert set(links) == {"docs/passwd", "docs/up", "docs/same"}
    assert all(not node.has_content for node in links.values())
    assert links["docs/same"].info["link_kind"] == "hardlink"
    assert links["docs/passwd"].info["link_target"] == "/etc/passwd"
    link_rules = {node.name: {fact.rule for fact in node.facts} for node in links.values()}
    assert link_rules["docs/same"] == {"archive.link"}
    assert link_rules["docs/up"] == {"archive.link", "archive.path_traversal"}
    assert link_rules["docs/passwd"] == {"archive.link", "archive.path_traversal"}


def test_device_files_are_skipped_with_a_note(scan):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        add_special(archive, "dev/null", tarfile.CHRTYPE)
        add_special(archive, "dev/sda", tarfile.BLKTYPE)
        add_special(archive, "pipe", tarfile.FIFOTYPE)
        info = tarfile.TarInfo("real.txt")
        info.size = 4
        archive.addfile(info, io.BytesIO(b"real"))
    report = scan(buffer.getvalue(), "dev.tar")
    assert [node.name for node in report.tree.children] == ["real.txt"]
    note = next(f for f in report.findings if f.rule == "archive.special_skipped")
    assert note.params["count"] == 3 and "dev/null" in note.message
    assert report.verdict.value == "clean"


def test_member_hidden_after_the_end_of_archive_marker(scan, pe_bytes):
    # GNU tar stops at the two zero blocks; a second archive glued behind them is still read.
    data = tar_bytes({"readme.txt": b"nothing here"}) + tar_bytes({"hidden.exe": pe_bytes})
    report = scan(data, "two.tar")
    assert node_named(report, "hidden.exe").sha256 == sha256(pe_bytes)
    assert "file.corrupt" not in rules_of(report)  # zero blocks in between are not damage


def test_broken_header_is_damage_not_a_silent_skip(scan, pe_bytes):
    data = bytearray(tar_bytes({"program.exe": pe_bytes, "readme.txt": b"read me"}))
    data[148:156] = b"9999999\x00"  # the first header's checksum no longer matches
    report = scan(bytes(data), "broken.tar")
    assert [node.name for node in report.tree.children] == ["readme.txt"]
    corrupt = next(f for f in report.findings if f.rule == "file.corrupt")
    assert "between two files" in corrupt.params["reason"]
    assert report.verdict.value == "error"


def test_garbage_after_the_last_file_is_damage(scan):
    report = scan(tar_bytes({"a.txt": b"a"}) + b"\x01garbage" * 100, "tail.tar")
    assert "after the last file" in next(f for f in report.findings if f.rule == "file.corrupt").message


def test_truncated_tar_keeps_what_was_read(scan, pe_bytes):
    data = tar_bytes({"program.exe": pe_bytes})
    report = scan(data[: 512 + len(pe_bytes) // 2], "cut.tar")
    program = node_named(report, "program.exe")
    assert program.kind == "pe" and 0 < program.size < len(pe_bytes)
    assert "file.corrupt" in rules_of(report)
    assert report.verdict.value == "malicious"


# -- bare streams ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("outer", "kind", "expected"),
    [
        ("x.tar.gz", "gzip", "x.tar"),
        ("X.TGZ", "gzip", "X.tar"),
        ("report.pdf.gz", "gzip", "report.pdf"),
        ("a.tbz2", "bzip2", "a.tar"),
        ("a.bz2", "bzip2", "a"),
        ("a.txz", "xz", "a.tar"),
        ("a.tar.zst", "zstd", "a.tar"),
        ("outer.zip/inner/b.tzst", "zstd", "b.tar"),
        ("no-suffix", "gzip", "no-suffix"),
        (".gz", "gzip", ".gz"),
    ],
)
def test_child_name(outer, kind, expected):
    assert child_name(outer, kind) == expected


@pytest.mark.parametrize("suffix", ["gz", "bz2", "xz", "zst"])
def test_bare_stream_of_a_program(scan, pe_bytes, suffix):
    report = scan(COMPRESSORS[suffix](pe_bytes), f"报价单.pdf.{suffix}")
    child = report.tree.children[0]
    assert child.name == "报价单.pdf" and child.kind == "pe" and child.sha256 == sha256(pe_bytes)
    assert report.verdict.value == "malicious"


def test_gzip_original_name_wins(scan, pe_bytes):
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="invoice.exe", mode="wb", fileobj=buffer, mtime=0) as out:
        out.write(pe_bytes)
    report = scan(buffer.getvalue(), "invoice.pdf.gz")
    child = report.tree.children[0]
    assert child.name == "invoice.exe" and child.info["stored_name"] == "invoice.exe"


def _gzip_with_raw_name(raw_name: bytes, data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = compressor.compress(data) + compressor.flush()
    header = b"\x1f\x8b\x08\x08" + struct.pack("<I", 0) + b"\x00\x03" + raw_name + b"\x00"
    return header + body + struct.pack("<II", zlib.crc32(data), len(data))


def test_gzip_original_name_in_gbk():
    data = _gzip_with_raw_name("设计图.jpg.exe".encode("gbk"), b"MZ")
    assert gzip.decompress(data) == b"MZ"  # a valid gzip file
    assert gzip_original_name(data) == "设计图.jpg.exe"
    assert gzip_original_name(gzip.compress(b"no name", mtime=0)) is None


def test_concatenated_gzip_members_are_one_file(scan):
    data = gzip.compress(b"first half, ", mtime=0) + gzip.compress(b"second half", mtime=0)
    child = scan(data, "notes.txt.gz").tree.children[0]
    assert child.size == len(b"first half, second half")


@pytest.mark.parametrize("suffix", ["gz", "bz2", "xz", "zst"])
def test_truncated_stream_keeps_what_was_read(scan, pe_bytes, suffix):
    packed = COMPRESSORS[suffix](pe_bytes * 4)
    report = scan(packed[:-16], f"setup.{suffix}")  # the last block and the end marker are lost
    child = report.tree.children[0]
    assert child.kind == "pe" and child.size > 0
    corrupt = next(f for f in report.findings if f.rule == "file.corrupt")
    assert corrupt.where == f"setup.{suffix}"
    assert report.verdict.value == "malicious"


def test_truncated_stream_of_text_is_an_error(scan):
    packed = gzip.compress(b"order list\n" * 5000, mtime=0)
    report = scan(packed[: len(packed) // 2], "orders.txt.gz")
    assert report.verdict.value == "error"
    assert "cut off" in next(f for f in report.findings if f.rule == "file.corrupt").message


@pytest.mark.parametrize("suffix", ["gz", "bz2", "xz", "zst"])
def test_stream_bomb_is_cut_at_the_limit(scan, suffix):
    # 256 concatenated streams of 16 MiB of zeros: 4 GiB once unpacked, a few MB packed.
    # Every one of these formats reads concatenated streams as one file.
    packed = COMPRESSORS[suffix](bytes(16 * MiB)) * 256
    assert len(packed) < 8 * MiB
    limits = Limits.from_env({}, max_file_size=8 * MiB)
    scan(b"warm up", "warm-up.txt")  # plugin loading is not what is timed
    started = time.perf_counter()
    report = scan(packed, f"zeros.{suffix}", limits=limits)
    elapsed = time.perf_counter() - started
    assert not report.tree.truncated
    child = report.tree.children[0]
    assert child.truncated and child.size == 8 * MiB
    assert "limit.file_size" in {fact.rule for fact in child.facts}
    assert elapsed < 2, elapsed  # decompression stopped at 8 MiB; 4 GiB would take far longer


def test_corrupt_stream_is_an_error_not_a_crash(scan):
    report = scan(b"\x1f\x8b\x08\x00" + bytes(6) + b"this is not deflate data at all", "broken.gz")
    assert report.verdict.value == "error"
    assert "file.corrupt" in rules_of(report)


def test_zstd_frame_walk(scan):
    from filewall.engine import ScanContext, ScanOptions
    from filewall.extract.compressed import zstd_frames_problem

    ctx = ScanContext(ScanOptions(limits=Limits.from_env({})), "/nonexistent")
    compressor = zstandard.ZstdCompressor(write_checksum=True)
    skippable = struct.pack("<II", 0x184D2A5E, 3) + b"abc"
    first = compressor.compress(b"one " * 50000)
    whole = first + skippable + compressor.compress(b"two")
    assert zstd_frames_problem(whole, ctx) is None
    assert "cut off" in zstd_frames_problem(whole[:-1], ctx)
    assert "cut off" in zstd_frames_problem(first[: len(first) // 2], ctx)
    assert "cut off" in zstd_frames_problem(first + skippable[:-1], ctx)
    assert "unexpected data" in zstd_frames_problem(whole + b"junk", ctx)
    report = scan(whole, "two-frames.zst")
    assert report.tree.children[0].size == len(b"one " * 50000 + b"two")
    assert report.verdict.value == "clean"


@pytest.mark.parametrize("kind", ["zip", "tar", "tar.gz", "tar.zst"])
def test_mutated_archives_never_crash_or_hang(scan, kind):
    import random
    import zipfile

    members = {"a.txt": b"alpha " * 300, "资料/b.txt": b"beta " * 200}
    if kind == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in members.items():
                archive.writestr(name, data)
        seed = buffer.getvalue()
    else:
        seed = tar_bytes(members)
        seed = {"tar": seed, "tar.gz": COMPRESSORS["gz"](seed), "tar.zst": COMPRESSORS["zst"](seed)}[kind]
    rng = random.Random(kind)
    for _ in range(60):
        data = bytearray(seed)
        for _ in range(rng.randint(1, 6)):
            position = rng.randrange(len(data))
            if rng.random() < 0.7:
                data[position] = rng.randrange(256)
            else:
                del data[position : position + rng.randint(1, 40)]
        started = time.perf_counter()
        report = scan(bytes(data), f"m.{kind}")
        assert time.perf_counter() - started < 5
        assert report.verdict.value in ("clean", "suspicious", "malicious", "error")
        assert "scan.analyzer_failed" not in rules_of(report), report.findings
