"""Structured logs: one JSON object per line, for the worker and protocol servers.

``setup()`` installs a handler on the root logger. Each line carries ``ts`` (UTC, ISO
8601), ``level``, ``logger`` and ``msg``; anything passed with ``extra=`` (or through
:func:`event`) is added as its own key, so a log pipeline can filter on ``event``,
``sha256``, ``report_id``, ``verdict`` or ``ms`` without parsing text::

    {"ts": "2026-11-25T21:30:01.123Z", "level": "info", "logger": "filewall.worker",
     "msg": "scanned", "event": "scanned", "report_id": "…", "sha256": "…",
     "verdict": "malicious", "ms": 12.5}

``FILEWALL_LOG_FORMAT=text`` gives plain lines for a person at a terminal, and
``FILEWALL_LOG_LEVEL`` sets the level (default ``INFO``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
from typing import Any, TextIO

#: Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def setup(level: str | None = None, fmt: str | None = None, stream: TextIO | None = None) -> None:
    """Send every log record to ``stream`` (stderr) as JSON lines (or text)."""
    level = (level or os.environ.get("FILEWALL_LOG_LEVEL") or "INFO").upper()
    fmt = (fmt or os.environ.get("FILEWALL_LOG_FORMAT") or "json").lower()
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "text":
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Libraries that are chatty at INFO.
    for name in ("kombu", "amqp", "urllib3", "botocore", "alembic"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


def event(logger: logging.Logger, what: str, /, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event by name with its fields as separate JSON keys.

    A field that would clash with a LogRecord attribute (``name``, ``msg`` ...) is kept
    with a ``field_`` prefix rather than dropped.
    """
    extra = {("field_" + key if key in _STANDARD else key): value for key, value in fields.items()}
    logger.log(level, what, extra={"event": what, **extra})


__all__ = ["JsonFormatter", "event", "setup"]
