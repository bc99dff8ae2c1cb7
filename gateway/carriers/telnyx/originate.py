"""Telnyx's Call Control REST API: dial, the commands that drive a call, and call status.

Wire format: https://developers.telnyx.com/api-reference/call-commands/dial (JSON, Bearer API
key), commands at `POST /v2/calls/{call_control_id}/actions/{action}`, errors as
`{"errors": [{"code", "title", "detail", "source": {"pointer"}}]}`.
"""

import dataclasses
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp

from gateway.carriers.base import (
    CallEvent,
    CarrierAPIError,
    MalformedWebhook,
    OriginateRequest,
    OriginateResult,
    SmsRequest,
    SmsResult,
    VoiceInstructions,
)
from gateway.carriers.telnyx import const
from gateway.carriers.telnyx.parse import (
    THEN_HANGUP,
    THEN_ROUTE,
    ClientState,
    event_parts,
    parse_document,
)
from gateway.models import CallOutcome, CallStatus, LegRole

log = logging.getLogger(__name__)
# `page[size]` of the call-events list, and how many pages one reconciliation reads: a
# bridged call's session has a dozen webhooks, so one page is the rule.
EVENTS_PAGE_SIZE = 250
EVENTS_MAX_PAGES = 4


@dataclass(frozen=True)
class Command:
    """One Call Control command: `POST /v2/calls/{call_control_id}/actions/{action}`."""

    call_control_id: str
    action: str
    body: dict[str, Any]


def api_base(credentials: Mapping[str, Any]) -> str:
    return str(credentials.get("api_base_url") or const.DEFAULT_API_BASE_URL)


def ring_timeout(seconds: int) -> int:
    return max(const.MIN_TIMEOUT_S, min(const.MAX_TIMEOUT_S, seconds))


def _error(status: int, data: Any) -> CarrierAPIError:
    errors = data.get("errors") if isinstance(data, dict) else None
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    title = first.get("title") or f"Telnyx answered {status}"
    detail = first.get("detail")
    source = first.get("source")
    pointer = source.get("pointer") if isinstance(source, dict) else None
    message = f"{title}: {detail}" if detail else str(title)
    if pointer:
        message += f" ({pointer})"
    code = first.get("code")
    return CarrierAPIError(message, status=status, code=str(code) if code is not None else None)


