"""The support desk's ASGI app: ``create_app(settings)``, served by ``filewall serve``.

On creation it prepares the data folder, connects to the database and applies migrations;
at start-up (the ASGI lifespan) it starts the supervised scanning processes, and at
shutdown it stops them. The web process itself never parses an upload: it hashes and
stores the bytes and waits for the scanner, so it stays responsive while files are scanned.

HTML pages: if a module ``filewall.service.pages`` exists it is mounted here. It should
define ``router`` (a FastAPI ``APIRouter``) and may define ``setup(app)`` (to mount static
files, templates...). Its handlers can use the dependencies in
:mod:`filewall.service.auth` and the objects on ``app.state``: ``settings``, ``db``
(:class:`filewall.store.Database`), ``samples`` and ``previews``
(:class:`filewall.storage.BlobStore`) and ``scanner`` (:class:`ScanService`).
"""

from __future__ import annotations

import importlib
import logging
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..storage import BlobStore
from ..store import Accounts, Database
from . import api
from .auth import ApiError, LoginThrottle
from .scanner import ScanService, default_hard_timeout
from .settings import Settings

log = logging.getLogger(__name__)

PAGES_MODULE = "filewall.service.pages"
#: Room for the multipart framing, the chat text and the passwords beside the files.
UPLOAD_SLACK = 1024 * 1024
#: Any other request body (JSON, a login form) is small.
SMALL_BODY = 1024 * 1024
#: How much of a refused body is read and dropped before answering 413.
DRAIN_MAX = 1024 * 1024 * 1024


def create_app(settings: Settings | None = None, *, include_pages: bool | None = None) -> FastAPI:
    settings = settings or Settings.load()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database)
    db.migrate()
    with db.write() as session:
        Accounts(session).purge_expired_sessions()
    samples = BlobStore(settings.samples_dir).setup()
    previews = BlobStore(settings.previews_dir).setup()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        scanner = ScanService(
            settings.workers,
            hard_timeout=default_hard_timeout_for(settings),
            memory_limit=settings.worker_memory_mb * 2**20,
        )
        await run_in_threadpool(scanner.start)
        app.state.scanner = scanner
        try:
            yield
        finally:
            await run_in_threadpool(scanner.close)
            db.dispose()

    app = FastAPI(
        title="filewall support desk",
        version=__version__,
        description=(api.__doc__ or "").split("Endpoints")[0],
        lifespan=lifespan,
        # Swagger UI and ReDoc load their assets from a CDN; the desk works offline, so only
        # the schema is served.
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.settings = settings
    app.state.db = db
    app.state.samples = samples
    app.state.previews = previews
    app.state.login_throttle = LoginThrottle(settings.login_max_failures, settings.login_window_s)

    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(Exception, _internal_error)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodyLimit, settings=settings)

    app.include_router(api.router)
    app.include_router(importlib.import_module(".platform_api", __package__).router)  # cross-shop platform (+ pages)

    @app.get("/healthz", summary="Is the desk up (database reachable, scanner running)?")
    async def healthz(request: Request) -> JSONResponse:
        status: dict[str, Any] = {"status": "ok", "version": __version__, "database": db.dialect}
        try:
            await run_in_threadpool(db.ping)
        except Exception as error:
            status.update(status="error", database_error=type(error).__name__)
        scanner: ScanService | None = getattr(request.app.state, "scanner", None)
        if scanner is None or not scanner.alive():
            status.update(status="error", scanner="stopped")
        else:
            status["scanner"] = {"workers": scanner.size, "queued": scanner.queued()}
        return JSONResponse(status, status_code=200 if status["status"] == "ok" else 503)

    if settings.include_pages if include_pages is None else include_pages:
        _include_pages(app)
    return app


def default_hard_timeout_for(settings: Settings) -> float:
    from ..engine import ScanOptions

    return default_hard_timeout(ScanOptions(limits=settings.limits))


def _include_pages(app: FastAPI) -> None:
    try:
        pages = importlib.import_module(PAGES_MODULE)
    except ModuleNotFoundError as error:
        if error.name != PAGES_MODULE:
            raise
        return
    if hasattr(pages, "setup"):
        pages.setup(app)
    if hasattr(pages, "router"):
        app.include_router(pages.router)


