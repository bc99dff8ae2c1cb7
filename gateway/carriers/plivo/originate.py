"""Plivo's Voice REST API over the shared aiohttp session: place calls, read them back.

The official SDK is synchronous (requests); these are the same requests it sends
(plivo-python `plivo/rest/client.py`, `plivo/resources/calls.py`): HTTP Basic auth with
the Auth ID and token, JSON bodies, `{"api_id": ..., "error": ...}` on failure.
"""

import base64
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp

from gateway.carriers.base import (
    CallEvent,
    CarrierAPIError,
    OriginateRequest,
    OriginateResult,
    SmsRequest,
    SmsResult,
)
from gateway.carriers.plivo.const import (
    ANSWER,
    CANCELED_HANGUP_CODES,
    DEFAULT_API_BASE_URL,
    FAILED_HANGUP_CODES,
    HANGUP,
    RING,
    STATUS_MAP,
)
from gateway.carriers.plivo.parse import plivo_number
from gateway.models import CallOutcome, CallStatus


def without_plus(e164: str) -> str:
    """Plivo's documented number format: E.164 digits without the `+` (e.g. 14157654321)."""
    return e164[1:] if e164.startswith("+") else e164


def account_url(credentials: Mapping[str, Any]) -> str:
    base = credentials.get("api_base_url") or DEFAULT_API_BASE_URL
    return f"{base}/v1/Account/{credentials['auth_id']}"


def call_body(request: OriginateRequest) -> dict[str, Any]:
    """The Make Call request for the agent leg; the answer URL's XML then dials the customer.

    https://www.plivo.com/docs/voice/api/call/make-a-call
    """
    return {
        "from": without_plus(request.caller_id),
        "to": without_plus(request.agent_number),
        "answer_url": request.webhook_url(ANSWER),
        "answer_method": "POST",
        "ring_url": request.webhook_url(RING),
        "ring_method": "POST",
        "hangup_url": request.webhook_url(HANGUP),
        "hangup_method": "POST",
        "ring_timeout": request.timeout_s,
    }


async def _call_api(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    credentials: Mapping[str, Any],
    *,
    timeout_s: float,
    body: Mapping[str, Any] | None = None,
    params: Mapping[str, str] | None = None,
    missing_ok: bool = False,
) -> dict[str, Any] | None:
    try:
        async with http.request(
            method,
            url,
            json=body,
            params=params,
            headers={"Authorization": _basic_auth(credentials)},
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as resp:
            if resp.status == 404 and missing_ok:
                return None
            text = await resp.text()
            status = resp.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise CarrierAPIError(f"Plivo unreachable: {exc.__class__.__name__}") from exc
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        data = None
    if not 200 <= status < 300:
        raise CarrierAPIError(_error_message(data, status), status=status)
    if not isinstance(data, dict):
        raise CarrierAPIError("Plivo answered with a body that is not a JSON object", status=status)
    return data


def _basic_auth(credentials: Mapping[str, Any]) -> str:
    pair = f"{credentials['auth_id']}:{credentials['auth_token']}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def _error_message(data: Any, status: int) -> str:
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, str) and error:
        return error
    if isinstance(error, dict) and error:
        return "; ".join(f"{k}: {v}" for k, v in error.items())
    return f"Plivo answered HTTP {status}"


async def originate(
    http: aiohttp.ClientSession,
    credentials: Mapping[str, Any],
    request: OriginateRequest,
    *,
    timeout_s: float,
) -> OriginateResult:
    data = await _call_api(
        http,
        "POST",
        f"{account_url(credentials)}/Call/",
        credentials,
        body=call_body(request),
        timeout_s=timeout_s,
    )
    assert data is not None
    request_uuid = data.get("request_uuid")
    if not isinstance(request_uuid, str) or not request_uuid:
        raise CarrierAPIError("Plivo's answer has no request_uuid", status=201)
    # For a single destination the request_uuid is the call's CallUUID (the SDK maintainers in
    # plivo/plivo-python#44; the V3 vectors of plivo-go's utils_test.go carry equal values),
    # so callbacks name the call by the id stored here.
    return OriginateResult(carrier_call_id=request_uuid, carrier_status=data.get("message"))


async def hangup(
    http: aiohttp.ClientSession,
    credentials: Mapping[str, Any],
    call_uuid: str,
    *,
    timeout_s: float,
) -> None:
    """End the call (its B leg goes with it); Plivo answers 204, then sends the hangup callbacks.

    The same request cancels a call still queued at Plivo; a call that is over is a 404.
    https://www.plivo.com/docs/voice/api/call/hangup-a-call
    """
    if not call_uuid:
        # Without a CallUUID the same request would disconnect every call of the account.
        raise CarrierAPIError("no Plivo CallUUID to hang up", status=400)
    await _call_api(
        http,
        "DELETE",
        f"{account_url(credentials)}/Call/{quote(call_uuid, safe='')}/",
        credentials,
        timeout_s=timeout_s,
    )


