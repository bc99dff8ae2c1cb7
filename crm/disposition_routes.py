"""REST routes for call dispositions and lead follow-ups."""

from aiohttp import web

from crm.calls import visible_call
from crm.dispositions import (
    DispositionIn,
    amend_disposition,
    disposition_json,
    disposition_of_call,
    record_disposition,
)
from crm.followups import (
    FollowUpCreate,
    FollowUpFilters,
    FollowUpPatch,
    create_follow_up,
    follow_up_to_json,
    list_follow_ups,
    update_follow_up,
)
from crm.leads import visible_lead
from dialer.presence import finish_wrap_up
from gateway.auth import current
from gateway.errors import NotFound, read_model
from gateway.keys import sessionmaker_key, settings_key
from gateway.models import Call, utcnow
from gateway.pagination import parse_int, parse_limit, path_id

routes = web.RouteTableDef()


@routes.get("/api/calls/{call_id}/disposition")
async def get_disposition(request: web.Request) -> web.Response:
    principal = current(request)
    call_id = path_id(request, "call_id")
    async with request.app[sessionmaker_key]() as session:
        await visible_call(session, principal, call_id)
        disposition = await disposition_of_call(session, call_id)
        if disposition is None:
            raise NotFound("no disposition recorded for this call", field="call_id")
        body = await disposition_json(session, disposition)
    return web.json_response(body)


@routes.post("/api/calls/{call_id}/disposition")
async def post_disposition(request: web.Request) -> web.Response:
    principal = current(request)
    call_id = path_id(request, "call_id")
    data = await read_model(request, DispositionIn)
    async with request.app[sessionmaker_key]() as session:
        disposition = await record_disposition(
            session, request.app[settings_key], principal, call_id, data
        )
        body = await disposition_json(session, disposition)
        call = await session.get(Call, call_id)
        agent_id = call.agent_id if call else None
        await session.commit()
    if agent_id is not None:
        # The disposition ends the agent's wrap-up of this call (a no-op if they left it).
        await finish_wrap_up(request.app, user_id=agent_id, call_id=call_id)
    return web.json_response(body, status=201)


@routes.put("/api/calls/{call_id}/disposition")
async def put_disposition(request: web.Request) -> web.Response:
    principal = current(request)
    call_id = path_id(request, "call_id")
    data = await read_model(request, DispositionIn)
    async with request.app[sessionmaker_key]() as session:
        disposition = await amend_disposition(
            session, request.app[settings_key], principal, call_id, data
        )
        body = await disposition_json(session, disposition)
        await session.commit()
    return web.json_response(body)


@routes.post("/api/leads/{lead_id}/follow-ups")
async def post_follow_up(request: web.Request) -> web.Response:
    principal = current(request)
    lead_id = path_id(request, "lead_id")
    data = await read_model(request, FollowUpCreate)
    async with request.app[sessionmaker_key]() as session:
        lead = await visible_lead(session, principal, lead_id)
        fu = await create_follow_up(session, principal, lead, data)
        await session.commit()
    return web.json_response(follow_up_to_json(fu, lead=lead), status=201)


@routes.get("/api/follow-ups")
async def get_follow_ups(request: web.Request) -> web.Response:
    principal = current(request)
    q = request.query
    filters = FollowUpFilters(
        agent_id=parse_int(q.get("agent_id"), "agent_id"),
        team_id=parse_int(q.get("team_id"), "team_id"),
        lead_id=parse_int(q.get("lead_id"), "lead_id"),
        status=q.get("status") or None,
        due=q.get("due") or None,
    )
    now = utcnow()
    async with request.app[sessionmaker_key]() as session:
        rows, next_cursor = await list_follow_ups(
            session,
            principal,
            filters,
            limit=parse_limit(q.get("limit")),
            cursor=q.get("cursor"),
            now=now,
        )
    data = [follow_up_to_json(fu, now=now, lead=lead) for fu, lead in rows]
    return web.json_response({"data": data, "next_cursor": next_cursor})


@routes.patch("/api/follow-ups/{follow_up_id}")
async def patch_follow_up(request: web.Request) -> web.Response:
    principal = current(request)
    follow_up_id = path_id(request, "follow_up_id")
    data = await read_model(request, FollowUpPatch)
    async with request.app[sessionmaker_key]() as session:
        fu, lead = await update_follow_up(session, principal, follow_up_id, data)
        await session.commit()
    return web.json_response(follow_up_to_json(fu, lead=lead))
