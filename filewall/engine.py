"""The scan engine: bytes in, a judged tree out. It knows no file format.

For each node it identifies the content, runs the analyzers registered for that kind,
then asks the extractors for children and recurses into each child *as it comes out*
(depth first), so at most one member per level is held at a time. Every limit from
:class:`~filewall.limits.Limits` is checked here, and reaching one is recorded as a fact.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from . import policy
from .content import Content
from .identify import HEAD_SIZE, identify
from .limits import Limits
from .model import Fact, Node, Report, Verdict
from .registry import Child, analyzers_for, extractors_for

log = logging.getLogger(__name__)


class ScanTimeout(Exception):
    """The per-file time limit ran out."""


class ExtractError(Exception):
    """An extractor could not read its container; the message says why, in plain words."""


@dataclass
class ScanOptions:
    """What the caller tells the engine about one scan."""

    limits: Limits = field(default_factory=Limits.from_env)
    #: Passwords to try on encrypted containers, most likely first.
    passwords: list[str] = field(default_factory=list)
    #: Extra YARA rule folders and blocklist files (besides the built-in ones and env).
    rule_paths: list[str] = field(default_factory=list)
    blocklist_paths: list[str] = field(default_factory=list)
    #: Where the scan-owned temp folder is created (default: the system temp folder).
    temp_root: str | None = None
    #: The conversation's analysis (``filewall.chat.ChatResult.to_dict()``), weighed with
    #: the file by the policy when given.
    chat: dict[str, Any] | None = None
    #: Called with each node that has content, after its analyzers and before it is
    #: unpacked (e.g. the desk's safe-view collector). Errors it raises are logged, never
    #: fatal; the content is only valid during the call.
    on_node: Callable[[Node, Content], None] | None = None


class ScanContext:
    """State shared by the extractors and analyzers of one input file."""

    def __init__(self, options: ScanOptions, temp_dir: str | Callable[[], str]):
        self.options = options
        self.limits = options.limits
        #: A path, or a callable that creates the folder on first use (most scans need none).
        self._temp_dir = temp_dir
        self.deadline = time.monotonic() + self.limits.max_seconds
        self.bytes_unpacked = 0
        self.members = 0
        #: Free-form state for analyzers that need to share across nodes.
        self.state: dict[str, Any] = {}

    @property
    def temp_dir(self) -> str:
        """The scan's private temp folder, created on first use."""
        return self._temp_dir() if callable(self._temp_dir) else self._temp_dir

    @property
    def passwords(self) -> list[str]:
        return self.options.passwords[: self.limits.max_passwords]

    def fact(self, node: Node, rule: str, **params: Any) -> None:
        """Record an observation about ``node``; the policy judges it later."""
        if not any(fact.rule == rule and fact.params == params for fact in node.facts):
            node.facts.append(Fact(rule, node.path, params))

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise ScanTimeout()

    def remaining_bytes(self) -> int:
        return max(0, self.limits.max_total_bytes - self.bytes_unpacked)


def scan_path(path: str, options: ScanOptions | None = None, display_name: str | None = None) -> Report:
    """Scan one file on disk and return its judged report. Never raises for bad input."""
    options = options or ScanOptions()
    started = time.perf_counter()
    name = display_name or os.path.basename(path) or path
    with _scan_temp_dir(options) as temp_dir:
        ctx = ScanContext(options, temp_dir)
        try:
            content = Content.from_file(
                path,
                max_bytes=options.limits.max_file_size,
                spool_threshold=options.limits.spool_threshold,
                temp_dir=temp_dir,
            )
        except OSError as error:
            return _unreadable_report(path, name, error, started)
        return _scan_root(path, name, content, ctx, started)


def scan_bytes(data: bytes, name: str, options: ScanOptions | None = None) -> Report:
    """Scan bytes held in memory (an upload, a stream from a protocol server)."""
    options = options or ScanOptions()
    started = time.perf_counter()
    with _scan_temp_dir(options) as temp_dir:
        ctx = ScanContext(options, temp_dir)
        limit = options.limits.max_file_size
        content = Content.from_bytes(data[:limit])
        if len(data) > limit:
            content.outcome.truncated, content.outcome.reason = True, "size"
        return _scan_root(name, name, content, ctx, started)


def _scan_root(path: str, name: str, content: Content, ctx: ScanContext, started: float) -> Report:
    root = Node(name=name, path=name, depth=0)
    try:
        _process(root, content, ctx)
    except ScanTimeout:
        ctx.fact(root, "limit.time", seconds=ctx.limits.max_seconds)
    finally:
        content.close()
    report = policy.judge(path, root)
    if ctx.options.chat is not None:
        policy.combine_with_chat(report, ctx.options.chat)
    report.elapsed_ms = (time.perf_counter() - started) * 1000
    return report


def _process(node: Node, content: Content | None, ctx: ScanContext) -> None:
    """Identify, analyze and unpack one node, then its children, depth first."""
    ctx.check_time()
    if content is not None:
        _describe(node, content, ctx)
    for plugin in analyzers_for(node.kind, content is not None):
        ctx.check_time()
        try:
            plugin.function(node, content, ctx)
        except ScanTimeout:
            raise
        except Exception as error:  # a parser failing on hostile input must not end the scan
            log.debug("analyzer %s failed on %s", plugin.name, node.path, exc_info=True)
            ctx.fact(node, "scan.analyzer_failed", analyzer=plugin.name, error=_short(error))
    if content is None:
        return
    if ctx.options.on_node is not None:
        try:
            ctx.options.on_node(node, content)
        except Exception:  # a caller's hook must not end the scan
            log.debug("on_node hook failed on %s", node.path, exc_info=True)
    for plugin in extractors_for(node.kind):
        _unpack(node, content, ctx, plugin)


