"""Lead management over REST: derived location, edits, filters, shared numbers, back-links."""

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, delete, select

from crm.leads import add_phone_keys
from gateway.keys import sessionmaker_key
from gateway.models import Call, CarrierAccount, IntegrationEvent, Lead, LeadPhone
from tests.conftest import Gateway

SF = "+1 415 555 2671"
ALASKA = "+1 907 555 1234"
MUMBAI = "022 4000 1234"


async def create(gw: Gateway, token: str, **fields: Any) -> dict[str, Any]:
    status, lead = await gw.request("POST", "/api/leads", token, json=fields)
    assert status == 201, lead
    return dict(lead)


async def patch(gw: Gateway, token: str, lead_id: int, **fields: Any) -> tuple[int, Any]:
    return await gw.request("PATCH", f"/api/leads/{lead_id}", token, json=fields)


async def events(gw: Gateway, type_: str) -> list[dict[str, Any]]:
    async with gw.app[sessionmaker_key]() as session:
        rows = await session.exec(
            select(IntegrationEvent)
            .where(col(IntegrationEvent.type) == type_)
            .order_by(col(IntegrationEvent.id))
        )
        return [dict(e.data) for e in rows.all()]


async def names(gw: Gateway, token: str, **params: str) -> list[str]:
    status, page = await gw.request("GET", "/api/leads", token, params={"limit": "200", **params})
    assert status == 200, page
    return [lead["name"] for lead in page["data"]]


async def test_location_is_derived_from_the_primary_number(gateway: Gateway) -> None:
    token = await gateway.login("admin@demo.test")
    lead = await create(gateway, token, name="West Coast", phone=SF)
    assert (lead["country"], lead["region"], lead["timezone"]) == (
        "US",
        "San Francisco, CA",
        "America/Los_Angeles",
    )
    assert lead["timezones"] == ["America/Los_Angeles"]
    for key, value in {
        "attempts": 0,
        "last_called_at": None,
        "next_follow_up_at": None,
        "assigned_at": None,
        "merged_into_id": None,
    }.items():
        assert lead[key] == value, key

    # Several candidate zones: none is assumed (the dialer checks them all); all are shown.
    north = await create(gateway, token, name="North", phone=ALASKA)
    assert north["timezone"] is None
    assert north["timezones"] == ["America/Adak", "America/Anchorage"]
    assert north["region"] == "Alaska"

    # Indian mobiles only tell the country; a landline tells the city.
    mobile = await create(gateway, token, name="Mobile", phone="98450 12311")
    assert (mobile["country"], mobile["region"], mobile["timezone"]) == (
        "IN",
        None,
        "Asia/Kolkata",
    )
    status, moved = await patch(gateway, token, lead["id"], phone=MUMBAI)
    assert status == 200, moved
    assert (moved["phone"], moved["country"], moved["region"]) == ("+912240001234", "IN", "Mumbai")
    assert moved["timezones"] == ["Asia/Kolkata"]
    _, detail = await gateway.request("GET", f"/api/leads/{lead['id']}", token)
    assert (detail["country"], detail["region"], detail["timezone"]) == (
        "IN",
        "Mumbai",
        "Asia/Kolkata",
    )

    # The demo's leads got theirs when they were seeded.
    _, page = await gateway.request("GET", "/api/leads", token, params={"q": "Oliver Smith"})
    (oliver,) = page["data"]
    assert (oliver["country"], oliver["region"], oliver["timezone"]) == (
        "GB",
        "London",
        "Europe/London",
    )


