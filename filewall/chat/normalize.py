"""Folding chat text so that spelling tricks do not defeat the rules.

Attackers (and ordinary typing) vary the surface of the same words: full-width letters and
digits (``８８６６``), traditional characters (``解壓密碼``), spaces or dashes inside a word
(``解 压 密 码``, ``解-压-密-码``), upper/lower case. :func:`fold` maps a message to one
canonical form *and keeps, for every character of that form, the span of the original text
it came from*, so that a rule matched on the folded text can quote the agent's own words.

Two views are built:

- ``compact`` (for the rules): NFKC, lower case, traditional → simplified, a few regional
  words mapped to their mainland form, and separators (spaces, punctuation, symbols,
  invisible characters) dropped next to CJK characters and collapsed to one space between
  Latin words; a clause break (comma, full stop, ``!?;``) stays as one ``,``.
  ``"請用 電-腦 打開"`` becomes ``"请用电脑打开"``; ``"Turn-off  the Anti-Virus, now!"`` becomes
  ``"turn off the anti virus,now"``.
- ``plain`` (for passwords and file names): NFKC and traditional → simplified, separators
  between two CJK characters dropped. Case, punctuation and other spaces stay, because a
  password ends where its punctuation starts.

The traditional → simplified table is deliberately small: it covers the characters of the
words the rules and the password patterns look for, not the whole language.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Pairs "traditional simplified", only characters that occur in rule words or their context.
_T2S_PAIRS = """
壓压 縮缩 碼码 電电 腦脑 檔档 設设 計计 報报 價价 關关 閉闭 軟软 體体 開开 啟启 啓启 執执 運运
雙双 擊击 點点 護护 牆墙 殺杀 訂订 單单 號号 發发 稅税 樣样 圖图 紙纸 細细 節节 購购 買买 賣卖
採采 詢询 議议 書书 係系 聯联 繫系 絡络 帳账 賬账 戶户 機机 衛卫 線线 請请 裡里 裏里 檢检 測测
覽览 載载 裝装 許许 確确 認认 讓让 這这 個个 們们 為为 爲为 後后 數数 馬马 盡尽 緊紧 趕赶 給给
寫写 說说 話话 見见 題题 會会 時时 間间 幫帮 應应 該该 將将 過过 還还 別别 無无 須须 對对 於于
與与 從从 處处 辦办 貨货 質质 規规 頁页 鏈链 網网 盤盘 級级 統统 視视 彈弹 風风 險险 攔拦 誤误
刪删 暫暂 鍵键 選选 擇择 繼继 續续 權权 員员 預预 閱阅 讀读 專专 複复 製制 參参 廠厂 實实 際际
夥伙 務务 導导 資资 據据 庫库 貼贴 補补 違违 紀纪 額额 費费 錢钱 轉转 換换 釘钉 飛飞 簡简 歷历
鈕钮 稱称 傳传 壞坏 損损 亂乱 顯显 當当 並并 麼么 嗎吗 來来 邊边 條条 種种 問问 門门 優优 紅红
長长 寬宽 張张 幾几 兩两 萬万 錯错 較较 證证 驗验 標标 難难 謝谢 遞递 達达 訊讯 習习 慣惯 順顺
備备 準准 興兴 歡欢 樂乐 異异 範范 區区 義义 畫画 紋纹 繡绣 燈灯 櫃柜 簾帘 鋪铺 寶宝 貓猫 東东
彙汇 匯汇 總总 結结 職职 簽签 約约 協协 項项 擬拟 劃划 讚赞 贊赞 臨临 鐘钟 內内 夾夹 層层 隱隐
屬属 擴扩 綴缀 變变 態态 掃扫 維维 則则 錄录 陸陆 銀银 鎖锁 郵邮 歸归 雲云 夠够 識识 嚴严 殼壳
隨随 遠远 終终 腳脚 驅驱 動动 瀏浏 強强 絕绝 廣广 舊旧 親亲 試试 頭头 車车 幣币 億亿 塊块 帶带
華华 鏡镜 雜杂 罰罚 獎奖 勵励 狀状 況况 賠赔 償偿 擋挡 筆笔 裝装 啟启 牠它 臺台 灣湾 訊讯 門门
紮扎 屆届 獲获 嗎吗 讚赞 圍围 徵征 稅税 攜携 顧顾 客客 疊叠 戲戏 劇剧 態态 觀观 聽听 戰战
"""


def _t2s_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for pair in _T2S_PAIRS.split():
        trad, simp = pair[0], pair[1]
        if trad != simp:
            table[ord(trad)] = simp
    return table


#: Traditional → simplified, one character each (``str.translate`` table).
T2S: dict[int, str] = _t2s_table()

#: Regional (mostly Taiwan/Hong Kong) words → mainland words, applied after :data:`T2S`.
REGIONAL_WORDS: dict[str, str] = {
    "档案": "文件",
    "档名": "文件名",
    "附档": "附件",
    "资料夹": "文件夹",
    "压缩档": "压缩包",
    "解压缩": "解压",
    "执行档": "程序",
    "安装档": "安装包",
    "程式": "程序",
    "软体": "软件",
    "防毒": "杀毒",
    "开启": "打开",
    "点两下": "双击",
    "后四码": "后四位",
    "后六码": "后六位",
    "末四码": "末四位",
    "讯息": "消息",
    "网路": "网络",
    "笔电": "电脑",
    "桌机": "电脑",
    "预设": "默认",
    "杀软": "杀毒软件",
}
_REGIONAL_RE = re.compile("|".join(sorted(map(re.escape, REGIONAL_WORDS), key=len, reverse=True)))

#: Characters that are dropped outright (zero-width and joiners that hide inside words).
_INVISIBLE = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"}


@dataclass(frozen=True)
class Folded:
    """A folded view of a text: ``text[i]`` came from ``original[starts[i]:ends[i]]``."""

    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span ``[a, b)`` covered by folded characters ``[start, end)``."""
        if end <= start:
            point = self.starts[start] if start < len(self.starts) else (self.ends[-1] if self.ends else 0)
            return point, point
        return self.starts[start], self.ends[end - 1]


