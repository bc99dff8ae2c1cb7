"""Twilio webhook payloads normalize into CallEvents: statuses, legs, directions, errors, dedupe."""

from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode

import pytest

from gateway.carriers.base import CallEvent, InboundWebhook, MalformedWebhook
from gateway.carriers.twilio.adapter import TwilioCarrier
from gateway.models import CallOutcome, CallStatus, Direction

ACCOUNT_SID = "AC" + "1" * 32
CREDENTIALS = {"account_sid": ACCOUNT_SID, "auth_token": "t" * 32}
BASE = "https://gw.example.com/webhooks/twilio/4"
TWILIO_API = "https://api.twilio.com/2010-04-01"

# https://www.twilio.com/docs/voice/api/call-resource#call-status-values
TWILIO_CALL_STATUSES = frozenset(
    {
        "queued",
        "initiated",
        "ringing",
        "in-progress",
        "completed",
        "busy",
        "no-answer",
        "failed",
        "canceled",
    }
)

EXPECTED: dict[str, tuple[CallStatus, CallOutcome | None]] = {
    "queued": (CallStatus.QUEUED, None),
    "initiated": (CallStatus.INITIATED, None),
    "ringing": (CallStatus.RINGING, None),
    "in-progress": (CallStatus.IN_PROGRESS, None),
    "completed": (CallStatus.COMPLETED, CallOutcome.COMPLETED),
    "busy": (CallStatus.COMPLETED, CallOutcome.BUSY),
    "no-answer": (CallStatus.COMPLETED, CallOutcome.NO_ANSWER),
    "failed": (CallStatus.COMPLETED, CallOutcome.FAILED),
    "canceled": (CallStatus.COMPLETED, CallOutcome.CANCELED),
}


def status_callback(**overrides: str | None) -> dict[str, str]:
    """A status callback shaped like Twilio's documented example (call-resource, StatusCallback)."""
    params: dict[str, str | None] = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": "CA" + "a" * 32,
        "CallStatus": "ringing",
        "Called": "+919876543210",
        "Caller": "+14155550100",
        "CallbackSource": "call-progress-events",
        "Direction": "outbound-api",
        "From": "+14155550100",
        "SequenceNumber": "1",
        "Timestamp": "Fri, 20 Aug 2010 01:13:42 +0000",
        "To": "+919876543210",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def post(params: dict[str, str], kind: str = "status", query: str = "") -> InboundWebhook:
    url = f"{BASE}/{kind}{query}"
    return InboundWebhook(
        method="POST",
        url=url,
        headers={"content-type": "application/x-www-form-urlencoded"},
        body=urlencode(params).encode(),
        query=dict(_pairs(query)),
        kind=kind,
    )


def get(params: dict[str, str], kind: str = "voice") -> InboundWebhook:
    query = "?" + urlencode(params)
    return InboundWebhook(
        method="GET",
        url=f"{BASE}/{kind}{query}",
        headers={},
        body=b"",
        query=dict(_pairs(query)),
        kind=kind,
    )


def _pairs(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query.lstrip("?"), keep_blank_values=True)


def parse(hook: InboundWebhook) -> CallEvent:
    (event,) = TwilioCarrier().parse(hook, CREDENTIALS)
    return event


# --- statuses ------------------------------------------------------------------------------


def test_documented_statuses_are_twilios() -> None:
    assert TwilioCarrier.documented_statuses == TWILIO_CALL_STATUSES


@pytest.mark.parametrize("carrier_status", sorted(TwilioCarrier.documented_statuses))
def test_every_documented_status_maps(carrier_status: str) -> None:
    event = parse(post(status_callback(CallStatus=carrier_status)))
    assert (event.status, event.outcome) == EXPECTED[carrier_status]
    assert event.carrier_status == carrier_status
    # Only terminal statuses carry an outcome, and every terminal one does.
    assert (event.outcome is not None) == (event.status == CallStatus.COMPLETED)


@pytest.mark.parametrize("carrier_status", ["answered", "Completed", "voicemail", "in progress"])
def test_unknown_status_is_kept_unmapped_not_refused(carrier_status: str) -> None:
    event = parse(post(status_callback(CallStatus=carrier_status)))
    assert event.status is None
    assert event.outcome is None
    assert event.carrier_status == carrier_status
    assert event.raw["CallStatus"] == carrier_status


# --- required and malformed fields -----------------------------------------------------------


