"""Loading and caching of YARA rules and hash blocklists, once per process.

Where rules come from, in this order:

- the built-in folder ``filewall/data/rules/`` (``*.yar``, ``*.yara``);
- ``FILEWALL_RULES``: files or folders separated by :data:`os.pathsep`;
- :attr:`filewall.engine.ScanOptions.rule_paths`.

Blocklists likewise: ``filewall/data/blocklists/``, ``FILEWALL_BLOCKLIST`` and
:attr:`~filewall.engine.ScanOptions.blocklist_paths`. A blocklist line may be

- a bare hash (MD5, SHA-1 or SHA-256, told apart by length), optionally followed by a
  label after whitespace, a comma or a semicolon (``# source: name`` names the list);
- a ClamAV hash signature (``.hdb``/``.hsb``/``.hdu``/``.hsu``): ``hash:size:name[:flevel]``;
- a row of MalwareBazaar's CSV export. Its header is a comment line
  ``# "first_seen_utc","sha256_hash","md5_hash","sha1_hash","reporter","file_name",
  "file_type_guess","mime_type","signature","clamav","vtpercent","imphash","ssdeep","tlsh"``
  and rows are quoted, separated by ``", "``, with ``n/a`` for empty. Columns are found
  by name from that header (this order is assumed when it is missing); the sha256, md5
  and sha1 of a row all point at its ``signature`` (else ``file_type_guess``) label.

``.gz`` and ``.zip`` (first member) lists are read as they are, e.g. MalwareBazaar's
``full.csv.zip``. Everything is cached at module level, keyed by the resolved paths plus
each file's size and modification time: a forked scan worker loads once, and a list
updated on disk is picked up by the next scan. A broken rule file or blocklist is
skipped with a warning on stderr; the rest still loads.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import sys
import threading
import time
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

import numpy as np
import yara_x

from .datadir import DATA_ENV, DataLayout

DATA_DIR = Path(__file__).resolve().parent / "data"
BUILTIN_RULES = DATA_DIR / "rules"
BUILTIN_BLOCKLISTS = DATA_DIR / "blocklists"
RULES_ENV = "FILEWALL_RULES"
BLOCKLIST_ENV = "FILEWALL_BLOCKLIST"

RULE_SUFFIXES = (".yar", ".yara")
#: Files picked up from a blocklist *folder*; a file named explicitly is always read.
BLOCKLIST_SUFFIXES = (
    ".txt", ".csv", ".tsv", ".lst", ".list", ".hdb", ".hsb", ".hdu", ".hsu",
    ".md5", ".sha1", ".sha256", ".gz", ".zip",
)  # fmt: skip
#: Hex length of each supported digest.
HASH_LENGTHS = {32: "md5", 40: "sha1", 64: "sha256"}
_HEX_RE = re.compile(r"[0-9a-fA-F]+")
_MB_COLUMNS = (
    "first_seen_utc", "sha256_hash", "md5_hash", "sha1_hash", "reporter", "file_name",
    "file_type_guess", "mime_type", "signature", "clamav", "vtpercent", "imphash", "ssdeep", "tlsh",
)  # fmt: skip

_lock = threading.Lock()
_rule_cache: dict[tuple[str, ...], tuple[tuple, RuleSet]] = {}
_blocklist_cache: dict[tuple[str, ...], tuple[tuple, Blocklist]] = {}


_warned: set[str] = set()


def warn(message: str) -> None:
    """Tell the operator about a rule or list that could not be used (stderr, one line,
    once per process: a long-running service does not repeat it for every file)."""
    if message in _warned:
        return
    _warned.add(message)
    print(f"filewall: warning: {message}", file=sys.stderr, flush=True)


# -- where files come from ---------------------------------------------------------------------


def _env_paths(name: str, environ: dict[str, str] | None) -> list[str]:
    raw = (os.environ if environ is None else environ).get(name, "")
    return [part for part in raw.split(os.pathsep) if part.strip()]


def _expand(paths: Iterable[str | Path], suffixes: tuple[str, ...]) -> list[Path]:
    """Files named directly, plus files with ``suffixes`` found (recursively) in folders."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            for folder, dirs, files in os.walk(path):
                dirs.sort()
                found.extend(
                    Path(folder, name)
                    for name in sorted(files)
                    if name.lower().endswith(suffixes) and not name.startswith(".")
                )
        elif path.is_file():
            found.append(path)
        else:
            warn(f"{path} does not exist; ignored")
    unique: dict[str, Path] = {}
    for path in found:
        unique.setdefault(str(path.resolve()), path)
    return list(unique.values())


