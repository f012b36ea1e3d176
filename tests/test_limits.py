"""Every limit the engine enforces, with real inputs built here: bombs, padding, nesting, hangs.

The rule under test: reaching a limit is a finding (``limit.*`` or
``archive.decompression_bomb``) that makes the verdict at least ``suspicious``; a file
that cannot be read or crashes its scanner is ``error``; and the next file is scanned
all the same. Memory is measured, not assumed: the bomb scans run in a fresh interpreter
that reports the kernel's high-water mark of its own resident set (``VmHWM``). Not
``ru_maxrss`` from ``wait4``: on Linux a child inherits the high-water mark of the
process it was forked from (here pytest, hundreds of MB after a full run).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
from conftest import node_named, rules_of

from filewall.engine import ScanOptions, scan_path
from filewall.limits import Limits
from filewall.pool import ScanPool, _LargestFirst

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from corpus import GiB, MiB, png, text, write_zero_bomb  # noqa: E402

AT_LEAST_SUSPICIOUS = {"suspicious", "malicious"}
MEMORY_CEILING = 300 * 1000 * 1000  # bytes of peak RSS for scanning a bomb, interpreter included

_SCAN_IN_CHILD = """
import json, sys, threading

def status(field):
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024

peak_anon, done = 0, threading.Event()

def sample():
    global peak_anon
    while not done.is_set():
        peak_anon = max(peak_anon, status("RssAnon"))
        done.wait(0.002)

threading.Thread(target=sample, daemon=True).start()
from filewall.engine import scan_path
report = scan_path(sys.argv[1])
done.set()
print(json.dumps({"verdict": report.verdict.value,
                  "rules": sorted({f.rule for f in report.findings}),
                  "nodes": [[n.path, n.kind, n.size, n.truncated] for n in report.tree.walk()],
                  "memory": {"rss": status("VmHWM"), "anon": max(peak_anon, status("RssAnon"))}}))
