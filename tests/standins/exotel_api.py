"""A local stand-in for Exotel's voice API that also plays calls back through their webhooks.

What it imitates, from ../shared/carriers.md §2 and Exotel's docs:

* `POST /v1/Accounts/{sid}/Calls/connect[.json]` ("connect two numbers",
  https://developer.exotel.com/docs/voice-v1/api-reference/connect-two-numbers): HTTP Basic auth
  with the API key and token, a form body (`From`, `To`, `CallerId` required;
  `StatusCallbackEvents[n]`, `StatusCallbackContentType`, `TimeLimit` <= 14400 checked), and a
  200 `{"Call": {...}}` whose `Status` is already `in-progress`, as in the docs' example; XML
  (`<TwilioResponse><Call>`) without `.json`. Errors as `{"RestException": {"Status", "Message"}}`.
* `GET /v1/Accounts/{sid}/Calls/{CallSid}[.json]?details=true` (Call details API), with
  `Details.Leg1Status`, `Leg2Status`, `ConversationDuration`.
* `POST /v1/Accounts/{sid}/Sms/send[.json]` (Send SMS,
  https://developer.exotel.com/docs/sms-api/api-reference/send-sms): `From`, `To`, `Body`
  (at most 2000 characters) required, and `DltEntityId` for a number in India (TRAI's DLT
  rules); answered `{"SMSMessage": {"Sid", "Status": "queued", ...}}` (the HTTP code of a
  success is not documented consistently: 200 here). Kept in `messages`, never delivered.
* StatusCallbacks (…/status-callback): `answered` when the agent (`From`) picks up and the
  customer leg is being dialed (`Legs[1][Status]` empty), `answered` again when the customer picks
  up, then `terminal`; posted to the exact StatusCallback URL as JSON or multipart/form-data with
  flat `Legs[n][Field]` keys. Exotel signs nothing, so neither does this stand-in: the URL's own
  token is the only proof, exactly as in production.
* An inbound call walking a flow: a synchronous Passthru (200: Connect, 302: a greeting), the
  Connect applet's dynamic URL (JSON `destination.numbers`), and a closing asynchronous Passthru,
  each a GET with the query parameters of support articles 48283 and 3000088074.

Playback never starts by itself: a test calls `play()` or `inbound()`.
"""

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from tests.standins.base import CallsStandin, basic_auth

IST = ZoneInfo("Asia/Kolkata")
EVENTS = frozenset({"terminal", "answered"})
CONTENT_TYPES = frozenset({"multipart/form-data", "application/json"})
# carriers.md §7: the default StatusCallbackContentType is not documented; multipart assumed.
DEFAULT_CONTENT_TYPE = "multipart/form-data"
LEG_OUTCOMES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
# Passthru's EndTime is this constant (support article 3000088074).
PASSTHRU_END_TIME = "1970-01-01 05:30:00"
MULTIPART_BOUNDARY = "exotelstandinboundary"


def new_sid() -> str:
    """An Exotel-shaped CallSid: 32 lower-case hex digits."""
    return uuid.uuid4().hex


def local(moment: datetime) -> str:
    """Exotel's `YYYY-MM-DD HH:mm:ss` in account-local (India) time, without a zone."""
    return moment.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S")


def rest_error(status: int, message: str, code: int | None = None) -> web.Response:
    body: dict[str, Any] = {"Status": status, "Message": message}
    if code is not None:
        body["Code"] = code
    return web.json_response({"RestException": body}, status=status)


# --- payloads and their encodings --------------------------------------------------------------


