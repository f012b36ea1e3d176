"""Recent programs, scripts, shortcuts and archives in the user's folders — Downloads,
Desktop, Documents, the chat apps' received files, temp and AppData — hidden ones
especially. Each one found is scanned with the engine (by the orchestrator).

A file counts when it was created or changed in the last ``days`` days (the newer of its
modification and status-change/creation times: unpacking keeps old modification times)
and its name or its first bytes say it runs code or holds something that does.
"""

from __future__ import annotations

import os
import stat
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ...extensions import describe_kind, lookup
from ...policy.rules import MALICIOUS_AT, SUSPICIOUS_AT
from ..locations import Bases, find_receive_folders
from .judge import file_date
from .model import Collected, Coverage, SweepEntry
from .target import Target, folder_words

#: Content that runs code or carries it: programs, scripts, shortcuts, archives, OLE
#: (old Office, MSI), RTF, CAB, CHM.
MAGIC = (b"MZ", b"\x7fELF", b"#!", b"PK\x03\x04", b"Rar!", b"7z\xbc\xaf\x27\x1c", b"L\x00\x00\x00\x01\x14\x02\x00",
         b"\xd0\xcf\x11\xe0", b"{\\rt", b"MSCF", b"ITSF", b"\xca\xfe\xba\xbe", b"\xcf\xfa\xed\xfe", b"\xfe\xed\xfa")
#: In temp and app-data folders (full of installers' archives and caches) only what runs
#: by itself counts: programs, scripts, shortcuts.
RUNNABLE_MAGIC = (b"MZ", b"\x7fELF", b"#!", b"L\x00\x00\x00\x01\x14\x02\x00", b"\xca\xfe\xba\xbe", b"\xcf\xfa\xed\xfe",
                  b"\xfe\xed\xfa")
STRICT_PLACES = ("temp", "appdata", "programdata")
#: The newest candidates kept per folder, and in all (each one is scanned).
MAX_PER_PLACE = 300
MAX_CANDIDATES = 1500
MAX_VISITED = 200_000
HEAD = 8


@dataclass(frozen=True)
class Place:
    local: Path
    #: downloads | desktop | documents | chat | temp | appdata | programdata | public
    kind: str
    depth: int
    app: str | None = None
    app_zh: str | None = None


def places(target: Target) -> list[Place]:
    """The folders to look in, on this target."""
    found: list[Place] = []
    if target.windows:
        profiles: list[tuple[Path, Path]] = []  # (profile, appdata) as local paths
        if target.live:
            home = Path(target.environ.get("USERPROFILE") or Path.home())
            profiles.append((home, Path(target.environ.get("APPDATA") or home / "AppData" / "Roaming")))
            temp = target.environ.get("TEMP")
            if temp:
                found.append(Place(Path(temp), "temp", 3))
            public = target.environ.get("PUBLIC")
            if public:
                found.append(Place(Path(public), "public", 4))
            programdata = target.environ.get("ProgramData") or target.environ.get("PROGRAMDATA")
            if programdata:
                found.append(Place(Path(programdata), "programdata", 2))
        else:
            users = target.local(r"C:\Users")
            for profile in sorted(users.iterdir()) if users is not None and users.is_dir() else ():
                if profile.name.lower() == "public":
                    found.append(Place(profile, "public", 4))
                elif profile.is_dir() and profile.name.lower() not in ("default", "default user", "all users"):
                    profiles.append((profile, profile / "AppData" / "Roaming"))
                    found.append(Place(profile / "AppData" / "Local" / "Temp", "temp", 3))
            programdata = target.local(r"C:\ProgramData")
            if programdata is not None:
                found.append(Place(programdata, "programdata", 2))
        for profile, appdata in profiles:
            found += [Place(profile / "Downloads", "downloads", 6), Place(profile / "Desktop", "desktop", 4),
                      Place(appdata, "appdata", 3), Place(profile / "AppData" / "Local", "appdata", 2)]
            bases = Bases(documents=[profile / "Documents"], home=[profile], appdata=[appdata])
            chat = find_receive_folders(bases)
            found += [Place(item.path, "chat", 8, item.app, item.app_zh) for item in chat]
            found.append(Place(profile / "Documents", "documents", 5))
    else:
        for home in target.homes:
            found += [Place(home / "Downloads", "downloads", 6), Place(home / "Desktop", "desktop", 4),
                      Place(home / "Documents", "documents", 5)]
        for temp in ("/tmp", "/var/tmp", "/dev/shm"):
            local = target.local(temp)
            if local is not None:
                found.append(Place(local, "temp", 3))
    return found


