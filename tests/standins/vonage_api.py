"""A local stand-in for Vonage's Voice API that also plays calls back as signed webhooks.

What it imitates, from ../shared/carriers.md §5 and Vonage's docs:

* `POST /v1/calls` authenticated by an application JWT (`Authorization: Bearer`, RS256, checked
  with the application's public key and its `application_id`, `iat`, `exp`, `jti` claims); the
  JSON body is checked against the API reference's schema (`to`, `from`, one of `answer_url`
  / `ncco`, E.164 digits `\\d{7,15}`, `ringing_timer` 1-120: Nexmo/api-specification
  definitions/voice.yml, https://developer.vonage.com/en/api/voice#createCall); 201 answers
  `{uuid, status: started, direction: outbound, conversation_uuid}` (vonage-python-sdk's
  voice/tests/data/create_call.json). Errors in Vonage's shape: `type` (a docs URL ending in
  `#code`), `title`, `detail`, `instance`, and `invalid_parameters` for validation.
* `GET /v1/calls/{uuid}` and `GET /v1/calls?conversation_uuid=...`: call records shaped like
  the SDK's get_call.json and list_calls_filter.json.
* `PUT /v1/calls/{uuid}` with `{"action": "hangup"}` ends a live leg, answered 204 with no body
  (https://developer.vonage.com/en/api/voice#updateCall; vonage-python-sdk's voice test
  `test_hangup`); a call held by `play(..., until_hung_up=True)` then reports its end.
* `POST /v1/messages` (the Messages API, same application JWT): an SMS is
  `{"message_type": "text", "channel": "sms", "to", "from", "text"}` with numbers as digits
  (`to` `\\d{7,15}`), answered `202 {"message_uuid"}`; a bad or missing field is a 422 with
  `invalid_parameters` (https://developer.vonage.com/en/api/messages). Messages are kept in
  `messages`; nothing is delivered.
* Playback: event webhooks as JSON POSTs (https://developer.vonage.com/en/voice/voice-api/
  webhook-reference), the answer URL fetched when a leg answers, and its NCCO followed: a
  `connect` rings the endpoint as a new leg of the same conversation whose events go to the
  action's `eventUrl`. Every request is signed as Vonage signs: `Authorization: Bearer <JWT>`,
  HS256 with the signature secret, claims `iat`, `jti`, `iss`, `payload_hash` (SHA-256 of the
  body; of the compact JSON of the query for GET), `api_key`, `application_id`.

Playback never starts by itself: a test calls `play()` or `inbound()` so every run sends the
same requests.
"""

import asyncio
import hashlib
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp
import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from tests.standins.base import CallsStandin

ERRORS_URL = "https://developer.nexmo.com/api-errors"
E164 = re.compile(r"^\d{7,15}$")
HANGUP_WAIT_S = 10.0
TERMINAL = frozenset(
    {"completed", "busy", "cancelled", "unanswered", "timeout", "rejected", "failed"}
)


