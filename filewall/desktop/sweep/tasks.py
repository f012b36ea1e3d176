"""Scheduled tasks, from both places Windows keeps them — a task can hide in one:

- the XML files under ``C:\\Windows\\System32\\Tasks`` (UTF-16; ``Actions/Exec``
  ``Command`` and ``Arguments``, ``Principal``, ``Settings/Hidden`` …);
- the registry ``…\\Schedule\\TaskCache\\Tree`` (one key per task, value ``Id`` and the
  security descriptor ``SD``) and ``…\\TaskCache\\Tasks\\{Id}`` (``Path``, and the
  actions as a binary ``Actions`` value).

A task in the registry without an ``SD`` value does not show in Task Scheduler (the
"GhostTask"/Tarrask trick); a task in the registry whose XML file is missing does not
show either. Both are findings (``sweep.task_hidden``).
"""

from __future__ import annotations

import os
import re
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

from .judge import describe_launch
from .model import Collected, SweepEntry
from .registry import HKLM, RegistrySource
from .target import Target

TASKS_FOLDER = r"C:\Windows\System32\Tasks"
TASKCACHE = rf"{HKLM}\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Schedule\TaskCache"
MAX_TASK_XML = 1024 * 1024
EXEC_ACTION, COM_ACTION, EMAIL_ACTION, MESSAGE_ACTION = 0x6666, 0x7777, 0x8888, 0x9999


def collect_tasks(target: Target, registry: RegistrySource | None) -> Collected:
    out = Collected()
    xml_tasks, folder_read = _xml_tasks(target, out)
    cache_tasks, cache_read = _taskcache_tasks(registry, out) if registry is not None else ({}, False)
    for key in sorted(set(xml_tasks) | set(cache_tasks)):
        xml = xml_tasks.get(key)
        cached = cache_tasks.get(key)
        actions = (xml or {}).get("actions") or (cached or {}).get("actions") or [{"command": "", "arguments": ""}]
        for index, action in enumerate(actions):
            name = (xml or cached)["path"]
            command = _join(action.get("command", ""), action.get("arguments", ""))
            location = (xml or {}).get("file") or (cached or {}).get("key") or name
            entry = SweepEntry("autostart", "task", location, name, command=command)
            if action.get("clsid"):
                entry.details["com_handler"] = action["clsid"]
            if xml:
                entry.details.update({key: xml[key] for key in ("author", "user", "run_level", "triggers") if xml.get(key)})
                entry.enabled = xml.get("enabled", True)
                if xml.get("hidden"):
                    entry.details["hidden_flag"] = True
            if cached:
                entry.details["taskcache_id"] = cached.get("id")
            if index == 0:
                _hidden_facts(entry, xml, cached, folder_read, cache_read)
            describe_launch(entry, target)
            out.entries.append(entry)
    return out


def _hidden_facts(entry: SweepEntry, xml: dict | None, cached: dict | None, folder_read: bool, cache_read: bool) -> None:
    if cached and cached.get("no_sd"):
        entry.fact("sweep.task_hidden", name=entry.name, why="its security descriptor (SD) was removed from the registry",
                   why_zh="注册表中它的安全描述符（SD）被删除了")
    elif cached and xml is None and folder_read:
        entry.fact("sweep.task_hidden", name=entry.name,
                   why=r"it is registered in the registry but has no file in C:\Windows\System32\Tasks",
                   why_zh=r"它在注册表中登记了，但 C:\Windows\System32\Tasks 中没有对应文件")
    if xml and cached is None and cache_read:
        entry.details["note"] = "task file without a TaskCache registration (not loaded by Task Scheduler)"


# -- the XML files ---------------------------------------------------------------------------


def _xml_tasks(target: Target, out: Collected) -> tuple[dict[str, dict], bool]:
    folder = target.local(TASKS_FOLDER)
    tasks: dict[str, dict] = {}
    if folder is None or not folder.is_dir():
        return tasks, False
    read_all = True

    def failed(error: OSError) -> None:
        nonlocal read_all
        read_all = False
        out.cannot_read("task", error.filename or str(folder), error)

    for root, dirs, files in os.walk(folder, onerror=failed):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            try:
                with open(path, "rb") as handle:
                    data = handle.read(MAX_TASK_XML)
            except OSError as error:
                read_all = False
                out.cannot_read("task", str(path), error)
                continue
            task_path = "\\" + "\\".join(path.relative_to(folder).parts)
            parsed = parse_task_xml(data)
            if parsed is None:
                out.cannot_read("task", str(path), "not a task XML file")
                continue
            parsed["path"] = task_path
            parsed["file"] = target.shown(path)
            tasks[task_path.lower()] = parsed
    return tasks, read_all


