"""Telnyx webhooks normalize into CallEvents; events plan the right Call Control commands."""

import base64
import json
import typing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from telnyx.types.call_answered_webhook_event import CallAnsweredWebhookEvent
from telnyx.types.call_bridged_webhook_event import CallBridgedWebhookEvent
from telnyx.types.call_hangup import Payload as HangupPayload
from telnyx.types.call_hangup_webhook_event import CallHangupWebhookEvent
from telnyx.types.call_initiated import Payload as InitiatedPayload
from telnyx.types.call_initiated_webhook_event import CallInitiatedWebhookEvent
from telnyx.types.call_speak_ended_webhook_event import CallSpeakEndedWebhookEvent

from gateway import callstate
from gateway.carriers.base import CallEvent, InboundWebhook, MalformedWebhook, VoiceInstructions
from gateway.carriers.telnyx import const, originate
from gateway.carriers.telnyx.adapter import TelnyxCarrier
from gateway.carriers.telnyx.parse import ClientState
from gateway.models import CallLeg, CallOutcome, CallStatus, Direction, LegRole

CONNECTION_ID = "1494404757140276705"
CREDENTIALS = {
    "api_key": "KEY0190F1B2C3D4E5F60718293A4B5C6D7E_unit",
    "public_key": base64.b64encode(bytes(range(32))).decode(),
    "connection_id": CONNECTION_ID,
}
AGENT_LEG = "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg"
CUSTOMER_LEG = "v3:9X2vxPDFY2RHSJ1EdMS0RHRksMTg7ldNxdjWbVr9zBjbGjGsSe-aiQ"
HOOK = "https://gw.example.com/webhooks/telnyx/4/status?call_id=7"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "carriers" / "telnyx"


def _literals(annotation: Any) -> frozenset[str]:
    (literal,) = (a for a in typing.get_args(annotation) if typing.get_origin(a) is typing.Literal)
    return frozenset(typing.get_args(literal))


# The documented values, read from telnyx-python's models of the callbacks
# (`types/call_hangup.py`, `types/call_initiated.py`; developers.telnyx.com callbacks reference).
HANGUP_CAUSES = _literals(HangupPayload.model_fields["hangup_cause"].annotation)
DIRECTIONS = _literals(InitiatedPayload.model_fields["direction"].annotation)

# ../shared/carriers.md §0.1, the Telnyx column.
EXPECTED: dict[str, tuple[CallStatus, CallOutcome | None]] = {
    "call.initiated:outgoing": (CallStatus.INITIATED, None),
    "call.initiated:incoming": (CallStatus.RINGING, None),
    "call.bridged": (CallStatus.RINGING, None),
    "call.answered": (CallStatus.IN_PROGRESS, None),
    "call.hangup:normal_clearing": (CallStatus.COMPLETED, CallOutcome.COMPLETED),
    "call.hangup:time_limit": (CallStatus.COMPLETED, CallOutcome.COMPLETED),
    "call.hangup:user_busy": (CallStatus.COMPLETED, CallOutcome.BUSY),
    "call.hangup:no_answer": (CallStatus.COMPLETED, CallOutcome.NO_ANSWER),
    "call.hangup:timeout": (CallStatus.COMPLETED, CallOutcome.NO_ANSWER),
    "call.hangup:call_rejected": (CallStatus.COMPLETED, CallOutcome.NO_ANSWER),
    "call.hangup:not_found": (CallStatus.COMPLETED, CallOutcome.FAILED),
    "call.hangup:unspecified": (CallStatus.COMPLETED, CallOutcome.FAILED),
    "call.hangup:originator_cancel": (CallStatus.COMPLETED, CallOutcome.CANCELED),
}

NUMERIC_FROM: dict[str, Any] = {"from": 919876543210}
CUSTOMER_STATE = ClientState(call_id=7, leg=LegRole.CUSTOMER, parent=AGENT_LEG)
AGENT_STATE = ClientState(call_id=7, leg=LegRole.AGENT, customer_hook=HOOK, ring_s=25)