def new_private_key(bits: int = 2048) -> str:
    """A fresh RSA key in PEM, as the Vonage dashboard hands out with a new application."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()


def compact(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def signed_jwt(
    secret: str,
    payload: bytes,
    *,
    application_id: str,
    api_key: str = "abcd1234",
    iat: float | None = None,
    jti: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """The JWT of a signed Vonage webhook over `payload` (the body, or the query's JSON)."""
    claims: dict[str, Any] = {
        "iat": int(time.time() if iat is None else iat),
        "jti": jti or str(uuid.uuid4()),
        "iss": "Vonage",
        "payload_hash": hashlib.sha256(payload).hexdigest(),
        "api_key": api_key,
        "application_id": application_id,
    }
    claims.update(extra or {})
    return jwt.encode(claims, secret, algorithm="HS256")


def vonage_error(status: int, code: str, title: str, detail: str, **extra: Any) -> web.Response:
    return web.json_response(
        {
            "type": f"{ERRORS_URL}#{code}",
            "title": title,
            "detail": detail,
            "instance": str(uuid.uuid4()),
            **extra,
        },
        status=status,
    )


@dataclass
class Application:
    """A Vonage application: its key pair, the account's signature secret, its webhooks."""

    application_id: str
    private_key: str
    signature_secret: str
    api_key: str = "abcd1234"
    answer_url: str | None = None  # the application's own (inbound) answer URL
    event_url: str | None = None

    @property
    def public_key(self) -> Any:
        return load_pem_private_key(self.private_key.encode(), password=None).public_key()


@dataclass
class CallbackResult:
    """One request the stand-in sent to the gateway, and how the gateway answered."""

    url: str
    method: str
    payload: dict[str, Any]
    status: int
    content_type: str
    body: str
    leg: str  # agent | customer | caller
    kind: str  # answer | event

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Leg:
    uuid: str
    conversation_uuid: str
    role: str  # agent | customer | caller
    direction: str
    from_number: str
    to_number: str
    event_url: str | None
    event_method: str = "POST"
    status: str = "started"
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration: int | None = None

    def record(self) -> dict[str, Any]:
        """The leg as GET /v1/calls/{uuid} shows it."""
        data: dict[str, Any] = {
            "_links": {"self": {"href": f"/v1/calls/{self.uuid}"}},
            "uuid": self.uuid,
            "conversation_uuid": self.conversation_uuid,
            "direction": self.direction,
            "from": {"type": "phone", "number": self.from_number},
            "to": {"type": "phone", "number": self.to_number},
            "status": self.status,
        }
        if self.status == "completed":
            data.update(
                duration=str(self.duration or 0),
                rate="0.10000000",
                price="0.00333333",
                network="23420",
                start_time=_iso(self.start_time),
                end_time=_iso(self.end_time),
            )
        return data


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    claims: dict[str, Any] | None = None
    status: int = 0


@dataclass
class StandinCall:
    conversation_uuid: str
    application: Application
    legs: list[Leg]
    create: dict[str, Any] | None = None  # the create-call body (outbound calls)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    @property
    def first(self) -> Leg:
        return self.legs[0]


After = Callable[[], Awaitable[None]] | None


class VonageStandin(CallsStandin[StandinCall]):
    """The Voice REST API on 127.0.0.1 plus explicit, deterministic call playback."""

    def __init__(self, applications: list[Application]) -> None:
        super().__init__()
        self.applications = {a.application_id: a for a in applications}
        self.requests: list[RecordedRequest] = []
        self.callbacks: list[CallbackResult] = []
        self.hung_up: dict[str, asyncio.Event] = {}  # conversation_uuid -> a leg was hung up
        self.messages: list[dict[str, Any]] = []

    def creates(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path == "/v1/calls"]

    # --- the REST API -----------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=dict(request.headers),
            body=body,
        )
        self.requests.append(record)
        response = await self._route(request, record, raw)
        record.status = response.status
        return response

    def _authenticate(self, record: RecordedRequest) -> Application | None:
        scheme, _, token = record.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
            application = self.applications.get(str(unverified.get("application_id")))
            if application is None:
                return None
            claims = jwt.decode(
                token,
                application.public_key,
                algorithms=["RS256"],
                options={"require": ["application_id", "iat", "jti", "exp"]},
            )
        except jwt.PyJWTError:
            return None
        record.claims = claims
        return application

    async def _route(
        self, request: web.Request, record: RecordedRequest, raw: bytes
    ) -> web.StreamResponse:
        parts = request.path.strip("/").split("/")
        if parts == ["v1", "messages"]:
            if self._authenticate(record) is None:
                return vonage_error(
                    401, "unauthorized", "Unauthorized", "You did not provide correct credentials."
                )
            if request.method != "POST":
                return vonage_error(405, "method-not-allowed", "Method Not Allowed", "POST only")
            return self._send_message(record.body)
        if parts[:2] != ["v1", "calls"] or len(parts) > 3:
            return vonage_error(404, "not-found", "Not Found", "No such resource")
        application = self._authenticate(record)
        if application is None:
            return vonage_error(
                401, "unauthorized", "Unauthorized", "You did not provide correct credentials."
            )
        if len(parts) == 3:
            if request.method == "PUT":
                return self._update_call(application, parts[2], record.body)
            if request.method != "GET":
                return vonage_error(
                    405, "method-not-allowed", "Method Not Allowed", "GET or PUT only"
                )
            return self._get_call(application, parts[2])
        if request.method == "GET":
            return self._list_calls(application, record.query)
        if request.method != "POST":
            return vonage_error(405, "method-not-allowed", "Method Not Allowed", "GET or POST")
        if not isinstance(record.body, dict):
            return vonage_error(
                400, "invalid-json", "Invalid JSON", "The request body did not contain valid JSON"
            )
        return await self._create_call(application, record.body)

    def _send_message(self, body: Any) -> web.Response:
        if not isinstance(body, dict):
            return vonage_error(
                400, "invalid-json", "Invalid JSON", "The request body did not contain valid JSON"
            )
        invalid = []
        if body.get("channel") != "sms":
            invalid.append({"name": "channel", "reason": "the stand-in sends sms only"})
        if body.get("message_type") != "text":
            invalid.append({"name": "message_type", "reason": "must be text for sms"})
        for name in ("to", "from"):
            value = body.get(name)
            if not isinstance(value, str) or not re.fullmatch(r"\d{7,15}", value):
                invalid.append({"name": name, "reason": "must be 7-15 digits"})
        text = body.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= 1000:
            invalid.append({"name": "text", "reason": "must be 1-1000 characters"})
        if invalid:
            return vonage_error(
                422,
                "1150",
                "Invalid params",
                "The value of one or more parameters is invalid.",
                invalid_parameters=invalid,
            )
        message_uuid = str(uuid.uuid4())
        self.messages.append({"message_uuid": message_uuid, **body})
        return web.json_response({"message_uuid": message_uuid}, status=202)

    async def _create_call(self, application: Application, body: dict[str, Any]) -> web.Response:
        invalid = create_call_problems(body)
        if invalid:
            return vonage_error(
                400,
                "validation",
                "Bad Request",
                "The request failed due to validation errors",
                invalid_parameters=invalid,
            )
        conversation = f"CON-{uuid.uuid4()}"
        agent = Leg(
            uuid=str(uuid.uuid4()),
            conversation_uuid=conversation,
            role="agent",
            direction="outbound",
            from_number=body["from"]["number"],
            to_number=body["to"][0]["number"],
            event_url=(body.get("event_url") or [application.event_url])[0],
            event_method=body.get("event_method", "POST"),
        )
        call = StandinCall(conversation, application, [agent], create=body)
        await self._call_created(conversation, call)
        return web.json_response(
            {
                "uuid": agent.uuid,
                "status": "started",
                "direction": "outbound",
                "conversation_uuid": conversation,
            },
            status=201,
        )

    def _legs(self, application: Application) -> list[Leg]:
        return [
            leg
            for call in self.calls.values()
            if call.application is application
            for leg in call.legs
        ]

    def _get_call(self, application: Application, leg_uuid: str) -> web.Response:
        for leg in self._legs(application):
            if leg.uuid == leg_uuid:
                return web.json_response(leg.record())
        return vonage_error(404, "not-found", "Not Found", f"Call {leg_uuid} was not found")

    def hangups(self) -> list[RecordedRequest]:
        """Update-call (PUT) requests, in arrival order."""
        return [r for r in self.requests if r.method == "PUT"]

    def _hang_up_event(self, conversation_uuid: str) -> asyncio.Event:
        return self.hung_up.setdefault(conversation_uuid, asyncio.Event())

    def _update_call(self, application: Application, leg_uuid: str, body: Any) -> web.Response:
        leg = next((x for x in self._legs(application) if x.uuid == leg_uuid), None)
        if leg is None:
            return vonage_error(404, "not-found", "Not Found", f"Call {leg_uuid} was not found")
        if not isinstance(body, dict) or body.get("action") != "hangup":
            # The other actions (mute, earmuff, transfer...) are not imitated.
            return vonage_error(
                400,
                "validation",
                "Bad Request",
                "The request failed due to validation errors",
                invalid_parameters=[{"name": "action", "reason": "only hangup is imitated"}],
            )
        if leg.status in TERMINAL:
            # The API reference names no answer for an ended leg; a 400 stands in for it.
            return vonage_error(400, "bad-request", "Bad Request", "The call is not in progress")
        self._hang_up_event(leg.conversation_uuid).set()
        return web.Response(status=204)

    def _list_calls(self, application: Application, query: Mapping[str, str]) -> web.Response:
        legs = self._legs(application)
        if "conversation_uuid" in query:
            legs = [leg for leg in legs if leg.conversation_uuid == query["conversation_uuid"]]
        if query.get("order") == "desc":
            legs = legs[::-1]
        page = [leg.record() for leg in legs[: int(query.get("page_size", "10"))]]
        return web.json_response(
            {
                "page_size": len(page),
                "record_index": 0,
                "count": len(legs),
                "_embedded": {"calls": page},
                "_links": {"self": {"href": f"/v1/calls?{urlencode(query)}"}},
            }
        )

    # --- playback ---------------------------------------------------------------------

    def call_of(self, key: str) -> StandinCall:
        """A call by conversation_uuid or by any of its legs' uuids."""
        if key in self.calls:
            return self.calls[key]
        for call in self.calls.values():
            if any(leg.uuid == key for leg in call.legs):
                return call
        raise KeyError(key)

    async def play(
        self,
        key: str,
        *,
        agent_outcome: str = "answered",
        customer_outcome: str = "completed",
        talk_seconds: int = 42,
        after_each: After = None,
        until_hung_up: bool = False,
    ) -> list[CallbackResult]:
        """Play a created call: the agent's leg rings; once it answers, the answer URL's NCCO
        runs, and its `connect` rings the customer as a second leg of the conversation.
        `until_hung_up` holds the connected call until a leg is hung up through the API.

        `agent_outcome` other than "answered" ends the agent's leg with that status and no
        answer URL is fetched; `customer_outcome` is "completed" (answers, talks) or any
        terminal status for the customer's leg.
        """
        call = self.call_of(key)
        assert call.create is not None, "not a call created over the API"
        clock = _Clock(call.created_at)
        agent = call.first
        sent: list[CallbackResult] = []
        for status in ("started", "ringing"):
            sent.append(await self._event(call, agent, status, clock.tick(1), after_each))
        if agent_outcome != "answered":
            sent.append(await self._event(call, agent, agent_outcome, clock.tick(20), after_each))
            return sent
        answered_at = clock.tick(3)
        answer = await self._answer(
            call,
            agent,
            call.create["answer_url"][0],
            call.create.get("answer_method", "GET"),
            after_each,
        )
        sent.append(answer)
        sent.append(await self._event(call, agent, "answered", answered_at, after_each))
        sent += await self._run_ncco(
            call,
            agent,
            answer,
            customer_outcome,
            talk_seconds,
            clock,
            after_each,
            until_hung_up=until_hung_up,
        )
        ended = clock.tick(1)
        agent.duration = round((ended - answered_at).total_seconds())
        sent.append(await self._event(call, agent, "completed", ended, after_each))
        return sent

    async def inbound(
        self,
        application_id: str,
        *,
        from_number: str,
        to_number: str,
        answer_method: str = "GET",
        agent_outcome: str = "completed",
        talk_seconds: int = 30,
        after_each: After = None,
    ) -> list[CallbackResult]:
        """A caller dials one of the application's numbers: its answer URL decides."""
        application = self.applications[application_id]
        assert application.answer_url and application.event_url
        conversation = f"CON-{uuid.uuid4()}"
        caller = Leg(
            uuid=str(uuid.uuid4()),
            conversation_uuid=conversation,
            role="caller",
            direction="inbound",
            from_number=from_number,
            to_number=to_number,
            event_url=application.event_url,
        )
        call = StandinCall(conversation, application, [caller])
        self.calls[conversation] = call
        clock = _Clock(call.created_at)
        sent = [await self._event(call, caller, "started", clock.tick(0), after_each)]
        answer = await self._answer(call, caller, application.answer_url, answer_method, after_each)
        sent.append(answer)
        answered_at = clock.tick(1)
        sent.append(await self._event(call, caller, "answered", answered_at, after_each))
        sent += await self._run_ncco(
            call, caller, answer, agent_outcome, talk_seconds, clock, after_each
        )
        ended = clock.tick(1)
        caller.duration = round((ended - answered_at).total_seconds())
        sent.append(await self._event(call, caller, "completed", ended, after_each))
        return sent

    async def _run_ncco(
        self,
        call: StandinCall,
        leg: Leg,
        answer: CallbackResult,
        outcome: str,
        talk_seconds: int,
        clock: "_Clock",
        after_each: After,
        *,
        until_hung_up: bool = False,
    ) -> list[CallbackResult]:
        """Follow the NCCO: `talk` just plays; `connect` rings its endpoint as a new leg."""
        assert answer.status == 200, answer.body
        assert answer.content_type == "application/json", answer.content_type
        sent: list[CallbackResult] = []
        for action in _checked_ncco(answer.json()):
            if action["action"] == "talk":
                clock.tick(3)
                continue
            endpoint = action["endpoint"][0]
            other = Leg(
                uuid=str(uuid.uuid4()),
                conversation_uuid=call.conversation_uuid,
                role="customer" if leg.role == "agent" else "agent",
                direction="outbound",
                from_number=action.get("from") or leg.to_number,
                to_number=endpoint["number"],
                # Without its own eventUrl a connected leg reports to the application's.
                event_url=(action.get("eventUrl") or [call.application.event_url])[0],
                event_method=action.get("eventMethod", "POST"),
            )
            call.legs.append(other)
            for status in ("started", "ringing"):
                sent.append(await self._event(call, other, status, clock.tick(1), after_each))
            if outcome == "completed":
                sent.append(await self._event(call, other, "answered", clock.tick(4), after_each))
                if until_hung_up:
                    hung_up = self._hang_up_event(call.conversation_uuid)
                    await asyncio.wait_for(hung_up.wait(), HANGUP_WAIT_S)
                other.duration = talk_seconds
                sent.append(
                    await self._event(
                        call, other, "completed", clock.tick(talk_seconds), after_each
                    )
                )
            else:
                sent.append(await self._event(call, other, outcome, clock.tick(25), after_each))
        return sent

    # --- delivery -----------------------------------------------------------------------

    async def _answer(
        self, call: StandinCall, leg: Leg, url: str, method: str, after_each: After
    ) -> CallbackResult:
        """Fetch the answer URL: GET with the fields in the query, or POST with a JSON body."""
        fields = {
            "to": leg.to_number,
            "from": leg.from_number,
            "uuid": leg.uuid,
            "conversation_uuid": leg.conversation_uuid,
        }
        result = await deliver(
            self.http,
            url,
            fields,
            call.application,
            method=method,
            leg=leg.role,
            kind="answer",
        )
        self.callbacks.append(result)
        if after_each is not None:
            await after_each()
        return result

    async def _event(
        self, call: StandinCall, leg: Leg, status: str, at: datetime, after_each: After
    ) -> CallbackResult:
        leg.status = status
        if leg.start_time is None and status == "answered":
            leg.start_time = at
        if status in TERMINAL:
            leg.end_time = at
        assert leg.event_url, "the leg has no event URL"
        result = await deliver(
            self.http,
            leg.event_url,
            event_payload(leg, status, at),
            call.application,
            method=leg.event_method,
            leg=leg.role,
            kind="event",
        )
        self.callbacks.append(result)
        if after_each is not None:
            await after_each()
        return result


