"""Reports over HTTP on seeded calls around the Asia/Kolkata day boundaries, JSON and CSV."""

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import select

from gateway.keys import sessionmaker_key
from gateway.models import (
    Call,
    Disposition,
    Lead,
    Organization,
    PresenceEvent,
    Role,
    Team,
    User,
    utcnow,
)
from gateway.users import create_user
from tests.conftest import Gateway

DAY = {"from": "2026-11-10", "to": "2026-11-10"}  # 2026-11-09T18:30Z .. 2026-11-10T18:30Z
UNKNOWN = "+919999900000"
OUT, IN, NA = "outbound", "inbound", "no-answer"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class World:
    team1: int
    team2: int
    agent1: int
    agent2: int
    agent3: int
    leads: dict[str, Lead]


async def seed(gw: Gateway) -> World:
    """Calls of local day 2026-11-10 (IST, +05:30) and just either side of it.

    Letters name the calls in the expectations below.
    """
    async with gw.app[sessionmaker_key]() as session:
        org = (await session.exec(select(Organization))).one()
        assert org.id is not None and org.timezone == "Asia/Kolkata"
        team1 = (await session.exec(select(Team))).one()
        team2 = Team(org_id=org.id, name="Field Sales")
        session.add(team2)
        await session.flush()
        agent3 = await create_user(
            session,
            gw.settings,
            org=org,
            email="agent3@demo.test",
            password="demo",
            name="Zara Agent",
            role=Role.AGENT,
            team=team2,
        )
        users = {u.email: u for u in (await session.exec(select(User))).all()}
        a1, a2 = users["agent1@demo.test"].id, users["agent2@demo.test"].id
        a3 = agent3.id
        assert a1 and a2 and a3 and team1.id and team2.id
        leads = {x.name.split()[0]: x for x in (await session.exec(select(Lead))).all()}

        def call(
            letter: str,
            created: str,
            direction: str,
            *,
            agent: int | None,
            lead: str | None = None,
            number: str | None = None,
            outcome: str = "completed",
            duration: int | None = None,
            team: int = team1.id,
        ) -> Call:
            lead_row = leads[lead] if lead else None
            phone = number or (lead_row.phone if lead_row else None)
            ours = "+918047180000"
            return Call(
                org_id=org.id,
                carrier="sandbox",
                carrier_call_id=letter,
                direction=direction,
                from_number=phone if direction == "inbound" else ours,
                to_number=ours if direction == "inbound" else phone,
                lead_id=lead_row.id if lead_row else None,
                agent_id=agent,
                team_id=team or None,
                status="completed",
                outcome=outcome,
                duration_s=duration,
                created_at=at(created),
                started_at=at(created),
            )

        t2 = team2.id
        calls = [
            call("A", "2026-11-09T18:29:59", OUT, agent=a1, lead="Priya", outcome=NA),
            call("B", "2026-11-09T18:30:00", OUT, agent=a1, lead="Priya", duration=60),
            call("C", "2026-11-10T04:00:00", OUT, agent=a1, lead="Kavya", outcome=NA),
            call("D", "2026-11-10T05:00:00", OUT, agent=a1, lead="Rahul", outcome="busy"),
            call("E", "2026-11-10T06:00:00", IN, agent=a1, lead="Sneha", duration=120),
            call("F", "2026-11-10T07:00:00", IN, agent=None, lead="Vikram", outcome=NA),
            call("G", "2026-11-10T07:10:00", OUT, agent=a2, lead="Vikram", duration=30),
            call("H", "2026-11-10T08:00:00", IN, agent=a2, lead="Kavya", outcome="busy"),
            # A recorded message "completed" it: still missed (no agent).
            call("I", "2026-11-10T09:00:00", IN, agent=None, number=UNKNOWN, duration=15, team=0),
            call("J", "2026-11-10T12:00:00", OUT, agent=a2, number=UNKNOWN, outcome=NA),
            call("K", "2026-11-10T18:29:59", OUT, agent=a2, lead="Arjun", duration=0),
            call("L", "2026-11-10T10:00:00", OUT, agent=a3, lead="Deepa", duration=200, team=t2),
            call("M", "2026-11-10T18:30:00", OUT, agent=a2, lead="Arjun", outcome=NA),
            # Rahul connected long before: never connected in the day, but not ever.
            call("R", "2026-10-20T10:00:00", OUT, agent=a1, lead="Rahul", duration=45),
        ]  # fmt: skip
        session.add_all(calls)
        await session.flush()
        by_letter = {c.carrier_call_id: c.id for c in calls}
        session.add_all(
            [
                Disposition(org_id=org.id, lead_id=leads[name].id, call_id=by_letter[letter],
                            agent_id=agent, code=code, created_at=at(created))
                for letter, name, agent, code, created in (
                    ("B", "Priya", a1, "interested", "2026-11-09T18:31:00"),
                    ("E", "Sneha", a1, "interested", "2026-11-10T06:03:00"),
                    ("G", "Vikram", a2, "callback", "2026-11-10T07:11:00"),
                    ("L", "Deepa", a3, "converted", "2026-11-10T10:04:00"),
                    ("A", "Priya", a1, "no-answer", "2026-11-09T18:00:00"),
                )
            ]
        )  # fmt: skip
        now = utcnow().replace(microsecond=0)
        session.add_all(
            [
                PresenceEvent(org_id=org.id, user_id=user, state=state, reason=reason,
                              started_at=at(start), ended_at=at(end) if end else None)
                for user, state, reason, start, end in (
                    (a1, "offline", None, "2026-11-09T17:00:00", "2026-11-09T18:00:00"),
                    (a1, "available", None, "2026-11-09T18:00:00", "2026-11-09T19:00:00"),
                    (a1, "on-call", None, "2026-11-09T19:00:00", "2026-11-09T19:30:00"),
                    (a1, "wrap-up", None, "2026-11-09T19:30:00", "2026-11-09T19:35:00"),
                    (a1, "paused", "lunch", "2026-11-09T19:35:00", "2026-11-09T20:35:00"),
                    (a1, "paused", "smoke", "2026-11-09T20:35:00", "2026-11-09T20:45:00"),
                    (a1, "available", None, "2026-11-10T18:00:00", "2026-11-10T19:00:00"),
                    (a1, "offline", None, "2026-11-10T19:00:00", None),
                    (a2, "available", None, "2026-11-10T17:30:00", "2026-11-10T19:00:00"),
                    (a3, "on-call", None, "2026-11-10T10:00:00", "2026-11-10T10:05:00"),
                )
            ]
            + [PresenceEvent(org_id=org.id, user_id=a2, state="on-call",
                             started_at=now - timedelta(hours=2))]
        )  # fmt: skip
        # Leads for the funnel: two created on the day, one a second before it.
        for name, status, source, created in (
            ("Priya", "interested", "demo", "2026-11-10T10:00:00"),
            ("Rahul", "converted", "web", "2026-11-10T10:00:00"),
            ("Sneha", "new", "web", "2026-11-09T18:29:59"),
        ):
            lead = leads[name]
            lead.status, lead.source, lead.created_at = status, source, at(created)
            session.add(lead)
        leads["Deepa"].name = "=HYPERLINK(1)"
        session.add(leads["Deepa"])
        await session.commit()
    return World(team1.id, team2.id, a1, a2, a3, leads)


