"""CHM (compiled HTML Help): the pages, scripts and programs packed inside.

A CHM file is compressed with LZX, for which there is no maintained pure-Python reader;
it is unpacked with 7-Zip (``7zz``) through the shared safe wrapper :mod:`._tools`
(argument list, scan temp folder, time and size budget). The help system's own
bookkeeping files (names starting with ``#`` or ``$``: indexes, word lists) are skipped;
every page, script, picture and program is a child, so the HTML analyzer sees the
``ShortCut`` command buttons and an embedded program is judged like any other.

Without 7-Zip nothing is unpacked: the help file itself is still ``malicious`` by policy
(``type.help_file``), because opening a CHM can run commands.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..registry import Child, extractor
from . import _tools

if TYPE_CHECKING:
    from ..content import Content
    from ..engine import ScanContext
    from ..model import Node


@extractor("chm")
def chm_members(node: Node, content: Content, ctx: ScanContext) -> Iterator[Child]:
    if _tools.can_open("chm", ("7zz",)) is None:
        node.info["unpacked"] = "no 7-Zip installed: the help file's pages were not read"
        return
    for child in _tools.tool_children(node, content, ctx, format_name="chm", tools=("7zz",)):
        base = child.name.rsplit("/", 1)[-1]
        if base.startswith(("#", "$")) or child.name.startswith(("#", "$", "::")):
            continue  # the help system's own indexes, not content
        yield child
