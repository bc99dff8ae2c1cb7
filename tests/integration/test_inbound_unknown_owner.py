"""An unknown caller's new lead gets an owner: the rules' pick, or the agent who answered."""

from typing import Any

from tests.conftest import Gateway
from tests.integration.dialer_client import DialerClient, connect
from tests.integration.test_assignment import trail
from tests.integration.test_inbound_and_openapi import ring_in
from tests.integration.test_presence import set_org, user_id


async def rules_include_offline(gw: Gateway, admin: str) -> None:
    """The demo's round robin, also over agents who are paused or offline."""
    _, rules = await gw.request("GET", "/api/assignment-rules", admin)
    (rule,) = rules["data"]
    status, body = await gw.request(
        "PATCH",
        f"/api/assignment-rules/{rule['id']}",
        admin,
        json={"config": {**rule["config"], "include_offline": True}},
    )
    assert status == 200, body


async def caller_lead(gw: Gateway, token: str, number: str) -> dict[str, Any]:
    _, found = await gw.request("GET", "/api/leads", token, params={"q": number})
    (lead,) = found["data"]
    assert lead["source"] == "inbound-call"
    return dict(lead)


async def paused(gw: Gateway, email: str) -> DialerClient:
    client = await connect(gw, await gw.login(email))
    await client.wait_state("available")
    ack = await client.call("set_state", {"state": "paused", "reason": "lunch"})
    assert ack["ok"] is True, ack
    return client


async def test_a_missed_unknown_caller_is_owned_by_the_rules_pick(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    await rules_include_offline(gateway, admin)
    ids = {
        await user_id(gateway, "agent1@demo.test"): await paused(gateway, "agent1@demo.test"),
        await user_id(gateway, "agent2@demo.test"): await paused(gateway, "agent2@demo.test"),
    }
    manager = await gateway.connect(await gateway.login("manager@demo.test"))

    await ring_in(gateway, "+447911123401")
    await manager.wait_for(lambda u: u["status"] == "completed")
    lead = await caller_lead(gateway, admin, "+447911123401")
    owner = lead["owner_id"]
    assert owner in ids and lead["team_id"] is not None
    (row,) = await trail(gateway, admin, lead["id"])
    assert row["agent_id"] == owner and row["method"] == "auto" and row["rule_id"] is not None
    # The owner hears of the lead and of the call they must return; nobody else does.
    client = ids[owner]
    pushed = await client.wait_event("lead_assigned")
    assert pushed["lead"]["id"] == lead["id"]
    missed = await client.wait_event("missed_call")
    assert missed["lead"]["id"] == lead["id"] and missed["call"]["agent_id"] is None
    (other,) = [c for agent, c in ids.items() if agent != owner]
    assert other.of("lead_assigned") == [] and other.of("missed_call") == []
    # The missed call heads the owner's queue.
    _, queue = await gateway.request(
        "GET", "/api/queue", await gateway.login(f"agent{list(ids).index(owner) + 1}@demo.test")
    )
    assert queue["data"][0]["reason"] == "missed_call"
    assert queue["data"][0]["lead"]["id"] == lead["id"]


async def test_an_answered_unknown_caller_is_owned_by_the_agent_who_answered(
    gateway: Gateway,
) -> None:
    await set_org(gateway, wrapup_limit_s=0)
    admin = await gateway.login("admin@demo.test")
    await rules_include_offline(gateway, admin)
    agent1 = await user_id(gateway, "agent1@demo.test")
    agent2 = await user_id(gateway, "agent2@demo.test")
    # The round robin's first pick (the lowest id) is paused; only the other one can answer.
    first, second = sorted([agent1, agent2])
    email = {agent1: "agent1@demo.test", agent2: "agent2@demo.test"}
    await paused(gateway, email[first])
    answering = await connect(gateway, await gateway.login(email[second]))
    await answering.wait_state("available")

    await ring_in(gateway, "+447911123402")
    pop = await answering.wait_event("incoming_call")
    assert pop["lead"]["phone"] == "+447911123402"
    await answering.wait_state("wrap-up", call_id=pop["call"]["id"])
    lead = await caller_lead(gateway, admin, "+447911123402")
    assert lead["owner_id"] == second
    rows = await trail(gateway, admin, lead["id"])
    # Newest first: the agent who spoke to the caller, after the rules' pick at the ring.
    assert [(r["agent_id"], r["previous_agent_id"]) for r in rows] == [
        (second, first),
        (first, None),
    ]
    assert rows[0]["reason"] == f"auto: answered inbound call {pop['call']['id']}"
    assert (await answering.wait_event("lead_assigned"))["lead"]["id"] == lead["id"]
    assert answering.of("missed_call") == []

    # The caller is known now: the next call is matched, and the owner stays.
    await ring_in(gateway, "+447911123402")
    again = await answering.wait_event(
        "incoming_call", lambda p: p["call"]["id"] != pop["call"]["id"]
    )
    assert again["call"]["lead_id"] == lead["id"]
    assert len(await trail(gateway, admin, lead["id"])) == 2


async def test_without_rules_the_unknown_caller_stays_in_the_pool(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    _, rules = await gateway.request("GET", "/api/assignment-rules", admin)
    for rule in rules["data"]:
        status, _ = await gateway.request("DELETE", f"/api/assignment-rules/{rule['id']}", admin)
        assert status == 204
    manager = await gateway.connect(await gateway.login("manager@demo.test"))
    await ring_in(gateway, "+447911123403")
    await manager.wait_for(lambda u: u["status"] == "completed")
    lead = await caller_lead(gateway, admin, "+447911123403")
    assert lead["owner_id"] is None
    assert await trail(gateway, admin, lead["id"]) == []