"""


def scan_in_child(path: Path) -> tuple[dict, dict[str, int], float]:
    """Scan ``path`` in a fresh interpreter; return (summary, peak memory, seconds).

    The child measures itself (Linux ``/proc/self/status``), so nothing of the test
    process it was forked from is counted: ``rss`` is the kernel's high-water mark of its
    resident set (``VmHWM``), which also counts pages of spooled temp files mapped
    (``mmap``) while YARA reads them; ``anon`` is the peak of its anonymous memory (heap,
    ``RssAnon``), sampled every 2 ms by a thread in the child.
    """
    started = time.perf_counter()
    child = subprocess.run(
        [sys.executable, "-c", _SCAN_IN_CHILD, str(path)], capture_output=True, timeout=600
    )
    seconds = time.perf_counter() - started
    assert child.returncode == 0, child.stderr.decode(errors="replace")[-2000:]
    summary = json.loads(child.stdout)
    return summary, summary.pop("memory"), seconds


def zip_bytes(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return out.getvalue()


# -- decompression bombs -------------------------------------------------------------------------
def test_six_gib_zip_bomb_is_reported_within_the_memory_ceiling(tmp_path):
    bomb = tmp_path / "高清图片.zip"
    info = write_zero_bomb(bomb, member_size=6 * GiB, members=1, name="高清大图.bmp")
    assert info["size"] < 8 * MiB  # 6 GiB of zeros in ~6 MB
    with zipfile.ZipFile(bomb) as archive:  # a valid zip64 that any unzip would expand
        (member,) = archive.infolist()
        assert member.file_size == 6 * GiB and member.compress_size < 8 * MiB

    summary, peak, seconds = scan_in_child(bomb)
    assert summary["verdict"] in AT_LEAST_SUSPICIOUS
    assert "archive.decompression_bomb" in summary["rules"] or any(
        r.startswith("limit.") for r in summary["rules"]
    )
    assert peak["rss"] < MEMORY_CEILING, f"peak RSS {peak['rss'] / 1e6:.0f} MB"
    # The member was sampled, not expanded: what it is (zeros) is still known.
    path, kind, size, truncated = summary["nodes"][1]
    assert truncated and size <= Limits().bomb_sample_bytes


def test_bomb_of_many_one_gib_members_is_reported(tmp_path):
    bomb = tmp_path / "资料.zip"
    write_zero_bomb(bomb, member_size=1 * GiB, members=6, name="图片.bmp")
    summary, peak, _ = scan_in_child(bomb)
    assert summary["verdict"] in AT_LEAST_SUSPICIOUS
    assert "archive.decompression_bomb" in summary["rules"]
    assert len(summary["nodes"]) == 7  # every member listed, each only sampled
    assert peak["rss"] < MEMORY_CEILING, f"peak RSS {peak['rss'] / 1e6:.0f} MB"


@pytest.mark.slow
def test_bomb_under_the_per_file_limit_is_streamed_not_held(tmp_path):
    """24 members of 256 MiB each: every one is small enough to be read, so the engine
    really inflates until the 1 GiB total budget; the heap must stay flat (each member is
    spooled to the scan's temp folder). Resident memory also counts the mapped pages of
    the one spooled member being read (up to 256 MiB here), which the kernel can drop."""
    bomb = tmp_path / "原图打包.zip"
    write_zero_bomb(bomb, member_size=256 * MiB, members=24, name="原图.tif")
    summary, peak, _ = scan_in_child(bomb)
    assert summary["verdict"] in AT_LEAST_SUSPICIOUS
    assert "archive.decompression_bomb" in summary["rules"]  # the 256 MiB/250 KB ratio
    assert "limit.total_bytes" in summary["rules"]
    assert peak["anon"] < MEMORY_CEILING, f"peak anonymous memory {peak['anon'] / 1e6:.0f} MB"
    assert peak["rss"] < MEMORY_CEILING + 256 * MiB, f"peak RSS {peak['rss'] / 1e6:.0f} MB"


def test_ratio_check_flags_a_member_that_inflates_too_far(tmp_path, scan):
    data = zip_bytes([("说明.txt", bytes(8 * MiB))])
    report = scan(data, "说明.zip", limits=Limits.from_env({}, ratio_min_size=1 * MiB))
    assert "archive.decompression_bomb" in rules_of(report)
    assert report.verdict.value in AT_LEAST_SUSPICIOUS


# -- a program padded to look too big to scan ---------------------------------------------------
PAD = 300 * MiB


def _zero_chunks(total: int, chunk: int = 16 * MiB):
    zeros = bytes(chunk)
    while total > 0:
        yield zeros[: min(chunk, total)]
        total -= chunk


def _write_padded_program_zip(path: Path, program: bytes, name: str) -> str:
    """A small zip holding ``program`` + 300 MiB of zeros, streamed (never 300 MiB in memory)."""
    digest = hashlib.sha256(program)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open(name, "w", force_zip64=True) as member,
    ):
        member.write(program)
        for zeros in _zero_chunks(PAD):
            member.write(zeros)
            digest.update(zeros)
    return digest.hexdigest()


@pytest.mark.slow
def test_padded_program_in_a_small_zip_is_found_and_fully_hashed(tmp_path, pe_bytes):
    lure = tmp_path / "lure.zip"
    expected = _write_padded_program_zip(lure, pe_bytes, "产品图片.jpg.exe")
    assert lure.stat().st_size < 2 * MiB
    report = scan_path(str(lure), ScanOptions(limits=Limits.from_env({})), display_name="产品资料.zip")
    assert report.verdict.value == "malicious"
    program = node_named(report, "产品图片.jpg.exe")
    assert program.kind == "pe"
    assert program.size == len(pe_bytes) + PAD and not program.truncated
    assert program.sha256 == expected  # the hash of all 300 MiB, as a blocklist would need


@pytest.mark.slow
def test_padded_program_on_disk_is_mapped_and_fully_hashed(tmp_path, pe_bytes):
    path = tmp_path / "报价单.exe"
    digest = hashlib.sha256(pe_bytes)
    with open(path, "wb") as out:
        out.write(pe_bytes)
        for zeros in _zero_chunks(PAD):
            out.write(zeros)
            digest.update(zeros)
    summary, peak, _ = scan_in_child(path)
    assert summary["verdict"] == "malicious"
    root_path, kind, size, truncated = summary["nodes"][0]
    assert kind == "pe" and size == len(pe_bytes) + PAD and not truncated
    assert peak["anon"] < MEMORY_CEILING, f"peak anonymous memory {peak['anon'] / 1e6:.0f} MB"
    report = scan_path(str(path), ScanOptions(limits=Limits.from_env({})))
    assert report.tree.sha256 == digest.hexdigest()


# -- depth, members, total bytes, file size, time --------------------------------------------------
def test_zip_nested_twenty_deep_reaches_the_depth_limit(scan):
    data = text(random.Random(1), 5)
    name = "订单.txt"
    for level in range(20):
        data, name = zip_bytes([(name, data)]), f"第{20 - level}层.zip"
    report = scan(data, "合同.zip")
    assert "limit.depth" in rules_of(report)
    assert report.verdict.value in AT_LEAST_SUSPICIOUS
    assert max(node.depth for node in report.tree.walk()) == Limits().max_depth


def test_members_limit(scan):
    data = zip_bytes([(f"照片{index}.txt", f"第{index}张".encode()) for index in range(20)])
    report = scan(data, "照片.zip", limits=Limits.from_env({}, max_members=5))
    assert "limit.members" in rules_of(report)
    assert report.verdict.value in AT_LEAST_SUSPICIOUS
    assert len(report.tree.children) == 5


def test_total_bytes_limit(scan):
    members = [(f"资料{index}.bin", os.urandom(512 * 1024)) for index in range(4)]
    report = scan(
        zip_bytes(members, zipfile.ZIP_STORED),
        "资料.zip",
        limits=Limits.from_env({}, max_total_bytes=1 * MiB),
    )
    assert "limit.total_bytes" in rules_of(report)
    assert report.verdict.value in AT_LEAST_SUSPICIOUS


def test_file_size_limit_on_the_input_and_on_a_member(scan):
    big = os.urandom(3 * MiB)
    limits = Limits.from_env({}, max_file_size=1 * MiB, bomb_sample_bytes=256 * 1024)
    report = scan(big, "视频.mp4", limits=limits)
    assert "limit.file_size" in rules_of(report) and report.tree.truncated
    assert report.verdict.value in AT_LEAST_SUSPICIOUS
    report = scan(zip_bytes([("视频.mp4", big)], zipfile.ZIP_STORED), "视频.zip", limits=limits)
    assert report.verdict.value in AT_LEAST_SUSPICIOUS
    assert node_named(report, "视频.mp4").truncated


def test_time_limit(scan):
    report = scan(zip_bytes([("a.txt", b"hello")]), "a.zip", limits=Limits.from_env({}, max_seconds=0))
    assert "limit.time" in rules_of(report)
    assert report.verdict.value in AT_LEAST_SUSPICIOUS


def test_limits_come_from_the_environment():
    limits = Limits.from_env({"FILEWALL_MAX_DEPTH": "3", "FILEWALL_MAX_SECONDS": "2.5"})
    assert limits.max_depth == 3 and limits.max_seconds == 2.5


# -- the supervised pool: hangs and crashes cost one verdict ---------------------------------------
@pytest.fixture
def fifo(tmp_path):
    """A named pipe nobody writes to: opening it for reading blocks forever, in the kernel."""
    path = tmp_path / "卡住的文件.jpg"
    os.mkfifo(path)
    return path


def test_pool_kills_a_hung_worker_and_goes_on(tmp_path, fifo):
    after = tmp_path / "logo设计.png"
    after.write_bytes(png(random.Random(2)))
    options = ScanOptions(limits=Limits.from_env({}))
    started = time.monotonic()
    with ScanPool(options, workers=1, hard_timeout=2.0) as pool:
        first_pid = pool.pids()[0]
        reports = list(pool.scan([str(fifo), str(after)]))
        assert pool.pids()[0] != first_pid  # replaced
    assert time.monotonic() - started < 20
    assert [report["path"] for report in reports] == [str(fifo), str(after)]
    assert reports[0]["verdict"] == "error"
    assert {finding["rule"] for finding in reports[0]["findings"]} == {"scan.killed"}
    assert reports[1]["verdict"] == "clean"


def test_pool_survives_a_worker_killed_mid_scan(tmp_path, fifo):
    files = []
    for index in range(3):
        path = tmp_path / f"产品照片{index}.png"
        path.write_bytes(png(random.Random(index)))
        files.append(str(path))
    options = ScanOptions(limits=Limits.from_env({}))
    with ScanPool(options, workers=1, hard_timeout=120) as pool:
        victim = pool.pids()[0]
        results = pool.scan([files[0], str(fifo), files[1], files[2]])
        # Largest first: the pictures go before the (empty) FIFO, which is scanned last.
        reports = [next(results)]
        killer = threading.Timer(0.5, os.kill, (victim, signal.SIGKILL))
        killer.start()
        try:
            reports += list(results)
        finally:
            killer.cancel()
        assert victim not in pool.pids()
    assert [report["verdict"] for report in reports] == ["clean", "error", "clean", "clean"]
    assert {finding["rule"] for finding in reports[1]["findings"]} == {"scan.crashed"}
    assert reports[1]["path"] == str(fifo)


def test_pool_sends_the_largest_file_of_its_window_first(tmp_path):
    sizes = [10, 30, 20, 5, 40]
    paths = []
    for index, size in enumerate(sizes):
        path = tmp_path / f"文件{index}.txt"
        path.write_bytes(b"x" * size)
        paths.append(str(path))
    window = _LargestFirst(paths + [str(tmp_path / "不存在.txt")], window=3)
    order = []
    while (task := window.take()) is not None:
        order.append(task[0])
    # Window of 3: {10,30,20} -> 30; {10,20,5} -> 20; {10,5,40} -> 40; then 10, 5; the
    # missing file counts as empty and comes last.
    assert order == [1, 2, 4, 0, 3, 5]


def test_pool_reports_in_input_order_when_a_big_file_comes_last(tmp_path):
    files = []
    for index in range(12):
        path = tmp_path / f"产品照片{index}.png"
        path.write_bytes(png(random.Random(index)))
        files.append(str(path))
    big = tmp_path / "全年订单导出.csv"
    big.write_bytes("订单号,金额\n".encode() + b"407063190108,112.46\n" * 200_000)
    files.append(str(big))
    with ScanPool(ScanOptions(limits=Limits.from_env({})), workers=2) as pool:
        reports = list(pool.scan(files))
    assert [report["path"] for report in reports] == files
    assert {report["verdict"] for report in reports} == {"clean"}


def test_cli_reports_every_file_and_exits_2_when_one_is_corrupt(tmp_path):
    good = tmp_path / "收货地址.txt"
    good.write_text("上海市浦东新区张江路100号\n", encoding="utf-8")
    corrupt = tmp_path / "合同.zip"
    corrupt.write_bytes(b"PK\x03\x04" + os.urandom(300))
    photo = tmp_path / "产品照片1.png"
    photo.write_bytes(png(random.Random(3)))
    result = subprocess.run(
        [sys.executable, "-m", "filewall", "scan", "--json", str(good), str(corrupt), str(photo)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["path"] for line in lines] == [str(good), str(corrupt), str(photo)]
    assert [line["verdict"] for line in lines] == ["clean", "error", "clean"], result.stderr
    assert result.returncode == 2
