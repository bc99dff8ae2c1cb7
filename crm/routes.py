"""REST routes for leads, calls and the do-not-call list."""

import asyncio

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from crm.assignment.service import push_assigned
from crm.calls import call_detail, list_calls, parse_time
from crm.dnc import (
    MAX_UPLOAD_BYTES,
    DncCreate,
    add_entry,
    add_parsed,
    dnc_to_json,
    entry_with_key,
    leads_on_dnc,
    list_entries,
    parse_number,
    parse_upload,
    remove_entry,
    require_manager,
)
from crm.leads import (
    LeadCreate,
    create_lead,
    lead_to_json,
    list_leads,
    org_region,
    parse_filters,
    shared_numbers,
    visible_lead,
)
from gateway.auth import current
from gateway.errors import (
    Conflict,
    InvalidInput,
    PayloadTooLarge,
    UnsupportedMediaType,
    read_model,
)
from gateway.keys import sessionmaker_key, settings_key
from gateway.pagination import decode_cursor, parse_int, parse_limit, path_id
from gateway.phones import lookup_key

routes = web.RouteTableDef()


@routes.get("/api/leads")
async def get_leads(request: web.Request) -> web.Response:
    principal = current(request)
    q = request.query
    async with request.app[sessionmaker_key]() as session:
        leads, next_cursor = await list_leads(
            session,
            request.app[settings_key],
            principal,
            filters=parse_filters(q),
            limit=parse_limit(q.get("limit")),
            before_id=decode_cursor(q.get("cursor")),
        )
        on_dnc = await leads_on_dnc(
            session, org_id=principal.org_id, lead_ids=[x.id for x in leads if x.id is not None]
        )
    data = [lead_to_json(x, dnc=x.id in on_dnc) for x in leads]
    return web.json_response({"data": data, "next_cursor": next_cursor})


@routes.post("/api/leads")
async def post_lead(request: web.Request) -> web.Response:
    principal = current(request)
    data = await read_model(request, LeadCreate)
    async with request.app[sessionmaker_key]() as session:
        lead = await create_lead(session, request.app[settings_key], principal, data)
        assert lead.id is not None
        dnc = lead.id in await leads_on_dnc(session, org_id=lead.org_id, lead_ids=[lead.id])
        await session.commit()
        await push_assigned(request.app, session)
    return web.json_response(lead_to_json(lead, dnc=dnc), status=201)


@routes.get("/api/leads/{lead_id}")
async def get_lead(request: web.Request) -> web.Response:
    principal = current(request)
    lead_id = path_id(request, "lead_id")
    async with request.app[sessionmaker_key]() as session:
        lead = await visible_lead(session, principal, lead_id)
        calls, _ = await list_calls(session, principal, lead_id=lead_id, limit=100)
        dnc = lead_id in await leads_on_dnc(session, org_id=lead.org_id, lead_ids=[lead_id])
        shared = await shared_numbers(session, request.app[settings_key], lead)
    body = lead_to_json(lead, dnc=dnc)
    body["shared_numbers"] = shared
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
    call_id = path_id(request, "call_id")
    async with request.app[sessionmaker_key]() as session:
        body = await call_detail(session, principal, call_id)
    return web.json_response(body)


@routes.get("/api/dnc")
async def get_dnc(request: web.Request) -> web.Response:
    principal = current(request)
    require_manager(principal)
    settings = request.app[settings_key]
    q = request.query
    limit = parse_limit(q.get("limit"))
    before_id = decode_cursor(q.get("cursor"))
    raw = q.get("q", "").strip()
    async with request.app[sessionmaker_key]() as session:
        key = None
        if raw:
            region = await org_region(session, settings, principal.org_id)
            e164 = parse_number(raw, region, field_name="q")
            key = lookup_key(settings.lookup_key_secret, e164)
        entries, next_cursor = await list_entries(
            session, org_id=principal.org_id, key=key, limit=limit, before_id=before_id
        )
    return web.json_response(
        {"data": [dnc_to_json(x) for x in entries], "next_cursor": next_cursor}
    )


@routes.post("/api/dnc")
async def post_dnc(request: web.Request) -> web.Response:
    principal = current(request)
    require_manager(principal)
    data = await read_model(request, DncCreate)
    settings = request.app[settings_key]
    async with request.app[sessionmaker_key]() as session:
        region = await org_region(session, settings, principal.org_id)
        e164 = parse_number(data.number, region, field_name="number")
        entry, created = await add_entry(
            session, settings, principal, e164=e164, reason=data.reason
        )
        try:
            await session.commit()
        except IntegrityError:
            # A concurrent request listed the same number first: answer with its entry.
            await session.rollback()
            key = lookup_key(settings.lookup_key_secret, e164)
            existing = await entry_with_key(session, org_id=principal.org_id, key=key)
            if existing is None:
                raise
            entry, created = existing, False
    return web.json_response(dnc_to_json(entry), status=201 if created else 200)


@routes.delete("/api/dnc/{dnc_id}")
async def delete_dnc(request: web.Request) -> web.Response:
    principal = current(request)
    require_manager(principal)
    dnc_id = path_id(request, "dnc_id")
    async with request.app[sessionmaker_key]() as session:
        await remove_entry(session, principal, dnc_id)
        await session.commit()
    return web.Response(status=204)


async def _read_csv(request: web.Request) -> str:
    if request.content_type not in ("text/csv", "text/plain", "application/csv"):
        raise UnsupportedMediaType("send the list as text/csv", field="body")
    too_large = PayloadTooLarge(
        f"the upload is larger than {MAX_UPLOAD_BYTES // 1024**2} MB; split it", field="body"
    )
    if request.content_length is not None and request.content_length > MAX_UPLOAD_BYTES:
        raise too_large
    # Read the stream ourselves: the app's client_max_size is smaller than this upload's limit,
    # and a chunked body has no Content-Length to check up front.
    body = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        body.extend(chunk)
        if len(body) > MAX_UPLOAD_BYTES:
            raise too_large
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the upload must be UTF-8 text", field="body") from None


@routes.post("/api/dnc/bulk")
async def post_dnc_bulk(request: web.Request) -> web.Response:
    principal = current(request)
    require_manager(principal)
    settings = request.app[settings_key]
    text = await _read_csv(request)
    async with request.app[sessionmaker_key]() as session:
        region = await org_region(session, settings, principal.org_id)
        parsed = await asyncio.to_thread(parse_upload, text, region, settings.lookup_key_secret)
        report = await add_parsed(session, principal, parsed)
        try:
            await session.commit()
        except IntegrityError:
            raise Conflict(
                "the list changed during the upload; nothing was added, send it again",
                code="dnc_changed",
            ) from None
    return web.json_response(report)
