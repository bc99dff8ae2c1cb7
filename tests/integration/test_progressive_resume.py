"""Progressive dialing outlives its process: a pending offer is dialed (once) or offered again by
another gateway process, with or without Redis."""

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from gateway.keys import sessionmaker_key
from gateway.models import AgentPresence, Call, utcnow
from tests.conftest import Gateway, GatewayFactory
from tests.integration.dialer_client import connect
from tests.integration.test_presence import user_id
from tests.integration.test_redis_scaleout import channel, redis_url  # noqa: F401

# A sweep every 2 s (a quarter of the grace): a restarted process has connected its tab first.
SLOW_SWEEP = {"PROGRESSIVE_COUNTDOWN_S": 1.0, "PRESENCE_GRACE_S": 8.0}


async def pending(gw: Gateway, agent: int) -> AgentPresence:
    async with gw.app[sessionmaker_key]() as session:
        row: AgentPresence | None = await session.get(AgentPresence, agent)
        assert row is not None
        return row


async def calls_of(gw: Gateway, agent: int) -> list[Call]:
    async with gw.app[sessionmaker_key]() as session:
        rows = await session.exec(select(Call).where(col(Call.agent_id) == agent))
        return list(rows.all())


async def until_called(gw: Gateway, agent: int, timeout: float = 10.0) -> list[Call]:
    async with asyncio.timeout(timeout):
        while True:
            calls = await calls_of(gw, agent)
            if calls:
                return calls
            await asyncio.sleep(0.05)


async def offer_then_stop(gw: Gateway, token: str) -> dict[str, Any]:
    """The agent turns progressive dialing on in `gw`, which goes away during the countdown."""
    tab = await connect(gw, token)
    await tab.wait_state("available")
    mark = tab.mark()
    assert (await tab.call("set_progressive", {"enabled": True}))["ok"] is True
    offer: dict[str, Any] = await tab.wait_event("next_dial", after=mark)
    assert offer["lead"] is not None
    await tab.client.disconnect()
    await gw.server.close()
    return offer


async def test_a_restarted_process_dials_the_pending_offer(start_gateway: GatewayFactory) -> None:
    first = await start_gateway(**SLOW_SWEEP)
    agent = await user_id(first, "agent1@demo.test")
    token = await first.login("agent1@demo.test")
    offer = await offer_then_stop(first, token)
    row = await pending(first, agent)
    assert row.next_token is not None and row.next_lead_id == offer["lead"]["id"]
    assert await calls_of(first, agent) == []

    second = await start_gateway(**SLOW_SWEEP)
    tab = await connect(second, token)
    (call,) = await until_called(second, agent)
    assert call.lead_id == offer["lead"]["id"]
    assert call.created_at >= datetime.fromisoformat(offer["dial_at"])
    await tab.wait_state("on-call", call_id=call.id)
    assert (await pending(second, agent)).next_token is None
    await asyncio.sleep(2.5)  # another sweep or two: nothing more is dialed
    assert len(await calls_of(second, agent)) == 1


async def test_an_offer_long_overdue_is_offered_again_not_dialed(
    start_gateway: GatewayFactory,
) -> None:
    first = await start_gateway(**SLOW_SWEEP)
    agent = await user_id(first, "agent1@demo.test")
    token = await first.login("agent1@demo.test")
    offer = await offer_then_stop(first, token)
    # The process stayed down for ten minutes.
    async with first.app[sessionmaker_key]() as session:
        row = await session.get(AgentPresence, agent)
        assert row is not None and row.next_dial_at is not None
        row.next_dial_at -= timedelta(minutes=10)
        row.last_seen_at = utcnow()
        await session.commit()

    second = await start_gateway(**SLOW_SWEEP)
    tab = await connect(second, token)
    again = await tab.wait_event("next_dial")
    assert again["lead"]["id"] == offer["lead"]["id"]
    assert datetime.fromisoformat(again["dial_at"]) > utcnow() - timedelta(seconds=1)
    assert await calls_of(second, agent) == []
    (call,) = await until_called(second, agent)
    assert call.lead_id == offer["lead"]["id"]
    assert call.created_at >= datetime.fromisoformat(again["dial_at"])


@pytest.mark.redis
async def test_processes_left_dial_the_offer_exactly_once(
    channel: str,  # noqa: F811
    redis_url: str,  # noqa: F811
    start_gateway: GatewayFactory,
) -> None:
    fast = {
        "REDIS_URL": redis_url,
        "SOCKETIO_CHANNEL": channel,
        "PROGRESSIVE_COUNTDOWN_S": 1.0,
        "PRESENCE_GRACE_S": 2.0,
    }
    first = await start_gateway(**fast)
    others = [await start_gateway(**fast), await start_gateway(**fast)]
    agent = await user_id(first, "agent1@demo.test")
    token = await first.login("agent1@demo.test")
    # The agent's other tab is on a process that stays; the offer is made by the first one.
    watcher = await connect(others[0], token)
    watcher.start_heartbeats()
    await watcher.wait_state("available")
    offer = await offer_then_stop(first, token)
    assert (await watcher.wait_event("next_dial"))["lead"]["id"] == offer["lead"]["id"]

    # Both remaining processes sweep every half second and race for it.
    (call,) = await until_called(others[1], agent)
    assert call.lead_id == offer["lead"]["id"]
    await watcher.wait_state("on-call", call_id=call.id)
    await asyncio.sleep(1.5)
    assert len(await calls_of(others[1], agent)) == 1
    await watcher.stop_heartbeats()
