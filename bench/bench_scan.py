"""Throughput of ``filewall scan --json`` over a mixed customer corpus, next to clamscan.

One command:

    .venv/bin/python bench/bench_scan.py [--files 2000 --size-mb 1024] [--dir FOLDER]

1. Generates (or reuses) the deterministic corpus of ``bench/corpus.py`` in ``--dir``
   (default ``.cache/bench-corpus``), then reads every file once so both scanners start
   from the page cache.
2. Runs the real CLI, ``filewall scan --json FOLDER`` (the supervised pool, one worker per
   core), polling the RSS of its whole process tree with psutil every 20 ms.
3. Runs ``clamscan -r -i`` (one process, one thread: that is how clamscan works) over
   the same folder with a hash database made for this corpus (see :func:`write_clam_db`),
   polled the same way.
4. Prints files/s, MB/s, peak memory and the ratio, checks the verdicts (every lure
   malicious, every other file clean) and writes the figures to ``bench/out/``.

What "MB/s" counts: **uncompressed bytes scanned** = the sum of ``size`` over every node
of every report tree (each input file plus everything unpacked from it, at every depth),
divided by the wall time of the whole command (start-up included). Input bytes on disk
are printed too. clamscan's own "Data scanned" figure is shown for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from corpus import MiB, generate  # noqa: E402


class TreeSampler:
    """Peak resident memory of a process and all its descendants, sampled every 20 ms.

    ``peak`` is the largest sum of RSS over the tree (pages shared between the forked
    workers are counted once per process, so this over-states); ``peak_anon`` the largest
    sum of anonymous memory (RSS minus file-backed pages, i.e. heap, without the mapped
    temp files and shared libraries). ``peak_pss`` is the largest sum of PSS (Linux
    ``smaps_rollup``: each shared page divided among the processes sharing it), the real
    memory of the tree; 0 where the kernel does not provide it.

    The sampler shares the two cores with what it measures, so it is kept cheap: the
    process list (a walk of all of /proc) is refreshed every 0.5 s, PSS (the kernel walks
    the page tables) every 0.24 s, RSS every 20 ms; ``cpu`` is its own CPU time.
    """

    LIST_EVERY = 25  # samples (0.5 s)
    PSS_EVERY = 12  # samples (0.24 s): the kernel walks every page table for it

    def __init__(self, pid: int, interval: float = 0.02):
        self.pid, self.interval = pid, interval
        self.peak = 0
        self.peak_anon = 0
        self.peak_pss = 0
        self.peak_processes = 0
        self.cpu = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        started = time.thread_time()
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        processes: list[psutil.Process] = []
        sample = 0
        while not self._stop.is_set():
            if sample % self.LIST_EVERY == 0:
                try:
                    processes = [root, *root.children(recursive=True)]
                except psutil.Error:
                    break
            self._sample(processes, with_pss=sample % self.PSS_EVERY == 0)
            sample += 1
            self._stop.wait(self.interval)
        self.cpu = time.thread_time() - started

    def _sample(self, processes: list[psutil.Process], with_pss: bool) -> None:
        total, anon, pss, count = 0, 0, 0, 0
        for process in processes:
            try:
                info = process.memory_info()
            except psutil.Error:
                continue
            total += info.rss
            anon += info.rss - info.shared
            pss += _pss(process.pid) if with_pss else 0
            count += 1
        if total > self.peak:
            self.peak, self.peak_processes = total, count
        self.peak_anon = max(self.peak_anon, anon)
        self.peak_pss = max(self.peak_pss, pss)


def _pss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
            for line in handle:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


@dataclass
class Run:
    wall: float  # seconds
    code: int
    peak: int  # bytes, sum of RSS over the process tree
    peak_anon: int  # bytes, sum of anonymous memory over the tree
    peak_pss: int  # bytes, sum of PSS over the tree (shared pages split), 0 if unknown
    processes: int
    cpu: float  # user + system seconds of the process and every descendant it waited for
    load: float  # 1-minute load average just before the run (other work on the machine)
    sampler_cpu: float  # CPU seconds the memory sampler itself took from the same cores


def run_measured(command: list[str], stdout) -> Run:
    """Run ``command`` with its stdout to ``stdout``; measure wall, CPU and peak memory.

    CPU time comes from ``os.wait4`` (the kernel's rusage for the child and every process
    it waited for, e.g. the pool's workers): unlike wall time it barely moves when other
    work shares the machine, so it is reported next to wall time.
    """
    load = os.getloadavg()[0]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE)
    with TreeSampler(process.pid) as sampler:
        err = process.stderr.read()
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if process.returncode not in (0, 1) or (hasattr(stdout, "tell") and stdout.tell() == 0):
        sys.stderr.write(
            f"{command[0]} exited {process.returncode}:\n" + err.decode(errors="replace")[-3000:]
        )
    return Run(
        wall, process.returncode, sampler.peak, sampler.peak_anon, sampler.peak_pss, sampler.peak_processes,
        usage.ru_utime + usage.ru_stime, load, sampler.cpu,
    )  # fmt: skip


def write_clam_db(manifest: dict, path: Path) -> int:
    """A ClamAV ``.hsb`` database for this corpus: ``sha256:size:name`` lines.

    It holds the SHA-256 of every program planted in the lure zips (so clamscan must
    unpack each zip and hash each member to find them, as filewall does), plus one line
    per generated file with the hash of a *different* content of the same size, so the
    database is as large as the corpus and every file size is looked up, while no benign
    file matches (a match would let clamscan stop early and skip unpacking).
    """
    import hashlib

    lines = [
        f"{info['sha256']}:{info['size']}:Filewall.Bench.Lure.{label.replace('/', '.')}"
        for label, info in manifest["programs"].items()
    ]
    for index, item in enumerate(manifest["items"]):
        decoy = hashlib.sha256(f"not-in-corpus-{index}".encode()).hexdigest()
        lines.append(f"{decoy}:{item['size']}:Filewall.Bench.Decoy.{index}")
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return len(lines)


def warm_cache(folder: Path) -> int:
    total = 0
    for dirpath, _, names in os.walk(folder):
        for name in names:
            with open(os.path.join(dirpath, name), "rb") as handle:
                while chunk := handle.read(8 * MiB):
                    total += len(chunk)
    return total


def tree_stats(tree: dict) -> tuple[int, int]:
    nodes, size, stack = 0, 0, [tree]
    while stack:
        node = stack.pop()
        nodes += 1
        size += node.get("size") or 0
        stack.extend(node.get("children", ()))
    return nodes, size


def versions() -> dict:
    import filewall

    clam = ""
    if shutil.which("clamscan"):
        clam = subprocess.run(["clamscan", "--version"], capture_output=True, text=True).stdout.strip()
    cpu = ""
    try:
        cpu_lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next(line.split(":", 1)[1].strip() for line in cpu_lines if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "filewall": filewall.__version__,
        "python": platform.python_version(),
        "clamscan": clam,
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        # Other work on the machine skews every figure: recorded with each run.
        "loadavg_1_5_15": [round(value, 2) for value in os.getloadavg()],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description="filewall vs clamscan throughput on a mixed corpus")
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=20240518)
    parser.add_argument("--dir", default=str(ROOT / ".cache" / "bench-corpus"))
    parser.add_argument("--workers", type=int, default=0, help="filewall workers (default: one per core)")
    parser.add_argument("--no-clamscan", action="store_true")
    parser.add_argument(
        "--runs", type=int, default=1, help="run each scanner N times; the fastest run is reported"
    )
    parser.add_argument("--out", default=str(HERE / "out"))
    args = parser.parse_args()

    folder = Path(args.dir)
    print(f"corpus: {folder} ({args.files} files, ~{args.size_mb} MB, seed {args.seed})", flush=True)
    started = time.perf_counter()
    manifest = generate(folder, args.files, args.size_mb, args.seed)
    print(
        f"  ready in {time.perf_counter() - started:.1f} s: {manifest['files']} files, "
        f"{manifest['bytes'] / 1e6:.0f} MB on disk; kinds {manifest['counts']}",
        flush=True,
    )
    warm_cache(folder)

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": versions(),
        "corpus": {k: manifest[k] for k in ("params", "files", "bytes", "counts")},
    }

    # -- filewall -------------------------------------------------------------------------------
    filewall_bin = shutil.which("filewall", path=str(Path(sys.executable).parent)) or "filewall"
    # The session folders (not the manifest beside them).
    sessions = [str(child) for child in sorted(folder.iterdir()) if child.is_dir()]
    command = [filewall_bin, "scan", "--json", *sessions]
    if args.workers:
        command[3:3] = ["--workers", str(args.workers)]
    jsonl = out_dir / "filewall-reports.jsonl"
    runs = []
    for _ in range(args.runs):
        with open(jsonl, "wb") as stdout:
            runs.append(run_measured(command, stdout))
        print(
            f"  filewall run: {runs[-1].wall:.2f} s, {runs[-1].cpu:.2f} CPU-s (load {runs[-1].load:.2f}; "
            f"memory sampler {runs[-1].sampler_cpu:.2f} CPU-s)",
            flush=True,
        )
    best = min(runs, key=lambda run: run.wall)
    wall = best.wall
    verdicts: dict[str, int] = {}
    nodes = unpacked = 0
    by_path = {}
    with open(jsonl, encoding="utf-8") as handle:
        for line in handle:
            report = json.loads(line)
            verdicts[report["verdict"]] = verdicts.get(report["verdict"], 0) + 1
            count, size = tree_stats(report["tree"])
            nodes += count
            unpacked += size
            by_path[os.path.relpath(report["path"], folder)] = report
    lures = [item["path"] for item in manifest["items"] if item["lure"]]
    missed = [path for path in lures if by_path.get(path, {}).get("verdict") != "malicious"]
    flagged = {
        path: report
        for path, report in by_path.items()
        if path not in set(lures) and report["verdict"] != "clean"
    }
    files = len(by_path)
    fw = {
        "wall_s": round(wall, 2),
        "cpu_s": round(best.cpu, 2),
        "exit_code": best.code,
        "files": files,
        "nodes": nodes,
        "files_per_s": round(files / wall, 1),
        "unpacked_bytes": unpacked,
        "mb_per_s_unpacked": round(unpacked / 1e6 / wall, 1),
        "mb_per_s_on_disk": round(manifest["bytes"] / 1e6 / wall, 1),
        # What the same work would take with 2 idle cores and perfect parallelism.
        "files_per_cpu_s": round(files / best.cpu, 1),
        "mb_per_cpu_s_unpacked": round(unpacked / 1e6 / best.cpu, 1),
        "peak_rss_mb": round(best.peak / 1e6, 1),
        "peak_anon_mb": round(best.peak_anon / 1e6, 1),
        "peak_pss_mb": round(best.peak_pss / 1e6, 1),
        "processes": best.processes,
        "runs_wall_s": [round(run.wall, 2) for run in runs],
        "runs_cpu_s": [round(run.cpu, 2) for run in runs],
        "runs_sampler_cpu_s": [round(run.sampler_cpu, 2) for run in runs],
        "runs_loadavg_before": [round(run.load, 2) for run in runs],
        "verdicts": verdicts,
        "lures": len(lures),
        "lures_missed": missed,
        "benign_flagged": {
            path: sorted({f["rule"] for f in report["findings"] if f["score"] > 0})
            for path, report in flagged.items()
        },
    }
    results["filewall"] = fw
    print(
        f"\nfilewall scan --json ({best.processes} processes): {wall:.2f} s wall, {best.cpu:.2f} CPU-s, "
        f"exit {best.code}"
    )
    print(
        f"  {files} files ({nodes} nodes): {fw['files_per_s']} files/s, "
        f"{fw['mb_per_s_unpacked']} MB/s uncompressed ({unpacked / 1e6:.0f} MB), "
        f"{fw['mb_per_s_on_disk']} MB/s on disk; peak RSS (tree) {fw['peak_rss_mb']} MB "
        f"(anonymous {fw['peak_anon_mb']} MB, PSS {fw['peak_pss_mb']} MB)"
    )
    print(f"  per CPU-second: {fw['files_per_cpu_s']} files, {fw['mb_per_cpu_s_unpacked']} MB uncompressed")
    print(
        f"  verdicts {verdicts}; lures found {len(lures) - len(missed)}/{len(lures)}; "
        f"benign files not clean: {len(flagged)}"
    )
    for path, rules in list(fw["benign_flagged"].items())[:15]:
        print(f"    not clean: {path}: {', '.join(rules)}")

    # -- clamscan ----------------------------------------------------------------------------------
    if not args.no_clamscan and shutil.which("clamscan"):
        with tempfile.TemporaryDirectory(prefix="fw-bench-") as temp:
            db = Path(temp) / "corpus.hsb"
            signatures = write_clam_db(manifest, db)
            clam_out = out_dir / "clamscan.txt"
            command = ["clamscan", "-d", str(db), "-r", "-i", *sessions]
            cruns = []
            for _ in range(args.runs):
                with open(clam_out, "wb") as stdout:
                    cruns.append(run_measured(command, stdout))
                print(
                    f"  clamscan run: {cruns[-1].wall:.2f} s, {cruns[-1].cpu:.2f} CPU-s (load {cruns[-1].load:.2f})",
                    flush=True,
                )
            cbest = min(cruns, key=lambda run: run.wall)
            cwall = cbest.wall
        text = clam_out.read_text(errors="replace")
        found = len(re.findall(r" FOUND$", text, re.M))
        scanned = re.search(r"Scanned files: (\d+)", text)
        data = re.search(r"Data scanned: ([\d.]+ \w+)", text)
        cfiles = int(scanned.group(1)) if scanned else files
        cl = {
            "wall_s": round(cwall, 2),
            "cpu_s": round(cbest.cpu, 2),
            "exit_code": cbest.code,
            "signatures": signatures,
            "files": cfiles,
            "files_per_s": round(cfiles / cwall, 1),
            "mb_per_s_on_disk": round(manifest["bytes"] / 1e6 / cwall, 1),
            "mb_per_s_filewall_count": round(unpacked / 1e6 / cwall, 1),
            "files_per_cpu_s": round(cfiles / cbest.cpu, 1),
            "data_scanned": data.group(1) if data else None,
            "peak_rss_mb": round(cbest.peak / 1e6, 1),
            "peak_pss_mb": round(cbest.peak_pss / 1e6, 1),
            "found": found,
            "runs_wall_s": [round(run.wall, 2) for run in cruns],
            "runs_cpu_s": [round(run.cpu, 2) for run in cruns],
            "runs_loadavg_before": [round(run.load, 2) for run in cruns],
        }
        results["clamscan"] = cl
        results["ratio_files_per_s"] = round(fw["files_per_s"] / cl["files_per_s"], 2)
        results["ratio_files_per_cpu_s"] = round(fw["files_per_cpu_s"] / cl["files_per_cpu_s"], 2)
        print(
            f"\nclamscan -r -i, 1 process, {signatures} hash signatures: {cwall:.2f} s wall, "
            f"{cbest.cpu:.2f} CPU-s, exit {cbest.code}"
        )
        print(
            f"  {cfiles} files: {cl['files_per_s']} files/s, {cl['mb_per_s_on_disk']} MB/s on disk "
            f"(clamscan's 'Data scanned': {cl['data_scanned']}); peak RSS {cl['peak_rss_mb']} MB; "
            f"found {found} lures"
        )
        print(
            f"\nratio filewall ÷ clamscan, files/s (wall): {results['ratio_files_per_s']}; "
            f"files per CPU-second: {results['ratio_files_per_cpu_s']}"
        )
    out_file = out_dir / f"bench-scan-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out_file.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"\nfigures written to {out_file}")
    return 0 if not missed else 1


if __name__ == "__main__":
    sys.exit(main())
