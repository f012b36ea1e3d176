"""Splitting a pasted conversation or a chat-app text export into messages.

Accepted shapes, mixed freely (one message per line in all of them):

- plain text, one message per line;
- ``name: message`` / ``name：message``;
- a timestamp before the line: ``[10:22] name: msg``, ``2024-05-01 10:22:33 name: msg``,
  ``(10:22:33) msg``, ``【2024/5/1 10:22】name：msg``;
- a header line with a timestamp and a name, followed by the message lines
  (WeChat/QQ exports): ``2024-05-01 10:22:33 张三`` or ``张三 2024-05-01 10:22:33``, then
  ``你好``.

Each :class:`Message` records where its text starts in the original, so that a rule can quote
the original words. A ``name:`` prefix without a timestamp is only taken as a speaker when the
same name starts at least two lines and is not a field label: ``密码：8866`` is a message, not
a person called 密码.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

_DATE = r"\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?"
_TIME = r"\d{1,2}:\d{2}(?::\d{2})?(?:\s*[AaPp]\.?[Mm]\.?)?"
_STAMP = rf"(?:{_DATE}(?:[\sT,]+|(?=\D)){_TIME}|{_DATE}|{_TIME})"

#: A timestamp at the start of a line, bracketed or followed by a space (or end of line).
_LEADING_STAMP = re.compile(
    rf"^\s*(?:[\[(【（]\s*{_STAMP}\s*[\])】）]|{_STAMP}(?=\s|$))\s*",
)
#: ``name 2024-05-01 10:22:33`` or ``name(12345) 10:22`` — a header with the name first.
_NAME_THEN_STAMP = re.compile(rf"^\s*(?P<name>\S.{{0,39}}?)\s+(?P<stamp>{_DATE}[\sT,]+{_TIME})\s*$")
#: ``name: message``; the name has no colon and is short.
_NAME_COLON = re.compile(r"^(?P<name>[^:：\s][^:：]{0,23}?)\s*[:：]\s?(?P<msg>.*)$", re.S)
#: Lines that only separate days, e.g. ``—— 2024-05-01 ——``.
_DATE_RULE = re.compile(rf"^[\s\-—=~·*]*(?:{_DATE}|{_STAMP})[\s\-—=~·*]*$")


def _words(table: str) -> frozenset[str]:
    """A word table written as text, one space between words (easier to read than a literal)."""
    return frozenset(table.split())


#: Prefixes that are field labels, never speakers (folded to lower case, no spaces).
_LABELS = _words(
    """
    密码 解压密码 解压码 压缩包密码 文件密码 提取码 访问码 口令 密碼 解壓密碼 password pwd pw passcode code 订单号 订单编号 单号 快递单号 运单号 税号
    纳税人识别号 抬头 发票抬头 地址 收货地址 电话 手机 手机号 联系电话 邮箱 email e-mail mail tel phone mobile address order
    orderno ordernumber invoice vat taxid size 尺寸 尺码 规格 颜色 数量 价格 单价 总价 备注 链接 网址 link url http https
    note qty price total 注意 时间 日期 date time 姓名 收件人 name 公司 开户行 账号 银行账号 ps
    """
)


@dataclass(frozen=True)
class Message:
    """One message: who wrote it (if the export says), its text, and where the text starts."""

    speaker: str | None
    text: str
    start: int
    line: int


#: Words that make a prefix a label whatever else it says (``解压密码是：8866``).
_LABEL_WORDS = re.compile(r"密码|密碼|口令|提取码|解压|解壓|pass|pwd|code|号码|單號|单号|订单|税号", re.I)


def _is_label(name: str) -> bool:
    key = re.sub(r"[\s_\-.]+", "", name).lower()
    return not key or key in _LABELS or bool(_LABEL_WORDS.search(key))


def _candidate_name(rest: str) -> str | None:
    match = _NAME_COLON.match(rest)
    if not match or match.group("msg").startswith("//"):
        return None  # "https://…" is a link, not a speaker
    name = match.group("name").strip()
    if _is_label(name) or re.search(r"[。！？!?，,；;]", name):
        return None
    return name


def _lines(text: str) -> list[tuple[int, str]]:
    out = []
    position = 0
    for raw in text.splitlines(keepends=True):
        out.append((position, raw.rstrip("\r\n")))
        position += len(raw)
    return out


def parse_chat(text: str) -> list[Message]:
    """Split ``text`` into messages (see the module docstring for the accepted shapes)."""
    lines = [
        (number, offset, line)
        for number, (offset, line) in enumerate(_lines(text), start=1)
        if line.strip() and not _DATE_RULE.match(line)
    ]
    stamps = [_LEADING_STAMP.match(line) for _, _, line in lines]
    # A "name:" prefix without a timestamp counts only if it recurs (a conversation has turns).
    recurring = Counter(name for _, _, line in lines if (name := _candidate_name(line)))
    # Once some name recurs, the export is "name: message" and a name seen once is a speaker too.
    named_format = any(count >= 2 for count in recurring.values())
    messages: list[Message] = []
    speaker: str | None = None
    for index, (number, offset, line) in enumerate(lines):
        stamp = stamps[index]
        cut = stamp.end() if stamp else 0
        rest = line[cut:]
        # Header lines (WeChat/QQ exports) are followed by body lines without a timestamp.
        body_follows = index + 1 < len(lines) and stamps[index + 1] is None
        if stamp is None and (header := _NAME_THEN_STAMP.match(line)) and not _is_label(header.group("name")):
            speaker = header.group("name").strip()
            continue
        name = _candidate_name(rest)
        if name is not None and (stamp is not None or recurring[name] >= 2 or named_format):
            speaker = name
            match = _NAME_COLON.match(rest)
            assert match is not None
            cut += match.start("msg")
        elif stamp is not None and _is_header(stamp.group(), rest, body_follows):
            speaker = rest.strip() or speaker
            continue
        body = line[cut:]
        stripped = body.strip()
        if not stripped:
            continue
        lead = len(body) - len(body.lstrip())
        messages.append(Message(speaker, stripped, offset + cut + lead, number))
    return messages


def _is_header(stamp: str, rest: str, body_follows: bool) -> bool:
    """A timestamp line that introduces the following lines rather than being a message."""
    if not rest.strip():
        return True
    # Exports write full dates in headers; "10:31 好的" is a message with a time.
    return body_follows and re.search(_DATE, stamp) is not None and _looks_like_header_name(rest)


def _looks_like_header_name(rest: str) -> bool:
    """After a timestamp, a bare short name (WeChat/QQ export header) rather than a message."""
    rest = rest.strip()
    if not rest:
        return True
    if len(rest) > 30 or re.search(r"[。！？!?，,；;：:]", rest):
        return False
    # "张三", "张三(12345678)", "Alice Wong", "客服-小美" — but not a sentence.
    return bool(re.fullmatch(r"[\w\u3400-\u9fff·.\- ]{1,20}(?:[(（<][^)）>]{1,24}[)）>])?", rest))
