"""Leads over REST: any number format in, E.164 out, clear errors, search, paging, visibility."""

from typing import Any

import pytest

from tests.conftest import Gateway


async def create(gw: Gateway, token: str, **fields: Any) -> tuple[int, Any]:
    return await gw.request("POST", "/api/leads", token, json=fields)


async def test_lead_is_stored_in_e164_whatever_the_input_format(gateway: Gateway) -> None:
    token = await gateway.login("agent1@demo.test")
    status, lead = await create(
        gateway,
        token,
        name="Ravi Kumar",
        company="Kumar Agro",
        email="Ravi@Example.com",
        phone="098450 12399",
        alt_phones=["+1 (212) 736-4455", "0044 20 7946 0777"],
        tags=["hot"],
        custom_fields={"city": "Pune"},
    )
    assert status == 201, lead
    assert lead["phone"] == "+919845012399"
    assert lead["alt_phones"] == ["+12127364455", "+442079460777"]
    assert lead["email"] == "ravi@example.com"
    assert lead["owner_id"] is not None and lead["status"] == "new"
    for key in (
        "id",
        "name",
        "company",
        "email",
        "phone",
        "alt_phones",
        "status",
        "owner_id",
        "team_id",
        "source",
        "tags",
        "custom_fields",
        "created_at",
        "updated_at",
    ):
        assert key in lead

    status, detail = await gateway.request("GET", f"/api/leads/{lead['id']}", token)
    assert status == 200
    assert detail["phone"] == "+919845012399" and detail["calls"] == []


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"name": "No Phone"}, "phone", "invalid"),
        ({"phone": "12345"}, "phone", "invalid_phone"),
        (
            {"phone": "98450 12398", "alt_phones": ["+1 212 736 4455", "nope"]},
            "alt_phones.1",
            "invalid_phone",
        ),
        ({"phone": "98450 12398", "email": "not-an-email"}, "email", "invalid"),
        ({"phone": "98450 12398", "status": "sleeping"}, "status", "invalid"),
        ({"phone": "98450 12398", "colour": "red"}, "colour", "invalid"),
        ({"phone": "+91 90000 23456"}, "phone", "internal_number"),
        ({"phone": "+91 80 4718 0000"}, "phone", "internal_number"),
    ],
)
async def test_invalid_leads_get_400_naming_the_field(
    gateway: Gateway, fields: dict[str, Any], field: str, code: str
) -> None:
    token = await gateway.login("admin@demo.test")
    status, body = await create(gateway, token, **fields)
    assert status == 400, body
    assert body["error"]["field"] == field
    assert body["error"]["code"] == code
    status, page = await gateway.request("GET", "/api/leads?limit=200", token)
    assert len(page["data"]) == 32  # nothing half-written


async def test_non_json_body_is_a_400(gateway: Gateway) -> None:
    token = await gateway.login("admin@demo.test")
    status, body = await gateway.request("POST", "/api/leads", token, data=b"{oops")
    assert status == 400 and body["error"]["field"] == "body"


async def test_duplicate_number_is_a_conflict_naming_the_existing_lead(gateway: Gateway) -> None:
    token = await gateway.login("admin@demo.test")
    status, body = await create(gateway, token, name="Again", phone="+91 98765 43210")
    assert status == 409
    assert body["error"]["code"] == "duplicate_phone"
    assert body["error"]["field"] == "phone"
    assert len(body["error"]["lead_ids"]) == 1


@pytest.mark.parametrize(
    "query",
    [
        "98765 43210",
        "+919876543210",
        "098765-43210",
        "0091 98765 43210",
        "priya",
        "SHARMA TEX",
        "priya@example",
    ],
)
async def test_search_matches_name_company_email_and_any_number_format(
    gateway: Gateway, query: str
) -> None:
    token = await gateway.login("admin@demo.test")
    status, page = await gateway.request("GET", "/api/leads", token, params={"q": query})
    assert status == 200
    assert [lead["name"] for lead in page["data"]] == ["Priya Sharma"]


