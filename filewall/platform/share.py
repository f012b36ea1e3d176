"""Sharing campaigns with other defenders, and taking in what they share.

Export (both built from a :class:`~.campaigns.Campaign`; shops appear only as pseudonyms):

- :func:`stix_bundle` – a STIX 2.1 bundle made with the ``stix2`` library (OASIS
  cti-python-stix2): the platform's ``identity`` (producer), one anonymised ``identity``
  per shop (sector = industry), the ``campaign``, a ``malware`` (is_family false) with
  the campaign's files as ``sample_refs``, ``file``/``domain-name``/``url``/``ipv4-addr``/
  ``user-account`` observables, one ``indicator`` per linking value and per file hash
  (STIX patterns), ``relationship`` objects (indicator *indicates* campaign, campaign
  *uses* malware, campaign *targets* shop identity), ``observed-data`` per shop and a
  ``sighting`` per shop of the campaign's first indicator. TLP:AMBER by default.
  The result parses with ``stix2.parse`` (strict: no custom properties).
- :func:`misp_event` – a MISP event (MISP core format, ``{"Event": {...}}``) with the
  linking values as attributes and one ``file`` object per sample (sha256, md5, sha1,
  tlsh, imphash, filename, size-in-bytes), loadable with PyMISP's ``MISPEvent().load``.
  PyMISP is not needed to write it (only the tests load it).

Import: :func:`import_hashes` reads a hash list (one MD5/SHA-1/SHA-256 per line with an
optional label, ClamAV ``.hdb`` rows, MalwareBazaar CSV, or a STIX bundle / MISP event
JSON); :func:`import_yara` reads a YARA file and compiles it with yara-x (refusing broken
rules). Both return items that :mod:`.updates` can promote.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .campaigns import Campaign, pseudonym

NAMESPACE = uuid.UUID("6f1f2b0e-6a53-4f0c-9a1e-0c6c6b1f2a77")
PLATFORM_NAME = "filewall platform"
_HASH_KEYS = {64: "sha256", 40: "sha1", 32: "md5"}


def _stix_tlsh(value: str | None) -> str | None:
    """py-tlsh writes ``T1`` + 70 hex digits; STIX wants the 70 digits, lower case."""
    if not value:
        return None
    text = value[2:] if value[:2].upper() == "T1" else value
    return text.lower() if re.fullmatch(r"[0-9a-fA-F]{70}", text) else None


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _pattern(kind: str, value: str) -> str | None:
    value = _quote(value)
    if kind == "sha256":
        return f"[file:hashes.'SHA-256' = '{value}']"
    if kind == "domain":
        return f"[domain-name:value = '{value}']"
    if kind == "url":
        return f"[url:value = '{value}']"
    if kind == "ip":
        return f"[ipv6-addr:value = '{value}']" if ":" in value else f"[ipv4-addr:value = '{value}']"
    if kind == "sender":
        return f"[user-account:account_login = '{value}']"
    return None


def stix_bundle(campaign: Campaign, secret: bytes = b"filewall", tlp: str = "amber") -> str:
    """The campaign as a STIX 2.1 bundle (JSON text)."""
    import stix2

    marking = {
        "white": stix2.TLP_WHITE,
        "green": stix2.TLP_GREEN,
        "amber": stix2.TLP_AMBER,
        "red": stix2.TLP_RED,
    }[tlp]
    now = dt.datetime.now(dt.UTC)
    platform = stix2.Identity(
        id=f"identity--{uuid.uuid5(NAMESPACE, 'platform')}", name=PLATFORM_NAME, identity_class="system"
    )
    common = {"created_by_ref": platform.id, "object_marking_refs": [marking]}
    objects: list[Any] = [platform]
    shops = []
    for shop in campaign.shops:
        name = pseudonym(shop.id, secret)
        shops.append(
            stix2.Identity(
                id=f"identity--{uuid.uuid5(NAMESPACE, name)}",
                name=name,
                identity_class="organization",
                sectors=[shop.industry] if shop.industry else None,
                description=f"An online shop (anonymised); region {shop.region or 'unknown'}.",
                **common,
            )
        )
    objects += shops
    stix_campaign = stix2.Campaign(
        id=f"campaign--{uuid.uuid5(NAMESPACE, campaign.id)}",
        name=campaign.name,
        description=(
            f"Files and chats sent by fake customers to {campaign.shop_count} shops "
            f"({', '.join(f'{k}: {v}' for k, v in campaign.industries.items())})."
        ),
        first_seen=campaign.first_seen,
        last_seen=campaign.last_seen,
        objective="Get a support agent to run a Trojan",
        **common,
    )
    objects.append(stix_campaign)
    files = []
    for sha, info in campaign.files.items():
        hashes = {"SHA-256": sha}
        if info.get("md5"):
            hashes["MD5"] = info["md5"]
        if info.get("sha1"):
            hashes["SHA-1"] = info["sha1"]
        tlsh_value = _stix_tlsh(info.get("tlsh"))
        if tlsh_value:
            hashes["TLSH"] = tlsh_value
        files.append(
            stix2.File(name=(info.get("names") or [sha])[0], hashes=hashes, size=int(info.get("size") or 0))
        )
    objects += files
    malware = stix2.Malware(
        id=f"malware--{uuid.uuid5(NAMESPACE, campaign.id + '/malware')}",
        name=f"{campaign.name} payload",
        is_family=False,
        malware_types=["trojan"],
        sample_refs=[item.id for item in files] or None,
        **common,
    )
    objects.append(malware)
    objects.append(stix2.Relationship(stix_campaign, "uses", malware, **common))
    for shop in shops:
        objects.append(stix2.Relationship(stix_campaign, "targets", shop, **common))
    indicators = []
    values = [(item["kind"], item["value"]) for item in campaign.indicators]
    values += [("sha256", sha) for sha in campaign.files if ("sha256", sha) not in values]
    observables: list[Any] = []
    for kind, value in values:
        pattern = _pattern(kind, value)
        if pattern is None:
            continue
        indicators.append(
            stix2.Indicator(
                name=f"{kind} {value}",
                pattern=pattern,
                pattern_type="stix",
                valid_from=campaign.first_seen,
                indicator_types=["malicious-activity"],
                **common,
            )
        )
        if kind == "domain":
            observables.append(stix2.DomainName(value=value))
        elif kind == "url":
            observables.append(stix2.URL(value=value))
        elif kind == "ip" and ":" not in value:
            observables.append(stix2.IPv4Address(value=value))
        elif kind == "sender":
            observables.append(stix2.UserAccount(account_login=value))
    objects += indicators + observables
    for indicator in indicators:
        objects.append(stix2.Relationship(indicator, "indicates", stix_campaign, **common))
    # Per shop: what it saw (observed-data) and a sighting of the campaign's first indicator.
    by_shop: dict[str, list[dt.datetime]] = {}
    for _report, shop_id, seen in campaign.sightings:
        by_shop.setdefault(shop_id, []).append(seen)
    refs = [item.id for item in files] or [item.id for item in observables]
    for shop, identity in zip(campaign.shops, shops, strict=True):
        times = sorted(by_shop.get(shop.id) or [campaign.first_seen])
        last = times[-1] if times[-1] > times[0] else times[0] + dt.timedelta(seconds=1)
        observed = stix2.ObservedData(
            first_observed=times[0],
            last_observed=last,
            number_observed=len(times),
            object_refs=refs,
            **common,
        )
        objects.append(observed)
        if indicators:
            objects.append(
                stix2.Sighting(
                    sighting_of_ref=indicators[0].id,
                    where_sighted_refs=[identity.id],
                    observed_data_refs=[observed.id],
                    count=len(times),
                    first_seen=times[0],
                    last_seen=last,
                    **common,
                )
            )
    objects.append(marking)
    bundle = stix2.Bundle(objects=objects)
    del now
    return bundle.serialize(pretty=True)


def misp_event(campaign: Campaign, org: str = PLATFORM_NAME) -> dict[str, Any]:
    """The campaign as a MISP event (``{"Event": {...}}``)."""
    now = int(dt.datetime.now(dt.UTC).timestamp())

    def attribute(
        kind: str,
        category: str,
        value: str,
        to_ids: bool = True,
        comment: str = "",
        relation: str | None = None,
    ):
        item = {
            "uuid": str(uuid.uuid5(NAMESPACE, f"{campaign.id}/{relation or ''}/{kind}/{value}")),
            "type": kind,
            "category": category,
            "value": value,
            "to_ids": to_ids,
            "distribution": "5",
            "comment": comment,
            "disable_correlation": False,
            "timestamp": str(now),
        }
        if relation:
            item["object_relation"] = relation
        return item

    attributes = []
    for item in campaign.indicators:
        kind, value, shops = item["kind"], item["value"], item["shops"]
        comment = f"linked {shops} shops"
        if kind == "sha256":
            attributes.append(attribute("sha256", "Payload delivery", value, comment=comment))
        elif kind == "domain":
            attributes.append(attribute("domain", "Network activity", value, comment=comment))
        elif kind == "url":
            attributes.append(attribute("url", "Network activity", value, comment=comment))
        elif kind == "ip":
            attributes.append(attribute("ip-dst", "Network activity", value, comment=comment))
        elif kind == "sender":
            attributes.append(
                attribute("text", "Social network", value, to_ids=False, comment=f"sender account; {comment}")
            )
    objects = []
    for sha, info in campaign.files.items():
        members = [attribute("sha256", "Payload delivery", sha, relation="sha256")]
        for key, kind in (("md5", "md5"), ("sha1", "sha1"), ("tlsh", "tlsh"), ("imphash", "imphash")):
            if info.get(key):
                members.append(attribute(kind, "Payload delivery", info[key], relation=kind))
        for name in info.get("names") or []:
            members.append(attribute("filename", "Payload delivery", name, to_ids=False, relation="filename"))
        members.append(
            attribute(
                "size-in-bytes",
                "Other",
                str(int(info.get("size") or 0)),
                to_ids=False,
                relation="size-in-bytes",
            )
        )
        objects.append(
            {
                "uuid": str(uuid.uuid5(NAMESPACE, f"{campaign.id}/file/{sha}")),
                "name": "file",
                "meta-category": "file",
                "template_uuid": "688c46fb-5edb-40a3-8273-1af7923e2215",
                "template_version": "24",
                "description": "File object describing a file with meta-information",
                "distribution": "5",
                "timestamp": str(now),
                "comment": f"received by {info.get('shops', 0)} shops",
                "Attribute": members,
            }
        )
    return {
        "Event": {
            "uuid": str(uuid.uuid5(NAMESPACE, campaign.id)),
            "info": f"{campaign.name} ({campaign.shop_count} shops, {campaign.id})",
            "date": campaign.first_seen.astimezone(dt.UTC).date().isoformat(),
            "threat_level_id": "2",
            "analysis": "1",
            "distribution": "0",
            "published": False,
            "timestamp": str(now),
            "Orgc": {"name": org, "uuid": str(uuid.uuid5(NAMESPACE, "org/" + org))},
            "Tag": [{"name": "tlp:amber"}, {"name": f'filewall:campaign="{campaign.id}"'}],
            "Attribute": attributes,
            "Object": objects,
        }
    }


# -- import -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportedIndicator:
    kind: str  # sha256 | sha1 | md5 | domain | url | ip
    value: str
    label: str = ""


def import_hashes(path: str | Path, label: str = "") -> list[ImportedIndicator]:
    """Hashes (and, from STIX/MISP files, hosts and URLs) in a file someone shared."""
    path = Path(path)
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    stripped = text.lstrip()
    if stripped.startswith("{"):
        data = json.loads(text)
        if data.get("type") == "bundle":
            return _from_stix(data, label or path.name)
        if "Event" in data or "Attribute" in data:
            return _from_misp(data.get("Event", data), label or path.name)
        raise ValueError(f"{path}: JSON that is neither a STIX bundle nor a MISP event")
    found: dict[tuple[str, str], ImportedIndicator] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        for token in re.split(r"[\s,;:\"]+", line):
            kind = _HASH_KEYS.get(len(token))
            if kind and re.fullmatch(r"[0-9a-fA-F]+", token):
                rest = line.replace(token, "", 1).strip(' \t,;:"')
                key = (kind, token.lower())
                found.setdefault(
                    key, ImportedIndicator(kind, token.lower(), label or rest[:200] or path.name)
                )
    return list(found.values())


def _from_stix(bundle: dict[str, Any], label: str) -> list[ImportedIndicator]:
    found: dict[tuple[str, str], ImportedIndicator] = {}
    rules = [
        (r"file:hashes\.'?SHA-256'?\s*=\s*'([0-9a-fA-F]{64})'", "sha256"),
        (r"file:hashes\.'?SHA-1'?\s*=\s*'([0-9a-fA-F]{40})'", "sha1"),
        (r"file:hashes\.'?MD5'?\s*=\s*'([0-9a-fA-F]{32})'", "md5"),
        (r"domain-name:value\s*=\s*'([^']+)'", "domain"),
        (r"url:value\s*=\s*'([^']+)'", "url"),
        (r"ipv4-addr:value\s*=\s*'([^']+)'", "ip"),
    ]
    for item in bundle.get("objects") or []:
        if item.get("type") == "indicator":
            for regex, kind in rules:
                for value in re.findall(regex, item.get("pattern") or ""):
                    value = value.lower() if kind in ("sha256", "sha1", "md5", "domain") else value
                    found.setdefault((kind, value), ImportedIndicator(kind, value, item.get("name") or label))
        elif item.get("type") == "file":
            for key, kind in (("SHA-256", "sha256"), ("SHA-1", "sha1"), ("MD5", "md5")):
                value = (item.get("hashes") or {}).get(key)
                if value:
                    found.setdefault(
                        (kind, value.lower()),
                        ImportedIndicator(kind, value.lower(), item.get("name") or label),
                    )
    return list(found.values())


def _from_misp(event: dict[str, Any], label: str) -> list[ImportedIndicator]:
    kinds = {"sha256": "sha256", "sha1": "sha1", "md5": "md5", "domain": "domain", "hostname": "domain",
             "url": "url", "ip-dst": "ip", "ip-src": "ip"}  # fmt: skip
    attributes = list(event.get("Attribute") or [])
    for obj in event.get("Object") or []:
        attributes += obj.get("Attribute") or []
    found: dict[tuple[str, str], ImportedIndicator] = {}
    for item in attributes:
        kind = kinds.get(item.get("type", ""))
        if kind and item.get("to_ids", True):
            value = str(item["value"])
            value = value.lower() if kind in ("sha256", "sha1", "md5", "domain") else value
            found.setdefault((kind, value), ImportedIndicator(kind, value, event.get("info") or label))
    return list(found.values())


@dataclass(frozen=True)
class ImportedRules:
    source: str
    text: str
    rule_names: list[str]


def import_yara(path: str | Path) -> ImportedRules:
    """A YARA file, checked by compiling it with yara-x (a broken file raises ValueError)."""
    import yara_x

    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        yara_x.compile(text)
    except yara_x.CompileError as error:
        raise ValueError(f"{path}: the YARA rules do not compile: {error}") from error
    names = re.findall(r"^\s*(?:private\s+|global\s+)*rule\s+([A-Za-z_][A-Za-z0-9_]*)", text, re.MULTILINE)
    return ImportedRules(source=path.name, text=text, rule_names=names)
