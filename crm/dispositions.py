"""Dispositions: what an agent records after a call, and everything it sets in motion."""

import logging
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm import orgconfig
from crm.calls import visible_call
from crm.dnc import list_lead_numbers
from crm.followups import (
    DueTime,
    FollowUpIn,
    add_follow_up,
    cancel_open_follow_ups,
    due_time_for,
    follow_up_to_json,
    latest_follow_up_for_call,
    open_follow_up_for_call,
    refresh_next_follow_up,
    reschedule,
    zone_or_none,
)
from crm.history import change_status
from crm.leads import visible_lead
from crm.outbox import emit
from gateway.auth import Principal
from gateway.errors import Conflict, InvalidInput, NotFound
from gateway.models import (
    Call,
    Disposition,
    FollowUp,
    Lead,
    LeadNote,
    Organization,
    utcnow,
)
from gateway.settings import Settings

log = logging.getLogger(__name__)
# Merges chain rarely; this bounds a corrupt (cyclic) chain.
MAX_MERGE_HOPS = 10


class DispositionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=32)
    notes: str | None = Field(default=None, max_length=10_000)
    follow_up: FollowUpIn | None = None
    # Attaches a call that matched no lead (an unknown caller, say) to this lead.
    lead_id: int | None = None


def disposition_to_json(d: Disposition, follow_up: FollowUp | None) -> dict[str, Any]:
    return {
        "id": d.id,
        "call_id": d.call_id,
        "lead_id": d.lead_id,
        "agent_id": d.agent_id,
        "code": d.code,
        "notes": d.notes,
        "follow_up": follow_up_to_json(follow_up) if follow_up is not None else None,
        "created_at": d.created_at.isoformat(),
    }


# --- data access (never commits) -------------------------------------------------------------


async def disposition_of_call(session: AsyncSession, call_id: int) -> Disposition | None:
    return (
        await session.exec(select(Disposition).where(col(Disposition.call_id) == call_id))
    ).first()


async def disposition_json(session: AsyncSession, d: Disposition) -> dict[str, Any]:
    fu = await latest_follow_up_for_call(session, d.call_id) if d.call_id else None
    return disposition_to_json(d, fu)


async def _organization(session: AsyncSession, org_id: int) -> Organization:
    org = await session.get(Organization, org_id)
    assert org is not None
    return org


def _entry(org: Organization, code: str) -> dict[str, Any]:
    entries = orgconfig.dispositions(org)
    entry = orgconfig.find(entries, code)
    if entry is None:
        keys = ", ".join(x["key"] for x in entries)
        raise InvalidInput(f"unknown disposition; one of {keys}", field="code")
    return entry


def _lists_dnc(org: Organization, entry: dict[str, Any]) -> bool:
    """Whether the disposition puts the lead's numbers on the do-not-call list: marked `dnc`,
    or moving the lead to a status that does (as setting that status by hand would)."""
    status = entry.get("lead_status")
    return bool(entry.get("dnc")) or (bool(status) and status in orgconfig.dnc_statuses(org))


async def _surviving(session: AsyncSession, lead: Lead) -> Lead:
    """The lead a merged lead lives on in (dispositions belong to the surviving record)."""
    for _ in range(MAX_MERGE_HOPS):
        if lead.merged_into_id is None:
            return lead
        winner = await session.get(Lead, lead.merged_into_id)
        if winner is None:
            return lead
        lead = winner
    return lead


async def _lead_of_call(
    session: AsyncSession, principal: Principal, call: Call, lead_id: int | None
) -> Lead:
    if call.lead_id is not None:
        if lead_id is not None and lead_id != call.lead_id:
            raise Conflict(
                f"the call belongs to lead {call.lead_id}", field="lead_id", code="lead_mismatch"
            )
        lead = await session.get(Lead, call.lead_id)
        assert lead is not None
        return await _surviving(session, lead)
    if lead_id is None:
        raise Conflict(
            "the call has no lead; give lead_id to attach it to one",
            field="lead_id",
            code="no_lead",
        )
    lead = await _surviving(session, await visible_lead(session, principal, lead_id))
    call.lead_id = lead.id
    call.lead_match = "manual"
    call.updated_at = utcnow()
    session.add(call)
    return lead


