"""Webhook deliveries: the payload sent, their JSON, the filtered log and replays."""

import json
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from gateway.auth import Principal
from gateway.errors import InvalidInput, NotFound
from gateway.models import IntegrationEvent, WebhookDelivery, utcnow
from gateway.pagination import encode_cursor

PENDING = "pending"
SUCCEEDED = "succeeded"
FAILED = "failed"  # will be retried
DEAD = "dead"  # given up after the last attempt
STATUSES = (PENDING, SUCCEEDED, FAILED, DEAD)
DUE = (PENDING, FAILED)


def message_id(delivery_id: int) -> str:
    """The `webhook-id`: one per delivery, so a retry is recognisably the same message."""
    return f"msg_{delivery_id}"


def payload_of(event: IntegrationEvent) -> dict[str, Any]:
    """The Standard Webhooks body: type, the moment of the event, and its data."""
    return {"type": event.type, "timestamp": event.created_at.isoformat(), "data": event.data}


def encode_payload(event: IntegrationEvent) -> str:
    """The exact text signed and sent (the signature covers these bytes, not the object)."""
    return json.dumps(payload_of(event), separators=(",", ":"), ensure_ascii=False)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def delivery_to_json(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "webhook_id": message_id(delivery.id or 0),
        "subscription_id": delivery.subscription_id,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "status": delivery.status,
        "attempts": delivery.attempts,
        # Only a delivery still to be tried has a next attempt.
        "next_attempt_at": _iso(delivery.next_attempt_at) if delivery.status in DUE else None,
        "last_status_code": delivery.last_status_code,
        "last_response": delivery.last_response,
        "last_error": delivery.last_error,
        "created_at": delivery.created_at.isoformat(),
        "delivered_at": _iso(delivery.delivered_at),
    }


def parse_status(raw: str | None) -> str | None:
    if not raw:
        return None
    if raw not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", field="status")
    return raw


# --- data access (never commits) -----------------------------------------------------------


async def get_delivery(
    session: AsyncSession, principal: Principal, delivery_id: int
) -> WebhookDelivery:
    delivery = await session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.org_id != principal.org_id:
        raise NotFound("no such webhook delivery", field="delivery_id")
    return delivery


async def list_deliveries(
    session: AsyncSession,
    *,
    org_id: int,
    subscription_id: int | None,
    status: str | None,
    limit: int,
    before_id: int | None,
) -> tuple[list[WebhookDelivery], str | None]:
    stmt = select(WebhookDelivery).where(col(WebhookDelivery.org_id) == org_id)
    if subscription_id is not None:
        stmt = stmt.where(col(WebhookDelivery.subscription_id) == subscription_id)
    if status is not None:
        stmt = stmt.where(col(WebhookDelivery.status) == status)
    if before_id is not None:
        stmt = stmt.where(col(WebhookDelivery.id) < before_id)
    stmt = stmt.order_by(col(WebhookDelivery.id).desc()).limit(limit + 1)
    rows = list((await session.exec(stmt)).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        assert rows[-1].id is not None
        next_cursor = encode_cursor(rows[-1].id)
    return rows, next_cursor


def requeue(delivery: WebhookDelivery) -> None:
    """Due now, whatever it was (dead and succeeded too): the next send is one more attempt.

    Replacing `next_attempt_at` also voids the lease of a send in flight, whose result is
    then not recorded over this one's.
    """
    delivery.status = PENDING
    delivery.next_attempt_at = utcnow()
