"""Health and metrics endpoints in Prometheus text format (``prometheus_client``).

Every long-running process (``filewall worker``, ``filewall clamd``, ``filewall icap``)
can serve, on ``--metrics HOST:PORT``:

- ``GET /metrics``: Prometheus text exposition;
- ``GET /healthz``: JSON ``{"ok": true, ...}`` with status 200, or 503 when a dependency
  (broker, database, scanning slots) is down.

Metrics (all prefixed ``filewall_``):

=============================== ========= ==============================================
name                            type      meaning
=============================== ========= ==============================================
scans_total{source,verdict}     counter   files scanned (source: worker, clamd, icap)
scan_seconds{source}            histogram time spent scanning one file (in its child)
task_seconds                    histogram worker: submission → report stored (queue wait
                                          included): the latency a desk user sees
scan_failures_total{source,kind} counter  scans ended from outside (crashed, killed)
dead_letters_total              counter   files set aside after killing the scanner N times
dedup_hits_total                counter   worker: reports served from an earlier scan of
                                          the same bytes (not scanned twice)
scans_per_second{source}        gauge     files scanned per second over the last minute
queue_depth{queue}              gauge     jobs waiting in the broker (read at scrape time)
in_flight{source}               gauge     scans running now
=============================== ========= ==============================================

Counters are per process; Prometheus sums them across workers (``sum(rate(...))``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)

#: Scan and task latency buckets, in seconds: from a photo (ms) to the hard limit (minutes).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
WINDOW_SECONDS = 60


class _Rate:
    """Events per second over a sliding window, in one-second buckets."""

    def __init__(self, window: int = WINDOW_SECONDS):
        self.window = window
        self._buckets: dict[int, int] = {}
        self._lock = threading.Lock()
        self._started = time.monotonic()

    def add(self, count: int = 1) -> None:
        second = int(time.monotonic())
        with self._lock:
            self._buckets[second] = self._buckets.get(second, 0) + count
            if len(self._buckets) > self.window * 2:
                self._prune(second)

    def per_second(self) -> float:
        now = int(time.monotonic())
        with self._lock:
            self._prune(now)
            total = sum(count for second, count in self._buckets.items() if second > now - self.window)
        span = min(self.window, max(1.0, time.monotonic() - self._started))
        return total / span

    def _prune(self, now: int) -> None:
        for second in [second for second in self._buckets if second <= now - self.window]:
            del self._buckets[second]


class _QueueDepth:
    """A collector that asks the broker for queue lengths at scrape time."""

    def __init__(self) -> None:
        self.source: Callable[[], dict[str, int]] | None = None

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily("filewall_queue_depth", "Jobs waiting in the broker.", labels=["queue"])
        if self.source is not None:
            try:
                for name, depth in self.source().items():
                    family.add_metric([name], depth)
            except Exception:  # a broker hiccup must not break the whole scrape
                log.debug("queue depth unavailable", exc_info=True)
        yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.scans = Counter("filewall_scans", "Files scanned.", ["source", "verdict"], registry=r)
        self.scan_seconds = Histogram(
            "filewall_scan_seconds", "Time to scan one file.", ["source"], buckets=BUCKETS, registry=r
        )
        self.task_seconds = Histogram(
            "filewall_task_seconds", "Submission to stored report (queue wait included).", buckets=BUCKETS, registry=r
        )
        self.failures = Counter(
            "filewall_scan_failures", "Scans ended from outside the scanning process.", ["source", "kind"], registry=r
        )
        self.dead_letters = Counter("filewall_dead_letters", "Files set aside after killing the scanner.", registry=r)
        self.dedup_hits = Counter("filewall_dedup_hits", "Reports served from an earlier scan.", registry=r)
        self.in_flight = Gauge("filewall_in_flight", "Scans running now.", ["source"], registry=r)
        self._rates: dict[str, _Rate] = {}
        self._rates_lock = threading.Lock()
        self._queue = _QueueDepth()
        r.register(self._queue)
        r.register(_RateCollector(self))

    def observe_scan(self, source: str, verdict: str, seconds: float, failure: str | None = None) -> None:
        self.scans.labels(source, verdict).inc()
        self.scan_seconds.labels(source).observe(seconds)
        if failure:
            self.failures.labels(source, failure).inc()
        self.rate(source).add()

    def rate(self, source: str) -> _Rate:
        with self._rates_lock:
            if source not in self._rates:
                self._rates[source] = _Rate()
            return self._rates[source]

    def set_queue_depth_source(self, source: Callable[[], dict[str, int]] | None) -> None:
        self._queue.source = source

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _RateCollector:
    """``filewall_scans_per_second``, computed at scrape time."""

    def __init__(self, metrics: Metrics):
        self.metrics = metrics

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily("filewall_scans_per_second", "Files scanned per second, last minute.", labels=["source"])
        with self.metrics._rates_lock:
            rates = dict(self.metrics._rates)
        for source, rate in rates.items():
            family.add_metric([source], rate.per_second())
        yield family


#: The process-wide metrics.
METRICS = Metrics()


class MetricsServer:
    """``/metrics`` and ``/healthz`` over HTTP, in a daemon thread."""

    def __init__(self, host: str, port: int, health: Callable[[], dict[str, Any]] | None = None,
                 metrics: Metrics | None = None):
        metrics = metrics or METRICS
        health = health or (lambda: {"ok": True})

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, CONTENT_TYPE_LATEST, metrics.render())
                elif path in ("/healthz", "/readyz", "/health"):
                    try:
                        state = health()
                    except Exception as error:
                        state = {"ok": False, "error": f"{type(error).__name__}: {error}"}
                    body = json.dumps(state, ensure_ascii=False, default=str).encode()
                    self._send(200 if state.get("ok") else 503, "application/json", body)
                else:
                    self._send(404, "text/plain; charset=utf-8", b"not found\n")

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # scrapes are not news
                return

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="filewall-metrics", daemon=True)

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def parse_host_port(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` or ``PORT`` (IPv6 as ``[::1]:PORT``)."""
    text = text.strip()
    if text.startswith("tcp:"):
        text = text[4:]
    if text.isdigit():
        return default_host, int(text)
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or default_host
    return host, int(port)


__all__ = ["BUCKETS", "METRICS", "Metrics", "MetricsServer", "parse_host_port"]