def parse_task_xml(data: bytes) -> dict | None:
    """Actions, principal, settings and triggers of one task file; None if not a task."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        text = data.decode("utf-16", errors="replace")
    elif data[:3] == b"\xef\xbb\xbf":
        text = data[3:].decode("utf-8", errors="replace")
    elif len(data) > 3 and data[1:2] == b"\x00":
        text = data.decode("utf-16-le", errors="replace")
    else:
        text = data.decode("utf-8", errors="replace")
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text.lstrip("\ufeff"))
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        return None  # task files never have them; entity tricks are not parsed
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return None
    if _local(root.tag) != "Task":
        return None
    task: dict = {"actions": [], "triggers": []}
    for element in root.iter():
        tag = _local(element.tag)
        if tag == "Exec":
            task["actions"].append({"command": _child_text(element, "Command"), "arguments": _child_text(element, "Arguments"),
                                    "working_dir": _child_text(element, "WorkingDirectory")})
        elif tag == "ComHandler":
            task["actions"].append({"command": "", "arguments": _child_text(element, "Data"),
                                    "clsid": _child_text(element, "ClassId")})
        elif tag == "Author" and element.text:
            task["author"] = element.text.strip()
        elif tag == "UserId" and element.text:
            task["user"] = element.text.strip()
        elif tag == "RunLevel" and element.text:
            task["run_level"] = element.text.strip()
        elif tag == "Hidden" and (element.text or "").strip().lower() == "true":
            task["hidden"] = True
    for element in root:
        if _local(element.tag) == "Triggers":
            task["triggers"] = [_local(child.tag) for child in element]
        elif _local(element.tag) == "Settings":
            task["enabled"] = _child_text(element, "Enabled").lower() != "false"
    return task


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child_text(element: ET.Element, name: str) -> str:
    for child in element:
        if _local(child.tag) == name:
            return (child.text or "").strip()
    return ""


# -- the registry TaskCache -------------------------------------------------------------------


def _taskcache_tasks(registry: RegistrySource, out: Collected) -> tuple[dict[str, dict], bool]:
    tasks: dict[str, dict] = {}
    tree = f"{TASKCACHE}\\Tree"
    if not registry.exists(tree):
        return tasks, False
    read_all = True
    stack = [("", tree)]
    while stack:
        task_path, key = stack.pop()
        try:
            values = registry.values(key)
            children = registry.subkeys(key)
        except PermissionError as error:
            read_all = False
            out.cannot_read("task", key, error)
            continue
        if "id" in values and task_path:
            task_id = str(values["id"].data)
            info = {"path": task_path, "key": key, "id": task_id, "no_sd": "sd" not in values, "actions": []}
            try:
                details = registry.values(f"{TASKCACHE}\\Tasks\\{task_id}")
            except PermissionError as error:
                read_all = False
                out.cannot_read("task", f"{TASKCACHE}\\Tasks\\{task_id}", error)
                details = {}
            actions = details.get("actions")
            if actions is not None and isinstance(actions.data, (bytes, bytearray)):
                info["actions"] = parse_taskcache_actions(bytes(actions.data))
            tasks[task_path.lower()] = info
        for child in sorted(children, reverse=True):
            stack.append((f"{task_path}\\{child}", f"{key}\\{child}"))
    return tasks, read_all


def parse_taskcache_actions(blob: bytes) -> list[dict]:
    """The ``Actions`` value: u16 version, a length-prefixed UTF-16 context string, then
    actions, each a u16 type (0x6666 exec, 0x7777 COM handler, 0x8888 e-mail, 0x9999
    message) and length-prefixed UTF-16 fields (exec: id, command, arguments, working
    folder, then u16 flags from version 3). Anything odd stops the walk: what was read
    so far is kept."""
    actions: list[dict] = []
    try:
        (version,) = struct.unpack_from("<H", blob, 0)
        _, offset = _bstring(blob, 2)
        while offset + 2 <= len(blob):
            (kind,) = struct.unpack_from("<H", blob, offset)
            offset += 2
            _, offset = _bstring(blob, offset)  # action id
            if kind == EXEC_ACTION:
                command, offset = _bstring(blob, offset)
                arguments, offset = _bstring(blob, offset)
                working, offset = _bstring(blob, offset)
                if version >= 3:
                    offset += 2
                actions.append({"command": command, "arguments": arguments, "working_dir": working})
            elif kind == COM_ACTION:
                clsid = blob[offset : offset + 16]
                offset += 16
                data, offset = _bstring(blob, offset)
                actions.append({"command": "", "arguments": data, "clsid": _guid(clsid)})
            else:
                break  # e-mail / message actions start nothing; their layout is not needed
    except (struct.error, ValueError):
        pass
    return actions


def _bstring(blob: bytes, offset: int) -> tuple[str, int]:
    (size,) = struct.unpack_from("<I", blob, offset)
    offset += 4
    if size > len(blob) - offset or size > 65536:
        raise ValueError("bad string length")
    return blob[offset : offset + size].decode("utf-16-le", errors="replace").rstrip("\x00"), offset + size


def _guid(raw: bytes) -> str:
    if len(raw) != 16:
        return ""
    a, b, c = struct.unpack_from("<IHH", raw)
    rest = raw[8:].hex()
    return f"{{{a:08X}-{b:04X}-{c:04X}-{rest[:4].upper()}-{rest[4:].upper()}}}"


def _join(command: str, arguments: str) -> str:
    command = command.strip()
    if not command:
        return arguments.strip()
    quoted = f'"{command}"' if " " in command and not command.startswith('"') else command
    return f"{quoted} {arguments.strip()}".strip()
