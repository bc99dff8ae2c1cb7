"""Apply normalized carrier events to calls: dedupe, one state machine, legs, lead attachment."""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.assignment.service import assign_to, auto_assign
from crm.leads import add_phone_keys, emit_lead_created
from crm.numbers import carrier_number_internal, leads_with_key, users_with_keys
from crm.outbox import call_ended
from dialer.routing import choose_agent
from gateway import callstate
from gateway.carriers.base import CallEvent, VoiceInstructions
from gateway.models import (
    Call,
    CallEventRecord,
    CallLeg,
    CallOutcome,
    CallStatus,
    CarrierAccount,
    Direction,
    Lead,
    LeadAssignment,
    LegRole,
    Organization,
    Role,
    User,
    utcnow,
)
from gateway.phones import lookup_key, try_e164
from gateway.settings import Settings

log = logging.getLogger(__name__)


class CallMismatch(Exception):
    """The signed call id of the callback URL and the carrier's call id disagree."""


@dataclass
class ApplyResult:
    changed: dict[int, Call] = field(default_factory=dict)
    # Inbound calls that ended unanswered here: their owners are alerted after the commit.
    missed: list[Call] = field(default_factory=list)
    duplicates: int = 0
    voice: VoiceInstructions | None = None


async def _find_call(
    session: AsyncSession, account: CarrierAccount, event: CallEvent
) -> Call | None:
    if event.local_call_id is not None:
        call = await session.get(Call, event.local_call_id)
        if call is not None and call.account_id == account.id:
            return call
    for carrier_id in (event.parent_call_id, event.carrier_call_id):
        if not carrier_id:
            continue
        call = (
            await session.exec(
                select(Call).where(
                    col(Call.account_id) == account.id, col(Call.carrier_call_id) == carrier_id
                )
            )
        ).first()
        if call is not None:
            return call
        leg = (
            await session.exec(
                select(CallLeg)
                .join(Call, col(Call.id) == CallLeg.call_id)
                .where(
                    col(Call.account_id) == account.id, col(CallLeg.carrier_leg_id) == carrier_id
                )
            )
        ).first()
        if leg is not None:
            return await session.get(Call, leg.call_id)
    return None


Locked = tuple[Call, dict[str, CallLeg]]


async def _lock_where(session: AsyncSession, *where: Any) -> Locked | None:
    """Take the write lock of the call matching `where`, then read it and its legs fresh.

    A carrier's callbacks for one call are concurrent requests: without the lock two
    transactions read the same state and the later commit overwrites the earlier one's
    transition (a lost `completed`). A no-op UPDATE locks the row on PostgreSQL and takes
    SQLite's write lock, where SELECT ... FOR UPDATE does nothing; the lock holds to commit.
    Locking first also finds the call, so it is never read before its lock.
    """
    locked = await session.exec(
        update(Call)
        .where(*where)
        .values(updated_at=Call.updated_at)
        .execution_options(synchronize_session=False)
    )
    if locked.rowcount == 0:
        return None
    # The call with its legs in one read (one leg per role at most: uq_call_leg_role).
    rows = (
        await session.exec(
            select(Call, CallLeg)
            .outerjoin(CallLeg, col(CallLeg.call_id) == Call.id)
            .where(*where)
            .order_by(col(Call.id))
            .execution_options(populate_existing=True)
        )
    ).all()
    if not rows:
        return None
    call = rows[0][0]
    return call, {leg.role: leg for found, leg in rows if leg is not None and found is call}


async def _find_and_lock_call(
    session: AsyncSession, account: CarrierAccount, event: CallEvent
) -> Locked | None:
    """`_find_call`, returning the call locked and read after its lock (`_lock_where`)."""
    if event.local_call_id is not None:
        found = await _lock_where(
            session, col(Call.id) == event.local_call_id, col(Call.account_id) == account.id
        )
        if found is not None:
            return found
    for carrier_id in (event.parent_call_id, event.carrier_call_id):
        if not carrier_id:
            continue
        found = await _lock_where(
            session, col(Call.account_id) == account.id, col(Call.carrier_call_id) == carrier_id
        )
        if found is not None:
            return found
        leg = (
            await session.exec(
                select(CallLeg)
                .join(Call, col(Call.id) == CallLeg.call_id)
                .where(
                    col(Call.account_id) == account.id, col(CallLeg.carrier_leg_id) == carrier_id
                )
            )
        ).first()
        if leg is not None:
            return await _lock_where(session, col(Call.id) == leg.call_id)
    return None


