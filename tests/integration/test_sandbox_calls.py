"""Click-to-call through the sandbox carrier: outcomes, chaos, audiences, the call record."""

from typing import Any

import pytest
from sqlmodel import select

from gateway.keys import sessionmaker_key
from gateway.models import CallEventRecord, CarrierAccount, Lead, User
from tests.conftest import Gateway


async def lead_id_for(gw: Gateway, token: str, number: str) -> int:
    status, page = await gw.request("GET", "/api/leads", token, params={"q": number})
    assert status == 200 and len(page["data"]) == 1, page
    return int(page["data"][0]["id"])


async def dial(gw: Gateway, token: str, **target: Any) -> dict[str, Any]:
    status, call = await gw.request("POST", "/api/calls", token, json=target)
    assert status == 202, call
    return dict(call)


@pytest.mark.parametrize(
    ("number", "outcome", "statuses"),
    [
        ("98765 00001", "busy", ["queued", "initiated", "ringing", "completed"]),
        ("98765 00002", "no-answer", ["queued", "initiated", "ringing", "completed"]),
        ("98765 00003", "failed", ["queued", "initiated", "completed"]),
    ],
)
async def test_sandbox_outcomes_follow_the_last_four_digits(
    gateway: Gateway, number: str, outcome: str, statuses: list[str]
) -> None:
    admin = await gateway.login("admin@demo.test")
    token = await gateway.login("agent1@demo.test")
    live = await gateway.connect(token)
    # The demo's outcome leads are split between the agents; give this one to agent1.
    lead_id = await lead_id_for(gateway, admin, number)
    async with gateway.app[sessionmaker_key]() as session:
        lead = await session.get(Lead, lead_id)
        agent = (await session.exec(select(User).where(User.email == "agent1@demo.test"))).one()
        assert lead is not None
        lead.owner_id = agent.id
        await session.commit()

    call = await dial(gateway, token, lead_id=lead_id)
    final = await live.wait_for(lambda u: u["call_id"] == call["id"] and u["status"] == "completed")
    assert final["outcome"] == outcome
    assert final["duration_s"] == 0
    assert [u["status"] for u in live.for_call(call["id"])] == statuses

    status, detail = await gateway.request("GET", f"/api/calls/{call['id']}", token)
    assert status == 200
    customer = next(leg for leg in detail["legs"] if leg["role"] == "customer")
    agent_leg = next(leg for leg in detail["legs"] if leg["role"] == "agent")
    assert customer["outcome"] == outcome
    assert agent_leg["answered_at"] is not None


async def test_dial_by_number_creates_the_lead_for_the_agent(gateway: Gateway) -> None:
    token = await gateway.login("agent2@demo.test")
    _, me = await gateway.request("GET", "/api/auth/me", token)
    live = await gateway.connect(token)
    ack = await live.client.call("dial", {"number": "0 96000 55555"}, namespace="/dialer")
    assert ack["ok"] is True, ack
    final = await live.wait_for(
        lambda u: u["call_id"] == ack["call_id"] and u["status"] == "completed"
    )
    status, lead = await gateway.request("GET", f"/api/leads/{final['lead_id']}", token)
    assert status == 200
    assert lead["phone"] == "+919600055555"
    assert lead["owner_id"] == me["id"] and lead["source"] == "dialer"
    assert [c["id"] for c in lead["calls"]] == [ack["call_id"]]


@pytest.mark.parametrize(
    ("payload", "code", "field"),
    [
        ({"number": "12"}, "invalid_phone", "number"),
        ({}, "invalid", "lead_id"),
        ({"lead_id": 1, "number": "98765 43210"}, "invalid", "lead_id"),
        ({"lead_id": 999999}, "not_found", "lead_id"),
        ({"number": "+91 80 4718 0000"}, "internal_number", "number"),
        ({"number": "98200 11223"}, "lead_not_yours", "number"),
    ],
)
async def test_refused_dials_ack_with_a_code(
    gateway: Gateway, payload: dict[str, Any], code: str, field: str
) -> None:
    token = await gateway.login("agent1@demo.test")
    live = await gateway.connect(token)
    ack = await live.client.call("dial", payload, namespace="/dialer")
    assert ack["ok"] is False
    assert ack["code"] == code and ack["field"] == field and ack["message"]
    _, calls = await gateway.request("GET", "/api/calls", token)
    assert calls["data"] == []


async def test_one_active_call_per_agent(gateway: Gateway) -> None:
    token = await gateway.login("agent1@demo.test")
    first = await dial(gateway, token, number="98765 43210")
    # The sandbox call lasts about 0.3 s at test speed: the second click comes well within it.
    status, body = await gateway.request("POST", "/api/calls", token, json={"number": "9810077889"})
    assert status == 409
    assert body["error"]["code"] == "agent_busy"
    assert body["error"]["call_id"] == first["id"]


