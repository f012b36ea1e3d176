"""The `filewall` command as a user runs it: JSON Lines contract, exit codes, chat."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import pytest
import pyzipper

LURE_CHAT = "亲，定制的设计图在压缩包里，手机打不开，用电脑解压看下，解压密码 8866，杀毒软件报毒就先关掉"
PLAIN_CHAT = "你好，这个杯子能刻字吗？"


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "filewall", *args], capture_output=True, text=True, input=stdin, timeout=120
    )


def json_lines(result: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


@pytest.fixture
def samples(tmp_path, pe_bytes):
    lure = tmp_path / "定制需求.zip"
    with zipfile.ZipFile(lure, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("设计图.jpg.exe", pe_bytes)
    locked = tmp_path / "资料.zip"
    with pyzipper.AESZipFile(locked, "w", compression=zipfile.ZIP_DEFLATED, encryption=pyzipper.WZ_AES) as archive:
        archive.setpassword(b"8866")
        archive.writestr("说明.txt", "尺寸 50x80cm".encode())
    note = tmp_path / "备注.txt"
    note.write_text("颜色：红色，数量 200 个\n", encoding="utf-8")
    broken = tmp_path / "坏的.zip"
    broken.write_bytes(lure.read_bytes()[:24])  # cut before the first name
    return {"lure": lure, "locked": locked, "note": note, "broken": broken}


def test_json_lines_contract_one_object_per_input(samples):
    result = run("scan", "--json", str(samples["lure"]), str(samples["note"]))
    lines = json_lines(result)
    assert [line["path"] for line in lines] == [str(samples["lure"]), str(samples["note"])]
    assert [line["verdict"] for line in lines] == ["malicious", "clean"]
    for line in lines:
        assert list(line)[:5] == ["path", "verdict", "score", "findings", "tree"]
        assert isinstance(line["score"], int)
        for finding in line["findings"]:
            assert {"rule", "severity", "message", "message_zh", "where"} <= set(finding)
    wheres = {finding["where"] for finding in lines[0]["findings"]}
    assert "定制需求.zip/设计图.jpg.exe" in wheres
    assert result.returncode == 1


def test_exit_codes_like_clamscan(samples):
    assert run("scan", str(samples["note"])).returncode == 0
    assert run("scan", str(samples["lure"])).returncode == 1
    errored = run("scan", "--json", str(samples["broken"]), str(samples["note"]))
    assert errored.returncode == 2
    assert [line["verdict"] for line in json_lines(errored)] == ["error", "clean"]


def test_folder_is_scanned_recursively(samples, tmp_path):
    lines = json_lines(run("scan", "--json", str(tmp_path)))
    assert len(lines) == 4


def test_password_option_opens_archive(samples):
    locked = json_lines(run("scan", "--json", str(samples["locked"])))[0]
    assert locked["verdict"] == "suspicious"
    assert "archive.encrypted_unopened" in {finding["rule"] for finding in locked["findings"]}
    opened = json_lines(run("scan", "--json", "-p", "8866", str(samples["locked"])))[0]
    assert opened["verdict"] == "clean"
    names = [child["name"] for child in opened["tree"]["children"]]
    assert names == ["说明.txt"]


def test_chat_password_opens_archive_and_chat_is_reported(samples):
    line = json_lines(run("scan", "--json", "--chat", LURE_CHAT, str(samples["locked"])))[0]
    assert line["tree"]["children"][0]["has_content"] is True
    assert line["chat"]["risk"] == "high" and "8866" in line["chat"]["passwords"]
    # The file itself is clean once opened: it stays clean whatever the chat says.
    assert line["verdict"] == "clean"


def test_high_risk_chat_raises_suspicious_file_to_malicious(samples):
    chat = LURE_CHAT.replace("解压密码 8866", "解压密码 1357")  # wrong password: archive stays locked
    line = json_lines(run("scan", "--json", "--chat", chat, str(samples["locked"])))[0]
    assert line["verdict"] == "malicious"
    assert line["findings"][0]["rule"] == "chat.lure_with_file"
    calm = json_lines(run("scan", "--json", "--chat", PLAIN_CHAT, str(samples["locked"])))[0]
    assert calm["verdict"] == "suspicious"


def test_chat_command(tmp_path):
    export = tmp_path / "chat.txt"
    export.write_text(LURE_CHAT, encoding="gb18030")
    result = run("chat", "--json", str(export))
    data = json.loads(result.stdout)
    assert data["risk"] == "high" and data["passwords"] == ["8866"] and result.returncode == 1
    assert all(reason["quote"] in LURE_CHAT for reason in data["reasons"])
    piped = run("chat", "-", stdin=PLAIN_CHAT)
    assert piped.returncode == 0


def test_human_output_names_the_file_and_the_reason(samples):
    result = run("scan", "--lang", "zh", str(samples["lure"]))
    assert "危险" in result.stdout and "设计图.jpg.exe" in result.stdout and "不要打开" in result.stdout
