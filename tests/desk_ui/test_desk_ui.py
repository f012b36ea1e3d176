"""The support desk in a real browser: an agent checks a lure and a zip of pictures, the
owner finds both in the shop's history.

The desk runs on localhost (uvicorn, fresh data folder, accounts made through the store
API); Debian's Chromium is driven by Playwright. Samples are built here from harmless
parts: the "Trojan" is pip's real ``t64.exe`` launcher (``pe_bytes``) named ``设计图.jpg.exe``
inside an AES-encrypted zip whose password (8866) is only in the chat; the pictures are
drawn by Pillow. Nothing is ever executed. Screenshots go to ``artifacts/screenshots``.
"""

from __future__ import annotations

import base64
import io
import os
import re
import zipfile
from pathlib import Path

import pytest
import pyzipper
from PIL import Image, ImageDraw  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
#: (user name, password, display name), as the ``desk`` fixture made them.
OWNER = ("wang", "owner-password-1", "王店长")
AGENT = ("xiaoli", "agent-password-1", "小李")

pytestmark = pytest.mark.slow

LURE_NAME = "设计图.zip"
PICTURES_NAME = "商品照片.zip"
CHAT = "顾客：你好，我要定制这款T恤，设计图发你了\n顾客：解压密码 8866\n顾客：快点看一下，急用"


# -- samples -------------------------------------------------------------------------------------


def lure_zip(pe_bytes: bytes) -> bytes:
    out = io.BytesIO()
    with pyzipper.AESZipFile(
        out, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
    ) as archive:
        archive.setpassword(b"8866")
        archive.writestr("设计图.jpg.exe", pe_bytes)
    return out.getvalue()


def drawing(fmt: str, size: tuple[int, int], background: str, shapes: list[tuple[str, str]]) -> bytes:
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    width, height = size
    for index, (shape, colour) in enumerate(shapes):
        box = (width * (0.1 + 0.3 * index), height * 0.25, width * (0.35 + 0.3 * index), height * 0.75)
        (draw.ellipse if shape == "circle" else draw.rectangle)(box, fill=colour, outline="#222222", width=4)
    draw.text((20, 20), f"filewall test {fmt}", fill="#111111")
    out = io.BytesIO()
    image.save(out, format=fmt, quality=85) if fmt == "JPEG" else image.save(out, format=fmt)
    return out.getvalue()


def pictures_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "正面.jpg", drawing("JPEG", (1600, 1200), "#f4d9c6", [("circle", "#e4572e"), ("rect", "#29335c")])
        )
        archive.writestr(
            "尺码表.png", drawing("PNG", (900, 700), "#ffffff", [("rect", "#17bebb"), ("circle", "#ffc914")])
        )
        archive.writestr("说明.txt", "尺码：M\n颜色：藏青\n备注：领口加宽两厘米，谢谢！\n".encode("gbk"))
    return out.getvalue()


# -- helpers -------------------------------------------------------------------------------------


def new_page(browser, desk, locale: str = "zh-CN"):
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900}, base_url=desk.url)
    page = context.new_page()
    page.set_default_timeout(60_000)
    problems: list[str] = []
    outside: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.on(
        "request", lambda request: None if request.url.startswith(desk.url) else outside.append(request.url)
    )
    page.problems, page.outside = problems, outside
    return page


