"""Agent presence: one state per agent shared by all their sockets and processes, driven by calls.

States: offline, available, on-call, wrap-up, paused (with a reason). `AgentPresence` holds the
current state (one row per agent), `PresenceEvent` every interval. Rules:

* Connecting never changes a state, except that the first socket of an agent who is offline
  makes them available (opening the dialer means "ready to work"); a paused agent who opens
  another tab stays paused.
* Each socket counts as alive while it connects or sends `heartbeat`s; when none of an agent's
  sockets has been seen for `PRESENCE_GRACE_S` (all tabs closed, or the network gone) the agent
  goes offline. With Redis the sockets are tracked in Redis, so every process agrees.
* A call of the agent that is being placed, ringing or talking puts them on-call; its end puts
  them in wrap-up, which ends after the organization's `wrapup_limit_s`, or, when the
  organization requires a disposition, once one is recorded (`finish_wrap_up`).
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.orgconfig import pause_reasons
from dialer.rooms import call_audience
from gateway.auth import Principal
from gateway.errors import Conflict, InvalidInput
from gateway.keys import redis_key, sessionmaker_key, settings_key, sio_key, tasks_key
from gateway.models import (
    AgentPresence,
    Call,
    CallStatus,
    Disposition,
    Organization,
    PresenceEvent,
    PresenceState,
    Role,
    User,
    utcnow,
)
from gateway.stopping import stop_tasks

log = logging.getLogger(__name__)
NAMESPACE = "/dialer"
# States an agent may choose; the others follow from calls and connections.
CHOSEN = frozenset({PresenceState.AVAILABLE, PresenceState.PAUSED, PresenceState.OFFLINE})

# Called after every committed change: (app, presence before, presence after).
Listener = Callable[[Mapping[Any, Any], "Snapshot", "Snapshot"], Awaitable[None]]
listeners_key: web.AppKey[list[Listener]] = web.AppKey("presence_listeners")
# Run by the sweep after its own work, in every process: (app).
Sweeper = Callable[[Mapping[Any, Any]], Awaitable[None]]
sweepers_key: web.AppKey[list[Sweeper]] = web.AppKey("presence_sweepers")


class Snapshot:
    """A committed presence row with the agent's name and team, detached from any session."""

    def __init__(self, presence: AgentPresence, user: User) -> None:
        self.user_id = presence.user_id
        self.org_id = presence.org_id
        self.state = presence.state
        self.reason = presence.reason
        self.since = presence.since
        self.call_id = presence.call_id
        self.progressive = presence.progressive
        self.name = user.name
        self.team_id = user.team_id

    def to_json(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "name": self.name,
            "team_id": self.team_id,
            "state": self.state,
            "reason": self.reason,
            "since": self.since.isoformat(),
            "call_id": self.call_id,
            "progressive": self.progressive,
        }


# --- which sockets are alive ----------------------------------------------------------------


class Liveness:
    """Last sign of life of each socket of each agent: in this process, or in Redis."""

    def __init__(self, app: Mapping[Any, Any]) -> None:
        self.app = app
        self.local: dict[int, dict[str, float]] = {}

    def _key(self, user_id: int) -> str:
        return f"{self.app[settings_key].socketio_channel}:presence:{user_id}"

    async def touch(self, user_id: int, sid: str) -> None:
        """The socket connected, sent a heartbeat, or (its last sign) disconnected."""
        redis = self.app.get(redis_key)
        if redis is None:
            self.local.setdefault(user_id, {})[sid] = time.time()
            return
        grace = self.app[settings_key].presence_grace_s
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hset(self._key(user_id), sid, repr(time.time()))
            pipe.expire(self._key(user_id), max(60, int(grace * 4)))
            await pipe.execute()

    async def alive(self, user_id: int) -> bool | None:
        """Whether a socket was seen within the grace period; None: no socket is known."""
        grace = self.app[settings_key].presence_grace_s
        cutoff = time.time() - grace
        redis = self.app.get(redis_key)
        if redis is None:
            seen = self.local.get(user_id)
            if not seen:
                return None
            for sid in [s for s, at in seen.items() if at < cutoff]:
                del seen[sid]
            if not seen:
                del self.local[user_id]
                return False
            return True
        seen_raw: dict[str, str] = await redis.hgetall(self._key(user_id))
        if not seen_raw:
            return None
        stale = [sid for sid, at in seen_raw.items() if float(at) < cutoff]
        if stale:
            await redis.hdel(self._key(user_id), *stale)
        return len(stale) < len(seen_raw)


