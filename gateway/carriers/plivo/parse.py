"""Plivo callbacks (form-encoded, or the query of a GET) into normalized call events.

Which leg a request speaks for:

* answer / ring / hangup describe the call named by `CallUUID`: the agent leg Dialgate placed
  through the Make Call API, or an inbound caller's call;
* dial (the `<Dial callbackUrl>`) and action (the `<Dial action>`) describe the dialled B leg,
  `DialBLegUUID`, a child of `DialALegUUID`.

Plivo's `StartTime`/`AnswerTime`/`EndTime` are in the account's console time zone with no
offset (a hangup captured in public code reads `StartTime=2024-09-26 14:05:08` beside
`SessionStart=2024-09-26 08:35:10.910772` UTC), so no event carries `occurred_at`: the
gateway stamps arrival time instead of guessing a zone.
"""

from collections.abc import Mapping

from gateway.carriers.base import CallEvent, InboundWebhook, MalformedWebhook
from gateway.carriers.common import first, form_params, local_call_id, optional_int, required
from gateway.carriers.plivo.const import (
    ACTION,
    DIAL,
    DIAL_ACTION_MAP,
    DIRECTION_MAP,
    HANGUP,
    HANGUP_CAUSE_OUTCOMES,
    STATUS_MAP,
)
from gateway.models import CallOutcome, CallStatus

Params = Mapping[str, list[str]]


def parse(hook: InboundWebhook) -> list[CallEvent]:
    params = form_params(hook)
    if hook.kind == DIAL:
        return [_dial_event(hook, params)]
    if hook.kind == ACTION:
        return [_action_event(hook, params)]
    return [_call_event(hook, params)]


def plivo_number(value: str | None) -> str | None:
    """E.164 from Plivo's numbers, which carry the country code without the `+`."""
    if not value:
        return None
    return "+" + value if value.isdigit() else value


def _seconds(params: Params, name: str) -> int | None:
    value = optional_int(params, name)
    if value is not None and value < 0:
        raise MalformedWebhook(f"{name} must not be negative", field=name)
    return value


def _a_leg(params: Params) -> str:
    """The A leg of a Dial: `DialALegUUID`, which equals the request's own `CallUUID`."""
    value = first(params, "DialALegUUID") or first(params, "CallUUID")
    if not value:
        raise MalformedWebhook("DialALegUUID is required", field="DialALegUUID")
    return value


def _call_event(hook: InboundWebhook, params: Params) -> CallEvent:
    call_uuid = required(params, "CallUUID")
    carrier_status = required(params, "CallStatus")
    status, outcome = STATUS_MAP.get(carrier_status, (None, None))
    duration = _seconds(params, "Duration")
    _seconds(params, "BillDuration")
    if (
        hook.kind == HANGUP
        and carrier_status == "completed"
        and "AnswerTime" in params
        and not first(params, "AnswerTime")
    ):
        # Inbound calls always hang up "completed"; one never answered was missed.
        outcome = CallOutcome.NO_ANSWER
    return CallEvent(
        carrier_call_id=call_uuid,
        dedupe_key=f"{call_uuid}:{hook.kind}",
        kind=hook.kind,
        carrier_status=carrier_status,
        status=status,
        outcome=outcome,
        direction=DIRECTION_MAP.get(first(params, "Direction") or ""),
        from_number=plivo_number(first(params, "From")),
        to_number=plivo_number(first(params, "To")),
        duration_s=duration if hook.kind == HANGUP else None,
        local_call_id=local_call_id(hook),
        raw=_flat(params),
    )


def _dial_event(hook: InboundWebhook, params: Params) -> CallEvent:
    action = required(params, "DialAction")
    a_leg = _a_leg(params)
    b_leg = required(params, "DialBLegUUID")
    duration = _seconds(params, "DialBLegDuration")
    _seconds(params, "DialBLegBillDuration")
    status: CallStatus | None = DIAL_ACTION_MAP.get(action)
    outcome: CallOutcome | None = None
    if status == CallStatus.COMPLETED:
        outcome = _hangup_outcome(duration, first(params, "DialBLegHangupCause"))
        if outcome is None:
            # Neither talked nor a cause we can read: the Dial action's DialStatus decides.
            status = None
    return CallEvent(
        carrier_call_id=b_leg,
        dedupe_key=f"{b_leg}:dial:{action}",
        kind=hook.kind,
        carrier_status=action,
        status=status,
        outcome=outcome,
        parent_call_id=a_leg,
        from_number=plivo_number(first(params, "DialBLegFrom")),
        to_number=plivo_number(first(params, "DialBLegTo")),
        duration_s=duration if status == CallStatus.COMPLETED else None,
        local_call_id=local_call_id(hook),
        raw=_flat(params),
    )


def _hangup_outcome(duration: int | None, cause: str | None) -> CallOutcome | None:
    if duration:
        return CallOutcome.COMPLETED
    return HANGUP_CAUSE_OUTCOMES.get((cause or "").upper())


def _action_event(hook: InboundWebhook, params: Params) -> CallEvent:
    dial_status = required(params, "DialStatus")
    a_leg = _a_leg(params)
    # "DialBLegUUID: CallUUID of the B leg. Empty if nobody answers." The unanswered leg is
    # then named after its A leg's Dial, so it can never be mistaken for the A leg itself.
    b_leg = first(params, "DialBLegUUID") or f"{a_leg}:dial"
    status, outcome = STATUS_MAP.get(dial_status, (None, None))
    return CallEvent(
        carrier_call_id=b_leg,
        dedupe_key=f"{a_leg}:action",
        kind=hook.kind,
        carrier_status=dial_status,
        status=status,
        outcome=outcome,
        parent_call_id=a_leg,
        local_call_id=local_call_id(hook),
        raw=_flat(params),
    )


def _flat(params: Params) -> dict[str, str | list[str]]:
    return {k: v[0] if len(v) == 1 else list(v) for k, v in params.items()}
