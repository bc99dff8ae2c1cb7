"""REST routes for outgoing webhooks: subscriptions (admin) and their delivery log."""

from aiohttp import web

from crm.integrations.deliveries import (
    delivery_to_json,
    get_delivery,
    list_deliveries,
    parse_status,
    payload_of,
    requeue,
)
from crm.integrations.dispatcher import dispatcher_key
from crm.integrations.subscriptions import (
    SubscriptionCreate,
    SubscriptionUpdate,
    create_subscription,
    delete_subscription,
    get_subscription,
    list_subscriptions,
    new_secret,
    require_admin,
    subscription_to_json,
    update_subscription,
)
from gateway.auth import current
from gateway.errors import read_model
from gateway.keys import sessionmaker_key
from gateway.models import IntegrationEvent
from gateway.pagination import decode_cursor, parse_int, parse_limit, path_id

routes = web.RouteTableDef()


@routes.post("/api/webhook-subscriptions")
async def post_subscription(request: web.Request) -> web.Response:
    principal = current(request)
    require_admin(principal)
    data = await read_model(request, SubscriptionCreate)
    async with request.app[sessionmaker_key]() as session:
        sub = create_subscription(session, principal, data)
        await session.commit()
    # The only answer besides a rotation that shows the whole secret.
    return web.json_response(subscription_to_json(sub, with_secret=True), status=201)


@routes.get("/api/webhook-subscriptions")
async def get_subscriptions(request: web.Request) -> web.Response:
    principal = current(request)
    require_admin(principal)
    q = request.query
    async with request.app[sessionmaker_key]() as session:
        subs, next_cursor = await list_subscriptions(
            session,
            org_id=principal.org_id,
            limit=parse_limit(q.get("limit")),
            before_id=decode_cursor(q.get("cursor")),
        )
    return web.json_response(
        {"data": [subscription_to_json(x) for x in subs], "next_cursor": next_cursor}
    )


@routes.get("/api/webhook-subscriptions/{subscription_id}")
async def get_one_subscription(request: web.Request) -> web.Response:
    principal = current(request)
    require_admin(principal)
    sub_id = path_id(request, "subscription_id")
    async with request.app[sessionmaker_key]() as session:
        sub = await get_subscription(session, principal, sub_id)
    return web.json_response(subscription_to_json(sub))


@routes.patch("/api/webhook-subscriptions/{subscription_id}")
async def patch_subscription(request: web.Request) -> web.Response:
    principal = current(request)
    require_admin(principal)
    sub_id = path_id(request, "subscription_id")
    data = await read_model(request, SubscriptionUpdate)
    async with request.app[sessionmaker_key]() as session:
        sub = await get_subscription(session, principal, sub_id)
        update_subscription(sub, data)
        await session.commit()
    request.app[dispatcher_key].poke()  # deliveries held while it was paused may be due
    return web.json_response(subscription_to_json(sub))


@routes.delete("/api/webhook-subscriptions/{subscription_id}")
async def delete_one_subscription(request: web.Request) -> web.Response:
    principal = current(request)
    require_admin(principal)
    sub_id = path_id(request, "subscription_id")
    async with request.app[sessionmaker_key]() as session:
        sub = await get_subscription(session, principal, sub_id)
        await delete_subscription(session, sub)
        await session.commit()
    return web.Response(status=204)


@routes.post("/api/webhook-subscriptions/{subscription_id}/rotate-secret")
async def rotate_secret(request: web.Request) -> web.Response:
    principal = current(request)
    require_admin(principal)
    sub_id = path_id(request, "subscription_id")
    async with request.app[sessionmaker_key]() as session:
        sub = await get_subscription(session, principal, sub_id)
        # Takes effect at once: every later attempt, retries included, is signed with it.
        sub.secret = new_secret()
        await session.commit()
    return web.json_response(subscription_to_json(sub, with_secret=True))


@routes.get("/api/webhook-deliveries")
async def get_deliveries(request: web.Request) -> web.Response:
    principal = current(request)
    require_admin(principal)
    q = request.query
    async with request.app[sessionmaker_key]() as session:
        deliveries, next_cursor = await list_deliveries(
            session,
            org_id=principal.org_id,
            subscription_id=parse_int(q.get("subscription_id"), "subscription_id"),
            status=parse_status(q.get("status")),
            limit=parse_limit(q.get("limit")),
            before_id=decode_cursor(q.get("cursor")),
        )
    return web.json_response(
        {"data": [delivery_to_json(x) for x in deliveries], "next_cursor": next_cursor}
    )


@routes.get("/api/webhook-deliveries/{delivery_id}")
async def get_one_delivery(request: web.Request) -> web.Response:
    principal = current(request)
    require_admin(principal)
    delivery_id = path_id(request, "delivery_id")
    async with request.app[sessionmaker_key]() as session:
        delivery = await get_delivery(session, principal, delivery_id)
        event = await session.get(IntegrationEvent, delivery.event_id)
    body = delivery_to_json(delivery)
    body["payload"] = payload_of(event) if event is not None else None
    return web.json_response(body)


@routes.post("/api/webhook-deliveries/{delivery_id}/replay")
async def replay_delivery(request: web.Request) -> web.Response:
    principal = current(request)
    require_admin(principal)
    delivery_id = path_id(request, "delivery_id")
    async with request.app[sessionmaker_key]() as session:
        delivery = await get_delivery(session, principal, delivery_id)
        requeue(delivery)
        await session.commit()
    request.app[dispatcher_key].poke()
    return web.json_response(delivery_to_json(delivery), status=202)