async def test_patch_changes_fields_records_status_and_emits_an_event(gateway: Gateway) -> None:
    agent = await gateway.login("agent1@demo.test")
    _, me = await gateway.request("GET", "/api/auth/me", agent)
    lead = await create(gateway, agent, name="Ravi", phone="98450 12399", tags=["cold"])
    status, body = await patch(
        gateway,
        agent,
        lead["id"],
        name="Ravi Kumar",
        company="Kumar Agro",
        email="RAVI@example.com",
        alt_phones=["+1 (212) 736-4455", "0044 20 7946 0777"],
        address="Pune",
        status="interested",
        tags=["hot", "agri"],
        custom_fields={"acres": 12},
        source="referral",
        consent="granted",
    )
    assert status == 200, body
    assert body["name"] == "Ravi Kumar" and body["email"] == "ravi@example.com"
    assert body["alt_phones"] == ["+12127364455", "+442079460777"]
    assert body["phone"] == "+919845012399" and body["owner_id"] == me["id"]
    assert (body["status"], body["tags"], body["source"]) == (
        "interested",
        ["hot", "agri"],
        "referral",
    )
    assert body["custom_fields"] == {"acres": 12} and body["address"] == "Pune"
    assert body["consent"] == "granted" and body["consent_at"] is not None
    assert body["updated_at"] > lead["updated_at"]
    assert body["shared_numbers"] == []

    # The new numbers find the lead in any format; the old list is re-keyed.
    assert await names(gateway, agent, q="0044 20 7946 0777") == ["Ravi Kumar"]
    status, body = await patch(gateway, agent, lead["id"], alt_phones=["+44 20 7946 0777"])
    assert status == 200 and body["alt_phones"] == ["+442079460777"]
    assert await names(gateway, agent, q="+1 212 736 4455") == []
    assert await names(gateway, agent, phone="+44 20 7946 0777", country="IN") == ["Ravi Kumar"]

    # Same values again: nothing changes and nothing is emitted.
    status, same = await patch(gateway, agent, lead["id"], status="interested", name="Ravi Kumar")
    assert status == 200 and same["updated_at"] == body["updated_at"]
    status, _ = await patch(gateway, agent, lead["id"], status="converted")
    assert status == 200

    updated = [e for e in await events(gateway, "lead.updated") if e["id"] == lead["id"]]
    assert [e["changed"] for e in updated] == [
        [
            "name",
            "company",
            "email",
            "address",
            "source",
            "tags",
            "custom_fields",
            "consent",
            "alt_phones",
            "status",
        ],
        ["alt_phones"],
        ["status"],
    ]
    assert updated[-1]["status"] == "converted"

    status, history = await gateway.request("GET", f"/api/leads/{lead['id']}/history", agent)
    assert status == 200
    assert [(h["from"], h["to"], h["reason"]) for h in history["data"]] == [
        ("interested", "converted", "manual"),
        ("new", "interested", "manual"),
    ]
    assert {(h["by"], h["by_name"]) for h in history["data"]} == {(me["id"], me["name"])}
    assert history["data"][0]["at"] >= history["data"][1]["at"]
    assert history["next_cursor"] is None


BAD_PATCHES: list[tuple[dict[str, Any], int, str, str]] = [
    ({"owner_id": 3}, 400, "owner_id", "invalid"),
    ({"team_id": None}, 400, "team_id", "invalid"),
    ({"colour": "red"}, 400, "colour", "invalid"),
    ({"status": "sleeping"}, 400, "status", "invalid"),
    ({"email": "nope"}, 400, "email", "invalid"),
    ({"name": None}, 400, "name", "invalid"),
    ({"phone": "12345"}, 400, "phone", "invalid_phone"),
    ({"alt_phones": ["+1 212 736 4455", "nope"]}, 400, "alt_phones.1", "invalid_phone"),
    ({"alt_phones": ["+91 90000 23456"]}, 400, "alt_phones.0", "internal_number"),
    ({"phone": "+91 98200 11223"}, 409, "phone", "duplicate_phone"),
    ({"alt_phones": ["98200 11223"]}, 409, "alt_phones.0", "duplicate_phone"),
]