def status_payload(
    *,
    call_sid: str,
    event_type: str,
    status: str,
    agent_status: str | None,
    customer_status: str | None,
    agent_number: str,
    customer_number: str,
    exophone: str,
    created: datetime,
    at: datetime,
    agent_seconds: int = 0,
    conversation_seconds: int = 0,
    direction: str = "outbound-api",
) -> dict[str, Any]:
    """A StatusCallback with the extended fields (StatusCallbackEvents were requested)."""
    return {
        "CallSid": call_sid,
        "EventType": event_type,
        "DateCreated": local(created),
        "DateUpdated": local(at),
        "Status": status,
        "To": customer_number,
        "From": agent_number,
        "PhoneNumberSid": exophone,
        "StartTime": local(created),
        "EndTime": local(at) if event_type == "terminal" else None,
        "ConversationDuration": conversation_seconds,
        "Direction": direction,
        "CustomField": None,
        "RecordingUrl": None,
        "Legs": [
            {"OnCallDuration": agent_seconds, "Status": agent_status, "AnsweredBy": "NA"},
            {
                "OnCallDuration": conversation_seconds,
                "Status": customer_status,
                "AnsweredBy": "HUMAN" if customer_status == "in-progress" else "NA",
            },
        ],
    }


def flat_fields(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Form encoding: `Legs` flattened to `Legs[n][Field]`, null as the empty string."""
    pairs: list[tuple[str, str]] = []
    for name, value in payload.items():
        if name == "Legs":
            for i, leg in enumerate(value):
                pairs += [(f"Legs[{i}][{k}]", "" if v is None else str(v)) for k, v in leg.items()]
        else:
            pairs.append((name, "" if value is None else str(value)))
    return pairs


def encode(payload: Mapping[str, Any], content_type: str) -> tuple[bytes, str]:
    """(body, Content-Type header) of a StatusCallback in `content_type`."""
    if content_type == "application/json":
        return json.dumps(payload).encode(), "application/json"
    if content_type == "application/x-www-form-urlencoded":
        return urlencode(flat_fields(payload)).encode(), content_type
    lines: list[str] = []
    for name, value in flat_fields(payload):
        lines += [
            f"--{MULTIPART_BOUNDARY}",
            f'Content-Disposition: form-data; name="{name}"',
            "",
            value,
        ]
    lines += [f"--{MULTIPART_BOUNDARY}--", ""]
    return "\r\n".join(lines).encode(), f"multipart/form-data; boundary={MULTIPART_BOUNDARY}"


def flow_params(
    *,
    call_sid: str,
    caller: str,
    exophone: str,
    call_type: str,
    created: datetime,
    now: datetime,
    dial_whom: str = "",
    dial_status: str | None = None,
    dial_seconds: int = 0,
) -> dict[str, str]:
    """The query of a flow applet's request, in the order of a captured Passthru request."""
    params = {
        "CallSid": call_sid,
        "CallFrom": caller,
        "CallTo": exophone,
        "Direction": "incoming",
        # Passthru's Created is RFC 1123-like, without a zone [carriers.md §2.4].
        "Created": created.astimezone(IST).strftime("%a, %d %b %Y %H:%M:%S"),
        "DialCallDuration": str(dial_seconds),
        "StartTime": local(created),
        "EndTime": PASSTHRU_END_TIME,
        "CallType": call_type,
        "DialWhomNumber": dial_whom,
        "flow_id": "11754",
        "tenant_id": "1409",
        "From": caller,
        "To": exophone,
        "CurrentTime": local(now),
    }
    if dial_status is not None:
        params["DialCallStatus"] = dial_status
    return params


def with_query(url: str, params: Mapping[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(list(params.items()))


# --- the stand-in ------------------------------------------------------------------------------


@dataclass
class CallbackResult:
    """One request the stand-in made to the gateway, and how it was answered."""

    url: str
    method: str
    payload: dict[str, Any]
    content_type: str
    status: int
    body: str
    reply_type: str
    kind: str


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    auth: tuple[str, str] | None
    form: MultiDict[str]
    status: int = 0


@dataclass
class StandinCall:
    sid: str
    account_sid: str
    agent: str
    customer: str
    caller_id: str
    callback: str | None
    events: frozenset[str]
    content_type: str
    status: str = "in-progress"
    leg1: str | None = None
    leg2: str | None = None
    conversation_s: int = 0
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))


async def deliver(
    http: aiohttp.ClientSession,
    url: str,
    payload: Mapping[str, Any],
    *,
    content_type: str = "application/json",
    kind: str = "status",
) -> CallbackResult:
    """POST a StatusCallback to `url` the way Exotel does (no signature: it has none)."""
    body, header = encode(payload, content_type)
    headers = {"Content-Type": header, "User-Agent": "Exotel-StandIn/1.0"}
    async with http.post(url, data=body, headers=headers, allow_redirects=False) as resp:
        return CallbackResult(
            url=url,
            method="POST",
            payload=dict(payload),
            content_type=content_type,
            status=resp.status,
            body=await resp.text(),
            reply_type=resp.content_type,
            kind=kind,
        )


async def fetch(
    http: aiohttp.ClientSession, url: str, params: Mapping[str, str], *, kind: str
) -> CallbackResult:
    """GET a flow applet's URL with the call's parameters appended to its query."""
    target = with_query(url, params)
    headers = {"Exotel-Version": "1.0"} if kind == "connect" else {}
    async with http.get(target, headers=headers, allow_redirects=False) as resp:
        return CallbackResult(
            url=target,
            method="GET",
            payload=dict(params),
            content_type="",
            status=resp.status,
            body=await resp.text(),
            reply_type=resp.content_type,
            kind=kind,
        )


class ExotelStandin(CallsStandin[StandinCall]):
    """The REST API on 127.0.0.1 plus explicit, deterministic call playback."""

    def __init__(self, accounts: Mapping[str, tuple[str, str]]) -> None:
        super().__init__()
        self.accounts = dict(accounts)  # account SID -> (API key, API token)
        self.requests: list[RecordedRequest] = []
        self.callbacks: list[CallbackResult] = []
        self.messages: list[dict[str, Any]] = []

    def connects(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and "/Calls/connect" in r.path]

    # --- the REST API -------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        form: MultiDict[str] = MultiDict()
        if request.method == "POST":
            posted: MultiDictProxy[Any] = await request.post()
            form = MultiDict((k, str(v)) for k, v in posted.items())
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            auth=basic_auth(request.headers.get("Authorization")),
            form=form,
        )
        self.requests.append(record)
        response = await self._route(request, record)
        record.status = response.status
        return response

    async def _route(self, request: web.Request, record: RecordedRequest) -> web.Response:
        parts = request.path.strip("/").split("/")
        if (
            len(parts) < 4
            or parts[0] != "v1"
            or parts[1] != "Accounts"
            or parts[3] not in ("Calls", "Sms")
        ):
            return rest_error(404, "The requested resource was not found")
        sid = parts[2]
        if record.auth is None or self.accounts.get(sid) != record.auth:
            return rest_error(401, "Authentication failed")
        tail = parts[4:]
        if parts[3] == "Sms":
            if request.method == "POST" and tail in (["send"], ["send.json"]):
                return self._send_sms(sid, record.form)
            return rest_error(405, "Method not allowed")
        if request.method == "POST" and tail in (["connect"], ["connect.json"]):
            return await self._connect(sid, record.form, as_json=tail[0].endswith(".json"))
        if request.method == "GET" and len(tail) == 1:
            return self._details(sid, tail[0].removesuffix(".json"))
        return rest_error(405, "Method not allowed")

    def _send_sms(self, account_sid: str, form: MultiDict[str]) -> web.Response:
        for name in ("From", "To", "Body"):
            if not form.get(name):
                return rest_error(400, f"Missing parameter: {name}")
        if len(form["Body"]) > 2000:
            return rest_error(400, "Body cannot exceed 2000 characters")
        if form["To"].startswith("+91") and not form.get("DltEntityId"):
            return rest_error(400, "DltEntityId is mandatory for SMS to India")
        sid = uuid.uuid4().hex
        message = {
            "Sid": sid,
            "AccountSid": account_sid,
            "From": f"/{account_sid}",
            "To": form["To"],
            "Body": form["Body"],
            "Direction": "outbound-api",
            "Status": "queued",
            "DetailedStatus": "PENDING_TO_OPERATOR",
            "DetailedStatusCode": 21010,
            "SmsUnits": 1,
            "Uri": f"/v1/Accounts/{account_sid}/SMS/Messages/{sid}.json",
        }
        self.messages.append({**message, "DltEntityId": form.get("DltEntityId")})
        return web.json_response({"SMSMessage": message})

    async def _connect(
        self, account_sid: str, form: MultiDict[str], *, as_json: bool
    ) -> web.Response:
        for name in ("From", "To", "CallerId"):
            if not form.get(name):
                return rest_error(400, f"Missing parameter: {name}")
        events = [v for k, v in form.items() if k.startswith("StatusCallbackEvents[")]
        if any(e not in EVENTS for e in events):
            return rest_error(400, "StatusCallbackEvents takes terminal and answered")
        content_type = form.get("StatusCallbackContentType", DEFAULT_CONTENT_TYPE)
        if content_type not in CONTENT_TYPES:
            return rest_error(400, "Invalid StatusCallbackContentType")
        time_limit = form.get("TimeLimit")
        if time_limit is not None and (not time_limit.isdigit() or int(time_limit) > 14400):
            return rest_error(400, "TimeLimit must be at most 14400 seconds")
        call = StandinCall(
            sid=new_sid(),
            account_sid=account_sid,
            agent=form["From"],
            customer=form["To"],
            caller_id=form["CallerId"],
            callback=form.get("StatusCallback"),
            # Without StatusCallbackEvents only the default terminal callback is sent.
            events=frozenset(events) or frozenset({"terminal"}),
            content_type=content_type,
        )
        await self._call_created(call.sid, call)
        resource = self._resource(call)
        if as_json:
            return web.json_response({"Call": resource})
        leaves = "".join(f"<{k}>{'' if v is None else v}</{k}>" for k, v in resource.items())
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f"<TwilioResponse><Call>{leaves}</Call></TwilioResponse>"
        )
        return web.Response(text=xml, content_type="application/xml")

    def _details(self, account_sid: str, call_sid: str) -> web.Response:
        call = self.calls.get(call_sid)
        if call is None or call.account_sid != account_sid:
            return rest_error(404, "Call not found")
        resource = self._resource(call)
        resource["Details"] = {
            "ConversationDuration": call.conversation_s,
            "Leg1Status": call.leg1,
            "Leg2Status": call.leg2,
            "Legs": [
                {"Leg": {"Id": 1, "OnCallDuration": call.conversation_s}},
                {"Leg": {"Id": 2, "OnCallDuration": call.conversation_s}},
            ],
        }
        return web.json_response({"Call": resource})

    @staticmethod
    def _resource(call: StandinCall) -> dict[str, Any]:
        created = local(call.created_at)
        return {
            "Sid": call.sid,
            "ParentCallSid": None,
            "DateCreated": created,
            "DateUpdated": created,
            "AccountSid": call.account_sid,
            "To": call.customer,
            "From": call.agent,
            "PhoneNumberSid": call.caller_id,
            "Status": call.status,
            "StartTime": created,
            "EndTime": None,
            "Duration": None,
            "Price": None,
            "Direction": "outbound-api",
            "AnsweredBy": None,
            "ForwardedFrom": None,
            "CallerName": None,
            "Uri": f"/v1/Accounts/{call.account_sid}/Calls/{call.sid}.json",
            "RecordingUrl": None,
        }

    # --- playback -----------------------------------------------------------------------

    def script(
        self,
        call_sid: str,
        *,
        agent_outcome: str = "answered",
        customer_outcome: str = "completed",
        talk_seconds: int = 42,
    ) -> list[dict[str, Any]]:
        """The StatusCallbacks of a call, in the order Exotel sends them (not yet sent)."""
        call = self.calls[call_sid]
        clock = call.created_at
        payloads: list[dict[str, Any]] = []

        def add(
            event_type: str,
            status: str,
            leg1: str | None,
            leg2: str | None,
            *,
            after: int,
            agent_seconds: int = 0,
            conversation_seconds: int = 0,
        ) -> None:
            nonlocal clock
            clock += timedelta(seconds=after)
            if event_type in call.events:
                payloads.append(
                    status_payload(
                        call_sid=call.sid,
                        event_type=event_type,
                        status=status,
                        agent_status=leg1,
                        customer_status=leg2,
                        agent_number=call.agent,
                        customer_number=call.customer,
                        exophone=call.caller_id,
                        created=call.created_at,
                        at=clock,
                        agent_seconds=agent_seconds,
                        conversation_seconds=conversation_seconds,
                    )
                )

        if agent_outcome != "answered":
            assert agent_outcome in LEG_OUTCOMES, agent_outcome
            add("terminal", agent_outcome, agent_outcome, None, after=30)
            return payloads
        add("answered", "in-progress", "in-progress", "", after=6)
        if customer_outcome == "completed":
            add("answered", "in-progress", "in-progress", "in-progress", after=5)
            add(
                "terminal",
                "completed",
                "completed",
                "completed",
                after=talk_seconds,
                agent_seconds=talk_seconds + 6,
                conversation_seconds=talk_seconds,
            )
        else:
            assert customer_outcome in LEG_OUTCOMES, customer_outcome
            # The call's own Status only takes completed, failed, busy and no-answer.
            overall = "completed" if customer_outcome == "canceled" else customer_outcome
            add("terminal", overall, "completed", customer_outcome, after=25, agent_seconds=25)
        return payloads

    async def play(
        self,
        call_sid: str,
        *,
        agent_outcome: str = "answered",
        customer_outcome: str = "completed",
        talk_seconds: int = 42,
    ) -> list[CallbackResult]:
        """Send the call's callbacks one at a time, in order, and remember its final state."""
        call = self.calls[call_sid]
        payloads = self.script(
            call_sid,
            agent_outcome=agent_outcome,
            customer_outcome=customer_outcome,
            talk_seconds=talk_seconds,
        )
        sent: list[CallbackResult] = []
        for payload in payloads:
            sent.append(await self.send(call_sid, payload))
        if agent_outcome != "answered":
            call.status, call.leg1, call.leg2 = agent_outcome, agent_outcome, None
        else:
            call.leg1, call.leg2 = "completed", customer_outcome
            call.status = "completed" if customer_outcome == "canceled" else customer_outcome
            call.conversation_s = talk_seconds if customer_outcome == "completed" else 0
        return sent

    async def send(self, call_sid: str, payload: Mapping[str, Any]) -> CallbackResult:
        """One StatusCallback of the call, to its URL, in the content type it asked for."""
        call = self.calls[call_sid]
        assert call.callback, "the call has no StatusCallback"
        result = await deliver(self.http, call.callback, payload, content_type=call.content_type)
        self.callbacks.append(result)
        return result

    async def inbound(
        self,
        *,
        caller: str,
        exophone: str,
        passthru_url: str,
        connect_url: str,
        hangup_url: str,
        agent_outcome: str = "completed",
        talk_seconds: int = 30,
    ) -> list[CallbackResult]:
        """A caller walks the flow: Passthru (200: Connect, 302: greeting), then the closing one."""
        sid = new_sid()
        created = datetime.now(UTC).replace(microsecond=0)
        clock = created

        def params(call_type: str, after: int, **kw: Any) -> dict[str, str]:
            nonlocal clock
            clock += timedelta(seconds=after)
            return flow_params(
                call_sid=sid,
                caller=caller,
                exophone=exophone,
                call_type=call_type,
                created=created,
                now=clock,
                **kw,
            )

        sent = [await fetch(self.http, passthru_url, params("call-attempt", 2), kind="passthru")]
        if sent[0].status == 200:
            connect = await fetch(self.http, connect_url, params("call-attempt", 1), kind="connect")
            sent.append(connect)
            numbers = json.loads(connect.body)["destination"]["numbers"] if connect.body else []
            if numbers and agent_outcome == "completed":
                closing = params(
                    "completed",
                    talk_seconds + 8,
                    dial_whom=numbers[0],
                    dial_status="completed",
                    dial_seconds=talk_seconds + 8,
                )
            elif numbers:
                closing = params("incomplete", 30, dial_whom=numbers[0], dial_status=agent_outcome)
            else:
                closing = params("incomplete", 1)
        else:
            # The greeting branch: no Connect applet ran, so the closing Passthru says so.
            closing = params("call-attempt", 8)
        sent.append(await fetch(self.http, hangup_url, closing, kind="hangup"))
        self.callbacks += sent
        return sent
