"""A local stand-in for Twilio's Calls REST API that also plays calls back as signed callbacks.

What it imitates, from Twilio's docs:

* `POST /2010-04-01/Accounts/{AccountSid}/Calls.json` with HTTP Basic auth (AccountSid:AuthToken),
  a form-encoded body (`To`, `From`, one of `Url`/`Twiml`/`ApplicationSid`, `StatusCallbackEvent`
  repeated once per value) and a 201 Call resource (https://www.twilio.com/docs/voice/api/call-resource);
  errors in Twilio's JSON shape (`code`, `message`, `more_info`, `status`).
* Status callbacks, form-encoded and signed with `X-Twilio-Signature` by the twilio SDK's own
  `RequestValidator`, for the parent leg (`outbound-api`) and, from the TwiML's
  `<Dial><Number statusCallback=...>`, for the child leg (`outbound-dial`, with `ParentCallSid`).
  Each leg numbers its callbacks from 0 (`SequenceNumber`); `Timestamp` is RFC 2822.
* `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` (`To`, `From` or
  `MessagingServiceSid`, `Body` or `MediaUrl`), answered 201 with a queued Message resource
  (https://www.twilio.com/docs/messaging/api/message-resource); errors 21604 (no To),
  21603 (no From), 21602 (no Body), 21211 (To not a phone number), 21617 (Body over 1600
  characters). Messages are kept in `messages`; nothing is delivered.

Playback never starts by itself: a test calls `play()` so every run sends the same requests.
"""

import math
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from multidict import MultiDict, MultiDictProxy
from twilio.request_validator import RequestValidator

from tests.standins.base import CallsStandin, basic_auth

API_VERSION = "2010-04-01"
Pace = Callable[[], Awaitable[None]]
# StatusCallbackEvent name -> the CallStatus Twilio reports with it.
PROGRESS_EVENTS = {"initiated": "initiated", "ringing": "ringing", "answered": "in-progress"}
TERMINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
# SipResponseCode on terminal callbacks; Twilio documents only 404 and 487, the rest are plausible.
SIP_CODES = {
    "completed": "200",
    "busy": "486",
    "no-answer": "487",
    "failed": "404",
    "canceled": "487",
}


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two letters and 32 lower-case hex digits."""
    return prefix + uuid.uuid4().hex


def twilio_error(status: int, code: int, message: str) -> web.Response:
    """Twilio's REST error body (see e.g. https://www.twilio.com/docs/errors/20003)."""
    return web.json_response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
    )


def rfc2822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC))


def sign(
    auth_token: str, url: str, params: Mapping[str, str] | MultiDict[str] | None = None
) -> str:
    """X-Twilio-Signature exactly as Twilio computes it, by the twilio SDK (the oracle)."""
    return str(RequestValidator(auth_token).compute_signature(url, params or {}))


@dataclass
class CallbackResult:
    """One callback the stand-in delivered, and how the receiver answered."""

    url: str
    method: str
    params: dict[str, str]
    signature: str
    status: int
    content_type: str
    body: str
    leg: str  # parent | child | custom


async def post_signed(
    http: aiohttp.ClientSession,
    url: str,
    params: Mapping[str, str],
    auth_token: str,
    *,
    method: str = "POST",
    signed_url: str | None = None,
    signature: str | None = None,
    headers: Mapping[str, str] | None = None,
    leg: str = "custom",
) -> CallbackResult:
    """Send a Twilio-style webhook: form-encoded POST (or GET with the params in the query).

    `signed_url` signs another URL than the one requested (to test URL reconstruction);
    `signature` replaces the computed one outright (to test rejection).
    """
    request_headers = {"User-Agent": "TwilioProxy/1.1"}
    if method == "GET":
        target = url + ("&" if "?" in url else "?") + _urlencode(params)
        computed = sign(auth_token, signed_url or target)
        body: str | None = None
    else:
        target = url
        computed = sign(auth_token, signed_url or url, params)
        body = _urlencode(params)
        request_headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
    if signature is None:
        signature = computed
    if signature:
        request_headers["X-Twilio-Signature"] = signature
    request_headers.update(headers or {})
    async with http.request(
        method, target, data=body, headers=request_headers, allow_redirects=False
    ) as resp:
        text = await resp.text()
        return CallbackResult(
            url=target,
            method=method,
            params=dict(params),
            signature=signature,
            status=resp.status,
            content_type=resp.content_type,
            body=text,
            leg=leg,
        )


def _urlencode(params: Mapping[str, str]) -> str:
    return urlencode(list(params.items()))


