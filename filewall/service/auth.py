"""Who is asking: session cookies for people, bearer tokens for programs, and roles.

- A browser logs in with ``POST /api/v1/login`` and gets the ``filewall_session`` cookie
  (HttpOnly, SameSite=Lax, Secure when configured). The cookie holds a 256-bit secret; the
  server keeps its SHA-256 with an expiry, so logout and revocation take effect at once.
- A program sends ``Authorization: Bearer fwt_...`` (a token made by an owner). A token
  acts for the user who owns it, with the token's role (``agent`` unless made ``owner``).
- Cookie-authenticated requests that change something must come from the desk's own
  pages: a browser's ``Origin`` (or ``Referer``) naming another site is refused (403),
  on top of SameSite=Lax.

Roles: ``agent`` submits files and sees their own reports; ``owner`` sees every report of
the shop, manages its users and tokens, and may download a file judged dangerous after
confirming; ``admin`` (platform admin) is an owner of their own shop who can also create
shops. Nobody, admins included, can read another shop's reports or samples.

The dependencies :func:`optional_principal`, :func:`require_principal` and
:func:`require_owner` are what the HTML pages use too.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from ..store import Accounts

SESSION_COOKIE = "filewall_session"
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class ApiError(Exception):
    """An error answered as ``{"error": code, "message": ..., "message_zh": ...}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        message_zh: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.message_zh = message_zh or message
        self.headers = headers
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, "message_zh": self.message_zh, **self.extra}


@dataclass(frozen=True)
class Principal:
    user_id: str
    username: str
    shop_id: str
    #: The effective role: the user's for a session, the token's for a token.
    role: str
    via: str  # "session" or "token"
    token_id: str | None = None
    session_secret: str | None = None

    @property
    def is_owner(self) -> bool:
        return self.role in ("owner", "admin")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def own_reports_only(self) -> str | None:
        """The user id an agent is restricted to (None for owners: the whole shop)."""
        return None if self.is_owner else self.user_id


def unauthorized(message: str, message_zh: str, code: str = "unauthorized") -> ApiError:
    return ApiError(401, code, message, message_zh, headers={"WWW-Authenticate": 'Bearer realm="filewall"'})


def _resolve(request: Request) -> Principal | None:
    db = request.app.state.db
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, secret = header.strip().partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise unauthorized(
                "The Authorization header must be 'Bearer <token>'.",
                "Authorization 请求头的格式应为 “Bearer <令牌>”。",
                "invalid_token",
            )
        with db.read() as session:
            found = Accounts(session).resolve_token(secret)
            if found is None:
                raise unauthorized(
                    "This API token is not valid (wrong, revoked, or its user was disabled).",
                    "API 令牌无效（错误、已吊销，或其用户已被停用）。",
                    "invalid_token",
                )
            token, user = found
            return Principal(user.id, user.username, token.shop_id, token.role, "token", token_id=token.id)
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        return None
    with db.read() as session:
        found = Accounts(session).resolve_session(secret)
        if found is None:
            return None
        login, user = found
        principal = Principal(user.id, user.username, login.shop_id, user.role, "session", session_secret=secret)
    if request.method in _UNSAFE:
        check_same_origin(request)
    return principal


def check_same_origin(request: Request) -> None:
    """Refuse a cookie-carrying request that a browser says came from another site."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        if source == "null":
            raise ApiError(403, "cross_site", "Requests from other sites are refused.", "拒绝来自其他网站的请求。")
        return
    host = request.headers.get("host", "")
    if urlsplit(source).netloc.lower() != host.lower():
        raise ApiError(403, "cross_site", "Requests from other sites are refused.", "拒绝来自其他网站的请求。")


async def optional_principal(request: Request) -> Principal | None:
    """The caller, or None when not logged in. A bad bearer token is still an error (401)."""
    cached = getattr(request.state, "principal", _MISSING)
    if cached is not _MISSING:
        return cached
    principal = await run_in_threadpool(_resolve, request)
    request.state.principal = principal
    return principal


async def require_principal(principal: Principal | None = Depends(optional_principal)) -> Principal:
    if principal is None:
        raise unauthorized("Log in first (or send an API token).", "请先登录（或提供 API 令牌）。")
    return principal


async def require_owner(principal: Principal = Depends(require_principal)) -> Principal:
    if not principal.is_owner:
        raise ApiError(403, "owner_only", "Only the shop's owner can do this.", "只有店铺负责人可以进行此操作。")
    return principal


async def require_admin(principal: Principal = Depends(require_principal)) -> Principal:
    if not principal.is_admin:
        raise ApiError(403, "admin_only", "Only a platform admin can do this.", "只有平台管理员可以进行此操作。")
    return principal


_MISSING = object()


class LoginThrottle:
    """Refuse logins for a user name after ``max_failures`` failures within the window,
    and from one address after ten times as many (a shop's agents may share one address)."""

    ADDRESS_FACTOR = 10

    def __init__(self, max_failures: int, window_s: float):
        self.max_failures, self.window_s = max_failures, window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _limit(self, key: str) -> int:
        return self.max_failures * (self.ADDRESS_FACTOR if key.startswith("addr:") else 1)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] > self.window_s:
            times.popleft()
        return times

    def retry_after(self, *keys: str) -> float:
        """Seconds until a login may be tried again for these keys (0: now)."""
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for key in keys:
                times = self._recent(key, now)
                if len(times) >= self._limit(key):
                    wait = max(wait, self.window_s - (now - times[-self._limit(key)]))
        return wait

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > 100_000:  # bound memory under a spray of names
                self._failures.clear()
            for key in keys:
                times = self._recent(key, now)
                times.append(now)
                while len(times) > self._limit(key):
                    times.popleft()

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
