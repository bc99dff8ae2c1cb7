"""Liveness (`/healthz`) and readiness (`/readyz`: database and, when configured, Redis)."""

import logging

import sqlalchemy as sa
from aiohttp import web

from gateway.keys import engine_key, redis_key

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
# Which of `dialgate serve --processes N`'s workers this is (1..N); absent with one process.
worker_key = web.AppKey("worker", int)


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    response = web.json_response({"status": "ok"})
    worker = request.app.get(worker_key)
    if worker is not None:
        # The worker's number (not its pid), so a load balancer's checks can tell them apart.
        response.headers["X-Dialgate-Worker"] = str(worker)
    return response


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    try:
        async with request.app[engine_key].connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        log.warning("database not ready: %r", exc)
        checks["database"] = "unavailable"
    redis = request.app.get(redis_key)
    if redis is not None:
        try:
            await redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            log.warning("redis not ready: %r", exc)
            checks["redis"] = "unavailable"
    ready = all(v == "ok" for v in checks.values())
    return web.json_response(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )
