"""Calls as the API shows them: JSON shape, detail with legs and timeline, filtered lists."""

from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access import call_scope
from gateway.auth import Principal
from gateway.errors import InvalidInput, NotFound
from gateway.models import Call, CallEventRecord, CallLeg, CallStatus
from gateway.pagination import encode_cursor


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def call_update_json(call: Call) -> dict[str, Any]:
    """The `call_updated` payload."""
    return {
        "call_id": call.id,
        "lead_id": call.lead_id,
        "agent_id": call.agent_id,
        "direction": call.direction,
        "status": call.status,
        "outcome": call.outcome,
        "started_at": _iso(call.started_at),
        "answered_at": _iso(call.answered_at),
        "ended_at": _iso(call.ended_at),
        "duration_s": call.duration_s,
        "end_reason": call.end_reason,
        "reconciled": call.reconciled_at is not None,
    }


def leg_to_json(leg: CallLeg) -> dict[str, Any]:
    return {
        "role": leg.role,
        "carrier_leg_id": leg.carrier_leg_id,
        "number": leg.number,
        "status": leg.status,
        "outcome": leg.outcome,
        "started_at": _iso(leg.started_at),
        "answered_at": _iso(leg.answered_at),
        "ended_at": _iso(leg.ended_at),
        "duration_s": leg.duration_s,
    }


def call_to_json(call: Call, legs: list[CallLeg] | None = None) -> dict[str, Any]:
    body = call_update_json(call)
    body.update(
        id=call.id,
        carrier=call.carrier,
        carrier_account_id=call.account_id,
        carrier_call_id=call.carrier_call_id,
        from_number=call.from_number,
        to_number=call.to_number,
        team_id=call.team_id,
        lead_match=call.lead_match,
        recording_url=call.recording_url,
        created_at=_iso(call.created_at),
        legs=[leg_to_json(leg) for leg in sorted(legs or [], key=lambda x: x.role)],
    )
    return body


def event_to_json(event: CallEventRecord) -> dict[str, Any]:
    return {
        "id": event.id,
        "kind": event.kind,
        "leg": event.leg_role,
        "carrier_status": event.carrier_status,
        "status": event.status,
        "outcome": event.outcome,
        "disposition": event.disposition,
        "occurred_at": _iso(event.occurred_at),
        "received_at": _iso(event.received_at),
    }


async def legs_of(session: AsyncSession, call_ids: list[int]) -> dict[int, list[CallLeg]]:
    if not call_ids:
        return {}
    legs = (await session.exec(select(CallLeg).where(col(CallLeg.call_id).in_(call_ids)))).all()
    grouped: dict[int, list[CallLeg]] = {}
    for leg in legs:
        grouped.setdefault(leg.call_id, []).append(leg)
    return grouped


async def visible_call(session: AsyncSession, principal: Principal, call_id: int) -> Call:
    call = (
        await session.exec(select(Call).where(col(Call.id) == call_id, call_scope(principal)))
    ).first()
    if call is None:
        raise NotFound("no such call", field="call_id")
    return call


async def call_detail(session: AsyncSession, principal: Principal, call_id: int) -> dict[str, Any]:
    call = await visible_call(session, principal, call_id)
    legs = await legs_of(session, [call_id])
    events = (
        await session.exec(
            select(CallEventRecord)
            .where(col(CallEventRecord.call_id) == call_id)
            .order_by(col(CallEventRecord.received_at), col(CallEventRecord.id))
        )
    ).all()
    body = call_to_json(call, legs.get(call_id, []))
    body["events"] = [event_to_json(e) for e in events]
    return body


def parse_time(raw: str | None, field: str) -> datetime | None:
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput("must be an ISO 8601 date-time", field=field) from None
    if value.tzinfo is None:
        raise InvalidInput("must carry a time zone offset (e.g. Z)", field=field)
    return value


async def list_calls(
    session: AsyncSession,
    principal: Principal,
    *,
    lead_id: int | None = None,
    agent_id: int | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int,
    before_id: int | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    stmt = select(Call).where(call_scope(principal))
    if lead_id is not None:
        stmt = stmt.where(col(Call.lead_id) == lead_id)
    if agent_id is not None:
        stmt = stmt.where(col(Call.agent_id) == agent_id)
    if status:
        if status not in set(CallStatus):
            raise InvalidInput(f"must be one of {', '.join(CallStatus)}", field="status")
        stmt = stmt.where(col(Call.status) == status)
    if since is not None:
        stmt = stmt.where(col(Call.created_at) >= since)
    if until is not None:
        stmt = stmt.where(col(Call.created_at) < until)
    if before_id is not None:
        stmt = stmt.where(col(Call.id) < before_id)
    rows = list((await session.exec(stmt.order_by(col(Call.id).desc()).limit(limit + 1))).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        assert rows[-1].id is not None
        next_cursor = encode_cursor(rows[-1].id)
    legs = await legs_of(session, [r.id for r in rows if r.id is not None])
    return [call_to_json(r, legs.get(r.id or 0, [])) for r in rows], next_cursor
