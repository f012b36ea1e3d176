"""Scanning uploads off the web process: a supervised pool that takes tasks at any time.

:class:`filewall.pool.ScanPool` scans one batch of paths with one set of options and owns
the calling thread until the batch is done; the desk needs many small, concurrent
submissions, each with its own passwords and chat. This pool keeps the same supervision
rules (each scan in a separate process; a process that crashes, runs past the hard time
limit or grows past the memory ceiling is killed and replaced, and its file gets an
``error`` report saying why, built by the same :func:`filewall.pool.failure_report`), but:

- tasks come from any thread through :meth:`ScanService.submit`, which returns a
  :class:`concurrent.futures.Future` (``asyncio.wrap_future`` awaits it without blocking
  the event loop);
- each task carries its own :class:`~filewall.engine.ScanOptions`, and either the bytes
  (small uploads: scanning starts while the sample is still being flushed to disk) or the
  path of the stored sample;
- one task per process at a time, so a slow file never holds up another that is queued;
- the processes are fresh interpreters (``python -m filewall.service._worker``) that
  connect back over an authenticated local socket (a named pipe on Windows): nothing of
  the multi-threaded web process is forked, the same code runs on every OS, and the
  program that embedded the desk is never re-imported by a worker.

One supervisor thread does the process bookkeeping; one acceptor thread takes the
workers' connections.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import secrets
import subprocess
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, Listener, wait
from pathlib import Path
from typing import Any

import psutil

from ..engine import ScanOptions
from ..pool import failure_report

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
#: A worker that has not said "ready" after this long is killed and started again.
START_TIMEOUT = 120.0
#: After this many workers in a row die before becoming ready, queued scans are failed
#: (the desk answers 503) instead of waiting; starting is still retried, more slowly.
FAILED_STARTS_GIVE_UP = 3


class ScannerBusy(Exception):
    """Too many files are waiting to be scanned; the client should retry later."""


class ScannerClosed(Exception):
    """The scanner is shut down or cannot start its processes."""


@dataclass
class _Task:
    id: int
    source: str | bytes
    name: str
    options: ScanOptions
    future: Future


@dataclass
class _Worker:
    popen: subprocess.Popen
    spawned: float = field(default_factory=time.monotonic)
    conn: Connection | None = None
    ready: bool = False
    task: _Task | None = None
    started: float = 0.0
    memory_checked: float = 0.0
    ps: psutil.Process | None = None


class ScanService:
    def __init__(
        self,
        workers: int,
        hard_timeout: float = 95.0,
        memory_limit: int = 2048 * 2**20,
        max_queue: int = 1000,
        warm_up: bool = True,
    ):
        self.size = max(1, workers)
        self.hard_timeout = hard_timeout
        self.memory_limit = memory_limit
        self.max_queue = max_queue
        self.warm_up = warm_up
        self._lock = threading.Lock()
        self._queue: deque[_Task] = deque()
        self._ids = itertools.count(1)
        self._workers: list[_Worker] = []
        self._arrived: deque[tuple[int, Connection]] = deque()
        self._authkey = secrets.token_bytes(32)
        self._listener: Listener | None = None
        self._wake_r: Connection | None = None
        self._wake_w: Connection | None = None
        self._wake_pending = False
        self._closing = False
        self._threads: list[threading.Thread] = []
        self._failed_starts = 0
        self._next_spawn = 0.0
        self.replaced = 0

    # -- public --------------------------------------------------------------------------
    def start(self) -> ScanService:
        from multiprocessing import Pipe

        self._wake_r, self._wake_w = Pipe(duplex=False)
        self._listener = Listener(authkey=self._authkey, backlog=max(16, 2 * self.size))
        self._workers = [self._spawn() for _ in range(self.size)]
        for target, name in ((self._accept, "filewall-scan-acceptor"), (self._supervise, "filewall-scan-supervisor")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __enter__(self) -> ScanService:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def wait_ready(self, timeout: float = START_TIMEOUT) -> bool:
        """Block until every worker is ready (for tests and benchmarks)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(worker.ready for worker in self._workers):
                return True
            time.sleep(0.05)
        return False

    def submit(self, source: str | bytes, name: str, options: ScanOptions) -> Future:
        """Queue one scan; the future's result is the report dict."""
        future: Future = Future()
        with self._lock:
            if self._closing:
                raise ScannerClosed("the scanner is shutting down")
            if self._failed_starts >= FAILED_STARTS_GIVE_UP and not any(w.ready for w in self._workers):
                raise ScannerClosed("the scanning processes cannot start (see the server log)")
            if len(self._queue) >= self.max_queue:
                raise ScannerBusy(f"{len(self._queue)} files are already waiting to be scanned")
            self._queue.append(_Task(next(self._ids), source, name, options, future))
            self._wake()
        return future

    def queued(self) -> int:
        return len(self._queue)

    def pids(self) -> list[int]:
        return [worker.popen.pid for worker in self._workers]

    def alive(self) -> bool:
        return bool(self._threads) and all(thread.is_alive() for thread in self._threads) and not self._closing

    def close(self, timeout: float = 5.0) -> None:
        with self._lock:
            if self._closing:
                return
            self._closing = True
            if self._wake_w is not None:
                self._wake()
        if self._listener is not None:
            try:
                self._listener.close()  # ends the acceptor's accept()
            except OSError:
                pass
        for thread in self._threads:
            thread.join(timeout)
        for worker in self._workers:
            if worker.conn is not None:
                try:
                    worker.conn.send(None)
                except (OSError, ValueError):
                    pass
        deadline = time.monotonic() + 2
        for worker in self._workers:
            try:
                worker.popen.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.popen.kill()
                worker.popen.wait(2)
            if worker.conn is not None:
                worker.conn.close()
            if worker.task is not None and not worker.task.future.done():
                worker.task.future.set_exception(ScannerClosed("the scanner was shut down"))
        for task in list(self._queue):
            task.future.cancel()
        self._queue.clear()
        for _, conn in self._arrived:
            conn.close()

    # -- threads -----------------------------------------------------------------------------
    def _wake(self) -> None:  # with self._lock held
        if not self._wake_pending:
            self._wake_pending = True
            self._wake_w.send_bytes(b"!")

    def _accept(self) -> None:
        while not self._closing:
            try:
                conn = self._listener.accept()
            except (OSError, EOFError):
                if self._closing:
                    return
                continue  # a bad handshake (wrong key) or a client that went away
            except Exception:  # AuthenticationError and the like
                log.warning("refused a connection to the scanner socket", exc_info=True)
                continue
            try:
                if not conn.poll(10):
                    raise EOFError
                kind, pid, _ = conn.recv()
                if kind != "hello":
                    raise EOFError
            except (EOFError, OSError, ValueError, TypeError):
                conn.close()
                continue
            with self._lock:
                self._arrived.append((pid, conn))
                self._wake()

    def _supervise(self) -> None:
        try:
            while True:
                with self._lock:
                    if self._closing:
                        break
                    self._wake_pending = False
                    while self._wake_r.poll():
                        self._wake_r.recv_bytes()
                    arrived = list(self._arrived)
                    self._arrived.clear()
                self._attach(arrived)
                self._dispatch()
                waiting: list[Any] = [self._wake_r]
                waiting += [worker.conn for worker in self._workers if worker.conn is not None]
                ready = set(wait(waiting, POLL_SECONDS))
                self._collect(ready)
        except Exception:  # keep the desk honest: fail every waiting request rather than hang
            log.exception("scan supervisor failed")
            with self._lock:
                self._closing = True
            for worker in self._workers:
                if worker.task is not None and not worker.task.future.done():
                    worker.task.future.set_exception(ScannerClosed("the scanner failed"))
            for task in self._queue:
                if not task.future.done():
                    task.future.set_exception(ScannerClosed("the scanner failed"))

    def _attach(self, arrived: list[tuple[int, Connection]]) -> None:
        for pid, conn in arrived:
            worker = next((w for w in self._workers if w.popen.pid == pid and w.conn is None), None)
            if worker is None:
                conn.close()
            else:
                worker.conn = conn

    def _dispatch(self) -> None:
        for worker in self._workers:
            if not worker.ready or worker.task is not None:
                continue
            while True:
                with self._lock:
                    task = self._queue.popleft() if self._queue else None
                if task is None:
                    return
                if task.future.set_running_or_notify_cancel():
                    break  # not cancelled (a client that went away cancels its tasks)
            worker.task, worker.started = task, time.monotonic()
            try:
                worker.conn.send((task.id, task.source, task.name, task.options))
            except (OSError, ValueError):
                self._replace(worker, "scan.crashed", "the scanning process could not be reached")

    def _collect(self, ready: set) -> None:
        now = time.monotonic()
        for worker in list(self._workers):
            if worker.conn is not None and worker.conn in ready:
                try:
                    while worker.conn.poll():
                        kind, task_id, report = worker.conn.recv()
                        if kind == "ready":
                            worker.ready = True
                            self._failed_starts = 0
                        elif worker.task is not None and worker.task.id == task_id:
                            task, worker.task = worker.task, None
                            task.future.set_result(report)
                except (EOFError, OSError):
                    self._replace(worker, "scan.crashed", self._exit_reason(worker))
                continue
            if worker.popen.poll() is not None:
                self._replace(worker, "scan.crashed", self._exit_reason(worker))
            elif not worker.ready and now - worker.spawned > START_TIMEOUT:
                self._replace(worker, "scan.crashed", "the scanning process did not start")
            elif worker.task is not None and now - worker.started > self.hard_timeout:
                self._replace(worker, "scan.killed", f"no answer after {self.hard_timeout:.0f} s")
            elif worker.task is not None and now - worker.memory_checked >= POLL_SECONDS:
                worker.memory_checked = now
                if _rss(worker) > self.memory_limit:
                    self._replace(worker, "scan.killed", f"used more than {self.memory_limit // 2**20} MB of memory")
        if self._failed_starts >= FAILED_STARTS_GIVE_UP and not any(w.ready for w in self._workers):
            self._fail_queue("the scanning processes cannot start (see the server log)")

    def _exit_reason(self, worker: _Worker) -> str:
        try:
            code = worker.popen.wait(1)
        except subprocess.TimeoutExpired:
            return "the scanning process ended unexpectedly"
        return f"the scanning process ended (exit code {code})"

    def _fail_queue(self, reason: str) -> None:
        with self._lock:
            tasks = list(self._queue)
            self._queue.clear()
        for task in tasks:
            if task.future.set_running_or_notify_cancel():
                task.future.set_exception(ScannerClosed(reason))

    def _replace(self, worker: _Worker, rule: str, reason: str) -> None:
        task, worker.task = worker.task, None
        was_ready, worker.ready = worker.ready, False
        if worker.popen.poll() is None:
            worker.popen.kill()
        try:
            worker.popen.wait(5)
        except subprocess.TimeoutExpired:
            pass
        if worker.conn is not None:
            worker.conn.close()
            worker.conn = None
        if not was_ready:
            self._failed_starts += 1
            log.error("a scanning process failed to start (%s)", reason)
        self.replaced += 1
        if not self._closing:
            # Back off when processes keep failing to start (a broken install must not spin).
            if self._failed_starts:
                time.sleep(min(1.0, 0.25 * 2 ** (self._failed_starts - 1)))
            fresh = self._spawn()
            worker.popen, worker.spawned = fresh.popen, fresh.spawned
            worker.ps, worker.memory_checked = None, 0.0
        if task is not None:  # answered last, once the pool is whole again
            log.warning("scan of %s ended from outside: %s", task.name, reason)
            report = failure_report(task.name, rule, reason)
            report["path"] = task.name
            task.future.set_result(report)

    def _spawn(self) -> _Worker:
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = package_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["FILEWALL_WORKER_WARM_UP"] = "1" if self.warm_up else "0"
        popen = subprocess.Popen(
            [sys.executable, "-m", "filewall.service._worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            env=env,
            close_fds=True,
        )
        hello = {"family": _family(self._listener), "address": self._listener.address, "key": self._authkey.hex()}
        try:
            popen.stdin.write((json.dumps(hello) + "\n").encode())
            popen.stdin.close()
        except OSError:
            pass  # it died already; the supervisor notices
        return _Worker(popen)


def _family(listener: Listener) -> str:
    address = listener.address
    if isinstance(address, tuple):
        return "AF_INET"
    if isinstance(address, str) and address.startswith("\\\\"):
        return "AF_PIPE"
    return "AF_UNIX"


def _rss(worker: _Worker) -> int:
    try:
        if worker.ps is None:
            worker.ps = psutil.Process(worker.popen.pid)
        return worker.ps.memory_info().rss
    except psutil.Error:
        return 0


def default_hard_timeout(options: ScanOptions) -> float:
    """As :class:`filewall.pool.ScanPool`: the engine's own limit, plus a margin."""
    return options.limits.max_seconds * 1.5 + 5


__all__ = ["ScanService", "ScannerBusy", "ScannerClosed", "default_hard_timeout"]
