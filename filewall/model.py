"""Plain data that flows through filewall: nodes of a scanned tree, findings, reports.

Everything here is JSON-serialisable through :meth:`to_dict`. Nothing here decides a
verdict: analyzers attach *facts* (a rule id and its parameters) to nodes, and
:mod:`filewall.policy` turns those facts into severities, scores, messages and a verdict.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Severity(str, enum.Enum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Verdict(str, enum.Enum):
    CLEAN = "clean"
    SUSPICIOUS = "suspicious"
    MALICIOUS = "malicious"
    ERROR = "error"


@dataclass
class Fact:
    """Something an extractor or analyzer observed about a node: a rule id plus parameters.

    Facts carry no severity and no wording; the policy supplies both, so the whole
    judgement lives in one table.
    """

    rule: str
    where: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Finding:
    """A fact as judged by the policy: what a person reads in a report."""

    rule: str
    severity: Severity
    score: int
    message: str
    message_zh: str
    where: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "score": self.score,
            "message": self.message,
            "message_zh": self.message_zh,
            "where": self.where,
            "details": _jsonable(self.params),
        }


@dataclass
class Node:
    """One file in the scanned tree: the input itself, or anything unpacked from it."""

    name: str
    path: str
    depth: int = 0
    size: int | None = None
    md5: str | None = None
    sha1: str | None = None
    sha256: str | None = None
    kind: str = "unknown"
    mime: str = "application/octet-stream"
    #: False when only the name is known (e.g. an encrypted member no password opened).
    has_content: bool = True
    #: True when the content was cut at a limit; hashes then cover only what was read.
    truncated: bool = False
    children: list[Node] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)
    #: Structured details from analyzers (PE header, LNK target, ...), shown in the tree.
    info: dict[str, Any] = field(default_factory=dict)

    def walk(self):
        """Yield this node and every descendant, parents first."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "depth": self.depth,
            "size": self.size,
            "md5": self.md5,
            "sha1": self.sha1,
            "sha256": self.sha256,
            "type": self.kind,
            "mime": self.mime,
            "has_content": self.has_content,
            "truncated": self.truncated,
            "info": _jsonable(self.info),
            "children": [child.to_dict() for child in self.children],
        }


@dataclass
class Report:
    """The result for one input file."""

    path: str
    verdict: Verdict
    score: int
    findings: list[Finding]
    tree: Node | None
    summary: str = ""
    summary_zh: str = ""
    elapsed_ms: float = 0.0
    indicators: list[dict[str, Any]] = field(default_factory=list)
    chat: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {
            "path": self.path,
            "verdict": self.verdict.value,
            "score": self.score,
            "summary": self.summary,
            "summary_zh": self.summary_zh,
            "findings": [finding.to_dict() for finding in self.findings],
            "indicators": self.indicators,
            "elapsed_ms": round(self.elapsed_ms, 2),
            "tree": self.tree.to_dict() if self.tree else {},
        }
        if self.chat is not None:
            data["chat"] = self.chat
        return data


def _jsonable(value: Any) -> Any:
    """Make analyzer details safe for JSON (bytes become hex, sets become lists)."""
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(item) for item in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, enum.Enum):
        return value.value
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
