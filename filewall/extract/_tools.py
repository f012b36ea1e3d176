"""Optional unpacking helpers ("accelerators") and a safe way to use them.

Some container formats have no maintained pure-Python reader (ARJ, LZX/Quantum CAB, UDF-only
disc images, compressed RAR). For those filewall uses, when present:

- ``7zz`` (7-Zip; Debian package ``7zip``; on Windows ``7z.exe``) — ARJ, CAB, UDF, ISO, 7z;
- ``unar``/``lsar`` (The Unarchiver; Debian package ``unar``) — RAR 1.5–5 incl. passwords, ARJ;
- ``libarchive`` through the ``libarchive-c`` binding — cpio, CAB (all codecs), ISO 9660,
  read as a stream inside this process.

A program is always run the same way: an argument list (never a shell), a clean
environment, its own session (no controlling terminal to prompt on), a fresh folder inside
the scan's temp folder as output and working directory, a hard timeout (the scan's
deadline), and a watchdog that kills it when what it wrote passes the scan's byte or file
budget. Extracted files are read with ``O_NOFOLLOW`` and links are reported, never followed.

Passwords: a process's arguments are readable by every user of the computer (``ps``,
``/proc/PID/cmdline``), so a password must not go there.

- 7-Zip gets it on stdin: without ``-p``, ``7zz`` asks for the password of an encrypted
  archive and reads one line from stdin (a pipe here; it does not open the terminal). The
  line is written into the pipe and the pipe closed, so a second question (a wrong
  password) reads end-of-file and 7-Zip stops ("Break signaled"): nothing waits. "No
  password" is a bare ``-p`` (the empty password; 7-Zip then asks nothing and stdin stays
  closed). See :func:`sevenzip_password`.
- ``unar``/``lsar`` 1.10 take a password only as ``-p PASSWORD`` (no stdin, terminal,
  environment or file; without ``-p`` they say "Use the -p option"). So 7-Zip comes first
  wherever it reads the format, and ``unar`` is given a password only where nothing else
  can open the archive (encrypted ARJ; RAR when 7-Zip has no RAR codec, see
  :mod:`filewall.extract.rar`). There the candidate password *is* visible in the process
  list while ``unar`` runs: a known limitation (on Linux, mount ``/proc`` with
  ``hidepid=2`` to hide other users' processes).

``FILEWALL_DISABLE_TOOLS=7zz,unar,libarchive`` hides helpers, to see (and test) how filewall
behaves on a computer without them.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from ..engine import ExtractError, ScanTimeout
from ..registry import Child
from . import _passwords

DISABLE_ENV = "FILEWALL_DISABLE_TOOLS"
#: Seconds between checks of what a running helper has written so far.
_POLL = 0.05
#: Largest listing a helper may print (names of a huge archive); more is refused.
_MAX_LISTING = 64 * 1024 * 1024
#: A link target longer than this is not a real path.
_MAX_LINK = 4096

#: Which helper opens what, for the README's "which formats need what" table.
FORMATS: list[tuple[str, str, str]] = [
    # (format, built in (pure Python), what an accelerator adds)
    ("7z", "py7zr: all common codecs, AES, encrypted names", "7zz: codecs py7zr lacks (BCJ2, ARM64 ...)"),
    (
        "RAR 4/5",
        "rarfile: names, sizes, stored members",
        "unar (or a 7-Zip with RAR, or bsdtar): compressed and encrypted members",
    ),
    ("ISO 9660/Joliet/Rock Ridge/UDF bridge", "pycdlib", "7zz: UDF-only images"),
    (
        "CAB",
        "cabarchive: stored and MSZIP, up to the spool size",
        "libarchive or 7zz: LZX, Quantum, large cabinets",
    ),
    ("cpio (bin LE/BE, odc, newc, crc)", "built-in reader", "libarchive (faster, same result)"),
    ("ARJ", "none (names cannot be read)", "7zz or unar"),
    ("SZDD (MS-Compress)", "built-in decoder", "—"),
]

#: How a format is named in the agent's messages.
LABELS = {
    "arj": "ARJ archive",
    "cab": "CAB archive",
    "7z": "7z archive",
    "udf": "UDF disc image",
    "iso": "disc image",
    "cpio": "cpio archive",
}


def disabled() -> set[str]:
    """Helpers switched off by ``FILEWALL_DISABLE_TOOLS`` (read on every call)."""
    raw = os.environ.get(DISABLE_ENV, "")
    return {item.strip().lower() for item in raw.split(",") if item.strip()}


@functools.cache
def _which(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def sevenzip() -> str | None:
    """Path of 7-Zip's command-line program, if installed and not disabled."""
    return None if "7zz" in disabled() else _which("7zz", "7z")


