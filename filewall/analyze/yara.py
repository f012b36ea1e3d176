"""YARA (yara-x) over every node with content: built-in rules plus the shop's own.

A rule's ``meta`` decides how it is judged: ``severity`` (``critical|high|medium|low|info``,
default ``high``) picks the policy rule ``yara.<severity>``; ``description`` and
``description_zh`` are what the agent reads.
"""

from __future__ import annotations

import time

import yara_x

from ..engine import ScanTimeout
from ..registry import analyzer
from ..rulesets import yara_rules

SEVERITIES = ("critical", "high", "medium", "low", "info")
DEFAULT_SEVERITY = "high"
#: Shown when a (shop's own) rule has no ``description`` meta.
NO_DESCRIPTION = ("the rule gives no description", "该规则没有填写说明")


@analyzer(name="yara.scan", order=30)
def yara_scan(node, content, ctx) -> None:
    """Scan the node's bytes (at most ``max_file_size``: the engine never reads more)."""
    # Resolve the rule files once per scanned file, not once per node.
    rules = ctx.state.get("yara.rules")
    if rules is None:
        rules = ctx.state["yara.rules"] = yara_rules(ctx.options.rule_paths)
    scanner = rules.scanner()
    if scanner is None or content.size == 0:
        return
    # Never outlive the per-file deadline; yara-x counts whole seconds.
    scanner.set_timeout(max(1, int(ctx.deadline - time.monotonic() + 0.999)))
    try:
        results = _scan(scanner, content)
    except yara_x.TimeoutError as error:
        raise ScanTimeout() from error
    for rule in results.matching_rules:
        rule_id, params = _fact(rule)
        ctx.fact(node, rule_id, **params)


def _scan(scanner: yara_x.Scanner, content):
    """Scan without copying: in-memory bytes directly, spooled members by their file.

    yara-x takes ``bytes`` only (not mmap/memoryview), so content that lives in a temp
    file is handed over by path and yara-x maps it itself. That file holds exactly the
    bytes read for the node (the engine cut it at the limit).
    """
    data = content.view()
    if isinstance(data, bytes):
        return scanner.scan(data)
    path = content.path_on_disk
    if path is not None:
        return scanner.scan_file(path)
    return scanner.scan(bytes(data))


def _fact(rule: yara_x.Rule) -> tuple[str, dict[str, str]]:
    meta = {key: value for key, value in rule.metadata}
    severity = str(meta.get("severity", DEFAULT_SEVERITY)).lower()
    if severity not in SEVERITIES:
        severity = DEFAULT_SEVERITY
    description = str(meta.get("description") or "")
    params = {
        "rule_name": rule.identifier,
        "description": description or NO_DESCRIPTION[0],
        "description_zh": str(meta.get("description_zh") or description or NO_DESCRIPTION[1]),
    }
    return f"yara.{severity}", params
