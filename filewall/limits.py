"""Every bound the engine enforces, in one place.

Defaults follow clamd's (MaxRecursion 17, MaxFiles 10000, MaxFileSize/MaxScanSize in the
hundreds of MB, MaxScanTime 120 s) but are tighter where a chat attachment never needs
more. Each can be set from the environment (``FILEWALL_MAX_DEPTH=8``) or the CLI.
Reaching any of them is a finding (``limit.*``), never a silent skip.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    #: Deepest nesting of containers (the input file is depth 0).
    max_depth: int = 16
    #: Largest single unpacked object; a larger one is cut here (and hashed partially).
    max_file_size: int = 400 * MiB
    #: Total bytes unpacked for one input file, across the whole tree.
    max_total_bytes: int = 1024 * MiB
    #: Unpacked/packed ratio above which a member counts as a decompression bomb ...
    max_ratio: int = 200
    #: ... once it unpacks to more than this many bytes (small files compress well).
    ratio_min_size: int = 64 * MiB
    #: Number of objects in the whole tree.
    max_members: int = 10_000
    #: Wall-clock seconds for one input file.
    max_seconds: float = 60.0
    #: Bytes kept in memory per object before it is spooled to the scan's temp folder.
    spool_threshold: int = 32 * MiB
    #: When a member declares itself larger than max_file_size, this much of its head is
    #: still read so that what it *is* (a padded program, say) is still identified.
    bomb_sample_bytes: int = 4 * MiB
    #: Passwords tried per encrypted archive (chat passwords plus given ones plus defaults).
    max_passwords: int = 32

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> Limits:
        """Build limits from ``FILEWALL_<FIELD>`` variables, then explicit overrides."""
        environ = os.environ if environ is None else environ
        values = {}
        for item in dataclasses.fields(cls):
            raw = environ.get(f"FILEWALL_{item.name.upper()}")
            if raw is not None and raw != "":
                values[item.name] = _parse(raw, item.type)
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)


def _parse(raw: str, type_name: str):
    if type_name in ("float", float):
        return float(raw)
    return int(float(raw))
