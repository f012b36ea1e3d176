"""The desk as a user runs it: ``filewall serve`` in its own process, ``filewall user add``,
``filewall token create``, ``filewall scan --server``; and what survives a SIGKILL.

Each test runs on SQLite and on PostgreSQL (a database of its own, on the real server).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time

import httpx

from ._desk import PASSWORD, aes_zip, lure_zip

FILEWALL = [sys.executable, "-m", "filewall"]


def run_cli(*args, env=None, stdin: str | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    environment = {**os.environ, **(env or {})}
    environment.pop("FILEWALL_DATA", None)
    return subprocess.run(
        [*FILEWALL, *args], input=stdin, capture_output=True, text=True, env=environment, timeout=timeout
    )


def add_owner(data_dir, db_url, shop="测试店铺", username="owner") -> None:
    result = run_cli(
        "user", "add", "--data", str(data_dir), "--shop", shop, "--username", username, "--role", "owner",
        "--password-stdin", env={"FILEWALL_DATABASE_URL": db_url}, stdin=PASSWORD + "\n",
    )
    assert result.returncode == 0, result.stderr
    assert f"created owner '{username}'" in result.stdout


def make_token(data_dir, db_url, username="owner", role="agent") -> str:
    result = run_cli("token", "create", "--data", str(data_dir), "--username", username, "--role", role,
                     env={"FILEWALL_DATABASE_URL": db_url})
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert token.startswith("fwt_")
    return token


def test_user_add_then_serve_then_login(server_factory, fresh_db_url, backend, tmp_path):
    data_dir = tmp_path / "data"
    # SQLite: the default, with nothing configured: a file in the data folder.
    fresh_db_url = "" if backend == "sqlite" else fresh_db_url
    add_owner(data_dir, fresh_db_url)
    again = run_cli("user", "add", "--data", str(data_dir), "--shop", "测试店铺", "--username", "OWNER",
                    "--role", "owner", "--password-stdin", env={"FILEWALL_DATABASE_URL": fresh_db_url},
                    stdin=PASSWORD + "\n")
    assert again.returncode == 2 and "taken" in again.stderr
    weak = run_cli("user", "add", "--data", str(data_dir), "--shop", "x", "--username", "u2", "--password-stdin",
                   env={"FILEWALL_DATABASE_URL": fresh_db_url}, stdin="short\n")
    assert weak.returncode == 2 and "at least 8" in weak.stderr
    server = server_factory(fresh_db_url, data_dir).start()
    with httpx.Client(base_url=server.url) as client:
        assert client.post("/api/v1/login", json={"username": "owner", "password": PASSWORD}).status_code == 200
        me = client.get("/api/v1/me").json()
        assert me["shop"]["name"] == "测试店铺" and me["role"] == "owner"
    assert (data_dir / "filewall.db").is_file() == (backend == "sqlite")
    assert (data_dir / "samples").is_dir()


def test_serve_prints_the_first_run_step(server_factory, fresh_db_url, tmp_path):
    server = server_factory(fresh_db_url, tmp_path / "empty").start()
    server.stop()
    log = server.log.read_text()
    assert "filewall user add" in log and "--role owner" in log


def test_acknowledged_scan_survives_sigkill(server_factory, fresh_db_url, tmp_path, pe_bytes):
    """Kill -9 the server (and its scanning processes) right after a 200: the report and
    the sample are there when it comes back."""
    data_dir = tmp_path / "data"
    add_owner(data_dir, fresh_db_url)
    token = make_token(data_dir, fresh_db_url)
    server = server_factory(fresh_db_url, data_dir).start()
    lure = lure_zip(pe_bytes)
    acknowledged = []
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        for index in range(3):
            response = client.post("/api/v1/scans", files=[("files", (f"定制需求{index}.zip", lure_zip(pe_bytes)))])
            assert response.status_code == 200
            acknowledged += response.json()["reports"]
        response = client.post("/api/v1/scans", files=[("files", ("最后.zip", lure))])
        assert response.status_code == 200
        server.kill()  # SIGKILL the process group the moment the answer is in
    acknowledged += response.json()["reports"]
    restarted = server_factory(fresh_db_url, data_dir).start()
    with httpx.Client(base_url=restarted.url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        for report in acknowledged:
            stored = client.get(f"/api/v1/reports/{report['id']}")
            assert stored.status_code == 200, report["id"]
            assert stored.json()["verdict"] == "malicious"
            assert stored.json()["sha256"] == report["sha256"]
            assert stored.json()["report"]["tree"]["children"]
        listed = client.get("/api/v1/reports").json()
        assert listed["total"] == len(acknowledged)
    last = acknowledged[-1]
    sample = data_dir / "samples" / last["sha256"][:2] / last["sha256"][2:4] / last["sha256"]
    assert hashlib.sha256(sample.read_bytes()).hexdigest() == last["sha256"] == hashlib.sha256(lure).hexdigest()
    assert not list((data_dir / "samples" / "tmp").iterdir())  # no half-written leftovers


def test_scan_with_server_prints_like_a_local_scan(server_factory, fresh_db_url, tmp_path, pe_bytes):
    data_dir = tmp_path / "data"
    add_owner(data_dir, fresh_db_url)
    token = make_token(data_dir, fresh_db_url)
    server = server_factory(fresh_db_url, data_dir).start()
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "定制需求.zip").write_bytes(lure_zip(pe_bytes))
    (folder / "订单备注.txt").write_text("尺寸 50x80cm，颜色：红色。\n", encoding="utf-8")
    (folder / "设计稿（加密）.zip").write_bytes(aes_zip(pe_bytes))
    chat = tmp_path / "chat.txt"
    chat.write_text("新客户: 设计图在压缩包里，用电脑解压看一下，解压密码 8866\n", encoding="utf-8")

    human = run_cli("scan", "--server", server.url, "--token", token, "--lang", "en", "--chat-file", str(chat), str(folder))
    assert human.returncode == 1, human.stdout + human.stderr
    assert "MALICIOUS" in human.stdout and "CLEAN" in human.stdout
    assert "定制需求.zip" in human.stdout
    assert "Scanned 3 files" in human.stdout

    lines = run_cli("scan", "--server", server.url, "--json", "--chat-file", str(chat), str(folder),
                    env={"FILEWALL_TOKEN": token})
    assert lines.returncode == 1, lines.stderr
    reports = [json.loads(line) for line in lines.stdout.splitlines()]
    assert [list(report)[:5] for report in reports] == [["path", "verdict", "score", "findings", "tree"]] * 3
    by_name = {os.path.basename(report["path"]): report for report in reports}
    assert by_name["订单备注.txt"]["verdict"] == "clean"
    assert by_name["定制需求.zip"]["verdict"] == "malicious"
    encrypted = by_name["设计稿（加密）.zip"]
    assert encrypted["tree"]["children"][0]["has_content"] is True  # the chat's password opened it
    assert encrypted["chat"]["passwords"] == ["8866"]
    assert all(report["id"] and report["url"].startswith(server.url) for report in reports)
    # The same reports are on the desk for the owner.
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as client:
        assert client.get(f"/api/v1/reports/{reports[0]['id']}").status_code == 200

    clean = run_cli("scan", "--server", server.url, "--token", token, str(folder / "订单备注.txt"))
    assert clean.returncode == 0, clean.stdout + clean.stderr


def test_scan_with_server_reports_bad_token_and_unreachable_server(server_factory, fresh_db_url, tmp_path):
    data_dir = tmp_path / "data"
    add_owner(data_dir, fresh_db_url)
    server = server_factory(fresh_db_url, data_dir).start()
    sample = tmp_path / "a.txt"
    sample.write_text("hello")
    bad = run_cli("scan", "--server", server.url, "--token", "fwt_wrong", "--lang", "en", str(sample))
    assert bad.returncode == 2
    assert "401" in bad.stderr and "not valid" in bad.stderr
    missing = run_cli("scan", "--server", server.url, str(sample))
    assert missing.returncode == 2 and "--token" in missing.stderr
    server.stop()
    down = run_cli("scan", "--server", server.url, "--token", "fwt_x", str(sample))
    assert down.returncode == 2 and "cannot reach" in down.stderr


def test_web_process_stays_responsive_while_scanning(server_factory, fresh_db_url, tmp_path, pe_bytes):
    """Scans run in the scanning processes: health checks answer while a batch is scanned."""
    import threading

    data_dir = tmp_path / "data"
    add_owner(data_dir, fresh_db_url)
    token = make_token(data_dir, fresh_db_url)
    server = server_factory(fresh_db_url, data_dir).start()
    headers = {"Authorization": f"Bearer {token}"}
    done = threading.Event()

    def upload() -> None:
        with httpx.Client(base_url=server.url, headers=headers, timeout=120) as client:
            for _ in range(3):
                files = [("files", (f"{index}.zip", lure_zip(pe_bytes))) for index in range(5)]
                assert client.post("/api/v1/scans", files=files).status_code == 200
        done.set()

    thread = threading.Thread(target=upload)
    thread.start()
    slowest = 0.0
    with httpx.Client(base_url=server.url, timeout=10) as client:
        while not done.is_set():
            started = time.perf_counter()
            assert client.get("/healthz").status_code == 200
            slowest = max(slowest, time.perf_counter() - started)
            time.sleep(0.05)
    thread.join()
    assert slowest < 2.0, f"the web process stalled for {slowest:.2f} s"
