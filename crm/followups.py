"""Follow-ups: due times in the lead's local zone, scoped lists, rescheduling, due claims."""

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
import sqlalchemy as sa
from phonenumbers import timezone as phone_zones
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from gateway.auth import Principal
from gateway.errors import Conflict, Forbidden, InvalidInput, NotFound
from gateway.models import FollowUp, FollowUpStatus, Lead, Organization, Role, User, utcnow
from gateway.phones import RENAMED_ZONES

# A follow-up further ahead than this is almost certainly a typo in the year.
MAX_AHEAD = timedelta(days=5 * 366)
UNKNOWN_ZONE = "Etc/Unknown"
DUE_FILTERS = ("overdue", "today", "upcoming")


class FollowUpIn(BaseModel):
    """When to call back: `due_at` is local wall time in `timezone` unless it has an offset."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    due_at: str = Field(min_length=1, max_length=64)
    timezone: str | None = Field(default=None, min_length=1, max_length=64)
    note: str | None = Field(default=None, max_length=1000)


class FollowUpCreate(FollowUpIn):
    agent_id: int | None = None


class FollowUpPatch(BaseModel):
    """Either close the follow-up (`status`) or reschedule it (`due_at`, `timezone`)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    status: Literal["done", "canceled"] | None = None
    due_at: str | None = Field(default=None, min_length=1, max_length=64)
    timezone: str | None = Field(default=None, min_length=1, max_length=64)
    note: str | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _one_change(self) -> "FollowUpPatch":
        if self.status is not None and self.due_at is not None:
            raise ValueError("give either status or due_at, not both")
        if self.status is None and self.due_at is None:
            raise ValueError("give status (done, canceled) or a new due_at")
        if self.timezone is not None and self.due_at is None:
            raise ValueError("timezone is only used with due_at")
        return self


# --- time zones ------------------------------------------------------------------------------


def zone_or_none(name: str | None) -> ZoneInfo | None:
    if not name or name == UNKNOWN_ZONE:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@lru_cache(maxsize=4096)
def number_zones(e164: str) -> tuple[str, ...]:
    """The zones phonenumbers knows for a number (up to 42 for toll-free; none if unknown)."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return ()
    return tuple(
        RENAMED_ZONES.get(z, z)
        for z in phone_zones.time_zones_for_number(number)
        if z != UNKNOWN_ZONE
    )


def lead_zone(lead: Lead, org_zone: str) -> str:
    """The lead's local zone: its own, else its number's, else the organization's."""
    if zone_or_none(lead.timezone) is not None:
        assert lead.timezone is not None
        return lead.timezone
    zones = number_zones(lead.phone)
    # A number spanning several zones (a country-wide or toll-free number) is most likely
    # called in the organization's own zone when that is one of them.
    if org_zone in zones:
        return org_zone
    for name in zones:
        if zone_or_none(name) is not None:
            return name
    return org_zone if zone_or_none(org_zone) is not None else "UTC"


def resolve_due(raw: str, zone_name: str, *, now: datetime, field_prefix: str = "") -> datetime:
    """The UTC instant of `raw`: absolute with an offset, else wall time in `zone_name`.

    Wall times that do not exist (skipped by a DST change) or occur twice (repeated by one)
    are refused rather than guessed: the caller can resend with an explicit offset.
    """
    field = f"{field_prefix}due_at"
    zone = zone_or_none(zone_name)
    if zone is None:
        raise InvalidInput(f"unknown time zone {zone_name!r}", field=f"{field_prefix}timezone")
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(
            "must be an ISO 8601 date-time, e.g. 2026-12-01T10:30", field=field
        ) from None
    try:
        if value.tzinfo is not None:
            due = value.astimezone(UTC)
        else:
            first = value.replace(tzinfo=zone, fold=0)
            second = value.replace(tzinfo=zone, fold=1)
            if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != value:
                raise InvalidInput(
                    f"{value.isoformat()} does not exist in {zone_name} (the clocks skip it); "
                    "choose another time or give an offset",
                    field=field,
                    code="nonexistent_local_time",
                )
            if first.astimezone(UTC) != second.astimezone(UTC):
                raise InvalidInput(
                    f"{value.isoformat()} happens twice in {zone_name} (the clocks go back); "
                    "give an offset to say which",
                    field=field,
                    code="ambiguous_local_time",
                )
            due = first.astimezone(UTC)
    except OverflowError:
        raise InvalidInput("is out of range", field=field) from None
    if due <= now:
        raise InvalidInput("must be in the future", field=field, code="in_past")
    if due - now > MAX_AHEAD:
        raise InvalidInput("must be within five years", field=field)
    return due


