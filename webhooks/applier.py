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

from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select, update

from crm.assignment.service import push_assigned
from dialer.push import push_calls, push_missed_calls
from gateway.carriers.base import InboundWebhook, MalformedWebhook
from gateway.keys import carriers_key, redis_key, runtime_key, sessionmaker_key, settings_key
from gateway.models import CarrierAccount, InboxStatus, Organization, WebhookInbox, utcnow
from gateway.stopping import stop_tasks
from webhooks.apply import ApplyResult, CallMismatch, apply_events

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
            row_id = await self._queue.get()
            await self._apply_logged(row_id)

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
            for message_id, fields in messages:
                if fields and "id" in fields:
                    await self._apply_logged(int(fields["id"]))
                await self.redis.xack(self.stream, GROUP, message_id)

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
        app = self.app
        async with app[sessionmaker_key]() as session:
            # One query for the row, its account and the region new calls' numbers are read in.
            found = (
                await session.exec(
                    select(WebhookInbox, CarrierAccount, Organization.default_region)
                    .join(CarrierAccount, col(CarrierAccount.id) == WebhookInbox.account_id)
                    .join(Organization, col(Organization.id) == CarrierAccount.org_id, isouter=True)
                    .where(col(WebhookInbox.id) == row_id)
                )
            ).first()
        if found is None or found[0].status != InboxStatus.PENDING:
            return None
        row, account, region = found
        adapter = app[carriers_key].get(row.carrier)
        if adapter is None:
            await self._finish(row_id, InboxStatus.FAILED, f"no adapter {row.carrier!r}")
            return None
        try:
            events = adapter.parse(inbound_of(row), account.credentials)
        except MalformedWebhook as exc:
            await self._finish(row_id, InboxStatus.FAILED, f"malformed {exc.field}: {exc.message}")
            return None
        result = ApplyResult()
        for attempt in range(APPLY_RETRIES):
            async with app[sessionmaker_key]() as session:
                try:
                    result = await apply_events(
                        session,
                        app[settings_key],
                        account,
                        events,
                        adapter.sync_kinds,
                        replay=replay,
                        region=region,
                    )
                    marked = await session.exec(
                        update(WebhookInbox)
                        .where(
                            col(WebhookInbox.id) == row_id,
                            col(WebhookInbox.status) == InboxStatus.PENDING,
                        )
                        .values(status=InboxStatus.APPLIED, applied_at=utcnow())
                    )
                    if marked.rowcount == 0:  # another consumer applied it meanwhile
                        await session.rollback()
                        return None
                    await session.commit()
                    # Unknown callers' new leads were assigned in the same transaction.
                    await push_assigned(app, session)
                    break
                except CallMismatch as exc:
                    await session.rollback()
                    log.warning("inbox row %s refused: %s", row_id, exc)
                    await self._finish(row_id, InboxStatus.FAILED, f"refused: {exc}")
                    return None
                except IntegrityError:
                    await session.rollback()
                    if attempt == APPLY_RETRIES - 1:
                        raise
        if result.changed:
            await push_calls(app, list(result.changed.values()))
        if result.missed:
            await push_missed_calls(app, result.missed)
        if result.duplicates < len(events):
            # Commands (a Call Control transfer) follow new events only: a redelivered
            # "answered" must not dial the lead a second time.
            await adapter.act(app[runtime_key], account.credentials, events, result.voice)
        return result

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
