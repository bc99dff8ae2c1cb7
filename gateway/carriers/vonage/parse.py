"""Vonage answer and event webhooks (JSON bodies, or query strings for GET) into call events.

Fields per https://developer.vonage.com/en/voice/voice-api/webhook-reference: every leg has its
own `uuid`, and the legs of one call share a `conversation_uuid`; Dialgate keys a call by its
conversation (the event's parent id) and a leg by its uuid. Which leg of a click-to-call an
event is about comes from the `leg` parameter of the URL we gave Vonage for that leg.
"""

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from gateway.carriers.base import CallEvent, InboundWebhook, MalformedWebhook
from gateway.carriers.common import local_call_id
from gateway.carriers.vonage import const
from gateway.models import CallOutcome, CallStatus, Direction, LegRole

Payload = dict[str, Any]


def payload_of(hook: InboundWebhook) -> Payload:
    """The webhook's fields: the JSON body of a POST, the query of a GET (less our own)."""
    if hook.method == "GET":
        return {k: v for k, v in hook.query.items() if k not in const.OUR_PARAMS}
    try:
        payload = json.loads(hook.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedWebhook("body must be JSON", field="body") from exc
    if not isinstance(payload, dict):
        raise MalformedWebhook("body must be a JSON object", field="body")
    return payload


def _str(payload: Payload, name: str, *, required: bool = False) -> str | None:
    value = payload.get(name)
    if value is None or value == "":
        if required:
            raise MalformedWebhook(f"{name} is required", field=name)
        return None
    if not isinstance(value, str):
        raise MalformedWebhook(f"{name} must be a string", field=name)
    return value


def _seconds(payload: Payload, name: str) -> int | None:
    """Vonage sends durations as strings ("2") in webhooks and call records; numbers too."""
    value = payload.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise MalformedWebhook(f"{name} must be a whole number of seconds", field=name)


def _timestamp(payload: Payload, name: str) -> datetime | None:
    raw = _str(payload, name)
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise MalformedWebhook(f"{name} must be ISO 8601", field=name) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def number(value: str | None) -> str | None:
    """Vonage writes phone numbers as E.164 digits without `+`; Dialgate keeps the `+`.

    SIP URIs, app users and the like are kept as they are.
    """
    if value and value.isdigit():
        return "+" + value
    return value


def _leg(hook: InboundWebhook) -> LegRole | None:
    value = hook.query.get(const.LEG_PARAM)
    if value is None:
        return None
    try:
        return LegRole(value)
    except ValueError as exc:
        raise MalformedWebhook("leg must be agent or customer", field=const.LEG_PARAM) from exc


def map_status(
    carrier_status: str, direction: Direction | None
) -> tuple[CallStatus | None, CallOutcome | None]:
    """Dialgate's status for a Vonage state (None: not a call state we know)."""
    if carrier_status == "started" and direction == Direction.INBOUND:
        # An inbound leg starts ringing us: the caller waits for an answer.
        return CallStatus.RINGING, None
    return const.STATUS_MAP.get(carrier_status, (None, None))


def _status_less_kind(payload: Payload) -> str:
    """Record, input, transfer and error events carry no `status`: their fields tell."""
    if "recording_url" in payload or "recording_uuid" in payload:
        return const.RECORD
    if "dtmf" in payload or "speech" in payload:
        return const.INPUT
    if "conversation_uuid_from" in payload or "conversation_uuid_to" in payload:
        return const.TRANSFER
    if "reason" in payload:
        return const.ERROR
    raise MalformedWebhook("status is required", field="status")


def _body_digest(hook: InboundWebhook) -> str:
    return hashlib.sha256(hook.body or hook.url.encode()).hexdigest()[:16]


def parse(hook: InboundWebhook) -> list[CallEvent]:
    payload = payload_of(hook)
    if hook.kind == const.ANSWER:
        return [_answer(hook, payload)]
    return [_event(hook, payload)]


def _answer(hook: InboundWebhook, payload: Payload) -> CallEvent:
    """The answer webhook: a leg was answered and Vonage asks for its NCCO.

    Our click-to-call answer URLs name the leg; the application's own answer URL (with no leg)
    is what Vonage fetches for calls to our numbers, i.e. inbound calls.
    """
    uuid = _str(payload, "uuid", required=True)
    conversation = _str(payload, "conversation_uuid", required=True)
    assert uuid is not None and conversation is not None
    leg = _leg(hook)
    direction = Direction.OUTBOUND if leg is not None else Direction.INBOUND
    status = CallStatus.IN_PROGRESS if direction == Direction.OUTBOUND else CallStatus.RINGING
    return CallEvent(
        carrier_call_id=uuid,
        # Vonage fetches the answer URL again when our reply was lost; each fetch needs its
        # NCCO, so each is applied (a second one is merely stale), never dropped as a duplicate.
        dedupe_key=f"{uuid}:{const.ANSWER}:{hook.received_at:.6f}",
        kind=const.ANSWER,
        carrier_status=const.ANSWER_WEBHOOK_STATUS,
        status=status,
        parent_call_id=conversation,
        leg=leg,
        direction=direction,
        from_number=number(_str(payload, "from")),
        to_number=number(_str(payload, "to")),
        local_call_id=local_call_id(hook),
        raw=payload,
    )


def _event(hook: InboundWebhook, payload: Payload) -> CallEvent:
    carrier_status = _str(payload, "status") or _status_less_kind(payload)
    direction_raw = _str(payload, "direction")
    direction = const.DIRECTION_MAP.get(direction_raw or "")
    # Machine detection's events name the leg `call_uuid`, not `uuid`.
    uuid = _str(payload, "uuid") or _str(payload, "call_uuid")
    conversation = _str(payload, "conversation_uuid") or _str(payload, "conversation_uuid_from")
    if conversation is None:
        raise MalformedWebhook("conversation_uuid is required", field="conversation_uuid")
    status, outcome = map_status(carrier_status, direction)
    recording_url = None
    if carrier_status == const.RECORD:
        recording_url = _str(payload, "recording_url", required=True)
        recording = _str(payload, "recording_uuid") or _body_digest(hook)
        dedupe = f"{conversation}:{const.RECORD}:{recording}"
    elif carrier_status in (const.INPUT, const.TRANSFER, const.ERROR):
        dedupe = f"{uuid or conversation}:{carrier_status}:{_body_digest(hook)}"
    else:
        if uuid is None:
            raise MalformedWebhook("uuid is required", field="uuid")
        # Each state happens once per leg: a retry or duplicate has the same key.
        dedupe = f"{uuid}:{carrier_status}"
    return CallEvent(
        carrier_call_id=uuid or conversation,
        dedupe_key=dedupe,
        kind="recording" if carrier_status == const.RECORD else const.EVENT,
        carrier_status=carrier_status,
        status=status,
        outcome=outcome,
        parent_call_id=conversation,
        leg=_leg(hook),
        direction=direction,
        from_number=number(_str(payload, "from")),
        to_number=number(_str(payload, "to")),
        occurred_at=_timestamp(payload, "timestamp"),
        duration_s=_seconds(payload, "duration"),
        recording_url=recording_url,
        local_call_id=local_call_id(hook),
        raw=payload,
    )
