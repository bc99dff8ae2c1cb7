"""Follow-up due times: wall time in a zone, DST gaps and repeats, and the lead's zone."""

from datetime import UTC, datetime, timedelta

import pytest

from crm.followups import lead_zone, resolve_due
from gateway.errors import InvalidInput
from gateway.models import Lead

NOW = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)


def refused(raw: str, zone: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        resolve_due(raw, zone, now=NOW, field_prefix="follow_up.")
    return info.value


def test_wall_time_is_read_in_the_zone_and_an_offset_is_absolute() -> None:
    assert resolve_due("2026-12-01T10:30", "Asia/Kolkata", now=NOW) == datetime(
        2026, 12, 1, 5, 0, tzinfo=UTC
    )
    assert resolve_due("2027-07-01T10:30", "America/New_York", now=NOW) == datetime(
        2027, 7, 1, 14, 30, tzinfo=UTC
    )
    assert resolve_due("2026-12-01T10:30+01:00", "Asia/Kolkata", now=NOW) == datetime(
        2026, 12, 1, 9, 30, tzinfo=UTC
    )
    assert resolve_due("2026-12-01T10:30Z", "America/New_York", now=NOW) == datetime(
        2026, 12, 1, 10, 30, tzinfo=UTC
    )


def test_times_a_dst_change_skips_or_repeats_are_refused() -> None:
    gap = refused("2027-03-14T02:30", "America/New_York")
    assert gap.code == "nonexistent_local_time" and gap.field == "follow_up.due_at"
    repeat = refused("2027-11-07T01:30", "America/New_York")
    assert repeat.code == "ambiguous_local_time"
    # Either side of the repeated hour, given with its offset, is fine.
    assert resolve_due("2027-11-07T01:30-05:00", "America/New_York", now=NOW) == datetime(
        2027, 11, 7, 6, 30, tzinfo=UTC
    )
    # Southern-hemisphere and half-hour changes too.
    assert refused("2027-10-03T02:30", "Australia/Sydney").code == "nonexistent_local_time"
    assert refused("2027-04-04T01:45", "Australia/Lord_Howe").code == "ambiguous_local_time"


@pytest.mark.parametrize(
    ("raw", "zone", "field", "code"),
    [
        ("2026-11-27T12:29", "Asia/Kolkata", "follow_up.due_at", "in_past"),
        ((NOW - timedelta(seconds=1)).isoformat(), "UTC", "follow_up.due_at", "in_past"),
        (NOW.isoformat(), "UTC", "follow_up.due_at", "in_past"),
        ("2040-01-01T10:00", "UTC", "follow_up.due_at", "invalid"),
        ("9999-12-31T23:59-12:00", "UTC", "follow_up.due_at", "invalid"),
        ("next tuesday", "UTC", "follow_up.due_at", "invalid"),
        ("2026-12-01T10:30", "Mars/Olympus", "follow_up.timezone", "invalid"),
        ("2026-12-01T10:30", "Etc/Unknown", "follow_up.timezone", "invalid"),
        ("2026-12-01T10:30", "/etc/passwd", "follow_up.timezone", "invalid"),
    ],
)
def test_bad_due_times_name_the_field(raw: str, zone: str, field: str, code: str) -> None:
    error = refused(raw, zone)
    assert (error.field, error.code) == (field, code)


def lead(phone: str, timezone: str | None = None) -> Lead:
    return Lead(org_id=1, phone=phone, timezone=timezone)


def test_the_leads_zone_comes_from_the_lead_its_number_or_the_organization() -> None:
    assert lead_zone(lead("+16175550100", "Europe/Paris"), "Asia/Kolkata") == "Europe/Paris"
    assert lead_zone(lead("+16175550100"), "Asia/Kolkata") == "America/New_York"
    # phonenumbers' old names are shown as today's.
    assert lead_zone(lead("+919876543210"), "UTC") == "Asia/Kolkata"
    assert lead_zone(lead("+9779841234567"), "UTC") == "Asia/Kathmandu"
    # A toll-free number spans every US zone: the organization's, when it is one of them.
    assert lead_zone(lead("+18005550100"), "America/Chicago") == "America/Chicago"
    # Unknown zones fall through to the organization's, then UTC.
    assert lead_zone(lead("+999123", "Nowhere/Land"), "Europe/London") == "Europe/London"
    assert lead_zone(lead("+999123"), "Nowhere/Land") == "UTC"
