"""Lead assignment over HTTP and Socket.IO: rules, presence, manual and bulk, the audit trail."""

import asyncio
from collections import Counter
from typing import Any

import pytest
import socketio
from sqlmodel import col, select

from crm.assignment.service import auto_assign, push_assigned
from gateway.db import make_engine, make_sessionmaker
from gateway.keys import sessionmaker_key, settings_key
from gateway.models import (
    AgentPresence,
    AssignmentRule,
    IntegrationEvent,
    Lead,
    LeadAssignment,
    Organization,
    Team,
    User,
)
from tests.conftest import Gateway, _truncate_pg, seed
from tests.conftest import test_settings as settings_for


async def user_ids(gw: Gateway) -> dict[str, int]:
    async with gw.app[sessionmaker_key]() as session:
        users = (await session.exec(select(User))).all()
    return {u.email.split("@")[0]: u.id for u in users if u.id is not None}


async def set_presence(gw: Gateway, user_id: int, state: str, reason: str | None = None) -> None:
    async with gw.app[sessionmaker_key]() as session:
        user = await session.get(User, user_id)
        assert user is not None
        row = await session.get(AgentPresence, user_id)
        row = row or AgentPresence(user_id=user_id, org_id=user.org_id)
        row.state, row.reason = state, reason
        session.add(row)
        await session.commit()


async def add_rule(gw: Gateway, token: str, kind: str, **body: Any) -> dict[str, Any]:
    status, rule = await gw.request(
        "POST", "/api/assignment-rules", token, json={"kind": kind, **body}
    )
    assert status == 201, rule
    return dict(rule)


async def new_lead(gw: Gateway, token: str, phone: str, **body: Any) -> dict[str, Any]:
    status, lead = await gw.request("POST", "/api/leads", token, json={"phone": phone, **body})
    assert status == 201, lead
    return dict(lead)


async def trail(gw: Gateway, token: str, lead_id: int) -> list[dict[str, Any]]:
    status, page = await gw.request("GET", f"/api/leads/{lead_id}/assignments", token)
    assert status == 200, page
    return list(page["data"])


