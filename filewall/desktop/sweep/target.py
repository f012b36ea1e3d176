"""The computer being swept: live, or an offline image under ``--root``; and what its
paths mean.

Collectors read paths *as the target writes them* (``C:\\ProgramData\\Shine.exe``,
``%APPDATA%\\x.exe``, ``~/.cache/upd``); :class:`Target` says where such a path is on
this computer (under ``--root`` for a mounted disk or a fixture tree, matched without
regard to case for Windows paths) and what kind of folder it is (:func:`classify`) —
the judgement "starts from a temp or user-writable folder" rests on that.
"""

from __future__ import annotations

import ntpath
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

#: Folder classes, what they mean for a program living there, and their wording.
FOLDER_CLASSES: dict[str, tuple[str, str, str]] = {
    # class: (risk, English, Chinese)   risk: temp | user | system | other
    "temp": ("temp", "a temporary folder", "临时文件夹"),
    "downloads": ("temp", "the Downloads folder", "“下载”文件夹"),
    "chat": ("temp", "a chat app's received-files folder", "聊天软件的接收文件夹"),
    "public": ("temp", "the Public folder shared by all users", "所有用户共用的“公用”文件夹"),
    "recycle": ("temp", "the Recycle Bin", "回收站"),
    "desktop": ("user", "the Desktop", "桌面"),
    "documents": ("user", "the Documents folder", "“文档”文件夹"),
    "appdata": ("user", "the user's AppData folder", "用户的 AppData 文件夹"),
    "programdata": ("user", "the ProgramData folder", "ProgramData 文件夹"),
    "user_profile": ("user", "the user's own folder", "用户自己的文件夹"),
    "hidden": ("temp", "a hidden folder in the user's home", "用户主目录下的隐藏文件夹"),
    "system": ("system", "a system folder", "系统文件夹"),
    "program_files": ("system", "Program Files", "Program Files（程序安装目录）"),
    "other": ("other", "another folder", "其他文件夹"),
}

_WIN_VARS = {
    "systemroot": r"C:\Windows",
    "windir": r"C:\Windows",
    "systemdrive": "C:",
    "programfiles": r"C:\Program Files",
    "programfiles(x86)": r"C:\Program Files (x86)",
    "programw6432": r"C:\Program Files",
    "commonprogramfiles": r"C:\Program Files\Common Files",
    "programdata": r"C:\ProgramData",
    "allusersprofile": r"C:\ProgramData",
    "public": r"C:\Users\Public",
}
_USER_VARS = {
    "userprofile": "",
    "appdata": r"AppData\Roaming",
    "localappdata": r"AppData\Local",
    "temp": r"AppData\Local\Temp",
    "tmp": r"AppData\Local\Temp",
    "homepath": "",
}
#: Hidden folders in a home where developer tools and desktop apps install programs: a
#: program there is "in the user's own folder", not "hidden".
TOOLCHAIN_FOLDERS = frozenset({
    ".local", ".config", ".pyenv", ".cargo", ".rustup", ".nvm", ".rbenv", ".sdkman", ".volta", ".deno", ".bun",
    ".npm", ".vscode", ".vscode-server", ".dotnet", ".ghcup", ".juliaup", ".nix-profile", ".asdf", ".gem", ".conda",
    ".mozilla", ".steam", ".var", ".linuxbrew", ".krew", ".poetry", ".pixi",
})
_VAR_RE = re.compile(r"%([A-Za-z0-9_()]+)%")
_CHAT_MARKERS = ("\\wechat files\\", "\\xwechat_files\\", "\\tencent files\\", "\\wxwork\\", "\\filerecv\\",
                 "\\dingding\\download\\", "\\aliworkbenchdata\\", "\\nt_qq\\nt_data\\file\\")


@dataclass
class Target:
    """``os``: windows | linux | macos. ``root``: offline image (None: this computer)."""

    os: str
    root: Path | None = None
    #: User home folders to check, as local paths.
    homes: list[Path] = field(default_factory=list)
    #: The Windows profile path (``C:\\Users\\name``) that %APPDATA% etc. expand to.
    windows_profile: str | None = None
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    @property
    def live(self) -> bool:
        return self.root is None

    @property
    def windows(self) -> bool:
        return self.os == "windows"

    # -- paths ---------------------------------------------------------------------------
    def expand(self, path: str) -> str:
        """Expand ``%VARS%`` (Windows) or ``~`` / ``$HOME`` (POSIX) as the target would."""
        if self.windows:
            return _VAR_RE.sub(self._windows_var, path)
        if path.startswith("~") and self.homes:
            return str(self._posix_home()) + path[1:] if path in ("~",) or path.startswith("~/") else path
        for variable in ("$HOME", "${HOME}"):
            if variable in path and self.homes:
                path = path.replace(variable, str(self._posix_home()))
        return path

    def _posix_home(self) -> str:
        home = self.homes[0]
        if self.root is not None:
            try:
                return "/" + str(home.relative_to(self.root))
            except ValueError:
                return str(home)
        return str(home)

    def _windows_var(self, match: re.Match) -> str:
        name = match.group(1).lower()
        if self.live and sys.platform == "win32":
            value = self.environ.get(match.group(1)) or self.environ.get(match.group(1).upper())
            if value:
                return value
        if name in _WIN_VARS:
            return _WIN_VARS[name]
        if name in _USER_VARS:
            profile = self.windows_profile or r"C:\Users\%USERNAME%"
            tail = _USER_VARS[name]
            return profile + ("\\" + tail if tail else "")
        return match.group(0)

    def local(self, path: str) -> Path | None:
        """Where a target path is on this computer, or None when it cannot be there."""
        if not path:
            return None
        path = self.expand(path.strip().strip('"'))
        if self.windows:
            if self.live and sys.platform == "win32":
                return Path(path)
            drive, rest = ntpath.splitdrive(path)
            if self.root is None or drive.upper() not in ("C:", ""):
                return None
            parts = [part for part in re.split(r"[\\/]+", rest) if part]
            return _case_insensitive(self.root, parts)
        if not path.startswith("/"):
            return None
        if self.root is None:
            return Path(path)
        return self.root / path.lstrip("/")

    def shown(self, local: Path) -> str:
        """A local path as the target would write it (for messages)."""
        if self.root is None:
            return str(local)
        try:
            rel = local.relative_to(self.root)
        except ValueError:
            return str(local)
        if self.windows:
            return "C:\\" + "\\".join(rel.parts)
        return "/" + "/".join(rel.parts)

    # -- classes -------------------------------------------------------------------------
    def classify(self, path: str) -> str:
        """The folder class of a target path (see :data:`FOLDER_CLASSES`)."""
        expanded = self.expand(path)
        if self.windows:
            return classify_windows(expanded)
        for home in self.homes:  # a home anywhere (even under /tmp) is judged as a home
            shown = str(home) if self.live else self.shown(home)
            if expanded == shown or expanded.startswith(shown.rstrip("/") + "/"):
                expanded = "/home/user" + expanded[len(shown.rstrip("/")):]
                break
        return classify_posix(expanded, self.os)


