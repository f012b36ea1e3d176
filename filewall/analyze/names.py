"""Names that lie: double extensions, padding, reversed text, invisible characters, risky
endings, and content that does not match its name.

Runs on every node, including name-only ones (an encrypted member no password opened), so
it looks at ``node.name`` and, when there is content, at ``node.kind`` — never at bytes.

One clear reason per disguise: a name gets at most one of ``name.bidi_override``,
``name.padding``, ``name.double_extension``, ``name.content_mismatch``,
``name.risky_extension`` / ``name.disk_image_extension`` (checked in that order, the most
specific first), plus ``name.invisible_characters`` for hidden characters not already
explained. "Risky extension" is left out when the content analyzer already said what the
file is (a real program named ``.exe`` is ``type.executable``; repeating it adds nothing).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from ..extensions import JUDGED_BY_CONTENT, Extension, decoy_extensions, describe_kind, kind_class, lookup
from ..registry import analyzer
from ..text import BIDI_CONTROLS, base_name, hidden_characters, visible_name

#: Controls that reorder the text after them (what makes ``gpj.exe`` show as ``exe.jpg``).
#: The marks (LRM/RLM/ALM) and the closers (PDF/PDI) only count as invisible characters.
REORDERING = {"\u202e", "\u202d", "\u202b", "\u202a", "\u2067", "\u2066", "\u2068"}

#: Characters used to push the real ending out of sight: blanks of every width, the
#: Hangul fillers (they render as nothing), and underscores, dots and dashes.
_BLANKS = set(
    " \t\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u202f\u205f\u3000\u3164\u115f\u1160\uffa0\u2800"
)
_FILLERS = set("_.-\u30fb\u2026")
#: A run this long before the ending is padding: 3 blanks (a visible gap is already odd),
#: or 6 of anything including underscores/dots (``报价单.jpg______.exe``).
MIN_BLANKS = 3
MIN_RUN = 6

#: Separators that may stand between a decoy and the real ending (full-width dots too).
_SEPARATORS = " ._-\u3000\uff0e\u3002\u00a0"
_DECOYS = decoy_extensions()
#: A decoy glued to the stem without a dot (``信息列表pdf.exe``, research L3) counts only
#: for these well-known words, and only after a non-ASCII-letter (so ``img2pdf`` and
#: ``wordtopdf`` stay program names, not disguises).
_GLUED_DECOYS = frozenset(
    [
        "pdf",
        "doc",
        "docx",
        "xls",
        "xlsx",
        "ppt",
        "pptx",
        "wps",
        "txt",
        "rtf",
        "csv",
        "jpg",
        "jpeg",
        "png",
        "gif",
        "bmp",
        "webp",
        "heic",
        "tif",
        "tiff",
        "psd",
        "dwg",
        "dxf",
        "cad",
        "zip",
        "rar",
        "7z",
        "mp4",
        "mov",
        "avi",
        "mp3",
        "ofd",
        "html",
        "htm",
    ]
)
_GLUED_RE = re.compile(
    r"(?<![A-Za-z0-9])(" + "|".join(sorted(_GLUED_DECOYS, key=len, reverse=True)) + r")$", re.I
)


@dataclass
class NameParts:
    """A file name split the way Windows reads it."""

    name: str
    #: The name Windows would create: trailing dots and spaces are dropped.
    effective: str
    stem: str
    ext: str  # lower case, no dot; "" when there is none
    entry: Extension | None
    hidden: list[tuple[int, str]] = field(default_factory=list)


def parse_name(name: str) -> NameParts:
    """Split ``name`` (a bare file name) into stem and real extension as Windows sees them."""
    effective = name.rstrip(" .")
    stem, dot, ext = effective.rpartition(".")
    if not dot:
        stem, ext = effective, ""
    # The raw text after the last dot is the ending Windows uses: a hidden character
    # inside it ("e\u200bxe") makes it another, unknown ending, not ".exe".
    entry = lookup(ext) if ext else None
    return NameParts(name, effective, stem, ext.lower(), entry, hidden_characters(name))


@analyzer(name="names.check_name", needs_content=False, order=50)
def check_name(node, content, ctx) -> None:
    """Judge the node's name (and, when known, whether its content matches the name).

    A zip member whose local header gives another name (``info["local_name"]``, which
    streaming unzippers use) has that name judged too, its findings naming it.
    """
    _judge(node, base_name(node.name), ctx)
    local = base_name(node.info.get("local_name") or "")
    if local and local != base_name(node.name):
        _judge(node, local, _AboutName(ctx, local, base_name(node.name)))


class _AboutName:
    """Records facts about another name of the node: the message then shows that name."""

    def __init__(self, ctx, name: str, listed_as: str):
        self.ctx = ctx
        shown, listed = visible_name(name), visible_name(listed_as)
        self.params = {"name": f"{shown} (listed as {listed})", "name_zh": f"{shown}（目录里叫 {listed}）"}

    def fact(self, node, rule: str, **params) -> None:
        self.ctx.fact(node, rule, **params, **self.params)


def _judge(node, name: str, ctx) -> None:
    """Run the name checks on ``name``, one of the node's names."""
    parts = parse_name(name)
    explained: set[int] = set()
    disguised = (
        _bidi(node, parts, ctx, explained)
        or _padding(node, parts, ctx, explained)
        or _double_extension(node, parts, ctx)
        or _content_mismatch(node, parts, ctx)
    )
    if not disguised:
        _risky_extension(node, parts, ctx)
    _invisible(node, parts, ctx, explained)