# --- JSON ------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def lead_summary(lead: Lead) -> dict[str, Any]:
    return {"id": lead.id, "name": lead.name, "phone": lead.phone}


def follow_up_to_json(
    fu: FollowUp, *, now: datetime | None = None, lead: Lead | None = None
) -> dict[str, Any]:
    now = now or utcnow()
    zone = zone_or_none(fu.timezone) or UTC
    overdue = fu.status == FollowUpStatus.OPEN and fu.due_at <= now
    body: dict[str, Any] = {
        "id": fu.id,
        "lead_id": fu.lead_id,
        "agent_id": fu.agent_id,
        "call_id": fu.call_id,
        "due_at": fu.due_at.isoformat(),
        "local_due_at": fu.due_at.astimezone(zone).isoformat(),
        "timezone": fu.timezone,
        "note": fu.note,
        "status": fu.status,
        "overdue_by_s": int((now - fu.due_at).total_seconds()) if overdue else None,
        "notified_at": _iso(fu.notified_at),
        "completed_at": _iso(fu.completed_at),
        "created_by": fu.created_by,
        "created_at": fu.created_at.isoformat(),
    }
    if lead is not None:
        body["lead"] = lead_summary(lead)
    return body


# --- data access (never commits) -------------------------------------------------------------


def follow_up_scope(principal: Principal) -> Any:
    """Agents see their own follow-ups, managers their team's agents', admins all."""
    base = col(FollowUp.org_id) == principal.org_id
    if principal.role == Role.ADMIN:
        return base
    if principal.role == Role.MANAGER:
        team_members = sa.select(col(User.id)).where(
            col(User.org_id) == principal.org_id, col(User.team_id) == principal.team_id
        )
        return sa.and_(
            base,
            sa.or_(
                col(FollowUp.agent_id) == principal.user_id,
                col(FollowUp.agent_id).in_(team_members),
            ),
        )
    return sa.and_(base, col(FollowUp.agent_id) == principal.user_id)


async def org_zone_name(session: AsyncSession, org_id: int) -> str:
    org = await session.get(Organization, org_id)
    return org.timezone if org else "UTC"


async def refresh_next_follow_up(session: AsyncSession, lead: Lead) -> None:
    """Keep `Lead.next_follow_up_at` at the earliest open follow-up (pending ones included)."""
    await session.flush()
    earliest = (
        await session.exec(
            select(sa.func.min(FollowUp.due_at)).where(
                col(FollowUp.lead_id) == lead.id, col(FollowUp.status) == FollowUpStatus.OPEN
            )
        )
    ).one()
    # min() keeps the column's type, so this is an aware UTC datetime on every backend.
    lead.next_follow_up_at = earliest
    session.add(lead)


async def open_follow_up_for_call(session: AsyncSession, call_id: int) -> FollowUp | None:
    return (
        await session.exec(
            select(FollowUp)
            .where(col(FollowUp.call_id) == call_id, col(FollowUp.status) == FollowUpStatus.OPEN)
            .order_by(col(FollowUp.id).desc())
        )
    ).first()


async def latest_follow_up_for_call(session: AsyncSession, call_id: int) -> FollowUp | None:
    return (
        await session.exec(
            select(FollowUp)
            .where(col(FollowUp.call_id) == call_id)
            .order_by(col(FollowUp.id).desc())
        )
    ).first()


async def claim_due(session: AsyncSession, *, now: datetime, limit: int = 100) -> list[int]:
    """Mark due, unnotified follow-ups as notified and return the ids this caller won.

    The UPDATE re-checks `notified_at IS NULL`, so when several processes sweep at once each
    row is claimed by exactly one of them (PostgreSQL re-evaluates the condition after a
    concurrent update commits; SQLite runs one writer at a time). The caller commits.
    """
    due = col(FollowUp.due_at) <= now
    unclaimed = col(FollowUp.notified_at).is_(None)
    is_open = col(FollowUp.status) == FollowUpStatus.OPEN
    candidates = list(
        (
            await session.exec(
                select(FollowUp.id)
                .where(is_open, due, unclaimed)
                .order_by(col(FollowUp.due_at), col(FollowUp.id))
                .limit(limit)
            )
        ).all()
    )
    if not candidates:
        return []
    conn = await session.connection()
    rows = await conn.execute(
        sa.update(FollowUp)
        .where(col(FollowUp.id).in_(candidates), is_open, due, unclaimed)
        .values(notified_at=now)
        .returning(col(FollowUp.id))
    )
    return sorted(row_id for (row_id,) in rows.all() if row_id is not None)


