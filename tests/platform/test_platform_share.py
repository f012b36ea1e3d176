"""STIX 2.1 and MISP export of the simulated campaigns; import of shared hash lists and YARA."""

from __future__ import annotations

import json

import _sim
import pytest
import stix2
from pymisp import MISPEvent

from filewall.platform.campaigns import build_campaigns
from filewall.platform.correlate import Correlator
from filewall.platform.share import import_hashes, import_yara, misp_event, stix_bundle


@pytest.fixture(scope="module")
def campaigns():
    sim = _sim.build(seed=1)
    found = build_campaigns(Correlator().add_all(sim.records), sim.shops)
    assert len(found) == 3
    return sim, found


def test_stix_bundle_parses_strictly(campaigns):
    sim, found = campaigns
    for campaign in found:
        text = stix_bundle(campaign)
        bundle = stix2.parse(text, allow_custom=False)
        kinds = {obj.type for obj in bundle.objects}
        assert {
            "identity",
            "campaign",
            "malware",
            "indicator",
            "relationship",
            "observed-data",
            "sighting",
            "file",
        } <= kinds
        # Shops are anonymised: no shop id or name anywhere.
        assert not any(shop_id in text or sim.shops[shop_id].name in text for shop_id in sim.shops)
        shops = [o for o in bundle.objects if o.type == "identity" and o.identity_class == "organization"]
        assert len(shops) == campaign.shop_count
        (stix_campaign,) = [o for o in bundle.objects if o.type == "campaign"]
        indicates = [
            o for o in bundle.objects if o.type == "relationship" and o.relationship_type == "indicates"
        ]
        assert indicates and all(rel.target_ref == stix_campaign.id for rel in indicates)
        patterns = [o.pattern for o in bundle.objects if o.type == "indicator"]
        for sha in campaign.files:
            assert f"[file:hashes.'SHA-256' = '{sha}']" in patterns
    b = next(c for c in found if any(i["value"] == _sim.C2 for i in c.indicators))
    assert f"[domain-name:value = '{_sim.C2}']" in stix_bundle(b)
    # TLSH goes in as STIX wants it (70 hex digits, no "T1").
    files = [o for o in stix2.parse(stix_bundle(b)).objects if o.type == "file" and "TLSH" in o.hashes]
    assert files and all(len(f.hashes["TLSH"]) == 70 for f in files)


def test_misp_event_loads_in_pymisp(campaigns, tmp_path):
    _, found = campaigns
    for campaign in found:
        data = misp_event(campaign)
        event = MISPEvent()
        event.load(json.dumps(data), validate=True)
        assert event.info.startswith(campaign.name)
        values = {attribute.value for attribute in event.attributes}
        assert {item["value"] for item in campaign.indicators} <= values
        files = [obj for obj in event.objects if obj.name == "file"]
        assert len(files) == len(campaign.files)
        shas = {a.value for obj in files for a in obj.attributes if a.object_relation == "sha256"}
        assert shas == set(campaign.files)
        # And it round-trips through our own importer.
        path = tmp_path / f"{campaign.id}.json"
        path.write_text(event.to_json(), encoding="utf-8")
        imported = {(i.kind, i.value) for i in import_hashes(path)}
        assert {("sha256", sha) for sha in campaign.files} <= imported


def test_import_stix_and_hash_lists(campaigns, tmp_path):
    _, found = campaigns
    campaign = found[0]
    path = tmp_path / "bundle.json"
    path.write_text(stix_bundle(campaign), encoding="utf-8")
    imported = {(i.kind, i.value) for i in import_hashes(path)}
    assert {("sha256", sha) for sha in campaign.files} <= imported

    listing = tmp_path / "list.txt"
    listing.write_text(
        "# shared by a friend\n"
        f"{'a' * 64}  trojan.exe\n"
        f"{'B' * 32},dropper\n"
        f"{'c' * 40}:100:Name.Sig\n"
        "not a hash\n",
        encoding="utf-8",
    )
    items = {(i.kind, i.value): i.label for i in import_hashes(listing)}
    assert items == {
        ("sha256", "a" * 64): "trojan.exe",
        ("md5", "b" * 32): "dropper",
        ("sha1", "c" * 40): "100:Name.Sig",
    }


def test_import_yara(tmp_path):
    good = tmp_path / "good.yar"
    good.write_text(
        'rule Shared_One { strings: $a = "fake-invoice" condition: $a }\nrule Two { condition: false }\n'
    )
    rules = import_yara(good)
    assert rules.rule_names == ["Shared_One", "Two"]
    bad = tmp_path / "bad.yar"
    bad.write_text("rule Broken { condition: $nope }")
    with pytest.raises(ValueError, match="do not compile"):
        import_yara(bad)