def status_params(
    *,
    account_sid: str,
    call_sid: str,
    status: str,
    sequence: int,
    from_number: str,
    to_number: str,
    direction: str,
    at: datetime,
    parent_call_sid: str | None = None,
    call_duration: int | None = None,
) -> dict[str, str]:
    """The parameters of a call-progress status callback.

    https://www.twilio.com/docs/voice/twiml#request-parameters and
    https://www.twilio.com/docs/voice/api/call-resource#statuscallback
    """
    params = {
        "AccountSid": account_sid,
        "ApiVersion": API_VERSION,
        "CallSid": call_sid,
        "CallStatus": status,
        "Called": to_number,
        "Caller": from_number,
        "CallbackSource": "call-progress-events",
        "Direction": direction,
        "From": from_number,
        "SequenceNumber": str(sequence),
        "Timestamp": rfc2822(at),
        "To": to_number,
    }
    if parent_call_sid:
        params["ParentCallSid"] = parent_call_sid
    if status in TERMINAL_STATUSES:
        seconds = call_duration or 0
        params["CallDuration"] = str(seconds)
        params["Duration"] = str(math.ceil(seconds / 60))  # billed minutes
        params["SipResponseCode"] = SIP_CODES[status]
    return params


@dataclass
class RecordedRequest:
    """A request the stand-in REST API received, as the test inspects it."""

    method: str
    path: str
    auth: tuple[str, str] | None
    form: MultiDict[str]
    headers: dict[str, str]
    status: int = 0


@dataclass
class Leg:
    sid: str
    from_number: str
    to_number: str
    direction: str
    callback_url: str | None
    callback_method: str
    events: frozenset[str]
    parent_sid: str | None = None
    sequence: int = 0
    status: str = "queued"


@dataclass
class StandinCall:
    sid: str
    account_sid: str
    to: str
    from_: str
    twiml: str | None
    url: str | None
    parent: Leg
    child: Leg | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))


