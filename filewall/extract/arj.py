"""ARJ archives (old DOS archiver, still used to slip programs past mail filters).

No maintained Python library reads ARJ, and its decompressors are not worth re-writing
here, so ARJ is opened with a helper program (``7zz``, else ``unar``; see
:mod:`filewall.extract._tools`). Without one, the archive is reported as one filewall
cannot open here (``archive.unsupported``), which makes the verdict at least suspicious:
an unopened archive is never called clean.
"""

from __future__ import annotations

from ..registry import extractor
from . import _tools

TOOLS = ("7zz", "unar")


@extractor("arj")
def arj_members(node, content, ctx):
    """Yield the members of an ARJ archive through a helper program."""
    if _tools.can_open("arj", TOOLS) is None:
        ctx.fact(node, "archive.unsupported", format="ARJ", helpers="7zz / unar")
        return
    yield from _tools.tool_children(node, content, ctx, format_name="arj", tools=TOOLS)