def webhook(
    event_type: str = "call.hangup",
    *,
    event_id: str = "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0",
    occurred_at: str | None = "2018-02-02T22:25:27.521992Z",
    client: object = CUSTOMER_STATE,
    drop: tuple[str, ...] = (),
    **payload: Any,
) -> dict[str, Any]:
    """A webhook shaped like https://developers.telnyx.com/api-reference/callbacks/call-hangup."""
    body: dict[str, Any] = {
        "call_control_id": CUSTOMER_LEG,
        "connection_id": CONNECTION_ID,
        "call_leg_id": "428c31b6-7af4-4bcb-b7f5-5013ef9657c1",
        "call_session_id": "428c31b6-7af4-4bcb-b7f5-5013ef9657c1",
        "client_state": client.encode() if isinstance(client, ClientState) else client,
        "from": "+918047180000",
        "to": "+919876543210",
        "start_time": "2018-02-02T22:20:27.521992Z",
    }
    if event_type == "call.hangup":
        body.update(
            state="hangup",
            hangup_cause="normal_clearing",
            hangup_source="caller",
            sip_hangup_cause="200",
        )
    elif event_type == "call.initiated":
        body.update(direction="outgoing", state="bridging")
    body.update(payload)
    for name in drop:
        body.pop(name, None)
    data: dict[str, Any] = {
        "record_type": "event",
        "event_type": event_type,
        "id": event_id,
        "occurred_at": occurred_at,
        "payload": body,
    }
    return {"data": data, "meta": {"attempt": 1, "delivered_to": HOOK}}


def hook(document: Any, *, kind: str = "status", raw: bytes | None = None) -> InboundWebhook:
    return InboundWebhook(
        method="POST",
        url=HOOK,
        headers={"content-type": "application/json"},
        body=json.dumps(document).encode() if raw is None else raw,
        query={"call_id": "7"},
        kind=kind,
    )


def parse(document: Any, **kwargs: Any) -> list[CallEvent]:
    return TelnyxCarrier().parse(hook(document, **kwargs), CREDENTIALS)


def one(document: Any) -> CallEvent:
    (event,) = parse(document)
    return event


# --- the documented vocabulary ---------------------------------------------------------------


def test_documented_values_are_all_mapped() -> None:
    assert frozenset(const.HANGUP_OUTCOMES) == HANGUP_CAUSES
    assert frozenset(const.DIRECTION_MAP) == DIRECTIONS
    expected_statuses = {f"call.initiated:{d}" for d in DIRECTIONS} | {
        f"call.hangup:{c}" for c in HANGUP_CAUSES
    }
    assert TelnyxCarrier.documented_statuses == frozenset(EXPECTED)
    assert expected_statuses | {"call.answered", "call.bridged"} == set(EXPECTED)


@pytest.mark.parametrize("carrier_status", sorted(EXPECTED))
def test_every_documented_status_maps(carrier_status: str) -> None:
    event_type, _, qualifier = carrier_status.partition(":")
    extra: dict[str, Any] = {}
    if event_type == "call.initiated":
        extra["direction"] = qualifier
    elif event_type == "call.hangup":
        extra["hangup_cause"] = qualifier
    event = one(webhook(event_type, **extra))
    assert event.carrier_status == carrier_status
    assert (event.status, event.outcome) == EXPECTED[carrier_status]


@pytest.mark.parametrize(
    ("event_type", "field", "value", "carrier_status"),
    [
        ("call.hangup", "hangup_cause", "network_meltdown", "call.hangup:network_meltdown"),
        ("call.initiated", "direction", "sideways", "call.initiated:sideways"),
    ],
)
def test_unknown_values_keep_status_none(
    event_type: str, field: str, value: str, carrier_status: str
) -> None:
    extra: dict[str, Any] = {field: value}
    event = one(webhook(event_type, **extra))
    assert event.carrier_status == carrier_status
    assert event.status is None and event.outcome is None


@pytest.mark.parametrize(
    "event_type",
    [
        "call.playback.ended",
        "call.dtmf.received",
        "call.recording.saved",
        "call.cost",
        "call.machine.detection.ended",
        "call.speak.started",
        "call.something.new",
    ],
)
def test_events_that_are_not_call_progress_are_ignored(event_type: str) -> None:
    assert parse(webhook(event_type, drop=("call_control_id",))) == []


def test_speak_ended_counts_only_when_our_state_asks_for_a_hangup() -> None:
    assert parse(webhook("call.speak.ended", client=CUSTOMER_STATE)) == []
    assert parse(webhook("call.speak.ended", client=None)) == []
    asking = ClientState(leg=LegRole.CUSTOMER, then="hangup")
    event = one(webhook("call.speak.ended", client=asking, status="completed"))
    assert event.carrier_status == "call.speak.ended"
    assert event.status is None


def test_sdk_models_accept_our_test_documents() -> None:
    """The documents these tests (and the fixtures) use are what telnyx-python models."""
    for model, doc in [
        (CallHangupWebhookEvent, webhook("call.hangup")),
        (CallInitiatedWebhookEvent, webhook("call.initiated")),
        (CallAnsweredWebhookEvent, webhook("call.answered", state="answered")),
        (CallBridgedWebhookEvent, webhook("call.bridged", state="bridged")),
        (CallSpeakEndedWebhookEvent, webhook("call.speak.ended", status="completed")),
    ]:
        parsed: Any = model.model_validate(doc)
        assert parsed.data is not None and parsed.data.id == doc["data"]["id"]
    for path in sorted(FIXTURES.glob("*.json")):
        doc = json.loads(json.loads(path.read_text())["body"])
        event_type = doc["data"]["event_type"]
        models: dict[str, Any] = {
            "call.hangup": CallHangupWebhookEvent,
            "call.answered": CallAnsweredWebhookEvent,
            "call.initiated": CallInitiatedWebhookEvent,
        }
        if event_type in models:
            assert models[event_type].model_validate(doc).data is not None, path.name


# --- fields, legs, directions -------------------------------------------------------------------


def test_customer_leg_event() -> None:
    event = one(webhook("call.hangup", hangup_cause="user_busy"))
    assert event.carrier_call_id == CUSTOMER_LEG
    assert event.dedupe_key == "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0"
    assert event.kind == "status"
    assert event.leg == LegRole.CUSTOMER
    assert event.parent_call_id == AGENT_LEG
    assert event.local_call_id == 7
    assert (event.from_number, event.to_number) == ("+918047180000", "+919876543210")
    assert event.direction is None  # only call.initiated says
    assert event.duration_s is None
    assert event.raw["data"]["payload"]["hangup_cause"] == "user_busy"


def test_agent_answering_a_click_to_call_asks_for_instructions() -> None:
    answered = one(webhook("call.answered", client=AGENT_STATE, call_control_id=AGENT_LEG))
    assert answered.kind == "voice"
    assert answered.leg == LegRole.AGENT and answered.parent_call_id is None
    assert answered.local_call_id == 7
    # The customer leg answering, or the agent leg's other events, ask nothing.
    assert one(webhook("call.answered")).kind == "status"
    assert one(webhook("call.initiated", client=AGENT_STATE)).kind == "status"
    assert one(webhook("call.hangup", client=AGENT_STATE)).kind == "status"


NUMBERS: dict[str, Any] = {"from": "+447911123456", "to": "+918047180000"}


def test_incoming_call_asks_for_instructions() -> None:
    event = one(
        webhook(
            "call.initiated",
            client=None,
            direction="incoming",
            state="parked",
            **NUMBERS,
        )
    )
    assert event.kind == "voice"
    assert event.direction == Direction.INBOUND
    assert (event.status, event.leg, event.local_call_id) == (CallStatus.RINGING, None, None)
    outgoing = one(webhook("call.initiated"))
    assert (outgoing.direction, outgoing.kind) == (Direction.OUTBOUND, "status")


def test_call_id_comes_from_the_signed_client_state_not_the_url() -> None:
    """Telnyx signs the body only: a callback URL's `call_id` could be changed in transit."""
    moved = InboundWebhook(
        method="POST",
        url=HOOK.replace("call_id=7", "call_id=8"),
        headers={"content-type": "application/json"},
        body=json.dumps(webhook()).encode(),
        query={"call_id": "8"},
        kind="status",
    )
    (event,) = TelnyxCarrier().parse(moved, CREDENTIALS)
    assert event.local_call_id == 7
    (event,) = parse(webhook(client=None))
    assert event.local_call_id is None


def test_foreign_client_state_is_ignored() -> None:
    """Another app's state on the account: the docs' example "have a nice day =]"."""
    for foreign in (
        "aGF2ZSBhIG5pY2UgZGF5ID1d",
        base64.b64encode(b'{"call_id": 9}').decode(),
        base64.b64encode(b'["dg"]').decode(),
        base64.b64encode(b"\xff\xfe").decode(),
        "not base64 at all",
    ):
        event = one(webhook(client=foreign))
        assert (event.local_call_id, event.leg, event.parent_call_id) == (None, None, None)


def test_dedupe_key_is_the_event_id() -> None:
    first = one(webhook(event_id="a1"))
    again = one(webhook(event_id="a1"))
    other = one(webhook(event_id="b2"))
    assert first.dedupe_key == again.dedupe_key == "a1"
    assert other.dedupe_key != first.dedupe_key


@pytest.mark.parametrize(
    ("occurred_at", "expected"),
    [
        ("2018-02-02T22:25:27.521992Z", datetime(2018, 2, 2, 22, 25, 27, 521992, tzinfo=UTC)),
        ("2018-02-03T03:55:27+05:30", datetime(2018, 2, 2, 22, 25, 27, tzinfo=UTC)),
        ("2018-02-02T22:25:27", datetime(2018, 2, 2, 22, 25, 27, tzinfo=UTC)),
    ],
)
def test_occurred_at_is_utc(occurred_at: str, expected: datetime) -> None:
    assert one(webhook(occurred_at=occurred_at)).occurred_at == expected


def test_duration_comes_from_answer_to_hangup() -> None:
    """Telnyx sends no duration: the state machine measures answered → hangup occurred_at."""
    answered = one(webhook("call.answered", occurred_at="2026-01-05T10:00:05.250000Z"))
    ended = one(webhook(event_id="e2", occurred_at="2026-01-05T10:00:47.400000Z"))
    leg = CallLeg(org_id=1, call_id=1, role=LegRole.CUSTOMER)
    for event in (answered, ended):
        assert event.status is not None and event.occurred_at is not None
        callstate.advance(leg, event.status, event.outcome, event.occurred_at)
    assert (leg.status, leg.outcome, leg.duration_s) == ("completed", "completed", 42)


# --- malformed ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (None, "body"),
        ([], "body"),
        ({"event_type": "call.hangup"}, "data"),
        ({"data": "call.hangup"}, "data"),
        (webhook() | {"data": {**webhook()["data"], "event_type": None}}, "data.event_type"),
        (webhook() | {"data": {**webhook()["data"], "event_type": 7}}, "data.event_type"),
        (webhook(event_id=""), "data.id"),
        (webhook(occurred_at=None), "data.occurred_at"),
        (webhook(occurred_at="yesterday"), "data.occurred_at"),
        (webhook() | {"data": {**webhook()["data"], "payload": None}}, "data.payload"),
        (webhook(drop=("call_control_id",)), "data.payload.call_control_id"),
        (webhook(call_control_id=12), "data.payload.call_control_id"),
        (webhook(drop=("hangup_cause",)), "data.payload.hangup_cause"),
        (webhook("call.initiated", drop=("direction",)), "data.payload.direction"),
        (webhook(**NUMERIC_FROM), "data.payload.from"),
        (webhook(connection_id="999"), "data.payload.connection_id"),
        (webhook(client=7), "data.payload.client_state"),
        (
            webhook(client=base64.b64encode(b'{"dg": 1, "call_id": "7"}').decode()),
            "data.payload.client_state",
        ),
        (
            webhook(client=base64.b64encode(b'{"dg": 1, "leg": "boss"}').decode()),
            "data.payload.client_state",
        ),
    ],
)
def test_malformed_names_the_field(document: Any, field: str) -> None:
    with pytest.raises(MalformedWebhook) as exc:
        parse(document)
    assert exc.value.field == field


def test_body_that_is_not_json_is_malformed() -> None:
    for raw in (b"CallSid=CA1&CallStatus=completed", b"\xff\xfe{", b""):
        with pytest.raises(MalformedWebhook) as exc:
            parse(None, raw=raw)
        assert exc.value.field == "body"


def test_client_state_round_trips() -> None:
    for state in (CUSTOMER_STATE, AGENT_STATE, ClientState(leg=LegRole.CUSTOMER, then="route")):
        assert ClientState.decode(state.encode()) == state
    assert ClientState.decode(None) is None and ClientState.decode("") is None


# --- commands ---------------------------------------------------------------------------------


def _state(command: originate.Command, key: str) -> ClientState:
    decoded = ClientState.decode(command.body[key])
    assert decoded is not None
    return decoded


BRIDGE = VoiceInstructions(forward_to="+919876543210", caller_id="+918047180000")


