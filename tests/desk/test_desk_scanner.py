"""The desk's scanning processes: concurrent tasks, and the same supervision as the
CLI's pool (a crash, a hang or a memory blow-up costs one ``error`` verdict, and the
process is replaced)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from filewall.engine import ScanOptions
from filewall.service.scanner import ScannerBusy, ScannerClosed, ScanService

from ._desk import lure_zip


@pytest.fixture
def scanner():
    service = ScanService(2, hard_timeout=3.0).start()
    assert service.wait_ready(120)
    yield service
    service.close()


def rules(report) -> set[str]:
    return {finding["rule"] for finding in report["findings"]}


def test_concurrent_tasks_each_get_their_own_report(scanner, pe_bytes):
    jobs = {}
    lock = threading.Lock()

    def submit(index: int) -> None:
        data = lure_zip(pe_bytes, 50_000) if index % 2 else f"note {index}".encode()
        future = scanner.submit(data, f"file-{index}.{'zip' if index % 2 else 'txt'}", ScanOptions())
        with lock:
            jobs[index] = future

    threads = [threading.Thread(target=submit, args=(index,)) for index in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, future in jobs.items():
        report = future.result(60)
        assert report["path"] == f"file-{index}.{'zip' if index % 2 else 'txt'}"
        assert report["verdict"] == ("malicious" if index % 2 else "clean")


def test_path_tasks_report_the_display_name_not_the_path(scanner, tmp_path, pe_bytes):
    stored = tmp_path / ("ab" * 32)
    stored.write_bytes(lure_zip(pe_bytes, 60_000))
    report = scanner.submit(str(stored), "定制需求.zip", ScanOptions()).result(60)
    assert report["path"] == "定制需求.zip"
    assert report["tree"]["name"] == "定制需求.zip"
    assert report["verdict"] == "malicious"


def test_passwords_are_per_task(scanner, pe_bytes):
    from ._desk import aes_zip

    archive = aes_zip(pe_bytes, b"8866")
    with_password = scanner.submit(archive, "a.zip", ScanOptions(passwords=["8866"]))
    without = scanner.submit(archive, "a.zip", ScanOptions())
    assert with_password.result(60)["tree"]["children"][0]["has_content"] is True
    assert without.result(60)["tree"]["children"][0]["has_content"] is False


def test_a_crashed_process_costs_one_error_verdict_and_is_replaced(scanner):
    before = set(scanner.pids())
    victim = scanner.pids()[0]
    os.kill(victim, signal.SIGSTOP)  # hold it so that the next task lands on it
    futures = [scanner.submit(f"x{index}".encode(), f"{index}.txt", ScanOptions()) for index in range(2)]
    time.sleep(0.5)
    os.kill(victim, signal.SIGKILL)
    reports = [future.result(60) for future in futures]
    crashed = [report for report in reports if report["verdict"] == "error"]
    assert len(crashed) == 1
    assert rules(crashed[0]) == {"scan.crashed"}
    assert crashed[0]["path"] in ("0.txt", "1.txt")
    assert scanner.wait_ready(120)
    assert victim not in scanner.pids() and len(set(scanner.pids()) - before) == 1
    assert scanner.submit(b"after", "after.txt", ScanOptions()).result(60)["verdict"] == "clean"


def test_a_hung_process_is_killed_at_the_hard_limit(scanner):
    for pid in scanner.pids():
        os.kill(pid, signal.SIGSTOP)  # a parser stuck in C code never answers
    started = time.monotonic()
    report = scanner.submit(b"hang", "hang.txt", ScanOptions()).result(60)
    assert rules(report) == {"scan.killed"}
    assert "no answer after 3 s" in report["findings"][0]["message"]
    assert 2.5 < time.monotonic() - started < 30
    for pid in scanner.pids():
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def test_a_process_over_the_memory_ceiling_is_killed(tmp_path):
    service = ScanService(1, memory_limit=1).start()  # every process is over a 1-byte ceiling
    try:
        assert service.wait_ready(120)
        os.kill(service.pids()[0], signal.SIGSTOP)  # keep the task running until checked
        report = service.submit(b"x", "x.txt", ScanOptions()).result(60)
        assert rules(report) == {"scan.killed"}
        assert "memory" in report["findings"][0]["message"]
    finally:
        service.close()


def test_queue_limit_and_shutdown(tmp_path):
    service = ScanService(1, max_queue=1).start()
    try:
        assert service.wait_ready(120)
        os.kill(service.pids()[0], signal.SIGSTOP)
        first = service.submit(b"1", "1.txt", ScanOptions())
        time.sleep(0.5)  # taken by the (stopped) process
        service.submit(b"2", "2.txt", ScanOptions())
        with pytest.raises(ScannerBusy):
            service.submit(b"3", "3.txt", ScanOptions())
    finally:
        os.kill(service.pids()[0], signal.SIGKILL)
        service.close()
    with pytest.raises(ScannerClosed):
        service.submit(b"4", "4.txt", ScanOptions())
    assert first.done()


def test_workers_are_fresh_interpreters_not_forks(scanner):
    import psutil

    for pid in scanner.pids():
        command = psutil.Process(pid).cmdline()
        assert command[-2:] == ["-m", "filewall.service._worker"]
