"""Calls-per-second pacing per carrier account: over the limit, calls wait their turn.

Carriers cap how fast an account may place calls (Twilio: 1 per second by default) and
refuse or queue the excess. Dialgate spaces originations itself, as a virtual schedule: each
call takes the next free slot, `1/rate` seconds after the previous one, and sleeps until it.
With Redis the schedule is shared by every gateway process (one Lua step, Redis's own clock).
"""

import asyncio
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from gateway.keys import redis_key, settings_key

# Reserves the next slot; returns how many microseconds the caller must wait for it.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, nxt)
local interval = tonumber(ARGV[1])
redis.call('SET', KEYS[1], slot + interval, 'PX', math.ceil(interval / 1000) + 60000)
return slot - now
"""

local_slots_key: web.AppKey[dict[int, float]] = web.AppKey("cps_slots")


def setup_pacing(app: web.Application) -> None:
    slots: dict[int, float] = {}
    app[local_slots_key] = slots


async def wait_for_slot(app: Mapping[Any, Any], account_id: int, rate: float | None) -> float:
    """Sleep until this account may place its next call; returns the seconds waited."""
    if not rate or rate <= 0:
        return 0.0
    interval = 1.0 / rate
    redis = app.get(redis_key)
    if redis is not None:
        key = f"{app[settings_key].socketio_channel}:cps:{account_id}"
        wait = int(await redis.eval(_RESERVE, 1, key, int(interval * 1_000_000))) / 1_000_000
    else:
        slots: dict[int, float] = app[local_slots_key]
        now = asyncio.get_running_loop().time()
        slot = max(now, slots.get(account_id, 0.0))
        slots[account_id] = slot + interval
        wait = slot - now
    if wait > 0:
        await asyncio.sleep(wait)
    return wait
