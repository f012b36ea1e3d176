"""Long mutation runs over every format of ``tests/test_mutations.py``.

    .venv/bin/python bench/fuzz_scan.py [--per-format 300] [--seed 0] [--seconds 3600]
        [--formats zip,pdf] [--limit 10] [--slack 10] [--out bench/out/fuzz]

The samples and the mutations are the test's (``mutated(format, data, "<seed>:<format>:<n>")``).
Each scan runs in a forked worker that the parent watches: a scan that has not returned
after ``--limit + --slack`` seconds is a hang (the worker's Python stack is dumped, then
it is killed and replaced), a worker that dies is a crash (segfault in a C extension).
Every problem (exception escaping the engine, hang, crash, file left in the scan's temp
root, the default temp folder or the worker's working folder, a scan that raises the
worker's peak memory by more than 256 MB: the samples are a few KB) is printed with
the seed that reproduces it, and the mutated bytes are written to ``--out`` (some
samples are not the same bytes every run: AES salts, 7z/ISO/CAB/MSI/e-mail timestamps).
At the end: how often each extractor (``file.corrupt``, by format) and each analyzer
(``scan.analyzer_failed``) failed, with the most common error messages and one seed
for each.
"""

from __future__ import annotations

import argparse
import collections
import faulthandler
import multiprocessing
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from test_mutations import FORMATS, leftovers, mutated, sample, scan_checked  # noqa: E402

#: A scan of a sample of a few KB that raises the worker's peak RSS by more is a problem.
MEMORY_MB = 256


def _worker(connection, work: Path, limit: float, slack: float, system_tmp: Path) -> None:
    tempfile.tempdir = str(system_tmp)
    os.environ["TMPDIR"] = str(system_tmp)
    # Helpers run with the worker's working folder: an empty one, checked like the others.
    cwd = work / "cwd"
    cwd.mkdir(exist_ok=True)
    os.chdir(cwd)
    while True:
        task = connection.recv()
        if task is None:
            return
        fmt, seed = task
        name, _, options = FORMATS[fmt]
        data, done = mutated(fmt, sample(fmt, work / "samples"), seed)
        # Print where the scan is stuck if it runs well past the limit (before the kill).
        faulthandler.dump_traceback_later(limit + slack * 0.8, exit=False)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        outcome = scan_checked(data, name, work / "scan-root", seconds=limit, slack=slack, **options)
        faulthandler.cancel_dump_traceback_later()
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) // 1024
        if grown > MEMORY_MB:
            outcome.problems.append(f"memory: the worker's peak RSS rose by {grown} MB in one scan")
        for folder, where in ((system_tmp, "the default temp folder"), (cwd, "the working folder")):
            left = leftovers(folder)
            if left:
                outcome.problems.append(f"left in {where}: {left[:5]}")
                for entry in folder.iterdir():
                    shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(
                        missing_ok=True
                    )
        connection.send((done, outcome.problems, outcome.verdict, outcome.seconds, outcome.failures))


