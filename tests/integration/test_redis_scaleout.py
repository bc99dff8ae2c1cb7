"""Scale-out with Redis: Socket.IO across gateway processes, shared dial locks, readiness."""

import asyncio
import json
import secrets
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from sqlmodel import select

from gateway.carriers.sandbox import signature
from gateway.keys import sessionmaker_key
from gateway.models import Call, CallEventRecord, CarrierAccount, WebhookInbox
from tests.conftest import REDIS_URL, GatewayFactory, free_port, unavailable
from webhooks.applier import applier_key

pytestmark = pytest.mark.redis


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:
        unavailable("Redis", exc)
    finally:
        await client.aclose()
    yield REDIS_URL


@pytest.fixture
async def channel(redis_url: str) -> AsyncIterator[str]:
    # Each test gets its own channel and key prefix: parallel runs never hear each other,
    # and nothing of theirs stays in Redis afterwards. Tests request it before their gateways
    # so that it is torn down after them.
    name = f"dialgate-test-{secrets.token_hex(6)}"
    yield name
    client = Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{name}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def test_call_updates_cross_processes_through_redis(
    channel: str, redis_url: str, start_gateway: GatewayFactory
) -> None:
    first = await start_gateway(REDIS_URL=redis_url, SOCKETIO_CHANNEL=channel)
    second = await start_gateway(REDIS_URL=redis_url, SOCKETIO_CHANNEL=channel)
    token = await first.login("agent1@demo.test")
    # The agent watches through the second process; the call is placed and its carrier
    # callbacks are applied by the first.
    live = await second.connect(token)
    manager = await second.connect(await second.login("manager@demo.test"))
    other = await second.connect(await second.login("agent2@demo.test"))
    status, call = await first.request("POST", "/api/calls", token, json={"number": "98765 43210"})
    assert status == 202
    final = await live.until_ended(call["id"])
    assert final["outcome"] == "completed"
    statuses = [u["status"] for u in live.for_call(call["id"])]
    assert statuses == ["queued", "initiated", "ringing", "in-progress", "completed"]
    await manager.until_ended(call["id"])
    assert other.for_call(call["id"]) == []


async def test_simultaneous_clicks_on_two_processes_start_one_call(
    channel: str, redis_url: str, start_gateway: GatewayFactory
) -> None:
    first = await start_gateway(REDIS_URL=redis_url, SOCKETIO_CHANNEL=channel)
    second = await start_gateway(REDIS_URL=redis_url, SOCKETIO_CHANNEL=channel)
    token = await first.login("agent1@demo.test")
    results = await asyncio.gather(
        *(
            gw.request("POST", "/api/calls", token, json={"number": "98765 43210"})
            for gw in (first, second, first, second)
        )
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [202, 409, 409, 409]
    codes = {body["error"]["code"] for status, body in results if status == 409}
    assert codes <= {"dial_in_progress", "agent_busy"}
    _, calls = await first.request("GET", "/api/calls", token)
    assert len(calls["data"]) == 1


async def test_readiness_reports_redis(
    channel: str, redis_url: str, start_gateway: GatewayFactory
) -> None:
    healthy = await start_gateway(REDIS_URL=redis_url, SOCKETIO_CHANNEL=channel)
    status, body = await healthy.request("GET", "/readyz")
    assert status == 200
    assert body["checks"] == {"database": "ok", "redis": "ok"}

    dead = await start_gateway(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    status, body = await dead.request("GET", "/readyz")
    assert status == 503
    assert body["checks"]["redis"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    status, body = await dead.request("GET", "/healthz")
    assert status == 200 and body == {"status": "ok"}


async def test_a_crashed_applier_loses_no_event(
    channel: str, redis_url: str, start_gateway: GatewayFactory
) -> None:
    fast_failover = {
        "REDIS_URL": redis_url,
        "SOCKETIO_CHANNEL": channel,
        "APPLIER_LEASE_MS": 300,
        "APPLIER_RECLAIM_IDLE_MS": 100,
    }
    first = await start_gateway(**fast_failover)
    applier = first.app[applier_key]
    taken: list[int] = []
    hang = asyncio.Event()

    async def crash_while_applying(row_id: int, **_: object) -> None:
        taken.append(row_id)
        await hang.wait()  # the process dies here, holding what it read, acking nothing

    applier.apply = crash_while_applying

    async with first.app[sessionmaker_key]() as session:
        account = (await session.exec(select(CarrierAccount))).one()
    path = f"/webhooks/sandbox/{account.id}/status"
    leg = {
        "call_id": "SBcrash",
        "direction": "outbound",
        "from": "+918047180000",
        "to": "+919876543210",
    }
    lifecycle = ["initiated", "ringing", "answered", "completed"]
    for seq, status in enumerate(lifecycle):
        body = json.dumps({**leg, "status": status, "sequence": seq, "duration": 5}).encode()
        header = signature.header_value(account.credentials["api_key"], first.url + path, body)
        async with first.http.post(
            first.url + path,
            data=body,
            headers={"Content-Type": "application/json", "X-Sandbox-Signature": header},
        ) as resp:
            assert resp.status == 204  # durable before the answer, whatever happens next
    async with asyncio.timeout(5):
        while not taken:  # noqa: ASYNC110  (waiting for the doomed applier to take a row)
            await asyncio.sleep(0.01)
    await applier.stop()  # killed: no ack, no lease hand-over

    second = await start_gateway(**fast_failover)
    await second.settled(timeout=15)
    async with second.app[sessionmaker_key]() as session:
        rows = (await session.exec(select(WebhookInbox))).all()
        call = (await session.exec(select(Call))).one()
        events = (await session.exec(select(CallEventRecord))).all()
    assert [row.status for row in rows] == ["applied"] * 4
    assert (call.status, call.outcome, call.duration_s) == ("completed", "completed", 5)
    assert sorted(e.carrier_status for e in events) == sorted(lifecycle)
