"""Folding: full-width, traditional characters and separators must not defeat the rules."""

from __future__ import annotations

import pytest

from filewall.chat.normalize import T2S, fold, fold_plain, is_cjk


@pytest.mark.parametrize(
    ("text", "compact"),
    [
        ("解压密码", "解压密码"),
        ("解 压 密 码", "解压密码"),
        ("解-压-密-码", "解压密码"),
        ("解　压·密＊码", "解压密码"),  # ideographic space, middle dot, full-width star
        ("解\u200b压密码", "解压密码"),  # zero-width space hidden inside the word
        ("解壓密碼", "解压密码"),
        ("請用電腦開啟", "请用电脑打开"),  # 開啟 (TW) → 打开
        ("防毒軟體", "杀毒软件"),
        ("壓縮檔", "压缩包"),
        ("點兩下執行檔", "双击程序"),
        ("８８６６", "8866"),
        ("ＰＡＳＳＷＯＲＤ", "password"),
        ("密码: 8866", "密码8866"),
        ("Turn-off  the Anti-Virus!", "turn off the anti virus"),
        ("can't open", "can t open"),
        ("用 PC 打开", "用pc打开"),
        ("传到电脑上，双击安装", "传到电脑上,双击安装"),  # a clause break survives
        ("If it complains,  turn it off!", "if it complains,turn it off"),
    ],
)
def test_compact_view(text: str, compact: str) -> None:
    assert fold(text).text == compact


def test_compact_view_maps_back_to_the_original() -> None:
    text = "請 用 電-腦 開 啟！"
    view = fold(text)
    start = view.text.index("电脑")
    a, b = view.span(start, start + 2)
    assert text[a:b] == "電-腦"
    a, b = view.span(0, len(view.text))
    assert text[a:b] == "請 用 電-腦 開 啟"


def test_plain_view_keeps_case_and_punctuation_but_joins_cjk() -> None:
    view = fold_plain("解 压-密 码：ＡｂＣ１２３，谢谢")
    assert view.text == "解压密码:AbC123,谢谢"
    a, b = view.span(view.text.index("AbC123"), view.text.index("AbC123") + 6)
    assert "解 压-密 码：ＡｂＣ１２３，谢谢"[a:b] == "ＡｂＣ１２３"


def test_plain_view_keeps_quotes_between_cjk() -> None:
    assert fold_plain("文件名“报价单”").text == "文件名“报价单”"


def test_traditional_table_maps_distinct_characters() -> None:
    assert len(T2S) > 200
    for trad, simp in T2S.items():
        assert chr(trad) != simp and is_cjk(chr(trad)) and is_cjk(simp)


def test_is_cjk() -> None:
    assert is_cjk("码") and is_cjk("碼") and not is_cjk("a") and not is_cjk("8") and not is_cjk("：")
