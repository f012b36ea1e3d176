"""End-to-end fixtures: the real desk on localhost and a real headless Chromium driving it.

- ``desk``: a fresh data folder, a shop with an owner and an agent made through the store
  API, and ``filewall``'s app served by a real uvicorn on a free port in a child process
  (one scanning worker). Stopped (by its own pid) at the end of the session.
- ``browser``: Debian's Chromium (``/usr/bin/chromium``, from scripts/test-packages.txt)
  launched by Playwright with a fresh profile; Playwright never downloads a browser here.
- ``shot(page, name)``: saves a screenshot to ``artifacts/screenshots/<name>.png``
  (git-ignored) for a person to look at.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("FILEWALL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
SHOP = "小熊服饰旗舰店"
#: (user name, password, display name); the tests use the same values.
OWNER = ("wang", "owner-password-1", "王店长")
AGENT = ("xiaoli", "agent-password-1", "小李")

SERVER = textwrap.dedent(
    """
    import sys, uvicorn
    from filewall.service.app import create_app
    from filewall.service.settings import Settings
    settings = Settings.load(sys.argv[1], scan_workers=1)
    uvicorn.run(create_app(settings), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
    """
)


@dataclass
class Desk:
    url: str
    data: Path
    log: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _make_accounts(data: Path) -> None:
    from filewall.service.settings import Settings
    from filewall.store import Accounts, Database

    settings = Settings.load(data, environ={})
    db = Database(settings.database)
    try:
        db.migrate()
        with db.write() as session:
            accounts = Accounts(session)
            shop = accounts.create_shop(SHOP)
            accounts.create_user(shop, OWNER[0], OWNER[1], "owner", display_name=OWNER[2])
            accounts.create_user(shop, AGENT[0], AGENT[1], "agent", display_name=AGENT[2])
    finally:
        db.dispose()


@pytest.fixture(scope="session")
def desk(tmp_path_factory) -> Desk:
    data = tmp_path_factory.mktemp("desk-data")
    _make_accounts(data)
    port = _free_port()
    log = data / "server.log"
    env = {key: value for key, value in os.environ.items() if not key.startswith("FILEWALL_")}
    env["PYTHONUNBUFFERED"] = "1"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(data), str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(ROOT),
            start_new_session=True,  # its own process group: the scanning workers go with it
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"the desk did not start:\n{log.read_text(errors='replace')[-3000:]}")
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the desk did not answer /healthz:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.3)
        yield Desk(url, data, log)
    finally:
        _stop_group(process)


def _stop_group(process: subprocess.Popen) -> None:
    """Stop the server and everything it started (its process group, by the group's id)."""
    group = process.pid  # the leader of the session it was started in
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    try:  # workers that outlived the server
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="session")
def browser():
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"Chromium is missing ({CHROMIUM}): run scripts/test (it installs Debian's chromium)")
    import playwright.sync_api as sync_api
    with sync_api.sync_playwright() as playwright:
        # launch() gives every run a fresh, temporary profile (its own --user-data-dir).
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def shot():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str, full_page: bool = True) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take


@pytest.fixture
def publish():
    """Copy a screenshot for the README, shrunk (palette, then smaller) under ``max_bytes``."""
    from PIL import Image

    def copy(source: Path, target: Path, max_bytes: int = 300_000, width: int | None = None) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        image = Image.open(source).convert("RGB")
        scale = min(1.0, width / image.width) if width else 1.0
        while True:
            size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
            frame = image.resize(size, Image.LANCZOS) if scale < 1 else image
            frame.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(
                target, format="PNG", optimize=True
            )
            if target.stat().st_size < max_bytes or scale < 0.3:
                return target
            scale *= 0.85

    return copy
