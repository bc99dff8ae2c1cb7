"""The do-not-call list over REST and CSV upload, lead consent, and the dial guard."""

from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.keys import sessionmaker_key
from gateway.models import Organization, Role
from gateway.users import create_user
from tests.conftest import Gateway

PRIYA = "+919876543210"


async def add(gw: Gateway, token: str, number: str, reason: str = "asked") -> tuple[int, Any]:
    return await gw.request("POST", "/api/dnc", token, json={"number": number, "reason": reason})


async def upload(gw: Gateway, token: str, text: str, **kwargs: Any) -> tuple[int, Any]:
    headers = {"Content-Type": kwargs.pop("content_type", "text/csv")}
    return await gw.request(
        "POST", "/api/dnc/bulk", token, data=text.encode(), headers=headers, **kwargs
    )


async def priya(gw: Gateway, token: str) -> dict[str, Any]:
    _, page = await gw.request("GET", "/api/leads", token, params={"q": PRIYA})
    (lead,) = page["data"]
    return dict(lead)


async def no_calls(gw: Gateway) -> None:
    admin = await gw.login("admin@demo.test")
    status, page = await gw.request("GET", "/api/calls", admin)
    assert status == 200 and page["data"] == []


async def test_add_is_idempotent_and_any_format_hits_the_same_entry(gateway: Gateway) -> None:
    token = await gateway.login("manager@demo.test")
    status, entry = await add(gateway, token, "098765 43210", reason="called to complain")
    assert status == 201, entry
    assert entry["number"] == PRIYA and entry["source"] == "manual"
    assert entry["reason"] == "called to complain" and entry["created_by"] is not None
    status, again = await add(gateway, token, "+91 98765-43210")
    assert status == 200 and again == entry

    admin = await gateway.login("admin@demo.test")
    for q in ("98765 43210", "+91 98765-43210", "0091 98765 43210"):
        status, page = await gateway.request("GET", "/api/dnc", admin, params={"q": q})
        assert status == 200
        assert [e["id"] for e in page["data"]] == [entry["id"]], q
    _, page = await gateway.request("GET", "/api/dnc", admin, params={"q": "98450 12399"})
    assert page["data"] == []


async def test_invalid_numbers_are_400_naming_the_field(gateway: Gateway) -> None:
    token = await gateway.login("admin@demo.test")
    status, body = await add(gateway, token, "12345")
    assert status == 400 and body["error"]["field"] == "number"
    status, body = await gateway.request("POST", "/api/dnc", token, json={"reason": "x"})
    assert status == 400 and body["error"]["field"] == "number"
    status, body = await gateway.request("GET", "/api/dnc", token, params={"q": "nope"})
    assert status == 400 and body["error"]["field"] == "q"
    _, page = await gateway.request("GET", "/api/dnc", token)
    assert page["data"] == []


async def test_list_pages_newest_first(gateway: Gateway) -> None:
    token = await gateway.login("admin@demo.test")
    numbers = ["+919845012301", "+919845012302", "+919845012303"]
    for number in numbers:
        assert (await add(gateway, token, number))[0] == 201
    status, first = await gateway.request("GET", "/api/dnc", token, params={"limit": "2"})
    assert status == 200
    assert [e["number"] for e in first["data"]] == numbers[:0:-1]
    _, second = await gateway.request(
        "GET", "/api/dnc", token, params={"limit": "2", "cursor": first["next_cursor"]}
    )
    assert [e["number"] for e in second["data"]] == numbers[:1]
    assert second["next_cursor"] is None


async def test_delete_removes_the_entry(gateway: Gateway) -> None:
    token = await gateway.login("admin@demo.test")
    _, entry = await add(gateway, token, PRIYA)
    status, body = await gateway.request("DELETE", f"/api/dnc/{entry['id']}", token)
    assert status == 204 and body is None
    _, page = await gateway.request("GET", "/api/dnc", token)
    assert page["data"] == []
    status, body = await gateway.request("DELETE", f"/api/dnc/{entry['id']}", token)
    assert status == 404 and body["error"]["code"] == "not_found"


