"""Progressive (power) dialing: when an agent with it on becomes available, the next lead of
their queue is offered (`next_dial`) and dialed when the countdown runs out, unless they skip
it (the following lead is offered), cancel it (nothing until they are available again) or
change state.

Each offer carries a token, kept in Redis when configured (else in this process): whichever
process handles `skip_next` / `cancel_next` replaces or deletes it, and a countdown only dials
if its own token is still the current one.
"""

import asyncio
import json
import logging
import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from aiohttp import web

from dialer import presence
from dialer.clicktocall import DialRequest, start_call
from dialer.queue import build_queue
from dialer.rooms import agent_room
from gateway.auth import Principal, principal_of
from gateway.errors import Conflict, DomainError
from gateway.keys import redis_key, sessionmaker_key, settings_key, sio_key
from gateway.models import PresenceState, User, utcnow

log = logging.getLogger(__name__)
NAMESPACE = "/dialer"
OFFER_TTL_MS = 10 * 60 * 1000
# Deletes the offer only if it still carries the caller's token.
_TAKE = """
if redis.call('hget', KEYS[1], 'token') == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""

local_offers_key: web.AppKey[dict[int, dict[str, str]]] = web.AppKey("progressive_offers")


class Offers:
    """The current offer of each agent: {"token", "lead_id", "skipped" (JSON list)}."""

    def __init__(self, app: Mapping[Any, Any]) -> None:
        self.app = app
        self.redis = app.get(redis_key)

    def _key(self, user_id: int) -> str:
        return f"{self.app[settings_key].socketio_channel}:next-dial:{user_id}"

    async def get(self, user_id: int) -> dict[str, str] | None:
        if self.redis is None:
            local: dict[str, str] | None = self.app[local_offers_key].get(user_id)
            return local
        found: dict[str, str] = await self.redis.hgetall(self._key(user_id))
        return found or None

    async def put(self, user_id: int, offer: dict[str, str]) -> None:
        if self.redis is None:
            self.app[local_offers_key][user_id] = offer
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._key(user_id))
            pipe.hset(self._key(user_id), mapping=offer)
            pipe.pexpire(self._key(user_id), OFFER_TTL_MS)
            await pipe.execute()

    async def take(self, user_id: int, token: str) -> bool:
        """Remove the offer if it is still `token`'s; True if this caller got it."""
        if self.redis is None:
            offers = self.app[local_offers_key]
            if offers.get(user_id, {}).get("token") != token:
                return False
            del offers[user_id]
            return True
        return bool(await self.redis.eval(_TAKE, 1, self._key(user_id), token))

    async def drop(self, user_id: int) -> bool:
        if self.redis is None:
            return self.app[local_offers_key].pop(user_id, None) is not None
        return bool(await self.redis.delete(self._key(user_id)))


async def _principal(app: Mapping[Any, Any], user_id: int) -> Principal | None:
    async with app[sessionmaker_key]() as session:
        user = await session.get(User, user_id)
    return principal_of(user) if user is not None and user.is_active else None


async def _emit(app: Mapping[Any, Any], user_id: int, event: str, data: dict[str, Any]) -> None:
    await app[sio_key].emit(event, data, to=agent_room(user_id), namespace=NAMESPACE)


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
            {"lead": None, "reason": None, "dial_at": None, "countdown_s": None},
        )
        return
    countdown = app[settings_key].progressive_countdown_s
    token = secrets.token_hex(8)
    lead_id = int(entry["lead"]["id"])
    await offers.put(
        user_id, {"token": token, "lead_id": str(lead_id), "skipped": json.dumps(skipped)}
    )
    dial_at = utcnow() + timedelta(seconds=countdown)
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
    presence.spawn(app, _dial_when_due(app, user_id, token, lead_id, skipped, countdown))


async def _dial_when_due(
    app: Mapping[Any, Any],
    user_id: int,
    token: str,
    lead_id: int,
    skipped: list[int],
    countdown: float,
) -> None:
    await asyncio.sleep(countdown)
    if not await Offers(app).take(user_id, token):
        return  # skipped, canceled or replaced meanwhile
    current = await presence.current(app, user_id)
    principal = await _principal(app, user_id)
    if current is None or principal is None:
        return
    if current.state != PresenceState.AVAILABLE or not current.progressive:
        return
    try:
        await start_call(app, principal, DialRequest(lead_id=lead_id))
    except DomainError as exc:
        log.info("progressive dial of lead %s refused: %s", lead_id, exc.code)
        await _emit(
            app,
            user_id,
            "next_dial_failed",
            {"lead_id": lead_id, "code": exc.code, "message": exc.message},
        )
        await offer_next(app, user_id, [*skipped, lead_id])


async def skip_next(app: Mapping[Any, Any], user_id: int) -> None:
    offers = Offers(app)
    offer = await offers.get(user_id)
    if offer is None:
        raise Conflict("no lead is being offered", code="no_next_dial")
    skipped = [*json.loads(offer["skipped"]), int(offer["lead_id"])]
    await offer_next(app, user_id, skipped)


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
    offers: dict[int, dict[str, str]] = {}
    app[local_offers_key] = offers
    app[presence.listeners_key].append(_on_presence)
