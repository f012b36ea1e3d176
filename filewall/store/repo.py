"""Repositories: the only code that queries the desk's tables.

- :class:`Accounts` finds and creates shops, users, sessions and tokens. It is the one place
  that looks across shops, and only by secret (a session cookie, an API token, a user name
  with its password), never by listing.
- :class:`ShopScope` is everything about one shop's data. It is built from an authenticated
  principal's ``shop_id`` and adds ``shop_id = :shop`` to every query it makes; there is no
  method that takes a report id without it. A report of another shop is simply not found.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from . import security
from .models import BLOCKED, ROLES, VERDICTS, ApiToken, LoginSession, Report, Sample, Shop, User, utcnow


class AccountError(ValueError):
    """A request about accounts that cannot be done; the message says why."""

    def __init__(self, message: str, conflict: bool = False):
        super().__init__(message)
        #: True when the name is already taken (HTTP 409), False for bad input (400).
        self.conflict = conflict


def normalize_username(username: str) -> str:
    name = (username or "").strip().lower()
    if not name or len(name) > 150 or any(ch.isspace() or ord(ch) < 32 for ch in name):
        raise AccountError("a user name is 1 to 150 characters without spaces")
    return name


class Accounts:
    def __init__(self, session: Session):
        self.session = session

    # -- shops --------------------------------------------------------------------------
    def shop_by_name(self, name: str) -> Shop | None:
        return self.session.scalar(select(Shop).where(Shop.name == name.strip()))

    def shop_by_id(self, shop_id: str) -> Shop | None:
        return self.session.get(Shop, shop_id)

    def create_shop(self, name: str, industry: str | None = None, region: str | None = None) -> Shop:
        name = (name or "").strip()
        if not name or len(name) > 200:
            raise AccountError("a shop name is 1 to 200 characters")
        if self.shop_by_name(name) is not None:
            raise AccountError(f"a shop named {name!r} already exists", conflict=True)
        shop = Shop(name=name, industry=industry, region=region)
        self.session.add(shop)
        self.session.flush()
        return shop

    def list_shops(self) -> list[Shop]:
        return list(self.session.scalars(select(Shop).order_by(Shop.created_at)))

    # -- users --------------------------------------------------------------------------
    def user_by_username(self, username: str) -> User | None:
        try:
            name = normalize_username(username)
        except AccountError:
            return None
        return self.session.scalar(select(User).where(User.username == name))

    def user_by_id(self, user_id: str) -> User | None:
        return self.session.get(User, user_id)

    def count_users(self) -> int:
        return self.session.scalar(select(func.count()).select_from(User)) or 0

    def create_user(
        self,
        shop: Shop,
        username: str,
        password: str | None,
        role: str,
        display_name: str | None = None,
        password_hash: str | None = None,
    ) -> User:
        """A new user; ``password_hash`` (an argon2 hash) instead of ``password`` imports
        an account whose password was hashed elsewhere."""
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        name = normalize_username(username)
        if self.session.scalar(select(User.id).where(User.username == name)) is not None:
            raise AccountError(f"the user name {name!r} is taken", conflict=True)
        if password_hash is not None:
            if not password_hash.startswith("$argon2"):
                raise AccountError("password_hash must be an argon2 hash")
        else:
            try:
                password_hash = security.hash_password(password or "")
            except security.WeakPassword as error:
                raise AccountError(str(error)) from error
        user = User(shop_id=shop.id, username=name, password_hash=password_hash, role=role, display_name=display_name)
        self.session.add(user)
        self.session.flush()
        return user

    def authenticate(self, username: str, password: str) -> User | None:
        """The user when the password is right (and the account enabled), else None.

        Costs one argon2 verification whether or not the user exists.
        """
        user = self.user_by_username(username)
        ok = security.verify_password(user.password_hash if user else None, password)
        if not ok or user is None or user.disabled:
            return None
        if security.needs_rehash(user.password_hash):
            user.password_hash = security.hash_password(password)
        return user

    def set_password(self, user: User, password: str) -> None:
        try:
            user.password_hash = security.hash_password(password)
        except security.WeakPassword as error:
            raise AccountError(str(error)) from error
        self.session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))

    # -- sessions -----------------------------------------------------------------------
    def create_session(self, user: User, hours: float) -> str:
        """Start a login; returns the cookie secret (only its hash is stored)."""
        secret = security.new_secret()
        now = utcnow()
        self.session.add(
            LoginSession(
                id=security.digest(secret),
                user_id=user.id,
                shop_id=user.shop_id,
                created_at=now,
                expires_at=now + dt.timedelta(hours=hours),
            )
        )
        return secret

    def resolve_session(self, secret: str) -> tuple[LoginSession, User] | None:
        row = self.session.execute(
            select(LoginSession, User)
            .join(User, User.id == LoginSession.user_id)
            .where(LoginSession.id == security.digest(secret), LoginSession.expires_at > utcnow())
        ).first()
        if row is None or row[1].disabled or row[1].shop_id != row[0].shop_id:
            return None
        return row[0], row[1]

    def end_session(self, secret: str) -> None:
        self.session.execute(delete(LoginSession).where(LoginSession.id == security.digest(secret)))

    def purge_expired_sessions(self) -> int:
        result = self.session.execute(delete(LoginSession).where(LoginSession.expires_at <= utcnow()))
        return result.rowcount or 0

    # -- API tokens -----------------------------------------------------------------------
    def resolve_token(self, secret: str) -> tuple[ApiToken, User] | None:
        row = self.session.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == security.digest(secret), ApiToken.revoked_at.is_(None))
        ).first()
        if row is None or row[1].disabled or row[1].shop_id != row[0].shop_id:
            return None
        return row[0], row[1]

    def create_token(self, user: User, name: str, role: str | None = None) -> tuple[str, ApiToken]:
        """A new API token acting for ``user``; returns (secret, row). Show the secret once."""
        role = role or "agent"
        if role not in ("agent", "owner"):
            raise AccountError("a token's role is agent or owner")
        if role == "owner" and user.role not in ("owner", "admin"):
            raise AccountError("only an owner can make a token with the owner role")
        name = (name or "").strip() or "API token"
        secret = security.new_api_token()
        token = ApiToken(
            shop_id=user.shop_id,
            user_id=user.id,
            name=name[:200],
            role=role,
            token_hash=security.digest(secret),
            prefix=secret[:12],
        )
        self.session.add(token)
        self.session.flush()
        return secret, token


@dataclass
class ReportFilter:
    verdicts: Sequence[str] = ()
    #: Only reports submitted by this user id.
    user_id: str | None = None
    date_from: dt.datetime | None = None
    date_to: dt.datetime | None = None
    sha256: str | None = None
    #: Substring of the file name (case-insensitive).
    name: str | None = None
    limit: int = 50
    offset: int = 0


class ShopScope:
    """One shop's data. Every query here is filtered by ``shop_id``."""

    def __init__(self, session: Session, shop_id: str):
        if not shop_id:
            raise ValueError("a shop scope needs a shop id")
        self.session = session
        self.shop_id = shop_id

    # -- samples and reports ----------------------------------------------------------------
    def record_sample(self, sha256: str, size: int) -> None:
        """Note that the shop received these bytes (once per shop and hash)."""
        values = {"shop_id": self.shop_id, "sha256": sha256, "size": size, "first_seen": utcnow()}
        dialect = self.session.get_bind().dialect.name
        # A fixed statement with the values as parameters: SQLAlchemy caches its compiled
        # form (inline .values() would be re-keyed on every call, a measurable cost per scan).
        self.session.execute(_SAMPLE_INSERT["postgresql" if dialect == "postgresql" else "sqlite"], [values])

    def add_report(self, report: dict[str, Any], **values: Any) -> Report:
        """Store one file's report; the columns lists filter and sort on come from it
        (``values`` may still set them, e.g. for a report saved without them)."""
        values.pop("shop_id", None)
        columns = {
            "verdict": report.get("verdict", "error"),
            "score": int(report.get("score", 0)),
            "summary": report.get("summary", ""),
            "summary_zh": report.get("summary_zh", ""),
            "scan_ms": float(report.get("elapsed_ms", 0.0)),
        }
        row = Report(shop_id=self.shop_id, report=report, **{**columns, **values})
        self.session.add(row)
        return row

    def get_report(self, report_id: str, user_id: str | None = None) -> Report | None:
        query = select(Report).where(Report.shop_id == self.shop_id, Report.id == report_id)
        if user_id is not None:
            query = query.where(Report.user_id == user_id)
        return self.session.scalar(query)

    def has_sample(self, sha256: str) -> bool:
        return (
            self.session.scalar(select(Sample.sha256).where(Sample.shop_id == self.shop_id, Sample.sha256 == sha256))
            is not None
        )

    def list_reports(self, flt: ReportFilter) -> tuple[list[Report], int]:
        conditions = [Report.shop_id == self.shop_id]
        verdicts = [verdict for verdict in flt.verdicts if verdict in VERDICTS]
        if flt.verdicts:
            conditions.append(Report.verdict.in_(verdicts))
        if flt.user_id is not None:
            conditions.append(Report.user_id == flt.user_id)
        if flt.date_from is not None:
            conditions.append(Report.created_at >= flt.date_from)
        if flt.date_to is not None:
            conditions.append(Report.created_at < flt.date_to)
        if flt.sha256:
            conditions.append(Report.sha256 == flt.sha256.lower())
        if flt.name:
            pattern = "%" + flt.name.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            conditions.append(func.lower(Report.file_name).like(pattern, escape="\\"))
        total = self.session.scalar(select(func.count()).select_from(Report).where(*conditions)) or 0
        rows = self.session.scalars(
            select(Report)
            .where(*conditions)
            .order_by(Report.created_at.desc(), Report.id.desc())
            .limit(flt.limit)
            .offset(flt.offset)
        )
        return list(rows), total

    def verdict_counts(self, since: dt.datetime, user_id: str | None = None) -> tuple[Counter[str], list[dt.datetime]]:
        """Counts per verdict since ``since``, and the times of the blocked ones."""
        conditions = [Report.shop_id == self.shop_id, Report.created_at >= since]
        if user_id is not None:
            conditions.append(Report.user_id == user_id)
        rows = self.session.execute(select(Report.verdict, func.count()).where(*conditions).group_by(Report.verdict))
        counts: Counter[str] = Counter({verdict: count for verdict, count in rows})
        blocked_times = list(
            self.session.scalars(select(Report.created_at).where(*conditions, Report.verdict.in_(BLOCKED)))
        )
        return counts, blocked_times

    # -- people and tokens of this shop -------------------------------------------------------
    def shop(self) -> Shop | None:
        return self.session.get(Shop, self.shop_id)

    def users(self) -> list[User]:
        return list(self.session.scalars(select(User).where(User.shop_id == self.shop_id).order_by(User.username)))

    def user(self, id_or_name: str) -> User | None:
        """A user of this shop by id or user name (None for anyone else's)."""
        condition = User.id == id_or_name
        try:
            condition = condition | (User.username == normalize_username(id_or_name))
        except AccountError:
            pass
        return self.session.scalar(select(User).where(User.shop_id == self.shop_id, condition))

    def usernames(self, user_ids: Iterable[str | None]) -> dict[str, str]:
        ids = {user_id for user_id in user_ids if user_id}
        if not ids:
            return {}
        rows = self.session.execute(select(User.id, User.username).where(User.shop_id == self.shop_id, User.id.in_(ids)))
        return {user_id: username for user_id, username in rows}

    def tokens(self) -> list[ApiToken]:
        return list(
            self.session.scalars(select(ApiToken).where(ApiToken.shop_id == self.shop_id).order_by(ApiToken.created_at))
        )

    def revoke_token(self, token_id: str) -> bool:
        result = self.session.execute(
            update(ApiToken)
            .where(ApiToken.shop_id == self.shop_id, ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        return bool(result.rowcount)


_SAMPLE_INSERT = {
    "postgresql": pg_insert(Sample).on_conflict_do_nothing(),
    "sqlite": sqlite_insert(Sample).on_conflict_do_nothing(),
}
