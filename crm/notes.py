"""A lead's notes (during or after calls) and its status history, as the API shows them."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.leads import lock_lead, visible_lead
from gateway.auth import Principal
from gateway.errors import InvalidInput
from gateway.models import Call, LeadNote, LeadStatusChange, User, utcnow
from gateway.pagination import encode_cursor


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    body: str = Field(min_length=1, max_length=10_000)
    call_id: int | None = None


def note_to_json(note: LeadNote, author_name: str | None) -> dict[str, Any]:
    return {
        "id": note.id,
        "lead_id": note.lead_id,
        "call_id": note.call_id,
        "author_id": note.author_id,
        "author_name": author_name,
        "body": note.body,
        "created_at": note.created_at.isoformat(),
    }


async def add_note(
    session: AsyncSession, principal: Principal, lead_id: int, data: NoteCreate
) -> LeadNote:
    """Add a note to a visible lead; with `call_id`, the call must be this lead's.

    The caller commits.
    """
    lead = await lock_lead(session, principal, lead_id)
    if data.call_id is not None:
        call = await session.get(Call, data.call_id)
        if call is None or call.org_id != lead.org_id:
            raise InvalidInput("no such call", field="call_id")
        if call.lead_id != lead.id:
            raise InvalidInput("the call is not with this lead", field="call_id")
    assert lead.id is not None
    note = LeadNote(
        org_id=lead.org_id,
        lead_id=lead.id,
        call_id=data.call_id,
        author_id=principal.user_id,
        body=data.body,
        created_at=utcnow(),
    )
    session.add(note)
    await session.flush()
    return note


async def list_notes(
    session: AsyncSession,
    principal: Principal,
    lead_id: int,
    *,
    limit: int,
    before_id: int | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first (ids follow creation order, also across merged leads)."""
    await visible_lead(session, principal, lead_id)
    stmt = (
        select(LeadNote, User.name)
        .join(User, col(User.id) == LeadNote.author_id, isouter=True)
        .where(col(LeadNote.lead_id) == lead_id)
    )
    if before_id is not None:
        stmt = stmt.where(col(LeadNote.id) < before_id)
    rows = list((await session.exec(stmt.order_by(col(LeadNote.id).desc()).limit(limit + 1))).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        assert rows[-1][0].id is not None
        next_cursor = encode_cursor(rows[-1][0].id)
    return [note_to_json(note, name) for note, name in rows], next_cursor


async def status_history(
    session: AsyncSession,
    principal: Principal,
    lead_id: int,
    *,
    limit: int,
    before_id: int | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """The lead's status changes, newest first, with who made each and why."""
    await visible_lead(session, principal, lead_id)
    stmt = (
        select(LeadStatusChange, User.name)
        .join(User, col(User.id) == LeadStatusChange.changed_by, isouter=True)
        .where(col(LeadStatusChange.lead_id) == lead_id)
    )
    if before_id is not None:
        stmt = stmt.where(col(LeadStatusChange.id) < before_id)
    rows = list(
        (await session.exec(stmt.order_by(col(LeadStatusChange.id).desc()).limit(limit + 1))).all()
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        assert rows[-1][0].id is not None
        next_cursor = encode_cursor(rows[-1][0].id)
    data = [
        {
            "id": change.id,
            "from": change.from_status,
            "to": change.to_status,
            "by": change.changed_by,
            "by_name": name,
            "reason": change.reason,
            "at": change.created_at.isoformat(),
        }
        for change, name in rows
    ]
    return data, next_cursor
