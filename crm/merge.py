"""Merging duplicate leads into one survivor, in one transaction, all or nothing."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.dnc import list_lead_numbers, listed_keys
from crm.followups import cancel_open_follow_ups
from crm.leads import add_phone_keys, lead_to_json, link_resolved_calls, visible_lead
from crm.orgconfig import dnc_statuses
from crm.outbox import emit
from gateway.auth import Principal
from gateway.errors import Conflict, Forbidden, InvalidInput, NotFound
from gateway.models import (
    Call,
    Consent,
    Disposition,
    FollowUp,
    Lead,
    LeadNote,
    LeadPhone,
    LeadStatusChange,
    Organization,
    Role,
    utcnow,
)
from gateway.phones import lookup_key
from gateway.settings import Settings

# The lead's own history: every row of these follows the lead into its survivor.
MOVED_WITH_LEAD: tuple[Any, ...] = (Call, LeadNote, Disposition, FollowUp, LeadStatusChange)
# Filled on the survivor from the losers (in the order given) when the survivor has none.
FILLED_FIELDS = ("company", "email", "address", "source", "language")


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_lead_ids: list[int] = Field(min_length=1, max_length=50)


async def _lock_all(
    session: AsyncSession, principal: Principal, survivor_id: int, ids: list[int]
) -> tuple[Lead, list[Lead]]:
    """Check every lead, then lock them all in id order (two crossing merges cannot deadlock)."""
    if len(set(ids)) != len(ids):
        raise InvalidInput("a lead is listed twice", field="from_lead_ids")
    await visible_lead(session, principal, survivor_id)
    for i, lead_id in enumerate(ids):
        field = f"from_lead_ids.{i}"
        if lead_id == survivor_id:
            raise InvalidInput(
                "a lead cannot be merged into itself", field=field, code="self_merge"
            )
        try:
            await visible_lead(session, principal, lead_id)
        except NotFound:
            raise NotFound("no such lead", field=field) from None
    rows = await session.exec(
        select(Lead)
        .where(col(Lead.id).in_([survivor_id, *ids]))
        .order_by(col(Lead.id))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    by_id = {lead.id: lead for lead in rows.all()}
    fields = [("lead_id", survivor_id)] + [(f"from_lead_ids.{i}", x) for i, x in enumerate(ids)]
    for field, lead_id in fields:
        merged_into = by_id[lead_id].merged_into_id
        if merged_into is not None:
            raise Conflict(
                f"lead {lead_id} was already merged into lead {merged_into}",
                field=field,
                code="already_merged",
                merged_into_id=merged_into,
            )
    return by_id[survivor_id], [by_id[x] for x in ids]


def _fill(survivor: Lead, losers: list[Lead]) -> None:
    for loser in losers:
        if not survivor.name:
            survivor.name = loser.name
        for name in FILLED_FIELDS:
            if getattr(survivor, name) in (None, "") and getattr(loser, name) not in (None, ""):
                setattr(survivor, name, getattr(loser, name))
        survivor.tags = survivor.tags + [t for t in loser.tags if t not in survivor.tags]
        survivor.custom_fields = {**loser.custom_fields, **survivor.custom_fields}
        survivor.attempts += loser.attempts
        if loser.last_called_at and (
            survivor.last_called_at is None or loser.last_called_at > survivor.last_called_at
        ):
            survivor.last_called_at = loser.last_called_at
        if loser.next_follow_up_at and (
            survivor.next_follow_up_at is None
            or loser.next_follow_up_at < survivor.next_follow_up_at
        ):
            survivor.next_follow_up_at = loser.next_follow_up_at
        # A withdrawal anywhere wins: the person asked not to be called, whichever record
        # the request landed on.
        withdrawn = loser.consent == Consent.WITHDRAWN != survivor.consent
        if withdrawn or (survivor.consent is None and loser.consent is not None):
            survivor.consent, survivor.consent_at = loser.consent, loser.consent_at
        numbers = [survivor.phone, *survivor.alt_phones]
        survivor.alt_phones = survivor.alt_phones + [
            n for n in dict.fromkeys([loser.phone, *loser.alt_phones]) if n not in numbers
        ]


async def _list_if_not_to_be_called(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    survivor: Lead,
    losers: list[Lead],
) -> None:
    """The survivor holds every number now: if any of the merged records was not to be called,
    none of them is, by the rule a do-not-call status or disposition follows.

    That is when the survivor's status is a do-not-call one, when a loser's was (whichever
    record the request landed on, as with consent), or when any of the numbers is already on
    the list. All the survivor's numbers are listed (source `lead-status`) and its open
    follow-ups canceled.
    """
    org = await session.get(Organization, survivor.org_id)
    assert org is not None
    statuses = dnc_statuses(org)
    numbers = [n for n in dict.fromkeys([survivor.phone, *survivor.alt_phones]) if n]
    if not numbers:
        return
    why = None
    if survivor.status in statuses:
        why = f"status:{survivor.status}"
    else:
        loser = next((x for x in losers if x.status in statuses), None)
        if loser is not None:
            why = f"merged lead:{loser.id} status:{loser.status}"
        else:
            keys = [lookup_key(settings.lookup_key_secret, n) for n in numbers]
            if await listed_keys(session, org_id=survivor.org_id, keys=keys):
                why = "merged with a number on the do-not-call list"
    if why is None:
        return
    await list_lead_numbers(
        session,
        settings,
        survivor,
        reason=f"lead:{survivor.id} {why}",
        created_by=principal.user_id,
        numbers=numbers,
    )
    await cancel_open_follow_ups(session, survivor)


async def merge_leads(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    survivor_id: int,
    data: MergeRequest,
) -> tuple[Lead, list[int]]:
    """Fold the losers into the survivor; the caller commits (so a failure changes nothing)."""
    if principal.role == Role.AGENT:
        raise Forbidden("only admins and managers merge leads")
    survivor, losers = await _lock_all(session, principal, survivor_id, data.from_lead_ids)
    loser_ids = [x.id for x in losers if x.id is not None]
    assert survivor.id is not None
    for table in MOVED_WITH_LEAD:
        await session.exec(
            update(table)
            .where(col(table.lead_id).in_(loser_ids))
            .values(lead_id=survivor.id)
            .execution_options(synchronize_session=False)
        )
    # Leads merged into a loser earlier now point at the survivor: one hop resolves any link.
    await session.exec(
        update(Lead)
        .where(col(Lead.merged_into_id).in_(loser_ids))
        .values(merged_into_id=survivor.id)
        .execution_options(synchronize_session=False)
    )
    _fill(survivor, losers)
    now = utcnow()
    for loser in losers:
        loser.merged_into_id = survivor.id
        loser.updated_at = now
        session.add(loser)
    # The survivor now holds every number: re-key from scratch (this also drops the losers').
    await session.exec(
        delete(LeadPhone).where(col(LeadPhone.lead_id).in_([survivor.id, *loser_ids]))
    )
    await add_phone_keys(session, settings, survivor)
    # Calls left unattached because their number was on several of these leads now have one.
    await link_resolved_calls(session, settings, survivor)
    await _list_if_not_to_be_called(session, settings, principal, survivor, losers)
    survivor.updated_at = now
    session.add(survivor)
    await session.flush()
    emit(
        session,
        org_id=survivor.org_id,
        type="lead.merged",
        data={"lead": lead_to_json(survivor), "merged_lead_ids": loser_ids},
    )
    return survivor, loser_ids
