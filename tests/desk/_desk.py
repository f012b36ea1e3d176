"""Helpers for the desk tests: samples built from harmless parts, real servers."""

from __future__ import annotations

import io
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx

#: Small limits so that the limit tests stay cheap.
MAX_UPLOAD_MB = 2
MAX_FILES = 5
PASSWORD = "correct horse battery"


# -- samples ----------------------------------------------------------------------------------------
def lure_zip(pe: bytes, size: int = 200 * 1024, seed: bytes | None = None) -> bytes:
    """A lure of ``size`` bytes: 设计图.jpg.exe (a real, harmless PE, deflated) beside a
    'photo' of random bytes (stored) that pads the archive to the size asked for."""

    def build(photo: bytes) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("定制需求/设计图.jpg.exe", pe, compress_type=zipfile.ZIP_DEFLATED)
            archive.writestr("定制需求/产品照片.jpg", photo, compress_type=zipfile.ZIP_STORED)
        return buffer.getvalue()

    head = seed or secrets.token_bytes(16)
    overhead = len(build(head))
    return build(head + os.urandom(max(0, size - overhead)))


def aes_zip(pe: bytes, password: bytes = b"8866") -> bytes:
    import pyzipper

    buffer = io.BytesIO()
    with pyzipper.AESZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, encryption=pyzipper.WZ_AES) as archive:
        archive.setpassword(password)
        archive.writestr("效果图.pdf.exe", pe)
    return buffer.getvalue()


# -- real servers ----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``filewall serve`` in its own process (the way a user starts it)."""

    def __init__(self, data_dir: Path, db_url: str, workers: int = 1):
        self.data_dir, self.db_url, self.workers = data_dir, db_url, workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log = data_dir / "server.log"

    def start(self, timeout: float = 90) -> Server:
        env = {**os.environ, "FILEWALL_MAX_UPLOAD_MB": str(MAX_UPLOAD_MB), "FILEWALL_DATABASE_URL": self.db_url}
        env.pop("FILEWALL_DATA", None)
        command = [sys.executable, "-m", "filewall", "serve", "--data", str(self.data_dir), "--host", "127.0.0.1",
                   "--port", str(self.port), "--workers", str(self.workers), "--log-level", "warning"]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"filewall serve exited: {self.log.read_text(errors='replace')[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"filewall serve did not come up: {self.log.read_text(errors='replace')[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the whole process group: the server and its scanning processes."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


