"""Reconciliation: calls whose final callbacks never came are settled from the carrier's records."""

import asyncio
from datetime import timedelta

from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlmodel import select

from gateway.keys import sessionmaker_key, simulator_key
from gateway.models import Call, CallStatus, CarrierAccount, Direction, utcnow
from tests.conftest import Gateway, GatewayFactory, free_port
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


async def _orphan(gw: Gateway, carrier_call_id: str | None) -> int:
    async with gw.app[sessionmaker_key]() as session:
        account = (await session.exec(select(CarrierAccount))).one()
        stale = utcnow() - timedelta(hours=5)
        orphan = Call(
            org_id=account.org_id,
            account_id=account.id,
            carrier="sandbox",
            carrier_call_id=carrier_call_id,
            direction=Direction.OUTBOUND,
            bridged=True,
            status=CallStatus.QUEUED,
            created_at=stale,
            updated_at=stale,
        )
        session.add(orphan)
        await session.commit()
        return orphan.id or 0


async def test_a_call_the_carrier_cannot_describe_fails_after_the_give_up_time(
    gateway: Gateway,
) -> None:
    orphan_id = await _orphan(gateway, "SBunknown-to-the-carrier")
    assert await reconcile_stuck(gateway.app, after=NOW, give_up=NEVER) == []
    assert await reconcile_stuck(gateway.app, after=NOW, give_up=timedelta(hours=4)) == [orphan_id]
    call = await _call(gateway, orphan_id)
    assert (call.status, call.outcome, call.end_reason) == (
        "completed",
        "failed",
        "reconcile_timeout",
    )
    assert call.reconciled_at is not None


async def test_an_unconfirmed_origination_is_failed_not_retried(
    start_gateway: GatewayFactory,
) -> None:
    calls_received = 0

    async def too_slow(request: web.Request) -> web.Response:
        nonlocal calls_received
        calls_received += 1
        await asyncio.sleep(2)  # answers after the gateway stopped waiting
        return web.json_response({"call_id": "SBlate", "status": "queued"}, status=201)

    carrier = web.Application()
    carrier.router.add_post("/v1/calls", too_slow)
    server = TestServer(carrier, host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        gw = await start_gateway(
            SANDBOX_API_URL=f"http://127.0.0.1:{server.port}", OUTBOUND_TIMEOUT_S=0.3
        )
        token = await gw.login("agent1@demo.test")
        _, placed = await gw.request("POST", "/api/calls", token, json={"number": "98765 43210"})
        async with asyncio.timeout(5):
            while True:
                _, detail = await gw.request("GET", f"/api/calls/{placed['id']}", token)
                if any(e["carrier_status"] == "originate_unconfirmed" for e in detail["events"]):
                    break
                await asyncio.sleep(0.05)
        assert detail["status"] == "queued"  # not failed: the carrier may have placed it
        assert calls_received == 1  # and not asked twice
        assert await reconcile_stuck(gw.app, after=NOW, give_up=NEVER) == [placed["id"]]
        call = await _call(gw, placed["id"])
        assert (call.outcome, call.end_reason) == ("failed", "originate_unconfirmed")
        assert calls_received == 1
    finally:
        await server.close()


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