@pytest.mark.parametrize("missing", ["CallSid", "CallStatus"])
@pytest.mark.parametrize("how", ["absent", "empty"])
def test_missing_required_field_names_it(missing: str, how: str) -> None:
    params = status_callback(**{missing: None if how == "absent" else ""})
    with pytest.raises(MalformedWebhook) as exc:
        parse(post(params))
    assert exc.value.field == missing
    assert missing in exc.value.message


@pytest.mark.parametrize("value", ["one", "1.5", "0x1", "-"])
def test_bad_sequence_number(value: str) -> None:
    with pytest.raises(MalformedWebhook) as exc:
        parse(post(status_callback(SequenceNumber=value)))
    assert exc.value.field == "SequenceNumber"


def test_account_sid_of_another_account_is_refused() -> None:
    with pytest.raises(MalformedWebhook) as exc:
        parse(post(status_callback(AccountSid="AC" + "2" * 32)))
    assert exc.value.field == "AccountSid"


def test_bad_timestamp_and_call_id() -> None:
    with pytest.raises(MalformedWebhook) as exc:
        parse(post(status_callback(Timestamp="yesterday at noon")))
    assert exc.value.field == "Timestamp"
    with pytest.raises(MalformedWebhook) as exc:
        parse(post(status_callback(), query="?call_id=12x"))
    assert exc.value.field == "call_id"


def test_body_that_is_not_utf8() -> None:
    hook = post(status_callback())
    broken = InboundWebhook(
        method=hook.method,
        url=hook.url,
        headers=hook.headers,
        body=hook.body + b"&Name=\xff\xfe",
        query=hook.query,
        kind=hook.kind,
    )
    with pytest.raises(MalformedWebhook) as exc:
        parse(broken)
    assert exc.value.field == "body"


# --- fields ----------------------------------------------------------------------------------


def test_parent_leg_fields() -> None:
    event = parse(
        post(
            status_callback(CallStatus="completed", CallDuration="42", SequenceNumber="3"),
            query="?call_id=17",
        )
    )
    assert event.carrier_call_id == "CA" + "a" * 32
    assert event.parent_call_id is None
    assert event.kind == "status"
    assert event.local_call_id == 17
    assert event.duration_s == 42
    assert event.from_number == "+14155550100"
    assert event.to_number == "+919876543210"
    assert event.raw["SequenceNumber"] == "3"


def test_child_leg_carries_parent_call_sid() -> None:
    parent = "CA" + "b" * 32
    event = parse(
        post(
            status_callback(
                CallSid="CA" + "c" * 32, ParentCallSid=parent, Direction="outbound-dial"
            )
        )
    )
    assert event.parent_call_id == parent
    assert event.carrier_call_id == "CA" + "c" * 32
    assert event.direction == Direction.OUTBOUND


def test_empty_parent_call_sid_is_none() -> None:
    assert parse(post(status_callback(ParentCallSid=""))).parent_call_id is None


@pytest.mark.parametrize(
    ("twilio", "expected"),
    [
        ("inbound", Direction.INBOUND),
        ("outbound-api", Direction.OUTBOUND),
        ("outbound-dial", Direction.OUTBOUND),
        ("trunking-terminating", None),
        (None, None),
    ],
)
def test_direction(twilio: str | None, expected: Direction | None) -> None:
    assert parse(post(status_callback(Direction=twilio))).direction == expected


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("Fri, 20 Aug 2010 01:13:42 +0000", datetime(2010, 8, 20, 1, 13, 42, tzinfo=UTC)),
        ("Mon, 05 Jan 2026 15:30:00 +0530", datetime(2026, 1, 5, 10, 0, 0, tzinfo=UTC)),
        ("Mon, 05 Jan 2026 10:00:00 GMT", datetime(2026, 1, 5, 10, 0, 0, tzinfo=UTC)),
    ],
)
def test_rfc2822_timestamp_in_utc(stamp: str, expected: datetime) -> None:
    occurred = parse(post(status_callback(Timestamp=stamp))).occurred_at
    assert occurred == expected
    assert occurred is not None and occurred.utcoffset() is not None


def test_missing_timestamp_and_duration_are_none() -> None:
    event = parse(post(status_callback(Timestamp=None)))
    assert event.occurred_at is None
    assert event.duration_s is None


# --- dedupe keys ---------------------------------------------------------------------------


