"""`/webhooks/{carrier}/{account_id}/{kind}`: verify, record and apply carrier callbacks.

Its own sub-app so that user authentication never wraps carrier callbacks: these are
authenticated by the carrier's signature alone.
"""

import logging

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from dialer.push import push_calls
from gateway.carriers.base import InboundWebhook, MalformedWebhook, SignatureError
from gateway.errors import error_response
from gateway.keys import carriers_key, runtime_key, sessionmaker_key, settings_key
from gateway.models import CarrierAccount
from webhooks.apply import ApplyResult, CallMismatch, apply_events

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
# A unique-key race (two callbacks creating the same call at once) is retried this many times.
APPLY_ATTEMPTS = 3


def public_url(request: web.Request) -> str:
    """The URL the carrier requested, as the carrier saw it (what it signed).

    PUBLIC_BASE_URL, unless a trusted proxy says which scheme and host it was asked for;
    forwarded headers from anyone else are ignored (they would let a caller pick the URL).
    """
    settings = request.config_dict[settings_key]
    host = request.headers.get("X-Forwarded-Host")
    if host and request.remote in settings.proxies:
        proto = request.headers.get("X-Forwarded-Proto", "https").split(",")[0].strip()
        return f"{proto}://{host.split(',')[0].strip()}{request.raw_path}"
    return settings.public_base_url + request.raw_path


@routes.route("*", "/{carrier}/{account_id}/{kind}")
async def receive(request: web.Request) -> web.StreamResponse:
    app = request.config_dict
    if request.method not in ("GET", "POST"):
        return error_response(405, "method_not_allowed", "use GET or POST")
    carrier_name = request.match_info["carrier"]
    kind = request.match_info["kind"]
    adapter = app[carriers_key].get(carrier_name)
    if adapter is None:
        return error_response(404, "unknown_carrier", f"no carrier {carrier_name!r}", "carrier")
    if kind not in adapter.webhook_kinds:
        return error_response(404, "unknown_kind", f"no webhook kind {kind!r}", "kind")
    raw_id = request.match_info["account_id"]
    if not raw_id.isdigit():
        return error_response(404, "unknown_account", "no such carrier account", "account_id")
    body = await request.read()
    async with app[sessionmaker_key]() as session:
        account = await session.get(CarrierAccount, int(raw_id))
    if account is None or account.carrier != carrier_name or not account.is_active:
        return error_response(404, "unknown_account", "no such carrier account", "account_id")
    hook = InboundWebhook(
        method=request.method,
        url=public_url(request),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
        query=dict(request.query),
        kind=kind,
    )
    # Verify before parsing anything: an unsigned request changes nothing.
    try:
        adapter.verify(account.credentials, hook)
    except SignatureError as exc:
        log.warning("rejected %s webhook for account %s: %s", carrier_name, account.id, exc)
        return error_response(403, "invalid_signature", "signature verification failed")
    try:
        events = adapter.parse(hook, account.credentials)
    except MalformedWebhook as exc:
        return error_response(400, "malformed", exc.message, exc.field)
    result = ApplyResult()
    for attempt in range(APPLY_ATTEMPTS):
        async with app[sessionmaker_key]() as session:
            try:
                result = await apply_events(
                    session, app[settings_key], account, events, adapter.sync_kinds
                )
                await session.commit()
                break
            except CallMismatch as exc:
                await session.rollback()
                log.warning("rejected %s webhook for account %s: %s", carrier_name, account.id, exc)
                return error_response(403, "invalid_signature", "callback does not match its call")
            except IntegrityError:
                await session.rollback()
                if attempt == APPLY_ATTEMPTS - 1:
                    raise
                log.info("concurrent callback for the same call; retrying")
    if result.changed:
        await push_calls(app, list(result.changed.values()))
    await adapter.act(app[runtime_key], account.credentials, events, result.voice)
    reply = adapter.reply(hook, result.voice)
    if reply.status == 204:
        return web.Response(status=204)
    return web.Response(status=reply.status, text=reply.body, content_type=reply.content_type)


def webhooks_app() -> web.Application:
    app = web.Application()
    app.add_routes(routes)
    return app
