"""Agent presence over Socket.IO: one state per agent, seen by supervisors, driven by calls."""

import asyncio
from datetime import datetime
from typing import Any

import pytest
from sqlmodel import col, select

from dialer.presence import finish_wrap_up, follow_calls
from gateway.keys import sessionmaker_key
from gateway.models import Call, CallStatus, Organization, PresenceEvent, User
from tests.conftest import Gateway, GatewayFactory
from tests.integration.dialer_client import connect
from tests.integration.test_redis_scaleout import channel, redis_url

__all__ = ["channel", "redis_url"]  # fixtures shared with the scale-out tests


async def user_id(gw: Gateway, email: str) -> int:
    async with gw.app[sessionmaker_key]() as session:
        user: User = (await session.exec(select(User).where(col(User.email) == email))).one()
    assert user.id is not None
    return user.id


async def set_org(gw: Gateway, **values: Any) -> None:
    async with gw.app[sessionmaker_key]() as session:
        org = (await session.exec(select(Organization))).one()
        for name, value in values.items():
            setattr(org, name, value)
        await session.commit()


async def test_sockets_of_an_agent_share_one_state_that_supervisors_see(
    start_gateway: GatewayFactory,
) -> None:
    gw = await start_gateway(PRESENCE_GRACE_S=1.0)
    agent1 = await user_id(gw, "agent1@demo.test")
    manager = await connect(gw, await gw.login("manager@demo.test"))
    admin = await connect(gw, await gw.login("admin@demo.test"))
    other = await connect(gw, await gw.login("agent2@demo.test"))
    other.start_heartbeats()
    token = await gw.login("agent1@demo.test")

    tab = await connect(gw, token)
    tab.start_heartbeats()
    first = await tab.wait_state("available")
    assert first["user_id"] == agent1 and first["name"] == "Anita Agent"
    assert first["call_id"] is None and first["progressive"] is False
    await manager.wait_state("available", user_id=agent1)
    await admin.wait_state("available", user_id=agent1)

    # A second tab joins the same state: it is told the state, nothing changes.
    extension = await connect(gw, token)
    extension.start_heartbeats()
    assert (await extension.wait_state("available"))["since"] == first["since"]

    ack = await extension.call("set_state", {"state": "paused", "reason": "lunch"})
    assert ack["ok"] is True and ack["presence"]["state"] == "paused"
    assert ack["presence"]["reason"] == "lunch"
    await tab.wait_state("paused", reason="lunch")
    await manager.wait_state("paused", user_id=agent1)
    for bad, code, field in (
        ({"state": "paused", "reason": "nap"}, "invalid_reason", "reason"),
        ({"state": "paused"}, "invalid_reason", "reason"),
        ({"state": "on-call"}, "invalid_state", "state"),
        ({"reason": "lunch"}, "invalid", "state"),
    ):
        ack = await tab.call("set_state", bad)
        assert ack["ok"] is False and ack["code"] == code and ack["field"] == field, (bad, ack)
    beat = await tab.call("heartbeat")
    assert beat["ok"] is True and beat["presence"]["state"] == "paused"

    # Closing one tab changes nothing, even after the grace period: the other still beats.
    await tab.disconnect()
    await asyncio.sleep(1.5)
    status, board = await gw.request("GET", "/api/presence", await gw.login("manager@demo.test"))
    assert status == 200
    row = next(r for r in board["data"] if r["user_id"] == agent1)
    assert row["state"] == "paused" and row["reason"] == "lunch"
    assert row["time_in_state_s"] >= 1 and row["today"] == {
        "calls": 0,
        "connected": 0,
        "talk_time_s": 0,
    }
    assert {r["state"] for r in board["data"] if r["user_id"] != agent1} == {"available"}

    # The last socket gone, the agent goes offline after the grace period, not at once.
    await extension.disconnect()
    await asyncio.sleep(0.4)
    assert [p["state"] for p in manager.of("presence") if p["user_id"] == agent1][-1] == "paused"
    await manager.wait_state("offline", user_id=agent1, timeout=3)
    assert [p for p in other.of("presence") if p["user_id"] == agent1] == []

    async with gw.app[sessionmaker_key]() as session:
        intervals = (
            await session.exec(
                select(PresenceEvent)
                .where(col(PresenceEvent.user_id) == agent1)
                .order_by(col(PresenceEvent.id))
            )
        ).all()
    assert [(e.state, e.reason) for e in intervals] == [
        ("available", None),
        ("paused", "lunch"),
        ("offline", None),
    ]
    assert all(e.ended_at is not None for e in intervals[:-1]) and intervals[-1].ended_at is None

    # Agents see only themselves on the wallboard.
    status, mine = await gw.request("GET", "/api/presence", await gw.login("agent2@demo.test"))
    assert status == 200 and [r["name"] for r in mine["data"]] == ["Arjun Agent"]


async def test_silent_socket_goes_offline_and_a_new_one_brings_the_agent_back(
    start_gateway: GatewayFactory,
) -> None:
    gw = await start_gateway(PRESENCE_GRACE_S=0.6)
    token = await gw.login("agent1@demo.test")
    tab = await connect(gw, token)
    await tab.wait_state("available")
    # Connected but never beating: silent sockets count as gone.
    await tab.wait_state("offline", timeout=3)
    again = await connect(gw, token)
    await again.wait_state("available")


