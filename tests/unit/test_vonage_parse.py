"""Vonage payloads into call events, NCCO replies, create-call bodies and credentials."""

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from gateway.carriers.base import (
    CarrierAPIError,
    InboundWebhook,
    InvalidCredentials,
    MalformedWebhook,
    OriginateRequest,
    VoiceInstructions,
)
from gateway.carriers.vonage import const
from gateway.carriers.vonage.adapter import VonageCarrier, ncco
from gateway.carriers.vonage.originate import (
    _reconcile,
    api_error,
    create_call_body,
    sibling_url,
    with_leg,
)
from gateway.carriers.vonage.parse import parse
from gateway.models import CallOutcome, CallStatus, Direction, LegRole
from tests.standins.vonage_api import create_call_problems, new_private_key

BASE = "https://gw.example.com/webhooks/vonage/3"
LEG = "bbbbbbbb-cccc-dddd-eeee-0123456789ab"
CONVERSATION = "CON-aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
APP_ID = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"

# Every `status` of the event webhook reference, `disconnected` from its current version
# (https://developer.vonage.com/en/voice/voice-api/webhook-reference#event-webhook), and
# human/machine of machine detection.
DOCUMENTED = {
    "started": (CallStatus.INITIATED, None),
    "ringing": (CallStatus.RINGING, None),
    "answered": (CallStatus.IN_PROGRESS, None),
    "busy": (CallStatus.COMPLETED, CallOutcome.BUSY),
    "cancelled": (CallStatus.COMPLETED, CallOutcome.CANCELED),
    "unanswered": (CallStatus.COMPLETED, CallOutcome.NO_ANSWER),
    "disconnected": (CallStatus.IN_PROGRESS, None),
    "rejected": (CallStatus.COMPLETED, CallOutcome.FAILED),
    "failed": (CallStatus.COMPLETED, CallOutcome.FAILED),
    "human": (CallStatus.IN_PROGRESS, None),
    "machine": (CallStatus.IN_PROGRESS, None),
    "timeout": (CallStatus.COMPLETED, CallOutcome.NO_ANSWER),
    "completed": (CallStatus.COMPLETED, CallOutcome.COMPLETED),
}


def event(status: object = "ringing", **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "from": "442079460000",
        "to": "919876543210",
        "uuid": LEG,
        "conversation_uuid": CONVERSATION,
        "status": status,
        "direction": "outbound",
        "timestamp": "2026-01-05T10:00:45.120Z",
    }
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


def hook(
    fields: Any,
    *,
    kind: str = "event",
    query: str = "?call_id=7&leg=customer",
    method: str = "POST",
    body: bytes | None = None,
    received_at: float = 1767607200.0,
) -> InboundWebhook:
    url = f"{BASE}/{kind}{query}"
    if method == "GET":
        url += ("&" if "?" in url else "?") + urlencode(fields)
        raw = b""
    else:
        raw = json.dumps(fields).encode() if body is None else body
    return InboundWebhook(
        method=method,
        url=url,
        headers={"content-type": "application/json"},
        body=raw,
        query=dict(parse_qsl(urlsplit(url).query, keep_blank_values=True)),
        kind=kind,
        received_at=received_at,
    )


def one(h: InboundWebhook) -> Any:
    (ev,) = parse(h)
    return ev


# --- statuses ------------------------------------------------------------------------------


def test_every_documented_status_is_mapped() -> None:
    assert VonageCarrier.documented_statuses == set(DOCUMENTED)
    assert set(const.STATUS_MAP) == set(DOCUMENTED)
    for status, (expected, outcome) in DOCUMENTED.items():
        ev = one(hook(event(status)))
        assert (ev.carrier_status, ev.status, ev.outcome) == (status, expected, outcome), status


def test_inbound_started_is_a_caller_ringing_us() -> None:
    ev = one(hook(event("started", direction="inbound"), query=""))
    assert (ev.status, ev.direction) == (CallStatus.RINGING, Direction.INBOUND)
    assert one(hook(event("started"))).status == CallStatus.INITIATED


