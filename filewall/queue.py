"""Submitting scans to the workers: configuration, shared sample storage, jobs.

Nothing here scans. With a broker configured (``FILEWALL_BROKER_URL``), the desk's
upload endpoint (and so ``filewall scan --server``) stores each sample by its content
address in shared storage and enqueues a small job (ids, names, passwords, the chat
analysis: never the file's bytes); ``filewall worker`` processes (see
:mod:`filewall.worker`) scan it and write the report to the database. Without a broker,
nothing here is used and everything runs in-process as before.

Configuration, each from the environment (``FILEWALL_<NAME>``) or the data folder's
``config.toml`` (``<name> = ...``), as the desk's other settings:

=================== ===================================================================
broker_url          ``redis://HOST:6379/N`` (default transport) or ``amqp://USER:PASS@HOST:5672//``
                    (RabbitMQ); empty: no queue, scan in-process
result_backend      Celery results (default: the broker when it is Redis, else none)
redis_url           where attempt counters, scan locks and the dedup cache live (default:
                    the broker or result backend when Redis); needed for dead-lettering
                    across worker deaths
storage_url         samples: a folder (``/srv/filewall/samples`` or ``file:///...``, default:
                    the desk's ``<data>/samples``) or ``s3://bucket/prefix`` (extra
                    ``filewall[s3]``; ``?endpoint_url=http://host:9000&region=...``,
                    credentials from the usual ``AWS_*`` variables)
database_url        as the desk (SQLite in the data folder by default, PostgreSQL by URL)
queue               the queue name (default ``filewall``); the dead-letter queue is
                    ``<queue>.dead``
max_crashes         a file that kills its scanning process more than this many times is
                    dead-lettered (default 2, so 3 tries)
task_time_limit     hard limit per scan attempt, seconds (default: the engine's limit × 1.5 + 5)
worker_memory_mb    resident-memory ceiling per scanning process (default 2048)
max_tasks_per_child scanning processes are recycled after this many files (default 200)
visibility_timeout  Redis broker: seconds before an unacknowledged job (its worker died) is
                    handed out again (default 3600; must exceed the longest job)
queue_wait          seconds the desk waits for the workers before answering 202 (default 120)
dedup_ttl           seconds a finished scan is reused for the same bytes, name and
                    options (default 86400)
redeliver_after     seconds after which a job nobody claimed (lost by a worker killed as it
                    took it) is sent again, once the queue is empty (default: the
                    visibility timeout, at least 60)
=================== ===================================================================
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import tempfile
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from .datadir import DataLayout, settings_values
from .storage import BlobStore, Stored

TASK_NAME = "filewall.scan"
DEAD_TASK_NAME = "filewall.dead_letter"
JOB_VERSION = 1


# -- configuration ---------------------------------------------------------------------------
@dataclass
class QueueConfig:
    data_dir: Path
    broker_url: str = ""
    result_backend: str = ""
    redis_url: str = ""
    storage_url: str = ""
    database_url: str = ""
    queue: str = "filewall"
    max_crashes: int = 2
    task_time_limit: float = 0.0
    worker_memory_mb: int = 2048
    max_tasks_per_child: int = 200
    visibility_timeout: float = 3600.0
    queue_wait: float = 120.0
    dedup_ttl: int = 86400
    redeliver_after: float = 0.0
    #: Anything else from the environment, for Limits (FILEWALL_MAX_SECONDS ...).
    environ: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def enabled(self) -> bool:
        return bool(self.broker_url)

    @property
    def broker_is_redis(self) -> bool:
        return _is_redis(self.broker_url)

    @property
    def backend(self) -> str | None:
        if self.result_backend:
            return self.result_backend
        return self.broker_url if self.broker_is_redis else None

    @property
    def coordination_url(self) -> str | None:
        """The Redis holding attempt counters, locks and the dedup cache."""
        for url in (self.redis_url, self.broker_url, self.result_backend):
            if _is_redis(url):
                return url
        return None

    @property
    def redelivery_seconds(self) -> float:
        """How old an unclaimed, unfinished job must be before the ledger sends it again."""
        return self.redeliver_after or max(60.0, self.visibility_timeout)

    @property
    def dead_queue(self) -> str:
        return f"{self.queue}.dead"

    @property
    def key_prefix(self) -> str:
        return f"filewall:{self.queue}:"

    @property
    def layout(self) -> DataLayout:
        return DataLayout(self.data_dir)

    @property
    def samples_dir(self) -> Path:
        return self.layout.samples_dir

    @property
    def previews_dir(self) -> Path:
        return self.layout.previews_dir

    @classmethod
    def load(
        cls,
        data_dir: str | os.PathLike[str] | None = None,
        environ: dict[str, str] | None = None,
        **overrides: Any,
    ) -> QueueConfig:
        environ = dict(os.environ if environ is None else environ)
        layout = DataLayout.resolve(data_dir, environ)
        values = settings_values(cls, layout.read_config(), environ, skip=("data_dir", "environ"))
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(data_dir=layout.root, environ=environ, **values)

    def database(self) -> str:
        """The SQLAlchemy URL, resolved as the desk does (SQLite in the data folder by default)."""
        from .service.settings import Settings

        settings = Settings.load(self.data_dir, environ=self.environ, database_url=self.database_url or None)
        return settings.database


def _is_redis(url: str | None) -> bool:
    return bool(url) and url.split(":", 1)[0] in ("redis", "rediss", "redis+socket")


# -- sample storage ----------------------------------------------------------------------------
class FolderStorage:
    """Samples in a folder by content address (the desk's :class:`BlobStore`)."""

    def __init__(self, store: BlobStore):
        self.store = store

    def describe(self) -> str:
        return str(self.store.root)

    def put_stream(self, stream: BinaryIO, max_bytes: int | None = None) -> Stored:
        return self.store.put_stream(stream, max_bytes)

    def put_bytes(self, data: bytes) -> Stored:
        return self.store.put_bytes(data)

    def exists(self, sha256: str) -> bool:
        return self.store.path_for(sha256).exists()

    @contextlib.contextmanager
    def local_path(self, sha256: str) -> Iterator[str]:
        """A path the scanner can read (the stored file itself: never opened here)."""
        yield str(self.store.path_for(sha256))


class S3Storage:
    """Samples in an S3-compatible bucket under ``<prefix>/ab/cd/<sha256>`` (boto3)."""

    def __init__(self, url: str):
        try:
            import boto3
        except ImportError as error:  # pragma: no cover - optional extra
            raise SystemExit(
                "filewall: s3:// storage needs the s3 extra: pip install 'filewall[s3]'"
            ) from error
        parts = urllib.parse.urlsplit(url)
        query = dict(urllib.parse.parse_qsl(parts.query))
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self.url = url.split("?", 1)[0]
        self.client = boto3.client(
            "s3",
            endpoint_url=query.get("endpoint_url") or query.get("endpoint"),
            region_name=query.get("region"),
        )

    def describe(self) -> str:
        return self.url

    def key_for(self, sha256: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        key = f"{sha256[:2]}/{sha256[2:4]}/{sha256}"
        return f"{self.prefix}/{key}" if self.prefix else key

    def exists(self, sha256: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key_for(sha256))
            return True
        except Exception:
            return False

    def put_bytes(self, data: bytes) -> Stored:
        import io

        return self.put_stream(io.BytesIO(data))

    def put_stream(self, stream: BinaryIO, max_bytes: int | None = None) -> Stored:
        from .storage import TooLarge

        digest = hashlib.sha256()
        size = 0
        with tempfile.NamedTemporaryFile(prefix="filewall-s3-") as spool:
            while chunk := stream.read(1024 * 1024):
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise TooLarge(f"more than {max_bytes} bytes")
                digest.update(chunk)
                spool.write(chunk)
            spool.flush()
            sha256 = digest.hexdigest()
            created = not self.exists(sha256)
            if created:
                self.client.upload_file(spool.name, self.bucket, self.key_for(sha256))
        return Stored(sha256, size, Path(self.key_for(sha256)), created)

    @contextlib.contextmanager
    def local_path(self, sha256: str) -> Iterator[str]:
        handle = tempfile.NamedTemporaryFile(prefix="filewall-s3-", delete=False)
        handle.close()
        try:
            try:
                self.client.download_file(self.bucket, self.key_for(sha256), handle.name)
            except Exception:
                os.unlink(handle.name)  # missing sample: scanned as unreadable
            yield handle.name
        finally:
            with contextlib.suppress(OSError):
                os.unlink(handle.name)


def open_storage(config: QueueConfig, default: BlobStore | None = None) -> FolderStorage | S3Storage:
    url = config.storage_url
    if url.startswith("s3://"):
        return S3Storage(url)
    if url:
        path = urllib.parse.urlsplit(url).path if url.startswith("file://") else url
        return FolderStorage(BlobStore(path).setup())
    return FolderStorage(default or BlobStore(config.samples_dir).setup())


# -- jobs ----------------------------------------------------------------------------------------
def new_report_id() -> str:
    """As :func:`filewall.store.models.new_report_id`: the job id is the report's id."""
    from .store.models import new_report_id as make

    return make()


def make_job(
    *,
    shop_id: str,
    sha256: str,
    size: int,
    file_name: str,
    submission_id: str | None = None,
    user_id: str | None = None,
    token_id: str | None = None,
    passwords: Iterable[str] = (),
    chat: dict[str, Any] | None = None,
    sender: str | None = None,
    report_id: str | None = None,
    desk: bool = True,
) -> dict[str, Any]:
    """A job message: everything a worker needs except the bytes (fetched by ``sha256``)."""
    return {
        "v": JOB_VERSION,
        "report_id": report_id or new_report_id(),
        "shop_id": shop_id,
        "user_id": user_id,
        "token_id": token_id,
        "submission_id": submission_id or secrets.token_urlsafe(12),
        "file_name": file_name,
        "sha256": sha256,
        "size": size,
        "passwords": list(passwords),
        "chat": chat,
        "sender": sender,
        "desk": desk,
        "submitted_at": time.time(),
    }


def dedup_key(job: dict[str, Any]) -> str:
    """What makes two scans the same: the bytes, and what else changes the verdict (the
    name the customer gave, the passwords tried, the chat weighed with the file)."""
    variant = json.dumps(
        [job["file_name"], sorted(job.get("passwords") or []), job.get("chat")],
        ensure_ascii=False,
        sort_keys=True,
    )
    return f"{job['sha256']}:{hashlib.sha256(variant.encode()).hexdigest()[:24]}"


def enqueue(jobs: Iterable[dict[str, Any]], config: QueueConfig | None = None) -> list[str]:
    """Send jobs to the workers; returns their report ids.

    Each job is first written to the ledger (a Redis hash, when Redis is configured) and
    removed from it once its report is stored. A worker re-sends what stays there too long
    unclaimed (see :class:`filewall.worker.LedgerReaper`): the Redis transport takes a job
    off the list before it records it as unacknowledged, so a worker killed in between
    would otherwise lose it; the jobs are idempotent, so sending one twice is harmless.
    """
    from .worker import get_app

    config = config or QueueConfig.load()
    jobs = list(jobs)
    ledger = Ledger.for_config(config)
    if ledger is not None:
        ledger.add(jobs)
    app = get_app(config)
    ids = []
    with app.producer_or_acquire() as producer:
        for job in jobs:
            send(app, config, job, producer)
            ids.append(job["report_id"])
    return ids


def send(app, config: QueueConfig, job: dict[str, Any], producer=None) -> None:
    app.send_task(TASK_NAME, args=[job], queue=config.queue, task_id=job["report_id"], producer=producer)


class Ledger:
    """Jobs sent and not yet stored: ``filewall:<queue>:ledger`` (report id → job and times)."""

    def __init__(self, client, prefix: str):
        self.redis = client
        self.key = f"{prefix}ledger"
        self.claims = f"{prefix}claimed"

    _clients: dict[str, Any] = {}

    @classmethod
    def for_config(cls, config: QueueConfig) -> Ledger | None:
        url = config.coordination_url
        if not url:
            return None
        if url not in cls._clients:  # one connection pool per Redis, shared by every call
            import redis

            cls._clients[url] = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        return cls(cls._clients[url], config.key_prefix)

    def add(self, jobs: list[dict[str, Any]]) -> None:
        now = time.time()
        pipe = self.redis.pipeline()
        for job in jobs:
            pipe.hset(self.key, job["report_id"], json.dumps({"job": job, "sent": now}, ensure_ascii=False))
        pipe.execute()

    def claim(self, report_id: str) -> None:
        self.redis.hset(self.claims, report_id, time.time())

    def done(self, report_id: str) -> None:
        pipe = self.redis.pipeline()
        pipe.hdel(self.key, report_id)
        pipe.hdel(self.claims, report_id)
        pipe.execute()

    def overdue(self, older_than: float, claimed_older_than: float) -> list[dict[str, Any]]:
        """Jobs sent more than ``older_than`` s ago that nobody is working on."""
        now = time.time()
        claims = {key.decode(): float(value) for key, value in self.redis.hgetall(self.claims).items()}
        out = []
        for report_id, raw in self.redis.hscan_iter(self.key, count=500):
            entry = json.loads(raw)
            if now - entry["sent"] < older_than:
                continue
            claimed = claims.get(report_id.decode())
            if claimed is not None and now - claimed < claimed_older_than:
                continue
            out.append(entry["job"])
        return out

    def resent(self, job: dict[str, Any]) -> None:
        pipe = self.redis.pipeline()
        pipe.hset(
            self.key, job["report_id"], json.dumps({"job": job, "sent": time.time()}, ensure_ascii=False)
        )
        pipe.hdel(self.claims, job["report_id"])
        pipe.execute()


def submit_bytes(
    data: bytes,
    file_name: str,
    shop_id: str,
    config: QueueConfig | None = None,
    storage: FolderStorage | S3Storage | None = None,
    **job_fields: Any,
) -> str:
    """Store ``data`` in shared storage and enqueue its scan; returns the report id."""
    config = config or QueueConfig.load()
    storage = storage or open_storage(config)
    stored = storage.put_bytes(data)
    job = make_job(shop_id=shop_id, sha256=stored.sha256, size=stored.size, file_name=file_name, **job_fields)
    return enqueue([job], config)[0]


def queue_depth(config: QueueConfig) -> dict[str, int]:
    """Jobs waiting in the broker, per queue (for metrics and health)."""
    from .worker import get_app

    app = get_app(config)
    depths = {}
    with app.connection_for_read() as connection:
        channel = connection.default_channel
        for name in (config.queue, config.dead_queue):
            try:
                depths[name] = channel.queue_declare(queue=name, passive=True).message_count
            except Exception:
                depths[name] = 0
                channel = connection.channel()  # a failed passive declare closes an AMQP channel
    return depths


def wait_for_reports(
    db, shop_id: str, report_ids: list[str], timeout: float, poll: float = 0.05
) -> dict[str, Any]:
    """Poll the database until every report exists or ``timeout`` passes; rows found."""
    from sqlalchemy import select

    from .store.models import Report

    found: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    while True:
        missing = [report_id for report_id in report_ids if report_id not in found]
        if missing:
            with db.read() as session:
                rows = session.scalars(
                    select(Report).where(Report.shop_id == shop_id, Report.id.in_(missing))
                )
                for row in rows:
                    found[row.id] = row
        if len(found) == len(report_ids) or time.monotonic() >= deadline:
            return found
        time.sleep(min(poll, max(0.0, deadline - time.monotonic())))
        poll = min(poll * 1.5, 0.5)


# -- the desk's hook ---------------------------------------------------------------------------
_DESK_CONFIG: dict[str, QueueConfig] = {}


def desk_config(app) -> QueueConfig | None:
    """The queue configuration for a desk app, or None when no broker is configured."""
    settings = app.state.settings
    key = str(settings.data_dir)
    if key not in _DESK_CONFIG:
        _DESK_CONFIG[key] = QueueConfig.load(settings.data_dir)
    config = _DESK_CONFIG[key]
    return config if config.enabled else None


async def submit_uploads(app, principal, uploads, options, chat_result, sender):
    """``POST /api/v1/scans`` with a broker: store, enqueue, wait for the workers' reports.

    The answer is the desk's usual body once every report is stored (so ``scan --server``
    and the pages work unchanged); if the workers have not finished within ``queue_wait``
    seconds it is ``202`` with the finished reports and, for the others, their id and
    ``"status": "queued"`` (their reports appear at the same links when done).
    """
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    from .service.api import _storage_failed, _summary, clean_file_name
    from .storage import StoreError

    config = desk_config(app)
    storage = open_storage(config, app.state.samples)
    submission_id = secrets.token_urlsafe(12)
    jobs = []
    try:
        for upload in uploads:
            await upload.seek(0)
            stored = await run_in_threadpool(storage.put_stream, upload.file)
            jobs.append(
                make_job(
                    shop_id=principal.shop_id,
                    user_id=principal.user_id,
                    token_id=principal.token_id,
                    submission_id=submission_id,
                    file_name=clean_file_name(upload.filename),
                    sha256=stored.sha256,
                    size=stored.size,
                    passwords=options.passwords,
                    chat=chat_result,
                    sender=sender,
                )
            )
    except StoreError as error:
        raise _storage_failed(error) from error
    await run_in_threadpool(enqueue, jobs, config)
    ids = [job["report_id"] for job in jobs]
    rows = await run_in_threadpool(wait_for_reports, app.state.db, principal.shop_id, ids, config.queue_wait)
    usernames = {principal.user_id: principal.username}
    reports = []
    for job in jobs:
        row = rows.get(job["report_id"])
        if row is not None:
            reports.append(_summary(row, principal, usernames, full=True))
        else:
            reports.append(
                {
                    "id": job["report_id"],
                    "status": "queued",
                    "submission_id": submission_id,
                    "file_name": job["file_name"],
                    "sha256": job["sha256"],
                    "size": job["size"],
                    "links": {"self": f"/api/v1/reports/{job['report_id']}"},
                }
            )
    body: dict[str, Any] = {"submission_id": submission_id, "reports": reports}
    if chat_result is not None:
        body["chat"] = chat_result
    if len(rows) < len(jobs):
        waiting = len(jobs) - len(rows)
        body["message"] = (
            f"{waiting} of {len(jobs)} files are still waiting to be scanned; "
            "their reports will appear at the links given."
        )
        body["message_zh"] = (
            f"{len(jobs)} 个文件中还有 {waiting} 个在排队扫描；完成后可在给出的链接查看报告。"
        )
        return JSONResponse(body, status_code=202)
    return body


__all__ = [
    "FolderStorage",
    "Ledger",
    "QueueConfig",
    "S3Storage",
    "dedup_key",
    "desk_config",
    "enqueue",
    "make_job",
    "open_storage",
    "queue_depth",
    "submit_bytes",
    "submit_uploads",
    "wait_for_reports",
]
