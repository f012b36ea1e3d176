"""Campaign pages: ``/platform/campaigns`` and ``/platform/campaigns/{id}``.

Admins see every campaign in full (shop names, report ids). A shop's owner sees only the
campaigns that reached their shop, with every shop as a pseudonym (theirs marked "your
shop"); agents are sent back. Server-rendered HTML with the desk's stylesheet and the
desk's Content-Security-Policy (no inline script or style, nothing from a CDN); the
timeline is an inline SVG drawn here (presentation attributes only).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import DictLoader, Environment, select_autoescape
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from ..platform import pipeline
from .auth import Principal, optional_principal
from .platform_api import _campaign_doc, _db, _secret, _visible

router = APIRouter()

_BASE = """<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}{% endblock %} · filewall</title>
<link rel="stylesheet" href="/static/desk.css"><link rel="icon" href="/static/favicon.svg"></head>
<body><header class="top"><a href="/">filewall</a> · <a href="/platform/campaigns">攻击活动 / Campaigns</a>
<span class="who">{{ principal.username }}{% if principal.is_admin %} (admin){% endif %}</span></header>
<main>{% block main %}{% endblock %}</main></body></html>"""

_LIST = """{% extends "base" %}{% block title %}Campaigns{% endblock %}{% block main %}
<h1>攻击活动 / Campaigns</h1>
{% if not admin %}<p>Only campaigns that reached your shop are shown; other shops are anonymised.
只显示波及贵店的攻击活动，其他店铺均已匿名。</p>{% endif %}
{% if not campaigns %}<p>No campaigns yet. 暂无攻击活动。</p>{% else %}
<table class="campaigns"><thead><tr><th>Campaign</th><th>Shops</th><th>Reports</th><th>First seen</th>
<th>Last seen</th><th>Industries</th>{% if admin %}<th>Alerted</th>{% endif %}</tr></thead><tbody>
{% for c in campaigns %}<tr><td><a href="/platform/campaigns/{{ c.id }}">{{ c.name }}</a><br><code>{{ c.id }}</code></td>
<td>{{ c.shop_count }}</td><td>{{ c.report_count }}</td><td>{{ c.first_seen }}</td><td>{{ c.last_seen }}</td>
<td>{{ c.industries | join_counts }}</td>{% if admin %}<td>{{ c.alerted_at or "" }}</td>{% endif %}</tr>{% endfor %}
</tbody></table>{% endif %}
{% endblock %}"""

_DETAIL = """{% extends "base" %}{% block title %}{{ c.name }}{% endblock %}{% block main %}
<h1>{{ c.name }}</h1>
<p><code>{{ c.id }}</code> · {{ c.shop_count }} shops · {{ c.report_count }} reports ·
first seen {{ c.first_seen }} · last seen {{ c.last_seen }}</p>
{% if admin %}<p><a href="/api/v1/platform/campaigns/{{ c.id }}/stix" download>STIX 2.1</a> ·
<a href="/api/v1/platform/campaigns/{{ c.id }}/misp" download>MISP</a></p>{% endif %}
<h2>Timeline / 时间线</h2>
<figure class="timeline">{{ svg }}<figcaption>Bars: reports per day; line: shops reached so far.</figcaption></figure>
<h2>Shops affected / 受影响店铺 ({{ c.shop_count }})</h2>
<table><thead><tr><th>Shop</th><th>Industry</th><th>Region</th></tr></thead><tbody>
{% for s in c.shops %}<tr><td>{% if admin %}{{ s.name or s.id }}{% else %}{{ s.id }}{% if s.you %} (your shop / 贵店){% endif %}{% endif %}</td>
<td>{{ s.industry or "" }}</td><td>{{ s.region or "" }}</td></tr>{% endfor %}</tbody></table>
<h2>Industries / 行业</h2><p>{{ c.industries | join_counts }}</p>
<h2>Regions / 地区</h2><p>{{ c.regions | join_counts }}</p>
<h2>Files / 文件 ({{ c.files | length }})</h2>
<table><thead><tr><th>Name</th><th>Type</th><th>Size</th><th>SHA-256</th><th>Shops</th></tr></thead><tbody>
{% for f in c.files %}<tr><td>{{ f.names | join(", ") }}</td><td>{{ f.type }}</td><td>{{ f.size }}</td>
<td><code>{{ f.sha256 }}</code>{% if f.imphash %}<br>imphash <code>{{ f.imphash }}</code>{% endif %}</td><td>{{ f.shops }}</td></tr>{% endfor %}
</tbody></table>
<h2>Indicators / 指标</h2>
{% if c.indicators %}<table><thead><tr><th>Kind</th><th>Value</th><th>Shops</th></tr></thead><tbody>
{% for i in c.indicators %}<tr><td>{{ i.kind }}</td><td><code>{{ i.value }}</code></td><td>{{ i.shops }}</td></tr>{% endfor %}
</tbody></table>{% else %}<p>Linked by similarity only (see below).</p>{% endif %}
<h2>Sender accounts / 发送账号</h2>
{% if c.senders %}<ul>{% for s in c.senders %}<li><code>{{ s }}</code></li>{% endfor %}</ul>{% else %}<p>None known.</p>{% endif %}
{% if c.lures %}<h2>Chat scripts / 话术</h2>{% for l in c.lures %}<blockquote>{{ l }}</blockquote>{% endfor %}{% endif %}
{% endblock %}"""


def _join_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} ({value})" for key, value in (counts or {}).items())


_env = Environment(
    loader=DictLoader({"base": _BASE, "list": _LIST, "detail": _DETAIL}),
    autoescape=select_autoescape(default=True),
)
_env.filters["join_counts"] = _join_counts


def timeline_svg(timeline: list[dict[str, Any]], width: int = 720, height: int = 180) -> Markup:
    """Reports per day as bars and shops reached so far as a line; every day from first to last."""
    if not timeline:
        return Markup("")
    days = {item["day"]: item for item in timeline}
    first = dt.date.fromisoformat(timeline[0]["day"])
    last = dt.date.fromisoformat(timeline[-1]["day"])
    span = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    left, right, top, bottom = 40, 40, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    most = max(item["reports"] for item in timeline) or 1
    total_shops = sum(item["new_shops"] for item in timeline) or 1
    step = plot_w / len(span)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="timeline">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#888"/>',
    ]
    points, shops = [], 0
    for index, day in enumerate(span):
        item = days.get(day.isoformat(), {"reports": 0, "new_shops": 0})
        bar = plot_h * item["reports"] / most
        x = left + index * step
        if item["reports"]:
            parts.append(
                f'<rect x="{x + step * 0.1:.1f}" y="{top + plot_h - bar:.1f}" width="{max(step * 0.8, 1):.1f}" '
                f'height="{bar:.1f}" fill="#c0392b"><title>{day}: {item["reports"]} reports</title></rect>'
            )
        shops += item["new_shops"]
        points.append(f"{x + step / 2:.1f},{top + plot_h - plot_h * shops / total_shops:.1f}")
    parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="#2c3e50" stroke-width="2"/>')
    parts.append(f'<text x="{left}" y="{height - 8}" font-size="11">{first}</text>')
    parts.append(f'<text x="{left + plot_w}" y="{height - 8}" font-size="11" text-anchor="end">{last}</text>')
    parts.append(f'<text x="{left - 4}" y="{top + 10}" font-size="11" text-anchor="end">{most}</text>')
    parts.append(f'<text x="{left + plot_w + 4}" y="{top + 10}" font-size="11">{total_shops} shops</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _page(template: str, **context: Any) -> HTMLResponse:
    from .pages import SECURITY_HEADERS

    response = HTMLResponse(_env.get_template(template).render(**context))
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = "no-store"
    return response


def _gate(request: Request, principal: Principal | None):
    if principal is None:
        query = urlencode({"next": request.url.path})
        return RedirectResponse(f"/login?{query}", status_code=303)
    if not principal.is_owner:
        return _page_message(
            "Only shop owners and platform admins can see campaigns. 只有店铺负责人和平台管理员可以查看。",
            principal,
            403,
        )
    return None


def _page_message(text: str, principal: Principal, status: int) -> HTMLResponse:
    env = Environment(
        loader=DictLoader(
            {"base": _BASE, "m": '{% extends "base" %}{% block main %}<p>{{ text }}</p>{% endblock %}'}
        ),
        autoescape=True,
    )
    response = HTMLResponse(env.get_template("m").render(text=text, principal=principal), status_code=status)
    from .pages import SECURITY_HEADERS

    response.headers.update(SECURITY_HEADERS)
    return response


@router.get("/platform/campaigns", response_class=HTMLResponse)
async def campaigns_page(request: Request, principal: Principal | None = Depends(optional_principal)):
    gate = _gate(request, principal)
    if gate is not None:
        return gate
    docs = await run_in_threadpool(pipeline.stored_campaigns, _db(request))
    secret = await run_in_threadpool(_secret, request)
    views = [view for doc in docs if (view := _visible(doc, principal, secret)) is not None]
    return _page("list", campaigns=views, admin=principal.is_admin, principal=principal)


@router.get("/platform/campaigns/{campaign_id}", response_class=HTMLResponse)
async def campaign_page(
    campaign_id: str, request: Request, principal: Principal | None = Depends(optional_principal)
):
    gate = _gate(request, principal)
    if gate is not None:
        return gate
    doc = await run_in_threadpool(_campaign_doc, _db(request), campaign_id)
    view = None if doc is None else _visible(doc, principal, await run_in_threadpool(_secret, request))
    if view is None:
        return _page_message("No such campaign. 没有这个攻击活动。", principal, 404)
    return _page(
        "detail",
        c=view,
        svg=timeline_svg(view.get("timeline") or []),
        admin=principal.is_admin,
        principal=principal,
    )