liveness_key = web.AppKey("presence_liveness", Liveness)
follow_locks_key: web.AppKey[dict[int, asyncio.Lock]] = web.AppKey("presence_follow_locks")


# --- the state machine ---------------------------------------------------------------------


async def _locked(session: AsyncSession, user: User) -> AgentPresence:
    """The agent's row under a write lock (created offline on first use)."""
    assert user.id is not None
    locked = await session.exec(
        update(AgentPresence)
        .where(col(AgentPresence.user_id) == user.id)
        .values(user_id=AgentPresence.user_id)
        .execution_options(synchronize_session=False)
    )
    if locked.rowcount == 0:
        session.add(
            AgentPresence(
                user_id=user.id, org_id=user.org_id, state=PresenceState.OFFLINE, since=utcnow()
            )
        )
        await session.flush()
    presence = await session.get(AgentPresence, user.id, populate_existing=True)
    assert presence is not None
    return presence


async def _move(
    session: AsyncSession,
    presence: AgentPresence,
    state: str,
    *,
    reason: str | None = None,
    call_id: int | None = None,
) -> bool:
    """Set a new state and close the previous interval; False if nothing changes."""
    if (presence.state, presence.reason, presence.call_id) == (state, reason, call_id):
        return False
    at = utcnow()
    await session.exec(
        update(PresenceEvent)
        .where(
            col(PresenceEvent.user_id) == presence.user_id,
            col(PresenceEvent.ended_at).is_(None),
        )
        .values(ended_at=at)
        .execution_options(synchronize_session=False)
    )
    session.add(
        PresenceEvent(
            org_id=presence.org_id,
            user_id=presence.user_id,
            state=state,
            reason=reason,
            started_at=at,
        )
    )
    presence.state = state
    presence.reason = reason
    presence.call_id = call_id
    presence.since = at
    session.add(presence)
    return True


Change = Callable[[AsyncSession, AgentPresence], Awaitable[bool]]


async def change(
    app: Mapping[Any, Any], user_id: int, decide: Change
) -> tuple[Snapshot, bool] | None:
    """Run `decide` on the agent's locked row in one transaction; announce a change after commit.

    Returns the committed presence and whether it changed (None: no such active user).
    """
    for attempt in range(2):
        async with app[sessionmaker_key]() as session:
            user = await session.get(User, user_id)
            if user is None:
                return None
            try:
                presence = await _locked(session, user)
            except IntegrityError:
                # Two first uses raced to create the row: the other one won, read it.
                await session.rollback()
                if attempt == 0:
                    continue
                raise
            before = Snapshot(presence, user)
            changed = await decide(session, presence)
            await session.commit()
            after = Snapshot(presence, user)
        if changed:
            await _announce(app, before, after)
        return after, changed
    return None


async def _announce(app: Mapping[Any, Any], before: Snapshot, after: Snapshot) -> None:
    rooms = call_audience(org_id=after.org_id, agent_id=after.user_id, team_id=after.team_id)
    try:
        await app[sio_key].emit("presence", after.to_json(), to=rooms, namespace=NAMESPACE)
    except Exception:
        log.exception("could not push presence of user %s", after.user_id)
    if after.state == PresenceState.WRAP_UP and before.state != PresenceState.WRAP_UP:
        await _schedule_wrap_up_end(app, after)
    for listener in app.get(listeners_key, []):
        try:
            await listener(app, before, after)
        except Exception:
            log.exception("presence listener failed for user %s", after.user_id)


