"""Where chat apps save the files a customer sends: one table, easy to extend.

Each row says under which *base* folder to look (the user's Documents, the roots of the
other fixed drives, ``%APPDATA%`` ...) and a relative pattern where ``*`` stands for one
folder level (the account id: ``wxid_…``, a QQ number, a WeCom account). The vendors do
not document these paths; they come from public tools written by users of these apps
(see ``/work/shared/research/sweep-and-correlation.md`` §2 and ``threats-cs-lures.md`` §5),
and the confidence is noted per row. To add an app or a new version's folder, add a row.

WeChat lets the user move its data root; the moved root is read from WeChat's own
settings (``HKCU\\Software\\Tencent\\WeChat`` ``FileSavePath``, its ``config\\*.ini``
files) and searched like the Documents folder. A root on another drive (``D:\\WeChat
Files``) is found through the ``drives`` base.
"""

from __future__ import annotations

import glob
import os
import string
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs


@dataclass(frozen=True)
class ReceiveFolder:
    app: str
    app_zh: str
    #: documents | drives | appdata | localappdata | public_documents | home
    base: str
    #: Relative to the base, ``/``-separated; ``*`` matches one folder level.
    pattern: str
    confidence: str
    #: True when the folder is the app's whole data folder (logs, databases, caches), not
    #: a folder of received files only: app-internal files there are not scanned.
    app_data: bool = False


RECEIVE_FOLDERS: tuple[ReceiveFolder, ...] = (
    ReceiveFolder("WeChat 3.x", "微信 3.x", "documents", "WeChat Files/*/FileStorage/File", "high"),
    ReceiveFolder("WeChat 3.x", "微信 3.x", "drives", "WeChat Files/*/FileStorage/File", "high"),
    ReceiveFolder("WeChat 4.x", "微信 4.x", "documents", "xwechat_files/*/msg/file", "medium-high"),
    ReceiveFolder("WeChat 4.x", "微信 4.x", "drives", "xwechat_files/*/msg/file", "medium-high"),
    ReceiveFolder("WeCom", "企业微信", "documents", "WXWork/*/Cache/File", "medium"),
    ReceiveFolder("WeCom", "企业微信", "drives", "WXWork/*/Cache/File", "medium"),
    ReceiveFolder("WeCom", "企业微信", "documents", "WXWork/*/Msg/File", "low"),
    ReceiveFolder("QQ", "QQ", "documents", "Tencent Files/*/FileRecv", "high"),
    ReceiveFolder("QQ", "QQ", "drives", "Tencent Files/*/FileRecv", "high"),
    ReceiveFolder("QQ NT", "QQ NT", "documents", "Tencent Files/*/nt_qq/nt_data/File", "medium"),
    ReceiveFolder("QQ NT", "QQ NT", "drives", "Tencent Files/*/nt_qq/nt_data/File", "medium"),
    ReceiveFolder("TIM", "TIM", "documents", "Tencent Files/*/TIM/FileRecv", "low"),
    ReceiveFolder("DingTalk", "钉钉", "documents", "DingDing/download", "low-medium"),
    ReceiveFolder("DingTalk", "钉钉", "drives", "DingTalkAppData/DingTalk/download", "low-medium"),
    # Qianniu: no public source names the received-files subfolder; watch the data root
    # and judge only files that are not the app's own (logs, databases).
    ReceiveFolder("Qianniu", "千牛", "drives", "AliWorkbenchData", "low", app_data=True),
    ReceiveFolder("Qianniu", "千牛", "public_documents", "AliWorkbench/AliWorkbenchData", "low", app_data=True),
)

#: Files an app keeps in its own data folder; never customer files (``app_data`` rows).
APP_INTERNAL_SUFFIXES = (".log", ".db", ".db-wal", ".db-shm", ".db-journal", ".sqlite", ".ldb", ".dat", ".ini", ".cfg")


@dataclass
class Bases:
    """The folders each ``base`` name stands for on one computer, for one user."""

    documents: list[Path] = field(default_factory=list)
    drives: list[Path] = field(default_factory=list)
    appdata: list[Path] = field(default_factory=list)
    localappdata: list[Path] = field(default_factory=list)
    public_documents: list[Path] = field(default_factory=list)
    home: list[Path] = field(default_factory=list)

    def get(self, name: str) -> list[Path]:
        return list(getattr(self, name, []))


@dataclass(frozen=True)
class Found:
    app: str
    app_zh: str
    path: Path
    app_data: bool = False


