"""Progressive (power) dialing: when an agent with it on becomes available, the next lead of
their queue is offered (`next_dial`) and dialed when the countdown runs out, unless they skip
it (the following lead is offered), cancel it (nothing until they are available again) or
change state.

The offer (token, lead, deadline, skipped leads) is kept on the agent's presence row. The
process that made it dials it when the countdown runs out; if that process is gone (restarted,
or one of several went away) the presence sweep of any process picks it up once it is due:
still fresh, it is dialed; long overdue, it is offered anew with a fresh countdown. A dial
happens only for whoever clears the offer's token first, so once across processes.
"""

import asyncio
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from sqlmodel import col, select, update

from crm.leads import lead_to_json
from dialer import presence
from dialer.clicktocall import DialRequest, start_call
from dialer.queue import build_queue
from dialer.rooms import agent_room
from gateway.auth import Principal, principal_of
from gateway.errors import Conflict, DomainError
from gateway.keys import sessionmaker_key, settings_key, sio_key
from gateway.models import AgentPresence, Lead, PresenceState, User, utcnow

log = logging.getLogger(__name__)
NAMESPACE = "/dialer"
# An offer found this long after its deadline (its process was down meanwhile) is not dialed
# out of the blue: the agent gets it again with a fresh countdown.
STALE_AFTER = timedelta(seconds=30)


@dataclass(frozen=True)
class Offer:
    token: str
    lead_id: int
    dial_at: datetime
    skipped: list[int]


def _cleared() -> dict[str, Any]:
    return {"next_token": None, "next_lead_id": None, "next_dial_at": None, "next_skipped": None}


