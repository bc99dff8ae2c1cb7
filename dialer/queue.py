"""An agent's call queue: who to call next, in order, with what the guard would refuse left out.

Order: missed inbound calls from the agent's leads not yet called back; due follow-ups; the
agent's leads never called; then busy / no-answer leads due a retry (`RETRY_BACKOFF_S` after
the last attempt, fewer than `MAX_TOTAL_ATTEMPTS`). Leads on the do-not-call list, without
consent, in a terminal status, at today's attempt cap or outside their calling hours are left
out. A lead appears once, for its first reason.
"""

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.dnc import leads_on_dnc
from crm.leads import lead_to_json
from crm.orgconfig import lead_statuses
from dialer.clock import now as clock_now
from dialer.guard import attempts_today, check_window
from gateway.auth import Principal
from gateway.keys import sessionmaker_key, settings_key
from gateway.models import (
    Call,
    CallOutcome,
    Consent,
    Direction,
    FollowUp,
    FollowUpStatus,
    Lead,
    Organization,
)

RETRY_OUTCOMES = (CallOutcome.BUSY, CallOutcome.NO_ANSWER)


def _missed(call: Call) -> bool:
    """The same rule as the `call.missed` event: nobody of ours talked to the caller."""
    return call.direction == Direction.INBOUND and (
        call.outcome != CallOutcome.COMPLETED or call.agent_id is None or not call.duration_s
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def build_queue(
    app: Mapping[Any, Any], principal: Principal, *, limit: int = 20
) -> list[dict[str, Any]]:
    settings = app[settings_key]
    now = clock_now(app)
    async with app[sessionmaker_key]() as session:
        org = await session.get(Organization, principal.org_id)
        assert org is not None
        return await _build(session, org, principal, now, settings, limit)


async def _build(
    session: AsyncSession,
    org: Organization,
    principal: Principal,
    now: datetime,
    settings: Any,
    limit: int,
) -> list[dict[str, Any]]:
    terminal = [s["key"] for s in lead_statuses(org) if s.get("terminal")]
    due = (
        await session.exec(
            select(FollowUp)
            .where(
                col(FollowUp.org_id) == org.id,
                col(FollowUp.agent_id) == principal.user_id,
                col(FollowUp.status) == FollowUpStatus.OPEN,
                col(FollowUp.due_at) <= now,
            )
            .order_by(col(FollowUp.due_at), col(FollowUp.id))
        )
    ).all()
    leads = list(
        (
            await session.exec(
                select(Lead).where(
                    col(Lead.org_id) == org.id,
                    sa.or_(
                        col(Lead.owner_id) == principal.user_id,
                        col(Lead.id).in_([f.lead_id for f in due]),
                    ),
                    col(Lead.merged_into_id).is_(None),
                    col(Lead.status).not_in(terminal),
                )
            )
        ).all()
    )
    by_id = {lead.id: lead for lead in leads if lead.id is not None}
    ids = list(by_id)
    if not ids:
        return []
    blocked = await leads_on_dnc(session, org_id=org.id or 0, lead_ids=ids)
    today = await attempts_today(session, org, ids, now)
    stats = {
        lead_id: (int(total), last_id)
        for lead_id, total, last_id in (
            await session.exec(
                select(col(Call.lead_id), func.count(), func.max(Call.id))
                .where(col(Call.lead_id).in_(ids), col(Call.direction) == Direction.OUTBOUND)
                .group_by(col(Call.lead_id))
            )
        ).all()
    }
    last_calls = {
        c.lead_id: c
        for c in (
            await session.exec(
                select(Call).where(col(Call.id).in_([last for _, last in stats.values()]))
            )
        ).all()
    }
    inbound = (
        await session.exec(
            select(Call)
            .where(col(Call.lead_id).in_(ids), col(Call.direction) == Direction.INBOUND)
            .order_by(col(Call.created_at), col(Call.id))
        )
    ).all()

    def callable_now(lead: Lead) -> bool:
        assert lead.id is not None
        if lead.id in blocked or lead.consent == Consent.WITHDRAWN:
            return False
        if org.max_daily_attempts is not None and today.get(lead.id, 0) >= org.max_daily_attempts:
            return False
        window = check_window(org, lead, now)
        return window.allowed and not window.unknown

    entries: list[dict[str, Any]] = []
    seen: set[int] = set()

    def add(lead: Lead, reason: str, **extra: Any) -> None:
        assert lead.id is not None
        if lead.id in seen or not callable_now(lead):
            return
        seen.add(lead.id)
        entries.append({"lead": lead_to_json(lead), "reason": reason, **extra})

    for call in inbound:
        lead = by_id.get(call.lead_id or 0)
        last = last_calls.get(call.lead_id)
        called_back = last is not None and last.created_at > call.created_at
        mine = lead is not None and lead.owner_id == principal.user_id
        if lead is not None and mine and _missed(call) and not called_back:
            add(lead, "missed_call", call_id=call.id, due_at=_iso(call.created_at))
    for follow_up in due:
        lead = by_id.get(follow_up.lead_id)
        last = last_calls.get(follow_up.lead_id)
        # Called since it fell due: done as far as the queue goes (the disposition closes it).
        if last is not None and last.created_at >= follow_up.due_at:
            continue
        if lead is not None:
            add(lead, "follow_up", follow_up_id=follow_up.id, due_at=_iso(follow_up.due_at))
    owned = sorted(
        (lead for lead in leads if lead.owner_id == principal.user_id), key=lambda x: x.id or 0
    )
    for lead in owned:
        if lead.id not in stats:
            add(lead, "new", due_at=None)
    backoff = timedelta(seconds=settings.retry_backoff_s)
    retries = []
    for lead in owned:
        total, _ = stats.get(lead.id, (0, None))
        last = last_calls.get(lead.id)
        if last is None or last.outcome not in RETRY_OUTCOMES:
            continue
        if total >= settings.max_total_attempts:
            continue
        if now - last.created_at >= backoff:
            retries.append((last.created_at, lead))
    for last_at, lead in sorted(retries, key=lambda x: (x[0], x[1].id or 0)):
        add(lead, "retry", due_at=_iso(last_at + backoff))
    return entries[:limit]