def find_receive_folders(bases: Bases, table: Iterable[ReceiveFolder] = RECEIVE_FOLDERS) -> list[Found]:
    """Every existing received-files folder in ``table`` under ``bases``, no duplicates."""
    found: dict[str, Found] = {}
    for row in table:
        for base in bases.get(row.base):
            pattern = os.path.join(glob.escape(str(base)), *row.pattern.split("/"))
            for match in sorted(glob.glob(pattern)):
                if os.path.isdir(match):
                    key = os.path.normcase(os.path.abspath(match))
                    found.setdefault(key, Found(row.app, row.app_zh, Path(match), row.app_data))
    return list(found.values())


def downloads_folder(home: Path | None = None) -> Path:
    if home is not None:
        return home / "Downloads"
    return Path(platformdirs.user_downloads_dir())


def default_bases(environ: dict[str, str] | None = None) -> Bases:
    """The bases of the current user on this computer."""
    env = dict(os.environ if environ is None else environ)
    home = Path(env.get("USERPROFILE") or env.get("HOME") or Path.home())
    bases = Bases(home=[home])
    documents = [Path(platformdirs.user_documents_dir()), home / "Documents"]
    if sys.platform == "win32":
        appdata = Path(env.get("APPDATA") or home / "AppData" / "Roaming")
        bases.appdata = [appdata]
        bases.localappdata = [Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local")]
        public = env.get("PUBLIC")
        if public:
            bases.public_documents = [Path(public) / "Documents"]
        documents += wechat_roots(appdata, _wechat_registry_root())
        bases.drives = fixed_drives()
    bases.documents = _unique(documents)
    return bases


def wechat_roots(appdata: Path, registry_value: str | None = None) -> list[Path]:
    """Data roots the user chose in WeChat 3.x / 4.x settings (folders holding
    ``WeChat Files`` or ``xwechat_files``), read from WeChat's own settings."""
    roots: list[Path] = []
    if registry_value and registry_value.strip() not in ("", "MyDocument:"):
        roots.append(Path(registry_value.strip()))
    for ini in sorted((appdata / "Tencent" / "WeChat" / "All Users" / "config").glob("*.ini")) + sorted(
        (appdata / "Tencent" / "xwechat" / "config").glob("*.ini")
    ):
        text = _read_small(ini)
        if not text:
            continue
        line = text.strip().splitlines()[0].strip() if text.strip() else ""
        if line and line != "MyDocument:" and (":" in line or line.startswith(("/", "\\"))):
            roots.append(Path(line))
    return roots


def _read_small(path: Path, limit: int = 4096) -> str | None:
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit)
    except OSError:
        return None
    for encoding in ("utf-8", "utf-16", "gbk"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def _wechat_registry_root() -> str | None:
    if sys.platform != "win32":
        return None
    import winreg

    try:
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, r"Software\Tencent\WeChat") as key:
            value, _ = winreg.QueryValueEx(key, "FileSavePath")
            return str(value)
    except OSError:
        return None


def fixed_drives() -> list[Path]:
    """Roots of the local fixed drives (``C:\\``, ``D:\\`` ...), Windows only."""
    if sys.platform != "win32":
        return []
    import ctypes

    kernel32 = ctypes.windll.kernel32
    mask = kernel32.GetLogicalDrives()
    drives = []
    for index, letter in enumerate(string.ascii_uppercase):
        if mask & (1 << index):
            root = f"{letter}:\\"
            if kernel32.GetDriveTypeW(ctypes.c_wchar_p(root)) == 3:  # DRIVE_FIXED
                drives.append(Path(root))
    return drives


def watch_folders(bases: Bases | None = None, chat_apps: bool | None = None) -> list[Found]:
    """What ``filewall watch`` watches when no folder is given: the chat apps' received
    files (looked for on Windows, where these apps run) and the Downloads folder."""
    given = bases is not None
    bases = bases or default_bases()
    if chat_apps is None:
        chat_apps = sys.platform == "win32"
    found = find_receive_folders(bases) if chat_apps else []
    downloads = downloads_folder(bases.home[0] if given and bases.home else None)
    if downloads.is_dir():
        found.append(Found("Downloads", "下载", downloads))
    return found


def _unique(paths: Iterable[Path]) -> list[Path]:
    seen: dict[str, Path] = {}
    for path in paths:
        seen.setdefault(os.path.normcase(os.path.abspath(path)), path)
    return list(seen.values())
