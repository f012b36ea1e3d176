"""Running processes whose program lives in a user-writable folder, and outbound
connections per process with the remote country.

The country comes from ``iptocc`` (MIT OR Apache-2.0), which embeds the five Regional
Internet Registries' delegation files in its wheel: offline, no download at run time.
The country is the one the registry *assigned* the address block to, not a measured
location (RIR data agrees with commercial geolocation for about 95 % of IPv4 addresses,
per the package's own notes). An address it does not know stays "unknown" — never guessed.

A connection is a finding when an *unknown* program — one running from a temp or
user-writable folder, from a deleted file, or (Windows) without a signature — talks to a
server in another country than ``home_country``.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from collections import Counter, namedtuple
from typing import Any

import psutil

from ..autostart import is_own_command
from .model import Collected, Coverage, SweepEntry
from .target import Target, folder_risk, folder_words

try:  # the offline IP-to-country table (pinned dependency)
    from iptocc import country_code as _country_code
except ImportError:  # pragma: no cover - only when the dependency is missing
    _country_code = None

DELETED_SUFFIX = " (deleted)"
#: One connection of one process (what psutil's per-process list lacks: the pid).
_Connection = namedtuple("_Connection", "pid type status raddr")
CONNECTED = {psutil.CONN_ESTABLISHED, psutil.CONN_SYN_SENT}


def country_of(ip: str) -> str | None:
    """ISO 3166 code of the country an address is registered to, None if unknown."""
    if _country_code is None:
        return None
    try:
        code = _country_code(ip)
    except Exception:
        return None
    return code or None


def collect_processes(target: Target, home_country: str | None, own_pids: set[int] | None = None) -> Collected:
    out = Collected()
    own = set(own_pids or ()) | {os.getpid()}
    programs: dict[int, dict[str, Any]] = {}
    hidden: Counter[str] = Counter()
    no_program = 0
    for process in psutil.process_iter(["pid", "name", "username"]):
        pid, name = process.info["pid"], process.info["name"] or "?"
        try:
            exe = process.exe()
            cmdline = process.cmdline()
        except psutil.AccessDenied:
            hidden[name] += 1
            continue
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        if not exe:
            no_program += 1  # kernel threads and the like: no program file at all
            continue
        deleted = exe.endswith(DELETED_SUFFIX) or not os.path.exists(exe)
        exe = exe[: -len(DELETED_SUFFIX)] if exe.endswith(DELETED_SUFFIX) else exe
        folder_class = target.classify(exe)
        info = {"pid": pid, "name": name, "exe": exe, "cmdline": cmdline, "deleted": deleted,
                "folder_class": folder_class, "user": process.info.get("username"),
                "own": pid in own or is_own_command(cmdline)}
        programs[pid] = info
        if deleted or folder_risk(folder_class) in ("temp", "user"):
            out.entries.append(process_entry(info))
    if hidden:
        names = ", ".join(f"{name} ×{count}" if count > 1 else name for name, count in hidden.most_common(20))
        more = f" and {len(hidden) - 20} more" if len(hidden) > 20 else ""
        out.cannot_read("process", f"{sum(hidden.values())} processes",
                        f"no permission to see their program files (other users' or system processes): {names}{more}")
    out.coverage.append(Coverage("process", "checked" if not hidden else "partial",
                                 f"{len(programs)} processes with a program file, {no_program} without one"))
    out.extend(_connections(target, programs, home_country))
    return out


def process_entry(info: dict[str, Any]) -> SweepEntry:
    command = " ".join(info.get("cmdline") or [])
    entry = SweepEntry("process", "process", f"pid {info['pid']}", info["name"], command=command,
                       image=info["exe"], local_image=info["exe"], image_exists=not info["deleted"])
    entry.folder_class = info["folder_class"]
    entry.user_writable = folder_risk(info["folder_class"]) in ("temp", "user")
    entry.known_good = bool(info.get("own"))
    entry.details.update({"pid": info["pid"], "user": info.get("user"), "deleted": info["deleted"]})
    return entry


def _connections(target: Target, programs: dict[int, dict[str, Any]], home_country: str | None) -> Collected:
    out = Collected()
    try:
        connections = psutil.net_connections(kind="inet")
    except psutil.AccessDenied:
        connections = []
        for pid in programs:
            try:
                for conn in psutil.Process(pid).net_connections(kind="inet"):
                    connections.append(_Connection(pid, conn.type, conn.status, conn.raddr))
            except psutil.Error:
                continue
        out.cannot_read("connection", "all connections",
                        "no permission to list every connection (macOS needs admin); only your own processes' are listed")
    local_only = unattributed = 0
    for conn in connections:
        if not conn.raddr:
            continue
        if conn.type == socket.SOCK_STREAM and conn.status not in CONNECTED:
            continue
        ip = conn.raddr.ip
        try:
            if not ipaddress.ip_address(ip.split("%")[0]).is_global:
                local_only += 1
                continue
        except ValueError:
            continue
        info = programs.get(conn.pid) if conn.pid else None
        if info is None:
            unattributed += 1
        entry = connection_entry(info, ip, conn.raddr.port, conn.status, home_country, pid=conn.pid)
        out.entries.append(entry)
    if unattributed:
        out.cannot_read("connection", f"{unattributed} connections",
                        "the program behind them is not visible without admin rights")
    out.coverage.append(Coverage("connection", "checked",
                                 f"{len(connections)} sockets, {local_only} to this computer or the local network"))
    return out


def connection_entry(info: dict[str, Any] | None, ip: str, port: int, status: str, home_country: str | None,
                     pid: int | None = None, signed: bool | None = None) -> SweepEntry:
    """One outbound connection, judged (used by the live collector and by tests)."""
    country = country_of(ip)
    name = (info or {}).get("name") or (f"process {pid}" if pid else "unknown program")
    address = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    entry = SweepEntry("connection", "connection", f"pid {pid or '?'}", f"{name} → {address}",
                       command=" ".join((info or {}).get("cmdline") or []), image=(info or {}).get("exe"))
    entry.details.update({"pid": pid, "remote_ip": ip, "remote_port": port, "status": status,
                          "country": country or "unknown", "program": name})
    if info is None:
        return entry
    folder_class = info.get("folder_class") or "other"
    entry.folder_class = folder_class
    entry.user_writable = folder_risk(folder_class) in ("temp", "user")
    entry.known_good = bool(info.get("own"))
    unknown_program = info.get("deleted") or entry.user_writable or (sys.platform == "win32" and signed is False)
    if entry.known_good or not unknown_program:
        return entry
    folder, folder_zh = folder_words(folder_class)
    params = {"program": name, "folder": folder, "folder_zh": folder_zh, "address": address}
    if country is None:
        entry.fact("sweep.connection_unknown_country", **params)
    elif home_country and country.upper() != home_country.upper():
        entry.fact("sweep.connection_abroad", country=country, **params)
    return entry
