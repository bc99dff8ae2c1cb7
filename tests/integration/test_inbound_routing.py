"""Inbound routing: the owner if available, else a free teammate, else a missed call."""

from sqlmodel import col, select

from gateway.keys import sessionmaker_key
from gateway.models import IntegrationEvent
from tests.conftest import Gateway
from tests.integration.dialer_client import connect
from tests.integration.test_inbound_and_openapi import ring_in
from tests.integration.test_presence import set_org, user_id

PRIYA = "+919876543210"  # agent1's lead


async def test_inbound_call_rings_the_owner_then_a_teammate_then_is_missed(
    gateway: Gateway,
) -> None:
    await set_org(gateway, wrapup_limit_s=0)
    agent1, agent2 = (
        await user_id(gateway, "agent1@demo.test"),
        await user_id(gateway, "agent2@demo.test"),
    )
    token1 = await gateway.login("agent1@demo.test")
    token2 = await gateway.login("agent2@demo.test")
    one = await connect(gateway, token1)
    two = await connect(gateway, token2)
    await one.wait_state("available")
    await two.wait_state("available")

    # An earlier call makes history for the screen pop.
    ack = await one.call("dial", {"number": PRIYA})
    assert ack["ok"] is True, ack
    earlier = ack["call_id"]
    wrap = await one.wait_state("wrap-up", call_id=earlier)
    await one.wait_state("available", after=one.events.index(("presence", wrap)))

    await ring_in(gateway, PRIYA)
    pop = await one.wait_event("incoming_call")
    assert pop["call"]["direction"] == "inbound" and pop["call"]["agent_id"] == agent1
    assert pop["lead"]["name"] == "Priya Sharma"
    assert [c["id"] for c in pop["history"]] == [earlier]
    await one.wait_state("on-call", call_id=pop["call"]["id"])
    assert two.of("incoming_call") == []
    await one.wait_state("wrap-up", call_id=pop["call"]["id"])

    # The owner is paused: the teammate who is free gets it.
    await one.call("set_state", {"state": "paused", "reason": "lunch"})
    await ring_in(gateway, PRIYA)
    pop = await two.wait_event("incoming_call")
    assert pop["call"]["agent_id"] == agent2 and pop["lead"]["name"] == "Priya Sharma"
    assert len(one.of("incoming_call")) == 1
    await two.wait_state("wrap-up", call_id=pop["call"]["id"])

    # Nobody free: unassigned, a missed call, first in the owner's queue until called back.
    await two.call("set_state", {"state": "paused", "reason": "lunch"})
    manager = await gateway.connect(await gateway.login("manager@demo.test"))
    await ring_in(gateway, PRIYA)
    missed = await manager.wait_for(
        lambda u: (
            u["direction"] == "inbound" and u["status"] == "completed" and u["agent_id"] is None
        )
    )
    async with gateway.app[sessionmaker_key]() as session:
        types = (
            await session.exec(
                select(IntegrationEvent.type).where(col(IntegrationEvent.type) == "call.missed")
            )
        ).all()
    assert len(types) == 1
    _, queue = await gateway.request("GET", "/api/queue", token1)
    first = queue["data"][0]
    assert first["reason"] == "missed_call" and first["call_id"] == missed["call_id"]
    assert first["lead"]["name"] == "Priya Sharma"

    await one.call("set_state", {"state": "available"})
    ack = await one.call("dial", {"number": PRIYA})
    assert ack["ok"] is True, ack
    _, queue = await gateway.request("GET", "/api/queue", token1)
    assert all(e["reason"] != "missed_call" for e in queue["data"])
