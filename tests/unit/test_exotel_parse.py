"""Exotel payloads into call events: every documented status, legs, encodings, errors, replies."""

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from gateway.carriers.base import (
    CallEvent,
    InboundWebhook,
    InvalidCredentials,
    MalformedWebhook,
    VoiceInstructions,
)
from gateway.carriers.exotel import const, originate
from gateway.carriers.exotel.adapter import ExotelCarrier
from gateway.models import CallOutcome, CallStatus, Direction, LegRole
from tests.standins.exotel_api import encode, flow_params, status_payload

SID = "80bfbec2d78bbbf10fb851f4fa165211"
STATUS_URL = "https://gw.example.com/webhooks/exotel/1/status?call_id=7&exp=1&token=x"
CREATED = datetime(2026, 1, 5, 9, 58, 30, tzinfo=UTC)
AT = datetime(2026, 1, 5, 10, 0, 45, tzinfo=UTC)
CREDENTIALS = ExotelCarrier().check_credentials(
    {
        "account_sid": "acme1",
        "api_key": "key-0123456789",
        "api_token": "tok-0123456789",
        "callback_secrets": ["a" * 64],
    }
)
ENCODINGS = ("application/json", "multipart/form-data", "application/x-www-form-urlencoded")


def payload(
    event_type: str = "terminal",
    status: str = "completed",
    agent: str | None = "completed",
    customer: str | None = "completed",
    *,
    conversation: int = 42,
) -> dict[str, Any]:
    return status_payload(
        call_sid=SID,
        event_type=event_type,
        status=status,
        agent_status=agent,
        customer_status=customer,
        agent_number="09000012345",
        customer_number="09876543210",
        exophone="08047180000",
        created=CREATED,
        at=AT,
        agent_seconds=conversation + 8,
        conversation_seconds=conversation,
    )


def status_hook(
    body: dict[str, Any] | bytes, content_type: str = "application/json", url: str = STATUS_URL
) -> InboundWebhook:
    if isinstance(body, dict):
        raw, header = encode(body, content_type)
    else:
        raw, header = body, content_type
    return InboundWebhook(
        method="POST",
        url=url,
        headers={"content-type": header},
        body=raw,
        query=dict(parse_qsl(urlsplit(url).query)),
        kind="status",
        received_at=AT.timestamp(),
    )


def flow_hook(kind: str, params: dict[str, str]) -> InboundWebhook:
    url = f"https://gw.example.com/webhooks/exotel/1/{kind}?token=secret-token&{urlencode(params)}"
    return InboundWebhook(
        method="GET",
        url=url,
        headers={},
        body=b"",
        query=dict(parse_qsl(urlsplit(url).query, keep_blank_values=True)),
        kind=kind,
    )


def flow(call_type: str, **kw: Any) -> dict[str, str]:
    return flow_params(
        call_sid=SID,
        caller="09876543210",
        exophone="08047180000",
        call_type=call_type,
        created=CREATED,
        now=AT,
        **kw,
    )


def parse(hook: InboundWebhook, credentials: dict[str, Any] = CREDENTIALS) -> list[CallEvent]:
    return ExotelCarrier().parse(hook, credentials)


def summary(events: list[CallEvent]) -> list[tuple[Any, ...]]:
    return [(e.leg, e.carrier_status, e.status, e.outcome) for e in events]


# --- every documented value ------------------------------------------------------------------

LEG_STATUSES = {
    "completed": (CallStatus.COMPLETED, CallOutcome.COMPLETED),
    "busy": (CallStatus.COMPLETED, CallOutcome.BUSY),
    "no-answer": (CallStatus.COMPLETED, CallOutcome.NO_ANSWER),
    "failed": (CallStatus.COMPLETED, CallOutcome.FAILED),
    "canceled": (CallStatus.COMPLETED, CallOutcome.CANCELED),
}
PROGRESS_STATUSES = {
    "queued": (CallStatus.QUEUED, None),
    "ringing": (CallStatus.RINGING, None),
    "in-progress": (CallStatus.IN_PROGRESS, None),
}
# "null": the customer leg was never attempted (status-callback's leg status table).
NOT_ATTEMPTED = {"null": (CallStatus.COMPLETED, CallOutcome.CANCELED)}
CALL_TYPES = {
    "call-attempt": (CallStatus.RINGING, None),
    "completed": (CallStatus.COMPLETED, CallOutcome.COMPLETED),
    "client-hangup": (CallStatus.COMPLETED, CallOutcome.CANCELED),
    "incomplete": (CallStatus.COMPLETED, CallOutcome.NO_ANSWER),
    "voicemail": (CallStatus.COMPLETED, CallOutcome.NO_ANSWER),
}


