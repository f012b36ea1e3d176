"""Grouping reports from many shops into campaigns.

A graph whose nodes are reports (:class:`~.indicators.ReportIndicators` that are "of
interest": a blocked file or a risky chat) and whose edges say "the same sender is behind
these two". Connected components with reports from at least ``min_shops`` shops are
campaigns. Edges:

**Exact, strong** (link on their own): the same SHA-256 of any file at any depth, the same
URL, domain or IP, the same sender account. This is MISP's correlation: equality of
attribute values across events (MISP ``app/Model/Correlation.php``).

**Similarity** (a pair's weights are summed; the pair links at 1.0):

- TLSH distance ≤ ``tlsh_merge`` (30) weighs 1.0; ≤ ``tlsh_candidate`` (100) weighs 0.5.
  Justification: 30 is the default cut-off of Trend Micro's HAC-T clustering
  (``trendmicro/tlsh: tlshCluster/hac-t.py``, ``-cdist 30``), and Oliver, Cheng & Chen,
  "TLSH – A Locality Sensitive Hash" (CTC 2013, Table II) report 0.07 % false positives at
  distance < 40 but 6.43 % at < 100 (94.5 % detection). So ≤ 30 merges automatically
  (well inside the 0.07 % band); 31–100 is only a candidate that needs corroboration (the
  same import hash, or a shared lure), as ``/work/shared/research/sweep-and-correlation.md``
  §3.3 recommends. MISP itself has no fuzzy TLSH correlation (exact only) and correlates
  ssdeep at score ≥ 40.
- The same PE import hash weighs 0.5 (compilers and runtimes share import tables: never
  enough alone).
- A lure near-duplicate (estimated Jaccard ≥ ``lure_similarity`` of the 4-gram shingles)
  weighs 1.0 when both chats were judged risky (medium/high), else 0.25 (shop chats are
  full of the same polite templates).

**Over-correlation** (MISP ``OverCorrelatingValue``: a value with more than
``MISP.correlation_limit`` correlations, default 100, stops correlating): a value seen in
more than ``max_shops`` shops or ``max_reports`` reports links nothing; likewise a TLSH
digest or a lure whose near neighbours span more than ``max_shops`` shops. Such values are
listed by :meth:`Correlator.over_correlating` for an admin to review. *Benign
sightings* (in the spirit of MISP's false-positive sightings, type 1): a value (file hash,
host, URL, sender, TLSH digest) that arrived in clean, calm (low-risk chat) reports of
``benign_shops`` shops (3) is ordinary traffic and links nothing, even where it comes
bundled with something blocked (the product photo zipped with a driver; everyone's CDN
host). This is what keeps ordinary traffic apart *while it arrives*, before a common value
reaches the over-correlation limit. The price: a campaign whose C2 host also shows up in
clean, calm reports of three shops no longer links by that host (it still links by its
files, senders and lure, and the host is listed by :meth:`Correlator.over_correlating`).
We count *shops*
as well as reports because one shop receiving the same file ten times is one
independent observation, not ten. On top, an :class:`AllowList` (MISP "correlation
exclusions" / warninglists) of benign values that never link: big platforms' and
reserved example domains, known-good hashes.

Scale: exact values are indexed in dicts; TLSH candidates come from LSH banding of the
digest body (16 bands of 4 hex characters = 8 two-bit buckets: two digests within distance
~10 share a band with probability > 1 − 10⁻⁵, at distance 30 about 0.87), confirmed with
``tlsh.diff``; lure candidates from MinHash banding (16 bands × 4 rows). Each report is
added once (:meth:`Correlator.add`, incremental) and :meth:`Correlator.campaigns` is a
union-find pass; ``bench/bench_correlate.py`` measures 100,000 reports.
"""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .indicators import STRONG_KINDS, ReportIndicators

TLSH_BANDS = 16
LURE_BANDS = 16
LINK = 1.0

