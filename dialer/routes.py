"""REST for the dialer: click-to-call (`POST /api/calls`), the presence wallboard, the queue,
the organization's dialing settings and the missed-call SMS setting."""

from aiohttp import web
from pydantic import ValidationError

from crm.calls import call_to_json
from dialer.clicktocall import DialRequest, start_call
from dialer.dialing_settings import (
    DialingSettingsUpdate,
    dialing_settings,
    update_dialing_settings,
)
from dialer.hangup import hang_up
from dialer.missed_sms import MissedCallSms, sms_settings
from dialer.progressive import current_offer
from dialer.queue import build_queue
from dialer.wallboard import wallboard
from gateway.auth import current
from gateway.errors import Forbidden, InvalidInput, NotFound, from_validation_error, read_model
from gateway.keys import sessionmaker_key
from gateway.models import Organization, Role
from gateway.pagination import parse_limit

routes = web.RouteTableDef()


@routes.post("/api/calls")
async def create_call(request: web.Request) -> web.Response:
    principal = current(request)
    try:
        data = await request.json()
    except ValueError:
        raise InvalidInput("body must be a JSON object", field="body") from None
    try:
        dial = DialRequest.model_validate(data if isinstance(data, dict) else None)
    except ValidationError as exc:
        err = from_validation_error(exc)
        err.field = err.field or "lead_id"
        raise err from None
    call = await start_call(request.app, principal, dial)
    return web.json_response(call_to_json(call), status=202)


@routes.get("/api/presence")
async def get_presence(request: web.Request) -> web.Response:
    return web.json_response(await wallboard(request.app, current(request)))


@routes.post("/api/calls/{call_id}/hangup")
async def hangup_call(request: web.Request) -> web.Response:
    raw = request.match_info["call_id"]
    if not raw.isdigit():
        raise NotFound("no such call", field="call_id")
    call = await hang_up(request.app, current(request), int(raw))
    return web.json_response({"ok": True, "call_id": call.id}, status=202)


@routes.get("/api/queue")
async def get_queue(request: web.Request) -> web.Response:
    limit = parse_limit(request.query.get("limit") or "20")
    return web.json_response(
        {"data": await build_queue(request.app, current(request), limit=limit)}
    )


@routes.get("/api/queue/next")
async def get_next_dial(request: web.Request) -> web.Response:
    return web.json_response(await current_offer(request.app, current(request)))


@routes.get("/api/settings/missed-call-sms")
async def get_missed_call_sms(request: web.Request) -> web.Response:
    principal = current(request)
    async with request.app[sessionmaker_key]() as session:
        org = await session.get(Organization, principal.org_id)
    assert org is not None
    return web.json_response(sms_settings(org).model_dump())


@routes.put("/api/settings/missed-call-sms")
async def put_missed_call_sms(request: web.Request) -> web.Response:
    """Change any of the setting's fields (admin); those left out stay as they are."""
    principal = current(request)
    if principal.role != Role.ADMIN:
        raise Forbidden("only admins change the missed-call SMS setting")
    data = await read_model(request, MissedCallSms)
    if not data.model_fields_set:
        raise InvalidInput("send at least one field", field="body")
    async with request.app[sessionmaker_key]() as session:
        org = await session.get(Organization, principal.org_id, with_for_update=True)
        assert org is not None
        merged = sms_settings(org).model_copy(
            update={name: getattr(data, name) for name in data.model_fields_set}
        )
        org.missed_call_sms = merged.model_dump()
        session.add(org)
        await session.commit()
    return web.json_response(merged.model_dump())


@routes.get("/api/settings/dialing")
async def get_dialing_settings(request: web.Request) -> web.Response:
    principal = current(request)
    async with request.app[sessionmaker_key]() as session:
        org = await session.get(Organization, principal.org_id)
    assert org is not None
    return web.json_response(dialing_settings(org))


@routes.patch("/api/settings/dialing")
async def patch_dialing_settings(request: web.Request) -> web.Response:
    principal = current(request)
    if principal.role != Role.ADMIN:
        # Before the body is read: a manager learns they may not, not what was wrong with it.
        raise Forbidden("only admins change the organization's dialing settings")
    data = await read_model(request, DialingSettingsUpdate)
    async with request.app[sessionmaker_key]() as session:
        org = await update_dialing_settings(session, principal, data)
        await session.commit()
        body = dialing_settings(org)
    return web.json_response(body)
