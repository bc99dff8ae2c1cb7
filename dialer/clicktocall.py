"""Click-to-call: resolve the lead, check the agent can dial, record the call, ask the carrier."""

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access import can_see_lead
from crm.dnc import is_listed
from crm.leads import add_phone_keys, emit_lead_created, org_region, visible_lead
from crm.numbers import is_internal, leads_with_key
from crm.outbox import call_ended
from dialer.clock import now as clock_now
from dialer.guard import require_attempts_left, require_window
from dialer.locks import agent_dial_lock
from dialer.pacing import wait_for_slot
from dialer.push import push_calls
from gateway import callstate
from gateway.auth import Principal
from gateway.carriers.base import CarrierAPIError, OriginateRequest
from gateway.errors import Conflict, Forbidden, InvalidInput, Unavailable
from gateway.keys import carriers_key, runtime_key, sessionmaker_key, settings_key, tasks_key
from gateway.models import (
    Call,
    CallEventRecord,
    CallOutcome,
    CallStatus,
    CarrierAccount,
    CarrierNumber,
    Consent,
    Direction,
    Lead,
    Organization,
    Team,
    User,
    utcnow,
)
from gateway.phones import InvalidPhoneNumber, lookup_key, to_e164
from gateway.settings import Settings

log = logging.getLogger(__name__)
# A call not settled after this long no longer blocks its agent from dialing.
STALE_ACTIVE_CALL = timedelta(hours=2)


class DialRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    lead_id: int | None = Field(default=None, ge=1)
    number: str | None = Field(default=None, min_length=1, max_length=40)
    # One of the organization's numbers to show as caller ID; default: the agent's, the team's,
    # then the first line of the first active carrier account.
    caller_id_number_id: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_target(self) -> "DialRequest":
        if (self.lead_id is None) == (self.number is None):
            raise ValueError("give exactly one of lead_id or number")
        return self


async def _lead_for_number(
    session: AsyncSession, settings: Settings, principal: Principal, raw: str
) -> Lead:
    region = await org_region(session, settings, principal.org_id)
    try:
        e164 = to_e164(raw, region)
    except InvalidPhoneNumber as exc:
        raise InvalidInput(
            f"{raw!r} is not a valid phone number ({exc})", field="number", code="invalid_phone"
        ) from None
    key = lookup_key(settings.lookup_key_secret, e164)
    if await is_internal(session, org_id=principal.org_id, key=key):
        raise InvalidInput(
            "that is one of the organization's own numbers", field="number", code="internal_number"
        )
    # Before the lead lookup: a listed number is refused even if it would create a new lead.
    await _refuse_if_listed(session, principal.org_id, key, field="number")
    match = await leads_with_key(session, org_id=principal.org_id, key=key)
    visible: list[Lead] = []
    for lead_id in match.lead_ids:
        lead = await session.get(Lead, lead_id)
        assert lead is not None
        owner = await session.get(User, lead.owner_id) if lead.owner_id else None
        if can_see_lead(principal, lead, owner.team_id if owner else None):
            visible.append(lead)
    if len(visible) == 1:
        return visible[0]
    if len(visible) > 1:
        raise Conflict(
            "the number belongs to several leads; dial one by lead_id",
            field="number",
            code="ambiguous_number",
            lead_ids=[lead.id for lead in visible],
        )
    if match.lead_ids:
        raise Forbidden(
            "the number belongs to another agent's lead", field="number", code="lead_not_yours"
        )
    now = utcnow()
    lead = Lead(
        org_id=principal.org_id,
        phone=e164,
        owner_id=principal.user_id,
        team_id=principal.team_id,
        source="dialer",
        created_at=now,
        updated_at=now,
    )
    session.add(lead)
    await session.flush()
    await add_phone_keys(session, settings, lead)
    emit_lead_created(session, lead)
    return lead


async def _refuse_if_listed(session: AsyncSession, org_id: int, key: str, *, field: str) -> None:
    if await is_listed(session, org_id=org_id, key=key):
        raise Conflict(
            "the number is on the organization's do-not-call list", field=field, code="dnc"
        )


