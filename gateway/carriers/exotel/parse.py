"""Exotel webhooks (StatusCallback in JSON or form encoding, Passthru queries) into call events."""

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from email import policy
from email.message import Message
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qs

from gateway.carriers.base import CallEvent, InboundWebhook, MalformedWebhook
from gateway.carriers.common import local_call_id
from gateway.carriers.exotel.const import (
    CALL_ATTEMPT_AT_HANGUP,
    CALL_TYPE_MAP,
    DIRECTION_MAP,
    INCOMPLETE_OUTCOMES,
    STATUS_MAP,
)
from gateway.carriers.exotel.signature import TOKEN_PARAM
from gateway.models import CallOutcome, CallStatus, Direction, LegRole

# Form encodings flatten the Legs array into `Legs[0][Status]`, `Legs[1][OnCallDuration]`, ...
# (the keys frappe/crm's ExotelCallUI.vue reads).
_LEG_KEY = re.compile(r"Legs\[([0-9]{1,2})\]\[([A-Za-z]+)\]")
MAX_LEGS = 10
LOCAL_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# Exotel's legs, in the order it dials them: `From` (our agent) first, then `To` (the lead).
LEG_ROLES = (LegRole.AGENT, LegRole.CUSTOMER)


def parse(hook: InboundWebhook, *, time_zone: tzinfo) -> list[CallEvent]:
    if hook.kind == "status":
        fields, legs = status_payload(hook)
        return status_events(hook, fields, legs, time_zone)
    return [flow_event(hook, time_zone)]


# --- reading the payload -----------------------------------------------------------------


def status_payload(hook: InboundWebhook) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Top-level fields and the Legs array, whichever content type Exotel chose.

    We ask for `StatusCallbackContentType=application/json`; multipart/form-data (the other
    documented choice) and URL-encoded forms are read too, since accounts and retries may differ.
    """
    content_type = (hook.header("content-type") or "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            payload = json.loads(hook.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedWebhook("body must be JSON", field="body") from exc
        if not isinstance(payload, dict):
            raise MalformedWebhook("body must be a JSON object", field="body")
        legs = payload.get("Legs")
        if legs is None:
            return payload, []
        if not isinstance(legs, list) or not all(isinstance(leg, dict) for leg in legs):
            raise MalformedWebhook("Legs must be a list of objects", field="Legs")
        return payload, legs
    if content_type == "multipart/form-data":
        flat = _multipart_fields(hook)
    else:
        try:
            text = hook.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedWebhook("body is not UTF-8", field="body") from exc
        flat = {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}
    return _unflatten(flat)


def _multipart_fields(hook: InboundWebhook) -> dict[str, str]:
    header = (hook.header("content-type") or "").encode("latin-1", "replace")
    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + header + b"\r\n\r\n" + hook.body
    )
    if not message.is_multipart():
        raise MalformedWebhook("multipart body without parts", field="body")
    fields: dict[str, str] = {}
    parts: list[Message] = message.get_payload()  # type: ignore[assignment]
    for part in parts:
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            raise MalformedWebhook("multipart part without a name", field="body")
        try:
            fields.setdefault(name, payload.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise MalformedWebhook(f"{name} is not UTF-8", field=name) from exc
    return fields


def _unflatten(flat: Mapping[str, str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    fields: dict[str, Any] = {}
    legs: dict[int, dict[str, Any]] = {}
    for key, value in flat.items():
        match = _LEG_KEY.fullmatch(key)
        if match is None:
            fields[key] = value
            continue
        index = int(match.group(1))
        if index >= MAX_LEGS:
            raise MalformedWebhook(f"{key}: too many legs", field=key)
        legs.setdefault(index, {})[match.group(2)] = value
    ordered = [legs.get(i, {}) for i in range(max(legs) + 1)] if legs else []
    return fields, ordered


def _text(payload: Mapping[str, Any], name: str, *, label: str | None = None) -> str | None:
    value = payload.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MalformedWebhook(f"{label or name} must be a string", field=label or name)
    return str(value)


def _required(payload: Mapping[str, Any], name: str) -> str:
    value = _text(payload, name)
    if value is None:
        raise MalformedWebhook(f"{name} is required", field=name)
    return value


def _seconds(payload: Mapping[str, Any], name: str, *, label: str | None = None) -> int | None:
    value = payload.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise MalformedWebhook(
        f"{label or name} must be a whole number of seconds", field=label or name
    )


def local_time(value: str | None, time_zone: tzinfo, field: str) -> datetime | None:
    """Exotel's `YYYY-MM-DD HH:mm:ss`, in the account's time zone (it sends none), as UTC."""
    if not value:
        return None
    try:
        parsed = datetime.strptime(value, LOCAL_TIME_FORMAT)
    except ValueError as exc:
        raise MalformedWebhook(f"{field} must be YYYY-MM-DD HH:mm:ss", field=field) from exc
    return parsed.replace(tzinfo=time_zone).astimezone(UTC)


def _leg_status(leg: Mapping[str, Any], index: int) -> str | None:
    """A leg's status; None when it has none yet ("", JSON null, or the documented "null")."""
    value = _text(leg, "Status", label=f"Legs[{index}][Status]")
    return None if value in (None, "null") else value


# --- StatusCallback --------------------------------------------------------------------------


