"""The support desk's JSON API, under ``/api/v1`` (schema: ``GET /api/v1/openapi.json``).

Contract (for the pages and for programs)
=========================================

Authentication: a session cookie from ``POST /api/v1/login`` (browsers), or
``Authorization: Bearer fwt_...`` (programs; tokens from ``POST /api/v1/tokens`` or
``filewall token create``). Missing or bad credentials: 401. Roles: see
:mod:`filewall.service.auth`. Everything is scoped to the caller's shop; an agent sees only
the reports of files they submitted themselves. A report id of another shop (or another
agent's, for an agent), or any id that does not exist, is 404, never 403.

Errors are JSON: ``{"error": "<code>", "message": "<English>", "message_zh": "<中文>"}``
plus details for some codes. Codes: ``unauthorized``, ``invalid_token``,
``invalid_credentials``, ``too_many_attempts`` (429), ``owner_only``, ``admin_only``,
``cross_site``, ``not_found``, ``upload_too_large`` (413), ``too_many_files``,
``no_files``, ``chat_too_long``, ``too_many_passwords``, ``bad_upload``, ``bad_date``,
``bad_verdict``, ``confirmation_required``, ``download_forbidden``, ``sample_gone`` (410),
``scanner_busy`` (503), ``storage_failed`` (507), ``invalid_request`` (422), ``conflict``.

Endpoints
---------
``POST /login``     JSON ``{"username","password"}`` or form fields of the same names →
                    ``{"user","shop"}`` and the session cookie. Bad: 401 ``invalid_credentials``.
``POST /logout``    Ends the session (the cookie stops working everywhere).
``GET  /me``        ``{"user","shop","role","via","limits":{max_upload_bytes,max_files,...}}``.
``POST /scans``     multipart/form-data: ``files`` (one or more), optional ``chat`` (the
                    conversation text), ``password`` (repeatable), ``sender`` (the customer's
                    account, free text). Answers only after every sample and report is on
                    disk and committed: ``{"submission_id", "reports": [<summary>, ...]}``
                    in the order the files were sent; ``chat`` (its analysis) when given.
``GET  /reports``   Query: ``verdict`` (repeatable), ``agent`` (user id or name; owners),
                    ``date_from``/``date_to`` (``YYYY-MM-DD``, inclusive, or ISO datetimes),
                    ``q`` (part of the file name), ``sha256``, ``limit`` (≤200), ``offset``.
                    → ``{"reports": [<summary>], "total", "limit", "offset"}``, newest first.
``GET  /reports/{id}``         ``<summary>`` plus ``"report"``: the full engine report
                               (``Report.to_dict()``: findings, tree, indicators, chat,
                               and previews when the preview hook made them).
``GET  /reports/{id}/sample``  The original bytes, as an attachment. Clean: anyone who can
                               see the report. Suspicious/malicious/error: owners only, and
                               only with ``?confirm=yes`` (else 403 ``download_forbidden`` /
                               400 ``confirmation_required``).
``GET  /reports/{id}/blobs/{sha256}``  A preview image or text stored with the report.
``GET  /stats/week``  Query ``tz_offset_minutes`` (JavaScript's getTimezoneOffset()).
                      ``{"since","until","total","blocked","by_verdict":{...},
                      "by_day":[{"date","blocked"}...]}`` over the last 7 days (agents:
                      their own files).
``GET/POST /users``   Owners: list the shop's users / add one (``username``, ``password``,
                      ``role`` agent|owner, ``display_name``).
``GET/POST /tokens``, ``DELETE /tokens/{id}``  Owners: API tokens (``name``, ``role``
                      agent|owner, ``user``); the secret is in the POST answer only.
``GET/POST /admin/shops``  Platform admins: list shops / create one with its first owner.
``GET /healthz`` (outside /api/v1)  ``{"status":"ok",...}``, 503 when the database or the
                                    scanner is down.

A report summary::

    {"id", "submission_id", "created_at", "file_name", "size", "sha256", "verdict",
     "score", "summary", "summary_zh", "findings": [...], "chat": {...}|null,
     "sender", "user": {"id","username"}, "scan_ms",
     "sample_access": "allowed" | "confirm" | "forbidden",
     "links": {"self", "sample"}}

(list items leave out ``findings`` and ``chat`` and carry ``finding_count``).

For the safe view (filewall.preview): when a module ``filewall.preview`` defines
``scan_for_desk(source, name, options) -> dict`` it is called in the scanning process
instead of the plain engine (``source`` is the path of the stored sample or its bytes) and
must return a ``Report.to_dict()``-shaped dict; anything extra it puts there (a
``"preview"`` key on tree nodes, a top-level ``"previews"`` map...) is stored with the
report as is, except that every ``bytes`` value is written to the preview store and
replaced by ``{"blob": "<sha256>", "size": n, "mime": "<sniffed type>"}``, served by
``GET /api/v1/reports/{id}/blobs/{sha256}``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import secrets
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from ..engine import ScanOptions
from ..storage import Stored, StoreError
from ..store import AccountError, Accounts, ReportFilter, ShopScope
from ..store.models import VERDICTS, Report, iso
from ..text import visible_name
from .auth import (
    SESSION_COOKIE,
    ApiError,
    LoginThrottle,
    Principal,
    check_same_origin,
    optional_principal,
    require_admin,
    require_owner,
    require_principal,
)
from .scanner import ScannerBusy, ScannerClosed

router = APIRouter(prefix="/api/v1")

#: Uploads up to this size are handed to the scanner as bytes, so the scan runs while the
#: sample is flushed to disk; larger ones are scanned from the stored file.
INLINE_SCAN_BYTES = 8 * 1024 * 1024
_REPORT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{16,32}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_UUID_RE = re.compile(r"^[0-9a-f-]{36}$")


def _not_found() -> ApiError:
    return ApiError(404, "not_found", "No such report.", "没有这份报告。")


# -- accounts -----------------------------------------------------------------------------------
@router.post(
    "/login",
    summary="Log in with a user name and password; sets the session cookie",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["username", "password"],
                        "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
                    }
                },
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["username", "password"],
                        "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
                    }
                },
            },
        }
    },
)
async def login(request: Request, response: Response) -> dict[str, Any]:
    check_same_origin(request)
    username, password = await _credentials(request)
    settings = request.app.state.settings
    throttle: LoginThrottle = request.app.state.login_throttle
    keys = (f"user:{username.strip().lower()}", f"addr:{request.client.host if request.client else '-'}")
    wait = throttle.retry_after(*keys)
    if wait > 0:
        raise ApiError(
            429,
            "too_many_attempts",
            f"Too many failed logins. Try again in {int(wait) + 1} seconds.",
            f"登录失败次数过多，请在 {int(wait) + 1} 秒后重试。",
            headers={"Retry-After": str(int(wait) + 1)},
        )

    def work() -> tuple[str, dict[str, Any]] | None:
        with request.app.state.db.write() as session:
            accounts = Accounts(session)
            user = accounts.authenticate(username, password)
            if user is None:
                return None
            secret = accounts.create_session(user, settings.session_hours)
            shop = accounts.shop_by_id(user.shop_id)
            return secret, {"user": user.to_dict(), "shop": shop.to_dict() if shop else None}

    result = await run_in_threadpool(work)
    if result is None:
        throttle.failed(*keys)
        raise ApiError(401, "invalid_credentials", "Wrong user name or password.", "用户名或密码错误。")
    throttle.succeeded(keys[0])
    secret, body = result
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(settings.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    return body


async def _credentials(request: Request) -> tuple[str, str]:
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("application/json"):
            data = await request.json()
            if not isinstance(data, dict):
                raise ValueError
        else:
            data = dict(await request.form(max_files=0, max_fields=10))
    except Exception as error:
        raise ApiError(
            400, "invalid_request", "Send a user name and password (JSON or form).", "请提供用户名和密码（JSON 或表单）。"
        ) from error
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
        raise ApiError(400, "invalid_request", "Send a user name and password.", "请提供用户名和密码。")
    return username, password


@router.post("/logout", summary="End the session (the cookie stops working)")
async def logout(request: Request, response: Response) -> dict[str, Any]:
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        check_same_origin(request)

        def work() -> None:
            with request.app.state.db.write() as session:
                Accounts(session).end_session(secret)

        await run_in_threadpool(work)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=request.app.state.settings.cookie_secure)
    return {"ok": True}


@router.get("/me", summary="Who is logged in, their shop, and the upload limits")
async def me(request: Request, principal: Principal = Depends(require_principal)) -> dict[str, Any]:
    def work() -> dict[str, Any]:
        with request.app.state.db.read() as session:
            scope = ShopScope(session, principal.shop_id)
            user = scope.user(principal.user_id)
            shop = scope.shop()
            return {
                "user": user.to_dict() if user else None,
                "shop": shop.to_dict() if shop else None,
                "role": principal.role,
                "via": principal.via,
                "limits": request.app.state.settings.public(),
            }

    return await run_in_threadpool(work)


# -- scans ----------------------------------------------------------------------------------------
_SCAN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        "chat": {"type": "string", "description": "The conversation that came with the files."},
                        "password": {"type": "array", "items": {"type": "string"}, "description": "Archive passwords to try."},
                        "sender": {"type": "string", "description": "The customer account that sent the files."},
                    },
                }
            }
        },
    }
}


@router.post(
    "/scans",
    summary="Scan uploaded files (with the chat text and passwords); answers after a durable write",
    openapi_extra=_SCAN_BODY,
)
async def create_scans(request: Request, principal: Principal = Depends(require_principal)) -> JSONResponse:
    app = request.app
    settings = app.state.settings
    form = await _read_upload_form(request, settings)
    uploads = [item for item in form.getlist("files") if isinstance(item, UploadFile)]
    if not uploads:
        raise ApiError(
            400,
            "no_files",
            "No file was sent: send one or more files as multipart/form-data fields named 'files'.",
            "没有收到文件：请以 multipart/form-data 的 files 字段发送一个或多个文件。",
        )
    if len(uploads) > settings.max_files:
        raise _too_many_files(settings.max_files)
    chat_text = _text_field(form, "chat")
    if chat_text and len(chat_text) > settings.max_chat_chars:
        raise ApiError(
            400,
            "chat_too_long",
            f"The chat text is longer than {settings.max_chat_chars} characters; paste only the conversation about these files.",
            f"聊天内容超过 {settings.max_chat_chars} 个字符；请只粘贴与这些文件有关的对话。",
        )
    passwords = [value for value in form.getlist("password") if isinstance(value, str) and value]
    if len(passwords) > settings.max_passwords:
        raise ApiError(
            400,
            "too_many_passwords",
            f"At most {settings.max_passwords} passwords can be tried.",
            f"最多可以尝试 {settings.max_passwords} 个密码。",
        )
    sender = (_text_field(form, "sender") or "").strip()[:256] or None

    chat_result = None
    if chat_text and chat_text.strip():
        chat_result = await run_in_threadpool(_analyze_chat, chat_text)
        passwords += [item for item in chat_result.get("passwords", []) if item not in passwords]
    options = ScanOptions(limits=settings.limits, passwords=passwords, chat=chat_result)

    # -- scale-out hook (filewall.queue): with a broker configured (FILEWALL_BROKER_URL), store
    # the samples, enqueue them and let `filewall worker` processes scan and store the reports.
    from .. import queue as scan_queue

    if scan_queue.desk_config(app) is not None:
        return await scan_queue.submit_uploads(app, principal, uploads, options, chat_result, sender)
    # -- end of scale-out hook

    results = await asyncio.gather(*(_store_and_scan(app, upload, options) for upload in uploads), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    submission_id = secrets.token_urlsafe(12)

    def persist() -> list[dict[str, Any]]:
        rows = []
        reports = [_externalize_blobs(app, report) for _, _, report in results]
        with app.state.db.write() as session:
            scope = ShopScope(session, principal.shop_id)
            for (name, stored, _), report in zip(results, reports, strict=True):
                scope.record_sample(stored.sha256, stored.size)
                rows.append(
                    scope.add_report(
                        user_id=principal.user_id,
                        token_id=principal.token_id,
                        submission_id=submission_id,
                        file_name=name,
                        size=stored.size,
                        sha256=stored.sha256,
                        report=report,
                        chat=chat_result,
                        sender=sender,
                    )
                )
        return [_summary(row, principal, {principal.user_id: principal.username}, full=True) for row in rows]

    try:
        summaries = await run_in_threadpool(persist)
    except StoreError as error:
        raise _storage_failed(error) from error
    body: dict[str, Any] = {"submission_id": submission_id, "reports": summaries}
    if chat_result is not None:
        body["chat"] = chat_result
    return JSONResponse(body)  # already plain JSON: skip FastAPI's re-encoding of big reports


async def _read_upload_form(request: Request, settings):
    try:
        return await request.form(
            max_files=settings.max_files, max_fields=settings.max_passwords + 16, max_part_size=4 * settings.max_chat_chars + 4096
        )
    except HTTPException as error:
        detail = str(error.detail)
        if "Too many files" in detail:
            raise _too_many_files(settings.max_files) from error
        if "exceeded maximum size" in detail:
            raise ApiError(
                400, "chat_too_long", "A text field (the chat?) is too long.", "某个文本字段（聊天内容？）太长。"
            ) from error
        raise ApiError(400, "bad_upload", f"The upload could not be read: {detail}", f"无法读取上传内容：{detail}") from error


def _too_many_files(limit: int) -> ApiError:
    return ApiError(
        400,
        "too_many_files",
        f"Too many files: at most {limit} can be sent at once. Send the rest in another upload.",
        f"文件太多：一次最多发送 {limit} 个文件，其余的请分批上传。",
        max_files=limit,
    )


def _storage_failed(error: Exception) -> ApiError:
    return ApiError(
        507,
        "storage_failed",
        f"The desk could not store the file ({error}); nothing was recorded. Tell the administrator.",
        f"服务器无法保存文件（{error}），本次未记录任何内容。请联系管理员。",
    )


def _text_field(form, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def _analyze_chat(text: str) -> dict[str, Any]:
    from ..chat import analyze_chat

    return analyze_chat(text).to_dict()


def clean_file_name(raw: str | None) -> str:
    """The name as the customer sent it, minus any folder part; hidden characters are kept
    (the engine must see them), NULs are not, and an absurdly long name keeps its ends."""
    name = (raw or "").replace("\x00", "")
    name = re.split(r"[\\/]", name)[-1] if name else ""
    if not name.strip():
        return "upload"
    if len(name) > 1000:
        name = name[:400] + "…" + name[-400:]
    return name


async def _store_and_scan(app, upload: UploadFile, options: ScanOptions) -> tuple[str, Stored, dict[str, Any]]:
    """Write one upload durably into the sample store and scan it in the pool."""
    store = app.state.samples
    scanner = app.state.scanner
    name = clean_file_name(upload.filename)
    size = upload.size if upload.size is not None else INLINE_SCAN_BYTES + 1
    try:
        if size <= INLINE_SCAN_BYTES:
            data = await upload.read()
            future = scanner.submit(data, name, options)
            try:
                stored = await run_in_threadpool(store.put_bytes, data)  # written and flushed while the scan runs
            except BaseException:
                future.cancel()
                raise
        else:
            await upload.seek(0)
            stored = await run_in_threadpool(store.put_stream, upload.file)
            future = scanner.submit(str(stored.path), name, options)
    except StoreError as error:
        raise _storage_failed(error) from error
    except ScannerBusy as error:
        raise ApiError(
            503,
            "scanner_busy",
            f"The scanner is busy ({error}). Try again in a minute.",
            "扫描服务繁忙，请一分钟后重试。",
            headers={"Retry-After": "30"},
        ) from error
    except ScannerClosed as error:
        raise ApiError(503, "scanner_busy", "The desk is shutting down.", "服务正在关闭。") from error
    report = await asyncio.wrap_future(future)
    return name, stored, report


# -- previews (bytes → blob store) -----------------------------------------------------------------
def _externalize_blobs(app, report: dict[str, Any]) -> dict[str, Any]:
    """Replace every bytes value in the report by a reference to the preview store."""
    store = app.state.previews

    def convert(value: Any) -> Any:
        if isinstance(value, (bytes, bytearray, memoryview)):
            data = bytes(value)
            stored = store.put_bytes(data)
            return {"blob": stored.sha256, "size": stored.size, "mime": sniff_mime(data)}
        if isinstance(value, dict):
            return {key: convert(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [convert(item) for item in value]
        return value

    return convert(report)


def sniff_mime(data: bytes) -> str:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    try:
        data[:4096].decode("utf-8")
        return "text/plain; charset=utf-8"
    except UnicodeDecodeError:
        return "application/octet-stream"


def _blob_refs(value: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    if isinstance(value, dict):
        if isinstance(value.get("blob"), str) and _SHA256_RE.match(value["blob"]):
            found[value["blob"]] = str(value.get("mime") or "application/octet-stream")
        for item in value.values():
            found.update(_blob_refs(item))
    elif isinstance(value, list):
        for item in value:
            found.update(_blob_refs(item))
    return found


# -- reports --------------------------------------------------------------------------------------------
def sample_access(verdict: str, principal: Principal) -> str:
    if verdict == "clean":
        return "allowed"
    return "confirm" if principal.is_owner else "forbidden"


def _summary(row: Report, principal: Principal, usernames: dict[str, str], full: bool) -> dict[str, Any]:
    findings = (row.report or {}).get("findings", [])
    data: dict[str, Any] = {
        "id": row.id,
        "submission_id": row.submission_id,
        "created_at": iso(row.created_at),
        "file_name": row.file_name,
        "file_name_visible": visible_name(row.file_name),
        "size": row.size,
        "sha256": row.sha256,
        "verdict": row.verdict,
        "score": row.score,
        "summary": row.summary,
        "summary_zh": row.summary_zh,
        "sender": row.sender,
        "user": {"id": row.user_id, "username": usernames.get(row.user_id or "")},
        "scan_ms": round(row.scan_ms or 0.0, 1),
        "sample_access": sample_access(row.verdict, principal),
        "links": {"self": f"/api/v1/reports/{row.id}", "sample": f"/api/v1/reports/{row.id}/sample"},
    }
    if full:
        data["findings"] = findings
        data["chat"] = row.chat
    else:
        data["finding_count"] = sum(1 for finding in findings if finding.get("score", 0) > 0)
    return data


def parse_when(value: str | None, end: bool) -> dt.datetime | None:
    """``YYYY-MM-DD`` (a whole UTC day; inclusive at the end) or an ISO datetime."""
    if value is None or value == "":
        return None
    text = value.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
            return day + dt.timedelta(days=1) if end else day
        # A "+08:00" in a query string arrives as " 08:00" when the client did not escape it.
        moment = dt.datetime.fromisoformat(text.replace(" ", "+") if "T" in text else text)
    except ValueError as error:
        raise ApiError(
            400,
            "bad_date",
            f"Not a date: {value!r}. Use YYYY-MM-DD or an ISO 8601 time.",
            f"日期格式不正确：{value!r}。请使用 YYYY-MM-DD 或 ISO 8601 时间。",
        ) from error
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@router.get("/reports", summary="List the shop's reports (agents: their own), newest first")
async def list_reports(
    request: Request,
    principal: Principal = Depends(require_principal),
    verdict: list[str] = Query(default=[]),
    agent: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    q: str | None = Query(default=None, max_length=200),
    sha256: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=50, ge=1, le=200),
    offset: int = Query(default=0, ge=0, le=10_000_000),
) -> JSONResponse:
    verdicts = [item for value in verdict for item in value.split(",") if item]
    unknown = [item for item in verdicts if item not in VERDICTS]
    if unknown:
        raise ApiError(
            400, "bad_verdict", f"Unknown verdict {unknown[0]!r}; use {', '.join(VERDICTS)}.", f"未知的结论 {unknown[0]!r}。"
        )
    flt = ReportFilter(
        verdicts=verdicts,
        date_from=parse_when(date_from, end=False),
        date_to=parse_when(date_to, end=True),
        sha256=sha256,
        name=q,
        limit=limit,
        offset=offset,
    )

    def work() -> dict[str, Any]:
        with request.app.state.db.read() as session:
            scope = ShopScope(session, principal.shop_id)
            flt.user_id = principal.own_reports_only()
            if agent and flt.user_id is None:
                user = scope.user(agent)
                if user is None:
                    return {"reports": [], "total": 0, "limit": limit, "offset": offset}
                flt.user_id = user.id
            rows, total = scope.list_reports(flt)
            names = scope.usernames(row.user_id for row in rows)
            return {
                "reports": [_summary(row, principal, names, full=False) for row in rows],
                "total": total,
                "limit": limit,
                "offset": offset,
            }

    return JSONResponse(await run_in_threadpool(work))


def _load_report(request: Request, principal: Principal, report_id: str) -> tuple[Report, dict[str, str]]:
    if not _REPORT_ID_RE.match(report_id):
        raise _not_found()
    with request.app.state.db.read() as session:
        scope = ShopScope(session, principal.shop_id)
        row = scope.get_report(report_id, user_id=principal.own_reports_only())
        if row is None:
            raise _not_found()
        return row, scope.usernames([row.user_id])


@router.get("/reports/{report_id}", summary="One report, with the full scan tree")
async def get_report(request: Request, report_id: str, principal: Principal = Depends(require_principal)) -> JSONResponse:
    row, names = await run_in_threadpool(_load_report, request, principal, report_id)
    data = _summary(row, principal, names, full=True)
    data["report"] = row.report
    return JSONResponse(data)


@router.get(
    "/reports/{report_id}/sample",
    summary="Download the original file (dangerous ones: owners only, with confirm=yes)",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def get_sample(
    request: Request, report_id: str, confirm: str | None = None, principal: Principal = Depends(require_principal)
):
    row, _ = await run_in_threadpool(_load_report, request, principal, report_id)
    access = sample_access(row.verdict, principal)
    if access == "forbidden":
        raise ApiError(
            403,
            "download_forbidden",
            "This file was judged dangerous; only the shop's owner can download it. Use the safe view instead.",
            "该文件被判定为危险，只有店铺负责人可以下载。请使用安全预览查看内容。",
        )
    if access == "confirm" and confirm != "yes":
        raise ApiError(
            400,
            "confirmation_required",
            f"This file was judged {row.verdict}. Downloading it puts your computer at risk; add ?confirm=yes to confirm.",
            "该文件被判定为有风险。下载可能危害您的电脑；如确认下载，请加上 ?confirm=yes。",
            verdict=row.verdict,
        )
    store = request.app.state.samples
    path = store.path_for(row.sha256)
    if not await run_in_threadpool(path.is_file):
        raise ApiError(410, "sample_gone", "The file is no longer stored.", "该文件已不再保存。")
    shown = visible_name(row.file_name)
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", shown)[:100] or "sample"
    headers = {
        "Content-Disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(shown, safe='')}",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
        "X-Filewall-Verdict": row.verdict,
        "X-Filewall-Sha256": row.sha256,
    }
    return FileResponse(path, media_type="application/octet-stream", headers=headers)


@router.get("/reports/{report_id}/blobs/{sha256}", summary="A preview (thumbnail, extracted text) of a report")
async def get_blob(request: Request, report_id: str, sha256: str, principal: Principal = Depends(require_principal)):
    if not _SHA256_RE.match(sha256):
        raise _not_found()
    row, _ = await run_in_threadpool(_load_report, request, principal, report_id)
    refs = _blob_refs(row.report)
    if sha256 not in refs:
        raise _not_found()
    path = request.app.state.previews.path_for(sha256)
    if not await run_in_threadpool(path.is_file):
        raise ApiError(410, "sample_gone", "The preview is no longer stored.", "该预览已不再保存。")
    mime = refs[sha256]
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600",
               "Content-Security-Policy": "default-src 'none'; sandbox"}
    if not mime.startswith(("image/png", "image/jpeg", "image/gif", "image/webp", "text/plain")):
        mime = "application/octet-stream"
    return FileResponse(path, media_type=mime, headers=headers)


# -- statistics -------------------------------------------------------------------------------------------
@router.get("/stats/week", summary="What was blocked in the last 7 days")
async def week_stats(
    request: Request,
    principal: Principal = Depends(require_principal),
    tz_offset_minutes: int = Query(default=0, ge=-16 * 60, le=16 * 60),
) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    since = now - dt.timedelta(days=7)
    # JavaScript's getTimezoneOffset(): minutes to *add* to local time to get UTC.
    local = dt.timezone(-dt.timedelta(minutes=tz_offset_minutes))

    def work() -> dict[str, Any]:
        with request.app.state.db.read() as session:
            counts, blocked_times = ShopScope(session, principal.shop_id).verdict_counts(
                since, principal.own_reports_only()
            )
        today = now.astimezone(local).date()
        days = [today - dt.timedelta(days=offset) for offset in range(6, -1, -1)]
        per_day = dict.fromkeys(days, 0)
        for moment in blocked_times:
            day = moment.astimezone(local).date()
            if day in per_day:
                per_day[day] += 1
        return {
            "since": iso(since),
            "until": iso(now),
            "total": sum(counts.values()),
            "blocked": counts.get("malicious", 0) + counts.get("suspicious", 0),
            "by_verdict": {verdict: counts.get(verdict, 0) for verdict in VERDICTS},
            "by_day": [{"date": day.isoformat(), "blocked": per_day[day]} for day in days],
        }

    return await run_in_threadpool(work)


# -- users, tokens, shops ------------------------------------------------------------------------------------
async def _json_body(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ApiError(400, "invalid_request", "Send a JSON object.", "请发送 JSON 对象。") from error
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_request", "Send a JSON object.", "请发送 JSON 对象。")
    return data


def _account_error(error: AccountError) -> ApiError:
    message = str(error)
    if error.conflict:
        return ApiError(409, "conflict", message[:1].upper() + message[1:] + ".", message)
    return ApiError(400, "invalid_request", message[:1].upper() + message[1:] + ".", message)


@router.get("/users", summary="The shop's users (owners)")
async def list_users(request: Request, principal: Principal = Depends(require_owner)) -> dict[str, Any]:
    def work() -> dict[str, Any]:
        with request.app.state.db.read() as session:
            return {"users": [user.to_dict() for user in ShopScope(session, principal.shop_id).users()]}

    return await run_in_threadpool(work)


@router.post(
    "/users",
    status_code=201,
    summary="Add a user to the shop (owners)",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["username", "password"],
        "properties": {"username": {"type": "string"}, "password": {"type": "string", "minLength": 8},
                       "role": {"type": "string", "enum": ["agent", "owner"]}, "display_name": {"type": "string"}}}}}}},
)
async def create_user(request: Request, principal: Principal = Depends(require_owner)) -> dict[str, Any]:
    data = await _json_body(request)
    role = data.get("role") or "agent"
    if role not in ("agent", "owner"):
        raise ApiError(400, "invalid_request", "A shop user's role is agent or owner.", "店铺用户的角色只能是 agent 或 owner。")

    def work() -> dict[str, Any]:
        with request.app.state.db.write() as session:
            accounts = Accounts(session)
            shop = accounts.shop_by_id(principal.shop_id)
            user = accounts.create_user(
                shop, str(data.get("username") or ""), str(data.get("password") or ""), role, data.get("display_name")
            )
            return {"user": user.to_dict()}

    try:
        return await run_in_threadpool(work)
    except AccountError as error:
        raise _account_error(error) from error


@router.get("/tokens", summary="The shop's API tokens, without their secrets (owners)")
async def list_tokens(request: Request, principal: Principal = Depends(require_owner)) -> dict[str, Any]:
    def work() -> dict[str, Any]:
        with request.app.state.db.read() as session:
            return {"tokens": [token.to_dict() for token in ShopScope(session, principal.shop_id).tokens()]}

    return await run_in_threadpool(work)


@router.post(
    "/tokens",
    status_code=201,
    summary="Create an API token for programs (owners); the secret is shown only here",
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "role": {"type": "string", "enum": ["agent", "owner"]},
                       "user": {"type": "string", "description": "User id or name it acts for (default: you)."}}}}}}},
)
async def create_token(request: Request, principal: Principal = Depends(require_owner)) -> dict[str, Any]:
    data = await _json_body(request) if await request.body() else {}

    def work() -> dict[str, Any]:
        with request.app.state.db.write() as session:
            scope = ShopScope(session, principal.shop_id)
            user = scope.user(str(data["user"])) if data.get("user") else scope.user(principal.user_id)
            if user is None:
                raise ApiError(404, "not_found", "No such user in this shop.", "本店没有这个用户。")
            secret, token = Accounts(session).create_token(user, str(data.get("name") or ""), data.get("role"))
            return {"token": secret, **token.to_dict()}

    try:
        return await run_in_threadpool(work)
    except AccountError as error:
        raise _account_error(error) from error


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke an API token (owners)")
async def revoke_token(request: Request, token_id: str, principal: Principal = Depends(require_owner)) -> Response:
    if not _UUID_RE.match(token_id):
        raise ApiError(404, "not_found", "No such token.", "没有这个令牌。")

    def work() -> bool:
        with request.app.state.db.write() as session:
            return ShopScope(session, principal.shop_id).revoke_token(token_id)

    if not await run_in_threadpool(work):
        raise ApiError(404, "not_found", "No such token.", "没有这个令牌。")
    return Response(status_code=204)


@router.get("/admin/shops", summary="Every shop (platform admins; names only, never their reports)")
async def list_shops(request: Request, principal: Principal = Depends(require_admin)) -> dict[str, Any]:
    def work() -> dict[str, Any]:
        with request.app.state.db.read() as session:
            return {"shops": [shop.to_dict() for shop in Accounts(session).list_shops()]}

    return await run_in_threadpool(work)


@router.post(
    "/admin/shops",
    status_code=201,
    summary="Create a shop and its first owner (platform admins)",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["name", "owner"],
        "properties": {"name": {"type": "string"}, "industry": {"type": "string"}, "region": {"type": "string"},
                       "owner": {"type": "object", "required": ["username", "password"],
                                 "properties": {"username": {"type": "string"}, "password": {"type": "string"}}}}}}}}},
)
async def create_shop(request: Request, principal: Principal = Depends(require_admin)) -> dict[str, Any]:
    data = await _json_body(request)
    owner = data.get("owner") if isinstance(data.get("owner"), dict) else {}

    def work() -> dict[str, Any]:
        with request.app.state.db.write() as session:
            accounts = Accounts(session)
            shop = accounts.create_shop(str(data.get("name") or ""), data.get("industry"), data.get("region"))
            user = accounts.create_user(shop, str(owner.get("username") or ""), str(owner.get("password") or ""), "owner")
            return {"shop": shop.to_dict(), "owner": user.to_dict()}

    try:
        return await run_in_threadpool(work)
    except AccountError as error:
        raise _account_error(error) from error


__all__ = ["router", "optional_principal", "require_principal", "require_owner", "clean_file_name", "sniff_mime"]
