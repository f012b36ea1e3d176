"""The platform over the desk's database: index new reports, correlate, keep campaigns, alert.

:func:`sync` reads desk reports that have no indicator row yet and stores their
:class:`~.indicators.ReportIndicators` (for a blocked or risky report whose sample is in
the content-addressed store, the sample is scanned again with the TLSH hook, so every
member gets its TLSH; the desk's stored tree has none). :func:`run` then correlates every
report of interest, replaces the campaign table, and raises an alert (stored, and POSTed
to the webhook) for each campaign that reached ``alert_shops`` shops and has not been
alerted yet.

Settings (environment first, then the ``[platform]`` table of the data folder's
``config.toml``): ``FILEWALL_CAMPAIGN_ALERT_SHOPS`` / ``alert_shops`` (10),
``FILEWALL_CAMPAIGN_WEBHOOK`` / ``webhook_url``, ``FILEWALL_CAMPAIGN_WEBHOOK_SECRET`` /
``webhook_secret``, ``FILEWALL_CORRELATION_MAX_SHOPS`` / ``max_shops`` (50),
``FILEWALL_ALLOWLIST`` / ``allowlist`` (a file of ``kind value`` lines).
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from ..datadir import DataLayout
from ..store.models import Report, Shop
from .campaigns import Alert, Campaign, ShopInfo, build_campaign, post_webhook
from .correlate import AllowList, CorrelationConfig, Correlator
from .indicators import INTERESTING_CHAT, INTERESTING_VERDICTS, ReportIndicators, from_report, tlsh_hook
from .store_models import AlertRow, CampaignRow, IndicatorRow, migrate


@dataclass
class PlatformSettings:
    alert_shops: int = 10
    webhook_url: str | None = None
    webhook_secret: str | None = None
    max_shops: int = 50
    allowlist: str | None = None

    @classmethod
    def load(cls, data_dir: Path | None, environ: dict[str, str] | None = None) -> PlatformSettings:
        environ = dict(os.environ if environ is None else environ)
        table: dict[str, Any] = {}
        if data_dir is not None:
            try:
                table = DataLayout(data_dir).read_config().get("platform", {})
            except tomllib.TOMLDecodeError:
                table = {}
        names = {
            "alert_shops": "FILEWALL_CAMPAIGN_ALERT_SHOPS",
            "webhook_url": "FILEWALL_CAMPAIGN_WEBHOOK",
            "webhook_secret": "FILEWALL_CAMPAIGN_WEBHOOK_SECRET",
            "max_shops": "FILEWALL_CORRELATION_MAX_SHOPS",
            "allowlist": "FILEWALL_ALLOWLIST",
        }
        values: dict[str, Any] = {}
        for name, variable in names.items():
            raw = environ.get(variable) or table.get(name)
            if raw not in (None, ""):
                values[name] = int(raw) if name in ("alert_shops", "max_shops") else str(raw)
        return cls(**values)

    def correlation(self) -> CorrelationConfig:
        allow = AllowList.from_file(self.allowlist) if self.allowlist else AllowList()
        return CorrelationConfig(max_shops=self.max_shops, allow=allow)


def _report_tlsh(blobs, sha256: str, name: str) -> dict[str, str]:
    """sha256 → TLSH of every node, by scanning the stored sample again (empty if not stored)."""
    if blobs is None or not blobs.exists(sha256):
        return {}
    from ..engine import ScanOptions, scan_path

    found: dict[str, str] = {}

    def collect(node, content) -> None:
        if node.info.get("tlsh") and node.sha256:
            found[node.sha256] = node.info["tlsh"]

    scan_path(str(blobs.path_for(sha256)), ScanOptions(on_node=tlsh_hook(collect)), display_name=name)
    return found


def _with_tlsh(report: dict[str, Any], digests: dict[str, str]) -> dict[str, Any]:
    if not digests:
        return report
    stack = [report.get("tree") or {}]
    while stack:
        node = stack.pop()
        if node.get("sha256") in digests:
            node.setdefault("info", {})["tlsh"] = digests[node["sha256"]]
        stack.extend(node.get("children") or [])
    return report


def sync(db, blobs=None, batch: int = 500) -> int:
    """Index desk reports not indexed yet; drop rows of deleted reports. Returns how many were added."""
    added = 0
    while True:
        with db.read() as session:
            rows = session.execute(
                select(Report.id, Report.shop_id, Report.created_at, Report.report, Report.chat, Report.sender,
                       Report.verdict, Report.sha256, Report.file_name)
                .outerjoin(IndicatorRow, IndicatorRow.report_id == Report.id)
                .where(IndicatorRow.report_id.is_(None))
                .order_by(Report.created_at)
                .limit(batch)
            ).all()  # fmt: skip
        if not rows:
            break
        with db.write() as session:
            for row in rows:
                report = dict(row.report or {})
                interesting = row.verdict in INTERESTING_VERDICTS or (
                    (row.chat or {}).get("risk") in INTERESTING_CHAT
                )
                if interesting:
                    report = _with_tlsh(report, _report_tlsh(blobs, row.sha256, row.file_name))
                record = from_report(
                    report,
                    report_id=row.id,
                    shop_id=row.shop_id,
                    seen_at=row.created_at,
                    sender=row.sender,
                    chat=row.chat,
                )
                session.add(
                    IndicatorRow(report_id=row.id, shop_id=row.shop_id, seen_at=row.created_at,
                                 of_interest=record.of_interest, doc=record.to_dict())
                )  # fmt: skip
                added += 1
    with db.write() as session:
        gone = (
            select(IndicatorRow.report_id)
            .outerjoin(Report, Report.id == IndicatorRow.report_id)
            .where(Report.id.is_(None))
        )
        session.execute(delete(IndicatorRow).where(IndicatorRow.report_id.in_(gone.scalar_subquery())))
    return added


def load_records(db) -> list[ReportIndicators]:
    """Every indexed report, in time order (clean ones too: they are the benign sightings)."""
    with db.read() as session:
        docs = session.scalars(
            select(IndicatorRow.doc).order_by(IndicatorRow.seen_at, IndicatorRow.report_id)
        ).all()
    return [ReportIndicators.from_dict(doc) for doc in docs]


def load_shops(db) -> dict[str, ShopInfo]:
    with db.read() as session:
        return {
            shop.id: ShopInfo(id=shop.id, name=shop.name, industry=shop.industry, region=shop.region)
            for shop in session.scalars(select(Shop))
        }


@dataclass
class RunResult:
    indexed: int
    campaigns: list[Campaign]
    alerts: list[Alert]
    over_correlating: list[dict[str, Any]]


def run(
    db, settings: PlatformSettings, blobs=None, now: dt.datetime | None = None, secret: bytes = b"filewall"
) -> RunResult:
    """Index, correlate, store campaigns, alert. Safe to run again (alerts go out once).

    ``secret`` keys the shop pseudonyms in alerts (the desk and the CLI pass
    :func:`.updates.pseudonym_secret` of the data folder)."""
    migrate(db)
    indexed = sync(db, blobs)
    correlator = Correlator(settings.correlation()).add_all(load_records(db))
    shops = load_shops(db)
    campaigns = [build_campaign(correlator, cluster, shops) for cluster in correlator.clusters()]
    now = now or dt.datetime.now(dt.UTC)
    alerts: list[Alert] = []
    if settings.webhook_url:
        _redeliver(db, settings)
    with db.write() as session:
        alerted = {row.id: row.alerted_at for row in session.scalars(select(CampaignRow))}
        session.execute(delete(CampaignRow))
        for campaign in campaigns:
            alerted_at = alerted.get(campaign.id)
            if alerted_at is None and campaign.shop_count >= settings.alert_shops:
                # The report that brought the Nth shop.
                firsts: dict[str, str] = {}
                for report_id, shop_id, _seen in campaign.sightings:
                    firsts.setdefault(shop_id, report_id)
                report_id = list(firsts.values())[settings.alert_shops - 1]
                view = campaign.to_dict(anonymize=True, secret=secret)
                alert = Alert(campaign.id, campaign.shop_count, now, report_id, view)
                if settings.webhook_url:
                    try:
                        post_webhook(settings.webhook_url, alert.payload(),
                                     secret=settings.webhook_secret.encode() if settings.webhook_secret else None)  # fmt: skip
                        alert.delivered = True
                    except Exception as error:
                        alert.delivered, alert.delivery_error = False, str(error)[:300]
                session.add(
                    AlertRow(campaign_id=alert.campaign_id, created_at=now, shop_count=alert.shop_count,
                             report_id=alert.report_id, payload=alert.payload(), delivered=alert.delivered,
                             delivery_error=alert.delivery_error)
                )  # fmt: skip
                alerts.append(alert)
                alerted_at = now
            session.add(
                CampaignRow(id=campaign.id, name=campaign.name[:300], first_seen=campaign.first_seen,
                            last_seen=campaign.last_seen, shop_count=campaign.shop_count,
                            report_count=len(campaign.reports), doc=campaign.to_dict(), updated_at=now,
                            alerted_at=alerted_at)
            )  # fmt: skip
    return RunResult(indexed, campaigns, alerts, correlator.over_correlating())


def _redeliver(db, settings: PlatformSettings) -> None:
    """POST again the campaign alerts whose webhook delivery failed on an earlier run."""
    secret = settings.webhook_secret.encode() if settings.webhook_secret else None
    with db.write() as session:
        pending = session.scalars(
            select(AlertRow)
            .where(AlertRow.kind == "campaign", AlertRow.delivered.is_(False))
            .order_by(AlertRow.created_at)
        )
        for row in pending:
            try:
                post_webhook(settings.webhook_url, row.payload, secret=secret)
                row.delivered, row.delivery_error = True, None
            except Exception as error:
                row.delivery_error = str(error)[:300]


def stored_campaigns(db) -> list[dict[str, Any]]:
    with db.read() as session:
        return [row.doc | {"alerted_at": row.alerted_at.isoformat() if row.alerted_at else None}
                for row in session.scalars(select(CampaignRow).order_by(CampaignRow.shop_count.desc(), CampaignRow.first_seen))]  # fmt: skip


def campaign_from_doc(doc: dict[str, Any]) -> Campaign:
    """A stored campaign (``Campaign.to_dict()``) back as a :class:`Campaign` (for export)."""

    def when(text: str) -> dt.datetime:
        return dt.datetime.fromisoformat(text.rstrip("Z")).replace(tzinfo=dt.UTC)

    return Campaign(
        id=doc["id"],
        first_seen=when(doc["first_seen"]),
        last_seen=when(doc["last_seen"]),
        shops=[
            ShopInfo(id=s["id"], name=s.get("name", ""), industry=s.get("industry"), region=s.get("region"))
            for s in doc["shops"]
        ],
        reports=list(doc.get("reports") or []),
        files={item["sha256"]: {k: v for k, v in item.items() if k != "sha256"} for item in doc["files"]},
        indicators=list(doc["indicators"]),
        senders=list(doc["senders"]),
        timeline=[(t["day"], t["reports"], t["new_shops"]) for t in doc["timeline"]],
        similar=[(s["kind"], s["a"], s["b"], s["detail"]) for s in doc.get("similar") or []],
        lures=list(doc.get("lures") or []),
        sightings=[(s["report_id"], s["shop_id"], when(s["seen_at"])) for s in doc.get("sightings") or []],
    )


def find_campaign(db, campaign_id: str) -> Campaign | None:
    with db.read() as session:
        rows = session.scalars(select(CampaignRow).where(CampaignRow.id.startswith(campaign_id))).all()
    return campaign_from_doc(rows[0].doc) if len(rows) == 1 else None
