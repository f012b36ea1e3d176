"""The desk's words in Chinese and English, and which of the two a request gets.

The language is the ``lang`` cookie when the person chose one with the switch on every
page, else the browser's ``Accept-Language`` (the first of ``zh`` or ``en`` by preference,
``q`` weights honoured), else Chinese: the desk is made for shops on Chinese platforms.
"""

from __future__ import annotations

from typing import Any

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
COOKIE = "lang"

#: key -> (English, Chinese)
STRINGS: dict[str, tuple[str, str]] = {
    "app_name": ("filewall support desk", "filewall 客服安全台"),
    "tagline": (
        "Check what customers send before anyone opens it.",
        "顾客发来的文件，先检查，再打开。",
    ),
    "switch_to": ("中文", "English"),
    "switch_title": ("切换到中文", "Switch to English"),
    # login
    "login_title": ("Log in", "登录"),
    "username": ("User name", "用户名"),
    "password": ("Password", "密码"),
    "login_button": ("Log in", "登录"),
    "login_failed": ("Wrong user name or password.", "用户名或密码错误。"),
    "login_busy": ("Too many attempts; wait a few minutes.", "尝试次数太多，请几分钟后再试。"),
    "logout": ("Log out", "退出"),
    # navigation
    "nav_check": ("Check files", "检查文件"),
    "nav_history": ("History", "检查记录"),
    "signed_in_as": ("Signed in as", "当前用户"),
    "role_agent": ("agent", "客服"),
    "role_owner": ("owner", "店主"),
    "role_admin": ("admin", "管理员"),
    # agent page
    "agent_title": ("Check files from a customer", "检查顾客发来的文件"),
    "agent_intro": (
        "Drop the files here before you open them. Nothing you drop is opened or run on this computer.",
        "打开之前，先把文件拖到这里。拖进来的文件不会在这台电脑上打开或运行。",
    ),
    "drop_here": ("Drop files here", "把文件拖到这里"),
    "drop_or": ("or", "或"),
    "choose_files": ("choose files", "选择文件"),
    "chosen_files": ("Files to check", "待检查的文件"),
    "remove": ("Remove", "移除"),
    "chat_label": ("Chat with the customer (optional)", "与顾客的聊天记录（可选）"),
    "chat_placeholder": (
        "Paste the conversation that came with the files: passwords in it are tried, and tricks in it are recognised.",
        "粘贴随文件一起发来的聊天内容：其中的密码会被尝试，其中的骗术会被识别。",
    ),
    "passwords_label": ("Archive passwords (optional, one per line)", "压缩包密码（可选，每行一个）"),
    "check_button": ("Check", "开始检查"),
    "uploading": ("Uploading…", "正在上传…"),
    "scanning": ("Checking… this takes a few seconds.", "正在检查…需要几秒钟。"),
    "no_files": ("Choose or drop at least one file.", "请至少选择或拖入一个文件。"),
    "too_many_files": ("Too many files at once (at most {n}).", "一次文件太多（最多 {n} 个）。"),
    "too_large": (
        "The files are too large together (at most {mb} MB).",
        "文件总大小超出限制（最多 {mb} MB）。",
    ),
    "upload_failed": ("The check failed: {reason}", "检查失败：{reason}"),
    "session_expired": ("Your login has expired: log in again.", "登录已过期，请重新登录。"),
    "results": ("Results", "检查结果"),
    "again": ("Check more files", "继续检查"),
    # verdicts
    "verdict_clean": ("Safe", "安全"),
    "verdict_suspicious": ("Suspicious", "可疑"),
    "verdict_malicious": ("Dangerous", "危险"),
    "verdict_error": ("Could not check", "无法检查"),
    "advice_clean": (
        "No danger found. You can open it as usual.",
        "未发现危险，可以正常打开。",
    ),
    "advice_suspicious": (
        "Do not open it. Ask the customer to send the picture or text directly in the chat.",
        "不要打开。请顾客直接在聊天中发送图片或文字。",
    ),
    "advice_malicious": (
        "Do not open it, and do not forward it. This is how Trojans get onto shop computers.",
        "不要打开，也不要转发。木马就是这样进入店铺电脑的。",
    ),
    "advice_error": (
        "It could not be checked completely. Do not open it; ask the customer for another format.",
        "无法完整检查。不要打开，请顾客换一种格式发送。",
    ),
    "reasons": ("Why", "原因"),
    "severity_critical": ("critical", "严重"),
    "severity_high": ("high", "高危"),
    "severity_medium": ("medium", "中等"),
    "severity_low": ("low", "低"),
    "severity_info": ("note", "提示"),
    "chat_reasons": ("In the chat", "聊天中"),
    "score": ("score", "风险分"),
    "where": ("in", "位置"),
    "safe_view": ("Safe view", "安全查看"),
    "safe_view_intro": (
        "What is inside, shown without opening it: names as they really are, pictures redrawn by the server, text extracted.",
        "不打开文件也能看到里面的内容：名称按真实字符显示，图片由服务器重新绘制，文字已提取。",
    ),
    "open_report": ("Full report", "完整报告"),
    "tree": ("Contents", "文件内容"),
    "name": ("Name", "名称"),
    "type": ("Type", "类型"),
    "size": ("Size", "大小"),
    "real_extension": ("real extension", "真实扩展名"),
    "runs_code": ("runs code when opened", "打开即运行代码"),
    "hidden_chars": ("hidden characters", "隐藏字符"),
    "looks_like": ("looks like", "看起来像"),
    "no_content": ("could not be opened (password?)", "无法打开（需要密码？）"),
    "truncated": ("only partly read (size limit)", "只读取了一部分（大小限制）"),
    "thumbnail_alt": ("Thumbnail redrawn by the server", "由服务器重新绘制的缩略图"),
    "text_preview": ("Text", "文字内容"),
    "encoding": ("encoding", "编码"),
    "fmt_text": ("plain text", "纯文本"),
    "fmt_docx": ("Word document", "Word 文档"),
    "fmt_xlsx": ("Excel workbook", "Excel 表格"),
    "fmt_pptx": ("PowerPoint slides", "PowerPoint 演示文稿"),
    "fmt_pdf": ("PDF text", "PDF 文字"),
    "fmt_doc": ("Word 97-2003 document", "Word 97-2003 文档"),
    "fmt_xls": ("Excel 97-2003 workbook", "Excel 97-2003 表格"),
    "fmt_ppt": ("PowerPoint 97-2003 slides", "PowerPoint 97-2003 演示文稿"),
    "fmt_rtf": ("RTF document", "RTF 文档"),
    "fmt_odt": ("OpenDocument text", "OpenDocument 文本"),
    "fmt_ods": ("OpenDocument spreadsheet", "OpenDocument 表格"),
    "fmt_odp": ("OpenDocument presentation", "OpenDocument 演示文稿"),
    "fmt_odg": ("OpenDocument drawing", "OpenDocument 绘图"),
    "fmt_html": ("HTML source, not rendered", "HTML 源代码（不渲染）"),
    "fmt_svg": ("SVG source, not rendered", "SVG 源代码（不渲染）"),
    "fmt_xml": ("XML source", "XML 源代码"),
    "fmt_email": ("e-mail source", "邮件源代码"),
    "fmt_hta": ("HTA source, not run", "HTA 源代码（不运行）"),
    "text_cut": ("(only the beginning is shown)", "（只显示开头部分）"),
    "pixels": ("pixels", "像素"),
    "more_nodes": ("{n} more items not shown", "还有 {n} 项未显示"),
    # download
    "download": ("Download the file", "下载文件"),
    "download_blocked": (
        "Downloading is turned off for files judged suspicious or dangerous.",
        "被判定为可疑或危险的文件不能下载。",
    ),
    "download_owner_only": (
        "Only the shop owner can download it, after confirming.",
        "只有店主确认后才能下载。",
    ),
    "download_confirm_title": ("Download a dangerous file?", "确定下载危险文件？"),
    "download_confirm_text": (
        "This file was judged {verdict}. Download it only to hand it to a security team or the police; never open it on a shop computer.",
        "此文件被判定为「{verdict}」。只应为了交给安全团队或警方而下载；绝不要在店铺电脑上打开。",
    ),
    "download_confirm_button": ("I understand, download it", "我明白风险，下载"),
    "cancel": ("Cancel", "取消"),
    "sample_missing": ("The file itself is no longer kept.", "文件本身已不再保存。"),
    # history
    "history_title": ("Scan history", "检查记录"),
    "blocked_this_week": ("blocked in the last 7 days", "近 7 天拦截"),
    "scanned_this_week": ("files checked in the last 7 days", "近 7 天检查的文件"),
    "filter": ("Filter", "筛选"),
    "filter_verdict": ("Verdict", "结果"),
    "filter_agent": ("Agent", "客服"),
    "filter_from": ("From", "开始日期"),
    "filter_to": ("To", "结束日期"),
    "filter_any": ("Any", "全部"),
    "filter_apply": ("Apply", "应用"),
    "filter_reset": ("Reset", "重置"),
    "col_time": ("Time", "时间"),
    "col_file": ("File", "文件"),
    "col_verdict": ("Verdict", "结果"),
    "col_agent": ("Agent", "客服"),
    "col_summary": ("Summary", "说明"),
    "no_reports": ("No scans match.", "没有符合条件的记录。"),
    "shown_of": ("{shown} of {total}", "共 {total} 条，显示 {shown} 条"),
    "next_page": ("Older", "更早"),
    "prev_page": ("Newer", "更新"),
    "owners_only": ("Only the shop owner can see the shop's history.", "只有店主可以查看店铺的检查记录。"),
    # report page
    "report_title": ("Report", "检查报告"),
    "checked_by": ("Checked by {agent} on {time}", "由 {agent} 于 {time} 检查"),
    "sha256": ("SHA-256", "SHA-256"),
    "not_found": ("Not found.", "未找到。"),
    "back": ("Back", "返回"),
    "offline_note": (
        "Works offline: nothing on this page comes from the internet.",
        "离线可用：本页内容均不来自互联网。",
    ),
}

