"""The labelled corpus: every lure at ``medium`` or above, no ordinary conversation above ``low``.

``corpus/lure`` holds fake-customer conversations, ``corpus/benign`` real-customer ones
(including the hard cases: customisation with photos or a zip of photos, invoices with tax ids,
order numbers, an agent telling a buyer to let a printer through the firewall).
``expected_passwords.json`` lists, for every lure, exactly the passwords it states.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from filewall.chat import analyze_chat

CORPUS = Path(__file__).parent / "corpus"
LURES = sorted((CORPUS / "lure").glob("*.txt"))
BENIGN = sorted((CORPUS / "benign").glob("*.txt"))
EXPECTED_PASSWORDS: dict[str, list[str]] = json.loads((CORPUS / "expected_passwords.json").read_text("utf-8"))


def _read(path: Path) -> str:
    return path.read_text("utf-8")


def test_corpus_size() -> None:
    assert len(LURES) >= 40 and len(BENIGN) >= 40
    assert set(EXPECTED_PASSWORDS) == {path.name for path in LURES}


def test_recall_and_false_positive_rate() -> None:
    missed = [path.name for path in LURES if analyze_chat(_read(path)).risk == "low"]
    alarms = [path.name for path in BENIGN if analyze_chat(_read(path)).risk != "low"]
    recall = 1 - len(missed) / len(LURES)
    false_positive_rate = len(alarms) / len(BENIGN)
    assert (recall, missed) == (1.0, [])
    assert (false_positive_rate, alarms) == (0.0, [])


@pytest.mark.parametrize("path", LURES, ids=lambda path: path.stem)
def test_lure_passwords_are_exact(path: Path) -> None:
    assert analyze_chat(_read(path)).passwords == EXPECTED_PASSWORDS[path.name]


@pytest.mark.parametrize("path", LURES + BENIGN, ids=lambda path: path.stem)
def test_quotes_are_the_original_words(path: Path) -> None:
    text = _read(path)
    for reason in analyze_chat(text).reasons:
        assert reason.quote and reason.quote in text, reason


@pytest.mark.parametrize("path", LURES, ids=lambda path: path.stem)
def test_every_high_is_explained(path: Path) -> None:
    result = analyze_chat(_read(path))
    assert result.reasons, path.name
    assert result.score <= sum(rule_weight(reason.rule) for reason in result.reasons)


def rule_weight(name: str) -> int:
    from filewall.chat.rules import RULES_BY_NAME

    return RULES_BY_NAME[name].weight


def test_corpus_urls_use_reserved_names() -> None:
    import re

    for path in LURES + BENIGN:
        for host in re.findall(r"https?://([^/\s]+)", _read(path)):
            assert host.endswith((".invalid", "example.com", ".example")), (path.name, host)