def test_documented_statuses_are_exactly_the_documented_values() -> None:
    documented = set(LEG_STATUSES) | set(PROGRESS_STATUSES) | set(NOT_ATTEMPTED) | set(CALL_TYPES)
    assert ExotelCarrier.documented_statuses == documented
    for value in ExotelCarrier.documented_statuses:
        assert value in const.STATUS_MAP or value in const.CALL_TYPE_MAP


@pytest.mark.parametrize("leg_status", sorted(LEG_STATUSES))
def test_every_terminal_leg_status_maps(leg_status: str) -> None:
    overall = leg_status if leg_status != "canceled" else "completed"
    events = parse(status_hook(payload("terminal", overall, "completed", leg_status)))
    status, outcome = LEG_STATUSES[leg_status]
    assert summary(events) == [
        (LegRole.CUSTOMER, leg_status, status, outcome),
        (LegRole.AGENT, "completed", CallStatus.COMPLETED, CallOutcome.COMPLETED),
    ]


@pytest.mark.parametrize("agent_status", sorted(set(LEG_STATUSES) - {"completed"}))
def test_an_agent_who_never_answered_ends_only_the_agent_leg(agent_status: str) -> None:
    events = parse(status_hook(payload("terminal", agent_status, agent_status, None)))
    status, outcome = LEG_STATUSES[agent_status]
    assert summary(events) == [(LegRole.AGENT, agent_status, status, outcome)]


@pytest.mark.parametrize("customer", [None, "", "null"])
def test_an_agent_who_hung_up_before_the_customer_was_dialed_cancels_the_customer_leg(
    customer: str | None,
) -> None:
    events = parse(status_hook(payload("terminal", "completed", "completed", customer)))
    assert summary(events) == [
        (LegRole.CUSTOMER, "null", CallStatus.COMPLETED, CallOutcome.CANCELED),
        (LegRole.AGENT, "completed", CallStatus.COMPLETED, CallOutcome.COMPLETED),
    ]


@pytest.mark.parametrize("status", sorted(PROGRESS_STATUSES))
def test_progress_statuses_map(status: str) -> None:
    # The Call details API and Passthru's CallStatus use these; a flow request shows them all.
    params = flow("x")
    del params["CallType"]
    params["CallStatus"] = status
    (event,) = parse(flow_hook("passthru", params))
    assert (event.carrier_status, event.status, event.outcome) == (
        status,
        *PROGRESS_STATUSES[status],
    )


@pytest.mark.parametrize("call_type", sorted(CALL_TYPES))
def test_every_passthru_call_type_maps(call_type: str) -> None:
    (event,) = parse(flow_hook("passthru", flow(call_type)))
    assert (event.carrier_status, event.status, event.outcome) == (
        call_type,
        *CALL_TYPES[call_type],
    )
    assert event.direction == Direction.INBOUND


def test_call_attempt_at_the_end_of_a_flow_is_a_missed_call() -> None:
    (event,) = parse(flow_hook("hangup", flow("call-attempt")))
    assert (event.status, event.outcome) == (CallStatus.COMPLETED, CallOutcome.NO_ANSWER)


@pytest.mark.parametrize(
    ("dial_status", "outcome"),
    [
        ("no-answer", CallOutcome.NO_ANSWER),
        ("busy", CallOutcome.BUSY),
        ("failed", CallOutcome.FAILED),
        ("canceled", CallOutcome.CANCELED),
        (None, CallOutcome.NO_ANSWER),
        ("something-new", CallOutcome.NO_ANSWER),
    ],
)
def test_incomplete_takes_its_outcome_from_dial_call_status(
    dial_status: str | None, outcome: CallOutcome
) -> None:
    (event,) = parse(flow_hook("hangup", flow("incomplete", dial_status=dial_status)))
    assert (event.status, event.outcome) == (CallStatus.COMPLETED, outcome)


