"""Promoted indicators and YARA rules, as a signed, versioned update that clients keep offline.

Server (the desk, admin API in :mod:`filewall.service.platform_api`):

- :func:`promote` adds a hash (sha256/sha1/md5) or a YARA rule (compiled with yara-x
  first: a broken rule is refused) to ``platform_promoted``; :func:`revoke` takes one out.
  Promoting a rule runs :func:`retro_hunt` over every stored sample: each shop whose
  samples newly match is told (a ``retrohunt`` notice, readable by that shop's owners).
- :func:`signed_update` is the bundle: ``{"format": 1, "issuer", "version", "created_at",
  "hashes": [...], "rules": [...]}`` serialised once, signed with **Ed25519** (RFC 8032,
  ``cryptography``); the envelope carries the payload bytes (base64), the signature and the
  key id. ``version`` (:func:`current_version`) counts promotions and revocations, so it
  grows with every change and a client can refuse to go back.
- The signing key is ``<data>/platform/update_signing_key.pem`` (made on first use, mode
  0600), or the PEM file named by ``FILEWALL_UPDATE_SIGNING_KEY``. Its public half
  (base64 of the 32 raw bytes, :func:`public_key_b64`) goes to clients through their
  config: ``FILEWALL_UPDATE_PUBLIC_KEY`` or ``[update] public_key = "..."`` in the data
  folder's ``config.toml`` (or ``filewall update --public-key``).

Client (``filewall update --server URL --token T``): :func:`fetch_update` GETs
``/api/v1/platform/update`` with the token, verifies the signature against the configured
public key (nothing is written when it fails), refuses a version older than the one it
has (no rollback), checks that the rules compile, and writes, each file atomically:

- ``<data>/updates/blocklist/platform.txt`` – ``<hash> <label>`` lines;
- ``<data>/updates/rules/platform-<id>.yar`` – one file per rule (own YARA namespace);
- ``<data>/updates/state.json`` – version, issuer, key id, when.

:mod:`filewall.rulesets` loads ``<data>/updates/{rules,blocklist}`` with the built-in rules,
so ``filewall scan`` (and the watcher, and the desk) block by hash and rule from then on,
with no network. ``<data>`` is ``FILEWALL_DATA`` or the per-user data folder.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..datadir import DataLayout

FORMAT = 1
HASH_KINDS = {"sha256": 64, "sha1": 40, "md5": 32}
PROMOTABLE = (*HASH_KINDS, "yara")


class UpdateError(Exception):
    """The update could not be fetched, verified or stored; the message says why."""


def updates_dir(
    data_dir: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None
) -> Path:
    """``<data>/updates``, the data folder taken as given (not made absolute)."""
    return DataLayout.given(data_dir, environ).updates_dir


# -- keys ---------------------------------------------------------------------------------------


def load_signing_key(data_dir: str | os.PathLike[str]):
    """The server's Ed25519 private key (created on first use)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = Path(os.environ.get("FILEWALL_UPDATE_SIGNING_KEY") or DataLayout(data_dir).signing_key_file)
    if path.is_file():
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    return key


def public_key_b64(private_key) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def pseudonym_secret(data_dir: str | os.PathLike[str]) -> bytes:
    """The key that turns shop ids into pseudonyms: derived from the private signing key
    (stable for the platform, never published, unlike the public key)."""
    from cryptography.hazmat.primitives import serialization

    raw = load_signing_key(data_dir).private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return hashlib.sha256(b"filewall-pseudonym:" + raw).digest()


def key_id(public_b64: str) -> str:
    return hashlib.sha256(base64.b64decode(public_b64)).hexdigest()[:16]


# -- server: promotion ------------------------------------------------------------------------


def validate(kind: str, value: str) -> str:
    """The value to store, normalised; raises ValueError when it is not a valid one."""
    kind = kind.lower().strip()
    if kind not in PROMOTABLE:
        raise ValueError(f"kind must be one of {', '.join(PROMOTABLE)}")
    if kind == "yara":
        import yara_x

        try:
            yara_x.compile(value)
        except yara_x.CompileError as error:
            raise ValueError(
                f"the YARA rule does not compile: {str(error).strip().splitlines()[0]}"
            ) from error
        return value
    value = value.strip().lower()
    if not re.fullmatch(rf"[0-9a-f]{{{HASH_KINDS[kind]}}}", value):
        raise ValueError(f"a {kind} is {HASH_KINDS[kind]} hex digits")
    return value


def promote(db, kind: str, value: str, label: str = "", created_by: str | None = None) -> dict[str, Any]:
    from .store_models import PromotedRow

    value = validate(kind, value)
    with db.write() as session:
        row = PromotedRow(
            kind=kind.lower().strip(), value=value, label=(label or "")[:300], created_by=created_by
        )
        session.add(row)
        session.flush()
        return _row(row)


