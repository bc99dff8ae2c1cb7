"""Inbox rows applied in one transaction: the same calls as one by one, in fewer statements."""

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from sqlmodel import col, select

from gateway.keys import engine_key, sessionmaker_key
from gateway.models import (
    Call,
    CallEventRecord,
    CarrierAccount,
    InboxStatus,
    WebhookInbox,
)
from tests.conftest import Gateway, GatewayFactory
from webhooks.applier import applier_key
from webhooks.routes import committer_key

LIFECYCLE = ("initiated", "ringing", "in-progress", "completed")


async def store(gw: Gateway, payload: dict[str, Any], query: str = "") -> int:
    """Commit one sandbox callback to the inbox without handing it to the applier."""
    async with gw.app[sessionmaker_key]() as session:
        account = (await session.exec(select(CarrierAccount))).one()
    row_id: int = await gw.app[committer_key].submit(
        {
            "org_id": account.org_id,
            "account_id": account.id,
            "carrier": "sandbox",
            "kind": "status",
            "method": "POST",
            "url": f"{gw.url}/webhooks/sandbox/{account.id}/status{query}",
            "headers": {"content-type": "application/json"},
            "body": json.dumps(payload).encode(),
            "received_at": datetime.now(UTC),
            "status": "pending",
            "attempts": 0,
        },
        enqueue=False,
    )
    return row_id


def callback(call: int, seq: int, status: str) -> dict[str, Any]:
    return {
        "call_id": f"SBbatch{call}",
        "direction": "outbound",
        "from": "+918047180000",
        "to": f"+91987654{call:04d}",
        "status": status,
        "sequence": seq,
        **({"duration": 30 + call} if status == "completed" else {}),
    }


async def applied_rows(gw: Gateway) -> dict[int, str]:
    async with gw.app[sessionmaker_key]() as session:
        rows = (await session.exec(select(WebhookInbox))).all()
    return {row.id or 0: row.status for row in rows}


async def test_a_batch_applies_like_one_by_one_in_fewer_statements(
    start_gateway: GatewayFactory,
) -> None:
    # The sweep would hand the rows to the in-process applier; the test applies them itself.
    gw = await start_gateway(INBOX_SWEEP_INTERVAL_S=3600)
    # Three calls' callbacks interleaved as they arrive, one of them delivered twice.
    ids = []
    for seq, status in enumerate(LIFECYCLE):
        for call in range(3):
            ids.append(await store(gw, callback(call, seq, status)))
    ids.append(await store(gw, callback(1, 1, "ringing")))

    statements = 0
    me = asyncio.current_task()

    def count(*_: Any) -> None:
        nonlocal statements
        if asyncio.current_task() is me:  # not the outbox dispatcher's polling
            statements += 1

    sync_engine = gw.app[engine_key].sync_engine
    event.listen(sync_engine, "before_cursor_execute", count)
    try:
        await gw.app[applier_key].apply_many(ids)
    finally:
        event.remove(sync_engine, "before_cursor_execute", count)

    assert set((await applied_rows(gw)).values()) == {InboxStatus.APPLIED}
    async with gw.app[sessionmaker_key]() as session:
        calls = (await session.exec(select(Call).order_by(col(Call.carrier_call_id)))).all()
        records = (await session.exec(select(CallEventRecord))).all()
    assert [(c.carrier_call_id, c.status, c.outcome, c.duration_s) for c in calls] == [
        (f"SBbatch{i}", "completed", "completed", 30 + i) for i in range(3)
    ]
    assert len(records) == 12  # the repeated callback is a duplicate
    # Counted, not timed. Once per batch: read the rows, claim them, the dedupe check, lock
    # the calls their carrier ids name (none yet), the event records. Per new call (3): look
    # it up by leg (a miss), its numbers (users, carrier lines, leads), insert it. Written at
    # flushes (a query flushes): the first status of the first two calls (update, leg
    # insert); at the end, the calls' and legs' updates (one per column set) and the outbox
    # event of each end (SQLite inserts those one by one to read their ids back; PostgreSQL
    # in one statement). The 10 later callbacks need no statement of their own.
    sqlite = gw.settings.database_url.startswith("sqlite")
    assert statements == 5 + 3 * 5 + 2 * 2 + 4 + (3 if sqlite else 1)


async def test_a_refused_callback_fails_alone_in_its_batch(
    start_gateway: GatewayFactory,
) -> None:
    gw = await start_gateway(INBOX_SWEEP_INTERVAL_S=3600)
    first = await store(gw, callback(0, 0, "initiated"))
    await gw.app[applier_key].apply_many([first])
    async with gw.app[sessionmaker_key]() as session:
        call = (await session.exec(select(Call))).one()
    # The URL names call 0, the body another carrier call: refused like a bad signature.
    refused = await store(gw, callback(1, 0, "ringing"), query=f"?call_id={call.id}")
    ids = [
        await store(gw, callback(0, 1, "ringing")),
        refused,
        await store(gw, callback(2, 0, "initiated")),
    ]
    await gw.app[applier_key].apply_many(ids)

    statuses = await applied_rows(gw)
    assert [statuses[i] for i in ids] == ["applied", "failed", "applied"]
    async with gw.app[sessionmaker_key]() as session:
        calls = (await session.exec(select(Call).order_by(col(Call.carrier_call_id)))).all()
        row = await session.get(WebhookInbox, refused)
    assert [(c.carrier_call_id, c.status) for c in calls] == [
        ("SBbatch0", "ringing"),
        ("SBbatch2", "initiated"),
    ]
    assert row is not None and row.error is not None and row.error.startswith("refused")
