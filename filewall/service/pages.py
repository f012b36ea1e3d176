"""The desk's HTML pages: login, the agent's page, the owner's history, a report, the safe view.

Everything the pages need is served by the app itself (``/static``: one CSS file, one
script, an icon); nothing comes from the internet, so the desk works offline. Every page
is sent with a strict Content-Security-Policy (``default-src 'self'``, no inline script)
and ``X-Content-Type-Options: nosniff``. Nothing a customer sent is ever given to the
browser as-is: pictures are our own PNG thumbnails (made by :mod:`filewall.preview` in the
scanning process), documents are text in ``<pre>``, HTML and SVG are shown as source. A
file judged suspicious or malicious can be downloaded only by an owner, after a
confirmation page (the API enforces the same).

The pages read through the same repositories as the JSON API (:mod:`filewall.store`),
with the same principal (:mod:`filewall.service.auth`): an agent sees their own reports,
an owner their whole shop, nobody another shop's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool

from ..extensions import describe_kind, kind_class
from ..identify import EXECUTABLE_KINDS, IMAGE_KINDS
from ..preview import MAX_TEXT_CHARS, name_parts, visible_tree
from ..store import ReportFilter, ShopScope
from ..text import BIDI_CONTROLS, INVISIBLE, visible_name
from .auth import Principal, optional_principal
from .i18n import COOKIE as LANG_COOKIE
from .i18n import LANGUAGES, Translator, pick_language

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

#: Sent with every page, fragment and thumbnail.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
BLOCKED = ("suspicious", "malicious")
#: Nodes shown in one safe view; more are summarised as "N more".
MAX_TREE_NODES = 400
#: Characters of a text preview shown in a card on the agent's page (the report shows all).
CARD_TEXT_CHARS = 3000
#: Reasons shown in a card on the agent's page.
CARD_REASONS = 8
PAGE_SIZE = 50

router = APIRouter(include_in_schema=False)


# -- templates -----------------------------------------------------------------------------


def _filesize(value: Any) -> str:
    try:
        size = float(value)
    except (TypeError, ValueError):
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


_LABELS = sorted({*BIDI_CONTROLS.values(), *INVISIBLE.values()}, key=len, reverse=True)
_MARK_RE = re.compile(r"\[(?:" + "|".join(map(re.escape, _LABELS)) + r"|U\+[0-9A-F]{4,6}|…\d+ spaces…)\]")


def _hidden_marks(value: Any) -> Markup:
    """Escape a visible name and wrap its ``[RLO]``-style marks so they stand out."""
    text = str(value or "")
    out, last = [], 0
    for match in _MARK_RE.finditer(text):
        out.append(escape(text[last : match.start()]))
        out.append(Markup('<span class="hidden-mark">{}</span>').format(match.group(0)))
        last = match.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


def _asset_version() -> str:
    digest = hashlib.sha256()
    for name in sorted(os.listdir(STATIC)):
        digest.update(name.encode())
        digest.update((STATIC / name).read_bytes())
    return digest.hexdigest()[:10]


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.ChainableUndefined,
)
_env.filters["filesize"] = _filesize
_env.filters["visible"] = lambda value: visible_name(str(value or ""))
_env.filters["hidden_marks"] = _hidden_marks
_env.globals["asset_version"] = _asset_version()


def _secure(response: Response, cache: bool = False) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers["Cache-Control"] = "private, max-age=3600" if cache else "no-store"
    return response


def _language(request: Request) -> str:
    return pick_language(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    language = _language(request)
    page = _env.get_template(template).render(
        lang=language, t=Translator(language), here=_here(request), **context
    )
    return _secure(HTMLResponse(page, status_code=status))


def _safe_next(value: str | None) -> str:
    """A local path to go back to, never another site (``//host``, ``/\\host``, ``http:``)."""
    if (
        not value
        or not value.startswith("/")
        or value.startswith(("//", "/\\"))
        or any(c in value for c in "\r\n")
    ):
        return "/"
    return value


def _to_login(request: Request) -> RedirectResponse:
    return _secure(RedirectResponse("/login?" + urlencode({"next": _here(request)}), status_code=303))


# -- data access -----------------------------------------------------------------------------


def _db(request: Request):
    return request.app.state.db


def _settings(request: Request):
    return request.app.state.settings


async def _in_thread(function: Callable[..., Any], *args: Any) -> Any:
    return await run_in_threadpool(function, *args)


def _user_view(request: Request, principal: Principal) -> tuple[dict[str, Any], str]:
    with _db(request).read() as session:
        scope = ShopScope(session, principal.shop_id)
        user = scope.user(principal.user_id)
        shop = scope.shop()
        view = {
            "username": principal.username,
            "display_name": (user.display_name if user else None) or principal.username,
            "role": principal.role,
        }
        return view, (shop.name if shop else "")


def _load_report(request: Request, principal: Principal, report_id: str) -> dict[str, Any] | None:
    """The stored report as plain data, or None when it is not this principal's to see."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", report_id or ""):
        return None
    with _db(request).read() as session:
        scope = ShopScope(session, principal.shop_id)
        row = scope.get_report(report_id, user_id=principal.own_reports_only())
        if row is None:
            return None
        sender = scope.user(row.user_id) if row.user_id else None
        return {
            "id": row.id,
            "verdict": row.verdict,
            "score": row.score,
            "file_name": row.file_name,
            "size": row.size,
            "sha256": row.sha256,
            "summary": row.summary,
            "summary_zh": row.summary_zh,
            "created_at": row.created_at,
            "agent": (sender.display_name or sender.username) if sender else "",
            "report": row.report or {},
            "chat": row.chat,
        }


# -- previews ----------------------------------------------------------------------------------


def _previews(report: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """The previews stored with a report, by node index (see filewall.preview.scan_for_desk).

    The API stores a thumbnail's bytes in the preview blob store and leaves
    ``{"blob": "<sha256>", "size", "mime"}`` in their place (filewall.service.api).
    """
    found: dict[int, dict[str, Any]] = {}
    raw = report.get("previews") or {}
    if not isinstance(raw, dict):
        return found
    for key, value in raw.items():
        try:
            index = int(key)
        except (TypeError, ValueError):
            continue
        if isinstance(value, dict):
            found[index] = value
    return found


def _thumbnail_path(request: Request, preview: dict[str, Any]) -> Path | None:
    ref = preview.get("png")
    digest = ref.get("blob") if isinstance(ref, dict) else None
    if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
        return None
    path = Path(request.app.state.previews.path_for(digest))
    return path if path.is_file() else None


def _read_head(path: Path, limit: int) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(limit)


# -- view models -------------------------------------------------------------------------------

_ARCHIVE_KINDS = {
    "zip",
    "7z",
    "rar",
    "gzip",
    "bzip2",
    "xz",
    "zstd",
    "tar",
    "cab",
    "arj",
    "cpio",
    "iso",
    "lzh",
    "szdd",
}


def _icon(kind: str) -> str:
    if kind in _ARCHIVE_KINDS:
        return "▣"
    if kind in IMAGE_KINDS:
        return "▨"
    if kind in EXECUTABLE_KINDS or kind in ("lnk", "dos-mz", "hta", "chm"):
        return "⚠"
    if kind in ("text", "pdf", "ooxml", "ole", "rtf", "odf", "html", "xml", "email"):
        return "≡"
    return "•"


def _type_label(kind: str, t: Translator) -> str:
    described = describe_kind(kind)
    if described:
        english, chinese = described
        return chinese if t.language == "zh" else english
    klass = kind_class(kind)
    if klass is not None:
        return klass.zh if t.language == "zh" else klass.en
    return kind or "?"


def _card(
    request: Request, item: dict[str, Any], t: Translator, principal: Principal, full: bool
) -> dict[str, Any]:
    report = item["report"]
    previews = _previews(report)
    findings = [finding for finding in report.get("findings", []) if isinstance(finding, dict)]
    by_where: dict[str, dict[str, Any]] = {}
    for finding in findings:
        if finding.get("score", 0) > 0:
            best = by_where.get(finding.get("where", ""))
            if best is None or finding.get("score", 0) > best.get("score", 0):
                by_where[finding.get("where", "")] = finding

    budget = [MAX_TREE_NODES]

    def decorate(node: dict[str, Any]) -> dict[str, Any]:
        budget[0] -= 1
        kind = str(node.get("type", ""))
        node["icon"] = _icon(kind)
        node["type_label"] = _type_label(kind, t)
        flagged = by_where.get(str(node.get("path", "")))
        node["flag"] = t.pick(flagged) if flagged and node.get("depth", 0) > 0 else ""
        preview = previews.get(node["index"])
        if preview:
            preview = dict(preview)
            if preview.get("kind") == "text":
                text = str(preview.get("text", ""))
                limit = MAX_TEXT_CHARS if full else CARD_TEXT_CHARS
                preview["cut"] = bool(preview.get("truncated")) or len(text) > limit
                preview["text"] = text[:limit]
            elif preview.get("kind") == "image" and _thumbnail_path(request, preview) is None:
                preview = None
        node["preview"] = preview
        children = node.get("children") or []
        kept = []
        for child in children:
            if budget[0] <= 0:
                break
            kept.append(decorate(child))
        node["more"] = len(children) - len(kept)
        node["children"] = kept
        return node

    tree = visible_tree(report.get("tree") or {})
    tree = decorate(tree) if tree else None
    sentence = (item["summary_zh"] if t.language == "zh" else item["summary"]) or item["summary"]
    # The card's sentence is the strongest reason already: the list gives the others.
    shown = [
        finding
        for finding in findings
        if (finding.get("score", 0) > 0 or full) and (full or t.pick(finding) != sentence)
    ]
    shown.sort(key=lambda finding: -int(finding.get("score", 0) or 0))
    reasons = [
        {
            "severity": finding.get("severity", "info"),
            "message": t.pick(finding),
            "where": visible_name(str(finding.get("where", "")))
            if "/" in str(finding.get("where", ""))
            else "",
        }
        for finding in (shown if full else shown[:CARD_REASONS])
    ]
    chat = item.get("chat") or report.get("chat") or {}
    chat_reasons = [
        {"message": t.pick(reason), "quote": str(reason.get("quote", ""))[:200]}
        for reason in (chat.get("reasons") or [])
        if isinstance(reason, dict)
    ][:6]
    verdict = item["verdict"]
    if verdict in BLOCKED:
        download = "confirm" if principal.is_owner else "blocked"
    elif verdict == "clean":
        download = "direct"
    else:
        download = "confirm" if principal.is_owner else "blocked"
    created = item["created_at"]
    return {
        "id": item["id"],
        "verdict": verdict,
        "score": item["score"],
        "name": name_parts(item["file_name"]),
        "sentence": sentence or t(f"advice_{verdict}"),
        "reasons": reasons,
        "chat_reasons": chat_reasons,
        "tree": tree,
        "open_tree": True,
        "download": download,
        "sha256": item["sha256"],
        "size": item["size"],
        "agent": item["agent"],
        "created_at": _local_time(created),
    }


def _local_time(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone().strftime("%Y-%m-%d %H:%M")


# -- routes: static, language ------------------------------------------------------------------


@router.get("/static/{name}")
async def static_file(name: str) -> Response:
    suffix = os.path.splitext(name)[1]
    if not re.fullmatch(r"[a-z0-9_-]+\.[a-z]+", name) or suffix not in STATIC_TYPES:
        return _secure(Response("not found", status_code=404, media_type="text/plain"))
    path = STATIC / name
    if not path.is_file():
        return _secure(Response("not found", status_code=404, media_type="text/plain"))
    return _secure(FileResponse(path, media_type=STATIC_TYPES[suffix]), cache=True)


@router.get("/lang/{code}")
async def switch_language(code: str, request: Request, next: str = "/") -> Response:
    response = RedirectResponse(_safe_next(next), status_code=303)
    if code in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE, code, max_age=365 * 24 * 3600, samesite="lax", httponly=True, path="/"
        )
    return _secure(response)


# -- routes: pages -----------------------------------------------------------------------------


@router.get("/login")
async def login_page(
    request: Request, next: str = "/", principal: Principal | None = Depends(optional_principal)
):
    if principal is not None:
        return _secure(RedirectResponse(_safe_next(next), status_code=303))
    return _render(request, "login.html", user=None, next=_safe_next(next))


@router.get("/")
async def agent_page(request: Request, principal: Principal | None = Depends(optional_principal)):
    if principal is None:
        return _to_login(request)
    user, shop_name = await _in_thread(_user_view, request, principal)
    return _render(
        request,
        "agent.html",
        user=user,
        shop_name=shop_name,
        active="check",
        limits=_settings(request).public(),
    )


@router.get("/reports/{report_id}")
async def report_page(
    report_id: str, request: Request, principal: Principal | None = Depends(optional_principal)
):
    if principal is None:
        return _to_login(request)
    t = Translator(_language(request))
    item = await _in_thread(_load_report, request, principal, report_id)
    user, shop_name = await _in_thread(_user_view, request, principal)
    if item is None:
        return _render(
            request, "message.html", status=404, user=user, shop_name=shop_name, message=t("not_found")
        )
    card = _card(request, item, t, principal, full=True)
    back = "/history" if principal.is_owner else "/"
    return _render(request, "report.html", user=user, shop_name=shop_name, card=card, back_url=back)


@router.get("/reports/{report_id}/card")
async def report_card(
    report_id: str, request: Request, principal: Principal | None = Depends(optional_principal)
):
    """The verdict card alone (an HTML fragment the agent's page inserts after a scan)."""
    if principal is None:
        return _secure(Response("", status_code=401))
    item = await _in_thread(_load_report, request, principal, report_id)
    if item is None:
        return _secure(Response("", status_code=404))
    t = Translator(_language(request))
    card = _card(request, item, t, principal, full=False)
    page = _env.get_template("card.html").render(lang=t.language, t=t, card=card)
    return _secure(HTMLResponse(page))


@router.get("/reports/{report_id}/preview/{index}.png")
async def report_thumbnail(
    report_id: str, index: int, request: Request, principal: Principal | None = Depends(optional_principal)
):
    """A thumbnail made by the server (never the customer's bytes), as ``image/png``."""
    if principal is None:
        return _secure(Response(status_code=401))
    item = await _in_thread(_load_report, request, principal, report_id)
    preview = _previews(item["report"]).get(index) if item else None
    if not preview or preview.get("kind") != "image":
        return _secure(Response(status_code=404))
    path = _thumbnail_path(request, preview)
    if path is None:
        return _secure(Response(status_code=404))
    data = await _in_thread(_read_head, path, 8 * 1024 * 1024)
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):  # only our own PNGs ever leave here
        return _secure(Response(status_code=404))
    response = Response(data, media_type="image/png")
    response.headers["Content-Disposition"] = f'inline; filename="preview-{index}.png"'
    return _secure(response, cache=True)


@router.get("/reports/{report_id}/download")
async def download_page(
    report_id: str, request: Request, principal: Principal | None = Depends(optional_principal)
):
    """Clean files go straight to the sample; others need an owner and a confirmation."""
    if principal is None:
        return _to_login(request)
    t = Translator(_language(request))
    item = await _in_thread(_load_report, request, principal, report_id)
    user, shop_name = await _in_thread(_user_view, request, principal)
    if item is None:
        return _render(
            request, "message.html", status=404, user=user, shop_name=shop_name, message=t("not_found")
        )
    if item["verdict"] == "clean":
        return _secure(RedirectResponse(f"/api/v1/reports/{item['id']}/sample", status_code=303))
    if not principal.is_owner:
        message = f"{t('download_blocked')} {t('download_owner_only')}"
        return _render(request, "message.html", status=403, user=user, shop_name=shop_name, message=message)
    card = _card(request, item, t, principal, full=False)
    return _render(request, "download.html", user=user, shop_name=shop_name, card=card)


# -- the owner's history -----------------------------------------------------------------------


def _parse_day(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _day_start(day: dt.date) -> dt.datetime:
    """Midnight at the start of ``day`` in the server's time zone, as aware UTC."""
    local = dt.datetime.combine(day, dt.time()).astimezone()
    return local.astimezone(dt.UTC)


def _history(request: Request, principal: Principal, params: dict[str, str]) -> dict[str, Any]:
    t = Translator(_language(request))
    verdict = params.get("verdict", "")
    agent = params.get("agent", "")
    day_from, day_to = _parse_day(params.get("from")), _parse_day(params.get("to"))
    try:
        page = max(0, int(params.get("page", "0") or 0))
    except ValueError:
        page = 0
    with _db(request).read() as session:
        scope = ShopScope(session, principal.shop_id)
        users = scope.users()
        user_id = None
        if agent:
            chosen = scope.user(agent)
            user_id = chosen.id if chosen else "-none-"
        flt = ReportFilter(
            verdicts=(verdict,) if verdict else (),
            user_id=user_id,
            date_from=_day_start(day_from) if day_from else None,
            date_to=_day_start(day_to + dt.timedelta(days=1)) if day_to else None,
            limit=PAGE_SIZE,
            offset=page * PAGE_SIZE,
        )
        rows, total = scope.list_reports(flt)
        names = {user.id: user.display_name or user.username for user in users}
        counts, _ = scope.verdict_counts(dt.datetime.now(dt.UTC) - dt.timedelta(days=7))
        shop = scope.shop()
        me = scope.user(principal.user_id)
        view_rows = [
            {
                "id": row.id,
                "verdict": row.verdict,
                "name": name_parts(row.file_name),
                "agent": names.get(row.user_id or "", ""),
                "summary": (row.summary_zh if t.language == "zh" else row.summary) or row.summary,
                "created_at": _local_time(row.created_at),
            }
            for row in rows
        ]
        agents = [{"username": user.username, "display_name": user.display_name} for user in users]
        user_view = {
            "username": principal.username,
            "display_name": (me.display_name if me else None) or principal.username,
            "role": principal.role,
        }
    base = {
        key: value for key, value in params.items() if key in ("verdict", "agent", "from", "to") and value
    }
    prev_url = "/history?" + urlencode({**base, "page": page - 1}) if page > 0 else ""
    next_url = "/history?" + urlencode({**base, "page": page + 1}) if (page + 1) * PAGE_SIZE < total else ""
    return {
        "user": user_view,
        "shop_name": shop.name if shop else "",
        "rows": view_rows,
        "total": total,
        "agents": agents,
        "filters": {
            "verdict": verdict,
            "agent": agent,
            "date_from": day_from.isoformat() if day_from else "",
            "date_to": day_to.isoformat() if day_to else "",
        },
        "week": {
            "blocked": sum(counts.get(name, 0) for name in BLOCKED),
            "malicious": counts.get("malicious", 0),
            "suspicious": counts.get("suspicious", 0),
            "total": sum(counts.values()),
        },
        "prev_url": prev_url,
        "next_url": next_url,
    }


@router.get("/history")
async def history_page(request: Request, principal: Principal | None = Depends(optional_principal)):
    if principal is None:
        return _to_login(request)
    if not principal.is_owner:
        t = Translator(_language(request))
        user, shop_name = await _in_thread(_user_view, request, principal)
        return _render(
            request, "message.html", status=403, user=user, shop_name=shop_name, message=t("owners_only")
        )
    params = {key: value for key, value in request.query_params.items() if isinstance(value, str)}
    context = await _in_thread(_history, request, principal, params)
    return _render(request, "history.html", active="history", **context)


__all__ = ["router", "CSP", "SECURITY_HEADERS"]
