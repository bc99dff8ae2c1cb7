"""The compliance guard's time rules: the callee's local calling window and daily attempt caps.

A number may map to several time zones (`phonenumbers.timezone`: one per area code, up to 42
for US toll-free numbers); it is callable only when the window holds in every one of them.
A number whose zone is unknown is refused: the agent must set the lead's time zone.
"""

from dataclasses import dataclass
from datetime import datetime, time
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_timezone
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from gateway.errors import Conflict
from gateway.models import Call, Direction, Lead, Organization
from gateway.phones import current_zone

UNKNOWN_ZONE = "Etc/Unknown"
MINUTES_PER_DAY = 24 * 60


@lru_cache(maxsize=65536)
def zones_for_number(e164: str) -> tuple[str, ...]:
    """Candidate IANA zones of a number (cached: the lookup costs about 12 µs)."""
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return (UNKNOWN_ZONE,)
    zones = phone_timezone.time_zones_for_number(number)
    return tuple(current_zone(z) for z in zones) or (UNKNOWN_ZONE,)


def parse_hhmm(value: str, *, is_end: bool = False) -> int:
    """Minutes after midnight of "HH:MM"; "24:00" (the end of the day) only as an end."""
    hours, sep, minutes = value.partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(f"{value!r} is not HH:MM")
    total = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or total > MINUTES_PER_DAY or (total == MINUTES_PER_DAY and not is_end):
        raise ValueError(f"{value!r} is not a time of day")
    return total


def in_window(local: time, start: int, end: int) -> bool:
    """Whether a local time is in [start, end); a start after the end spans midnight."""
    minute = local.hour * 60 + local.minute
    if start < end:
        return start <= minute < end
    if start > end:
        return minute >= start or minute < end
    return False  # an empty window: nobody may be called


@dataclass(frozen=True)
class WindowCheck:
    zones: tuple[str, ...]
    local_times: list[dict[str, str]]
    allowed: bool
    unknown: bool


def check_window(org: Organization, lead: Lead, now: datetime) -> WindowCheck:
    zones = (lead.timezone,) if lead.timezone else zones_for_number(lead.phone)
    start = parse_hhmm(org.calling_window_start)
    end = parse_hhmm(org.calling_window_end, is_end=True)
    local_times: list[dict[str, str]] = []
    allowed = True
    for name in zones:
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return WindowCheck(zones, [], allowed=False, unknown=True)
        local = now.astimezone(zone)
        local_times.append({"timezone": name, "local_time": local.strftime("%H:%M")})
        allowed &= in_window(local.time(), start, end)
    return WindowCheck(zones, local_times, allowed=allowed, unknown=False)


def require_window(org: Organization, lead: Lead, now: datetime, *, field: str) -> None:
    checked = check_window(org, lead, now)
    if checked.unknown:
        raise Conflict(
            "the callee's time zone is unknown; set the lead's time zone to call it",
            field=field,
            code="unknown_timezone",
            timezones=list(checked.zones),
        )
    if not checked.allowed:
        raise Conflict(
            "outside the callee's calling hours "
            f"({org.calling_window_start}-{org.calling_window_end} local time)",
            field=field,
            code="outside_calling_hours",
            local_times=checked.local_times,
            window={"start": org.calling_window_start, "end": org.calling_window_end},
        )


def day_start(org: Organization, at: datetime) -> datetime:
    """Midnight of `at`'s day in the organization's time zone."""
    zone = ZoneInfo(org.timezone)
    return datetime.combine(at.astimezone(zone).date(), time(0), tzinfo=zone)


async def attempts_today(
    session: AsyncSession, org: Organization, lead_ids: list[int], now: datetime
) -> dict[int, int]:
    """Calls placed to each lead since midnight (organization time)."""
    if not lead_ids:
        return {}
    rows = await session.exec(
        select(col(Call.lead_id), func.count())
        .where(
            col(Call.lead_id).in_(lead_ids),
            col(Call.direction) == Direction.OUTBOUND,
            col(Call.created_at) >= day_start(org, now),
        )
        .group_by(col(Call.lead_id))
    )
    return {lead_id: int(n) for lead_id, n in rows.all() if lead_id is not None}


async def require_attempts_left(
    session: AsyncSession, org: Organization, lead: Lead, now: datetime, *, field: str
) -> None:
    if org.max_daily_attempts is None:
        return
    assert lead.id is not None
    made = (await attempts_today(session, org, [lead.id], now)).get(lead.id, 0)
    if made >= org.max_daily_attempts:
        raise Conflict(
            f"the lead was already called {made} times today (the limit is "
            f"{org.max_daily_attempts})",
            field=field,
            code="attempt_cap_reached",
            attempts=made,
            max_daily_attempts=org.max_daily_attempts,
        )


def window_json(org: Organization) -> dict[str, Any]:
    return {"start": org.calling_window_start, "end": org.calling_window_end}