async def test_agents_cannot_manage_the_list(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    _, entry = await add(gateway, admin, PRIYA)
    agent = await gateway.login("agent1@demo.test")
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/api/dnc", {}),
        ("GET", "/api/dnc?q=9876543210", {}),
        ("POST", "/api/dnc", {"json": {"number": "+919845012301"}}),
        ("DELETE", f"/api/dnc/{entry['id']}", {}),
        (
            "POST",
            "/api/dnc/bulk",
            {"data": b"+919845012301", "headers": {"Content-Type": "text/csv"}},
        ),
    ]
    for method, path, kwargs in calls:
        status, body = await gateway.request(method, path, agent, **kwargs)
        assert status == 403, (method, path)
        assert body["error"]["code"] == "forbidden"
    _, page = await gateway.request("GET", "/api/dnc", admin)
    assert [e["id"] for e in page["data"]] == [entry["id"]]


async def test_bulk_upload_reports_added_duplicates_and_invalid_lines(gateway: Gateway) -> None:
    token = await gateway.login("manager@demo.test")
    await add(gateway, token, PRIYA)
    text = (
        "number,reason\n"
        "98450 12301,complained\n"
        "+91 98765-43210,again\n"  # already listed
        "not a number,x\n"
        "\n"
        "098450-12301,repeat\n"  # repeated within the file
        "+1 212 736 4455,\n"
        ",no number\n"
    )
    status, report = await upload(gateway, token, text)
    assert status == 200, report
    assert report["added"] == 2 and report["already_listed"] == 2
    assert [(i["line"], i["value"]) for i in report["invalid"]] == [(4, "not a number"), (8, "")]
    assert all(i["error"] for i in report["invalid"])

    _, page = await gateway.request("GET", "/api/dnc", token)
    by_number = {e["number"]: e for e in page["data"]}
    assert set(by_number) == {PRIYA, "+919845012301", "+12127364455"}
    assert by_number["+919845012301"]["reason"] == "complained"
    assert by_number["+919845012301"]["source"] == "upload"
    assert by_number["+12127364455"]["reason"] is None

    # One number per line, no header; a second run adds nothing.
    status, report = await upload(gateway, token, "98450 12302\r\n98450 12301\r\n")
    assert status == 200
    assert (report["added"], report["already_listed"], report["invalid"]) == (1, 1, [])


async def test_bulk_upload_limits(gateway: Gateway) -> None:
    token = await gateway.login("admin@demo.test")
    status, body = await upload(gateway, token, "98450 12301\n" * (500_000))
    assert status == 413 and body["error"]["code"] == "too_large"

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"98450 12301\n" * 5000

    # Without a Content-Length the limit is enforced while reading.
    status, body = await gateway.request(
        "POST", "/api/dnc/bulk", token, data=chunks(), headers={"Content-Type": "text/csv"}
    )
    assert status == 413 and body["error"]["code"] == "too_large"
    status, body = await upload(gateway, token, "98450 12301", content_type="application/json")
    assert status == 415
    _, page = await gateway.request("GET", "/api/dnc", token)
    assert page["data"] == []


