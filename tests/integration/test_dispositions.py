"""Call dispositions over REST: their effects in one transaction, amendment, refusals."""

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, func, select

from gateway.keys import sessionmaker_key
from gateway.models import (
    Call,
    CarrierAccount,
    Disposition,
    FollowUp,
    IntegrationEvent,
    Lead,
    LeadNote,
    LeadStatusChange,
    Organization,
    User,
)
from tests.conftest import Gateway

PRIYA = "+919876543210"  # agent1's lead
RAHUL = "+919820011223"  # agent2's lead
KOLKATA = ZoneInfo("Asia/Kolkata")


async def lead_by_phone(gw: Gateway, phone: str) -> Lead:
    async with gw.app[sessionmaker_key]() as session:
        lead: Lead = (await session.exec(select(Lead).where(col(Lead.phone) == phone))).one()
        return lead


async def user_id(gw: Gateway, email: str) -> int:
    async with gw.app[sessionmaker_key]() as session:
        user: User = (await session.exec(select(User).where(col(User.email) == email))).one()
        assert user.id is not None
        return user.id


async def stored_call(gw: Gateway, agent_email: str, lead_id: int | None) -> int:
    """A finished call as the webhook pipeline leaves it (how it got there is not the point)."""
    async with gw.app[sessionmaker_key]() as session:
        agent = (await session.exec(select(User).where(col(User.email) == agent_email))).one()
        account = (await session.exec(select(CarrierAccount))).one()
        now = datetime.now(UTC)
        call = Call(
            org_id=agent.org_id,
            account_id=account.id,
            carrier="sandbox",
            carrier_call_id=f"sb-{now.timestamp()}",
            direction="outbound",
            lead_id=lead_id,
            lead_match="dialed" if lead_id else "none",
            agent_id=agent.id,
            team_id=agent.team_id,
            status="completed",
            outcome="completed",
            started_at=now - timedelta(minutes=2),
            ended_at=now,
            duration_s=90,
        )
        session.add(call)
        await session.commit()
        assert call.id is not None
        return call.id


async def count(gw: Gateway, model: Any, *where: Any) -> int:
    async with gw.app[sessionmaker_key]() as session:
        return int(
            (await session.exec(select(func.count()).select_from(model).where(*where))).one()
        )


def local_in_days(days: int, zone: ZoneInfo = KOLKATA) -> tuple[str, datetime]:
    """A wall time `days` ahead at 10:30 in `zone`, as sent (no offset) and as a UTC instant."""
    day = datetime.now(zone).date() + timedelta(days=days)
    wall = datetime(day.year, day.month, day.day, 10, 30)
    return wall.isoformat(timespec="minutes"), wall.replace(tzinfo=zone).astimezone(UTC)