def revoke(db, promoted_id: int) -> bool:
    from .store_models import PromotedRow

    with db.write() as session:
        row = session.get(PromotedRow, promoted_id)
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = dt.datetime.now(dt.UTC)
        return True


def list_promoted(db) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from .store_models import PromotedRow

    with db.read() as session:
        return [_row(row) for row in session.scalars(select(PromotedRow).order_by(PromotedRow.id))]


def _row(row) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "value": row.value,
        "label": row.label,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "created_by": row.created_by,
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
    }


def current_version(rows: list[dict[str, Any]]) -> int:
    """Grows with every promotion and every revocation (each is a change clients must get)."""
    return len(rows) + sum(1 for row in rows if row["revoked_at"])


def build_payload(db, issuer: str = "filewall platform") -> dict[str, Any]:
    rows = list_promoted(db)
    live = [row for row in rows if not row["revoked_at"]]
    return {
        "format": FORMAT,
        "issuer": issuer,
        "version": current_version(rows),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "hashes": [
            {"kind": r["kind"], "value": r["value"], "label": r["label"]}
            for r in live
            if r["kind"] in HASH_KINDS
        ],
        "rules": [
            {"id": r["id"], "label": r["label"], "text": r["value"]} for r in live if r["kind"] == "yara"
        ],
    }


def sign(payload: dict[str, Any], private_key) -> dict[str, Any]:
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
    public = public_key_b64(private_key)
    return {
        "payload": base64.b64encode(body).decode(),
        "signature": base64.b64encode(private_key.sign(body)).decode(),
        "algorithm": "ed25519",
        "key_id": key_id(public),
    }


def signed_update(db, data_dir: str | os.PathLike[str]) -> dict[str, Any]:
    return sign(build_payload(db), load_signing_key(data_dir))


# -- server: retro-hunt ---------------------------------------------------------------------


@dataclass
class HuntHit:
    shop_id: str
    sha256: str
    report_ids: list[str]
    rules: list[str]


def retro_hunt(db, blobs, rule_text: str, label: str = "", notify: bool = True) -> list[HuntHit]:
    """Run a rule over every stored sample (members too); tell each matching shop once.

    Returns the hits; with ``notify`` a ``retrohunt`` notice is stored per shop that had a
    match not already notified for this rule.
    """
    import yara_x
    from sqlalchemy import select

    from ..engine import ScanOptions, scan_path
    from ..store.models import Report, Sample
    from .store_models import AlertRow, migrate

    migrate(db)
    rules = yara_x.compile(rule_text)
    rule_key = "yara-" + hashlib.sha256(rule_text.encode()).hexdigest()[:16]
    with db.read() as session:
        samples = session.execute(select(Sample.shop_id, Sample.sha256)).all()
        reports = session.execute(select(Report.id, Report.shop_id, Report.sha256)).all()
        told = set(
            session.scalars(
                select(AlertRow.shop_id).where(AlertRow.kind == "retrohunt", AlertRow.campaign_id == rule_key)
            )
        )
    by_sample: dict[tuple[str, str], list[str]] = {}
    for report_id, shop_id, sha in reports:
        by_sample.setdefault((shop_id, sha), []).append(report_id)
    matched_by_sha: dict[str, list[str]] = {}
    for _shop, sha in samples:
        if sha in matched_by_sha or blobs is None or not blobs.exists(sha):
            continue
        names: set[str] = set()

        def hook(node, content, names=names) -> None:
            for rule in rules.scan(bytes(content.view())).matching_rules:
                names.add(rule.identifier)

        scan_path(str(blobs.path_for(sha)), ScanOptions(on_node=hook))
        matched_by_sha[sha] = sorted(names)
    hits = [
        HuntHit(
            shop_id=shop, sha256=sha, report_ids=by_sample.get((shop, sha), []), rules=matched_by_sha[sha]
        )
        for shop, sha in samples
        if matched_by_sha.get(sha)
    ]
    if notify and hits:
        now = dt.datetime.now(dt.UTC)
        with db.write() as session:
            for shop in sorted({hit.shop_id for hit in hits} - told):
                mine = [hit for hit in hits if hit.shop_id == shop]
                payload = {
                    "event": "retrohunt.match",
                    "rule": label or rule_key,
                    "rules": sorted({name for hit in mine for name in hit.rules}),
                    "samples": [{"sha256": hit.sha256, "report_ids": hit.report_ids} for hit in mine],
                    "message": "A newly published detection matches files your shop received earlier. Do not open them; check the computers that did.",
                    "message_zh": "新发布的检测规则命中了贵店之前收到的文件。请勿打开，并检查打开过这些文件的电脑。",
                }
                session.add(AlertRow(kind="retrohunt", shop_id=shop, campaign_id=rule_key, created_at=now,
                                     shop_count=1, report_id=(mine[0].report_ids or [""])[0], payload=payload))  # fmt: skip
    return hits


