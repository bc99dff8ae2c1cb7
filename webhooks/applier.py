"""Applies committed inbox rows to calls, after the carrier already has its 2xx.

In one process the rows go through an in-memory queue. With Redis they go through a Redis
Stream and its consumer group, so any gateway process applies them; a process that dies
holding rows leaves them pending in the group, and another process claims them after
`APPLIER_RECLAIM_IDLE_MS`. One process holds the applying lease at a time, so a call's
events are applied in arrival order. Whatever the mode, a periodic sweep re-queues rows still
pending in the database (e.g. committed just before a crash, never handed over).
"""

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import sqlalchemy as sa
from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select, update

from crm.assignment.service import push_assigned
from crm.calls import call_update_json
from dialer.push import push_call_states, push_missed_calls
from gateway.carriers.base import CallEvent, Carrier, InboundWebhook, MalformedWebhook
from gateway.keys import (
    carriers_key,
    redis_key,
    runtime_key,
    sessionmaker_key,
    settings_key,
    write_turn_key,
)
from gateway.models import (
    Call,
    CarrierAccount,
    InboxStatus,
    Organization,
    WebhookInbox,
    utcnow,
)
from gateway.stopping import stop_tasks
from webhooks.apply import (
    ApplyResult,
    Batch,
    CallMismatch,
    apply_events,
    insert_records,
    prefetch_calls,
    prefetch_dedupe,
)

log = logging.getLogger(__name__)
GROUP = "appliers"
# Extends the lease only if this consumer still holds it.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
MAX_ATTEMPTS = 5
APPLY_RETRIES = 3  # unique-key races between concurrent applies of one call
# Inbox rows applied in one transaction: one commit, one claim and one dedupe query for all.
APPLY_BATCH = 64
INBOX = WebhookInbox.__table__  # type: ignore[attr-defined]


def inbound_of(row: WebhookInbox) -> InboundWebhook:
    query: dict[str, str] = {}
    for name, value in parse_qsl(urlsplit(row.url).query, keep_blank_values=True):
        query.setdefault(name, value)
    return InboundWebhook(
        method=row.method,
        url=row.url,
        headers=row.headers,
        body=row.body,
        query=query,
        kind=row.kind,
        received_at=row.received_at.timestamp(),
    )


