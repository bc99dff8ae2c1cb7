"""REST for the dialer: click-to-call (`POST /api/calls`) and the presence wallboard."""

from aiohttp import web
from pydantic import ValidationError

from crm.calls import call_to_json
from dialer.clicktocall import DialRequest, start_call
from dialer.hangup import hang_up
from dialer.queue import build_queue
from dialer.wallboard import wallboard
from gateway.auth import current
from gateway.errors import InvalidInput, NotFound, from_validation_error
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