async def test_call_updates_reach_owner_managers_admins_and_nobody_else(gateway: Gateway) -> None:
    agent1 = await gateway.connect(await gateway.login("agent1@demo.test"))
    agent2 = await gateway.connect(await gateway.login("agent2@demo.test"))
    manager = await gateway.connect(await gateway.login("manager@demo.test"))
    admin = await gateway.connect(await gateway.login("admin@demo.test"))
    token = await gateway.login("agent1@demo.test")
    call = await dial(gateway, token, number="98765 43210")
    done = lambda u: u["call_id"] == call["id"] and u["status"] == "completed"  # noqa: E731
    await agent1.wait_for(done)
    await manager.wait_for(done)
    await admin.wait_for(done)
    assert agent2.for_call(call["id"]) == []


async def test_duplicated_and_reordered_callbacks_give_one_correct_call(
    gateway: Gateway,
) -> None:
    async with gateway.app[sessionmaker_key]() as session:
        account = (await session.exec(select(CarrierAccount))).one()
        account.credentials = {**account.credentials, "chaos": {"duplicate": True, "reorder": True}}
        await session.commit()
    token = await gateway.login("agent1@demo.test")
    live = await gateway.connect(token)
    call = await dial(gateway, token, number="98765 43210")
    final = await live.wait_for(lambda u: u["call_id"] == call["id"] and u["status"] == "completed")
    assert final["outcome"] == "completed" and final["duration_s"] == 4
    statuses = [u["status"] for u in live.for_call(call["id"])]
    assert statuses == sorted(
        statuses, key=["queued", "initiated", "ringing", "in-progress", "completed"].index
    )
    assert statuses.count("completed") == 1

    _, calls = await gateway.request("GET", "/api/calls", token)
    assert [c["id"] for c in calls["data"]] == [call["id"]]
    async with gateway.app[sessionmaker_key]() as session:
        events = (
            await session.exec(select(CallEventRecord).where(CallEventRecord.call_id == call["id"]))
        ).all()
    keys = [e.dedupe_key for e in events]
    assert len(keys) == len(set(keys)) == 1 + 8  # local "queued" + 8 distinct carrier events
    assert any(e.disposition == "stale" for e in events)


async def test_call_lists_filter_and_page(gateway: Gateway) -> None:
    token = await gateway.login("agent1@demo.test")
    live = await gateway.connect(token)
    ids = []
    for number in ("98765 43210", "9810077889", "098450 12345"):
        lead_id = await lead_id_for(gateway, token, number)
        call = await dial(gateway, token, lead_id=lead_id)
        await live.until_ended(call["id"])
        ids.append(call["id"])

    _, page1 = await gateway.request("GET", "/api/calls", token, params={"limit": "2"})
    _, page2 = await gateway.request(
        "GET", "/api/calls", token, params={"limit": "2", "cursor": page1["next_cursor"]}
    )
    assert [c["id"] for c in page1["data"] + page2["data"]] == ids[::-1]
    assert page2["next_cursor"] is None

    first = ids[0]
    _, by_lead = await gateway.request(
        "GET", "/api/calls", token, params={"lead_id": str(page1["data"][-1]["lead_id"])}
    )
    assert [c["id"] for c in by_lead["data"]] == [page1["data"][-1]["id"]]
    _, done = await gateway.request("GET", "/api/calls", token, params={"status": "completed"})
    assert len(done["data"]) == 3
    _, none = await gateway.request(
        "GET", "/api/calls", token, params={"until": "2000-01-01T00:00:00Z"}
    )
    assert none["data"] == []
    _, since = await gateway.request(
        "GET", "/api/calls", token, params={"since": "2000-01-01T00:00:00+00:00"}
    )
    assert len(since["data"]) == 3
    status, body = await gateway.request("GET", "/api/calls", token, params={"since": "yesterday"})
    assert status == 400 and body["error"]["field"] == "since"
    status, body = await gateway.request("GET", "/api/calls", token, params={"status": "dancing"})
    assert status == 400 and body["error"]["field"] == "status"

    agent2 = await gateway.login("agent2@demo.test")
    status, _ = await gateway.request("GET", f"/api/calls/{first}", agent2)
    assert status == 404
    _, theirs = await gateway.request("GET", "/api/calls", agent2)
    assert theirs["data"] == []
    manager = await gateway.login("manager@demo.test")
    _, team = await gateway.request("GET", "/api/calls", manager)
    assert len(team["data"]) == 3

    _, lead = await gateway.request("GET", f"/api/leads/{page1['data'][0]['lead_id']}", token)
    assert [c["id"] for c in lead["calls"]] == [page1["data"][0]["id"]]


async def test_socket_connection_needs_a_valid_token(gateway: Gateway) -> None:
    import socketio

    for auth in ({}, {"token": "dg_bogus"}):
        client = socketio.AsyncClient(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(
                gateway.url,
                namespaces=["/dialer"],
                auth=auth,
                transports=["websocket"],
                wait_timeout=3,
            )
        await client.disconnect()
