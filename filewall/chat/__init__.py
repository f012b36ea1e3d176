"""Reading the conversation that came with a file: the lure script, the password, the risk.

The file is half of a Silver Fox attack; the other half is what the fake customer writes: a
pretext ("custom order", "the design is in the archive"), pressure to unpack it on the
computer, the archive password, "turn off the antivirus", "double-click the picture". Real
customers also ask for customisation and send pictures, so no single phrase raises the alarm;
the *combination* does (weights and thresholds in :mod:`filewall.chat.rules`).

Public API::

    from filewall.chat import analyze_chat, extract_passwords, ChatResult
    result = analyze_chat(text)
    result.risk        # "low" | "medium" | "high"
    result.score       # 0..100
    result.reasons     # [ChatReason(rule, quote, message, message_zh)], strongest first
    result.passwords   # stated passwords, in order, deduplicated
    result.to_dict()   # the ``filewall chat --json`` object

Every reason quotes the original words (exact substring of the input) that triggered it.
Pure standard library; no model, no network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .normalize import Folded, fold_both
from .parse import Message, parse_chat
from .passwords import PasswordHit, extract_passwords, find_passwords, unique_values
from .rules import (
    CONTEXT_CAP,
    HIGH_AT,
    MEDIUM_AT,
    NEGATION_EN,
    NEGATION_ZH,
    NOT_NEGATION_ZH,
    RULES,
    RULES_BY_NAME,
    ChatRule,
)

__all__ = ["ChatReason", "ChatResult", "analyze_chat", "extract_passwords", "risk_for"]

#: Longest quote before it is cut down to the clause, then to a window round the match.
_QUOTE_MAX = 80
_QUOTE_WINDOW = 24
_CLAUSE_END = re.compile(r"[。！？!?；;…\n，,、]|\.(?=\s|$)")
_QUOTE_TRIM = " \t\r\n，,、；;：:"
#: Which password kinds make which rule fire.
_PASSWORD_RULES = {"archive": "archive_password", "filename": "archive_password", "share": "share_code"}


@dataclass(frozen=True)
class ChatReason:
    """Why the conversation scored: a rule, the words that triggered it, and what it means."""

    rule: str
    quote: str
    message: str
    message_zh: str

    def to_dict(self) -> dict[str, str]:
        return {
            "rule": self.rule,
            "quote": self.quote,
            "message": self.message,
            "message_zh": self.message_zh,
        }


@dataclass
class ChatResult:
    """The judgement of one conversation (the ``filewall chat --json`` object)."""

    risk: str = "low"
    score: int = 0
    reasons: list[ChatReason] = field(default_factory=list)
    passwords: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "risk": self.risk,
            "score": self.score,
            "reasons": [reason.to_dict() for reason in self.reasons],
            "passwords": list(self.passwords),
        }


@dataclass(frozen=True)
class _Hit:
    rule: ChatRule
    start: int  # absolute offsets into the original text
    end: int
    message: Message


def _compile(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    return re.compile("|".join(f"(?:{pattern})" for pattern in patterns)) if patterns else None


_COMPILED: list[tuple[ChatRule, re.Pattern[str] | None, re.Pattern[str] | None]] = [
    (
        rule,
        _compile(rule.patterns),
        re.compile("|".join(rule.plain_patterns), re.I) if rule.plain_patterns else None,
    )
    for rule in RULES
]


def risk_for(score: int) -> str:
    """The risk level for a score (thresholds in :mod:`filewall.chat.rules`)."""
    if score >= HIGH_AT:
        return "high"
    if score >= MEDIUM_AT:
        return "medium"
    return "low"


def _negated(compact: str, start: int) -> bool:
    prefix = compact[max(0, start - 16) : start]
    if NOT_NEGATION_ZH.search(prefix):
        return False
    return bool(NEGATION_ZH.search(prefix) or NEGATION_EN.search(prefix))


def _first_match(pattern: re.Pattern[str], view: Folded, rule: ChatRule) -> tuple[int, int] | None:
    for match in pattern.finditer(view.text):
        if rule.negatable and _negated(view.text, match.start()):
            continue
        return view.span(match.start(), match.end())
    return None


def _rule_hits(messages: list[Message], views: list[tuple[Folded, Folded]]) -> dict[str, _Hit]:
    """The first non-negated match of every rule, in conversation order."""
    hits: dict[str, _Hit] = {}
    for message, (compact, plain) in zip(messages, views, strict=True):
        for rule, pattern, plain_pattern in _COMPILED:
            if rule.name in hits:
                continue
            span = _first_match(pattern, compact, rule) if pattern else None
            if span is None and plain_pattern is not None:
                span = _first_match(plain_pattern, plain, rule)
            if span is not None:
                hits[rule.name] = _Hit(rule, message.start + span[0], message.start + span[1], message)
    return hits


def _add_password_hits(hits: dict[str, _Hit], passwords: list[PasswordHit], messages: list[Message]) -> None:
    """A stated password makes its rule fire; its statement (with the password) is the better quote."""
    quoted: set[str] = set()
    for password in passwords:
        rule = RULES_BY_NAME[_PASSWORD_RULES[password.kind]]
        if rule.name in quoted:
            continue
        message = next(m for m in messages if m.start <= password.start < m.start + len(m.text))
        hits[rule.name] = _Hit(rule, password.start, password.end, message)
        quoted.add(rule.name)


def _bounds(pattern: re.Pattern[str], body: str, a: int, b: int) -> tuple[int, int]:
    """The clause ``[left, right)`` of ``body`` around ``[a, b)``, split where ``pattern`` matches."""
    breaks = list(pattern.finditer(body))
    left = max((m.end() for m in breaks if m.end() <= a), default=0)
    right = min((m.start() for m in breaks if m.start() >= b), default=len(body))
    return left, right


def _word_edge(body: str, index: int, step: int) -> int:
    """Move ``index`` outwards to the edge of the Latin word it cuts, so quotes keep whole words."""
    limit = 15
    if step < 0:
        while index > 0 and limit and body[index - 1].isalnum() and body[index - 1].isascii():
            index, limit = index - 1, limit - 1
    else:
        while index < len(body) and limit and body[index].isalnum() and body[index].isascii():
            index, limit = index + 1, limit - 1
    return index


def _quote(text: str, hit: _Hit) -> str:
    """The clause around the hit, as written (an exact substring of ``text``).

    The clause (between commas or sentence ends) is what the agent remembers reading; a long
    one is cut to a window round the match, on word edges.
    """
    base = hit.message.start
    body = hit.message.text
    # A password stated across two messages ("密码：" / "8866") is quoted by its keyword.
    a, b = hit.start - base, min(hit.end - base, len(body))
    left, right = _bounds(_CLAUSE_END, body, a, b)
    if right - left > _QUOTE_MAX:
        left = _word_edge(body, min(a, max(left, a - _QUOTE_WINDOW)), -1)
        right = _word_edge(body, max(b, min(right, b + _QUOTE_WINDOW)), 1)
    while left < a and body[left] in _QUOTE_TRIM:
        left += 1
    while right > b and body[right - 1] in _QUOTE_TRIM:
        right -= 1
    return text[base + left : base + right]


def _score(hits: dict[str, _Hit]) -> int:
    """Context rules add up to the cap; every other stage counts its strongest rule (see rules.py)."""
    context = 0
    stages: dict[str, int] = {}
    for hit in hits.values():
        if hit.rule.context:
            context += hit.rule.weight
        else:
            stages[hit.rule.stage] = max(stages.get(hit.rule.stage, 0), hit.rule.weight)
    return min(100, min(CONTEXT_CAP, context) + sum(stages.values()))


def analyze_chat(text: str) -> ChatResult:
    """Judge a conversation: risk level, score, quoted reasons and the stated passwords.

    ``text`` is a pasted conversation or a chat-app text export (see :mod:`filewall.chat.parse`).
    """
    messages = parse_chat(text)
    views = [fold_both(message.text) for message in messages]  # (compact, plain) per message
    passwords = find_passwords(messages, [plain for _, plain in views])
    hits = _rule_hits(messages, views)
    _add_password_hits(hits, passwords, messages)
    ordered = sorted(hits.values(), key=lambda hit: (-hit.rule.weight, hit.start))
    reasons = [
        ChatReason(hit.rule.name, _quote(text, hit), hit.rule.message, hit.rule.message_zh) for hit in ordered
    ]
    score = _score(hits)
    return ChatResult(risk=risk_for(score), score=score, reasons=reasons, passwords=unique_values(passwords))
