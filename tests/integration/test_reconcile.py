"""Reconciliation: calls whose final callbacks never came are settled from the carrier's records."""

import asyncio
from datetime import timedelta

from sqlmodel import select

from gateway.keys import sessionmaker_key, simulator_key
from gateway.models import Call, CallStatus, CarrierAccount, Direction, utcnow
from tests.conftest import Gateway
from webhooks.reconcile import reconcile_stuck

NOW = timedelta(0)
NEVER = timedelta(days=365)


async def set_chaos(gw: Gateway, **chaos: object) -> None:
    async with gw.app[sessionmaker_key]() as session:
        account = (await session.exec(select(CarrierAccount))).one()
        account.credentials = {**account.credentials, "chaos": chaos}
        await session.commit()


async def test_lost_final_callbacks_are_settled_from_the_carrier(gateway: Gateway) -> None:
    await set_chaos(gateway, drop=["completed"])
    token = await gateway.login("agent1@demo.test")
    live = await gateway.connect(token)
    status, call = await gateway.request(
        "POST", "/api/calls", token, json={"number": "98765 43210"}
    )
    assert status == 202
    await live.wait_for(lambda u: u["call_id"] == call["id"] and u["status"] == "in-progress")
    # The hang-up is never reported; the call would stay "in progress" forever.
    await _until_carrier_finished(gateway, call["id"])
    assert (await _call(gateway, call["id"])).status == CallStatus.IN_PROGRESS

    # A call that was silent for less than the threshold is not touched.
    assert await reconcile_stuck(gateway.app, after=NEVER, give_up=NEVER) == []
    assert await reconcile_stuck(gateway.app, after=NOW, give_up=NEVER) == [call["id"]]

    final = await live.until_ended(call["id"])
    assert final["outcome"] == "completed" and final["reconciled"] is True
    assert final["duration_s"] == 4
    _, detail = await gateway.request("GET", f"/api/calls/{call['id']}", token)
    assert detail["events"][-1]["kind"] == "reconcile"
    # The agent can dial again.
    status, _ = await gateway.request("POST", "/api/calls", token, json={"number": "9810077889"})
    assert status == 202


async def test_a_call_still_live_at_the_carrier_is_left_alone(gateway: Gateway) -> None:
    await set_chaos(gateway, drop=["completed"])
    token = await gateway.login("agent1@demo.test")
    live = await gateway.connect(token)
    _, call = await gateway.request("POST", "/api/calls", token, json={"number": "98765 43210"})
    await live.wait_for(lambda u: u["call_id"] == call["id"] and u["status"] == "in-progress")
    # Mid-conversation the carrier still reports the customer leg answered.
    assert await reconcile_stuck(gateway.app, after=NOW, give_up=NOW) == []
    assert (await _call(gateway, call["id"])).status == CallStatus.IN_PROGRESS


async def test_a_call_the_carrier_never_got_is_failed_after_the_give_up_time(
    gateway: Gateway,
) -> None:
    async with gateway.app[sessionmaker_key]() as session:
        account = (await session.exec(select(CarrierAccount))).one()
        stale = utcnow() - timedelta(hours=5)
        orphan = Call(
            org_id=account.org_id,
            account_id=account.id,
            carrier="sandbox",
            direction=Direction.OUTBOUND,
            bridged=True,
            status=CallStatus.QUEUED,
            created_at=stale,
            updated_at=stale,
        )
        session.add(orphan)
        await session.commit()
        orphan_id = orphan.id
    assert await reconcile_stuck(gateway.app, after=NOW, give_up=NEVER) == []
    assert await reconcile_stuck(gateway.app, after=NOW, give_up=timedelta(hours=4)) == [orphan_id]
    call = await _call(gateway, orphan_id or 0)
    assert (call.status, call.outcome, call.end_reason) == (
        "completed",
        "failed",
        "reconcile_timeout",
    )
    assert call.reconciled_at is not None


async def _call(gw: Gateway, call_id: int) -> Call:
    async with gw.app[sessionmaker_key]() as session:
        call: Call | None = await session.get(Call, call_id)
    assert call is not None
    return call


async def _until_carrier_finished(gw: Gateway, call_id: int) -> None:
    """Wait until the simulated carrier has hung up (it records the dropped callbacks)."""
    simulator = gw.app[simulator_key]
    call = await _call(gw, call_id)
    async with asyncio.timeout(10):
        while True:
            sim = simulator.calls.get(call.carrier_call_id or "")
            if sim is not None and len(sim.dropped) == 2:
                return
            await asyncio.sleep(0.02)
