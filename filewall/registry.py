"""How extractors and analyzers plug into the engine.

An *extractor* takes a node of a kind it knows (``zip``, ``pe`` ...) and yields
:class:`Child` entries; the engine reads, limits, hashes and recurses into them. An
*analyzer* looks at a node and records facts with ``ctx.fact(node, rule, **params)``.
Neither decides a verdict.

Modules in :mod:`filewall.extract` and :mod:`filewall.analyze` register themselves with
the decorators below and are imported automatically, so adding a format is adding a file.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    from .content import Content
    from .engine import ScanContext
    from .model import Node


@dataclass
class Child:
    """One member an extractor found inside a container."""

    #: The member's name as stored, decoded to text (the engine never trusts it as a path).
    name: str
    #: Opens the member's bytes as a stream; None when they cannot be had (e.g. encrypted).
    open: Callable[[], BinaryIO] | None
    #: Size the container declares for the member, if it says (used for bomb checks).
    declared_size: int | None = None
    #: Bytes the member takes inside the container, if known.
    packed_size: int | None = None
    #: Facts about the member itself, e.g. ``("archive.link", {"target": ...})``.
    facts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    #: Details shown in the tree (timestamps, method, encryption ...).
    info: dict[str, Any] = field(default_factory=dict)


ExtractFn = Callable[["Node", "Content", "ScanContext"], Iterable[Child]]
AnalyzeFn = Callable[["Node", "Content | None", "ScanContext"], None]


@dataclass
class Plugin:
    name: str
    kinds: frozenset[str] | None  # None: every kind
    function: Callable
    #: Analyzers with needs_content=False also run on name-only nodes.
    needs_content: bool = True
    order: int = 100


_EXTRACTORS: list[Plugin] = []
_ANALYZERS: list[Plugin] = []
_loaded = False


def extractor(*kinds: str, name: str | None = None) -> Callable[[ExtractFn], ExtractFn]:
    """Register a function ``(node, content, ctx) -> Iterable[Child]`` for these kinds."""

    def register(function: ExtractFn) -> ExtractFn:
        _EXTRACTORS.append(Plugin(name or _plugin_name(function), frozenset(kinds), function))
        return function

    return register


def analyzer(
    *kinds: str, name: str | None = None, needs_content: bool = True, order: int = 100
) -> Callable[[AnalyzeFn], AnalyzeFn]:
    """Register a function ``(node, content, ctx) -> None``; no kinds means every node.

    ``order`` sorts analyzers (lower first) for the few that use another's results.
    """

    def register(function: AnalyzeFn) -> AnalyzeFn:
        plugin = Plugin(
            name or _plugin_name(function), frozenset(kinds) or None, function, needs_content, order
        )
        _ANALYZERS.append(plugin)
        _ANALYZERS.sort(key=lambda item: item.order)
        return function

    return register


def extractors_for(kind: str) -> list[Plugin]:
    load_plugins()
    return [plugin for plugin in _EXTRACTORS if kind in plugin.kinds]


def analyzers_for(kind: str, has_content: bool) -> list[Plugin]:
    load_plugins()
    return [
        plugin
        for plugin in _ANALYZERS
        if (plugin.kinds is None or kind in plugin.kinds) and (has_content or not plugin.needs_content)
    ]


def load_plugins() -> None:
    """Import every module of the extract and analyze packages once."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for package_name in ("filewall.extract", "filewall.analyze"):
        package = importlib.import_module(package_name)
        for module in pkgutil.iter_modules(package.__path__):
            if not module.name.startswith("_"):
                importlib.import_module(f"{package_name}.{module.name}")


def _plugin_name(function: Callable) -> str:
    return f"{function.__module__.rsplit('.', 1)[-1]}.{function.__name__}"
