"""Telnyx Call Control webhooks (JSON `{"data": {...}}` envelopes) into normalized call events.

Telnyx echoes a command's `client_state` in every later webhook of the leg, and signs it with
the body. Dialgate keeps its own facts there (`ClientState`): our call id, which leg this is,
and the next step the adapter takes on this leg. Webhooks carry no call id in a signed URL.
"""

import base64
import binascii
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.carriers.base import CallEvent, InboundWebhook, MalformedWebhook
from gateway.carriers.telnyx import const
from gateway.models import LegRole

# Marks a client_state as Dialgate's (another application on the same account may set its own).
STATE_MARKER = "dg"
STATE_VERSION = 1
# Events that move a call, plus those that carry a step of ours; the rest (playback, DTMF,
# recordings, costs, machine detection...) are not call progress and are ignored.
HANDLED_EVENTS = frozenset(
    {const.INITIATED, const.ANSWERED, const.BRIDGED, const.HANGUP, const.SPEAK_ENDED}
)
THEN_ROUTE = "route"
THEN_HANGUP = "hangup"


@dataclass(frozen=True)
class ClientState:
    """Dialgate's facts about one leg, carried by Telnyx in `client_state` (base64 JSON)."""

    call_id: int | None = None
    leg: LegRole | None = None
    # The call_control_id of the leg this one was transferred from.
    parent: str | None = None
    # On the agent leg of a click-to-call: where the customer leg's webhooks go, and how long
    # to ring the customer; it asks for the bridge once the agent answers.
    customer_hook: str | None = None
    ring_s: int | None = None
    # The adapter's next step on this leg: `route` (an inbound call we answered: transfer it
    # to its agent or speak a message, once answered), `hangup` (when the speech ends).
    then: str | None = None

    def encode(self) -> str:
        fields = {k: v for k, v in asdict(self).items() if v is not None}
        if self.leg is not None:
            fields["leg"] = str(self.leg)
        fields[STATE_MARKER] = STATE_VERSION
        text = json.dumps(fields, separators=(",", ":"), sort_keys=True)
        return base64.b64encode(text.encode()).decode("ascii")

    @classmethod
    def decode(cls, value: object) -> "ClientState | None":
        """Our state, or None for no state or someone else's; ours but broken is malformed."""
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise _malformed("client_state must be a string", "client_state")
        try:
            decoded = json.loads(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            return None
        if not isinstance(decoded, dict) or decoded.get(STATE_MARKER) != STATE_VERSION:
            return None
        try:
            return cls._from_fields(decoded)
        except (TypeError, ValueError) as exc:
            raise _malformed(f"client_state is not Dialgate's: {exc}", "client_state") from exc

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> "ClientState":
        call_id = fields.get("call_id")
        if call_id is not None and (not isinstance(call_id, int) or isinstance(call_id, bool)):
            raise TypeError("call_id must be an integer")
        ring_s = fields.get("ring_s")
        if ring_s is not None and (not isinstance(ring_s, int) or isinstance(ring_s, bool)):
            raise TypeError("ring_s must be an integer")
        texts: dict[str, str | None] = {}
        for name in ("parent", "customer_hook", "then"):
            value = fields.get(name)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} must be a string")
            texts[name] = value
        leg = fields.get("leg")
        return cls(
            call_id=call_id,
            leg=LegRole(leg) if leg is not None else None,
            ring_s=ring_s,
            **texts,
        )


def _malformed(message: str, name: str) -> MalformedWebhook:
    return MalformedWebhook(message, field=f"data.payload.{name}")


def _text(obj: dict[str, Any], name: str, path: str, *, required: bool = False) -> str | None:
    value = obj.get(name)
    if value is None or value == "":
        if required:
            raise MalformedWebhook(f"{path} is required", field=path)
        return None
    if not isinstance(value, str):
        raise MalformedWebhook(f"{path} must be a string", field=path)
    return value


def _object(obj: dict[str, Any], name: str, path: str) -> dict[str, Any]:
    value = obj.get(name)
    if not isinstance(value, dict):
        raise MalformedWebhook(f"{path} must be a JSON object", field=path)
    return value


def _timestamp(value: str, path: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise MalformedWebhook(f"{path} is not an ISO 8601 time", field=path) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def envelope(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedWebhook("body must be JSON", field="body") from exc
    if not isinstance(document, dict):
        raise MalformedWebhook("body must be a JSON object", field="body")
    return document


def parse(hook: InboundWebhook, *, connection_id: str) -> list[CallEvent]:
    return parse_document(envelope(hook.body), connection_id=connection_id)


def parse_document(document: dict[str, Any], *, connection_id: str) -> list[CallEvent]:
    """Normalize one webhook document (a request's body, or an event from Telnyx's records)."""
    data = _object(document, "data", "data")
    event_type = _text(data, "event_type", "data.event_type", required=True)
    assert event_type is not None
    if event_type not in HANDLED_EVENTS:
        return []
    event_id = _text(data, "id", "data.id", required=True)
    occurred = _text(data, "occurred_at", "data.occurred_at", required=True)
    assert event_id is not None and occurred is not None
    occurred_at = _timestamp(occurred, "data.occurred_at")
    payload = _object(data, "payload", "data.payload")
    call_control_id = _text(
        payload, "call_control_id", "data.payload.call_control_id", required=True
    )
    assert call_control_id is not None
    connection = _text(payload, "connection_id", "data.payload.connection_id")
    if connection is not None and connection != connection_id:
        raise MalformedWebhook(
            "connection_id is not this account's Call Control App",
            field="data.payload.connection_id",
        )
    state = ClientState.decode(payload.get("client_state"))
    if event_type == const.SPEAK_ENDED and (state is None or state.then != THEN_HANGUP):
        return []
    direction = None
    if event_type == const.INITIATED:
        direction = _text(payload, "direction", "data.payload.direction", required=True)
        carrier_status = f"{event_type}:{direction}"
    elif event_type == const.HANGUP:
        cause = _text(payload, "hangup_cause", "data.payload.hangup_cause", required=True)
        carrier_status = f"{event_type}:{cause}"
    else:
        carrier_status = event_type
    status, outcome = const.STATUS_MAP.get(carrier_status, (None, None))
    # Events that ask Dialgate what to do with the call: an inbound call arriving (to answer
    # it), then answered (to transfer or speak), and the agent answering a click-to-call (to
    # dial the customer). Instructions are computed only the first time an event is applied,
    # so a duplicate delivery never repeats a transfer.
    asks = (event_type == const.INITIATED and direction == "incoming") or (
        event_type == const.ANSWERED
        and state is not None
        and (state.customer_hook is not None or state.then == THEN_ROUTE)
    )
    return [
        CallEvent(
            carrier_call_id=call_control_id,
            dedupe_key=event_id,
            kind="voice" if asks else "status",
            carrier_status=carrier_status,
            status=status,
            outcome=outcome,
            parent_call_id=state.parent if state else None,
            leg=state.leg if state else None,
            direction=const.DIRECTION_MAP.get(direction or ""),
            from_number=_text(payload, "from", "data.payload.from"),
            to_number=_text(payload, "to", "data.payload.to"),
            occurred_at=occurred_at,
            # Telnyx reports no duration: the state machine takes answer → hangup times.
            duration_s=None,
            local_call_id=state.call_id if state else None,
            raw=document,
        )
    ]


def event_parts(event: CallEvent) -> tuple[str, ClientState | None]:
    """(event type, our client state) of an event this module produced."""
    data = event.raw.get("data", {})
    payload = data.get("payload", {})
    return str(data.get("event_type", "")), ClientState.decode(payload.get("client_state"))
