"""Callbacks in flight never wait needlessly: on account reads (cancelled, stale), at shutdown."""

import asyncio
import time
from typing import Any

import pytest
from sqlmodel import select

from gateway.keys import sessionmaker_key
from gateway.models import CarrierAccount
from tests.conftest import Gateway
from webhooks.inbox import GroupCommitter
from webhooks.routes import (
    ACCOUNT_STALE_S,
    _account,
    account_loads_key,
    accounts_key,
)


async def test_a_cancelled_account_read_does_not_strand_its_waiters(gateway: Gateway) -> None:
    app = gateway.app
    async with app[sessionmaker_key]() as session:
        account = (await session.exec(select(CarrierAccount))).first()
    assert account is not None and account.id is not None
    app[accounts_key].clear()
    first = asyncio.create_task(_account(app, account.id))
    await asyncio.sleep(0)  # the first request starts the read...
    assert account.id in app[account_loads_key]
    second = asyncio.create_task(_account(app, account.id))
    await asyncio.sleep(0)
    first.cancel()  # ...and goes away (the carrier hung up) before it finishes.
    with pytest.raises(asyncio.CancelledError):
        await first
    loaded = await asyncio.wait_for(second, 5)
    assert loaded is not None and loaded.id == account.id
    assert account.id in app[accounts_key] and account.id not in app[account_loads_key]


async def _first_account(app: Any) -> CarrierAccount:
    async with app[sessionmaker_key]() as session:
        account: CarrierAccount | None = (await session.exec(select(CarrierAccount))).first()
    assert account is not None and account.id is not None
    return account


async def test_a_stale_account_is_served_while_one_read_refreshes_it(gateway: Gateway) -> None:
    app = gateway.app
    account = await _first_account(app)
    assert account.id is not None
    stale = CarrierAccount(id=account.id, org_id=account.org_id, carrier=account.carrier)
    # Past its time but within the grace: callbacks get it at once, and one read starts.
    app[accounts_key][account.id] = (time.monotonic() - 1.0, stale)
    served = [await _account(app, account.id) for _ in range(3)]
    assert all(s is stale for s in served)
    loads = app[account_loads_key]
    assert list(loads) == [account.id]
    fresh = await asyncio.wait_for(asyncio.shield(loads[account.id]), 5)
    assert fresh is not None and fresh is not stale
    assert app[accounts_key][account.id][1] is fresh
    assert await _account(app, account.id) is fresh and not loads


async def test_an_account_stale_beyond_the_grace_is_read_before_it_is_used(
    gateway: Gateway,
) -> None:
    app = gateway.app
    account = await _first_account(app)
    assert account.id is not None
    stale = CarrierAccount(id=account.id, org_id=account.org_id, carrier=account.carrier)
    app[accounts_key][account.id] = (time.monotonic() - ACCOUNT_STALE_S - 1.0, stale)
    loaded = await asyncio.wait_for(_account(app, account.id), 5)
    assert loaded is not None and loaded is not stale and loaded.id == account.id


async def test_a_deleted_account_leaves_the_cache(gateway: Gateway) -> None:
    app = gateway.app
    ghost = CarrierAccount(id=987_654, org_id=1, carrier="twilio")
    app[accounts_key][987_654] = (time.monotonic() - 1.0, ghost)
    assert await _account(app, 987_654) is ghost  # stale, served while the read runs
    assert await asyncio.wait_for(asyncio.shield(app[account_loads_key][987_654]), 5) is None
    assert 987_654 not in app[accounts_key]
    assert await _account(app, 987_654) is None


async def test_stopping_the_committer_fails_waiting_requests(gateway: Gateway) -> None:
    release = asyncio.Event()

    async def never_applied(ids: list[int]) -> None:
        raise AssertionError("nothing should be handed on")

    committer = GroupCommitter(gateway.app[sessionmaker_key], never_applied)

    async def stuck_commit(rows: list[dict[str, Any]]) -> list[int]:
        await release.wait()
        return list(range(len(rows)))

    committer._commit = stuck_commit  # type: ignore[method-assign]
    committer.start()
    in_batch = asyncio.create_task(committer.submit({}))
    await asyncio.sleep(0.05)  # taken into a batch whose commit hangs
    queued = asyncio.create_task(committer.submit({}))
    await asyncio.sleep(0)
    await committer.stop()
    for task in (in_batch, queued):
        with pytest.raises(ConnectionAbortedError):
            await asyncio.wait_for(task, 5)