# --- services (the caller commits) -----------------------------------------------------------


@dataclass(frozen=True)
class DueTime:
    due_at: datetime
    timezone: str


async def due_time_for(
    session: AsyncSession,
    lead: Lead,
    data: FollowUpIn | FollowUpPatch,
    *,
    now: datetime,
    field_prefix: str = "",
    default_zone: str | None = None,
) -> DueTime:
    """When `data` says, in its zone, else `default_zone` (a rescheduled one's), else the lead's."""
    assert data.due_at is not None
    zone = (
        data.timezone or default_zone or lead_zone(lead, await org_zone_name(session, lead.org_id))
    )
    return DueTime(resolve_due(data.due_at, zone, now=now, field_prefix=field_prefix), zone)


async def resolve_assignee(
    session: AsyncSession, principal: Principal, lead: Lead, agent_id: int | None
) -> int:
    """Who the follow-up is for: the given agent (managers, admins), else the lead's owner."""
    if agent_id is None:
        return lead.owner_id or principal.user_id
    if agent_id == principal.user_id:
        return agent_id
    if principal.role == Role.AGENT:
        raise Forbidden("agents schedule follow-ups for themselves", field="agent_id")
    user = await session.get(User, agent_id)
    if user is None or user.org_id != principal.org_id or not user.is_active:
        raise InvalidInput("no such user", field="agent_id")
    if principal.role == Role.MANAGER and user.team_id != principal.team_id:
        raise Forbidden("managers schedule follow-ups within their team", field="agent_id")
    return agent_id


def add_follow_up(
    session: AsyncSession,
    principal: Principal,
    lead: Lead,
    due: DueTime,
    *,
    agent_id: int,
    note: str | None,
    call_id: int | None = None,
) -> FollowUp:
    assert lead.id is not None
    fu = FollowUp(
        org_id=lead.org_id,
        lead_id=lead.id,
        agent_id=agent_id,
        call_id=call_id,
        due_at=due.due_at,
        timezone=due.timezone,
        note=note or None,
        status=FollowUpStatus.OPEN,
        created_by=principal.user_id,
        created_at=utcnow(),
    )
    session.add(fu)
    return fu


async def create_follow_up(
    session: AsyncSession, principal: Principal, lead: Lead, data: FollowUpCreate
) -> FollowUp:
    """Schedule a follow-up on a lead the caller can see; the caller commits."""
    due = await due_time_for(session, lead, data, now=utcnow())
    agent_id = await resolve_assignee(session, principal, lead, data.agent_id)
    fu = add_follow_up(session, principal, lead, due, agent_id=agent_id, note=data.note)
    await refresh_next_follow_up(session, lead)
    return fu


async def cancel_open_follow_ups(session: AsyncSession, lead: Lead) -> None:
    """Cancel every open follow-up of the lead (it is not to be called any more)."""
    now = utcnow()
    rows = await session.exec(
        select(FollowUp).where(
            col(FollowUp.lead_id) == lead.id, col(FollowUp.status) == FollowUpStatus.OPEN
        )
    )
    for fu in rows.all():
        fu.status = FollowUpStatus.CANCELED
        fu.completed_at = now
        session.add(fu)
    await refresh_next_follow_up(session, lead)


def reschedule(fu: FollowUp, due: DueTime, note: str | None) -> None:
    fu.due_at = due.due_at
    fu.timezone = due.timezone
    # A new due time deserves a new reminder.
    fu.notified_at = None
    if note is not None:
        fu.note = note or None


async def visible_follow_up(
    session: AsyncSession, principal: Principal, follow_up_id: int
) -> FollowUp:
    fu = (
        await session.exec(
            select(FollowUp).where(col(FollowUp.id) == follow_up_id, follow_up_scope(principal))
        )
    ).first()
    if fu is None:
        raise NotFound("no such follow-up", field="follow_up_id")
    return fu