# -- client -------------------------------------------------------------------------------------


@dataclass
class UpdateResult:
    version: int
    hashes: int
    rules: int
    folder: Path
    changed: bool


def configured_public_key(data_dir: str | os.PathLike[str] | None = None) -> str | None:
    value = os.environ.get("FILEWALL_UPDATE_PUBLIC_KEY")
    if value:
        return value
    try:
        return (DataLayout.given(data_dir).read_config().get("update") or {}).get("public_key")
    except tomllib.TOMLDecodeError:
        return None


def verify(envelope: dict[str, Any], public_b64: str) -> dict[str, Any]:
    """The payload when the signature is right; raises UpdateError otherwise."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64, validate=True))
        body = base64.b64decode(envelope["payload"], validate=True)
        signature = base64.b64decode(envelope["signature"], validate=True)
    except (KeyError, TypeError, ValueError) as error:
        raise UpdateError(f"malformed update or public key: {error}") from error
    try:
        public.verify(signature, body)
    except InvalidSignature as error:
        raise UpdateError(
            "the update's signature does not match the configured public key; nothing was changed"
        ) from error
    payload = json.loads(body)
    if payload.get("format") != FORMAT:
        raise UpdateError(f"unknown update format {payload.get('format')!r}")
    return payload


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def install(
    payload: dict[str, Any], data_dir: str | os.PathLike[str] | None = None, key: str = ""
) -> UpdateResult:
    """Store a verified payload where :mod:`filewall.rulesets` reads it."""
    import yara_x

    layout = DataLayout.given(data_dir)
    folder = layout.updates_dir
    state_path = layout.update_state_file
    current = 0
    if state_path.is_file():
        try:
            current = int(json.loads(state_path.read_text(encoding="utf-8")).get("version", 0))
        except (ValueError, OSError):
            current = 0
    version = int(payload["version"])
    if version < current:
        raise UpdateError(
            f"the server offers version {version}, older than the {current} already here; kept {current}"
        )
    rules = payload.get("rules") or []
    for rule in rules:
        try:
            yara_x.compile(rule["text"])
        except yara_x.CompileError as error:
            raise UpdateError(f"rule {rule.get('id')} in the update does not compile: {error}") from error
    changed = version != current or not state_path.is_file()
    lines = [f"# source: filewall platform update v{version}"]
    for item in payload.get("hashes") or []:
        value = str(item["value"]).lower()
        if re.fullmatch(r"[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64}", value):
            label = re.sub(r"[\r\n]+", " ", str(item.get("label") or "platform"))
            lines.append(f"{value} {label}")
    _write_atomic(layout.update_blocklist_dir / "platform.txt", ("\n".join(lines) + "\n").encode("utf-8"))
    wanted = set()
    for rule in rules:
        name = f"platform-{int(rule['id'])}.yar"
        wanted.add(name)
        _write_atomic(layout.update_rules_dir / name, rule["text"].encode("utf-8"))
    for old in layout.update_rules_dir.glob("platform-*.yar"):
        if old.name not in wanted:
            old.unlink()
    state = {"version": version, "issuer": payload.get("issuer"), "key_id": key, "created_at": payload.get("created_at"),
             "installed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}  # fmt: skip
    _write_atomic(state_path, json.dumps(state, indent=1).encode("utf-8"))
    return UpdateResult(version, len(lines) - 1, len(rules), folder, changed)


def fetch_update(
    server: str,
    token: str,
    data_dir: str | os.PathLike[str] | None = None,
    public_key: str | None = None,
    timeout: float = 30.0,
) -> UpdateResult:
    import httpx

    public_key = public_key or configured_public_key(data_dir)
    if not public_key:
        raise UpdateError(
            "no public key to verify updates with: set FILEWALL_UPDATE_PUBLIC_KEY, [update] public_key in config.toml, "
            "or pass --public-key (the desk admin sees it at /api/v1/platform/update/public-key)"
        )
    url = server.rstrip("/") + "/api/v1/platform/update"
    try:
        response = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
    except httpx.HTTPError as error:
        raise UpdateError(f"cannot reach {url}: {error}") from error
    if response.status_code != 200:
        raise UpdateError(f"{url} answered {response.status_code}: {response.text[:200]}")
    try:
        envelope = response.json()
    except ValueError as error:
        raise UpdateError(f"{url} did not answer JSON") from error
    payload = verify(envelope, public_key)
    return install(payload, data_dir, key=key_id(public_key))
