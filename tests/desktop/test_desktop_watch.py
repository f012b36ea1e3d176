"""The watcher on real temp folders with real watchdog observers: a lure archive built here
(a real PE inside a ZIP) is quarantined, a clean picture is left alone, a file written
slowly is scanned once and complete, renamed temp files and folders dropped in are
caught, and a restored file is not taken away again. Nothing is executed."""

from __future__ import annotations

import io
import os
import shutil
import threading
import time
import zipfile

import pytest

from filewall.desktop.notify import Notifier, notify_send_command
from filewall.desktop.quarantine import Quarantine
from filewall.desktop.tray import TrayState, icon_image
from filewall.desktop.watch import Watcher, WatchEvent

DEADLINE = 60.0  # generous: CI machines can be slow; the usual delay is measured in bench/bench_watch.py
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")


def lure_zip(pe_bytes: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("定制需求/设计图.jpg.exe", pe_bytes)
        archive.writestr("定制需求/说明.txt", "尺寸 30x40cm，解压密码 8866".encode())
    return buffer.getvalue()


class Events:
    def __init__(self):
        self.items: list[WatchEvent] = []
        self.lock = threading.Condition()

    def __call__(self, event: WatchEvent) -> None:
        with self.lock:
            self.items.append(event)
            self.lock.notify_all()

    def wait_for(self, name: str, timeout: float = DEADLINE) -> WatchEvent:
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                for event in self.items:
                    if os.path.basename(event.path) == name:
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no event for {name} within {timeout}s: {[e.path for e in self.items]}")
                self.lock.wait(left)

    def named(self, name: str) -> list[WatchEvent]:
        with self.lock:
            return [event for event in self.items if os.path.basename(event.path) == name]


@pytest.fixture
def setup(tmp_path):
    inbox = tmp_path / "FileRecv"
    inbox.mkdir()
    quarantine = Quarantine(tmp_path / "data").open()
    events = Events()
    return inbox, quarantine, events


def _watch(inbox, quarantine, events, **options):
    return Watcher([inbox], quarantine, on_event=events, workers=1, **options)


def test_lure_archive_is_quarantined_and_a_picture_left_alone(setup, pe_bytes):
    inbox, quarantine, events = setup
    data = lure_zip(pe_bytes)
    with _watch(inbox, quarantine, events) as watcher:
        assert watcher.observer_kind == "InotifyObserver"
        (inbox / "定制需求.zip").write_bytes(data)
        (inbox / "商品照片.png").write_bytes(PNG)
        blocked = events.wait_for("定制需求.zip")
        clean = events.wait_for("商品照片.png")
    assert blocked.verdict == "malicious" and blocked.action == "quarantined"
    assert not (inbox / "定制需求.zip").exists()
    assert clean.action == "clean" and (inbox / "商品照片.png").read_bytes() == PNG
    [entry] = quarantine.list()
    assert entry.id == blocked.entry_id and entry.original_path == str(inbox / "定制需求.zip")
    assert "设计图.jpg.exe" in entry.summary

    quarantine.restore(entry.id)
    assert (inbox / "定制需求.zip").read_bytes() == data


def test_restored_file_is_not_taken_away_again(setup, pe_bytes):
    inbox, quarantine, events = setup
    data = lure_zip(pe_bytes)
    with _watch(inbox, quarantine, events):
        (inbox / "a.zip").write_bytes(data)
        first = events.wait_for("a.zip")
        quarantine.restore(first.entry_id)
        # a later change makes it a candidate again: judged, reported, left in place
        with open(inbox / "a.zip", "ab"):
            pass
        os.utime(inbox / "a.zip")
        deadline = time.monotonic() + DEADLINE
        while len(events.named("a.zip")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert [event.action for event in events.named("a.zip")] == ["quarantined", "released"]
    assert (inbox / "a.zip").read_bytes() == data


def test_a_file_written_slowly_is_scanned_once_and_complete(setup, pe_bytes):
    inbox, quarantine, events = setup
    data = lure_zip(pe_bytes)
    chunks = [data[index : index + 512] for index in range(0, len(data), 512)]
    with _watch(inbox, quarantine, events, settle=0.5):
        with open(inbox / "slow.zip", "wb") as handle:
            for chunk in chunks[:12]:
                handle.write(chunk)
                handle.flush()
                time.sleep(0.15)  # longer in all than the settle time; the file stays open
            handle.write(b"".join(chunks[12:]))
        event = events.wait_for("slow.zip")
        time.sleep(1.5)  # room for a second (wrong) scan to show up
    assert len(events.named("slow.zip")) == 1
    assert event.report["tree"]["size"] == len(data)
    assert event.action == "quarantined"
    assert quarantine.object_path(event.report["tree"]["sha256"]).read_bytes() == data


def test_renamed_download_and_dropped_folder(setup, pe_bytes, tmp_path):
    inbox, quarantine, events = setup
    data = lure_zip(pe_bytes)
    outside = tmp_path / "unpacked"
    (outside / "inner").mkdir(parents=True)
    (outside / "inner" / "发票.pdf.exe").write_bytes(pe_bytes)
    (outside / "readme.txt").write_text("hello")
    with _watch(inbox, quarantine, events):
        partial = inbox / "订单.zip.crdownload"
        partial.write_bytes(data)
        partial.rename(inbox / "订单.zip")
        shutil.move(str(outside), str(inbox / "unpacked"))
        renamed = events.wait_for("订单.zip")
        dropped = events.wait_for("发票.pdf.exe")
        readme = events.wait_for("readme.txt")
    assert renamed.action == "quarantined"
    assert events.named("订单.zip.crdownload") == []  # judged under its final name only
    assert dropped.action == "quarantined" and not (inbox / "unpacked" / "inner" / "发票.pdf.exe").exists()
    assert readme.action == "clean"


def test_polling_fallback_finds_files_too(setup, pe_bytes):
    inbox, quarantine, events = setup
    with _watch(inbox, quarantine, events, poll=True, poll_interval=0.2, settle=0.4) as watcher:
        assert watcher.observer_kind == "PollingObserver"
        (inbox / "x.zip").write_bytes(lure_zip(pe_bytes))
        assert events.wait_for("x.zip").action == "quarantined"


def test_existing_files_and_ignored_data_folder(tmp_path, pe_bytes):
    inbox = tmp_path / "Downloads"
    inbox.mkdir()
    (inbox / "old.zip").write_bytes(lure_zip(pe_bytes))
    quarantine = Quarantine(inbox / ".filewall-data").open()  # data folder inside the watched one
    events = Events()
    with Watcher([inbox], quarantine, on_event=events, scan_existing=True):
        assert events.wait_for("old.zip").action == "quarantined"
        time.sleep(1.0)
    assert all(".filewall-data" not in event.path for event in events.items)


def test_notify_send_gets_names_as_plain_arguments(tmp_path, monkeypatch):
    """A stand-in notify-send (a real program on PATH) records its arguments."""
    record = tmp_path / "args.txt"
    program = tmp_path / "bin" / "notify-send"
    program.parent.mkdir()
    program.write_text(f'#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done > {record}\n')
    program.chmod(0o755)
    monkeypatch.setenv("PATH", f"{program.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("DISPLAY", ":99")
    title, message = "filewall blocked -rf.zip", "<b>x</b> & $(reboot)"
    command = notify_send_command(title, message, "danger")
    assert command[-3:] == ["--", title, "&lt;b&gt;x&lt;/b&gt; &amp; $(reboot)"]
    Notifier(desktop=True).notify(title, message, "danger")
    deadline = time.monotonic() + 10
    while not record.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    assert record.read_text().splitlines() == [
        "--app-name=filewall", "--urgency=critical", "--", title, "&lt;b&gt;x&lt;/b&gt; &amp; $(reboot)"]
    monkeypatch.delenv("DISPLAY")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    assert notify_send_command(title, message) is None  # no desktop session: log and console only


def test_tray_state_and_icon():
    state = TrayState(language="zh")
    assert "防护已开启" in state.title() and state.last_blocked_line() == "还没有拦截任何文件"
    event = WatchEvent("/x/设计图\u202egpj.exe", "malicious", "quarantined", {})
    assert state.update(event) and state.alert
    assert "设计图[RLO]gpj.exe" in state.title() and len(state.title()) <= 127
    assert not state.update(WatchEvent("/x/a.png", "clean", "clean", {}))
    assert icon_image(True).getpixel((32, 20))[:3] != icon_image(False).getpixel((32, 20))[:3]
