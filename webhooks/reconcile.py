"""Reconciliation: calls stuck in a non-terminal state are settled from the carrier's records.

A lost terminal callback (carrier outage, dropped request) would leave a call "in progress"
forever and its agent unable to dial. Past `RECONCILE_AFTER_S` without news, the sweeper asks
the carrier's call-details API; a call the carrier reports finished is applied like any
callback and marked reconciled. A call the carrier never confirmed (no carrier id: the
request timed out) is failed at once; one the carrier cannot describe, after
`RECONCILE_GIVE_UP_S`.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

from aiohttp import web
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.assignment.service import push_assigned
from crm.outbox import call_ended
from dialer.push import push_calls, push_missed_calls
from gateway import callstate
from gateway.carriers.base import CallEvent, CarrierAPIError
from gateway.keys import carriers_key, redis_key, runtime_key, sessionmaker_key, settings_key
from gateway.models import (
    Call,
    CallEventRecord,
    CallOutcome,
    CallStatus,
    CarrierAccount,
    utcnow,
)
from gateway.stopping import stop_tasks
from webhooks.apply import apply_events

log = logging.getLogger(__name__)
BATCH = 100


async def reconcile_stuck(
    app: Mapping[Any, Any], *, after: timedelta, give_up: timedelta
) -> list[int]:
    """Settle what can be settled; returns the ids of the calls it ended."""
    now = utcnow()
    async with app[sessionmaker_key]() as session:
        stuck = list(
            (
                await session.exec(
                    select(Call)
                    .where(
                        col(Call.status) != CallStatus.COMPLETED,
                        col(Call.updated_at) < now - after,
                    )
                    .order_by(col(Call.id))
                    .limit(BATCH)
                )
            ).all()
        )
    settled: list[int] = []
    for call in stuck:
        try:
            if await _reconcile(app, call, give_up_before=now - give_up):
                settled.append(call.id or 0)
        except Exception:
            log.exception("reconciling call %s failed", call.id)
    return settled


async def _reconcile(app: Mapping[Any, Any], call: Call, *, give_up_before: Any) -> bool:
    async with app[sessionmaker_key]() as session:
        account = await session.get(CarrierAccount, call.account_id) if call.account_id else None
    adapter = app[carriers_key].get(account.carrier) if account else None
    events: list[CallEvent] = []
    if account is not None and adapter is not None and call.carrier_call_id:
        try:
            events = await adapter.fetch_events(
                app[runtime_key], account.credentials, call.carrier_call_id
            )
        except CarrierAPIError as exc:
            log.warning("carrier could not describe call %s: %s", call.id, exc.message)
            if call.updated_at >= give_up_before:
                return False
            # Past the give-up time an API that keeps failing (revoked credentials, say)
            # must not leave the call, and its agent, stuck for good.
    # The last event says where the call stands; the others are what the carrier's records
    # add about its legs (a bridged call's agent and customer legs both).
    event = events[-1] if events else None
    if event is not None and event.status == CallStatus.COMPLETED:
        assert account is not None and adapter is not None
        async with app[sessionmaker_key]() as session:
            result = await apply_events(
                session, app[settings_key], account, events, adapter.sync_kinds
            )
            fresh = await session.get(Call, call.id)
            assert fresh is not None
            missed = result.missed
            if fresh.status != CallStatus.COMPLETED:
                # Only the agent's leg ever existed (it hung up before the customer was
                # dialed): the call ends canceled, as the lead was never rung.
                agent_only = fresh.bridged and not any(e.parent_call_id for e in events)
                if _settle(
                    session,
                    fresh,
                    CallOutcome.CANCELED if agent_only else event.outcome or "failed",
                    "agent_hangup" if agent_only else None,
                ):
                    missed.append(fresh)
            fresh.reconciled_at = utcnow()
            await session.commit()
            await push_assigned(app, session)
        await push_calls(app, [fresh, *result.changed.values()])
        await push_missed_calls(app, missed)
        # Commands the carrier's recorded events call for, as if their callbacks had come
        # (e.g. Telnyx: hang up the agent's leg once the customer's leg ended unanswered).
        # Nothing new is started: without instructions no transfer or answer is planned.
        try:
            await adapter.act(app[runtime_key], account.credentials, events, None)
        except Exception:
            log.exception("commands after reconciling call %s failed", call.id)
        return True
    # A call the carrier never confirmed (no carrier id) cannot be looked up: past the
    # silence threshold it is settled, so that its agent is free to dial again.
    never_placed = not call.carrier_call_id
    if event is not None or (call.updated_at >= give_up_before and not never_placed):
        return False  # still live at the carrier, or not yet worth giving up on
    async with app[sessionmaker_key]() as session:
        fresh = await session.get(Call, call.id)
        assert fresh is not None
        if fresh.status == CallStatus.COMPLETED:
            return False
        was_missed = _settle(
            session,
            fresh,
            CallOutcome.FAILED,
            "originate_unconfirmed" if never_placed else "reconcile_timeout",
        )
        session.add(
            CallEventRecord(
                org_id=fresh.org_id,
                call_id=fresh.id,
                account_id=fresh.account_id,
                carrier=fresh.carrier,
                dedupe_key=f"local:{fresh.id}:reconcile_timeout",
                kind="local",
                carrier_status="reconcile_timeout",
                status=CallStatus.COMPLETED,
                outcome=CallOutcome.FAILED,
                disposition=callstate.APPLIED,
                occurred_at=utcnow(),
                payload={},
            )
        )
        await session.commit()
    await push_calls(app, [fresh])
    if was_missed:
        await push_missed_calls(app, [fresh])
    return True


def _settle(session: AsyncSession, call: Call, outcome: str, reason: str | None = None) -> bool:
    """End the call by the carrier's records (or for good); whether it was a missed call."""
    if reason is not None:
        call.end_reason = reason
    call.reconciled_at = utcnow()
    callstate.advance(call, CallStatus.COMPLETED, CallOutcome(outcome), utcnow())
    call.updated_at = utcnow()
    return call_ended(session, call)


async def _sweep_forever(app: web.Application) -> None:
    settings = app[settings_key]
    after = timedelta(seconds=settings.reconcile_after_s)
    give_up = timedelta(seconds=settings.reconcile_give_up_s)
    while True:
        await asyncio.sleep(settings.reconcile_interval_s)
        redis = app.get(redis_key)
        if redis is not None:
            # One process sweeps per interval; the others skip this round.
            key = f"{settings.socketio_channel}:reconcile-lock"
            ttl_ms = max(1000, int(settings.reconcile_interval_s * 900))
            if not await redis.set(key, "1", nx=True, px=ttl_ms):
                continue
        try:
            settled = await reconcile_stuck(app, after=after, give_up=give_up)
            if settled:
                log.info("reconciled %d calls", len(settled))
        except Exception:
            log.exception("reconciliation sweep failed")


async def reconcile_ctx(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.get_running_loop().create_task(_sweep_forever(app))
    yield
    await stop_tasks([task])
