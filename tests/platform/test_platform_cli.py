"""``filewall campaigns`` over a real desk database (SQLite in a data folder, real samples).

The simulated month is written the way the desk stores it (shops, reports with their tree
and chat analysis but no TLSH, samples in the content-addressed store); then the real
``filewall`` command runs in its own process, correlates, alerts a real local webhook,
and exports STIX/MISP files that the real parsers accept.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import _sim
import pytest
import stix2
from pymisp import MISPEvent

FILEWALL = [sys.executable, "-m", "filewall"]


@pytest.fixture(scope="module")
def sim():
    return _sim.build(seed=1)


@pytest.fixture
def webhook():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts", received
    server.shutdown()
    server.server_close()


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*FILEWALL, *args], capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})}
    )


def test_campaigns_cli_finds_alerts_and_exports(sim, tmp_path, webhook):
    url, received = webhook
    data = tmp_path / "desk"
    _sim.write_desk(sim, data)
    env = {"FILEWALL_CAMPAIGN_WEBHOOK": url, "FILEWALL_CAMPAIGN_ALERT_SHOPS": "10"}

    # First with the webhook down: the alerts are kept, marked undelivered.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{closed.getsockname()[1]}/alerts"
    first = _run("campaigns", "--data", str(data), env={**env, "FILEWALL_CAMPAIGN_WEBHOOK": down})
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("ALERT ") == 3 and "webhook not sent" in first.stdout
    assert received == []

    # Then with it up: the three pending alerts go out, no new ones are made.
    done = _run("campaigns", "--json", "--data", str(data), env=env)
    assert done.returncode == 0, done.stderr
    campaigns = [json.loads(line) for line in done.stdout.splitlines()]
    assert sorted(frozenset(s["id"] for s in c["shops"]) for c in campaigns) == sorted(
        frozenset(shops) for shops in sim.truth.values()
    )
    # TLSH came from re-scanning the stored samples: the script-less builds of B are in.
    b = next(c for c in campaigns if frozenset(s["id"] for s in c["shops"]) == frozenset(sim.truth["B"]))
    assert set(b["reports"]) == sim.truth_reports["B"]
    assert any("tlsh" in link["kind"] for link in b["similar"])
    assert len(received) == 3 and {a["campaign_id"] for a in received} == {c["id"] for c in campaigns}

    # Again: nothing new, no second alert; the human listing names the campaigns.
    again = _run("campaigns", "--data", str(data), env=env)
    assert again.returncode == 0, again.stderr
    assert "3 campaigns (0 new reports indexed)" in again.stdout and "ALERT" not in again.stdout
    assert len(received) == 3

    stix_file, misp_file = tmp_path / "c.stix.json", tmp_path / "c.misp.json"
    out = _run(
        "campaigns",
        "export",
        b["id"][:10],
        "--stix",
        str(stix_file),
        "--misp",
        str(misp_file),
        "--data",
        str(data),
    )
    assert out.returncode == 0, out.stderr
    bundle = stix2.parse(stix_file.read_text(encoding="utf-8"), allow_custom=False)
    assert any(o.type == "campaign" for o in bundle.objects)
    assert f"[domain-name:value = '{_sim.C2}']" in {
        o.pattern for o in bundle.objects if o.type == "indicator"
    }
    event = MISPEvent()
    event.load(misp_file.read_text(encoding="utf-8"), validate=True)
    assert _sim.C2 in {a.value for a in event.attributes}
    text = stix_file.read_text(encoding="utf-8") + misp_file.read_text(encoding="utf-8")
    assert not any(shop_id in text for shop_id in sim.shops)

    missing = _run("campaigns", "export", "cmp-nope", "--stix", str(stix_file), "--data", str(data))
    assert missing.returncode == 2 and "no campaign" in missing.stderr
