"""Due follow-ups: each is claimed once, across processes, and its agent reminded live."""

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiohttp import web
from sqlmodel import col, select

from crm.followups import claim_due, follow_up_to_json, lead_summary
from dialer.push import NAMESPACE, responsible_room
from gateway.keys import sessionmaker_key, settings_key, sio_key
from gateway.models import FollowUp, Lead, User, utcnow
from gateway.stopping import stop_tasks

log = logging.getLogger(__name__)
BATCH = 100


async def notify_due(app: Mapping[Any, Any]) -> int:
    """Send `follow_up_due` for every follow-up that came due; returns how many were sent.

    To the follow-up's agent; if they were deactivated, to their team's managers (else the
    organization's supervisors), so a due callback always reaches someone.

    The claim is committed before the emit: a crash in between loses that one reminder
    (the follow-up still shows as overdue), whereas emitting first could remind twice.
    """
    sent = 0
    while True:
        now = utcnow()
        async with app[sessionmaker_key]() as session:
            ids = await claim_due(session, now=now, limit=BATCH)
            if not ids:
                return sent
            await session.commit()
            rows = (
                await session.exec(
                    select(FollowUp, Lead, User)
                    .join(Lead, col(Lead.id) == FollowUp.lead_id)
                    .outerjoin(User, col(User.id) == FollowUp.agent_id)
                    .where(col(FollowUp.id).in_(ids))
                    .order_by(col(FollowUp.due_at), col(FollowUp.id))
                )
            ).all()
        sio = app[sio_key]
        for fu, lead, agent in rows:
            payload = {"follow_up": follow_up_to_json(fu, now=now), "lead": lead_summary(lead)}
            # A follow-up whose agent has left (deactivated) is not lost with them: the
            # managers of the lead's (else the agent's) team are reminded in their place.
            team_id = lead.team_id or (agent.team_id if agent is not None else None)
            room = responsible_room(lead.org_id, team_id, agent)
            try:
                await sio.emit("follow_up_due", payload, to=room, namespace=NAMESPACE)
                sent += 1
            except Exception:
                log.exception("could not push follow-up %s", fu.id)
        if len(ids) < BATCH:
            return sent


async def _sweep_forever(app: web.Application) -> None:
    interval = app[settings_key].followup_sweep_interval_s
    while True:
        await asyncio.sleep(interval)
        try:
            count = await notify_due(app)
            if count:
                log.info("sent %d follow-up reminders", count)
        except Exception:
            log.exception("follow-up sweep failed")


async def followups_ctx(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.get_running_loop().create_task(_sweep_forever(app))
    yield
    await stop_tasks([task])
