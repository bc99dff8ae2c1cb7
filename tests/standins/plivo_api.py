"""A local stand-in for Plivo's Call API that also plays calls back as V3-signed callbacks.

What it imitates, from ../shared/carriers.md §3 and Plivo's docs:

* `POST /v1/Account/{auth_id}/Call/` with HTTP Basic auth (Auth ID : auth token) and the JSON
  body the plivo SDK sends (`from`, `to`, `answer_url`, ... https://www.plivo.com/docs/voice/api/call/make-a-call),
  answered `201 {"message": "call fired", "request_uuid": ..., "api_id": ...}` (plivo-python's
  `callCreateResponse.json`); errors as `{"api_id": ..., "error": ...}`, the shape the SDK reads.
* `GET /v1/Account/{auth_id}/Call/{uuid}/?status=live` (a live call), `GET .../Call/{uuid}/`
  (a finished call's record) and `GET .../Call/?parent_call_uuid=...` (records of its B legs).
* `DELETE /v1/Account/{auth_id}/Call/{uuid}/` (hang up a call, 204 with no body;
  https://www.plivo.com/docs/voice/api/call/hangup-a-call): a call held by `play(...,
  until_hung_up=True)` then ends with `HangupSource=API Request`.
* Callbacks, form-encoded and signed with `X-Plivo-Signature-V3` by the plivo SDK's own
  `signature_v3` functions: ring_url (`Event=Ring`), answer_url (`Event=StartApp`, synchronous:
  the returned Plivo XML is followed), the `<Dial callbackUrl>` (DialAnswer, DialConnected,
  DialHangup), the `<Dial action>` (DialStatus; its XML is read too) and hangup_url
  (`Event=Hangup`). For one destination the CallUUID equals the request_uuid.
* `POST /v1/Account/{auth_id}/Message/` (Send a Message, JSON `src`, `dst`, `text`, optional
  `type`; https://www.plivo.com/docs/messaging/api/message/send-a-message), answered
  `202 {"message": "message(s) queued", "message_uuid": [...], "api_id": ...}`; a missing
  parameter or a number that is not digits is a 400 `{"api_id", "error"}`. Messages are
  kept in `messages`; nothing is delivered.

Playback never starts by itself: a test calls `play()` or `inbound()`, so every run sends the
same requests in the same order, each one answered before the next is sent.
"""

import asyncio
import secrets
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from plivo.utils.signature_v3 import construct_get_url, construct_post_url, get_signature_v3

from tests.standins.base import CallsStandin, basic_auth

# Standard telephony causes (as FreeSWITCH, under Plivo, spells them) and Plivo's hangup codes
# (https://docs.plivo.com/docs/voice/troubleshooting/hangup-causes) for each way a leg ends.
# 4000 and 2000 are from that page; the busy/no-answer codes are placeholders (not in the
# pages read, carriers.md §7) and only feed the call records the stand-in serves.
CAUSES = {
    "completed": ("NORMAL_CLEARING", 4000, "Normal Hangup"),
    "busy": ("USER_BUSY", 3000, "Busy Line"),
    "no-answer": ("NO_ANSWER", 3020, "No Answer"),
    "failed": ("UNALLOCATED_NUMBER", 2000, "Invalid Destination Address"),
}
SESSION_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"
HANGUP_WAIT_S = 10.0
# Plivo writes StartTime/AnswerTime/EndTime in the account's console zone: say, India.
CONSOLE_OFFSET = timedelta(hours=5, minutes=30)


def new_uuid() -> str:
    return str(uuid.uuid4())


def plivo_error(status: int, message: str) -> web.Response:
    return web.json_response({"api_id": new_uuid(), "error": message}, status=status)


def sign(auth_token: str, method: str, url: str, params: Mapping[str, str], nonce: str) -> str:
    """X-Plivo-Signature-V3 as Plivo computes it, by the plivo SDK's signature_v3 (the oracle)."""
    if method == "GET":
        built = construct_get_url(url, dict(params))
    else:
        built = construct_post_url(url, dict(params))
    return str(get_signature_v3(auth_token, built.decode(), nonce).decode())


def new_nonce() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(20))


@dataclass
class CallbackResult:
    """One callback the stand-in delivered, and how the receiver answered."""

    url: str
    method: str
    params: dict[str, str]
    signature: str
    nonce: str
    status: int
    content_type: str
    body: str
    leg: str  # agent | customer | inbound | custom


