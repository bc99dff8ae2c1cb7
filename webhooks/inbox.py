"""The durable inbox: raw carrier requests committed in small batches before the carrier's 2xx.

One transaction per webhook caps the async engine at about 1,000 commits/s; a batch per
transaction reaches far more. Batching adds no waiting: while one batch commits, the next
accumulates, so a lone request commits at once and a burst shares its commits.
"""

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from gateway.models import WebhookInbox
from gateway.stopping import stop_tasks
from gateway.write_turn import WriteTurn

log = logging.getLogger(__name__)
MAX_BATCH = 512

Committed = Callable[[list[int]], Awaitable[None]]


class GroupCommitter:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        on_committed: Committed,
        turn: WriteTurn | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._turn = turn or WriteTurn("")
        self._on_committed = on_committed
        self._queue: asyncio.Queue[tuple[dict[str, Any], bool, asyncio.Future[int]]] = (
            asyncio.Queue()
        )
        self._task: asyncio.Task[None] | None = None
        self._in_flight: list[asyncio.Future[int]] = []

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            await stop_tasks([self._task])
        # Requests still waiting get an error (the carrier retries) rather than waiting forever;
        # a batch cut off mid-commit may or may not have landed, and the retry is deduplicated.
        waiting = self._in_flight
        while not self._queue.empty():
            waiting.append(self._queue.get_nowait()[2])
        for future in waiting:
            if not future.done():
                future.set_exception(ConnectionAbortedError("the gateway is shutting down"))
        self._in_flight = []

    async def submit(self, row: dict[str, Any], *, enqueue: bool = True) -> int:
        """Store one raw request; returns its inbox id once committed.

        `enqueue=False` leaves applying to the caller (requests whose reply needs the result).
        """
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((row, enqueue, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._in_flight = [future for _, _, future in batch]
            try:
                ids = await self._commit([row for row, _, _ in batch])
            except Exception as exc:
                log.exception("inbox batch of %d failed", len(batch))
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, _, future), row_id in zip(batch, ids, strict=True):
                if not future.done():
                    future.set_result(row_id)
            to_apply = [
                row_id for (_, enqueue, _), row_id in zip(batch, ids, strict=True) if enqueue
            ]
            if to_apply:
                try:
                    await self._on_committed(to_apply)
                except Exception:
                    # Committed rows stay pending; the applier's sweep picks them up.
                    log.exception("could not hand %d inbox rows to the applier", len(to_apply))

    async def _commit(self, rows: list[dict[str, Any]]) -> list[int]:
        table = WebhookInbox.__table__  # type: ignore[attr-defined]
        keys = [secrets.token_hex(8) for _ in rows]
        async with self._turn(), self._sessionmaker() as session:
            conn = await session.connection()
            result = await conn.execute(
                sa.insert(table).returning(table.c.id, table.c.ingest_key),
                [{**row, "ingest_key": key} for row, key in zip(rows, keys, strict=True)],
            )
            by_key = {key: row_id for row_id, key in result.all()}
            await session.commit()
        return [by_key[key] for key in keys]
