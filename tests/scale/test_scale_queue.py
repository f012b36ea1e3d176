"""Distributed scanning on Celery, shown with real parts: the running Redis (a fresh
database number), RabbitMQ, PostgreSQL, and real ``filewall worker`` processes.

The main test submits 1,000 files (clean documents, lure archives with a real Windows
program inside, EICAR, duplicates, and files built to crash or hang the scanner), kills one
of the two workers with SIGKILL in the middle, and then checks that every submitted file
has exactly one report, that none was lost or duplicated, that the crashing and hanging
files were dead-lettered with reports saying so, that duplicates were not scanned twice,
and that the killed worker left no scanning process behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
import uuid
from collections import Counter
from pathlib import Path

import psutil
import pytest
import redis
from _scale import (
    AMQP_URL,
    EICAR,
    FifoTraps,
    base_env,
    claim_redis_db,
    clean_file,
    free_port,
    health,
    lure_zip,
    metrics_text,
    pg_database,
    redis_url,
    release_redis_db,
    start_worker,
)
from sqlalchemy import func, select

from filewall.queue import FolderStorage, QueueConfig, dedup_key, enqueue, make_job
from filewall.storage import BlobStore
from filewall.store import Accounts, Database
from filewall.store.models import Report

pytestmark = pytest.mark.slow

TOTAL = 1000
CRASH_FILES = 3
HANG_FILES = 2
MAX_CRASHES = 2
TASK_TIME_LIMIT = 2.0
VISIBILITY_TIMEOUT = 15
KILL_AFTER = 300
DEADLINE = 170.0


@pytest.fixture
def redis_db():
    number = claim_redis_db()
    yield number
    release_redis_db(number)


@pytest.fixture
def pg_url():
    with pg_database() as url:
        yield url


def _setup_store(database_url: str) -> tuple[Database, str]:
    db = Database(database_url)
    db.migrate()
    with db.write() as session:
        shop = Accounts(session).create_shop(f"scale-{uuid.uuid4().hex[:8]}")
        return db, shop.id


def _report_count(db: Database, shop_id: str) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(Report).where(Report.shop_id == shop_id)) or 0


def _survivors(tree: list[tuple[int, float]]) -> list[str]:
    """Which of these processes (pid and start time, so a reused pid is not mistaken) still run."""
    alive = []
    for pid, created in tree:
        try:
            process = psutil.Process(pid)
            if process.create_time() == created and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{pid} {' '.join(process.cmdline())[:120]}")
        except psutil.Error:
            continue
    return alive


def _fake_sha(label: str) -> str:
    return hashlib.sha256(f"filewall-trap:{label}:{uuid.uuid4()}".encode()).hexdigest()


def _build_jobs(storage: FolderStorage, traps: FifoTraps, shop_id: str, pe: bytes):
    """1,000 jobs: what each is expected to be, by report id."""
    jobs, expect = [], {}

    def add(name: str, data: bytes | None, kind: str, sha: str | None = None, size: int | None = None) -> None:
        if data is not None:
            stored = storage.put_bytes(data)
            sha, size = stored.sha256, stored.size
        job = make_job(shop_id=shop_id, sha256=sha, size=size or 0, file_name=name, desk=False)
        jobs.append(job)
        expect[job["report_id"]] = kind

    for index in range(CRASH_FILES):
        sha = _fake_sha(f"crash{index}")
        traps.add(storage.store.path_for(sha), "crash")
        add(f"崩溃样本-{index}.docx", None, "crash", sha, 4096)
    for index in range(HANG_FILES):
        sha = _fake_sha(f"hang{index}")
        traps.add(storage.store.path_for(sha), "hang")
        add(f"卡死样本-{index}.pdf", None, "hang", sha, 4096)
    for index in range(25):
        add(f"定制需求-{index}.zip", lure_zip(pe, index), "lure")
    for _ in range(5):
        add("eicar.com", EICAR, "lure")  # the same bytes and name five times: scanned once
    for _ in range(5):
        add("发票.pdf.exe", pe, "lure")
    clean = [clean_file(index) for index in range(TOTAL)]
    duplicates = 60
    while len(jobs) < TOTAL - duplicates:
        name, data = clean[len(jobs)]
        add(name, data, "clean")
    for index in range(duplicates):  # resubmitted files: same name, same bytes
        name, data = clean[100 + index]
        add(name, data, "clean")
    # The traps early (so dead-lettering happens while the run goes on), the rest shuffled.
    head, tail = jobs[: CRASH_FILES + HANG_FILES], jobs[CRASH_FILES + HANG_FILES :]
    random.Random(7).shuffle(tail)
    return tail[:40] + head + tail[40:], expect


def test_scale_thousand_files_two_workers_one_killed(tmp_path: Path, redis_db: int, pg_url: str, pe_bytes: bytes):
    queue = f"scale-{uuid.uuid4().hex[:10]}"
    data_dir = tmp_path / "data"
    env = base_env(
        data_dir,
        redis_url(redis_db),
        queue,
        pg_url,
        FILEWALL_MAX_CRASHES=str(MAX_CRASHES),
        FILEWALL_TASK_TIME_LIMIT=str(TASK_TIME_LIMIT),
        FILEWALL_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
        FILEWALL_REDELIVER_AFTER="20",
        FILEWALL_MAX_SECONDS="1.5",
    )
    config = QueueConfig.load(data_dir, environ=env)
    db, shop_id = _setup_store(config.database())
    storage = FolderStorage(BlobStore(data_dir / "samples").setup())
    traps = FifoTraps()
    jobs, expect = _build_jobs(storage, traps, shop_id, pe_bytes)
    assert len(jobs) == TOTAL
    port_a, port_b = free_port(), free_port()
    workers = [
        start_worker(env, tmp_path / "worker-a.log", 2, port_a),
        start_worker(env, tmp_path / "worker-b.log", 2, port_b),
    ]
    live = list(workers)
    traps.watch(lambda: live)
    started = time.monotonic()
    try:
        for worker in workers:
            worker.wait_ready()
        ready = time.monotonic()
        enqueue(jobs, config)
        # Kill worker A with SIGKILL once a third of the reports are stored.
        while _report_count(db, shop_id) < KILL_AFTER:
            assert time.monotonic() - started < DEADLINE, "the workers stopped making progress"
            time.sleep(0.05)
        victim = workers[0]
        tree = [(process.pid, process.create_time()) for process in victim.descendants()]
        victim.kill()
        live.remove(victim)
        killed_at = time.monotonic()
        stored_at_kill = _report_count(db, shop_id)
        # Its fork server and scanning processes die with it (PR_SET_PDEATHSIG), within seconds.
        while _survivors(tree) and time.monotonic() - killed_at < 10:
            time.sleep(0.1)
        leftovers = _survivors(tree)
        # Everything else must still come through worker B.
        while _report_count(db, shop_id) < TOTAL:
            assert time.monotonic() - started < DEADLINE, (
                f"only {_report_count(db, shop_id)} of {TOTAL} reports after {DEADLINE} s\n"
                + workers[1].log()[-4000:]
            )
            time.sleep(0.1)
        finished = time.monotonic()
        time.sleep(1.0)  # any late duplicate write would show now
        metrics_b = metrics_text(port_b)
        status_b, health_b = health(port_b)
    finally:
        traps.close()
        for worker in workers:
            worker.stop()

    # The killed worker left nothing running (its scanning processes die with it).
    assert tree and not leftovers, f"processes of the killed worker still running: {leftovers}"

    # Exactly one report per submitted file: none lost, none duplicated, none extra.
    with db.read() as session:
        rows = {row.id: row for row in session.scalars(select(Report).where(Report.shop_id == shop_id))}
        total_rows = session.scalar(select(func.count()).select_from(Report)) or 0
    submitted = {job["report_id"] for job in jobs}
    assert set(rows) == submitted
    assert total_rows == TOTAL

    by_kind: dict[str, Counter] = {}
    for report_id, kind in expect.items():
        by_kind.setdefault(kind, Counter())[rows[report_id].verdict] += 1
    assert by_kind["clean"] == Counter(clean=by_kind["clean"].total())
    assert by_kind["lure"] == Counter(malicious=35)

    # The crashing and hanging files: dead-lettered, with a report that says so.
    for report_id, kind in expect.items():
        if kind not in ("crash", "hang"):
            continue
        row = rows[report_id]
        assert row.verdict == "error", (kind, row.report)
        dead = row.report.get("dead_letter")
        assert dead and dead["attempts"] == MAX_CRASHES + 1, (kind, row.report)
        rule = row.report["findings"][0]["rule"]
        assert rule == ("scan.crashed" if kind == "crash" else "scan.killed"), row.report["findings"]
        assert row.report["findings"][0]["details"]["dead_lettered"] is True
        assert "set aside" in row.summary
    client = redis.Redis.from_url(redis_url(redis_db))
    # The ledger of sent jobs is empty: every one was stored (re-sent ones included).
    assert client.hlen(f"filewall:{queue}:ledger") == 0
    redelivered = sum(worker.log().count('"job_redelivered"') for worker in workers)
    dead_records = [json.loads(item) for item in client.lrange(f"filewall:{queue}:dead-letter", 0, -1)]
    dead_ids = {record["report_id"] for record in dead_records}
    assert dead_ids == {rid for rid, kind in expect.items() if kind in ("crash", "hang")}
    assert client.llen(f"{queue}.dead") == CRASH_FILES + HANG_FILES  # the dead-letter queue
    # Each crash file killed its scanning process (an attempt that died with worker A counts
    # as an attempt too, so the watcher may have seen one or two fewer than 3 per file).
    assert {path for _, path in traps.kills} == traps.crash_paths

    # Duplicates were not scanned twice: one scan per distinct (bytes, name, options), give
    # or take the few jobs that were in the killed worker's hands.
    results = {}
    for job in jobs:
        raw = client.get(f"celery-task-meta-{job['report_id']}")
        if raw:
            results[job["report_id"]] = json.loads(raw)
    hows = Counter((result.get("result") or {}).get("how", "?") for result in results.values())
    distinct = len({dedup_key(job) for job in jobs})
    scanned = hows["scanned"] + hows["dead-letter"]
    assert scanned <= distinct + 4, (hows, distinct)
    assert hows["dedup"] >= (TOTAL - distinct) - 4, (hows, distinct)

    # Operational endpoints of the surviving worker.
    assert status_b == 200 and health_b["ok"] and health_b["database"] == "ok"
    for name in ("filewall_scans_total", "filewall_task_seconds_bucket", "filewall_queue_depth",
                 "filewall_scans_per_second", "filewall_dead_letters_total", "filewall_dedup_hits_total"):
        assert name in metrics_b, name

    elapsed = finished - ready
    print(
        f"\n[scale] {TOTAL} files, 2 workers x 2 slots, worker A SIGKILLed at {stored_at_kill} stored reports "
        f"({killed_at - ready:.1f} s): all {TOTAL} stored after {elapsed:.1f} s "
        f"({TOTAL / elapsed:.0f} files/s including the {VISIBILITY_TIMEOUT} s visibility timeout); "
        f"scans {scanned}, dedup {hows['dedup']}, distinct {distinct}, crash kills {len(traps.kills)}, "
        f"re-sent from the ledger {redelivered}, "
        f"outcomes {dict(hows)}"
    )


def _run_batch(env, config, db, shop_id, storage, count: int, salt: str) -> float:
    jobs = []
    for index in range(count):
        name, data = clean_file(index)
        stored = storage.put_bytes(data + f"\n{salt}-{index}\n".encode())
        jobs.append(make_job(shop_id=shop_id, sha256=stored.sha256, size=stored.size, file_name=name, desk=False))
    before = _report_count(db, shop_id)
    started = time.monotonic()
    enqueue(jobs, config)
    while _report_count(db, shop_id) < before + count:
        assert time.monotonic() - started < 120, "batch did not finish"
        time.sleep(0.02)
    return time.monotonic() - started


def test_scale_throughput_one_vs_two_workers(tmp_path: Path, redis_db: int, pg_url: str):
    """Measured, not asserted: files/s with one worker process against two (one slot each)."""
    queue = f"tput-{uuid.uuid4().hex[:10]}"
    data_dir = tmp_path / "data"
    env = base_env(data_dir, redis_url(redis_db), queue, pg_url)
    config = QueueConfig.load(data_dir, environ=env)
    db, shop_id = _setup_store(config.database())
    storage = FolderStorage(BlobStore(data_dir / "samples").setup())
    count = 400
    first = start_worker(env, tmp_path / "w1.log", concurrency=1)
    second = None
    try:
        first.wait_ready()
        _run_batch(env, config, db, shop_id, storage, 20, "warm")
        one = _run_batch(env, config, db, shop_id, storage, count, "one")
        second = start_worker(env, tmp_path / "w2.log", concurrency=1)
        second.wait_ready()
        two = _run_batch(env, config, db, shop_id, storage, count, "two")
    finally:
        first.stop()
        if second is not None:
            second.stop()
    print(
        f"\n[throughput] {count} small files, PostgreSQL, Redis: 1 worker {count / one:.0f} files/s, "
        f"2 workers {count / two:.0f} files/s (x{one / two:.2f}) on {os.cpu_count()} cores"
    )
    assert _report_count(db, shop_id) == 20 + 2 * count


def test_scale_rabbitmq_by_configuration(tmp_path: Path, redis_db: int, pg_url: str, pe_bytes: bytes):
    """The same workers with RabbitMQ as the broker: only FILEWALL_BROKER_URL changes (Redis
    still holds the attempt counters and dedup cache, by FILEWALL_REDIS_URL)."""
    from kombu import Connection

    queue = f"rmq-{uuid.uuid4().hex[:10]}"
    data_dir = tmp_path / "data"
    env = base_env(
        data_dir, AMQP_URL, queue, pg_url,
        FILEWALL_REDIS_URL=redis_url(redis_db), FILEWALL_TASK_TIME_LIMIT="2", FILEWALL_MAX_CRASHES="1",
    )
    config = QueueConfig.load(data_dir, environ=env)
    db, shop_id = _setup_store(config.database())
    storage = FolderStorage(BlobStore(data_dir / "samples").setup())
    traps = FifoTraps()
    jobs, expect = [], {}
    for index in range(120):
        name, data = clean_file(index)
        stored = storage.put_bytes(data)
        jobs.append(make_job(shop_id=shop_id, sha256=stored.sha256, size=stored.size, file_name=name, desk=False))
        expect[jobs[-1]["report_id"]] = "clean"
    for index in range(5):
        stored = storage.put_bytes(lure_zip(pe_bytes, 1000 + index))
        jobs.append(make_job(shop_id=shop_id, sha256=stored.sha256, size=stored.size, file_name=f"需求{index}.zip", desk=False))
        expect[jobs[-1]["report_id"]] = "lure"
    sha = _fake_sha("rmq-crash")
    traps.add(storage.store.path_for(sha), "crash")
    jobs.insert(10, make_job(shop_id=shop_id, sha256=sha, size=1, file_name="崩溃.doc", desk=False))
    expect[jobs[10]["report_id"]] = "crash"
    workers = [start_worker(env, tmp_path / "a.log", 1), start_worker(env, tmp_path / "b.log", 1)]
    live = list(workers)
    traps.watch(lambda: live)
    try:
        for worker in workers:
            worker.wait_ready()
        enqueue(jobs, config)
        started = time.monotonic()
        while _report_count(db, shop_id) < 30:
            assert time.monotonic() - started < 60
            time.sleep(0.02)
        workers[0].kill()  # RabbitMQ hands its unacknowledged job straight to the other worker
        live.remove(workers[0])
        while _report_count(db, shop_id) < len(jobs):
            assert time.monotonic() - started < 90, workers[1].log()[-3000:]
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        traps.close()
        for worker in workers:
            worker.stop()
        with Connection(AMQP_URL) as connection:
            channel = connection.channel()
            for name in (queue, f"{queue}.dead"):
                try:
                    channel.queue_delete(name)
                except Exception:
                    channel = connection.channel()
    with db.read() as session:
        rows = {row.id: row for row in session.scalars(select(Report).where(Report.shop_id == shop_id))}
    assert set(rows) == set(expect)
    for report_id, kind in expect.items():
        verdict = rows[report_id].verdict
        assert verdict == {"clean": "clean", "lure": "malicious", "crash": "error"}[kind], (kind, rows[report_id].report)
    crash_report = next(rows[rid].report for rid, kind in expect.items() if kind == "crash")
    assert crash_report["dead_letter"]["attempts"] == 2


def test_scale_ledger_recovers_a_job_the_broker_lost(tmp_path: Path, redis_db: int, pg_url: str):
    """A job in the ledger that never reached a worker (the Redis transport's window between
    taking a message off the list and recording it as unacknowledged) is sent again."""
    from filewall.queue import Ledger

    queue = f"ledger-{uuid.uuid4().hex[:10]}"
    data_dir = tmp_path / "data"
    env = base_env(data_dir, redis_url(redis_db), queue, pg_url, FILEWALL_REDELIVER_AFTER="2")
    config = QueueConfig.load(data_dir, environ=env)
    db, shop_id = _setup_store(config.database())
    storage = FolderStorage(BlobStore(data_dir / "samples").setup())
    stored = storage.put_bytes(EICAR)
    lost = make_job(shop_id=shop_id, sha256=stored.sha256, size=stored.size, file_name="eicar.com", desk=False)
    Ledger.for_config(config).add([lost])  # recorded as sent, but never published
    worker = start_worker(env, tmp_path / "worker.log", 1)
    try:
        worker.wait_ready()
        started = time.monotonic()
        while _report_count(db, shop_id) < 1:
            assert time.monotonic() - started < 40, worker.log()[-3000:]
            time.sleep(0.1)
    finally:
        worker.stop()
    with db.read() as session:
        row = session.get(Report, lost["report_id"])
    assert row is not None and row.verdict == "malicious"
    assert '"job_redelivered"' in worker.log()
    assert redis.Redis.from_url(redis_url(redis_db)).hlen(f"filewall:{queue}:ledger") == 0
