"""Time and memory of scanning decompression bombs and a padded program, with the real CLI.

    .venv/bin/python bench/bench_bomb.py [--workers 1]

Each sample is built in a temp folder (see ``corpus.write_zero_bomb``: a valid zip64
whose deflate stream is one 64 MiB block of zeros repeated), then scanned with
``filewall scan --json`` (the supervised pool), measuring wall time and the peak memory
of the whole process tree (psutil, every 20 ms). Target: each within 10 s and 300 MB.

Samples:
- ``bomb-6GiB``: one member of 6 GiB of zeros (declares its size: sampled, not inflated);
- ``bomb-6x1GiB``: six members of 1 GiB each;
- ``bomb-24x256MiB``: 24 members of 256 MiB each, every one under the 400 MiB per-object
  limit, so the engine really inflates (and hashes, and YARA-scans) until the 1 GiB
  total budget: the honest worst case for time;
- ``padded-exe-300MiB``: a real PE plus 300 MiB of zeros in a 300 KB zip; must be read
  and hashed in full (blocklists hash the whole file).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_scan import run_measured, versions  # noqa: E402
from corpus import GiB, MiB, launcher_programs, write_zero_bomb  # noqa: E402


def padded_program_zip(path: Path, pad: int = 300 * MiB) -> None:
    program = dict(launcher_programs())["pip/t64.exe"]
    zeros = bytes(16 * MiB)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("产品图片.jpg.exe", "w", force_zip64=True) as member,
    ):
        member.write(program)
        left = pad
        while left > 0:
            member.write(zeros[: min(left, len(zeros))])
            left -= len(zeros)


def main() -> int:
    parser = argparse.ArgumentParser(description="filewall on zip bombs and a padded program")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", default=str(HERE / "out"))
    args = parser.parse_args()
    filewall = str(Path(sys.executable).parent / "filewall")
    rows = []
    with tempfile.TemporaryDirectory(prefix="fw-bomb-") as temp:
        samples = {
            "bomb-6GiB": lambda p: write_zero_bomb(p, 6 * GiB, 1, "高清大图.bmp"),
            "bomb-6x1GiB": lambda p: write_zero_bomb(p, 1 * GiB, 6, "图片.bmp"),
            "bomb-24x256MiB": lambda p: write_zero_bomb(p, 256 * MiB, 24, "原图.tif"),
            "padded-exe-300MiB": padded_program_zip,
        }
        for label, build in samples.items():
            path = Path(temp) / f"{label}.zip"
            started = time.perf_counter()
            build(path)
            built = time.perf_counter() - started
            out = Path(temp) / f"{label}.jsonl"
            with open(out, "wb") as stdout:
                run = run_measured(
                    [filewall, "scan", "--json", "--workers", str(args.workers), str(path)], stdout
                )
            report = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
            declared = sum(
                child.get("size") or 0 for child in report["tree"]["children"]
            )  # bytes actually read from members
            row = {
                "sample": label,
                "zip_bytes": path.stat().st_size,
                "build_s": round(built, 2),
                "scan_wall_s": round(run.wall, 2),
                "scan_cpu_s": round(run.cpu, 2),
                "loadavg_before": round(run.load, 2),
                "engine_ms": report["elapsed_ms"],
                "exit": run.code,
                "verdict": report["verdict"],
                "rules": sorted({finding["rule"] for finding in report["findings"]}),
                "members_read_bytes": declared,
                "peak_rss_tree_mb": round(run.peak / 1e6, 1),
                "peak_anon_tree_mb": round(run.peak_anon / 1e6, 1),
                "peak_pss_tree_mb": round(run.peak_pss / 1e6, 1),
            }
            rows.append(row)
            print(
                f"{label:18} zip {row['zip_bytes'] / 1e6:6.2f} MB  scan {run.wall:6.2f} s, {run.cpu:6.2f} CPU-s (engine "
                f"{row['engine_ms'] / 1000:6.2f} s)  peak RSS {row['peak_rss_tree_mb']:6.1f} MB "
                f"(anon {row['peak_anon_tree_mb']:6.1f}, PSS {row['peak_pss_tree_mb']:6.1f} MB)  read {declared / 2**20:7.1f} MiB  "
                f"{row['verdict']}: {', '.join(row['rules'])}",
                flush=True,
            )
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": versions(),
        "workers": args.workers,
        "rows": rows,
    }
    target = out_dir / f"bench-bomb-{time.strftime('%Y%m%d-%H%M%S')}.json"
    target.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"figures written to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
