"""Linux autostart: cron (system and user crontabs), systemd units (system and user),
XDG autostart, shell start-up files.

Paths are read under the target (``--root`` for an offline image); the user crontab
spool (``/var/spool/cron/crontabs``, root-only on a live system) can be pointed at with
``--cron-spool``; on a live system the current user's own crontab is also read with
``crontab -l``, which needs no privileges.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from .judge import POSIX_CRADLE, describe_launch
from .model import Collected, Coverage, SweepEntry
from .target import Target, folder_risk

CRON_FILES = ("/etc/crontab",)
CRON_DIRS = ("/etc/cron.d",)
CRON_SCRIPT_DIRS = ("/etc/cron.hourly", "/etc/cron.daily", "/etc/cron.weekly", "/etc/cron.monthly")
CRON_SPOOLS = ("/var/spool/cron/crontabs", "/var/spool/cron")
SYSTEMD_SYSTEM = ("/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
                  "/usr/lib/systemd/system", "/lib/systemd/system")
SYSTEMD_USER_GLOBAL = ("/etc/systemd/user", "/usr/lib/systemd/user")
SYSTEMD_USER_HOME = (".config/systemd/user", ".local/share/systemd/user")
#: Vendor unit folders: their units are listed only when enabled (package-managed).
VENDOR_UNIT_DIRS = ("/usr/lib/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/user", "/run/systemd/system")
XDG_GLOBAL = ("/etc/xdg/autostart",)
SHELL_FILES_GLOBAL = ("/etc/profile", "/etc/bash.bashrc", "/etc/bashrc", "/etc/zsh/zshrc", "/etc/zshrc",
                      "/etc/zsh/zprofile", "/etc/environment")
SHELL_DIRS_GLOBAL = ("/etc/profile.d",)
SHELL_FILES_HOME = (".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".profile", ".zshrc", ".zprofile",
                    ".zshenv", ".zlogin", ".xprofile", ".xsessionrc", ".xinitrc", ".config/fish/config.fish")
MAX_TEXT = 512 * 1024
_CRON_TIME = re.compile(r"^(@\w+|(?:\S+\s+){4}\S+)\s+(.*)$")
_EXEC_PREFIX = re.compile(r"^[-@:+!]+")


def collect_linux(target: Target, cron_spools: list[Path] | None = None) -> Collected:
    out = Collected()
    out.extend(_cron(target, cron_spools))
    out.extend(_systemd(target))
    out.extend(_xdg(target))
    out.extend(_shell_files(target))
    return out


# -- cron --------------------------------------------------------------------------------------


def _cron(target: Target, cron_spools: list[Path] | None) -> Collected:
    out = Collected()
    for name in CRON_FILES:
        _cron_file(target, _local(target, name), name, True, out)
    for folder in CRON_DIRS:
        for path, shown in _files_in(target, folder, out, "cron"):
            _cron_file(target, path, shown, True, out)
    for folder in CRON_SCRIPT_DIRS:
        for _path, shown in _files_in(target, folder, out, "cron"):
            entry = SweepEntry("autostart", "cron", shown, os.path.basename(shown), command=shown)
            entry.details["schedule"] = folder.rsplit(".", 1)[-1]
            describe_launch(entry, target)
            out.entries.append(entry)
    spools = cron_spools if cron_spools is not None else [_local(target, spool) for spool in CRON_SPOOLS]
    for spool in spools:
        if not spool.is_dir():
            continue
        try:
            names = sorted(os.listdir(spool))
        except OSError as error:
            out.cannot_read("cron", str(spool), error)
            continue
        for name in names:
            path = spool / name
            if path.is_file():
                _cron_file(target, path, str(path) if cron_spools is not None else target.shown(path), False, out,
                           user=name)
    if target.live and cron_spools is None and shutil.which("crontab"):
        try:
            result = subprocess.run(["crontab", "-l"], capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            out.cannot_read("cron", "crontab -l", str(error))
        else:
            if result.returncode == 0:
                _cron_lines(target, result.stdout, "crontab -l (your own crontab)", False, out, user=os.environ.get("USER"))
    return out


def _cron_file(target: Target, path: Path, shown: str, system: bool, out: Collected, user: str | None = None) -> None:
    text = _read(path, "cron", out)
    if text is not None:
        _cron_lines(target, text, shown, system, out, user)


def _cron_lines(target: Target, text: str, shown: str, system: bool, out: Collected, user: str | None) -> None:
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#") or re.match(r"^[A-Za-z_][A-Za-z0-9_]*\s*=", line):
            continue
        match = _CRON_TIME.match(line)
        if not match:
            continue
        schedule, rest = match.group(1), match.group(2)
        run_as = user
        if system:
            parts = rest.split(None, 1)
            if len(parts) < 2:
                continue
            run_as, rest = parts
        command = rest.split("%", 1)[0].strip()  # cron: % starts standard input
        entry = SweepEntry("autostart", "cron", f"{shown}:{number}", f"cron: {command[:60]}", command=command)
        entry.details.update({"schedule": schedule, "user": run_as})
        describe_launch(entry, target)
        out.entries.append(entry)


# -- systemd -----------------------------------------------------------------------------------


def _systemd(target: Target) -> Collected:
    out = Collected()
    folders: list[tuple[str, str]] = [(folder, "system") for folder in SYSTEMD_SYSTEM]
    folders += [(folder, "user") for folder in SYSTEMD_USER_GLOBAL]
    for home in target.homes:
        for sub in SYSTEMD_USER_HOME:
            folders.append((target.shown(home / sub) if not target.live else str(home / sub), "user"))
    enabled = _enabled_units(target, folders, out)
    seen: set[str] = set()
    for folder, scope in folders:
        vendor = folder in VENDOR_UNIT_DIRS
        for path, shown in _files_in(target, folder, out, "systemd"):
            name = path.name
            if not name.endswith((".service", ".timer", ".path", ".socket")) or (scope, name) in seen:
                continue
            if vendor and name not in enabled:
                continue
            seen.add((scope, name))
            if not name.endswith(".service"):
                continue
            text = _read(path, "systemd", out)
            if text is None:
                continue
            commands = _unit_commands(text)
            for key, command in commands or [("ExecStart", "")]:
                entry = SweepEntry("autostart", "systemd", shown, f"{name} ({scope})", command=command)
                entry.details.update({"directive": key, "scope": scope, "enabled": name in enabled})
                entry.enabled = name in enabled or not vendor
                describe_launch(entry, target)
                out.entries.append(entry)
    return out


def _unit_commands(text: str) -> list[tuple[str, str]]:
    commands = []
    section = ""
    for raw in _join_continued(text):
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        if section != "Service" or "=" not in line:
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        if key in ("ExecStart", "ExecStartPre", "ExecStartPost", "ExecReload", "ExecStop") and value:
            commands.append((key, _EXEC_PREFIX.sub("", value)))
    return commands


def _enabled_units(target: Target, folders: list[tuple[str, str]], out: Collected) -> set[str]:
    """Unit names wanted by a target (symlinks in ``*.wants`` / ``*.requires``)."""
    names: set[str] = set()
    for folder, _ in folders:
        local = _local(target, folder)
        if not local.is_dir():
            continue
        try:
            children = os.listdir(local)
        except OSError as error:
            out.cannot_read("systemd", str(local), error)
            continue
        for child in children:
            if child.endswith((".wants", ".requires")):
                try:
                    names.update(os.listdir(local / child))
                except OSError as error:
                    out.cannot_read("systemd", str(local / child), error)
    return names


def _join_continued(text: str) -> list[str]:
    lines, pending = [], ""
    for raw in text.splitlines():
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        lines.append(pending + raw)
        pending = ""
    if pending:
        lines.append(pending)
    return lines


# -- XDG autostart -----------------------------------------------------------------------------


def _xdg(target: Target) -> Collected:
    out = Collected()
    folders = list(XDG_GLOBAL)
    for home in target.homes:
        config = home / ".config"
        if target.live and home == Path.home() and os.environ.get("XDG_CONFIG_HOME"):
            config = Path(os.environ["XDG_CONFIG_HOME"])
        folders.append(str(config / "autostart") if target.live else target.shown(config / "autostart"))
        scripts = home / ".config" / "autostart-scripts"
        folders.append(str(scripts) if target.live else target.shown(scripts))
    for folder in folders:
        for path, shown in _files_in(target, folder, out, "xdg_autostart"):
            if folder.endswith("autostart-scripts"):
                entry = SweepEntry("autostart", "xdg_autostart", shown, path.name, command=shown)
            else:
                if not path.name.endswith(".desktop"):
                    continue
                text = _read(path, "xdg_autostart", out)
                if text is None:
                    continue
                fields = desktop_entry(text)
                command = _strip_field_codes(fields.get("Exec", ""))
                entry = SweepEntry("autostart", "xdg_autostart", shown, fields.get("Name") or path.name, command=command)
                entry.enabled = not (fields.get("Hidden", "").lower() == "true"
                                     or fields.get("X-GNOME-Autostart-enabled", "").lower() == "false")
            describe_launch(entry, target)
            out.entries.append(entry)
    return out


def desktop_entry(text: str) -> dict[str, str]:
    """Keys of the ``[Desktop Entry]`` group (first value wins, locale keys ignored)."""
    fields: dict[str, str] = {}
    group = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1]
            continue
        if group != "Desktop Entry" or "=" not in line or line.startswith("#"):
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        if "[" not in key:
            fields.setdefault(key, value)
    return fields


def _strip_field_codes(command: str) -> str:
    command = re.sub(r"(?<!%)%[fFuUdDnNickvm]", "", command)
    return command.replace("%%", "%").strip()


# -- shell start-up files ----------------------------------------------------------------------

#: A start-up file line that runs or sources something from a temp folder or a hidden
#: folder of the home (whether that folder is ordinary is decided by its class).
_RC_SUSPICIOUS = re.compile(
    r"(?:^|[;&|]\s*)(?:nohup\s+|setsid\s+|exec\s+|\.\s+|source\s+)?[\"']?"
    r"(?P<path>(?:/tmp/|/var/tmp/|/dev/shm/|(?:~|\$HOME|\$\{HOME\})/\.[^/\s;&|'\"]+/)[^\s;&|'\"]*)"
)
_RC_BACKGROUND = re.compile(r"\b(?:nohup|setsid)\b|&\s*(?:disown)?\s*$")


def _shell_files(target: Target) -> Collected:
    out = Collected()
    files = [(_local(target, name), name) for name in SHELL_FILES_GLOBAL]
    for folder in SHELL_DIRS_GLOBAL:
        files += list(_files_in(target, folder, out, "shell_rc"))
    for home in target.homes:
        for name in SHELL_FILES_HOME:
            path = home / name
            files.append((path, str(path) if target.live else target.shown(path)))
    checked = 0
    for path, shown in files:
        if not path.is_file():
            continue
        text = _read(path, "shell_rc", out)
        if text is None:
            continue
        checked += 1
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            match = _RC_SUSPICIOUS.search(line)
            if match and folder_risk(target.classify(target.expand(match.group("path")))) != "temp":
                match = None  # ~/.cargo/env and the like
            if not (match or POSIX_CRADLE.search(line) or (_RC_BACKGROUND.search(line) and "/" in line)):
                continue
            entry = SweepEntry("autostart", "shell_rc", f"{shown}:{number}", f"{os.path.basename(shown)} line {number}",
                               command=line)
            if match:
                entry.image = match.group("path")
            describe_launch(entry, target)
            out.entries.append(entry)
    out.coverage.append(Coverage("shell_rc", "checked", f"{checked} shell start-up files read"))
    return out


# -- helpers -----------------------------------------------------------------------------------


def _local(target: Target, path: str) -> Path:
    local = target.local(path)
    return local if local is not None else Path(path)


def _files_in(target: Target, folder: str, out: Collected, source: str):
    """(local path, shown path) of the regular files directly in ``folder``."""
    local = Path(folder) if target.live else _local(target, folder)
    if not local.is_dir():
        return
    try:
        names = sorted(os.listdir(local))
    except OSError as error:
        out.cannot_read(source, str(local), error)
        return
    for name in names:
        path = local / name
        if path.is_file():
            yield path, (str(path) if target.live else target.shown(path))


def _read(path: Path, source: str, out: Collected) -> str | None:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_TEXT)
    except OSError as error:
        out.cannot_read(source, str(path), error)
        return None
    return data.decode("utf-8", errors="replace")
