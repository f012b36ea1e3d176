"""A desk scanning process: ``python -m filewall.service._worker`` (started by the scanner).

It reads the supervisor's address and key from standard input, connects back, loads the
extractors and analyzers, warms them up with one tiny scan, says it is ready, then scans
one task at a time until told to stop or until the supervisor goes away. It is a fresh
interpreter, not a fork of the web process, so it inherits no threads, sockets, database
connections or secrets; and it never imports the program that started the desk.
Nothing scanned is ever executed: the engine only reads bytes.
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import os
import sys
import zipfile
from multiprocessing.connection import Client, Connection
from typing import Any

from ..engine import ScanOptions, scan_bytes, scan_path
from ..pool import failure_report
from ..registry import load_plugins

log = logging.getLogger(__name__)

#: The optional safe-view hook: ``filewall.preview.scan_for_desk(source, name, options)``
#: where ``source`` is a path (str) or the bytes, returning a ``Report.to_dict()``-shaped
#: dict that may carry previews (bytes values are stored by the desk as blobs).
PREVIEW_HOOK = ("filewall.preview", "scan_for_desk")


def _preview_hook():
    module_name, attribute = PREVIEW_HOOK
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        return None
    return getattr(module, attribute, None)


def scan_one(source: str | bytes, name: str, options: ScanOptions, hook=None) -> dict[str, Any]:
    """Scan a path or bytes under the display ``name``; a report dict, never an exception."""
    try:
        if hook is not None:
            report = hook(source, name, options)
        elif isinstance(source, bytes):
            report = scan_bytes(source, name, options).to_dict()
        else:
            report = scan_path(source, options, display_name=name).to_dict()
    except Exception as error:  # the engine never raises for bad input; a bug must not kill the worker
        log.exception("scan of %s failed", name)
        report = failure_report(name, "scan.crashed", f"{type(error).__name__}: {error}")
    report["path"] = name  # never the storage path
    return report


def _warm_up(hook) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("说明.txt", "warm-up\n" * 10)
    scan_one(buffer.getvalue(), "warm-up.zip", ScanOptions(), hook)


def serve(conn: Connection, warm_up: bool = True) -> None:
    load_plugins()
    hook = _preview_hook()
    if warm_up:
        try:
            _warm_up(hook)
        except Exception:
            log.exception("warm-up scan failed")
    conn.send(("ready", None, None))
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if task is None:
            return
        task_id, source, name, options = task
        report = scan_one(source, name, options, hook)
        try:
            conn.send(("done", task_id, report))
        except (OSError, EOFError):
            return


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="filewall-scan[%(process)d] %(levelname)s %(message)s")
    try:
        hello = json.loads(sys.stdin.readline())
    except ValueError:
        raise SystemExit("filewall.service._worker is started by the desk's scanner, not by hand") from None
    try:
        conn = Client(hello["address"], family=hello["family"], authkey=bytes.fromhex(hello["key"]))
        conn.send(("hello", os.getpid(), None))
    except OSError:  # the desk stopped before this process came up
        raise SystemExit(3) from None
    serve(conn, warm_up=os.environ.get("FILEWALL_WORKER_WARM_UP", "1") != "0")


if __name__ == "__main__":
    main()