class Applier:
    def __init__(self, app: web.Application, *, consume: bool = True) -> None:
        """`consume=False`: only hand rows over (to the stream); other processes apply them."""
        self.app = app
        self.consume = consume
        settings = app[settings_key]
        self.stream = f"{settings.socketio_channel}:webhooks"
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.reclaim_idle_ms = settings.applier_reclaim_idle_ms
        self.lease_key = f"{settings.socketio_channel}:applier-lease"
        self.lease_ms = settings.applier_lease_ms
        self.sweep_every_s = settings.inbox_sweep_interval_s
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def redis(self) -> Redis | None:
        return self.app.get(redis_key)

    async def start(self) -> None:
        if not self.consume:
            return
        loop = asyncio.get_running_loop()
        if self.redis is not None:
            self._tasks.append(loop.create_task(self._consume_stream()))
        else:
            self._tasks.append(loop.create_task(self._consume_queue()))
        self._tasks.append(loop.create_task(self._sweep()))

    async def stop(self) -> None:
        # A cancellation can be lost inside redis-py's read (see gateway.stopping).
        await stop_tasks(self._tasks)
        self._tasks.clear()
        if self.redis is not None and self.consume:
            # Hand the lease over at once rather than after it expires.
            with contextlib.suppress(RedisError):
                await self.redis.eval(_RELEASE, 1, self.lease_key, self.consumer)

    async def enqueue(self, ids: list[int]) -> None:
        if self.redis is not None:
            async with self.redis.pipeline(transaction=False) as pipe:
                for row_id in ids:
                    pipe.xadd(self.stream, {"id": str(row_id)}, maxlen=100_000, approximate=True)
                await pipe.execute()
        else:
            for row_id in ids:
                self._queue.put_nowait(row_id)

    # --- consumers ----------------------------------------------------------------------

    async def _consume_queue(self) -> None:
        while True:
            row_ids = [await self._queue.get()]
            while len(row_ids) < APPLY_BATCH and not self._queue.empty():
                row_ids.append(self._queue.get_nowait())
            await self.apply_many(row_ids)

    async def _create_group(self) -> None:
        assert self.redis is not None
        try:
            await self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _hold_lease(self) -> bool:
        """Keep (or take) the applier lease; True while this process holds it.

        One process applies at a time so that a call's events are applied in the order they
        were received; the others stand by and take over, with the dead holder's pending
        messages, once its lease runs out.
        """
        assert self.redis is not None
        renewed = await self.redis.eval(_RENEW, 1, self.lease_key, self.consumer, self.lease_ms)
        if renewed:
            return True
        return bool(await self.redis.set(self.lease_key, self.consumer, nx=True, px=self.lease_ms))

    async def _consume_stream(self) -> None:
        assert self.redis is not None
        group_ready = False
        while True:
            try:
                if not group_ready:
                    await self._create_group()
                    group_ready = True
                if not await self._hold_lease():
                    await asyncio.sleep(self.lease_ms / 3000)
                    continue
                claimed = await self.redis.xautoclaim(
                    self.stream, GROUP, self.consumer, self.reclaim_idle_ms, "0-0", count=64
                )
                messages = list(claimed[1])
                # redis-py types this reply loosely: [[stream, [(id, fields), ...]], ...]
                fresh: Any = await self.redis.xreadgroup(
                    GROUP, self.consumer, {self.stream: ">"}, count=64, block=200
                )
                for _stream, entries in fresh or []:
                    messages += entries
            except RedisError as exc:
                log.warning("webhook stream unavailable: %r", exc)
                await asyncio.sleep(1)
                continue
            row_ids = [int(fields["id"]) for _, fields in messages if fields and "id" in fields]
            for start in range(0, len(row_ids), APPLY_BATCH):
                await self.apply_many(row_ids[start : start + APPLY_BATCH])
            if messages:
                await self.redis.xack(self.stream, GROUP, *[m for m, _ in messages])

    async def _sweep(self) -> None:
        """Re-queue rows still pending a while after they were received."""
        while True:
            try:
                async with self.app[sessionmaker_key]() as session:
                    cutoff = utcnow() - timedelta(seconds=self.sweep_every_s)
                    ids = list(
                        (
                            await session.exec(
                                select(WebhookInbox.id)
                                .where(
                                    col(WebhookInbox.status) == InboxStatus.PENDING,
                                    col(WebhookInbox.received_at) < cutoff,
                                )
                                .order_by(col(WebhookInbox.id))
                                .limit(1000)
                            )
                        ).all()
                    )
                if ids:
                    log.info("re-queueing %d pending inbox rows", len(ids))
                    await self.enqueue([i for i in ids if i is not None])
            except Exception:
                log.exception("inbox sweep failed")
            await asyncio.sleep(self.sweep_every_s)

    # --- applying -------------------------------------------------------------------------

    async def _apply_logged(self, row_id: int) -> None:
        try:
            await self.apply(row_id)
        except Exception as exc:
            log.exception("applying inbox row %s failed", row_id)
            await self._record_failure(row_id, repr(exc))

    async def _record_failure(self, row_id: int, error: str) -> None:
        async with self.app[sessionmaker_key]() as session:
            row = await session.get(WebhookInbox, row_id)
            if row is None or row.status != InboxStatus.PENDING:
                return
            row.attempts += 1
            row.error = error[:1000]
            if row.attempts >= MAX_ATTEMPTS:
                row.status = InboxStatus.FAILED
            await session.commit()

    async def apply(self, row_id: int, *, replay: bool = False) -> ApplyResult | None:
        """Apply one inbox row (idempotent: an applied row is skipped)."""
        return (await self._apply_rows([row_id], replay=replay)).get(row_id)

    async def apply_many(self, row_ids: list[int]) -> None:
        """Apply inbox rows in one transaction, in the order given; never raises.

        If the batch fails as a whole (a refused callback, a unique-key race, any error), its
        transaction is rolled back and each row is applied alone, so one bad row fails only
        itself, exactly as if the rows had come one at a time.
        """
        if len(row_ids) == 1:
            await self._apply_logged(row_ids[0])
            return
        try:
            await self._apply_rows(row_ids, retries=1, alone=False)
        except Exception:
            log.info("batch of %d inbox rows failed; applying them one by one", len(row_ids))
            for row_id in row_ids:
                await self._apply_logged(row_id)

    async def _apply_rows(
        self,
        row_ids: list[int],
        *,
        replay: bool = False,
        retries: int = APPLY_RETRIES,
        alone: bool = True,
    ) -> dict[int, ApplyResult]:
        """Apply pending inbox rows in one transaction; returns each applied row's result.

        `alone`: a single row, whose refusal is recorded here; a batch raises instead (the
        caller then applies its rows one by one).
        """
        app = self.app
        async with app[sessionmaker_key]() as session:
            # One query for the rows, their accounts and the region new calls' numbers are read in.
            found = (
                await session.exec(
                    select(WebhookInbox, CarrierAccount, Organization.default_region)
                    .join(CarrierAccount, col(CarrierAccount.id) == WebhookInbox.account_id)
                    .join(Organization, col(Organization.id) == CarrierAccount.org_id, isouter=True)
                    .where(
                        col(WebhookInbox.id).in_(row_ids),
                        col(WebhookInbox.status) == InboxStatus.PENDING,
                    )
                )
            ).all()
        by_id = {row.id: (row, account, region) for row, account, region in found}
        adapter: Carrier | None
        parsed: list[tuple[int, CarrierAccount, str | None, Carrier, list[CallEvent]]] = []
        for row_id in dict.fromkeys(row_ids):
            if row_id not in by_id:
                continue
            row, account, org_region = by_id[row_id]
            adapter = app[carriers_key].get(row.carrier)
            if adapter is None:
                await self._finish(row_id, InboxStatus.FAILED, f"no adapter {row.carrier!r}")
                continue
            try:
                events = adapter.parse(inbound_of(row), account.credentials)
            except MalformedWebhook as exc:
                await self._finish(
                    row_id, InboxStatus.FAILED, f"malformed {exc.field}: {exc.message}"
                )
                continue
            parsed.append((row_id, account, org_region, adapter, events))
        if not parsed:
            return {}
        results: dict[int, ApplyResult] = {}
        for attempt in range(retries):
            results = {}
            states: list[tuple[Call, dict[str, Any]]] = []
            batch = Batch(locked=True)
            async with app[write_turn_key](), app[sessionmaker_key]() as session:
                try:
                    # Claiming the rows is the transaction's first statement: it takes SQLite's
                    # write lock (and the rows' locks on PostgreSQL) before anything is read,
                    # and a row another consumer applied meanwhile is not returned.
                    claimed = set(
                        (
                            await (await session.connection()).execute(
                                sa.update(INBOX)
                                .where(
                                    INBOX.c.id.in_([p[0] for p in parsed]),
                                    INBOX.c.status == InboxStatus.PENDING,
                                )
                                .values(status=InboxStatus.APPLIED, applied_at=utcnow())
                                .returning(INBOX.c.id)
                            )
                        ).scalars()
                    )
                    if not claimed:
                        await session.rollback()
                        return {}
                    if not replay:
                        keys: dict[int, set[str]] = {}
                        call_ids: dict[int, set[str]] = {}
                        for row_id, account, _, _, events in parsed:
                            if row_id in claimed and account.id is not None:
                                keys.setdefault(account.id, set()).update(
                                    e.dedupe_key for e in events
                                )
                                call_ids.setdefault(account.id, set()).update(
                                    i
                                    for e in events
                                    for i in (e.parent_call_id, e.carrier_call_id)
                                    if i
                                )
                        await prefetch_dedupe(session, batch, keys)
                        await prefetch_calls(session, batch, call_ids)
                    for row_id, account, region, adapter, events in parsed:
                        if row_id not in claimed:
                            continue
                        try:
                            results[row_id] = applied = await apply_events(
                                session,
                                app[settings_key],
                                account,
                                events,
                                adapter.sync_kinds,
                                replay=replay,
                                region=region,
                                batch=batch,
                            )
                            states += [
                                (call, call_update_json(call)) for call in applied.changed.values()
                            ]
                        except CallMismatch as exc:
                            if not alone:
                                raise
                            await session.rollback()
                            log.warning("inbox row %s refused: %s", row_id, exc)
                            await self._finish(row_id, InboxStatus.FAILED, f"refused: {exc}")
                            return {}
                    await insert_records(session, batch)
                    await session.commit()
                    # Unknown callers' new leads were assigned in the same transaction.
                    await push_assigned(app, session)
                    break
                except IntegrityError:
                    await session.rollback()
                    if attempt == retries - 1:
                        raise
        missed = [call for applied in results.values() for call in applied.missed]
        if states:
            await push_call_states(app, states)
        if missed:
            await push_missed_calls(app, missed)
        for row_id, account, _, adapter, events in parsed:
            done = results.get(row_id)
            if done is None or done.duplicates == len(events):
                continue
            # Commands (a Call Control transfer) follow new events only: a redelivered
            # "answered" must not dial the lead a second time.
            try:
                await adapter.act(app[runtime_key], account.credentials, events, done.voice)
            except Exception:
                if alone:
                    raise
                # Committed already: one row's failed command must not skip the others'.
                log.exception("commands after inbox row %s failed", row_id)
        return results

    async def _finish(self, row_id: int, status: InboxStatus, error: str) -> None:
        async with self.app[sessionmaker_key]() as session:
            await session.exec(
                update(WebhookInbox)
                .where(col(WebhookInbox.id) == row_id)
                .values(status=status, error=error[:1000], applied_at=utcnow())
            )
            await session.commit()


applier_key = web.AppKey("applier", Applier)


async def applier_ctx(app: web.Application) -> AsyncIterator[None]:
    # The settings refuse consume=False without Redis: rows would reach no applier.
    applier = Applier(app, consume=app[settings_key].applier_in_process)
    app[applier_key] = applier
    await applier.start()
    yield
    await applier.stop()
