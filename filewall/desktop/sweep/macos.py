"""macOS LaunchAgents and LaunchDaemons (``/Library/Launch*``, ``~/Library/LaunchAgents``),
read with ``plistlib`` (XML and binary plists). ``/System/Library`` (Apple's own, sealed
by SIP) is not listed; the report says so."""

from __future__ import annotations

import os
import plistlib
import shlex
from pathlib import Path

from .judge import describe_launch
from .model import Collected, Coverage, SweepEntry
from .target import Target

SYSTEM_FOLDERS = ("/Library/LaunchAgents", "/Library/LaunchDaemons")
USER_FOLDER = "Library/LaunchAgents"
MAX_PLIST = 1024 * 1024


def collect_macos(target: Target) -> Collected:
    out = Collected()
    folders: list[tuple[Path, str]] = []
    for folder in SYSTEM_FOLDERS:
        local = target.local(folder)
        if local is not None:
            folders.append((local, "system"))
    for home in target.homes:
        folders.append((home / USER_FOLDER, "user"))
    for local, scope in folders:
        if not local.is_dir():
            continue
        try:
            names = sorted(os.listdir(local))
        except OSError as error:
            out.cannot_read("launchd", str(local), error)
            continue
        for name in names:
            path = local / name
            if not name.endswith(".plist") or not path.is_file():
                continue
            try:
                with open(path, "rb") as handle:
                    data = plistlib.loads(handle.read(MAX_PLIST))
            except (OSError, plistlib.InvalidFileException, ValueError) as error:
                out.cannot_read("launchd", str(path), error)
                continue
            if not isinstance(data, dict):
                continue
            arguments = data.get("ProgramArguments") or []
            program = data.get("Program")
            argv = [str(arg) for arg in arguments] if isinstance(arguments, list) else []
            if program and (not argv or argv[0] != program):
                argv = [str(program)] + argv[1:] if argv else [str(program)]
            shown = str(path) if target.live else target.shown(path)
            entry = SweepEntry("autostart", "launchd", shown, str(data.get("Label") or name),
                               command=shlex.join(argv) if argv else "")
            entry.enabled = not bool(data.get("Disabled"))
            entry.details.update({"scope": scope, "run_at_load": bool(data.get("RunAtLoad")),
                                  "keep_alive": bool(data.get("KeepAlive"))})
            describe_launch(entry, target)
            out.entries.append(entry)
    out.coverage.append(Coverage("launchd", "partial", "/System/Library (Apple's own, protected by SIP) not listed"))
    return out
