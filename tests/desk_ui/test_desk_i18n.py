"""The desk's two languages: every string in both, and the choice of one per request."""

from __future__ import annotations

import re

import pytest

from filewall.service.i18n import (
    STRINGS,
    Translator,
    all_keys_translated,
    parse_accept_language,
    pick_language,
)


def test_every_string_has_both_languages_and_the_same_placeholders():
    assert all_keys_translated()
    for key, (english, chinese) in STRINGS.items():
        assert set(re.findall(r"{(\w+)}", english)) == set(re.findall(r"{(\w+)}", chinese)), key
        assert re.search(r"[\u4e00-\u9fff]", chinese) or key in ("sha256", "switch_to", "switch_title"), key


@pytest.mark.parametrize(
    "header, expected",
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("en-US,en;q=0.9", "en"),
        ("en-US;q=0.5, zh-TW;q=0.8", "zh"),
        ("fr-FR,fr;q=0.9,en;q=0.5,zh;q=0.4", "en"),
        ("fr-FR", None),
        ("zh;q=0, en", "en"),
        ("", None),
        ("garbage;;;q=x,,", None),
    ],
)
def test_accept_language(header, expected):
    assert parse_accept_language(header) == expected


def test_cookie_wins_then_header_then_chinese():
    assert pick_language("en", "zh-CN") == "en"
    assert pick_language("xx", "en-GB") == "en"
    assert pick_language(None, None) == "zh"


def test_translator_picks_message_fields():
    finding = {"message": "A program.", "message_zh": "一个程序。"}
    assert Translator("zh").pick(finding) == "一个程序。"
    assert Translator("en").pick(finding) == "A program."
    assert Translator("zh").pick({"message": "only English"}) == "only English"
    assert Translator("en")("too_many_files", n=3) == "Too many files at once (at most 3)."
    assert Translator("zh").verdict("malicious") == "危险"
