"""``filewall sweep``: check the computer it runs on (or an offline image of one) for
Trojans already planted, and write a report.

Collectors, one module per source, each OS-specific part behind one interface so that it
runs on any OS from recorded fixtures:

- Windows: :mod:`.registry` (Run/RunOnce, StartupApproved, services — live ``winreg`` or
  ``.reg`` exports), :mod:`.tasks` (task XML files *and* the registry TaskCache),
  :mod:`.startup_folders`;
- Linux: :mod:`.linux` (cron, systemd, XDG autostart, shell start-up files);
- macOS: :mod:`.macos` (LaunchAgents, LaunchDaemons);
- every OS: :mod:`.files` (recent programs and scripts in the user's folders) and, on the
  live computer only, :mod:`.processes` (processes and their connections).

Then every file an entry starts, and every recent file found, is scanned with the engine
in the supervised pool; :mod:`.judge` turns what was seen into findings with the rules
of :data:`filewall.policy.rules.SWEEP_RULES`; :mod:`.report` prints and writes it.
What could not be read is listed (:class:`.model.Unreadable`), never skipped silently.
"""

from __future__ import annotations

import datetime
import getpass
import os
import platform
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...engine import ScanOptions
from ...limits import Limits
from .judge import assess_autostart, assess_process, judge, summarise_scan
from .model import Collected, Coverage, SweepEntry, Unreadable
from .signing import verify
from .target import Target, detect_os

#: Time limit per scanned file (a sweep scans many; a stalled one is reported, not waited for).
SCAN_SECONDS = 15.0
#: Progress callback: (step description, done, total).
Progress = Callable[[str, int, int], None]


@dataclass
class SweepOptions:
    #: An offline image (a mounted disk, a fixture tree); None: this computer.
    root: Path | None = None
    registry_exports: list[Path] = field(default_factory=list)
    #: windows | linux | macos (default: detected)
    os: str | None = None
    #: Home folders to check (default: yours; under --root: every profile).
    homes: list[Path] | None = None
    #: Crontab spool folders (default: the system's, under the root).
    cron_spools: list[Path] | None = None
    days: float = 30.0
    files: bool = True
    processes: bool = True
    #: Connections from unknown programs to other countries are findings.
    home_country: str | None = "CN"
    workers: int = 0
    limits: Limits | None = None


@dataclass
class SweepResult:
    target: Target
    options: SweepOptions
    started: float
    finished: float = 0.0
    entries: list[SweepEntry] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)
    coverage: list[Coverage] = field(default_factory=list)
    elevated: bool | None = None

    @property
    def flagged(self) -> list[SweepEntry]:
        order = {"malicious": 0, "suspicious": 1, "clean": 2}
        found = [entry for entry in self.entries if entry.verdict != "clean"]
        return sorted(found, key=lambda entry: (order[entry.verdict], -entry.score, entry.source, entry.name))

    @property
    def verdict(self) -> str:
        verdicts = {entry.verdict for entry in self.entries}
        return "malicious" if "malicious" in verdicts else "suspicious" if "suspicious" in verdicts else "clean"

    def counts(self) -> dict[str, Any]:
        by_category = Counter(entry.category for entry in self.entries)
        by_verdict = Counter(entry.verdict for entry in self.entries)
        return {"entries": len(self.entries), "by_category": dict(by_category), "by_verdict": dict(by_verdict),
                "unreadable": len(self.unreadable)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "filewall_sweep": 1,
            "verdict": self.verdict,
            "host": {"hostname": socket.gethostname(), "platform": platform.platform(), "user": _user()},
            "target": {"os": self.target.os, "live": self.target.live,
                       "root": str(self.target.root) if self.target.root else None,
                       "homes": [str(home) for home in self.target.homes],
                       "registry_exports": [str(path) for path in self.options.registry_exports],
                       "elevated": self.elevated, "home_country": self.options.home_country,
                       "recent_days": self.options.days},
            "started": _iso(self.started),
            "finished": _iso(self.finished),
            "seconds": round(self.finished - self.started, 2),
            "counts": self.counts(),
            "findings": [
                {"category": entry.category, "source": entry.source, "name": entry.name, "location": entry.location,
                 "verdict": entry.verdict, **finding.to_dict()}
                for entry in self.flagged for finding in entry.findings if finding.score > 0
            ],
            "entries": [entry.to_dict() for entry in self.entries],
            "unreadable": [item.to_dict() for item in self.unreadable],
            "coverage": [item.to_dict() for item in self.coverage],
        }


def make_target(options: SweepOptions) -> Target:
    root = Path(options.root).absolute() if options.root else None
    system = options.os or detect_os(root)
    homes = [Path(home) for home in options.homes] if options.homes else _default_homes(root, system)
    target = Target(system, root, homes)
    if system == "windows" and root is not None:
        profiles = [home for home in homes if home.name.lower() not in ("public", "default", "default user")]
        if len(profiles) == 1:
            target.windows_profile = rf"C:\Users\{profiles[0].name}"
    return target


def _default_homes(root: Path | None, system: str) -> list[Path]:
    if root is None:
        return [Path(os.environ.get("USERPROFILE") or os.environ.get("HOME") or Path.home())]
    folders = {"windows": ["Users"], "macos": ["Users"], "linux": ["home"]}[system]
    homes: list[Path] = []
    for folder in folders:
        base = root / folder
        for candidate in (base, *[path for path in root.iterdir() if path.name.lower() == folder.lower()]):
            if candidate.is_dir():
                homes += [path for path in sorted(candidate.iterdir()) if path.is_dir()
                          and path.name.lower() not in ("public", "default", "default user", "all users", "shared")]
                break
    if system == "linux" and (root / "root").is_dir():
        homes.append(root / "root")
    return homes