VERDICT_CLASSES = {"clean": "clean", "suspicious": "suspicious", "malicious": "malicious", "error": "error"}


def parse_accept_language(header: str | None) -> str | None:
    """The first supported language in an ``Accept-Language`` header, by weight."""
    if not header:
        return None
    choices: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")[:30]):
        parts = item.strip().split(";")
        tag = parts[0].strip().lower()
        weight = 1.0
        for param in parts[1:]:
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if weight <= 0:
            continue
        primary = tag.split("-")[0]
        if primary in LANGUAGES:
            choices.append((-weight, position, primary))
    return min(choices)[2] if choices else None


def pick_language(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGUAGES:
        return cookie  # type: ignore[return-value]
    return parse_accept_language(accept_language) or DEFAULT_LANGUAGE


class Translator:
    """``t("key", n=3)`` in one language; also picks ``message``/``message_zh`` fields."""

    def __init__(self, language: str):
        self.language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        self.other = "en" if self.language == "zh" else "zh"

    def __call__(self, key: str, **params: Any) -> str:
        english, chinese = STRINGS.get(key, (key, key))
        text = chinese if self.language == "zh" else english
        return text.format(**params) if params else text

    def pick(self, item: dict[str, Any] | None, field: str = "message") -> str:
        """``item[field + "_zh"]`` in Chinese (falling back to English), else ``item[field]``."""
        if not item:
            return ""
        if self.language == "zh":
            return str(item.get(f"{field}_zh") or item.get(field) or "")
        return str(item.get(field) or item.get(f"{field}_zh") or "")

    def format(self, fmt: str) -> str:
        """How a preview's format is named (``docx`` → "Word document"); unknown ones as is."""
        return self(f"fmt_{fmt}") if f"fmt_{fmt}" in STRINGS else fmt

    def verdict(self, verdict: str) -> str:
        return self(f"verdict_{verdict}") if f"verdict_{verdict}" in STRINGS else verdict


def all_keys_translated() -> bool:
    """True when every string has both languages (checked by a test)."""
    return all(english.strip() and chinese.strip() for english, chinese in STRINGS.values())