async def post_signed(
    http: aiohttp.ClientSession,
    url: str,
    params: Mapping[str, str],
    auth_token: str,
    *,
    method: str = "POST",
    signed_url: str | None = None,
    signature: str | None = None,
    nonce: str | None = None,
    headers: Mapping[str, str] | None = None,
    leg: str = "custom",
) -> CallbackResult:
    """Send a Plivo-style callback: form-encoded POST, or GET with the parameters in the query.

    `signed_url` signs another URL than the one requested (to test URL reconstruction);
    `signature` replaces the computed one outright ("" sends no signature header).
    """
    nonce = nonce or new_nonce()
    request_headers: dict[str, str] = {}
    if method == "GET":
        target = url + ("&" if "?" in url else "?") + urlencode(sorted(params.items()))
        computed = sign(auth_token, "GET", signed_url or target, {}, nonce)
        body: str | None = None
    else:
        target = url
        computed = sign(auth_token, "POST", signed_url or url, params, nonce)
        body = urlencode(sorted(params.items()))
        request_headers["Content-Type"] = "application/x-www-form-urlencoded"
    if signature is None:
        signature = computed
    if signature:
        request_headers["X-Plivo-Signature-V3"] = signature
        # Plivo also signs with the main account's token; for a main account it is the same.
        request_headers["X-Plivo-Signature-Ma-V3"] = signature
    request_headers["X-Plivo-Signature-V3-Nonce"] = nonce
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
            nonce=nonce,
            status=resp.status,
            content_type=resp.content_type,
            body=text,
            leg=leg,
        )


@dataclass
class RecordedRequest:
    """A request the stand-in REST API received, as the test inspects it."""

    method: str
    path: str
    auth: tuple[str, str] | None
    query: dict[str, str]
    body: dict[str, Any]
    content_type: str
    status: int = 0