def classify_windows(path: str) -> str:
    low = "\\" + path.lower().replace("/", "\\").strip('"').lstrip("\\")
    if "%temp%" in low or "%tmp%" in low or "\\appdata\\local\\temp\\" in low or "\\windows\\temp\\" in low:
        return "temp"
    if "\\$recycle.bin\\" in low or low.startswith(("\\c:\\perflogs\\",)):
        return "recycle" if "recycle" in low else "temp"
    if any(marker in low for marker in _CHAT_MARKERS):
        return "chat"
    if "\\users\\public\\" in low or "%public%" in low:
        return "public"
    if re.search(r"\\users\\[^\\]+\\downloads\\", low):
        return "downloads"
    if re.search(r"\\users\\[^\\]+\\desktop\\", low):
        return "desktop"
    if re.search(r"\\users\\[^\\]+\\(documents|my documents)\\", low):
        return "documents"
    if "\\appdata\\" in low or "%appdata%" in low or "%localappdata%" in low:
        return "appdata"
    if low.startswith("\\c:\\programdata\\") or "%programdata%" in low or "%allusersprofile%" in low:
        return "programdata"
    if re.search(r"^\\c:\\users\\[^\\]+\\", low) or "%userprofile%" in low:
        return "user_profile"
    if low.startswith(("\\c:\\windows\\",)) or "%systemroot%" in low or "%windir%" in low:
        return "system"
    if low.startswith(("\\c:\\program files\\", "\\c:\\program files (x86)\\")) or "%programfiles" in low:
        return "program_files"
    if "\\" not in low.strip("\\"):  # a bare name: found through PATH (System32)
        return "system"
    return "other"


def classify_posix(path: str, system: str = "linux") -> str:
    if path.startswith(("/tmp/", "/var/tmp/", "/dev/shm/", "/private/tmp/", "/private/var/folders/",
                        "/var/folders/", "/run/user/")):
        return "temp"
    match = re.match(r"^(/home/[^/]+|/root|/Users/[^/]+)(/.*)?$", path)
    if match:
        rest = match.group(2) or ""
        if rest.startswith("/Downloads/"):
            return "downloads"
        if rest.startswith("/Desktop/"):
            return "desktop"
        if rest.startswith("/Documents/"):
            return "documents"
        if system == "macos" and rest.startswith("/Library/"):
            return "appdata"
        hidden = re.match(r"^/(\.[^/]+)/", rest)
        if hidden and hidden.group(1) not in TOOLCHAIN_FOLDERS:
            return "hidden"
        return "user_profile"
    if path.startswith(("/usr/", "/bin/", "/sbin/", "/lib", "/opt/", "/snap/", "/etc/", "/System/", "/Applications/",
                        "/Library/", "/nix/", "/var/lib/")):
        return "system"
    if "/" not in path:
        return "system"  # a bare name: found through PATH
    return "other"


def folder_risk(folder_class: str) -> str:
    return FOLDER_CLASSES.get(folder_class, FOLDER_CLASSES["other"])[0]


def folder_words(folder_class: str) -> tuple[str, str]:
    _, en, zh = FOLDER_CLASSES.get(folder_class, FOLDER_CLASSES["other"])
    return en, zh


def _case_insensitive(root: Path, parts: list[str]) -> Path:
    """``root/parts`` matching each part without regard to case (Windows names on a
    case-sensitive disk); parts that do not exist are appended as written."""
    current = root
    for index, part in enumerate(parts):
        exact = current / part
        if exact.exists():
            current = exact
            continue
        try:
            names = {name.lower(): name for name in os.listdir(current)}
        except OSError:
            return current.joinpath(*parts[index:])
        found = names.get(part.lower())
        if found is None:
            return current.joinpath(*parts[index:])
        current = current / found
    return current


def detect_os(root: Path | None) -> str:
    if root is None:
        return {"win32": "windows", "darwin": "macos"}.get(sys.platform, "linux")
    names = {name.lower() for name in _listdir(root)}
    if "windows" in names or "users" in names and "programdata" in names:
        return "windows"
    if "system" in names and "library" in names:
        return "macos"
    return "linux"


def _listdir(path: Path) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []
