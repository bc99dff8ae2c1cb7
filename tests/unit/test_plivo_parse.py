"""Plivo callbacks parse into the right events; replies are the Plivo XML Plivo expects."""

import xml.etree.ElementTree as ET
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from plivo import plivoxml

from gateway.carriers.base import (
    InboundWebhook,
    InvalidCredentials,
    MalformedWebhook,
    OriginateRequest,
    VoiceInstructions,
)
from gateway.carriers.plivo import const, originate
from gateway.carriers.plivo.adapter import PlivoCarrier, sibling_url
from gateway.carriers.plivo.parse import parse, plivo_number
from gateway.models import CallOutcome, CallStatus, Direction

BASE = "https://gw.example.com/webhooks/plivo/3"
A_LEG = "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36"
B_LEG = "c0a58e17-9d24-4f6b-8a13-72e5b4c9d806"
adapter = PlivoCarrier()


def hook(kind: str, params: dict[str, str], *, query: str = "?call_id=7") -> InboundWebhook:
    url = f"{BASE}/{kind}{query}"
    return InboundWebhook(
        method="POST",
        url=url,
        headers={"content-type": "application/x-www-form-urlencoded"},
        body=urlencode(params).encode(),
        query=dict(parse_qsl(urlsplit(url).query)),
        kind=kind,
    )


def call_params(status: str, **extra: str) -> dict[str, str]:
    params = {
        "CallUUID": A_LEG,
        "RequestUUID": A_LEG,
        "ALegUUID": A_LEG,
        "ALegRequestUUID": A_LEG,
        "CallStatus": status,
        "Direction": "outbound",
        "From": "918047180000",
        "To": "919000012345",
    }
    params.update(extra)
    return params


def dial_params(action: str, **extra: str) -> dict[str, str]:
    params = {
        "CallUUID": A_LEG,
        "DialALegUUID": A_LEG,
        "DialBLegUUID": B_LEG,
        "DialAction": action,
        "DialBLegStatus": action,
        "DialBLegFrom": "918047180000",
        "DialBLegTo": "919876543210",
    }
    params.update(extra)
    return params


def action_params(status: str, b_leg: str = "") -> dict[str, str]:
    return call_params("in-progress", DialStatus=status, DialALegUUID=A_LEG, DialBLegUUID=b_leg)


# --- the documented vocabulary -------------------------------------------------------------------

# CallStatus (Application answer/hangup URL docs and dial-status-reporting, which adds "cancel")
# and the Dial callbackUrl's DialAction values that carry a state.
DOCUMENTED_CALL_STATUSES = {
    "ringing": (CallStatus.RINGING, None),
    "in-progress": (CallStatus.IN_PROGRESS, None),
    "completed": (CallStatus.COMPLETED, CallOutcome.COMPLETED),
    "busy": (CallStatus.COMPLETED, CallOutcome.BUSY),
    "failed": (CallStatus.COMPLETED, CallOutcome.FAILED),
    "timeout": (CallStatus.COMPLETED, CallOutcome.NO_ANSWER),
    "no-answer": (CallStatus.COMPLETED, CallOutcome.NO_ANSWER),
    "cancel": (CallStatus.COMPLETED, CallOutcome.CANCELED),
}
DOCUMENTED_DIAL_ACTIONS = {
    "answer": (CallStatus.IN_PROGRESS, None),
    "connected": (CallStatus.IN_PROGRESS, None),
    "hangup": (CallStatus.COMPLETED, CallOutcome.COMPLETED),
}


def test_documented_statuses_are_exactly_the_documented_set() -> None:
    assert adapter.documented_statuses == set(DOCUMENTED_CALL_STATUSES) | set(
        DOCUMENTED_DIAL_ACTIONS
    )


@pytest.mark.parametrize("kind", ["ring", "answer", "hangup"])
@pytest.mark.parametrize(("value", "expected"), DOCUMENTED_CALL_STATUSES.items())
def test_every_call_status_maps(
    kind: str, value: str, expected: tuple[CallStatus, CallOutcome | None]
) -> None:
    (event,) = parse(hook(kind, call_params(value, AnswerTime="2026-01-05 10:00:05")))
    assert (event.status, event.outcome) == expected
    assert event.carrier_status == value


@pytest.mark.parametrize(("value", "expected"), DOCUMENTED_CALL_STATUSES.items())
def test_every_dial_status_maps(value: str, expected: tuple[CallStatus, None]) -> None:
    (event,) = parse(hook("action", action_params(value, B_LEG)))
    assert (event.status, event.outcome) == expected
    assert event.carrier_status == value


