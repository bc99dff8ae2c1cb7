"""The fast decoders give exactly what the standard library gives: the form decoder what
urllib's parse_qs gives for any body, the RFC 2822 reader what the email package reads."""

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qs, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.carriers.base import InboundWebhook, MalformedWebhook
from gateway.carriers.common import form_params, parse_form, rfc2822

# Bodies built from the characters that matter to the format, and arbitrary text.
form_text = st.text(alphabet=st.sampled_from("ab=&+%236DdFz0;é ")) | st.text()


@given(form_text)
def test_matches_parse_qs_on_any_text(text: str) -> None:
    assert parse_form(text) == parse_qs(text, keep_blank_values=True)


@given(st.lists(st.tuples(st.text(), st.text()), max_size=20))
def test_round_trips_encoded_pairs(pairs: list[tuple[str, str]]) -> None:
    text = urlencode(pairs)
    assert parse_form(text) == parse_qs(text, keep_blank_values=True)


def test_a_hook_decodes_its_body_once() -> None:
    hook = InboundWebhook(
        method="POST",
        url="https://example.test/webhooks/twilio/1/status",
        headers={},
        body=b"CallSid=CA1&From=%2B14155550100&Caller+Name=A+B&Empty=",
        query={},
        kind="status",
    )
    first = form_params(hook)
    assert first == {
        "CallSid": ["CA1"],
        "From": ["+14155550100"],
        "Caller Name": ["A B"],
        "Empty": [""],
    }
    assert form_params(hook) is first


def _general(value: str) -> datetime | None:
    """What the email package's parser makes of a date, in UTC (the reference)."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


_stamps = st.builds(
    lambda when, form, zone: form(when, zone),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)),
    st.sampled_from(
        [
            lambda d, z: d.strftime(f"%a, %d %b %Y %H:%M:%S {z}"),
            lambda d, z: d.strftime(f"%d %b %Y %H:%M:%S {z}"),
            lambda d, z: d.strftime(f"%a, %-d %b %Y %H:%M:%S {z}"),
        ]
    ),
    st.sampled_from(["+0000", "GMT", "UTC", "-0000", "+0530", "-0800", "EST", "Z"]),
)
_odd = st.sampled_from(
    [
        "Mon, 31 Feb 2025 09:00:00 +0000",
        "Mon, 06 Jan 2025 24:00:00 GMT",
        "Mon, 06 Jan 2025 09:00:60 GMT",
        "Mon, 06 Jan 2025 09:00 GMT",
        "Mon, 6 Jan 2025 09:00:00 +0000",
        "06 Jan 25 09:00:00 +0000",
        "Mon,  06 Jan 2025 09:00:00 +0000",
        "yesterday",
    ]
)


@given(st.one_of(_stamps, _odd, st.text(max_size=40)))
def test_rfc2822_reads_dates_as_the_email_parser_does(value: str) -> None:
    if not value:
        assert rfc2822(value, "Timestamp") is None  # absent, not malformed
        return
    expected = _general(value)
    if expected is None:
        with pytest.raises(MalformedWebhook) as info:
            rfc2822(value, "Timestamp")
        assert info.value.field == "Timestamp"
    else:
        got = rfc2822(value, "Timestamp")
        assert got == expected and got is not None and got.utcoffset() == timedelta(0)