#: Values that never link: large platforms everyone's customers mention, reserved examples.
DEFAULT_ALLOW = (
    "domain example.com",
    "domain example.org",
    "domain example.net",
    "domain *.example.com",
    "domain *.example.org",
    "domain *.example.net",
    "domain qq.com",
    "domain *.qq.com",
    "domain taobao.com",
    "domain *.taobao.com",
    "domain tmall.com",
    "domain *.tmall.com",
    "domain alicdn.com",
    "domain *.alicdn.com",
    "domain jd.com",
    "domain *.jd.com",
    "domain pinduoduo.com",
    "domain *.pinduoduo.com",
    "domain *.yangkeduo.com",
    "domain baidu.com",
    "domain *.baidu.com",
    "domain weixin.qq.com",
    "domain microsoft.com",
    "domain *.microsoft.com",
    "domain *.windowsupdate.com",
    "domain google.com",
    "domain *.google.com",
    "domain apple.com",
    "domain *.apple.com",
    "domain schemas.openxmlformats.org",
    "domain *.w3.org",
    "domain w3.org",
    "domain ns.adobe.com",
    "domain purl.org",
)


class AllowList:
    """Benign values that never link: ``kind value`` per line, ``*`` wildcards allowed.

    ``domain example.com`` also stops URLs on that host (their host is the domain);
    ``domain *.example.com`` covers every subdomain.
    """

    def __init__(self, lines: Iterable[str] = DEFAULT_ALLOW):
        self.exact: set[tuple[str, str]] = set()
        self.patterns: dict[str, list[str]] = defaultdict(list)
        for line in lines:
            self.add_line(line)

    def add_line(self, line: str) -> None:
        line = line.split("#", 1)[0].strip()
        if not line:
            return
        kind, _, value = line.partition(" ")
        kind, value = kind.strip().lower(), value.strip().lower()
        if not value:
            return
        if "*" in value or "?" in value:
            self.patterns[kind].append(value)
        else:
            self.exact.add((kind, value))

    @classmethod
    def from_file(cls, path: str | Path, include_defaults: bool = True) -> AllowList:
        allow = cls(DEFAULT_ALLOW if include_defaults else ())
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            allow.add_line(line)
        return allow

    def allows(self, kind: str, value: str) -> bool:
        value = value.lower()
        if (kind, value) in self.exact or any(
            fnmatch.fnmatchcase(value, p) for p in self.patterns.get(kind, ())
        ):
            return True
        if kind == "url":
            from .indicators import _url_host

            host = _url_host(value)
            return bool(host) and self.allows("domain", host)
        return False


@dataclass
class CorrelationConfig:
    #: Over-correlation: a value seen in more shops (or reports) than this stops linking.
    max_shops: int = 50
    max_reports: int = 200
    #: A value in clean, low-risk reports of this many shops (and of no fewer shops than
    #: blocked reports) is ordinary traffic.
    benign_shops: int = 3
    #: A component is a campaign from this many distinct shops.
    min_shops: int = 2
    tlsh_merge: int = 30
    tlsh_candidate: int = 100
    lure_similarity: float = 0.5
    weight_tlsh_merge: float = 1.0
    weight_tlsh_candidate: float = 0.5
    weight_imphash: float = 0.5
    weight_lure_risky: float = 1.0
    #: A calm chat (low risk) that resembles another is common politeness, barely evidence.
    weight_lure: float = 0.25
    allow: AllowList = field(default_factory=AllowList)


@dataclass
class Cluster:
    """One campaign as the correlator sees it: member report indexes and why they link."""

    members: list[int]
    shops: set[str]
    #: ``(kind, value)`` of strong values shared by two or more members.
    shared: set[tuple[str, str]]
    #: Similarity links used: ``(kind, a_report_id, b_report_id, detail)``.
    similar: list[tuple[str, str, str, str]]


class _UnionFind:
    def __init__(self, size: int):
        self.parent = list(range(size))

    def find(self, item: int) -> int:
        parent = self.parent
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            if ra < rb:
                ra, rb = rb, ra
            self.parent[ra] = rb