async def _ensure_dialable(
    session: AsyncSession,
    settings: Settings,
    org: Organization,
    lead: Lead,
    now: datetime,
    *,
    field: str,
) -> None:
    """The compliance guard: runs before a call is recorded, so a refusal leaves no trace."""
    # The number dialed is the lead's primary phone (Call.to_number), so that is what is checked.
    key = lookup_key(settings.lookup_key_secret, lead.phone)
    await _refuse_if_listed(session, lead.org_id, key, field=field)
    if lead.consent == Consent.WITHDRAWN:
        raise Conflict(
            "the lead has withdrawn consent to be called", field=field, code="consent_withdrawn"
        )
    require_window(org, lead, now, field=field)
    await require_attempts_left(session, org, lead, now, field=field)


def _lines(org_id: int) -> Any:
    return (
        select(CarrierAccount, CarrierNumber)
        .join(CarrierNumber, col(CarrierNumber.account_id) == CarrierAccount.id)
        .where(col(CarrierAccount.org_id) == org_id, col(CarrierAccount.is_active) == True)  # noqa: E712
        .order_by(col(CarrierAccount.id), col(CarrierNumber.id))
    )


async def _carrier_line(
    session: AsyncSession, agent: User, requested: int | None
) -> tuple[CarrierAccount, str]:
    """The line to call from: the one asked for, else the agent's, the team's, the default."""
    if requested is not None:
        row = (
            await session.exec(_lines(agent.org_id).where(col(CarrierNumber.id) == requested))
        ).first()
        if row is None:
            raise InvalidInput(
                "not one of the organization's numbers on an active carrier account",
                field="caller_id_number_id",
                code="caller_id_number_id",
            )
        return row[0], row[1].e164
    team = await session.get(Team, agent.team_id) if agent.team_id is not None else None
    for preferred in (agent.caller_id_number_id, team.caller_id_number_id if team else None):
        if preferred is None:
            continue
        row = (
            await session.exec(_lines(agent.org_id).where(col(CarrierNumber.id) == preferred))
        ).first()
        if row is not None:
            return row[0], row[1].e164
        # A configured number on an inactive account: fall back rather than refuse to dial.
        log.info("caller ID number %s is not usable; using the default line", preferred)
    first = (await session.exec(_lines(agent.org_id))).first()
    if first is None:
        raise Unavailable("no carrier account with a number is set up", code="no_carrier")
    account, number = first
    return account, number.e164


async def start_call(app: Mapping[Any, Any], principal: Principal, request: DialRequest) -> Call:
    """Record a queued call and hand it to the carrier in the background."""
    async with agent_dial_lock(app, principal.user_id):
        call, agent_phone = await _record_call(app, principal, request)
    await push_calls(app, [call])
    _spawn(app, _originate(app, call.id or 0, agent_phone))
    return call


async def _record_call(
    app: Mapping[Any, Any], principal: Principal, request: DialRequest
) -> tuple[Call, str]:
    settings: Settings = app[settings_key]
    now = clock_now(app)
    async with app[sessionmaker_key]() as session:
        org = await session.get(Organization, principal.org_id)
        assert org is not None
        agent = await session.get(User, principal.user_id)
        if agent is None or not agent.is_active:
            raise Forbidden("your account is disabled")
        if not agent.phone:
            raise Conflict(
                "your user has no phone number for the dialer to ring",
                field="phone",
                code="agent_phone_missing",
            )
        if request.lead_id is not None:
            lead = await visible_lead(session, principal, request.lead_id)
            await _ensure_dialable(session, settings, org, lead, now, field="lead_id")
        else:
            assert request.number is not None
            lead = await _lead_for_number(session, settings, principal, request.number)
            await _ensure_dialable(session, settings, org, lead, now, field="number")
        busy = (
            await session.exec(
                select(Call.id).where(
                    col(Call.agent_id) == principal.user_id,
                    col(Call.status) != CallStatus.COMPLETED,
                    col(Call.created_at) > now - STALE_ACTIVE_CALL,
                )
            )
        ).first()
        if busy is not None:
            raise Conflict("you are already on a call", code="agent_busy", call_id=busy)
        account, caller_id = await _carrier_line(session, agent, request.caller_id_number_id)
        call = Call(
            org_id=principal.org_id,
            account_id=account.id,
            carrier=account.carrier,
            direction=Direction.OUTBOUND,
            bridged=True,
            from_number=caller_id,
            to_number=lead.phone,
            lead_id=lead.id,
            lead_match="dialed",
            agent_id=principal.user_id,
            team_id=agent.team_id,
            status=CallStatus.QUEUED,
            created_at=now,
            updated_at=now,
        )
        session.add(call)
        # The queue's retry back-off and caps read these.
        lead.attempts += 1
        lead.last_called_at = now
        session.add(lead)
        await session.flush()
        session.add(_local_event(call, "queued", CallStatus.QUEUED, None))
        await session.commit()
    return call, agent.phone


