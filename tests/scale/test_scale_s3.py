"""Samples in S3-compatible storage (``FILEWALL_STORAGE_URL=s3://bucket/prefix?...``).

No real S3 or MinIO can run on this machine, so the storage is tested against moto's
standalone server: an S3-compatible HTTP server process that stores objects, spoken to by
the real boto3 client over loopback, exactly as a MinIO or Ceph endpoint would be.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
import urllib.request

import pytest
from _scale import free_port

from filewall.queue import QueueConfig, S3Storage, open_storage


@pytest.fixture
def s3_endpoint(monkeypatch):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail("the S3-compatible test server did not start")
            time.sleep(0.2)
    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}.items():
        monkeypatch.setenv(name, value)
    yield url
    server.terminate()
    server.wait(timeout=10)


def test_samples_round_trip_through_s3_storage(s3_endpoint, pe_bytes):
    url = f"s3://filewall-samples/shop-a?endpoint_url={s3_endpoint}&region=us-east-1"
    storage = S3Storage(url)
    storage.client.create_bucket(Bucket="filewall-samples")

    stored = storage.put_bytes(pe_bytes)
    assert stored.sha256 == hashlib.sha256(pe_bytes).hexdigest() and stored.created
    assert storage.exists(stored.sha256)
    assert storage.put_bytes(pe_bytes).created is False  # content-addressed: kept once
    key = storage.key_for(stored.sha256)
    assert key == f"shop-a/{stored.sha256[:2]}/{stored.sha256[2:4]}/{stored.sha256}"

    with storage.local_path(stored.sha256) as path, open(path, "rb") as handle:
        assert handle.read() == pe_bytes
    assert not storage.exists("0" * 64)


def test_storage_is_chosen_by_configuration(s3_endpoint, tmp_path):
    config = QueueConfig(
        data_dir=tmp_path, storage_url=f"s3://bucket-b?endpoint_url={s3_endpoint}&region=us-east-1"
    )
    storage = open_storage(config)
    assert isinstance(storage, S3Storage) and storage.describe() == "s3://bucket-b"
