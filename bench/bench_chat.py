"""Time per conversation of :func:`filewall.chat.analyze_chat` (target: under 5 ms).

Runs the labelled corpus (``tests/chat/corpus``) many times after a warm-up, and a long
synthetic export (every corpus conversation concatenated, ~1,000 lines) as a worst case.

    .venv/bin/python bench/bench_chat.py [--rounds N] [--json]

Timing is reported, never asserted: the unit tests stay independent of the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from filewall.chat import analyze_chat  # noqa: E402

CORPUS = ROOT / "tests" / "chat" / "corpus"


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def _time_each(texts: list[str], rounds: int) -> tuple[list[float], list[float]]:
    """Milliseconds per call, wall clock and this thread's CPU time, one sample per (round, text).

    CPU time is reported next to wall time because a shared 2-core machine makes wall time
    include waiting for a core.
    """
    wall, cpu = [], []
    for _ in range(rounds):
        for text in texts:
            start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
            analyze_chat(text)
            cpu.append((time.thread_time_ns() - start_cpu) / 1e6)
            wall.append((time.perf_counter_ns() - start) / 1e6)
    return wall, cpu


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "mean_ms": round(statistics.fmean(ordered), 3),
        "median_ms": round(ordered[len(ordered) // 2], 3),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1], 3),
        "max_ms": round(ordered[-1], 3),
        "calls": len(ordered),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    texts = [path.read_text("utf-8") for path in sorted(CORPUS.glob("*/*.txt"))]
    long_export = "\n".join(texts)
    for text in texts:  # warm-up: compiled patterns and per-character caches
        analyze_chat(text)

    corpus_wall, corpus_cpu = _time_each(texts, args.rounds)
    long_wall, long_cpu = _time_each([long_export], max(5, args.rounds // 20))
    corpus, long = _summary(corpus_wall), _summary(long_wall)
    memory = _memory_gib()
    report = {
        "machine": {
            "cpu": _cpu(),
            "cores": os.cpu_count(),
            "memory_gib": round(memory, 1) if memory else None,
            "python": platform.python_version(),
        },
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "corpus": {
            "conversations": len(texts),
            "avg_chars": round(statistics.fmean(map(len, texts))),
            "wall": corpus,
            "cpu": _summary(corpus_cpu),
        },
        "long_export": {
            "lines": long_export.count("\n") + 1,
            "chars": len(long_export),
            "wall": long,
            "cpu": _summary(long_cpu),
        },
    }
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return 0
    machine = report["machine"]
    print(
        f"machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, "
        f"Python {machine['python']}, load average {report['load_average']}"
    )
    for name, label in (("corpus", "per conversation"), ("long_export", "long export")):
        part = report[name]
        size = (
            f"{part['conversations']} conversations, avg {part['avg_chars']} chars"
            if name == "corpus"
            else (f"{part['lines']} lines, {part['chars']} chars")
        )
        print(f"{label} ({size}, {part['wall']['calls']} calls):")
        for clock in ("wall", "cpu"):
            numbers = part[clock]
            print(
                f"  {clock:4s} mean {numbers['mean_ms']} ms, median {numbers['median_ms']} ms, "
                f"p95 {numbers['p95_ms']} ms, max {numbers['max_ms']} ms"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
