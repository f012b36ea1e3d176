"""Windows registry: Run/RunOnce keys (HKCU, HKLM, every loaded HKU hive, WOW6432Node,
Policies\\Explorer\\Run), their StartupApproved on/off flags, and services.

Everything reads through one interface, :class:`RegistrySource`, with two
implementations: :class:`WinRegSource` (the live registry through ``winreg``, Windows
only) and :class:`RegExportSource` (``.reg`` files written by ``regedit`` / ``reg
export``: for tests, for offline images, for incident response on another computer).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .judge import describe_launch
from .model import Collected, SweepEntry
from .target import Target

HKLM, HKCU, HKU = "HKEY_LOCAL_MACHINE", "HKEY_CURRENT_USER", "HKEY_USERS"
_ROOT_ALIASES = {"HKLM": HKLM, "HKCU": HKCU, "HKU": HKU, "HKCR": "HKEY_CLASSES_ROOT", "HKCC": "HKEY_CURRENT_CONFIG"}
CURRENT_VERSION = r"Microsoft\Windows\CurrentVersion"
RUN_SUBKEYS = ("Run", "RunOnce", "RunServices", "RunServicesOnce", r"Policies\Explorer\Run")
REG_SZ, REG_EXPAND_SZ, REG_BINARY, REG_DWORD, REG_MULTI_SZ, REG_QWORD = 1, 2, 3, 4, 7, 11
SERVICE_START = {0: "boot", 1: "system", 2: "automatic", 3: "manual", 4: "disabled"}


class RegistryUnavailable(Exception):
    """This source cannot read that part of the registry at all (not in the export)."""


@dataclass(frozen=True)
class RegValue:
    name: str
    type: int
    data: Any


class RegistrySource(Protocol):
    """Read-only access to a registry, live or exported."""

    description: str

    def subkeys(self, path: str) -> list[str]:
        """Names of the subkeys of ``path``; [] when it does not exist. PermissionError
        when it exists but may not be read."""

    def values(self, path: str) -> dict[str, RegValue]:
        """Values of ``path`` by lower-case name; {} when it does not exist."""

    def exists(self, path: str) -> bool: ...


def canonical(path: str) -> str:
    path = path.strip().strip("\\")
    root, _, rest = path.partition("\\")
    root = _ROOT_ALIASES.get(root.upper(), root.upper())
    return f"{root}\\{rest}" if rest else root


# -- .reg exports ----------------------------------------------------------------------------


class RegExportSource:
    """The keys and values of one or more ``.reg`` files (regedit's export format, both
    ``Windows Registry Editor Version 5.00`` (UTF-16) and ``REGEDIT4`` (ANSI))."""

    def __init__(self, files: Iterable[str | Path]):
        self.files = [Path(file) for file in files]
        self.description = "registry export " + ", ".join(str(file) for file in self.files)
        self._keys: dict[str, tuple[str, dict[str, RegValue]]] = {}
        self._children: dict[str, dict[str, str]] = {}
        for file in self.files:
            self._load(parse_reg_text(decode_reg(file.read_bytes())))

    def _load(self, parsed: list[tuple[str, str, RegValue | None]]) -> None:
        for op, key, value in parsed:
            low = key.lower()
            if op == "delete_key":
                for name in [name for name in self._keys if name == low or name.startswith(low + "\\")]:
                    del self._keys[name]
                continue
            entry = self._keys.get(low)
            if entry is None:
                entry = (key, {})
                self._keys[low] = entry
                self._link(key)
            if op == "value" and value is not None:
                entry[1][value.name.lower()] = value
            elif op == "delete_value" and value is not None:
                entry[1].pop(value.name.lower(), None)

    def _link(self, key: str) -> None:
        parts = key.split("\\")
        for depth in range(1, len(parts)):
            parent = "\\".join(parts[:depth]).lower()
            self._children.setdefault(parent, {})[parts[depth].lower()] = parts[depth]

    def covers(self, path: str) -> bool:
        """True when the exports contain ``path`` or a key above/below it."""
        low = canonical(path).lower()
        return any(name == low or name.startswith(low + "\\") or low.startswith(name + "\\") for name in self._keys)

    def exists(self, path: str) -> bool:
        low = canonical(path).lower()
        return low in self._keys or low in self._children

    def subkeys(self, path: str) -> list[str]:
        low = canonical(path).lower()
        return sorted(self._children.get(low, {}).values(), key=str.lower)

    def values(self, path: str) -> dict[str, RegValue]:
        entry = self._keys.get(canonical(path).lower())
        return dict(entry[1]) if entry else {}


def decode_reg(data: bytes) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16")
    if data[:3] == b"\xef\xbb\xbf":
        return data[3:].decode("utf-8")
    if len(data) > 4 and data[1:2] == b"\x00" and data[3:4] == b"\x00":
        return data.decode("utf-16-le")
    for encoding in ("utf-8", "gbk", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


_KEY_RE = re.compile(r"^\[(-?)(.+)\]\s*$")


def parse_reg_text(text: str) -> list[tuple[str, str, RegValue | None]]:
    """``.reg`` text → operations: ("key"|"delete_key"|"value"|"delete_value", key, value)."""
    ops: list[tuple[str, str, RegValue | None]] = []
    key: str | None = None
    for line in _logical_lines(text):
        stripped = line.strip()
        if not stripped or stripped.startswith(";") or stripped in ("REGEDIT4",) or stripped.startswith(
            "Windows Registry Editor"
        ):
            continue
        match = _KEY_RE.match(stripped)
        if match:
            key = canonical(match.group(2))
            ops.append(("delete_key" if match.group(1) else "key", key, None))
            if match.group(1):
                key = None
            continue
        if key is None:
            continue
        parsed = _parse_value_line(stripped)
        if parsed is None:
            continue
        name, data = parsed
        if data.strip() == "-":
            ops.append(("delete_value", key, RegValue(name, 0, None)))
        else:
            ops.append(("value", key, _parse_data(name, data.strip())))
    return ops


def _logical_lines(text: str) -> Iterable[str]:
    pending = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if pending:
            line = pending + line.lstrip()
            pending = ""
        if line.endswith("\\") and not line.endswith('"') and "=" in line and re.search(r"=\s*hex", line, re.I):
            pending = line[:-1]
            continue
        yield line
    if pending:
        yield pending


def _parse_value_line(line: str) -> tuple[str, str] | None:
    if line.startswith("@="):
        return "", line[2:]
    if not line.startswith('"'):
        return None
    name, index = _read_quoted(line, 0)
    if index >= len(line) or line[index] != "=":
        return None
    return name, line[index + 1 :]


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """A ``"..."`` string with ``\\\\`` and ``\\"`` escapes; returns (value, index after)."""
    out, index = [], start + 1
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            out.append(text[index + 1])
            index += 2
            continue
        if char == '"':
            return "".join(out), index + 1
        out.append(char)
        index += 1
    return "".join(out), index