@pytest.mark.parametrize("status", ["payment", "answered-by-robot", "COMPLETED"])
def test_unknown_status_is_kept_unmapped(status: str) -> None:
    ev = one(hook(event(status)))
    assert ev.carrier_status == status
    assert ev.status is None and ev.outcome is None
    assert ev.dedupe_key == f"{LEG}:{status}"


def test_machine_detection_names_the_leg_call_uuid() -> None:
    fields = event("human", call_uuid=LEG)
    del fields["uuid"], fields["direction"]
    ev = one(hook(fields, query="?call_id=7&leg=agent"))
    assert (ev.carrier_call_id, ev.status, ev.leg) == (LEG, CallStatus.IN_PROGRESS, LegRole.AGENT)


# --- malformed requests --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("h", "field"),
    [
        (hook(None, body=b"not json"), "body"),
        (hook(None, body=b"\xff\xfe"), "body"),
        (hook(None, body=b"[1, 2]"), "body"),
        (hook({"uuid": LEG, "conversation_uuid": CONVERSATION}), "status"),
        (hook(event("ringing", uuid=None)), "uuid"),
        (hook(event("ringing", uuid=42)), "uuid"),
        (hook(event("ringing", conversation_uuid=None)), "conversation_uuid"),
        (hook(event(7)), "status"),
        (hook(event("ringing", timestamp="yesterday")), "timestamp"),
        (hook(event("completed", duration="forty")), "duration"),
        (hook(event("completed", duration=-1)), "duration"),
        (hook(event("completed", duration=True)), "duration"),
        (hook(event("ringing"), query="?leg=boss"), "leg"),
        (hook(event("ringing"), query="?call_id=seven"), "call_id"),
        (hook({"conversation_uuid": CONVERSATION, "recording_uuid": "r1"}), "recording_url"),
        (hook({"conversation_uuid": CONVERSATION}, kind="answer", query="?leg=agent"), "uuid"),
        (hook({"uuid": LEG}, kind="answer", query="?leg=agent"), "conversation_uuid"),
    ],
)
def test_malformed_webhooks_name_the_field(h: InboundWebhook, field: str) -> None:
    with pytest.raises(MalformedWebhook) as exc:
        parse(h)
    assert exc.value.field == field


# --- keys, legs, parents, directions, times ------------------------------------------------


def test_dedupe_keys_are_per_leg_and_state() -> None:
    first = one(hook(event("ringing")))
    again = one(hook(event("ringing", timestamp="2026-01-05T10:00:46.000Z")))
    answered = one(hook(event("answered")))
    other_leg = one(hook(event("ringing", uuid="cccccccc-cccc-dddd-eeee-0123456789ab")))
    assert first.dedupe_key == again.dedupe_key == f"{LEG}:ringing"
    assert len({first.dedupe_key, answered.dedupe_key, other_leg.dedupe_key}) == 3


def test_each_answer_fetch_is_applied_not_deduplicated() -> None:
    """Vonage fetches the answer URL again when our reply was lost: it needs the NCCO again."""
    fields = {"from": "442079460000", "to": "919000012345", "uuid": LEG}
    fields["conversation_uuid"] = CONVERSATION
    a = one(hook(fields, kind="answer", query="?call_id=7&leg=agent", received_at=100.0))
    b = one(hook(fields, kind="answer", query="?call_id=7&leg=agent", received_at=101.5))
    assert a.dedupe_key != b.dedupe_key
    assert a.dedupe_key.startswith(f"{LEG}:answer:")
    assert one(hook(fields, kind="answer", query="?call_id=7&leg=agent", received_at=100.0)) == a


def test_legs_parents_and_our_call_id() -> None:
    customer = one(hook(event("answered")))
    assert customer.carrier_call_id == LEG
    assert customer.parent_call_id == CONVERSATION
    assert customer.leg == LegRole.CUSTOMER
    assert customer.local_call_id == 7
    agent = one(hook(event("answered"), query="?call_id=7&leg=agent"))
    assert agent.leg == LegRole.AGENT
    # The application's own event URL (calls to our numbers) names no leg and no call.
    plain = one(hook(event("answered", direction="inbound"), query=""))
    assert (plain.leg, plain.local_call_id, plain.parent_call_id) == (None, None, CONVERSATION)


