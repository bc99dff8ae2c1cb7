"""The calling window's pure rules: "HH:MM" parsing, windows across midnight, zone candidates."""

from datetime import UTC, datetime, time

import pytest

from dialer.guard import check_window, in_window, parse_hhmm, zones_for_number
from gateway.models import Lead, Organization


def test_parse_hhmm_allows_24_00_only_as_an_end() -> None:
    assert parse_hhmm("09:00") == 540
    assert parse_hhmm("24:00", is_end=True) == 1440
    for bad in ("24:00", "9", "09:60", "ab:cd", "25:00", "9:5"):
        with pytest.raises(ValueError):
            parse_hhmm(bad)


def test_windows_including_overnight_and_the_whole_day() -> None:
    assert in_window(time(0, 0), 0, 1440) and in_window(time(23, 59), 0, 1440)
    assert not in_window(time(8, 59), 540, 1260) and in_window(time(9, 0), 540, 1260)
    assert not in_window(time(21, 0), 540, 1260)
    assert in_window(time(23, 0), 1320, 360) and in_window(time(5, 59), 1320, 360)
    assert not in_window(time(12, 0), 1320, 360)
    assert not in_window(time(12, 0), 600, 600)


def test_candidate_zones_and_the_intersection_rule() -> None:
    assert zones_for_number("+19075550100") == ("America/Adak", "America/Anchorage")
    assert zones_for_number("+80012345678") == ("Etc/Unknown",)
    assert len(zones_for_number("+18005550100")) == 42
    org = Organization(name="x", calling_window_start="09:00", calling_window_end="21:00")
    lead = Lead(org_id=1, phone="+19075550100")
    # 18:00 UTC in January: 09:00 in Anchorage, 08:00 in Adak.
    checked = check_window(org, lead, datetime(2026, 1, 15, 18, tzinfo=UTC))
    assert not checked.allowed and not checked.unknown
    assert check_window(org, lead, datetime(2026, 1, 15, 19, tzinfo=UTC)).allowed
    assert check_window(org, Lead(org_id=1, phone="+80012345678"), datetime.now(UTC)).unknown
