"""`check` (the request path's validation) rejects exactly what `parse` rejects, naming the
same field: for Twilio's own cheaper check over generated callbacks, and for every carrier's
recorded fixtures."""

import json
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.carriers.base import CallEvent, InboundWebhook, MalformedWebhook
from gateway.carriers.registry import ADAPTER_CLASSES
from gateway.carriers.twilio.adapter import TwilioCarrier
from tests.unit.test_carrier_shape import as_hook, fixture_files

ACCOUNT = "AC" + "0" * 32
CREDENTIALS = {"account_sid": ACCOUNT, "auth_token": "t"}
# Each field the parser reads, as absent (None), empty, well formed or malformed.
VALUES: dict[str, list[str | None]] = {
    "AccountSid": [None, "", ACCOUNT, "AC" + "1" * 32],
    "CallSid": [None, "", "CA" + "2" * 32],
    "CallStatus": [None, "", "ringing", "completed", "no-such-status"],
    "SequenceNumber": [None, "", "3", "x", "-1", " 4"],
    "Timestamp": [
        None,
        "",
        "Mon, 06 Jan 2025 09:00:00 +0000",
        "Tue, 07 Jan 2025 10:11:12 GMT",
        "yesterday",
        "Mon, 31 Feb 2025 09:00:00 +0000",
    ],
    "CallDuration": [None, "", "42", "4.2"],
    "RecordingSid": [None, "", "RE" + "3" * 32],
    "RecordingStatus": [None, "", "completed", "in-progress"],
    "RecordingUrl": [None, "https://api.twilio.com/rec"],
}


def _verdict(run: Any) -> tuple[str, str | None]:
    try:
        run()
    except MalformedWebhook as exc:
        return ("malformed", exc.field)
    return ("ok", None)


@st.composite
def twilio_hooks(draw: st.DrawFn) -> InboundWebhook:
    params = {name: draw(st.sampled_from(values)) for name, values in VALUES.items()}
    body = urlencode({k: v for k, v in params.items() if v is not None}).encode()
    if draw(st.booleans()) and draw(st.booleans()):
        body += b"&Caller=%ff%fe" if draw(st.booleans()) else b"\xff\xfe"  # bad escapes / bytes
    method = draw(st.sampled_from(["POST", "GET"]))
    query: dict[str, str] = {}
    call_id = draw(st.sampled_from([None, "17", "x17", ""]))
    if call_id is not None:
        query["call_id"] = call_id
    if method == "GET":
        query.update({k: v for k, v in params.items() if v is not None})
        body = b""
    return InboundWebhook(
        method=method,
        url="https://gw.example/webhooks/twilio/1/status",
        headers={},
        body=body,
        query=query,
        kind=draw(st.sampled_from(["status", "voice", "recording"])),
    )


@settings(max_examples=600, deadline=None)
@given(twilio_hooks())
def test_twilio_check_agrees_with_parse(hook: InboundWebhook) -> None:
    adapter = TwilioCarrier()
    parsed = _verdict(lambda: adapter.parse(hook, CREDENTIALS))
    again = replace(hook, _form=None)  # the same request, its form not yet decoded
    assert _verdict(lambda: adapter.check(again, CREDENTIALS)) == parsed


FIXTURES = [
    (carrier, path) for carrier in sorted(ADAPTER_CLASSES) for path in fixture_files(carrier)
]


@pytest.mark.parametrize(("carrier", "path"), FIXTURES, ids=[f"{c}-{p.stem}" for c, p in FIXTURES])
def test_every_carriers_check_agrees_with_its_parse_on_its_fixtures(
    carrier: str, path: Any
) -> None:
    fixture = json.loads(path.read_text())
    adapter = ADAPTER_CLASSES[carrier]()
    credentials = adapter.check_credentials(fixture["credentials"])
    parsed: list[CallEvent] = []
    verdict = _verdict(lambda: parsed.extend(adapter.parse(as_hook(fixture), credentials)))
    assert _verdict(lambda: adapter.check(as_hook(fixture), credentials)) == verdict