def test_agent_answer_transfers_to_the_customer() -> None:
    answered = one(webhook("call.answered", client=AGENT_STATE, call_control_id=AGENT_LEG))
    (command,) = originate.plan(answered, BRIDGE)
    assert (command.call_control_id, command.action) == (AGENT_LEG, "transfer")
    assert command.body["to"] == "+919876543210"
    assert command.body["from"] == "+918047180000"
    assert command.body["webhook_url"] == HOOK
    assert command.body["timeout_secs"] == 25
    assert command.body["command_id"] == "dialgate-0ccc7b54-4df3-4bca-a65a-3da1ecc777f0"
    assert _state(command, "target_leg_client_state") == CUSTOMER_STATE
    # A duplicate delivery is not applied again, so no instructions, so no second transfer.
    assert originate.plan(answered, None) == []


def test_inbound_call_is_answered_then_routed() -> None:
    incoming = one(webhook("call.initiated", client=None, direction="incoming"))
    forward = VoiceInstructions(forward_to="+919000012345", caller_id="+918047180000")
    routing = ClientState(leg=LegRole.CUSTOMER, then="route")
    for voice in (forward, VoiceInstructions(message="Call back later.")):
        (answer,) = originate.plan(incoming, voice)
        assert (answer.call_control_id, answer.action) == (CUSTOMER_LEG, "answer")
        assert _state(answer, "client_state") == routing
    assert originate.plan(incoming, None) == []

    answered = one(webhook("call.answered", client=routing))
    assert answered.kind == "voice"  # asks again: the agent may have changed meanwhile
    (transfer,) = originate.plan(answered, forward)
    assert transfer.action == "transfer"
    assert (transfer.body["to"], transfer.body["from"]) == ("+919000012345", "+918047180000")
    assert "webhook_url" not in transfer.body  # the Call Control App's URL
    assert _state(transfer, "target_leg_client_state") == ClientState(
        leg=LegRole.AGENT, parent=CUSTOMER_LEG
    )
    assert _state(transfer, "client_state") == ClientState(leg=LegRole.CUSTOMER)
    # A duplicate delivery gets no instructions, so never a second transfer.
    assert originate.plan(answered, None) == []

    (speak,) = originate.plan(answered, VoiceInstructions(message="Call back later."))
    assert speak.action == "speak"
    assert (speak.body["payload"], speak.body["voice"]) == ("Call back later.", "female")
    assert _state(speak, "client_state") == ClientState(leg=LegRole.CUSTOMER, then="hangup")

    ended = one(webhook("call.speak.ended", client=_state(speak, "client_state")))
    (hangup,) = originate.plan(ended, None)
    assert (hangup.call_control_id, hangup.action) == (CUSTOMER_LEG, "hangup")


def test_a_transferred_leg_ending_hangs_up_its_parent() -> None:
    busy = one(webhook(hangup_cause="user_busy"))
    (hangup,) = originate.plan(busy, None)
    assert (hangup.call_control_id, hangup.action) == (AGENT_LEG, "hangup")
    assert originate.plan(one(webhook(client=AGENT_STATE)), None) == []
    for quiet in (
        webhook("call.initiated"),
        webhook("call.bridged"),
        webhook("call.answered"),
        webhook(client=None),
    ):
        assert originate.plan(one(quiet), BRIDGE) == []


def test_ring_timeout_is_clamped_to_telnyx_bounds() -> None:
    assert [originate.ring_timeout(s) for s in (0, 5, 30, 600, 9000)] == [5, 5, 30, 600, 600]


def test_api_errors_keep_telnyx_code_and_pointer() -> None:
    exc = originate._error(
        422,
        {
            "errors": [
                {
                    "code": "10004",
                    "title": "Missing required parameter",
                    "detail": "The 'to' parameter is required.",
                    "source": {"pointer": "/to"},
                }
            ]
        },
    )
    assert (exc.status, exc.code) == (422, "10004")
    assert exc.message == "Missing required parameter: The 'to' parameter is required. (/to)"
    assert originate._error(502, "<html>").message == "Telnyx answered 502"


def test_reply_is_an_empty_200() -> None:
    reply = TelnyxCarrier().reply(hook(webhook()), VoiceInstructions(forward_to="+1"))
    assert (reply.status, reply.body) == (200, "")
