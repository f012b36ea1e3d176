"""``chat_command`` (what ``filewall chat`` runs) and ``python -m filewall.chat``."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from filewall.chat import ChatReason, ChatResult, analyze_chat
from filewall.chat.cli import chat_command, decode_chat, main

LURE = "亲，定制需求在压缩包里，手机打不开用电脑解压，解压密码：8866，杀毒软件会误报，先关一下"
BENIGN = "你好，订单号 123456789012 什么时候发货？"


def test_json_output_matches_the_contract() -> None:
    output, code = chat_command(LURE, json_output=True)
    data = json.loads(output)
    assert set(data) == {"risk", "score", "reasons", "passwords"}
    assert data["risk"] == "high" and isinstance(data["score"], int) and 0 <= data["score"] <= 100
    assert data["passwords"] == ["8866"]
    for reason in data["reasons"]:
        assert set(reason) == {"rule", "quote", "message", "message_zh"}
        assert reason["quote"] in LURE
    assert code == 1
    assert "\n" not in output  # one object, one line


def test_result_types_and_to_dict() -> None:
    result = analyze_chat(LURE)
    assert isinstance(result, ChatResult)
    assert all(isinstance(reason, ChatReason) for reason in result.reasons)
    assert result.to_dict() == json.loads(chat_command(LURE, json_output=True)[0])


def test_text_output_and_exit_codes() -> None:
    output, code = chat_command(LURE)
    assert code == 1
    assert "HIGH" in output and "8866" in output and "解压密码：8866" in output
    output, code = chat_command(BENIGN)
    assert code == 0 and "LOW" in output and "none" in output


def test_empty_input_is_low() -> None:
    assert analyze_chat("").to_dict() == {"risk": "low", "score": 0, "reasons": [], "passwords": []}
    assert chat_command("   \n")[1] == 0


def test_decode_chat_exports() -> None:
    text = "解压密码：8866"
    assert decode_chat(text.encode("utf-8")) == text
    assert decode_chat(b"\xef\xbb\xbf" + text.encode("utf-8")) == text
    assert decode_chat(text.encode("utf-16")) == text
    assert decode_chat(text.encode("gb18030")) == text


def test_main_reads_a_file(tmp_path: Path, capsys) -> None:
    path = tmp_path / "chat.txt"
    path.write_text(LURE, encoding="gb18030")
    assert main([str(path), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["passwords"] == ["8866"]


def test_main_reads_stdin(monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(BENIGN.encode("utf-8"))))
    assert main(["-"]) == 0
    assert "LOW" in capsys.readouterr().out


def test_main_reports_unreadable_input(tmp_path: Path, capsys) -> None:
    assert main([str(tmp_path / "missing.txt")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_python_dash_m_entry_point() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "filewall.chat", "-", "--json"],
        input=LURE.encode("utf-8"),
        capture_output=True,
        check=False,
    )
    assert completed.returncode == 1
    assert json.loads(completed.stdout.decode("utf-8"))["risk"] == "high"