async def current(app: Mapping[Any, Any], user_id: int) -> Snapshot | None:
    async with app[sessionmaker_key]() as session:
        user = await session.get(User, user_id)
        if user is None:
            return None
        presence = await session.get(AgentPresence, user_id)
        if presence is None:
            presence = AgentPresence(
                user_id=user_id, org_id=user.org_id, state=PresenceState.OFFLINE, since=utcnow()
            )
        return Snapshot(presence, user)


# --- what agents do ------------------------------------------------------------------------


async def set_state(
    app: Mapping[Any, Any], principal: Principal, state: str, reason: str | None
) -> Snapshot:
    """The agent chooses available, paused (with one of the organization's reasons) or offline."""
    if state not in CHOSEN:
        raise InvalidInput(
            f"must be one of {', '.join(sorted(CHOSEN))}", field="state", code="invalid_state"
        )
    if state == PresenceState.PAUSED:
        async with app[sessionmaker_key]() as session:
            org = await session.get(Organization, principal.org_id)
            assert org is not None
            keys = [r["key"] for r in pause_reasons(org)]
        if reason not in keys:
            raise InvalidInput(
                f"reason must be one of {', '.join(keys)}", field="reason", code="invalid_reason"
            )
    else:
        reason = None

    async def decide(session: AsyncSession, presence: AgentPresence) -> bool:
        if presence.state == PresenceState.ON_CALL:
            raise Conflict(
                "you are on a call; change state when it ends",
                field="state",
                code="on_call",
                call_id=presence.call_id,
            )
        return await _move(session, presence, state, reason=reason)

    result = await change(app, principal.user_id, decide)
    assert result is not None
    return result[0]


async def socket_connected(
    app: Mapping[Any, Any], principal: Principal, sid: str
) -> tuple[Snapshot, bool]:
    await app[liveness_key].touch(principal.user_id, sid)

    async def decide(session: AsyncSession, presence: AgentPresence) -> bool:
        presence.last_seen_at = utcnow()
        session.add(presence)
        if presence.state == PresenceState.OFFLINE and principal.role == Role.AGENT:
            return await _move(session, presence, PresenceState.AVAILABLE)
        return False

    result = await change(app, principal.user_id, decide)
    assert result is not None
    return result


async def heartbeat(app: Mapping[Any, Any], principal: Principal, sid: str) -> Snapshot:
    await app[liveness_key].touch(principal.user_id, sid)
    snapshot = await current(app, principal.user_id)
    assert snapshot is not None
    return snapshot


async def socket_disconnected(app: Mapping[Any, Any], principal: Principal, sid: str) -> None:
    # Its last sign of life is now: the agent stays as they are for the grace period, in case
    # the tab is only reloading; the sweep takes them offline after it.
    await app[liveness_key].touch(principal.user_id, sid)

    async def decide(session: AsyncSession, presence: AgentPresence) -> bool:
        presence.last_seen_at = utcnow()
        session.add(presence)
        return False

    await change(app, principal.user_id, decide)


async def set_progressive(app: Mapping[Any, Any], user_id: int, enabled: bool) -> Snapshot:
    async def decide(session: AsyncSession, presence: AgentPresence) -> bool:
        if presence.progressive == enabled:
            return False
        presence.progressive = enabled
        session.add(presence)
        return True

    result = await change(app, user_id, decide)
    assert result is not None
    return result[0]


async def finish_wrap_up(app: Mapping[Any, Any], *, user_id: int, call_id: int) -> bool:
    """End the agent's wrap-up of `call_id` (they are available again); False if not in it.

    Called when a disposition is recorded for the call, and by the agent's `end_wrap_up`.
    """

    async def decide(session: AsyncSession, presence: AgentPresence) -> bool:
        if presence.state != PresenceState.WRAP_UP or presence.call_id != call_id:
            return False
        return await _move(session, presence, PresenceState.AVAILABLE)

    result = await change(app, user_id, decide)
    return result is not None and result[1]