def unar() -> tuple[str, str] | None:
    """Paths of ``unar`` and ``lsar`` (both are needed), if installed and not disabled."""
    if "unar" in disabled():
        return None
    extract, lister = _which("unar"), _which("lsar")
    return (extract, lister) if extract and lister else None


@functools.cache
def _libarchive_module():
    try:
        import libarchive  # the binding loads libarchive.so/.dll here; absent on many Windows PCs
    except (ImportError, OSError, AttributeError):
        return None
    return libarchive


def libarchive():
    """The ``libarchive`` binding module when the C library can be loaded, else None."""
    return None if "libarchive" in disabled() else _libarchive_module()


@functools.cache
def sevenzip_codecs(path: str) -> frozenset[str]:
    """Archive formats this 7-Zip build reads (Debian's ``7zip`` has no RAR, for one)."""
    try:
        done = subprocess.run(
            [path, "i"], stdin=subprocess.DEVNULL, capture_output=True, timeout=10, env=_env()
        )
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    formats = set()
    for line in done.stdout.decode("utf-8", "replace").splitlines():
        match = re.match(r"\s+[.A-Za-z+]{10,}\s+(\w+)\s", line)
        if match:
            formats.add(match.group(1).lower())
    return frozenset(formats)


def available() -> dict[str, str | None]:
    """Each accelerator and where it was found (None: not available here)."""
    module = libarchive()
    version = None
    if module is not None:
        try:
            version = f"libarchive {module.ffi.version_number()}"
        except Exception:
            version = "libarchive"
    pair = unar()
    return {"7zz": sevenzip(), "unar": pair[0] if pair else None, "libarchive": version}


# --- listing ---------------------------------------------------------------------------------


@dataclass
class ToolEntry:
    """One member as a helper lists it."""

    name: str
    size: int | None = None
    packed: int | None = None
    is_dir: bool = False
    link_target: str | None = None
    encrypted: bool = False


@dataclass
class ToolListing:
    entries: list[ToolEntry] = field(default_factory=list)
    #: True when the archive could not be listed for want of a password (names hidden).
    needs_password: bool = False
    error: str = ""


class ToolError(Exception):
    """A helper failed; the message is plain words."""


def list_sevenzip(tool: str, archive: str, password: str | None, timeout: float) -> ToolListing:
    """List an archive with ``7zz l -slt`` (technical listing, one ``Key = value`` per line)."""
    switch, secret = sevenzip_password(password)
    command = [tool, "l", "-slt", "-sccUTF-8", "-bd", *switch, "--", archive]
    code, out, err = _run_captured(command, timeout, stdin=secret)
    text = out.decode("utf-8", "replace")
    listing = ToolListing()
    if code != 0:
        message = (err or out).decode("utf-8", "replace")
        listing.needs_password = "Wrong password" in message or "encrypted archive" in message
        listing.error = _last_line(message)
    _, _, items = text.partition("\n----------\n")
    for block in items.split("\n\n"):
        fields = dict(line.split(" = ", 1) for line in block.splitlines() if " = " in line)
        if "Path" not in fields:
            continue
        attributes = fields.get("Attributes", "")
        mode = fields.get("Mode", "")
        listing.entries.append(
            ToolEntry(
                name=fields["Path"],
                size=_int(fields.get("Size")),
                packed=_int(fields.get("Packed Size")),
                is_dir=fields.get("Folder") == "+" or attributes.startswith("D") or mode.startswith("d"),
                link_target=fields.get("Symbolic Link") or None,
                encrypted=fields.get("Encrypted") == "+",
            )
        )
    return listing