async def _request(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    api_key: str,
    *,
    body: dict[str, Any] | None,
    timeout_s: float,
) -> tuple[int, Any]:
    try:
        async with http.request(
            method,
            url,
            json=body,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as resp:
            raw = await resp.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        # The exception's repr names the host, never the API key (only in headers).
        raise CarrierAPIError(f"Telnyx unreachable: {exc!r}") from exc
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        data = None  # e.g. a proxy's HTML error page: the status code still tells
    return resp.status, data


def _call_url(credentials: Mapping[str, Any], call_control_id: str, action: str = "") -> str:
    # call_control_ids look like `v3:...` (base64url after the colon); keep them one segment.
    path = f"/v2/calls/{quote(call_control_id, safe=':')}"
    return api_base(credentials) + path + (f"/actions/{action}" if action else "")


async def dial(
    http: aiohttp.ClientSession,
    credentials: Mapping[str, Any],
    request: OriginateRequest,
    *,
    timeout_s: float,
) -> OriginateResult:
    """Ring the agent; the customer is dialed by `plan` once the agent's leg answers."""
    ring_s = ring_timeout(request.timeout_s)
    state = ClientState(
        call_id=request.call_id,
        leg=LegRole.AGENT,
        customer_hook=request.customer_status_callback_url,
        ring_s=ring_s,
    )
    body = {
        "connection_id": credentials["connection_id"],
        "to": request.agent_number,
        "from": request.caller_id,
        "webhook_url": request.status_callback_url,
        "webhook_url_method": "POST",
        "client_state": state.encode(),
        "timeout_secs": ring_s,
    }
    status, data = await _request(
        http,
        "POST",
        api_base(credentials) + "/v2/calls",
        credentials["api_key"],
        body=body,
        timeout_s=timeout_s,
    )
    if not 200 <= status < 300:
        raise _error(status, data)
    call = data.get("data") if isinstance(data, dict) else None
    if not isinstance(call, dict) or not isinstance(call.get("call_control_id"), str):
        raise CarrierAPIError("Telnyx's dial response has no call_control_id", status=status)
    # Dialing is asynchronous (`is_alive` is always false here): the call stays queued until
    # the agent leg's `call.initiated`.
    return OriginateResult(carrier_call_id=call["call_control_id"])


async def send(
    http: aiohttp.ClientSession,
    credentials: Mapping[str, Any],
    command: Command,
    *,
    timeout_s: float,
) -> None:
    status, data = await _request(
        http,
        "POST",
        _call_url(credentials, command.call_control_id, command.action),
        credentials["api_key"],
        body=command.body,
        timeout_s=timeout_s,
    )
    if not 200 <= status < 300:
        raise _error(status, data)


async def hangup(
    http: aiohttp.ClientSession,
    credentials: Mapping[str, Any],
    call_control_id: str,
    *,
    timeout_s: float,
) -> None:
    """Hang up the leg we dialed (`{"data": {"result": "ok"}}`); its `call.hangup` follows.

    Telnyx then ends the leg bridged to it too. A leg that is over answers 422 code 90018.
    https://developers.telnyx.com/api-reference/call-commands/hangup-call
    """
    command = Command(call_control_id, "hangup", {"command_id": f"dialgate-{uuid.uuid4()}"})
    try:
        await send(http, credentials, command, timeout_s=timeout_s)
    except CarrierAPIError as exc:
        if exc.code == const.CALL_ENDED_ERROR:
            raise CarrierAPIError("the call has already ended", status=409, code=exc.code) from exc
        raise


def plan(event: CallEvent, voice: VoiceInstructions | None) -> list[Command]:
    """The commands an event calls for (pure: the adapter sends them).

    Commands that start something (answer, transfer, speak) need `voice`, which the gateway
    computes only the first time it applies an event: a duplicate delivery starts nothing.
    Every command also carries a `command_id` made from the event id ("commands with duplicate
    command_ids within 60 seconds will be ignored",
    https://developers.telnyx.com/docs/voice/programmable-voice/receiving-webhooks), which
    covers the hangups a duplicate does repeat.
    """
    event_type, state = event_parts(event)
    call_control_id = event.carrier_call_id
    command_id = f"dialgate-{event.dedupe_key}"
    if event_type == const.INITIATED and event.kind == "voice":
        return _answer_inbound(call_control_id, command_id, voice)
    if state is None:
        return []
    if event_type == const.ANSWERED and state.customer_hook is not None:
        return _bridge_customer(call_control_id, command_id, state, voice)
    if event_type == const.ANSWERED and state.then == THEN_ROUTE:
        return _route_inbound(call_control_id, command_id, state, voice)
    if event_type == const.SPEAK_ENDED and state.then == THEN_HANGUP:
        return [Command(call_control_id, "hangup", {"command_id": command_id})]
    if event_type == const.HANGUP and state.parent is not None:
        # A transferred leg ended. After a bridge Telnyx hangs up the other leg itself; a leg
        # that never answered leaves the parent up ("the original call will remain active",
        # https://developers.telnyx.com/api-reference/call-commands/transfer-call): end it.
        return [Command(state.parent, "hangup", {"command_id": command_id})]
    return []


def _answer_inbound(
    call_control_id: str, command_id: str, voice: VoiceInstructions | None
) -> list[Command]:
    """Answer an incoming call; once it is answered, `_route_inbound` connects it."""
    if voice is None:
        return []
    state = ClientState(leg=LegRole.CUSTOMER, then=THEN_ROUTE)
    return [
        Command(
            call_control_id, "answer", {"client_state": state.encode(), "command_id": command_id}
        )
    ]


def _route_inbound(
    call_control_id: str, command_id: str, state: ClientState, voice: VoiceInstructions | None
) -> list[Command]:
    """The inbound call we answered: transfer it to its agent, or speak a message and hang up."""
    if voice is None:
        return []
    if voice.forward_to:
        body: dict[str, Any] = {
            "to": voice.forward_to,
            # The caller's leg needs no next step any more.
            "client_state": ClientState(call_id=state.call_id, leg=state.leg).encode(),
            "target_leg_client_state": ClientState(
                call_id=state.call_id, leg=LegRole.AGENT, parent=call_control_id
            ).encode(),
            "command_id": command_id,
        }
        if voice.caller_id:
            body["from"] = voice.caller_id
        return [Command(call_control_id, "transfer", body)]
    return [
        Command(
            call_control_id,
            "speak",
            {
                "payload": voice.message or "Sorry, nobody can take your call.",
                "voice": const.SPEAK_VOICE,
                "language": const.SPEAK_LANGUAGE,
                "client_state": ClientState(
                    call_id=state.call_id, leg=state.leg, then=THEN_HANGUP
                ).encode(),
                "command_id": command_id,
            },
        )
    ]


def _bridge_customer(
    call_control_id: str,
    command_id: str,
    state: ClientState,
    voice: VoiceInstructions | None,
) -> list[Command]:
    """The agent answered a click-to-call: transfer the agent's leg to the customer.

    Telnyx dials the customer as a new leg and bridges the two when it answers; the new leg's
    webhooks go to `customer_hook` with a client_state naming it the customer leg.
    """
    if voice is None or not voice.forward_to:
        return []
    body: dict[str, Any] = {
        "to": voice.forward_to,
        "webhook_url": state.customer_hook,
        "webhook_url_method": "POST",
        "target_leg_client_state": ClientState(
            call_id=state.call_id, leg=LegRole.CUSTOMER, parent=call_control_id
        ).encode(),
        "timeout_secs": ring_timeout(state.ring_s or 30),
        "command_id": command_id,
    }
    if voice.caller_id:
        body["from"] = voice.caller_id
    return [Command(call_control_id, "transfer", body)]


async def fetch_status(
    http: aiohttp.ClientSession,
    credentials: Mapping[str, Any],
    call_control_id: str,
    *,
    timeout_s: float,
) -> CallEvent | None:
    """The leg's state from `GET /v2/calls/{call_control_id}` (kept 10 minutes after the end).

    That API tells only whether the leg is alive and how long it lasted: no hangup cause, and
    no way from the agent's leg to the customer's (the transfer response does not name it);
    `fetch_events` reads the other leg from the call's session.
    """
    found = await _leg_status(http, credentials, call_control_id, timeout_s=timeout_s)
    return found[0] if found is not None else None


async def _leg_status(
    http: aiohttp.ClientSession,
    credentials: Mapping[str, Any],
    call_control_id: str,
    *,
    timeout_s: float,
) -> tuple[CallEvent, dict[str, Any]] | None:
    status, data = await _request(
        http,
        "GET",
        _call_url(credentials, call_control_id),
        credentials["api_key"],
        body=None,
        timeout_s=timeout_s,
    )
    if status == 404:
        return None
    if status != 200:
        raise _error(status, data)
    call = data.get("data") if isinstance(data, dict) else None
    if not isinstance(call, dict):
        raise CarrierAPIError("Telnyx's call status has no data", status=status)
    alive = call.get("is_alive")
    duration = call.get("call_duration")
    seconds = duration if isinstance(duration, int) and not isinstance(duration, bool) else None
    if alive:
        carrier_status, state, outcome = "alive", CallStatus.INITIATED, None
    elif seconds:
        carrier_status, state, outcome = "ended", CallStatus.COMPLETED, CallOutcome.COMPLETED
    else:
        carrier_status, state, outcome = "ended", CallStatus.COMPLETED, CallOutcome.FAILED
    event = CallEvent(
        carrier_call_id=call_control_id,
        dedupe_key=f"{call_control_id}:reconcile:{carrier_status}",
        kind="reconcile",
        carrier_status=carrier_status,
        status=state,
        outcome=outcome,
        duration_s=seconds if not alive else None,
        raw=data,
    )
    return event, call


async def fetch_events(
    http: aiohttp.ClientSession,
    credentials: Mapping[str, Any],
    call_control_id: str,
    *,
    timeout_s: float,
) -> list[CallEvent]:
    """Both legs of a call we dialed, from Telnyx's records, once the dialed leg has ended.

    The call status API describes one leg; the customer's leg was created by a transfer
    whose response does not name it. Telnyx keeps every webhook of a call session, delivered
    or not, in its call-events list (`GET /v2/call_events?filter[application_session_id]=`,
    https://developers.telnyx.com/api-reference/debugging/list-call-events; the metadata
    holds the raw event). Those of our legs (the dialed one, and the one transferred from
    it) are normalized like the webhooks themselves, keeping their event ids, so the ones
    already applied are duplicates and only the lost ones count. The last event says whether
    the call is over: the dialed leg's status, or the transferred leg's end.
    """
    found = await _leg_status(http, credentials, call_control_id, timeout_s=timeout_s)
    if found is None:
        return []
    status_event, call = found
    session_id = call.get("call_session_id")
    if not isinstance(session_id, str):
        return [status_event]
    events = await _our_legs_events(
        http, credentials, call_control_id, session_id, timeout_s=timeout_s
    )
    if status_event.status == CallStatus.COMPLETED:
        return [*events, status_event]
    # The dialed leg is still up. A transfer that was never answered leaves it so ("the
    # original call will remain active", https://developers.telnyx.com/api-reference/
    # call-commands/transfer-call): if the transferred leg's end was lost, that end decides
    # the call, and the adapter's commands for it then hang up the dialed leg.
    ended = [e for e in events if e.parent_call_id and e.status == CallStatus.COMPLETED]
    if not ended:
        return [status_event]
    return [status_event, *(e for e in events if e is not ended[-1]), ended[-1]]


async def _our_legs_events(
    http: aiohttp.ClientSession,
    credentials: Mapping[str, Any],
    call_control_id: str,
    session_id: str,
    *,
    timeout_s: float,
) -> list[CallEvent]:
    """The session's events of the dialed leg and of the legs transferred from it."""
    events: list[CallEvent] = []
    for document in await _session_webhooks(http, credentials, session_id, timeout_s=timeout_s):
        try:
            parsed = parse_document(document, connection_id=credentials["connection_id"])
        except MalformedWebhook as exc:
            log.debug("telnyx call event skipped: %s", exc.message)
            continue
        events += [
            dataclasses.replace(event, kind="reconcile")
            for event in parsed
            if call_control_id in (event.carrier_call_id, event.parent_call_id)
        ]
    return events


async def _session_webhooks(
    http: aiohttp.ClientSession,
    credentials: Mapping[str, Any],
    session_id: str,
    *,
    timeout_s: float,
) -> list[dict[str, Any]]:
    """The session's webhooks as `{"data": event}` documents, oldest first."""
    documents: list[dict[str, Any]] = []
    for page in range(1, EVENTS_MAX_PAGES + 1):
        query = urlencode(
            {
                "filter[application_session_id]": session_id,
                "filter[type]": "webhook",
                "page[number]": page,
                "page[size]": EVENTS_PAGE_SIZE,
            }
        )
        status, data = await _request(
            http,
            "GET",
            f"{api_base(credentials)}/v2/call_events?{query}",
            credentials["api_key"],
            body=None,
            timeout_s=timeout_s,
        )
        if status != 200:
            raise _error(status, data)
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise CarrierAPIError("Telnyx's call events have no data", status=status)
        for item in items:
            metadata = item.get("metadata") if isinstance(item, dict) else None
            event = metadata.get("event") if isinstance(metadata, dict) else None
            if isinstance(event, dict):
                documents.append({"data": event})
        meta = data.get("meta") if isinstance(data, dict) else None
        total_pages = meta.get("total_pages") if isinstance(meta, dict) else None
        if not isinstance(total_pages, int) or page >= total_pages:
            break
    return documents


async def send_sms(
    http: aiohttp.ClientSession,
    credentials: Mapping[str, Any],
    message: SmsRequest,
    *,
    timeout_s: float,
) -> SmsResult:
    """`POST /v2/messages` {from, to, text}: `{"data": {"id", "to": [{"status"}], ...}}`.

    https://developers.telnyx.com/api-reference/messages/send-a-message; the number sending
    must be enabled for messaging (a messaging profile) in the Telnyx portal.
    """
    status, data = await _request(
        http,
        "POST",
        api_base(credentials) + "/v2/messages",
        credentials["api_key"],
        body={"from": message.from_number, "to": message.to_number, "text": message.text},
        timeout_s=timeout_s,
    )
    if not 200 <= status < 300:
        raise _error(status, data)
    sent = data.get("data") if isinstance(data, dict) else None
    if not isinstance(sent, dict) or not isinstance(sent.get("id"), str):
        raise CarrierAPIError("Telnyx's message has no id", status=status)
    to = sent.get("to")
    first = to[0] if isinstance(to, list) and to and isinstance(to[0], dict) else {}
    carrier_status = first.get("status")
    return SmsResult(
        carrier_message_id=sent["id"],
        carrier_status=carrier_status if isinstance(carrier_status, str) else None,
    )