async def test_lead_json_shows_dnc_and_consent(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    lead = await priya(gateway, admin)
    assert lead["dnc"] is False and lead["consent"] is None and lead["consent_at"] is None
    await add(gateway, admin, PRIYA)
    assert (await priya(gateway, admin))["dnc"] is True
    _, detail = await gateway.request("GET", f"/api/leads/{lead['id']}", admin)
    assert detail["dnc"] is True

    # A listed number may still become a lead; it shows as not callable.
    await add(gateway, admin, "98450 12355")
    status, created = await gateway.request(
        "POST", "/api/leads", admin, json={"phone": "098450-12355", "consent": "granted"}
    )
    assert status == 201, created
    assert created["dnc"] is True and created["consent"] == "granted" and created["consent_at"]
    status, body = await gateway.request(
        "POST", "/api/leads", admin, json={"phone": "98450 12356", "consent": "maybe"}
    )
    assert status == 400 and body["error"]["field"] == "consent"


@pytest.mark.parametrize(
    ("dial", "field"),
    [
        ("lead", "lead_id"),
        ("+91 98765-43210", "number"),
        ("098765 43210", "number"),
    ],
)
async def test_dialing_a_listed_number_is_refused_over_rest(
    gateway: Gateway, dial: str, field: str
) -> None:
    await add(gateway, await gateway.login("manager@demo.test"), PRIYA)
    agent = await gateway.login("agent1@demo.test")
    target = (
        {"lead_id": (await priya(gateway, agent))["id"]} if dial == "lead" else {"number": dial}
    )
    status, body = await gateway.request("POST", "/api/calls", agent, json=target)
    assert status == 409, body
    assert body["error"]["code"] == "dnc" and body["error"]["field"] == field
    assert "do-not-call list" in body["error"]["message"]
    await no_calls(gateway)


async def test_dialing_an_unknown_listed_number_creates_nothing(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    await add(gateway, admin, "98450 12377")
    agent = await gateway.login("agent1@demo.test")
    status, body = await gateway.request(
        "POST", "/api/calls", agent, json={"number": "+919845012377"}
    )
    assert status == 409 and body["error"]["code"] == "dnc"
    _, page = await gateway.request("GET", "/api/leads", admin, params={"q": "+919845012377"})
    assert page["data"] == []
    await no_calls(gateway)


async def test_dial_refusal_reaches_the_socketio_ack(gateway: Gateway) -> None:
    await add(gateway, await gateway.login("admin@demo.test"), PRIYA)
    token = await gateway.login("agent1@demo.test")
    live = await gateway.connect(token)
    lead = await priya(gateway, token)
    ack = await live.client.call("dial", {"lead_id": lead["id"]}, namespace="/dialer")
    assert ack["ok"] is False and ack["code"] == "dnc" and ack["field"] == "lead_id"
    ack = await live.client.call("dial", {"number": "98765 43210"}, namespace="/dialer")
    assert ack["ok"] is False and ack["code"] == "dnc" and ack["field"] == "number"
    await no_calls(gateway)
    assert live.updates == []


async def test_withdrawn_consent_is_refused(gateway: Gateway) -> None:
    token = await gateway.login("agent1@demo.test")
    status, lead = await gateway.request(
        "POST", "/api/leads", token, json={"phone": "98450 12388", "consent": "withdrawn"}
    )
    assert status == 201 and lead["dnc"] is False
    status, body = await gateway.request("POST", "/api/calls", token, json={"lead_id": lead["id"]})
    assert status == 409 and body["error"]["code"] == "consent_withdrawn"
    assert body["error"]["field"] == "lead_id"
    status, body = await gateway.request(
        "POST", "/api/calls", token, json={"number": "+91 98450 12388"}
    )
    assert status == 409 and body["error"]["code"] == "consent_withdrawn"
    live = await gateway.connect(token)
    ack = await live.client.call("dial", {"lead_id": lead["id"]}, namespace="/dialer")
    assert ack["ok"] is False and ack["code"] == "consent_withdrawn"
    await no_calls(gateway)


async def test_removing_the_entry_makes_the_number_dialable_again(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    _, entry = await add(gateway, admin, PRIYA)
    await gateway.request("DELETE", f"/api/dnc/{entry['id']}", admin)
    agent = await gateway.login("agent1@demo.test")
    lead = await priya(gateway, agent)
    assert lead["dnc"] is False
    status, call = await gateway.request("POST", "/api/calls", agent, json={"lead_id": lead["id"]})
    assert status == 202, call


async def test_other_organizations_cannot_see_or_delete_entries(gateway: Gateway) -> None:
    async with gateway.app[sessionmaker_key]() as session:
        org = Organization(name="Other Co")
        session.add(org)
        await session.flush()
        await create_user(
            session,
            gateway.settings,
            org=org,
            email="admin@other.test",
            password="demo",
            name="Other Admin",
            role=Role.ADMIN,
        )
        await session.commit()
    demo = await gateway.login("admin@demo.test")
    other = await gateway.login("admin@other.test")
    _, entry = await add(gateway, demo, PRIYA)

    _, page = await gateway.request("GET", "/api/dnc", other)
    assert page["data"] == []
    _, page = await gateway.request("GET", "/api/dnc", other, params={"q": PRIYA})
    assert page["data"] == []
    status, _ = await gateway.request("DELETE", f"/api/dnc/{entry['id']}", other)
    assert status == 404
    # The same number is a separate entry in the other organization.
    status, mine = await add(gateway, other, PRIYA)
    assert status == 201 and mine["id"] != entry["id"]
    _, page = await gateway.request("GET", "/api/dnc", demo)
    assert [e["id"] for e in page["data"]] == [entry["id"]]
