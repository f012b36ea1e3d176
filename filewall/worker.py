"""Scanning workers: one isolated scanning process per slot, and the Celery tasks.

Two layers, each usable without the other:

1. **Isolation** (:class:`IsolatedScanner`, :class:`ScanSlots`): every scan runs in a
   child process that the caller supervises, exactly as :class:`filewall.pool.ScanPool`
   does for the CLI: a hard wall-clock limit, a resident-memory ceiling polled with
   psutil (``RLIMIT_AS`` is not used: yara-x reserves large virtual memory up front) and,
   on POSIX, ``RLIMIT_CPU`` re-armed before each task so a child that spins on its own
   dies even if its supervisor is gone. A child that crashes, hangs or blows up gives an
   ``error`` report (rule ``scan.crashed`` / ``scan.killed``, built by the same
   :func:`filewall.pool.failure_report`) and the next file gets a fresh child. A child is
   recycled after ``max_tasks`` scans (native-library leaks). The children are forked
   from a fork server that has the plugins imported, never from the (threaded) caller.
   The clamd and ICAP servers use these slots too.

2. **Celery** (:func:`get_app`, task ``filewall.scan``): workers started by ``filewall
   worker`` take jobs from the broker (Redis by default, RabbitMQ by URL), fetch the
   sample by its content address from shared storage, scan it in a slot and write the
   report through the desk's store. See :mod:`filewall.queue` for the submitting side
   and ``docs/scale.md`` for the guarantees (late acknowledgement, idempotent report
   ids, per-file attempt counting and dead-lettering, deduplication by sha256).

Nothing scanned is ever executed: the engine only reads bytes.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pkgutil
import queue as queue_module
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

import psutil

from .engine import ScanOptions
from .pool import failure_report

log = logging.getLogger(__name__)

POLL_SECONDS = 0.1
DEFAULT_MAX_TASKS = 200
DEFAULT_MEMORY_MB = 2048
#: Worker threads per scanning slot (they wait on the broker and database most of the time).
IO_THREADS_PER_SLOT = 3

#: Why a scan ended from outside its child process.
CRASHED, KILLED = "crashed", "killed"


def _plugin_modules() -> list[str]:
    """Every extractor/analyzer module, for the fork server to import once."""
    names = ["filewall.engine", "filewall.pool"]
    for package_name in ("filewall.extract", "filewall.analyze"):
        package = __import__(package_name, fromlist=["__path__"])
        names += [
            f"{package_name}.{module.name}"
            for module in pkgutil.iter_modules(package.__path__)
            if not module.name.startswith("_")
        ]
    return names


_CONTEXT_LOCK = threading.Lock()
_CONTEXT: Any = None


def _context():
    """The multiprocessing context children are made with (a preloaded fork server on Linux)."""
    global _CONTEXT
    with _CONTEXT_LOCK:
        if _CONTEXT is None:
            if sys.platform.startswith("linux"):
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(_plugin_modules())
            else:
                context = multiprocessing.get_context("spawn")
            _CONTEXT = context
        return _CONTEXT


@dataclass
class Outcome:
    """One scan's result, and whether it ended from outside (and why)."""

    report: dict[str, Any]
    #: None for a scan that finished; CRASHED or KILLED when the child was lost.
    failure: str | None = None
    reason: str = ""
    seconds: float = 0.0


def default_hard_timeout(options: ScanOptions) -> float:
    """As :class:`filewall.pool.ScanPool`: the engine's own limit plus a margin."""
    return options.limits.max_seconds * 1.5 + 5


