"""The web app with a broker configured: ``filewall scan --server`` → ``filewall serve`` →
queue → ``filewall worker`` → report stored by the worker through the desk's store, and
read back through the desk's API. All real processes; Redis and PostgreSQL real.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
from _scale import (
    EICAR,
    FILEWALL,
    base_env,
    claim_redis_db,
    free_port,
    lure_zip,
    pg_database,
    redis_url,
    release_redis_db,
    start_worker,
)
from sqlalchemy import func, select

from filewall.store import Accounts, Database
from filewall.store.models import Report

pytestmark = pytest.mark.slow


def test_scale_scan_server_goes_through_the_queue(tmp_path: Path, pe_bytes: bytes):
    number = claim_redis_db()
    try:
        with pg_database() as database_url:
            _run(tmp_path, number, database_url, pe_bytes)
    finally:
        release_redis_db(number)


def _run(tmp_path: Path, number: int, database_url: str, pe_bytes: bytes) -> None:
    data_dir = tmp_path / "data"
    queue = f"desk-{uuid.uuid4().hex[:10]}"
    env = base_env(data_dir, redis_url(number), queue, database_url)
    db = Database(database_url)
    db.migrate()
    with db.write() as session:
        accounts = Accounts(session)
        shop = accounts.create_shop("测试店铺")
        user = accounts.create_user(shop, "agent1", "correct horse battery", "agent")
        token, _ = accounts.create_token(user, "cli")
    files = {
        "定制需求.zip": lure_zip(pe_bytes, 7),
        "eicar.com": EICAR,
        "订单备注.txt": "尺寸 50x80cm，颜色：红色。\n".encode(),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    port = free_port()
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115
    serve = subprocess.Popen(
        [FILEWALL, "serve", "--host", "127.0.0.1", "--port", str(port), "--data", str(data_dir), "--workers", "1"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    log.close()
    worker = start_worker(env, tmp_path / "worker.log", concurrency=2)
    try:
        worker.wait_ready()
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert serve.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-3000:]
            time.sleep(0.2)
        result = subprocess.run(
            [FILEWALL, "scan", "--server", f"http://127.0.0.1:{port}", "--token", token, "--json",
             *[str(tmp_path / name) for name in files]],
            env=env, capture_output=True, text=True, timeout=120,
        )
    finally:
        worker.stop()
        serve.terminate()
        serve.wait(timeout=20)
    assert result.returncode == 1, result.stdout + result.stderr  # something found
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    verdicts = {Path(line["path"]).name: line["verdict"] for line in lines}
    assert verdicts == {"定制需求.zip": "malicious", "eicar.com": "malicious", "订单备注.txt": "clean"}
    # The worker wrote them: the report ids the CLI got are the rows in the database, once each.
    with db.read() as session:
        rows = list(session.scalars(select(Report).where(Report.shop_id == shop.id)))
        assert session.scalar(select(func.count()).select_from(Report)) == 3
    assert {row.id for row in rows} == {line["id"] for line in lines}
    assert all(row.user_id == user.id and row.submission_id for row in rows)
    assert "report_stored" in worker.log()