def run_sweep(options: SweepOptions, progress: Progress | None = None) -> SweepResult:
    started = time.time()
    target = make_target(options)
    result = SweepResult(target, options, started, elevated=_elevated() if target.live else None)
    say = progress or (lambda step, done, total: None)
    collected = Collected()
    steps = _collectors(target, options, collected)
    for index, (label, collector) in enumerate(steps):
        say(label, index, len(steps))
        try:
            collected.extend(collector())
        except PermissionError as error:
            collected.cannot_read(label, getattr(error, "filename", None) or label, error)
        except OSError as error:
            collected.cannot_read(label, getattr(error, "filename", None) or label, error)
    try:
        _scan_all(collected.entries, options, say)
    except Exception as error:  # the scanner could not start: report it, judge the rest
        collected.coverage.append(Coverage("scan", "skipped", f"files could not be scanned: {error}"))
    for entry in collected.entries:
        _assess(entry, target)
        judge(entry)
    result.entries = collected.entries
    result.unreadable = collected.unreadable
    result.coverage = collected.coverage + _privilege_notes(target, result.elevated)
    result.finished = time.time()
    say("done", len(steps), len(steps))
    return result


def _collectors(target: Target, options: SweepOptions, collected: Collected) -> list[tuple[str, Callable[[], Collected]]]:
    steps: list[tuple[str, Callable[[], Collected]]] = []
    if target.windows:
        from .registry import RegExportSource, WinRegSource, collect_run_keys, collect_services
        from .startup_folders import collect_startup_folders
        from .tasks import collect_tasks

        registry = None
        if options.registry_exports:
            registry = RegExportSource(options.registry_exports)
        elif target.live and sys.platform == "win32":
            registry = WinRegSource()
        if registry is None:
            collected.coverage.append(Coverage("registry", "skipped",
                                               "no registry: give --registry-export FILE.reg for an offline image"))
        else:
            steps.append(("Run keys", lambda: collect_run_keys(registry, target)))
            steps.append(("services", lambda: collect_services(registry, target)))
        steps.append(("scheduled tasks", lambda: collect_tasks(target, registry)))
        steps.append(("Startup folders", lambda: collect_startup_folders(target, registry)))
    elif target.os == "macos":
        from .macos import collect_macos

        steps.append(("LaunchAgents and LaunchDaemons", lambda: collect_macos(target)))
    else:
        from .linux import collect_linux

        steps.append(("cron, systemd, autostart, shell files", lambda: collect_linux(target, options.cron_spools)))
    if options.files:
        from .files import collect_files

        steps.append(("recent files", lambda: collect_files(target, options.days)))
    if options.processes and target.live:
        from .processes import collect_processes

        steps.append(("processes and connections", lambda: collect_processes(target, options.home_country)))
    elif options.processes:
        collected.coverage.append(Coverage("process", "skipped", "processes and connections exist only on a live computer"))
    return steps


def _scan_all(entries: list[SweepEntry], options: SweepOptions, say: Progress) -> None:
    paths = sorted({entry.local_image for entry in entries if entry.local_image and _is_file(entry.local_image)})
    reports: dict[str, dict[str, Any]] = {}
    if paths:
        from ...pool import ScanPool

        scan_options = ScanOptions(limits=options.limits or Limits.from_env(max_seconds=SCAN_SECONDS))
        workers = options.workers or min(4, os.cpu_count() or 1)
        with ScanPool(scan_options, workers=min(workers, len(paths))) as pool:
            for index, report in enumerate(pool.scan(paths)):
                reports[paths[index]] = summarise_scan(report)
                say(f"scanning {index + 1}/{len(paths)}", index + 1, len(paths))
    signatures: dict[str, bool | None] = {}
    for entry in entries:
        if entry.local_image and entry.local_image in reports:
            entry.scan = reports[entry.local_image]
            entry.signed = entry.scan.get("signed")
            if entry.signed and entry.user_writable and sys.platform == "win32" and entry.local_image:
                if entry.local_image not in signatures:
                    signatures[entry.local_image] = verify(entry.local_image)
                entry.signature_valid = signatures[entry.local_image]


def _assess(entry: SweepEntry, target: Target) -> None:
    if entry.category == "autostart":
        assess_autostart(entry, target)
    elif entry.category == "process":
        assess_process(entry, target)
    elif entry.category == "file":
        from .files import assess_file

        assess_file(entry)
    # connections were judged when collected (they need the process's details)


def _privilege_notes(target: Target, elevated: bool | None) -> list[Coverage]:
    if not target.live or elevated:
        return []
    if target.windows:
        detail = ("ran without admin rights: other users' Run keys and Startup folders, tasks created by an "
                  "administrator, and the program files of system processes are not visible")
    elif target.os == "macos":
        detail = "ran without admin rights: other users' LaunchAgents and some connections are not visible"
    else:
        detail = "ran without root: other users' crontabs and homes, and other users' processes' programs are not visible"
    return [Coverage("privileges", "partial", detail)]


def _elevated() -> bool | None:
    try:
        if sys.platform == "win32":
            import ctypes

            return bool(ctypes.windll.shell32.IsUserAnAdmin())
        return os.geteuid() == 0
    except Exception:
        return None


def _is_file(path: str) -> bool:
    try:
        return os.path.isfile(path)
    except OSError:
        return False


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "?"


def _iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).isoformat(timespec="seconds")


__all__ = ["SweepOptions", "SweepResult", "run_sweep", "make_target"]
