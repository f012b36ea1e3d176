"""The update round trip with real processes: a rule and a hash promoted on a running desk
(``filewall serve``) reach a second ``filewall`` that fetched the signed update, and keep
blocking there after the server is stopped. Also: a forged or wrong-key update is refused,
and promoting a rule retro-hunts the stored samples and tells the shop that received one.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from filewall.platform import updates

FILEWALL = [sys.executable, "-m", "filewall"]
PASSWORD = "Platform-Test-Passw0rd-2026!"
MARKER = b"ORDER-LURE-7f3a9c MARKER for the round trip"


def run_cli(*args: str, env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, **(env or {})}
    for name in ("FILEWALL_DATA", "FILEWALL_DATABASE_URL", "FILEWALL_UPDATE_PUBLIC_KEY"):
        if env is None or name not in env:
            environment.pop(name, None)
    return subprocess.run(
        [*FILEWALL, *args], input=stdin, capture_output=True, text=True, env=environment, timeout=300
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Serve:
    def __init__(self, data_dir: Path):
        self.data_dir, self.port = data_dir, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> Serve:
        env = {k: v for k, v in os.environ.items() if k not in ("FILEWALL_DATA", "FILEWALL_DATABASE_URL")}
        log = open(self.data_dir / "server.log", "ab")
        self.process = subprocess.Popen(
            [*FILEWALL, "serve", "--data", str(self.data_dir), "--port", str(self.port), "--workers", "1", "--log-level", "warning"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.data_dir / "server.log").read_text(errors="replace")[
                -3000:
            ]
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError("filewall serve did not come up")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


@pytest.fixture
def desk(tmp_path):
    data = tmp_path / "server"
    data.mkdir()
    for shop, username, role in (("平台运营", "admin", "admin"), ("店铺A", "owner-a", "owner")):
        done = run_cli("user", "add", "--data", str(data), "--shop", shop, "--username", username, "--role", role,
                       "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
        assert done.returncode == 0, done.stderr
    tokens = {}
    for username, role in (("admin", "agent"), ("owner-a", "owner")):
        done = run_cli("token", "create", "--data", str(data), "--username", username, "--role", role)
        assert done.returncode == 0, done.stderr
        tokens[username] = done.stdout.strip()
    server = Serve(data).start()
    yield server, tokens
    server.stop()


def scan_json(path: Path, data_dir: Path) -> dict:
    done = run_cli("scan", "--json", str(path), env={"FILEWALL_DATA": str(data_dir)})
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout.splitlines()[0])


def test_promoted_rule_and_hash_block_offline_after_update(desk, tmp_path):
    server, tokens = desk
    client_data = tmp_path / "client"
    files = tmp_path / "inbox"
    files.mkdir()
    by_rule = files / "订单说明.txt"
    by_rule.write_bytes(b"Hello, please see the order notes.\n" + MARKER + b"\n")
    by_hash = files / "发货单.txt"
    by_hash.write_bytes(b"Shipping list for order 20261125-0042, three boxes.\n")
    sha = updates.hashlib.sha256(by_hash.read_bytes()).hexdigest()
    assert scan_json(by_rule, client_data)["verdict"] == "clean"
    assert scan_json(by_hash, client_data)["verdict"] == "clean"

    # A shop received the marker file earlier (stored by the desk).
    shop = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {tokens['owner-a']}"}, timeout=120
    )
    sent = shop.post("/api/v1/scans", files={"files": ("订单说明.txt", by_rule.read_bytes())})
    assert sent.status_code == 200, sent.text
    assert shop.get("/api/v1/platform/notices").json() == []

    admin = httpx.Client(base_url=server.url, timeout=120)
    assert admin.post("/api/v1/login", json={"username": "admin", "password": PASSWORD}).status_code == 200
    # Only admins promote.
    refused = shop.post("/api/v1/platform/promoted", json={"kind": "sha256", "value": sha})
    assert refused.status_code == 403
    rule = (
        'rule Platform_Order_Lure { meta: severity = "critical" description = "order lure seen at many shops" '
        'strings: $m = "ORDER-LURE-7f3a9c" condition: $m }'
    )
    promoted = admin.post(
        "/api/v1/platform/promoted", json={"kind": "yara", "value": rule, "label": "order lure"}
    )
    assert promoted.status_code == 201, promoted.text
    assert promoted.json()["retro_hunt"] == {"shops": 1, "samples": 1}
    bad = admin.post(
        "/api/v1/platform/promoted", json={"kind": "yara", "value": "rule X { condition: $nope }"}
    )
    assert bad.status_code == 400
    assert (
        admin.post(
            "/api/v1/platform/promoted", json={"kind": "sha256", "value": sha, "label": "fake shipping list"}
        ).status_code
        == 201
    )
    notices = shop.get("/api/v1/platform/notices").json()
    assert len(notices) == 1 and notices[0]["rules"] == ["Platform_Order_Lure"]

    public_key = admin.get("/api/v1/platform/update/public-key").json()["public_key"]

    # A wrong key: refused, nothing written.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    wrong = updates.public_key_b64(Ed25519PrivateKey.generate())
    refused_update = run_cli("update", "--server", server.url, "--token", tokens["admin"], "--data", str(client_data),
                             "--public-key", wrong)  # fmt: skip
    assert refused_update.returncode == 2 and "signature does not match" in refused_update.stderr
    assert not (client_data / "updates").exists()

    done = run_cli("update", "--server", server.url, "--token", tokens["admin"], "--data", str(client_data),
                   "--public-key", public_key)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "2 hashes" not in done.stdout and "1 hashes, 1 YARA rules" in done.stdout
    assert (client_data / "updates" / "rules").is_dir()

    def blocked() -> None:
        report = scan_json(by_rule, client_data)
        assert report["verdict"] == "malicious"
        assert any(f["rule"] == "yara.critical" for f in report["findings"])
        report = scan_json(by_hash, client_data)
        assert report["verdict"] == "malicious"
        assert any(f["rule"] == "reputation.blocklist" for f in report["findings"])

    blocked()
    server.stop()
    blocked()  # offline: the server is gone, the update stays
    with pytest.raises(httpx.HTTPError):
        httpx.get(server.url + "/healthz", timeout=2)
    # And the client says so when it cannot update, keeping what it has.
    offline = run_cli("update", "--server", server.url, "--token", tokens["admin"], "--data", str(client_data),
                      "--public-key", public_key)  # fmt: skip
    assert offline.returncode == 2 and "cannot reach" in offline.stderr
    blocked()


def test_verify_rejects_tampering_and_rollback(tmp_path):
    key = updates.load_signing_key(tmp_path / "srv")
    public = updates.public_key_b64(key)
    payload = {
        "format": 1,
        "issuer": "t",
        "version": 3,
        "created_at": "x",
        "hashes": [{"kind": "sha256", "value": "a" * 64, "label": "x"}],
        "rules": [],
    }
    envelope = updates.sign(payload, key)
    assert updates.verify(envelope, public) == payload
    forged = dict(
        envelope, payload=updates.base64.b64encode(json.dumps({**payload, "version": 9}).encode()).decode()
    )
    with pytest.raises(updates.UpdateError, match="signature"):
        updates.verify(forged, public)
    updates.install(payload, tmp_path / "cli")
    with pytest.raises(updates.UpdateError, match="older"):
        updates.install({**payload, "version": 2}, tmp_path / "cli")
    # The key file is private.
    assert (tmp_path / "srv" / "platform" / "update_signing_key.pem").stat().st_mode & 0o077 == 0