def log_in(page, user: tuple[str, str, str], next_path: str = "/") -> None:
    page.goto(next_path)
    page.wait_for_url(re.compile(r"/login"))
    page.fill("#username", user[0])
    page.fill("#password", user[1])
    page.click("#login-form button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def drop_files(page, selector: str, files: list[tuple[str, bytes]]) -> None:
    """Drop files on ``selector`` the way a browser does: a DataTransfer on drag events."""
    payload = [{"name": name, "b64": base64.b64encode(data).decode()} for name, data in files]
    page.evaluate(
        """({selector, files}) => {
            const transfer = new DataTransfer();
            for (const file of files) {
                const bytes = Uint8Array.from(atob(file.b64), c => c.charCodeAt(0));
                transfer.items.add(new File([bytes], file.name));
            }
            const zone = document.querySelector(selector);
            for (const type of ["dragenter", "dragover", "drop"]) {
                zone.dispatchEvent(new DragEvent(type, {dataTransfer: transfer, bubbles: true, cancelable: true}));
            }
        }""",
        {"selector": selector, "files": payload},
    )


def watch_progress(page) -> None:
    page.evaluate(
        """() => {
            window.__progress = [];
            const box = document.getElementById("progress");
            new MutationObserver(() => {
                if (!box.hidden) window.__progress.push(document.getElementById("progress-text").textContent);
            }).observe(box, {attributes: true, childList: true, subtree: true, characterData: true});
        }"""
    )


def card_for(page, file_name: str):
    return page.locator(".verdict-card", has=page.locator(".card-file", has_text=file_name)).first


# -- the story -----------------------------------------------------------------------------------


def test_agent_checks_a_lure_and_pictures_then_the_owner_sees_both(browser, desk, pe_bytes, shot, publish):
    lure = lure_zip(pe_bytes)
    page = new_page(browser, desk)

    # The agent logs in (the desk sends them to the login page first).
    log_in(page, AGENT)
    assert page.url.rstrip("/") == desk.url
    assert page.locator("h1").inner_text() == "检查顾客发来的文件"

    # Drops the lure and pastes the chat that came with it.
    drop_files(page, "#dropzone", [(LURE_NAME, lure)])
    assert page.locator("#file-list li .fname").all_inner_texts() == [LURE_NAME]
    page.fill("#chat", CHAT)
    watch_progress(page)
    page.click("#check-button")
    card = card_for(page, LURE_NAME)
    card.wait_for()
    assert any("正在" in text for text in page.evaluate("window.__progress")), "no progress was shown"
    assert page.locator("#progress").is_hidden()

    # Sees "dangerous" and why.
    assert card.get_attribute("data-verdict") == "malicious"
    assert card.locator(".verdict-badge").inner_text() == "危险"
    sentence = card.locator(".sentence").inner_text()
    assert "设计图.jpg.exe" in sentence and "程序" in sentence
    reasons = " ".join(card.locator(".reasons li").all_inner_texts())
    assert "伪装成 .jpg" in reasons and ".exe" in reasons
    assert "解压密码 8866" in reasons  # the chat's part in it
    # The safe view shows the member's real name, its real extension marked as a program.
    member = card.locator(".tree li li").first
    assert member.locator(".node-name").inner_text() == "设计图.jpg.exe"
    assert member.locator(".node-name .ext.danger").inner_text() == "exe"
    # No way for an agent to download it.
    assert card.locator("a[href*='/sample']").count() == 0
    assert "店主" in card.locator(".card-links").inner_text()
    lure_id = card.get_attribute("data-report-id")
    assert page.request.get(f"/api/v1/reports/{lure_id}/sample?confirm=yes").status == 403
    assert page.request.get(f"/reports/{lure_id}/download").status == 403

    # Then a zip of pictures, chosen with the file picker this time.
    page.set_input_files(
        "#file-input",
        files=[{"name": PICTURES_NAME, "mimeType": "application/zip", "buffer": pictures_zip()}],
    )
    page.click("#check-button")
    pictures = card_for(page, PICTURES_NAME)
    pictures.wait_for()
    assert pictures.get_attribute("data-verdict") == "clean"
    assert pictures.locator(".verdict-badge").inner_text() == "安全"
    names = pictures.locator(".tree .node-name").all_inner_texts()
    assert names[0] == PICTURES_NAME and {"正面.jpg", "尺码表.png", "说明.txt"} <= set(names)
    thumbs = pictures.locator("img.thumb")
    assert thumbs.count() == 2
    for index in range(2):
        thumb = thumbs.nth(index)
        thumb.scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
        width = thumb.evaluate("img => img.naturalWidth")
        assert 0 < width <= 320
        response = page.request.get(thumb.get_attribute("src"))
        assert response.headers["content-type"] == "image/png"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.body().startswith(b"\x89PNG\r\n\x1a\n")
    text = pictures.locator("pre.text-preview").inner_text()
    assert page.locator("#chat").input_value() == ""  # cleared for the next conversation
    assert "领口加宽两厘米" in text  # GBK, decoded
    assert "gbk" in pictures.locator(".preview-note", has_text="编码").inner_text().lower()
    # Cards are newest first.
    order = page.locator(".verdict-card").evaluate_all("cards => cards.map(c => c.dataset.verdict)")
    assert order == ["clean", "malicious"]
    pictures_id = pictures.get_attribute("data-report-id")

    page.evaluate("window.scrollTo(0, 0)")
    agent_shot = shot(page, "agent-page")
    readme_copy = ROOT / "docs" / "img" / "agent-page.png"
    if os.environ.get("FILEWALL_UPDATE_DOCS") == "1" or not readme_copy.exists():
        publish(agent_shot, readme_copy, width=960)
    assert readme_copy.stat().st_size < 300_000

    # The full report of the pictures reopens with the same safe view.
    page.goto(f"/reports/{pictures_id}")
    assert page.locator(".verdict-card[data-verdict=clean] img.thumb").count() == 2
    shot(page, "report-pictures")
    page.goto(f"/reports/{lure_id}")
    assert page.locator(".verdict-card[data-verdict=malicious]").count() == 1
    shot(page, "report-lure")
    assert not page.problems, page.problems
    assert not page.outside, page.outside

    # The owner logs in and lands on the shop's history: both files, and the blocked count.
    owner = new_page(browser, desk)
    log_in(owner, OWNER, "/history")
    assert owner.url.endswith("/history")
    rows = owner.locator("#history-table tbody tr")
    ids = rows.evaluate_all("rows => rows.map(r => r.dataset.reportId)")
    assert lure_id in ids and pictures_id in ids
    assert int(owner.locator("#blocked-week .number").inner_text()) >= 1
    row = owner.locator(f"tr[data-report-id='{lure_id}']")
    assert row.locator(".pill").inner_text() == "危险"
    assert row.locator("td.agent").inner_text() == AGENT[2]
    shot(owner, "history")

    # Filter by verdict, by agent, by date.
    owner.select_option("#f-verdict", "malicious")
    owner.click("#history-filters button[type=submit]")
    owner.wait_for_url(re.compile(r"verdict=malicious"))
    shown = owner.locator("#history-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.verdict)")
    assert shown and set(shown) == {"malicious"}
    owner.goto(f"/history?agent={OWNER[0]}")
    assert owner.locator("#history-table").count() == 0  # the owner sent nothing
    owner.goto(f"/history?agent={AGENT[0]}&from=2000-01-01&to=2999-12-31")
    assert owner.locator("#history-table tbody tr").count() >= 2
    owner.goto("/history?to=2000-01-01")
    assert owner.locator("#history-table").count() == 0

    # Reopens the lure's report and may download it, behind a confirmation.
    owner.goto("/history")
    owner.click(f"tr[data-report-id='{lure_id}'] a")
    owner.wait_for_url(re.compile(rf"/reports/{lure_id}$"))
    owner.click(".card-links a.danger")
    owner.wait_for_url(re.compile(r"/download$"))
    confirm = owner.locator("#confirm-download")
    assert "confirm=yes" in confirm.get_attribute("href")
    shot(owner, "download-confirm")
    assert owner.request.get(f"/api/v1/reports/{lure_id}/sample").status in (400, 403)
    sample = owner.request.get(confirm.get_attribute("href"))
    assert sample.status == 200 and sample.body() == lure
    assert not owner.problems, owner.problems
    assert not owner.outside, owner.outside

    # Logging out ends the session.
    owner.goto("/history")
    owner.click("[data-action=logout]")
    owner.wait_for_url(re.compile(r"/login"))
    owner.goto("/history")
    assert "/login" in owner.url


# -- smaller checks --------------------------------------------------------------------------------


def test_language_follows_the_browser_and_the_switch(browser, desk, shot):
    page = new_page(browser, desk, locale="en-US")
    page.goto("/login")
    assert page.locator("h1").inner_text() == "Log in"
    assert page.locator("html").get_attribute("lang") == "en"
    page.click(".lang-switch")
    page.wait_for_url(re.compile(r"/login"))
    assert page.locator("h1").inner_text() == "登录"
    page.reload()
    assert page.locator("h1").inner_text() == "登录"  # kept in a cookie
    log_in_page = new_page(browser, desk, locale="zh-CN")
    log_in_page.goto("/login")
    assert log_in_page.locator("h1").inner_text() == "登录"
    log_in(page, AGENT)
    page.click(".lang-switch")
    page.wait_for_url(lambda url: url.rstrip("/") == desk.url)
    assert page.locator("h1").inner_text() == "Check files from a customer"
    assert page.locator("#check-button").inner_text() == "Check"
    shot(page, "agent-page-en")


def test_pages_are_locked_down(browser, desk):
    page = new_page(browser, desk)
    response = page.goto("/login")
    headers = response.headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    html = page.content()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)  # no inline script
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers
    assert not re.search(r"(src|href)=\"https?://", html)  # nothing from outside
    for path in ("/", "/history", "/reports/AAAAAAAAAAAAAAAAAAAAAA"):
        page.goto(path)
        assert "/login" in page.url
    assert page.request.get("/static/../app.py").status == 404
    css = page.request.get("/static/desk.css")
    assert css.status == 200 and css.headers["content-type"].startswith("text/css")
    assert "url(http" not in css.text() and "@import" not in css.text()


