"""The platform's own tables, beside the desk's (same database, own schema history).

They live on their own ``DeclarativeBase`` and their own Alembic history (folder
``filewall/platform/migrations``, version table ``platform_alembic_version``), so the desk's
schema and its migration test stay exactly as the desk defines them; the platform's tables
refer to reports and shops by id (no database foreign key across the two histories: a
deleted report's indicator row is pruned by :func:`filewall.platform.pipeline.sync`).

- ``platform_report_indicators``: one :class:`~.indicators.ReportIndicators` document per
  desk report (what correlation reads: 100,000 of them load in seconds);
- ``platform_campaigns``: the campaigns of the last correlation run (full, not anonymised:
  only admins read this table; shop views anonymise);
- ``platform_alerts``: "campaign reached N shops" (with the webhook delivery result), and
  retro-hunt notices to the shops whose stored samples a newly promoted rule matches;
- ``platform_promoted``: indicators and YARA rules promoted by admins into the update
  bundle (versioned by their row id).
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String, Text, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ..store.models import UTCDateTime, utcnow

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "platform_alembic_version"
JSONDoc = JSON().with_variant(postgresql.JSONB(), "postgresql")


class PlatformBase(DeclarativeBase):
    pass


class IndicatorRow(PlatformBase):
    __tablename__ = "platform_report_indicators"

    report_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    shop_id: Mapped[str] = mapped_column(String(36), index=True)
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    of_interest: Mapped[bool] = mapped_column(Boolean, index=True)
    doc: Mapped[dict[str, Any]] = mapped_column(JSONDoc)


class CampaignRow(PlatformBase):
    __tablename__ = "platform_campaigns"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    first_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    shop_count: Mapped[int] = mapped_column(Integer)
    report_count: Mapped[int] = mapped_column(Integer)
    doc: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    alerted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class AlertRow(PlatformBase):
    __tablename__ = "platform_alerts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    #: ``campaign`` (reached N shops: for admins) or ``retrohunt`` (a new rule matched a
    #: sample this shop received: for that shop's owners).
    kind: Mapped[str] = mapped_column(String(16), default="campaign")
    #: The shop told (retro-hunt); None for platform-wide alerts.
    shop_id: Mapped[str | None] = mapped_column(String(36), index=True)
    campaign_id: Mapped[str] = mapped_column(String(40), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    shop_count: Mapped[int] = mapped_column(Integer)
    report_id: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    delivered: Mapped[bool | None] = mapped_column(Boolean)
    delivery_error: Mapped[str | None] = mapped_column(Text)


class PromotedRow(PlatformBase):
    __tablename__ = "platform_promoted"

    #: Monotonic: the bundle's version is the highest id it contains.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: ``sha256`` | ``sha1`` | ``md5`` | ``yara``
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(150))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


def migrate(db) -> None:
    """Bring the platform's tables up to date in the desk's database (``filewall.store.Database``)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.connect().execution_options(filewall_write=True) as connection, connection.begin():
        if db.dialect == "postgresql":
            # Not the desk's key: the two histories may migrate at the same time.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": 0x706C6174666F726D})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
