"""Scan many files on all cores, each in a supervised child process.

Parsers are the attack surface. A file built to crash, hang or blow up a parser must cost
one verdict, never the whole run: each worker process is watched for a hard time limit
and a memory ceiling (resident set, polled with psutil, which works the same on Windows,
macOS and Linux); a worker that dies or is killed is replaced and its file gets an
``error`` report that says why. Results come back in input order.
"""

from __future__ import annotations

import contextlib
import heapq
import multiprocessing
import os
import select
import selectors
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

import psutil

from . import policy
from .engine import ScanOptions, scan_path
from .model import Fact, Node
from .registry import load_plugins

POLL_SECONDS = 0.25
#: Tasks queued ahead in each worker's pipe, so it never waits for the parent between two
#: small files (a round trip costs more than scanning a photo). A worker still scans one
#: file at a time; only the first of its queue is running, the others wait in the pipe.
PREFETCH = 3
#: Files looked at ahead of the next one sent: the largest of them goes first. Sent in
#: input order, a big archive at the end of a folder ran alone on one core while the
#: other idled; largest-first keeps both busy to the end (reports still come out in
#: input order, so at most this many wait in memory for a big one ahead of them).
LOOKAHEAD = 64


@dataclass
class _Worker:
    process: multiprocessing.Process
    conn: Connection
    #: Tasks sent and not yet answered, oldest (the one being scanned) first.
    tasks: deque[tuple[int, str]] = field(default_factory=deque)
    #: When the oldest task started: when it was sent, or when the previous answer came.
    started: float = 0.0
    memory_checked: float = 0.0
    ps: psutil.Process | None = None

    @property
    def task(self) -> tuple[int, str] | None:
        return self.tasks[0] if self.tasks else None


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
        #: Tasks taken back from a worker that was replaced, to be sent again first.
        self._retry: deque[tuple[int, str]] = deque()

    def __enter__(self) -> ScanPool:
        load_plugins()  # import once before forking so children share the pages
        if self._mp.get_start_method() == "fork":
            # Compile rules and load blocklists once, before forking: workers share them
            # (and a broken rule file warns once, not once per worker).
            from .rulesets import preload

            preload(self.options.rule_paths, self.options.blocklist_paths)
        self._workers = [self._spawn() for _ in range(self.size)]
        self._readiness = _Readiness()
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
        self._readiness.close()

    def pids(self) -> list[int]:
        """Process ids of the current workers (for supervision and tests)."""
        return [worker.process.pid for worker in self._workers]

    def scan(self, paths: Iterable[str]) -> Iterator[dict[str, Any]]:
        """Yield one report dict per path, in the order given."""
        pending = _LargestFirst(paths, LOOKAHEAD)
        self._retry.clear()
        done: dict[int, dict[str, Any]] = {}
        next_out = 0
        exhausted = False
        while True:
            # Top up the queues one task per worker per round, emptiest first, so that the
            # first tasks spread over every worker.
            while not exhausted or self._retry:
                hungry = sorted(
                    (w for w in self._workers if len(w.tasks) < PREFETCH), key=lambda w: len(w.tasks)
                )
                if not hungry:
                    break
                for worker in hungry:
                    task = self._retry.popleft() if self._retry else None if exhausted else pending.take()
                    if task is None:
                        exhausted = True
                        break
                    self._assign(worker, task)
            busy = [worker for worker in self._workers if worker.tasks]
            if not busy and exhausted and not self._retry:
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
        if not worker.tasks:
            worker.started = time.monotonic()
            self._readiness.watch(worker)
        worker.tasks.append(task)
        worker.conn.send(task)

    def _collect(self, busy: list[_Worker], done: dict[int, dict[str, Any]]) -> None:
        ready = self._readiness.ready(busy, POLL_SECONDS)
        now = time.monotonic()
        for worker in busy:
            if worker.conn in ready:
                try:
                    # Drain every answer already waiting, without blocking.
                    while worker.tasks:
                        index, report = worker.conn.recv()
                        done[index] = report
                        worker.tasks.popleft()
                        worker.started = now
                        if not self._readiness.more(worker):
                            break
                    if not worker.tasks:
                        self._readiness.forget(worker)
                except (EOFError, OSError):
                    self._replace(
                        worker, done, "scan.crashed", reason="the scanning process ended unexpectedly"
                    )
                continue
            if worker.process.sentinel in ready or not worker.process.is_alive():
                code = worker.process.exitcode
                self._replace(
                    worker, done, "scan.crashed", reason=f"the scanning process ended (exit code {code})"
                )
            elif now - worker.started > self.hard_timeout:
                self._replace(
                    worker, done, "scan.killed", reason=f"no answer after {self.hard_timeout:.0f} s"
                )
            elif now - worker.memory_checked >= POLL_SECONDS:
                # psutil costs ~50 µs a call: check each worker at most every POLL_SECONDS.
                worker.memory_checked = now
                if _rss(worker) > self.memory_limit:
                    self._replace(
                        worker,
                        done,
                        "scan.killed",
                        reason=f"used more than {self.memory_limit // 2**20} MB of memory",
                    )

    def _replace(self, worker: _Worker, done: dict[int, dict[str, Any]], rule: str, reason: str) -> None:
        index, path = worker.tasks.popleft()
        self._readiness.forget(worker)
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(timeout=5)
        worker.conn.close()
        done[index] = failure_report(path, rule, reason)
        # Only the oldest task was being scanned; the ones queued behind it go to other workers.
        self._retry.extendleft(reversed(worker.tasks))
        fresh = self._spawn()
        worker.process, worker.conn, worker.tasks = fresh.process, fresh.conn, deque()
        worker.ps, worker.memory_checked = None, 0.0


