"""The only place that decides: facts → findings → score → verdict, and file + chat.

See :mod:`filewall.policy.rules` for the table of rules and their weights.
"""

from __future__ import annotations

import logging
from typing import Any

from ..model import Finding, Node, Report, Severity, Verdict
from ..text import base_name, visible_name
from .rules import DAMAGE_RULES, ERROR_RULES, MALICIOUS_AT, RULES, SUSPICIOUS_AT, Rule

log = logging.getLogger(__name__)

#: What an unknown rule id (a plugin bug) is judged as: worth a look, never silent.
_UNKNOWN = Rule("unknown", Severity.MEDIUM, 40, "{name}: {rule} ({params}).", "{name}：{rule}（{params}）。")

#: Chat risk that turns a suspicious file malicious (issue: the lure settles the matter).
CHAT_ESCALATES_AT = "high"
CHAT_LURE_RULE = Rule(
    "chat.lure_with_file",
    Severity.HIGH,
    MALICIOUS_AT - SUSPICIOUS_AT,
    "The conversation that came with {name} follows a known Trojan lure script ({reasons}); together with what is in the file, treat it as a Trojan.",
    "随 {name} 一起发来的聊天内容符合已知的木马诱骗话术（{reasons_zh}）；结合文件内容，应按木马处理。",
)


def rule_for(rule_id: str) -> Rule:
    rule = RULES.get(rule_id)
    if rule is None:
        log.warning("fact with unknown rule id %s", rule_id)
        return _UNKNOWN
    return rule


def judge(path: str, root: Node) -> Report:
    """Turn the facts in a scanned tree into the report for one input file."""
    findings = [_finding(node, fact.rule, fact.params) for node in root.walk() for fact in node.facts]
    findings.sort(key=lambda item: (-item.score, item.where))
    score = _total(findings)
    verdict = _verdict(score, findings)
    report = Report(path=path, verdict=verdict, score=score, findings=findings, tree=root)
    report.summary, report.summary_zh = _summary(report, root)
    # URLs/domains/IPs (analyze/indicators.py), once each, with the first node naming them.
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for node in root.walk():
        for item in node.info.get("indicators", ()):
            seen.setdefault((item["type"], item["value"]), {**item, "where": node.path})
    report.indicators = list(seen.values())
    return report


def combine_with_chat(report: Report, chat: dict[str, Any]) -> Report:
    """Weigh the conversation with the file; the rule is stated once, here.

    - a ``high``-risk chat raises a ``suspicious`` file to ``malicious``;
    - a ``clean`` (or ``error``) file keeps its verdict whatever the chat says;
    - the chat's own reasons are always attached for the agent to read.
    """
    report.chat = chat
    if report.verdict is Verdict.SUSPICIOUS and chat.get("risk") == CHAT_ESCALATES_AT:
        reasons = chat.get("reasons", [])[:3]
        params = {
            "name": _display(report.tree) if report.tree else report.path,
            "reasons": "; ".join(f"“{reason.get('quote', '')}”" for reason in reasons),
            "reasons_zh": "；".join(f"“{reason.get('quote', '')}”" for reason in reasons),
        }
        finding = Finding(
            CHAT_LURE_RULE.id,
            CHAT_LURE_RULE.severity,
            CHAT_LURE_RULE.score,
            CHAT_LURE_RULE.en.format_map(_Params(params)),
            CHAT_LURE_RULE.zh.format_map(_Params(params)),
            report.tree.path if report.tree else report.path,
            {"chat_score": chat.get("score")},
        )
        report.findings.insert(0, finding)
        report.score = min(100, report.score + finding.score)
        report.verdict = _verdict(report.score, report.findings)
        report.summary, report.summary_zh = finding.message, finding.message_zh
    return report


def _finding(node: Node, rule_id: str, params: dict[str, Any]) -> Finding:
    rule = rule_for(rule_id)
    values = _Params({"name": _display(node), "rule": rule_id, "params": params, **params})
    # A parameter ``x_zh`` is the Chinese wording of ``x``.
    values_zh = _Params({**values, **{key[:-3]: value for key, value in params.items() if key.endswith("_zh")}})
    return Finding(
        rule=rule_id,
        severity=rule.severity,
        score=rule.score,
        message=rule.en.format_map(values),
        message_zh=rule.zh.format_map(values_zh),
        where=node.path,
        params=params,
    )


def _total(findings: list[Finding]) -> int:
    """Sum of the rules that fired, each rule counted once, capped at 100.

    Ten locked members are one piece of evidence ("locked content"), not ten: repeating
    the same observation must not turn a suspicious archive malicious. Different rules
    are independent evidence and add up. Damage (:data:`DAMAGE_RULES`) is not evidence
    and adds nothing: it makes the verdict ``error`` (see :func:`_verdict`).
    """
    best: dict[str, int] = {}
    for finding in findings:
        if finding.rule in DAMAGE_RULES:
            continue
        best[finding.rule] = max(best.get(finding.rule, 0), finding.score)
    return min(100, sum(best.values()))


def _verdict(score: int, findings: list[Finding]) -> Verdict:
    if score >= MALICIOUS_AT:
        return Verdict.MALICIOUS
    if any(finding.rule in ERROR_RULES for finding in findings):
        return Verdict.ERROR
    if score >= SUSPICIOUS_AT:
        return Verdict.SUSPICIOUS
    return Verdict.CLEAN


def _summary(report: Report, root: Node) -> tuple[str, str]:
    name = _display(root)
    if report.verdict is Verdict.CLEAN:
        return (
            f"No program, script or hidden content found in {name}. It looks safe to view.",
            f"{name} 中没有发现程序、脚本或隐藏内容，可以放心查看。",
        )
    top = report.findings[0]
    if report.verdict is Verdict.ERROR:  # say first why it could not be checked
        top = next(finding for finding in report.findings if finding.rule in ERROR_RULES)
    return top.message, top.message_zh


def _display(node: Node) -> str:
    return visible_name(base_name(node.name))


class _Params(dict):
    """Format values: missing keys show as '?', numbers get thousands separators."""

    def __missing__(self, key: str) -> str:
        return "?"

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000:
            return f"{value:,}"
        if isinstance(value, (list, tuple)):
            return ", ".join(str(item) for item in value)
        return value
