"""Campaign records, and the alert when a campaign reaches N shops.

:func:`build_campaigns` turns the correlator's clusters into :class:`Campaign` records:
shops affected (with industry and region), a per-day timeline, the files (name, type, size,
hashes, how many shops got each), the indicators that link it, sender accounts, first and
last seen. A campaign's id is derived from its earliest report, so it stays the same while
the campaign grows.

:class:`CampaignMonitor` watches reports as they arrive (:meth:`CampaignMonitor.observe`):
when the report's campaign spans ``alert_shops`` shops for the first time, it records an
:class:`Alert` (kept for the admins' pages) and POSTs it as JSON to the webhook, if one is
configured. A campaign is alerted once; a merge with an alerted campaign does not alert
again.

Shops see no other shop's identity: :meth:`Campaign.to_dict` with ``anonymize=True`` names
shops by a keyed pseudonym (HMAC of the shop id with a server secret) and leaves out their
names.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .correlate import Cluster, CorrelationConfig, Correlator
from .indicators import STRONG_KINDS, ReportIndicators

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShopInfo:
    id: str
    name: str = ""
    industry: str | None = None
    region: str | None = None


def pseudonym(shop_id: str, secret: bytes = b"filewall") -> str:
    """A stable, non-reversible name for a shop in shared or cross-shop views."""
    return "anon-" + hmac.new(secret, shop_id.encode(), hashlib.sha256).hexdigest()[:12]


def campaign_id(first_report_id: str) -> str:
    return "cmp-" + hashlib.sha256(first_report_id.encode()).hexdigest()[:16]


@dataclass
class Campaign:
    id: str
    first_seen: dt.datetime
    last_seen: dt.datetime
    shops: list[ShopInfo]
    reports: list[str]
    #: ``{sha256: {"names": [...], "type", "size", "md5", "sha1", "tlsh", "imphash", "shops": n}}``
    files: dict[str, dict[str, Any]]
    #: The values shared by two or more of its reports: ``[{"kind", "value", "shops"}]``.
    indicators: list[dict[str, Any]]
    senders: list[str]
    #: ``[(YYYY-MM-DD, reports, new shops)]``
    timeline: list[tuple[str, int, int]]
    #: Similarity links (TLSH, lure text, imphash) that joined reports.
    similar: list[tuple[str, str, str, str]] = field(default_factory=list)
    lures: list[str] = field(default_factory=list)
    #: Per report: ``(report_id, shop_id, seen_at)`` (for drill-down by an admin).
    sightings: list[tuple[str, str, dt.datetime]] = field(default_factory=list)

    @property
    def shop_count(self) -> int:
        return len(self.shops)

    @property
    def industries(self) -> dict[str, int]:
        return dict(Counter(shop.industry or "unknown" for shop in self.shops).most_common())

    @property
    def regions(self) -> dict[str, int]:
        return dict(Counter(shop.region or "unknown" for shop in self.shops).most_common())

    @property
    def name(self) -> str:
        domains = [item["value"] for item in self.indicators if item["kind"] == "domain"]
        if domains:
            return f"campaign via {domains[0]}"
        names = sorted({name for info in self.files.values() for name in info["names"]})
        if names:
            return f"campaign: {names[0]}"
        if self.senders:
            return f"campaign from {self.senders[0]}"
        return self.id

    def to_dict(self, anonymize: bool = False, secret: bytes = b"filewall") -> dict[str, Any]:
        def shop_view(shop: ShopInfo) -> dict[str, Any]:
            if anonymize:
                return {"id": pseudonym(shop.id, secret), "industry": shop.industry, "region": shop.region}
            return {"id": shop.id, "name": shop.name, "industry": shop.industry, "region": shop.region}

        data = {
            "id": self.id,
            "name": self.name,
            "first_seen": _iso(self.first_seen),
            "last_seen": _iso(self.last_seen),
            "shop_count": self.shop_count,
            "report_count": len(self.reports),
            "shops": [shop_view(shop) for shop in self.shops],
            "industries": self.industries,
            "regions": self.regions,
            "timeline": [{"day": day, "reports": n, "new_shops": s} for day, n, s in self.timeline],
            "files": [{"sha256": sha, **info} for sha, info in self.files.items()],
            "indicators": self.indicators,
            "senders": self.senders,
            "lures": self.lures,
            "similar": [{"kind": k, "a": a, "b": b, "detail": d} for k, a, b, d in self.similar],
        }
        if not anonymize:
            data["reports"] = list(self.reports)
            data["sightings"] = [
                {"report_id": r, "shop_id": s, "seen_at": _iso(t)} for r, s, t in self.sightings
            ]
        return data


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def build_campaign(
    correlator: Correlator, cluster: Cluster, shops: Mapping[str, ShopInfo] | None = None
) -> Campaign:
    shops = shops or {}
    records = sorted((correlator.records[i] for i in cluster.members), key=lambda r: (r.seen_at, r.report_id))
    first, last = records[0].seen_at, records[-1].seen_at
    shop_first: dict[str, dt.datetime] = {}
    files: dict[str, dict[str, Any]] = {}
    file_shops: dict[str, set[str]] = defaultdict(set)
    per_day: Counter[str] = Counter()
    new_shops_per_day: Counter[str] = Counter()
    senders: Counter[str] = Counter()
    lures: list[str] = []
    for record in records:
        day = record.seen_at.astimezone(dt.UTC).date().isoformat()
        per_day[day] += 1
        if record.shop_id not in shop_first:
            shop_first[record.shop_id] = record.seen_at
            new_shops_per_day[day] += 1
        if record.sender:
            senders[record.sender] += 1
        if record.lure and record.lure.text not in lures and len(lures) < 5:
            lures.append(record.lure.text)
        for item in record.files:
            entry = files.setdefault(
                item.sha256,
                {"names": [], "type": item.type, "size": item.size, "md5": item.md5, "sha1": item.sha1,
                 "tlsh": item.tlsh, "imphash": item.imphash, "depth": item.depth},
            )  # fmt: skip
            if item.name and item.name not in entry["names"]:
                entry["names"].append(item.name)
            file_shops[item.sha256].add(record.shop_id)
    for sha, entry in files.items():
        entry["shops"] = len(file_shops[sha])
    shared_shops: dict[tuple[str, str], set[str]] = defaultdict(set)
    for record in records:
        for key in record.values:
            if key in cluster.shared:
                shared_shops[key].add(record.shop_id)
    indicators = sorted(
        (
            {"kind": kind, "value": value, "shops": len(shared_shops[(kind, value)])}
            for kind, value in cluster.shared
        ),
        key=lambda item: (
            STRONG_KINDS.index(item["kind"]) if item["kind"] in STRONG_KINDS else 99,
            -item["shops"],
            item["value"],
        ),
    )
    shop_list = [
        shops.get(shop_id) or ShopInfo(id=shop_id) for shop_id in sorted(shop_first, key=shop_first.get)
    ]
    return Campaign(
        id=campaign_id(records[0].report_id),
        first_seen=first,
        last_seen=last,
        shops=shop_list,
        reports=[record.report_id for record in records],
        files=files,
        indicators=indicators,
        senders=[sender for sender, _ in senders.most_common()],
        timeline=[(day, per_day[day], new_shops_per_day[day]) for day in sorted(per_day)],
        similar=cluster.similar,
        lures=lures,
        sightings=[(record.report_id, record.shop_id, record.seen_at) for record in records],
    )


def build_campaigns(correlator: Correlator, shops: Mapping[str, ShopInfo] | None = None) -> list[Campaign]:
    return [build_campaign(correlator, cluster, shops) for cluster in correlator.clusters()]


# -- alerts -------------------------------------------------------------------------------------


@dataclass
class Alert:
    campaign_id: str
    shop_count: int
    created_at: dt.datetime
    #: The report whose arrival made the campaign reach the threshold.
    report_id: str
    campaign: dict[str, Any]
    delivered: bool | None = None
    delivery_error: str | None = None

    def payload(self) -> dict[str, Any]:
        return {
            "event": "campaign.threshold",
            "campaign_id": self.campaign_id,
            "shop_count": self.shop_count,
            "created_at": _iso(self.created_at),
            "report_id": self.report_id,
            "campaign": self.campaign,
        }


def post_webhook(
    url: str, payload: dict[str, Any], timeout: float = 10.0, secret: bytes | None = None
) -> None:
    """POST the alert as JSON; raises on a network error or a non-2xx answer.

    With ``secret``, the body's HMAC-SHA256 goes in ``X-Filewall-Signature`` so the
    receiver can tell the platform sent it.
    """
    import httpx

    body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": "filewall-platform"}
    if secret:
        headers["X-Filewall-Signature"] = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    response = httpx.post(url, content=body, headers=headers, timeout=timeout)
    response.raise_for_status()


class CampaignMonitor:
    """Correlates reports as they come and alerts once per campaign at ``alert_shops`` shops."""

    def __init__(
        self,
        shops: Mapping[str, ShopInfo] | None = None,
        alert_shops: int = 10,
        webhook_url: str | None = None,
        webhook_secret: bytes | None = None,
        config: CorrelationConfig | None = None,
        on_alert: Callable[[Alert], None] | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ):
        self.correlator = Correlator(config)
        self.shops: dict[str, ShopInfo] = dict(shops or {})
        self.alert_shops = alert_shops
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.on_alert = on_alert
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.alerts: list[Alert] = []
        self._alerted_reports: set[int] = set()

    def observe(self, record: ReportIndicators) -> Alert | None:
        """Add one report; returns the alert it caused, if any."""
        index = self.correlator.add(record)
        if index is None:
            return None
        members = self.correlator.component(record.report_id)
        shop_ids = {self.correlator.records[i].shop_id for i in members}
        if len(shop_ids) < self.alert_shops or self._alerted_reports.intersection(members):
            return None
        self._alerted_reports.update(members)
        cluster = self.correlator.cluster_of(record.report_id)
        campaign = build_campaign(self.correlator, cluster, self.shops)
        alert = Alert(
            campaign_id=campaign.id,
            shop_count=campaign.shop_count,
            created_at=self.clock(),
            report_id=record.report_id,
            campaign=campaign.to_dict(anonymize=True),
        )
        self._deliver(alert)
        self.alerts.append(alert)
        if self.on_alert is not None:
            self.on_alert(alert)
        return alert

    def observe_all(self, records: Iterable[ReportIndicators]) -> list[Alert]:
        return [alert for record in records if (alert := self.observe(record)) is not None]

    def _deliver(self, alert: Alert) -> None:
        if not self.webhook_url:
            return
        try:
            post_webhook(self.webhook_url, alert.payload(), secret=self.webhook_secret)
            alert.delivered = True
        except Exception as error:  # the alert stays visible to admins even if the hook is down
            log.warning("campaign alert webhook failed: %s", error)
            alert.delivered, alert.delivery_error = False, str(error)[:300]

    def campaigns(self) -> list[Campaign]:
        return build_campaigns(self.correlator, self.shops)