def is_cjk(char: str) -> bool:
    """True for Han ideographs, kana, Hangul and CJK compatibility forms."""
    code = ord(char)
    return (
        0x3400 <= code <= 0x9FFF
        or 0xF900 <= code <= 0xFAFF
        or 0x3040 <= code <= 0x30FF
        or 0xAC00 <= code <= 0xD7AF
        or 0x20000 <= code <= 0x2FA1F
    )


@lru_cache(maxsize=8192)
def _fold_char(char: str, lower: bool) -> str:
    folded = unicodedata.normalize("NFKC", char)
    if lower:
        folded = folded.lower()
    return folded.translate(T2S)


#: Runs of separators: anything that is not a letter or digit (punctuation, symbols, spaces,
#: controls, marks) and the underscore.
_SEPARATORS = re.compile(r"[\W_]+")
#: Quotes and brackets delimit a quoted name or password: the plain view never squeezes them.
_QUOTES = "\"'“”‘’「」『』《》【】()（）[]<>〈〉"
_SQUEEZABLE = re.compile(rf"(?:[^\w{re.escape(_QUOTES)}]|_)+")
#: Clause breaks after NFKC (full-width ，！？； become ASCII); "." is not one: it sits in file
#: names and in "解.压"-style obfuscation.
_CLAUSE_BREAK = re.compile(r"[,!?;。、]")
_INVISIBLE_RE = re.compile("[" + "".join(sorted(_INVISIBLE)) + "]")


def _fold_chars(text: str, lower: bool) -> tuple[list[str], list[int], list[int]]:
    """NFKC (+ lower case) + traditional → simplified, character by character, with offsets."""
    if _INVISIBLE_RE.search(text) is None and unicodedata.is_normalized("NFKC", text):
        # Fast path (almost every message): nothing changes length, offsets are the identity.
        folded = text.lower() if lower else text
        if len(folded) == len(text):
            size = len(text)
            return list(folded.translate(T2S)), list(range(size)), list(range(1, size + 1))
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for index, char in enumerate(text):
        if char in _INVISIBLE:
            continue
        for out in _fold_char(char, lower):
            chars.append(out)
            starts.append(index)
            ends.append(index + 1)
    return chars, starts, ends