def event_payload(leg: Leg, status: str, at: datetime) -> dict[str, Any]:
    """An event webhook's fields for `status` (webhook reference: one table per status)."""
    payload: dict[str, Any] = {
        "from": leg.from_number,
        "to": leg.to_number,
        "uuid": leg.uuid,
        "conversation_uuid": leg.conversation_uuid,
        "status": status,
        "direction": leg.direction,
        "timestamp": _iso(at),
    }
    if status == "answered":
        payload.update(start_time=None, rate=None, network=None)
    if status == "completed":
        payload.update(
            end_time=_iso(leg.end_time or at),
            network="GB-FIXED",
            duration=str(leg.duration or 0),
            start_time=_iso(leg.start_time or at),
            rate="0.00450000",
            price="0.00015000",
        )
    return payload


async def deliver(
    http: aiohttp.ClientSession,
    url: str,
    fields: Mapping[str, Any],
    application: Application,
    *,
    method: str = "POST",
    leg: str = "custom",
    kind: str = "event",
    secret: str | None = None,
    token: str | None = None,
    body: bytes | None = None,
    iat: float | None = None,
    extra_claims: Mapping[str, Any] | None = None,
) -> CallbackResult:
    """Send one Vonage webhook, signed as Vonage signs it.

    `secret` signs with another secret, `token` replaces the JWT outright ("" sends none),
    `body` sends other bytes than the ones signed, `iat` backdates the signature.
    """
    headers = {"User-Agent": "Vonage/1.0"}
    if method == "GET":
        target = url + ("&" if "?" in url else "?") + urlencode(list(fields.items()))
        signed = compact(dict(fields))
        data: bytes | None = None
    else:
        target = url
        signed = compact(dict(fields))
        data = signed if body is None else body
        headers["Content-Type"] = "application/json"
    if token is None:
        token = signed_jwt(
            secret or application.signature_secret,
            signed,
            application_id=application.application_id,
            api_key=application.api_key,
            iat=iat,
            extra=extra_claims,
        )
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with http.request(
        method, target, data=data, headers=headers, allow_redirects=False
    ) as resp:
        text = await resp.text()
        return CallbackResult(
            url=target,
            method=method,
            payload=dict(fields),
            status=resp.status,
            content_type=resp.content_type,
            body=text,
            leg=leg,
            kind=kind,
        )


