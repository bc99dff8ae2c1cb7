"""Sends the outbox to webhook subscribers: fan-out, leased claims, signed POSTs and retries.

Every gateway process runs one dispatcher; the database decides who sends what. Fan-out
inserts one delivery per (event, subscription), a unique pair, so two processes fanning out
the same event add it once. A process claims a due delivery by pushing its `next_attempt_at`
forward by a lease in a conditional UPDATE; a second process's UPDATE then matches nothing,
and a process that dies mid-send leaves a lease that simply expires into a retry. A result
is recorded only while the sender's lease is still the row's (a replay voids it).
"""

import asyncio
import contextlib
import functools
import logging
import random
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlmodel import col, select
from standardwebhooks import Webhook

from crm.integrations.deliveries import (
    DEAD,
    DUE,
    FAILED,
    PENDING,
    SUCCEEDED,
    encode_payload,
    message_id,
)
from crm.integrations.subscriptions import subscribed
from crm.outbox import EVENTS_WRITTEN
from gateway.keys import engine_key, http_key, sessionmaker_key, settings_key
from gateway.models import IntegrationEvent, WebhookDelivery, WebhookSubscription, utcnow
from gateway.stopping import stop_tasks

log = logging.getLogger(__name__)
FAN_OUT_BATCH = 500
# A claim outlives the request it covers by this much before another process may retry it.
LEASE_MARGIN_S = 30.0
MAX_RESPONSE_CHARS = 2000
MAX_ERROR_CHARS = 1000
# Candidates read per free sending slot: the per-receiver cap may pass over some of them.
CANDIDATES_PER_SLOT = 4
USER_AGENT = "Dialgate-Webhooks/0.1"


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    subscription_id: int
    lease_until: datetime


@dataclass
class Outcome:
    status_code: int | None = None
    response: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def retry_delay(schedule: Sequence[float], attempts: int) -> timedelta:
    """The wait after the `attempts`-th failure: its step of the schedule, ±20% jitter.

    The jitter spreads the retries of many deliveries that failed together (a receiver's
    outage), so the receiver is not hit by all of them at once when it comes back.
    """
    step = schedule[min(attempts, len(schedule)) - 1]
    return timedelta(seconds=step * random.uniform(0.8, 1.2))


def _insert_new_deliveries(is_sqlite: bool, rows: list[dict[str, Any]]) -> Any:
    insert = sqlite.insert if is_sqlite else postgresql.insert
    return (
        insert(WebhookDelivery)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["subscription_id", "event_id"])
    )


