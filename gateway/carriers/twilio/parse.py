"""Twilio webhook payloads (form-encoded) into normalized call events."""

from collections.abc import Mapping

from gateway.carriers.base import CallEvent, InboundWebhook, MalformedWebhook
from gateway.carriers.common import (
    first,
    form_params,
    local_call_id,
    optional_int,
    required,
    rfc2822,
)
from gateway.carriers.twilio.const import DIRECTION_MAP, STATUS_MAP


def check(hook: InboundWebhook, *, account_sid: str) -> None:
    """What `parse` rejects, in the order it finds it, without building the event (every
    callback is checked before it is answered; a test holds the two to the same verdicts)."""
    params = _params(hook, account_sid)
    if hook.kind == "recording":
        for name in ("CallSid", "RecordingSid", "RecordingStatus"):
            required(params, name)
    else:
        required(params, "CallSid")
        required(params, "CallStatus")
        optional_int(params, "SequenceNumber")
        rfc2822(first(params, "Timestamp"), "Timestamp")
        optional_int(params, "CallDuration")
    local_call_id(hook)


def _params(hook: InboundWebhook, account_sid: str) -> Mapping[str, list[str]]:
    params = form_params(hook)
    sid = first(params, "AccountSid")
    if sid is not None and sid != account_sid:
        raise MalformedWebhook("AccountSid does not belong to this account", field="AccountSid")
    return params


def parse(hook: InboundWebhook, *, account_sid: str) -> list[CallEvent]:
    params = _params(hook, account_sid)
    if hook.kind == "recording":
        return [_recording_event(hook, params)]
    call_sid = required(params, "CallSid")
    carrier_status = required(params, "CallStatus")
    status, outcome = STATUS_MAP.get(carrier_status, (None, None))
    sequence = optional_int(params, "SequenceNumber")
    if hook.kind == "voice":
        dedupe = f"{call_sid}:voice"
    elif sequence is not None:
        dedupe = f"{call_sid}:seq:{sequence}"
    else:
        dedupe = f"{call_sid}:{hook.kind}:{carrier_status}"
    direction = first(params, "Direction")
    return [
        CallEvent(
            carrier_call_id=call_sid,
            dedupe_key=dedupe,
            kind=hook.kind,
            carrier_status=carrier_status,
            status=status,
            outcome=outcome,
            parent_call_id=first(params, "ParentCallSid") or None,
            direction=DIRECTION_MAP.get(direction or ""),
            from_number=first(params, "From"),
            to_number=first(params, "To"),
            occurred_at=rfc2822(first(params, "Timestamp"), "Timestamp"),
            duration_s=optional_int(params, "CallDuration"),
            recording_url=first(params, "RecordingUrl"),
            local_call_id=local_call_id(hook),
            raw=_flat(params),
        )
    ]


def _recording_event(hook: InboundWebhook, params: Mapping[str, list[str]]) -> CallEvent:
    call_sid = required(params, "CallSid")
    recording_sid = required(params, "RecordingSid")
    rec_status = required(params, "RecordingStatus")
    return CallEvent(
        carrier_call_id=call_sid,
        dedupe_key=f"{call_sid}:rec:{recording_sid}:{rec_status}",
        kind="recording",
        carrier_status=f"recording-{rec_status}",
        status=None,
        recording_url=first(params, "RecordingUrl") if rec_status == "completed" else None,
        duration_s=None,
        local_call_id=local_call_id(hook),
        raw=_flat(params),
    )


def _flat(params: Mapping[str, list[str]]) -> dict[str, str | list[str]]:
    return {k: v[0] if len(v) == 1 else list(v) for k, v in params.items()}