async def end_wrap_up(app: Mapping[Any, Any], principal: Principal, call_id: int) -> Snapshot:
    """The agent ends their wrap-up; refused while the organization wants a disposition first."""
    async with app[sessionmaker_key]() as session:
        org = await session.get(Organization, principal.org_id)
        assert org is not None
        if org.wrapup_requires_disposition:
            query = select(Disposition.id).where(col(Disposition.call_id) == call_id)
            recorded = (await session.exec(query)).first()
            if recorded is None:
                raise Conflict(
                    "record a disposition for the call to end wrap-up",
                    field="call_id",
                    code="disposition_required",
                )
    if not await finish_wrap_up(app, user_id=principal.user_id, call_id=call_id):
        raise Conflict("you are not wrapping up that call", field="call_id", code="not_in_wrap_up")
    snapshot = await current(app, principal.user_id)
    assert snapshot is not None
    return snapshot


# --- calls drive presence --------------------------------------------------------------------


CallListener = Callable[[Mapping[Any, Any], Call, Snapshot], Awaitable[None]]
call_listeners_key: web.AppKey[list[CallListener]] = web.AppKey("presence_call_listeners")


async def follow_calls(app: Mapping[Any, Any], calls: list[Call]) -> None:
    """After calls changed (and were committed): their agents go on-call or into wrap-up.

    In the background, so that the webhook applier is not held up; one agent's updates run
    one at a time, in the order they were pushed (asyncio locks are first come, first served).
    """
    locks: dict[int, asyncio.Lock] = app[follow_locks_key]
    for call in calls:
        if call.agent_id is None or call.id is None:
            continue
        lock = locks.setdefault(call.agent_id, asyncio.Lock())
        spawn(app, _follow_in_turn(app, lock, call.agent_id, call.id))


async def _follow_in_turn(
    app: Mapping[Any, Any], lock: asyncio.Lock, agent_id: int, call_id: int
) -> None:
    async with lock:
        await _follow(app, agent_id, call_id)


async def _follow(app: Mapping[Any, Any], agent_id: int, call_id: int) -> None:
    started: list[Call] = []

    async def decide(session: AsyncSession, presence: AgentPresence) -> bool:
        # The call as committed now: pushes of one call may be handled out of order.
        call = await session.get(Call, call_id, populate_existing=True)
        if call is None or call.agent_id != presence.user_id:
            return False
        if call.status != CallStatus.COMPLETED:
            if presence.state == PresenceState.ON_CALL and presence.call_id == call_id:
                return False
            started.append(call)
            return await _move(session, presence, PresenceState.ON_CALL, call_id=call_id)
        if presence.state == PresenceState.ON_CALL and presence.call_id == call_id:
            return await _move(session, presence, PresenceState.WRAP_UP, call_id=call_id)
        # A call so short that it had ended before its first push was handled: the agent never
        # showed on call, but still wraps it up. Available since before the call was placed
        # means that wrap-up has not happened yet (ending it moves `since` past the call).
        if presence.state == PresenceState.AVAILABLE and presence.since <= call.created_at:
            return await _move(session, presence, PresenceState.WRAP_UP, call_id=call_id)
        return False

    result = await change(app, agent_id, decide)
    if result is not None and result[1] and started:
        for listener in app.get(call_listeners_key, []):
            await listener(app, started[0], result[0])


def _wrap_up_due(org: Organization, since: datetime, now: datetime) -> bool:
    """Whether a wrap-up that began at `since` ends by the organization's current rules."""
    return (
        not org.wrapup_requires_disposition
        and org.wrapup_limit_s is not None
        and now - since >= timedelta(seconds=org.wrapup_limit_s)
    )


