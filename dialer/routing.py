"""Inbound routing: which agent an inbound call rings, and the screen pop they get.

The lead's owner if they are available; else the available agent of the owner's (or the
lead's) team who has been off calls the longest; else nobody: the call stays unassigned and
is a missed call, which the owner's queue puts first.
"""

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.calls import call_to_json
from crm.leads import lead_to_json
from dialer import presence
from dialer.rooms import agent_room
from gateway.keys import sessionmaker_key, sio_key
from gateway.models import AgentPresence, Call, Direction, Lead, PresenceState, Role, User

HISTORY = 5


async def _available(session: AsyncSession, user_id: int) -> bool:
    row = await session.get(AgentPresence, user_id)
    return row is not None and row.state == PresenceState.AVAILABLE


async def choose_agent(session: AsyncSession, lead: Lead) -> User | None:
    owner = await session.get(User, lead.owner_id) if lead.owner_id is not None else None
    if owner is not None and owner.is_active and await _available(session, owner.id or 0):
        return owner
    team_id = owner.team_id if owner is not None and owner.team_id is not None else lead.team_id
    if team_id is None:
        return None
    last_call = (
        select(func.max(Call.created_at))
        .where(col(Call.agent_id) == User.id)
        .correlate(User)
        .scalar_subquery()
    )
    rows = await session.exec(
        select(User)
        .join(AgentPresence, col(AgentPresence.user_id) == User.id)
        .where(
            col(User.org_id) == lead.org_id,
            col(User.team_id) == team_id,
            col(User.is_active) == True,  # noqa: E712
            col(User.role) == Role.AGENT,
            col(AgentPresence.state) == PresenceState.AVAILABLE,
        )
        # Never on a call first, then the longest since their last call.
        .order_by(sa.case((last_call.is_(None), 0), else_=1), last_call, col(User.id))
    )
    return rows.first()


async def _screen_pop(app: Mapping[Any, Any], call: Call, snapshot: presence.Snapshot) -> None:
    """`incoming_call` to the agent an inbound call now rings: the call, the lead, its history."""
    if call.direction != Direction.INBOUND:
        return
    async with app[sessionmaker_key]() as session:
        lead = await session.get(Lead, call.lead_id) if call.lead_id is not None else None
        history: list[Call] = []
        if lead is not None:
            history = list(
                (
                    await session.exec(
                        select(Call)
                        .where(col(Call.lead_id) == lead.id, col(Call.id) != call.id)
                        .order_by(col(Call.id).desc())
                        .limit(HISTORY)
                    )
                ).all()
            )
    await app[sio_key].emit(
        "incoming_call",
        {
            "call": call_to_json(call),
            "lead": lead_to_json(lead) if lead is not None else None,
            "history": [call_to_json(c) for c in history],
        },
        to=agent_room(snapshot.user_id),
        namespace=presence.NAMESPACE,
    )


def setup_routing(app: Any) -> None:
    app[presence.call_listeners_key].append(_screen_pop)
