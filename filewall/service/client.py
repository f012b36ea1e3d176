"""``filewall scan --server URL --token T``: send files to a desk and print its verdicts.

The output (human or ``--json`` lines) and the exit status (0 clean, 1 found, 2 error) are
those of a local scan, printed by the same functions in :mod:`filewall.cli`; each JSON line
also carries the report's ``id`` and ``url`` on the desk.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
from rich.console import Console

UPLOAD_SLACK = 64 * 1024


class DeskError(Exception):
    def __init__(self, message: str, message_zh: str | None = None):
        super().__init__(message)
        self.message_zh = message_zh or message


def _error_from(response: httpx.Response) -> DeskError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    message = body.get("message") or response.text[:200] or response.reason_phrase
    return DeskError(
        f"the desk answered {response.status_code}: {message}",
        f"服务器返回 {response.status_code}：{body.get('message_zh') or message}",
    )


def _batches(files: list[str], max_files: int, max_bytes: int) -> Iterator[list[str] | str]:
    """Groups of files that fit one upload; a single file too large is yielded alone as str."""
    batch: list[str] = []
    size = 0
    for path in files:
        try:
            length = os.path.getsize(path)
        except OSError:
            length = 0
        if length > max_bytes:
            yield path
            continue
        if batch and (len(batch) >= max_files or size + length > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(path)
        size += length
    if batch:
        yield batch


def scan_remote(
    server: str,
    token: str | None,
    files: list[str],
    chat: str | None,
    passwords: list[str],
    json_lines: bool,
    language: str,
    timeout: float = 600.0,
) -> int:
    from ..cli import EXIT_ERROR, _exit_code, _json_line, _print_report, _print_summary

    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False)
    if not token:
        err.print("filewall: --server needs --token (or FILEWALL_TOKEN); an owner makes one with `filewall token create`")
        return EXIT_ERROR
    counts: Counter[str] = Counter()
    base = server.rstrip("/")
    headers = {"Authorization": f"Bearer {token}", "User-Agent": "filewall-cli"}
    import time

    started = time.perf_counter()
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=httpx.Timeout(timeout, connect=10.0)) as client:
            me = client.get("/api/v1/me")
            if me.status_code != 200:
                raise _error_from(me)
            limits = me.json().get("limits", {})
            max_files = int(limits.get("max_files", 20))
            max_bytes = int(limits.get("max_upload_bytes", 100 * 2**20)) - UPLOAD_SLACK
            for batch in _batches(files, max_files, max_bytes):
                if isinstance(batch, str):
                    counts["error"] += 1
                    err.print(f"filewall: {batch}: larger than the desk's upload limit ({max_bytes} bytes); not sent")
                    continue
                for path, report in zip(batch, _send(client, batch, chat, passwords, json_lines), strict=True):
                    counts[report["verdict"]] += 1
                    report = {**report, "path": path}
                    if json_lines:
                        sys.stdout.write(json.dumps(_json_line(report), ensure_ascii=False) + "\n")
                        sys.stdout.flush()
                    else:
                        _print_report(out, report, language)
    except DeskError as error:
        err.print(f"filewall: {error.message_zh if language == 'zh' else error}")
        return EXIT_ERROR
    except httpx.HTTPError as error:
        err.print(f"filewall: cannot reach the desk at {base}: {error}")
        return EXIT_ERROR
    if not json_lines:
        _print_summary(out, counts, len(files), time.perf_counter() - started, language)
    return _exit_code(counts)


def _send(
    client: httpx.Client, batch: list[str], chat: str | None, passwords: list[str], full: bool
) -> list[dict[str, Any]]:
    handles = [open(path, "rb") for path in batch]  # noqa: SIM115 - closed below
    try:
        files = [("files", (os.path.basename(path), handle, "application/octet-stream")) for path, handle in zip(batch, handles, strict=True)]
        data: dict[str, Any] = {}
        if chat:
            data["chat"] = chat
        if passwords:
            data["password"] = passwords
        response = client.post("/api/v1/scans", files=files, data=data)
    finally:
        for handle in handles:
            handle.close()
    if response.status_code != 200:
        raise _error_from(response)
    summaries = response.json()["reports"]
    reports = []
    for summary in summaries:
        if full:
            detail = client.get(f"/api/v1/reports/{summary['id']}")
            if detail.status_code != 200:
                raise _error_from(detail)
            body = detail.json()
            report = dict(body["report"])
        else:
            report = {key: summary.get(key) for key in ("verdict", "score", "findings", "chat", "summary", "summary_zh")}
            report["tree"] = {}
        if summary.get("chat") is not None:
            report["chat"] = summary["chat"]
        elif report.get("chat") is None:
            report.pop("chat", None)
        report["id"] = summary["id"]
        report["url"] = f"{client.base_url}".rstrip("/") + f"/api/v1/reports/{summary['id']}"
        reports.append(report)
    return reports
