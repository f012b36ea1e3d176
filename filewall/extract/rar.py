"""RAR 1.5–5 archives, with rarfile: headers in pure Python, decompression by a helper.

rarfile parses every header itself (names, sizes, links, encryption, RAR5 encrypted
headers) and reads *stored* members directly, so names are always checked, on any
computer. Compressed or encrypted members need a program that implements RAR's codecs:
``unar`` (handles RAR 1.5–5 and passwords), a 7-Zip built with RAR (Debian's is not), or
``bsdtar`` (no passwords). Without one, such a member comes out name-only and the archive
gets ``archive.unsupported``.

Safety:
- rarfile is given a path inside the scan's temp folder and its "extract hack" (copying
  members into temp files in the system temp folder) is switched off, so nothing is written
  outside the scan's own folder;
- the helper streams one member to a pipe; the engine stops reading at its budget and
  closing the stream ends the helper; a watchdog kills it at the scan's deadline;
- passwords go to the helper as an argument list, never through a shell. Known limitation:
  that list is visible to every user of the computer (``ps``, ``/proc/PID/cmdline``) while
  the helper runs. rarfile starts ``unar -p PASSWORD`` (or ``7z -pPASSWORD``), and ``unar``
  1.10 takes a password no other way (no stdin, terminal, environment or file). Debian's
  7-Zip has no RAR codec, so there is no helper that could be handed it privately here.
  Encrypted names (RAR3 and RAR5) are decrypted by rarfile itself, in this process
  (no helper, nothing on a command line); only members' contents go through a helper.
  Where other local users matter, mount ``/proc`` with ``hidepid=2``.

Solid archives are decompressed from the start for each member (the helper's limit);
the scan deadline bounds that.
"""

from __future__ import annotations

import io
import shutil
import threading
import time

import rarfile

from ..engine import ExtractError
from ..registry import Child, extractor
from . import _passwords, _tools

# Process-wide settings of the library (the same for every scan):
rarfile.USE_EXTRACT_HACK = False  # never copy members into the system temp folder
rarfile.HACK_TMP_DIR = None

_setup_for: tuple | None = None


@extractor("rar")
def rar_members(node, content, ctx):
    """Yield the members of a RAR archive."""
    tool = _configure_tool()
    archive, candidate = _open(node, content, ctx)
    if archive is None:
        return
    infos = [info for info in archive.infolist() if not info.is_dir()]
    if candidate is None and _any_encrypted(infos):
        candidate = _find_password(archive, infos, ctx, tool)
    needs_tool = [info for info in infos if _needs_tool(info)]
    if needs_tool and tool is None:
        ctx.fact(node, "archive.unsupported", format="RAR", helpers="unar")
    size = content.size
    for info in infos:
        ctx.check_time()
        if _cut_short(info, size):
            # Its data lies past the end of the file: the archive's "damaged" finding covers
            # it; the name is kept in the tree without being scored a second time.
            node.info.setdefault("incomplete_members", []).append(info.filename)
            continue
        yield _child(archive, info, ctx, candidate, tool is not None)
    problem = archive.strerror() or (any(_cut_short(info, size) for info in infos) and "it is cut short")
    if problem:
        raise ExtractError(f"the RAR archive is damaged ({problem})")


def _configure_tool() -> str | None:
    """Point rarfile at the helpers present here; returns the chosen one's name or None."""
    global _setup_for
    sevenzip = _tools.sevenzip()
    sevenzip_rar = bool(sevenzip) and "rar" in _tools.sevenzip_codecs(sevenzip)
    pair = _tools.unar()
    bsdtar = None if "libarchive" in _tools.disabled() else shutil.which("bsdtar")
    wanted = (pair, sevenzip if sevenzip_rar else None, bsdtar)
    if pair:
        rarfile.UNAR_TOOL = pair[0]
    if sevenzip_rar:
        rarfile.SEVENZIP2_TOOL = rarfile.SEVENZIP_TOOL = sevenzip
    if bsdtar:
        rarfile.BSDTAR_TOOL = bsdtar
    if not any(wanted):
        _setup_for = wanted
        return None
    if wanted != _setup_for:
        rarfile.tool_setup(
            unrar=False,
            unar=bool(pair),
            sevenzip=sevenzip_rar,
            sevenzip2=sevenzip_rar,
            bsdtar=bool(bsdtar),
            force=True,
        )
        _setup_for = wanted
    return "unar" if pair else ("7zz" if sevenzip_rar else "bsdtar")


