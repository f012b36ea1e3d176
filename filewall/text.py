"""Showing names as they really are.

Explorer and chat apps render a right-to-left override or forty spaces the way the
attacker wants. Every name a person reads in filewall goes through :func:`visible_name`.
"""

from __future__ import annotations

import re
import unicodedata

#: Bidirectional controls that reorder what follows them.
BIDI_CONTROLS = {
    "\u202a": "LRE",
    "\u202b": "RLE",
    "\u202c": "PDF",
    "\u202d": "LRO",
    "\u202e": "RLO",
    "\u2066": "LRI",
    "\u2067": "RLI",
    "\u2068": "FSI",
    "\u2069": "PDI",
    "\u200e": "LRM",
    "\u200f": "RLM",
    "\u061c": "ALM",
}
#: Characters that take no space on screen.
INVISIBLE = {
    "\u200b": "ZWSP",
    "\u200c": "ZWNJ",
    "\u200d": "ZWJ",
    "\u2060": "WJ",
    "\ufeff": "BOM",
    "\u00ad": "SHY",
    "\u180e": "MVS",
    "\u3164": "HANGUL FILLER",
    "\u115f": "HANGUL CHOSEONG FILLER",
    "\u1160": "HANGUL JUNGSEONG FILLER",
}
#: Runs of blank characters long enough to push the real extension out of view.
_PADDING_RE = re.compile(r"[\s\u3000\u00a0\u2000-\u200a]{4,}")


def hidden_characters(name: str) -> list[tuple[int, str]]:
    """Positions and labels of bidi controls, invisible and control characters in ``name``."""
    found = []
    for index, char in enumerate(name):
        label = BIDI_CONTROLS.get(char) or INVISIBLE.get(char)
        if label is None and unicodedata.category(char) in ("Cc", "Cf") and char not in "\t":
            label = f"U+{ord(char):04X}"
        if label:
            found.append((index, label))
    return found


def visible_name(name: str, max_padding: int = 3) -> str:
    """``name`` with hidden characters shown as ``[RLO]`` and long padding shortened.

    >>> visible_name("invoice_\\u202egpj.exe")
    'invoice_[RLO]gpj.exe'
    """
    out = []
    for char in name:
        label = BIDI_CONTROLS.get(char) or INVISIBLE.get(char)
        if label is None and unicodedata.category(char) in ("Cc", "Cf"):
            label = f"U+{ord(char):04X}"
        out.append(f"[{label}]" if label else char)
    shown = "".join(out)

    def shorten(match: re.Match) -> str:
        run = match.group(0)
        return f"{run[:max_padding]}[…{len(run)} spaces…]" if len(run) > max_padding else run

    return _PADDING_RE.sub(shorten, shown)


def base_name(path: str) -> str:
    """Last component of a member path, whatever separator the archive used."""
    return re.split(r"[\\/]", path.rstrip("/\\"))[-1] or path