class Worker:
    def __init__(self, work: Path, limit: float, slack: float):
        self.work, self.limit, self.slack = work, limit, slack
        system_tmp = work / "system-tmp"
        system_tmp.mkdir(parents=True, exist_ok=True)
        context = multiprocessing.get_context("fork")
        self.connection, child = context.Pipe()
        self.process = context.Process(
            target=_worker, args=(child, work, limit, slack, system_tmp), daemon=True
        )
        self.process.start()

    def run(self, fmt: str, seed: str):
        """(done, problems, verdict, seconds, failures), or a problem string on hang/crash."""
        self.connection.send((fmt, seed))
        if self.connection.poll(self.limit + self.slack):
            try:
                return self.connection.recv()
            except EOFError:
                pass
        if self.process.is_alive():
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.join()
            return f"hang: no answer after {self.limit + self.slack:.0f} s (worker killed)"
        self.process.join()
        return f"crash: worker died with exit code {self.process.exitcode}"

    def stop(self) -> None:
        if self.process.is_alive():
            self.connection.send(None)
            self.process.join(5)
        if self.process.is_alive():
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.join()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--per-format", type=int, default=300, help="mutations per format (default 300)")
    parser.add_argument("--seed", default="0", help="run seed; mutation seeds are <seed>:<format>:<n>")
    parser.add_argument("--seconds", type=float, default=3600, help="stop after this long (default 3600)")
    parser.add_argument("--formats", default="", help="comma-separated subset of: " + ", ".join(FORMATS))
    parser.add_argument("--limit", type=float, default=10.0, help="per-file time limit given to the engine")
    parser.add_argument("--slack", type=float, default=10.0, help="seconds past the limit before a hang")
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "fuzz"), help="where failing inputs go")
    args = parser.parse_args()
    formats = [item for item in args.formats.split(",") if item] or list(FORMATS)
    unknown = set(formats) - set(FORMATS)
    if unknown:
        parser.error(f"unknown formats: {', '.join(sorted(unknown))}")
    out = Path(args.out)
    work = Path(tempfile.mkdtemp(prefix="filewall-fuzz-"))
    worker = Worker(work, args.limit, args.slack)
    deadline = time.monotonic() + args.seconds
    scans = problems = 0
    verdicts: collections.Counter = collections.Counter()
    failures: collections.Counter = collections.Counter()
    examples: dict[tuple[str, str, str], str] = {}
    slowest: list[tuple[float, str]] = []
    started = time.monotonic()
    try:
        for number in range(args.per_format):
            for fmt in formats:
                if time.monotonic() > deadline:
                    raise TimeoutError
                seed = f"{args.seed}:{fmt}:{number}"
                answer = worker.run(fmt, seed)
                scans += 1
                if isinstance(answer, str):
                    found, done = [answer], []
                    worker = Worker(work, args.limit, args.slack)
                else:
                    done, found, verdict, seconds, facts = answer
                    verdicts[fmt, verdict] += 1
                    slowest = sorted([*slowest, (seconds, seed)], reverse=True)[:5]
                    for rule, plugin, error in facts:
                        key = (rule, plugin, error[:90])
                        failures[key] += 1
                        examples.setdefault(key, seed)
                if found:
                    problems += len(found)
                    out.mkdir(parents=True, exist_ok=True)
                    data, done = mutated(fmt, sample(fmt, work / "parent-samples"), seed)
                    saved = out / f"{seed.replace(':', '_')}_{FORMATS[fmt][0]}"
                    saved.write_bytes(data)
                    for problem in found:
                        print(
                            f"PROBLEM seed={seed} ({', '.join(done)}): {problem}  [input: {saved}]",
                            flush=True,
                        )
            if (number + 1) % 10 == 0:
                print(
                    f"... {number + 1}/{args.per_format} per format, {scans} scans, {problems} problems, "
                    f"{time.monotonic() - started:.0f} s",
                    flush=True,
                )
    except (TimeoutError, KeyboardInterrupt):
        print("stopped early (time limit or interrupt)")
    finally:
        worker.stop()
        shutil.rmtree(work, ignore_errors=True)
    elapsed = time.monotonic() - started
    totals = collections.Counter()
    for (_, verdict), count in verdicts.items():
        totals[verdict] += count
    print(f"\n{scans} scans in {elapsed:.0f} s, {problems} problems; verdicts: {dict(totals)}")
    print("verdicts per format (clean/suspicious/malicious/error):")
    for fmt in formats:
        counts = "/".join(
            str(verdicts[fmt, verdict]) for verdict in ("clean", "suspicious", "malicious", "error")
        )
        print(f"  {fmt:15s} {counts}")
    print("slowest: " + ", ".join(f"{seed} {seconds:.2f} s" for seconds, seed in slowest))
    by_plugin: collections.Counter = collections.Counter()
    for (rule, plugin, _), count in failures.items():
        by_plugin[(rule, plugin)] += count
    print("\nfailures per plugin (file.corrupt: by format; scan.analyzer_failed: by analyzer):")
    for (rule, plugin), count in by_plugin.most_common():
        print(f"  {count:6d}  {rule:22s} {plugin}")
        top = sorted(((n, key) for key, n in failures.items() if key[:2] == (rule, plugin)), reverse=True)[:4]
        for n, key in top:
            print(f"            {n:5d} x {key[2]!r}  (e.g. seed {examples[key]})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