# -- errors ---------------------------------------------------------------------------------------
_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
          409: "conflict", 413: "upload_too_large", 429: "too_many_attempts"}


async def _api_error(request: Request, error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


async def _http_error(request: Request, error: HTTPException):
    if not request.url.path.startswith("/api/"):
        return await http_exception_handler(request, error)
    body = {
        "error": _CODES.get(error.status_code, "error"),
        "message": str(error.detail),
        "message_zh": str(error.detail),
    }
    return JSONResponse(body, status_code=error.status_code, headers=getattr(error, "headers", None))


async def _database_down(request: Request, error: OperationalError) -> JSONResponse:
    log.error("database unavailable: %s", error)
    body = {"error": "database_unavailable",
            "message": "The desk's database is not answering; nothing was recorded. Try again shortly.",
            "message_zh": "服务器数据库暂时无法访问，本次未记录任何内容。请稍后重试。"}
    return JSONResponse(body, status_code=503, headers={"Retry-After": "10"})


async def _internal_error(request: Request, error: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    body = {"error": "internal_error",
            "message": "Something went wrong on the desk; it is logged. Try again, or tell the administrator.",
            "message_zh": "服务器内部出错（已记录）。请重试或联系管理员。"}
    return JSONResponse(body, status_code=500)


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    details = [
        {"where": ".".join(str(part) for part in item.get("loc", ())), "problem": item.get("msg", "")}
        for item in error.errors()
    ]
    text = "; ".join(f"{item['where']}: {item['problem']}" for item in details)
    body = {"error": "invalid_request", "message": f"Invalid request: {text}", "message_zh": f"请求无效：{text}",
            "details": details}
    return JSONResponse(body, status_code=422)


# -- middleware -------------------------------------------------------------------------------------
class _TooLarge(Exception):
    pass


class BodyLimit:
    """Refuse request bodies over the upload limit with a clear 413, before reading them
    when the client declares the length, or as soon as the limit is passed when it doesn't."""

    def __init__(self, app: ASGIApp, settings: Settings):
        self.app = app
        self.settings = settings

    def limit_for(self, path: str) -> int:
        if path.startswith("/api/") and path != "/api/v1/scans":
            return SMALL_BODY
        return self.settings.max_upload_bytes + UPLOAD_SLACK

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(scope, receive, send, limit)
            return
        received = 0
        started = False
        body_done = False

        async def limited_receive() -> Message:
            nonlocal received, body_done
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if received > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send, limit, drain=not body_done)
        except BaseExceptionGroup as group:  # raised inside a task group
            matched, rest = group.split(_TooLarge)
            if matched is None or rest is not None or started:
                raise
            await self._refuse(scope, receive, send, limit, drain=not body_done)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int, drain: bool = True) -> None:
        # Read (and drop) what the client is still sending, so that it is not cut off mid-
        # upload and can read the answer; past DRAIN_MAX the connection is simply closed.
        drained = 0
        while drain and drained <= DRAIN_MAX:
            message = await receive()
            if message["type"] != "http.request":
                break
            drained += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        upload = max(0, limit - UPLOAD_SLACK) if limit > SMALL_BODY else limit
        megabytes = upload / 2**20
        body = {
            "error": "upload_too_large",
            "message": f"The upload is larger than the limit of {megabytes:g} MB per submission. Send fewer or smaller files.",
            "message_zh": f"上传内容超过每次 {megabytes:g} MB 的上限。请减少文件数量或发送更小的文件。",
            "limit_bytes": upload,
        }
        response = JSONResponse(body, status_code=413, headers={"Connection": "close"})
        await response(scope, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class SecurityHeaders:
    """Headers every answer carries; API answers are never cached."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_api = scope.get("path", "").startswith("/api/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {key.lower() for key, _ in headers}
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                ]
                if is_api:
                    extra.append((b"cache-control", b"no-store"))
                headers += [(key, value) for key, value in extra if key not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


__all__ = ["create_app", "Settings"]
