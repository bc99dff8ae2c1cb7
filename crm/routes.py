"""REST routes for leads and calls."""

from aiohttp import web

from crm.calls import call_detail, list_calls, parse_time
from crm.leads import LeadCreate, create_lead, lead_to_json, list_leads, visible_lead
from gateway.auth import current
from gateway.errors import NotFound, read_model
from gateway.keys import sessionmaker_key, settings_key
from gateway.pagination import decode_cursor, parse_int, parse_limit

routes = web.RouteTableDef()


def _path_id(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    if not raw.isdigit():
        raise NotFound(f"no such {name.removesuffix('_id')}", field=name)
    return int(raw)


@routes.get("/api/leads")
async def get_leads(request: web.Request) -> web.Response:
    principal = current(request)
    q = request.query
    async with request.app[sessionmaker_key]() as session:
        leads, next_cursor = await list_leads(
            session,
            request.app[settings_key],
            principal,
            q=q.get("q", "").strip() or None,
            status=q.get("status") or None,
            owner_id=parse_int(q.get("owner_id"), "owner_id"),
            limit=parse_limit(q.get("limit")),
            before_id=decode_cursor(q.get("cursor")),
        )
    return web.json_response({"data": [lead_to_json(x) for x in leads], "next_cursor": next_cursor})


@routes.post("/api/leads")
async def post_lead(request: web.Request) -> web.Response:
    principal = current(request)
    data = await read_model(request, LeadCreate)
    async with request.app[sessionmaker_key]() as session:
        lead = await create_lead(session, request.app[settings_key], principal, data)
        await session.commit()
    return web.json_response(lead_to_json(lead), status=201)


@routes.get("/api/leads/{lead_id}")
async def get_lead(request: web.Request) -> web.Response:
    principal = current(request)
    lead_id = _path_id(request, "lead_id")
    async with request.app[sessionmaker_key]() as session:
        lead = await visible_lead(session, principal, lead_id)
        calls, _ = await list_calls(session, principal, lead_id=lead_id, limit=100)
    body = lead_to_json(lead)
    body["calls"] = calls
    return web.json_response(body)


@routes.get("/api/calls")
async def get_calls(request: web.Request) -> web.Response:
    principal = current(request)
    q = request.query
    async with request.app[sessionmaker_key]() as session:
        calls, next_cursor = await list_calls(
            session,
            principal,
            lead_id=parse_int(q.get("lead_id"), "lead_id"),
            agent_id=parse_int(q.get("agent_id"), "agent_id"),
            status=q.get("status") or None,
            since=parse_time(q.get("since"), "since"),
            until=parse_time(q.get("until"), "until"),
            limit=parse_limit(q.get("limit")),
            before_id=decode_cursor(q.get("cursor")),
        )
    return web.json_response({"data": calls, "next_cursor": next_cursor})


@routes.get("/api/calls/{call_id}")
async def get_call(request: web.Request) -> web.Response:
    principal = current(request)
    call_id = _path_id(request, "call_id")
    async with request.app[sessionmaker_key]() as session:
        body = await call_detail(session, principal, call_id)
    return web.json_response(body)
