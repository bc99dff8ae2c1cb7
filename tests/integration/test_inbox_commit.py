"""The inbox's group commit writes rows through the driver: they read back as the ORM wrote them."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import col, select

from gateway.keys import sessionmaker_key
from gateway.models import CarrierAccount, WebhookInbox
from tests.conftest import Gateway
from webhooks.inbox import GroupCommitter


def _row(account: CarrierAccount, n: int, **changes: Any) -> dict[str, Any]:
    row = {
        "org_id": account.org_id,
        "account_id": account.id,
        "carrier": account.carrier,
        "kind": "status",
        "method": "POST",
        "url": f"https://gw.example/webhooks/twilio/{account.id}/status?n={n}",
        "headers": {"content-type": "application/x-www-form-urlencoded", "x-n": str(n)},
        "body": b"CallSid=CA" + str(n).encode() + b"&raw=\xff\x00",
        "received_at": datetime(2026, 11, 27, 11, 0, n, 123456, tzinfo=UTC),
        "status": "pending",
        "attempts": 0,
    }
    return row | changes


async def test_a_batch_reads_back_field_for_field_and_a_failed_one_spares_the_next(
    gateway: Gateway,
) -> None:
    async with gateway.app[sessionmaker_key]() as session:
        account = (await session.exec(select(CarrierAccount))).first()
    assert account is not None and account.id is not None
    handed: list[int] = []

    async def on_committed(ids: list[int]) -> None:
        handed.extend(ids)

    committer = GroupCommitter(gateway.app[sessionmaker_key], on_committed)
    committer.start()
    try:
        rows = [_row(account, n) for n in range(3)]
        # Submitted together: one batch, the second one not handed to the applier.
        ids = await asyncio.gather(
            committer.submit(rows[0]),
            committer.submit(rows[1], enqueue=False),
            committer.submit(rows[2]),
        )
        assert handed == [ids[0], ids[2]]
        async with gateway.app[sessionmaker_key]() as session:
            stored = {
                r.id: r
                for r in (
                    await session.exec(select(WebhookInbox).where(col(WebhookInbox.id).in_(ids)))
                ).all()
            }
        for row_id, row in zip(ids, rows, strict=True):
            got = stored[row_id]
            assert {name: getattr(got, name) for name in row} == row
            assert got.ingest_key and got.error is None and got.applied_at is None

        # A batch the database refuses (no such organization) fails its requests only...
        with pytest.raises(Exception):  # noqa: B017 - the driver's own error type
            await committer.submit(_row(account, 7, org_id=987654321))
        # ...and the committer goes on with a working connection.
        after = await committer.submit(_row(account, 8))
        assert after > max(ids)
    finally:
        await committer.stop()


async def test_callbacks_skip_the_user_middlewares_but_keep_the_error_shape(
    gateway: Gateway,
) -> None:
    # Not routed under /webhooks: the router's 404 still comes as the JSON error shape.
    async with gateway.http.post(f"{gateway.url}/webhooks/twilio/1") as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "not_found"
        assert "X-Request-Id" not in resp.headers
    async with gateway.http.post(f"{gateway.url}/webhooks/twilio/x/status") as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["field"] == "account_id"
    # The API keeps the whole chain: a request id, then auth's refusal in the error shape.
    async with gateway.http.get(
        f"{gateway.url}/api/leads", headers={"X-Request-Id": "req-42"}
    ) as resp:
        assert resp.status == 401
        assert resp.headers["X-Request-Id"] == "req-42"
        assert (await resp.json())["error"]["code"]
