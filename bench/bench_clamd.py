"""Latency of one small file through ``filewall clamd`` (INSTREAM) against real ``clamd``.

Both servers run here, in the same run, on loopback TCP; the same client code sends the
same file with clamd's INSTREAM framing, one request at a time (connect, stream, read the
answer), and records each round trip. Real clamd (Debian's ``clamav-daemon``) is given a
one-line hash-signature database (``.hsb``, the file's SHA-256) so that it *finds* the file
by hash, as filewall finds it; its cache is off (``DisableCache yes``) so each request is
scanned, as filewall scans each one.

    python bench/bench_clamd.py [--requests 500] [--json bench/out/clamd.json]

Prints p50/p90/p99 and mean latency per server and per file, and the ratio
(filewall / clamd). Nothing scanned is executed.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
NOTE = ("尺寸 50x80cm，颜色：红色，数量 200 个。请按附件里的设计图做。\n" * 60).encode()[:4096]
FILEWALL = str(Path(sys.executable).with_name("filewall"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def instream(port: int, data: bytes) -> tuple[float, bytes]:
    payload = b"zINSTREAM\0" + struct.pack("!I", len(data)) + data + struct.pack("!I", 0)
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(payload)
        answer = b""
        while not answer.endswith(b"\0"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return time.perf_counter() - started, answer.rstrip(b"\0")


def wait_for(port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"zPING\0")
            if sock.recv(16).startswith(b"PONG"):
                return
        time.sleep(0.2)
    raise SystemExit(f"nothing answers PING on port {port}")


@contextlib.contextmanager
def run(args: list[str], log: Path):
    handle = open(log, "wb")  # noqa: SIM115
    process = subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    handle.close()
    try:
        yield process
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def measure(port: int, data: bytes, requests: int, warmup: int) -> dict[str, float | str]:
    for _ in range(warmup):
        instream(port, data)
    times, answer = [], b""
    for _ in range(requests):
        seconds, answer = instream(port, data)
        times.append(seconds * 1000)
    return {
        "answer": answer.decode("utf-8", "replace"),
        "p50_ms": round(percentile(times, 0.50), 3),
        "p90_ms": round(percentile(times, 0.90), 3),
        "p99_ms": round(percentile(times, 0.99), 3),
        "mean_ms": round(statistics.fmean(times), 3),
        "requests": requests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2, help="filewall scanning processes (clamd: MaxThreads)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    clamd = shutil.which("clamd") or "/usr/sbin/clamd"
    if not os.path.exists(clamd):
        raise SystemExit("clamd is not installed (Debian: apt-get install clamav-daemon)")
    samples = {"eicar.com (68 B)": EICAR, "note.txt (4 KiB)": NOTE}
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-clamd-") as folder:
        root = Path(folder)
        (root / "db").mkdir()
        (root / "tmp").mkdir()
        lines = [f"{hashlib.sha256(data).hexdigest()}:{len(data)}:Bench.Sample{index}" for index, data in
                 enumerate(samples.values())]
        (root / "db" / "bench.hsb").write_text("\n".join(lines) + "\n")
        clamd_port, filewall_port = free_port(), free_port()
        (root / "clamd.conf").write_text(
            "Foreground yes\n"
            f"TCPSocket {clamd_port}\nTCPAddr 127.0.0.1\n"
            f"DatabaseDirectory {root / 'db'}\nTemporaryDirectory {root / 'tmp'}\n"
            f"LogFile {root / 'clamd.log'}\nMaxThreads {args.workers}\nDisableCache yes\n"
        )
        env_note = f"{os.cpu_count()} cores"
        with run([clamd, f"--config-file={root / 'clamd.conf'}"], root / "clamd.out"), run(
            [FILEWALL, "clamd", "--listen", f"tcp:127.0.0.1:{filewall_port}", "--workers", str(args.workers)],
            root / "filewall.out",
        ):
            wait_for(clamd_port)
            wait_for(filewall_port)
            for label, data in samples.items():
                results[label] = {
                    "clamd": measure(clamd_port, data, args.requests, args.warmup),
                    "filewall": measure(filewall_port, data, args.requests, args.warmup),
                }
    version = subprocess.run([clamd, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"INSTREAM round trip, one request at a time, loopback TCP, {env_note}; clamd: {version}")
    print(f"{'file':<20} {'server':<9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'mean ms':>8}  answer")
    for label, pair in results.items():
        for server in ("clamd", "filewall"):
            row = pair[server]
            print(f"{label:<20} {server:<9} {row['p50_ms']:>8.3f} {row['p90_ms']:>8.3f} {row['p99_ms']:>8.3f} "
                  f"{row['mean_ms']:>8.3f}  {row['answer']}")
        ratio = pair["filewall"]["p50_ms"] / pair["clamd"]["p50_ms"]
        ratio99 = pair["filewall"]["p99_ms"] / pair["clamd"]["p99_ms"]
        pair["ratio_p50"], pair["ratio_p99"] = round(ratio, 2), round(ratio99, 2)
        print(f"{label:<20} ratio filewall/clamd: p50 x{ratio:.2f}, p99 x{ratio99:.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"clamd_version": version, "cores": os.cpu_count(), "results": results},
                                        ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