@dataclass
class Leg:
    """One Plivo call (leg) as the stand-in tracks it, for callbacks and call records."""

    uuid: str
    from_number: str
    to_number: str
    direction: str
    parent_uuid: str | None = None
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    call_status: str = "queued"
    answered: datetime | None = None
    ended: datetime | None = None
    ended_as: str | None = None

    def record(self) -> dict[str, Any]:
        """The Call object of a finished call (https://www.plivo.com/docs/voice/api/call/the-call-object)."""
        assert self.ended is not None and self.ended_as is not None
        talk = round((self.ended - self.answered).total_seconds()) if self.answered else 0
        _, code, name = CAUSES.get(self.ended_as, CAUSES["completed"])
        return {
            "answer_time": _local(self.answered) if self.answered else None,
            "bill_duration": talk,
            "billed_duration": -(-talk // 60) * 60,
            "call_direction": self.direction,
            "call_duration": talk,
            "call_uuid": self.uuid,
            "end_time": _local(self.ended),
            "from_number": self.from_number,
            "hangup_cause_code": code,
            "hangup_cause_name": name,
            "hangup_source": "Callee",
            "initiation_time": _local(self.started),
            "parent_call_uuid": self.parent_uuid,
            "resource_uri": f"/v1/Account/-/Call/{self.uuid}/",
            "to_number": self.to_number,
            "total_amount": "0.00500",
            "total_rate": "0.00500",
        }


@dataclass
class StandinCall:
    """A call created through the Make Call API."""

    request_uuid: str
    auth_id: str
    body: dict[str, Any]
    agent: Leg
    customer: Leg | None = None


def _local(moment: datetime) -> str:
    return (moment + CONSOLE_OFFSET).strftime(LOCAL_FORMAT)


AfterEach = Callable[[CallbackResult], Awaitable[None]]


class PlivoStandin(CallsStandin[StandinCall]):
    """The REST API on 127.0.0.1 plus explicit, deterministic call playback."""

    def __init__(self, accounts: Mapping[str, str]) -> None:
        super().__init__()
        self.accounts = dict(accounts)  # Auth ID -> auth token
        self.requests: list[RecordedRequest] = []
        self.legs: dict[str, Leg] = {}
        self.callbacks: list[CallbackResult] = []
        self.hangups: dict[str, asyncio.Event] = {}  # CallUUID -> hung up through the API
        self.messages: list[dict[str, Any]] = []

    # --- the REST API -----------------------------------------------------------------

    def creates(self) -> list[RecordedRequest]:
        """Make Call requests, in arrival order."""
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/Call/")]

    def hangup_requests(self) -> list[RecordedRequest]:
        """Hang-up (DELETE) requests, in arrival order."""
        return [r for r in self.requests if r.method == "DELETE"]

    def _hangup_event(self, call_uuid: str) -> asyncio.Event:
        return self.hangups.setdefault(call_uuid, asyncio.Event())

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body: dict[str, Any] = {}
        if request.method == "POST":
            if request.content_type == "application/json":
                try:
                    loaded = await request.json()
                except ValueError:
                    loaded = None
                body = loaded if isinstance(loaded, dict) else {"__invalid__": True}
            else:
                body = {k: str(v) for k, v in (await request.post()).items()}
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            auth=basic_auth(request.headers.get("Authorization")),
            query=dict(request.query),
            body=body,
            content_type=request.content_type,
        )
        self.requests.append(record)
        response = await self._route(request, record)
        record.status = response.status
        return response

    async def _route(self, request: web.Request, record: RecordedRequest) -> web.StreamResponse:
        parts = request.path.split("/")
        is_message = (
            len(parts) == 6
            and parts[1:3] == ["v1", "Account"]
            and parts[4:]
            == [
                "Message",
                "",
            ]
        )
        if is_message:
            if record.auth is None or self.accounts.get(parts[3]) != record.auth[1]:
                return plivo_error(401, "Authentication failed")
            if record.auth[0] != parts[3]:
                return plivo_error(401, "Authentication failed")
            if request.method != "POST":
                return plivo_error(405, "method not allowed")
            return self._send_message(parts[3], record.body)
        # "", "v1", "Account", "{auth_id}", "Call", ["{uuid}"], ""
        if (
            len(parts) not in (6, 7)
            or parts[1:3] != ["v1", "Account"]
            or parts[4] != "Call"
            or parts[-1] != ""
        ):
            return plivo_error(404, "not found")
        auth_id = parts[3]
        if (
            record.auth is None
            or record.auth[0] != auth_id
            or self.accounts.get(auth_id) != record.auth[1]
        ):
            # Plivo answers 401 for a wrong Auth ID or token alike (body shape unverified).
            return plivo_error(401, "Authentication failed")
        if len(parts) == 6:
            if request.method == "POST":
                return await self._create_call(auth_id, record.body)
            if request.method == "GET":
                return self._list_calls(record.query)
            return plivo_error(405, "method not allowed")
        if request.method == "DELETE":
            return self._hang_up_call(auth_id, parts[5])
        if request.method != "GET":
            return plivo_error(405, "method not allowed")
        return self._get_call(parts[5], record.query)

    def _send_message(self, auth_id: str, body: dict[str, Any]) -> web.Response:
        if body.get("__invalid__"):
            return plivo_error(400, "invalid JSON body")
        for name in ("src", "dst", "text"):
            if not isinstance(body.get(name), str) or not body[name]:
                return plivo_error(400, f"Missing mandatory parameter: {name}")
        for name in ("src", "dst"):
            number = body[name]
            if not (number.isdigit() and 8 <= len(number) <= 15):
                return plivo_error(400, f"invalid '{name}' number")
        if body.get("type", "sms") not in ("sms", "mms", "whatsapp"):
            return plivo_error(400, "type must be sms, mms or whatsapp")
        message_uuid = new_uuid()
        self.messages.append({"auth_id": auth_id, "message_uuid": message_uuid, **body})
        return web.json_response(
            {"message": "message(s) queued", "message_uuid": [message_uuid], "api_id": new_uuid()},
            status=202,
        )

    def _hang_up_call(self, auth_id: str, call_uuid: str) -> web.Response:
        """End a live (or cancel a queued) call; its callbacks follow from the playback."""
        leg = self.legs.get(call_uuid)
        owner = next(
            (c.auth_id for c in self.calls.values() if c.agent is leg or c.customer is leg), None
        )
        if leg is None or leg.ended is not None or owner not in (None, auth_id):
            return plivo_error(404, "call not found")
        self._hangup_event(call_uuid).set()
        return web.Response(status=204)

    async def _create_call(self, auth_id: str, body: dict[str, Any]) -> web.Response:
        if body.get("__invalid__"):
            return plivo_error(400, "invalid JSON body")
        for name in ("from", "to", "answer_url"):
            if not isinstance(body.get(name), str) or not body[name]:
                return plivo_error(400, f"Missing mandatory parameter: {name}")
        for name in ("from", "to"):
            number = body[name].lstrip("+")
            if not (number.isdigit() and 8 <= len(number) <= 15):
                return plivo_error(400, f"invalid '{name}' number")
        for name in ("answer_url", "ring_url", "hangup_url"):
            value = body.get(name)
            if value is not None and not str(value).startswith(("http://", "https://")):
                return plivo_error(400, f"{name} is not a valid URL")
        for name in ("answer_method", "ring_method", "hangup_method"):
            if body.get(name, "POST") not in ("GET", "POST"):
                return plivo_error(400, f"{name} must be GET or POST")
        if "<" in body["to"]:
            return plivo_error(400, "the stand-in places calls to one destination only")
        request_uuid = new_uuid()
        agent = Leg(
            uuid=request_uuid,
            from_number=body["from"].lstrip("+"),
            to_number=body["to"].lstrip("+"),
            direction="outbound",
        )
        call = StandinCall(request_uuid=request_uuid, auth_id=auth_id, body=body, agent=agent)
        self.legs[request_uuid] = agent
        await self._call_created(request_uuid, call)
        return web.json_response(
            {"message": "call fired", "request_uuid": request_uuid, "api_id": new_uuid()},
            status=201,
        )

    def _get_call(self, call_uuid: str, query: Mapping[str, str]) -> web.Response:
        leg = self.legs.get(call_uuid)
        if query.get("status") == "live":
            if leg is None or leg.ended is not None or leg.call_status == "queued":
                return plivo_error(404, "call not found")
            return web.json_response(
                {
                    "api_id": new_uuid(),
                    "call_status": leg.call_status,
                    "call_uuid": leg.uuid,
                    "caller_name": "",
                    "direction": leg.direction,
                    "from": leg.from_number,
                    "request_uuid": leg.uuid,
                    "session_start": leg.started.strftime(SESSION_FORMAT),
                    "to": leg.to_number,
                }
            )
        if leg is None or leg.ended is None:
            return plivo_error(404, "call not found")
        return web.json_response({"api_id": new_uuid(), **leg.record()})

    def _list_calls(self, query: Mapping[str, str]) -> web.Response:
        parent = query.get("parent_call_uuid")
        limit = int(query.get("limit", "20"))
        found = [
            leg.record()
            for leg in self.legs.values()
            if leg.ended is not None and (parent is None or leg.parent_uuid == parent)
        ][:limit]
        return web.json_response(
            {
                "api_id": new_uuid(),
                "meta": {"limit": limit, "next": None, "offset": 0, "previous": None},
                "objects": found,
            }
        )

    # --- playback ---------------------------------------------------------------------

    async def play(
        self,
        request_uuid: str,
        *,
        agent_outcome: str = "answered",
        customer_outcome: str = "completed",
        talk_seconds: int = 42,
        dial_hangup_for_unanswered: bool = True,
        after_each: AfterEach | None = None,
        until_hung_up: bool = False,
    ) -> list[CallbackResult]:
        """Play a Make Call request through its callbacks, one request at a time, in order.

        The agent leg rings; unless `agent_outcome` ends it there (busy, no-answer, failed,
        timeout), it is answered and the answer URL's XML is followed: a `<Dial><Number>`
        rings the customer, who plays `customer_outcome`. `dial_hangup_for_unanswered=False`
        leaves out the DialHangup of a B leg that was never answered, so that only the Dial
        action reports how it ended. `until_hung_up=True` holds the connected call until the
        hang-up API is called for it, then ends both legs as that request does.
        """
        call = self.calls[request_uuid]
        token = self.accounts[call.auth_id]
        body = call.body
        run = _Run(self, token, after_each)
        agent = call.agent
        agent.started = run.clock.now
        if body.get("ring_url"):
            agent.call_status = "ringing"
            await run.send(
                body["ring_url"],
                body.get("ring_method", "POST"),
                self._a_params(agent, "ringing", Event="Ring"),
                "agent",
            )
        if agent_outcome != "answered":
            run.clock.tick(20)
            await self._hang_up(run, agent, agent_outcome, body)
            return run.sent
        agent.answered = run.clock.tick(3)
        agent.call_status = "in-progress"
        answer = await run.send(
            body["answer_url"],
            body.get("answer_method", "POST"),
            self._a_params(agent, "in-progress", Event="StartApp"),
            "agent",
        )
        hung_up = await self._follow(
            run,
            agent,
            answer.body,
            customer_outcome,
            talk_seconds,
            dial_hangup_for_unanswered,
            until_hung_up=until_hung_up,
        )
        run.clock.tick(1)
        api_ended = until_hung_up and hung_up and customer_outcome == "completed"
        source = "API Request" if api_ended else "Callee"
        await self._hang_up(run, agent, "completed", body, source=source)
        return run.sent

    async def inbound(
        self,
        auth_id: str,
        *,
        from_number: str,
        to_number: str,
        answer_url: str,
        hangup_url: str,
        agent_outcome: str = "completed",
        talk_seconds: int = 30,
        after_each: AfterEach | None = None,
    ) -> list[CallbackResult]:
        """A caller rings one of the account's numbers (its Application's answer/hangup URLs).

        The answer URL is asked with `Direction=inbound, CallStatus=ringing`; a returned
        `<Dial>` rings that number (the agent), who plays `agent_outcome`.
        """
        token = self.accounts[auth_id]
        run = _Run(self, token, after_each)
        leg = Leg(
            uuid=new_uuid(),
            from_number=from_number.lstrip("+"),
            to_number=to_number.lstrip("+"),
            direction="inbound",
            started=run.clock.now,
            call_status="ringing",
        )
        self.legs[leg.uuid] = leg
        answer = await run.send(answer_url, "POST", self._a_params(leg, "ringing"), "inbound")
        dialed = await self._follow(run, leg, answer.body, agent_outcome, talk_seconds, True)
        if not dialed and _has(answer.body, "Speak"):
            # Speaking to the caller answers the call.
            leg.answered = run.clock.tick(1)
        run.clock.tick(2)
        await self._hang_up(run, leg, "completed", {"hangup_url": hangup_url})
        return run.sent

    async def _follow(
        self,
        run: "_Run",
        a_leg: Leg,
        xml: str,
        outcome: str,
        talk_seconds: int,
        dial_hangup_for_unanswered: bool,
        *,
        until_hung_up: bool = False,
    ) -> bool:
        """Run the `<Dial>` of an answer document, if it has one; False if it has none.

        With `until_hung_up` a connected B leg talks until the A leg is hung up through the API:
        both legs end then, and the Dial action is not requested (no XML is left to run).
        """
        # The XML comes from the gateway under test, not from the network.
        root = ET.fromstring(xml)  # noqa: S314
        assert root.tag == "Response", xml
        dial = root.find("Dial")
        number = dial.find("Number") if dial is not None else None
        if dial is None or number is None or not (number.text or "").strip():
            return False
        b_leg = Leg(
            uuid=new_uuid(),
            from_number=(dial.get("callerId") or a_leg.to_number).lstrip("+"),
            to_number=(number.text or "").strip().lstrip("+"),
            direction="outbound",
            parent_uuid=a_leg.uuid,
            started=run.clock.tick(1),
            call_status="ringing",
        )
        self.legs[b_leg.uuid] = b_leg
        for call in self.calls.values():
            if call.agent is a_leg:
                call.customer = b_leg
        callback = dial.get("callbackUrl")
        callback_method = dial.get("callbackMethod") or "POST"
        common = {
            "CallUUID": a_leg.uuid,
            "DialALegUUID": a_leg.uuid,
            "DialBLegFrom": b_leg.from_number,
            "DialBLegPosition": "1",
            "DialBLegTo": b_leg.to_number,
            "DialBLegUUID": b_leg.uuid,
        }
        if outcome == "completed":
            b_leg.answered = run.clock.tick(4)
            b_leg.call_status = "in-progress"
            if a_leg.answered is None:
                a_leg.answered = b_leg.answered
            if callback:
                for dial_action, event in (
                    ("answer", "DialAnswer"),
                    ("connected", "DialConnected"),
                ):
                    await run.send(
                        callback,
                        callback_method,
                        {
                            **common,
                            "DialAction": dial_action,
                            "DialBLegStatus": dial_action,
                            "Event": event,
                        },
                        "customer",
                    )
            if until_hung_up:
                await asyncio.wait_for(self._hangup_event(a_leg.uuid).wait(), HANGUP_WAIT_S)
            b_leg.ended = run.clock.tick(talk_seconds)
        else:
            b_leg.ended = run.clock.tick(25 if outcome == "no-answer" else 3)
        b_leg.ended_as = outcome
        cause, code, name = CAUSES[outcome]
        if callback and (outcome == "completed" or dial_hangup_for_unanswered):
            talk = talk_seconds if outcome == "completed" else 0
            await run.send(
                callback,
                callback_method,
                {
                    **common,
                    "DialAction": "hangup",
                    "DialBLegStatus": "hangup",
                    "DialBLegDuration": str(talk),
                    "DialBLegBillDuration": str(-(-talk // 60) * 60),
                    "DialBLegHangupCause": cause,
                    "DialBLegHangupCauseCode": str(code),
                    "DialBLegHangupCauseName": name,
                    "DialBLegHangupSource": "Caller" if until_hung_up and talk else "Callee",
                    "DialBLegTotalCost": "0.00500" if talk else "0.00000",
                    "Event": "DialHangup",
                },
                "customer",
            )
        action = dial.get("action")
        if action and not (until_hung_up and outcome == "completed"):
            result = await run.send(
                action,
                dial.get("method") or "POST",
                {
                    **self._a_params(a_leg, a_leg.call_status),
                    "DialALegUUID": a_leg.uuid,
                    # "Empty if nobody answers" (dial-status-reporting).
                    "DialBLegUUID": b_leg.uuid if outcome == "completed" else "",
                    "DialHangupCause": cause,
                    "DialRingStatus": "true",
                    "DialStatus": outcome,
                    "Event": "Redirect",
                },
                "customer",
            )
            ET.fromstring(result.body)  # noqa: S314  (the action must answer Plivo XML)
        return True

    async def _hang_up(
        self,
        run: "_Run",
        leg: Leg,
        status: str,
        urls: Mapping[str, Any],
        *,
        source: str = "Callee",
    ) -> None:
        leg.ended = run.clock.now
        leg.ended_as = status
        leg.call_status = status
        url = urls.get("hangup_url")
        if not url:
            return
        talk = round((leg.ended - leg.answered).total_seconds()) if leg.answered else 0
        cause, code, name = CAUSES.get(status, CAUSES["failed"])
        await run.send(
            url,
            urls.get("hangup_method", "POST"),
            self._a_params(
                leg,
                status,
                Event="Hangup",
                StartTime=_local(leg.started),
                AnswerTime=_local(leg.answered) if leg.answered else "",
                EndTime=_local(leg.ended),
                Duration=str(talk),
                BillDuration=str(-(-talk // 60) * 60),
                HangupCause=cause,
                HangupCauseCode=str(code),
                HangupCauseName=name,
                HangupSource=source,
                TotalCost="0.00500" if talk else "0.00000",
            ),
            "inbound" if leg.direction == "inbound" else "agent",
        )

    @staticmethod
    def _a_params(leg: Leg, status: str, **extra: str) -> dict[str, str]:
        """Parameters of a request about the call itself (XML request / Application docs)."""
        params = {
            "BillRate": "0.00500",
            "CallStatus": status,
            "CallUUID": leg.uuid,
            "Direction": leg.direction,
            "From": leg.from_number,
            "SessionStart": leg.started.strftime(SESSION_FORMAT),
            "To": leg.to_number,
        }
        if leg.direction == "outbound":
            params.update(ALegRequestUUID=leg.uuid, ALegUUID=leg.uuid, RequestUUID=leg.uuid)
        params.update(extra)
        return params


class _Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def tick(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


class _Run:
    """The callbacks of one call, sent in order with the account's token."""

    def __init__(self, standin: PlivoStandin, token: str, after_each: AfterEach | None) -> None:
        self.standin = standin
        self.token = token
        self.after_each = after_each
        self.clock = _Clock()
        self.sent: list[CallbackResult] = []

    async def send(self, url: str, method: str, params: dict[str, str], leg: str) -> CallbackResult:
        result = await post_signed(
            self.standin.http, url, params, self.token, method=method.upper(), leg=leg
        )
        self.sent.append(result)
        self.standin.callbacks.append(result)
        if self.after_each is not None:
            await self.after_each(result)
        return result


def _has(xml: str, tag: str) -> bool:
    return ET.fromstring(xml).find(tag) is not None  # noqa: S314  (the gateway's reply)