def _parse_data(name: str, data: str) -> RegValue:
    if data.startswith('"'):
        value, _ = _read_quoted(data, 0)
        return RegValue(name, REG_SZ, value)
    low = data.lower()
    if low.startswith("dword:"):
        try:
            return RegValue(name, REG_DWORD, int(low[6:].strip() or "0", 16))
        except ValueError:
            return RegValue(name, REG_DWORD, None)
    match = re.match(r"hex(?:\(([0-9a-f]+)\))?:(.*)$", low, re.S)
    if match:
        kind = int(match.group(1), 16) if match.group(1) else REG_BINARY
        raw = bytes(int(part, 16) for part in re.split(r"[,\s]+", match.group(2).strip()) if part)
        return RegValue(name, kind, _decode_binary(kind, raw))
    return RegValue(name, REG_SZ, data)


def _decode_binary(kind: int, raw: bytes) -> Any:
    if kind in (REG_SZ, REG_EXPAND_SZ):
        return _utf16(raw).split("\x00")[0]
    if kind == REG_MULTI_SZ:
        return [part for part in _utf16(raw).split("\x00") if part]
    if kind == REG_DWORD and len(raw) >= 4:
        return int.from_bytes(raw[:4], "little")
    if kind == REG_QWORD and len(raw) >= 8:
        return int.from_bytes(raw[:8], "little")
    return raw