async def test_rules_are_managed_validated_and_ordered_by_role(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    manager = await gateway.login("manager@demo.test")
    agent = await gateway.login("agent1@demo.test")
    _, demo_rules = await gateway.request("GET", "/api/assignment-rules", admin)
    (demo_rr,) = demo_rules["data"]
    assert demo_rr["kind"] == "round_robin" and demo_rr["team_id"] is not None

    bad: list[tuple[dict[str, Any], str]] = [
        ({"kind": "lottery"}, "kind"),
        ({"kind": "least_loaded", "config": {"measure": "vibes"}}, "config.measure"),
        ({"kind": "round_robin", "config": {"measure": "open_leads"}}, "config.measure"),
        ({"kind": "skill", "config": {"from": "custom_field:"}}, "config.from"),
        ({"kind": "skill", "config": {"require": "hats"}}, "config.require"),
        ({"kind": "weighted", "config": {"include_offline": "yes"}}, "config.include_offline"),
        ({"kind": "sticky", "team_id": 999}, "team_id"),
        ({"kind": "sticky", "colour": "red"}, "colour"),
    ]
    for body, field in bad:
        status, error = await gateway.request("POST", "/api/assignment-rules", admin, json=body)
        assert status == 400 and error["error"]["field"] == field, (body, error)

    skill = await add_rule(
        gateway, admin, "skill", config={"require": "languages", "from": "lead.language"}
    )
    assert skill["position"] == demo_rr["position"] + 1 and skill["team_id"] is None
    # A manager's rule belongs to their team, whatever they send.
    team_rule = await add_rule(gateway, manager, "least_loaded", config={"measure": "calls_today"})
    assert team_rule["team_id"] == demo_rr["team_id"]
    status, error = await gateway.request(
        "POST", "/api/assignment-rules", manager, json={"kind": "weighted", "team_id": None}
    )
    assert status == 403 and error["error"]["field"] == "team_id"
    status, error = await gateway.request(
        "PATCH", f"/api/assignment-rules/{skill['id']}", manager, json={"is_active": False}
    )
    assert status == 403
    for method, path in [
        ("GET", "/api/assignment-rules"),
        ("POST", "/api/assignment-rules"),
        ("DELETE", f"/api/assignment-rules/{skill['id']}"),
    ]:
        status, _ = await gateway.request(method, path, agent, json={"kind": "sticky"})
        assert status == 403, (method, path)

    # A new kind resets the cursor and is checked against the config it keeps.
    status, error = await gateway.request(
        "PATCH", f"/api/assignment-rules/{team_rule['id']}", manager, json={"kind": "weighted"}
    )
    assert status == 400 and error["error"]["field"] == "config.measure"
    status, patched = await gateway.request(
        "PATCH",
        f"/api/assignment-rules/{team_rule['id']}",
        manager,
        json={"kind": "weighted", "config": {"include_offline": True}},
    )
    assert status == 200 and patched["kind"] == "weighted" and patched["last_agent_id"] is None

    ids = [demo_rr["id"], skill["id"], team_rule["id"]]
    status, error = await gateway.request(
        "PUT", "/api/assignment-rules/order", admin, json={"rule_ids": ids[:2]}
    )
    assert status == 400 and error["error"]["field"] == "rule_ids"
    assert error["error"]["missing"] == [team_rule["id"]]
    status, ordered = await gateway.request(
        "PUT", "/api/assignment-rules/order", admin, json={"rule_ids": ids[::-1]}
    )
    assert status == 200 and [r["id"] for r in ordered["data"]] == ids[::-1]
    # The manager reorders their team's two rules within the slots those held (0 and 2).
    status, ordered = await gateway.request(
        "PUT",
        "/api/assignment-rules/order",
        manager,
        json={"rule_ids": [demo_rr["id"], team_rule["id"]]},
    )
    assert status == 200, ordered
    assert [(r["id"], r["position"]) for r in ordered["data"]] == [
        (demo_rr["id"], 0),
        (skill["id"], 1),
        (team_rule["id"], 2),
    ]
    status, _ = await gateway.request(
        "PUT", "/api/assignment-rules/order", manager, json={"rule_ids": ids}
    )
    assert status == 400

    status, _ = await gateway.request("DELETE", f"/api/assignment-rules/{skill['id']}", admin)
    assert status == 204
    _, left = await gateway.request("GET", "/api/assignment-rules", manager)
    assert [r["id"] for r in left["data"]] == [demo_rr["id"], team_rule["id"]]


async def test_round_robin_follows_presence_and_records_why(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    ids = await user_ids(gateway)
    agent1, agent2 = ids["agent1"], ids["agent2"]
    await set_presence(gateway, agent1, "available")
    await set_presence(gateway, agent2, "paused", "lunch")

    first = await new_lead(gateway, admin, "98450 20001")
    assert first["owner_id"] == agent1
    (own,) = await trail(gateway, await gateway.login("agent1@demo.test"), first["id"])
    assert own["candidates"] == [
        {"agent_id": agent1, "eligible": True, "reason": "eligible", "rule_id": own["rule_id"]}
    ]
    (row,) = await trail(gateway, admin, first["id"])
    assert row["method"] == "auto" and row["rule_kind"] == "round_robin"
    assert row["assigned_by"] == ids["admin"] and row["previous_agent_id"] is None
    assert "Anita Agent" in row["reason"]
    verdicts = {c["agent_id"]: (c["eligible"], c["reason"]) for c in row["candidates"]}
    assert verdicts == {agent1: (True, "eligible"), agent2: (False, "paused: lunch")}

    await set_presence(gateway, agent2, "on-call")
    second = await new_lead(gateway, admin, "98450 20002")
    third = await new_lead(gateway, admin, "98450 20003")
    assert (second["owner_id"], third["owner_id"]) == (agent2, agent1)

    # Nobody available: the lead waits unassigned and the trail says why.
    await set_presence(gateway, agent1, "offline")
    await set_presence(gateway, agent2, "paused", "break")
    waiting = await new_lead(gateway, admin, "98450 20004")
    assert waiting["owner_id"] is None
    (row,) = await trail(gateway, admin, waiting["id"])
    assert row["agent_id"] is None and row["reason"].startswith("unassigned: rule #")
    assert {c["reason"] for c in row["candidates"]} == {"offline", "paused: break"}

    # Caps and shifts come from the users API; include_offline reaches offline agents.
    manager = await gateway.login("manager@demo.test")
    status, body = await gateway.request(
        "PATCH", f"/api/users/{agent1}", manager, json={"max_open_leads": 0}
    )
    assert status == 200 and body["max_open_leads"] == 0
    status, body = await gateway.request(
        "PATCH",
        f"/api/users/{agent2}",
        manager,
        json={"shift_start": "00:00", "shift_end": "00:01"},
    )
    assert status == 200
    await add_rule(gateway, admin, "round_robin", config={"include_offline": True})
    status, result = await gateway.request(
        "POST", f"/api/leads/{waiting['id']}/assign", admin, json={"auto": True}
    )
    assert status == 200 and result["lead"]["owner_id"] is None
    reasons = {c["reason"] for c in result["assignment"]["candidates"]}
    assert "at cap" in " ".join(reasons) and "off shift" in reasons
    await gateway.request(
        "PATCH",
        f"/api/users/{agent2}",
        manager,
        json={"shift_start": None, "shift_end": None},
    )
    status, result = await gateway.request(
        "POST", f"/api/leads/{waiting['id']}/assign", admin, json={"auto": True}
    )
    assert status == 200 and result["lead"]["owner_id"] == agent2
    assert "after rule #" in result["assignment"]["reason"]

    async with gateway.app[sessionmaker_key]() as session:
        events = (
            await session.exec(
                select(IntegrationEvent)
                .where(col(IntegrationEvent.type) == "lead.assigned")
                .order_by(col(IntegrationEvent.id))
            )
        ).all()
    assert [e.data["lead"]["id"] for e in events] == [
        first["id"],
        second["id"],
        third["id"],
        waiting["id"],
    ]
    assert events[-1].data["assignment"]["agent_id"] == agent2


async def test_manual_and_bulk_assignment_and_handover(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    manager = await gateway.login("manager@demo.test")
    agent = await gateway.login("agent1@demo.test")
    ids = await user_ids(gateway)
    agent1, agent2 = ids["agent1"], ids["agent2"]
    _, page = await gateway.request("GET", "/api/leads", admin, params={"limit": "200"})
    lead = next(x for x in page["data"] if x["owner_id"] == agent1)

    for body, field in [
        ({}, "agent_id"),
        ({"agent_id": agent2, "auto": True}, "agent_id"),
        ({"agent_id": 9999}, "agent_id"),
        ({"agent_id": "x"}, "agent_id"),
    ]:
        status, error = await gateway.request(
            "POST", f"/api/leads/{lead['id']}/assign", manager, json=body
        )
        assert status == 400 and error["error"]["field"] == field, (body, error)
    status, _ = await gateway.request(
        "POST", f"/api/leads/{lead['id']}/assign", agent, json={"agent_id": agent2}
    )
    assert status == 403
    status, _ = await gateway.request(
        "POST", f"/api/leads/{lead['id']}/assign", manager, json={"agent_id": ids["admin"]}
    )
    assert status == 403  # the admin is in no team

    status, result = await gateway.request(
        "POST", f"/api/leads/{lead['id']}/assign", manager, json={"agent_id": agent2}
    )
    assert status == 200 and result["lead"]["owner_id"] == agent2
    row = result["assignment"]
    assert row["method"] == "manual" and row["previous_agent_id"] == agent1
    assert row["reason"] == "manual: assigned by Manoj Manager (the agent was offline)"
    status, again = await gateway.request(
        "POST", f"/api/leads/{lead['id']}/assign", manager, json={"agent_id": agent2}
    )
    assert status == 200 and again["assignment"] is None
    (latest, *_) = await trail(gateway, admin, lead["id"])
    assert latest["id"] == row["id"]
    # Agents read the trail of their own leads only.
    status, _ = await gateway.request("GET", f"/api/leads/{lead['id']}/assignments", agent)
    assert status == 404

    # Bulk: by ids, then everything agent1 owns handed over when they leave.
    status, error = await gateway.request(
        "POST", "/api/leads/assign", manager, json={"lead_ids": [lead["id"], 99999], "auto": True}
    )
    assert status == 404 and error["error"]["field"] == "lead_ids"
    assert error["error"]["lead_ids"] == [99999]
    status, error = await gateway.request(
        "POST", "/api/leads/assign", manager, json={"agent_id": agent1}
    )
    assert status == 400 and error["error"]["field"] == "lead_ids"
    status, result = await gateway.request(
        "POST", "/api/leads/assign", manager, json={"lead_ids": [lead["id"]], "agent_id": agent1}
    )
    assert status == 200 and result == {
        "matched": 1,
        "assigned": 1,
        "by_agent": {str(agent1): 1},
        "unassigned_lead_ids": [],
    }
    _, mine = await gateway.request(
        "GET", "/api/leads", admin, params={"owner_id": str(agent1), "limit": "200"}
    )
    owned = len(mine["data"])
    assert owned > 5

    status, deactivated = await gateway.request(
        "PATCH", f"/api/users/{agent1}", manager, json={"is_active": False}
    )
    assert status == 200 and deactivated["is_active"] is False
    status, _ = await gateway.request("GET", "/api/leads", agent)
    assert status == 401  # the leaver's token stops working at once
    _, still = await gateway.request(
        "GET", "/api/leads", admin, params={"owner_id": str(agent1), "limit": "200"}
    )
    assert len(still["data"]) == owned  # deactivation keeps the leads

    await set_presence(gateway, agent2, "available")
    status, result = await gateway.request(
        "POST", "/api/leads/assign", manager, json={"from_agent_id": agent1, "auto": True}
    )
    assert status == 200, result
    assert result["matched"] == owned and result["by_agent"] == {str(agent2): owned}
    _, gone = await gateway.request("GET", "/api/leads", admin, params={"owner_id": str(agent1)})
    assert gone["data"] == []
    rows = await trail(gateway, admin, lead["id"])
    assert rows[0]["method"] == "bulk" and rows[0]["previous_agent_id"] == agent1
    reasons = {c["agent_id"]: c["reason"] for c in rows[0]["candidates"]}
    assert reasons[agent1] == "handing over its leads"


async def test_territory_skill_and_sticky_rules_through_the_api(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    ids = await user_ids(gateway)
    agent1, agent2 = ids["agent1"], ids["agent2"]
    for agent_id in (agent1, agent2):
        await set_presence(gateway, agent_id, "available")
    status, body = await gateway.request(
        "PATCH",
        f"/api/users/{agent2}",
        admin,
        json={"territories": ["in:Maharashtra", "US"], "languages": ["ta", "Hi"]},
    )
    assert status == 200 and body["territories"] == ["IN:Maharashtra", "US"]
    status, error = await gateway.request(
        "PATCH", f"/api/users/{agent2}", admin, json={"territories": ["XX"]}
    )
    assert status == 400 and error["error"]["field"] == "territories"
    await gateway.request(
        "PATCH", f"/api/users/{agent1}", admin, json={"territories": ["IN"], "skills": ["loans"]}
    )
    _, rules = await gateway.request("GET", "/api/assignment-rules", admin)
    (demo_rr,) = rules["data"]
    sticky = await add_rule(gateway, admin, "sticky")
    skill = await add_rule(gateway, admin, "skill", config={"tag_prefix": "skill:"})
    territory = await add_rule(gateway, admin, "territory")
    await gateway.request(
        "PUT",
        "/api/assignment-rules/order",
        admin,
        json={"rule_ids": [sticky["id"], skill["id"], territory["id"], demo_rr["id"]]},
    )

    mumbai = await new_lead(gateway, admin, "022 2345 6780")
    assert mumbai["owner_id"] == agent2
    (row,) = await trail(gateway, admin, mumbai["id"])
    assert row["rule_id"] == territory["id"] and "IN:Maharashtra" in row["reason"]
    assert "the lead has no owner to stick to" in row["reason"]
    async with gateway.app[sessionmaker_key]() as session:
        stored = await session.get(Lead, mumbai["id"])
        # The lead keeps the place its number names; territories match the state it is in.
        assert stored is not None and (stored.country, stored.region) == ("IN", "Mumbai")

    loans = await new_lead(gateway, admin, "022 2345 6781", tags=["skill:loans"])
    assert loans["owner_id"] == agent1
    mobile = await new_lead(gateway, admin, "98450 20011")
    assert mobile["owner_id"] == agent1  # India, no region known: the country-wide agent
    uk = await new_lead(gateway, admin, "+44 20 7946 0999")
    (row,) = await trail(gateway, admin, uk["id"])
    assert row["rule_kind"] == "round_robin"

    # Sticky: a re-run keeps the lead with its owner.
    status, result = await gateway.request(
        "POST", f"/api/leads/{mumbai['id']}/assign", admin, json={"auto": True}
    )
    assert status == 200 and result["lead"]["owner_id"] == agent2
    assert result["assignment"]["reason"].endswith("sticky: the lead's owner")


async def test_lead_assigned_reaches_the_agents_socket(gateway: Gateway) -> None:
    ids = await user_ids(gateway)
    manager = await gateway.login("manager@demo.test")
    admin = await gateway.login("admin@demo.test")
    received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    others: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def connect(email: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        client = socketio.AsyncClient(reconnection=False)

        async def on_assigned(data: dict[str, Any]) -> None:
            await queue.put(data)

        client.on("lead_assigned", on_assigned, namespace="/dialer")
        await client.connect(
            gateway.url,
            namespaces=["/dialer"],
            auth={"token": await gateway.login(email)},
            transports=["websocket"],
            wait_timeout=5,
        )
        gateway.sockets.append(client)

    await connect("agent2@demo.test", received)
    await connect("agent1@demo.test", others)
    # Connecting made both available; with one paused and the other offline, the demo's
    # round robin leaves the lead in the team's pool.
    await set_presence(gateway, ids["agent1"], "paused", "lunch")
    await set_presence(gateway, ids["agent2"], "offline")
    lead = await new_lead(gateway, manager, "98450 20021")
    assert lead["owner_id"] is None
    status, result = await gateway.request(
        "POST", f"/api/leads/{lead['id']}/assign", manager, json={"agent_id": ids["agent2"]}
    )
    assert status == 200
    event = await asyncio.wait_for(received.get(), 5)
    assert event["lead"]["id"] == lead["id"] and event["lead"]["owner_id"] == ids["agent2"]
    assert event["assignment"] == result["assignment"]
    # Automatic assignment on creation is pushed too.
    await set_presence(gateway, ids["agent2"], "available")
    created = await new_lead(gateway, admin, "98450 20022")
    event = await asyncio.wait_for(received.get(), 5)
    assert event["lead"]["id"] == created["id"] and event["assignment"]["method"] == "auto"
    assert others.empty()


async def test_concurrent_assignments_never_double_assign_or_skew(gateway: Gateway) -> None:
    """50 simultaneous lead creations, each auto-assigned, then 50 simultaneous re-runs;
    then 20 assigners racing for one lead. Runs on SQLite (one writer) and PostgreSQL (row
    locks, real parallel sessions)."""
    admin = await gateway.login("admin@demo.test")
    ids = await user_ids(gateway)
    agents = [ids["agent1"], ids["agent2"]]
    for agent_id in agents:
        await set_presence(gateway, agent_id, "available")

    creations = await asyncio.gather(
        *(
            gateway.request("POST", "/api/leads", admin, json={"phone": f"98450 3{i:04d}"})
            for i in range(50)
        )
    )
    assert all(status == 201 for status, _ in creations), creations
    counts = Counter(body["owner_id"] for _, body in creations)
    assert counts == {agents[0]: 25, agents[1]: 25}
    # Explicit re-runs read the lead before they lock it: the lock must still serialize them.
    reruns = await asyncio.gather(
        *(
            gateway.request("POST", f"/api/leads/{body['id']}/assign", admin, json={"auto": True})
            for _, body in creations
        )
    )
    assert all(status == 200 for status, _ in reruns), reruns
    rerun_counts = Counter(body["assignment"]["agent_id"] for _, body in reruns)
    assert rerun_counts == {agents[0]: 25, agents[1]: 25}

    async with gateway.app[sessionmaker_key]() as session:
        org = (await session.exec(select(Organization))).one()
        assert org.id is not None
        lead = Lead(org_id=org.id, phone="+919845039999", source="test")
        session.add(lead)
        await session.commit()
        assert lead.id is not None
        lead_id, org_id = lead.id, org.id

    async def race() -> int:
        async with gateway.app[sessionmaker_key]() as session:
            rows = await auto_assign(
                session,
                gateway.settings,
                org_id=org_id,
                lead_ids=[lead_id],
                method="import",
                assigned_by=None,
            )
            await session.commit()
            await push_assigned(gateway.app, session)
        return len(rows)

    assert sorted(await asyncio.gather(*(race() for _ in range(20)))) == [0] * 19 + [1]
    async with gateway.app[sessionmaker_key]() as session:
        rows = (
            await session.exec(select(LeadAssignment).where(col(LeadAssignment.lead_id) == lead_id))
        ).all()
        assert len(rows) == 1 and rows[0].method == "import"
        # Round robin stayed exact across both races.
        owners = Counter(
            (await session.exec(select(Lead.owner_id).where(col(Lead.source) != "demo"))).all()
        )
    assert owners[agents[0]] + owners[agents[1]] == 51
    assert abs(owners[agents[0]] - owners[agents[1]]) == 1


@pytest.mark.postgres
async def test_postgres_assigners_run_in_parallel_sessions(pg_database: str) -> None:
    """The same race straight on PostgreSQL, below the HTTP layer: 50 service calls, each in
    its own session and connection, must leave 50/N per agent and one owner per lead."""
    await _truncate_pg(pg_database)
    settings = settings_for(pg_database, 0)
    await seed(settings)
    engine = make_engine(pg_database)
    maker = make_sessionmaker(engine)
    try:
        async with maker() as session:
            agents = [
                u.id
                for u in (await session.exec(select(User).where(col(User.role) == "agent"))).all()
                if u.id is not None
            ]
            org = (await session.exec(select(Organization))).one()
            assert org.id is not None
            org_id = org.id
            for agent_id in agents:
                session.add(AgentPresence(user_id=agent_id, org_id=org_id, state="available"))
            leads = [Lead(org_id=org_id, phone=f"+9198450{40000 + i}") for i in range(50)]
            session.add_all(leads)
            await session.commit()
            lead_ids = [x.id for x in leads if x.id is not None]

        async def assign(lead_id: int) -> list[int | None]:
            async with maker() as session:
                rows = await auto_assign(
                    session,
                    settings,
                    org_id=org_id,
                    lead_ids=[lead_id],
                    method="auto",
                    assigned_by=None,
                    only_unowned=False,
                )
                await session.commit()
            return [r.agent_id for r in rows]

        results = await asyncio.gather(*(assign(i) for i in lead_ids))
        assert all(len(r) == 1 for r in results)
        per_agent = Counter(r[0] for r in results)
        assert per_agent == {a: 50 // len(agents) for a in agents}
    finally:
        await engine.dispose()


async def test_a_daily_lead_cap_stops_automatic_assignment_for_the_day(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    manager = await gateway.login("manager@demo.test")
    ids = await user_ids(gateway)
    agent1, agent2 = ids["agent1"], ids["agent2"]
    for agent_id in (agent1, agent2):
        await set_presence(gateway, agent_id, "available")
    for value in (-1, "ten", 1.5):
        status, error = await gateway.request(
            "PATCH", f"/api/users/{agent2}", manager, json={"max_daily_leads": value}
        )
        assert status == 400 and error["error"]["field"] == "max_daily_leads", (value, error)
    status, body = await gateway.request(
        "PATCH",
        f"/api/users/{agent2}",
        manager,
        json={"max_daily_leads": 2, "territories": ["US"]},
    )
    assert status == 200 and body["max_daily_leads"] == 2, body
    territory = await add_rule(gateway, admin, "territory")
    _, rules = await gateway.request("GET", "/api/assignment-rules", admin)
    order = [territory["id"]] + [r["id"] for r in rules["data"] if r["id"] != territory["id"]]
    await gateway.request("PUT", "/api/assignment-rules/order", admin, json={"rule_ids": order})

    # Two US leads fill Arjun's day; the third goes on to the next rule.
    first = await new_lead(gateway, admin, "+1 212 736 1001")
    second = await new_lead(gateway, admin, "+1 212 736 1002")
    assert first["owner_id"] == second["owner_id"] == agent2
    third = await new_lead(gateway, admin, "+1 212 736 1003")
    assert third["owner_id"] == agent1
    (row,) = await trail(gateway, admin, third["id"])
    reasons = {c["agent_id"]: c["reason"] for c in row["candidates"] if c["rule_id"] == order[0]}
    assert reasons[agent2] == "at daily cap 2/2", row
    assert row["rule_kind"] == "round_robin"

    # A person can still decide; the trail notes the cap.
    status, result = await gateway.request(
        "POST", f"/api/leads/{third['id']}/assign", admin, json={"agent_id": agent2}
    )
    assert status == 200, result
    assert "(the agent was at daily cap 2/2)" in result["assignment"]["reason"]

    # Without a cap the rule picks Arjun again.
    await gateway.request("PATCH", f"/api/users/{agent2}", manager, json={"max_daily_leads": None})
    fourth = await new_lead(gateway, admin, "+1 212 736 1004")
    assert fourth["owner_id"] == agent2


async def test_a_batch_reuses_a_nobody_decision_only_until_a_lead_is_given(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The demo team's agents are at their caps, so its leads wait, and so do the leads of a
    # team without agents; until a lead owned by one of them goes to an agent of another
    # team and frees a place. The batch's remembered "nobody" must answer exactly as
    # deciding every lead afresh does, and be forgotten once a lead is given.
    async with gateway.app[sessionmaker_key]() as session:
        org = (await session.exec(select(Organization))).one()
        (demo_rule,) = (await session.exec(select(AssignmentRule))).all()
        agents = (await session.exec(select(User).where(User.role == "agent"))).all()
        assert org.id is not None and demo_rule.team_id is not None and len(agents) == 2
        empty, other = Team(org_id=org.id, name="Empty"), Team(org_id=org.id, name="Other")
        session.add_all([empty, other])
        anyone = AssignmentRule(
            org_id=org.id, position=1, kind="round_robin", config={"include_offline": True}
        )
        session.add(anyone)
        await session.flush()
        helper = User(
            org_id=org.id,
            email="helper@demo.test",
            name="Helper",
            role="agent",
            team_id=other.id,
            password_hash="-",
        )
        session.add(helper)
        # One open lead, owned by the first agent, who may hold one; the second holds none.
        owned = (await session.exec(select(Lead).where(col(Lead.owner_id).is_not(None)))).all()
        for lead in owned:
            lead.owner_id = None
            session.add(lead)
        agents[0].max_open_leads, agents[1].max_open_leads = 1, 0
        session.add_all(agents)
        # In the batch's order (by id): waiting, waiting, the open lead given to the helper
        # (which frees the first agent), waiting, then the first agent's turn.
        leads = []
        for i, (team, owner) in enumerate(
            [
                (empty.id, None),
                (demo_rule.team_id, None),
                (None, agents[0].id),
                (empty.id, None),
                (demo_rule.team_id, None),
            ]
        ):
            lead = Lead(org_id=org.id, name=f"Lead {i}", phone=f"+91981110{i:04d}", team_id=team)
            lead.owner_id = owner
            session.add(lead)
            await session.flush()
            leads.append(lead)
        await session.commit()
        lead_ids = [x.id for x in leads]
        org_id, first_agent, helper_id = org.id, agents[0].id, helper.id

    async def decisions() -> list[tuple[Any, ...]]:
        async with gateway.app[sessionmaker_key]() as session:
            rows = await auto_assign(
                session,
                gateway.app[settings_key],
                org_id=org_id,
                lead_ids=[x for x in lead_ids if x is not None],
                method="auto",
                assigned_by=None,
                only_unowned=False,
            )
            await session.rollback()
        by_lead = {r.lead_id: r for r in rows}
        return [
            (r.lead_id, r.agent_id, r.rule_id, r.reason, r.candidates)
            for r in (by_lead[x] for x in lead_ids if x is not None)
        ]

    remembered = await decisions()
    monkeypatch.setattr("crm.assignment.service.LEAD_BLIND_KINDS", frozenset())
    assert remembered == await decisions()

    given = [row[1] for row in remembered]
    assert given == [None, None, helper_id, None, first_agent]
    assert (
        remembered[0][3]
        == remembered[3][3]
        == (f"unassigned: rule #{anyone.id} round_robin: no agent available")
    )
    assert "at cap" in str(remembered[1][4])
