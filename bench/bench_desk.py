"""Verdict latency and throughput of the desk's API, with a load generator on loopback.

    .venv/bin/python bench/bench_desk.py [--backends sqlite,postgresql] [--requests 600]
                                         [--clients 20] [--max-seconds 90]

For each backend it starts the real server the way ``filewall serve`` does (its own
process, uvicorn, the default scanning processes: one per core), on SQLite in a temp data
folder and on PostgreSQL in a database created for the run on 127.0.0.1:5432 (dropped
afterwards), makes a shop, an owner and an API token, then posts a 200 KB lure zip
(``定制需求/设计图.jpg.exe``, a real harmless PE, beside a stored "photo") to
``POST /api/v1/scans`` and checks every answer is a 200 with the verdict ``malicious``.
Every request carries a different archive (its zip comment is random), so every one is
hashed, written and fsync'd as a new sample, scanned, and committed as a new report.

Phases (bounded in count and time; only 127.0.0.1 is ever contacted):
1. warm-up: 10 requests, not counted;
2. latency: one client, one request at a time (``--sequential`` requests): the verdict
   latency an agent sees on an idle desk (p50, p99);
3. load: ``--clients`` concurrent clients (closed loop) until ``--requests`` answers or
   ``--max-seconds``: throughput, and the latency under that load (p50, p99).

Targets (issue "The support desk"): p50 < 50 ms, p99 < 300 ms, no errors. The machine's
load average is recorded beside the figures (other jobs on a shared machine skew them).
Writes ``bench/out/bench-desk-<time>.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import io
import json
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

import httpx
import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PG_ADMIN_URL = os.environ.get("FILEWALL_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
LURE_SIZE = 200 * 1024
TARGET_P50_MS, TARGET_P99_MS = 50.0, 300.0


# -- the sample ----------------------------------------------------------------------------------------
def harmless_pe() -> bytes:
    spec = importlib.util.find_spec("pip")
    return Path(next(iter(spec.submodule_search_locations)), "_vendor", "distlib", "t64.exe").read_bytes()


class Lures:
    """A 200 KB lure zip; each call returns a copy with a new random 16-byte zip comment."""

    COMMENT = 16

    def __init__(self, size: int = LURE_SIZE):
        pe = harmless_pe()

        def build(photo: bytes) -> bytes:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                archive.writestr("定制需求/设计图.jpg.exe", pe, compress_type=zipfile.ZIP_DEFLATED)
                archive.writestr("定制需求/产品照片.jpg", photo, compress_type=zipfile.ZIP_STORED)
                archive.comment = b"\0" * self.COMMENT
            return buffer.getvalue()

        overhead = len(build(b""))
        self.template = bytearray(build(os.urandom(size - overhead)))
        assert len(self.template) == size

    def next(self) -> bytes:
        self.template[-self.COMMENT :] = secrets.token_bytes(self.COMMENT)
        return bytes(self.template)


# -- the server ---------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare_accounts(data_dir: Path, db_url: str) -> str:
    """Shop, owner and API token, made with the same code as ``filewall user add``/``token create``."""
    from filewall.service.settings import Settings
    from filewall.store import Accounts, Database

    settings = Settings.load(data_dir, environ={}, database_url=db_url)
    data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database, pool_size=1)
    db.migrate()
    with db.write() as session:
        accounts = Accounts(session)
        shop = accounts.create_shop("压测店铺")
        user = accounts.create_user(shop, "bench-owner", secrets.token_urlsafe(12), "owner")
        token, _ = accounts.create_token(user, "bench", "agent")
    db.dispose()
    return token


class Server:
    def __init__(self, data_dir: Path, db_url: str):
        self.data_dir, self.db_url = data_dir, db_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        env = {**os.environ, "FILEWALL_DATABASE_URL": self.db_url}
        env.pop("FILEWALL_DATA", None)
        log = open(self.data_dir / "server.log", "wb")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", "filewall", "serve", "--data", str(self.data_dir), "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"server exited: {(self.data_dir / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise SystemExit("server did not start")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)

    def cpu_seconds(self) -> tuple[float, float]:
        """CPU time used so far by (the web process, its scanning processes)."""
        try:
            root = psutil.Process(self.process.pid)
            web = sum(root.cpu_times()[:2])
            scanners = sum(sum(child.cpu_times()[:2]) for child in root.children(recursive=True))
            return web, scanners
        except psutil.Error:
            return 0.0, 0.0


# -- the load generator -------------------------------------------------------------------------------------
async def post_one(client: httpx.AsyncClient, lures: Lures, stats: dict) -> float | None:
    body = lures.next()
    started = time.perf_counter()
    try:
        response = await client.post("/api/v1/scans", files=[("files", ("定制需求.zip", body, "application/zip"))])
    except httpx.HTTPError as error:
        stats["errors"].append(f"{type(error).__name__}: {error}")
        return None
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        stats["errors"].append(f"HTTP {response.status_code}: {response.text[:200]}")
        return None
    verdict = response.json()["reports"][0]["verdict"]
    if verdict != "malicious":
        stats["errors"].append(f"verdict {verdict}")
        return None
    return elapsed


async def run_phase(url: str, token: str, lures: Lures, clients: int, requests: int, max_seconds: float) -> dict:
    stats: dict = {"errors": []}
    latencies: list[float] = []
    remaining = requests
    deadline = time.monotonic() + max_seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120, limits=limits
    ) as client:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0 and time.monotonic() < deadline:
                remaining -= 1
                elapsed = await post_one(client, lures, stats)
                if elapsed is not None:
                    latencies.append(elapsed)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - started
    return summarize(latencies, stats["errors"], wall, clients)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def summarize(latencies: list[float], errors: list[str], wall: float, clients: int) -> dict:
    ms = [value * 1000 for value in latencies]
    return {
        "clients": clients,
        "requests_ok": len(ms),
        "errors": len(errors),
        "error_samples": errors[:5],
        "wall_s": round(wall, 2),
        "throughput_rps": round(len(ms) / wall, 1) if wall else 0.0,
        "p50_ms": round(percentile(ms, 0.50), 1),
        "p90_ms": round(percentile(ms, 0.90), 1),
        "p99_ms": round(percentile(ms, 0.99), 1),
        "max_ms": round(max(ms), 1) if ms else float("nan"),
        "mean_ms": round(statistics.fmean(ms), 1) if ms else float("nan"),
    }


# -- one backend ----------------------------------------------------------------------------------------------
def bench_backend(backend: str, args, lures: Lures) -> dict:
    import sqlalchemy as sa

    with tempfile.TemporaryDirectory(prefix=f"fw-desk-{backend}-") as temp:
        data_dir = Path(temp)
        dropper = None
        if backend == "sqlite":
            db_url = ""  # the default: filewall.db in the data folder
        else:
            admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            name = f"filewall_bench_{uuid.uuid4().hex[:10]}"
            with admin.connect() as connection:
                connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
            db_url = sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

            def dropper() -> None:
                with admin.connect() as connection:
                    connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()

        try:
            token = prepare_accounts(data_dir, db_url)
            with Server(data_dir, db_url) as server:
                time.sleep(args.settle)  # let the scanning processes finish starting
                asyncio.run(run_phase(server.url, token, lures, 1, 10, 60))  # warm-up
                load_before = os.getloadavg()
                web_before, scan_before = server.cpu_seconds()
                sequential = asyncio.run(run_phase(server.url, token, lures, 1, args.sequential, args.max_seconds))
                loaded = asyncio.run(run_phase(server.url, token, lures, args.clients, args.requests, args.max_seconds))
                web_after, scan_after = server.cpu_seconds()
                load_after = os.getloadavg()
                ok = sequential["requests_ok"] + loaded["requests_ok"]
        finally:
            if dropper is not None:
                dropper()
    return {
        "backend": backend,
        "sequential": sequential,
        "concurrent": loaded,
        "web_cpu_ms_per_request": round(1000 * (web_after - web_before) / ok, 1) if ok else None,
        "scan_cpu_ms_per_request": round(1000 * (scan_after - scan_before) / ok, 1) if ok else None,
        "loadavg_before": [round(value, 2) for value in load_before],
        "loadavg_after": [round(value, 2) for value in load_after],
    }


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def markdown(results: list[dict]) -> str:
    lines = [
        "| backend | phase | clients | requests | errors | throughput (req/s) | p50 (ms) | p99 (ms) | max (ms) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        for phase in ("sequential", "concurrent"):
            row = result[phase]
            lines.append(
                f"| {result['backend']} | {phase} | {row['clients']} | {row['requests_ok']} | {row['errors']} | "
                f"{row['throughput_rps']} | {row['p50_ms']} | {row['p99_ms']} | {row['max_ms']} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="latency and throughput of the desk's scan API")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--sequential", type=int, default=200, help="requests in the one-client phase")
    parser.add_argument("--requests", type=int, default=600, help="requests in the concurrent phase")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--max-seconds", type=float, default=90.0, help="time bound of each phase")
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("--out", default=str(HERE / "out"))
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    lures = Lures()
    results = [bench_backend(backend.strip(), args, lures) for backend in args.backends.split(",") if backend.strip()]
    report = {
        "bench": "desk",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "sample": {"name": "定制需求.zip", "bytes": LURE_SIZE, "members": ["定制需求/设计图.jpg.exe", "定制需求/产品照片.jpg"]},
        "targets": {"p50_ms": TARGET_P50_MS, "p99_ms": TARGET_P99_MS, "errors": 0},
        "results": results,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"bench-desk-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, ensure_ascii=False, indent=2))
    print(markdown(results))
    for result in results:
        print(f"{result['backend']}: CPU per request: web process {result['web_cpu_ms_per_request']} ms, "
              f"scanning processes {result['scan_cpu_ms_per_request']} ms; "
              f"load average {result['loadavg_before']} -> {result['loadavg_after']}")
    print(f"written {path}")
    errors = sum(result[phase]["errors"] for result in results for phase in ("sequential", "concurrent"))
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
