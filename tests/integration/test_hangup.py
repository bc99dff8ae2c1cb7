"""Hanging up through the sandbox carrier: the carrier ends the call and reports it as usual."""

import asyncio

from tests.conftest import GatewayFactory
from tests.integration.dialer_client import connect


async def test_agent_hangs_up_a_live_call_and_the_carrier_reports_the_end(
    start_gateway: GatewayFactory,
) -> None:
    # Real-time sandbox: the call talks for 4 s, plenty of time to hang up in the middle.
    gw = await start_gateway(SANDBOX_SPEED=1.0)
    token = await gw.login("agent1@demo.test")
    tab = await connect(gw, token)
    live = await gw.connect(token)
    manager = await connect(gw, await gw.login("manager@demo.test"))
    other = await connect(gw, await gw.login("agent2@demo.test"))
    ack = await tab.call("dial", {"number": "98765 43210"})
    assert ack["ok"] is True, ack
    call_id = ack["call_id"]
    await live.wait_for(lambda u: u["call_id"] == call_id and u["status"] == "in-progress")

    refused = await other.call("hangup", {"call_id": call_id})
    assert refused["ok"] is False and refused["code"] == "not_found"
    ack = await tab.call("hangup", {"call_id": call_id})
    assert ack == {"ok": True, "call_id": call_id}
    final = await live.until_ended(call_id, timeout=5)
    # Ended early: the scripted call would have talked for 4 s.
    assert final["outcome"] == "completed" and final["duration_s"] < 4
    await tab.wait_state("wrap-up", call_id=call_id)
    ack = await tab.call("hangup", {"call_id": call_id})
    assert ack["ok"] is False and ack["code"] == "call_ended"

    # A supervisor may end an agent's call while it still rings: nobody answered, canceled.
    # (The number ending 0002 rings 3 s and is never answered.)
    await tab.call("end_wrap_up", {"call_id": call_id})
    ack = await tab.call("dial", {"number": "+91 98765 00002"})
    assert ack["ok"] is True, ack
    second = ack["call_id"]
    await live.wait_for(lambda u: u["call_id"] == second and u["status"] == "ringing")
    for _ in range(50):
        ack = await manager.call("hangup", {"call_id": second})
        if ack.get("code") != "call_not_placed":
            break
        await asyncio.sleep(0.05)
    assert ack == {"ok": True, "call_id": second}
    final = await live.until_ended(second, timeout=5)
    assert final["outcome"] == "canceled" and final["duration_s"] == 0
    status, body = await gw.request(
        "POST", f"/api/calls/{second}/hangup", await gw.login("admin@demo.test")
    )
    assert status == 409 and body["error"]["code"] == "call_ended"