@pytest.mark.parametrize(("value", "expected"), DOCUMENTED_DIAL_ACTIONS.items())
def test_every_dial_action_maps(value: str, expected: tuple[CallStatus, None]) -> None:
    (event,) = parse(hook("dial", dial_params(value, DialBLegDuration="42")))
    assert (event.status, event.outcome) == expected
    assert event.carrier_status == value


@pytest.mark.parametrize("kind", ["ring", "hangup", "action"])
def test_unknown_values_are_unmapped_not_errors(kind: str) -> None:
    params = call_params("answered-by-robot") if kind != "action" else action_params("weird")
    (event,) = parse(hook(kind, params))
    assert event.status is None and event.outcome is None
    (event,) = parse(hook("dial", dial_params("digits", DialDigitsMatch="123")))
    assert event.status is None and event.carrier_status == "digits"


# --- malformed requests name the field ----------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "params", "field"),
    [
        (
            "hangup",
            {k: v for k, v in call_params("completed").items() if k != "CallUUID"},
            "CallUUID",
        ),
        (
            "ring",
            {k: v for k, v in call_params("ringing").items() if k != "CallStatus"},
            "CallStatus",
        ),
        ("answer", call_params(""), "CallStatus"),
        ("hangup", call_params("completed", Duration="sixty"), "Duration"),
        ("hangup", call_params("completed", Duration="-1"), "Duration"),
        ("hangup", call_params("completed", BillDuration="1.5"), "BillDuration"),
        (
            "dial",
            {k: v for k, v in dial_params("answer").items() if k != "DialAction"},
            "DialAction",
        ),
        ("dial", dial_params("answer", DialBLegUUID=""), "DialBLegUUID"),
        ("dial", dial_params("answer", DialALegUUID="", CallUUID=""), "DialALegUUID"),
        ("dial", dial_params("hangup", DialBLegDuration="x"), "DialBLegDuration"),
        (
            "action",
            {k: v for k, v in action_params("busy").items() if k != "DialStatus"},
            "DialStatus",
        ),
        (
            "action",
            {**action_params("busy"), "DialALegUUID": "", "CallUUID": ""},
            "DialALegUUID",
        ),
    ],
)
def test_malformed_fields_are_named(kind: str, params: dict[str, str], field: str) -> None:
    with pytest.raises(MalformedWebhook) as caught:
        parse(hook(kind, params))
    assert caught.value.field == field


def test_non_integer_call_id_and_bad_body_are_malformed() -> None:
    with pytest.raises(MalformedWebhook) as caught:
        parse(hook("ring", call_params("ringing"), query="?call_id=seven"))
    assert caught.value.field == "call_id"
    bad = InboundWebhook(
        method="POST", url=f"{BASE}/ring", headers={}, body=b"\xff", query={}, kind="ring"
    )
    with pytest.raises(MalformedWebhook) as caught:
        parse(bad)
    assert caught.value.field == "body"


# --- identities, legs, directions, numbers, times ------------------------------------------------


def test_agent_leg_events() -> None:
    (ring,) = parse(hook("ring", call_params("ringing", Event="Ring")))
    (answer,) = parse(hook("answer", call_params("in-progress", Event="StartApp")))
    (done,) = parse(
        hook(
            "hangup",
            call_params(
                "completed", Duration="66", BillDuration="120", AnswerTime="2026-01-05 15:30:10"
            ),
        )
    )
    for event in (ring, answer, done):
        assert event.carrier_call_id == A_LEG
        assert event.parent_call_id is None
        assert event.direction == Direction.OUTBOUND
        assert event.from_number == "+918047180000"
        assert event.to_number == "+919000012345"
        assert event.local_call_id == 7
        # Plivo's times carry no zone (console-local): the gateway stamps arrival instead.
        assert event.occurred_at is None
    assert [e.dedupe_key for e in (ring, answer, done)] == [
        f"{A_LEG}:ring",
        f"{A_LEG}:answer",
        f"{A_LEG}:hangup",
    ]
    assert [e.kind for e in (ring, answer, done)] == ["ring", "answer", "hangup"]
    # Duration is the talk time; BillDuration is rounded for billing and not used.
    assert done.duration_s == 66
    assert ring.duration_s is None and answer.duration_s is None
    assert done.raw["BillDuration"] == "120"


def test_customer_leg_events_are_children_of_the_agent_leg() -> None:
    (answered,) = parse(hook("dial", dial_params("answer")))
    (ended,) = parse(
        hook(
            "dial",
            dial_params("hangup", DialBLegDuration="42", DialBLegHangupCause="NORMAL_CLEARING"),
        )
    )
    for event in (answered, ended):
        assert event.carrier_call_id == B_LEG
        assert event.parent_call_id == A_LEG
        assert event.to_number == "+919876543210"
        assert event.from_number == "+918047180000"
    assert answered.dedupe_key == f"{B_LEG}:dial:answer"
    assert ended.dedupe_key == f"{B_LEG}:dial:hangup"
    assert ended.duration_s == 42 and answered.duration_s is None


@pytest.mark.parametrize(
    ("cause", "duration", "expected"),
    [
        ("NORMAL_CLEARING", "42", (CallStatus.COMPLETED, CallOutcome.COMPLETED)),
        ("USER_BUSY", "0", (CallStatus.COMPLETED, CallOutcome.BUSY)),
        ("NO_ANSWER", "0", (CallStatus.COMPLETED, CallOutcome.NO_ANSWER)),
        ("CALL_REJECTED", "0", (CallStatus.COMPLETED, CallOutcome.NO_ANSWER)),
        ("ORIGINATOR_CANCEL", "", (CallStatus.COMPLETED, CallOutcome.CANCELED)),
        ("UNALLOCATED_NUMBER", "0", (CallStatus.COMPLETED, CallOutcome.FAILED)),
        # Neither talk time nor a readable cause: left to the Dial action's DialStatus.
        ("NORMAL_CLEARING", "0", (None, None)),
        ("SOMETHING_NEW", "0", (None, None)),
    ],
)
def test_dial_hangup_outcome(
    cause: str, duration: str, expected: tuple[CallStatus | None, CallOutcome | None]
) -> None:
    params = dial_params("hangup", DialBLegHangupCause=cause, DialBLegDuration=duration)
    (event,) = parse(hook("dial", params))
    assert (event.status, event.outcome) == expected


def test_dial_action_without_b_leg_names_a_distinct_customer_leg() -> None:
    (busy,) = parse(hook("action", action_params("busy")))
    assert busy.carrier_call_id == f"{A_LEG}:dial"
    assert busy.carrier_call_id != A_LEG
    assert busy.parent_call_id == A_LEG
    assert busy.dedupe_key == f"{A_LEG}:action"
    (done,) = parse(hook("action", action_params("completed", B_LEG)))
    assert done.carrier_call_id == B_LEG
    assert done.dedupe_key == f"{A_LEG}:action"


def test_inbound_calls() -> None:
    params = {
        "CallUUID": "in-1",
        "CallStatus": "ringing",
        "Direction": "inbound",
        "From": "447911123456",
        "To": "918047180000",
    }
    (ringing,) = parse(hook("answer", params, query=""))
    assert ringing.direction == Direction.INBOUND
    assert ringing.status == CallStatus.RINGING
    assert ringing.from_number == "+447911123456"
    assert ringing.local_call_id is None
    answered = {**params, "CallStatus": "completed", "AnswerTime": "2026-01-05 10:00:04"}
    (done,) = parse(hook("hangup", {**answered, "Duration": "95"}, query=""))
    assert (done.status, done.outcome, done.duration_s) == (
        CallStatus.COMPLETED,
        CallOutcome.COMPLETED,
        95,
    )
    # Inbound calls always end "completed"; an empty AnswerTime means nobody answered.
    missed = {**params, "CallStatus": "completed", "AnswerTime": "", "Duration": "0"}
    (done,) = parse(hook("hangup", missed, query=""))
    assert (done.status, done.outcome) == (CallStatus.COMPLETED, CallOutcome.NO_ANSWER)


def test_numbers() -> None:
    assert plivo_number("919876543210") == "+919876543210"
    assert plivo_number("+14155550100") == "+14155550100"
    assert plivo_number("sip:agent@phone.plivo.com") == "sip:agent@phone.plivo.com"
    assert plivo_number("") is None and plivo_number(None) is None


def test_get_callbacks_read_the_query() -> None:
    params = call_params("ringing")
    url = f"{BASE}/ring?call_id=7&{urlencode(params)}"
    get = InboundWebhook(
        method="GET",
        url=url,
        headers={},
        body=b"",
        query=dict(parse_qsl(urlsplit(url).query)),
        kind="ring",
    )
    (event,) = parse(get)
    assert event.carrier_call_id == A_LEG and event.local_call_id == 7


# --- replies -------------------------------------------------------------------------------------


def canonical(xml: str) -> list[tuple[str, dict[str, str], str]]:
    """Elements in document order with their attributes and text (formatting ignored)."""
    root = ET.fromstring(xml)  # noqa: S314  (XML built by the test or by the adapter)
    return [(e.tag, dict(e.attrib), (e.text or "").strip()) for e in root.iter()]


def test_answer_reply_dials_with_callbacks_and_matches_the_sdk() -> None:
    voice = VoiceInstructions(forward_to="+919876543210", caller_id="+918047180000")
    reply = adapter.reply(hook("answer", call_params("in-progress")), voice)
    assert reply.status == 200 and reply.content_type == "text/xml"
    expected = plivoxml.ResponseElement()
    dial = plivoxml.DialElement(
        caller_id="918047180000",
        callback_url=f"{BASE}/dial?call_id=7",
        callback_method="POST",
        action=f"{BASE}/action?call_id=7",
        method="POST",
        timeout=const.DIAL_TIMEOUT_S,
    )
    dial.add(plivoxml.NumberElement("919876543210"))
    expected.add(dial)
    assert canonical(reply.body) == canonical(expected.to_string())