def test_unknown_values_are_kept_unmapped_not_refused() -> None:
    events = parse(status_hook(payload("terminal", "completed", "completed", "answered-by-robot")))
    assert summary(events)[0] == (LegRole.CUSTOMER, "answered-by-robot", None, None)
    (event,) = parse(flow_hook("passthru", flow("transferred")))
    assert (event.carrier_status, event.status) == ("transferred", None)
    (event,) = parse(status_hook(payload("queued-for-review", "completed")))
    assert (event.leg, event.carrier_status, event.status) == (None, "completed", None)


# --- the answered event and its legs -------------------------------------------------------------


@pytest.mark.parametrize("empty", ["", None])
def test_answered_by_the_agent_means_the_customer_is_being_rung(empty: str | None) -> None:
    events = parse(status_hook(payload("answered", "in-progress", "in-progress", empty)))
    assert summary(events) == [
        (LegRole.CUSTOMER, "ringing", CallStatus.RINGING, None),
        (LegRole.AGENT, "in-progress", CallStatus.IN_PROGRESS, None),
    ]


def test_answered_by_the_customer_connects_both_legs() -> None:
    events = parse(status_hook(payload("answered", "in-progress", "in-progress", "in-progress")))
    assert summary(events) == [
        (LegRole.CUSTOMER, "in-progress", CallStatus.IN_PROGRESS, None),
        (LegRole.AGENT, "in-progress", CallStatus.IN_PROGRESS, None),
    ]


def test_dedupe_keys_name_the_call_event_leg_and_status() -> None:
    ringing = parse(status_hook(payload("answered", "in-progress", "in-progress", "")))
    talking = parse(status_hook(payload("answered", "in-progress", "in-progress", "in-progress")))
    ended = parse(status_hook(payload()))
    assert [e.dedupe_key for e in ringing] == [
        f"{SID}:answered:1:ringing",
        f"{SID}:answered:0:in-progress",
    ]
    # The agent's half of the second `answered` repeats the first: one event, not two.
    assert talking[1].dedupe_key == ringing[1].dedupe_key
    assert talking[0].dedupe_key != ringing[0].dedupe_key
    assert [e.dedupe_key for e in ended] == [
        f"{SID}:terminal:1:completed",
        f"{SID}:terminal:0:completed",
    ]
    # A retry is the same request again: the same keys.
    assert [e.dedupe_key for e in parse(status_hook(payload()))] == [e.dedupe_key for e in ended]
    (passthru,) = parse(flow_hook("passthru", flow("call-attempt")))
    (connect,) = parse(flow_hook("connect", flow("call-attempt")))
    (hangup,) = parse(flow_hook("hangup", flow("incomplete", dial_status="busy")))
    assert len({passthru.dedupe_key, connect.dedupe_key, hangup.dedupe_key}) == 3


def test_legs_numbers_direction_and_our_call_id() -> None:
    customer, agent = parse(status_hook(payload()))
    for event in (customer, agent):
        assert event.carrier_call_id == SID
        assert event.parent_call_id is None
        assert event.direction == Direction.OUTBOUND
        assert event.local_call_id == 7
        assert event.from_number == "08047180000"
    assert customer.to_number == "09876543210"
    assert agent.to_number == "09000012345"


def test_default_payload_without_legs_is_one_event_for_the_call() -> None:
    body = {"CallSid": SID, "DateUpdated": "2026-01-05 15:30:45", "Status": "busy"}
    (event,) = parse(status_hook(body))
    assert (event.leg, event.carrier_status, event.status, event.outcome) == (
        None,
        "busy",
        CallStatus.COMPLETED,
        CallOutcome.BUSY,
    )
    assert event.dedupe_key == f"{SID}:terminal:-:busy"


# --- encodings, times, durations ------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ENCODINGS)
def test_every_encoding_gives_the_same_events(content_type: str) -> None:
    reference = parse(status_hook(payload(), "application/json"))
    events = parse(status_hook(payload(), content_type))
    assert [(e.leg, e.carrier_status, e.status, e.outcome, e.duration_s) for e in events] == [
        (e.leg, e.carrier_status, e.status, e.outcome, e.duration_s) for e in reference
    ]
    assert [e.occurred_at for e in events] == [AT, AT]


def test_times_are_read_in_the_accounts_time_zone() -> None:
    body = payload()
    assert body["DateUpdated"] == "2026-01-05 15:30:45"  # India time, no zone
    (event, _) = parse(status_hook(body))
    assert event.occurred_at == datetime(2026, 1, 5, 10, 0, 45, tzinfo=UTC)
    singapore = {**CREDENTIALS, "time_zone": "Asia/Singapore"}
    (event, _) = parse(status_hook(body), singapore)
    assert event.occurred_at == datetime(2026, 1, 5, 7, 30, 45, tzinfo=UTC)
    (flow_event,) = parse(flow_hook("passthru", flow("call-attempt")))
    assert flow_event.occurred_at == AT


def test_durations_come_from_the_conversation_and_each_leg() -> None:
    customer, agent = parse(status_hook(payload(conversation=42)))
    assert (customer.duration_s, agent.duration_s) == (42, 50)
    body = payload(conversation=42)
    del body["ConversationDuration"]
    customer, _ = parse(status_hook(body))
    assert customer.duration_s == 42  # Legs[1][OnCallDuration]
    (done,) = parse(
        flow_hook("hangup", flow("completed", dial_status="completed", dial_seconds=38))
    )
    assert done.duration_s == 38
    (waiting,) = parse(flow_hook("passthru", flow("call-attempt", dial_seconds=5)))
    assert waiting.duration_s is None


def test_our_token_is_not_stored_with_the_payload() -> None:
    (event,) = parse(flow_hook("passthru", flow("call-attempt")))
    assert "token" not in event.raw
    assert event.raw["CallSid"] == SID
    customer, _ = parse(status_hook(payload()))
    assert "token" not in json.dumps(customer.raw)


# --- malformed input ---------------------------------------------------------------------------


def _without(body: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != name}


@pytest.mark.parametrize(
    ("hook", "field"),
    [
        (status_hook(_without(payload(), "CallSid")), "CallSid"),
        (status_hook(_without(payload(), "Status")), "Status"),
        (status_hook(b"{not json", "application/json"), "body"),
        (status_hook(b"[1, 2]", "application/json"), "body"),
        (status_hook({**payload(), "Legs": {"0": {}}}), "Legs"),
        (status_hook({**payload(), "Legs": ["x"]}), "Legs"),
        (status_hook({**payload(), "DateUpdated": "05/01/2026 10:00"}), "DateUpdated"),
        (status_hook({**payload(), "ConversationDuration": "forty"}), "ConversationDuration"),
        (status_hook({**payload(), "ConversationDuration": -1}), "ConversationDuration"),
        (status_hook({**payload(), "CallSid": ["a", "b"]}), "CallSid"),
        (
            status_hook(
                b"CallSid=a&Status=busy&Legs[1][OnCallDuration]=ten",
                "application/x-www-form-urlencoded",
            ),
            "Legs[1][OnCallDuration]",
        ),
        (
            status_hook(
                b"CallSid=a&Status=busy&Legs[12][Status]=busy", "application/x-www-form-urlencoded"
            ),
            "Legs[12][Status]",
        ),
        (status_hook(b"CallSid=\xff", "application/x-www-form-urlencoded"), "body"),
        (status_hook(b"no parts here", "multipart/form-data; boundary=zz"), "body"),
        (
            status_hook(payload(), url=STATUS_URL.replace("call_id=7", "call_id=seven")),
            "call_id",
        ),
        (flow_hook("passthru", _without(flow("call-attempt"), "CallSid")), "CallSid"),
        (flow_hook("passthru", _without(flow("call-attempt"), "CallType")), "CallType"),
        (flow_hook("hangup", {**flow("completed"), "DialCallDuration": "1.5"}), "DialCallDuration"),
        (flow_hook("passthru", {**flow("call-attempt"), "CurrentTime": "now"}), "CurrentTime"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_malformed_input_names_the_field(hook: InboundWebhook, field: str) -> None:
    with pytest.raises(MalformedWebhook) as info:
        parse(hook)
    assert info.value.field == field


# --- replies and credentials ---------------------------------------------------------------------


def test_passthru_branches_on_whether_an_agent_will_be_rung() -> None:
    adapter = ExotelCarrier()
    hook = flow_hook("passthru", flow("call-attempt"))
    ring = VoiceInstructions(forward_to="+919000012345", caller_id="+918047180000")
    assert adapter.reply(hook, ring).status == 200
    message = VoiceInstructions(message="We will call you back")
    assert adapter.reply(hook, message).status == 302
    assert adapter.reply(hook, None).status == 302


def test_connect_answers_whom_to_dial_as_json() -> None:
    adapter = ExotelCarrier()
    hook = flow_hook("connect", flow("call-attempt"))
    reply = adapter.reply(
        hook, VoiceInstructions(forward_to="+919000012345", caller_id="+918047180000")
    )
    assert (reply.status, reply.content_type) == (200, "application/json")
    assert json.loads(reply.body) == {
        "fetch_after_attempt": False,
        "destination": {"numbers": ["+919000012345"]},
        "max_ringing_duration": 30,
        "outgoing_phone_number": "+918047180000",
    }
    nobody = json.loads(adapter.reply(hook, VoiceInstructions(message="bye")).body)
    assert nobody["destination"] == {"numbers": []}


@pytest.mark.parametrize("kind", ["status", "hangup"])
def test_callbacks_are_acknowledged_with_200(kind: str) -> None:
    hook = status_hook(payload()) if kind == "status" else flow_hook(kind, flow("completed"))
    reply = ExotelCarrier().reply(hook, None)
    assert (reply.status, reply.body) == (200, "")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"account_sid": ""}, "credentials.account_sid"),
        ({"account_sid": "acme/../x"}, "credentials.account_sid"),
        ({"api_key": "has:colon1"}, "credentials.api_key"),
        ({"api_key": "short"}, "credentials.api_key"),
        ({"api_token": None}, "credentials.api_token"),
        ({"api_token": "with space 1"}, "credentials.api_token"),
        ({"subdomain": "evil.example.com"}, "credentials.subdomain"),
        ({"api_base_url": "ftp://x"}, "credentials.api_base_url"),
        ({"time_zone": "Mars/Olympus"}, "credentials.time_zone"),
    ],
)
def test_invalid_credentials_name_the_field(change: dict[str, Any], field: str) -> None:
    given = {"account_sid": "acme1", "api_key": "key-0123456789", "api_token": "tok-0123456789"}
    with pytest.raises(InvalidCredentials) as info:
        ExotelCarrier().check_credentials({**given, **change})
    assert info.value.field == field


