"""End to end: an agent dials through the sandbox carrier and sees the whole call over Socket.IO."""

from tests.conftest import Gateway


async def test_agent_dials_lead_and_receives_full_call_sequence(gateway: Gateway) -> None:
    token = await gateway.login("agent1@demo.test")
    live = await gateway.connect(token)
    status, leads = await gateway.request("GET", "/api/leads?q=Priya", token)
    assert status == 200
    lead = leads["data"][0]

    ack = await live.client.call("dial", {"lead_id": lead["id"]}, namespace="/dialer", timeout=5)
    assert ack["ok"] is True, ack
    call_id = ack["call_id"]

    final = await live.wait_for(lambda u: u["call_id"] == call_id and u["status"] == "completed")
    statuses = [u["status"] for u in live.for_call(call_id)]
    assert statuses == ["queued", "initiated", "ringing", "in-progress", "completed"]
    assert final["outcome"] == "completed"
    assert final["lead_id"] == lead["id"]
    assert final["duration_s"] == 4
    for name in (
        "call_id",
        "lead_id",
        "agent_id",
        "direction",
        "status",
        "outcome",
        "started_at",
        "answered_at",
        "ended_at",
        "duration_s",
    ):
        assert name in final
