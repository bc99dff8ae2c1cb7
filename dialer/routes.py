"""REST click-to-call (`POST /api/calls`), used by the browser extension and integrations."""

from aiohttp import web
from pydantic import ValidationError

from crm.calls import call_to_json
from dialer.clicktocall import DialRequest, start_call
from gateway.auth import current
from gateway.errors import InvalidInput, from_validation_error

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