def test_dedupe_key_is_call_sid_and_sequence_number() -> None:
    first = parse(post(status_callback(SequenceNumber="2", CallStatus="in-progress")))
    retry = parse(post(status_callback(SequenceNumber="2", CallStatus="in-progress")))
    later = parse(post(status_callback(SequenceNumber="3", CallStatus="completed")))
    other_call = parse(post(status_callback(SequenceNumber="2", CallSid="CA" + "d" * 32)))
    assert first.dedupe_key == retry.dedupe_key
    assert first.dedupe_key != later.dedupe_key
    assert first.dedupe_key != other_call.dedupe_key
    assert "CA" + "a" * 32 in first.dedupe_key and "2" in first.dedupe_key
    # A conflicting second terminal has its own sequence number: recorded, not a duplicate.
    conflicting = parse(post(status_callback(SequenceNumber="4", CallStatus="failed")))
    assert conflicting.dedupe_key != later.dedupe_key


def test_without_sequence_number_the_status_keys_the_event() -> None:
    ringing = parse(post(status_callback(SequenceNumber=None)))
    again = parse(post(status_callback(SequenceNumber=None)))
    completed = parse(post(status_callback(SequenceNumber=None, CallStatus="completed")))
    assert ringing.dedupe_key == again.dedupe_key
    assert ringing.dedupe_key != completed.dedupe_key


# --- voice webhooks and recordings ------------------------------------------------------------


def voice_params(**overrides: str) -> dict[str, str]:
    params = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": "CA" + "e" * 32,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "From": "+447911123400",
        "To": "+14155550100",
        "FromCountry": "GB",
        "ToCountry": "US",
    }
    params.update(overrides)
    return params


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_voice_webhook_reads_params_from_query_or_body(method: str) -> None:
    hook = get(voice_params()) if method == "GET" else post(voice_params(), kind="voice")
    event = parse(hook)
    assert event.kind == "voice"
    assert event.carrier_call_id == "CA" + "e" * 32
    assert (event.status, event.outcome) == (CallStatus.RINGING, None)
    assert event.direction == Direction.INBOUND
    assert event.from_number == "+447911123400"
    assert event.to_number == "+14155550100"
    assert event.dedupe_key == f"{'CA' + 'e' * 32}:voice"
    assert event.raw["FromCountry"] == "GB"


def test_get_voice_webhook_checks_the_account_too() -> None:
    with pytest.raises(MalformedWebhook) as exc:
        parse(get(voice_params(AccountSid="AC" + "9" * 32)))
    assert exc.value.field == "AccountSid"
    with pytest.raises(MalformedWebhook) as exc:
        parse(get({k: v for k, v in voice_params().items() if k != "CallSid"}))
    assert exc.value.field == "CallSid"


def recording_params(status: str = "completed") -> dict[str, str]:
    recording_sid = "RE" + "0" * 32
    return {
        "AccountSid": ACCOUNT_SID,
        "CallSid": "CA" + "f" * 32,
        "RecordingSid": recording_sid,
        "RecordingUrl": f"{TWILIO_API}/Accounts/{ACCOUNT_SID}/Recordings/{recording_sid}",
        "RecordingStatus": status,
        "RecordingDuration": "37",
        "RecordingChannels": "2",
        "RecordingStartTime": "Mon, 05 Jan 2026 10:00:00 +0000",
        "RecordingSource": "OutboundAPI",
        "RecordingTrack": "both",
    }


def test_recording_callback() -> None:
    event = parse(post(recording_params(), kind="recording", query="?call_id=3"))
    assert event.kind == "recording"
    assert event.carrier_call_id == "CA" + "f" * 32
    assert event.carrier_status == "recording-completed"
    assert event.status is None and event.outcome is None
    assert event.recording_url == recording_params()["RecordingUrl"]
    assert event.local_call_id == 3
    assert event.dedupe_key == f"CA{'f' * 32}:rec:RE{'0' * 32}:completed"


@pytest.mark.parametrize("status", ["in-progress", "absent", "failed"])
def test_unfinished_recording_has_no_url(status: str) -> None:
    event = parse(post(recording_params(status), kind="recording"))
    assert event.recording_url is None
    assert event.carrier_status == f"recording-{status}"
    assert event.dedupe_key.endswith(f":{status}")


@pytest.mark.parametrize("missing", ["CallSid", "RecordingSid", "RecordingStatus"])
def test_recording_callback_missing_field(missing: str) -> None:
    params = {k: v for k, v in recording_params().items() if k != missing}
    with pytest.raises(MalformedWebhook) as exc:
        parse(post(params, kind="recording"))
    assert exc.value.field == missing