class IsolatedScanner:
    """One supervised child process that scans one file at a time (not thread-safe)."""

    def __init__(
        self,
        hard_timeout: float | None = None,
        memory_limit: int | None = None,
        cpu_limit: float | None = None,
        max_tasks: int = DEFAULT_MAX_TASKS,
    ):
        self.hard_timeout = hard_timeout
        self.memory_limit = memory_limit or int(os.environ.get("FILEWALL_WORKER_MEMORY_MB", DEFAULT_MEMORY_MB)) * 2**20
        self.cpu_limit = cpu_limit
        self.max_tasks = max(1, max_tasks)
        self._process = None
        self._conn: Connection | None = None
        self._ps: psutil.Process | None = None
        self._done = 0
        #: Children started so far (the first plus every replacement and recycling).
        self.spawned = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def scan(self, source: str | bytes, name: str, options: ScanOptions, hook: str | None = None) -> Outcome:
        """Scan a path or bytes under the display ``name``; never raises for bad input.

        ``hook="desk"`` scans as the desk does (with safe-view previews, see
        :func:`filewall.preview.scan_for_desk`).
        """
        hard_timeout = self.hard_timeout or default_hard_timeout(options)
        cpu_limit = self.cpu_limit or hard_timeout
        started = time.monotonic()
        if self._process is None or not self._process.is_alive():
            self._spawn()
        assert self._conn is not None and self._process is not None
        try:
            self._conn.send((source, name, options, cpu_limit, hook))
        except (OSError, ValueError):
            return self._lose(name, CRASHED, "the scanning process could not be reached", started)
        memory_checked = 0.0
        while True:
            now = time.monotonic()
            left = hard_timeout - (now - started)
            if left <= 0:
                return self._lose(name, KILLED, f"no answer after {hard_timeout:g} s", started)
            ready = wait([self._conn, self._process.sentinel], min(POLL_SECONDS, left))
            if self._conn in ready:
                try:
                    report = self._conn.recv()
                except (EOFError, OSError):
                    return self._lose(name, *self._exit_reason(), started)
                self._done += 1
                if self._done >= self.max_tasks:
                    self.close()  # recycled: the next scan gets a fresh child
                return Outcome(report, None, "", time.monotonic() - started)
            if self._process.sentinel in ready:
                return self._lose(name, *self._exit_reason(), started)
            if now - memory_checked >= POLL_SECONDS:
                memory_checked = now
                if self._rss() > self.memory_limit:
                    return self._lose(
                        name, KILLED, f"used more than {self.memory_limit // 2**20} MB of memory", started
                    )

    def close(self) -> None:
        process, conn = self._process, self._conn
        self._process = self._conn = self._ps = None
        self._done = 0
        if process is None:
            return
        with contextlib.suppress(OSError, ValueError):
            conn.send(None)
        process.join(timeout=2)
        if process.is_alive():
            process.kill()
            process.join(timeout=2)
        with contextlib.suppress(OSError):
            conn.close()

    # -- internals ---------------------------------------------------------------------
    def _spawn(self) -> None:
        self.close()
        context = _context()
        parent_conn, child_conn = context.Pipe()
        process = context.Process(target=_child_main, args=(child_conn,), daemon=True, name="filewall-scan")
        process.start()
        child_conn.close()
        self._process, self._conn, self._ps, self._done = process, parent_conn, None, 0
        self.spawned += 1

    def _lose(self, name: str, failure: str, reason: str, started: float) -> Outcome:
        process, conn = self._process, self._conn
        self._process = self._conn = self._ps = None
        self._done = 0
        if process is not None:
            if process.is_alive():
                process.kill()
            process.join(timeout=5)
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.close()
        log.warning("scan of %s ended from outside: %s", name, reason)
        report = failure_report(name, "scan.crashed" if failure == CRASHED else "scan.killed", reason)
        report["path"] = name
        return Outcome(report, failure, reason, time.monotonic() - started)

    def _exit_reason(self) -> tuple[str, str]:
        """(CRASHED or KILLED, why) for a child that ended on its own."""
        process = self._process
        if process is None:
            return CRASHED, "the scanning process ended unexpectedly"
        process.join(timeout=1)
        code = process.exitcode
        if code is not None and code < 0:
            number = -code
            if hasattr(signal, "SIGXCPU") and number == signal.SIGXCPU:
                return KILLED, "used more CPU time than allowed"
            try:
                return CRASHED, f"the scanning process was ended by signal {signal.Signals(number).name}"
            except ValueError:
                return CRASHED, f"the scanning process was ended by signal {number}"
        return CRASHED, f"the scanning process ended (exit code {code})"

    def _rss(self) -> int:
        try:
            if self._ps is None and self._process is not None:
                self._ps = psutil.Process(self._process.pid)
            return self._ps.memory_info().rss if self._ps is not None else 0
        except psutil.Error:
            return 0