# -- the checks, most specific first --------------------------------------------------------------


def _is_dangerous(entry: Extension | None) -> bool:
    return entry is not None and (entry.cls.runs_code or entry.cls.mounts)


def _bidi(node, parts: NameParts, ctx, explained: set[int]) -> bool:
    controls = [(index, label) for index, label in parts.hidden if parts.name[index] in REORDERING]
    if not controls or not _is_dangerous(parts.entry):
        return False
    explained.update(index for index, _ in controls)
    ctx.fact(
        node,
        "name.bidi_override",
        char=controls[0][1],
        real=f".{parts.ext}",
        what=parts.entry.en,
        what_zh=parts.entry.zh,
        looks_like=rendered_name(parts.name),
    )
    return True


def _padding(node, parts: NameParts, ctx, explained: set[int]) -> bool:
    if not _is_dangerous(parts.entry):
        return False
    stem = parts.stem
    run = len(stem) - len(stem.rstrip("".join(_BLANKS | _FILLERS)))
    blanks = sum(1 for char in stem[len(stem) - run :] if char in _BLANKS)
    if blanks < MIN_BLANKS and run < MIN_RUN:
        return False
    explained.update(range(len(stem) - run, len(stem)))
    decoy = _decoy_of(stem[: len(stem) - run])
    ctx.fact(
        node,
        "name.padding",
        count=run,
        real=f".{parts.ext}",
        decoy=decoy or "harmless",
        decoy_zh=decoy or "普通",
        what=parts.entry.en,
        what_zh=parts.entry.zh,
    )
    return True


def _double_extension(node, parts: NameParts, ctx) -> bool:
    if not _is_dangerous(parts.entry):
        return False
    decoy = _decoy_of(parts.stem)
    if decoy is None:
        return False
    ctx.fact(
        node,
        "name.double_extension",
        decoy=decoy,
        real=f".{parts.ext}",
        what=parts.entry.en,
        what_zh=parts.entry.zh,
    )
    return True


def _content_mismatch(node, parts: NameParts, ctx) -> bool:
    """A program named ``.jpg`` (dangerous) or a PNG named ``.jpg`` (harmless, info)."""
    entry = parts.entry
    if not node.has_content or entry is None or not entry.kinds or node.kind in entry.kinds:
        return False
    actual_class, described = kind_class(node.kind), describe_kind(node.kind)
    if actual_class is None or described is None or _is_dangerous(entry):
        return False
    actual, actual_zh = described
    if actual_class.runs_code or actual_class.mounts:
        ctx.fact(
            node,
            "name.content_mismatch",
            claimed=f".{parts.ext}",
            claimed_zh=f".{parts.ext}",
            actual=actual,
            actual_zh=actual_zh,
            kind=node.kind,
        )
        return True
    ctx.fact(
        node,
        "name.content_mismatch_harmless",
        ext=parts.ext,
        actual=actual,
        actual_zh=actual_zh,
        kind=node.kind,
    )
    return True


def _risky_extension(node, parts: NameParts, ctx) -> None:
    entry = parts.entry
    if not _is_dangerous(entry):
        return
    if node.has_content and node.kind in JUDGED_BY_CONTENT:
        return  # the content rule (type.executable, type.shortcut ...) already says it
    rule = "name.risky_extension" if entry.cls.runs_code else "name.disk_image_extension"
    ctx.fact(node, rule, ext=f".{parts.ext}", why=entry.en, why_zh=entry.zh)


def _invisible(node, parts: NameParts, ctx, explained: set[int]) -> None:
    labels = [label for index, label in parts.hidden if index not in explained]
    if labels:
        ctx.fact(node, "name.invisible_characters", chars=", ".join(dict.fromkeys(labels)))


# -- helpers ---------------------------------------------------------------------------------------


def _decoy_of(stem: str) -> str | None:
    """The harmless-looking ending a stem finishes with (``.jpg`` in ``设计图.jpg``), if any."""
    trimmed = stem.rstrip(_SEPARATORS + "".join(_BLANKS))
    if not trimmed:
        return None
    for dot in (".", "\uff0e", "\u3002"):
        head, found, tail = trimmed.rpartition(dot)
        if found and head.strip(_SEPARATORS) and tail.lower() in _DECOYS:
            return f".{tail.lower()}"
    glued = _GLUED_RE.search(trimmed)
    if glued and glued.start() > 0:
        return f".{glued.group(1).lower()}"
    return None


def rendered_name(name: str) -> str:
    """Roughly how a right-to-left override makes ``name`` look on screen.

    Text after an override (RLO) is drawn in reverse up to its closer (PDF) or the end:
    ``invoice_\\u202egpj.exe`` is shown as ``invoice_exe.jpg``. Good enough for telling a
    person what they were meant to see; not a full Unicode bidi implementation.
    """
    out, reversed_run, in_override = [], [], False
    for char in name:
        if char == "\u202e":
            in_override = True
            continue
        if char == "\u202c" and in_override:
            out.extend(reversed(reversed_run))
            reversed_run, in_override = [], False
            continue
        if char in BIDI_CONTROLS or unicodedata.category(char) == "Cf":
            continue
        (reversed_run if in_override else out).append(char)
    out.extend(reversed(reversed_run))
    return "".join(out)
