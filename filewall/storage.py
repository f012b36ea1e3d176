"""Content-addressed blob store on disk: ``<root>/ab/cd/<sha256>``.

Used by the support desk for the samples customers send (``<data>/samples``) and for the
safe previews made from them (``<data>/previews``). A blob is written atomically and
durably before anyone is told it is stored:

1. the bytes go to a temp file in ``<root>/tmp`` (same file system), hashed as they go;
2. the temp file is flushed and ``fsync``-ed;
3. it is renamed to its content address (an existing blob with that address is kept: same
   hash, same bytes), and every directory whose entries changed is ``fsync``-ed.

So after :meth:`BlobStore.put_stream` returns, a crash or power cut loses nothing, and a
name in the store never holds partial content. Nothing here ever opens a blob in any way
but as bytes.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK = 1024 * 1024
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class StoreError(Exception):
    """The store could not take a blob (disk full, permissions); the message says which."""


class TooLarge(StoreError):
    """The stream was longer than the limit given to :meth:`BlobStore.put_stream`."""


@dataclass(frozen=True)
class Stored:
    sha256: str
    size: int
    path: Path
    #: False when a blob with the same content was already there (nothing was written).
    created: bool


class BlobStore:
    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)
        self.tmp = self.root / "tmp"

    def setup(self) -> BlobStore:
        """Create the folders (durably) and clear temp files left by a crash."""
        _makedirs_durable(self.tmp)
        for leftover in self.tmp.iterdir():
            try:
                leftover.unlink()
            except OSError:
                pass
        return self

    def path_for(self, sha256: str) -> Path:
        if not _SHA256_RE.match(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        return open(self.path_for(sha256), "rb")

    def put_bytes(self, data: bytes) -> Stored:
        return self.put_chunks([data])

    def put_stream(self, stream: BinaryIO, max_bytes: int | None = None) -> Stored:
        """Copy ``stream`` into the store; raises :class:`TooLarge` past ``max_bytes``."""

        def chunks() -> Iterable[bytes]:
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    return
                yield chunk

        return self.put_chunks(chunks(), max_bytes)

    def put_chunks(self, chunks: Iterable[bytes], max_bytes: int | None = None) -> Stored:
        staged = self.stage(chunks, max_bytes)
        return self.commit(staged)

    # Two steps, for callers that want to start using the bytes (scanning them) while the
    # disk flush is still under way: ``stage`` writes and hashes, ``commit`` makes durable.
    def stage(self, chunks: Iterable[bytes], max_bytes: int | None = None) -> Staged:
        digest = hashlib.sha256()
        size = 0
        try:
            handle = tempfile.NamedTemporaryFile(dir=self.tmp, prefix="in-", delete=False)
        except OSError as error:
            raise StoreError(f"cannot write to the sample store {self.root}: {error.strerror or error}") from error
        try:
            with handle:
                for chunk in chunks:
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise TooLarge(f"more than {max_bytes} bytes")
                    digest.update(chunk)
                    handle.write(chunk)
        except BaseException as error:
            _unlink(handle.name)
            if isinstance(error, OSError):
                raise StoreError(f"cannot write to the sample store {self.root}: {error.strerror or error}") from error
            raise
        return Staged(Path(handle.name), digest.hexdigest(), size)

    def commit(self, staged: Staged) -> Stored:
        target = self.path_for(staged.sha256)
        try:
            if target.is_file() and target.stat().st_size == staged.size:
                _unlink(staged.temp)
                return Stored(staged.sha256, staged.size, target, created=False)
            fd = os.open(staged.temp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            _makedirs_durable(target.parent)
            os.replace(staged.temp, target)
            _fsync_dir(target.parent)
        except OSError as error:
            _unlink(staged.temp)
            raise StoreError(f"cannot write to the sample store {self.root}: {error.strerror or error}") from error
        return Stored(staged.sha256, staged.size, target, created=True)

    def discard(self, staged: Staged) -> None:
        _unlink(staged.temp)


@dataclass(frozen=True)
class Staged:
    """Bytes written and hashed but not yet durable or addressable."""

    temp: Path
    sha256: str
    size: int


def _makedirs_durable(path: Path) -> None:
    """``mkdir -p`` that fsyncs each parent whose entries it changed."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        _fsync_dir(folder.parent)


def _fsync_dir(path: Path) -> None:
    if os.name == "nt":  # Windows cannot open a directory for fsync; NTFS journals renames
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(path: str | os.PathLike[str]) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