def _utf16(raw: bytes) -> str:
    return raw[: len(raw) // 2 * 2].decode("utf-16-le", errors="replace")


# -- the live registry -------------------------------------------------------------------------


class WinRegSource:  # pragma: no cover - Windows only
    """The registry of this computer, read with ``winreg`` (64-bit view)."""

    description = "live registry"

    def __init__(self):
        import winreg

        self._winreg = winreg
        self._roots = {HKLM: winreg.HKEY_LOCAL_MACHINE, HKCU: winreg.HKEY_CURRENT_USER, HKU: winreg.HKEY_USERS,
                       "HKEY_CLASSES_ROOT": winreg.HKEY_CLASSES_ROOT}

    def _open(self, path: str):
        winreg = self._winreg
        root, _, rest = canonical(path).partition("\\")
        handle = self._roots.get(root)
        if handle is None:
            raise FileNotFoundError(path)
        return winreg.OpenKey(handle, rest, 0, winreg.KEY_READ | winreg.KEY_WOW64_64KEY)

    def exists(self, path: str) -> bool:
        try:
            with self._open(path):
                return True
        except FileNotFoundError:
            return False
        except PermissionError:
            return True

    def subkeys(self, path: str) -> list[str]:
        try:
            key = self._open(path)
        except FileNotFoundError:
            return []
        names = []
        with key:
            index = 0
            while True:
                try:
                    names.append(self._winreg.EnumKey(key, index))
                except OSError:
                    break
                index += 1
        return names

    def values(self, path: str) -> dict[str, RegValue]:
        try:
            key = self._open(path)
        except FileNotFoundError:
            return {}
        found: dict[str, RegValue] = {}
        with key:
            index = 0
            while True:
                try:
                    name, data, kind = self._winreg.EnumValue(key, index)
                except OSError:
                    break
                found[name.lower()] = RegValue(name, kind, data)
                index += 1
        return found


# -- collectors --------------------------------------------------------------------------------


def software_roots(source: RegistrySource, out: Collected) -> list[tuple[str, str]]:
    """(software key, hive label) for HKLM (64- and 32-bit), HKCU and every HKU hive."""
    roots = [(f"{HKLM}\\SOFTWARE", "HKLM"), (f"{HKLM}\\SOFTWARE\\WOW6432Node", "HKLM (32-bit)"),
             (f"{HKCU}\\Software", "HKCU"), (f"{HKCU}\\Software\\WOW6432Node", "HKCU (32-bit)")]
    try:
        sids = [sid for sid in source.subkeys(HKU) if not sid.lower().endswith("_classes")]
    except PermissionError as error:
        out.cannot_read("run_key", HKU, error)
        sids = []
    for sid in sids:
        roots.append((f"{HKU}\\{sid}\\Software", f"HKU\\{sid}"))
        roots.append((f"{HKU}\\{sid}\\Software\\WOW6432Node", f"HKU\\{sid} (32-bit)"))
    return roots


def startup_approved(source: RegistrySource, software: str, which: str, out: Collected) -> dict[str, bool]:
    """``StartupApproved\\<which>`` flags: value name (lower) → enabled. The first byte
    is even (02, 06) when enabled and odd (03, 07) when the user switched it off."""
    path = f"{software}\\{CURRENT_VERSION}\\Explorer\\StartupApproved\\{which}"
    try:
        values = source.values(path)
    except PermissionError as error:
        out.cannot_read("run_key", path, error)
        return {}
    flags = {}
    for name, value in values.items():
        if isinstance(value.data, (bytes, bytearray)) and value.data:
            flags[name] = value.data[0] % 2 == 0
    return flags


def collect_run_keys(source: RegistrySource, target: Target) -> Collected:
    out = Collected()
    seen: set[tuple[str, str, str]] = set()
    for software, hive in software_roots(source, out):
        approved = startup_approved(source, software.replace("\\WOW6432Node", ""),
                                    "Run32" if "WOW6432Node" in software else "Run", out)
        for sub in RUN_SUBKEYS + ("RunOnceEx",):
            path = f"{software}\\{CURRENT_VERSION}\\{sub}"
            try:
                values = list(source.values(path).values())
                if sub == "RunOnceEx":
                    for child in source.subkeys(path):
                        values += list(source.values(f"{path}\\{child}").values())
            except PermissionError as error:
                out.cannot_read("run_key", path, error)
                continue
            for value in values:
                if not isinstance(value.data, str) or not value.data.strip():
                    continue
                scope = ("machine" if hive.startswith("HKLM") else "user", "32-bit" in hive, sub)
                key = (repr(scope), value.name.lower(), value.data.strip().lower())
                if key in seen:
                    continue  # HKCU is also one of the HKU hives
                seen.add(key)
                entry = SweepEntry("autostart", "run_key", f"{path}\\{value.name or '(Default)'}",
                                   value.name or "(Default)", command=value.data.strip())
                entry.details["hive"] = hive
                entry.enabled = approved.get(value.name.lower(), True)
                describe_launch(entry, target)
                out.entries.append(entry)
    return out


def collect_services(source: RegistrySource, target: Target) -> Collected:
    out = Collected()
    base = None
    for control_set in ("CurrentControlSet", "ControlSet001"):
        candidate = f"{HKLM}\\SYSTEM\\{control_set}\\Services"
        if source.exists(candidate):
            base = candidate
            break
    if base is None:
        return out
    try:
        names = source.subkeys(base)
    except PermissionError as error:
        out.cannot_read("service", base, error)
        return out
    for name in names:
        path = f"{base}\\{name}"
        try:
            values = source.values(path)
            parameters = source.values(f"{path}\\Parameters")
        except PermissionError as error:
            out.cannot_read("service", path, error)
            continue
        image_path = _text(values.get("imagepath"))
        if not image_path:
            continue
        start = values.get("start")
        start_value = start.data if start is not None and isinstance(start.data, int) else None
        command = service_command(image_path)
        entry = SweepEntry("autostart", "service", path, name, command=command)
        service_dll = _text(parameters.get("servicedll"))
        if service_dll:
            entry.image = service_command(service_dll)
            entry.details["host"] = "svchost.exe"
        entry.details["start"] = SERVICE_START.get(start_value, start_value)
        entry.details["account"] = _text(values.get("objectname"))
        entry.details["display_name"] = _text(values.get("displayname"))
        entry.enabled = start_value != 4
        describe_launch(entry, target)
        # Keep what starts by itself, and anything at all that lives in a user folder.
        if (start_value is not None and start_value <= 2) or entry.user_writable:
            out.entries.append(entry)
    return out


def service_command(image_path: str) -> str:
    """Service ImagePath forms (``\\SystemRoot\\…``, ``System32\\…``, ``\\??\\C:\\…``) as a
    plain command line."""
    text = image_path.strip()
    if text.startswith("\\??\\"):
        text = text[4:]
    if text.lower().startswith("\\systemroot\\"):
        text = "%SystemRoot%\\" + text[12:]
    elif text.lower().startswith(("system32\\", "syswow64\\")):
        text = "%SystemRoot%\\" + text
    return text


def _text(value: RegValue | None) -> str:
    if value is None:
        return ""
    if isinstance(value.data, str):
        return value.data
    if isinstance(value.data, list):
        return " ".join(value.data)
    return ""
