"""Known bad files by hash: every node's SHA-256 (and SHA-1/MD5) against the blocklists.

Which lists are read, and their formats, is :mod:`filewall.rulesets`' business. A label
or source written as ``"English | 中文"`` gives the Chinese message its own words.
"""

from __future__ import annotations

from ..registry import analyzer
from ..rulesets import blocklist


@analyzer(name="reputation.blocklist", order=20)
def blocklisted(node, content, ctx) -> None:
    """Record ``reputation.blocklist`` when the node's content is on a blocklist.

    Truncated nodes are hashed over what was read only, so they can never match by
    accident; they are looked up all the same (cheap) for uniformity.
    """
    # Resolve the list files once per scanned file, not once per node.
    lists = ctx.state.get("reputation.blocklist")
    if lists is None:
        lists = ctx.state["reputation.blocklist"] = blocklist(ctx.options.blocklist_paths)
    entry = lists.lookup(node.sha256, node.sha1, node.md5)
    if entry is None:
        return
    source, _, source_zh = entry.source.partition(" | ")
    label, _, label_zh = entry.label.partition(" | ")
    ctx.fact(
        node,
        "reputation.blocklist",
        source=source.strip(),
        source_zh=(source_zh or source).strip(),
        label=label.strip() or "listed",
        label_zh=(label_zh or label).strip() or "已列入名单",
    )
