"""ZIP (and every format built on it when it is unpacked as a plain zip)."""

from __future__ import annotations

import zipfile

from ..registry import Child, extractor


@extractor("zip", "jar", "apk")
def zip_members(node, content, ctx):
    with zipfile.ZipFile(content.open()) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            yield Child(
                name=info.filename,
                open=lambda info=info: archive.open(info),
                declared_size=info.file_size,
                packed_size=info.compress_size,
            )