async def test_bad_patches_are_refused_and_change_nothing(gateway: Gateway) -> None:
    token = await gateway.login("admin@demo.test")
    lead = await create(gateway, token, name="Kept", phone="98450 12366", company="Kept Co")
    for fields, status, field, code in BAD_PATCHES:
        got, body = await patch(gateway, token, lead["id"], **{"name": "Changed", **fields})
        assert got == status, (fields, body)
        assert (body["error"]["field"], body["error"]["code"]) == (field, code), fields
        if "owner_id" in fields or "team_id" in fields:
            assert "assignment" in body["error"]["message"]
        if code == "duplicate_phone":
            assert len(body["error"]["lead_ids"]) == 1
    _, after = await gateway.request("GET", f"/api/leads/{lead['id']}", token)
    assert after["name"] == "Kept" and after["phone"] == "+919845012366"
    assert after["alt_phones"] == [] and after["updated_at"] == lead["updated_at"]
    assert await events(gateway, "lead.updated") == []
    assert await names(gateway, token, q="Kept") == ["Kept"]


async def test_patch_follows_the_same_visibility_as_get(gateway: Gateway) -> None:
    agent1 = await gateway.login("agent1@demo.test")
    agent2 = await gateway.login("agent2@demo.test")
    manager = await gateway.login("manager@demo.test")
    lead = await create(gateway, agent1, name="Mine", phone="98450 12355")
    status, body = await patch(gateway, agent2, lead["id"], name="Stolen")
    assert status == 404 and body["error"]["field"] == "lead_id"
    status, body = await patch(gateway, manager, lead["id"], name="Team edit")
    assert status == 200 and body["name"] == "Team edit"
    status, body = await patch(gateway, agent1, 999999, name="x")
    assert status == 404
    status, body = await gateway.request(
        "PATCH", f"/api/leads/{lead['id']}", agent1, data=b"[1, 2]"
    )
    assert status == 400 and body["error"]["field"] == "body"