class Correlator:
    """Reports in, campaigns out. Add reports one by one (any order); ask at any time."""

    def __init__(self, config: CorrelationConfig | None = None):
        self.config = config or CorrelationConfig()
        self.records: list[ReportIndicators] = []
        self.by_id: dict[str, int] = {}
        #: value → report indexes (kept up to ``max_reports + 1``: enough to know it is over).
        self.value_reports: dict[tuple[str, str], list[int]] = defaultdict(list)
        self.value_shops: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.value_count: dict[tuple[str, str], int] = defaultdict(int)
        self._tlsh_bands: dict[tuple[int, str], set[str]] = defaultdict(set)
        self._tlsh_reports: dict[str, list[int]] = defaultdict(list)
        #: digest → shops of the reports holding it or a digest within ``tlsh_candidate``.
        self._tlsh_shops: dict[str, set[str]] = defaultdict(set)
        self._lure_bands: dict[tuple[int, tuple[int, ...]], list[int]] = defaultdict(list)
        self._lure_shops: dict[int, set[str]] = defaultdict(set)
        #: (i, j) with i < j → {"tlsh": (dist, d_i, d_j), "imphash": value, "lure": sim}
        self.pairs: dict[tuple[int, int], dict[str, tuple]] = {}
        self._adjacent: dict[int, set[int]] = defaultdict(set)
        self._benign_ids: set[str] = set()
        #: value → shops whose clean, calm reports held it (counted up to ``max_shops + 1``).
        self.benign_shops: dict[tuple[str, str], set[str]] = defaultdict(set)

    # -- input ----------------------------------------------------------------------------------
    def add(self, record: ReportIndicators) -> int | None:
        """Index one report; returns its index, or None when it is not of interest (or known)."""
        config = self.config
        if record.report_id in self.by_id or record.report_id in self._benign_ids:
            return None
        if not record.of_interest:
            # Benign sightings: a file that arrives in clean, calm reports of several shops
            # is ordinary traffic (a product photo), whatever else it is bundled with.
            self._benign_ids.add(record.report_id)
            keys = [key for key in record.values if key[0] in STRONG_KINDS]
            keys += [("tlsh", digest) for _sha, digest in record.tlsh_digests()]
            for key in keys:
                shops = self.benign_shops[key]
                if len(shops) <= config.max_shops:
                    shops.add(record.shop_id)
            return None
        index = len(self.records)
        self.records.append(record)
        self.by_id[record.report_id] = index
        contributions: dict[int, dict[str, tuple]] = defaultdict(dict)
        # What an allow-listed file brings (its import hash) is as benign as the file.
        allowed_imphashes = {
            item.imphash
            for item in record.files
            if item.imphash and config.allow.allows("sha256", item.sha256)
        } - {item.imphash for item in record.files if not config.allow.allows("sha256", item.sha256)}
        for kind, value in record.values:
            if config.allow.allows(kind, value) or (kind == "imphash" and value in allowed_imphashes):
                continue
            key = (kind, value)
            over_before = self._over(key)
            if kind == "imphash" and not over_before:
                for other in self.value_reports.get(key, ()):
                    contributions[other]["imphash"] = (value,)
            self.value_count[key] += 1
            self.value_shops[key].add(record.shop_id)
            if len(self.value_reports[key]) <= config.max_reports:
                self.value_reports[key].append(index)
        self._add_tlsh(index, record, contributions)
        self._add_lure(index, record, contributions)
        for other, evidence in contributions.items():
            if other == index:
                continue
            pair = (other, index)
            if self._weight(pair, evidence, check_over=False) >= LINK:
                self.pairs[pair] = evidence
                self._adjacent[other].add(index)
                self._adjacent[index].add(other)
        return index

    def add_all(self, records: Iterable[ReportIndicators]) -> Correlator:
        for record in records:
            self.add(record)
        return self

    def _add_tlsh(self, index: int, record: ReportIndicators, contributions) -> None:
        try:
            import tlsh
        except ImportError:  # the `platform` extra is not installed: no TLSH links
            return

        config = self.config
        for sha, digest in record.tlsh_digests():
            if (
                config.allow.allows("tlsh", digest)
                or config.allow.allows("sha256", sha)
                or self._benign_digest(digest)
            ):
                continue
            body = _tlsh_body(digest)
            if body is None:
                continue
            candidates: set[str] = set()
            for band in range(TLSH_BANDS):
                key = (band, body[band * 4 : band * 4 + 4])
                candidates |= self._tlsh_bands[key]
                self._tlsh_bands[key].add(digest)
            known = digest in self._tlsh_reports
            for other in candidates:
                distance = 0 if other == digest else tlsh.diff(digest, other)
                if distance > config.tlsh_candidate:
                    continue
                other_shops = {self.records[i].shop_id for i in self._tlsh_reports[other]}
                self._tlsh_shops[digest] |= other_shops
                self._tlsh_shops[other].add(record.shop_id)
                if len(self._tlsh_shops[other]) > config.max_shops:
                    continue
                for other_index in self._tlsh_reports[other]:
                    previous = contributions[other_index].get("tlsh")
                    if previous is None or previous[0] > distance:
                        contributions[other_index]["tlsh"] = (distance, other, digest)
            if not known:
                self._tlsh_shops[digest].add(record.shop_id)
            if len(self._tlsh_reports[digest]) <= config.max_reports:
                self._tlsh_reports[digest].append(index)

    def _add_lure(self, index: int, record: ReportIndicators, contributions) -> None:
        lure = record.lure
        if lure is None:
            return
        config = self.config
        rows = len(lure.minhash) // LURE_BANDS
        candidates: set[int] = set()
        for band in range(LURE_BANDS):
            key = (band, lure.minhash[band * rows : (band + 1) * rows])
            bucket = self._lure_bands[key]
            if len(bucket) <= config.max_reports:
                candidates.update(bucket)
                bucket.append(index)
        self._lure_shops[index].add(record.shop_id)
        for other in candidates:
            other_lure = self.records[other].lure
            similarity = lure.similarity(other_lure) if other_lure else 0.0
            if similarity < config.lure_similarity:
                continue
            self._lure_shops[index].add(self.records[other].shop_id)
            self._lure_shops[other].add(record.shop_id)
            contributions[other]["lure"] = (round(similarity, 3),)

    # -- over-correlation ------------------------------------------------------------------
    def _over(self, key: tuple[str, str]) -> bool:
        config = self.config
        return (
            self.value_count.get(key, 0) > config.max_reports
            or len(self.value_shops.get(key, ())) > config.max_shops
            or self._benign(key, len(self.value_shops.get(key, ())))
        )

    def _benign(self, key: tuple[str, str], blocked_shops: int = 0) -> bool:
        """Seen in clean, calm reports of ``benign_shops`` shops: ordinary traffic."""
        return len(self.benign_shops.get(key, ())) >= self.config.benign_shops

    def _benign_digest(self, digest: str) -> bool:
        return self._benign(("tlsh", digest), len(self._tlsh_shops.get(digest, ())))

    def over_correlating(self) -> list[dict]:
        """Values that stopped linking because they are everywhere (for an admin to review)."""
        found = [
            {
                "kind": kind,
                "value": value,
                "shops": len(self.value_shops[(kind, value)]),
                "reports": self.value_count[(kind, value)],
                "benign_shops": len(self.benign_shops.get((kind, value), ())),
            }
            for (kind, value) in self.value_count
            if self._over((kind, value))
        ]
        found += [
            {
                "kind": "tlsh",
                "value": digest,
                "shops": len(shops),
                "reports": len(self._tlsh_reports.get(digest, ())),
            }
            for digest, shops in self._tlsh_shops.items()
            if len(shops) > self.config.max_shops
        ]
        return sorted(found, key=lambda item: (-item["shops"], item["kind"], item["value"]))

    def _weight(self, pair: tuple[int, int], evidence: dict[str, tuple], check_over: bool = True) -> float:
        config = self.config
        total = 0.0
        tlsh_item = evidence.get("tlsh")
        if tlsh_item is not None:
            distance, d1, d2 = tlsh_item
            if not check_over or (
                len(self._tlsh_shops.get(d1, ())) <= config.max_shops
                and len(self._tlsh_shops.get(d2, ())) <= config.max_shops
                and not self._benign_digest(d1)
                and not self._benign_digest(d2)
            ):
                if distance <= config.tlsh_merge:
                    total += config.weight_tlsh_merge
                elif distance <= config.tlsh_candidate:
                    total += config.weight_tlsh_candidate
        imphash = evidence.get("imphash")
        if imphash is not None and not (check_over and self._over(("imphash", imphash[0]))):
            total += config.weight_imphash
        lure = evidence.get("lure")
        if lure is not None:
            a, b = pair
            if not check_over or (
                len(self._lure_shops.get(a, ())) <= config.max_shops
                and len(self._lure_shops.get(b, ())) <= config.max_shops
            ):
                risky = all(self.records[i].chat_risk in ("medium", "high") for i in pair)
                total += config.weight_lure_risky if risky else config.weight_lure
        return total

    def _links(self, index: int) -> Iterable[int]:
        record = self.records[index]
        allow = self.config.allow
        for kind, value in record.values:
            if kind not in STRONG_KINDS:
                continue
            key = (kind, value)
            if self.value_count.get(key, 0) < 2 or self._over(key) or allow.allows(kind, value):
                continue
            yield from self.value_reports[key]
        for other in self._adjacent.get(index, ()):
            pair = (min(index, other), max(index, other))
            if self._weight(pair, self.pairs[pair]) >= LINK:
                yield other

    # -- output ---------------------------------------------------------------------------------
    def component(self, report_id: str) -> list[int]:
        """Every report linked (transitively) to this one, itself included (BFS)."""
        start = self.by_id.get(report_id)
        if start is None:
            return []
        seen = {start}
        queue = [start]
        while queue:
            current = queue.pop()
            for other in self._links(current):
                if other not in seen:
                    seen.add(other)
                    queue.append(other)
        return sorted(seen)

    def clusters(self) -> list[Cluster]:
        """Every campaign: components spanning at least ``min_shops`` shops, largest first."""
        allow = self.config.allow
        union = _UnionFind(len(self.records))
        for key, members in self.value_reports.items():
            if key[0] not in STRONG_KINDS or len(members) < 2 or self._over(key) or allow.allows(*key):
                continue
            first = members[0]
            for other in members[1:]:
                union.union(first, other)
        used_pairs: list[tuple[int, int]] = []
        for pair, evidence in self.pairs.items():
            if self._weight(pair, evidence) >= LINK:
                union.union(*pair)
                used_pairs.append(pair)
        groups: dict[int, list[int]] = defaultdict(list)
        for index in range(len(self.records)):
            groups[union.find(index)].append(index)
        clusters = []
        for members in groups.values():
            shops = {self.records[i].shop_id for i in members}
            if len(shops) < self.config.min_shops:
                continue
            clusters.append(self._describe(members, shops))
        by_root = {union.find(c.members[0]): c for c in clusters}
        for a, b in used_pairs:
            cluster = by_root.get(union.find(a))
            if cluster is not None:
                evidence = self.pairs[(a, b)]
                detail = ", ".join(f"{kind}={_fmt(value)}" for kind, value in sorted(evidence.items()))
                kind = "+".join(sorted(evidence))
                cluster.similar.append((kind, self.records[a].report_id, self.records[b].report_id, detail))
        clusters.sort(key=lambda c: (-len(c.shops), min(self.records[i].seen_at for i in c.members)))
        return clusters

    def cluster_of(self, report_id: str) -> Cluster | None:
        members = self.component(report_id)
        if not members:
            return None
        shops = {self.records[i].shop_id for i in members}
        return self._describe(members, shops)

    def _describe(self, members: list[int], shops: set[str]) -> Cluster:
        allow = self.config.allow
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for index in members:
            for key in self.records[index].values:
                if key[0] in STRONG_KINDS:
                    counts[key] += 1
        shared = {
            key for key, n in counts.items() if n >= 2 and not self._over(key) and not allow.allows(*key)
        }
        return Cluster(members=sorted(members), shops=shops, shared=shared, similar=[])


def _fmt(value: tuple) -> str:
    """The headline of one piece of evidence: the distance, the import hash, the similarity."""
    return str(value[0])


def _tlsh_body(digest: str) -> str | None:
    """The 64 hex characters of a TLSH digest's body (``T1`` + 6 header characters first)."""
    text = digest[2:] if digest[:2].upper() == "T1" else digest
    body = text[6:70]
    return body.upper() if len(body) == 64 else None


def correlate(records: Iterable[ReportIndicators], config: CorrelationConfig | None = None) -> list[Cluster]:
    """Batch: the campaigns among these reports."""
    correlator = Correlator(config)
    correlator.add_all(records)
    return correlator.clusters()
