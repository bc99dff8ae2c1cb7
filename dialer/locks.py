"""Per-agent dial lock: two clicks (tabs, processes) never start two calls for one agent.

With Redis the lock is shared by every gateway process (SET NX with a TTL, released only by
its holder); without Redis it lives in this process.
"""

import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from gateway.errors import Conflict
from gateway.keys import redis_key, settings_key

LOCK_TTL_MS = 10_000
# Deletes the key only if it still holds our token (a lock that expired may be someone else's).
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""

local_locks_key: web.AppKey[set[int]] = web.AppKey("local_dial_locks")


def setup_locks(app: web.Application) -> None:
    held: set[int] = set()
    app[local_locks_key] = held


@asynccontextmanager
async def agent_dial_lock(app: Mapping[Any, Any], agent_id: int) -> AsyncIterator[None]:
    busy = Conflict("a call is already being placed for you", code="dial_in_progress")
    redis = app.get(redis_key)
    if redis is not None:
        # Namespaced like the Socket.IO channel: deployments sharing a Redis stay apart.
        key = f"{app[settings_key].socketio_channel}:dial-lock:{agent_id}"
        token = secrets.token_hex(8)
        if not await redis.set(key, token, nx=True, px=LOCK_TTL_MS):
            raise busy
        try:
            yield
        finally:
            await redis.eval(_RELEASE, 1, key, token)
        return
    held: set[int] = app[local_locks_key]
    if agent_id in held:
        raise busy
    held.add(agent_id)
    try:
        yield
    finally:
        held.discard(agent_id)
