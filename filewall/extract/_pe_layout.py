"""Where a Windows program's parts lie: the bounded header walk that :mod:`.overlay`
(end of the image, where appended data starts) and :mod:`.pe_payloads` (size of a
program carried inside another) share.

Only offsets are read, never trusted further than ``bound``; nothing here validates
beyond the ``PE\\0\\0`` signature, so callers add their own plausibility checks.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

#: The Windows loader's own limit on sections.
MAX_SECTIONS = 96


@dataclass(frozen=True)
class PeHeaders:
    """The COFF file header of a program whose ``MZ`` header is at ``start``."""

    start: int
    #: Offset of ``PE\0\0`` in the view (``start + e_lfanew``).
    header: int
    machine: int
    sections: int
    optional_size: int
    characteristics: int

    @property
    def e_lfanew(self) -> int:
        return self.header - self.start

    @property
    def optional(self) -> int:
        """Offset of the optional header."""
        return self.header + 24

    @property
    def table(self) -> int:
        """Offset of the section table."""
        return self.optional + self.optional_size


def read_headers(view, start: int = 0, bound: int | None = None) -> PeHeaders | None:
    """The file header of the program at ``start``, if ``PE\\0\\0`` is where ``e_lfanew``
    points and the header fits before ``bound`` (default: the end of the view)."""
    bound = len(view) if bound is None else bound
    if start + 0x40 > bound:
        return None
    header = start + struct.unpack_from("<I", view, start + 0x3C)[0]
    if header + 24 > bound or bytes(view[header : header + 4]) != b"PE\x00\x00":
        return None
    machine, sections, _, _, _, optional_size, flags = struct.unpack_from("<HHIIIHH", view, header + 4)
    return PeHeaders(start, header, machine, sections, optional_size, flags)


def raw_sections(view, headers: PeHeaders, bound: int | None = None) -> Iterator[tuple[int, int]]:
    """``(SizeOfRawData, PointerToRawData)`` of each section entry (at most
    :data:`MAX_SECTIONS`) that lies whole before ``bound``; stops at the first that does not."""
    bound = len(view) if bound is None else bound
    for index in range(min(headers.sections, MAX_SECTIONS)):
        entry = headers.table + 40 * index
        if entry + 40 > bound:
            return
        yield struct.unpack_from("<II", view, entry + 16)


def size_of_headers(view, headers: PeHeaders) -> int | None:
    """The optional header's ``SizeOfHeaders``, if the view holds it."""
    if headers.optional + 64 > len(view):
        return None
    return struct.unpack_from("<I", view, headers.optional + 60)[0]
