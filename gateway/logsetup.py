"""Logging with a request id on every line."""

import contextvars
import logging
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def configure(level: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log would print full webhook URLs with their query strings.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


@web.middleware
async def request_id_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    rid = request.headers.get("X-Request-Id", "")[:64] or secrets.token_hex(8)
    token = request_id.set(rid)
    try:
        response = await handler(request)
        response.headers["X-Request-Id"] = rid
        return response
    finally:
        request_id.reset(token)
