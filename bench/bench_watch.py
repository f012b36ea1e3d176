"""How long from the last write of a file to its quarantine (or its clean verdict).

A real watcher (watchdog's native observer, then the polling fallback) on a temp folder;
a writer drops lure archives (a real PE inside a ZIP, built here; nothing is run) and
small pictures, one at a time, and notes when it closed each file. The delay is the
watcher's event time minus that close time: waiting for the write to finish, scanning
in the process pool, and for a lure the copy-verify-delete move into quarantine.

    .venv/bin/python bench/bench_watch.py [--files 30] [--json bench/out/watch.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from filewall.desktop.quarantine import Quarantine  # noqa: E402
from filewall.desktop.watch import Watcher, WatchEvent  # noqa: E402

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")


def pe_bytes() -> bytes:
    spec = importlib.util.find_spec("pip")
    return Path(next(iter(spec.submodule_search_locations)), "_vendor", "distlib", "t64.exe").read_bytes()


def lure() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("定制需求/设计图.jpg.exe", pe_bytes())
        archive.writestr("定制需求/说明.txt", "解压密码 8866".encode())
    return buffer.getvalue()


def run(mode: str, files: int, gap: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-watch-") as tmp:
        inbox = Path(tmp) / "FileRecv"
        inbox.mkdir()
        quarantine = Quarantine(Path(tmp) / "data").open()
        done: dict[str, tuple[float, str]] = {}
        ready = threading.Condition()

        def on_event(event: WatchEvent) -> None:
            with ready:
                done[os.path.basename(event.path)] = (time.monotonic(), event.action)
                ready.notify_all()

        options = {"poll": True, "poll_interval": 0.25, "settle": 0.5} if mode == "polling" else {}
        data = lure()
        closed: dict[str, float] = {}
        with Watcher([inbox], quarantine, on_event=on_event, workers=1, **options) as watcher:
            time.sleep(0.5)  # observer and pool up
            for index in range(files):
                for name, payload in ((f"lure{index:03d}.zip", data), (f"photo{index:03d}.png", PNG)):
                    with open(inbox / name, "wb") as handle:
                        handle.write(payload)
                    closed[name] = time.monotonic()
                    time.sleep(gap)
            deadline = time.monotonic() + 120
            with ready:
                while len(done) < len(closed) and time.monotonic() < deadline:
                    ready.wait(0.5)
            kind = watcher.observer_kind
        lures = [done[name][0] - closed[name] for name in closed if name.startswith("lure") and name in done]
        photos = [done[name][0] - closed[name] for name in closed if name.startswith("photo") and name in done]
        actions = {name: done[name][1] for name in done}
        assert all(action == "quarantined" for name, action in actions.items() if name.startswith("lure")), actions
        assert all(action == "clean" for name, action in actions.items() if name.startswith("photo")), actions
        return {"mode": mode, "observer": kind, "files": files, "lure": _stats(lures), "picture": _stats(photos),
                "missed": len(closed) - len(done)}


def _stats(values: list[float]) -> dict:
    values = sorted(values)
    if not values:
        return {}
    return {
        "n": len(values),
        "median_ms": round(statistics.median(values) * 1000, 1),
        "p90_ms": round(values[int(0.9 * (len(values) - 1))] * 1000, 1),
        "max_ms": round(values[-1] * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=30)
    parser.add_argument("--gap", type=float, default=0.3, help="seconds between two files")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    results = {"machine": {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count()},
               "runs": [run("native", args.files, args.gap), run("polling", max(5, args.files // 3), args.gap)]}
    for item in results["runs"]:
        print(f"{item['mode']:8} ({item['observer']}): lure → quarantined {item['lure']}, "
              f"picture → clean {item['picture']}, missed {item['missed']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