def list_unar(lister: str, archive: str, password: str | None, timeout: float) -> ToolListing:
    """List an archive with ``lsar -j`` (JSON).

    ``lsar`` takes a password only on its command line (see the module's notes): callers
    use 7-Zip instead wherever it reads the format.
    """
    command = [lister, "-j", "-p", password or "", "--", archive]
    code, out, err = _run_captured(command, timeout)
    listing = ToolListing()
    try:
        data = json.loads(out.decode("utf-8", "replace") or "{}")
    except ValueError:
        listing.error = _last_line((err or out).decode("utf-8", "replace")) or "unreadable listing"
        return listing
    if code != 0 and not data.get("lsarContents"):
        listing.error = _last_line(err.decode("utf-8", "replace")) or f"lsar exit {code}"
    for item in data.get("lsarContents", []):
        listing.entries.append(
            ToolEntry(
                name=str(item.get("XADFileName", "")),
                size=_int(item.get("XADFileSize")),
                packed=_int(item.get("XADCompressedSize")),
                is_dir=bool(item.get("XADIsDirectory")),
                link_target=item.get("XADLinkDestination"),
                encrypted=bool(item.get("XADIsEncrypted")),
            )
        )
    return listing


# --- extraction ------------------------------------------------------------------------------


@dataclass
class Extraction:
    """What one run of a helper left in its folder."""

    folder: str
    returncode: int | None
    #: Why the helper was stopped early: "" (it was not), "bytes", "members" or "time".
    stopped: str = ""
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.stopped


def extract_sevenzip(tool: str, archive: str, folder: str, password: str | None, **budget) -> Extraction:
    """``7zz x`` into ``folder``; dangerous links are refused by 7-Zip itself (no ``-snld``)."""
    switch, secret = sevenzip_password(password)
    command = [tool, "x", "-y", "-bd", "-sccUTF-8", *switch, f"-o{folder}", "--", archive]
    return _run_watched(command, folder, stdin=secret, **budget)


def extract_unar(tool: str, archive: str, folder: str, password: str | None, **budget) -> Extraction:
    """``unar`` into ``folder``: no nested auto-extraction (``-nr``), no extra sub-folder.

    The password goes on ``unar``'s command line, its only way (see the module's notes).
    """
    command = [tool, "-q", "-nr", "-f", "-D", "-p", password or "", "-o", folder, "--", archive]
    return _run_watched(command, folder, **budget)


def new_folder(temp_dir: str, prefix: str) -> str:
    """A fresh, private folder inside the scan's temp folder."""
    return tempfile.mkdtemp(prefix=prefix, dir=temp_dir)


def _run_watched(
    command: list[str],
    folder: str,
    *,
    max_bytes: int,
    max_files: int,
    deadline: float,
    stdin: bytes | None = None,
) -> Extraction:
    """Run a helper, killing it at the deadline or when its output passes the budget.

    ``stdin`` (a password line, at most :data:`_MAX_PASSWORD_BYTES`) is written into a pipe
    that is then closed; it fits the pipe's buffer, so writing never waits on the helper.
    """
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=folder,
            env=_env(),
            start_new_session=os.name == "posix",
        )
    except OSError as error:
        raise ToolError(f"could not start {os.path.basename(command[0])}: {error.strerror}") from error
    stopped = ""
    try:
        _feed(process, stdin)
        while True:
            try:
                process.wait(timeout=_POLL)
                break
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() > deadline:
                stopped = "time"
            else:
                written, files = folder_usage(folder)
                if written > max_bytes:
                    stopped = "bytes"
                elif files > max_files:
                    stopped = "members"
            if stopped:
                process.kill()
                process.wait()
                break
        message = process.stderr.read(64 * 1024).decode("utf-8", "replace") if process.stderr else ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()
    return Extraction(folder, process.returncode, stopped, _last_line(message))


def folder_usage(folder: str) -> tuple[int, int]:
    """Bytes and entries under ``folder`` (links counted, never followed)."""
    total = count = 0
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in files + dirs:
            count += 1
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total, count


# --- turning extracted files into children ---------------------------------------------------


def shown(stored: str) -> str:
    """A member's label in the tree: the stored path with ``\\`` turned into ``/``."""
    return stored.replace("\\", "/")


def normalise(name: str) -> str:
    """The relative path a helper writes a stored name to: no drive, no root, no ``..``."""
    parts = [part for part in re.split(r"[\\/]+", name) if part not in ("", ".", "..")]
    if parts and re.fullmatch(r"[A-Za-z]:", parts[0]):
        parts = parts[1:]
    return "/".join(parts)


