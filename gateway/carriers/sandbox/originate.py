"""The sandbox carrier's REST API: place calls (`POST /v1/calls`), read them back."""

from collections.abc import Mapping
from typing import Any

import aiohttp

from gateway.carriers.base import (
    CallEvent,
    CarrierAPIError,
    OriginateRequest,
    OriginateResult,
    SmsRequest,
    SmsResult,
)
from gateway.carriers.sandbox.const import STATUS_MAP


async def originate(
    http: aiohttp.ClientSession,
    api_url: str,
    credentials: Mapping[str, Any],
    request: OriginateRequest,
    *,
    timeout_s: float,
) -> OriginateResult:
    body = {
        "from": request.caller_id,
        "to": request.agent_number,
        "connect_to": request.customer_number,
        "status_callback": request.status_callback_url,
        "connect_status_callback": request.customer_status_callback_url,
        "timeout": request.timeout_s,
        "chaos": credentials.get("chaos") or {},
    }
    data = await _create(http, f"{api_url}/v1/calls", credentials, body, timeout_s=timeout_s)
    return OriginateResult(carrier_call_id=data["call_id"], carrier_status=data.get("status"))


async def _create(
    http: aiohttp.ClientSession,
    url: str,
    credentials: Mapping[str, Any],
    body: Mapping[str, Any],
    *,
    timeout_s: float,
) -> dict[str, Any]:
    """POST a new resource; its JSON once the sandbox answers 201."""
    try:
        async with http.post(
            url,
            json=body,
            headers={"Authorization": f"Bearer {credentials['api_key']}"},
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as resp:
            data = await resp.json(content_type=None)
            status = resp.status
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise CarrierAPIError(f"sandbox unreachable: {exc!r}") from exc
    if status != 201 or not isinstance(data, dict):
        error = data.get("error", {}) if isinstance(data, dict) else {}
        raise CarrierAPIError(
            error.get("message", f"sandbox answered {status}"),
            status=status,
            code=error.get("code"),
        )
    return data


async def fetch_status(
    http: aiohttp.ClientSession,
    api_url: str,
    credentials: Mapping[str, Any],
    carrier_call_id: str,
    *,
    timeout_s: float,
) -> CallEvent | None:
    """The call as the carrier last saw it: its customer leg when there is one."""
    try:
        async with http.get(
            f"{api_url}/v1/calls/{carrier_call_id}",
            headers={"Authorization": f"Bearer {credentials['api_key']}"},
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as resp:
            if resp.status == 404:
                return None
            if resp.status != 200:
                raise CarrierAPIError(f"sandbox answered {resp.status}", status=resp.status)
            data = await resp.json()
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise CarrierAPIError(f"sandbox unreachable: {exc!r}") from exc
    legs: dict[str, dict[str, Any]] = data.get("legs", {})
    if not legs:
        return None
    children = [(k, v) for k, v in legs.items() if v.get("parent_call_id")]
    leg_id, leg = children[0] if children else (carrier_call_id, legs.get(carrier_call_id, {}))
    carrier_status = leg.get("status")
    status, outcome = STATUS_MAP.get(carrier_status or "", (None, None))
    return CallEvent(
        carrier_call_id=leg_id,
        dedupe_key=f"{leg_id}:reconcile:{carrier_status}",
        kind="reconcile",
        carrier_status=carrier_status,
        status=status,
        outcome=outcome,
        parent_call_id=leg.get("parent_call_id"),
        to_number=leg.get("to"),
        duration_s=leg.get("duration"),
        raw=data,
    )


async def hangup(
    http: aiohttp.ClientSession,
    api_url: str,
    credentials: Mapping[str, Any],
    carrier_call_id: str,
    *,
    timeout_s: float,
) -> None:
    try:
        async with http.post(
            f"{api_url}/v1/calls/{carrier_call_id}/hangup",
            headers={"Authorization": f"Bearer {credentials['api_key']}"},
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as resp:
            if resp.status == 202:
                return
            data = await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise CarrierAPIError(f"sandbox unreachable: {exc!r}") from exc
    error = data.get("error", {}) if isinstance(data, dict) else {}
    raise CarrierAPIError(
        error.get("message", f"sandbox answered {resp.status}"),
        status=resp.status,
        code=error.get("code"),
    )


async def send_sms(
    http: aiohttp.ClientSession,
    api_url: str,
    credentials: Mapping[str, Any],
    message: SmsRequest,
    *,
    timeout_s: float,
) -> SmsResult:
    """`POST /v1/messages` {from, to, text}: 201 {message_id, status}."""
    body = {"from": message.from_number, "to": message.to_number, "text": message.text}
    data = await _create(http, f"{api_url}/v1/messages", credentials, body, timeout_s=timeout_s)
    return SmsResult(carrier_message_id=str(data["message_id"]), carrier_status=data.get("status"))