def test_uploaded_html_is_shown_as_text_never_run(browser, desk):
    page = new_page(browser, desk)
    log_in(page, AGENT)
    html = (
        b"<html><body><script>alert('pwned')</script><img src=x onerror=alert(2)><h1>Order</h1></body></html>"
    )
    page.set_input_files(
        "#file-input", files=[{"name": "订单.html", "mimeType": "text/html", "buffer": html}]
    )
    page.click("#check-button")
    card = card_for(page, "订单.html")
    card.wait_for()
    text = card.locator("pre.text-preview").inner_text()
    assert "<script>alert('pwned')</script>" in text
    assert card.locator("h1").count() == 0 and card.locator("script").count() == 0
    assert not [problem for problem in page.problems if problem.startswith("dialog")]
    assert card.locator(".card-file").inner_text() == "订单.html"


def test_agent_cannot_open_the_owner_history(browser, desk):
    page = new_page(browser, desk, locale="en-US")
    log_in(page, AGENT)
    response = page.goto("/history")
    assert response.status == 403
    assert "Only the shop owner" in page.locator(".message").inner_text()
    assert page.locator("nav a[href='/history']").count() == 0


def test_hidden_characters_in_a_name_are_shown(browser, desk, pe_bytes):
    page = new_page(browser, desk)
    log_in(page, AGENT)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("invoice_\u202egpj.scr", pe_bytes)
    page.set_input_files(
        "#file-input", files=[{"name": "发票.zip", "mimeType": "application/zip", "buffer": out.getvalue()}]
    )
    page.click("#check-button")
    card = card_for(page, "发票.zip")
    card.wait_for()
    member = card.locator(".tree li li").first
    name = member.locator(".node-name").inner_text()
    assert name == "invoice_[RLO]gpj.scr" and "\u202e" not in name
    assert member.locator(".hidden-mark").inner_text() == "[RLO]"
    assert member.locator(".ext.danger").inner_text() == "scr"
    assert "invoice_rcs.jpg" in member.inner_text()  # how Explorer would have shown it


