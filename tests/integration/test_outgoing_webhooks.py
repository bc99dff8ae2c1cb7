"""Outgoing webhooks: subscriptions over REST, signed deliveries to real receivers, retries."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlmodel import col, select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from gateway.keys import sessionmaker_key
from gateway.models import User
from tests.conftest import Gateway, GatewayFactory, free_port
from tests.integration.test_inbound_and_openapi import ring_in

# Fast retries and a short timeout, so that the schedule is observable within a test.
FAST = {
    "WEBHOOK_OUT_POLL_S": 0.05,
    "WEBHOOK_OUT_TIMEOUT_S": 0.5,
    "WEBHOOK_OUT_BACKOFF_S": "0.3,0.6",
    "WEBHOOK_OUT_MAX_ATTEMPTS": 3,
}

Behaviour = Callable[[int], Awaitable[web.Response]]


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    payload: dict[str, Any]
    at: float
    wall: float = field(default_factory=time.time)


@dataclass
class Receiver:
    """An integration's endpoint: verifies every message with the subscription's secret."""

    url: str
    secrets: dict[str, str] = field(default_factory=dict)
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    received: list[Delivery] = field(default_factory=list)
    forged: list[str] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def at(self, path: str) -> list[Delivery]:
        return [d for d in self.received if d.path == path]

    async def wait_for(self, path: str, count: int, timeout: float = 10.0) -> list[Delivery]:
        async with asyncio.timeout(timeout):
            while len(self.at(path)) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.at(path)

    async def wait_until(
        self, path: str, matches: Callable[[Delivery], bool], timeout: float = 10.0
    ) -> Delivery:
        async with asyncio.timeout(timeout):
            while not (found := [d for d in self.at(path) if matches(d)]):
                self.arrived.clear()
                await self.arrived.wait()
        return found[0]

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path
        body = await request.read()
        headers = dict(request.headers)
        try:
            payload = Webhook(self.secrets[path]).verify(body, headers)
        except (KeyError, WebhookVerificationError) as exc:
            self.forged.append(f"{path}: {exc!r}")
            return web.Response(status=401)
        self.received.append(Delivery(path, headers, body, payload, time.monotonic()))
        self.arrived.set()
        behaviour = self.behaviours.get(path)
        return await behaviour(len(self.at(path))) if behaviour else web.Response(text="ok")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    app = web.Application()
    rec = Receiver(url=f"http://127.0.0.1:{port}")
    app.router.add_post("/{name}", rec.handle)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    yield rec
    assert rec.forged == []  # every message the gateway sent carried a valid signature
    await server.close()


async def subscribe(
    gw: Gateway, token: str, receiver: Receiver, path: str, events: list[str]
) -> dict[str, Any]:
    status, sub = await gw.request(
        "POST",
        "/api/webhook-subscriptions",
        token,
        json={"url": receiver.url + path, "events": events, "description": path},
    )
    assert status == 201, sub
    receiver.secrets[path] = sub["secret"]
    return dict(sub)


async def new_lead(gw: Gateway, token: str, phone: str) -> dict[str, Any]:
    status, lead = await gw.request("POST", "/api/leads", token, json={"phone": phone})
    assert status == 201, lead
    return dict(lead)


async def deliveries(gw: Gateway, token: str, **params: Any) -> list[dict[str, Any]]:
    status, page = await gw.request("GET", "/api/webhook-deliveries", token, params=params)
    assert status == 200, page
    return list(page["data"])


async def until_delivery(
    gw: Gateway,
    token: str,
    sub_id: int,
    predicate: Callable[[dict[str, Any]], bool],
    timeout: float = 20.0,
) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            for d in await deliveries(gw, token, subscription_id=sub_id):
                if predicate(d):
                    return d
            await asyncio.sleep(0.02)


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_subscriptions_are_validated_and_the_secret_shown_once(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    path = "/api/webhook-subscriptions"
    for body, field_name in [
        ({"url": "ftp://example.com/hook", "events": ["*"]}, "url"),
        ({"url": "not a url", "events": ["*"]}, "url"),
        ({"url": "https:///nohost", "events": ["*"]}, "url"),
        ({"url": "https://example.com/hook", "events": ["lead.deleted"]}, "events"),
        ({"url": "https://example.com/hook", "events": []}, "events"),
        ({"url": "https://example.com/hook", "events": "lead.created"}, "events"),
        ({"url": "https://example.com/hook", "events": ["*"], "secret": "mine"}, "secret"),
    ]:
        status, err = await gateway.request("POST", path, admin, json=body)
        assert status == 400, (body, err)
        assert err["error"]["field"] == field_name, (body, err)
    for email in ("manager@demo.test", "agent1@demo.test"):
        status, _ = await gateway.request(
            "POST",
            path,
            await gateway.login(email),
            json={"url": "https://example.com/hook", "events": ["*"]},
        )
        assert status == 403

    status, sub = await gateway.request(
        "POST",
        path,
        admin,
        json={
            "url": "https://crm.example.com/in",
            "events": ["lead.created", "call.missed", "lead.created"],
            "description": "our CRM",
        },
    )
    assert status == 201, sub
    assert sub["events"] == ["lead.created", "call.missed"]
    secret = sub["secret"]
    assert secret.startswith("whsec_") and secret.startswith(sub["secret_prefix"])
    Webhook(secret)  # a valid Standard Webhooks secret

    _, page = await gateway.request("GET", path, admin)
    assert [s["id"] for s in page["data"]] == [sub["id"]]
    status, one = await gateway.request("GET", f"{path}/{sub['id']}", admin)
    assert status == 200
    assert "secret" not in one and "secret" not in page["data"][0]
    assert secret[len(one["secret_prefix"]) :] not in str(page)

    status, changed = await gateway.request(
        "PATCH", f"{path}/{sub['id']}", admin, json={"events": ["*"], "is_active": False}
    )
    assert status == 200 and changed["events"] == ["*"] and changed["is_active"] is False
    assert changed["url"] == "https://crm.example.com/in"
    for body, field_name in [
        ({"url": "javascript:alert(1)"}, "url"),
        ({"events": ["nope"]}, "events"),
        ({"is_active": "yes"}, "is_active"),
        ({"url": None}, "url"),
    ]:
        status, err = await gateway.request("PATCH", f"{path}/{sub['id']}", admin, json=body)
        assert status == 400 and err["error"]["field"] == field_name, (body, err)
    _, unchanged = await gateway.request("GET", f"{path}/{sub['id']}", admin)
    assert unchanged == changed

    status, rotated = await gateway.request("POST", f"{path}/{sub['id']}/rotate-secret", admin)
    assert status == 200 and rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != secret

    status, err = await gateway.request(
        "GET", "/api/webhook-deliveries", admin, params={"status": "lost"}
    )
    assert status == 400 and err["error"]["field"] == "status"
    status, _ = await gateway.request("GET", "/api/webhook-deliveries/999", admin)
    assert status == 404
    status, _ = await gateway.request("DELETE", f"{path}/{sub['id']}", admin)
    assert status == 204
    status, _ = await gateway.request("GET", f"{path}/{sub['id']}", admin)
    assert status == 404


async def test_real_events_are_delivered_signed_to_their_subscribers(
    start_gateway: GatewayFactory, receiver: Receiver
) -> None:
    # No polling: events committed in this process wake its dispatcher.
    gw = await start_gateway(**{**FAST, "WEBHOOK_OUT_POLL_S": 60})
    admin = await gw.login("admin@demo.test")
    everything = await subscribe(gw, admin, receiver, "/all", ["*"])
    calls_only = await subscribe(gw, admin, receiver, "/calls", ["call.completed"])

    lead = await new_lead(gw, admin, "96000 12121")
    (got,) = await receiver.wait_for("/all", 1)
    assert got.payload["type"] == "lead.created"
    assert got.payload["data"]["id"] == lead["id"]
    assert got.payload["data"]["phone"] == "+919600012121"
    assert ts(got.payload["timestamp"]).tzinfo is not None

    # A click-to-call through the sandbox carrier ends as call.completed.
    agent = await gw.login("agent1@demo.test")
    live = await gw.connect(agent)
    status, call = await gw.request("POST", "/api/calls", agent, json={"number": "96000 34343"})
    assert status == 202, call
    await live.until_ended(call["id"])
    (completed,) = await receiver.wait_for("/calls", 1)
    assert completed.payload["type"] == "call.completed"
    assert completed.payload["data"]["id"] == call["id"]
    assert completed.payload["data"]["outcome"] == "completed"
    all_types = [d.payload["type"] for d in await receiver.wait_for("/all", 3)]
    assert all_types[0] == "lead.created" and sorted(all_types[1:]) == [
        "call.completed",
        "lead.created",
    ]

    done = await until_delivery(gw, admin, calls_only["id"], lambda d: d["status"] == "succeeded")
    assert done["attempts"] == 1 and done["last_status_code"] == 200
    assert done["last_response"] == "ok" and done["next_attempt_at"] is None
    assert done["event_type"] == "call.completed"
    assert completed.headers["webhook-id"] == done["webhook_id"]
    status, detail = await gw.request("GET", f"/api/webhook-deliveries/{done['id']}", admin)
    assert status == 200
    assert detail["payload"] == completed.payload
    assert len(await deliveries(gw, admin, subscription_id=calls_only["id"])) == 1
    async with asyncio.timeout(5):
        while True:
            if len(await deliveries(gw, admin, status="succeeded")) == 4:
                break
            await asyncio.sleep(0.02)
    status, page = await gw.request(
        "GET", "/api/webhook-deliveries", admin, params={"subscription_id": everything["id"]}
    )
    assert [d["event_type"] for d in page["data"]][-1] == "lead.created"
    _, first_page = await gw.request("GET", "/api/webhook-deliveries", admin, params={"limit": 3})
    _, rest = await gw.request(
        "GET",
        "/api/webhook-deliveries",
        admin,
        params={"limit": 3, "cursor": first_page["next_cursor"]},
    )
    assert len(first_page["data"]) == 3 and len(rest["data"]) == 1 and rest["next_cursor"] is None

    # After a rotation the next message verifies with the new secret only.
    _, rotated = await gw.request(
        "POST", f"/api/webhook-subscriptions/{everything['id']}/rotate-secret", admin
    )
    receiver.secrets["/all"] = rotated["secret"]
    lead2 = await new_lead(gw, admin, "96000 56565")
    # Deliveries carry no order: find this lead's own message among whatever else arrives.
    latest = await receiver.wait_until(
        "/all",
        lambda d: d.payload["type"] == "lead.created" and d.payload["data"]["id"] == lead2["id"],
    )
    assert latest.payload["data"]["phone"] == "+919600056565"
    with pytest.raises(WebhookVerificationError):
        Webhook(everything["secret"]).verify(latest.body, latest.headers)


async def test_two_gateways_send_each_message_once(
    start_gateway: GatewayFactory, receiver: Receiver
) -> None:
    first = await start_gateway(**FAST)
    second = await start_gateway(**FAST)
    admin = await first.login("admin@demo.test")
    sub = await subscribe(first, admin, receiver, "/once", ["lead.created"])
    # Both dispatchers poll the same database while the events arrive through either one.
    for i in range(12):
        gw = (first, second)[i % 2]
        await new_lead(gw, admin, f"96000 454{i:02d}")
    got = await receiver.wait_for("/once", 12)
    await asyncio.sleep(0.5)
    assert len(receiver.at("/once")) == 12
    assert len({d.headers["webhook-id"] for d in got}) == 12
    assert sorted(d.payload["data"]["phone"] for d in got) == sorted(
        f"+9196000454{i:02d}" for i in range(12)
    )
    done = await deliveries(first, admin, subscription_id=sub["id"], status="succeeded")
    assert len(done) == 12 and {d["attempts"] for d in done} == {1}


async def test_failures_back_off_then_succeed_or_die_and_can_be_replayed(
    start_gateway: GatewayFactory, receiver: Receiver
) -> None:
    async def flaky(count: int) -> web.Response:
        return web.Response(status=500 if count <= 2 else 204, text="try later")

    down = True

    async def broken(count: int) -> web.Response:
        if down:
            return web.Response(status=503, text="x" * 5000)
        return web.Response(text="back")

    async def hang(count: int) -> web.Response:
        await asyncio.sleep(1.0)
        return web.Response(text="too late")

    receiver.behaviours = {"/flaky": flaky, "/down": broken, "/hang": hang}
    gw = await start_gateway(**FAST)
    admin = await gw.login("admin@demo.test")
    flaky_sub = await subscribe(gw, admin, receiver, "/flaky", ["lead.created"])
    down_sub = await subscribe(gw, admin, receiver, "/down", ["lead.created"])
    hang_sub = await subscribe(gw, admin, receiver, "/hang", ["lead.created"])
    await new_lead(gw, admin, "96000 78787")

    first = await until_delivery(
        gw, admin, flaky_sub["id"], lambda d: d["attempts"] >= 1 and d["status"] == "failed"
    )
    assert first["last_status_code"] == 500
    assert first["last_response"] == "try later"
    assert ts(first["next_attempt_at"]) > ts(first["created_at"])

    done = await until_delivery(gw, admin, flaky_sub["id"], lambda d: d["status"] == "succeeded")
    assert done["attempts"] == 3 and done["last_status_code"] == 204
    tries = receiver.at("/flaky")
    assert len(tries) == 3
    assert {t.headers["webhook-id"] for t in tries} == {done["webhook_id"]}
    # The schedule 0.3 s, 0.6 s with up to 20 % jitter (and a 0.05 s poll on top).
    first_gap, second_gap = tries[1].at - tries[0].at, tries[2].at - tries[1].at
    assert 0.24 <= first_gap < 3.0, first_gap
    assert 0.48 <= second_gap < 3.0, second_gap

    dead = await until_delivery(gw, admin, down_sub["id"], lambda d: d["status"] == "dead")
    assert dead["attempts"] == 3 and dead["last_status_code"] == 503
    assert dead["last_response"] == "x" * 2000 and dead["next_attempt_at"] is None
    hung = await until_delivery(gw, admin, hang_sub["id"], lambda d: d["status"] == "dead")
    assert hung["attempts"] == 3 and hung["last_status_code"] is None
    assert hung["last_error"] == "no answer within 0.5s" and hung["last_response"] is None
    await asyncio.sleep(0.8)  # past the schedule: nothing more is sent
    assert len(receiver.at("/down")) == len(receiver.at("/hang")) == 3
    assert {d["id"] for d in await deliveries(gw, admin, status="dead")} == {
        dead["id"],
        hung["id"],
    }

    down = False
    status, queued = await gw.request("POST", f"/api/webhook-deliveries/{dead['id']}/replay", admin)
    assert status == 202 and queued["status"] == "pending"
    revived = await until_delivery(gw, admin, down_sub["id"], lambda d: d["status"] == "succeeded")
    assert revived["attempts"] == 4 and revived["last_response"] == "back"
    assert revived["last_status_code"] == 200

    # A succeeded delivery replays too: the same message once more, freshly signed.
    status, _ = await gw.request("POST", f"/api/webhook-deliveries/{done['id']}/replay", admin)
    assert status == 202
    again = await until_delivery(gw, admin, flaky_sub["id"], lambda d: d["attempts"] == 4)
    assert again["status"] == "succeeded"
    replayed = (await receiver.wait_for("/flaky", 4))[-1]
    assert replayed.body == tries[0].body
    assert replayed.headers["webhook-id"] == done["webhook_id"]

    status, _ = await gw.request("POST", "/api/webhook-deliveries/424242/replay", admin)
    assert status == 404


async def test_a_slow_receiver_delays_no_one_else(
    start_gateway: GatewayFactory, receiver: Receiver
) -> None:
    released = asyncio.Event()

    async def slow(count: int) -> web.Response:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(released.wait(), 5)
        return web.Response(text="too late")

    receiver.behaviours = {"/slow": slow}
    gw = await start_gateway(
        **{
            **FAST,
            "WEBHOOK_OUT_TIMEOUT_S": 5.0,
            "WEBHOOK_OUT_CONCURRENCY": 4,
            "WEBHOOK_OUT_PER_RECEIVER": 2,
            "WEBHOOK_OUT_BACKOFF_S": "30",
        }
    )
    admin = await gw.login("admin@demo.test")
    slow_sub = await subscribe(gw, admin, receiver, "/slow", ["lead.created"])
    await subscribe(gw, admin, receiver, "/fast", ["lead.created"])

    # More messages for the slow receiver than there are sending slots in all.
    for i in range(6):
        await new_lead(gw, admin, f"96000 9090{i}")
    await receiver.wait_for("/slow", 1)
    api_started = time.monotonic()
    status, _ = await gw.request("GET", "/api/leads", admin)
    assert status == 200 and time.monotonic() - api_started < 1.0
    fast = await receiver.wait_for("/fast", 6)
    # Each reached the fast receiver soon after its event, long before the slow one's timeout.
    for got in fast:
        assert got.wall - ts(got.payload["timestamp"]).timestamp() < 2.5
    # The slow receiver holds only its share of the sending slots.
    await receiver.wait_for("/slow", 2)
    await asyncio.sleep(0.2)
    assert len(receiver.at("/slow")) == 2

    # Paused, it is sent nothing more; its deliveries wait.
    status, _ = await gw.request(
        "PATCH", f"/api/webhook-subscriptions/{slow_sub['id']}", admin, json={"is_active": False}
    )
    assert status == 200
    released.set()
    await asyncio.sleep(0.2)
    sent = len(receiver.at("/slow"))
    await asyncio.sleep(0.5)
    assert len(receiver.at("/slow")) == sent <= 4
    assert await deliveries(gw, admin, subscription_id=slow_sub["id"], status="pending")


@dataclass
class Alerts:
    """`missed_call` events one Socket.IO client received."""

    received: list[dict[str, Any]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def next(self, count: int, timeout: float = 10.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.received[count - 1]


async def listen(gw: Gateway, email: str) -> Alerts:
    alerts = Alerts()
    live = await gw.connect(await gw.login(email))

    async def on_missed(data: dict[str, Any]) -> None:
        alerts.received.append(data)
        alerts.arrived.set()

    live.client.on("missed_call", on_missed, namespace="/dialer")
    return alerts


async def test_a_missed_inbound_call_alerts_the_owner_and_is_delivered(
    start_gateway: GatewayFactory, receiver: Receiver
) -> None:
    gw = await start_gateway(**FAST)
    admin = await gw.login("admin@demo.test")
    await subscribe(gw, admin, receiver, "/missed", ["call.missed"])
    # Priya Sharma belongs to agent1, whose phone now rings out unanswered.
    async with gw.app[sessionmaker_key]() as session:
        agent1 = (
            await session.exec(select(User).where(col(User.email) == "agent1@demo.test"))
        ).one()
        agent1.phone = "+919000000002"
        await session.commit()
    owner, other, manager = [
        await listen(gw, email)
        for email in ("agent1@demo.test", "agent2@demo.test", "manager@demo.test")
    ]

    await ring_in(gw, "+919876543210")
    alert = await owner.next(1)
    assert alert["call"]["direction"] == "inbound" and alert["call"]["outcome"] == "no-answer"
    assert alert["call"]["from_number"] == "+919876543210"
    assert alert["lead"]["name"] == "Priya Sharma" and alert["lead"]["owner_id"] == agent1.id
    (delivered,) = await receiver.wait_for("/missed", 1)
    assert delivered.payload["type"] == "call.missed"
    assert delivered.payload["data"]["id"] == alert["call"]["id"]

    # A caller nobody owns (no assignment rule gives the new lead an owner): the
    # supervisors are told, and the new lead comes with it.
    _, rules = await gw.request("GET", "/api/assignment-rules", admin)
    for rule in rules["data"]:
        status, _ = await gw.request("DELETE", f"/api/assignment-rules/{rule['id']}", admin)
        assert status == 204
    await ring_in(gw, "+447911123411")
    unowned = await manager.next(1)
    assert unowned["call"]["id"] != alert["call"]["id"]
    assert unowned["lead"]["phone"] == "+447911123411" and unowned["lead"]["owner_id"] is None
    assert unowned["lead"]["source"] == "inbound-call"
    await receiver.wait_for("/missed", 2)

    # An answered inbound call is no missed call.
    async with gw.app[sessionmaker_key]() as session:
        agent1 = (
            await session.exec(select(User).where(col(User.email) == "agent1@demo.test"))
        ).one()
        agent1.phone = "+919000012345"
        await session.commit()
    await ring_in(gw, "+919876543210")
    async with asyncio.timeout(10):
        while True:
            _, calls = await gw.request("GET", "/api/calls", admin, params={"status": "completed"})
            if len(calls["data"]) == 3:
                break
            await asyncio.sleep(0.05)
    assert calls["data"][0]["outcome"] == "completed" and calls["data"][0]["duration_s"]
    await asyncio.sleep(0.3)
    assert len(owner.received) == len(manager.received) == 1 and other.received == []
    assert len(receiver.at("/missed")) == 2