async def test_a_call_takes_the_agent_on_call_then_through_wrap_up(gateway: Gateway) -> None:
    await set_org(gateway, wrapup_limit_s=1)
    token = await gateway.login("agent1@demo.test")
    agent1 = await user_id(gateway, "agent1@demo.test")
    tab = await connect(gateway, token)
    await tab.wait_state("available")
    ack = await tab.call("dial", {"number": "98765 43210"})
    assert ack["ok"] is True, ack
    call_id = ack["call_id"]
    await tab.wait_state("on-call", call_id=call_id)
    ack = await tab.call("set_state", {"state": "paused", "reason": "break"})
    assert ack["ok"] is False and ack["code"] == "on_call"
    wrap = await tab.wait_state("wrap-up", call_id=call_id)
    available = await tab.wait_state(
        "available", timeout=5, after=tab.events.index(("presence", wrap))
    )
    spent = datetime.fromisoformat(available["since"]) - datetime.fromisoformat(wrap["since"])
    assert 0.9 <= spent.total_seconds() < 3

    status, board = await gateway.request("GET", "/api/presence", token)
    assert status == 200
    (row,) = board["data"]
    assert row["user_id"] == agent1 and row["state"] == "available"
    assert row["today"] == {"calls": 1, "connected": 1, "talk_time_s": 4}

    # Wrap-up that needs a disposition: the agent cannot end it alone.
    await set_org(gateway, wrapup_requires_disposition=True, wrapup_limit_s=0)
    ack = await tab.call("dial", {"number": "9810077889"})
    assert ack["ok"] is True, ack
    second = ack["call_id"]
    mark = tab.mark()
    await tab.wait_state("wrap-up", call_id=second)
    ack = await tab.call("end_wrap_up", {"call_id": second})
    assert ack["ok"] is False and ack["code"] == "disposition_required"
    await asyncio.sleep(0.3)
    _, board = await gateway.request("GET", "/api/presence", token)
    assert board["data"][0]["state"] == "wrap-up"
    # Recording the disposition over REST is what ends it.
    status, body = await gateway.request(
        "POST", f"/api/calls/{second}/disposition", token, json={"code": "interested"}
    )
    assert status == 201, body
    await tab.wait_state("available", timeout=3, after=mark)
    assert await finish_wrap_up(gateway.app, user_id=agent1, call_id=second) is False
    await set_org(gateway, wrapup_requires_disposition=False)
    ack = await tab.call("end_wrap_up", {"call_id": second})
    assert ack["ok"] is False and ack["code"] == "not_in_wrap_up"


async def test_a_call_that_ended_before_its_first_push_still_gets_its_wrap_up(
    gateway: Gateway,
) -> None:
    token = await gateway.login("agent1@demo.test")
    agent1 = await user_id(gateway, "agent1@demo.test")
    tab = await connect(gateway, token)
    await tab.wait_state("available")
    async with gateway.app[sessionmaker_key]() as session:
        org = (await session.exec(select(Organization))).one()
        call = Call(
            org_id=org.id,
            carrier="sandbox",
            direction="outbound",
            agent_id=agent1,
            status=CallStatus.COMPLETED,
            outcome="completed",
        )
        session.add(call)
        await session.commit()
        await session.refresh(call)
    assert call.id is not None
    # The only push handled is the one of the finished call (the earlier ones came too late).
    await follow_calls(gateway.app, [call])
    wrap = await tab.wait_state("wrap-up", call_id=call.id)
    assert await finish_wrap_up(gateway.app, user_id=agent1, call_id=call.id) is True
    after = tab.events.index(("presence", wrap))
    await tab.wait_state("available", after=after)
    # A late duplicate push of the same call does not start its wrap-up again.
    await follow_calls(gateway.app, [call])
    await asyncio.sleep(0.3)
    _, board = await gateway.request("GET", "/api/presence", token)
    assert board["data"][0]["state"] == "available"


@pytest.mark.redis
async def test_processes_agree_on_presence_through_redis(
    channel: str, redis_url: str, start_gateway: GatewayFactory
) -> None:
    common = {"REDIS_URL": redis_url, "SOCKETIO_CHANNEL": channel, "PRESENCE_GRACE_S": 1.0}
    first = await start_gateway(**common)
    second = await start_gateway(**common)
    agent1 = await user_id(first, "agent1@demo.test")
    manager = await connect(second, await second.login("manager@demo.test"))
    token = await first.login("agent1@demo.test")
    tab = await connect(first, token)
    tab.start_heartbeats()
    await manager.wait_state("available", user_id=agent1)

    # A socket on the other process shares the state and changes it for both.
    extension = await connect(second, token)
    ack = await extension.call("set_state", {"state": "paused", "reason": "meeting"})
    assert ack["ok"] is True
    await tab.wait_state("paused", reason="meeting")
    # The second process's own socket leaves; the first's still beats, and both sweeps know it.
    await extension.disconnect()
    await asyncio.sleep(1.6)
    assert [p["state"] for p in manager.of("presence") if p["user_id"] == agent1][-1] == "paused"
    await tab.disconnect()
    await manager.wait_state("offline", user_id=agent1, timeout=4)
