"""Follow-ups over REST and their due reminders over Socket.IO, in one process and several."""

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis
from sqlmodel import col, select

from gateway.keys import sessionmaker_key
from gateway.models import FollowUp, Lead, Organization, Role, User
from gateway.users import create_user
from tests.conftest import REDIS_URL, Gateway, GatewayFactory, unavailable

PRIYA = "+919876543210"  # agent1's
RAHUL = "+919820011223"  # agent2's
KAVYA = "+919700033445"  # the team's pool (no owner)
DAVID = "+16175550100"  # agent1's, Boston
OLIVER = "+442079460958"  # agent1's, London
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
FAST = {"FOLLOWUP_SWEEP_INTERVAL_S": 0.05}


async def lead_id(gw: Gateway, phone: str) -> int:
    async with gw.app[sessionmaker_key]() as session:
        lead: Lead = (await session.exec(select(Lead).where(col(Lead.phone) == phone))).one()
    assert lead.id is not None
    return lead.id


async def user_id(gw: Gateway, email: str) -> int:
    async with gw.app[sessionmaker_key]() as session:
        user: User = (await session.exec(select(User).where(col(User.email) == email))).one()
    assert user.id is not None
    return user.id


async def stored_lead(gw: Gateway, lead: int) -> Lead:
    async with gw.app[sessionmaker_key]() as session:
        row: Lead | None = await session.get(Lead, lead)
    assert row is not None
    return row


async def schedule(
    gw: Gateway, token: str, lead: int, due_at: str, **extra: Any
) -> tuple[int, dict[str, Any]]:
    status, body = await gw.request(
        "POST", f"/api/leads/{lead}/follow-ups", token, json={"due_at": due_at, **extra}
    )
    return status, dict(body)


async def set_due(gw: Gateway, ids: list[int], due: datetime) -> None:
    """Tests move time by moving due times (into the past, usually) in the database."""
    async with gw.app[sessionmaker_key]() as session:
        await session.exec(sa.update(FollowUp).where(col(FollowUp.id).in_(ids)).values(due_at=due))
        await session.commit()


def wall(days: int, zone: ZoneInfo, hour: int = 10, minute: int = 30) -> tuple[str, datetime]:
    day = datetime.now(zone).date() + timedelta(days=days)
    local = datetime.combine(day, time(hour, minute))
    return local.isoformat(timespec="minutes"), local.replace(tzinfo=zone).astimezone(UTC)