def _open(node, content, ctx) -> tuple[rarfile.RarFile | None, _passwords.Candidate | None]:
    """Open the archive from a path inside the scan's temp folder; handle encrypted names."""
    path = _tools.archive_path(content, ctx)
    try:
        archive = rarfile.RarFile(path)
    except rarfile.NeedFirstVolume as error:
        raise ExtractError(
            "this is a later part of a multi-part RAR archive; the first part is needed"
        ) from error
    except (rarfile.Error, OSError, ValueError, EOFError) as error:
        raise ExtractError(f"the RAR archive is damaged ({_plain(error)})") from error
    if not (archive.needs_password() and not archive.infolist()):
        return archive, None

    def attempt(password: str) -> rarfile.RarFile | None:
        reopened = rarfile.RarFile(path)
        reopened.setpassword(password)  # RAR5 checks the password here; RAR3 decodes garbage
        return reopened if reopened.infolist() and not reopened.strerror() else None

    found = _passwords.try_passwords(ctx, attempt)
    if found is None:
        ctx.fact(node, "archive.names_hidden")
        return None, None
    # The password that opened the names opens the content too.
    ctx.fact(node, "archive.encrypted", **_passwords.source_params(found[1]))
    return found


def _any_encrypted(infos) -> bool:
    return any(info.needs_password() for info in infos)


def _cut_short(info, size: int) -> bool:
    offset = getattr(info, "data_offset", None)
    return offset is not None and offset + (info.compress_size or 0) > size and info.volume == 0


def _needs_tool(info) -> bool:
    stored = info.compress_type == rarfile.RAR_M0 and not info.needs_password()
    return not stored and not info.is_symlink() and info.file_redir is None


def _find_password(archive, infos, ctx, tool: str | None) -> _passwords.Candidate | None:
    """Find the password by reading the smallest encrypted member to its end (CRC-checked)."""
    if tool is None:
        return None
    sample = min(
        (info for info in infos if info.needs_password() and info.file_size > 0),
        key=lambda info: info.file_size,
        default=None,
    )
    if sample is None:
        return None

    def attempt(password: str) -> bool | None:
        with _watched(archive.open(sample, pwd=password), ctx) as stream:
            while stream.read(1024 * 1024):
                pass
        return True

    found = _passwords.try_passwords(ctx, attempt)
    return found[1] if found else None


def _child(archive, info, ctx, candidate, have_tool: bool) -> Child:
    stored = info.filename
    name = stored.replace("\\", "/")
    data: dict = {"stored_name": stored}
    facts: list = []
    if info.is_symlink() or (info.file_redir is not None and info.file_redir[0] in _LINK_TYPES):
        data["link_target"] = info.file_redir[2] if info.file_redir else _symlink_target(archive, info)
        data["link_kind"] = (
            "hardlink"
            if info.file_redir and info.file_redir[0] == rarfile.RAR5_XREDIR_HARD_LINK
            else "symlink"
        )
        return Child(name, None, 0, info.compress_size, facts, data)
    encrypted = info.needs_password()
    if encrypted:
        data["encrypted"] = True
        if info.file_size == 0:
            return Child(name, lambda: io.BytesIO(b""), 0, info.compress_size, facts, data)  # nothing to hide
    if encrypted and candidate is None:
        facts.append(("archive.encrypted_unopened", {}))
        return Child(name, None, info.file_size, info.compress_size, facts, data)
    if _needs_tool(info) and not have_tool:
        data["not_extracted"] = True
        return Child(name, None, info.file_size, info.compress_size, facts, data)
    if encrypted:
        params = _passwords.source_params(candidate)
        data["password_source"] = params["password_source"]
        facts.append(("archive.encrypted", params))
    password = candidate.password if encrypted else None
    return Child(
        name,
        lambda: _watched(archive.open(info, pwd=password), ctx),
        info.file_size,
        info.compress_size,
        facts,
        data,
    )


_LINK_TYPES = (
    rarfile.RAR5_XREDIR_UNIX_SYMLINK,
    rarfile.RAR5_XREDIR_WINDOWS_SYMLINK,
    rarfile.RAR5_XREDIR_WINDOWS_JUNCTION,
    rarfile.RAR5_XREDIR_HARD_LINK,
)


def _symlink_target(archive, info) -> str:
    """RAR3 stores a Unix link's target as the member's (small, stored) data."""
    try:
        with archive.open(info) as stream:
            return stream.read(4096).decode("utf-8", "replace")
    except (rarfile.Error, OSError):
        return "?"


class _Watched:
    """A member stream whose helper process is killed at the scan's deadline."""

    def __init__(self, stream, ctx):
        self._stream = stream
        process = getattr(stream, "_proc", None)  # rarfile's PipeReader keeps its Popen here
        self._timer = None
        if process is not None:
            self._timer = threading.Timer(max(0.0, ctx.deadline - time.monotonic()), _kill, (process,))
            self._timer.daemon = True
            self._timer.start()

    def read(self, size: int = -1) -> bytes:
        try:
            return self._stream.read(size)
        except rarfile.Error as error:
            raise ExtractError(f"the RAR member could not be unpacked ({_plain(error)})") from error

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        process = getattr(self._stream, "_proc", None)
        if process is not None and process.poll() is None:
            _kill(process)  # the engine has read what it may; do not wait for the rest
        self._stream.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _watched(stream, ctx) -> _Watched:
    return _Watched(stream, ctx)


def _kill(process) -> None:
    try:
        process.kill()
    except OSError:
        pass


def _plain(error: BaseException) -> str:
    return (str(error) or type(error).__name__)[:200]