async def report(gw: Gateway, token: str, name: str, **params: str) -> tuple[int, Any]:
    return await gw.request("GET", f"/api/reports/{name}", token, params=params)


async def csv_report(
    gw: Gateway, token: str, name: str, accept: str | None = None, **params: str
) -> tuple[list[list[str]], Any]:
    headers = {"Authorization": f"Bearer {token}"}
    if accept:
        headers["Accept"] = accept
    async with gw.http.get(
        f"{gw.url}/api/reports/{name}",
        params=params,
        headers=headers,
    ) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.content_type == "text/csv"
        text = await resp.text()
        return list(csv.reader(io.StringIO(text))), resp.headers


def by(rows: list[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
    return {r[key]: r for r in rows}


async def test_calls_summary_per_agent_team_day_and_hour(gateway: Gateway) -> None:
    w = await seed(gateway)
    admin = await gateway.login("admin@demo.test")
    status, body = await report(gateway, admin, "calls-summary", **DAY)
    assert status == 200, body
    assert body["from"] == "2026-11-10T00:00:00+05:30" and body["to"] == "2026-11-11T00:00:00+05:30"
    assert body["timezone"] == "Asia/Kolkata" and body["group_by"] == ["agent"]
    metrics = [
        *("incoming", "outgoing", "total", "connected", "connect_rate", "missed", "rejected"),
        *("talk_time_s", "avg_talk_s", "first_call_at", "last_call_at"),
    ]
    got = [[r["agent_name"], *[r[m] for m in metrics]] for r in body["rows"]]
    assert got == [
        ["Anita Agent", 1, 3, 4, 2, 0.5, 0, 0, 180, 90.0,
         "2026-11-10T00:00:00+05:30", "2026-11-10T11:30:00+05:30"],
        ["Arjun Agent", 1, 3, 4, 1, 0.25, 1, 1, 30, 30.0,
         "2026-11-10T12:40:00+05:30", "2026-11-10T23:59:59+05:30"],
        ["Zara Agent", 0, 1, 1, 1, 1.0, 0, 0, 200, 200.0,
         "2026-11-10T15:30:00+05:30", "2026-11-10T15:30:00+05:30"],
        [None, 2, 0, 2, 0, 0.0, 2, 0, 0, None,
         "2026-11-10T12:30:00+05:30", "2026-11-10T14:30:00+05:30"],
    ]  # fmt: skip
    assert [body["totals"][m] for m in metrics[:-2]] == [4, 7, 11, 4, 0.3636, 3, 1, 410, 102.5]

    _, body = await report(gateway, admin, "calls-summary", group_by="team", **DAY)
    got = [[r["team_id"], r["total"], r["connected"], r["missed"], r["talk_time_s"]]
           for r in body["rows"]]  # fmt: skip
    assert got == [[w.team2, 1, 1, 0, 200], [w.team1, 9, 3, 2, 210], [None, 1, 0, 1, 0]]

    # Days in IST: the calls a second either side of midnight fall on their own days.
    days = {"from": "2026-11-08", "to": "2026-11-11"}
    _, body = await report(gateway, admin, "calls-summary", group_by="day", **days)
    assert [(r["day"], r["total"]) for r in body["rows"]] == [
        ("2026-11-08", 0), ("2026-11-09", 1), ("2026-11-10", 11), ("2026-11-11", 1)
    ]  # fmt: skip
    _, body = await report(gateway, admin, "calls-summary", group_by="hour", **DAY)
    hours = {r["hour"]: r["total"] for r in body["rows"]}
    assert len(hours) == 24 and sum(hours.values()) == 11
    assert hours["2026-11-10T00:00:00+05:30"] == 1 and hours["2026-11-10T23:00:00+05:30"] == 1
    assert hours["2026-11-10T12:00:00+05:30"] == 2  # F 12:30, G 12:40
    _, body = await report(gateway, admin, "calls-summary", group_by="hour_of_day", **DAY)
    assert [r["hour_of_day"] for r in body["rows"]] == list(range(24))
    # Each agent's first and last call of each day.
    _, body = await report(
        gateway, admin, "calls-summary", group_by="agent,day", agent_id=str(w.agent1),
        **{"from": "2026-11-09", "to": "2026-11-10"},
    )  # fmt: skip
    firsts = [(r["day"], r["total"], r["first_call_at"], r["last_call_at"]) for r in body["rows"]]
    assert firsts == [
        ("2026-11-09", 1, "2026-11-09T23:59:59+05:30", "2026-11-09T23:59:59+05:30"),
        ("2026-11-10", 4, "2026-11-10T00:00:00+05:30", "2026-11-10T11:30:00+05:30"),
    ]


async def test_scoping_by_role(gateway: Gateway) -> None:
    w = await seed(gateway)
    manager = await gateway.login("manager@demo.test")
    _, body = await report(gateway, manager, "calls-summary", **DAY)
    assert [r["agent_name"] for r in body["rows"]] == ["Anita Agent", "Arjun Agent", None]
    assert (body["totals"]["incoming"], body["totals"]["outgoing"]) == (3, 6)
    agent = await gateway.login("agent1@demo.test")
    _, body = await report(gateway, agent, "calls-summary", group_by="team", **DAY)
    assert [(r["team_id"], r["total"]) for r in body["rows"]] == [(w.team1, 4)]
    assert body["totals"]["total"] == 4

    _, body = await report(gateway, manager, "dispositions", **DAY)
    assert body["totals"]["count"] == 3
    _, body = await report(gateway, agent, "working-hours", **DAY)
    assert [r["agent_id"] for r in body["rows"]] == [w.agent1]
    _, body = await report(gateway, manager, "working-hours", **DAY)
    assert [r["agent_id"] for r in body["rows"]] == [w.agent1, w.agent2]
    _, body = await report(gateway, agent, "leads-funnel", created="all")
    assert body["totals"]["count"] == 13  # the demo leads agent1 owns

    for token, params, field in (
        (agent, {"agent_id": str(w.agent2)}, "agent_id"),
        (agent, {"team_id": str(w.team2)}, "team_id"),
        (manager, {"team_id": str(w.team2)}, "team_id"),
        (manager, {"agent_id": str(w.agent3)}, "agent_id"),
    ):
        status, body = await report(gateway, token, "call-history", **params)
        assert status == 403 and body["error"]["field"] == field, params
    # A manager of no team reports on nothing (not on the calls of no team).
    async with gateway.app[sessionmaker_key]() as session:
        org = (await session.exec(select(Organization))).one()
        await create_user(session, gateway.settings, org=org, email="m2@demo.test",
                          password="demo", name="Teamless", role=Role.MANAGER)  # fmt: skip
        await session.commit()
    teamless = await gateway.login("m2@demo.test")
    status, body = await report(gateway, teamless, "calls-summary", **DAY)
    assert status == 403 and body["error"]["code"] == "forbidden"


async def test_bad_parameters_are_400_naming_the_field(gateway: Gateway) -> None:
    await seed(gateway)
    admin = await gateway.login("admin@demo.test")
    for name, params, field in (
        ("calls-summary", {"from": "yesterday"}, "from"),
        ("calls-summary", {"to": "2026-13-01"}, "to"),
        ("calls-summary", {"from": "2026-11-10", "to": "2026-11-09"}, "to"),
        ("calls-summary", {"from": "2025-01-01", "to": "2026-11-10"}, "to"),
        ("calls-summary", {"team_id": "x"}, "team_id"),
        ("calls-summary", {"team_id": "999"}, "team_id"),
        ("calls-summary", {"agent_id": "999"}, "agent_id"),
        ("calls-summary", {"group_by": "weekday"}, "group_by"),
        ("calls-summary", {"group_by": "agent,agent"}, "group_by"),
        ("working-hours", {"group_by": "agent,team"}, "group_by"),
        ("call-history", {"group_by": "agent"}, "group_by"),
        ("calls-summary", {"format": "xml"}, "format"),
        ("call-history", {"limit": "0"}, "limit"),
        ("call-history", {"direction": "sideways"}, "direction"),
        ("call-history", {"outcome": "great"}, "outcome"),
        ("never-connected", {"within": "decade"}, "within"),
        ("leads-funnel", {"created": "soon"}, "created"),
    ):
        status, body = await report(gateway, admin, name, **params)
        assert status == 400 and body["error"]["field"] == field, (name, params, body)
    status, body = await report(gateway, admin, "no-such-report")
    assert status == 404
    # A date-time without an offset is the organization's wall clock.
    status, body = await report(
        gateway, admin, "calls-summary", **{"from": "2026-11-10T12:00", "to": "2026-11-10T13:00"}
    )
    assert status == 200 and body["from"] == "2026-11-10T12:00:00+05:30"
    assert body["totals"]["total"] == 2  # F and G
    status, body = await report(gateway, admin, "calls-summary")
    assert status == 200 and body["to"].endswith("T00:00:00+05:30")
    assert datetime.fromisoformat(body["to"]) - datetime.fromisoformat(body["from"]) == timedelta(
        days=1
    )


async def test_never_attended_callbacks_never_connected_and_reached(gateway: Gateway) -> None:
    w = await seed(gateway)
    admin = await gateway.login("admin@demo.test")
    status, body = await report(gateway, admin, "never-attended", **DAY)
    assert status == 200, body
    # F was called back by lead (G, 10 min), I by number (J, 3 h); H (Kavya) never: C to
    # Kavya came before it.
    assert body["summary"] == {"missed": 3, "called_back": 2, "never_attended": 1}
    (row,) = body["rows"]
    assert row["lead_name"] == "Kavya Reddy" and row["outcome"] == "busy"
    assert row["missed_at"] == "2026-11-10T13:30:00+05:30" and row["agent_id"] == w.agent2
    waited = (utcnow() - at("2026-11-10T08:00:00")).total_seconds()
    assert abs(row["waited_s"] - waited) < 60
    latency = body["callback_latency"]
    assert (latency["count"], latency["p50_s"], latency["p90_s"]) == (2, 600.0, 10800.0)
    assert {b["label"]: b["count"] for b in latency["buckets"] if b["count"]} == {
        "5-15m": 1,
        "1-4h": 1,
    }

    _, body = await report(gateway, admin, "never-connected", **DAY)
    got = [(r["lead_name"], r["attempts"], r["last_attempt_at"]) for r in body["rows"]]
    assert got == [
        ("Arjun Nair", 1, "2026-11-10T23:59:59+05:30"),
        ("Rahul Verma", 1, "2026-11-10T10:30:00+05:30"),
        ("Kavya Reddy", 1, "2026-11-10T09:30:00+05:30"),
    ]
    _, body = await report(gateway, admin, "never-connected", within="ever", **DAY)
    assert [r["lead_name"] for r in body["rows"]] == ["Arjun Nair", "Kavya Reddy"]
    agent = await gateway.login("agent1@demo.test")
    _, body = await report(gateway, agent, "never-connected", **DAY)
    assert [r["lead_name"] for r in body["rows"]] == ["Rahul Verma", "Kavya Reddy"]

    _, body = await report(gateway, admin, "customers-reached", **DAY)
    assert body["summary"] == {"leads": 4}
    talk = [(r["lead_id"], r["talk_time_s"]) for r in body["rows"]]
    reached = (("Deepa", 200), ("Sneha", 120), ("Priya", 60), ("Vikram", 30))
    assert talk == [(w.leads[n].id, s) for n, s in reached]
    vikram = body["rows"][3]
    keys = ("calls", "incoming", "outgoing", "connected", "connected_incoming")
    assert [vikram[k] for k in keys] == [2, 1, 1, 1, 0]
    assert (vikram["connected_outgoing"], vikram["avg_talk_s"]) == (1, 30.0)


async def test_call_history_and_csv_downloads(gateway: Gateway) -> None:
    w = await seed(gateway)
    admin = await gateway.login("admin@demo.test")
    _, body = await report(gateway, admin, "call-history", **DAY)
    order = [r["call_id"] for r in body["rows"]]
    assert len(order) == 11 and body["truncated"] is False
    first = body["rows"][0]
    assert first["created_at"] == "2026-11-10T23:59:59+05:30" and first["lead_name"] == "Arjun Nair"
    assert first["agent_name"] == "Arjun Agent" and first["team_name"] == "Inside Sales"
    _, body = await report(gateway, admin, "call-history", direction="inbound", **DAY)
    assert [r["created_at"][11:16] for r in body["rows"]] == ["14:30", "13:30", "12:30", "11:30"]
    _, body = await report(gateway, admin, "call-history", lead_id=str(w.leads["Priya"].id), **DAY)
    assert [(r["outcome"], r["duration_s"], r["disposition"]) for r in body["rows"]] == [
        ("completed", 60, "interested")
    ]
    _, body = await report(gateway, admin, "call-history", limit="2", **DAY)
    assert [r["call_id"] for r in body["rows"]] == order[:2] and body["truncated"] is True

    rows, headers = await csv_report(gateway, admin, "call-history", format="csv", **DAY)
    assert headers["Content-Disposition"] == (
        'attachment; filename="call-history_2026-11-10_2026-11-10.csv"'
    )
    assert rows[0][:3] == ["call_id", "created_at", "direction"] and len(rows) == 12
    deepa = next(r for r in rows if r[rows[0].index("lead_id")] == str(w.leads["Deepa"].id))
    # A formula in a lead's name is defused; phone numbers stay as they are.
    assert deepa[rows[0].index("lead_name")] == "'=HYPERLINK(1)"
    assert deepa[rows[0].index("to_number")] == w.leads["Deepa"].phone

    rows, _ = await csv_report(gateway, admin, "calls-summary", accept="text/csv", **DAY)
    assert rows[0][:4] == ["agent_id", "agent_name", "incoming", "outgoing"]
    assert rows[1][1:6] == ["Anita Agent", "1", "3", "4", "2"]
    assert rows[-1][0] == "total" and rows[-1][2:5] == ["4", "7", "11"]
    assert len(rows) == 6
    # Every report downloads: its header is the JSON's columns, a line per row.
    _, listing = await gateway.request("GET", "/api/reports", admin)
    for entry in listing["data"]:
        _, body = await report(gateway, admin, entry["name"], **DAY)
        rows, _ = await csv_report(gateway, admin, entry["name"], format="csv", **DAY)
        assert rows[0] == body["columns"], entry["name"]
        totals_row = 1 if entry["name"] in ("calls-summary", "working-hours") else 0
        assert len(rows) == 1 + len(body["rows"]) + totals_row, entry["name"]


async def test_working_hours_dispositions_and_funnel(gateway: Gateway) -> None:
    w = await seed(gateway)
    admin = await gateway.login("admin@demo.test")
    status, body = await report(gateway, admin, "working-hours", **DAY)
    assert status == 200, body
    rows = by(body["rows"], "agent_id")
    assert set(rows) == {w.agent1, w.agent2, w.agent3}
    a1 = rows[w.agent1]
    assert [a1[k] for k in ("logged_in_s", "available_s", "on_call_s", "wrap_up_s", "paused_s",
                            "paused_lunch_s", "paused_break_s", "paused_other_s")] == [
        9900, 3600, 1800, 300, 4200, 3600, 0, 600]  # fmt: skip
    assert rows[w.agent2]["available_s"] == 3600 and rows[w.agent2]["logged_in_s"] == 3600
    assert rows[w.agent3]["on_call_s"] == 300
    assert body["totals"]["logged_in_s"] == 9900 + 3600 + 300
    _, body = await report(gateway, admin, "working-hours", group_by="team", **DAY)
    assert [(r["team_id"], r["logged_in_s"]) for r in body["rows"]] == [
        (w.team2, 300), (w.team1, 13500)
    ]  # fmt: skip
    # An interval still open runs to now.
    now = utcnow()
    window = {
        "from": (now - timedelta(hours=3)).isoformat(),
        "to": (now + timedelta(hours=1)).isoformat(),
    }
    _, body = await report(gateway, admin, "working-hours", agent_id=str(w.agent2), **window)
    assert abs(body["rows"][0]["on_call_s"] - 7200) < 60

    _, body = await report(gateway, admin, "dispositions", **DAY)
    assert [(r["code"], r["count"]) for r in body["rows"]] == [
        ("interested", 2), ("callback", 1), ("not-interested", 0), ("no-answer", 0),
        ("wrong-number", 0), ("converted", 1), ("do-not-call", 0),
    ]  # fmt: skip
    assert body["rows"][0]["share"] == 0.5
    _, body = await report(gateway, admin, "dispositions", group_by="agent", **DAY)
    assert [(r["agent_id"], r["code"], r["count"], r["share"]) for r in body["rows"]] == [
        (w.agent1, "interested", 2, 1.0), (w.agent2, "callback", 1, 1.0),
        (w.agent3, "converted", 1, 1.0),
    ]  # fmt: skip

    _, body = await report(gateway, admin, "leads-funnel", **DAY)
    assert [(r["status"], r["count"]) for r in body["rows"] if r["count"]] == [
        ("interested", 1), ("converted", 1)
    ]  # fmt: skip
    assert [r["status"] for r in body["rows"]][:3] == ["new", "contacted", "interested"]
    _, body = await report(gateway, admin, "leads-funnel", group_by="source", created="all")
    assert [(r["source"], r["count"]) for r in body["rows"]] == [("demo", 30), ("web", 2)]
    _, body = await report(gateway, admin, "leads-funnel", group_by="source,status", **DAY)
    assert [(r["source"], r["status"], r["count"]) for r in body["rows"]] == [
        ("demo", "interested", 1), ("web", "converted", 1)
    ]  # fmt: skip
    status, listing = await gateway.request("GET", "/api/reports", admin)
    assert status == 200 and len(listing["data"]) == 8


async def test_days_and_hours_follow_daylight_saving_time(gateway: Gateway) -> None:
    """New York falls back on 2026-11-01: that day has 25 hours, and 01:00-02:00 twice."""
    async with gateway.app[sessionmaker_key]() as session:
        org = (await session.exec(select(Organization))).one()
        org.timezone = "America/New_York"
        session.add(org)
        session.add_all(
            Call(org_id=org.id, carrier="sandbox", direction=OUT, status="completed",
                 outcome=NA, created_at=at(t))
            for t in (
                "2026-11-01T03:59:59",  # 23:59:59 EDT on Oct 31
                "2026-11-01T04:30:00",  # 00:30 EDT
                "2026-11-01T05:30:00",  # 01:30 EDT
                "2026-11-01T06:30:00",  # 01:30 EST, the same wall-clock hour again
                "2026-11-02T04:30:00",  # 23:30 EST, still Nov 1
                "2026-11-02T05:30:00",  # 00:30 EST on Nov 2
            )
        )  # fmt: skip
        await session.commit()
    admin = await gateway.login("admin@demo.test")
    days = {"from": "2026-10-31", "to": "2026-11-02"}
    _, body = await report(gateway, admin, "calls-summary", group_by="day", **days)
    assert [(r["day"], r["total"]) for r in body["rows"]] == [
        ("2026-10-31", 1), ("2026-11-01", 4), ("2026-11-02", 1)
    ]  # fmt: skip
    _, body = await report(gateway, admin, "calls-summary", group_by="hour", to="2026-11-01")
    assert body["from"] == "2026-11-01T00:00:00-04:00" and body["to"] == "2026-11-02T00:00:00-05:00"
    hours = {r["hour"]: r["total"] for r in body["rows"]}
    # Buckets are wall-clock hours: the repeated 01:00 holds both of its calls.
    assert len(hours) == 24 and sum(hours.values()) == 4
    assert hours["2026-11-01T01:00:00-04:00"] == 2 and hours["2026-11-01T23:00:00-05:00"] == 1