def _update_paths(kind: str, environ: dict[str, str] | None) -> list[Path]:
    """The verified platform update (``filewall update``): ``<data>/updates/{rules,blocklist}``."""
    layout = DataLayout.given(environ=environ)
    folder = {"rules": layout.update_rules_dir, "blocklist": layout.update_blocklist_dir}[kind]
    return [folder] if folder.is_dir() else []


def rule_files(extra: Sequence[str] = (), environ: dict[str, str] | None = None) -> list[Path]:
    """Every YARA file to compile: built-in, the platform update, ``FILEWALL_RULES``, ``extra``."""
    return _expand(
        [BUILTIN_RULES, *_update_paths("rules", environ), *_env_paths(RULES_ENV, environ), *extra],
        RULE_SUFFIXES,
    )


def blocklist_files(extra: Sequence[str] = (), environ: dict[str, str] | None = None) -> list[Path]:
    """Every blocklist to read: built-in, the platform update, ``FILEWALL_BLOCKLIST``, ``extra``."""
    return _expand(
        [
            BUILTIN_BLOCKLISTS,
            *_update_paths("blocklist", environ),
            *_env_paths(BLOCKLIST_ENV, environ),
            *extra,
        ],
        BLOCKLIST_SUFFIXES,
    )


def _stamp(files: list[Path]) -> tuple:
    stamp = []
    for path in files:
        try:
            info = path.stat()
            stamp.append((info.st_size, info.st_mtime_ns))
        except OSError:
            stamp.append(None)
    return tuple(stamp)


def _cached(cache: dict, files: list[Path], build):
    key = tuple(str(path) for path in files)
    stamp = _stamp(files)
    with _lock:
        hit = cache.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        value = build(files)
        cache[key] = (stamp, value)
        return value


def clear_caches() -> None:
    """Forget every compiled rule set and blocklist (tests, or after an update)."""
    with _lock:
        _listings.clear()
        _rule_cache.clear()
        _blocklist_cache.clear()
        _warned.clear()


def preload(rule_paths: Sequence[str] = (), blocklist_paths: Sequence[str] = ()) -> None:
    """Load both now, e.g. in a parent process before it forks its scan workers."""
    yara_rules(rule_paths)
    blocklist(blocklist_paths)


# -- YARA -------------------------------------------------------------------------------------------


@dataclass
class RuleSet:
    """Compiled YARA rules plus what was loaded and what was skipped."""

    rules: yara_x.Rules | None
    files: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def scanner(self) -> yara_x.Scanner | None:
        """A scanner for this thread (yara-x scanners are not shared between threads)."""
        if self.rules is None:
            return None
        scanner = getattr(self._local, "scanner", None)
        if scanner is None:
            scanner = self._local.scanner = yara_x.Scanner(self.rules)
        return scanner


#: How long a listing of the rule and blocklist folders is trusted before it is walked
#: again (to pick up changed files). Walking them for every scanned node cost more than
#: scanning a small photo.
LISTING_TTL = 5.0
_listings: dict[tuple, tuple[float, list[Path]]] = {}


def _recent_listing(
    kind: str, extra: Sequence[str], environ: dict[str, str] | None, list_files
) -> list[Path]:
    key = (
        kind,
        tuple(extra),
        None if environ is None else tuple(sorted(environ.items())),
        os.environ.get(RULES_ENV),
        os.environ.get(BLOCKLIST_ENV),
        os.environ.get(DATA_ENV),
    )
    now = time.monotonic()
    cached = _listings.get(key)
    if cached is None or now - cached[0] > LISTING_TTL:
        cached = (now, list_files(extra, environ))
        _listings[key] = cached
    return cached[1]


def yara_rules(extra: Sequence[str] = (), environ: dict[str, str] | None = None) -> RuleSet:
    """The compiled rules for these extra paths (cached per process)."""
    return _cached(_rule_cache, _recent_listing("rules", extra, environ, rule_files), _compile)