CONNECT_FIELDS = frozenset(
    {
        "action",
        "endpoint",
        "from",
        "randomFromNumber",
        "eventType",
        "timeout",
        "limit",
        "machineDetection",
        "advancedMachineDetection",
        "eventUrl",
        "eventMethod",
        "ringbackTone",
    }
)
TALK_FIELDS = frozenset(
    {"action", "text", "bargeIn", "loop", "level", "language", "style", "premium"}
)
# NCCO phone numbers: 7-15 digits, no leading `+` or 0 (the SDK's PhoneNumber type).
NCCO_NUMBER = re.compile(r"^[1-9]\d{6,14}$")


def create_call_problems(body: dict[str, Any]) -> list[dict[str, str]]:
    """`invalid_parameters` for a create-call body that breaks the API's schema."""
    invalid: list[dict[str, str]] = []

    def bad(name: str, reason: str) -> None:
        invalid.append({"name": name, "reason": reason})

    to = body.get("to")
    if not isinstance(to, list) or not to:
        bad("to", "must be a non-empty array of endpoints")
    else:
        for i, endpoint in enumerate(to):
            if not isinstance(endpoint, dict) or endpoint.get("type") != "phone":
                bad(f"to[{i}]", "only phone endpoints are played here")
            elif not E164.match(str(endpoint.get("number", ""))):
                bad(f"to[{i}].number", "must match \\d{7,15}")
    sender = body.get("from")
    if body.get("random_from_number") is True:
        if sender is not None:
            bad("from", "from and random_from_number cannot be used together")
    elif not isinstance(sender, dict) or sender.get("type") != "phone":
        bad("from", "is required (a phone endpoint)")
    elif not E164.match(str(sender.get("number", ""))):
        bad("from.number", "must match \\d{7,15}")
    if ("answer_url" in body) == ("ncco" in body):
        bad("answer_url", "give exactly one of answer_url and ncco")
    for name in ("answer_url", "event_url"):
        urls = body.get(name)
        if urls is not None and (
            not isinstance(urls, list)
            or not urls
            or not all(isinstance(u, str) and u.startswith(("http://", "https://")) for u in urls)
        ):
            bad(name, "must be an array of URLs")
    for name in ("answer_method", "event_method"):
        if name in body and body[name] not in ("GET", "POST"):
            bad(name, "must be GET or POST")
    timer = body.get("ringing_timer")
    if timer is not None and (not isinstance(timer, int) or not 1 <= timer <= 120):
        bad("ringing_timer", "must be between 1 and 120")
    return invalid


