"""Calls-per-second pacing: over the carrier's limit calls wait their turn, never fail."""

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlmodel import select

from dialer.pacing import local_slots_key, wait_for_slot
from gateway.keys import redis_key, sessionmaker_key, settings_key, simulator_key
from gateway.models import CarrierAccount
from gateway.settings import Settings
from tests.conftest import REDIS_URL, Gateway, unavailable


async def paced(apps: list[dict[Any, Any]], rate: float, count: int) -> list[float]:
    """Start `count` originations at once across `apps`; the times each was let through."""
    t0 = time.monotonic()

    async def one(i: int) -> float:
        await wait_for_slot(apps[i % len(apps)], 7, rate)
        return time.monotonic() - t0

    return sorted(await asyncio.gather(*(one(i) for i in range(count))))


def assert_spaced(times: list[float], interval: float) -> None:
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Slots are exact; what a caller measures adds a timer's or a Redis round trip's jitter.
    jitter = 0.015
    assert all(gap >= interval - jitter for gap in gaps), gaps
    assert times[-1] - times[0] >= (len(times) - 1) * interval - jitter
    assert times[0] < interval


async def test_one_process_spaces_calls() -> None:
    app: dict[Any, Any] = {local_slots_key: {}}
    assert_spaced(await paced([app], rate=20, count=5), 0.05)
    assert await wait_for_slot(app, 8, None) == 0.0  # unpaced accounts never wait


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:
        unavailable("Redis", exc)
    yield client
    await client.delete("dialgate-pacing-test:cps:7")
    await client.aclose()


@pytest.mark.redis
async def test_processes_sharing_redis_share_one_schedule(redis: Redis) -> None:
    settings = Settings(_env_file=None, SOCKETIO_CHANNEL="dialgate-pacing-test")
    apps = [{redis_key: redis, settings_key: settings} for _ in range(2)]
    assert_spaced(await paced(apps, rate=20, count=6), 0.05)


async def test_dialing_respects_the_account_rate(gateway: Gateway) -> None:
    async with gateway.app[sessionmaker_key]() as session:
        account = (await session.exec(select(CarrierAccount))).one()
        account.calls_per_second = 4
        await session.commit()
    tokens = [await gateway.login(f"agent{i}@demo.test") for i in (1, 2)]
    results = await asyncio.gather(
        *(
            gateway.request("POST", "/api/calls", token, json={"number": number})
            for token, number in zip(tokens, ("98765 43210", "98200 11223"), strict=True)
        )
    )
    assert [status for status, _ in results] == [202, 202]  # both accepted at once
    simulator = gateway.app[simulator_key]
    async with asyncio.timeout(5):
        while len(simulator.calls) < 2:  # noqa: ASYNC110  (polling another component's state)
            await asyncio.sleep(0.01)
    first, second = sorted(call.created_at for call in simulator.calls.values())
    assert second - first >= 0.25 * 0.9