class Offers:
    """The current offer of each agent, on their presence row."""

    def __init__(self, app: Mapping[Any, Any]) -> None:
        self.app = app

    async def _update(self, user_id: int, *where: Any, **values: Any) -> bool:
        async with self.app[sessionmaker_key]() as session:
            result = await session.exec(
                update(AgentPresence)
                .where(col(AgentPresence.user_id) == user_id, *where)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            await session.commit()
        return bool(result.rowcount)

    async def get(self, user_id: int) -> Offer | None:
        async with self.app[sessionmaker_key]() as session:
            row = await session.get(AgentPresence, user_id)
        if row is None or row.next_token is None:
            return None
        assert row.next_lead_id is not None and row.next_dial_at is not None
        return Offer(row.next_token, row.next_lead_id, row.next_dial_at, row.next_skipped or [])

    async def put(self, user_id: int, offer: Offer) -> None:
        await self._update(
            user_id,
            next_token=offer.token,
            next_lead_id=offer.lead_id,
            next_dial_at=offer.dial_at,
            next_skipped=offer.skipped,
        )

    async def take(self, user_id: int, token: str) -> bool:
        """Remove the offer if it is still `token`'s; True if this caller got it."""
        return await self._update(user_id, col(AgentPresence.next_token) == token, **_cleared())

    async def drop(self, user_id: int) -> bool:
        return await self._update(user_id, col(AgentPresence.next_token).is_not(None), **_cleared())

    async def due(self, now: datetime) -> list[tuple[int, Offer]]:
        async with self.app[sessionmaker_key]() as session:
            rows = (
                await session.exec(
                    select(AgentPresence).where(
                        col(AgentPresence.next_dial_at) <= now,
                        col(AgentPresence.next_token).is_not(None),
                    )
                )
            ).all()
        return [
            (r.user_id, Offer(r.next_token, r.next_lead_id, r.next_dial_at, r.next_skipped or []))
            for r in rows
            if r.next_token is not None and r.next_lead_id is not None and r.next_dial_at
        ]


async def _principal(app: Mapping[Any, Any], user_id: int) -> Principal | None:
    async with app[sessionmaker_key]() as session:
        user = await session.get(User, user_id)
    return principal_of(user) if user is not None and user.is_active else None


async def _emit(app: Mapping[Any, Any], user_id: int, event: str, data: dict[str, Any]) -> None:
    await app[sio_key].emit(event, data, to=agent_room(user_id), namespace=NAMESPACE)


NO_OFFER: dict[str, Any] = {"lead": None, "reason": None, "dial_at": None, "countdown_s": None}


async def current_offer(app: Mapping[Any, Any], principal: Principal) -> dict[str, Any]:
    """The agent's pending offer, shaped like the `next_dial` push (whose countdown it
    continues): for a console that (re)connects after the push was sent."""
    offer = await Offers(app).get(principal.user_id)
    if offer is None:
        return dict(NO_OFFER)
    queue = await build_queue(app, principal, limit=len(offer.skipped) + 20)
    entry = next((e for e in queue if e["lead"]["id"] == offer.lead_id), None)
    if entry is None:
        async with app[sessionmaker_key]() as session:
            lead = await session.get(Lead, offer.lead_id)
        if lead is None:
            return dict(NO_OFFER)
        entry = {"lead": lead_to_json(lead), "reason": None}
    left = (offer.dial_at - utcnow()).total_seconds()
    return {
        "lead": entry["lead"],
        "reason": entry["reason"],
        "dial_at": offer.dial_at.isoformat(),
        "countdown_s": max(0.0, round(left, 3)),
    }


async def offer_next(app: Mapping[Any, Any], user_id: int, skipped: list[int]) -> None:
    """Offer the agent's next lead (not one of `skipped`) and start its countdown."""
    principal = await _principal(app, user_id)
    if principal is None:
        return
    queue = await build_queue(app, principal, limit=len(skipped) + 1)
    entry = next((e for e in queue if e["lead"]["id"] not in skipped), None)
    offers = Offers(app)
    if entry is None:
        await offers.drop(user_id)
        await _emit(
            app,
            user_id,
            "next_dial",
            dict(NO_OFFER),
        )
        return
    countdown = app[settings_key].progressive_countdown_s
    dial_at = utcnow() + timedelta(seconds=countdown)
    offer = Offer(secrets.token_hex(8), int(entry["lead"]["id"]), dial_at, skipped)
    await offers.put(user_id, offer)
    await _emit(
        app,
        user_id,
        "next_dial",
        {
            "lead": entry["lead"],
            "reason": entry["reason"],
            "dial_at": dial_at.isoformat(),
            "countdown_s": countdown,
        },
    )
    presence.spawn(app, _dial_when_due(app, user_id, offer, countdown))


async def _dial_when_due(
    app: Mapping[Any, Any], user_id: int, offer: Offer, countdown: float
) -> None:
    await asyncio.sleep(countdown)
    await _dial(app, user_id, offer)


async def _dial(app: Mapping[Any, Any], user_id: int, offer: Offer) -> None:
    if not await Offers(app).take(user_id, offer.token):
        return  # skipped, canceled, replaced or dialed by another process meanwhile
    current = await presence.current(app, user_id)
    principal = await _principal(app, user_id)
    if current is None or principal is None:
        return
    if current.state != PresenceState.AVAILABLE or not current.progressive:
        return
    try:
        await start_call(app, principal, DialRequest(lead_id=offer.lead_id))
    except DomainError as exc:
        log.info("progressive dial of lead %s refused: %s", offer.lead_id, exc.code)
        await _emit(
            app,
            user_id,
            "next_dial_failed",
            {"lead_id": offer.lead_id, "code": exc.code, "message": exc.message},
        )
        await offer_next(app, user_id, [*offer.skipped, offer.lead_id])


async def resume_due(app: Mapping[Any, Any]) -> None:
    """Offers whose countdown ran out unseen (their process went away): dial or offer anew.

    Run by every process's presence sweep; the process that made an offer normally dials it
    first, and then there is nothing left here.
    """
    now = utcnow()
    for user_id, offer in await Offers(app).due(now):
        if now - offer.dial_at <= STALE_AFTER:
            await _dial(app, user_id, offer)
            continue
        if not await Offers(app).take(user_id, offer.token):
            continue
        current = await presence.current(app, user_id)
        if current is not None and current.state == PresenceState.AVAILABLE and current.progressive:
            log.info("progressive offer to user %s expired unseen; offering again", user_id)
            await offer_next(app, user_id, offer.skipped)


async def skip_next(app: Mapping[Any, Any], user_id: int) -> None:
    offers = Offers(app)
    offer = await offers.get(user_id)
    if offer is None:
        raise Conflict("no lead is being offered", code="no_next_dial")
    await offer_next(app, user_id, [*offer.skipped, offer.lead_id])


async def cancel_next(app: Mapping[Any, Any], user_id: int, reason: str = "canceled") -> bool:
    if not await Offers(app).drop(user_id):
        return False
    await _emit(app, user_id, "next_dial_canceled", {"reason": reason})
    return True


async def _on_presence(
    app: Mapping[Any, Any], before: presence.Snapshot, after: presence.Snapshot
) -> None:
    ready = after.state == PresenceState.AVAILABLE and after.progressive
    was_ready = before.state == PresenceState.AVAILABLE and before.progressive
    if ready and not was_ready:
        await offer_next(app, after.user_id, [])
    elif was_ready and not ready:
        # Paused, gone offline, dialed by hand or switched progressive off: no countdown.
        await cancel_next(app, after.user_id, reason=after.state if after.progressive else "off")


def setup_progressive(app: web.Application) -> None:
    app[presence.listeners_key].append(_on_presence)
    app[presence.sweepers_key].append(resume_due)