class ScanSlots:
    """A fixed number of :class:`IsolatedScanner`; any thread may call :meth:`scan`."""

    def __init__(self, size: int, **scanner_options: Any):
        self.size = max(1, size)
        self._free: queue_module.LifoQueue[IsolatedScanner] = queue_module.LifoQueue()
        self._all = [IsolatedScanner(**scanner_options) for _ in range(self.size)]
        for scanner in self._all:
            self._free.put(scanner)
        self._busy = 0
        self._lock = threading.Lock()

    def scan(
        self, source: str | bytes, name: str, options: ScanOptions, hook: str | None = None,
        timeout: float | None = None,
    ) -> Outcome:
        scanner = self._free.get(timeout=timeout)
        with self._lock:
            self._busy += 1
        try:
            return scanner.scan(source, name, options, hook)
        finally:
            with self._lock:
                self._busy -= 1
            self._free.put(scanner)

    @property
    def busy(self) -> int:
        return self._busy

    def pids(self) -> list[int]:
        return [scanner.pid for scanner in self._all if scanner.pid is not None]

    def warm_up(self) -> None:
        """Start every child now rather than on the first file."""
        for scanner in self._all:
            if scanner.pid is None:
                scanner._spawn()

    def close(self) -> None:
        for scanner in self._all:
            scanner.close()


# -- inside the child ----------------------------------------------------------------------
def _child_main(conn: Connection) -> None:
    _die_with_parent()
    _release_forkserver_fd()
    from .registry import load_plugins

    load_plugins()
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if task is None:
            return
        source, name, options, cpu_limit, hook = task
        _arm_cpu_limit(cpu_limit)
        report = _scan_one(source, name, options, hook)
        try:
            conn.send(report)
        except (OSError, EOFError):
            return


def _scan_one(source: str | bytes, name: str, options: ScanOptions, hook: str | None = None) -> dict[str, Any]:
    # The same never-raising scan as the desk's own workers (with its previews when asked).
    from .service._worker import scan_one

    return scan_one(source, name, options, _desk_hook() if hook == "desk" else None)


def _desk_hook():
    """The desk's scan-with-previews function (as its own scanning processes use)."""
    try:
        from .service._worker import _preview_hook
    except ImportError:
        return None
    return _preview_hook()


def _arm_cpu_limit(seconds: float) -> None:
    """Allow this process ``seconds`` more CPU time from now (SIGXCPU past it)."""
    try:
        import resource
    except ImportError:  # Windows
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime + seconds) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _release_forkserver_fd() -> None:
    """Close the fork server's "alive" descriptor that every forked child inherits.

    The fork server exits when the write end of that pipe is closed everywhere; a child
    holding a copy keeps it alive after its worker died, and the child itself dies only
    with the fork server (PDEATHSIG). A scanning child never starts processes: let go.
    """
    try:
        from multiprocessing import forkserver
    except ImportError:  # pragma: no cover - Windows
        return
    server = getattr(forkserver, "_forkserver", None)
    fd = getattr(server, "_forkserver_alive_fd", None)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
        server._forkserver_alive_fd = None


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the parent (the fork server) goes, so no orphan scans on."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


# -- Celery ---------------------------------------------------------------------------------------
_APPS: dict[tuple, Any] = {}
_APPS_LOCK = threading.Lock()
_RUNTIME: WorkerRuntime | None = None


