"""7z archives, with py7zr (pure Python): plain, AES-encrypted, and with encrypted names.

- **Encrypted names** (``7z a -mhe``): without a password nothing, not even the member
  names, can be read; that is recorded as ``archive.names_hidden``. Each candidate password
  from :mod:`filewall.extract._passwords` is tried on the header (a wrong one fails there).
- **Encrypted content**: names are visible; candidates are tried by unpacking, since 7z has
  no password check value. Members no password opens come out name-only, marked encrypted.
- **Memory and disk**: py7zr decompresses whole solid blocks. Members are written by a
  writer of our own into a fresh folder inside the scan's temp folder, each capped at what
  the engine may still read (only a head sample for a member that declares more), and the
  run stops at the scan's byte budget or deadline. Members are unpacked by their index in
  the archive, never by name, so hostile names (``../``, ``C:\\``) are reported, not obeyed.
- Codecs py7zr lacks (BCJ2, ARM64 ...) are handed to ``7zz`` when it is installed.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field

import py7zr
from py7zr.compressor import SupportedMethods
from py7zr.exceptions import PasswordRequired, UnsupportedCompressionMethodError
from py7zr.io import MemIO, Py7zIO, WriterFactory

from ..engine import ExtractError, ScanTimeout
from ..registry import Child, extractor
from . import _passwords, _tools

_LINK_MAX = 4096
#: py7zr asks the decoder for up to 128 MB at a time (its get_memory_limit()), so one
#: decompression bomb would cost 128 MB of memory per step before our writer could stop it.
#: 4 MiB steps keep memory flat and let a bomb be cut at its sample size, and are faster
#: (measured here: an 86 MB LZMA2 member 13.3 s -> 6.2 s; a 2 GB zero bomb 1.65 s -> 0.08 s).
_STEP = 4 * 1024 * 1024
py7zr.py7zr.get_memory_limit = lambda: _STEP  # process-wide; py7zr is pinned in pyproject


class _Stop(Exception):
    """Unpacking reached a budget; what was written so far is still used."""


@extractor("7z")
def sevenzip_members(node, content, ctx):
    """Yield the members of a 7z archive."""
    streams: list = []
    try:
        yield from _members(node, content, ctx, streams)
    except UnsupportedCompressionMethodError:
        yield from _with_sevenzip_tool(node, content, ctx)
    finally:
        for stream in streams:
            stream.close()


def _members(node, content, ctx, streams: list):
    archive, candidate = _open(node, content, ctx, streams)
    if archive is None:
        return
    files = [entry for entry in archive.files if not entry.is_directory]
    encrypted = _encrypted_ids(archive)
    run, candidate = _unpack_all(archive, content, ctx, files, encrypted, candidate, streams)
    try:
        if run.stopped and any(run.done(entry.id) is None for entry in files if entry.id not in encrypted):
            ctx.fact(node, "limit.total_bytes", limit=ctx.limits.max_total_bytes)  # members left packed
        for entry in files:
            yield _child(entry, run, entry.id in encrypted, candidate)
    finally:
        run.close()
    if run.error:
        raise ExtractError(run.error)


def _open(node, content, ctx, streams: list):
    """Open the archive; for encrypted names, find the password or record names_hidden."""

    def attempt(password: str | None):
        stream = content.open()
        streams.append(stream)
        return py7zr.SevenZipFile(stream, password=password)

    try:
        return attempt(None), None
    except PasswordRequired:
        pass
    except UnsupportedCompressionMethodError:
        raise
    except (py7zr.Bad7zFile, EOFError, ValueError, KeyError, IndexError, TypeError, OSError) as error:
        raise ExtractError(f"the 7z archive is damaged ({_plain(error)})") from error
    found = _passwords.try_passwords(ctx, attempt)
    if found is None:
        ctx.fact(node, "archive.names_hidden")
        return None, None
    archive, candidate = found
    ctx.fact(node, "archive.encrypted", **_passwords.source_params(candidate))
    return archive, candidate


def _encrypted_ids(archive) -> set[int]:
    """Ids of members whose block is AES-encrypted."""
    ids = set()
    for entry in archive.files:
        folder = entry.folder
        if folder is not None and SupportedMethods.needs_password(folder.coders):
            ids.add(entry.id)
    return ids


@dataclass
class _Run:
    """One unpacking pass: where members went, which finished, why it ended."""

    folder: str
    written: dict[int, _CappedWriter] = field(default_factory=dict)
    stopped: bool = False
    error: str = ""

    def close(self) -> None:
        """Close every writer's file and remove the folder."""
        for writer in self.written.values():
            writer.release()
        shutil.rmtree(self.folder, ignore_errors=True)

    def done(self, entry_id: int) -> _CappedWriter | None:
        writer = self.written.get(entry_id)
        return writer if writer is not None and writer.closed_ok else None


def _unpack_all(archive, content, ctx, files, encrypted, candidate, streams: list):
    """Unpack every member, trying candidate passwords when content is encrypted."""
    if not encrypted or candidate is not None:
        return _unpack(archive, ctx, files, candidate.password if candidate else None), candidate

    unsupported: list[UnsupportedCompressionMethodError] = []

    def attempt(password: str) -> _Run | None:
        if unsupported:
            return None  # no password helps py7zr with a codec it lacks
        stream = content.open()
        streams.append(stream)
        try:
            run = _unpack(py7zr.SevenZipFile(stream, password=password), ctx, files, password)
        except UnsupportedCompressionMethodError as error:
            unsupported.append(error)
            raise
        if run.error and not run.stopped:
            run.close()
            return None
        return run

    found = _passwords.try_passwords(ctx, attempt)
    if found is not None:
        return found
    if unsupported:
        raise unsupported[0]  # 7-Zip itself tries the passwords (see _with_sevenzip_tool)
    plain = [entry for entry in files if entry.id not in encrypted]
    return _unpack(archive, ctx, plain, None), None


