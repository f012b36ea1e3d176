"""The quarantine: real files, real SQLite index, real crashes (SIGKILL at hook points in a
child process), then recovery: the file exists exactly once, byte-identical."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from filewall.desktop.quarantine import CRASH_ENV, FileChanged, Quarantine, QuarantineError, RestoreRefused

ROOT = Path(__file__).resolve().parents[2]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _objects(quarantine: Quarantine) -> list[Path]:
    root = quarantine.store.root
    return [path for path in root.glob("??/??/*") if path.is_file()]


@pytest.fixture
def sample(tmp_path, pe_bytes):
    folder = tmp_path / "WeChat Files" / "wxid_abc" / "FileStorage" / "File" / "2026-11"
    folder.mkdir(parents=True)
    path = folder / "设计图.jpg.exe"
    data = pe_bytes + b"customer-specific tail"
    path.write_bytes(data)
    os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_123_456_789))
    os.chmod(path, 0o640)
    return path, data


def test_move_then_restore_is_byte_identical(tmp_path, sample):
    path, data = sample
    quarantine = Quarantine(tmp_path / "data").open()
    entry = quarantine.quarantine(path, {"verdict": "malicious", "summary": "a program", "tree": {"sha256": _sha(data)}})
    assert entry.state == "quarantined" and entry.sha256 == _sha(data)
    assert not path.exists()
    [stored] = _objects(quarantine)
    assert stored.read_bytes() == data and stored.name == _sha(data)
    assert [item.id for item in quarantine.list()] == [entry.id]
    assert quarantine.report(entry.id)["verdict"] == "malicious"

    restored = quarantine.restore(entry.id)
    assert restored.state == "restored"
    assert path.read_bytes() == data
    info = path.stat()
    assert info.st_mtime_ns == 1_700_000_000_123_456_789
    assert info.st_mode & 0o777 == 0o640
    assert _objects(quarantine) == []  # nothing else refers to that copy
    assert quarantine.list() == [] and len(quarantine.list(include_closed=True)) == 1
    assert quarantine.is_released(path, _sha(data))


def test_restore_refuses_to_overwrite_a_different_file(tmp_path, sample):
    path, data = sample
    quarantine = Quarantine(tmp_path / "data").open()
    entry = quarantine.quarantine(path)
    path.write_bytes(b"a new file with the same name")
    with pytest.raises(RestoreRefused, match="different file now exists"):
        quarantine.restore(entry.id)
    assert path.read_bytes() == b"a new file with the same name"
    assert quarantine.get(entry.id).state == "quarantined"
    path.unlink()
    quarantine.restore(entry.id)
    assert path.read_bytes() == data


def test_restore_recreates_a_removed_folder_and_accepts_the_same_file(tmp_path, sample):
    path, data = sample
    quarantine = Quarantine(tmp_path / "data").open()
    first = quarantine.quarantine(path)
    path.parent.rmdir()
    quarantine.restore(first.id)
    assert path.read_bytes() == data
    second = quarantine.quarantine(path)
    path.write_bytes(data)  # the same bytes came back by another way
    assert quarantine.restore(second.id).note == "the same file was already back in place"


def test_delete_keeps_a_copy_another_entry_still_needs(tmp_path, sample):
    path, data = sample
    quarantine = Quarantine(tmp_path / "data").open()
    first = quarantine.quarantine(path)
    path.write_bytes(data)
    second = quarantine.quarantine(path)
    assert len(_objects(quarantine)) == 1  # content-addressed: one copy
    assert quarantine.delete(first.id).state == "deleted"
    assert len(_objects(quarantine)) == 1
    quarantine.restore(second.id)
    assert path.read_bytes() == data and _objects(quarantine) == []
    with pytest.raises(QuarantineError):
        quarantine.delete(first.id)
    with pytest.raises(QuarantineError, match="no quarantine entry"):
        quarantine.get("nope")


def test_a_file_changed_since_its_scan_is_left_alone(tmp_path, sample):
    path, data = sample
    quarantine = Quarantine(tmp_path / "data").open()
    with pytest.raises(FileChanged):
        quarantine.quarantine(path, {"verdict": "malicious", "tree": {"sha256": "0" * 64}})
    assert path.read_bytes() == data
    assert quarantine.list() == [] and _objects(quarantine) == []


def _move_in_child(data_dir: Path, path: Path, crash_at: str, operation: str = "quarantine", entry: int = 0) -> int:
    code = textwrap.dedent(f"""
        from filewall.desktop.quarantine import Quarantine
        q = Quarantine({str(data_dir)!r}).open()
        if {operation!r} == "quarantine":
            q.quarantine({str(path)!r})
        else:
            q.restore({entry})
    """)
    env = {**os.environ, CRASH_ENV: crash_at, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], env=env, timeout=120).returncode


@pytest.mark.parametrize("crash_at", ["after_stage", "after_copy", "after_index", "after_delete"])
def test_a_crash_during_the_move_loses_nothing(tmp_path, sample, crash_at):
    path, data = sample
    data_dir = tmp_path / "data"
    assert _move_in_child(data_dir, path, crash_at) == -signal.SIGKILL

    quarantine = Quarantine(data_dir).open()  # opening runs recovery
    in_place = path.exists()
    copies = [item for item in _objects(quarantine) if item.read_bytes() == data]
    live = quarantine.list()
    assert in_place + len(live) == 1, (crash_at, in_place, live)  # exactly once
    assert len(copies) == len(live)
    if in_place:
        assert path.read_bytes() == data
    else:
        assert live[0].state == "quarantined"
        quarantine.restore(live[0].id)
        assert path.read_bytes() == data
    assert list((data_dir / "quarantine" / "objects" / "tmp").iterdir()) == []


def test_a_crash_during_restore_loses_nothing(tmp_path, sample):
    path, data = sample
    data_dir = tmp_path / "data"
    entry = Quarantine(data_dir).open().quarantine(path)
    assert _move_in_child(data_dir, path, "restore_after_copy", "restore", entry.id) == -signal.SIGKILL
    assert not path.exists()
    assert list(path.parent.glob(".filewall-restore-*")), "the crash left the restore's temp file"
    quarantine = Quarantine(data_dir).open()
    assert list(path.parent.glob(".filewall-restore-*")) == []
    assert quarantine.get(entry.id).state == "quarantined"
    quarantine.restore(entry.id)
    assert path.read_bytes() == data


def test_quarantine_cli_list_restore_delete(tmp_path, sample):
    path, data = sample
    data_dir = tmp_path / "data"
    quarantine = Quarantine(data_dir).open()
    entry = quarantine.quarantine(path, {"verdict": "malicious", "summary": "bad", "summary_zh": "坏"})
    other = tmp_path / "other.exe"
    other.write_bytes(data + b"!")
    second = quarantine.quarantine(other)

    def cli(*args):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "LANG": "C.UTF-8"}
        return subprocess.run([sys.executable, "-m", "filewall", "quarantine", *args, "--data", str(data_dir)],
                              capture_output=True, text=True, env=env, timeout=120)

    listed = cli("list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [item["name"] for item in json.loads(listed.stdout)] == ["设计图.jpg.exe", "other.exe"]
    human = cli("list")
    assert "设计图.jpg.exe" in human.stdout and "bad" in human.stdout
    restored = cli("restore", str(entry.id), "--json")
    assert restored.returncode == 0 and json.loads(restored.stdout)["state"] == "restored"
    assert path.read_bytes() == data
    again = cli("restore", str(entry.id))
    assert again.returncode == 2 and "restored, not in quarantine" in again.stderr
    other.write_bytes(b"different")
    refused = cli("restore", str(second.id))
    assert refused.returncode == 2 and "did not overwrite" in refused.stderr
    deleted = cli("delete", str(second.id), "--json")
    assert json.loads(deleted.stdout)["state"] == "deleted"
    assert other.read_bytes() == b"different"
