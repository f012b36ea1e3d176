"""Every endpoint of the desk's API, on SQLite and on PostgreSQL (the ``desk`` fixture).

The app is the real one (in-process ASGI through TestClient), with its real scanning
processes and a real database; uploads are real lure archives built from harmless parts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import secrets
import zipfile

import pytest

from filewall.store import ShopScope

from ._desk import MAX_FILES, MAX_UPLOAD_MB, PASSWORD, aes_zip, lure_zip


def scan(client, *files, chat=None, passwords=(), sender=None):
    data: dict = {}
    if chat is not None:
        data["chat"] = chat
    if passwords:
        data["password"] = list(passwords)
    if sender is not None:
        data["sender"] = sender
    return client.post("/api/v1/scans", files=[("files", item) for item in files], data=data)


def only_report(response) -> dict:
    assert response.status_code == 200, response.text
    reports = response.json()["reports"]
    assert len(reports) == 1
    return reports[0]


def error_of(response) -> str:
    body = response.json()
    assert body["message"] and body["message_zh"], body
    return body["error"]


# -- health and schema ------------------------------------------------------------------------------
def test_healthz(desk):
    response = desk.client().get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["scanner"]["workers"] == 2
    assert body["database"] in ("sqlite", "postgresql")


def test_openapi_documents_every_endpoint(desk):
    schema = desk.client().get("/api/v1/openapi.json").json()
    paths = schema["paths"]
    for path, method in [
        ("/api/v1/login", "post"),
        ("/api/v1/logout", "post"),
        ("/api/v1/me", "get"),
        ("/api/v1/scans", "post"),
        ("/api/v1/reports", "get"),
        ("/api/v1/reports/{report_id}", "get"),
        ("/api/v1/reports/{report_id}/sample", "get"),
        ("/api/v1/reports/{report_id}/blobs/{sha256}", "get"),
        ("/api/v1/stats/week", "get"),
        ("/api/v1/tokens", "post"),
        ("/api/v1/tokens", "get"),
        ("/api/v1/tokens/{token_id}", "delete"),
        ("/api/v1/users", "get"),
        ("/api/v1/users", "post"),
        ("/api/v1/admin/shops", "post"),
        ("/healthz", "get"),
    ]:
        assert method in paths[path], (path, method)
    upload = paths["/api/v1/scans"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(upload["properties"]) >= {"files", "chat", "password", "sender"}
    # No CDN: the interactive docs (which load assets from a CDN) are off.
    assert desk.client().get("/docs").status_code == 404


# -- login, sessions, tokens --------------------------------------------------------------------------
def test_login_good_sets_a_session_cookie(desk, tenant):
    client = desk.client()
    response = client.post("/api/v1/login", json={"username": tenant.owner_name, "password": PASSWORD})
    assert response.status_code == 200
    assert response.json()["user"]["role"] == "owner"
    cookie = response.headers["set-cookie"]
    assert "filewall_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    me = client.get("/api/v1/me").json()
    assert me["user"]["username"] == tenant.owner_name
    assert me["shop"]["id"] == tenant.shop_id
    assert me["via"] == "session"
    assert me["limits"]["max_files"] == MAX_FILES
    assert me["limits"]["max_upload_bytes"] == MAX_UPLOAD_MB * 1024 * 1024


def test_login_with_a_form_and_any_case_of_the_name(desk, tenant):
    response = desk.client().post("/api/v1/login", data={"username": tenant.agent_name.upper(), "password": PASSWORD})
    assert response.status_code == 200
    assert response.json()["user"]["username"] == tenant.agent_name


@pytest.mark.parametrize(
    "body",
    [{"username": "nobody-at-all", "password": PASSWORD}, {"username": "{owner}", "password": "wrong password"}],
)
def test_login_bad_is_401(desk, tenant, body):
    body = {key: value.format(owner=tenant.owner_name) for key, value in body.items()}
    client = desk.client()
    response = client.post("/api/v1/login", json=body)
    assert response.status_code == 401
    assert error_of(response) == "invalid_credentials"
    assert "set-cookie" not in response.headers
    assert client.get("/api/v1/me").status_code == 401


@pytest.mark.parametrize("body", [{}, {"username": "x"}, {"password": "y"}, ["x", "y"]])
def test_login_missing_fields_is_400(desk, body):
    response = desk.client().post("/api/v1/login", json=body)
    assert response.status_code == 400
    assert error_of(response) == "invalid_request"


def test_login_is_throttled_after_repeated_failures(desk, tenant):
    from filewall.service.auth import LoginThrottle

    settings = desk.app.state.settings
    desk.app.state.login_throttle = LoginThrottle(settings.login_max_failures, settings.login_window_s)
    client = desk.client()
    limit = desk.app.state.settings.login_max_failures
    for _ in range(limit):
        assert client.post("/api/v1/login", json={"username": tenant.agent_name, "password": "nope"}).status_code == 401
    response = client.post("/api/v1/login", json={"username": tenant.agent_name, "password": PASSWORD})
    assert response.status_code == 429
    assert error_of(response) == "too_many_attempts"
    assert int(response.headers["retry-after"]) > 0
    # Another user from the same address is not locked out.
    assert desk.login(tenant.owner_name).get("/api/v1/me").status_code == 200


def test_logout_ends_the_session_everywhere(desk, tenant):
    cookie = tenant.agent.cookies.get("filewall_session")
    assert tenant.agent.post("/api/v1/logout").json() == {"ok": True}
    assert tenant.agent.get("/api/v1/me").status_code == 401
    # The old cookie, replayed by someone who copied it, is dead too.
    replay = desk.client()
    replay.cookies.set("filewall_session", cookie)
    assert replay.get("/api/v1/me").status_code == 401


def test_no_credentials_is_401(desk):
    client = desk.client()
    for method, path in [("get", "/api/v1/me"), ("get", "/api/v1/reports"), ("get", "/api/v1/stats/week"),
                         ("post", "/api/v1/scans"), ("get", "/api/v1/reports/AAAAAAAAAAAAAAAAAAAAAA")]:
        response = getattr(client, method)(path)
        assert response.status_code == 401, (method, path)
        assert error_of(response) == "unauthorized"


@pytest.mark.parametrize(
    "header",
    ["Bearer fwt_notarealtokenatall", "Bearer ", "Basic dXNlcjpwYXNz", "fwt_missing_scheme", "Bearer " + "x" * 5000],
)
def test_bad_token_is_401(desk, header):
    client = desk.client()
    client.headers["Authorization"] = header
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert error_of(response) == "invalid_token"
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_tokens_create_use_list_revoke(desk, tenant, lure):
    created = tenant.owner.post("/api/v1/tokens", json={"name": "erp bot"})
    assert created.status_code == 201
    body = created.json()
    secret = body["token"]
    assert secret.startswith("fwt_") and body["role"] == "agent"
    bot = desk.bearer(secret)
    me = bot.get("/api/v1/me").json()
    assert me["via"] == "token" and me["role"] == "agent" and me["shop"]["id"] == tenant.shop_id
    report = only_report(scan(bot, ("需求.zip", lure)))
    assert report["verdict"] == "malicious"
    # An agent-role token made by an owner still cannot download what is dangerous.
    assert bot.get(f"/api/v1/reports/{report['id']}/sample?confirm=yes").status_code == 403
    listed = tenant.owner.get("/api/v1/tokens").json()["tokens"]
    assert [token["id"] for token in listed if token["id"] == body["id"]]
    assert all("token" not in token and "token_hash" not in token for token in listed)
    assert tenant.owner.delete(f"/api/v1/tokens/{body['id']}").status_code == 204
    assert bot.get("/api/v1/me").status_code == 401
    assert tenant.owner.delete(f"/api/v1/tokens/{body['id']}").status_code == 404


def test_owner_token_can_download_after_confirming(desk, tenant, lure):
    secret = tenant.owner.post("/api/v1/tokens", json={"name": "owner tool", "role": "owner"}).json()["token"]
    tool = desk.bearer(secret)
    report = only_report(scan(tool, ("需求.zip", lure)))
    response = tool.get(f"/api/v1/reports/{report['id']}/sample?confirm=yes")
    assert response.status_code == 200 and response.content == lure


def test_agents_cannot_manage_tokens_or_users(desk, tenant):
    for method, path, body in [
        ("post", "/api/v1/tokens", {"name": "x"}),
        ("get", "/api/v1/tokens", None),
        ("get", "/api/v1/users", None),
        ("post", "/api/v1/users", {"username": "x1", "password": PASSWORD}),
        ("post", "/api/v1/admin/shops", {"name": "x", "owner": {"username": "y", "password": PASSWORD}}),
    ]:
        response = getattr(tenant.agent, method)(path, **({"json": body} if body else {}))
        assert response.status_code == 403, (method, path)
        assert error_of(response) in ("owner_only", "admin_only")


def test_token_role_owner_needs_an_owner(desk, tenant):
    agent_user = tenant.owner.get("/api/v1/users").json()["users"]
    agent_id = next(user["id"] for user in agent_user if user["username"] == tenant.agent_name)
    response = tenant.owner.post("/api/v1/tokens", json={"user": agent_id, "role": "owner"})
    assert response.status_code == 400


# -- users and shops ----------------------------------------------------------------------------------
def test_owner_adds_an_agent_who_can_log_in(desk, tenant):
    name = f"new-agent-{secrets.token_hex(4)}"
    response = tenant.owner.post("/api/v1/users", json={"username": name, "password": PASSWORD, "display_name": "小王"})
    assert response.status_code == 201
    assert response.json()["user"]["role"] == "agent"
    assert desk.login(name).get("/api/v1/me").json()["shop"]["id"] == tenant.shop_id
    names = [user["username"] for user in tenant.owner.get("/api/v1/users").json()["users"]]
    assert name in names and tenant.agent_name in names
    duplicate = tenant.owner.post("/api/v1/users", json={"username": name.upper(), "password": PASSWORD})
    assert duplicate.status_code == 409 and error_of(duplicate) == "conflict"
    weak = tenant.owner.post("/api/v1/users", json={"username": name + "x", "password": "short"})
    assert weak.status_code == 400
    admin_role = tenant.owner.post("/api/v1/users", json={"username": name + "y", "password": PASSWORD, "role": "admin"})
    assert admin_role.status_code == 400


def test_passwords_are_stored_as_argon2_hashes(desk, tenant):
    from filewall.store import User

    with desk.app.state.db.read() as session:
        user = session.query(User).filter_by(username=tenant.owner_name).one()
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash


def test_platform_admin_creates_a_shop(desk):
    admin_shop = desk.shop()
    admin = desk.login(desk.user(admin_shop, "admin"))
    name = f"新店-{secrets.token_hex(3)}"
    owner_name = f"owner-{secrets.token_hex(4)}"
    response = admin.post(
        "/api/v1/admin/shops",
        json={"name": name, "industry": "服装", "region": "浙江", "owner": {"username": owner_name, "password": PASSWORD}},
    )
    assert response.status_code == 201, response.text
    shop = response.json()["shop"]
    assert desk.login(owner_name).get("/api/v1/me").json()["shop"]["id"] == shop["id"]
    assert name in [item["name"] for item in admin.get("/api/v1/admin/shops").json()["shops"]]
    again = admin.post("/api/v1/admin/shops", json={"name": name, "owner": {"username": "zz" + owner_name, "password": PASSWORD}})
    assert again.status_code == 409


# -- scanning -------------------------------------------------------------------------------------------
def test_lure_zip_is_malicious_and_fully_reported(desk, tenant, lure):
    response = scan(tenant.agent, ("定制需求.zip", lure), sender="wx_customer_001")
    report = only_report(response)
    assert report["verdict"] == "malicious"
    assert report["score"] >= 70
    assert report["file_name"] == "定制需求.zip"
    assert report["size"] == len(lure)
    assert report["sha256"] == hashlib.sha256(lure).hexdigest()
    assert report["sender"] == "wx_customer_001"
    assert report["user"]["username"] == tenant.agent_name
    assert report["sample_access"] == "forbidden"
    assert "设计图.jpg.exe" in report["summary_zh"]
    rules = {finding["rule"] for finding in report["findings"]}
    assert "type.executable" in rules and "name.double_extension" in rules
    full = tenant.agent.get(report["links"]["self"]).json()
    assert full["id"] == report["id"]
    tree = full["report"]["tree"]
    assert tree["name"] == "定制需求.zip"
    names = [child["name"] for child in tree["children"]]
    assert "定制需求/设计图.jpg.exe" in names
    assert full["report"]["path"] == "定制需求.zip"  # never the path in the sample store


def test_several_files_in_one_upload_keep_their_order(desk, tenant, lure):
    files = [("订单备注.txt", "尺寸 50x80cm，颜色：红色。\n".encode()), ("定制需求.zip", lure), ("空.txt", b"")]
    response = scan(tenant.agent, *files)
    assert response.status_code == 200
    reports = response.json()["reports"]
    assert [report["file_name"] for report in reports] == ["订单备注.txt", "定制需求.zip", "空.txt"]
    assert [report["verdict"] for report in reports] == ["clean", "malicious", "clean"]
    assert len({report["submission_id"] for report in reports}) == 1


def test_clean_file_can_be_downloaded_by_its_agent(desk, tenant):
    text = "发票抬头：某某有限公司\n".encode()
    report = only_report(scan(tenant.agent, ("发票.txt", text)))
    assert report["verdict"] == "clean" and report["sample_access"] == "allowed"
    response = tenant.agent.get(report["links"]["sample"])
    assert response.status_code == 200
    assert response.content == text
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert "%E5%8F%91%E7%A5%A8.txt" in response.headers["content-disposition"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_dangerous_file_download_is_for_owners_after_confirming(desk, tenant, lure):
    report = only_report(scan(tenant.agent, ("定制需求.zip", lure)))
    sample = f"/api/v1/reports/{report['id']}/sample"
    forbidden = tenant.agent.get(sample + "?confirm=yes")
    assert forbidden.status_code == 403 and error_of(forbidden) == "download_forbidden"
    unconfirmed = tenant.owner.get(sample)
    assert unconfirmed.status_code == 400 and error_of(unconfirmed) == "confirmation_required"
    assert tenant.owner.get(report["links"]["self"]).json()["sample_access"] == "confirm"
    confirmed = tenant.owner.get(sample + "?confirm=yes")
    assert confirmed.status_code == 200
    assert confirmed.content == lure
    assert confirmed.headers["x-filewall-verdict"] == "malicious"


def test_bidi_name_is_kept_for_the_engine_and_neutralised_for_download(desk, tenant, pe_bytes):
    name = "invoice_\u202egpj.exe"
    report = only_report(scan(tenant.agent, (name, pe_bytes)))
    assert report["file_name"] == name
    assert report["file_name_visible"] == "invoice_[RLO]gpj.exe"
    assert report["verdict"] == "malicious"
    response = tenant.owner.get(report["links"]["sample"] + "?confirm=yes")
    assert "%E2%80%AE" not in response.headers["content-disposition"]  # no raw RLO in the saved name
    assert "%5BRLO%5D" in response.headers["content-disposition"]


def test_chat_password_opens_an_aes_zip(desk, tenant, pe_bytes):
    archive = aes_zip(pe_bytes, b"8866")
    without = only_report(scan(tenant.agent, ("设计稿（加密）.zip", archive)))
    member = tenant.agent.get(without["links"]["self"]).json()["report"]["tree"]["children"][0]
    assert member["has_content"] is False  # no password: only the name is known
    chat = "新客户: 需求和设计图都在压缩包里\n新客户: 麻烦用电脑解压看一下，解压密码 8866\n"
    response = scan(tenant.agent, ("设计稿（加密）.zip", archive), chat=chat)
    report = only_report(response)
    assert report["verdict"] == "malicious"
    assert "8866" in response.json()["chat"]["passwords"]
    assert report["chat"]["passwords"] == response.json()["chat"]["passwords"]
    opened = tenant.agent.get(report["links"]["self"]).json()["report"]["tree"]["children"][0]
    assert opened["has_content"] is True and opened["type"] == "pe"
    assert "type.executable" in {finding["rule"] for finding in report["findings"]}


def test_password_field_opens_an_aes_zip(desk, tenant, pe_bytes):
    report = only_report(scan(tenant.agent, ("x.zip", aes_zip(pe_bytes, b"s3cret!")), passwords=["wrong", "s3cret!"]))
    opened = tenant.agent.get(report["links"]["self"]).json()["report"]["tree"]["children"][0]
    assert opened["has_content"] is True and opened["type"] == "pe"


@pytest.mark.parametrize(
    "name,data",
    [
        ("truncated.zip", None),
        ("garbage.zip", b"PK\x03\x04" + b"\xff" * 300),
        ("broken.pdf", b"%PDF-1.7\n" + b"\x00garbage" * 20),
    ],
)
def test_corrupt_file_is_an_error_verdict_and_still_stored(desk, tenant, name, data):
    if data is None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("a.txt", "hello " * 500)
        data = buffer.getvalue()[:-40]
    report = only_report(scan(tenant.agent, (name, data)))
    assert report["verdict"] == "error"
    assert "file.corrupt" in {finding["rule"] for finding in report["findings"]}
    assert desk.app.state.samples.path_for(report["sha256"]).read_bytes() == data
    listed = tenant.owner.get("/api/v1/reports", params={"verdict": "error"}).json()["reports"]
    assert report["id"] in [item["id"] for item in listed]
    # An error is not known to be safe: agents cannot download it either.
    assert tenant.agent.get(report["links"]["sample"]).status_code == 403


def test_sample_is_content_addressed_and_deduplicated(desk, tenant, lure):
    first = only_report(scan(tenant.agent, ("a.zip", lure)))
    second = only_report(scan(tenant.owner, ("b.zip", lure)))
    assert first["sha256"] == second["sha256"] and first["id"] != second["id"]
    path = desk.app.state.samples.path_for(first["sha256"])
    sha = first["sha256"]
    assert path.relative_to(desk.data_dir / "samples").parts == (sha[:2], sha[2:4], sha)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha


# -- limits and bad input ---------------------------------------------------------------------------------
def test_oversize_upload_is_413_with_a_clear_error(desk, tenant):
    big = b"\0" * (MAX_UPLOAD_MB * 1024 * 1024 + 2 * 1024 * 1024)
    response = scan(tenant.agent, ("big.bin", big))
    assert response.status_code == 413
    assert error_of(response) == "upload_too_large"
    assert response.json()["limit_bytes"] == MAX_UPLOAD_MB * 1024 * 1024
    assert f"{MAX_UPLOAD_MB} MB" in response.json()["message"]
    assert tenant.agent.get("/api/v1/reports", params={"q": "big.bin"}).json()["total"] == 0


def test_oversize_upload_without_a_length_is_413_too(desk, tenant):
    boundary = "filewallboundary"

    def body():
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.bin"\r\n\r\n'.encode()
        for _ in range(MAX_UPLOAD_MB + 2):
            yield b"\0" * (1024 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    response = tenant.agent.post(
        "/api/v1/scans", content=body(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert response.status_code == 413
    assert error_of(response) == "upload_too_large"


def test_too_many_files_is_400(desk, tenant):
    files = [(f"{index}.txt", b"x") for index in range(MAX_FILES + 1)]
    response = scan(tenant.agent, *files)
    assert response.status_code == 400
    assert error_of(response) == "too_many_files"
    assert response.json()["max_files"] == MAX_FILES
    assert str(MAX_FILES) in response.json()["message_zh"]


def test_exactly_the_limit_of_files_is_fine(desk, tenant):
    files = [(f"{index}.txt", f"note {index}".encode()) for index in range(MAX_FILES)]
    assert len(scan(tenant.agent, *files).json()["reports"]) == MAX_FILES


def test_no_files_is_400(desk, tenant):
    for response in (
        tenant.agent.post("/api/v1/scans", data={"chat": "hello"}),
        tenant.agent.post("/api/v1/scans", json={"files": "x"}),
        tenant.agent.post("/api/v1/scans", data={"files": "not a file"}),
    ):
        assert response.status_code == 400
        assert error_of(response) == "no_files"


def test_chat_too_long_and_too_many_passwords_are_400(desk, tenant):
    limit = desk.app.state.settings.max_chat_chars
    response = scan(tenant.agent, ("a.txt", b"x"), chat="啊" * (limit + 1))
    assert response.status_code == 400 and error_of(response) == "chat_too_long"
    response = scan(tenant.agent, ("a.txt", b"x"), passwords=[f"p{index}" for index in range(30)])
    assert response.status_code == 400 and error_of(response) in ("too_many_passwords", "bad_upload")


def test_other_requests_have_a_small_body_limit(desk, tenant):
    response = tenant.owner.post("/api/v1/users", content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
                                 headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_cross_site_requests_with_the_cookie_are_refused(desk, tenant):
    response = tenant.agent.post(
        "/api/v1/scans", files=[("files", ("a.txt", b"x"))], headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403 and error_of(response) == "cross_site"
    same = tenant.agent.post("/api/v1/scans", files=[("files", ("a.txt", b"x"))], headers={"Origin": "http://desk.test"})
    assert same.status_code == 200
    login = desk.client().post(
        "/api/v1/login", json={"username": tenant.agent_name, "password": PASSWORD}, headers={"Origin": "https://evil.example"}
    )
    assert login.status_code == 403


# -- listing, filters, statistics ---------------------------------------------------------------------------
def test_list_filters_and_pagination(desk, tenant, lure):
    second_agent = desk.user(tenant.shop_id, "agent")
    other = desk.login(second_agent)
    clean = only_report(scan(tenant.agent, ("照片说明.txt", "红色 200 个".encode())))
    bad = only_report(scan(tenant.agent, ("定制需求.zip", lure)))
    theirs = only_report(scan(other, ("退货照片.txt", b"return")))
    everything = tenant.owner.get("/api/v1/reports").json()
    assert everything["total"] == 3
    assert [item["id"] for item in everything["reports"]] == [theirs["id"], bad["id"], clean["id"]]  # newest first
    assert "findings" not in everything["reports"][0] and "finding_count" in everything["reports"][0]

    def ids(**params):
        response = tenant.owner.get("/api/v1/reports", params=params)
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["reports"]}

    assert ids(verdict="malicious") == {bad["id"]}
    assert ids(verdict=["malicious", "clean"]) == {bad["id"], clean["id"], theirs["id"]}
    assert ids(verdict="suspicious,malicious") == {bad["id"]}
    assert ids(agent=second_agent) == {theirs["id"]}
    assert ids(agent=tenant.agent_name, verdict="clean") == {clean["id"]}
    assert ids(agent="no-such-agent") == set()
    assert ids(q="定制") == {bad["id"]}
    assert ids(sha256=bad["sha256"]) == {bad["id"]}
    today = dt.datetime.now(dt.UTC).date()
    assert len(ids(date_from=today.isoformat(), date_to=today.isoformat())) == 3
    assert ids(date_to=(today - dt.timedelta(days=1)).isoformat()) == set()
    assert ids(date_from=(today + dt.timedelta(days=1)).isoformat()) == set()
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    assert len(ids(date_to=later)) == 3
    page = tenant.owner.get("/api/v1/reports", params={"limit": 2, "offset": 2}).json()
    assert page["total"] == 3 and len(page["reports"]) == 1 and page["reports"][0]["id"] == clean["id"]
    assert tenant.owner.get("/api/v1/reports", params={"verdict": "evil"}).status_code == 400
    assert tenant.owner.get("/api/v1/reports", params={"date_from": "yesterday"}).status_code == 400
    assert tenant.owner.get("/api/v1/reports", params={"limit": 1000}).status_code == 422


def test_agents_see_only_their_own_reports(desk, tenant):
    mine = only_report(scan(tenant.agent, ("mine.txt", b"mine")))
    colleague = desk.login(desk.user(tenant.shop_id, "agent"))
    theirs = only_report(scan(colleague, ("theirs.txt", b"theirs")))
    listed = {item["id"] for item in tenant.agent.get("/api/v1/reports").json()["reports"]}
    assert mine["id"] in listed and theirs["id"] not in listed
    assert tenant.agent.get(f"/api/v1/reports/{theirs['id']}").status_code == 404
    # The agent filter cannot widen an agent's view.
    assert tenant.agent.get("/api/v1/reports", params={"agent": colleague.get("/api/v1/me").json()["user"]["id"]}).json()["total"] == 1
    assert {mine["id"], theirs["id"]} <= {item["id"] for item in tenant.owner.get("/api/v1/reports").json()["reports"]}


def test_week_statistics(desk, tenant, lure):
    scan(tenant.agent, ("a.zip", lure))
    scan(tenant.agent, ("b.txt", b"fine"))
    stats = tenant.owner.get("/api/v1/stats/week", params={"tz_offset_minutes": -480}).json()
    assert stats["blocked"] == 1 and stats["total"] == 2
    assert stats["by_verdict"] == {"clean": 1, "suspicious": 0, "malicious": 1, "error": 0}
    assert len(stats["by_day"]) == 7
    assert sum(day["blocked"] for day in stats["by_day"]) == 1
    today_beijing = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).date().isoformat()
    assert stats["by_day"][-1] == {"date": today_beijing, "blocked": 1}
    assert tenant.agent.get("/api/v1/stats/week").json()["blocked"] == 1


# -- isolation between shops ------------------------------------------------------------------------------------
def test_another_shop_cannot_read_list_download_or_guess(desk, tenant, other_tenant, lure):
    clean = only_report(scan(tenant.agent, ("发票.txt", b"invoice")))
    bad = only_report(scan(tenant.agent, ("定制需求.zip", lure)))
    intruder_token = desk.token(other_tenant.owner_name, role="owner")
    intruders = [other_tenant.owner, other_tenant.agent, desk.bearer(intruder_token)]
    for intruder in intruders:
        for report in (clean, bad):
            for path in (
                f"/api/v1/reports/{report['id']}",
                f"/api/v1/reports/{report['id']}/sample",
                f"/api/v1/reports/{report['id']}/sample?confirm=yes",
                f"/api/v1/reports/{report['id']}/blobs/{report['sha256']}",
            ):
                response = intruder.get(path)
                assert response.status_code == 404, (path, response.status_code)  # 404, not 403: nothing leaks
                assert error_of(response) == "not_found"
        listing = intruder.get("/api/v1/reports").json()
        assert {clean["id"], bad["id"]}.isdisjoint(item["id"] for item in listing["reports"])
        assert intruder.get("/api/v1/reports", params={"sha256": bad["sha256"]}).json()["total"] == 0
        assert intruder.get("/api/v1/reports", params={"agent": tenant.agent_name}).json()["total"] == 0
    assert other_tenant.owner.get("/api/v1/stats/week").json()["total"] == 0
    # Users and tokens of shop A are invisible and untouchable from shop B.
    a_users = {user["username"] for user in other_tenant.owner.get("/api/v1/users").json()["users"]}
    assert tenant.agent_name not in a_users and tenant.owner_name not in a_users
    a_token = tenant.owner.post("/api/v1/tokens", json={"name": "a"}).json()
    assert other_tenant.owner.delete(f"/api/v1/tokens/{a_token['id']}").status_code == 404
    assert a_token["id"] not in {token["id"] for token in other_tenant.owner.get("/api/v1/tokens").json()["tokens"]}
    assert desk.bearer(a_token["token"]).get("/api/v1/me").status_code == 200  # still valid
    assert other_tenant.owner.post("/api/v1/tokens", json={"user": tenant.agent_name}).status_code == 404


def test_guessed_report_ids_are_404(desk, tenant, lure):
    real = only_report(scan(tenant.agent, ("a.zip", lure)))
    assert len(real["id"]) >= 22  # 128 random bits
    for guess in ["1", "0", "AAAAAAAAAAAAAAAAAAAAAA", real["id"][:-1] + ("A" if real["id"][-1] != "A" else "B"),
                  "../../etc/passwd", "%2e%2e", secrets.token_urlsafe(16), real["id"] + "x" * 20]:
        response = tenant.owner.get(f"/api/v1/reports/{guess}")
        assert response.status_code == 404, guess


def test_report_ids_are_random_not_sequential(desk, tenant):
    response = scan(tenant.agent, *[(f"{index}.txt", b"x") for index in range(MAX_FILES)])
    ids = [report["id"] for report in response.json()["reports"]]
    assert len(set(ids)) == len(ids)
    assert not any(identifier.isdigit() for identifier in ids)
    assert sorted(ids) != ids or sorted(ids, reverse=True) != ids


def test_every_query_of_the_repository_is_scoped(desk, tenant, other_tenant):
    """The repository itself, not only the API, finds nothing of another shop."""
    report = only_report(scan(tenant.agent, ("a.txt", b"scoped")))
    with desk.app.state.db.read() as session:
        assert ShopScope(session, tenant.shop_id).get_report(report["id"]) is not None
        assert ShopScope(session, other_tenant.shop_id).get_report(report["id"]) is None
        assert not ShopScope(session, other_tenant.shop_id).has_sample(report["sha256"])
        assert ShopScope(session, other_tenant.shop_id).user(tenant.agent_name) is None


# -- previews stored with a report --------------------------------------------------------------------------------
def test_preview_blobs_are_stored_and_served_scoped(desk, tenant, other_tenant):
    from filewall.service.api import _externalize_blobs

    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
    report = {"path": "p.png", "verdict": "clean", "score": 0, "findings": [],
              "tree": {"name": "p.png", "children": [], "preview": {"thumbnail": png, "text": None}}}
    stored = _externalize_blobs(desk.app, report)
    ref = stored["tree"]["preview"]["thumbnail"]
    assert ref == {"blob": hashlib.sha256(png).hexdigest(), "size": len(png), "mime": "image/png"}
    with desk.app.state.db.write() as session:
        row = ShopScope(session, tenant.shop_id).add_report(
            submission_id="s", file_name="p.png", size=len(png), sha256=hashlib.sha256(png).hexdigest(),
            verdict="clean", score=0, report=stored, user_id=None,
        )
        session.flush()
        report_id = row.id
    url = f"/api/v1/reports/{report_id}/blobs/{ref['blob']}"
    response = tenant.owner.get(url)
    assert response.status_code == 200 and response.content == png
    assert response.headers["content-type"] == "image/png"
    assert other_tenant.owner.get(url).status_code == 404
    assert tenant.owner.get(f"/api/v1/reports/{report_id}/blobs/{'0' * 64}").status_code == 404


def test_lure_of_exactly_200_kb(pe_bytes):
    assert len(lure_zip(pe_bytes)) == 200 * 1024


def test_previews_made_by_the_scanning_process_are_served(desk, tenant):
    """The safe-view hook (filewall.preview.scan_for_desk) runs in the scanning process;
    its thumbnail bytes come back as blobs that only the shop can read."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 30, 30)).save(buffer, "JPEG")
    report = only_report(scan(tenant.agent, ("产品照片.jpg", buffer.getvalue())))
    assert report["verdict"] == "clean"
    full = tenant.agent.get(report["links"]["self"]).json()["report"]
    refs = [value for preview in full.get("previews", {}).values() for value in preview.values()
            if isinstance(value, dict) and "blob" in value]
    assert refs, full.get("previews")
    blob = tenant.agent.get(f"/api/v1/reports/{report['id']}/blobs/{refs[0]['blob']}")
    assert blob.status_code == 200 and blob.headers["content-type"] == "image/png"
    assert blob.content.startswith(b"\x89PNG")
    assert desk.app.state.previews.path_for(refs[0]["blob"]).is_file()
    assert not desk.app.state.samples.exists(refs[0]["blob"])  # previews never mix with samples