async def test_a_dialed_call_is_dispositioned_with_all_its_effects(gateway: Gateway) -> None:
    token = await gateway.login("agent1@demo.test")
    live = await gateway.connect(token)
    lead = await lead_by_phone(gateway, PRIYA)
    status, call = await gateway.request("POST", "/api/calls", token, json={"lead_id": lead.id})
    assert status == 202, call
    await live.until_ended(call["id"])
    await gateway.settled()
    url = f"/api/calls/{call['id']}/disposition"

    # "callback" asks for a follow-up: without one nothing is recorded.
    status, body = await gateway.request("POST", url, token, json={"code": "callback"})
    assert status == 400 and body["error"]["field"] == "follow_up"
    assert await count(gateway, Disposition) == 0

    local, due = local_in_days(2)
    status, body = await gateway.request(
        "POST",
        url,
        token,
        json={
            "code": "callback",
            "notes": "Asked to call after the festival",
            "follow_up": {"due_at": local, "note": "quote ready"},
        },
    )
    assert status == 201, body
    assert body["code"] == "callback" and body["call_id"] == call["id"]
    assert body["lead_id"] == lead.id and body["notes"] == "Asked to call after the festival"
    agent1 = await user_id(gateway, "agent1@demo.test")
    assert body["agent_id"] == agent1
    fu = body["follow_up"]
    # A +91 number is in India: the wall time is read there, and shown back there.
    assert fu["timezone"] == "Asia/Kolkata"
    assert datetime.fromisoformat(fu["due_at"]) == due
    assert fu["local_due_at"] == f"{local}:00+05:30"
    assert fu["status"] == "open" and fu["note"] == "quote ready" and fu["call_id"] == call["id"]
    assert fu["agent_id"] == agent1 and fu["overdue_by_s"] is None

    status, shown = await gateway.request("GET", url, token)
    assert status == 200 and shown == body
    async with gateway.app[sessionmaker_key]() as session:
        fresh = await session.get(Lead, lead.id)
        assert fresh is not None
        assert fresh.status == "callback" and fresh.next_follow_up_at == due
        change = (
            await session.exec(
                select(LeadStatusChange).where(col(LeadStatusChange.lead_id) == lead.id)
            )
        ).one()
        assert (change.from_status, change.to_status) == ("new", "callback")
        assert change.reason == "disposition:callback" and change.changed_by == agent1
        note = (await session.exec(select(LeadNote).where(col(LeadNote.lead_id) == lead.id))).one()
        assert note.call_id == call["id"] and note.body == "Asked to call after the festival"
        event = (
            await session.exec(
                select(IntegrationEvent).where(col(IntegrationEvent.type) == "disposition.recorded")
            )
        ).one()
        assert event.data["disposition_id"] == body["id"]
        assert event.data["call_id"] == call["id"] and event.data["lead_id"] == lead.id
        assert event.data["follow_up"]["id"] == fu["id"]
    _, shown_lead = await gateway.request("GET", f"/api/leads/{lead.id}", token)
    assert datetime.fromisoformat(shown_lead["next_follow_up_at"]) == due

    # One per call; the same day it may be amended instead.
    status, again = await gateway.request("POST", url, token, json={"code": "interested"})
    assert status == 409 and again["error"]["code"] == "already_recorded"
    local2, due2 = local_in_days(3)
    status, amended = await gateway.request(
        "PUT",
        url,
        token,
        json={"code": "interested", "notes": "Wants a demo", "follow_up": {"due_at": local2}},
    )
    assert status == 200, amended
    assert amended["id"] == body["id"] and amended["code"] == "interested"
    assert amended["notes"] == "Wants a demo"
    # The open follow-up moved rather than a second one appearing.
    assert amended["follow_up"]["id"] == fu["id"]
    assert datetime.fromisoformat(amended["follow_up"]["due_at"]) == due2
    async with gateway.app[sessionmaker_key]() as session:
        fresh = await session.get(Lead, lead.id)
        assert fresh is not None
        assert fresh.status == "interested" and fresh.next_follow_up_at == due2
        notes = (await session.exec(select(LeadNote).where(col(LeadNote.lead_id) == lead.id))).all()
        assert [n.body for n in notes] == ["Wants a demo"]
        types = (
            await session.exec(select(IntegrationEvent.type).order_by(col(IntegrationEvent.id)))
        ).all()
        assert [t for t in types if t.startswith("disposition.")] == [
            "disposition.recorded",
            "disposition.updated",
        ]
        # The next day it is final.
        stored = (await session.exec(select(Disposition))).one()
        stored.created_at = datetime.now(UTC) - timedelta(days=1, hours=1)
        session.add(stored)
        await session.commit()
    status, late = await gateway.request("PUT", url, token, json={"code": "converted"})
    assert status == 409 and late["error"]["code"] == "amend_window_closed"
    assert await count(gateway, FollowUp) == 1


async def test_do_not_call_lists_every_number_of_the_lead(gateway: Gateway) -> None:
    agent = await gateway.login("agent1@demo.test")
    status, lead = await gateway.request(
        "POST",
        "/api/leads",
        agent,
        json={"name": "Ravi", "phone": "98450 12360", "alt_phones": ["98450 12361"]},
    )
    assert status == 201
    call_id = await stored_call(gateway, "agent1@demo.test", lead["id"])
    status, planned = await gateway.request(
        "POST", f"/api/leads/{lead['id']}/follow-ups", agent, json={"due_at": local_in_days(1)[0]}
    )
    assert status == 201
    url = f"/api/calls/{call_id}/disposition"
    status, body = await gateway.request(
        "POST",
        url,
        agent,
        json={"code": "do-not-call", "follow_up": {"due_at": local_in_days(2)[0]}},
    )
    assert status == 400 and body["error"]["field"] == "follow_up"
    status, body = await gateway.request("POST", url, agent, json={"code": "do-not-call"})
    assert status == 201, body
    assert body["follow_up"] is None and body["notes"] is None
    admin = await gateway.login("admin@demo.test")
    _, page = await gateway.request("GET", "/api/dnc", admin)
    assert {(e["number"], e["source"], e["reason"]) for e in page["data"]} == {
        ("+919845012360", "lead-status", f"lead:{lead['id']} disposition:do-not-call"),
        ("+919845012361", "lead-status", f"lead:{lead['id']} disposition:do-not-call"),
    }
    _, shown = await gateway.request("GET", f"/api/leads/{lead['id']}", agent)
    assert shown["status"] == "do-not-call" and shown["dnc"] is True
    # Nobody is reminded to call a number that may not be called.
    assert shown["next_follow_up_at"] is None
    _, page = await gateway.request("GET", "/api/follow-ups", agent, params={"lead_id": lead["id"]})
    assert [(f["id"], f["status"]) for f in page["data"]] == [(planned["id"], "canceled")]
    assert await count(gateway, LeadNote) == 0


