"""Imported leads go through the organization's assignment rules in the import's own job."""

import asyncio
from pathlib import Path

import socketio
from sqlmodel import select

from gateway.keys import sessionmaker_key
from gateway.models import User
from tests.conftest import GatewayFactory
from tests.integration.test_import import finished, start, upload

NEW_LEADS = (
    "name,phone\nA One,98111 00001\nB Two,98111 00002\nC Three,98111 00003\nD Four,98111 00004\n"
)


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
    finally:
        await client.disconnect()