def _checked_ncco(ncco: Any) -> list[dict[str, Any]]:
    """The gateway's NCCO, held to the NCCO reference (Vonage refuses one it cannot run):
    https://developer.vonage.com/en/voice/voice-api/ncco-reference"""
    assert isinstance(ncco, list) and ncco, ncco
    for action in ncco:
        assert isinstance(action, dict), action
        if action.get("action") == "talk":
            assert set(action) <= TALK_FIELDS, action
            assert isinstance(action.get("text"), str) and 0 < len(action["text"]) <= 1500
            continue
        assert action.get("action") == "connect", action
        assert set(action) <= CONNECT_FIELDS, action
        endpoints = action.get("endpoint")
        assert isinstance(endpoints, list) and len(endpoints) == 1, endpoints
        assert endpoints[0].get("type") == "phone", endpoints
        assert NCCO_NUMBER.match(str(endpoints[0].get("number", ""))), endpoints
        assert ("from" in action) != bool(action.get("randomFromNumber")), action
        if "from" in action:
            assert NCCO_NUMBER.match(str(action["from"])), action
        urls = action.get("eventUrl", [])
        assert isinstance(urls, list) and all(isinstance(u, str) for u in urls), urls
        assert action.get("eventMethod", "POST") in ("GET", "POST"), action
    return ncco


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


class _Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def tick(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now