def children_from_folder(
    entries: Iterable[ToolEntry],
    folder: str,
    *,
    encrypted_unopened: bool = False,
    complete: bool = True,
    incomplete: list[str] | None = None,
) -> Iterator[Child]:
    """Yield a child per listed member, reading what the helper wrote into ``folder``.

    Members are matched to files by their normalised name; a listed member with no file
    comes out name-only, and a file nobody listed comes out under its own name, so nothing
    written is left unscanned. After a failed run (``complete=False``) a file shorter than
    its listed size is half written: it is not handed over (the archive's own "damaged"
    finding covers it) and its name is added to ``incomplete``. Each file is deleted once read.
    """
    on_disk = dict(_walk_files(folder))
    for entry in entries:
        if entry.is_dir:
            continue
        info: dict = {"stored_name": entry.name}
        if entry.encrypted:
            info["encrypted"] = True
        path = on_disk.pop(normalise(entry.name), None)
        if entry.link_target is not None:
            info["link_target"] = entry.link_target
        if entry.link_target is not None or (entry.encrypted and encrypted_unopened):
            # Names only: a link has no content of its own, and when no password opened a
            # member whatever the helper wrote is garbage or nothing.
            yield Child(
                name=shown(entry.name),
                open=None,
                declared_size=entry.size,
                packed_size=entry.packed,
                info=info,
            )
            continue
        if path is None and not complete:
            if incomplete is not None:
                incomplete.append(entry.name)
            continue
        if path is None:
            info["not_extracted"] = True
            yield Child(
                name=shown(entry.name),
                open=None,
                declared_size=entry.size,
                packed_size=entry.packed,
                info=info,
            )
            continue
        if not complete and entry.size is not None and _size(path) != entry.size:
            if incomplete is not None:
                incomplete.append(entry.name)
            continue
        yield from _file_child(shown(entry.name), path, info, entry.size, entry.packed)
    if not complete:
        return  # unlisted files of a failed run cannot be told from half-written ones
    for relative, path in on_disk.items():
        yield from _file_child(relative, path, {"stored_name": relative}, None, None)


def _size(path: str) -> int | None:
    try:
        return os.lstat(path).st_size
    except OSError:
        return None


def _file_child(name: str, path: str, info: dict, size: int | None, packed: int | None) -> Iterator[Child]:
    try:
        status = os.lstat(path)
    except OSError:
        return
    if stat.S_ISLNK(status.st_mode):
        info["link_target"] = _readlink(path)
        yield Child(name=name, open=None, declared_size=size, packed_size=packed, info=info)
        return
    if not stat.S_ISREG(status.st_mode):
        return
    yield Child(
        name=name, open=lambda: open_no_follow(path), declared_size=size, packed_size=packed, info=info
    )
    try:
        os.unlink(path)  # read by now: free the disk for the next member
    except OSError:
        pass


