"""Traps in how archive members are stored: paths that escape, links, startup folders,
archives hidden inside archives, encrypted members nobody could open.

Runs on every node, including name-only ones (``needs_content=False``), and reads only
``node.info``, which the extractors fill from :class:`filewall.registry.Child.info`.

Conventions every extractor follows (zip, tar, 7z, RAR, ISO, CAB ...)
----------------------------------------------------------------------
``Child.name``
    The member's path as stored, decoded to text, with ``\\`` turned into ``/``; nothing
    else is changed (no ``..`` removed, no leading ``/`` stripped) so that the agent sees
    the real name. The engine only ever uses it as a label, never as a filesystem path.
``Child.info["stored_name"]``
    The member's path exactly as stored (decoded to text, separators untouched). Every
    path check below looks at this. Streams that store no name (a bzip2 file) omit it.
``Child.info["link_target"]``
    For a symbolic or hard link: what it points to, as stored. The member has no content
    (``open=None``). Optional ``info["link_kind"]``: ``"symlink"`` or ``"hardlink"``.
``Child.info["encrypted"] = True``
    For an encrypted member. When a password opened it, also
    ``info["password_source"]`` (the text of :func:`filewall.extract._passwords.source_params`)
    and the fact ``archive.encrypted``; when none did, ``open=None`` and the fact
    ``archive.encrypted_unopened``. If an extractor forgets the latter, this analyzer
    adds it for an encrypted member that has no content and no other explanation.

Rules
-----
- ``archive.path_traversal``: a ``..`` segment (either separator), or a link whose
  target climbs out of the folder the archive is unpacked into.
- ``archive.absolute_path``: ``/etc/x``, ``C:\\x``, ``C:x``, ``\\\\server\\share\\x``.
- ``archive.startup_path``: the member would land in a Windows Startup folder
  (``...\\Start Menu\\Programs\\Startup\\...``, any case or separator, or the Chinese
  ``「开始」菜单\\程序\\启动``), with or without traversal in front.
- ``archive.link``: every link member.
- ``archive.nested_archives``: a file sitting inside three or more archives, one within
  another. Counted over the chain of ancestors of the node; a compression stream around
  a tar (``.tar.gz``) counts once, as people see it, and disk images count as archives.
  Recorded once per scanned file (on the first such node) so a deep archive full of
  files adds the finding once, not once per file.
"""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING

from ..registry import analyzer

if TYPE_CHECKING:
    from ..content import Content
    from ..engine import ScanContext
    from ..model import Node

#: Kinds that hold other files, for counting nesting.
ARCHIVE_KINDS = frozenset(
    {"zip", "7z", "rar", "tar", "gzip", "bzip2", "xz", "zstd", "cab", "arj", "cpio", "lzh",
     "iso", "udf", "vhd", "vhdx", "xar", "szdd"}
)  # fmt: skip
#: Single-file compression streams: around a tar they are one archive, not two.
STREAM_KINDS = frozenset({"gzip", "bzip2", "xz", "zstd"})
#: Nesting level at which ``archive.nested_archives`` is recorded.
NESTED_AT = 3

_STARTUP_RE = re.compile(
    r"(?:^|/)(?:start menu/programs/startup|「开始」菜单/程序/启动)/+[^/]", re.IGNORECASE
)
_DRIVE_RE = re.compile(r"^[a-z]:", re.IGNORECASE)
#: Facts that already explain why an encrypted member has no content.
_EXPLAINED = frozenset(
    {"archive.encrypted_unopened", "archive.unsupported_method", "archive.names_hidden", "file.corrupt"}
)
_STACK_KEY = "archive_traps.ancestors"
_NESTED_KEY = "archive_traps.nested_reported"


@analyzer(needs_content=False, order=20)
def archive_traps(node: Node, content: Content | None, ctx: ScanContext) -> None:
    """Check a member's stored path, link and encryption, and how deep it is nested."""
    _check_nesting(node, ctx)
    stored = node.info.get("stored_name")
    if isinstance(stored, str) and stored:
        _check_path(node, ctx, stored)
    target = node.info.get("link_target")
    if isinstance(target, str):
        _check_link(node, ctx, stored if isinstance(stored, str) else node.name, target)
    if node.info.get("encrypted") and not node.has_content and not _explained(node):
        ctx.fact(node, "archive.encrypted_unopened")


def _explained(node: Node) -> bool:
    """Whether a fact already says why this encrypted member has no content (or that it
    was opened and then failed to read)."""
    return any(fact.rule in _EXPLAINED or fact.rule == "archive.encrypted" for fact in node.facts)


def path_problems(stored: str) -> list[str]:
    """Which of ``traversal``, ``absolute``, ``startup`` a stored member path has."""
    normal = stored.replace("\\", "/")
    problems = []
    if any(_is_parent(segment) for segment in normal.split("/")):
        problems.append("traversal")
    if normal.startswith("/") or _DRIVE_RE.match(normal):
        problems.append("absolute")
    if _STARTUP_RE.search(re.sub(r"/+", "/", normal)):
        problems.append("startup")
    return problems


def _is_parent(segment: str) -> bool:
    # Windows drops trailing dots and spaces from a path segment, so ".. " and "..."
    # also climb up there.
    return ".." in segment and not segment.strip(". ")


def _check_path(node: Node, ctx: ScanContext, stored: str) -> None:
    problems = path_problems(stored)
    if "traversal" in problems:
        ctx.fact(node, "archive.path_traversal", path=stored)
    if "absolute" in problems:
        ctx.fact(node, "archive.absolute_path", path=stored)
    if "startup" in problems:
        ctx.fact(node, "archive.startup_path", path=stored)


def _check_link(node: Node, ctx: ScanContext, stored: str, target: str) -> None:
    ctx.fact(node, "archive.link", target=target)
    if _link_escapes(stored, target):
        ctx.fact(node, "archive.path_traversal", path=f"{stored} → {target}")


def _link_escapes(stored: str, target: str) -> bool:
    """Whether a link, resolved from where it is stored, points outside the archive root."""
    target = target.replace("\\", "/")
    if target.startswith("/") or _DRIVE_RE.match(target):
        return True
    folder = posixpath.dirname(stored.replace("\\", "/").lstrip("/"))
    resolved = posixpath.normpath(posixpath.join(folder, target))
    return resolved == ".." or resolved.startswith("../")


def _check_nesting(node: Node, ctx: ScanContext) -> None:
    # The engine walks depth first and runs analyzers before unpacking, so the last node
    # seen at each shallower depth is this node's ancestor: a stack truncated to
    # node.depth holds exactly the ancestors' kinds.
    ancestors: list[str] = ctx.state.setdefault(_STACK_KEY, [])
    del ancestors[node.depth :]
    levels = _archive_levels(ancestors, node.kind)
    ancestors.append(node.kind)
    if levels >= NESTED_AT and not ctx.state.get(_NESTED_KEY):
        ctx.state[_NESTED_KEY] = True
        ctx.fact(node, "archive.nested_archives", levels=levels)


def _archive_levels(ancestors: list[str], own_kind: str) -> int:
    chain = [*ancestors, own_kind]
    levels = 0
    for index, kind in enumerate(ancestors):
        if kind not in ARCHIVE_KINDS:
            continue
        if kind in STREAM_KINDS and chain[index + 1] == "tar":
            continue  # x.tar.gz is one archive to the person who got it
        levels += 1
    return levels
