"""Sandbox webhook payloads (JSON) into normalized call events."""

import json
from datetime import UTC, datetime
from typing import Any

from gateway.carriers.base import CallEvent, InboundWebhook, MalformedWebhook
from gateway.carriers.common import local_call_id
from gateway.carriers.sandbox.const import DIRECTION_MAP, STATUS_MAP


def _str(payload: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = payload.get(name)
    if value is None or value == "":
        if required:
            raise MalformedWebhook(f"{name} is required", field=name)
        return None
    if not isinstance(value, str):
        raise MalformedWebhook(f"{name} must be a string", field=name)
    return value


def _int(payload: dict[str, Any], name: str) -> int | None:
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MalformedWebhook(f"{name} must be a non-negative integer", field=name)
    return value


def parse(hook: InboundWebhook) -> list[CallEvent]:
    try:
        payload = json.loads(hook.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedWebhook("body must be JSON", field="body") from exc
    if not isinstance(payload, dict):
        raise MalformedWebhook("body must be a JSON object", field="body")
    call_id = _str(payload, "call_id", required=True)
    carrier_status = _str(payload, "status", required=True)
    assert call_id is not None
    sequence = _int(payload, "sequence")
    status, outcome = STATUS_MAP.get(carrier_status or "", (None, None))
    occurred_raw = _str(payload, "timestamp")
    occurred_at = None
    if occurred_raw is not None:
        try:
            occurred_at = datetime.fromisoformat(occurred_raw).astimezone(UTC)
        except ValueError as exc:
            raise MalformedWebhook("timestamp must be ISO 8601", field="timestamp") from exc
    direction = _str(payload, "direction")
    if hook.kind == "voice":
        dedupe = f"{call_id}:voice"
    elif sequence is not None:
        dedupe = f"{call_id}:seq:{sequence}"
    else:
        dedupe = f"{call_id}:{carrier_status}"
    return [
        CallEvent(
            carrier_call_id=call_id,
            dedupe_key=dedupe,
            kind=hook.kind,
            carrier_status=carrier_status,
            status=status,
            outcome=outcome,
            parent_call_id=_str(payload, "parent_call_id"),
            direction=DIRECTION_MAP.get(direction or ""),
            from_number=_str(payload, "from"),
            to_number=_str(payload, "to"),
            occurred_at=occurred_at,
            duration_s=_int(payload, "duration"),
            local_call_id=local_call_id(hook),
            raw=payload,
        )
    ]