def _unpack(archive, ctx, files, password: str | None) -> _Run:
    """Run py7zr's worker over ``files`` (by id), writing through capped writers."""
    run = _Run(_tools.new_folder(ctx.temp_dir, "7z-"))
    factory = _Factory(run, ctx, {entry.id: entry for entry in files})
    wanted = {entry.id for entry in files}
    for entry in archive.files:
        if entry.folder is not None and password is not None:
            entry.folder.password = password
        archive.worker.register_filelike(
            entry.id, MemIO(str(entry.id), factory) if entry.id in wanted else None
        )
    try:
        archive.worker.extract(archive.fp, None, parallel=False)
    except _Stop:
        run.stopped = True
    except ScanTimeout:
        raise
    except UnsupportedCompressionMethodError:
        run.close()
        raise
    except Exception as error:  # py7zr signals bad data and wrong passwords many ways
        run.error = f"the 7z archive is damaged or the password is wrong ({_plain(error)})"
    return run


class _Factory(WriterFactory):
    """Creates one capped file writer per member, named by the member's index."""

    def __init__(self, run: _Run, ctx, entries: dict):
        self.run, self.ctx, self.entries = run, ctx, entries
        self.budget = [ctx.remaining_bytes()]

    def create(self, filename: str) -> Py7zIO:
        entry = self.entries[int(filename)]
        writer = _CappedWriter(os.path.join(self.run.folder, filename), _cap(entry, self.ctx), self)
        self.run.written[entry.id] = writer
        return writer


def _cap(entry, ctx) -> tuple[int, bool]:
    """Bytes to keep of a member, and whether reaching them should stop the run."""
    budget = min(ctx.limits.max_file_size, ctx.remaining_bytes())
    if entry.is_symlink:
        return _LINK_MAX, False
    if entry.uncompressed > budget:
        return ctx.limits.bomb_sample_bytes, True  # a bomb: keep a sample, unpack no further
    return entry.uncompressed, False


class _CappedWriter(Py7zIO):
    """Writes a member to disk up to its cap; checks the scan's budget and deadline."""

    def __init__(self, path: str, cap: tuple[int, bool], factory: _Factory):
        self.path = path
        self.cap, self.stop_at_cap = cap
        self.factory = factory
        self.size_written = 0
        self.closed_ok = False
        self.truncated = False
        self._file = open(path, "wb")  # noqa: SIM115 - closed by close()/release()

    def write(self, data) -> int:
        self.factory.ctx.check_time()
        keep = max(0, min(len(data), self.cap - self.size_written))
        if keep:
            self._file.write(data[:keep])
            self.size_written += keep
            self.factory.budget[0] -= keep
        if keep < len(data):
            self.truncated = True
            if self.stop_at_cap:
                self._finish()
                raise _Stop()
        if self.factory.budget[0] < 0:
            raise _Stop()
        return len(data)

    def release(self) -> None:
        if not self._file.closed:
            self._file.close()

    def _finish(self) -> None:
        if not self._file.closed:
            self._file.close()
        self.closed_ok = True

    def read(self, size: int | None = None) -> bytes:
        return b""

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def flush(self) -> None:
        if not self._file.closed:
            self._file.flush()

    def size(self) -> int:
        return self.size_written

    def close(self) -> None:
        # py7zr calls close() only when the member decoded without error.
        self._finish()


def _child(entry, run: _Run, encrypted: bool, candidate) -> Child:
    info: dict = {"stored_name": entry.filename}
    facts: list = []
    if encrypted:
        info["encrypted"] = True
    writer = run.done(entry.id)
    if entry.is_symlink:
        if writer is not None:
            with open(writer.path, "rb") as stream:
                info["link_target"] = stream.read(_LINK_MAX).decode("utf-8", "replace")
        else:
            info["link_target"] = "?"
        return Child(_tools.shown(entry.filename), None, 0, entry.compressed, facts, info)
    if writer is None:
        if encrypted and candidate is None:
            facts.append(("archive.encrypted_unopened", {}))
        else:
            info["not_extracted"] = True
        return Child(_tools.shown(entry.filename), None, entry.uncompressed, entry.compressed, facts, info)
    if encrypted and candidate is not None:
        params = _passwords.source_params(candidate)
        info["password_source"] = params["password_source"]
        facts.append(("archive.encrypted", params))
    path = writer.path
    return Child(
        _tools.shown(entry.filename),
        lambda: _tools.open_no_follow(path),
        entry.uncompressed,
        entry.compressed,
        facts,
        info,
    )


def _with_sevenzip_tool(node, content, ctx):
    """Codecs py7zr does not have: 7-Zip itself, else say the archive could not be opened."""
    if _tools.can_open("7z", ("7zz",)) is None:
        ctx.fact(node, "archive.unsupported", format="7z", helpers="7zz")
        return
    yield from _tools.tool_children(node, content, ctx, format_name="7z", tools=("7zz",))


def _plain(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text[:200]
