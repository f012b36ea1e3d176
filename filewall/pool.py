"""Scan many files on all cores, each in a supervised child process.

Parsers are the attack surface. A file built to crash, hang or blow up a parser must cost
one verdict, never the whole run: each worker process is watched for a hard time limit
and a memory ceiling (resident set, polled with psutil, which works the same on Windows,
macOS and Linux); a worker that dies or is killed is replaced and its file gets an
``error`` report that says why. Results come back in input order.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

import psutil

from . import policy
from .engine import ScanOptions, scan_path
from .model import Fact, Node
from .registry import load_plugins

POLL_SECONDS = 0.25


@dataclass
class _Worker:
    process: multiprocessing.Process
    conn: Connection
    task: tuple[int, str] | None = None
    started: float = 0.0


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


class ScanPool:
    """A fixed set of scanning processes; use as a context manager."""

    def __init__(
        self,
        options: ScanOptions,
        workers: int | None = None,
        hard_timeout: float | None = None,
        memory_limit: int | None = None,
    ):
        self.options = options
        self.size = workers or default_workers()
        # The engine stops itself at max_seconds; the hard limit is the backstop for a
        # parser stuck inside C code where the engine's own clock is never consulted.
        self.hard_timeout = hard_timeout or options.limits.max_seconds * 1.5 + 5
        self.memory_limit = memory_limit or int(os.environ.get("FILEWALL_WORKER_MEMORY_MB", "2048")) * 2**20
        method = "fork" if sys.platform.startswith("linux") else "spawn"
        self._mp = multiprocessing.get_context(method)
        self._workers: list[_Worker] = []

    def __enter__(self) -> ScanPool:
        load_plugins()  # import once before forking so children share the pages
        self._workers = [self._spawn() for _ in range(self.size)]
        return self

    def __exit__(self, *exc) -> None:
        for worker in self._workers:
            try:
                worker.conn.send(None)
            except OSError:
                pass
        for worker in self._workers:
            worker.process.join(timeout=2)
            if worker.process.is_alive():
                worker.process.kill()

    def scan(self, paths: Iterable[str]) -> Iterator[dict[str, Any]]:
        """Yield one report dict per path, in the order given."""
        pending = iter(enumerate(paths))
        done: dict[int, dict[str, Any]] = {}
        next_out = 0
        exhausted = False
        while True:
            for worker in self._workers:
                if worker.task is None and not exhausted:
                    task = next(pending, None)
                    if task is None:
                        exhausted = True
                    else:
                        self._assign(worker, task)
            busy = [worker for worker in self._workers if worker.task is not None]
            if not busy and exhausted:
                break
            self._collect(busy, done)
            while next_out in done:
                yield done.pop(next_out)
                next_out += 1
        while next_out in done:
            yield done.pop(next_out)
            next_out += 1

    # -- internals ---------------------------------------------------------------------
    def _spawn(self) -> _Worker:
        parent_conn, child_conn = self._mp.Pipe()
        process = self._mp.Process(target=_worker_main, args=(child_conn, self.options), daemon=True)
        process.start()
        child_conn.close()
        return _Worker(process, parent_conn)

    def _assign(self, worker: _Worker, task: tuple[int, str]) -> None:
        worker.task, worker.started = task, time.monotonic()
        worker.conn.send(task)

    def _collect(self, busy: list[_Worker], done: dict[int, dict[str, Any]]) -> None:
        ready = wait([worker.conn for worker in busy] + [worker.process.sentinel for worker in busy], POLL_SECONDS)
        for worker in busy:
            if worker.conn in ready:
                try:
                    index, report = worker.conn.recv()
                except (EOFError, OSError):
                    self._replace(worker, done, "scan.crashed", reason="the scanning process ended unexpectedly")
                    continue
                done[index] = report
                worker.task = None
            elif worker.process.sentinel in ready or not worker.process.is_alive():
                code = worker.process.exitcode
                self._replace(worker, done, "scan.crashed", reason=f"the scanning process ended (exit code {code})")
            elif time.monotonic() - worker.started > self.hard_timeout:
                self._replace(worker, done, "scan.killed", reason=f"no answer after {self.hard_timeout:.0f} s")
            elif _rss(worker.process.pid) > self.memory_limit:
                self._replace(
                    worker, done, "scan.killed", reason=f"used more than {self.memory_limit // 2**20} MB of memory"
                )

    def _replace(self, worker: _Worker, done: dict[int, dict[str, Any]], rule: str, reason: str) -> None:
        index, path = worker.task
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(timeout=5)
        worker.conn.close()
        done[index] = failure_report(path, rule, reason)
        fresh = self._spawn()
        worker.process, worker.conn, worker.task = fresh.process, fresh.conn, None


def failure_report(path: str, rule: str, reason: str) -> dict[str, Any]:
    """The report for a file whose scan was ended from outside (crash, hang, memory)."""
    name = os.path.basename(path) or path
    root = Node(name=name, path=name, has_content=False)
    root.facts.append(Fact(rule, name, {"reason": reason}))
    return policy.judge(path, root).to_dict()


def _rss(pid: int) -> int:
    try:
        return psutil.Process(pid).memory_info().rss
    except psutil.Error:
        return 0


def _worker_main(conn: Connection, options: ScanOptions) -> None:
    load_plugins()
    while True:
        try:
            task = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if task is None:
            return
        index, path = task
        report = scan_path(path, options)
        conn.send((index, report.to_dict()))