def status_events(
    hook: InboundWebhook,
    fields: Mapping[str, Any],
    legs: list[dict[str, Any]],
    time_zone: tzinfo,
) -> list[CallEvent]:
    """One event per leg the callback speaks of: the customer's first, then the agent's.

    The customer leg goes first because it decides the call's outcome; the agent leg only
    ends the call itself when the customer was never reached (webhooks/apply.py).
    """
    call_sid = _required(fields, "CallSid")
    status = _required(fields, "Status")
    # Without StatusCallbackEvents Exotel sends the default payload: only the terminal one.
    event_type = _text(fields, "EventType") or "terminal"
    direction = DIRECTION_MAP.get(_text(fields, "Direction") or "")
    common: dict[str, Any] = {
        "carrier_call_id": call_sid,
        "kind": hook.kind,
        "direction": direction,
        "occurred_at": local_time(_text(fields, "DateUpdated"), time_zone, "DateUpdated"),
        "local_call_id": local_call_id(hook),
        "raw": dict(fields) | ({"Legs": legs} if legs else {}),
    }
    recording_url = _text(fields, "RecordingUrl")
    exophone = _text(fields, "PhoneNumberSid")
    agent_number, customer_number = _text(fields, "From"), _text(fields, "To")
    conversation_s = _seconds(fields, "ConversationDuration")

    def event(
        role: LegRole | None, carrier_status: str, duration: int | None, *, known: bool = True
    ) -> CallEvent:
        mapped, outcome = STATUS_MAP.get(carrier_status, (None, None)) if known else (None, None)
        index = "-" if role is None else LEG_ROLES.index(role)
        return CallEvent(
            dedupe_key=f"{call_sid}:{event_type}:{index}:{carrier_status}",
            carrier_status=carrier_status,
            status=mapped,
            outcome=outcome,
            leg=role,
            from_number=exophone,
            to_number=agent_number if role == LegRole.AGENT else customer_number,
            duration_s=duration,
            recording_url=recording_url if mapped == CallStatus.COMPLETED else None,
            **common,
        )

    if event_type not in ("terminal", "answered"):
        return [event(None, status, None, known=False)]
    if not legs:
        # The default payload has no legs: it speaks of the call as a whole.
        return [event(None, status, conversation_s)]
    agent_leg = legs[0]
    customer_leg = legs[1] if len(legs) > 1 else {}
    agent_status = _leg_status(agent_leg, 0)
    customer_status = _leg_status(customer_leg, 1)
    agent_s = _seconds(agent_leg, "OnCallDuration", label="Legs[0][OnCallDuration]")
    customer_s = _seconds(customer_leg, "OnCallDuration", label="Legs[1][OnCallDuration]")
    events: list[CallEvent] = []
    if event_type == "answered":
        # `answered` fires when the agent picks up (the customer's leg has no status yet: it
        # is being dialed) and again when the customer does (`in-progress`) [frappe/crm UI].
        events.append(event(LegRole.CUSTOMER, customer_status or "ringing", None))
        events.append(event(LegRole.AGENT, agent_status or "in-progress", None))
        return events
    if customer_status is not None:
        duration = conversation_s if conversation_s is not None else customer_s
        events.append(event(LegRole.CUSTOMER, customer_status, duration))
    elif agent_status == "completed":
        # The agent answered but the customer leg was never attempted: end it, or a leg seen
        # ringing on the `answered` event would keep the call open for ever.
        events.append(event(LegRole.CUSTOMER, "null", None))
    # A customer leg was dialed only after the agent answered: without a leg status of its own,
    # the agent's leg then ended normally; otherwise the call's status is the agent's.
    fallback = "completed" if customer_status is not None else status
    events.append(event(LegRole.AGENT, agent_status or fallback, agent_s))
    return events


# --- inbound flows: Passthru, Connect "Dial whom", the closing Passthru -----------------------


def flow_event(hook: InboundWebhook, time_zone: tzinfo) -> CallEvent:
    """An inbound flow's request (query parameters of support articles 48283 and 3000088074)."""
    if hook.method == "GET":
        params = {k: v for k, v in hook.query.items() if k != TOKEN_PARAM}
    else:
        fields, _ = status_payload(hook)
        params = {k: str(v) for k, v in fields.items() if k != TOKEN_PARAM}
    call_sid = _required(params, "CallSid")
    call_type = _text(params, "CallType")
    dial_status = _text(params, "DialCallStatus")
    status: CallStatus | None
    outcome: CallOutcome | None
    if call_type is not None:
        carrier_status = call_type
        status, outcome = CALL_TYPE_MAP.get(call_type, (None, None))
        if call_type == "call-attempt" and hook.kind == "hangup":
            status, outcome = CALL_ATTEMPT_AT_HANGUP
        elif call_type == "incomplete" and dial_status in INCOMPLETE_OUTCOMES:
            outcome = INCOMPLETE_OUTCOMES[dial_status]
    else:
        # Some applets (Connect's dynamic URL) may send CallStatus instead of CallType.
        call_status = _text(params, "CallStatus")
        if call_status is None:
            raise MalformedWebhook("CallType (or CallStatus) is required", field="CallType")
        carrier_status = call_status
        status, outcome = STATUS_MAP.get(carrier_status, (None, None))
    direction = DIRECTION_MAP.get(_text(params, "Direction") or "", Direction.INBOUND)
    terminal = status == CallStatus.COMPLETED
    return CallEvent(
        carrier_call_id=call_sid,
        dedupe_key=f"{call_sid}:{hook.kind}:{carrier_status}:{dial_status or ''}",
        kind=hook.kind,
        carrier_status=carrier_status,
        status=status,
        outcome=outcome,
        direction=direction,
        from_number=_text(params, "CallFrom") or _text(params, "From"),
        to_number=_text(params, "CallTo") or _text(params, "To"),
        occurred_at=local_time(_text(params, "CurrentTime"), time_zone, "CurrentTime"),
        # DialCallDuration counts from dialing the agent, ring time included (support article
        # 3000088074): the best Passthru offers; the Call details API has the exact talk time.
        duration_s=_seconds(params, "DialCallDuration") if terminal else None,
        recording_url=_text(params, "RecordingUrl") if terminal else None,
        local_call_id=None,
        raw=params,
    )
