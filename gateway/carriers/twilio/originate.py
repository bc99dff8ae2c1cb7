"""Twilio's REST API through the SDK's async client: place calls, read them back, text."""

from collections.abc import Mapping
from typing import Any

from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from gateway.carriers.base import (
    CallEvent,
    CarrierAPIError,
    OriginateRequest,
    OriginateResult,
    SmsRequest,
    SmsResult,
)
from gateway.carriers.twilio.const import STATUS_CALLBACK_EVENTS, STATUS_MAP

# "Call is not in-progress. Cannot redirect." (https://www.twilio.com/docs/api/errors/21220)
CALL_NOT_IN_PROGRESS = 21220


def bridge_twiml(request: OriginateRequest) -> str:
    """TwiML run when the agent answers: dial the customer as a child leg with its own callbacks."""
    response = VoiceResponse()
    dial = response.dial(caller_id=request.caller_id, timeout=request.timeout_s)
    dial.number(
        request.customer_number,
        status_callback=request.customer_status_callback_url,
        status_callback_event=" ".join(STATUS_CALLBACK_EVENTS),
        status_callback_method="POST",
    )
    return str(response)


def make_client(
    credentials: Mapping[str, Any], http_client: AsyncTwilioHttpClient, base_url: str
) -> Client:
    client = Client(credentials["account_sid"], credentials["auth_token"], http_client=http_client)
    # Twilio-compatible providers (and local stand-ins) answer on other hosts.
    client.api.base_url = credentials.get("api_base_url") or base_url
    return client


async def originate(client: Client, request: OriginateRequest) -> OriginateResult:
    try:
        call = await client.calls.create_async(
            to=request.agent_number,
            from_=request.caller_id,
            twiml=bridge_twiml(request),
            status_callback=request.status_callback_url,
            status_callback_event=list(STATUS_CALLBACK_EVENTS),
            status_callback_method="POST",
            timeout=request.timeout_s,
        )
    except TwilioRestException as exc:
        raise CarrierAPIError(
            exc.msg or "Twilio refused the call", status=exc.status, code=str(exc.code)
        ) from exc
    return OriginateResult(carrier_call_id=call.sid, carrier_status=call.status)


async def hangup(client: Client, call_sid: str) -> None:
    """End the call: completing the parent (agent) leg ends its <Dial>ed child leg too.

    https://www.twilio.com/docs/voice/api/call-resource#update-a-call-resource
    """
    try:
        await client.calls(call_sid).update_async(status="completed")
    except TwilioRestException as exc:
        if exc.code == CALL_NOT_IN_PROGRESS:
            raise CarrierAPIError(
                "the call has already ended", status=409, code=str(exc.code)
            ) from exc
        raise CarrierAPIError(
            exc.msg or "Twilio refused to end the call", status=exc.status, code=str(exc.code)
        ) from exc


async def fetch_status(client: Client, call_sid: str) -> CallEvent | None:
    """The call's state from Twilio's Call resource: its child (customer) leg when it has one."""
    try:
        call = await client.calls(call_sid).fetch_async()
        children = await client.calls.list_async(parent_call_sid=call_sid, limit=1)
    except TwilioRestException as exc:
        if exc.status == 404:
            return None
        raise CarrierAPIError(exc.msg or "Twilio refused", status=exc.status) from exc
    leg = children[0] if children else call
    status, outcome = STATUS_MAP.get(leg.status or "", (None, None))
    duration = int(leg.duration) if leg.duration not in (None, "") else None
    return CallEvent(
        carrier_call_id=leg.sid,
        dedupe_key=f"{leg.sid}:reconcile:{leg.status}",
        kind="reconcile",
        carrier_status=leg.status,
        status=status,
        outcome=outcome,
        parent_call_id=leg.parent_call_sid or None,
        to_number=leg.to,
        from_number=getattr(leg, "_from", None),
        duration_s=duration,
        raw={"sid": leg.sid, "status": leg.status, "duration": leg.duration},
    )


async def send_sms(client: Client, message: SmsRequest) -> SmsResult:
    """`POST /2010-04-01/Accounts/{AccountSid}/Messages.json` (To, From, Body): 201 Message.

    https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
    """
    try:
        sent = await client.messages.create_async(
            to=message.to_number, from_=message.from_number, body=message.text
        )
    except TwilioRestException as exc:
        raise CarrierAPIError(
            exc.msg or "Twilio refused the message", status=exc.status, code=str(exc.code)
        ) from exc
    if not sent.sid:
        raise CarrierAPIError("Twilio's message has no sid", status=201)
    return SmsResult(carrier_message_id=sent.sid, carrier_status=sent.status)
