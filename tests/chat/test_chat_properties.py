"""Properties that hold for any text: no crash, exact quotes, a consistent score and risk."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from filewall.chat import analyze_chat, risk_for

# Pieces of lures, separators and noise, so that random texts hit the rules often.
_PIECES = [
    "定制", "压缩包", "解压密码：", "8866", "手机打不开", "用电脑打开", "关闭杀毒软件", "双击", "运行", ".exe",
    "password is ", "abc123", "open it on your computer", "turn off the antivirus", "不要", "\n", " ", "-",
    "：", "，", "。", "８８", "解壓密碼", "[10:22] 客户: ", "2024-05-01 10:22:33 张三\n", "“", "”", "提取码",
]  # fmt: skip
_TEXT = st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=6)), max_size=40).map("".join)


@settings(max_examples=200, deadline=None, database=None)
@given(_TEXT)
def test_any_text(text: str) -> None:
    result = analyze_chat(text)
    assert 0 <= result.score <= 100
    assert result.risk == risk_for(result.score)
    assert (result.score == 0) == (not result.reasons)
    for reason in result.reasons:
        assert reason.quote and reason.quote in text
    folded = unicodedata.normalize("NFKC", text)
    for password in result.passwords:
        assert password.replace(" ", "") and len(set(result.passwords)) == len(result.passwords)
        assert all(char in folded for char in password)