def dst_edges(zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The next wall times that `zone`'s clocks skip and repeat (naive, on the half hour)."""
    skipped = repeated = None
    today = datetime.now(zone).date()
    for days in range(1, 400):
        for hour in range(24):
            local = datetime.combine(today + timedelta(days=days), time(hour, 30))
            first, second = local.replace(tzinfo=zone), local.replace(tzinfo=zone, fold=1)
            if first.utcoffset() == second.utcoffset():
                continue
            if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local:
                skipped = skipped or local
            else:
                repeated = repeated or local
        if skipped and repeated:
            return skipped, repeated
    raise AssertionError("no DST change within a year")


async def test_due_times_are_read_in_the_leads_zone(gateway: Gateway) -> None:
    agent = await gateway.login("agent1@demo.test")
    david = await lead_id(gateway, DAVID)

    local, due = wall(10, NEW_YORK)
    status, fu = await schedule(gateway, agent, david, local, note="send the brochure first")
    assert status == 201, fu
    # A Boston number: 10:30 means 10:30 in New York, and is shown back that way.
    assert fu["timezone"] == "America/New_York"
    assert datetime.fromisoformat(fu["due_at"]) == due
    assert (
        datetime.fromisoformat(fu["local_due_at"])
        .replace(tzinfo=None)
        .isoformat(timespec="minutes")
        == local
    )
    assert datetime.fromisoformat(fu["local_due_at"]) == due
    assert fu["agent_id"] == await user_id(gateway, "agent1@demo.test")
    assert fu["lead"] == {"id": david, "name": "David Wilson", "phone": DAVID}
    assert fu["status"] == "open" and fu["note"] == "send the brochure first"

    # An explicit zone wins; an offset makes the time absolute (shown in the lead's zone).
    local_london, due_london = wall(5, ZoneInfo("Europe/London"))
    status, fu = await schedule(gateway, agent, david, local_london, timezone="Europe/London")
    assert status == 201 and datetime.fromisoformat(fu["due_at"]) == due_london
    assert fu["timezone"] == "Europe/London"
    absolute = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    status, fu = await schedule(gateway, agent, david, absolute.astimezone(KOLKATA).isoformat())
    assert status == 201 and datetime.fromisoformat(fu["due_at"]) == absolute
    assert fu["timezone"] == "America/New_York"
    assert datetime.fromisoformat(fu["local_due_at"]).utcoffset() in (
        timedelta(hours=-4),
        timedelta(hours=-5),
    )
    # The earliest open one is the lead's next follow-up.
    assert (await stored_lead(gateway, david)).next_follow_up_at == absolute

    oliver = await lead_id(gateway, OLIVER)
    status, fu = await schedule(gateway, agent, oliver, wall(1, NEW_YORK)[0])
    assert status == 201 and fu["timezone"] == "Europe/London"

    skipped, repeated = dst_edges(NEW_YORK)
    status, body = await schedule(gateway, agent, david, skipped.isoformat())
    assert status == 400 and body["error"]["code"] == "nonexistent_local_time"
    assert body["error"]["field"] == "due_at"
    status, body = await schedule(gateway, agent, david, repeated.isoformat())
    assert status == 400 and body["error"]["code"] == "ambiguous_local_time"
    # With an offset the repeated hour is unambiguous.
    second = repeated.replace(tzinfo=NEW_YORK, fold=1)
    status, fu = await schedule(gateway, agent, david, second.isoformat())
    # (Compared in UTC: Python never equates a repeated wall time with another zone's.)
    assert status == 201 and datetime.fromisoformat(fu["due_at"]) == second.astimezone(UTC)

    refusals: list[tuple[dict[str, Any], int, str]] = [
        ({"due_at": "2020-01-01T10:00"}, 400, "due_at"),
        ({"due_at": (datetime.now(UTC) - timedelta(seconds=5)).isoformat()}, 400, "due_at"),
        ({"due_at": "tomorrow morning"}, 400, "due_at"),
        ({"due_at": "9026-01-01T10:00"}, 400, "due_at"),
        ({"due_at": local, "timezone": "Mars/Olympus"}, 400, "timezone"),
        ({"due_at": local, "timezone": "../../etc/passwd"}, 400, "timezone"),
        (
            {"due_at": local, "agent_id": await user_id(gateway, "agent2@demo.test")},
            403,
            "agent_id",
        ),
        ({}, 400, "due_at"),
    ]
    for payload, code, field in refusals:
        status, body = await gateway.request(
            "POST", f"/api/leads/{david}/follow-ups", agent, json=payload
        )
        assert (status, body["error"]["field"]) == (code, field), (payload, body)
    # Another agent's lead does not exist as far as this agent can tell.
    status, body = await schedule(gateway, agent, await lead_id(gateway, RAHUL), local)
    assert status == 404 and body["error"]["field"] == "lead_id"
    _, page = await gateway.request("GET", "/api/follow-ups", agent, params={"lead_id": david})
    assert len(page["data"]) == 4


async def test_lists_are_scoped_filtered_and_paged(gateway: Gateway) -> None:
    agent1 = await gateway.login("agent1@demo.test")
    agent2 = await gateway.login("agent2@demo.test")
    manager = await gateway.login("manager@demo.test")
    admin = await gateway.login("admin@demo.test")
    ids = {e: await user_id(gateway, e) for e in ("agent1@demo.test", "agent2@demo.test")}
    priya, rahul, kavya = [await lead_id(gateway, p) for p in (PRIYA, RAHUL, KAVYA)]

    mine = [(await schedule(gateway, agent1, priya, wall(d, KOLKATA)[0]))[1] for d in (1, 2, 3)]
    theirs = (await schedule(gateway, agent2, rahul, wall(4, KOLKATA)[0]))[1]
    status, assigned = await schedule(
        gateway, manager, kavya, wall(5, KOLKATA)[0], agent_id=ids["agent2@demo.test"]
    )
    assert status == 201 and assigned["agent_id"] == ids["agent2@demo.test"]
    status, own = await schedule(gateway, manager, kavya, wall(6, KOLKATA)[0])
    assert status == 201 and own["agent_id"] == await user_id(gateway, "manager@demo.test")
    status, body = await schedule(gateway, agent1, priya, wall(1, KOLKATA)[0], agent_id=999)
    assert status == 403

    async def listed(token: str, **params: Any) -> list[int]:
        status, page = await gateway.request("GET", "/api/follow-ups", token, params=params)
        assert status == 200, page
        return [x["id"] for x in page["data"]]

    everyone = [x["id"] for x in [*mine, theirs, assigned, own]]
    assert await listed(agent1) == [x["id"] for x in mine]
    assert await listed(agent2) == [theirs["id"], assigned["id"]]
    assert await listed(manager) == everyone
    assert await listed(admin) == everyone
    assert await listed(manager, agent_id=ids["agent2@demo.test"]) == [
        theirs["id"],
        assigned["id"],
    ]
    assert await listed(admin, lead_id=kavya) == [assigned["id"], own["id"]]
    assert await listed(agent1, agent_id=ids["agent2@demo.test"]) == []

    # Paging walks the same order without repeats.
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        _, page = await gateway.request("GET", "/api/follow-ups", admin, params=params)
        seen += [x["id"] for x in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == everyone

    # Overdue, today (the organization's day) and upcoming.
    now = datetime.now(UTC)
    today = datetime.combine(now.astimezone(KOLKATA).date(), time(), tzinfo=KOLKATA)
    await set_due(gateway, [mine[0]["id"]], now - timedelta(hours=1))
    await set_due(gateway, [mine[1]["id"]], today + timedelta(hours=23, minutes=59))
    await set_due(gateway, [mine[2]["id"]], today + timedelta(days=1))
    status, page = await gateway.request(
        "GET", "/api/follow-ups", manager, params={"due": "overdue"}
    )
    assert status == 200
    (late,) = page["data"]
    assert late["id"] == mine[0]["id"] and 3600 <= late["overdue_by_s"] < 3700
    assert late["lead"]["name"] == "Priya Sharma"
    expected_today = [mine[0]["id"], mine[1]["id"]]
    if (now - timedelta(hours=1)).astimezone(KOLKATA).date() != today.date():
        expected_today = [mine[1]["id"]]  # an hour ago was yesterday there
    assert await listed(agent1, due="today") == expected_today
    assert await listed(agent1, due="upcoming") == [mine[1]["id"], mine[2]["id"]]

    status, _ = await gateway.request(
        "PATCH", f"/api/follow-ups/{mine[0]['id']}", agent1, json={"status": "done"}
    )
    assert status == 200
    assert await listed(agent1, due="overdue") == []
    assert await listed(agent1, status="done") == [mine[0]["id"]]
    assert await listed(agent1, status="open") == [mine[1]["id"], mine[2]["id"]]

    for params, field in [
        ({"due": "later"}, "due"),
        ({"status": "maybe"}, "status"),
        ({"agent_id": "me"}, "agent_id"),
        ({"cursor": "bm9wZQ"}, "cursor"),
        ({"limit": "0"}, "limit"),
    ]:
        status, body = await gateway.request("GET", "/api/follow-ups", admin, params=params)
        assert status == 400 and body["error"]["field"] == field, params


async def test_closing_and_rescheduling(gateway: Gateway) -> None:
    agent1 = await gateway.login("agent1@demo.test")
    agent2 = await gateway.login("agent2@demo.test")
    priya = await lead_id(gateway, PRIYA)
    _, first = await schedule(gateway, agent1, priya, wall(1, KOLKATA)[0])
    _, second = await schedule(gateway, agent1, priya, wall(2, KOLKATA)[0])
    assert (await stored_lead(gateway, priya)).next_follow_up_at == datetime.fromisoformat(
        first["due_at"]
    )
    url = f"/api/follow-ups/{first['id']}"

    for payload in (
        {},
        {"status": "open"},
        {"status": "done", "due_at": wall(3, KOLKATA)[0]},
        {"timezone": "Europe/London"},
        {"due_at": "2020-01-01T09:00"},
    ):
        status, body = await gateway.request("PATCH", url, agent1, json=payload)
        assert status == 400, (payload, body)
    status, body = await gateway.request("PATCH", url, agent2, json={"status": "done"})
    assert status == 404 and body["error"]["field"] == "follow_up_id"
    # Another organization's admin sees nothing of it.
    async with gateway.app[sessionmaker_key]() as session:
        org = Organization(name="Other Co")
        session.add(org)
        await session.flush()
        await create_user(
            session,
            gateway.settings,
            org=org,
            email="admin@other.test",
            password="demo",
            name="Other Admin",
            role=Role.ADMIN,
        )
        await session.commit()
    other = await gateway.login("admin@other.test")
    status, body = await gateway.request("PATCH", url, other, json={"status": "done"})
    assert status == 404
    _, page = await gateway.request("GET", "/api/follow-ups", other)
    assert page["data"] == []
    status, _ = await schedule(gateway, other, priya, wall(1, KOLKATA)[0])
    assert status == 404

    # Rescheduling moves the time and re-arms the reminder.
    async with gateway.app[sessionmaker_key]() as session:
        row = await session.get(FollowUp, first["id"])
        assert row is not None
        row.notified_at = datetime.now(UTC)
        session.add(row)
        await session.commit()
    local, due = wall(3, NEW_YORK, hour=9, minute=0)
    status, moved = await gateway.request(
        "PATCH", url, agent1, json={"due_at": local, "timezone": "America/New_York"}
    )
    assert status == 200, moved
    assert datetime.fromisoformat(moved["due_at"]) == due
    assert moved["timezone"] == "America/New_York" and moved["notified_at"] is None
    assert (await stored_lead(gateway, priya)).next_follow_up_at == datetime.fromisoformat(
        second["due_at"]
    )

    # Without a zone a reschedule keeps the one the follow-up was given in.
    local, due = wall(4, NEW_YORK, hour=16, minute=15)
    status, moved = await gateway.request("PATCH", url, agent1, json={"due_at": local})
    assert status == 200 and moved["timezone"] == "America/New_York"
    assert datetime.fromisoformat(moved["due_at"]) == due

    status, done = await gateway.request("PATCH", url, agent1, json={"status": "done"})
    assert status == 200 and done["status"] == "done" and done["completed_at"]
    status, body = await gateway.request("PATCH", url, agent1, json={"status": "canceled"})
    assert status == 409 and body["error"]["code"] == "not_open"
    status, canceled = await gateway.request(
        "PATCH", f"/api/follow-ups/{second['id']}", agent1, json={"status": "canceled"}
    )
    assert status == 200 and canceled["status"] == "canceled"
    assert (await stored_lead(gateway, priya)).next_follow_up_at is None


class Reminders:
    """`follow_up_due` events one Socket.IO client received."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()

    async def on_due(self, data: dict[str, Any]) -> None:
        self.events.append(data)
        self.arrived.set()

    async def wait_for(self, n: int, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.events) < n:
                self.arrived.clear()
                await self.arrived.wait()

    def ids(self) -> list[int]:
        return [e["follow_up"]["id"] for e in self.events]


async def listen(gw: Gateway, email: str) -> Reminders:
    live = await gw.connect(await gw.login(email))
    reminders = Reminders()
    live.client.on("follow_up_due", reminders.on_due, namespace="/dialer")
    return reminders


async def test_a_due_follow_up_reminds_its_agent_once(start_gateway: GatewayFactory) -> None:
    gateway = await start_gateway(**FAST)
    agent1 = await gateway.login("agent1@demo.test")
    mine = await listen(gateway, "agent1@demo.test")
    other = await listen(gateway, "agent2@demo.test")
    priya = await lead_id(gateway, PRIYA)
    _, fu = await schedule(gateway, agent1, priya, wall(1, KOLKATA)[0], note="quote")
    _, dropped = await schedule(gateway, agent1, priya, wall(1, KOLKATA)[0])
    await gateway.request(
        "PATCH", f"/api/follow-ups/{dropped['id']}", agent1, json={"status": "canceled"}
    )
    await asyncio.sleep(0.3)
    assert mine.events == []

    await set_due(gateway, [fu["id"], dropped["id"]], datetime.now(UTC) - timedelta(minutes=2))
    await mine.wait_for(1)
    (event,) = mine.events
    assert event["lead"] == {"id": priya, "name": "Priya Sharma", "phone": PRIYA}
    assert event["follow_up"]["id"] == fu["id"] and event["follow_up"]["note"] == "quote"
    assert event["follow_up"]["notified_at"] is not None
    assert event["follow_up"]["overdue_by_s"] >= 120
    assert event["follow_up"]["timezone"] == "Asia/Kolkata"
    # Many sweeps later there is still one reminder, to its agent only.
    await asyncio.sleep(0.5)
    assert mine.ids() == [fu["id"]] and other.events == []
    async with gateway.app[sessionmaker_key]() as session:
        row = await session.get(FollowUp, fu["id"])
        assert row is not None and row.notified_at is not None and row.status == "open"

    # A rescheduled follow-up reminds again when its new time comes.
    status, _ = await gateway.request(
        "PATCH", f"/api/follow-ups/{fu['id']}", agent1, json={"due_at": wall(2, KOLKATA)[0]}
    )
    assert status == 200
    await set_due(gateway, [fu["id"]], datetime.now(UTC) - timedelta(seconds=1))
    await mine.wait_for(2)
    assert mine.ids() == [fu["id"], fu["id"]]


@pytest.fixture
async def channel() -> AsyncIterator[str]:
    """A Redis channel (and key prefix) of this test's own, removed afterwards."""
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:
        unavailable("Redis", exc)
    name = f"dialgate-test-{secrets.token_hex(6)}"
    yield name
    try:
        keys = [key async for key in client.scan_iter(match=f"{name}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.mark.redis
async def test_several_processes_send_each_reminder_once(
    channel: str, start_gateway: GatewayFactory
) -> None:
    shared = {"REDIS_URL": REDIS_URL, "SOCKETIO_CHANNEL": channel, **FAST}
    first = await start_gateway(**shared)
    second = await start_gateway(**shared)
    await start_gateway(**shared)
    # The agent listens on one process; all three sweep the same table.
    reminders = await listen(second, "agent1@demo.test")
    token = await first.login("agent1@demo.test")
    priya = await lead_id(first, PRIYA)
    ids = [(await schedule(first, token, priya, wall(1, KOLKATA)[0]))[1]["id"] for _ in range(40)]
    await set_due(first, ids, datetime.now(UTC) - timedelta(minutes=1))
    await reminders.wait_for(len(ids))
    await asyncio.sleep(0.5)
    assert sorted(reminders.ids()) == sorted(ids)


async def test_managers_list_a_teams_overdue_follow_ups(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    manager = await gateway.login("manager@demo.test")
    agent1 = await gateway.login("agent1@demo.test")
    priya = await lead_id(gateway, PRIYA)
    _, late = await schedule(gateway, agent1, priya, wall(1, KOLKATA)[0])
    _, ahead = await schedule(gateway, agent1, priya, wall(2, KOLKATA)[0])
    await set_due(gateway, [late["id"]], datetime.now(UTC) - timedelta(hours=1))
    async with gateway.app[sessionmaker_key]() as session:
        me = (await session.exec(select(User).where(col(User.email) == "manager@demo.test"))).one()
        team = me.team_id
    assert team is not None

    async def overdue(token: str, **params: Any) -> tuple[int, Any]:
        return await gateway.request(
            "GET", "/api/follow-ups", token, params={"due": "overdue", **params}
        )

    for token in (admin, manager):
        status, page = await overdue(token, team_id=str(team))
        assert status == 200, page
        assert [f["id"] for f in page["data"]] == [late["id"]]
        assert page["data"][0]["overdue_by_s"] >= 3600
    status, page = await gateway.request(
        "GET", "/api/follow-ups", admin, params={"team_id": str(team)}
    )
    assert {f["id"] for f in page["data"]} >= {late["id"], ahead["id"]}
    # Another team is empty for admins, and no business of a manager or an agent.
    status, page = await overdue(admin, team_id=str(team + 1000))
    assert status == 200 and page["data"] == []
    status, body = await overdue(manager, team_id=str(team + 1000))
    assert status == 403 and body["error"]["field"] == "team_id"
    status, body = await overdue(agent1, team_id=str(team))
    assert status == 403 and body["error"]["field"] == "team_id"
    status, body = await overdue(admin, team_id="x")
    assert status == 400 and body["error"]["field"] == "team_id"


async def test_a_deactivated_agents_due_follow_up_reminds_the_managers(
    start_gateway: GatewayFactory,
) -> None:
    gateway = await start_gateway(**FAST)
    admin = await gateway.login("admin@demo.test")
    manager = await gateway.login("manager@demo.test")
    managers = await listen(gateway, "manager@demo.test")
    agent2 = await user_id(gateway, "agent2@demo.test")
    priya = await lead_id(gateway, PRIYA)
    status, fu = await schedule(gateway, manager, priya, wall(1, KOLKATA)[0], agent_id=agent2)
    assert status == 201, fu
    status, body = await gateway.request(
        "PATCH", f"/api/users/{agent2}", admin, json={"is_active": False}
    )
    assert status == 200, body

    await set_due(gateway, [fu["id"]], datetime.now(UTC) - timedelta(minutes=1))
    await managers.wait_for(1)
    assert managers.ids() == [fu["id"]]
    assert managers.events[0]["lead"]["id"] == priya
    # Still on the team's overdue report until someone closes it.
    _, page = await gateway.request("GET", "/api/follow-ups", manager, params={"due": "overdue"})
    assert [f["id"] for f in page["data"]] == [fu["id"]]