async def _schedule_wrap_up_end(app: Mapping[Any, Any], snapshot: Snapshot) -> None:
    async with app[sessionmaker_key]() as session:
        org = await session.get(Organization, snapshot.org_id)
    if org is None or org.wrapup_requires_disposition or org.wrapup_limit_s is None:
        return
    assert snapshot.call_id is not None
    limit, call_id = org.wrapup_limit_s, snapshot.call_id

    async def later() -> None:
        await asyncio.sleep(limit)
        # The settings may have changed meanwhile (a longer limit, a disposition required):
        # then the sweep ends the wrap-up when the new rule says so.
        async with app[sessionmaker_key]() as session:
            now_org = await session.get(Organization, snapshot.org_id)
        if now_org is not None and _wrap_up_due(now_org, snapshot.since, utcnow()):
            await finish_wrap_up(app, user_id=snapshot.user_id, call_id=call_id)

    spawn(app, later())


def spawn(app: Mapping[Any, Any], coro: Coroutine[Any, Any, None]) -> None:
    async def run() -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("dialer background task failed")

    tasks: set[asyncio.Task[None]] = app[tasks_key]
    task = asyncio.get_running_loop().create_task(run())
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    # Cancelled before it ever ran (shutdown): close `coro` rather than leave it never awaited.
    task.add_done_callback(lambda _: coro.close())


# --- the sweep: silent agents go offline, expired wrap-ups end, then the sweepers ------------


async def sweep(app: Mapping[Any, Any]) -> None:
    grace = app[settings_key].presence_grace_s
    liveness: Liveness = app[liveness_key]
    now = utcnow()
    async with app[sessionmaker_key]() as session:
        rows = (
            await session.exec(
                select(AgentPresence, Organization)
                .join(Organization, col(Organization.id) == AgentPresence.org_id)
                .where(
                    col(AgentPresence.state).in_(
                        [PresenceState.AVAILABLE, PresenceState.PAUSED, PresenceState.WRAP_UP]
                    )
                )
            )
        ).all()
    for presence, org in rows:
        alive = await liveness.alive(presence.user_id)
        if alive is None:
            # No socket known (e.g. this process restarted without Redis): judge by the row.
            seen = presence.last_seen_at or presence.since
            alive = now - seen < timedelta(seconds=grace)
        if not alive:
            await change(app, presence.user_id, _offline_unless_on_call)
            continue
        if (
            presence.state == PresenceState.WRAP_UP
            and presence.call_id is not None
            and _wrap_up_due(org, presence.since, now)
        ):
            await finish_wrap_up(app, user_id=presence.user_id, call_id=presence.call_id)
    for sweeper in app.get(sweepers_key, []):
        await sweeper(app)


async def _offline_unless_on_call(session: AsyncSession, presence: AgentPresence) -> bool:
    if presence.state in (PresenceState.OFFLINE, PresenceState.ON_CALL):
        return False
    return await _move(session, presence, PresenceState.OFFLINE)


async def _sweep_forever(app: web.Application) -> None:
    grace = app[settings_key].presence_grace_s
    interval = max(0.1, min(grace / 4, 5.0))
    while True:
        await asyncio.sleep(interval)
        try:
            await sweep(app)
        except (RedisError, OSError) as exc:
            log.warning("presence sweep failed: %r", exc)
        except Exception:
            log.exception("presence sweep failed")


def setup_presence(app: web.Application) -> None:
    app[liveness_key] = Liveness(app)
    app[listeners_key] = []
    app[sweepers_key] = []
    app[call_listeners_key] = []
    app[follow_locks_key] = {}


async def presence_ctx(app: web.Application) -> AsyncIterator[None]:
    """The sweep runs while the app does (registered after the database and Redis)."""
    task = asyncio.get_running_loop().create_task(_sweep_forever(app))
    yield
    await stop_tasks([task])
