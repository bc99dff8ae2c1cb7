"""REST routes for lead management: edit, merge, history, notes and the CRM vocabularies."""

from aiohttp import web

from crm.dnc import leads_on_dnc
from crm.leads import LeadUpdate, lead_to_json, shared_numbers, update_lead
from crm.merge import MergeRequest, merge_leads
from crm.notes import NoteCreate, add_note, list_notes, note_to_json, status_history
from crm.vocabularies import CrmSettingsUpdate, crm_settings, update_crm_settings
from gateway.auth import current
from gateway.errors import Forbidden, NotFound, read_model
from gateway.keys import sessionmaker_key, settings_key
from gateway.models import Organization, Role
from gateway.pagination import decode_cursor, parse_limit

routes = web.RouteTableDef()


def _lead_id(request: web.Request) -> int:
    raw = request.match_info["lead_id"]
    if not raw.isdigit():
        raise NotFound("no such lead", field="lead_id")
    return int(raw)


@routes.patch("/api/leads/{lead_id}")
async def patch_lead(request: web.Request) -> web.Response:
    principal = current(request)
    lead_id = _lead_id(request)
    data = await read_model(request, LeadUpdate)
    settings = request.app[settings_key]
    async with request.app[sessionmaker_key]() as session:
        lead = await update_lead(session, settings, principal, lead_id, data)
        dnc = lead_id in await leads_on_dnc(session, org_id=lead.org_id, lead_ids=[lead_id])
        shared = await shared_numbers(session, settings, lead)
        await session.commit()
    body = lead_to_json(lead, dnc=dnc)
    body["shared_numbers"] = shared
    return web.json_response(body)


@routes.post("/api/leads/{lead_id}/merge")
async def post_merge(request: web.Request) -> web.Response:
    principal = current(request)
    if principal.role == Role.AGENT:
        raise Forbidden("only admins and managers merge leads")
    lead_id = _lead_id(request)
    data = await read_model(request, MergeRequest)
    settings = request.app[settings_key]
    async with request.app[sessionmaker_key]() as session:
        lead, merged = await merge_leads(session, settings, principal, lead_id, data)
        dnc = lead_id in await leads_on_dnc(session, org_id=lead.org_id, lead_ids=[lead_id])
        shared = await shared_numbers(session, settings, lead)
        await session.commit()
    body = lead_to_json(lead, dnc=dnc)
    body["shared_numbers"] = shared
    body["merged_lead_ids"] = merged
    return web.json_response(body)


@routes.get("/api/leads/{lead_id}/history")
async def get_history(request: web.Request) -> web.Response:
    principal = current(request)
    lead_id = _lead_id(request)
    q = request.query
    async with request.app[sessionmaker_key]() as session:
        data, next_cursor = await status_history(
            session,
            principal,
            lead_id,
            limit=parse_limit(q.get("limit")),
            before_id=decode_cursor(q.get("cursor")),
        )
    return web.json_response({"data": data, "next_cursor": next_cursor})


@routes.get("/api/leads/{lead_id}/notes")
async def get_notes(request: web.Request) -> web.Response:
    principal = current(request)
    lead_id = _lead_id(request)
    q = request.query
    async with request.app[sessionmaker_key]() as session:
        data, next_cursor = await list_notes(
            session,
            principal,
            lead_id,
            limit=parse_limit(q.get("limit")),
            before_id=decode_cursor(q.get("cursor")),
        )
    return web.json_response({"data": data, "next_cursor": next_cursor})


@routes.post("/api/leads/{lead_id}/notes")
async def post_note(request: web.Request) -> web.Response:
    principal = current(request)
    lead_id = _lead_id(request)
    data = await read_model(request, NoteCreate)
    async with request.app[sessionmaker_key]() as session:
        note = await add_note(session, principal, lead_id, data)
        await session.commit()
    return web.json_response(note_to_json(note, principal.name), status=201)


@routes.get("/api/settings/crm")
async def get_crm_settings(request: web.Request) -> web.Response:
    principal = current(request)
    async with request.app[sessionmaker_key]() as session:
        org = await session.get(Organization, principal.org_id)
    assert org is not None
    return web.json_response(crm_settings(org))


@routes.put("/api/settings/crm")
async def put_crm_settings(request: web.Request) -> web.Response:
    principal = current(request)
    if principal.role != Role.ADMIN:
        raise Forbidden("only admins change the organization's vocabularies")
    data = await read_model(request, CrmSettingsUpdate)
    async with request.app[sessionmaker_key]() as session:
        org = await update_crm_settings(session, principal, data)
        await session.commit()
        body = crm_settings(org)
    return web.json_response(body)