async def _new_call(
    session: AsyncSession,
    settings: Settings,
    account: CarrierAccount,
    event: CallEvent,
    *,
    region: str | None = None,
) -> Call:
    """A call Dialgate did not start (inbound, or placed from the carrier's console).

    `region`: the organization's default region when the caller already read it.
    """
    if region is None:
        org = await session.get(Organization, account.org_id)
        region = org.default_region if org else settings.default_region
    direction = event.direction or (
        Direction.INBOUND if event.kind == "voice" else Direction.OUTBOUND
    )
    from_e164 = try_e164(event.from_number, region)
    to_e164 = try_e164(event.to_number, region)
    counterpart, our_side = (
        (from_e164, to_e164) if direction == Direction.INBOUND else (to_e164, from_e164)
    )
    call = Call(
        org_id=account.org_id,
        account_id=account.id,
        carrier=account.carrier,
        carrier_call_id=event.parent_call_id or event.carrier_call_id,
        direction=direction,
        from_number=from_e164 or event.from_number,
        to_number=to_e164 or event.to_number,
        status=CallStatus.QUEUED,
    )
    our_key = lookup_key(settings.lookup_key_secret, our_side) if our_side else None
    key = lookup_key(settings.lookup_key_secret, counterpart) if counterpart else None
    # Users with either number, in one query: our side's agent, or a caller who is staff.
    staff = await users_with_keys(
        session, org_id=account.org_id, keys={k for k in (our_key, key) if k}
    )
    agent = next((u for u in staff if our_key is not None and u.phone_key == our_key), None)
    if counterpart is not None and key is not None:
        internal = (
            "agent"
            if any(u.phone_key == key for u in staff)
            else await carrier_number_internal(session, org_id=account.org_id, key=key)
        )
        if internal is None:
            match = await leads_with_key(session, org_id=account.org_id, key=key)
            if match.unique is not None:
                call.lead_id = match.unique
                call.lead_match = "matched"
            elif match.ambiguous:
                call.lead_match = "ambiguous"
                log.info("call matches %d leads; left unattached", len(match.lead_ids))
            elif direction == Direction.INBOUND:
                lead = await _lead_for_unknown_caller(
                    session, settings, account.org_id, counterpart
                )
                call.lead_id = lead.id
                call.lead_match = "created"
                if agent is None:
                    # The organization's rules give the new lead an owner at once, so the
                    # call rings them (or a free teammate) and a missed call has someone to
                    # call back. A call to an agent's own line rings that agent instead;
                    # whoever answers owns the lead (`_own_caller_lead`).
                    await _assign_by_rules(session, settings, lead)
        else:
            call.lead_match = f"internal-{internal}"
    if agent is None and call.lead_id is not None:
        owned = await session.get(Lead, call.lead_id)
        if owned is not None and direction == Direction.INBOUND:
            # Ring someone who can answer: the owner if available, else a free teammate.
            agent = await choose_agent(session, owned)
        elif owned is not None and owned.owner_id is not None:
            agent = await session.get(User, owned.owner_id)
    if agent is not None:
        call.agent_id = agent.id
        call.team_id = agent.team_id
    elif call.lead_id is not None:
        pooled = await session.get(Lead, call.lead_id)
        call.team_id = pooled.team_id if pooled else None
    session.add(call)
    await session.flush()
    return call


async def _lead_for_unknown_caller(
    session: AsyncSession, settings: Settings, org_id: int, e164: str
) -> Lead:
    now = utcnow()
    lead = Lead(
        org_id=org_id, name="", phone=e164, source="inbound-call", created_at=now, updated_at=now
    )
    session.add(lead)
    await session.flush()
    await add_phone_keys(session, settings, lead)
    emit_lead_created(session, lead)
    return lead


async def _assign_by_rules(session: AsyncSession, settings: Settings, lead: Lead) -> None:
    """The organization's rules choose the lead's owner (none: it stays in the pool)."""
    assert lead.id is not None
    await auto_assign(
        session, settings, org_id=lead.org_id, lead_ids=[lead.id], method="auto", assigned_by=None
    )