def open_no_follow(path: str) -> BinaryIO:
    """Open a file a helper wrote, refusing to follow a link planted in its place."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    return os.fdopen(os.open(path, flags), "rb")


def _walk_files(folder: str) -> Iterator[tuple[str, str]]:
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(files) + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            path = os.path.join(root, name)
            yield os.path.relpath(path, folder).replace(os.sep, "/"), path


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)[:_MAX_LINK]
    except OSError:
        return "?"


# --- libarchive, in process -------------------------------------------------------------------


def libarchive_children(node, content, ctx, format_name: str) -> Iterator[Child]:
    """Read the members of ``content`` with libarchive (``format_name``: ``cpio``, ``cab`` ...).

    libarchive reads an archive in one pass, so each member is copied out before it is
    handed over: into memory, or a temp file in the scan's folder past the spool size,
    never more than the engine may read (a head sample for a member that declares more).
    A member the damage cuts short is not handed over; its name goes into the archive's
    ``info["incomplete_members"]`` and the archive is reported damaged.
    """
    module = libarchive()
    if module is None:
        raise ExtractError("libarchive is not available")
    current = None
    try:
        with content.open() as stream, module.stream_reader(stream, format_name=format_name) as archive:
            for entry in archive:
                ctx.check_time()
                current = entry.pathname
                child = _libarchive_child(entry, ctx)
                current = None
                if child is not None:
                    yield child
    except module.exception.ArchiveError as error:
        if current:
            node.info.setdefault("incomplete_members", []).append(current)
        raise ExtractError(
            f"the {LABELS.get(format_name, format_name)} is damaged ({_plain_archive_error(error)})"
        ) from error


def _libarchive_child(entry, ctx) -> Child | None:
    if entry.isdir:
        return None
    stored = entry.pathname or "(no name)"
    name = shown(stored)
    info: dict = {"stored_name": stored}
    if entry.issym or entry.islnk:
        info["link_target"] = (entry.linkpath or "")[:_MAX_LINK]
        return Child(name=name, open=None, declared_size=0, info=info)
    if not entry.isreg:
        return None  # devices, fifos, sockets carry no data
    size = entry.size if entry.size is not None and entry.size >= 0 else None
    return Child(
        name=name, open=copy_out(entry.get_blocks(1024 * 1024), size, ctx), declared_size=size, info=info
    )


def copy_out(blocks: Iterable[bytes], size: int | None, ctx) -> Callable[[], BinaryIO]:
    """Copy a member's data now (from a one-pass reader), bounded by what the engine may
    read; returns the ``Child.open`` for the copy. Errors while reading surface here,
    before the member is handed over."""
    budget = min(ctx.limits.max_file_size, ctx.remaining_bytes())
    if size is not None and size > budget:
        budget = ctx.limits.bomb_sample_bytes
    copy = tempfile.SpooledTemporaryFile(max_size=ctx.limits.spool_threshold, dir=ctx.temp_dir)  # noqa: SIM115 - the engine closes it
    kept = 0
    for block in blocks:
        ctx.check_time()
        copy.write(block[: max(0, budget + 1 - kept)])
        kept += len(block)
        if kept > budget:
            break  # one byte past the budget tells the engine there was more

    def reopen() -> BinaryIO:
        copy.seek(0)
        return _Unclosed(copy)  # type: ignore[return-value]

    return reopen


class _Unclosed:
    """Hands a spooled copy to the engine; closing it frees the copy."""

    def __init__(self, copy):
        self._copy = copy

    def read(self, size: int = -1) -> bytes:
        return self._copy.read(size)

    def close(self) -> None:
        self._copy.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _plain_archive_error(error: Exception) -> str:
    text = str(error)
    match = re.search(r"msg='([^']*)'", text)
    message = match.group(1) if match else text.split(" (errno=", 1)[0]
    if not message or message == "None":
        return "its data ends early or is damaged"  # libarchive gives no message for a cut file
    return message[:200]


def _scrub(message: str, *paths: str) -> str:
    """A helper's message without the scan's temp paths (they mean nothing to an agent)."""
    for path in paths:
        if path:
            message = message.replace(f'"{path}"', "").replace(path, "the file")
    message = re.sub(r"^\s*ERROR:\s*", "", message)
    return re.sub(r"\s+", " ", message).strip()


# --- the whole job: list, find the password, extract, hand over -----------------------------


def can_open(format_name: str, tools: Iterable[str] = ("7zz", "unar")) -> str | None:
    """The first helper in ``tools`` that is here and reads ``format_name`` (7-Zip's name)."""
    for name in tools:
        if name == "7zz":
            path = sevenzip()
            if path and format_name.lower() in sevenzip_codecs(path):
                return name
        elif name == "unar" and unar():
            return name
    return None


def tool_children(
    node, content, ctx, *, format_name: str, tools: Iterable[str] = ("7zz", "unar")
) -> Iterator[Child]:
    """Unpack ``content`` with the first available helper and yield its members.

    Records ``archive.names_hidden`` when the names are encrypted and no password opens
    them, ``limit.*`` when the helper was stopped at a budget; raises :class:`ExtractError`
    when the helper reports a damaged archive (after yielding every member it got out
    whole). When a helper does not support a member's method (7-Zip cannot decrypt ARJ,
    for one), the next helper in ``tools`` is tried. Callers check :func:`can_open` first.
    """
    label = LABELS.get(format_name, format_name)
    archive = archive_path(content, ctx)
    remaining = list(tools)
    while True:
        tool = can_open(format_name, remaining)
        if tool is None:
            raise ExtractError(f"no helper program to open this {label} is installed")
        listing, password = _list_with_passwords(tool, archive, ctx)
        if listing is None:
            ctx.fact(node, "archive.names_hidden")
            return
        if listing.error and not listing.entries:
            raise ExtractError(f"the {label} could not be read ({_scrub(listing.error, archive)})")
        extraction, password = _extract_with_passwords(tool, archive, ctx, listing, password)
        remaining = remaining[remaining.index(tool) + 1 :]
        if (
            extraction.ok
            or "Unsupported" not in extraction.message
            or can_open(format_name, remaining) is None
        ):
            break
        shutil.rmtree(extraction.folder, ignore_errors=True)
    yield from _hand_over(node, ctx, listing, extraction, password, label)


def _hand_over(
    node, ctx, listing: ToolListing, extraction: Extraction, password, label: str
) -> Iterator[Child]:
    """Yield what one helper run produced, then say whether the archive was damaged."""
    if extraction.stopped == "time":
        raise ScanTimeout()
    if extraction.stopped:
        limit = ctx.limits.max_total_bytes if extraction.stopped == "bytes" else ctx.limits.max_members
        ctx.fact(node, f"limit.{'total_bytes' if extraction.stopped == 'bytes' else 'members'}", limit=limit)
    opened = password is not None
    # With encrypted members nobody could open, the helper's failure is expected, not damage.
    locked = not opened and any(entry.encrypted for entry in listing.entries)
    incomplete: list[str] = []
    try:
        children = children_from_folder(
            listing.entries,
            extraction.folder,
            encrypted_unopened=not opened,
            complete=extraction.ok,
            incomplete=incomplete,
        )
        for child in children:
            yield _mark(child, opened, password)
    finally:
        shutil.rmtree(extraction.folder, ignore_errors=True)
    if incomplete:
        node.info["incomplete_members"] = incomplete[:100]
    if not extraction.ok and not extraction.stopped and (incomplete or not locked):
        raise ExtractError(
            f"the {label} is damaged ({_scrub(extraction.message, extraction.folder) or 'unpacking failed'})"
        )


def archive_path(content, ctx) -> str:
    """A file on disk holding ``content`` (helpers need a path); written into the temp folder."""
    if content.path_on_disk:
        return content.path_on_disk
    folder = new_folder(ctx.temp_dir, "archive-")
    path = os.path.join(folder, "archive")
    with open(path, "wb") as stream:
        stream.write(content.view())
    return path


def _budget(ctx) -> dict:
    return {
        "max_bytes": ctx.remaining_bytes(),
        "max_files": max(1, ctx.limits.max_members - ctx.members),
        "deadline": ctx.deadline,
    }


def _list(tool: str, archive: str, password: str | None, ctx) -> ToolListing:
    timeout = ctx.deadline - time.monotonic()
    if tool == "7zz":
        return list_sevenzip(sevenzip(), archive, password, timeout)
    return list_unar(unar()[1], archive, password, timeout)


def _extract(tool: str, archive: str, password: str | None, ctx) -> Extraction:
    folder = new_folder(ctx.temp_dir, "unpacked-")
    if tool == "7zz":
        return extract_sevenzip(sevenzip(), archive, folder, password, **_budget(ctx))
    return extract_unar(unar()[0], archive, folder, password, **_budget(ctx))


def _list_with_passwords(
    tool: str, archive: str, ctx
) -> tuple[ToolListing | None, _passwords.Candidate | None]:
    """List the archive; when its names are encrypted, try the candidate passwords."""
    listing = _list(tool, archive, None, ctx)
    if not listing.needs_password:
        return listing, None

    def attempt(password: str) -> ToolListing | None:
        found = _list(tool, archive, password, ctx)
        return found if not found.needs_password and found.entries else None

    found = _passwords.try_passwords(ctx, attempt)
    return (found[0], found[1]) if found else (None, None)


def _extract_with_passwords(
    tool: str, archive: str, ctx, listing: ToolListing, password: _passwords.Candidate | None
) -> tuple[Extraction, _passwords.Candidate | None]:
    """Extract; for encrypted members try each candidate until one unpacks cleanly."""
    if password is not None or not any(entry.encrypted for entry in listing.entries):
        return _extract(tool, archive, password.password if password else None, ctx), password

    def attempt(candidate: str) -> Extraction | None:
        extraction = _extract(tool, archive, candidate, ctx)
        if extraction.ok:
            return extraction
        shutil.rmtree(extraction.folder, ignore_errors=True)
        if extraction.stopped == "time":
            raise ScanTimeout()
        return None

    found = _passwords.try_passwords(ctx, attempt)
    if found:
        return found[0], found[1]
    return _extract(tool, archive, None, ctx), None


def _mark(child: Child, opened: bool, password: _passwords.Candidate | None) -> Child:
    """Add the encryption facts of a member."""
    if child.info.get("encrypted"):
        if child.open is not None and opened:
            params = _passwords.source_params(password)
            child.info["password_source"] = params["password_source"]
            child.facts.append(("archive.encrypted", params))
        elif child.open is None and "link_target" not in child.info:
            child.facts.append(("archive.encrypted_unopened", {}))
    return child


class _ExactLength:
    """A stream that fails instead of ending early when its member is cut short."""

    def __init__(self, stream: BinaryIO, length: int):
        self._stream, self._left = stream, length

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size if size is not None and size >= 0 else self._left + 1)
        self._left -= len(data)
        if not data and self._left > 0:
            raise ExtractError("the member is cut short (the archive is damaged)")
        return data

    def close(self) -> None:
        self._stream.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def exact_length(stream: BinaryIO, length: int) -> BinaryIO:
    """Wrap ``stream`` so that reading it raises if it ends before ``length`` bytes."""
    return _ExactLength(stream, length)  # type: ignore[return-value]