async def test_who_may_disposition_and_what_is_refused(gateway: Gateway) -> None:
    agent1 = await gateway.login("agent1@demo.test")
    agent2 = await gateway.login("agent2@demo.test")
    manager = await gateway.login("manager@demo.test")
    priya = await lead_by_phone(gateway, PRIYA)
    assert priya.id is not None
    call_id = await stored_call(gateway, "agent1@demo.test", priya.id)
    url = f"/api/calls/{call_id}/disposition"

    refusals: list[tuple[str, dict[str, Any], int, str]] = [
        (agent1, {"code": "maybe"}, 400, "code"),
        (agent1, {"code": ""}, 400, "code"),
        (agent1, {"code": "interested", "extra": 1}, 400, "extra"),
        (
            agent1,
            {"code": "callback", "follow_up": {"due_at": "2020-01-01T10:00"}},
            400,
            "follow_up.due_at",
        ),
        (agent1, {"code": "callback", "follow_up": {"due_at": "soon"}}, 400, "follow_up.due_at"),
        (
            agent1,
            {
                "code": "callback",
                "follow_up": {"due_at": local_in_days(1)[0], "timezone": "Mars/Olympus"},
            },
            400,
            "follow_up.timezone",
        ),
        (agent1, {"code": "interested", "lead_id": priya.id + 1}, 409, "lead_id"),
        # Another agent's call is not theirs to see.
        (agent2, {"code": "interested"}, 404, "call_id"),
    ]
    for token, payload, code, field in refusals:
        status, body = await gateway.request("POST", url, token, json=payload)
        assert (status, body["error"]["field"]) == (code, field), (payload, body)
    status, body = await gateway.request("POST", "/api/calls/999999/disposition", agent1, json={})
    assert status == 400  # the body is checked first
    status, body = await gateway.request(
        "POST", "/api/calls/999999/disposition", agent1, json={"code": "interested"}
    )
    assert status == 404 and body["error"]["field"] == "call_id"
    status, body = await gateway.request("PUT", url, agent1, json={"code": "interested"})
    assert status == 404
    assert await count(gateway, Disposition) == 0
    assert await count(gateway, IntegrationEvent, col(IntegrationEvent.type).like("disp%")) == 0

    # The team's manager may record it for the agent.
    status, body = await gateway.request("POST", url, manager, json={"code": "no-answer"})
    assert status == 201, body
    assert body["agent_id"] == await user_id(gateway, "agent1@demo.test")
    async with gateway.app[sessionmaker_key]() as session:
        change = (await session.exec(select(LeadStatusChange))).one()
        assert change.changed_by == await user_id(gateway, "manager@demo.test")


async def test_a_call_without_a_lead_is_attached_by_the_disposition(gateway: Gateway) -> None:
    agent1 = await gateway.login("agent1@demo.test")
    call_id = await stored_call(gateway, "agent1@demo.test", None)
    url = f"/api/calls/{call_id}/disposition"
    status, body = await gateway.request("POST", url, agent1, json={"code": "interested"})
    assert status == 409 and body["error"]["code"] == "no_lead"
    # Another agent's lead cannot be the target.
    rahul = await lead_by_phone(gateway, RAHUL)
    status, body = await gateway.request(
        "POST", url, agent1, json={"code": "interested", "lead_id": rahul.id}
    )
    assert status == 404 and body["error"]["field"] == "lead_id"
    priya = await lead_by_phone(gateway, PRIYA)
    status, body = await gateway.request(
        "POST", url, agent1, json={"code": "interested", "lead_id": priya.id}
    )
    assert status == 201, body
    assert body["lead_id"] == priya.id
    _, call = await gateway.request("GET", f"/api/calls/{call_id}", agent1)
    assert call["lead_id"] == priya.id and call["lead_match"] == "manual"


async def test_the_organizations_own_dispositions_apply(gateway: Gateway) -> None:
    async with gateway.app[sessionmaker_key]() as session:
        org = (await session.exec(select(Organization))).one()
        org.dispositions = [
            {
                "key": "demo-booked",
                "label": "Demo booked",
                "lead_status": "interested",
                "follow_up": True,
            },
            {"key": "left-voicemail", "label": "Left voicemail"},
        ]
        session.add(org)
        await session.commit()
    agent1 = await gateway.login("agent1@demo.test")
    priya = await lead_by_phone(gateway, PRIYA)
    first = await stored_call(gateway, "agent1@demo.test", priya.id)
    second = await stored_call(gateway, "agent1@demo.test", priya.id)
    status, body = await gateway.request(
        "POST", f"/api/calls/{first}/disposition", agent1, json={"code": "interested"}
    )
    assert status == 400 and body["error"]["field"] == "code"
    assert "demo-booked" in body["error"]["message"]
    status, body = await gateway.request(
        "POST", f"/api/calls/{first}/disposition", agent1, json={"code": "left-voicemail"}
    )
    assert status == 201
    # A code without a status leaves the lead's status alone.
    assert (await lead_by_phone(gateway, PRIYA)).status == "new"
    offset_due = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    status, body = await gateway.request(
        "POST",
        f"/api/calls/{second}/disposition",
        agent1,
        json={"code": "demo-booked", "follow_up": {"due_at": offset_due.isoformat()}},
    )
    assert status == 201, body
    assert datetime.fromisoformat(body["follow_up"]["due_at"]) == offset_due
    assert (await lead_by_phone(gateway, PRIYA)).status == "interested"
