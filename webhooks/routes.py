"""`/webhooks/{carrier}/{account_id}/{kind}`: verify, store durably, answer, apply.

Routed on the root app, where `gateway.app.root_middleware` gives these requests the error
shape and nothing else: user authentication never wraps carrier callbacks, which are
authenticated by the carrier's signature alone (and a sub-app would cost every callback a
second resolution and chained lookups). The carrier gets its 2xx once the raw request
is committed to the inbox, and not before; applying it to calls happens afterwards (see
`webhooks.applier`), except for requests whose reply carries call instructions.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway.carriers.base import Carrier, InboundWebhook, MalformedWebhook, SignatureError
from gateway.errors import error_response
from gateway.keys import carriers_key, sessionmaker_key, settings_key, write_turn_key
from gateway.models import CarrierAccount
from gateway.stopping import stop_tasks
from webhooks.applier import applier_key
from webhooks.inbox import GroupCommitter

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
# A deactivated account stops being accepted within this many seconds (in this process at
# once: the API drops it from the cache; in the others after the refresh, within TTL + STALE).
ACCOUNT_TTL_S = 10.0
ACCOUNT_STALE_S = 5.0
# At most one security log line per account and this many seconds (bad-signature floods).
SECURITY_LOG_EVERY_S = 10.0

committer_key = web.AppKey("inbox_committer", GroupCommitter)
accounts_key: web.AppKey[dict[int, tuple[float, CarrierAccount]]] = web.AppKey("account_cache")
account_loads_key: web.AppKey[dict[int, asyncio.Task[CarrierAccount | None]]] = web.AppKey(
    "account_loads"
)
security_log_key: web.AppKey[dict[int, float]] = web.AppKey("security_log")


def public_url(request: web.Request) -> str:
    """The URL the carrier requested, as the carrier saw it (what it signed).

    PUBLIC_BASE_URL, unless a trusted proxy says which scheme and host it was asked for;
    forwarded headers from anyone else are ignored (they would let a caller pick the URL).
    """
    settings = request.app[settings_key]
    host = request.headers.get("X-Forwarded-Host")
    if host and request.remote in settings.proxies:
        proto = request.headers.get("X-Forwarded-Proto", "https").split(",")[0].strip()
        return f"{proto}://{host.split(',')[0].strip()}{request.raw_path}"
    return settings.public_base_url + request.raw_path


async def _account(app: Mapping[Any, Any], account_id: int) -> CarrierAccount | None:
    """Accounts are read on every callback: a short cache keeps that off the database.

    One read per account refreshes it (single flight). An entry past its time is still
    served while that read runs, for up to ACCOUNT_STALE_S more, so a steady stream of
    callbacks never stops to wait for it; after that, or with nothing cached, callbacks wait
    for the read instead of each queueing for a connection. The read is a task of its own,
    not part of the request that started it, so a request that goes away (the carrier hung
    up) never leaves the others waiting on a read nobody finishes.
    """
    hit: tuple[float, CarrierAccount] | None = app[accounts_key].get(account_id)
    now = time.monotonic()
    if hit is not None and hit[0] > now:
        return hit[1]
    loading = app[account_loads_key]
    task: asyncio.Task[CarrierAccount | None] | None = loading.get(account_id)
    if task is None:
        task = asyncio.create_task(_load_account(app, account_id))
        loading[account_id] = task
        # Nobody may be left to await a failed read; retrieving it here keeps asyncio quiet.
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
    if hit is not None and hit[0] + ACCOUNT_STALE_S > now:
        return hit[1]
    return await asyncio.shield(task)


def forget_account(app: Mapping[Any, Any], account_id: int) -> None:
    """Drop a cached account (after it changed) so the next callback reads it again."""
    app[accounts_key].pop(account_id, None)


async def _load_account(app: Mapping[Any, Any], account_id: int) -> CarrierAccount | None:
    try:
        async with app[sessionmaker_key]() as session:
            account: CarrierAccount | None = await session.get(CarrierAccount, account_id)
        if account is not None:
            app[accounts_key][account_id] = (time.monotonic() + ACCOUNT_TTL_S, account)
        else:
            app[accounts_key].pop(account_id, None)
        return account
    finally:
        del app[account_loads_key][account_id]


def _security_log(request: web.Request, account: CarrierAccount, reason: str) -> None:
    seen = request.app[security_log_key]
    now = time.monotonic()
    if now - seen.get(account.id or 0, -SECURITY_LOG_EVERY_S) >= SECURITY_LOG_EVERY_S:
        seen[account.id or 0] = now
        log.warning(
            "rejected %s webhook for account %s from %s: %s",
            account.carrier,
            account.id,
            request.remote,
            reason,
        )


@routes.route("*", "/webhooks/{carrier}/{account_id}/{kind}")
async def receive(request: web.Request) -> web.StreamResponse:
    app = request.app
    if request.method not in ("GET", "POST"):
        return error_response(405, "method_not_allowed", "use GET or POST")
    carrier_name = request.match_info["carrier"]
    kind = request.match_info["kind"]
    adapter: Carrier | None = app[carriers_key].get(carrier_name)
    if adapter is None:
        return error_response(404, "unknown_carrier", f"no carrier {carrier_name!r}", "carrier")
    if kind not in adapter.webhook_kinds:
        return error_response(404, "unknown_kind", f"no webhook kind {kind!r}", "kind")
    raw_id = request.match_info["account_id"]
    if not raw_id.isdigit():
        return error_response(404, "unknown_account", "no such carrier account", "account_id")
    limit = app[settings_key].webhook_max_bytes
    if (request.content_length or 0) > limit:
        return error_response(413, "too_large", f"body over {limit} bytes", "body")
    body = await request.read()
    if len(body) > limit:
        return error_response(413, "too_large", f"body over {limit} bytes", "body")
    account = await _account(app, int(raw_id))
    if account is None or account.carrier != carrier_name or not account.is_active:
        return error_response(404, "unknown_account", "no such carrier account", "account_id")
    headers = {k.lower(): v for k, v in request.headers.items()}
    hook = InboundWebhook(
        method=request.method,
        url=public_url(request),
        headers=headers,
        body=body,
        query=dict(request.query),
        kind=kind,
    )
    # Verify before parsing anything: an unsigned request stores and changes nothing.
    try:
        adapter.verify(account.credentials, hook)
    except SignatureError as exc:
        _security_log(request, account, str(exc))
        return error_response(403, "invalid_signature", "signature verification failed")
    try:
        adapter.check(hook, account.credentials)
    except MalformedWebhook as exc:
        return error_response(400, "malformed", exc.message, exc.field)
    sync = kind in adapter.sync_kinds
    row_id = await app[committer_key].submit(
        {
            "org_id": account.org_id,
            "account_id": account.id,
            "carrier": carrier_name,
            "kind": kind,
            "method": request.method,
            "url": hook.url,
            "headers": headers,
            "body": body,
            "received_at": _utc(hook.received_at),
            "status": "pending",
            "attempts": 0,
        },
        enqueue=not sync,
    )
    voice = None
    if sync:
        # The reply carries call instructions: apply now (the row is already durable).
        result = await app[applier_key].apply(row_id)
        voice = result.voice if result else None
    reply = adapter.reply(hook, voice)
    if reply.status == 204:
        return web.Response(status=204)
    return web.Response(status=reply.status, text=reply.body, content_type=reply.content_type)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


async def inbox_ctx(app: web.Application) -> AsyncIterator[None]:
    """The group committer hands committed rows to the applier (which must start first)."""
    app[accounts_key] = {}
    app[account_loads_key] = {}
    app[security_log_key] = {}
    committer = GroupCommitter(app[sessionmaker_key], app[applier_key].enqueue, app[write_turn_key])
    app[committer_key] = committer
    committer.start()
    yield
    await committer.stop()
    await stop_tasks(list(app[account_loads_key].values()))
