"""Progressive dialing: the queue's order, the countdown that dials, skipping and canceling."""

import asyncio
from datetime import timedelta

from sqlmodel import col, select

from gateway.keys import sessionmaker_key
from gateway.models import FollowUp, Lead, utcnow
from tests.conftest import GatewayFactory
from tests.integration.dialer_client import connect
from tests.integration.test_presence import set_org, user_id


async def test_progressive_offers_counts_down_dials_and_obeys_skip_and_cancel(
    start_gateway: GatewayFactory,
) -> None:
    gw = await start_gateway(PROGRESSIVE_COUNTDOWN_S=0.4)
    await set_org(gw, wrapup_limit_s=0)
    agent1 = await user_id(gw, "agent1@demo.test")
    async with gw.app[sessionmaker_key]() as session:
        mine = (
            await session.exec(
                select(Lead).where(col(Lead.owner_id) == agent1).order_by(col(Lead.id))
            )
        ).all()
        priya, sneha = mine[0], mine[1]
        assert (priya.name, sneha.name) == ("Priya Sharma", "Sneha Iyer")
        session.add(
            FollowUp(
                org_id=sneha.org_id,
                lead_id=sneha.id or 0,
                agent_id=agent1,
                due_at=utcnow() - timedelta(minutes=5),
                timezone="Asia/Kolkata",
            )
        )
        # Not yet due: not in the queue.
        session.add(
            FollowUp(
                org_id=priya.org_id,
                lead_id=priya.id or 0,
                agent_id=agent1,
                due_at=utcnow() + timedelta(hours=5),
                timezone="Asia/Kolkata",
            )
        )
        await session.commit()
    token = await gw.login("agent1@demo.test")
    status, queue = await gw.request("GET", "/api/queue", token)
    assert status == 200
    assert [(e["lead"]["name"], e["reason"]) for e in queue["data"][:3]] == [
        ("Sneha Iyer", "follow_up"),
        ("Priya Sharma", "new"),
        ("Deepa Menon", "new"),
    ]
    assert all(e["lead"]["owner_id"] == agent1 for e in queue["data"])

    tab = await connect(gw, token)
    await tab.wait_state("available")
    ack = await tab.call("queue", {"limit": 2})
    assert ack["ok"] is True and [e["lead"]["id"] for e in ack["queue"]] == [sneha.id, priya.id]

    mark = tab.mark()
    ack = await tab.call("set_progressive", {"enabled": True})
    assert ack["ok"] is True and ack["presence"]["progressive"] is True
    offer = await tab.wait_event("next_dial", after=mark)
    assert offer["lead"]["id"] == sneha.id and offer["reason"] == "follow_up"
    assert offer["countdown_s"] == 0.4 and offer["dial_at"]
    mark = tab.mark()
    assert (await tab.call("skip_next"))["ok"] is True
    offer = await tab.wait_event("next_dial", after=mark)
    assert offer["lead"]["id"] == priya.id
    ack = await tab.call("cancel_next")
    assert ack == {"ok": True, "canceled": True}
    await tab.wait_event("next_dial_canceled", after=mark)
    await asyncio.sleep(0.8)
    _, calls = await gw.request("GET", "/api/calls", token)
    assert calls["data"] == []  # neither the skipped nor the canceled lead was dialed
    ack = await tab.call("skip_next")
    assert ack["ok"] is False and ack["code"] == "no_next_dial"

    # Pause and come back: a fresh offer, and this time the countdown runs out and dials.
    await tab.call("set_state", {"state": "paused", "reason": "break"})
    mark = tab.mark()
    await tab.call("set_state", {"state": "available"})
    offer = await tab.wait_event("next_dial", after=mark)
    assert offer["lead"]["id"] == sneha.id
    on_call = await tab.wait_state("on-call", after=mark)
    _, calls = await gw.request("GET", "/api/calls", token)
    (call,) = calls["data"]
    assert call["id"] == on_call["call_id"] and call["lead_id"] == sneha.id

    # The call ends, wrap-up ends at once (limit 0): the next lead is offered, then dialed.
    mark = tab.mark()
    await tab.wait_state("wrap-up", call_id=call["id"], after=mark)
    offer = await tab.wait_event("next_dial", after=mark)
    assert offer["lead"]["id"] == priya.id
    # Pausing during the countdown stops it.
    await tab.call("set_state", {"state": "paused", "reason": "break"})
    canceled = await tab.wait_event("next_dial_canceled", after=mark)
    assert canceled["reason"] == "paused"
    await asyncio.sleep(0.8)
    _, calls = await gw.request("GET", "/api/calls", token)
    assert len(calls["data"]) == 1


async def test_a_console_that_reconnects_reads_the_pending_offer(
    start_gateway: GatewayFactory,
) -> None:
    gw = await start_gateway(PROGRESSIVE_COUNTDOWN_S=30)
    token = await gw.login("agent1@demo.test")
    status, none = await gw.request("GET", "/api/queue/next", token)
    assert status == 200
    assert none == {"lead": None, "reason": None, "dial_at": None, "countdown_s": None}

    tab = await connect(gw, token)
    await tab.wait_state("available")
    mark = tab.mark()
    assert (await tab.call("set_progressive", {"enabled": True}))["ok"] is True
    pushed = await tab.wait_event("next_dial", after=mark)
    # What a console gets on reconnecting: the same offer, with what is left of its countdown.
    status, pending = await gw.request("GET", "/api/queue/next", token)
    assert status == 200
    assert pending["lead"] == pushed["lead"] and pending["reason"] == pushed["reason"]
    assert pending["dial_at"] == pushed["dial_at"]
    assert 20 < pending["countdown_s"] <= 30
    # Only one's own offer: a colleague has none.
    other = await gw.login("agent2@demo.test")
    _, theirs = await gw.request("GET", "/api/queue/next", other)
    assert theirs["lead"] is None

    mark = tab.mark()
    assert (await tab.call("skip_next"))["ok"] is True
    skipped_to = await tab.wait_event("next_dial", after=mark)
    _, pending = await gw.request("GET", "/api/queue/next", token)
    assert pending["lead"]["id"] == skipped_to["lead"]["id"] != pushed["lead"]["id"]
    assert (await tab.call("cancel_next"))["ok"] is True
    _, pending = await gw.request("GET", "/api/queue/next", token)
    assert pending["lead"] is None
