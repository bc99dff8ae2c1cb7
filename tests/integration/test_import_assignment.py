"""Imported leads go through the organization's assignment rules in the import's own job."""

import asyncio
from pathlib import Path
from typing import Any

import socketio
from sqlmodel import select

from gateway.keys import sessionmaker_key
from gateway.models import IntegrationEvent, User
from tests.conftest import Gateway, GatewayFactory
from tests.integration.test_import import finished, start, upload

NEW_LEADS = (
    "name,phone\nA One,98111 00001\nB Two,98111 00002\nC Three,98111 00003\nD Four,98111 00004\n"
)


async def assigned_events(gw: Gateway) -> dict[int, dict[str, Any]]:
    """The data of the stored `lead.assigned` events, by lead id."""
    async with gw.app[sessionmaker_key]() as session:
        events = (
            await session.exec(
                select(IntegrationEvent).where(IntegrationEvent.type == "lead.assigned")
            )
        ).all()
    return {e.data["lead"]["id"]: e.data for e in events}


async def test_an_import_assigns_new_leads_by_the_rules_and_tells_the_agents(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw = await start(start_gateway, tmp_path)
    admin = await gw.login("admin@demo.test")
    _, rules = await gw.request("GET", "/api/assignment-rules", admin)
    (demo_rule,) = rules["data"]
    # Agents are offline in a test: let the demo's round robin reach them anyway.
    status, rule = await gw.request(
        "PATCH",
        f"/api/assignment-rules/{demo_rule['id']}",
        admin,
        json={"config": {"include_offline": True}},
    )
    assert status == 200, rule
    async with gw.app[sessionmaker_key]() as session:
        agents = {
            u.email: u.id
            for u in (await session.exec(select(User).where(User.role == "agent"))).all()
        }
    agent1 = await gw.login("agent1@demo.test")
    pushed: list[dict[str, object]] = []
    client = socketio.AsyncClient()
    client.on("lead_assigned", pushed.append, namespace="/dialer")
    await client.connect(
        gw.url, namespaces=["/dialer"], auth={"token": agent1}, transports=["websocket"]
    )
    try:
        status, job = await upload(gw, admin, NEW_LEADS)
        assert status == 202, job
        job = await finished(gw, admin, job["id"])
        assert job["status"] == "completed" and job["counters"]["created"] == 4
        _, page = await gw.request("GET", "/api/leads", admin, params={"source": "import"})
        imported = [
            lead for lead in page["data"] if lead["name"] in {"A One", "B Two", "C Three", "D Four"}
        ]
        assert len(imported) == 4
        owners = sorted(lead["owner_id"] for lead in imported)
        # Round robin over the team's two agents: two each.
        assert owners == sorted([agents["agent1@demo.test"], agents["agent2@demo.test"]] * 2)
        for lead in imported:
            _, trail = await gw.request("GET", f"/api/leads/{lead['id']}/assignments", admin)
            (why,) = trail["data"]
            assert why["method"] == "import" and why["rule_kind"] == "round_robin"
            assert why["agent_id"] == lead["owner_id"]
        mine = {lead["id"] for lead in imported if lead["owner_id"] == agents["agent1@demo.test"]}
        for _ in range(100):
            if len(pushed) >= 2:
                break
            await asyncio.sleep(0.05)
        assert {p["lead"]["id"] for p in pushed} == mine  # type: ignore[index]
        # The stored `lead.assigned` events say what the agents were told, and their audit
        # rows what the trail shows.
        stored = await assigned_events(gw)
        assert {lead["id"] for lead in imported} <= set(stored)
        for body in pushed:
            assert stored[body["lead"]["id"]] == body  # type: ignore[index]
        for lead in imported:
            _, trail = await gw.request("GET", f"/api/leads/{lead['id']}/assignments", admin)
            (why,) = trail["data"]
            assert stored[lead["id"]]["assignment"] == why
            assert why["candidates"] and all(c["eligible"] for c in why["candidates"])
    finally:
        await client.disconnect()


STICKY_AND_TERRITORY = (
    "name,phone,other phone\n"
    "Back Again,98111 00011,98765 43210\n"
    "Mumbai Office,+91 22 4000 0000,\n"
    "London Office,+44 20 7946 0321,\n"
    "New York Office,+1 212 555 0142,\n"
)


async def test_an_import_runs_sticky_and_territory_rules_and_records_each_lead_as_stored(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw = await start(start_gateway, tmp_path)
    admin = await gw.login("admin@demo.test")
    _, rules = await gw.request("GET", "/api/assignment-rules", admin)
    (demo_rule,) = rules["data"]
    status, _ = await gw.request(
        "PATCH", f"/api/assignment-rules/{demo_rule['id']}", admin, json={"is_active": False}
    )
    assert status == 200
    for kind in ("sticky", "territory"):
        status, rule = await gw.request(
            "POST",
            "/api/assignment-rules",
            admin,
            json={"kind": kind, "config": {"include_offline": True}},
        )
        assert status == 201, rule
    async with gw.app[sessionmaker_key]() as session:
        agents = {
            u.email: u for u in (await session.exec(select(User).where(User.role == "agent"))).all()
        }
        agents["agent1@demo.test"].territories = ["IN:Maharashtra"]
        agents["agent2@demo.test"].territories = ["GB"]
        session.add_all(agents.values())
        await session.commit()
        agent1, agent2 = agents["agent1@demo.test"].id, agents["agent2@demo.test"].id
    # The new lead's other number is a demo lead's: a returning customer, back to its owner.
    _, page = await gw.request("GET", "/api/leads", admin, params={"q": "+919876543210"})
    (priya,) = page["data"]
    assert priya["owner_id"] is not None

    status, job = await upload(gw, admin, STICKY_AND_TERRITORY)
    assert status == 202, job
    job = await finished(gw, admin, job["id"])
    assert job["status"] == "completed" and job["counters"]["created"] == 4, job

    leads: dict[str, dict[str, Any]] = {}
    for name in ("Back Again", "Mumbai Office", "London Office", "New York Office"):
        _, page = await gw.request("GET", "/api/leads", admin, params={"q": name})
        (leads[name],) = page["data"]
    assert leads["Back Again"]["owner_id"] == priya["owner_id"]
    assert leads["Mumbai Office"]["owner_id"] == agent1
    assert leads["London Office"]["owner_id"] == agent2
    assert leads["New York Office"]["owner_id"] is None
    # Territory rules located each lead, and the lead keeps where it is.
    assert (leads["Mumbai Office"]["country"], leads["Mumbai Office"]["region"]) == (
        "IN",
        "Maharashtra",
    )
    assert leads["New York Office"]["country"] == "US"

    kinds = {}
    for name, lead in leads.items():
        _, trail = await gw.request("GET", f"/api/leads/{lead['id']}/assignments", admin)
        (why,) = trail["data"]
        assert why["method"] == "import" and why["agent_id"] == lead["owner_id"]
        kinds[name] = why["rule_kind"]
        if lead["owner_id"] is None:
            assert why["reason"].startswith("unassigned: ")
    assert kinds == {
        "Back Again": "sticky",
        "Mumbai Office": "territory",
        "London Office": "territory",
        "New York Office": None,
    }

    # Each `lead.assigned` event shows the lead as the API shows it once stored.
    by_lead = await assigned_events(gw)
    assert set(by_lead) == {lead["id"] for lead in leads.values() if lead["owner_id"] is not None}
    for lead in leads.values():
        if lead["owner_id"] is None:
            continue
        body = by_lead[lead["id"]]
        shown = {k: v for k, v in lead.items() if k in body["lead"]}
        assert body["lead"] == shown
        assert body["assignment"]["lead_id"] == lead["id"]
        assert body["assignment"]["agent_id"] == lead["owner_id"]