def collect_files(target: Target, days: float, now: float | None = None) -> Collected:
    out = Collected()
    cutoff = (now or time.time()) - days * 86400
    visited = total = 0
    seen: set[str] = set()
    for place in places(target):
        if not place.local.is_dir():
            continue
        base_depth = len(place.local.parts)
        found: list[SweepEntry] = []

        def failed(error: OSError) -> None:
            out.cannot_read("recent_file", error.filename or str(place.local), error)

        for root, dirs, files in os.walk(place.local, onerror=failed):
            depth = len(Path(root).parts) - base_depth
            if depth >= place.depth:
                dirs[:] = []
            dirs[:] = sorted(name for name in dirs if not os.path.islink(os.path.join(root, name)))
            for name in sorted(files):
                visited += 1
                if visited > MAX_VISITED:
                    out.coverage.append(Coverage("recent_file", "partial", f"stopped after looking at {MAX_VISITED} files"))
                    _keep(out, found, place, total)
                    return out
                path = os.path.join(root, name)
                key = os.path.normcase(path)
                if key in seen:
                    continue  # a chat folder inside Documents is looked at once
                seen.add(key)
                entry = _candidate(target, place, Path(path), cutoff, out)
                if entry is not None:
                    found.append(entry)
        total = _keep(out, found, place, total)
        if total >= MAX_CANDIDATES:
            out.coverage.append(Coverage("recent_file", "partial", f"kept the newest {MAX_CANDIDATES} files in all"))
            break
    out.coverage.append(Coverage("recent_file", "checked", f"{visited} files looked at, last {days:g} days"))
    return out


def _keep(out: Collected, found: list[SweepEntry], place: Place, total: int) -> int:
    found.sort(key=lambda entry: entry.details.get("changed_at", 0), reverse=True)
    room = max(0, min(MAX_PER_PLACE, MAX_CANDIDATES - total))
    if len(found) > room:
        out.coverage.append(Coverage("recent_file", "partial",
                                     f"{place.local}: kept the newest {room} of {len(found)} files"))
    out.entries += found[:room]
    return total + min(len(found), room)


def _candidate(target: Target, place: Place, path: Path, cutoff: float, out: Collected) -> SweepEntry | None:
    try:
        info = os.lstat(path)
    except OSError as error:
        out.cannot_read("recent_file", str(path), error)
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    changed = max(info.st_mtime, info.st_ctime, getattr(info, "st_birthtime", 0) or 0)
    if changed < cutoff:
        return None
    hidden = _hidden(path, place.local, info)
    entry_ext = lookup(path.suffix) if path.suffix else None
    strict = place.kind in STRICT_PLACES
    risky_name = entry_ext is not None and (
        entry_ext.cls.runs_code or (not strict and (entry_ext.cls.mounts or entry_ext.cls.id == "archive")))
    head = b""
    if not risky_name:
        try:
            with open(path, "rb") as handle:
                head = handle.read(HEAD)
        except OSError as error:
            out.cannot_read("recent_file", str(path), error)
            return None
    if not (risky_name or head.startswith(RUNNABLE_MAGIC if strict else MAGIC) or (hidden and not strict)):
        return None
    shown = target.shown(path)
    entry = SweepEntry("file", "recent_file", shown, path.name, image=shown, local_image=str(path), image_exists=True)
    entry.folder_class = place.kind if place.kind != "appdata" or not target.windows else "appdata"
    entry.user_writable = True
    entry.details.update({"place": place.kind, "hidden": hidden, "size": info.st_size, "changed": file_date(changed),
                          "changed_at": changed})
    if place.app:
        entry.details.update({"app": place.app, "app_zh": place.app_zh})
    return entry


def _hidden(path: Path, base: Path, info: os.stat_result) -> bool:
    if sys.platform == "win32" and getattr(info, "st_file_attributes", 0) & stat.FILE_ATTRIBUTE_HIDDEN:
        return True
    try:
        parts = path.relative_to(base).parts
    except ValueError:
        parts = (path.name,)
    return any(part.startswith(".") for part in parts)


def assess_file(entry: SweepEntry) -> None:
    """Facts for a recent file, once its scan is in ``entry.scan``."""
    scan = entry.scan or {}
    verdict = scan.get("verdict")
    place = entry.details.get("place", "other")
    date = entry.details.get("changed", "?")
    folder, folder_zh = folder_words(place if place != "public" else "public")
    what = describe_kind(scan.get("type") or "") or ("a file", "文件")
    if place == "chat":
        params = {"name": entry.name, "app": entry.details.get("app", "a chat app"),
                  "app_zh": entry.details.get("app_zh", "聊天软件"), "date": date,
                  "summary": scan.get("summary", ""), "summary_zh": scan.get("summary_zh", "")}
        if verdict == "malicious":
            entry.fact("sweep.received_file_dangerous", **params)
        elif verdict == "suspicious":
            entry.fact("sweep.received_file_suspicious", **params)
        return
    host = scan.get("host_score", 0)
    host_params = {"name": entry.name, "folder": folder, "folder_zh": folder_zh,
                   "summary": scan.get("host_summary", ""), "summary_zh": scan.get("host_summary_zh", "")}
    if host >= MALICIOUS_AT:
        entry.fact("sweep.file_malicious", **host_params)
    elif host >= SUSPICIOUS_AT:
        entry.fact("sweep.file_suspicious", **host_params)
    if verdict not in ("malicious", "suspicious"):
        return
    params = {"name": entry.name, "what": what[0], "what_zh": what[1], "folder": folder, "folder_zh": folder_zh,
              "date": date}
    if entry.details.get("hidden"):
        entry.fact("sweep.hidden_program", **params)
    elif place in ("temp", "appdata", "programdata"):
        entry.fact("sweep.temp_program", **params)
    else:
        entry.fact("sweep.recent_program", **params)
