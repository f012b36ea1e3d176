"""The cross-shop platform's API (``/api/v1/platform``): campaigns, alerts, updates.

Admins (role ``admin``) see campaigns in full and manage what goes into the signed update;
shops see only what concerns them, and never another shop's identity.

``GET  /platform/update``                 the signed update (any logged-in user or token)
``GET  /platform/update/public-key``      the Ed25519 public key clients verify it with
``GET  /platform/promoted``               promoted hashes and rules (admin)
``POST /platform/promoted``               ``{"kind": "sha256"|"sha1"|"md5"|"yara", "value", "label"}``
                                          (admin); a YARA rule is retro-hunted over stored samples
``DELETE /platform/promoted/{id}``        revoke (admin)
``POST /platform/campaigns/refresh``      index new reports, correlate, alert (admin)
``GET  /platform/campaigns``              campaigns (admin: full; others: those that hit their
                                          shop, anonymised)
``GET  /platform/campaigns/{id}``         one campaign (same rule)
``GET  /platform/campaigns/{id}/stix``    STIX 2.1 bundle (admin)
``GET  /platform/campaigns/{id}/misp``    MISP event (admin)
``POST /platform/campaigns/{id}/promote`` promote the campaign's file hashes (admin)
``GET  /platform/alerts``                 campaign alerts (admin)
``GET  /platform/notices``                retro-hunt notices for the caller's shop (owner)
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from ..platform import pipeline, updates
from ..platform.campaigns import pseudonym
from ..platform.store_models import AlertRow, CampaignRow, migrate
from .auth import ApiError, Principal, require_admin, require_owner, require_principal

router = APIRouter(prefix="/api/v1/platform")
_migrated: set[int] = set()
_lock = threading.Lock()


def _db(request: Request):
    db = request.app.state.db
    if id(db) not in _migrated:
        with _lock:
            if id(db) not in _migrated:
                migrate(db)
                _migrated.add(id(db))
    return db


def _settings(request: Request):
    return request.app.state.settings


class Promotion(BaseModel):
    kind: str
    value: str
    label: str = ""


@router.get("/update", summary="The signed update: promoted hashes and YARA rules")
async def get_update(request: Request, principal: Principal = Depends(require_principal)) -> dict[str, Any]:
    db = _db(request)
    return await run_in_threadpool(updates.signed_update, db, _settings(request).data_dir)


@router.get("/update/public-key", summary="The Ed25519 public key that signs updates")
async def get_public_key(
    request: Request, principal: Principal = Depends(require_principal)
) -> dict[str, str]:
    key = await run_in_threadpool(updates.load_signing_key, _settings(request).data_dir)
    public = updates.public_key_b64(key)
    return {"algorithm": "ed25519", "public_key": public, "key_id": updates.key_id(public)}


@router.get("/promoted", summary="Promoted hashes and rules (admin)")
async def get_promoted(
    request: Request, principal: Principal = Depends(require_admin)
) -> list[dict[str, Any]]:
    return await run_in_threadpool(updates.list_promoted, _db(request))


@router.post("/promoted", status_code=201, summary="Promote a hash or a YARA rule into the update (admin)")
async def post_promoted(
    body: Promotion, request: Request, principal: Principal = Depends(require_admin)
) -> dict[str, Any]:
    db = _db(request)
    try:
        row = await run_in_threadpool(
            updates.promote, db, body.kind, body.value, body.label, principal.username
        )
    except ValueError as error:
        raise ApiError(400, "invalid_indicator", str(error)) from error
    if row["kind"] == "yara":
        hits = await run_in_threadpool(
            updates.retro_hunt, db, request.app.state.samples, row["value"], body.label
        )
        row["retro_hunt"] = {
            "shops": len({hit.shop_id for hit in hits}),
            "samples": len({hit.sha256 for hit in hits}),
        }
    return row


@router.post(
    "/promoted/import",
    status_code=201,
    summary="Promote what a shared file holds: a hash list, STIX bundle, MISP event or YARA file (admin)",
)
async def import_promoted(request: Request, principal: Principal = Depends(require_admin)) -> dict[str, Any]:
    import tempfile
    from pathlib import Path

    from ..platform.share import import_hashes, import_yara

    form = await request.form()
    upload = form.get("file")
    if upload is None or not hasattr(upload, "read"):
        raise ApiError(400, "no_file", "Send the file as multipart field 'file'.")
    name = Path(upload.filename or "shared.txt").name
    data = await upload.read()
    db = _db(request)

    def work() -> dict[str, Any]:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder, name)
            path.write_bytes(data)
            if name.lower().endswith((".yar", ".yara")):
                rules = import_yara(path)
                row = updates.promote(
                    db, "yara", rules.text, f"{name}: {', '.join(rules.rule_names)}"[:300], principal.username
                )
                hits = updates.retro_hunt(db, request.app.state.samples, rules.text, name)
                return {"promoted": [row], "retro_hunt": {"shops": len({h.shop_id for h in hits})}}
            items = [item for item in import_hashes(path) if item.kind in updates.HASH_KINDS]
            rows = [
                updates.promote(db, item.kind, item.value, item.label, principal.username) for item in items
            ]
            return {"promoted": rows}

    try:
        return await run_in_threadpool(work)
    except (ValueError, UnicodeDecodeError) as error:
        raise ApiError(400, "invalid_file", str(error)) from error


@router.delete("/promoted/{promoted_id}", status_code=204, summary="Revoke a promotion (admin)")
async def delete_promoted(
    promoted_id: int, request: Request, principal: Principal = Depends(require_admin)
) -> Response:
    if not await run_in_threadpool(updates.revoke, _db(request), promoted_id):
        raise ApiError(404, "not_found", "No such promotion (or already revoked).")
    return Response(status_code=204)


def _refresh(request: Request) -> pipeline.RunResult:
    settings = _settings(request)
    return pipeline.run(
        _db(request),
        pipeline.PlatformSettings.load(settings.data_dir),
        request.app.state.samples,
        secret=updates.pseudonym_secret(settings.data_dir),
    )


@router.post("/campaigns/refresh", summary="Index new reports, correlate, alert (admin)")
async def refresh(request: Request, principal: Principal = Depends(require_admin)) -> dict[str, Any]:
    result = await run_in_threadpool(_refresh, request)
    return {
        "indexed": result.indexed,
        "campaigns": len(result.campaigns),
        "alerts": [alert.payload() for alert in result.alerts],
        "over_correlating": result.over_correlating[:100],
    }


def _visible(doc: dict[str, Any], principal: Principal, secret: bytes) -> dict[str, Any] | None:
    """Admins: everything. A shop: only campaigns that hit it, with every shop anonymised."""
    if principal.is_admin:
        return doc
    shop_ids = {shop["id"] for shop in doc.get("shops", [])}
    if principal.shop_id not in shop_ids:
        return None
    view = {k: v for k, v in doc.items() if k not in ("reports", "sightings", "similar", "alerted_at")}
    view["shops"] = [
        {"id": pseudonym(shop["id"], secret), "industry": shop.get("industry"), "region": shop.get("region"),
         "you": shop["id"] == principal.shop_id}
        for shop in doc.get("shops", [])
    ]  # fmt: skip
    return view


def _secret(request: Request) -> bytes:
    """The pseudonym key: derived from the private signing key (stable, never published)."""
    return updates.pseudonym_secret(_settings(request).data_dir)


@router.get("/campaigns", summary="Campaigns (admin: all; shops: those that hit them, anonymised)")
async def list_campaigns(
    request: Request, principal: Principal = Depends(require_principal)
) -> list[dict[str, Any]]:
    docs = await run_in_threadpool(pipeline.stored_campaigns, _db(request))
    secret = await run_in_threadpool(_secret, request)
    return [view for doc in docs if (view := _visible(doc, principal, secret)) is not None]


def _campaign_doc(db, campaign_id: str) -> dict[str, Any] | None:
    with db.read() as session:
        row = session.get(CampaignRow, campaign_id)
        return None if row is None else row.doc


async def _one(request: Request, campaign_id: str, principal: Principal) -> dict[str, Any]:
    doc = await run_in_threadpool(_campaign_doc, _db(request), campaign_id)
    view = None if doc is None else _visible(doc, principal, await run_in_threadpool(_secret, request))
    if view is None:
        raise ApiError(404, "not_found", "No such campaign.", "没有这个攻击活动。")
    return view


@router.get("/campaigns/{campaign_id}", summary="One campaign")
async def get_campaign(
    campaign_id: str, request: Request, principal: Principal = Depends(require_principal)
) -> dict[str, Any]:
    return await _one(request, campaign_id, principal)


@router.get("/campaigns/{campaign_id}/stix", summary="The campaign as a STIX 2.1 bundle (admin)")
async def get_stix(
    campaign_id: str, request: Request, principal: Principal = Depends(require_admin)
) -> Response:
    from ..platform.share import stix_bundle

    doc = await _one(request, campaign_id, principal)
    text = await run_in_threadpool(stix_bundle, pipeline.campaign_from_doc(doc))
    return Response(text, media_type="application/stix+json;version=2.1")


@router.get("/campaigns/{campaign_id}/misp", summary="The campaign as a MISP event (admin)")
async def get_misp(
    campaign_id: str, request: Request, principal: Principal = Depends(require_admin)
) -> dict[str, Any]:
    from ..platform.share import misp_event

    doc = await _one(request, campaign_id, principal)
    return misp_event(pipeline.campaign_from_doc(doc))


@router.post("/campaigns/{campaign_id}/promote", summary="Promote the campaign's file hashes (admin)")
async def promote_campaign(
    campaign_id: str, request: Request, principal: Principal = Depends(require_admin)
) -> dict[str, Any]:
    doc = await _one(request, campaign_id, principal)
    db = _db(request)
    promoted = []
    for item in doc.get("files", []):
        if (
            item.get("depth", 0) == 0
            or item.get("type") in ("pe", "elf", "macho", "lnk")
            or item.get("imphash")
        ):
            label = f"{campaign_id} {(item.get('names') or [''])[0]}".strip()
            promoted.append(
                await run_in_threadpool(
                    updates.promote, db, "sha256", item["sha256"], label, principal.username
                )
            )
    return {"promoted": promoted}


@router.get("/alerts", summary="Campaign alerts (admin)")
async def list_alerts(
    request: Request, principal: Principal = Depends(require_admin)
) -> list[dict[str, Any]]:
    def load() -> list[dict[str, Any]]:
        with _db(request).read() as session:
            rows = session.scalars(
                select(AlertRow).where(AlertRow.kind == "campaign").order_by(AlertRow.created_at.desc())
            )
            return [{"id": r.id, "campaign_id": r.campaign_id, "created_at": r.created_at.isoformat(), "shop_count": r.shop_count,
                     "delivered": r.delivered, "delivery_error": r.delivery_error, "payload": r.payload} for r in rows]  # fmt: skip

    return await run_in_threadpool(load)


@router.get("/notices", summary="Retro-hunt notices for the caller's shop (owner)")
async def list_notices(
    request: Request, principal: Principal = Depends(require_owner)
) -> list[dict[str, Any]]:
    def load() -> list[dict[str, Any]]:
        with _db(request).read() as session:
            rows = session.scalars(
                select(AlertRow)
                .where(AlertRow.kind == "retrohunt", AlertRow.shop_id == principal.shop_id)
                .order_by(AlertRow.created_at.desc())
            )
            return [{"id": r.id, "created_at": r.created_at.isoformat(), **r.payload} for r in rows]

    return await run_in_threadpool(load)


# The campaign pages (HTML) ride along, so the app factory needs one include line.
from .platform_pages import router as _pages_router  # noqa: E402

_api_router = router
router = APIRouter()
router.include_router(_api_router)
router.include_router(_pages_router)