def get_app(config=None):
    """The Celery app for a configuration (one per broker/queue, made on first use)."""
    from celery import Celery

    from .queue import DEAD_TASK_NAME, TASK_NAME, QueueConfig

    config = config or QueueConfig.load()
    if not config.enabled:
        raise RuntimeError("no broker configured: set FILEWALL_BROKER_URL (redis://... or amqp://...)")
    key = (config.broker_url, config.backend, config.queue, config.visibility_timeout)
    with _APPS_LOCK:
        if key in _APPS:
            return _APPS[key]
        app = Celery("filewall", broker=config.broker_url, backend=config.backend, set_as_current=False)
        transport_options: dict[str, Any] = {}
        if config.broker_is_redis:
            transport_options = {
                # An unacknowledged job (its worker died) is handed out again after this.
                "visibility_timeout": config.visibility_timeout,
                "unacked_restore_interval": max(1, min(10, int(config.visibility_timeout // 4))),
                "unacked_restore_throttle": 1,
            }
        app.conf.update(
            task_default_queue=config.queue,
            task_serializer="json",
            result_serializer="json",
            accept_content=["json"],
            # Acknowledge after the report is stored; a worker that dies mid-scan gives
            # the job back (RabbitMQ: at once; Redis: after the visibility timeout).
            task_acks_late=True,
            task_reject_on_worker_lost=True,
            worker_prefetch_multiplier=1,
            broker_transport_options=transport_options,
            broker_connection_retry_on_startup=True,
            result_expires=86400,
            task_ignore_result=config.backend is None,
            worker_hijack_root_logger=False,
            worker_redirect_stdouts=False,
            worker_send_task_events=False,
        )
        app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True)(_scan_task)
        app.task(name=DEAD_TASK_NAME)(_dead_letter_task)
        _APPS[key] = app
        return app


def _scan_task(self, job: dict[str, Any]) -> dict[str, Any]:
    runtime = _RUNTIME
    if runtime is None:  # a plain `celery -A filewall.worker worker`: build the runtime here
        runtime = _start_runtime()
    try:
        return runtime.run(job)
    except TransientError as error:
        # The database, storage or Redis is away: try the same job again later, never drop it.
        log.warning("job %s postponed: %s", job.get("report_id"), error)
        raise self.retry(countdown=5, max_retries=None) from error


def _dead_letter_task(record: dict[str, Any]) -> None:  # pragma: no cover - only an operator consumes
    log.error("dead-lettered: %s", record)


class TransientError(Exception):
    """Infrastructure trouble (database, storage, Redis): the job is retried, not lost."""


class _LocalCoordinator:
    """Attempt counters, locks and the dedup cache in this process only (no Redis): crashes
    seen in-process are still counted, but not across worker deaths."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._results: dict[str, tuple[float, str]] = {}
        self._locks: dict[str, tuple[float, str]] = {}
        self._failures: dict[str, tuple[str, str]] = {}
        self.dead: list[str] = []

    def incr_attempts(self, key: str) -> int:
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1
            return self._counts[key]

    def clear_attempts(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)

    def get_result(self, key: str) -> dict[str, Any] | None:
        import json

        with self._lock:
            hit = self._results.get(key)
        return json.loads(hit[1]) if hit and hit[0] > time.time() else None

    def put_result(self, key: str, report: dict[str, Any], ttl: int) -> None:
        import json

        with self._lock:
            self._results[key] = (time.time() + ttl, json.dumps(report))

    def acquire(self, key: str, ttl: float) -> str | None:
        import secrets

        with self._lock:
            held = self._locks.get(key)
            if held and held[0] > time.time():
                return None
            token = secrets.token_hex(8)
            self._locks[key] = (time.time() + ttl, token)
            return token

    def refresh(self, key: str, token: str, ttl: float) -> None:
        with self._lock:
            if self._locks.get(key, (0, ""))[1] == token:
                self._locks[key] = (time.time() + ttl, token)

    def locked(self, key: str) -> bool:
        with self._lock:
            held = self._locks.get(key)
            return bool(held and held[0] > time.time())

    def release(self, key: str, token: str) -> None:
        with self._lock:
            if self._locks.get(key, (0, ""))[1] == token:
                del self._locks[key]

    def record_dead(self, record: str) -> None:
        self.dead.append(record)

    def note_failure(self, key: str, kind: str, reason: str) -> None:
        with self._lock:
            self._failures[key] = (kind, reason)

    def last_failure(self, key: str) -> tuple[str, str] | None:
        with self._lock:
            return self._failures.get(key)

    def ping(self) -> bool:
        return True


class _RedisCoordinator:
    """The same in Redis, shared by every worker: counts survive a worker's death."""

    _RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
    _REFRESH = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"

    def __init__(self, url: str, prefix: str):
        import redis

        self.redis = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30)
        self.prefix = prefix

    def incr_attempts(self, key: str) -> int:
        name = f"{self.prefix}attempts:{key}"
        pipe = self.redis.pipeline()
        pipe.incr(name)
        pipe.expire(name, 7 * 86400)
        return int(pipe.execute()[0])

    def clear_attempts(self, key: str) -> None:
        self.redis.delete(f"{self.prefix}attempts:{key}")

    def get_result(self, key: str) -> dict[str, Any] | None:
        import json

        raw = self.redis.get(f"{self.prefix}result:{key}")
        return json.loads(raw) if raw else None

    def put_result(self, key: str, report: dict[str, Any], ttl: int) -> None:
        import json

        self.redis.set(f"{self.prefix}result:{key}", json.dumps(report, ensure_ascii=False), ex=max(1, ttl))

    def acquire(self, key: str, ttl: float) -> str | None:
        import secrets

        token = secrets.token_hex(8)
        ok = self.redis.set(f"{self.prefix}lock:{key}", token, nx=True, px=int(ttl * 1000))
        return token if ok else None

    def refresh(self, key: str, token: str, ttl: float) -> None:
        self.redis.eval(self._REFRESH, 1, f"{self.prefix}lock:{key}", token, int(ttl * 1000))

    def locked(self, key: str) -> bool:
        return bool(self.redis.exists(f"{self.prefix}lock:{key}"))

    def release(self, key: str, token: str) -> None:
        self.redis.eval(self._RELEASE, 1, f"{self.prefix}lock:{key}", token)

    def record_dead(self, record: str) -> None:
        self.redis.lpush(f"{self.prefix}dead-letter", record)

    def note_failure(self, key: str, kind: str, reason: str) -> None:
        import json

        self.redis.set(f"{self.prefix}failure:{key}", json.dumps([kind, reason]), ex=7 * 86400)

    def last_failure(self, key: str) -> tuple[str, str] | None:
        import json

        raw = self.redis.get(f"{self.prefix}failure:{key}")
        return tuple(json.loads(raw)) if raw else None

    def ping(self) -> bool:
        return bool(self.redis.ping())


class WorkerRuntime:
    """Everything a worker process shares between its task threads."""

    def __init__(self, config, concurrency: int):
        from .limits import Limits
        from .metrics import METRICS
        from .queue import open_storage
        from .storage import BlobStore
        from .store import Database

        self.config = config
        self.concurrency = max(1, concurrency)
        self.metrics = METRICS
        self.db = Database(config.database(), pool_size=self.concurrency + 2)
        self.db.migrate()
        self.storage = open_storage(config)
        self.previews = BlobStore(config.previews_dir).setup()
        self.limits = Limits.from_env(config.environ)
        self.hard_timeout = config.task_time_limit or default_hard_timeout(ScanOptions(limits=self.limits))
        self.slots = ScanSlots(
            self.concurrency,
            hard_timeout=self.hard_timeout,
            memory_limit=config.worker_memory_mb * 2**20,
            max_tasks=config.max_tasks_per_child,
        )
        url = config.coordination_url
        if url:
            self.coordination: Any = _RedisCoordinator(url, config.key_prefix)
        else:
            log.warning("no Redis for coordination: crash counts and dedup are per worker process only")
            self.coordination = _LocalCoordinator()
        #: A scan lock outlives one attempt by a margin; it is refreshed before each attempt,
        #: so the lock of a worker that died lapses soon and another worker takes over.
        self.lock_ttl = self.hard_timeout + 15
        self.writer = _GroupWriter(self.db)
        from .queue import Ledger

        self.ledger = Ledger.for_config(config)
        self._reaper: threading.Thread | None = None
        self._stopping = threading.Event()

    def start_reaper(self, interval: float = 5.0) -> None:
        """Re-send jobs the broker lost (one worker at a time, under a Redis lock)."""
        if self.ledger is None or self._reaper is not None:
            return

        def loop() -> None:
            while not self._stopping.wait(interval):
                try:
                    self.reap()
                except Exception:
                    log.warning("ledger check failed", exc_info=True)

        self._reaper = threading.Thread(target=loop, name="filewall-ledger", daemon=True)
        self._reaper.start()

    def reap(self) -> int:
        """One pass: send again every overdue job that nobody holds and that is not stored."""
        from .logging import event
        from .queue import queue_depth, send

        coordination = self.coordination
        if not isinstance(coordination, _RedisCoordinator):
            return 0
        lock = coordination.acquire("ledger-reaper", 30)
        if lock is None:
            return 0
        try:
            if queue_depth(self.config).get(self.config.queue, 0) > 0:
                return 0  # still waiting in the broker: nothing is lost yet
            overdue = self.ledger.overdue(
                self.config.redelivery_seconds, self.config.visibility_timeout + self.lock_ttl
            )
            resent = 0
            app = get_app(self.config)
            for job in overdue:
                if self._already_stored(job):
                    self.ledger.done(job["report_id"])
                    continue
                self.ledger.resent(job)
                send(app, self.config, job)
                resent += 1
                event(log, "job_redelivered", level=logging.WARNING, report_id=job["report_id"],
                      sha256=job["sha256"])
            return resent
        finally:
            coordination.release("ledger-reaper", lock)

    # -- the job -------------------------------------------------------------------------
    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        from .logging import event

        started = time.monotonic()
        report_id = job["report_id"]
        try:
            if self.ledger is not None:
                self.ledger.claim(report_id)
            if self._already_stored(job):
                if self.ledger is not None:
                    self.ledger.done(report_id)
                event(log, "duplicate_delivery", report_id=report_id, sha256=job["sha256"])
                return {"report_id": report_id, "status": "already-stored"}
            key = self._key(job)
            report, how, attempts = self._result_for(job, key)
            stored = self._store(job, report)
            if self.ledger is not None:
                self.ledger.done(report_id)
        except (OSError, TimeoutError) as error:
            raise TransientError(f"{type(error).__name__}: {error}") from error
        except Exception as error:
            if _is_transient(error):
                raise TransientError(f"{type(error).__name__}: {error}") from error
            raise
        waited = max(0.0, time.time() - float(job.get("submitted_at") or time.time()))
        self.metrics.task_seconds.observe(waited)
        event(
            log,
            "report_stored" if stored else "duplicate_delivery",
            report_id=report_id,
            sha256=job["sha256"],
            file=job["file_name"],
            verdict=report.get("verdict"),
            how=how,
            attempts=attempts,
            ms=round((time.monotonic() - started) * 1000, 2),
            latency_ms=round(waited * 1000, 2),
        )
        return {"report_id": report_id, "verdict": report.get("verdict"), "how": how, "attempts": attempts}

    def _key(self, job: dict[str, Any]) -> str:
        from .queue import dedup_key

        return dedup_key(job)

    def _result_for(self, job: dict[str, Any], key: str) -> tuple[dict[str, Any], str, int]:
        """The report for this job's bytes and options: cached, or scanned (once)."""
        coordination = self.coordination
        # Another worker scanning the same bytes: wait for its result, or for its lock to
        # lapse if it died. Past the longest possible job, give the job back to the broker.
        give_up = time.monotonic() + (self.config.max_crashes + 1) * self.lock_ttl + 30
        while True:
            cached = coordination.get_result(key)
            if cached is not None:
                self.metrics.dedup_hits.inc()
                return cached, "dedup", 0
            token = coordination.acquire(key, self.lock_ttl)
            if token is not None:
                break
            if time.monotonic() > give_up:
                raise TransientError("another worker has held this file's scan lock for too long")
            time.sleep(0.05)
        try:
            report, how, attempts = self._scan_with_retries(job, key, token)
            report = self._externalize(report)
            coordination.put_result(key, report, self.config.dedup_ttl)
            return report, how, attempts
        finally:
            with contextlib.suppress(Exception):
                coordination.release(key, token)

    def _scan_with_retries(self, job: dict[str, Any], key: str, token: str) -> tuple[dict[str, Any], str, int]:
        coordination = self.coordination
        limit = self.config.max_crashes
        last_reason, last_kind = "the worker scanning it was lost", CRASHED
        options = ScanOptions(limits=self.limits, passwords=list(job.get("passwords") or []), chat=job.get("chat"))
        while True:
            attempts = coordination.incr_attempts(key)
            coordination.refresh(key, token, self.lock_ttl)
            if attempts - 1 > limit:  # the earlier tries ended without a result (or with their worker)
                last_kind, last_reason = coordination.last_failure(key) or (last_kind, last_reason)
                return self._dead_letter(job, attempts - 1, last_reason, last_kind), "dead-letter", attempts - 1
            self.metrics.in_flight.labels("worker").inc()
            try:
                with self.storage.local_path(job["sha256"]) as path:
                    outcome = self.slots.scan(path, job["file_name"], options, "desk" if job.get("desk") else None)
            finally:
                self.metrics.in_flight.labels("worker").dec()
            self.metrics.observe_scan("worker", outcome.report.get("verdict", "error"), outcome.seconds, outcome.failure)
            if outcome.failure is None:
                coordination.clear_attempts(key)
                return outcome.report, "scanned", attempts
            last_reason, last_kind = outcome.reason, outcome.failure
            coordination.note_failure(key, outcome.failure, outcome.reason)
            from .logging import event

            event(log, "scan_failed", level=logging.WARNING, report_id=job["report_id"], sha256=job["sha256"],
                  failure=outcome.failure, reason=outcome.reason, attempts=attempts)
            if attempts > limit:
                return self._dead_letter(job, attempts, last_reason, last_kind), "dead-letter", attempts

    def _dead_letter(self, job: dict[str, Any], attempts: int, reason: str, kind: str = CRASHED) -> dict[str, Any]:
        import json

        from .logging import event

        why = (
            f"it stopped the scanning process {attempts} times (last: {reason}); it was set aside "
            "and will not be scanned again"
        )
        report = failure_report(job["file_name"], "scan.killed" if kind == KILLED else "scan.crashed", why)
        report["path"] = job["file_name"]
        report["dead_letter"] = {"attempts": attempts, "reason": reason, "kind": kind, "queue": self.config.dead_queue}
        for finding in report.get("findings", []):
            finding.setdefault("details", {}).update(dead_lettered=True, attempts=attempts)
        record = {
            "report_id": job["report_id"],
            "shop_id": job["shop_id"],
            "sha256": job["sha256"],
            "file_name": job["file_name"],
            "attempts": attempts,
            "reason": reason,
            "at": time.time(),
        }
        self.coordination.record_dead(json.dumps(record, ensure_ascii=False))
        from .queue import DEAD_TASK_NAME

        with contextlib.suppress(Exception):
            get_app(self.config).send_task(DEAD_TASK_NAME, args=[{**record, "job": job}], queue=self.config.dead_queue)
        self.metrics.dead_letters.inc()
        event(log, "dead_lettered", level=logging.ERROR, **record)
        return report

    def _externalize(self, report: dict[str, Any]) -> dict[str, Any]:
        """Preview bytes → blobs in the previews store, as the desk's own upload path does."""
        if not _has_bytes(report):
            return report
        from types import SimpleNamespace

        from .service.api import _externalize_blobs

        return _externalize_blobs(SimpleNamespace(state=SimpleNamespace(previews=self.previews)), report)

    def _already_stored(self, job: dict[str, Any]) -> bool:
        from .store import ShopScope

        with self.db.read() as session:
            return ShopScope(session, job["shop_id"]).get_report(job["report_id"]) is not None

    def _store(self, job: dict[str, Any], report: dict[str, Any]) -> bool:
        """Write the report (group-committed with other threads'); False if already there."""
        return self.writer.write(job, report)

    def health(self) -> dict[str, Any]:
        from .queue import queue_depth

        state: dict[str, Any] = {"ok": True, "slots": self.slots.size, "busy": self.slots.busy}
        for name, check in (("database", self.db.ping), ("coordination", self.coordination.ping)):
            try:
                check()
                state[name] = "ok"
            except Exception as error:
                state.update({"ok": False, name: f"{type(error).__name__}: {error}"})
        try:
            state["queue_depth"] = queue_depth(self.config)
            state["broker"] = "ok"
        except Exception as error:
            state.update(ok=False, broker=f"{type(error).__name__}: {error}")
        return state

    def close(self) -> None:
        self._stopping.set()
        self.writer.close()
        self.slots.close()
        self.db.dispose()


class _GroupWriter:
    """Stores reports through the desk's repository, many per durable commit.

    Each commit costs a disk flush (SQLite ``synchronous=FULL``, PostgreSQL
    ``synchronous_commit=on``): ~10 ms here, more than scanning a small file. Task threads
    hand their report over and wait; one thread writes everything that is waiting in one
    transaction. A job is acknowledged only after its own commit returned, so nothing
    acknowledged can be lost. Ids are checked first, so a redelivered job never makes a
    second row (and the primary key catches a race between two workers).
    """

    MAX_BATCH = 64

    def __init__(self, db):
        self.db = db
        self._queue: queue_module.Queue = queue_module.Queue()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="filewall-report-writer", daemon=True)
        self._thread.start()

    def write(self, job: dict[str, Any], report: dict[str, Any]) -> bool:
        item = _PendingWrite(job, report)
        self._queue.put(item)
        if not item.done.wait(timeout=600):
            raise TransientError("the report writer did not answer")
        if item.error is not None:
            raise item.error
        return item.stored

    def close(self) -> None:
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue_module.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            try:
                self._commit(batch)
            except Exception:
                # One bad row (or a race on a primary key) must not fail the others.
                for item in batch:
                    try:
                        self._commit([item])
                    except Exception as error:
                        item.error = error
            for item in batch:
                item.done.set()

    def _commit(self, batch: list[_PendingWrite]) -> None:
        from sqlalchemy import select
        from sqlalchemy.exc import IntegrityError

        from .store import ShopScope
        from .store.models import Report

        try:
            with self.db.write() as session:
                ids = [item.job["report_id"] for item in batch]
                present = set(session.scalars(select(Report.id).where(Report.id.in_(ids))))
                for item in batch:
                    job, report = item.job, item.report
                    if job["report_id"] in present:
                        item.stored = False
                        continue
                    present.add(job["report_id"])
                    scope = ShopScope(session, job["shop_id"])
                    scope.record_sample(job["sha256"], int(job["size"]))
                    scope.add_report(
                        id=job["report_id"],
                        user_id=job.get("user_id"),
                        token_id=job.get("token_id"),
                        submission_id=job["submission_id"],
                        file_name=job["file_name"],
                        size=int(job["size"]),
                        sha256=job["sha256"],
                        report=report,
                        chat=job.get("chat"),
                        sender=job.get("sender"),
                    )
                    item.stored = True
        except IntegrityError:
            if len(batch) == 1:  # stored by a concurrent delivery of the same job
                batch[0].stored = False
                return
            raise