@pytest.mark.parametrize(
    ("direction", "expected"),
    [("inbound", Direction.INBOUND), ("outbound", Direction.OUTBOUND), (None, None)],
)
def test_directions(direction: str | None, expected: Direction | None) -> None:
    assert one(hook(event("ringing", direction=direction))).direction == expected


def test_answer_webhook_direction_and_status_follow_the_leg() -> None:
    fields = {
        "to": "442079460000",
        "from": "447700900000",
        "uuid": LEG,
        "conversation_uuid": CONVERSATION,
    }
    inbound = one(hook(fields, kind="answer", query="", method="GET"))
    assert inbound.kind == "answer"
    assert (inbound.direction, inbound.status, inbound.leg) == (
        Direction.INBOUND,
        CallStatus.RINGING,
        None,
    )
    assert (inbound.from_number, inbound.to_number) == ("+447700900000", "+442079460000")
    assert inbound.carrier_status == const.ANSWER_WEBHOOK_STATUS
    assert inbound.raw == fields
    agent = one(hook(fields, kind="answer", query="?call_id=9&leg=agent"))
    assert (agent.direction, agent.status, agent.leg, agent.local_call_id) == (
        Direction.OUTBOUND,
        CallStatus.IN_PROGRESS,
        LegRole.AGENT,
        9,
    )


def test_timestamps_durations_and_numbers() -> None:
    ev = one(
        hook(
            event(
                "completed",
                duration="42",
                start_time="2026-01-05T10:00:03.000Z",
                end_time="2026-01-05T10:00:45.000Z",
            )
        )
    )
    assert ev.occurred_at == datetime(2026, 1, 5, 10, 0, 45, 120000, tzinfo=UTC)
    assert ev.duration_s == 42
    assert (ev.from_number, ev.to_number) == ("+442079460000", "+919876543210")
    assert one(hook(event("completed", duration=7))).duration_s == 7
    assert one(hook(event("completed", duration=""))).duration_s is None
    naive = one(hook(event("ringing", timestamp="2026-01-05T10:00:45")))
    assert naive.occurred_at == datetime(2026, 1, 5, 10, 0, 45, tzinfo=UTC)
    offset = one(hook(event("ringing", timestamp="2026-01-05T15:30:45+05:30")))
    assert offset.occurred_at == datetime(2026, 1, 5, 10, 0, 45, tzinfo=UTC)
    sip = one(hook(event("ringing", to="sip:agent@pbx.example.com", **{"from": "Unknown"})))
    assert (sip.to_number, sip.from_number) == ("sip:agent@pbx.example.com", "Unknown")


def test_get_event_webhooks_read_the_query_without_our_parameters() -> None:
    fields = {k: str(v) for k, v in event("busy").items()}
    ev = one(hook(fields, method="GET"))
    assert (ev.status, ev.outcome, ev.leg, ev.local_call_id) == (
        CallStatus.COMPLETED,
        CallOutcome.BUSY,
        LegRole.CUSTOMER,
        7,
    )
    assert ev.raw == fields