def test_answer_reply_without_an_agent_speaks_and_hangs_up() -> None:
    voice = VoiceInstructions(message="Thanks <&> bye")
    reply = adapter.reply(hook("answer", call_params("ringing"), query=""), voice)
    expected = plivoxml.ResponseElement()
    expected.add(plivoxml.SpeakElement("Thanks <&> bye"))
    expected.add(plivoxml.HangupElement())
    assert canonical(reply.body) == canonical(expected.to_string())
    fallback = adapter.reply(hook("answer", call_params("ringing"), query=""), None)
    assert [tag for tag, _, _ in canonical(fallback.body)] == ["Response", "Speak", "Hangup"]


def test_inbound_dial_callbacks_carry_no_call_id() -> None:
    voice = VoiceInstructions(forward_to="+919000012345", caller_id="+918047180000")
    reply = adapter.reply(hook("answer", call_params("ringing"), query=""), voice)
    dial = ET.fromstring(reply.body).find("Dial")  # noqa: S314
    assert dial is not None
    assert dial.get("callbackUrl") == f"{BASE}/dial"
    assert dial.get("action") == f"{BASE}/action"


def test_other_replies() -> None:
    action = adapter.reply(hook("action", action_params("busy")), None)
    assert [tag for tag, _, _ in canonical(action.body)] == ["Response", "Hangup"]
    for kind in ("ring", "hangup", "dial"):
        reply = adapter.reply(hook(kind, call_params("ringing")), None)
        # Plivo retries callbacks that do not get a 200.
        assert reply.status == 200 and reply.body == ""


def test_sibling_url_keeps_only_our_call_id() -> None:
    url = f"{BASE}/answer?call_id=7&CallUUID=x&From=1"
    assert sibling_url(url, "dial") == f"{BASE}/dial?call_id=7"
    assert sibling_url(f"{BASE}/answer?CallUUID=x", "action") == f"{BASE}/action"


# --- credentials and the Make Call body ---------------------------------------------------------

GOOD_CREDENTIALS = {"auth_id": "MAZJNLNJIYNWMZYZHIMM", "auth_token": "Y2Q2ZDgxZmY5YWRiOTI5YmQ1"}


def test_check_credentials_normalizes() -> None:
    checked = adapter.check_credentials(
        {**GOOD_CREDENTIALS, "api_base_url": "http://127.0.0.1:9/", "ignored": 1}
    )
    assert checked == {**GOOD_CREDENTIALS, "api_base_url": "http://127.0.0.1:9"}
    assert adapter.check_credentials({**GOOD_CREDENTIALS, "auth_id": "SA" + "B" * 18})


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"auth_id": "MA123"}, "credentials.auth_id"),
        ({"auth_id": "XA" + "B" * 18}, "credentials.auth_id"),
        ({"auth_id": "ma" + "b" * 18}, "credentials.auth_id"),
        ({"auth_id": None}, "credentials.auth_id"),
        ({"auth_token": "short"}, "credentials.auth_token"),
        ({"auth_token": " " + "x" * 20}, "credentials.auth_token"),
        ({"auth_token": 12345678901234567}, "credentials.auth_token"),
        ({"api_base_url": "ftp://x"}, "credentials.api_base_url"),
    ],
)
def test_check_credentials_names_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidCredentials) as caught:
        adapter.check_credentials({**GOOD_CREDENTIALS, **change})
    assert caught.value.field == field


def test_make_call_body() -> None:
    request = OriginateRequest(
        call_id=9,
        agent_number="+919000012345",
        customer_number="+919876543210",
        caller_id="+918047180000",
        status_callback_url=f"{BASE}/status?call_id=9",
        customer_status_callback_url=f"{BASE}/status?call_id=9",
        webhook_base=BASE,
        timeout_s=25,
    )
    assert originate.call_body(request) == {
        "from": "918047180000",
        "to": "919000012345",
        "answer_url": f"{BASE}/answer?call_id=9",
        "answer_method": "POST",
        "ring_url": f"{BASE}/ring?call_id=9",
        "ring_method": "POST",
        "hangup_url": f"{BASE}/hangup?call_id=9",
        "hangup_method": "POST",
        "ring_timeout": 25,
    }
    assert originate.account_url(GOOD_CREDENTIALS) == (
        "https://api.plivo.com/v1/Account/MAZJNLNJIYNWMZYZHIMM"
    )