async def _apply_code(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    org: Organization,
    lead: Lead,
    entry: dict[str, Any],
) -> None:
    """Move the lead's status and list its numbers, as the disposition says."""
    code = entry["key"]
    to_status = entry.get("lead_status")
    if to_status:
        if to_status in orgconfig.status_keys(org):
            change_status(
                session, lead, to_status, changed_by=principal.user_id, reason=f"disposition:{code}"
            )
        else:
            # A configuration mistake must not keep agents from wrapping up their calls.
            log.warning("disposition %s maps to unknown lead status %s", code, to_status)
    if _lists_dnc(org, entry):
        await list_lead_numbers(
            session,
            settings,
            lead,
            reason=f"lead:{lead.id} disposition:{code}",
            created_by=principal.user_id,
        )
        # Reminders to call a number that may no longer be called would only lead to refusals.
        await cancel_open_follow_ups(session, lead)


async def _due(
    session: AsyncSession,
    lead: Lead,
    data: DispositionIn,
    *,
    now: datetime,
    required: bool,
    dnc: bool,
    default_zone: str | None = None,
) -> DueTime | None:
    if required and data.follow_up is None:
        raise InvalidInput(f"disposition {data.code} needs a follow-up", field="follow_up")
    if data.follow_up is None:
        return None
    if dnc:
        raise InvalidInput(
            f"disposition {data.code} puts the lead on the do-not-call list; it takes no follow-up",
            field="follow_up",
        )
    return await due_time_for(
        session,
        lead,
        data.follow_up,
        now=now,
        field_prefix="follow_up.",
        default_zone=default_zone,
    )


def _event_data(d: Disposition, follow_up: FollowUp | None) -> dict[str, Any]:
    body = disposition_to_json(d, follow_up)
    body["disposition_id"] = d.id
    return body


# --- services (the caller commits) -----------------------------------------------------------


async def record_disposition(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    call_id: int,
    data: DispositionIn,
) -> Disposition:
    """Record the call's one disposition with all its effects; the caller commits.

    Everything (the disposition, its note, the lead's status, do-not-call entries, the
    follow-up, the integration event) is added to `session`, so a single commit makes it
    all or nothing, and the dialer's wrap-up can end the agent's wrap-up in the same one.
    """
    call = await visible_call(session, principal, call_id)
    org = await _organization(session, principal.org_id)
    entry = _entry(org, data.code)
    if await disposition_of_call(session, call_id) is not None:
        raise Conflict(
            "this call already has a disposition; amend it with PUT",
            field="call_id",
            code="already_recorded",
        )
    lead = await _lead_of_call(session, principal, call, data.lead_id)
    now = utcnow()
    due = await _due(
        session,
        lead,
        data,
        now=now,
        required=bool(entry.get("follow_up")),
        dnc=_lists_dnc(org, entry),
    )
    assert lead.id is not None
    notes = data.notes or None
    disposition = Disposition(
        org_id=principal.org_id,
        lead_id=lead.id,
        call_id=call_id,
        agent_id=call.agent_id or principal.user_id,
        code=data.code,
        notes=notes,
        created_at=now,
    )
    session.add(disposition)
    try:
        await session.flush()
    except IntegrityError:
        # A concurrent request recorded it first (the unique call_id said so).
        raise Conflict(
            "this call already has a disposition", field="call_id", code="already_recorded"
        ) from None
    if notes:
        session.add(
            LeadNote(
                org_id=principal.org_id,
                lead_id=lead.id,
                call_id=call_id,
                author_id=principal.user_id,
                body=notes,
                created_at=now,
            )
        )
    await _apply_code(session, settings, principal, org, lead, entry)
    follow_up = None
    if due is not None:
        assert data.follow_up is not None
        follow_up = add_follow_up(
            session,
            principal,
            lead,
            due,
            agent_id=disposition.agent_id or principal.user_id,
            note=data.follow_up.note,
            call_id=call_id,
        )
        await refresh_next_follow_up(session, lead)
    await session.flush()
    emit(
        session,
        org_id=principal.org_id,
        type="disposition.recorded",
        data=_event_data(disposition, follow_up),
    )
    log.info("call %s dispositioned %s by user %s", call_id, data.code, principal.user_id)
    return disposition