def _describe(node: Node, content: Content, ctx: ScanContext) -> None:
    node.size = content.size
    node.md5, node.sha1, node.sha256 = content.md5, content.sha1, content.sha256
    file_type = identify(content.head(HEAD_SIZE), content.size)
    node.kind, node.mime = file_type.kind, file_type.mime
    if content.outcome.truncated:
        node.truncated = True
        ctx.fact(node, "limit.file_size", limit=ctx.limits.max_file_size)


def _unpack(node: Node, content: Content, ctx: ScanContext, plugin) -> None:
    if node.depth >= ctx.limits.max_depth:
        ctx.fact(node, "limit.depth", limit=ctx.limits.max_depth)
        return
    try:
        for child in plugin.function(node, content, ctx):
            if not _admit_child(node, ctx):
                break
            _process_child(node, child, ctx)
    except ScanTimeout:
        raise
    except ExtractError as error:
        ctx.fact(node, "file.corrupt", reason=str(error), format=node.kind)
    except Exception as error:  # hostile or broken input: an error fact, never a crash
        log.debug("extractor %s failed on %s", plugin.name, node.path, exc_info=True)
        ctx.fact(node, "file.corrupt", reason=_short(error), format=node.kind)


def _admit_child(parent: Node, ctx: ScanContext) -> bool:
    ctx.check_time()
    if ctx.members >= ctx.limits.max_members:
        ctx.fact(parent, "limit.members", limit=ctx.limits.max_members)
        return False
    if ctx.remaining_bytes() <= 0:
        ctx.fact(parent, "limit.total_bytes", limit=ctx.limits.max_total_bytes)
        return False
    ctx.members += 1
    return True


def _process_child(parent: Node, child: Child, ctx: ScanContext) -> None:
    name = child.name or "(no name)"
    node = Node(name=name, path=f"{parent.path}/{name}", depth=parent.depth + 1)
    node.info.update(child.info)
    parent.children.append(node)
    for rule, params in child.facts:
        ctx.fact(node, rule, **params)
    content = _read_child(node, child, ctx) if child.open is not None else None
    if content is None:
        node.has_content = False
    try:
        _process(node, content, ctx)
    finally:
        if content is not None:
            content.close()


def _read_child(node: Node, child: Child, ctx: ScanContext) -> Content | None:
    limits = ctx.limits
    budget = min(limits.max_file_size, ctx.remaining_bytes())
    declared = child.declared_size
    if declared is not None and declared > budget:
        # Claims to be larger than we may unpack: read only a head sample so that what it
        # is (a padded program, a bomb of zeros) is still known.
        ctx.fact(node, "archive.decompression_bomb", declared_size=declared, packed_size=child.packed_size)
        budget = min(budget, limits.bomb_sample_bytes)
    try:
        with child.open() as stream:
            content = Content.from_stream(
                stream, max_bytes=budget, spool_threshold=limits.spool_threshold, temp_dir=ctx._temp_dir
            )
    except ScanTimeout:
        raise
    except Exception as error:
        ctx.fact(node, "file.corrupt", reason=_short(error), format="member")
        return None
    ctx.bytes_unpacked += content.size
    if content.outcome.truncated:
        node.truncated = True
        if declared is None or declared <= budget:
            ctx.fact(node, "limit.file_size", limit=budget)
    packed = child.packed_size
    if packed and content.size >= limits.ratio_min_size and content.size / packed > limits.max_ratio:
        ctx.fact(node, "archive.decompression_bomb", declared_size=declared or content.size, packed_size=packed)
    return content


def _unreadable_report(path: str, name: str, error: OSError, started: float) -> Report:
    root = Node(name=name, path=name, has_content=False)
    root.facts.append(Fact("file.unreadable", name, {"reason": error.strerror or str(error)}))
    report = policy.judge(path, root)
    report.elapsed_ms = (time.perf_counter() - started) * 1000
    return report


class _scan_temp_dir:
    """A private temp folder for one scan, removed afterwards whatever happens.

    Created on first use only: a mkdtemp + rmtree pair costs ~0.8 ms, more than scanning a
    small photo, and most scans never spool anything to disk.
    """

    def __init__(self, options: ScanOptions):
        self.root = options.temp_root
        self.path: str | None = None

    def __enter__(self) -> _scan_temp_dir:
        return self

    def __call__(self) -> str:
        if self.path is None:
            self.path = tempfile.mkdtemp(prefix="filewall-", dir=self.root)
        return self.path

    def __exit__(self, *exc) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)


def _short(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= 300 else text[:297] + "..."


def iter_files(paths: Iterable[str]) -> Iterable[str]:
    """Expand folders recursively (sorted, stable order); files are yielded as given."""
    for path in paths:
        if os.path.isdir(path):
            for folder, dirs, files in os.walk(path):
                dirs.sort()
                for file_name in sorted(files):
                    yield os.path.join(folder, file_name)
        else:
            yield path


__all__ = ["ScanContext", "ScanOptions", "ExtractError", "ScanTimeout", "scan_path", "scan_bytes", "iter_files", "Verdict"]
