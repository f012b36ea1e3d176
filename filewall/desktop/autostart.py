"""Start ``filewall watch`` at logon for the current user, without admin rights.

- Windows: a value ``filewall`` under ``HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run``
  running ``pythonw.exe -m filewall watch --tray --data …`` (no console window). HKCU is
  the user's own hive: no elevation needed.
- Linux: ``~/.config/autostart/filewall-watch.desktop`` (XDG autostart; ``$XDG_CONFIG_HOME``
  is honoured).
- macOS: ``~/Library/LaunchAgents/com.filewall.watch.plist`` (loaded at the next logon;
  ``launchctl bootstrap gui/$UID <plist>`` starts it at once).

``filewall sweep`` recognises this entry as filewall's own (:func:`is_own_command`): the
same interpreter, running ``-m filewall watch``.
"""

from __future__ import annotations

import os
import plistlib
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..datadir import DataLayout

RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
RUN_VALUE = "filewall"
DESKTOP_FILE = "filewall-watch.desktop"
LAUNCH_AGENT_LABEL = "com.filewall.watch"


@dataclass(frozen=True)
class Installed:
    where: str
    command: list[str]


def interpreter(windowless: bool = True) -> str:
    """The Python running filewall (``pythonw.exe`` beside it on Windows: no console)."""
    exe = sys.executable
    if windowless and sys.platform == "win32":
        candidate = Path(exe).with_name("pythonw.exe")
        if candidate.is_file():
            return str(candidate)
    return exe


def watcher_command(data_dir: str | os.PathLike[str], system: str | None = None) -> list[str]:
    system = system or sys.platform
    command = [interpreter(), "-m", "filewall", "watch", "--data", str(data_dir)]
    if system == "win32":
        command.insert(4, "--tray")
    return command


def install(data_dir: str | os.PathLike[str], home: Path | None = None, system: str | None = None) -> Installed:
    """Register the watcher to start at logon; replaces an earlier registration."""
    system = system or sys.platform
    command = watcher_command(data_dir, system)
    if system == "win32":
        return _windows_set(command)
    if system == "darwin":
        path = launch_agent_path(home)
        path.parent.mkdir(parents=True, exist_ok=True)
        logs = DataLayout(data_dir).logs_dir
        agent = {
            "Label": LAUNCH_AGENT_LABEL,
            "ProgramArguments": command,
            "RunAtLoad": True,
            "KeepAlive": {"SuccessfulExit": False},
            "LimitLoadToSessionType": "Aqua",
            "StandardOutPath": str(logs / "watch.out.log"),
            "StandardErrorPath": str(logs / "watch.err.log"),
        }
        _write_atomically(path, plistlib.dumps(agent))
        return Installed(str(path), command)
    path = xdg_autostart_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=filewall watch\n"
        "Name[zh_CN]=filewall 文件防护\n"
        "Comment=Scan files received in chat apps and quarantine Trojans\n"
        f"Exec={desktop_exec(command)}\n"
        "Terminal=false\n"
        "NoDisplay=true\n"
        "X-GNOME-Autostart-enabled=true\n"
    )
    _write_atomically(path, text.encode("utf-8"))
    return Installed(str(path), command)


def uninstall(home: Path | None = None, system: str | None = None) -> list[str]:
    """Remove the logon registration; returns what was removed (nothing if none)."""
    system = system or sys.platform
    if system == "win32":
        return _windows_delete()
    path = launch_agent_path(home) if system == "darwin" else xdg_autostart_path(home)
    try:
        path.unlink()
    except FileNotFoundError:
        return []
    return [str(path)]


def xdg_autostart_path(home: Path | None = None) -> Path:
    if home is None and os.environ.get("XDG_CONFIG_HOME"):
        return Path(os.environ["XDG_CONFIG_HOME"]) / "autostart" / DESKTOP_FILE
    return (home or Path.home()) / ".config" / "autostart" / DESKTOP_FILE


def launch_agent_path(home: Path | None = None) -> Path:
    return (home or Path.home()) / "Library" / "LaunchAgents" / f"{LAUNCH_AGENT_LABEL}.plist"


def desktop_exec(argv: list[str]) -> str:
    """An ``Exec=`` value (freedesktop desktop entry spec: quote, escape, ``%%``)."""
    parts = []
    for arg in argv:
        if arg and not any(char in arg for char in ' \t\n"\'\\><~|&;$*?#()`'):
            parts.append(arg.replace("%", "%%"))
        else:
            escaped = "".join("\\" + char if char in '"`$\\' else char for char in arg)
            parts.append('"' + escaped.replace("%", "%%") + '"')
    return " ".join(parts)


def split_command(command: str | list[str], windows: bool | None = None) -> list[str]:
    """A command line as argv: Windows rules (``CommandLineToArgvW``) or POSIX shell
    rules; ``windows=None`` guesses from the look of the first word."""
    if isinstance(command, list):
        return command
    text = command.strip()
    if not text:
        return []
    if windows is None:
        first = text.split(" ")[0]
        windows = (len(text) > 2 and text[1] == ":") or "\\" in first or text[:3].lower() == '"c:'
    if windows:
        return _split_windows(text)
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def _split_windows(text: str) -> list[str]:
    """CommandLineToArgvW's rules, enough for reading autostart commands."""
    args, current, quoted, has_arg, index = [], [], False, False, 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            run = 0
            while index < len(text) and text[index] == "\\":
                run += 1
                index += 1
            if index < len(text) and text[index] == '"':
                current.append("\\" * (run // 2))
                if run % 2:
                    current.append('"')
                    index += 1
                has_arg = True
                continue
            current.append("\\" * run)
            has_arg = True
            continue
        if char == '"':
            quoted = not quoted
            has_arg = True
        elif char in " \t" and not quoted:
            if has_arg:
                args.append("".join(current))
                current, has_arg = [], False
        else:
            current.append(char)
            has_arg = True
        index += 1
    if has_arg:
        args.append("".join(current))
    return args


def is_own_command(command: str | list[str]) -> bool:
    """True for the entry :func:`install` writes: this Python, ``-m filewall watch``."""
    argv = split_command(command)
    if len(argv) < 4 or [arg.lower() for arg in argv[1:4]] != ["-m", "filewall", "watch"]:
        return False
    ours = {_norm(sys.executable), _norm(interpreter())}
    return _norm(argv[0]) in ours


def _norm(path: str) -> str:
    return os.path.normcase(os.path.abspath(path)) if path else ""


def _write_atomically(path: Path, data: bytes) -> None:
    temp = path.with_name(path.name + ".tmp")
    with open(temp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


def _windows_set(command: list[str]) -> Installed:  # pragma: no cover - Windows only
    import winreg

    value = subprocess.list2cmdline(command)
    with winreg.CreateKeyEx(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
        winreg.SetValueEx(key, RUN_VALUE, 0, winreg.REG_SZ, value)
    return Installed(f"HKEY_CURRENT_USER\\{RUN_KEY}\\{RUN_VALUE}", command)


def _windows_delete() -> list[str]:  # pragma: no cover - Windows only
    import winreg

    try:
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
            winreg.DeleteValue(key, RUN_VALUE)
    except FileNotFoundError:
        return []
    return [f"HKEY_CURRENT_USER\\{RUN_KEY}\\{RUN_VALUE}"]
