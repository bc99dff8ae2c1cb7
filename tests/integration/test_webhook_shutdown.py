"""Callbacks in flight are never left waiting: on a cancelled account read, or at shutdown."""

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import select

from gateway.keys import sessionmaker_key
from gateway.models import CarrierAccount
from tests.conftest import Gateway
from webhooks.inbox import GroupCommitter
from webhooks.routes import _account, account_loads_key, accounts_key


@dataclass
class RequestLike:
    config_dict: Any


async def test_a_cancelled_account_read_does_not_strand_its_waiters(gateway: Gateway) -> None:
    app = gateway.app
    async with app[sessionmaker_key]() as session:
        account = (await session.exec(select(CarrierAccount))).first()
    assert account is not None and account.id is not None
    app[accounts_key].clear()
    request = RequestLike(app)
    first = asyncio.create_task(_account(request, account.id))  # type: ignore[arg-type]
    await asyncio.sleep(0)  # the first request starts the read...
    assert account.id in app[account_loads_key]
    second = asyncio.create_task(_account(request, account.id))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    first.cancel()  # ...and goes away (the carrier hung up) before it finishes.
    with pytest.raises(asyncio.CancelledError):
        await first
    loaded = await asyncio.wait_for(second, 5)
    assert loaded is not None and loaded.id == account.id
    assert account.id in app[accounts_key] and account.id not in app[account_loads_key]


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
