"""Days and hours in the organization's time zone as SQL expressions, on PostgreSQL and SQLite.

PostgreSQL converts with `timezone(zone, ts)`. SQLite has no time zone database, so the UTC
offsets in force during the period (they change at daylight-saving transitions) become a CASE
over the transition instants, and `datetime(ts, '+N minutes')` shifts each timestamp by its own.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from crm.reports.params import Period
from gateway.models import UTCDateTime

TIME_DIMS = ("day", "hour", "hour_of_day")
_PG_FORMATS = {"day": "YYYY-MM-DD", "hour": "YYYY-MM-DD HH24", "hour_of_day": "HH24"}
_SQLITE_FORMATS = {"day": "%Y-%m-%d", "hour": "%Y-%m-%d %H", "hour_of_day": "%H"}


def utc_param(value: datetime) -> Any:
    """A bound timestamp stored the way the column stores it (SQLite compares text)."""
    return sa.literal(value, UTCDateTime())


def offset_segments(period: Period) -> list[tuple[datetime, timedelta]]:
    """(from, utc offset) for each stretch of constant offset within the period, in order."""
    tz = period.tz
    # Half a day either side: bucket keys of timestamps just outside the period stay right.
    start = period.start - timedelta(hours=12)
    end = period.end + timedelta(hours=12)
    segments = [(start, _offset(start, tz))]
    probe = start
    while probe < end:
        step = min(probe + timedelta(hours=1), end)
        if _offset(step, tz) != segments[-1][1]:
            # Transitions fall on whole seconds: bisect between the two probes.
            low, high = probe, step
            while high - low > timedelta(seconds=1):
                mid = low + (high - low) / 2
                if _offset(mid, tz) == segments[-1][1]:
                    low = mid
                else:
                    high = mid
            high = high.replace(microsecond=0)
            segments.append((high, _offset(high, tz)))
        probe = step
    return segments


def _offset(instant: datetime, tz: Any) -> timedelta:
    offset = instant.astimezone(tz).utcoffset()
    assert offset is not None
    return offset


def _modifier(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    return f"{minutes:+d} minutes"


def local_time(expr: Any, period: Period, dialect: str) -> Any:
    """The organization's wall-clock time of a UTC timestamp column (timestamp / text)."""
    if dialect == "postgresql":
        return sa.func.timezone(period.tz.key, expr)
    segments = offset_segments(period)
    if len(segments) == 1:
        modifier: Any = sa.literal(_modifier(segments[0][1]))
    else:
        modifier = sa.case(
            *[
                (expr < utc_param(segments[i + 1][0]), sa.literal(_modifier(off)))
                for i, (_, off) in enumerate(segments[:-1])
            ],
            else_=sa.literal(_modifier(segments[-1][1])),
        )
    return sa.func.datetime(expr, modifier)


def bucket(expr: Any, dim: str, period: Period, dialect: str) -> Any:
    """The text key of a timestamp's local day ('2026-11-27'), hour ('2026-11-27 14') or hour
    of the day ('14')."""
    local = local_time(expr, period, dialect)
    if dialect == "postgresql":
        return sa.func.to_char(local, _PG_FORMATS[dim])
    return sa.func.strftime(_SQLITE_FORMATS[dim], local)


def bucket_label(dim: str, key: str, period: Period) -> Any:
    """The key as the API shows it: a date, the hour's start with its offset, or an hour 0-23."""
    if dim == "day":
        return key
    if dim == "hour_of_day":
        return int(key)
    local = datetime.strptime(key, "%Y-%m-%d %H").replace(tzinfo=period.tz)
    return local.isoformat()


def all_buckets(dim: str, period: Period) -> list[str]:
    """Every key the period covers, in order (so charts get zeros, not gaps)."""
    if dim == "hour_of_day":
        return [f"{h:02d}" for h in range(24)]
    fmt = "%Y-%m-%d" if dim == "day" else "%Y-%m-%d %H"
    keys: list[str] = []
    probe = period.start
    while probe < period.end:
        key = probe.astimezone(period.tz).strftime(fmt)
        if not keys or keys[-1] != key:
            keys.append(key)
        probe += timedelta(hours=1)
    last = (period.end - timedelta(microseconds=1)).astimezone(period.tz).strftime(fmt)
    if keys[-1] != last:
        keys.append(last)
    return keys


def seconds_between(later: Any, earlier: Any, dialect: str) -> Any:
    """Seconds from `earlier` to `later` as a float expression."""
    if dialect == "postgresql":
        return sa.extract("epoch", later - earlier)
    return (sa.func.julianday(later) - sa.func.julianday(earlier)) * 86400.0


def greatest(a: Any, b: Any, dialect: str) -> Any:
    return sa.func.greatest(a, b) if dialect == "postgresql" else sa.func.max(a, b)


def least(a: Any, b: Any, dialect: str) -> Any:
    return sa.func.least(a, b) if dialect == "postgresql" else sa.func.min(a, b)


def to_utc(value: Any) -> datetime | None:
    """A timestamp read through a bare SQL expression (SQLite returns text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