async def test_list_filters_combine(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    _, agent2 = await gateway.request(
        "GET", "/api/auth/me", await gateway.login("agent2@demo.test")
    )
    await create(
        gateway,
        admin,
        name="Filter One",
        company="Acme 100% Pure",
        email="one@acme.test",
        phone=SF,
        tags=["vip", "west"],
        source="expo",
        status="interested",
    )
    await create(
        gateway,
        admin,
        name="Filter Two",
        company="Acme Pvt",
        phone="98450 12322",
        alt_phones=["+1 907 555 1234"],
        tags=["west"],
        source="expo",
        status="callback",
        owner_id=agent2["id"],
    )
    before = datetime.now(UTC)
    await asyncio.sleep(0.05)
    await create(gateway, admin, name="Filter Three", phone="98450 12333", tags=["vip"])

    assert await names(gateway, admin, company="acme") == ["Filter Two", "Filter One"]
    # LIKE wildcards in the text match only themselves.
    assert await names(gateway, admin, company="100%") == ["Filter One"]
    assert await names(gateway, admin, company="%") == ["Filter One"]
    assert await names(gateway, admin, name="filter", tag="vip") == ["Filter Three", "Filter One"]
    assert await names(gateway, admin, tag="west", source="expo") == ["Filter Two", "Filter One"]
    assert await names(gateway, admin, email="ACME.TEST") == ["Filter One"]
    assert await names(gateway, admin, name="filter", status="callback,interested") == [
        "Filter Two",
        "Filter One",
    ]
    assert await names(gateway, admin, name="filter", owner_id=str(agent2["id"])) == ["Filter Two"]
    assert await names(gateway, admin, name="filter", owner_id="none") == [
        "Filter Three",
        "Filter One",
    ]
    assert await names(gateway, admin, country="us", name="filter") == ["Filter One"]
    assert await names(gateway, admin, phone="+1 907-555-1234") == ["Filter Two"]
    assert await names(gateway, admin, phone="098450 12333", tag="west") == []
    stamp = before.isoformat()
    assert await names(gateway, admin, created_from=stamp) == ["Filter Three"]
    assert await names(gateway, admin, name="filter", created_to=stamp) == [
        "Filter Two",
        "Filter One",
    ]
    assert await names(gateway, admin, updated_from=stamp, updated_to="2999-01-01T00:00:00Z") == [
        "Filter Three"
    ]

    # Unassigned demo leads sit in the pool: owner_id=none is exactly those.
    _, everything = await gateway.request("GET", "/api/leads", admin, params={"limit": "200"})
    pool = [x["name"] for x in everything["data"] if x["owner_id"] is None]
    assert await names(gateway, admin, owner_id="none") == pool
    gb = [x["name"] for x in everything["data"] if x["country"] == "GB"]
    assert gb and await names(gateway, admin, country="GB") == gb
    demo_team = everything["data"][-1]["team_id"]
    in_team = [x["name"] for x in everything["data"] if x["team_id"] == demo_team]
    assert await names(gateway, admin, team_id=str(demo_team)) == in_team

    # Filters keep cursor paging.
    _, first = await gateway.request(
        "GET", "/api/leads", admin, params={"name": "filter", "limit": "2"}
    )
    _, second = await gateway.request(
        "GET",
        "/api/leads",
        admin,
        params={"name": "filter", "limit": "2", "cursor": first["next_cursor"]},
    )
    assert [x["name"] for x in first["data"] + second["data"]] == [
        "Filter Three",
        "Filter Two",
        "Filter One",
    ]
    assert second["next_cursor"] is None


BAD_FILTERS: list[tuple[dict[str, str], str]] = [
    ({"created_from": "yesterday"}, "created_from"),
    ({"created_to": "2026-13-01T00:00:00Z"}, "created_to"),
    ({"updated_from": "2026-11-01T10:00:00"}, "updated_from"),
    ({"updated_to": "x"}, "updated_to"),
    ({"owner_id": "nobody"}, "owner_id"),
    ({"team_id": "-1"}, "team_id"),
    ({"phone": "12345"}, "phone"),
]


async def test_bad_filters_are_400_naming_the_field(gateway: Gateway) -> None:
    token = await gateway.login("manager@demo.test")
    for params, field in BAD_FILTERS:
        status, body = await gateway.request("GET", "/api/leads", token, params=params)
        assert status == 400 and body["error"]["field"] == field, (params, body)


async def test_agents_filters_stay_within_their_own_leads(gateway: Gateway) -> None:
    agent2 = await gateway.login("agent2@demo.test")
    _, me = await gateway.request("GET", "/api/auth/me", agent2)
    assert await names(gateway, agent2, owner_id="none") == []
    _, page = await gateway.request("GET", "/api/leads", agent2, params={"country": "IN"})
    assert page["data"] and {x["owner_id"] for x in page["data"]} == {me["id"]}


async def place_console_call(gw: Gateway, to: str) -> None:
    """A call placed from the carrier's own console: Dialgate learns of it by webhook only."""
    async with gw.app[sessionmaker_key]() as session:
        account = (await session.exec(select(CarrierAccount))).one()
    status, body = await gw.request(
        "POST",
        "/sandbox-carrier/v1/calls",
        headers={"Authorization": f"Bearer {account.credentials['api_key']}"},
        json={
            "from": "+918047180000",
            "to": to,
            "status_callback": f"{gw.url}/webhooks/sandbox/{account.id}/status",
        },
    )
    assert status == 201, body


async def ended_call_to(gw: Gateway, number: str) -> Call:
    """The one call to `number`, once it has ended."""
    for _ in range(200):
        async with gw.app[sessionmaker_key]() as session:
            rows = await session.exec(select(Call).where(col(Call.to_number) == number))
            found: list[Call] = list(rows.all())
        if found and found[0].status == "completed":
            assert len(found) == 1
            return found[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no ended call to {number}")


async def test_calls_logged_before_the_lead_existed_are_linked_to_it(gateway: Gateway) -> None:
    number = "+919845077001"
    await place_console_call(gateway, number)
    call = await ended_call_to(gateway, number)
    assert (call.lead_id, call.lead_match, call.direction) == (None, "none", "outbound")

    admin = await gateway.login("admin@demo.test")
    lead = await create(gateway, admin, name="Called Before", phone="098450 77001")
    _, detail = await gateway.request("GET", f"/api/leads/{lead['id']}", admin)
    assert [c["id"] for c in detail["calls"]] == [call.id]
    assert detail["calls"][0]["lead_match"] == "matched"
    assert detail["calls"][0]["team_id"] == lead["team_id"]

    # A number added later by an edit picks up its calls too.
    other = "+919845077002"
    await place_console_call(gateway, other)
    await ended_call_to(gateway, other)
    status, _ = await patch(gateway, admin, lead["id"], alt_phones=["98450 77002"])
    assert status == 200
    _, detail = await gateway.request("GET", f"/api/leads/{lead['id']}", admin)
    assert len(detail["calls"]) == 2


async def test_a_number_two_leads_hold_is_shown_as_shared_until_merged(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    first = await create(gateway, admin, name="Shared A", phone="98450 12001")
    second = await create(gateway, admin, name="Shared B", phone="98450 12002")
    _, detail = await gateway.request("GET", f"/api/leads/{first['id']}", admin)
    assert detail["shared_numbers"] == []
    # Imports may leave two leads with one number; build that state directly.
    async with gateway.app[sessionmaker_key]() as session:
        row = await session.get(Lead, second["id"])
        assert row is not None
        row.alt_phones = ["+919845012001"]
        await session.exec(delete(LeadPhone).where(col(LeadPhone.lead_id) == second["id"]))
        await add_phone_keys(session, gateway.settings, row)
        await session.commit()
    for lead_id, other in ((first["id"], second["id"]), (second["id"], first["id"])):
        _, detail = await gateway.request("GET", f"/api/leads/{lead_id}", admin)
        assert detail["shared_numbers"] == [{"number": "+919845012001", "lead_ids": [other]}]
    # An unrelated edit of either lead is not blocked by the old shared number.
    status, body = await patch(
        gateway, admin, second["id"], name="Shared B2", alt_phones=["+919845012001", "98450 12003"]
    )
    assert status == 200, body
    assert body["shared_numbers"] == [{"number": "+919845012001", "lead_ids": [first["id"]]}]

    # A call to the shared number cannot pick a lead; merging the two gives it one.
    await place_console_call(gateway, "+919845012001")
    call = await ended_call_to(gateway, "+919845012001")
    assert (call.lead_id, call.lead_match) == (None, "ambiguous")
    status, merged = await gateway.request(
        "POST", f"/api/leads/{first['id']}/merge", admin, json={"from_lead_ids": [second["id"]]}
    )
    assert status == 200, merged
    assert merged["shared_numbers"] == []
    assert merged["alt_phones"] == ["+919845012002", "+919845012003"]
    _, detail = await gateway.request("GET", f"/api/leads/{first['id']}", admin)
    assert [(c["id"], c["lead_match"]) for c in detail["calls"]] == [(call.id, "matched")]


async def test_openapi_documents_lead_management(gateway: Gateway) -> None:
    status, spec = await gateway.request("GET", "/api/openapi.json")
    assert status == 200
    for path, methods in {
        "/api/leads/{lead_id}": {"get", "patch"},
        "/api/leads/{lead_id}/merge": {"post"},
        "/api/leads/{lead_id}/history": {"get"},
        "/api/leads/{lead_id}/notes": {"get", "post"},
        "/api/settings/crm": {"get", "put"},
    }.items():
        assert methods <= set(spec["paths"][path]), path
    listed = {p["name"] for p in spec["paths"]["/api/leads"]["get"]["parameters"]}
    assert {"q", "phone", "tag", "country", "created_from", "updated_to", "owner_id"} <= listed
    lead = spec["components"]["schemas"]["Lead"]["properties"]
    assert {"country", "region", "timezone", "timezones", "merged_into_id"} <= set(lead)