def minimal_pdf(lines: list[str]) -> bytes:
    """A one-page PDF (Helvetica) written by hand, xref offsets computed."""
    stream = "BT /F1 14 Tf 72 720 Td 18 TL " + " ".join(f"({line}) '" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def test_several_documents_dropped_at_once_show_their_text(browser, desk, shot):
    import docx
    document = docx.Document()
    document.add_paragraph("退货申请：订单 1001 的连衣裙有破洞。")
    word = io.BytesIO()
    document.save(word)
    csv = "订单号,商品,数量\n1001,连衣裙,2\n".encode("gbk")
    pdf = minimal_pdf(["Invoice 2024-0815", "Total due: 88.66 USD"])
    page = new_page(browser, desk)
    log_in(page, AGENT)
    drop_files(page, "#dropzone", [("退货.docx", word.getvalue()), ("订单.csv", csv), ("invoice.pdf", pdf)])
    assert page.locator("#file-list li").count() == 3
    page.click("#check-button")
    for name, expected in (
        ("退货.docx", "订单 1001 的连衣裙有破洞"),
        ("订单.csv", "1001,连衣裙,2"),
        ("invoice.pdf", "Total due: 88.66 USD"),
    ):
        card = card_for(page, name)
        card.wait_for()
        assert expected in card.locator("pre.text-preview").inner_text(), name
    assert page.locator(".verdict-card").count() >= 3
    shot(page, "agent-documents")
    assert not page.problems, page.problems
