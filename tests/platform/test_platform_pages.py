"""Campaign pages and API in the real desk app: admins see everything, a shop's owner sees
only campaigns that reached it with every shop anonymised, agents and strangers nothing.
Runs on SQLite and on the real PostgreSQL (a database made for this test)."""

from __future__ import annotations

import os
import uuid
import warnings

import _sim
import pytest
import sqlalchemy as sa

warnings.filterwarnings("ignore", message=".*httpx2.*")
from fastapi.testclient import TestClient  # noqa: E402

from filewall.platform import pipeline  # noqa: E402
from filewall.service.app import create_app  # noqa: E402
from filewall.service.settings import Settings  # noqa: E402
from filewall.store import Accounts, Database  # noqa: E402

PASSWORD = "Platform-Pages-Passw0rd-2026!"
PG_ADMIN_URL = os.environ.get("FILEWALL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="module")
def sim():
    return _sim.build(seed=1)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request):
    if request.param == "sqlite":
        yield None
        return
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"filewall_platform_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_pages_and_api_by_role(sim, tmp_path, database_url):
    settings = _sim.write_desk(sim, tmp_path / "desk", database_url)
    db = Database(settings.database)
    result = pipeline.run(db, pipeline.PlatformSettings(alert_shops=10), None)
    assert len(result.campaigns) == 3 and len(result.alerts) == 3
    victim = sorted(sim.truth["C"])[0]
    bystander = next(shop for shop in sim.shops if not any(shop in shops for shops in sim.truth.values()))
    with db.write() as session:
        accounts = Accounts(session)
        platform = accounts.create_shop("平台运营")
        accounts.create_user(platform, "admin", PASSWORD, "admin")
        for shop_id, username, role in ((victim, "victim-owner", "owner"), (victim, "victim-agent", "agent"),
                                        (bystander, "other-owner", "owner")):  # fmt: skip
            accounts.create_user(accounts.shop_by_id(shop_id), username, PASSWORD, role)
    db.dispose()

    app = create_app(Settings.load(tmp_path / "desk", database_url=database_url, include_pages=True))
    with TestClient(app) as client:
        assert client.get("/platform/campaigns", follow_redirects=False).status_code == 303
        assert client.get("/api/v1/platform/campaigns").status_code == 401

        def login(username: str) -> None:
            client.cookies.clear()
            assert (
                client.post("/api/v1/login", json={"username": username, "password": PASSWORD}).status_code
                == 200
            )

        login("admin")
        page = client.get("/platform/campaigns")
        assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
        ids = [c.id for c in result.campaigns]
        assert all(campaign_id in page.text for campaign_id in ids)
        c = next(c for c in result.campaigns if {s.id for s in c.shops} == sim.truth["C"])
        detail = client.get(f"/platform/campaigns/{c.id}")
        assert detail.status_code == 200
        assert "<svg" in detail.text and "<polyline" in detail.text and "<script" not in detail.text
        assert sim.shops[victim].name in detail.text  # admins see shop names
        for sender in c.senders:
            assert sender in detail.text
        assert len(client.get("/api/v1/platform/campaigns").json()) == 3
        assert client.get("/api/v1/platform/alerts").json()[0]["shop_count"] == 20
        assert client.get(f"/api/v1/platform/campaigns/{c.id}/stix").status_code == 200
        # Importing what others share: a hash list and a YARA file become promotions.
        listing = f"# from a friend\n{'d' * 64}  dropper.exe\n{'e' * 32},loader\n"
        done = client.post(
            "/api/v1/platform/promoted/import", files={"file": ("shared.txt", listing.encode())}
        )
        assert done.status_code == 201, done.text
        assert {(r["kind"], r["value"]) for r in done.json()["promoted"]} == {
            ("sha256", "d" * 64),
            ("md5", "e" * 32),
        }
        yara = b'rule Shared_Lure { strings: $a = "not-in-any-sample-xyz" condition: $a }'
        done = client.post("/api/v1/platform/promoted/import", files={"file": ("shared.yar", yara)})
        assert done.status_code == 201 and done.json()["retro_hunt"] == {"shops": 0}
        broken = client.post(
            "/api/v1/platform/promoted/import", files={"file": ("bad.yar", b"rule B { condition: $x }")}
        )
        assert broken.status_code == 400
        assert [r["kind"] for r in client.get("/api/v1/platform/promoted").json()] == [
            "sha256",
            "md5",
            "yara",
        ]

        login("victim-owner")
        mine = client.get("/api/v1/platform/campaigns").json()
        assert [item["id"] for item in mine] == [c.id]
        text = client.get(f"/platform/campaigns/{c.id}").text
        assert "your shop" in text
        assert not any(shop.name in text or shop_id in text for shop_id, shop in sim.shops.items())
        assert sum(1 for shop in mine[0]["shops"] if shop["you"]) == 1
        assert "reports" not in mine[0] and "sightings" not in mine[0]
        other = next(i for i in ids if i != c.id)
        assert client.get(f"/platform/campaigns/{other}").status_code == 404
        assert client.get(f"/api/v1/platform/campaigns/{other}").status_code == 404
        assert client.get(f"/api/v1/platform/campaigns/{c.id}/stix").status_code == 403
        assert client.get("/api/v1/platform/alerts").status_code == 403

        login("other-owner")
        assert client.get("/api/v1/platform/campaigns").json() == []
        assert "No campaigns yet" in client.get("/platform/campaigns").text

        login("victim-agent")
        assert client.get("/platform/campaigns").status_code == 403