class _Readiness:
    """Which busy workers have answered or ended.

    ``multiprocessing.connection.wait`` builds a new selector on every call (~60 µs of
    Python), most of the parent's CPU on small files; on POSIX one selector is kept for
    the pool's life instead, holding the pipe and the process sentinel of each worker
    while it has tasks (an idle worker is not watched, as before). Windows keeps
    ``wait``: its selectors take sockets only.
    """

    def __init__(self) -> None:
        self._selector = None if sys.platform == "win32" else selectors.DefaultSelector()

    def watch(self, worker: _Worker) -> None:
        if self._selector is not None:
            self._selector.register(worker.conn, selectors.EVENT_READ)
            self._selector.register(worker.process.sentinel, selectors.EVENT_READ)

    def forget(self, worker: _Worker) -> None:
        if self._selector is not None:
            for handle in (worker.conn, worker.process.sentinel):
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.unregister(handle)

    def more(self, worker: _Worker) -> bool:
        """Whether another answer is already waiting in ``worker``'s pipe (never blocks)."""
        if self._selector is None:
            return worker.conn.poll()
        return bool(select.select([worker.conn.fileno()], [], [], 0)[0])

    def ready(self, busy: list[_Worker], timeout: float) -> set:
        """The pipes and sentinels of ``busy`` workers that are ready, within ``timeout``."""
        if self._selector is None:
            return set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout))
        return {key.fileobj for key, _ in self._selector.select(timeout)}

    def close(self) -> None:
        if self._selector is not None:
            self._selector.close()


class _LargestFirst:
    """Numbered paths, handed out largest first within a window of the next ``window``."""

    def __init__(self, paths: Iterable[str], window: int):
        self._source = enumerate(paths)
        self._window = window
        #: A heap of (-size, index, path): the largest first, then the earliest.
        self._waiting: list[tuple[int, int, str]] = []

    def take(self) -> tuple[int, str] | None:
        """The next task ``(index, path)``, or None when every path was handed out."""
        while len(self._waiting) < self._window:
            item = next(self._source, None)
            if item is None:
                break
            index, path = item
            heapq.heappush(self._waiting, (-_size(path), index, path))
        if not self._waiting:
            return None
        _, index, path = heapq.heappop(self._waiting)
        return index, path


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0  # the worker reports why it cannot be read


def failure_report(path: str, rule: str, reason: str) -> dict[str, Any]:
    """The report for a file whose scan was ended from outside (crash, hang, memory)."""
    name = os.path.basename(path) or path
    root = Node(name=name, path=name, has_content=False)
    root.facts.append(Fact(rule, name, {"reason": reason}))
    return policy.judge(path, root).to_dict()


def _rss(worker: _Worker) -> int:
    try:
        if worker.ps is None:
            worker.ps = psutil.Process(worker.process.pid)
        return worker.ps.memory_info().rss
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
