"""Outbound calls through the sandbox carrier's REST API (`POST /v1/calls`)."""

from collections.abc import Mapping
from typing import Any

import aiohttp

from gateway.carriers.base import CarrierAPIError, OriginateRequest, OriginateResult


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
    try:
        async with http.post(
            f"{api_url}/v1/calls",
            json=body,
            headers={"Authorization": f"Bearer {credentials['api_key']}"},
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as resp:
            data = await resp.json(content_type=None)
            if resp.status != 201:
                error = data.get("error", {}) if isinstance(data, dict) else {}
                raise CarrierAPIError(
                    error.get("message", f"sandbox answered {resp.status}"),
                    status=resp.status,
                    code=error.get("code"),
                )
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise CarrierAPIError(f"sandbox unreachable: {exc!r}") from exc
    return OriginateResult(carrier_call_id=data["call_id"], carrier_status=data.get("status"))