def test_record_input_transfer_and_error_events() -> None:
    record = one(
        hook(
            {
                "start_time": "2026-01-05T10:00:03.000Z",
                "recording_url": "https://api.nexmo.com/v1/files/bbbbbbbb-aaaa-cccc-dddd-0123",
                "size": 12222,
                "recording_uuid": "rec-1",
                "end_time": "2026-01-05T10:00:45.000Z",
                "conversation_uuid": CONVERSATION,
                "timestamp": "2026-01-05T10:00:46.000Z",
            }
        )
    )
    assert (record.kind, record.carrier_status, record.status) == ("recording", "record", None)
    assert record.recording_url == "https://api.nexmo.com/v1/files/bbbbbbbb-aaaa-cccc-dddd-0123"
    assert record.carrier_call_id == CONVERSATION == record.parent_call_id
    assert record.dedupe_key == f"{CONVERSATION}:record:rec-1"
    others: list[tuple[dict[str, Any], str]] = [
        (
            {"dtmf": "42", "timed_out": True, "uuid": LEG, "conversation_uuid": CONVERSATION},
            "input",
        ),
        (
            {
                "conversation_uuid_from": CONVERSATION,
                "conversation_uuid_to": "CON-other",
                "uuid": LEG,
            },
            "transfer",
        ),
        ({"reason": "Syntax error in NCCO.", "conversation_uuid": CONVERSATION}, "error"),
    ]
    for fields, kind in others:
        ev = one(hook(fields))
        assert (ev.carrier_status, ev.status, ev.parent_call_id) == (kind, None, CONVERSATION)
        assert ev.dedupe_key == one(hook(fields)).dedupe_key
        later = {**fields, "timestamp": "2026-01-05T10:01:00.000Z"}
        assert ev.dedupe_key != one(hook(later)).dedupe_key


# --- replies (NCCO) ------------------------------------------------------------------------


def test_agent_answer_is_connected_to_the_customer() -> None:
    h = hook({}, kind="answer", query="?call_id=7&leg=agent")
    voice = VoiceInstructions(forward_to="+919876543210", caller_id="+442079460000")
    reply = VonageCarrier().reply(h, voice)
    assert (reply.status, reply.content_type) == (200, "application/json")
    assert json.loads(reply.body) == [
        {
            "action": "connect",
            "from": "442079460000",
            "eventUrl": [f"{BASE}/event?call_id=7&leg=customer"],
            "eventMethod": "POST",
            "endpoint": [{"type": "phone", "number": "919876543210"}],
        }
    ]


def test_inbound_call_is_connected_to_the_agent_or_told_a_message() -> None:
    h = hook({}, kind="answer", query="", method="GET")
    voice = VoiceInstructions(forward_to="+919000012345", caller_id="+442079460000")
    (connect,) = ncco(h, voice)
    assert connect["eventUrl"] == [f"{BASE}/event?leg=agent"]
    assert connect["endpoint"] == [{"type": "phone", "number": "919000012345"}]
    assert ncco(h, VoiceInstructions(message="Call back later.")) == [
        {"action": "talk", "text": "Call back later."}
    ]
    assert ncco(h, None) == [{"action": "talk", "text": "Sorry, nobody can take your call."}]
    no_caller_id = ncco(h, VoiceInstructions(forward_to="+919000012345"))
    assert no_caller_id[0]["randomFromNumber"] is True and "from" not in no_caller_id[0]
    given = ncco(
        h,
        VoiceInstructions(
            forward_to="+919000012345", status_callback_url=f"{BASE}/event?call_id=3"
        ),
    )
    assert given[0]["eventUrl"] == [f"{BASE}/event?call_id=3&leg=agent"]


def test_event_webhooks_are_acknowledged_empty() -> None:
    assert VonageCarrier().reply(hook(event()), None).status == 204


def test_url_helpers_keep_our_parameters() -> None:
    assert with_leg(f"{BASE}/event?call_id=7&leg=agent", LegRole.CUSTOMER) == (
        f"{BASE}/event?call_id=7&leg=customer"
    )
    assert with_leg(f"{BASE}/event", LegRole.AGENT) == f"{BASE}/event?leg=agent"
    assert sibling_url(f"{BASE}/answer?call_id=7&leg=agent&to=1", "event") == (
        f"{BASE}/event?call_id=7"
    )


# --- origination ---------------------------------------------------------------------------


def request(**overrides: Any) -> OriginateRequest:
    values: dict[str, Any] = {
        "call_id": 12,
        "agent_number": "+919000012345",
        "customer_number": "+919876543210",
        "caller_id": "+442079460000",
        "status_callback_url": f"{BASE}/status?call_id=12",
        "customer_status_callback_url": f"{BASE}/status?call_id=12",
        "webhook_base": BASE,
        "timeout_s": 30,
    }
    values.update(overrides)
    return OriginateRequest(**values)


