"""Both Windows Startup folders: everything in them starts at logon.

- all users: ``C:\\ProgramData\\Microsoft\\Windows\\Start Menu\\Programs\\Startup``;
- each user: ``%APPDATA%\\Microsoft\\Windows\\Start Menu\\Programs\\Startup`` (live: the
  current user; offline image: every profile under ``C:\\Users``).

A shortcut (``.lnk``) is read with filewall's own LNK parser (target, arguments); a
program or script placed there directly is itself what starts. ``StartupApproved\\
StartupFolder`` flags say whether the user switched an item off.
"""

from __future__ import annotations

import configparser
import os
from pathlib import Path

from ...analyze.lnk import parse_lnk
from .judge import describe_launch
from .model import Collected, SweepEntry
from .registry import HKCU, HKLM, RegistrySource, startup_approved
from .target import Target

COMMON = r"C:\ProgramData\Microsoft\Windows\Start Menu\Programs\Startup"
PER_USER = r"Microsoft\Windows\Start Menu\Programs\Startup"
MAX_LNK = 1024 * 1024


def startup_folders(target: Target) -> list[tuple[Path, str, str]]:
    """(local folder, folder as the target writes it, scope) for both kinds of folder."""
    folders: list[tuple[Path, str, str]] = []
    common = target.local(COMMON)
    if common is not None:
        folders.append((common, COMMON, "all users"))
    if target.live:
        appdata = target.environ.get("APPDATA")
        if appdata:
            folders.append((Path(appdata) / PER_USER.replace("\\", os.sep), f"{appdata}\\{PER_USER}", "current user"))
        return folders
    users = target.local(r"C:\Users")
    if users is not None and users.is_dir():
        for profile in sorted(users.iterdir()):
            folder = target.local(rf"C:\Users\{profile.name}\AppData\Roaming\{PER_USER}")
            if folder is not None and folder.is_dir():
                folders.append((folder, rf"C:\Users\{profile.name}\AppData\Roaming\{PER_USER}", profile.name))
    return folders


def collect_startup_folders(target: Target, registry: RegistrySource | None) -> Collected:
    out = Collected()
    approved: dict[str, bool] = {}
    if registry is not None:
        for software in (f"{HKLM}\\SOFTWARE", f"{HKCU}\\Software"):
            approved.update(startup_approved(registry, software, "StartupFolder", out))
    for local, shown, scope in startup_folders(target):
        if not local.exists():
            continue
        try:
            names = sorted(os.listdir(local))
        except OSError as error:
            out.cannot_read("startup_folder", str(local), error)
            continue
        for name in names:
            if name.lower() == "desktop.ini":
                continue
            path = local / name
            where = f"{shown}\\{name}"
            entry = SweepEntry("autostart", "startup_folder", where, name)
            entry.details["scope"] = scope
            entry.enabled = approved.get(name.lower(), True)
            lower = name.lower()
            try:
                if lower.endswith(".lnk"):
                    with open(path, "rb") as handle:
                        info = parse_lnk(handle.read(MAX_LNK))
                    target_path = info.get("target") or ""
                    arguments = info.get("arguments") or ""
                    entry.command = (f'"{target_path}" {arguments}' if target_path else arguments).strip()
                    entry.details["shortcut"] = {"target": target_path, "arguments": arguments,
                                                 "working_dir": info.get("working_dir")}
                elif lower.endswith(".url"):
                    parser = configparser.ConfigParser(interpolation=None, strict=False)
                    parser.read_string(path.read_text(encoding="utf-8", errors="replace"))
                    url = parser.get("InternetShortcut", "URL", fallback="")
                    entry.command = url
                    entry.details["url"] = url
                    entry.image = url if url.lower().startswith("file:") else None
                else:
                    entry.image = where  # the program or script itself starts
                    entry.command = f'"{where}"'
            except (OSError, ValueError, configparser.Error) as error:
                out.cannot_read("startup_folder", str(path), error)
                continue
            describe_launch(entry, target)
            if entry.image == where:
                entry.local_image = str(path)
                entry.image_exists = True
            out.entries.append(entry)
    return out