async def _own_caller_lead(
    session: AsyncSession, settings: Settings, call: Call, *, missed: bool
) -> None:
    """Settle who owns the lead an unknown caller's call created, as the call ends.

    Answered: the agent who spoke to the caller, whoever the rules chose at the ring.
    Missed: the owner the rules gave it then; a lead the rules were never asked about (the
    call rang an agent's own line) is assigned by them now, so that someone calls back.
    """
    if call.lead_match != "created" or call.lead_id is None:
        return
    lead = await session.get(Lead, call.lead_id)
    if lead is None or lead.id is None or lead.merged_into_id is not None:
        return
    if not missed and call.agent_id is not None:
        if lead.owner_id == call.agent_id:
            return
        agent = await session.get(User, call.agent_id)
        if agent is None or not agent.is_active or agent.role not in (Role.AGENT, Role.MANAGER):
            return
        await assign_to(
            session,
            org_id=call.org_id,
            lead_ids=[lead.id],
            agent_id=call.agent_id,
            method="auto",
            assigned_by=None,
            why=f"answered inbound call {call.id}",
        )
        return
    if lead.owner_id is not None:
        return
    asked = (
        await session.exec(
            select(LeadAssignment.id).where(col(LeadAssignment.lead_id) == lead.id).limit(1)
        )
    ).first()
    if asked is None:
        await _assign_by_rules(session, settings, lead)


def _call_proposal(
    call: Call, role: LegRole, event: CallEvent, customer_leg: CallLeg | None
) -> tuple[CallStatus | None, CallOutcome | None, str | None]:
    """What this leg's event means for the call as a whole (None: nothing)."""
    if event.status is None:
        return None, None, None
    if not call.bridged or role == LegRole.CUSTOMER:
        return event.status, event.outcome, None
    # The agent leg of a bridge: it only starts the call, or ends it before the customer rang.
    if event.status != CallStatus.COMPLETED:
        if event.status == CallStatus.QUEUED:
            return CallStatus.QUEUED, None, None
        return CallStatus.INITIATED, None, None
    if event.outcome == CallOutcome.COMPLETED:
        # The agent answered, so the carrier went on to dial the customer: that leg's own
        # terminal event settles the call, whenever it arrives (callbacks may come in any
        # order). If it never does, reconciliation asks the carrier.
        return None, None, None
    if customer_leg is None or customer_leg.status == CallStatus.QUEUED:
        # The agent never picked up, so the customer was never dialed: not a no-answer from
        # the lead.
        return CallStatus.COMPLETED, CallOutcome.CANCELED, f"agent_{event.outcome}"
    return None, None, None