def test_credentials_are_normalized() -> None:
    checked = ExotelCarrier().check_credentials(
        {
            "account_sid": "acme1",
            "api_key": "key-0123456789",
            "api_token": "tok-0123456789",
            "subdomain": "api.in.exotel.com",
            "api_base_url": "http://127.0.0.1:9999/",
            "unexpected": "dropped",
        }
    )
    assert checked["api_base_url"] == "http://127.0.0.1:9999"
    assert checked["subdomain"] == "api.in.exotel.com"
    assert checked["time_zone"] == "Asia/Kolkata"
    assert "unexpected" not in checked


# --- Exotel's REST answers ------------------------------------------------------------------------


def test_rest_answers_are_read_as_json_or_xml() -> None:
    json_body = '{"Call": {"Sid": "c5797dcbaaeed7678c4062a4a3ed2f8a", "Status": "in-progress"}}'
    xml_body = (
        '<?xml version="1.0" encoding="UTF-8"?><TwilioResponse><Call>'
        "<Sid>c5797dcbaaeed7678c4062a4a3ed2f8a</Sid><Status>in-progress</Status>"
        "</Call></TwilioResponse>"
    )
    for body, content_type in ((json_body, "application/json"), (xml_body, "application/xml")):
        decoded = originate._decode(body, content_type)
        assert decoded["Call"]["Sid"] == "c5797dcbaaeed7678c4062a4a3ed2f8a"
        assert decoded["Call"]["Status"] == "in-progress"
    assert originate._decode("", "application/json") == {}
    assert originate._decode("<oops", "text/xml") == {}


def test_rest_errors_keep_exotels_message_status_and_code() -> None:
    body = originate._decode(
        '{"RestException": {"Status": 400, "Code": 34001, "Message": "From is invalid"}}',
        "application/json",
    )
    error = originate._error(400, body, "fallback")
    assert (error.message, error.status, error.code) == ("From is invalid", 400, "34001")
    error = originate._error(502, {}, "Exotel answered 502")
    assert (error.message, error.status, error.code) == ("Exotel answered 502", 502, None)