async def test_alt_phone_matches_in_search(gateway: Gateway) -> None:
    token = await gateway.login("agent1@demo.test")
    await create(gateway, token, name="Two Phones", phone="98450 12377", alt_phones=["96000 12377"])
    status, page = await gateway.request(
        "GET", "/api/leads", token, params={"q": "+91 96000-12377"}
    )
    assert status == 200
    assert [lead["name"] for lead in page["data"]] == ["Two Phones"]


async def test_cursor_pages_through_every_lead_once(gateway: Gateway) -> None:
    token = await gateway.login("admin@demo.test")
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "7"} | ({"cursor": cursor} if cursor else {})
        status, page = await gateway.request("GET", "/api/leads", token, params=params)
        assert status == 200
        seen += [lead["id"] for lead in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 5
    assert len(seen) == len(set(seen)) == 32
    assert seen == sorted(seen, reverse=True)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"cursor": "%%%"}, "cursor"),
        ({"owner_id": "me"}, "owner_id"),
    ],
)
async def test_bad_list_parameters_are_400(
    gateway: Gateway, params: dict[str, str], field: str
) -> None:
    token = await gateway.login("admin@demo.test")
    status, body = await gateway.request("GET", "/api/leads", token, params=params)
    assert status == 400 and body["error"]["field"] == field


async def test_filters_by_status_and_owner(gateway: Gateway) -> None:
    token = await gateway.login("admin@demo.test")
    _, me = await gateway.request("GET", "/api/auth/me", await gateway.login("agent2@demo.test"))
    await create(
        gateway, token, name="Warm", phone="98450 12355", status="interested", owner_id=me["id"]
    )
    _, page = await gateway.request("GET", "/api/leads", token, params={"status": "interested"})
    assert [lead["name"] for lead in page["data"]] == ["Warm"]
    _, page = await gateway.request(
        "GET", "/api/leads", token, params={"owner_id": str(me["id"]), "limit": "200"}
    )
    assert page["data"] and all(lead["owner_id"] == me["id"] for lead in page["data"])


async def test_agents_see_only_their_leads_managers_their_team(gateway: Gateway) -> None:
    agent1 = await gateway.login("agent1@demo.test")
    agent2 = await gateway.login("agent2@demo.test")
    manager = await gateway.login("manager@demo.test")
    _, me1 = await gateway.request("GET", "/api/auth/me", agent1)
    _, mine = await gateway.request("GET", "/api/leads?limit=200", agent1)
    assert mine["data"] and all(lead["owner_id"] == me1["id"] for lead in mine["data"])

    foreign = mine["data"][0]["id"]
    status, body = await gateway.request("GET", f"/api/leads/{foreign}", agent2)
    assert status == 404 and body["error"]["code"] == "not_found"
    _, found = await gateway.request("GET", "/api/leads", agent2, params={"q": "98765 43210"})
    assert found["data"] == []

    _, team = await gateway.request("GET", "/api/leads?limit=200", manager)
    assert len(team["data"]) == 32

    status, body = await create(gateway, agent2, phone="98450 12344", owner_id=me1["id"])
    assert status == 403 and body["error"]["field"] == "owner_id"


async def test_api_requires_a_valid_token(gateway: Gateway) -> None:
    for token in (None, "dg_not-a-real-token"):
        status, body = await gateway.request("GET", "/api/leads", token)
        assert status == 401
        assert body["error"]["code"] in ("unauthorized", "invalid_token")


async def test_login_errors(gateway: Gateway) -> None:
    status, body = await gateway.request(
        "POST", "/api/auth/login", json={"email": "agent1@demo.test", "password": "wrong"}
    )
    assert status == 401 and body["error"]["code"] == "invalid_credentials"
    status, body = await gateway.request(
        "POST", "/api/auth/login", json={"email": "nobody@demo.test", "password": "demo"}
    )
    assert status == 401 and body["error"]["code"] == "invalid_credentials"
    status, body = await gateway.request("POST", "/api/auth/login", json={"email": "a@b.c"})
    assert status == 400 and body["error"]["field"] == "password"
    status, body = await gateway.request(
        "POST", "/api/auth/login", json={"email": "AGENT1@demo.test ", "password": "demo"}
    )
    assert status == 200 and body["user"]["role"] == "agent" and body["token"]