def _compile(files: list[Path]) -> RuleSet:
    compiler = yara_x.Compiler()
    loaded, problems = [], []
    for index, path in enumerate(files):
        # One namespace per file: two files may both define a rule called "Suspicious".
        compiler.new_namespace(_namespace(index, path))
        try:
            source = path.read_text(encoding="utf-8", errors="replace")
            compiler.add_source(source, origin=str(path))
        except (OSError, yara_x.CompileError) as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            problems.append(f"{path}: {first_line}")
            warn(f"YARA rule file {path} was skipped: {first_line}")
            continue
        loaded.append(str(path))
    try:
        rules = compiler.build()
    except Exception as error:  # should not happen: failed sources are left out by yara-x
        warn(f"YARA rules could not be built: {error}")
        rules = None
    return RuleSet(rules, loaded, problems)


def _namespace(index: int, path: Path) -> str:
    origin = "builtin" if BUILTIN_RULES in path.resolve().parents else f"user{index}"
    return f"{origin}_{re.sub(r'[^0-9A-Za-z_]', '_', path.stem)}"


# -- blocklists -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """Why a hash is listed."""

    source: str
    label: str


class Blocklist:
    """Digests per hash type in numpy arrays, each pointing at a (source, label) entry.

    A million SHA-256 digests take 32 MB of rows plus 8 MB of sorted 64-bit prefixes
    and 4 MB of entry numbers, rather than ~100 MB of Python objects, and the pages stay
    shared between forked workers because no reference count is ever written into them.
    A lookup is a binary search on the prefix, then a full comparison.
    """

    def __init__(self) -> None:
        self._prefixes: dict[int, np.ndarray] = {}
        self._rows: dict[int, np.ndarray] = {}
        self._entry_of: dict[int, np.ndarray] = {}
        self.entries: list[Entry] = []
        self.files: list[str] = []
        self.problems: list[str] = []

    def __len__(self) -> int:
        return sum(len(array) for array in self._prefixes.values())

    def lookup(self, *hex_digests: str | None) -> Entry | None:
        """The entry of the first listed digest among ``hex_digests`` (any type), or None."""
        for hex_digest in hex_digests:
            if not hex_digest or len(hex_digest) not in self._prefixes:
                continue
            try:
                digest = bytes.fromhex(hex_digest)
            except ValueError:
                continue
            length = len(hex_digest)
            prefixes, rows = self._prefixes[length], self._rows[length]
            key = np.uint64(int.from_bytes(digest[:8], "big"))
            position = int(prefixes.searchsorted(key))
            # Walk the (almost always empty or one-long) run of equal prefixes.
            while position < len(prefixes) and prefixes[position] == key:
                if rows[position].tobytes() == digest:
                    return self.entries[int(self._entry_of[length][position])]
                position += 1
        return None

    def _build(self, raw: dict[int, list[bytes]], entry_ids: dict[int, list[np.ndarray]]) -> None:
        for length, parts in raw.items():
            if not parts:
                continue
            width = length // 2
            data = b"".join(parts)
            rows = np.frombuffer(data, dtype=np.uint8).reshape(-1, width)
            if width % 8 == 0:  # SHA-256, MD5: the prefixes are a strided view, no copy
                prefixes = np.frombuffer(data, dtype=">u8")[:: width // 8].astype(np.uint64)
            else:
                prefixes = np.ascontiguousarray(rows[:, :8]).view(">u8").ravel().astype(np.uint64)
            # Equal prefixes need no particular order: lookup compares the whole run.
            order = np.argsort(prefixes, kind="quicksort")
            self._prefixes[length] = prefixes[order]
            self._rows[length] = rows[order]
            self._entry_of[length] = np.concatenate(entry_ids[length])[order]


def blocklist(extra: Sequence[str] = (), environ: dict[str, str] | None = None) -> Blocklist:
    """The merged blocklist for these extra paths (cached per process)."""
    return _cached(
        _blocklist_cache, _recent_listing("blocklist", extra, environ, blocklist_files), _load_blocklists
    )


def _load_blocklists(files: list[Path]) -> Blocklist:
    builder = _Builder()
    problems = []
    for path in files:
        try:
            with _open_text(path) as stream:
                _parse_stream(stream, path.name, builder)
        except (OSError, UnicodeError, zipfile.BadZipFile, gzip.BadGzipFile, EOFError, csv.Error) as error:
            problems.append(f"{path}: {error}")
            warn(f"blocklist {path} could not be read: {error}")
            continue
        builder.files.append(str(path))
    result = builder.build()
    result.problems = problems
    return result


class _Builder:
    """Raw digests per hex length, with the number of their (source, label) entry."""

    def __init__(self) -> None:
        self.raw: dict[int, list[bytes]] = {length: [] for length in HASH_LENGTHS}
        self.ids: dict[int, list[np.ndarray]] = {length: [] for length in HASH_LENGTHS}
        self.entries: list[Entry] = []
        self.index: dict[tuple[str, str], int] = {}
        self.files: list[str] = []

    def entry(self, source: str, label: str) -> int:
        key = (source, label.strip())
        number = self.index.get(key)
        if number is None:
            number = self.index[key] = len(self.entries)
            self.entries.append(Entry(*key))
        return number

    def add(self, digests: Sequence[str], labels: Sequence[str] | str, source: str) -> None:
        """Add hex digests with one label each (or one label for all); bad ones are dropped.

        Works on whole chunks of a list at a time, so a million lines cost a few joins
        and one ``bytes.fromhex`` per chunk rather than a million Python calls.
        """
        if isinstance(labels, str):
            labels = [labels] * len(digests)
        lengths = set(map(len, digests))
        for length in lengths & HASH_LENGTHS.keys():
            if len(lengths) == 1:
                chosen, chosen_labels = list(digests), list(labels)
            else:
                kept = [(d, label) for d, label in zip(digests, labels, strict=True) if len(d) == length]
                chosen, chosen_labels = [d for d, _ in kept], [label for _, label in kept]
            try:
                raw = bytes.fromhex("".join(chosen))
            except ValueError:  # a stray non-hex line: check one by one (rare)
                kept = [
                    (d, label) for d, label in zip(chosen, chosen_labels, strict=True) if _HEX_RE.fullmatch(d)
                ]
                chosen, chosen_labels = [d for d, _ in kept], [label for _, label in kept]
                raw = bytes.fromhex("".join(chosen))
            if chosen:
                self.raw[length].append(raw)
                self.ids[length].append(self._numbers(chosen_labels, source))

    def _numbers(self, labels: list[str], source: str) -> np.ndarray:
        distinct = set(labels)
        if len(distinct) == 1:
            return np.full(len(labels), self.entry(source, labels[0]), dtype=np.uint32)
        numbers = {label: self.entry(source, label) for label in distinct}
        return np.array([numbers[label] for label in labels], dtype=np.uint32)

    def build(self) -> Blocklist:
        result = Blocklist()
        result.entries, result.files = self.entries, self.files
        result._build(self.raw, self.ids)
        return result


#: ``hash``, then an optional label after whitespace, a comma or a semicolon.
_PLAIN_RE = re.compile(r"^[ \t]*([0-9A-Fa-f]+)(?![0-9A-Fa-f:])[ \t,;]*([^\r\n]*)", re.M)
#: ClamAV ``.hdb``/``.hsb``: ``hash:size:name[:flevel]`` (size may be ``*``).
_CLAM_RE = re.compile(r"^[ \t]*([0-9A-Fa-f]+):[^:\r\n]*:([^:\r\n]*)", re.M)
_SOURCE_RE = re.compile(r"^#[ \t#]*source:[ \t]*(.+)$", re.I)
_CHUNK_CHARS = 8 * 1024 * 1024


def _parse_stream(stream, name: str, builder: _Builder) -> None:
    """Read one list in chunks of whole lines (memory stays at a few chunk sizes).

    Lines are only split when a chunk holds comments or CSV rows: a plain list of bare
    hashes is handled as one ``split()`` and one ``bytes.fromhex`` per chunk.
    """
    source = name
    columns: dict[str, int] | None = None
    for chunk in _chunks(stream):
        if "#" in chunk or '"' in chunk:
            lines = chunk.splitlines()
            for line in (line for line in lines if line[:1] == "#"):
                match = _SOURCE_RE.match(line)
                source = match.group(1).strip() if match else source
                if '"sha256_hash"' in line:
                    columns = _csv_columns(line.lstrip("#").strip())
            quoted = [line for line in lines if line[:1] == '"']
            if quoted:
                _add_bazaar(quoted, columns, builder)
            chunk = "\n".join(line for line in lines if line[:1] not in ('"', "#"))
        _add_hash_lines(chunk, source, name, builder)


def _add_hash_lines(text: str, source: str, name: str, builder: _Builder) -> None:
    """Bare hashes (fast path), ``hash label`` lines, and ClamAV ``hash:size:name`` lines."""
    first = text[: text.find("\n", 0, 4096) % 4096].strip()
    # One hash per line and nothing else (the usual feed): a single split and fromhex.
    tokens = [] if any(char in first for char in " \t,;:") else text.split()
    if tokens and set(map(len, tokens)) <= HASH_LENGTHS.keys():
        try:
            bytes.fromhex("".join(tokens))
        except ValueError:
            pass
        else:
            builder.add(tokens, "", source)
            return
    pairs = _PLAIN_RE.findall(text)
    if pairs:
        digests, labels = zip(*pairs, strict=True)
        builder.add(digests, labels, source)
    if ":" in text:
        pairs = _CLAM_RE.findall(text)
        if pairs:
            digests, labels = zip(*pairs, strict=True)
            builder.add(digests, labels, f"ClamAV signatures {name}")


def _chunks(stream) -> Iterator[str]:
    rest = ""
    while True:
        block = stream.read(_CHUNK_CHARS)
        if not block:
            break
        block = rest + block
        cut = block.rfind("\n") + 1
        if cut == 0:
            rest = block
            continue
        rest = block[cut:]
        yield block[:cut]
    if rest:
        yield rest


def _open_text(path: Path):
    lower = path.name.lower()
    if lower.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    if lower.endswith(".zip"):
        archive = zipfile.ZipFile(path)
        members = [info for info in archive.infolist() if not info.is_dir()]
        if not members:
            raise zipfile.BadZipFile("the zip holds no list")
        return io.TextIOWrapper(archive.open(members[0]), encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _csv_columns(header: str) -> dict[str, int]:
    names = next(csv.reader([header], skipinitialspace=True))
    return {column.strip().lower(): index for index, column in enumerate(names)}


def _add_bazaar(lines: list[str], columns: dict[str, int] | None, builder: _Builder) -> None:
    """Rows of MalwareBazaar's CSV export: sha256, sha1 and md5 all get the row's label.

    The label is the ``signature`` (malware family), else ``file_type_guess``; file names
    are left out so a million rows make a few thousand labels, not a million. Rows are
    split on the export's own ``", "`` separator (several times faster than the csv
    module); a row that does not split cleanly goes through the csv module.
    """
    columns = columns or {column: index for index, column in enumerate(_MB_COLUMNS)}
    keys = ("sha256_hash", "sha1_hash", "md5_hash", "signature", "file_type_guess")
    wanted = [columns.get(key) for key in keys]
    if None in wanted[:3] and all(index is None for index in wanted[:3]):
        return
    last = max(index for index in wanted if index is not None)
    pick = itemgetter(*[index if index is not None else 0 for index in wanted])
    picked, awkward = [], []
    for line in lines:
        # Without an escaped quote ("") in the row, '", "' can only be a separator.
        if '""' in line:
            awkward.append(line)
            continue
        fields = line.split('", "', last + 1) if '", "' in line else line.split('","', last + 1)
        if len(fields) > last and '"' not in fields[last]:
            fields[0] = fields[0][1:]
            picked.append(pick(fields))
        else:
            awkward.append(line)
    picked.extend(
        tuple(_field(row, index) for index in wanted) for row in csv.reader(awkward, skipinitialspace=True)
    )
    if not picked:
        return
    sha256s, sha1s, md5s, signatures, kinds = zip(*picked, strict=True)
    labels = [
        signature
        if signature.lower() not in _NOT_A_LABEL
        else kind
        if kind.lower() not in _NOT_A_LABEL
        else "malware sample"
        for signature, kind in zip(signatures, kinds, strict=True)
    ]
    for index, digests in enumerate((sha256s, sha1s, md5s)):
        if wanted[index] is not None:
            builder.add(digests, labels, "MalwareBazaar")


_NOT_A_LABEL = {"", "n/a", "none", "null", "unknown"}


def _field(row: list[str], index: int | None) -> str:
    return "" if index is None or index >= len(row) else row[index].strip()


def parse_blocklist(path: str | Path) -> Blocklist:
    """Load one list file on its own (for tools and tests); problems raise."""
    path = Path(path)
    builder = _Builder()
    with _open_text(path) as stream:
        _parse_stream(stream, path.name, builder)
    builder.files.append(str(path))
    return builder.build()


__all__ = [
    "Blocklist", "Entry", "RuleSet", "blocklist", "blocklist_files", "clear_caches",
    "parse_blocklist", "preload", "rule_files", "yara_rules",
]  # fmt: skip
