"""Report periods and time buckets in the organization's zone, including daylight-saving days."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm.reports.params import parse_period
from crm.reports.timebuckets import all_buckets, offset_segments
from gateway.errors import InvalidInput

KOLKATA = ZoneInfo("Asia/Kolkata")
NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 27, 20, 0, tzinfo=UTC)  # 01:30 on Nov 28 in Kolkata


def test_dates_are_whole_local_days_and_to_is_included() -> None:
    period = parse_period("2026-11-10", "2026-11-11", KOLKATA, NOW)
    assert period.start == datetime(2026, 11, 9, 18, 30, tzinfo=UTC)
    assert period.end == datetime(2026, 11, 11, 18, 30, tzinfo=UTC)


def test_defaults_are_today_in_the_organizations_zone() -> None:
    period = parse_period(None, None, KOLKATA, NOW)
    assert period.start == datetime(2026, 11, 27, 18, 30, tzinfo=UTC)
    assert period.end - period.start == timedelta(days=1)
    # Without `from`, the period is `to`'s day.
    period = parse_period(None, "2026-11-10", KOLKATA, NOW)
    assert period.start == datetime(2026, 11, 9, 18, 30, tzinfo=UTC)


def test_date_times_are_exact_and_naive_ones_are_local() -> None:
    period = parse_period("2026-11-10T09:00", "2026-11-10T10:00:00Z", KOLKATA, NOW)
    assert period.start == datetime(2026, 11, 10, 3, 30, tzinfo=UTC)
    assert period.end == datetime(2026, 11, 10, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw_from", "raw_to", "field"),
    [
        ("10/11/2026", None, "from"),
        (None, "2026-02-30", "to"),
        ("2026-11-10", "2026-11-09", "to"),
        ("2026-11-10T10:00", "2026-11-10T10:00", "to"),
        ("2025-01-01", "2026-01-02", "to"),
    ],
)
def test_bad_periods_name_the_field(raw_from: str | None, raw_to: str | None, field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_period(raw_from, raw_to, KOLKATA, NOW)
    assert exc.value.field == field


def test_a_full_leap_year_is_allowed() -> None:
    period = parse_period("2028-01-01", "2028-12-31", KOLKATA, NOW)
    assert period.end - period.start == timedelta(days=366)


def test_offsets_change_at_the_transition_instant() -> None:
    period = parse_period("2026-11-01", "2026-11-01", NEW_YORK, NOW)
    segments = offset_segments(period)
    assert [(at.isoformat(), off) for at, off in segments[1:]] == [
        ("2026-11-01T06:00:00+00:00", timedelta(hours=-5))
    ]
    assert segments[0][1] == timedelta(hours=-4)
    assert len(offset_segments(parse_period("2026-01-01", "2026-12-31", KOLKATA, NOW))) == 1


def test_hour_buckets_of_short_and_long_days() -> None:
    fall_back = parse_period(None, "2026-11-01", NEW_YORK, NOW)
    spring_forward = parse_period(None, "2026-03-08", NEW_YORK, NOW)
    # 25 hours, the repeated 01:00 in one wall-clock bucket; 23 hours.
    assert len(all_buckets("hour", fall_back)) == 24
    assert fall_back.end - fall_back.start == timedelta(hours=25)
    keys = all_buckets("hour", spring_forward)
    assert len(keys) == 23 and "2026-03-08 02" not in keys
    assert all_buckets("day", parse_period("2026-11-01", "2026-11-03", NEW_YORK, NOW)) == [
        "2026-11-01",
        "2026-11-02",
        "2026-11-03",
    ]