async def update_follow_up(
    session: AsyncSession, principal: Principal, follow_up_id: int, data: FollowUpPatch
) -> tuple[FollowUp, Lead]:
    """Close or reschedule an open follow-up; the caller commits."""
    fu = await visible_follow_up(session, principal, follow_up_id)
    if fu.status != FollowUpStatus.OPEN:
        raise Conflict(f"the follow-up is already {fu.status}", field="status", code="not_open")
    lead = await session.get(Lead, fu.lead_id)
    assert lead is not None
    now = utcnow()
    if data.status is not None:
        fu.status = data.status
        fu.completed_at = now
        if data.note is not None:
            fu.note = data.note or None
    else:
        due = await due_time_for(session, lead, data, now=now, default_zone=fu.timezone)
        reschedule(fu, due, data.note)
    session.add(fu)
    await refresh_next_follow_up(session, lead)
    return fu, lead


# --- lists -----------------------------------------------------------------------------------


def encode_due_cursor(fu: FollowUp) -> str:
    text = f"due:{fu.due_at.isoformat()}|{fu.id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_due_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    if not cursor:
        return None
    invalid = InvalidInput("cursor is not valid", field="cursor")
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, rest = text.partition(":")
        stamp, _, raw_id = rest.rpartition("|")
        due = datetime.fromisoformat(stamp)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid from None
    if prefix != "due" or not raw_id.isdigit() or due.tzinfo is None:
        raise invalid
    return due.astimezone(UTC), int(raw_id)


@dataclass(frozen=True)
class FollowUpFilters:
    agent_id: int | None = None
    # The follow-ups of this team's agents (managers: their own team only).
    team_id: int | None = None
    lead_id: int | None = None
    status: str | None = None
    due: str | None = None


async def list_follow_ups(
    session: AsyncSession,
    principal: Principal,
    filters: FollowUpFilters,
    *,
    limit: int,
    cursor: str | None,
    now: datetime,
) -> tuple[list[tuple[FollowUp, Lead]], str | None]:
    """Follow-ups the caller may see, soonest (most overdue) first."""
    after = decode_due_cursor(cursor)
    stmt = (
        select(FollowUp, Lead)
        .join(Lead, col(Lead.id) == FollowUp.lead_id)
        .where(follow_up_scope(principal))
    )
    if filters.agent_id is not None:
        stmt = stmt.where(col(FollowUp.agent_id) == filters.agent_id)
    if filters.team_id is not None:
        if principal.role == Role.AGENT or (
            principal.role == Role.MANAGER and filters.team_id != principal.team_id
        ):
            raise Forbidden("only your own team's follow-ups", field="team_id")
        stmt = stmt.where(
            col(FollowUp.agent_id).in_(
                sa.select(col(User.id)).where(
                    col(User.org_id) == principal.org_id, col(User.team_id) == filters.team_id
                )
            )
        )
    if filters.lead_id is not None:
        stmt = stmt.where(col(FollowUp.lead_id) == filters.lead_id)
    if filters.status is not None:
        if filters.status not in set(FollowUpStatus):
            raise InvalidInput(f"must be one of {', '.join(FollowUpStatus)}", field="status")
        stmt = stmt.where(col(FollowUp.status) == filters.status)
    if filters.due is not None:
        if filters.due not in DUE_FILTERS:
            raise InvalidInput(f"must be one of {', '.join(DUE_FILTERS)}", field="due")
        # Due-time views are about work still to do.
        stmt = stmt.where(col(FollowUp.status) == FollowUpStatus.OPEN)
        if filters.due == "overdue":
            stmt = stmt.where(col(FollowUp.due_at) <= now)
        elif filters.due == "upcoming":
            stmt = stmt.where(col(FollowUp.due_at) > now)
        else:
            # "Today" is the organization's working day.
            zone = zone_or_none(await org_zone_name(session, principal.org_id)) or UTC
            start = datetime.combine(now.astimezone(zone).date(), time(), tzinfo=zone)
            end = datetime.combine(start.date() + timedelta(days=1), time(), tzinfo=zone)
            stmt = stmt.where(
                col(FollowUp.due_at) >= start.astimezone(UTC),
                col(FollowUp.due_at) < end.astimezone(UTC),
            )
    if after is not None:
        due, last_id = after
        stmt = stmt.where(
            sa.or_(
                col(FollowUp.due_at) > due,
                sa.and_(col(FollowUp.due_at) == due, col(FollowUp.id) > last_id),
            )
        )
    stmt = stmt.order_by(col(FollowUp.due_at), col(FollowUp.id)).limit(limit + 1)
    rows = [(fu, lead) for fu, lead in (await session.exec(stmt)).all()]
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_due_cursor(rows[-1][0])
    return rows, next_cursor
