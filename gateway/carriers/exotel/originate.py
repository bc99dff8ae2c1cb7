"""Exotel's REST API: "connect two numbers" click-to-call and the Call details API.

Wire format from https://developer.exotel.com/docs/voice-v1/api-reference/connect-two-numbers
and .../call-details: HTTP Basic auth (API key : API token), form-encoded parameters, `.json`
appended to the resource for a JSON answer, errors as `{"RestException": {"Status", "Code",
"Message"}}` (the XML form wraps the same elements in `<TwilioResponse>`).
"""

import base64
import json
import time
import xml.etree.ElementTree as ET
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
from gateway.carriers.exotel import signature
from gateway.carriers.exotel.const import (
    CALLBACK_TOKEN_TTL_S,
    DEFAULT_API_HOST,
    STATUS_CALLBACK_CONTENT_TYPE,
    STATUS_CALLBACK_EVENTS,
    STATUS_MAP,
    TIME_LIMIT_S,
)
from gateway.models import LegRole


def api_base(credentials: Mapping[str, Any]) -> str:
    base = credentials.get("api_base_url")
    if base:
        return str(base).rstrip("/")
    return f"https://{credentials.get('subdomain') or DEFAULT_API_HOST}"


def account_url(credentials: Mapping[str, Any]) -> str:
    return f"{api_base(credentials)}/v1/Accounts/{quote(credentials['account_sid'], safe='')}"


def _authorization(credentials: Mapping[str, Any]) -> str:
    """HTTP Basic credentials (aiohttp's `auth=` is deprecated in its current releases)."""
    pair = f"{credentials['api_key']}:{credentials['api_token']}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def connect_form(
    credentials: Mapping[str, Any], request: OriginateRequest, *, now: float
) -> list[tuple[str, str]]:
    """The form of `POST /Calls/connect`: ring the agent (`From`) first, then the lead (`To`)."""
    callback = signature.signed_callback_url(
        credentials["callback_secrets"][0],
        request.status_callback_url,
        expires_at=int(now) + CALLBACK_TOKEN_TTL_S,
    )
    form = [
        ("From", request.agent_number),
        ("To", request.customer_number),
        ("CallerId", request.caller_id),
        ("CallType", "trans"),
        ("TimeLimit", str(TIME_LIMIT_S)),
        # Ring timeout, for each of the two legs.
        ("TimeOut", str(request.timeout_s)),
        ("StatusCallback", callback),
    ]
    # Exotel reads an array parameter as indexed keys (frappe/crm sends these exact names).
    form += [(f"StatusCallbackEvents[{i}]", e) for i, e in enumerate(STATUS_CALLBACK_EVENTS)]
    form.append(("StatusCallbackContentType", STATUS_CALLBACK_CONTENT_TYPE))
    return form


async def _send(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    credentials: Mapping[str, Any],
    *,
    timeout_s: float,
    data: list[tuple[str, str]] | None = None,
) -> tuple[int, dict[str, Any]]:
    """Status and decoded body (`{}` when there is none); network trouble is CarrierAPIError."""
    try:
        async with http.request(
            method,
            url,
            data=data,
            headers={"Accept": "application/json", "Authorization": _authorization(credentials)},
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            allow_redirects=False,
        ) as resp:
            text = await resp.text()
            return resp.status, _decode(text, resp.content_type)
    except (aiohttp.ClientError, TimeoutError) as exc:
        # The exception's text would not name the credentials, but keep it short anyway.
        raise CarrierAPIError(f"Exotel unreachable: {type(exc).__name__}") from exc