class TwilioStandin(CallsStandin[StandinCall]):
    """The REST API on 127.0.0.1 plus explicit, deterministic call playback."""

    def __init__(self, accounts: Mapping[str, str]) -> None:
        super().__init__()
        self.accounts = dict(accounts)  # AccountSid -> AuthToken
        self.requests: list[RecordedRequest] = []
        self.callbacks: list[CallbackResult] = []
        self.messages: list[dict[str, Any]] = []
        self._pace: Pace | None = None

    # --- the REST API -----------------------------------------------------------------

    def creates(self) -> list[RecordedRequest]:
        """Calls.json create requests, in arrival order."""
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/Calls.json")]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        form: MultiDict[str] = MultiDict()
        if request.method == "POST":
            posted: MultiDictProxy[Any] = await request.post()
            form = MultiDict((k, str(v)) for k, v in posted.items())
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            auth=basic_auth(request.headers.get("Authorization")),
            form=form,
            headers=dict(request.headers),
        )
        self.requests.append(record)
        response = await self._route(request, record)
        record.status = response.status
        return response

    async def _route(self, request: web.Request, record: RecordedRequest) -> web.StreamResponse:
        parts = request.path.strip("/").split("/")
        is_calls = (
            len(parts) == 4
            and parts[0] == API_VERSION
            and parts[1] == "Accounts"
            and parts[3] == "Calls.json"
        )
        is_call = (
            len(parts) == 5
            and parts[0] == API_VERSION
            and parts[1] == "Accounts"
            and parts[3] == "Calls"
            and parts[4].endswith(".json")
        )
        is_messages = (
            len(parts) == 4
            and parts[0] == API_VERSION
            and parts[1] == "Accounts"
            and parts[3] == "Messages.json"
        )
        if not (is_calls or is_call or is_messages):
            return twilio_error(404, 20404, "The requested resource was not found")
        account_sid = parts[2]
        # Twilio answers 401/20003 for a wrong SID or token alike.
        if (
            record.auth is None
            or record.auth[0] != account_sid
            or self.accounts.get(account_sid) != record.auth[1]
        ):
            return twilio_error(401, 20003, "Authenticate")
        if request.method != "POST":
            return twilio_error(405, 20004, "Method not allowed")
        if is_messages:
            return self._create_message(account_sid, record.form)
        if is_call:
            return self._update_call(account_sid, parts[4].removesuffix(".json"), record.form)
        return await self._create_call(account_sid, record.form)

    def _create_message(self, account_sid: str, form: MultiDict[str]) -> web.Response:
        to, from_, body = form.get("To"), form.get("From"), form.get("Body")
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not (from_ or form.get("MessagingServiceSid")):
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if not (body or form.get("MediaUrl")):
            return twilio_error(400, 21602, "Message body is required.")
        if not (to.startswith("+") and to[1:].isdigit() and 8 <= len(to) <= 16):
            return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if body and len(body) > 1600:
            return twilio_error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        sid = new_sid("SM")
        created = rfc2822(datetime.now(UTC).replace(microsecond=0))
        resource = {
            "account_sid": account_sid,
            "api_version": API_VERSION,
            "body": body or "",
            "date_created": created,
            "date_sent": None,
            "date_updated": created,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": from_,
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": str(max(1, math.ceil(len(body or "") / 153))),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {
                "media": f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}/Media.json"
            },
            "to": to,
            "uri": f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}.json",
        }
        self.messages.append(resource)
        return web.json_response(resource, status=201)

    def _update_call(self, account_sid: str, sid: str, form: MultiDict[str]) -> web.Response:
        """`POST .../Calls/{Sid}.json` with `Status=completed` (or `canceled`) ends a live call.

        https://www.twilio.com/docs/voice/api/call-resource#update-a-call-resource
        """
        call = self.calls.get(sid)
        if call is None or call.account_sid != account_sid:
            return twilio_error(404, 20404, "The requested resource was not found")
        status = form.get("Status")
        if status not in ("completed", "canceled"):
            return twilio_error(400, 21218, "Invalid Status")
        if call.parent.status in TERMINAL_STATUSES:
            return twilio_error(400, 21220, "Call is not in-progress. Cannot redirect.")
        call.parent.status = status
        resource = _call_resource(call)
        resource["status"] = status
        return web.json_response(resource, status=200)

    async def _create_call(self, account_sid: str, form: MultiDict[str]) -> web.Response:
        to, from_ = form.get("To"), form.get("From")
        if not to:
            return twilio_error(400, 21201, "No 'To' number is specified")
        if not from_:
            return twilio_error(400, 21213, "No 'From' number is specified")
        url, twiml = form.get("Url"), form.get("Twiml")
        if not (url or twiml or form.get("ApplicationSid")):
            return twilio_error(400, 21205, "Url parameter is required.")
        sid = new_sid("CA")
        parent = Leg(
            sid=sid,
            from_number=from_,
            to_number=to,
            direction="outbound-api",
            callback_url=form.get("StatusCallback"),
            callback_method=form.get("StatusCallbackMethod", "POST").upper(),
            # Without StatusCallbackEvent Twilio sends only `completed`.
            events=frozenset(form.getall("StatusCallbackEvent", ["completed"])),
        )
        call = StandinCall(
            sid=sid,
            account_sid=account_sid,
            to=to,
            from_=from_,
            twiml=twiml,
            url=url,
            parent=parent,
        )
        await self._call_created(sid, call)
        return web.json_response(_call_resource(call), status=201)

    # --- playback ---------------------------------------------------------------------

    async def play(
        self,
        call_sid: str,
        *,
        agent_outcome: str = "answered",
        customer_outcome: str = "completed",
        talk_seconds: int = 42,
        between: Pace | None = None,
    ) -> list[CallbackResult]:
        """Play the call through its status callbacks, one request at a time, in order.

        The parent (agent) leg rings first; if it is answered, its TwiML runs and the
        `<Dial><Number>` child (customer) leg plays `customer_outcome`; the parent leg ends
        when the child does. `agent_outcome` other than "answered" ends the parent leg with that
        terminal status and no child leg is created.

        Real callbacks are seconds apart; `between` is awaited after each one in their place
        (e.g. until the receiver has applied it), so the run is fast and still in order.
        """
        self._pace = between
        try:
            return await self._play(call_sid, agent_outcome, customer_outcome, talk_seconds)
        finally:
            self._pace = None

    async def _play(
        self, call_sid: str, agent_outcome: str, customer_outcome: str, talk_seconds: int
    ) -> list[CallbackResult]:
        call = self.calls[call_sid]
        token = self.accounts[call.account_sid]
        clock = _Clock(call.created_at)
        sent: list[CallbackResult] = []
        parent = call.parent
        for event in ("initiated", "ringing"):
            sent += await self._progress(call, parent, event, clock.tick(1), token)
        if agent_outcome != "answered":
            sent += await self._terminal(call, parent, agent_outcome, clock.tick(20), 0, token)
            return sent
        agent_answered = clock.tick(3)
        sent += await self._progress(call, parent, "answered", agent_answered, token)
        child = self._child_leg(call)
        if child is not None:
            for event in ("initiated", "ringing"):
                sent += await self._progress(call, child, event, clock.tick(1), token)
            if customer_outcome == "completed":
                sent += await self._progress(call, child, "answered", clock.tick(4), token)
                sent += await self._terminal(
                    call, child, "completed", clock.tick(talk_seconds), talk_seconds, token
                )
            else:
                sent += await self._terminal(
                    call, child, customer_outcome, clock.tick(25), 0, token
                )
        ended = clock.tick(1)
        agent_seconds = round((ended - agent_answered).total_seconds())
        sent += await self._terminal(call, parent, "completed", ended, agent_seconds, token)
        return sent

    def _child_leg(self, call: StandinCall) -> Leg | None:
        """The `<Dial><Number>` leg the parent's TwiML asks for, if any."""
        if call.child is not None or not call.twiml:
            return call.child
        # The TwiML comes from the gateway under test, not from the network.
        root = ET.fromstring(call.twiml)  # noqa: S314
        dial = root.find("Dial")
        number = dial.find("Number") if dial is not None else None
        if dial is None or number is None or not (number.text or "").strip():
            return None
        events = number.get("statusCallbackEvent")
        call.child = Leg(
            sid=new_sid("CA"),
            from_number=dial.get("callerId") or call.from_,
            to_number=(number.text or "").strip(),
            direction="outbound-dial",
            callback_url=number.get("statusCallback"),
            callback_method=(number.get("statusCallbackMethod") or "POST").upper(),
            events=frozenset(events.split()) if events else frozenset({"completed"}),
            parent_sid=call.sid,
        )
        return call.child

    async def _progress(
        self, call: StandinCall, leg: Leg, event: str, at: datetime, token: str
    ) -> list[CallbackResult]:
        leg.status = PROGRESS_EVENTS[event]
        if event not in leg.events:
            return []
        return [await self._send(call, leg, leg.status, at, None, token)]

    async def _terminal(
        self, call: StandinCall, leg: Leg, status: str, at: datetime, seconds: int, token: str
    ) -> list[CallbackResult]:
        assert status in TERMINAL_STATUSES, status
        leg.status = status
        # The `completed` event fires for every terminal status (Call resource docs).
        if "completed" not in leg.events:
            return []
        return [await self._send(call, leg, status, at, seconds, token)]

    async def _send(
        self,
        call: StandinCall,
        leg: Leg,
        status: str,
        at: datetime,
        seconds: int | None,
        token: str,
    ) -> CallbackResult:
        assert leg.callback_url, "the leg has no StatusCallback"
        params = status_params(
            account_sid=call.account_sid,
            call_sid=leg.sid,
            status=status,
            sequence=leg.sequence,
            from_number=leg.from_number,
            to_number=leg.to_number,
            direction=leg.direction,
            at=at,
            parent_call_sid=leg.parent_sid,
            call_duration=seconds,
        )
        leg.sequence += 1
        result = await post_signed(
            self.http,
            leg.callback_url,
            params,
            token,
            method=leg.callback_method,
            leg="child" if leg.parent_sid else "parent",
        )
        self.callbacks.append(result)
        if self._pace is not None:
            await self._pace()
        return result