async def amend_disposition(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    call_id: int,
    data: DispositionIn,
) -> Disposition:
    """Change a disposition on the day it was recorded (the organization's day); caller commits.

    A changed code applies the new code's effects (status, do-not-call); nothing is undone,
    since what the first code did may already have been acted on. A follow-up reschedules
    the call's open follow-up, or adds one.
    """
    await visible_call(session, principal, call_id)
    disposition = await disposition_of_call(session, call_id)
    if disposition is None:
        raise NotFound("no disposition recorded for this call", field="call_id")
    org = await _organization(session, principal.org_id)
    zone = zone_or_none(org.timezone)
    now = utcnow()
    if disposition.created_at.astimezone(zone).date() != now.astimezone(zone).date():
        raise Conflict(
            "a disposition can be amended only on the day it was recorded",
            field="call_id",
            code="amend_window_closed",
        )
    if data.lead_id is not None and data.lead_id != disposition.lead_id:
        raise Conflict(
            f"the disposition belongs to lead {disposition.lead_id}",
            field="lead_id",
            code="lead_mismatch",
        )
    entry = _entry(org, data.code)
    lead = await session.get(Lead, disposition.lead_id)
    assert lead is not None and lead.id is not None
    open_fu = await open_follow_up_for_call(session, call_id)
    due = await _due(
        session,
        lead,
        data,
        now=now,
        # The call's open follow-up still satisfies a code that asks for one.
        required=bool(entry.get("follow_up")) and open_fu is None,
        dnc=_lists_dnc(org, entry),
        default_zone=open_fu.timezone if open_fu is not None else None,
    )

    notes = data.notes or None
    if notes != disposition.notes:
        await _replace_note(session, principal, disposition, lead.id, notes, now=now)
    code_changed = data.code != disposition.code
    disposition.code = data.code
    disposition.notes = notes
    session.add(disposition)
    if code_changed:
        await _apply_code(session, settings, principal, org, lead, entry)
    follow_up = open_fu
    if due is not None:
        assert data.follow_up is not None
        if open_fu is not None:
            reschedule(open_fu, due, data.follow_up.note)
            session.add(open_fu)
        else:
            follow_up = add_follow_up(
                session,
                principal,
                lead,
                due,
                agent_id=disposition.agent_id or principal.user_id,
                note=data.follow_up.note,
                call_id=call_id,
            )
        await refresh_next_follow_up(session, lead)
    await session.flush()
    emit(
        session,
        org_id=principal.org_id,
        type="disposition.updated",
        data=_event_data(
            disposition, follow_up or await latest_follow_up_for_call(session, call_id)
        ),
    )
    return disposition


async def _replace_note(
    session: AsyncSession,
    principal: Principal,
    disposition: Disposition,
    lead_id: int,
    notes: str | None,
    *,
    now: datetime,
) -> None:
    """Keep the lead's note of this disposition in step with its notes."""
    note = None
    if disposition.notes:
        note = (
            await session.exec(
                select(LeadNote)
                .where(
                    col(LeadNote.lead_id) == lead_id,
                    col(LeadNote.call_id) == disposition.call_id,
                    col(LeadNote.body) == disposition.notes,
                )
                .order_by(col(LeadNote.id))
            )
        ).first()
    if note is not None and notes is None:
        await session.delete(note)
    elif note is not None:
        assert notes is not None
        note.body = notes
        session.add(note)
    elif notes is not None:
        session.add(
            LeadNote(
                org_id=principal.org_id,
                lead_id=lead_id,
                call_id=disposition.call_id,
                author_id=principal.user_id,
                body=notes,
                created_at=now,
            )
        )
