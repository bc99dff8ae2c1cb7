"""`dialgate applier`: a process that only applies stored webhooks, apart from the web gateway.

Web processes with APPLIER_IN_PROCESS=false store each callback and hand its row over the
Redis stream; this process consumes the stream (taking the applying lease in turn with any
other applier) and so never competes with ingest for an event loop. Its Socket.IO pushes go
out through the Redis manager, write-only: the web processes hold the browsers' sockets.
"""

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator

import socketio
from aiohttp import web

from dialer.clock import setup_clock
from dialer.locks import setup_locks
from dialer.pacing import setup_pacing
from dialer.presence import setup_presence
from dialer.progressive import setup_progressive
from dialer.routing import setup_routing
from gateway.app import http_ctx, redis_ctx, tasks_ctx
from gateway.carriers.registry import CarrierRegistry
from gateway.carriers.sandbox.simulator import Simulator
from gateway.db import db_ctx
from gateway.keys import carriers_key, settings_key, simulator_key, sio_key, tasks_key
from gateway.settings import Settings
from webhooks.applier import Applier, applier_key

log = logging.getLogger(__name__)


class NeedsRedis(ValueError):
    """An applier apart from the web processes is reached only through Redis."""


def write_only_sio(settings: Settings) -> socketio.AsyncServer:
    """A server that is never attached: its emits are published to the web processes."""
    assert settings.redis_url is not None
    manager = socketio.AsyncRedisManager(
        settings.redis_url, channel=settings.socketio_channel, write_only=True
    )
    return socketio.AsyncServer(async_mode="aiohttp", client_manager=manager)


async def _applier_ctx(app: web.Application) -> AsyncIterator[None]:
    # Always consumes, whatever APPLIER_IN_PROCESS says for the web processes.
    applier = Applier(app, consume=True)
    app[applier_key] = applier
    await applier.start()
    yield
    await applier.stop()


def create_applier_app(settings: Settings) -> web.Application:
    """The applier's side of the gateway: database, Redis, carriers, pushes; no HTTP routes."""
    if not settings.redis_url:
        raise NeedsRedis("the applier runs apart from the gateway only with REDIS_URL set")
    app = web.Application()
    app[settings_key] = settings
    app[tasks_key] = set()
    app[carriers_key] = CarrierRegistry()
    # The same hooks as a web process: applied calls move presence, which schedules
    # wrap-up ends, screen pops and progressive offers.
    setup_locks(app)
    setup_pacing(app)
    setup_clock(app)
    setup_presence(app)
    setup_progressive(app)
    setup_routing(app)
    app[simulator_key] = Simulator(http=None, speed=settings.sandbox_speed)
    app[sio_key] = write_only_sio(settings)
    app.cleanup_ctx.append(db_ctx)
    app.cleanup_ctx.append(redis_ctx)
    app.cleanup_ctx.append(http_ctx)
    app.cleanup_ctx.append(_applier_ctx)
    app.cleanup_ctx.append(tasks_ctx)
    return app


async def run_applier(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Apply until SIGINT/SIGTERM (or `stop` is set), then hand the lease over."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(create_applier_app(settings))
    await runner.setup()  # starts the cleanup contexts: the applier consumes from here on
    log.info("applier %s started", runner.app[applier_key].consumer)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
