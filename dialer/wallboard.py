"""The wallboard: every visible agent's presence with today's call counters."""

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from dialer.clock import now as clock_now
from dialer.guard import day_start
from dialer.presence import Snapshot
from gateway.auth import Principal
from gateway.keys import sessionmaker_key
from gateway.models import AgentPresence, Call, Organization, PresenceState, Role, User


async def visible_agents(session: AsyncSession, principal: Principal) -> list[User]:
    stmt = select(User).where(
        col(User.org_id) == principal.org_id,
        col(User.is_active) == True,  # noqa: E712
        col(User.role) == Role.AGENT,
    )
    if principal.role == Role.MANAGER:
        stmt = stmt.where(col(User.team_id) == principal.team_id)
    elif principal.role == Role.AGENT:
        stmt = stmt.where(col(User.id) == principal.user_id)
    return list((await session.exec(stmt.order_by(col(User.name), col(User.id)))).all())


async def wallboard(app: Mapping[Any, Any], principal: Principal) -> dict[str, Any]:
    now = clock_now(app)
    async with app[sessionmaker_key]() as session:
        org = await session.get(Organization, principal.org_id)
        assert org is not None
        agents = await visible_agents(session, principal)
        ids = [a.id for a in agents if a.id is not None]
        rows = (
            await session.exec(select(AgentPresence).where(col(AgentPresence.user_id).in_(ids)))
        ).all()
        presences = {p.user_id: p for p in rows}
        since = day_start(org, now)
        answered = col(Call.answered_at).is_not(None)
        counters = (
            await session.exec(
                select(
                    col(Call.agent_id),
                    func.count(),
                    func.sum(sa.case((answered, 1), else_=0)),
                    func.sum(sa.case((answered, func.coalesce(Call.duration_s, 0)), else_=0)),
                )
                .where(col(Call.agent_id).in_(ids), col(Call.created_at) >= since)
                .group_by(col(Call.agent_id))
            )
        ).all()
        current_calls = {
            c.id: c
            for c in (
                await session.exec(
                    select(Call).where(
                        col(Call.id).in_([p.call_id for p in rows if p.call_id is not None])
                    )
                )
            ).all()
        }
    stats = {agent_id: (n, connected, talk) for agent_id, n, connected, talk in counters}
    data = []
    for agent in agents:
        assert agent.id is not None
        presence = presences.get(agent.id) or AgentPresence(
            user_id=agent.id, org_id=agent.org_id, state=PresenceState.OFFLINE, since=now
        )
        body = Snapshot(presence, agent).to_json()
        body["time_in_state_s"] = max(0, round((now - presence.since).total_seconds()))
        call = current_calls.get(presence.call_id) if presence.call_id else None
        body["call"] = (
            {
                "id": call.id,
                "lead_id": call.lead_id,
                "direction": call.direction,
                "status": call.status,
                "started_at": call.started_at.isoformat() if call.started_at else None,
            }
            if call is not None
            else None
        )
        n, connected, talk = stats.get(agent.id, (0, 0, 0))
        body["today"] = {
            "calls": int(n or 0),
            "connected": int(connected or 0),
            "talk_time_s": int(talk or 0),
        }
        data.append(body)
    return {"data": data, "as_of": now.isoformat()}