# --- small helpers ---------------------------------------------------------------------------


#: Longest password line given to a helper on stdin: far more than any real password, and
#: far less than a pipe's buffer (4 KiB on Windows), so writing it never blocks.
_MAX_PASSWORD_BYTES = 1024


def sevenzip_password(password: str | None) -> tuple[list[str], bytes | None]:
    """7-Zip's password switch and what to write to its stdin, for ``password``.

    No password (None or empty): a bare ``-p``, the empty password, which keeps 7-Zip from
    asking; nothing goes to stdin. A password: no switch (7-Zip then asks and reads one
    line from stdin) and the password as that line, so it never shows in the process list.
    Raises :class:`ToolError` for a password that cannot be one line (a line break or NUL
    in it) or is absurdly long: it is treated as a wrong candidate, never put in argv.
    """
    if not password:
        return ["-p"], None
    line = password.encode("utf-8")
    if any(byte in line for byte in b"\r\n\0") or len(line) >= _MAX_PASSWORD_BYTES:
        raise ToolError("this password cannot be handed to 7-Zip")
    return [], line + b"\n"


def _feed(process: subprocess.Popen, data: bytes | None) -> None:
    """Write ``data`` to the helper's stdin pipe and close it (end-of-file after it)."""
    if process.stdin is None:
        return
    try:
        if data:
            process.stdin.write(data)
    except (BrokenPipeError, OSError):
        pass  # the helper did not need it (or already exited): its exit status tells
    finally:
        try:
            process.stdin.close()
        except OSError:
            pass


def _run_captured(command: list[str], timeout: float, stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
    """Run a listing command; bounded in time and in what it may print.

    ``stdin`` (a password line) is written into a pipe that is then closed.
    """
    try:
        done = subprocess.run(
            command,
            input=stdin,
            stdin=subprocess.DEVNULL if stdin is None else None,
            capture_output=True,
            timeout=max(0.5, timeout),
            env=_env(),
            start_new_session=os.name == "posix",
        )
    except subprocess.TimeoutExpired as error:
        raise ToolError(f"{os.path.basename(command[0])} took too long to list the archive") from error
    except OSError as error:
        raise ToolError(f"could not start {os.path.basename(command[0])}: {error.strerror}") from error
    if len(done.stdout) > _MAX_LISTING:
        raise ToolError("the archive lists too many members")
    return done.returncode, done.stdout, done.stderr


def _env() -> dict[str, str]:
    # A clean environment: UTF-8 names, no inherited settings that change a helper's behaviour.
    env = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    for key in ("PATH", "SYSTEMROOT", "TEMP", "TMP"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""
