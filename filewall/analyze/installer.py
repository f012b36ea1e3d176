"""Installers: what an MSI runs while installing, and which setup builder made a program.

An installer from a customer is ``malicious`` by policy already (``type.installer``, from
:mod:`filewall.analyze.filetype` for MSI, from here for setup programs); these facts say
*what* it would run, so the agent and whoever investigates see the command.

- MSI: the ``CustomAction`` table (read with :class:`filewall.extract.installer.MsiDatabase`):
  actions that run a program, a DLL, a script or a nested installer, with their command.
- Setup programs: NSIS (``NullsoftInst`` header), InstallShield, Inno Setup and WiX Burn
  bundles, recognised by the markers their builders leave in the program.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..extract._docs import add_urls, shorten, urls_in_text
from ..extract.installer import NSIS_MAGIC, MsiDatabase
from ..extract.ole import open_ole
from ..registry import analyzer

if TYPE_CHECKING:
    from ..content import Content
    from ..engine import ScanContext
    from ..model import Node

#: Custom action code (type & 7) → (what it runs, in English and Chinese).
_CODE_TYPES = {
    1: ("a DLL", "DLL 程序库"),
    2: ("a program", "程序"),
    5: ("a JScript script", "JScript 脚本"),
    6: ("a VBScript script", "VBScript 脚本"),
    7: ("another installer", "另一个安装包"),
}
#: Where the code comes from (type & 0x30).
_SOURCES = {0x00: "stored in the package", 0x10: "an installed file", 0x20: "a folder", 0x30: "a property"}
#: Bytes searched for setup-builder markers (they sit in the program, not the payload).
_MARKER_WINDOW = 4 * 1024 * 1024
_BUILDERS = [
    (
        re.compile(
            rb'name="InstallShield\.Setup"|InstallShield Wizard|ISSetupStream|InstallShield setup\.exe'
        ),
        "InstallShield",
        "InstallShield",
    ),
    (re.compile(rb"Inno Setup Setup Data|JR\.Inno\.Setup"), "Inno Setup", "Inno Setup"),
    (re.compile(rb"\.wixburn"), "WiX Burn bundle", "WiX Burn"),
]


@analyzer("msi", order=40)
def msi_custom_actions(node: Node, content: Content, ctx: ScanContext) -> None:
    try:
        ole = open_ole(content.open())
    except Exception:
        return  # the extractor reports a damaged package
    with ole:
        database = MsiDatabase(ole)
        actions = database.table("CustomAction")
        properties = {row.get("Property"): row.get("Value") for row in database.table("Property")}
    node.info["msi"] = {
        "custom_actions": [_describe(row) for row in actions[:100]],
        "binaries": sorted(name for name in database.streams if name.startswith("Binary."))[:100],
    }
    running = [row for row in actions if _code(row) in _CODE_TYPES]
    if not running:
        return
    whats = list(dict.fromkeys(_CODE_TYPES[_code(row)][0] for row in running))
    whats_zh = list(dict.fromkeys(_CODE_TYPES[_code(row)][1] for row in running))
    shown = "; ".join(_command(row, properties) for row in running[:4])
    ctx.fact(
        node,
        "installer.custom_action",
        what=", ".join(whats),
        what_zh="、".join(whats_zh),
        action=shorten(shown, 240),
    )
    add_urls(node, urls_in_text(" ".join(str(row.get("Target") or "") for row in actions)))


@analyzer("pe", order=40)
def setup_program(node: Node, content: Content, ctx: ScanContext) -> None:
    view = content.view()
    if view.find(NSIS_MAGIC) >= 0:
        node.info["installer"] = "NSIS"
        ctx.fact(node, "type.installer", what="an NSIS setup program", what_zh="NSIS 安装程序")
        return
    window = bytes(view[:_MARKER_WINDOW])
    for pattern, name, name_zh in _BUILDERS:
        if pattern.search(window):
            node.info["installer"] = name
            ctx.fact(
                node,
                "type.installer",
                what=f"an {name} setup program" if name[0] in "AEIOU" else f"a {name} setup program",
                what_zh=f"{name_zh} 安装程序",
            )
            return


def _code(row: dict) -> int:
    return (row.get("Type") or 0) & 0x07


def _describe(row: dict) -> dict:
    kind = row.get("Type") or 0
    return {
        "action": row.get("Action"),
        "type": kind,
        "runs": _CODE_TYPES.get(kind & 0x07, ("other", ""))[0],
        "from": _SOURCES.get(kind & 0x30, ""),
        "source": row.get("Source"),
        "target": shorten(str(row.get("Target") or ""), 300),
    }


def _command(row: dict, properties: dict) -> str:
    """The action as a person would read it: name, what it starts, its arguments."""
    kind = row.get("Type") or 0
    source = str(row.get("Source") or "")
    if kind & 0x30 == 0x30:  # the program's path is in a property
        source = str(properties.get(source) or source)
    return f"{row.get('Action')}: {source} {row.get('Target') or ''}".strip()