def _regional(chars: list[str], starts: list[int], ends: list[int]) -> tuple[list[str], list[int], list[int]]:
    joined = "".join(chars)
    if not _REGIONAL_RE.search(joined):
        return chars, starts, ends
    out_chars: list[str] = []
    out_starts: list[int] = []
    out_ends: list[int] = []
    position = 0
    for match in _REGIONAL_RE.finditer(joined):
        a, b = match.span()
        out_chars.extend(chars[position:a])
        out_starts.extend(starts[position:a])
        out_ends.extend(ends[position:a])
        new = REGIONAL_WORDS[match.group()]
        for k, char in enumerate(new):
            old = a + min(k, b - a - 1)
            out_chars.append(char)
            out_starts.append(starts[old])
            # The last new character covers the rest of the replaced word.
            out_ends.append(ends[b - 1] if k == len(new) - 1 else ends[old])
        position = b
    out_chars.extend(chars[position:])
    out_starts.extend(starts[position:])
    out_ends.extend(ends[position:])
    return out_chars, out_starts, out_ends


def _compact(chars: list[str], starts: list[int], ends: list[int]) -> Folded:
    """Drop separator runs, except one space between two non-CJK word characters.

    ``turn-off  the`` → ``turn off the``; next to CJK a separator is decoration:
    ``解-压`` → ``解压``, ``密码: 8866`` → ``密码8866``. A run holding a clause break (a comma, a
    full stop, ``!?;``) becomes one ``,``, so that patterns stay inside a clause.
    """
    joined = "".join(chars)
    out_text: list[str] = []
    out_starts: list[int] = []
    out_ends: list[int] = []
    position = 0
    for match in _SEPARATORS.finditer(joined):
        a, b = match.span()
        out_text.append(joined[position:a])
        out_starts.extend(starts[position:a])
        out_ends.extend(ends[position:a])
        inside = a > 0 and b < len(joined)
        clause = _CLAUSE_BREAK.search(joined, a, b) if inside else None
        if clause is not None:
            # A phrase is never assembled from two clauses ("传到电脑上，双击安装").
            out_text.append(",")
            out_starts.append(starts[clause.start()])
            out_ends.append(ends[clause.start()])
        elif inside and not is_cjk(joined[a - 1]) and not is_cjk(joined[b]):
            out_text.append(" ")
            out_starts.append(starts[a])
            out_ends.append(ends[a])
        position = b
    out_text.append(joined[position:])
    out_starts.extend(starts[position:])
    out_ends.extend(ends[position:])
    return Folded("".join(out_text), tuple(out_starts), tuple(out_ends))


def fold(text: str) -> Folded:
    """The ``compact`` view used by the rules (see the module docstring)."""
    return _compact(*_regional(*_fold_chars(text, lower=True)))


def _squeeze_cjk(chars: list[str], starts: list[int], ends: list[int]) -> Folded:
    """Drop separator runs between two CJK characters (``解 压-密 码`` → ``解压密码``); keep the rest."""
    joined = "".join(chars)
    keep: list[tuple[int, int]] = []
    position = 0
    for match in _SQUEEZABLE.finditer(joined):
        a, b = match.span()
        if a > 0 and b < len(joined) and is_cjk(joined[a - 1]) and is_cjk(joined[b]):
            keep.append((position, a))
            position = b
    keep.append((position, len(joined)))
    return Folded(
        "".join(joined[a:b] for a, b in keep),
        tuple(p for a, b in keep for p in starts[a:b]),
        tuple(p for a, b in keep for p in ends[a:b]),
    )


def fold_plain(text: str) -> Folded:
    """The ``plain`` view for passwords and file names.

    NFKC + traditional → simplified, and separators between two CJK characters dropped; case,
    punctuation and spaces elsewhere stay, because a password ends where its punctuation starts.
    """
    return _squeeze_cjk(*_regional(*_fold_chars(text, lower=False)))


def fold_both(text: str) -> tuple[Folded, Folded]:
    """``(fold(text), fold_plain(text))``, sharing the per-character work."""
    chars, starts, ends = _regional(*_fold_chars(text, lower=False))
    plain = _squeeze_cjk(chars, starts, ends)
    lowered = "".join(chars).lower()
    if len(lowered) != len(chars):  # a rare character whose lower case is longer
        return fold(text), plain
    return _compact(list(lowered), starts, ends), plain


def nfkc(text: str) -> str:
    """Full-width → half-width and compatibility forms → plain ones (``８８６６`` → ``8866``)."""
    return unicodedata.normalize("NFKC", text)