async def fetch_status(
    http: aiohttp.ClientSession,
    credentials: Mapping[str, Any],
    call_uuid: str,
    *,
    timeout_s: float,
) -> CallEvent | None:
    """The call as Plivo has it: live state while up, else the record of its B leg (if any)."""
    base = account_url(credentials)
    live = await _call_api(
        http,
        "GET",
        f"{base}/Call/{call_uuid}/",
        credentials,
        params={"status": "live"},
        timeout_s=timeout_s,
        missing_ok=True,
    )
    if live is not None:
        return _live_event(call_uuid, live)
    children = await _call_api(
        http,
        "GET",
        f"{base}/Call/",
        credentials,
        params={"parent_call_uuid": call_uuid, "limit": "1"},
        timeout_s=timeout_s,
    )
    objects = (children or {}).get("objects") or []
    if objects and isinstance(objects[0], dict):
        return _record_event(objects[0], parent=call_uuid)
    record = await _call_api(
        http, "GET", f"{base}/Call/{call_uuid}/", credentials, timeout_s=timeout_s, missing_ok=True
    )
    return _record_event(record, parent=None) if record is not None else None


def _live_event(call_uuid: str, live: Mapping[str, Any]) -> CallEvent:
    """https://www.plivo.com/docs/voice/api/call/retrieve-a-live-call: `call_status`."""
    carrier_status = str(live.get("call_status") or "")
    status, outcome = STATUS_MAP.get(carrier_status, (None, None))
    return CallEvent(
        carrier_call_id=call_uuid,
        dedupe_key=f"{call_uuid}:reconcile:{carrier_status}",
        kind="reconcile",
        carrier_status=carrier_status or None,
        status=status,
        outcome=outcome,
        from_number=plivo_number(live.get("from")),
        to_number=plivo_number(live.get("to")),
        raw=dict(live),
    )


def _record_event(record: Mapping[str, Any], *, parent: str | None) -> CallEvent:
    """A finished call's record (the Call object) has no status, only how it ended.

    https://www.plivo.com/docs/voice/api/call/the-call-object
    """
    leg = str(record.get("call_uuid") or "")
    code = record.get("hangup_cause_code")
    duration = record.get("call_duration")
    answered = bool(record.get("answer_time")) or bool(record.get("bill_duration"))
    status: CallStatus | None = CallStatus.COMPLETED
    outcome: CallOutcome | None = None
    if answered:
        outcome = CallOutcome.COMPLETED
    elif code in CANCELED_HANGUP_CODES:
        outcome = CallOutcome.CANCELED
    elif isinstance(code, int) and code in FAILED_HANGUP_CODES:
        outcome = CallOutcome.FAILED
    else:
        status = None  # unanswered for a reason the record does not spell out
    return CallEvent(
        carrier_call_id=leg,
        dedupe_key=f"{leg}:reconcile:{code}",
        kind="reconcile",
        carrier_status=str(record.get("hangup_cause_name") or "ended")[:64],
        status=status,
        outcome=outcome,
        parent_call_id=parent or record.get("parent_call_uuid") or None,
        from_number=plivo_number(record.get("from_number")),
        to_number=plivo_number(record.get("to_number")),
        duration_s=duration if isinstance(duration, int) and answered else None,
        raw=dict(record),
    )


async def send_sms(
    http: aiohttp.ClientSession,
    credentials: Mapping[str, Any],
    message: SmsRequest,
    *,
    timeout_s: float,
) -> SmsResult:
    """`POST /v1/Account/{auth_id}/Message/` {src, dst, text}: 202 with `message_uuid` (a list).

    https://www.plivo.com/docs/messaging/api/message/send-a-message (plivo-python
    `resources/messages.py` sends the same JSON body).
    """
    data = await _call_api(
        http,
        "POST",
        f"{account_url(credentials)}/Message/",
        credentials,
        body={
            "src": without_plus(message.from_number),
            "dst": without_plus(message.to_number),
            "text": message.text,
            "type": "sms",
        },
        timeout_s=timeout_s,
    )
    assert data is not None
    uuids = data.get("message_uuid")
    if not isinstance(uuids, list) or not uuids or not isinstance(uuids[0], str):
        raise CarrierAPIError("Plivo's answer has no message_uuid", status=202)
    return SmsResult(carrier_message_id=uuids[0], carrier_status=data.get("message"))
