"""Webhook subscriptions: validation, secrets (Standard Webhooks `whsec_`), data access, JSON."""

import base64
import secrets
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from yarl import URL

from gateway.auth import Principal
from gateway.errors import Forbidden, InvalidInput, NotFound
from gateway.models import Role, WebhookDelivery, WebhookSubscription, utcnow
from gateway.pagination import encode_cursor

EVENT_TYPES = (
    "call.completed",
    "call.missed",
    "call.missed_sms",
    "lead.created",
    "lead.updated",
    "lead.merged",
    "lead.assigned",
    "disposition.recorded",
    "follow_up.created",
    "import.completed",
)
ALL_EVENTS = "*"
SECRET_PREFIX = "whsec_"  # noqa: S105  (a format prefix, not a credential)
# Enough of the secret to tell two apart in a list; the rest is shown only when generated.
SHOWN_PREFIX_CHARS = len(SECRET_PREFIX) + 4


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _check_url(value: str) -> str:
    try:
        url = URL(value)
    except (ValueError, TypeError):
        raise ValueError("not a URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("must be an http:// or https:// URL with a host")
    if url.fragment:
        raise ValueError("must not have a #fragment")
    return value


def _check_events(value: list[str]) -> list[str]:
    events = list(dict.fromkeys(value))
    if not events:
        raise ValueError("subscribe to at least one event type (or '*')")
    unknown = [e for e in events if e != ALL_EVENTS and e not in EVENT_TYPES]
    if unknown:
        raise ValueError(
            f"unknown event type {unknown[0]!r}; known: {', '.join(EVENT_TYPES)} or '*'"
        )
    return events


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: str = Field(min_length=1, max_length=2048)
    events: list[str] = Field(max_length=len(EVENT_TYPES) + 1)
    description: str | None = Field(default=None, max_length=200)

    _url = field_validator("url")(_check_url)
    _events = field_validator("events")(_check_events)


class SubscriptionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: str | None = Field(default=None, min_length=1, max_length=2048)
    events: list[str] | None = Field(default=None, max_length=len(EVENT_TYPES) + 1)
    description: str | None = Field(default=None, max_length=200)
    is_active: StrictBool | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value)

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _check_events(value)


def require_admin(principal: Principal) -> None:
    if principal.role != Role.ADMIN:
        raise Forbidden("only admins manage integrations")


def subscription_to_json(sub: WebhookSubscription, *, with_secret: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": sub.id,
        "url": sub.url,
        "events": list(sub.events),
        "description": sub.description,
        "is_active": sub.is_active,
        "secret_prefix": sub.secret[:SHOWN_PREFIX_CHARS],
        "created_at": sub.created_at.isoformat(),
    }
    if with_secret:
        body["secret"] = sub.secret
    return body


def subscribed(events: list[str], event_type: str) -> bool:
    return ALL_EVENTS in events or event_type in events


# --- data access (never commits) -----------------------------------------------------------


async def get_subscription(
    session: AsyncSession, principal: Principal, sub_id: int
) -> WebhookSubscription:
    sub = await session.get(WebhookSubscription, sub_id)
    if sub is None or sub.org_id != principal.org_id:
        # Another organization's subscription answers like a missing one.
        raise NotFound("no such webhook subscription", field="subscription_id")
    return sub


async def list_subscriptions(
    session: AsyncSession, *, org_id: int, limit: int, before_id: int | None
) -> tuple[list[WebhookSubscription], str | None]:
    stmt = select(WebhookSubscription).where(col(WebhookSubscription.org_id) == org_id)
    if before_id is not None:
        stmt = stmt.where(col(WebhookSubscription.id) < before_id)
    stmt = stmt.order_by(col(WebhookSubscription.id).desc()).limit(limit + 1)
    rows = list((await session.exec(stmt)).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        assert rows[-1].id is not None
        next_cursor = encode_cursor(rows[-1].id)
    return rows, next_cursor


def create_subscription(
    session: AsyncSession, principal: Principal, data: SubscriptionCreate
) -> WebhookSubscription:
    sub = WebhookSubscription(
        org_id=principal.org_id,
        url=data.url,
        events=data.events,
        secret=new_secret(),
        description=data.description or None,
        created_at=utcnow(),
    )
    session.add(sub)
    return sub


def update_subscription(sub: WebhookSubscription, data: SubscriptionUpdate) -> None:
    given = data.model_fields_set
    for name in ("url", "events", "is_active"):
        if name in given and getattr(data, name) is None:
            raise InvalidInput(f"{name} cannot be null", field=name)
    if data.url is not None:
        sub.url = data.url
    if data.events is not None:
        sub.events = data.events
    if "description" in given:
        sub.description = data.description or None
    if data.is_active is not None:
        sub.is_active = data.is_active


async def delete_subscription(session: AsyncSession, sub: WebhookSubscription) -> None:
    """Delete a subscription with its delivery log (which names it)."""
    await session.exec(
        sa.delete(WebhookDelivery).where(col(WebhookDelivery.subscription_id) == sub.id)
    )
    await session.delete(sub)