class _Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def tick(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def _call_resource(call: StandinCall) -> dict[str, Any]:
    """A new call's Call resource, shaped like twilio-python's fixtures (queued, outbound-api)."""
    base = f"/{API_VERSION}/Accounts/{call.account_sid}/Calls/{call.sid}"
    created = rfc2822(call.created_at)
    return {
        "account_sid": call.account_sid,
        "annotation": None,
        "answered_by": None,
        "api_version": API_VERSION,
        "caller_name": None,
        "date_created": created,
        "date_updated": created,
        "direction": "outbound-api",
        "duration": None,
        "end_time": None,
        "forwarded_from": None,
        "from": call.from_,
        "from_formatted": call.from_,
        "group_sid": None,
        "parent_call_sid": None,
        "phone_number_sid": new_sid("PN"),
        "price": None,
        "price_unit": "USD",
        "queue_time": "0",
        "sid": call.sid,
        "start_time": None,
        "status": "queued",
        "subresource_uris": {
            name: f"{base}/{path}.json"
            for name, path in (
                ("notifications", "Notifications"),
                ("recordings", "Recordings"),
                ("payments", "Payments"),
                ("events", "Events"),
                ("siprec", "Siprec"),
                ("streams", "Streams"),
                ("transcriptions", "Transcriptions"),
                ("user_defined_message_subscriptions", "UserDefinedMessageSubscriptions"),
                ("user_defined_messages", "UserDefinedMessages"),
            )
        },
        "to": call.to,
        "to_formatted": call.to,
        "trunk_sid": None,
        "uri": f"{base}.json",
    }