def _local_event(
    call: Call, name: str, status: CallStatus | None, outcome: CallOutcome | None
) -> CallEventRecord:
    return CallEventRecord(
        org_id=call.org_id,
        call_id=call.id,
        account_id=call.account_id,
        carrier=call.carrier,
        dedupe_key=f"local:{call.id}:{name}",
        kind="local",
        carrier_status=name,
        status=status,
        outcome=outcome,
        disposition=callstate.APPLIED,
        occurred_at=utcnow(),
        payload={},
    )


async def _originate(app: Mapping[Any, Any], call_id: int, agent_number: str) -> None:
    settings: Settings = app[settings_key]
    async with app[sessionmaker_key]() as session:
        call = await session.get(Call, call_id)
        assert call is not None and call.account_id is not None
        account = await session.get(CarrierAccount, call.account_id)
        assert account is not None
    adapter = app[carriers_key].get(account.carrier)
    assert adapter is not None
    webhook_base = f"{settings.public_base_url}/webhooks/{account.carrier}/{account.id}"
    callback = f"{webhook_base}/status?call_id={call_id}"
    request = OriginateRequest(
        call_id=call_id,
        agent_number=agent_number,
        customer_number=call.to_number or "",
        caller_id=call.from_number or "",
        status_callback_url=callback,
        customer_status_callback_url=callback,
        webhook_base=webhook_base,
    )
    waited = await wait_for_slot(app, account.id or 0, account.calls_per_second)
    if waited:
        log.info("call %s waited %.2f s for the carrier's calls-per-second limit", call_id, waited)
        async with app[sessionmaker_key]() as session:
            current = await session.get(Call, call_id)
        if current is None or current.status == CallStatus.COMPLETED:
            # Settled while it waited (reconciliation gave up on it): never place it now.
            return
    try:
        result = await adapter.originate(app[runtime_key], account.credentials, request)
    except CarrierAPIError as exc:
        if exc.ambiguous:
            # Never retried blindly: a timed-out request may have placed the call. Its
            # callbacks (which name our call id) settle it if so; reconciliation otherwise.
            log.warning("carrier did not confirm call %s: %s", call_id, exc.message)
            await _unconfirmed(app, call_id, exc)
            return
        log.warning("carrier refused call %s: %s (%s)", call_id, exc.message, exc.code)
        await _fail(app, call_id, exc)
        return
    async with app[sessionmaker_key]() as session:
        call = await session.get(Call, call_id)
        assert call is not None
        # A callback may have beaten the carrier's response and set it already.
        if call.carrier_call_id is None:
            call.carrier_call_id = result.carrier_call_id
            await session.commit()


async def _unconfirmed(app: Mapping[Any, Any], call_id: int, exc: CarrierAPIError) -> None:
    async with app[sessionmaker_key]() as session:
        call = await session.get(Call, call_id)
        assert call is not None
        event = _local_event(call, "originate_unconfirmed", None, None)
        event.disposition = "flagged"
        event.payload = {"message": exc.message, "status": exc.status, "code": exc.code}
        session.add(event)
        await session.commit()


async def _fail(app: Mapping[Any, Any], call_id: int, exc: CarrierAPIError) -> None:
    async with app[sessionmaker_key]() as session:
        call = await session.get(Call, call_id)
        assert call is not None
        if call.status == CallStatus.COMPLETED:
            return
        call.end_reason = "carrier_error"
        callstate.advance(call, CallStatus.COMPLETED, CallOutcome.FAILED, utcnow())
        call_ended(session, call)
        call.updated_at = utcnow()
        event = _local_event(call, "carrier_error", CallStatus.COMPLETED, CallOutcome.FAILED)
        event.payload = {"message": exc.message, "status": exc.status, "code": exc.code}
        session.add(event)
        await session.commit()
    await push_calls(app, [call])


def _spawn(app: Mapping[Any, Any], coro: Coroutine[Any, Any, None]) -> None:
    tasks: set[asyncio.Task[None]] = app[tasks_key]
    task = asyncio.get_running_loop().create_task(coro)
    tasks.add(task)
    task.add_done_callback(tasks.discard)
