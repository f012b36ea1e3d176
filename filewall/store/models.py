"""The support desk's tables (SQLAlchemy 2). One schema for SQLite and PostgreSQL.

Identifiers a client ever sees are random, never sequential: shops, users and tokens are
UUID4, reports are 128-bit URL-safe strings, sessions are addressed by the SHA-256 of a
256-bit secret. Every row that belongs to a shop carries ``shop_id``, and the repositories
(:mod:`filewall.store.repo`) filter on it in every query.

Times are stored as naive UTC (the same on both databases) and handed out as aware UTC.
Changing a table means adding a migration under ``migrations/versions`` (a test compares
these models with the migrated schema).
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ROLES = ("agent", "owner", "admin")
VERDICTS = ("clean", "suspicious", "malicious", "error")
#: Verdicts counted as "blocked": the agent is told not to open the file.
BLOCKED = ("suspicious", "malicious")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_uuid() -> str:
    return str(uuid.uuid4())


def new_report_id() -> str:
    """128 random bits, URL-safe (22 characters)."""
    return secrets.token_urlsafe(16)


class UTCDateTime(TypeDecorator):
    """Aware UTC in Python, naive UTC in the database (identical on SQLite and PostgreSQL)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use aware UTC")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


#: JSON on SQLite (text), JSONB on PostgreSQL.
JSONDoc = JSON().with_variant(postgresql.JSONB(), "postgresql")


class Base(DeclarativeBase):
    pass


class Shop(Base):
    __tablename__ = "shops"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    industry: Mapped[str | None] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "industry": self.industry, "region": self.region}


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    #: Unique across the platform, stored lower-cased (login is case-insensitive).
    username: Mapped[str] = mapped_column(String(150), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "shop_id": self.shop_id,
            "disabled": self.disabled,
            "created_at": iso(self.created_at),
        }


class ApiToken(Base):
    """A secret for programs. Only its SHA-256 is kept; the secret is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    #: The user the token acts for (its scans are attributed to them).
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    #: What the token may do: ``agent`` (submit, read, download clean files) or ``owner``.
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The first characters of the secret, to tell tokens apart in a list.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "user_id": self.user_id,
            "prefix": self.prefix,
            "created_at": iso(self.created_at),
            "revoked_at": iso(self.revoked_at),
        }


class LoginSession(Base):
    """A browser login: the cookie holds a secret, the table its SHA-256 (logout deletes it)."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)


class Sample(Base):
    """That a shop received these bytes (the bytes are in the content-addressed store)."""

    __tablename__ = "samples"

    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    first_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Report(Base):
    __tablename__ = "reports"
    __table_args__ = (
        Index("ix_reports_shop_created", "shop_id", "created_at"),
        Index("ix_reports_shop_verdict_created", "shop_id", "verdict", "created_at"),
        Index("ix_reports_shop_user_created", "shop_id", "user_id", "created_at"),
        Index("ix_reports_shop_sha256", "shop_id", "sha256"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_report_id)
    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    token_id: Mapped[str | None] = mapped_column(ForeignKey("api_tokens.id", ondelete="SET NULL"))
    #: Files sent together in one upload share this id.
    submission_id: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    file_name: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(16))
    score: Mapped[int] = mapped_column(Integer)
    summary: Mapped[str] = mapped_column(Text, default="")
    summary_zh: Mapped[str] = mapped_column(Text, default="")
    scan_ms: Mapped[float] = mapped_column(Float, default=0.0)
    #: The whole report (``Report.to_dict()``: findings, tree, indicators, chat, previews).
    report: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    #: The conversation's analysis when chat text came with the files.
    chat: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    #: Who sent the file (a customer account on the shop's platform), when known.
    sender: Mapped[str | None] = mapped_column(String(256))


def iso(value: dt.datetime | None) -> str | None:
    """``2026-11-25T20:15:03.123456Z`` (aware UTC in, ISO 8601 with Z out)."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat() + "Z"
