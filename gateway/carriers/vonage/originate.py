"""Vonage's Voice REST API: application JWTs, creating calls, reading call records back.

Wire format per https://developer.vonage.com/en/api/voice (create call, get call(s)); the
official Python SDK (vonage-voice) is blocking, so requests go through the shared aiohttp
session; the tests' stand-in holds our bodies to the API reference.
"""

import functools
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import aiohttp
import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from gateway.carriers.base import (
    CallEvent,
    CarrierAPIError,
    OriginateRequest,
    OriginateResult,
    SmsRequest,
    SmsResult,
)
from gateway.carriers.vonage import const
from gateway.carriers.vonage.parse import map_status, number
from gateway.models import Direction, LegRole


@functools.lru_cache(maxsize=32)
def signing_key(private_key: str) -> RSAPrivateKey:
    """The application's key, loaded once: loading and checking an RSA key costs about 150 ms
    here, signing with a loaded one about 5 ms."""
    key = load_pem_private_key(private_key.encode(), password=None)
    if not isinstance(key, RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key


def application_jwt(
    application_id: str,
    private_key: str,
    *,
    now: float | None = None,
    jti: str | None = None,
    ttl_s: int = const.APPLICATION_JWT_TTL_S,
) -> str:
    """The RS256 JWT that authenticates REST calls, with vonage-jwt's claims and lifetime."""
    issued = int(time.time() if now is None else now)
    claims = {
        "application_id": application_id,
        "iat": issued,
        "jti": jti or str(uuid.uuid4()),
        "exp": issued + ttl_s,
    }
    return jwt.encode(claims, signing_key(private_key), algorithm="RS256", headers={"typ": "JWT"})


def digits(e164: str) -> str:
    """Vonage's phone numbers are E.164 digits without `+` (pattern `\\d{7,15}`)."""
    return e164.lstrip("+")


def with_leg(url: str, leg: LegRole) -> str:
    """`url` with our `leg` parameter set (the rest of its query kept in order)."""
    parts = urlsplit(url)
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != const.LEG_PARAM
    ]
    query.append((const.LEG_PARAM, leg.value))
    return urlunsplit(parts._replace(query=urlencode(query)))


def sibling_url(url: str, kind: str) -> str:
    """Another webhook kind of the same account, keeping `call_id` (our callback URLs)."""
    parts = urlsplit(url)
    path = parts.path.rsplit("/", 1)[0] + "/" + kind
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k == "call_id"]
    return urlunsplit(parts._replace(path=path, query=urlencode(query)))


def create_call_body(request: OriginateRequest) -> dict[str, Any]:
    """Ring the agent; when they answer, Vonage fetches our answer URL for the NCCO that
    connects the customer (see the adapter's `reply`).

    The callbacks are our `answer`/`event` URLs naming the leg rather than the request's
    generic status callback: Vonage's events carry no parent leg, only the conversation.
    """
    ringing = min(max(request.timeout_s, const.RINGING_TIMER_MIN_S), const.RINGING_TIMER_MAX_S)
    return {
        "to": [{"type": "phone", "number": digits(request.agent_number)}],
        "from": {"type": "phone", "number": digits(request.caller_id)},
        # POST: the answer webhook then has a JSON body that the JWT's payload_hash covers.
        "answer_url": [with_leg(request.webhook_url(const.ANSWER), LegRole.AGENT)],
        "answer_method": "POST",
        "event_url": [with_leg(request.webhook_url(const.EVENT), LegRole.AGENT)],
        "event_method": "POST",
        "ringing_timer": ringing,
    }


def api_base(credentials: Mapping[str, Any]) -> str:
    return str(credentials.get("api_base_url") or const.DEFAULT_API_BASE_URL)


def _headers(credentials: Mapping[str, Any]) -> dict[str, str]:
    try:
        token = application_jwt(credentials["application_id"], credentials["private_key"])
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise CarrierAPIError("the account's private_key cannot sign", code="private_key") from exc
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


def api_error(status: int, data: Any) -> CarrierAPIError:
    """Vonage's errors are RFC 7807-like: `type` (a docs URL ending in #code), `title`,
    `detail`, and for validation `invalid_parameters` [{name, reason}]."""
    body = data if isinstance(data, dict) else {}
    code = str(body.get("type") or "").rsplit("#", 1)[-1] or None
    parts = [str(body[k]) for k in ("title", "detail") if body.get(k)]
    for item in body.get("invalid_parameters") or []:
        if isinstance(item, dict):
            parts.append(f"{item.get('name')}: {item.get('reason')}")
    message = "; ".join(parts) or f"Vonage answered {status}"
    return CarrierAPIError(message, status=status, code=code)


async def _read_json(resp: aiohttp.ClientResponse) -> Any:
    text = await resp.text()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


async def _post(
    http: aiohttp.ClientSession,
    credentials: Mapping[str, Any],
    path: str,
    body: Mapping[str, Any],
    expected: int,
    *,
    timeout_s: float,
) -> Any:
    """POST with the application's JWT; the JSON answer once the status is `expected`."""
    try:
        async with http.post(
            f"{api_base(credentials)}{path}",
            json=body,
            headers=_headers(credentials),
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as resp:
            data = await _read_json(resp)
            if resp.status != expected:
                raise api_error(resp.status, data)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise CarrierAPIError(f"Vonage unreachable: {exc!r}") from exc
    return data


async def originate(
    http: aiohttp.ClientSession,
    credentials: Mapping[str, Any],
    request: OriginateRequest,
    *,
    timeout_s: float,
) -> OriginateResult:
    data = await _post(
        http, credentials, "/v1/calls", create_call_body(request), 201, timeout_s=timeout_s
    )
    if not isinstance(data, dict) or not data.get("conversation_uuid") or not data.get("uuid"):
        raise CarrierAPIError("Vonage's create-call answer has no uuid", status=201)
    # The call is its conversation: both legs' events carry its conversation_uuid.
    return OriginateResult(
        carrier_call_id=str(data["conversation_uuid"]), carrier_status=data.get("status")
    )


async def fetch_status(
    http: aiohttp.ClientSession,
    credentials: Mapping[str, Any],
    carrier_call_id: str,
    *,
    timeout_s: float,
) -> CallEvent | None:
    """The call as Vonage records it: a conversation's customer leg, or one leg by uuid."""
    by_conversation = carrier_call_id.startswith("CON-")
    if by_conversation:
        url = f"{api_base(credentials)}/v1/calls"
        params = {"conversation_uuid": carrier_call_id, "order": "asc", "page_size": "100"}
    else:
        url, params = f"{api_base(credentials)}/v1/calls/{carrier_call_id}", {}
    try:
        async with http.get(
            url,
            params=params,
            headers=_headers(credentials),
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as resp:
            data = await _read_json(resp)
            if resp.status == 404:
                return None
            if resp.status != 200:
                raise api_error(resp.status, data)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise CarrierAPIError(f"Vonage unreachable: {exc!r}") from exc
    if not isinstance(data, dict):
        raise CarrierAPIError("Vonage's call record is not an object", status=200)
    if not by_conversation:
        return _reconcile(data, parent=None, leg=None)
    calls = [c for c in (data.get("_embedded") or {}).get("calls") or [] if isinstance(c, dict)]
    if not calls:
        return None
    inbound = [c for c in calls if c.get("direction") == "inbound"]
    if inbound:
        # A call to our number: the caller's leg is the customer's.
        return _reconcile(inbound[0], parent=carrier_call_id, leg=LegRole.CUSTOMER)
    # A click-to-call: the agent's leg is created first, the customer's by the NCCO after.
    if len(calls) == 1:
        return _reconcile(calls[0], parent=carrier_call_id, leg=LegRole.AGENT)
    return _reconcile(calls[-1], parent=carrier_call_id, leg=LegRole.CUSTOMER)


async def hangup(
    http: aiohttp.ClientSession,
    credentials: Mapping[str, Any],
    carrier_call_id: str,
    *,
    timeout_s: float,
) -> None:
    """End every leg of the call still up: `PUT /v1/calls/{uuid}` `{"action": "hangup"}` (204).

    Our call id is the conversation; its legs are read from the call records first. Each leg
    then reports `completed` (or how it ended) to its event URL.
    https://developer.vonage.com/en/api/voice#updateCall
    """
    if carrier_call_id.startswith("CON-"):
        listed = await _get_json(
            http,
            f"{api_base(credentials)}/v1/calls",
            credentials,
            params={"conversation_uuid": carrier_call_id, "order": "asc", "page_size": "100"},
            timeout_s=timeout_s,
        )
        records = ((listed or {}).get("_embedded") or {}).get("calls") or []
        legs = [
            str(r["uuid"])
            for r in records
            if isinstance(r, dict) and r.get("uuid") and r.get("status") not in const.TERMINAL
        ]
    else:
        legs = [carrier_call_id]
    if not legs:
        raise CarrierAPIError("the call has already ended", status=409)
    for done, leg in enumerate(legs):
        try:
            await _hang_up_leg(http, credentials, leg, timeout_s=timeout_s)
        except CarrierAPIError as exc:
            # Hanging up one leg may end the conversation's other legs before their turn.
            if done and exc.status is not None and 400 <= exc.status < 500:
                continue
            raise


async def _hang_up_leg(
    http: aiohttp.ClientSession, credentials: Mapping[str, Any], leg: str, *, timeout_s: float
) -> None:
    try:
        async with http.put(
            f"{api_base(credentials)}/v1/calls/{quote(leg, safe='')}",
            json={"action": "hangup"},
            headers=_headers(credentials),
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as resp:
            if not 200 <= resp.status < 300:
                raise api_error(resp.status, await _read_json(resp))
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise CarrierAPIError(f"Vonage unreachable: {exc!r}") from exc


async def _get_json(
    http: aiohttp.ClientSession,
    url: str,
    credentials: Mapping[str, Any],
    *,
    params: Mapping[str, str],
    timeout_s: float,
) -> dict[str, Any] | None:
    """A GET's JSON object; None for a 404."""
    try:
        async with http.get(
            url,
            params=params,
            headers=_headers(credentials),
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as resp:
            data = await _read_json(resp)
            if resp.status == 404:
                return None
            if resp.status != 200:
                raise api_error(resp.status, data)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise CarrierAPIError(f"Vonage unreachable: {exc!r}") from exc
    if not isinstance(data, dict):
        raise CarrierAPIError("Vonage's call records are not an object", status=200)
    return data


def _endpoint_number(endpoint: Any) -> str | None:
    if isinstance(endpoint, dict):
        value = endpoint.get("number") or endpoint.get("uri") or endpoint.get("user")
        return number(str(value)) if value else None
    return None


def _reconcile(record: dict[str, Any], *, parent: str | None, leg: LegRole | None) -> CallEvent:
    leg_id = str(record.get("uuid") or "")
    carrier_status = str(record.get("status") or "")
    direction = const.DIRECTION_MAP.get(str(record.get("direction") or ""))
    status, outcome = map_status(carrier_status, direction)
    duration = str(record.get("duration") or "")
    return CallEvent(
        carrier_call_id=leg_id,
        dedupe_key=f"{leg_id}:reconcile:{carrier_status}",
        kind="reconcile",
        carrier_status=carrier_status or None,
        status=status,
        outcome=outcome,
        parent_call_id=parent,
        leg=leg,
        direction=direction or Direction.OUTBOUND,
        from_number=_endpoint_number(record.get("from")),
        to_number=_endpoint_number(record.get("to")),
        duration_s=int(duration) if duration.isdigit() else None,
        raw={k: v for k, v in record.items() if k != "_links"},
    )


async def send_sms(
    http: aiohttp.ClientSession,
    credentials: Mapping[str, Any],
    message: SmsRequest,
    *,
    timeout_s: float,
) -> SmsResult:
    """The Messages API: `POST /v1/messages` {message_type: text, channel: sms, to, from,
    text} with the application's JWT, answered 202 `{"message_uuid"}`.

    https://developer.vonage.com/en/api/messages (numbers are digits without the `+`; the
    application needs the Messages capability).
    """
    body = {
        "message_type": "text",
        "channel": "sms",
        "to": digits(message.to_number),
        "from": digits(message.from_number),
        "text": message.text,
    }
    data = await _post(http, credentials, "/v1/messages", body, 202, timeout_s=timeout_s)
    if not isinstance(data, dict) or not isinstance(data.get("message_uuid"), str):
        raise CarrierAPIError("Vonage's answer has no message_uuid", status=202)
    return SmsResult(carrier_message_id=data["message_uuid"], carrier_status="submitted")
