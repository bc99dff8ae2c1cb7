"""The durable inbox: raw carrier requests committed in small batches before the carrier's 2xx.

One transaction per webhook caps the async engine at about 1,000 commits/s; a batch per
transaction reaches far more. Batching adds no waiting: while one batch commits, the next
accumulates, so a lone request commits at once and a burst shares its commits.
"""

import asyncio
import contextlib
import json
import logging
import operator
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from gateway.models import WebhookInbox
from gateway.stopping import stop_tasks
from gateway.write_turn import WriteTurn

log = logging.getLogger(__name__)
MAX_BATCH = 512
# The row's columns, in the order of the PostgreSQL statement's arrays below.
COLUMNS = (
    "org_id",
    "account_id",
    "carrier",
    "kind",
    "method",
    "url",
    "headers",
    "body",
    "received_at",
    "status",
    "attempts",
    "ingest_key",
)
SQLITE_INSERT = (
    "INSERT INTO webhook_inbox (org_id, account_id, carrier, kind, method, url, headers, body,"
    " received_at, status, attempts, ingest_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# One statement per batch whatever its size, so asyncpg prepares it once per connection: each
# column travels as one array, and the arrays are zipped back into rows by unnest.
PG_INSERT = (
    "INSERT INTO webhook_inbox (org_id, account_id, carrier, kind, method, url, headers, body,"
    " received_at, status, attempts, ingest_key) "
    "SELECT * FROM unnest($1::int[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[],"
    " $7::json[], $8::bytea[], $9::timestamptz[], $10::text[], $11::int[], $12::text[])"
    " RETURNING id, ingest_key"
)

Committed = Callable[[list[int]], Awaitable[None]]


class GroupCommitter:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        on_committed: Committed,
        turn: WriteTurn | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        engine = sessionmaker.kw.get("bind")
        # The batch goes straight to the driver: SQLAlchemy's executemany costs more CPU than
        # the database's work for it (building parameters, processing results).
        self._engine: AsyncEngine | None = engine
        self._driver = engine.dialect.driver if engine is not None else ""
        table = WebhookInbox.__table__  # type: ignore[attr-defined]
        # The columns whose values the driver cannot take as they are (SQLite: timestamps as
        # text, JSON), by position, with the column type's own conversion (computed once).
        self._converted: list[tuple[int, Callable[[Any], Any]]] = []
        if engine is not None:
            dialect = engine.dialect
            for i, name in enumerate(COLUMNS):
                bind = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
                if bind is not None:
                    self._converted.append((i, bind))
        # A row's values in the statement's order, read in one call (the key comes last).
        self._values = operator.itemgetter(*COLUMNS[:-1])
        # The committer's own connection, held between batches: a pool checkout would cost
        # a round trip per batch (the pre-ping) before the insert's own.
        self._conn: AsyncConnection | None = None
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
        # A batch cut off mid-statement has dropped the connection already.
        await self._drop_connection(broken=False)
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
            # One turn of the loop lets requests already read reach the queue: larger batches,
            # fewer commits, for no measurable wait.
            await asyncio.sleep(0)
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
        if self._driver == "asyncpg":
            return await self._commit_asyncpg(rows)
        if self._driver == "aiosqlite":
            return await self._commit_aiosqlite(rows)
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

    async def _commit_asyncpg(self, rows: list[dict[str, Any]]) -> list[int]:
        keys = [secrets.token_hex(8) for _ in rows]
        columns: list[list[Any]] = [[row[name] for row in rows] for name in COLUMNS[:-1]]
        headers = COLUMNS.index("headers")
        columns[headers] = [json.dumps(value) for value in columns[headers]]
        columns.append(keys)
        async with self._held_connection() as db:
            # Outside any transaction of SQLAlchemy's: one statement, committed on its own.
            records = await db.fetch(PG_INSERT, *columns)
        by_key = {key: row_id for row_id, key in records}
        return [by_key[key] for key in keys]

    async def _commit_aiosqlite(self, rows: list[dict[str, Any]]) -> list[int]:
        keys = [secrets.token_hex(8) for _ in rows]
        values = self._values
        params = []
        for row, key in zip(rows, keys, strict=True):
            param = [*values(row), key]
            for i, bind in self._converted:
                param[i] = bind(param[i])
            params.append(param)
        async with self._turn(), self._held_connection() as db:
            # sqlite3 opens the transaction before the first insert, and the batch holds the
            # write lock until its commit: its rows get consecutive ids, in order, up to the
            # last one inserted.
            await db.executemany(SQLITE_INSERT, params)
            async with db.execute("SELECT last_insert_rowid()") as cursor:
                (last,) = await cursor.fetchone()
            await db.commit()
        return list(range(last - len(rows) + 1, last + 1))

    @contextlib.asynccontextmanager
    async def _held_connection(self) -> AsyncIterator[Any]:
        """The driver's connection under the held one (opened when there is none); any failure
        drops it, whatever state it is in (broken, cut off mid-statement): the next batch
        opens a new one."""
        assert self._engine is not None
        try:
            if self._conn is None:
                self._conn = await self._engine.connect()
            raw = await self._conn.get_raw_connection()
            yield raw.driver_connection
        except BaseException:
            await self._drop_connection()
            raise

    async def _drop_connection(self, *, broken: bool = True) -> None:
        """Let the held connection go: discarded after a failure (its state is unknown),
        returned to the pool at a clean stop (the engine's disposal closes it properly)."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if broken:
                await conn.invalidate()
            await conn.close()
        except Exception:
            log.warning("could not close the inbox connection", exc_info=True)
