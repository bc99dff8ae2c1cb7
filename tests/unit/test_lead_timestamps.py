"""Lead JSON timestamps: written as each datetime's own ISO text, however often one recurs."""

from datetime import UTC, datetime, timedelta, timezone

from crm.leads import _iso


def test_equal_instants_in_two_zones_keep_their_own_offsets() -> None:
    utc = datetime(2026, 1, 1, 12, tzinfo=UTC)
    india = utc.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert utc == india
    for _ in range(2):  # the second round is answered from the cache
        assert _iso(utc) == "2026-01-01T12:00:00+00:00"
        assert _iso(india) == "2026-01-01T17:30:00+05:30"
    assert _iso(None) is None
