"""Helpers for the scale-out tests: real Redis/RabbitMQ/PostgreSQL, real worker processes.

Every run gets its own Redis database number (claimed with a key so that two runs at once
never share one), its own queue names and its own PostgreSQL database; all are removed at
the end. Worker processes are started in their own session and stopped by process id.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import redis
import sqlalchemy as sa

REDIS_HOST = os.environ.get("FILEWALL_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("FILEWALL_TEST_REDIS_PORT", "6379"))
AMQP_URL = os.environ.get("FILEWALL_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
PG_ADMIN_URL = os.environ.get("FILEWALL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
FILEWALL = str(Path(sys.executable).with_name("filewall"))
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
CLAIM_KEY = "filewall:test-claim"


def claim_redis_db() -> int:
    """An empty Redis database number, claimed for this run (fails, never skips)."""
    numbers = list(range(1, 16))
    random.shuffle(numbers)
    for number in numbers:
        client = redis.Redis(REDIS_HOST, REDIS_PORT, db=number)
        try:
            if client.dbsize() == 0 and client.set(CLAIM_KEY, str(os.getpid()), nx=True, ex=3600):
                if client.dbsize() == 1:
                    return number
                client.delete(CLAIM_KEY)
        except redis.ConnectionError as error:
            raise AssertionError(f"Redis is not reachable at {REDIS_HOST}:{REDIS_PORT} ({error}); run scripts/services") from error
        finally:
            client.close()
    raise AssertionError("no empty Redis database (1-15) to run in")


def release_redis_db(number: int) -> None:
    client = redis.Redis(REDIS_HOST, REDIS_PORT, db=number)
    client.flushdb()
    client.close()


def redis_url(number: int) -> str:
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/{number}"


@contextlib.contextmanager
def pg_database():
    """A fresh PostgreSQL database on the real server, dropped afterwards."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"filewall_scale_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as error:
        raise AssertionError(f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({error}); run scripts/services") from error
    try:
        yield sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class Worker:
    """One real ``filewall worker`` process (own session; stopped by its pid)."""

    process: subprocess.Popen
    log_path: Path
    metrics_port: int | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.Error:
            return []

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"worker {self.pid} exited with {self.process.returncode}:\n{self.log()[-3000:]}")
            if " ready." in self.log():
                return
            time.sleep(0.1)
        raise AssertionError(f"worker {self.pid} not ready after {timeout} s:\n{self.log()[-3000:]}")

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 15) -> None:
        if self.process.poll() is not None:
            return
        children = self.descendants()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        for child in children:  # anything it left behind (it should leave nothing)
            with contextlib.suppress(psutil.Error):
                child.kill()


def start_worker(env: dict[str, str], log_path: Path, concurrency: int = 2, metrics_port: int | None = None) -> Worker:
    args = [FILEWALL, "worker", "--concurrency", str(concurrency)]
    if metrics_port:
        args += ["--metrics", f"127.0.0.1:{metrics_port}"]
    handle = open(log_path, "wb")  # noqa: SIM115 - owned by the process for its lifetime
    process = subprocess.Popen(args, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    handle.close()
    return Worker(process, log_path, metrics_port)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env(data_dir: Path, broker_url: str, queue: str, database_url: str, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FILEWALL_")}
    env.update(
        FILEWALL_DATA=str(data_dir),
        FILEWALL_BROKER_URL=broker_url,
        FILEWALL_QUEUE=queue,
        FILEWALL_DATABASE_URL=database_url,
        FILEWALL_LOG_FORMAT="json",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@dataclass
class FifoTraps:
    """Files "built to crash or hang a parser", made honest:

    - a *crash* file is a FIFO whose writer this test holds open, so a scanning process that
      opens it blocks reading; a watcher SIGKILLs any process of the workers that has it open,
      every time, as a segfaulting parser would die;
    - a *hang* file is a FIFO nobody writes to: opening it blocks for ever, so only the
      worker's hard time limit ends the scan.
    """

    crash_paths: set[str] = field(default_factory=set)
    hang_paths: set[str] = field(default_factory=set)
    writers: list[int] = field(default_factory=list)
    kills: list[tuple[int, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def add(self, path: Path, kind: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(path)
        if kind == "crash":
            self.writers.append(os.open(path, os.O_RDWR | os.O_NONBLOCK))
            self.crash_paths.add(str(path))
        else:
            self.hang_paths.add(str(path))

    def watch(self, workers) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                for worker in list(workers()):
                    for child in worker.descendants():
                        try:
                            targets = {os.readlink(f"/proc/{child.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{child.pid}/fd")}
                        except OSError:
                            continue
                        hit = targets & self.crash_paths
                        if hit:
                            with contextlib.suppress(ProcessLookupError):
                                os.kill(child.pid, signal.SIGKILL)
                                self.kills.append((child.pid, hit.pop()))
                self._stop.wait(0.02)

        self._thread = threading.Thread(target=loop, name="crash-watcher", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for fd in self.writers:
            with contextlib.suppress(OSError):
                os.close(fd)


def lure_zip(pe: bytes, salt: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("定制需求/设计图.jpg.exe", pe)
        archive.writestr("定制需求/说明.txt", f"请查看设计图 #{salt}\n".encode())
    return buffer.getvalue()


def clean_file(index: int) -> tuple[str, bytes]:
    kind = index % 3
    if kind == 0:
        return f"订单备注-{index}.txt", f"尺寸 50x80cm，颜色：红色，数量 {index} 个。\n".encode()
    if kind == 1:
        return f"order-{index}.csv", f"sku,qty,price\nA{index},{index % 7 + 1},{index * 3}.50\n".encode()
    return f"address-{index}.json", json.dumps({"name": f"客户{index}", "city": "杭州", "zip": 310000 + index}).encode()


def metrics_text(port: int) -> str:
    import httpx

    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text


def health(port: int) -> tuple[int, dict]:
    import httpx

    response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
    return response.status_code, response.json()
