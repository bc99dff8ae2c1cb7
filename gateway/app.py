"""`create_app(settings)`: builds the whole gateway — nothing is created at import time."""

import asyncio
import logging
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import aiohttp
import socketio
from aiohttp import web
from redis.asyncio import Redis

from crm.assignment_routes import routes as assignment_routes
from crm.disposition_routes import routes as disposition_routes
from crm.import_routes import routes as import_routes
from crm.importer.runtime import imports_ctx
from crm.integration_routes import routes as integration_routes
from crm.integrations.dispatcher import integrations_ctx
from crm.lead_routes import routes as lead_routes
from crm.people_routes import routes as people_routes
from crm.report_routes import routes as report_routes
from crm.routes import routes as crm_routes
from dialer.clock import setup_clock
from dialer.locks import setup_locks
from dialer.namespace import DialerNamespace
from dialer.pacing import setup_pacing
from dialer.presence import presence_ctx, setup_presence
from dialer.progressive import setup_progressive
from dialer.reminders import followups_ctx
from dialer.routes import routes as dialer_routes
from dialer.routing import setup_routing
from gateway import accounts, health, openapi, users, webui
from gateway.auth import auth_middleware
from gateway.carriers.base import CarrierRuntime
from gateway.carriers.registry import CarrierRegistry
from gateway.carriers.sandbox.simulator import Simulator
from gateway.db import db_ctx
from gateway.errors import Handler, error_middleware
from gateway.keys import (
    carriers_key,
    http_key,
    redis_key,
    runtime_key,
    settings_key,
    simulator_key,
    sio_key,
    tasks_key,
)
from gateway.logsetup import request_id_middleware
from gateway.settings import Settings
from gateway.stopping import stop_tasks
from webhooks.applier import applier_ctx
from webhooks.reconcile import reconcile_ctx
from webhooks.routes import inbox_ctx
from webhooks.routes import routes as webhook_routes

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


async def http_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    http = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=settings.outbound_timeout_s, connect=5)
    )
    app[http_key] = http
    app[runtime_key] = CarrierRuntime(settings=settings, http=http)
    app[simulator_key].http = http
    yield
    await app[carriers_key].close()
    await http.close()


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    url = app[settings_key].redis_url
    assert url is not None
    redis = Redis.from_url(url, decode_responses=True)
    app[redis_key] = redis
    yield
    await redis.aclose()


async def tasks_ctx(app: web.Application) -> AsyncIterator[None]:
    yield
    # Background work (origination, simulated carrier callbacks) ends before its resources.
    await app[simulator_key].close()
    pending = app[tasks_key]
    await stop_tasks(list(pending))


def make_sio(settings: Settings) -> socketio.AsyncServer:
    manager = None
    if settings.redis_url:
        manager = socketio.AsyncRedisManager(settings.redis_url, channel=settings.socketio_channel)
    # Auth is a bearer token checked on connect, not a cookie, so any origin may connect
    # (the browser extension's origin is chrome-extension://...).
    return socketio.AsyncServer(
        async_mode="aiohttp", client_manager=manager, cors_allowed_origins="*"
    )


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


@web.middleware
async def root_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Carrier callbacks get only the JSON error shape; everything else gets the whole chain.

    Order (outermost first): request id for every log line, then errors so that auth failures
    get the JSON error shape, then auth. Callbacks are authenticated by their signatures, and
    the request id would only cost them time: one middleware here instead of three.
    """
    if request.path.startswith("/webhooks/"):
        return await error_middleware(request, handler)
    inner = partial(error_middleware, handler=partial(auth_middleware, handler=handler))
    return await request_id_middleware(request, inner)


def create_app(settings: Settings | None = None) -> web.Application:
    settings = settings or Settings()
    app = web.Application(client_max_size=2 * 1024**2)
    app[settings_key] = settings
    tasks: set[asyncio.Task[None]] = set()
    app[tasks_key] = tasks
    app[carriers_key] = CarrierRegistry()
    setup_locks(app)
    setup_pacing(app)
    setup_clock(app)
    setup_presence(app)
    setup_progressive(app)
    setup_routing(app)
    simulator = Simulator(http=None, speed=settings.sandbox_speed)
    app[simulator_key] = simulator

    app.middlewares.append(root_middleware)

    # cleanup_ctx unwinds in reverse: background tasks stop first, then the inbox's committer,
    # the applier it feeds, HTTP and Redis, and the database last.
    app.cleanup_ctx.append(db_ctx)
    if settings.redis_url:
        app.cleanup_ctx.append(redis_ctx)
    app.cleanup_ctx.append(http_ctx)
    app.cleanup_ctx.append(applier_ctx)
    app.cleanup_ctx.append(inbox_ctx)
    app.cleanup_ctx.append(reconcile_ctx)
    app.cleanup_ctx.append(integrations_ctx)
    app.cleanup_ctx.append(followups_ctx)
    # Import jobs resume at start-up; they stop (at a checkpoint) with the other tasks.
    app.cleanup_ctx.append(imports_ctx)
    app.cleanup_ctx.append(tasks_ctx)
    app.cleanup_ctx.append(presence_ctx)

    sio = make_sio(settings)
    sio.register_namespace(DialerNamespace(app))
    sio.attach(app)
    app[sio_key] = sio

    app.router.add_get("/", index)
    app.add_routes(health.routes)
    app.add_routes(users.routes)
    app.add_routes(accounts.routes)
    app.add_routes(openapi.routes)
    app.add_routes(crm_routes)
    app.add_routes(lead_routes)
    app.add_routes(assignment_routes)
    app.add_routes(people_routes)
    app.add_routes(report_routes)
    app.add_routes(dialer_routes)
    app.add_routes(integration_routes)
    app.add_routes(webui.routes)
    app.add_routes(disposition_routes)
    app.add_routes(import_routes)
    app.add_routes(webhook_routes)
    if settings.sandbox_api_enabled:
        sim_app = web.Application()
        sim_app.add_routes(simulator.routes())
        app.add_subapp("/sandbox-carrier", sim_app)
    return app