def test_create_call_body_rings_the_agent_with_our_webhooks() -> None:
    body = create_call_body(request())
    assert body == {
        "to": [{"type": "phone", "number": "919000012345"}],
        "from": {"type": "phone", "number": "442079460000"},
        "answer_url": [f"{BASE}/answer?call_id=12&leg=agent"],
        "answer_method": "POST",
        "event_url": [f"{BASE}/event?call_id=12&leg=agent"],
        "event_method": "POST",
        "ringing_timer": 30,
    }
    assert create_call_problems(body) == []
    assert create_call_body(request(timeout_s=600))["ringing_timer"] == 120
    assert create_call_body(request(timeout_s=0))["ringing_timer"] == 1


def test_api_errors_keep_vonages_code_and_reasons() -> None:
    err = api_error(
        400,
        {
            "type": "https://developer.nexmo.com/api-errors#validation",
            "title": "Bad Request",
            "detail": "The request failed due to validation errors",
            "invalid_parameters": [{"name": "to[0].number", "reason": "must match"}],
        },
    )
    assert isinstance(err, CarrierAPIError)
    assert (err.status, err.code) == (400, "validation")
    assert "to[0].number: must match" in err.message
    assert api_error(502, "<html>").message == "Vonage answered 502"


def test_call_records_become_reconcile_events() -> None:
    ev = _reconcile(
        {
            "uuid": LEG,
            "conversation_uuid": CONVERSATION,
            "direction": "outbound",
            "status": "completed",
            "duration": "2",
            "from": {"type": "phone", "number": "9876543210"},
            "to": {"type": "phone", "number": "1234567890"},
            "_links": {"self": {"href": f"/v1/calls/{LEG}"}},
        },
        parent=CONVERSATION,
        leg=LegRole.CUSTOMER,
    )
    assert (ev.kind, ev.status, ev.outcome, ev.duration_s) == (
        "reconcile",
        CallStatus.COMPLETED,
        CallOutcome.COMPLETED,
        2,
    )
    assert (ev.from_number, ev.to_number, ev.leg) == (
        "+9876543210",
        "+1234567890",
        LegRole.CUSTOMER,
    )
    assert "_links" not in ev.raw


# --- credentials ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pem() -> str:
    return new_private_key(1024)


def good(pem: str, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "application_id": APP_ID.upper(),
        "private_key": pem,
        "signature_secret": "a-signature-secret",
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def test_credentials_are_checked_and_normalized(pem: str) -> None:
    checked = VonageCarrier().check_credentials(
        good(pem, api_base_url="http://127.0.0.1:9/", previous_signature_secrets=["old-secret"])
    )
    assert checked == {
        "application_id": APP_ID,
        "private_key": pem,
        "signature_secret": "a-signature-secret",
        "previous_signature_secrets": ["old-secret"],
        "api_base_url": "http://127.0.0.1:9",
    }


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"application_id": None}, "application_id"),
        ({"application_id": "my-app"}, "application_id"),
        ({"application_id": 42}, "application_id"),
        ({"private_key": None}, "private_key"),
        (
            {"private_key": "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----"},
            "private_key",
        ),
        ({"signature_secret": None}, "signature_secret"),
        ({"signature_secret": "short"}, "signature_secret"),
        ({"previous_signature_secrets": "old-secret"}, "previous_signature_secrets"),
        ({"previous_signature_secrets": ["ok-secret", 1]}, "previous_signature_secrets"),
        ({"api_base_url": "ftp://x"}, "api_base_url"),
    ],
)
def test_bad_credentials_name_the_field(pem: str, overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidCredentials) as exc:
        VonageCarrier().check_credentials(good(pem, **overrides))
    assert exc.value.field == f"credentials.{field}"


def test_non_rsa_keys_are_refused() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    ec_pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    with pytest.raises(InvalidCredentials, match="RSA"):
        VonageCarrier().check_credentials(good(ec_pem))
