"""Merging duplicate leads, lead notes (also during calls), and the status history."""

from datetime import timedelta
from typing import Any

from sqlmodel import col, select

from gateway.keys import sessionmaker_key
from gateway.models import (
    Call,
    Disposition,
    FollowUp,
    IntegrationEvent,
    Lead,
    LeadPhone,
    Organization,
    utcnow,
)
from tests.conftest import Gateway
from tests.integration.test_lead_management import (
    create,
    ended_call_to,
    names,
    patch,
    place_console_call,
)


async def merge(gw: Gateway, token: str, into: int, *ids: int) -> tuple[int, Any]:
    return await gw.request(
        "POST", f"/api/leads/{into}/merge", token, json={"from_lead_ids": list(ids)}
    )


async def note(gw: Gateway, token: str, lead_id: int, **fields: Any) -> tuple[int, Any]:
    return await gw.request("POST", f"/api/leads/{lead_id}/notes", token, json=fields)


async def rows(gw: Gateway, table: Any, lead_id: int) -> list[Any]:
    async with gw.app[sessionmaker_key]() as session:
        found = await session.exec(select(table).where(col(table.lead_id) == lead_id))
        return list(found.all())


async def test_merge_moves_everything_to_the_survivor(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    survivor = await create(
        gateway, admin, phone="98450 31001", tags=["expo"], custom_fields={"size": "S"}
    )
    loser = await create(
        gateway,
        admin,
        name="Lakshmi Rao",
        company="Rao Mills",
        email="lakshmi@rao.test",
        phone="98450 31002",
        alt_phones=["+1 415 555 2671"],
        tags=["hot", "expo"],
        custom_fields={"size": "L", "city": "Surat"},
        consent="withdrawn",
    )
    # The loser's history: a call, a note taken during it, a status change, a disposition
    # and a follow-up.
    await place_console_call(gateway, "+919845031002")
    call = await ended_call_to(gateway, "+919845031002")
    assert call.lead_id == loser["id"]
    status, during = await note(gateway, admin, loser["id"], body="wants a quote", call_id=call.id)
    assert status == 201, during
    assert (await patch(gateway, admin, loser["id"], status="interested"))[0] == 200
    async with gateway.app[sessionmaker_key]() as session:
        row = await session.get(Lead, loser["id"])
        assert row is not None
        org_id = row.org_id
        session.add(
            Disposition(org_id=org_id, lead_id=loser["id"], call_id=call.id, code="interested")
        )
        session.add(
            FollowUp(
                org_id=org_id,
                lead_id=loser["id"],
                due_at=utcnow() + timedelta(days=1),
                timezone="Asia/Kolkata",
            )
        )
        await session.commit()

    status, merged = await merge(gateway, admin, survivor["id"], loser["id"])
    assert status == 200, merged
    assert merged["merged_lead_ids"] == [loser["id"]]
    assert merged["phone"] == "+919845031001"
    assert merged["alt_phones"] == ["+919845031002", "+14155552671"]
    assert merged["tags"] == ["expo", "hot"]
    assert (merged["name"], merged["company"], merged["email"]) == (
        "Lakshmi Rao",
        "Rao Mills",
        "lakshmi@rao.test",
    )
    assert merged["custom_fields"] == {"size": "S", "city": "Surat"}
    assert merged["consent"] == "withdrawn"  # a withdrawal on either record wins
    assert merged["status"] == "new" and merged["merged_into_id"] is None

    # The loser still resolves, pointing at the survivor, but leaves the lists.
    status, gone = await gateway.request("GET", f"/api/leads/{loser['id']}", admin)
    assert status == 200 and gone["merged_into_id"] == survivor["id"]
    assert gone["calls"] == []
    assert await names(gateway, admin, q="Rao") == ["Lakshmi Rao"]
    for number in ("98450 31002", "+1 415 555 2671", "+91 98450 31001"):
        _, page = await gateway.request("GET", "/api/leads", admin, params={"phone": number})
        assert [x["id"] for x in page["data"]] == [survivor["id"]], number

    _, detail = await gateway.request("GET", f"/api/leads/{survivor['id']}", admin)
    assert [c["id"] for c in detail["calls"]] == [call.id]
    assert detail["shared_numbers"] == []
    _, notes = await gateway.request("GET", f"/api/leads/{survivor['id']}/notes", admin)
    assert [(n["id"], n["call_id"]) for n in notes["data"]] == [(during["id"], call.id)]
    _, history = await gateway.request("GET", f"/api/leads/{survivor['id']}/history", admin)
    assert [(h["from"], h["to"]) for h in history["data"]] == [("new", "interested")]
    assert len(await rows(gateway, Disposition, survivor["id"])) == 1
    assert len(await rows(gateway, FollowUp, survivor["id"])) == 1
    assert await rows(gateway, LeadPhone, loser["id"]) == []
    assert len(await rows(gateway, LeadPhone, survivor["id"])) == 3
    for table in (Call, Disposition, FollowUp):
        assert await rows(gateway, table, loser["id"]) == []

    async with gateway.app[sessionmaker_key]() as session:
        events = (
            await session.exec(
                select(IntegrationEvent).where(col(IntegrationEvent.type) == "lead.merged")
            )
        ).all()
    assert [(e.data["lead"]["id"], e.data["merged_lead_ids"]) for e in events] == [
        (survivor["id"], [loser["id"]])
    ]

    # Merging the survivor on: the earlier loser now points at the final lead (one hop).
    final = await create(gateway, admin, name="Final", phone="98450 31009")
    status, _ = await merge(gateway, admin, final["id"], survivor["id"])
    assert status == 200
    _, gone = await gateway.request("GET", f"/api/leads/{loser['id']}", admin)
    assert gone["merged_into_id"] == final["id"]


async def test_bad_merges_change_nothing(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    a = await create(gateway, admin, name="A", phone="98450 32001")
    b = await create(gateway, admin, name="B", phone="98450 32002")
    c = await create(gateway, admin, name="C", phone="98450 32003")
    assert (await merge(gateway, admin, a["id"], b["id"]))[0] == 200
    async with gateway.app[sessionmaker_key]() as session:
        other_org = Organization(name="Elsewhere")
        session.add(other_org)
        await session.flush()
        assert other_org.id is not None
        foreign = Lead(org_id=other_org.id, name="Theirs", phone="+919845032009")
        session.add(foreign)
        await session.commit()
        foreign_id = foreign.id
    assert foreign_id is not None

    cases: list[tuple[int, list[int], int, str, str]] = [
        (c["id"], [c["id"]], 400, "from_lead_ids.0", "self_merge"),
        (c["id"], [b["id"]], 409, "from_lead_ids.0", "already_merged"),
        (b["id"], [c["id"]], 409, "lead_id", "already_merged"),
        # The first is valid: all or nothing means it is not merged either.
        (a["id"], [c["id"], b["id"]], 409, "from_lead_ids.1", "already_merged"),
        (a["id"], [c["id"], foreign_id], 404, "from_lead_ids.1", "not_found"),
        (a["id"], [999999], 404, "from_lead_ids.0", "not_found"),
        (foreign_id, [c["id"]], 404, "lead_id", "not_found"),
        (a["id"], [c["id"], c["id"]], 400, "from_lead_ids", "invalid"),
        (a["id"], [], 400, "from_lead_ids", "invalid"),
    ]
    for into, ids, status, field, code in cases:
        got, body = await merge(gateway, admin, into, *ids)
        assert (got, body["error"]["field"], body["error"]["code"]) == (status, field, code), (
            into,
            ids,
        )
    _, still = await gateway.request("GET", f"/api/leads/{c['id']}", admin)
    assert still["merged_into_id"] is None and still["phone"] == "+919845032003"
    _, survivor = await gateway.request("GET", f"/api/leads/{a['id']}", admin)
    assert survivor["alt_phones"] == ["+919845032002"]

    agent = await gateway.login("agent1@demo.test")
    status, body = await merge(gateway, agent, a["id"], c["id"])
    assert status == 403 and body["error"]["code"] == "forbidden"
    # A manager merges within the team only; the admin's leads here belong to no team.
    manager = await gateway.login("manager@demo.test")
    status, body = await merge(gateway, manager, a["id"], c["id"])
    assert status == 404 and body["error"]["field"] == "lead_id"
    # A merged lead takes no edits or notes: they belong on the survivor.
    status, body = await patch(gateway, admin, b["id"], name="late")
    assert status == 409 and body["error"]["merged_into_id"] == a["id"]
    status, body = await note(gateway, admin, b["id"], body="late")
    assert status == 409 and body["error"]["code"] == "lead_merged"


async def test_notes_newest_first_with_their_author_and_call(gateway: Gateway) -> None:
    agent1 = await gateway.login("agent1@demo.test")
    _, me = await gateway.request("GET", "/api/auth/me", agent1)
    lead = await create(gateway, agent1, name="Noted", phone="98450 33001")
    other = await create(gateway, agent1, name="Other", phone="98450 33002")
    await place_console_call(gateway, "+919845033002")
    others_call = await ended_call_to(gateway, "+919845033002")

    bodies = ["first", "second", "third"]
    for text in bodies:
        status, created = await note(gateway, agent1, lead["id"], body=f"  {text}  ")
        assert status == 201, created
        assert (created["body"], created["author_name"]) == (text, me["name"])
    status, page = await gateway.request(
        "GET", f"/api/leads/{lead['id']}/notes", agent1, params={"limit": "2"}
    )
    assert status == 200
    assert [n["body"] for n in page["data"]] == ["third", "second"]
    assert {(n["author_id"], n["author_name"]) for n in page["data"]} == {(me["id"], me["name"])}
    _, rest = await gateway.request(
        "GET",
        f"/api/leads/{lead['id']}/notes",
        agent1,
        params={"limit": "2", "cursor": page["next_cursor"]},
    )
    assert [n["body"] for n in rest["data"]] == ["first"] and rest["next_cursor"] is None

    bad: list[tuple[dict[str, Any], str]] = [
        ({"body": "x", "call_id": others_call.id}, "call_id"),  # another lead's call
        ({"body": "x", "call_id": 999999}, "call_id"),
        ({"body": "   "}, "body"),
        ({"text": "x"}, "body"),
    ]
    for fields, field in bad:
        status, body = await note(gateway, agent1, lead["id"], **fields)
        assert status == 400 and body["error"]["field"] == field, fields
    status, ok = await note(gateway, agent1, other["id"], body="during", call_id=others_call.id)
    assert status == 201 and ok["call_id"] == others_call.id

    agent2 = await gateway.login("agent2@demo.test")
    requests: list[tuple[str, dict[str, Any]]] = [("GET", {}), ("POST", {"json": {"body": "x"}})]
    for method, kwargs in requests:
        status, body = await gateway.request(
            method, f"/api/leads/{lead['id']}/notes", agent2, **kwargs
        )
        assert status == 404, method
    status, _ = await gateway.request("GET", f"/api/leads/{lead['id']}/history", agent2)
    assert status == 404
    _, page = await gateway.request("GET", f"/api/leads/{lead['id']}/notes", agent1)
    assert len(page["data"]) == 3