def _decode(text: str, content_type: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    if "xml" in content_type or text.lstrip().startswith("<"):
        return _xml_to_dict(text)
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _xml_to_dict(text: str) -> dict[str, Any]:
    """`<TwilioResponse><Call><Sid>..</Sid>..</Call></TwilioResponse>` as `{"Call": {...}}`."""
    try:
        # The body comes from the account's configured API host over TLS.
        root = ET.fromstring(text)  # noqa: S314
    except ET.ParseError:
        return {}
    return {
        child.tag: {leaf.tag: leaf.text for leaf in child} if len(child) else child.text
        for child in root
    }


def _error(status: int, body: Mapping[str, Any], fallback: str) -> CarrierAPIError:
    exc = body.get("RestException")
    exc = exc if isinstance(exc, dict) else {}
    code = exc.get("Code")
    return CarrierAPIError(
        str(exc.get("Message") or fallback),
        status=status,
        code=None if code in (None, "") else str(code),
    )


async def originate(
    http: aiohttp.ClientSession,
    credentials: Mapping[str, Any],
    request: OriginateRequest,
    *,
    timeout_s: float,
    now: float | None = None,
) -> OriginateResult:
    form = connect_form(credentials, request, now=time.time() if now is None else now)
    sid, carrier_status = await _create(
        http, credentials, "/Calls/connect.json", form, "Call", timeout_s=timeout_s
    )
    return OriginateResult(carrier_call_id=sid, carrier_status=carrier_status)


async def _create(
    http: aiohttp.ClientSession,
    credentials: Mapping[str, Any],
    path: str,
    form: list[tuple[str, str]],
    resource: str,
    *,
    timeout_s: float,
) -> tuple[str, str | None]:
    """POST a form; the `Sid` and `Status` of the `{resource: {...}}` Exotel answers with."""
    status, body = await _send(
        http,
        "POST",
        f"{account_url(credentials)}{path}",
        credentials,
        timeout_s=timeout_s,
        data=form,
    )
    if not 200 <= status < 300:
        raise _error(status, body, f"Exotel answered {status}")
    created = body.get(resource)
    sid = created.get("Sid") if isinstance(created, dict) else None
    if not isinstance(sid, str) or not sid:
        raise CarrierAPIError(f"Exotel's answer has no {resource}.Sid", status=status)
    carrier_status = created.get("Status") if isinstance(created, dict) else None
    return sid, carrier_status if isinstance(carrier_status, str) else None


async def fetch_status(
    http: aiohttp.ClientSession,
    credentials: Mapping[str, Any],
    call_sid: str,
    *,
    timeout_s: float,
) -> CallEvent | None:
    """The call as Exotel's Call details API has it: the customer leg (`Leg2Status`) when dialed."""
    status, body = await _send(
        http,
        "GET",
        f"{account_url(credentials)}/Calls/{quote(call_sid, safe='')}.json?details=true",
        credentials,
        timeout_s=timeout_s,
    )
    if status == 404:
        return None
    if status != 200:
        raise _error(status, body, f"Exotel answered {status}")
    call = body.get("Call")
    if not isinstance(call, dict):
        return None
    raw_details = call.get("Details")
    details: dict[str, Any] = raw_details if isinstance(raw_details, dict) else {}
    customer = details.get("Leg2Status")
    if isinstance(customer, str) and customer not in ("", "null"):
        role, carrier_status = LegRole.CUSTOMER, customer
        duration = _int_or_none(details.get("ConversationDuration"))
    else:
        agent = details.get("Leg1Status")
        role = LegRole.AGENT
        carrier_status = agent if isinstance(agent, str) and agent else str(call.get("Status"))
        duration = None
    mapped, outcome = STATUS_MAP.get(carrier_status, (None, None))
    return CallEvent(
        carrier_call_id=call_sid,
        dedupe_key=f"{call_sid}:reconcile:{role}:{carrier_status}",
        kind="reconcile",
        carrier_status=carrier_status,
        status=mapped,
        outcome=outcome,
        leg=role,
        to_number=call.get("To") if role == LegRole.CUSTOMER else call.get("From"),
        from_number=call.get("PhoneNumberSid"),
        duration_s=duration,
        recording_url=call.get("RecordingUrl") or None,
        raw=call,
    )


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


async def send_sms(
    http: aiohttp.ClientSession,
    credentials: Mapping[str, Any],
    message: SmsRequest,
    *,
    timeout_s: float,
) -> SmsResult:
    """`POST /v1/Accounts/{sid}/Sms/send.json` (From, To, Body): `{"SMSMessage": {Sid, ...}}`.

    https://developer.exotel.com/docs/sms-api/api-reference/send-sms. Texts to Indian numbers
    need the account's DLT entity id (TRAI rules), and the Body must match a DLT-approved
    template: the account's `sms_dlt_entity_id` / `sms_dlt_template_id` are sent when set.
    """
    form = [("From", message.from_number), ("To", message.to_number), ("Body", message.text)]
    for name, field in (
        ("DltEntityId", "sms_dlt_entity_id"),
        ("DltTemplateId", "sms_dlt_template_id"),
    ):
        if credentials.get(field):
            form.append((name, str(credentials[field])))
    sid, carrier_status = await _create(
        http, credentials, "/Sms/send.json", form, "SMSMessage", timeout_s=timeout_s
    )
    return SmsResult(carrier_message_id=sid, carrier_status=carrier_status)