@dataclass
class _PendingWrite:
    job: dict[str, Any]
    report: dict[str, Any]
    stored: bool = False
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


def _has_bytes(value: Any) -> bool:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return True
    if isinstance(value, dict):
        return any(_has_bytes(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_bytes(item) for item in value)
    return False


def _is_transient(error: Exception) -> bool:
    names = {cls.__module__.split(".", 1)[0] + "." + cls.__name__ for cls in type(error).__mro__}
    return bool(
        names
        & {
            "sqlalchemy.OperationalError",
            "sqlalchemy.InterfaceError",
            "sqlalchemy.DisconnectionError",
            "redis.ConnectionError",
            "redis.TimeoutError",
            "filewall.StoreError",
            "botocore.EndpointConnectionError",
        }
    )


def _start_runtime(config=None, concurrency: int | None = None) -> WorkerRuntime:
    global _RUNTIME
    from .queue import QueueConfig

    with _APPS_LOCK:
        if _RUNTIME is None:
            config = config or QueueConfig.load()
            _RUNTIME = WorkerRuntime(config, concurrency or max(1, os.cpu_count() or 1))
        return _RUNTIME


def run_worker(
    config=None,
    concurrency: int = 0,
    metrics_listen: str | None = None,
    hostname: str | None = None,
    log_level: str = "INFO",
) -> None:
    """``filewall worker``: consume the queue until stopped (SIGTERM: finish, then exit)."""
    from celery import signals

    from . import logging as fw_logging
    from .metrics import METRICS, MetricsServer, parse_host_port
    from .queue import QueueConfig, queue_depth

    fw_logging.setup(log_level)
    signals.setup_logging.connect(lambda **kwargs: None, weak=False)  # keep our JSON logs
    config = config or QueueConfig.load()
    concurrency = concurrency or max(1, os.cpu_count() or 1)
    runtime = _start_runtime(config, concurrency)
    runtime.slots.warm_up()
    runtime.start_reaper()
    app = get_app(config)
    if metrics_listen:
        host, port = parse_host_port(metrics_listen)
        METRICS.set_queue_depth_source(lambda: queue_depth(config))
        MetricsServer(host, port, runtime.health).start()
    name = hostname or f"filewall-{os.getpid()}@{os.uname().nodename if hasattr(os, 'uname') else 'host'}"
    from .logging import event

    event(log, "worker_started", queue=config.queue, concurrency=concurrency, broker=_safe_url(config.broker_url),
          storage=runtime.storage.describe(), database=runtime.db.describe(), hard_timeout=runtime.hard_timeout,
          max_crashes=config.max_crashes, pid=os.getpid())
    try:
        app.worker_main(
            [
                "worker",
                "--pool", "threads",
                # More threads than scanning slots: while one waits for the database or the
                # broker, another scans (the slots bound the scanning itself).
                "--concurrency", str(concurrency * IO_THREADS_PER_SLOT),
                "--queues", config.queue,
                "--hostname", name,
                "--loglevel", log_level,
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ]
        )  # fmt: skip
    finally:
        runtime.close()


def _safe_url(url: str) -> str:
    import re

    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def __getattr__(name: str):  # ``celery -A filewall.worker`` looks for ``app``
    if name == "app":
        return get_app()
    raise AttributeError(name)
