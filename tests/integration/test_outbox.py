"""Integration events land in the outbox with the change that caused them."""

from typing import Any

from sqlmodel import col, select

from gateway.keys import sessionmaker_key
from gateway.models import CarrierAccount, IntegrationEvent
from tests.conftest import Gateway


async def outbox(gw: Gateway) -> list[IntegrationEvent]:
    async with gw.app[sessionmaker_key]() as session:
        rows = await session.exec(select(IntegrationEvent).order_by(col(IntegrationEvent.id)))
        return list(rows.all())


async def test_a_finished_call_and_a_new_lead_are_announced(gateway: Gateway) -> None:
    token = await gateway.login("agent1@demo.test")
    live = await gateway.connect(token)
    status, call = await gateway.request(
        "POST", "/api/calls", token, json={"number": "96000 77777"}
    )
    assert status == 202
    await live.until_ended(call["id"])
    await gateway.settled()
    events = await outbox(gateway)
    assert [e.type for e in events] == ["lead.created", "call.completed"]
    assert events[0].data["phone"] == "+919600077777"
    assert events[1].data["id"] == call["id"] and events[1].data["outcome"] == "completed"
    assert events[1].data["duration_s"] == 4


async def test_a_refused_dial_announces_nothing(gateway: Gateway) -> None:
    token = await gateway.login("agent1@demo.test")
    status, _ = await gateway.request("POST", "/api/calls", token, json={"number": "12"})
    assert status == 400
    assert await outbox(gateway) == []


async def test_an_unanswered_inbound_call_is_a_missed_call(gateway: Gateway) -> None:
    async with gateway.app[sessionmaker_key]() as session:
        account = (await session.exec(select(CarrierAccount))).one()
    base = f"{gateway.url}/webhooks/sandbox/{account.id}"
    manager = await gateway.connect(await gateway.login("manager@demo.test"))
    body: dict[str, Any] = {
        "from": "+447911123499",
        "to": "+918047180000",
        "voice_url": f"{base}/voice",
        "status_callback": f"{base}/status",
    }
    status, _ = await gateway.request(
        "POST",
        "/sandbox-carrier/v1/inbound",
        headers={"Authorization": f"Bearer {account.credentials['api_key']}"},
        json=body,
    )
    assert status == 201
    final = await manager.wait_for(lambda u: u["status"] == "completed")
    await gateway.settled()
    events = await outbox(gateway)
    assert [e.type for e in events] == ["lead.created", "call.missed"]
    assert events[1].data["id"] == final["call_id"]
    assert events[1].data["direction"] == "inbound"