async def apply_event(
    session: AsyncSession,
    settings: Settings,
    account: CarrierAccount,
    event: CallEvent,
    result: ApplyResult,
    sync_kinds: frozenset[str] = frozenset({"voice"}),
    *,
    replay: bool = False,
    region: str | None = None,
) -> None:
    assert account.id is not None
    seen = (
        await session.exec(
            select(CallEventRecord).where(
                col(CallEventRecord.account_id) == account.id,
                col(CallEventRecord.dedupe_key) == event.dedupe_key,
            )
        )
    ).first()
    if (
        seen is not None
        and replay
        and seen.disposition == callstate.UNKNOWN_STATUS
        and event.status is not None
    ):
        # Replayed after a fix: the event means something now; apply it in its record's place.
        await session.delete(seen)
        await session.flush()
        seen = None
    if seen is not None:
        result.duplicates += 1
        if event.kind in sync_kinds:
            # A retried answer URL must get the same instructions again, not a goodbye.
            call = await _find_call(session, account, event)
            if call is not None:
                role = event.leg or (
                    LegRole.AGENT if call.bridged and not event.parent_call_id else LegRole.CUSTOMER
                )
                result.voice = await _voice_instructions(session, call, role)
        return
    found = await _find_and_lock_call(session, account, event)
    call, legs = found if found is not None else (None, {})
    if (
        call is not None
        and event.local_call_id is not None
        and call.id == event.local_call_id
        and call.carrier_call_id is not None
        and call.carrier_call_id not in (event.carrier_call_id, event.parent_call_id)
    ):
        # The URL names one of our calls, the body another carrier call: a token reused for
        # a different call. Refused like a bad signature.
        raise CallMismatch(f"callback for call {call.id} names another carrier call")
    if call is None:
        call = await _new_call(session, settings, account, event, region=region)
        result.changed[call.id or 0] = call
    if event.leg is not None:
        role = event.leg if call.bridged else LegRole.CUSTOMER
    elif call.bridged and event.parent_call_id:
        role = LegRole.CUSTOMER
    elif call.bridged:
        customer = legs.get(LegRole.CUSTOMER)
        is_customer = customer is not None and customer.carrier_leg_id == event.carrier_call_id
        role = LegRole.CUSTOMER if is_customer else LegRole.AGENT
    else:
        role = LegRole.CUSTOMER
    if call.carrier_call_id is None:
        call.carrier_call_id = event.parent_call_id or event.carrier_call_id
    at: datetime = event.occurred_at or utcnow()
    disposition = callstate.UNKNOWN_STATUS
    if event.kind == "recording":
        disposition = "recording"
        if event.recording_url:
            call.recording_url = event.recording_url
            result.changed[call.id or 0] = call
    else:
        leg = legs.get(role)
        if leg is None:
            leg = CallLeg(
                org_id=call.org_id,
                call_id=call.id or 0,
                role=role,
                number=(call.from_number if call.direction == Direction.INBOUND else call.to_number)
                if role == LegRole.CUSTOMER
                else event.to_number,
            )
            session.add(leg)
            legs[role] = leg
        if leg.carrier_leg_id is None:
            leg.carrier_leg_id = event.carrier_call_id
        disposition = callstate.decide(leg.status, leg.outcome, event.status, event.outcome)
        if disposition == callstate.APPLIED and event.status is not None:
            callstate.advance(leg, event.status, event.outcome, at, duration_s=event.duration_s)
        elif disposition == callstate.CONFLICTING_TERMINAL:
            log.warning(
                "call %s: later terminal %s disagrees with %s; kept the first",
                call.id,
                event.carrier_status,
                leg.outcome,
            )
        customer_leg = legs.get(LegRole.CUSTOMER)
        status, outcome, reason = _call_proposal(call, role, event, customer_leg)
        if (
            status is not None
            and disposition == callstate.APPLIED
            and callstate.decide(call.status, call.outcome, status, outcome) == callstate.APPLIED
        ):
            duration = event.duration_s if role == LegRole.CUSTOMER else None
            if reason:
                call.end_reason = reason
            callstate.advance(call, status, outcome, at, duration_s=duration)
            if call.status == CallStatus.COMPLETED:
                missed = call_ended(session, call)
                if missed:
                    result.missed.append(call)
                await _own_caller_lead(session, settings, call, missed=missed)
            call.updated_at = utcnow()
            result.changed[call.id or 0] = call
    session.add(
        CallEventRecord(
            org_id=call.org_id,
            call_id=call.id,
            account_id=account.id,
            carrier=account.carrier,
            dedupe_key=event.dedupe_key,
            kind=event.kind,
            leg_role=role,
            carrier_status=event.carrier_status,
            status=event.status,
            outcome=event.outcome,
            disposition=disposition,
            occurred_at=event.occurred_at,
            payload=dict(event.raw),
        )
    )
    if event.kind in sync_kinds:
        result.voice = await _voice_instructions(session, call, role)


async def _voice_instructions(
    session: AsyncSession, call: Call, role: LegRole
) -> VoiceInstructions:
    """What a carrier asking "what now?" is told.

    The agent answered a bridged click-to-call: dial the lead. An inbound call: ring the agent
    who owns the caller (or the call's agent); nobody: a polite message.
    """
    if call.bridged and role == LegRole.AGENT and call.to_number:
        return VoiceInstructions(forward_to=call.to_number, caller_id=call.from_number)
    agent = await session.get(User, call.agent_id) if call.agent_id else None
    if agent is not None and agent.is_active and agent.phone:
        return VoiceInstructions(forward_to=agent.phone, caller_id=call.to_number)
    return VoiceInstructions(message="Thank you for calling. An agent will call you back shortly.")


async def apply_events(
    session: AsyncSession,
    settings: Settings,
    account: CarrierAccount,
    events: list[CallEvent],
    sync_kinds: frozenset[str] = frozenset({"voice"}),
    *,
    replay: bool = False,
    region: str | None = None,
) -> ApplyResult:
    """Apply a webhook's events in one transaction; the caller commits.

    `region` is the account's organization's default region, if the caller has read it.
    `replay` re-applies events stored as unknown-status (a fix has since mapped them);
    everything else already recorded stays a duplicate, so replaying twice changes nothing.
    """
    result = ApplyResult()
    for event in events:
        await apply_event(
            session, settings, account, event, result, sync_kinds, replay=replay, region=region
        )
    await session.flush()
    return result
