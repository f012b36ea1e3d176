"""Finding the archive password a fake customer types into the chat.

A Silver Fox lure often sends an encrypted archive (so that chat apps and scanners cannot look
inside) and gives the password in the message: ``解压密码：8866``, ``the password is 6688``,
``提取码 a1b2``. The scanner tries these passwords on the archive, so the extraction must be
exact: the stated password(s), in order, without the quotes or punctuation around them — and
nothing else. Order numbers, tax ids, phone numbers, sizes and prices are never taken, because
a value is only taken right after a password keyword.

Patterns (on the NFKC + simplified view, so ``解壓密碼：８８６６`` gives ``8866``):

- keyword: ``密码 / 解压密码 / 压缩包密码 / 解压码 / 口令 / 提取码 / 访问码 / password /
  passcode / pwd / pw / extraction code / access code``;
- connector: spaces, ``: ： = -``, ``是 / 为 / 就是 / 都是 / 设置为 / 发你``, ``is / are``,
  ``for the zip``;
- value: 3–32 characters of ``A-Z a-z 0-9`` and ``!@#$%^&*_+=~.-``, optionally quoted, or
  single characters separated by spaces (``6 6 8 8``); alternatives ``或 / 或者 / 还是 / or
  / and / /`` add more values (which must then contain a digit);
- the keyword alone at the end of a message takes a bare value from the next message;
- ``密码就是文件名`` gives a value only when a file name is quoted in the same message
  (``“报价0516.zip”`` → ``报价0516``).

Keywords about other secrets (``支付密码``, ``登录密码``, ``wifi password``, ``淘口令``,
``默认密码``) are skipped: those are not archive passwords.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .normalize import Folded, fold_plain, nfkc
from .parse import Message, parse_chat

_KEYWORD = (
    r"(?P<share>提取码|访问码|分享码|(?<![a-z])(?:extraction|extract|access|share)\s+code(?![a-z]))"
    r"|(?P<archive>(?:解压|压缩包?|文件|打开|附件|zip|rar|7z)?(?:的)?密码|解压码|口令"
    r"|(?<![a-z])(?:passwords?|passcode|passwd|pwd|pw|unzip\s+code|unlock\s+code)(?![a-z])"
    # "pass" is an ordinary verb; only "pass:" / "pass =" is a keyword
    r"|(?<![a-z])pass(?=\s*[:=]))"
)
_FOR_WHAT = (
    r"for\s+(?:the\s+|this\s+|that\s+|my\s+|our\s+)?(?:first\s+|second\s+|other\s+)?"
    r"(?:zip|archive|file|rar|7z|folder|attachment|document|part|package|pack)s?"
    r"(?:\s*(?:\d{1,2}|one|two|three))?(?:\s+file)?"
)
_CONNECTOR = (
    r"(?P<conn>(?:\s|[:=\-]"
    rf"|{_FOR_WHAT}"
    r"|[\u4e00-\u9fff]{1,10}(?=[:：])"  # "密码在我上一条消息里：yp1234"
    r"|如下所示|如下|在下面|见下一?条|下一?条(?:消息|信息)?(?:发|给)?"
    r"|(?<![a-z])(?:below|as follows|in (?:the|my) next message|see (?:the )?next message)(?![a-z])"
    r"|(?:就|都|也|还|统一|一律)?(?:是|为|设置为|设为|设的是)"
    r"|我?(?:发|给|告诉)(?:你|您)(?:一下)?"
    r"|(?<![a-z])(?:is|are|was)(?![a-z])|(?:will|would)\s+be)*)"
)
_OPEN_QUOTE = r"[\"'“‘「『《【\[(（<]"
_VALUE = (
    r"(?:[A-Za-z0-9](?:\s[A-Za-z0-9]){2,15}(?![A-Za-z0-9])"  # "6 6 8 8"
    r"|[A-Za-z0-9!@#$%^&*_+=~][A-Za-z0-9!@#$%^&*_+=~.\-]{1,30}[A-Za-z0-9!@#$%^&*_+=])"  # no trailing "." or "-"
)

_PASSWORD_RE = re.compile(rf"(?:{_KEYWORD}){_CONNECTOR}(?P<q>{_OPEN_QUOTE})?(?P<value>{_VALUE})?", re.I)
_ALTERNATIVE_RE = re.compile(
    rf"\s*[,，]?\s*(?:或者?|或是|还是|也可以是|和|(?<![a-z])(?:or|and)(?![a-z])|/|、)\s*{_OPEN_QUOTE}?(?P<value>{_VALUE})",
    re.I,
)
_BARE_VALUE_RE = re.compile(
    rf"\s*{_OPEN_QUOTE}?(?P<value>{_VALUE})[\"'”’」』》】\])）>]?[\s。.!！~～]*", re.I
)

#: What comes right before a keyword when the secret is not an archive's.
_OTHER_SECRET_RE = re.compile(
    r"(?:支付|登录|登陆|账号|账户|帐号|帐户|银行卡?|取款|信用卡|wi-?fi|无线|门|锁|开机|锁屏|手机|邮箱|淘宝|支付宝|微信"
    r"|初始|默认|管理员|出厂|路由器?|后台|店铺|会员|淘|复制|分享|红包|暗"
    r"|login|log-in|account|wifi|wi-fi|e-?mail|admin|default|bank|router|payment|store|shop|member|app|phone"
    r"|lock|screen|forgot|forget|reset|change|new|old|my|card|pin)\s*(?:的)?\s*$",
    re.I,
)


def _words(table: str) -> frozenset[str]:
    """A word table written as text, one space between words (easier to read than a literal)."""
    return frozenset(table.split())


#: Latin words that follow "password is" without being the password.
_STOPWORDS = _words(
    """
    the a an your my our his her their same file filename name below above in on at attached sent
    last first written there here as it this that not wrong incorrect correct error invalid ok okay
    empty none no required needed protected set changed case sensitive for and to of you we please
    just also too again still simply only all lowercase uppercase then if when will would should
    can could need needs is are was be been with without from by what which where why how inside
    included later soon coming follows following next one two three four six digits number numbers
    phone order shop store date zip rar archive folder document doc part pls plz thanks thank hint
    secret private encrypted easy simple unchanged different like something
    """
)
#: Only separators until the end of the message (the value comes in the next one).
_NOTHING_LEFT_RE = re.compile(r"[\s:：=\-]*\Z")
_ARCHIVE_EXT_RE = re.compile(r"\.(?:zip|rar|7z|tar|gz|tgz|cab)$", re.I)

#: "the password is the file name", with an optional quoted name in the same message.
_FILENAME_RE = re.compile(
    r"(?:(?:解压|压缩包?)?密码|解压码|password|pwd)\s*(?:就|都|也)?(?:是|为|is|=|:)?\s*(?:the\s+)?"
    r"(?:文件名|文件的名字|文件名称|压缩包的?名字|压缩包名|file\s*name|name\s+of\s+the\s+(?:file|archive|zip))"
    r"|(?:文件名|文件名称|压缩包的?名字|压缩包名|file\s*name)\s*(?:就|也)?(?:是|为|is)\s*(?:the\s+)?(?:解压)?(?:密码|password)",
    re.I,
)
_QUOTED_NAME_RE = re.compile(r"[\"“「『《'‘](?P<name>[^\"”」』》'’\n]{1,60})[\"”」』》'’]")
_ARCHIVE_NAME_RE = re.compile(r"(?P<name>[\w\u3400-\u9fff\-]{1,60}\.(?:zip|rar|7z))(?![A-Za-z0-9])", re.I)


@dataclass(frozen=True)
class PasswordHit:
    """One stated password: its value and where its statement is in the original text.

    ``kind`` is ``archive`` (unpacking password), ``share`` (cloud-drive extraction code) or
    ``filename`` (``密码就是文件名`` with the file name quoted). ``start``/``end`` cover the
    keyword through the value.
    """

    value: str
    kind: str
    start: int
    end: int


def _clean(value: str) -> str | None:
    value = nfkc(value)
    if re.fullmatch(r"[A-Za-z0-9](?:\s[A-Za-z0-9])+", value):
        value = value.replace(" ", "")  # "6 6 8 8" typed to dodge filters
    if len(value) < 3:
        return None
    if value.isalpha() and value.lower() in _STOPWORDS:
        return None
    return value


def _hits_in(message: Message, view: Folded) -> tuple[list[PasswordHit], int | None]:
    """Passwords stated in one message; and, if it ends with a bare keyword (``解压密码：``),
    where that keyword starts (absolute offset), since the value then comes in the next message."""
    hits: list[PasswordHit] = []
    dangling: int | None = None
    text = view.text
    for match in _PASSWORD_RE.finditer(text):
        if _OTHER_SECRET_RE.search(text[max(0, match.start() - 8) : match.start()]):
            continue
        kind = "share" if match.group("share") else "archive"
        if match.group("value") is None:
            if _NOTHING_LEFT_RE.match(text, match.end()):
                dangling = message.start + view.span(match.start(), match.end())[0]
            continue
        value = _clean(match.group("value"))
        if value is None:
            continue
        hits.append(_hit(message, view, value, kind, match.start(), match.end("value")))
        position = match.end("value")
        while alternative := _ALTERNATIVE_RE.match(text, position):
            alt = _clean(alternative.group("value"))
            if alt is None or not re.search(r"\d", alt):
                break
            hits.append(_hit(message, view, alt, kind, alternative.start("value"), alternative.end("value")))
            position = alternative.end("value")
    return hits, (dangling if not hits else None)


def _hit(message: Message, view: Folded, value: str, kind: str, start: int, end: int) -> PasswordHit:
    a, b = view.span(start, end)
    return PasswordHit(value, kind, message.start + a, message.start + b)


def _filename_hits(
    message: Message, view: Folded, earlier: list[tuple[Message, Folded]]
) -> list[PasswordHit]:
    """``密码就是文件名`` with the name quoted in this message or one of the few before it."""
    match = _FILENAME_RE.search(view.text)
    if match is None:
        return []
    for source, source_view in [(message, view), *reversed(earlier)]:
        named = _QUOTED_NAME_RE.search(source_view.text) or _ARCHIVE_NAME_RE.search(source_view.text)
        if named is None:
            continue
        value = _ARCHIVE_EXT_RE.sub("", nfkc(named.group("name")).strip())
        if not value:
            continue
        if source is message:
            start, end = min(match.start(), named.start()), max(match.end(), named.end())
            return [_hit(message, view, value, "filename", start, end)]
        return [_hit(message, view, value, "filename", match.start(), match.end())]
    return []


def find_passwords(messages: list[Message], views: list[Folded] | None = None) -> list[PasswordHit]:
    """Every stated password in the messages, in order of appearance (duplicates kept).

    ``views`` are the messages' :func:`~filewall.chat.normalize.fold_plain` views, if the caller
    already has them.
    """
    hits: list[PasswordHit] = []
    waiting: int | None = None  # the previous message ended with "密码：" starting here
    recent: list[tuple[Message, Folded]] = []  # where a quoted file name may have been given
    for index, message in enumerate(messages):
        view = views[index] if views is not None else fold_plain(message.text)
        if waiting is not None:
            bare = _BARE_VALUE_RE.fullmatch(view.text)
            value = _clean(bare.group("value")) if bare else None
            if value is not None:
                end = _hit(message, view, value, "archive", bare.start("value"), bare.end("value")).end
                hits.append(PasswordHit(value, "archive", waiting, end))
                waiting = None
                continue
        found, waiting = _hits_in(message, view)
        hits.extend(found or _filename_hits(message, view, recent))
        recent = [*recent[-4:], (message, view)]
    return hits


def extract_passwords(text: str) -> list[str]:
    """The archive passwords and extraction codes stated in ``text``, in order, deduplicated.

    >>> extract_passwords("亲，图在压缩包里，解压密码：８８６６")
    ['8866']
    >>> extract_passwords("订单号 123456789012，尺寸 50x80cm")
    []
    """
    return unique_values(find_passwords(parse_chat(text)))


def unique_values(hits: list[PasswordHit]) -> list[str]:
    """The hit values in order, each once."""
    return list(dict.fromkeys(hit.value for hit in hits))