async def _read_some(resp: aiohttp.ClientResponse, limit: int) -> str:
    """The start of the receiver's answer; a huge body is not read to its end."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await resp.content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks).decode("utf-8", "replace")[:MAX_RESPONSE_CHARS]


class Dispatcher:
    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.settings = app[settings_key]
        self.wake = asyncio.Event()
        self.inflight: dict[int, asyncio.Task[None]] = {}
        self.per_receiver: Counter[int] = Counter()
        self.lease = timedelta(seconds=self.settings.webhook_out_timeout_s + LEASE_MARGIN_S)

    def poke(self) -> None:
        """Look for work now rather than at the next poll."""
        self.wake.set()

    async def run(self) -> None:
        while True:
            self.wake.clear()
            try:
                while await self.fan_out() == FAN_OUT_BATCH:
                    pass
                await self.send_due()
            except Exception:
                log.exception("webhook dispatch round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.settings.webhook_out_poll_s)

    async def close(self) -> None:
        # A cancelled send keeps its lease; it expires into a retry by any process.
        await stop_tasks(list(self.inflight.values()))

    # --- fan-out ------------------------------------------------------------------------------

    async def fan_out(self) -> int:
        """Turn undispatched events into deliveries to the subscriptions active now."""
        async with self.app[sessionmaker_key]() as session:
            events = list(
                (
                    await session.exec(
                        select(IntegrationEvent)
                        .where(col(IntegrationEvent.dispatched_at).is_(None))
                        .order_by(col(IntegrationEvent.id))
                        .limit(FAN_OUT_BATCH)
                        # PostgreSQL: concurrent dispatchers take different events.
                        .with_for_update(skip_locked=True)
                    )
                ).all()
            )
            if not events:
                return 0
            subs = (
                await session.exec(
                    select(WebhookSubscription).where(
                        col(WebhookSubscription.org_id).in_({e.org_id for e in events}),
                        col(WebhookSubscription.is_active) == True,  # noqa: E712
                    )
                )
            ).all()
            now = utcnow()
            rows = [
                {
                    "org_id": event.org_id,
                    "subscription_id": sub.id,
                    "event_id": event.id,
                    "event_type": event.type,
                    "status": PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for event in events
                for sub in subs
                if sub.org_id == event.org_id and subscribed(sub.events, event.type)
            ]
            if rows:
                await (await session.connection()).execute(
                    _insert_new_deliveries(self.settings.is_sqlite, rows)
                )
            await session.exec(
                sa.update(IntegrationEvent)
                .where(col(IntegrationEvent.id).in_([e.id for e in events]))
                .values(dispatched_at=now)
            )
            await session.commit()
        if rows:
            log.info("%d events fanned out to %d deliveries", len(events), len(rows))
        return len(events)

    # --- sending ------------------------------------------------------------------------------

    async def send_due(self) -> None:
        free = self.settings.webhook_out_concurrency - len(self.inflight)
        if free <= 0:
            return
        for claim in await self.claim(free):
            task = asyncio.get_running_loop().create_task(self.deliver(claim))
            self.inflight[claim.delivery_id] = task
            self.per_receiver[claim.subscription_id] += 1
            task.add_done_callback(functools.partial(self._done, claim))

    def _done(self, claim: Claim, _task: asyncio.Task[None]) -> None:
        self.inflight.pop(claim.delivery_id, None)
        self.per_receiver[claim.subscription_id] -= 1
        if self.per_receiver[claim.subscription_id] <= 0:
            del self.per_receiver[claim.subscription_id]
        self.poke()  # a slot is free: more may be due

    async def claim(self, free: int) -> list[Claim]:
        """Lease up to `free` due deliveries, no receiver beyond its share of the slots."""
        cap = self.settings.webhook_out_per_receiver
        busy = [sub_id for sub_id, n in self.per_receiver.items() if n >= cap]
        now = utcnow()
        async with self.app[sessionmaker_key]() as session:
            stmt = (
                select(WebhookDelivery.id, WebhookDelivery.subscription_id)
                .join(
                    WebhookSubscription,
                    col(WebhookSubscription.id) == WebhookDelivery.subscription_id,
                )
                .where(
                    col(WebhookDelivery.status).in_(DUE),
                    col(WebhookDelivery.next_attempt_at) <= now,
                    col(WebhookSubscription.is_active) == True,  # noqa: E712
                    col(WebhookDelivery.id).not_in(list(self.inflight)),
                )
                .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))
                .limit(free * CANDIDATES_PER_SLOT)
                .with_for_update(of=WebhookDelivery, skip_locked=True)
            )
            if busy:
                stmt = stmt.where(col(WebhookDelivery.subscription_id).not_in(busy))
            candidates = (await session.exec(stmt)).all()
            if not candidates:
                return []
            taken: Counter[int] = Counter(self.per_receiver)
            chosen: dict[int, int] = {}
            for delivery_id, sub_id in candidates:
                assert delivery_id is not None
                if len(chosen) == free:
                    break
                if taken[sub_id] < cap:
                    taken[sub_id] += 1
                    chosen[delivery_id] = sub_id
            if not chosen:
                return []
            lease_until = now + self.lease
            # The conditions are re-checked by the UPDATE itself: on SQLite, under its write
            # lock; on PostgreSQL, after waiting for a concurrent claim's commit.
            result = await (await session.connection()).execute(
                sa.update(WebhookDelivery)
                .where(
                    col(WebhookDelivery.id).in_(list(chosen)),
                    col(WebhookDelivery.status).in_(DUE),
                    col(WebhookDelivery.next_attempt_at) <= now,
                )
                .values(next_attempt_at=lease_until)
                .returning(col(WebhookDelivery.id))
            )
            claimed: list[int] = [row_id for row_id in result.scalars().all() if row_id is not None]
            await session.commit()
        return [Claim(d, chosen[d], lease_until) for d in claimed]

    async def deliver(self, claim: Claim) -> None:
        try:
            async with self.app[sessionmaker_key]() as session:
                row = (
                    await session.exec(
                        select(WebhookDelivery, WebhookSubscription, IntegrationEvent)
                        .join(
                            WebhookSubscription,
                            col(WebhookSubscription.id) == WebhookDelivery.subscription_id,
                        )
                        .join(
                            IntegrationEvent,
                            col(IntegrationEvent.id) == WebhookDelivery.event_id,
                        )
                        .where(col(WebhookDelivery.id) == claim.delivery_id)
                    )
                ).first()
            if row is None:
                return  # deleted with its subscription meanwhile
            delivery, sub, event = row
            outcome = await self.send(sub, event, claim.delivery_id)
            await self.record(claim, delivery.attempts, outcome)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("webhook delivery %s failed unexpectedly", claim.delivery_id)
            with contextlib.suppress(Exception):
                await self.record(claim, None, Outcome(error=f"internal error: {exc!r}"))

    async def send(
        self, sub: WebhookSubscription, event: IntegrationEvent, delivery_id: int
    ) -> Outcome:
        """POST one signed message; every failure is an outcome, never an exception."""
        timeout = self.settings.webhook_out_timeout_s
        body = encode_payload(event)
        msg_id = message_id(delivery_id)
        # A fresh timestamp per attempt: receivers refuse messages older than a few minutes.
        now = utcnow()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(sub.secret).sign(msg_id, now, body),
        }
        outcome = Outcome()
        try:
            async with self.app[http_key].post(
                sub.url,
                data=body.encode(),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
                # A redirect is a misconfigured URL, not a delivery (the signature is not for
                # wherever it points).
                allow_redirects=False,
            ) as resp:
                outcome.status_code = resp.status
                outcome.response = await _read_some(resp, MAX_RESPONSE_CHARS)
        except TimeoutError:
            outcome.error = f"no answer within {timeout:g}s"
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            outcome.error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        log.info(
            "webhook delivery %s to subscription %s: %s",
            delivery_id,
            sub.id,
            outcome.status_code or outcome.error,
        )
        return outcome

    async def record(self, claim: Claim, attempts_before: int | None, outcome: Outcome) -> None:
        """Store the attempt, if the claim is still ours (a replay or a new lease voids it)."""
        now = utcnow()
        async with self.app[sessionmaker_key]() as session:
            delivery = await session.get(WebhookDelivery, claim.delivery_id)
            if delivery is None or delivery.next_attempt_at != claim.lease_until:
                return
            if attempts_before is not None and delivery.attempts != attempts_before:
                return
            attempts = delivery.attempts + 1
            values: dict[str, Any] = {
                "attempts": attempts,
                "last_status_code": outcome.status_code,
                "last_response": outcome.response,
                "last_error": outcome.error,
            }
            if outcome.ok:
                values.update(status=SUCCEEDED, delivered_at=now, next_attempt_at=None)
            elif attempts >= self.settings.webhook_out_max_attempts:
                values.update(status=DEAD, next_attempt_at=None)
            else:
                delay = retry_delay(self.settings.webhook_out_backoff, attempts)
                values.update(status=FAILED, next_attempt_at=now + delay)
            result = await (await session.connection()).execute(
                sa.update(WebhookDelivery)
                .where(
                    col(WebhookDelivery.id) == claim.delivery_id,
                    col(WebhookDelivery.next_attempt_at) == claim.lease_until,
                    col(WebhookDelivery.attempts) == delivery.attempts,
                    col(WebhookDelivery.status).in_(DUE),
                )
                .values(**values)
            )
            if not result.rowcount:
                return
            await session.commit()
            if values["status"] == DEAD:
                log.warning(
                    "webhook delivery %s to subscription %s is dead after %d attempts",
                    claim.delivery_id,
                    claim.subscription_id,
                    attempts,
                )


dispatcher_key = web.AppKey("integrations_dispatcher", Dispatcher)


async def integrations_ctx(app: web.Application) -> AsyncIterator[None]:
    dispatcher = Dispatcher(app)
    app[dispatcher_key] = dispatcher
    engine = app[engine_key].sync_engine

    def after_commit(session: Session) -> None:
        # Events committed by this process go out at once; other processes' at the next poll.
        if session.bind is engine and session.info.pop(EVENTS_WRITTEN, False):
            dispatcher.poke()

    sa.event.listen(Session, "after_commit", after_commit)
    task = asyncio.get_running_loop().create_task(dispatcher.run())
    yield
    sa.event.remove(Session, "after_commit", after_commit)
    await stop_tasks([task])
    await dispatcher.close()
