"""mbox mailboxes: one file holding many messages, each after a ``From `` line.

Each message becomes a child ``message-N.eml`` that the mail extractor then unpacks.
The stdlib ``mailbox.mbox`` needs a path, opens it for writing when it can and indexes
the whole file first; this splitter works on the bytes (or the mmap) the engine already
has, finds one message at a time, and copies a message only when the engine reads it.

Body lines that began with ``From `` are stored escaped as ``>From `` (mboxo/mboxrd);
one ``>`` is removed again, as mboxrd readers do.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

from ..registry import Child, extractor

#: More messages than this in one chat attachment is a bomb; the engine's member
#: limit applies as well.
MAX_MESSAGES = 10_000

_FROM_LINE_RE = re.compile(rb"^From [^\r\n]*\r?\n", re.M)
_ESCAPED_FROM_RE = re.compile(rb"^>(>*From )", re.M)


@extractor("mbox")
def mbox_messages(node, content, ctx) -> Iterator[Child]:
    """Every message of the mailbox, first to last."""
    view = content.view()
    for number, (start, end) in enumerate(message_spans(view), 1):
        if number > MAX_MESSAGES:
            ctx.fact(node, "limit.members", limit=MAX_MESSAGES)
            return
        yield Child(
            name=f"message-{number}.eml",
            open=lambda start=start, end=end: io.BytesIO(_unescape(bytes(view[start:end]))),
            declared_size=end - start,
        )


def message_spans(view) -> Iterator[tuple[int, int]]:
    """(start, end) of each message's bytes, without its ``From `` envelope line."""
    line = _FROM_LINE_RE.match(view)
    if line is None:
        return
    while line is not None:
        start = line.end()
        line = _FROM_LINE_RE.search(view, start)
        end = line.start() if line else len(view)
        yield start, end


def _unescape(message: bytes) -> bytes:
    return _ESCAPED_FROM_RE.sub(rb"\1", message)
