"""A local stand-in for Telnyx's Call Control API that plays calls back as signed webhooks.

What it imitates, from ../shared/carriers.md §4 and Telnyx's docs:

* `POST /v2/calls` (Dial) with `Authorization: Bearer <api key>` and a JSON body (`connection_id`,
  `to`, `from` required; `webhook_url`, `client_state`, `timeout_secs`...), answered with
  `{"data": {call_control_id, call_leg_id, call_session_id, is_alive: false, record_type}}`
  (telnyx-python `types/call_dial_response.py`).
* Commands `POST /v2/calls/{call_control_id}/actions/{answer|transfer|speak|hangup}` answered
  `{"data": {"result": "ok"}}`; a repeated `command_id` is ignored; commands to an ended call
  get 422 code 90018; `GET /v2/calls/{call_control_id}` (call status).
* `GET /v2/call_events` (List call events, "Debugging"): every webhook of a call session,
  delivered or not, as `{"record_type": "call_event", "call_leg_id", "call_session_id",
  "event_timestamp", "name", "type": "webhook", "metadata": {"event": <the raw event>}}`,
  filtered by `filter[application_session_id]`, `filter[leg_id]`, `filter[type]`,
  `filter[name]`, paged by `page[number]` / `page[size]` (1-250) with `meta.total_pages`.
  Telnyx documents the metadata as "includes raw event"; its exact key is not documented.
  `drop` names event types whose delivery is lost (recorded as failed, never POSTed).
* `POST /v2/messages` (Send a message: `from`, `to`, `text` or `media_urls`;
  https://developers.telnyx.com/api-reference/messages/send-a-message), answered
  `{"data": {"record_type": "message", "id", "direction": "outbound", "type": "SMS",
  "from": {"phone_number"}, "to": [{"phone_number", "status": "queued"}], "text", ...}}`;
  kept in `messages`, nothing is delivered.
* Errors as `{"errors": [{"code", "title", "detail", "source": {"pointer"}}]}` with Telnyx's
  codes (10009 authentication failed, 10004 missing parameter, 10016 not E.164, 10005 not found).
* Webhooks `{"data": {"record_type": "event", "event_type", "id", "occurred_at", "payload"},
  "meta": {"attempt", "delivered_to"}}`, signed as Telnyx signs: Ed25519 over
  `{telnyx-timestamp}|{body}` in `telnyx-signature-ed25519`. The signing key is RFC 8032 §7.1
  TEST 1 (Telnyx publishes no test key); tests check these signatures with telnyx-python.

Transfers follow the documented webhooks: the new leg's `call.initiated`, `call.bridged`, then
`call.answered` or `call.hangup`; a failed transfer leaves the original leg up until someone
hangs it up. Playback never starts by itself: a test calls `play()` or `inbound()`.
"""

import asyncio
import base64
import json
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.standins.base import StandinServer

# RFC 8032 §7.1, TEST 1: the published secret key and the public key it yields.
RFC8032_TEST1_SECRET = bytes.fromhex(
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
)
RFC8032_TEST1_PUBLIC = bytes.fromhex(
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
)
TEST_PRIVATE_KEY = Ed25519PrivateKey.from_private_bytes(RFC8032_TEST1_SECRET)
TEST_PUBLIC_KEY = base64.b64encode(RFC8032_TEST1_PUBLIC).decode()
COMMAND_WAIT_S = 10.0
HANGUP_SIP_CODES = {
    "normal_clearing": "200",
    "user_busy": "486",
    "call_rejected": "603",
    "not_found": "404",
    "timeout": "480",
    "no_answer": "480",
    "originator_cancel": "487",
    "time_limit": "200",
    "unspecified": "unspecified",
}


def public_key_of(private_key: Ed25519PrivateKey) -> str:
    raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def sign(private_key: Ed25519PrivateKey, timestamp: str, body: bytes) -> str:
    """telnyx-signature-ed25519: base64 Ed25519 signature of `{timestamp}|{body}`."""
    return base64.b64encode(private_key.sign(timestamp.encode() + b"|" + body)).decode()


def signed_headers(
    body: bytes,
    *,
    private_key: Ed25519PrivateKey = TEST_PRIVATE_KEY,
    timestamp: int | None = None,
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "Content-Type": "application/json",
        "User-Agent": "telnyx-webhooks",
        "telnyx-timestamp": ts,
        "telnyx-signature-ed25519": sign(private_key, ts, body),
    }


def new_call_control_id() -> str:
    """Shaped like Telnyx's: `v3:` and a base64url token."""
    return "v3:" + secrets.token_urlsafe(40)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def telnyx_error(
    status: int, code: str, title: str, detail: str, pointer: str | None = None
) -> web.Response:
    error: dict[str, Any] = {"code": code, "title": title, "detail": detail}
    if pointer:
        error["source"] = {"pointer": pointer}
    return web.json_response({"errors": [error]}, status=status)


@dataclass
class Delivery:
    """One webhook the stand-in delivered, and the receiver's answer."""

    url: str
    document: dict[str, Any]
    body: bytes
    headers: dict[str, str]
    status: int
    reply: str

    @property
    def event_type(self) -> str:
        return str(self.document["data"]["event_type"])

    @property
    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = self.document["data"]["payload"]
        return payload


@dataclass
class RecordedRequest:
    method: str
    path: str
    bearer: str | None
    body: Any
    status: int = 0
    duplicate: bool = False


@dataclass
class Leg:
    call_control_id: str
    from_number: str
    to_number: str
    direction: str  # incoming | outgoing
    webhook_url: str
    client_state: str | None
    session_id: str
    leg_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    start_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    alive: bool = True
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    commands: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    command_ids: set[str] = field(default_factory=set)


async def post_signed(
    http: aiohttp.ClientSession,
    url: str,
    document: Mapping[str, Any],
    *,
    private_key: Ed25519PrivateKey = TEST_PRIVATE_KEY,
    timestamp: int | None = None,
    headers: Mapping[str, str] | None = None,
    raw: bytes | None = None,
    sent: bytes | None = None,
) -> Delivery:
    """POST a webhook signed as Telnyx signs it.

    `raw` is signed and sent instead of the serialized document; `sent` replaces the body
    after signing (tampering); `headers` override the computed ones.
    """
    signed_body = json.dumps(document).encode() if raw is None else raw
    request_headers = signed_headers(signed_body, private_key=private_key, timestamp=timestamp)
    request_headers.update(headers or {})
    body = signed_body if sent is None else sent
    async with http.post(url, data=body, headers=request_headers) as resp:
        return Delivery(
            url=url,
            document=dict(document),
            body=body,
            headers=request_headers,
            status=resp.status,
            reply=await resp.text(),
        )


class _Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def tick(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


class TelnyxStandin(StandinServer):
    """Telnyx's Call Control REST API on 127.0.0.1, plus deterministic call playback."""

    def __init__(
        self,
        *,
        api_key: str,
        connection_id: str,
        connection_webhook_url: str = "",
        private_key: Ed25519PrivateKey = TEST_PRIVATE_KEY,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.connection_id = connection_id
        # The Call Control App's webhook URL: where inbound calls (and legs without their
        # own webhook_url) report.
        self.connection_webhook_url = connection_webhook_url
        self.private_key = private_key
        self.requests: list[RecordedRequest] = []
        self.legs: dict[str, Leg] = {}
        self.deliveries: list[Delivery] = []
        # Telnyx's own record of every webhook (the call-events list), delivered or not.
        self.call_events: list[dict[str, Any]] = []
        # Event types whose webhooks are lost on the way (recorded, never delivered).
        self.drop: set[str] = set()
        self.messages: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()

    # --- REST API -----------------------------------------------------------------------

    def dials(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path == "/v2/calls"]

    def commands(self, action: str | None = None) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if "/actions/" in r.path and (action is None or r.path.endswith(f"/{action}"))
        ]

    async def wait_for_dials(self, count: int = 1, timeout: float = 10.0) -> list[Leg]:
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(self._dialed()) >= count), timeout
            )
        return self._dialed()

    def _dialed(self) -> list[Leg]:
        return [leg for leg in self.legs.values() if leg.direction == "outgoing"]

    async def wait_for_command(
        self, call_control_id: str, actions: tuple[str, ...], timeout: float = COMMAND_WAIT_S
    ) -> tuple[str, dict[str, Any]]:
        """The first of `actions` the leg received (waiting for it if need be)."""
        leg = self.legs[call_control_id]

        def found() -> tuple[str, dict[str, Any]] | None:
            return next(((a, b) for a, b in leg.commands if a in actions), None)

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: found() is not None), timeout)
        result = found()
        assert result is not None
        return result

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body: Any = None
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                body = None
        auth = request.headers.get("Authorization", "")
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            bearer=auth[7:] if auth.startswith("Bearer ") else None,
            body=body,
        )
        self.requests.append(record)
        response = await self._route(request, record)
        record.status = response.status
        async with self._changed:
            self._changed.notify_all()
        return response

    async def _route(self, request: web.Request, record: RecordedRequest) -> web.Response:
        if record.bearer != self.api_key:
            return telnyx_error(
                401,
                "10009",
                "Authentication failed",
                "The required authentication headers were either invalid or not included in "
                "the request.",
            )
        parts = request.path.strip("/").split("/")
        if parts == ["v2", "call_events"] and request.method == "GET":
            return self._list_call_events(request)
        if parts == ["v2", "messages"] and request.method == "POST":
            return self._send_message(record)
        if parts[:2] != ["v2", "calls"]:
            return _not_found()
        if len(parts) == 2 and request.method == "POST":
            return await self._dial(record)
        if len(parts) == 3 and request.method == "GET":
            return self._status(parts[2])
        if len(parts) == 5 and parts[3] == "actions" and request.method == "POST":
            return await self._command(parts[2], parts[4], record)
        return _not_found()

    async def _dial(self, record: RecordedRequest) -> web.Response:
        body = record.body
        if not isinstance(body, dict):
            return telnyx_error(400, "10015", "Bad Request", "The request was not well-formed.")
        for name in ("connection_id", "to", "from"):
            if not isinstance(body.get(name), str) or not body[name]:
                return _missing(name)
        refused = _not_e164(body, ("to", "from"))
        if refused is not None:
            return refused
        if body["connection_id"] != self.connection_id:
            return telnyx_error(
                422,
                "10005",
                "Resource not found",
                "The requested connection_id could not be found.",
                "/connection_id",
            )
        timeout = body.get("timeout_secs", 30)
        if not isinstance(timeout, int) or not 5 <= timeout <= 600:
            return telnyx_error(
                422,
                "10015",
                "Bad Request",
                "timeout_secs must be between 5 and 600.",
                "/timeout_secs",
            )
        leg = Leg(
            call_control_id=new_call_control_id(),
            from_number=body["from"],
            to_number=body["to"],
            direction="outgoing",
            webhook_url=body.get("webhook_url") or self.connection_webhook_url,
            client_state=body.get("client_state"),
            session_id=str(uuid.uuid4()),
        )
        self.legs[leg.call_control_id] = leg
        return web.json_response(
            {
                "data": {
                    "call_control_id": leg.call_control_id,
                    "call_leg_id": leg.leg_id,
                    "call_session_id": leg.session_id,
                    "is_alive": False,
                    "record_type": "call",
                }
            }
        )

    def _send_message(self, record: RecordedRequest) -> web.Response:
        body = record.body
        if not isinstance(body, dict):
            return telnyx_error(400, "10015", "Bad Request", "The request was not well-formed.")
        for name in ("from", "to"):
            if not isinstance(body.get(name), str) or not body[name]:
                return _missing(name)
        refused = _not_e164(body, ("from", "to"))
        if refused is not None:
            return refused
        if not (body.get("text") or body.get("media_urls")):
            return _missing("text")
        message = {
            "record_type": "message",
            "id": str(uuid.uuid4()),
            "direction": "outbound",
            "type": "SMS",
            "from": {"phone_number": body["from"]},
            "to": [{"phone_number": body["to"], "status": "queued"}],
            "text": body.get("text", ""),
            "parts": max(1, -(-len(body.get("text", "")) // 153)),
            "received_at": iso(datetime.now(UTC)),
        }
        self.messages.append(message)
        return web.json_response({"data": message})

    def _status(self, call_control_id: str) -> web.Response:
        leg = self.legs.get(call_control_id)
        if leg is None:
            return _not_found()
        data: dict[str, Any] = {
            "call_control_id": leg.call_control_id,
            "call_leg_id": leg.leg_id,
            "call_session_id": leg.session_id,
            "client_state": leg.client_state,
            "is_alive": leg.alive,
            "record_type": "call",
            "start_time": iso(leg.start_time),
        }
        if not leg.alive and leg.ended_at is not None:
            data["end_time"] = iso(leg.ended_at)
            answered = leg.answered_at or leg.ended_at
            data["call_duration"] = round((leg.ended_at - answered).total_seconds())
        return web.json_response({"data": data})

    async def _command(
        self, call_control_id: str, action: str, record: RecordedRequest
    ) -> web.Response:
        leg = self.legs.get(call_control_id)
        if leg is None:
            return _not_found()
        body = record.body if isinstance(record.body, dict) else {}
        command_id = body.get("command_id")
        if isinstance(command_id, str) and command_id in leg.command_ids:
            record.duplicate = True
            return _ok()
        if not leg.alive:
            return telnyx_error(
                422,
                "90018",
                "Call has already ended",
                "This call is no longer active and can't receive commands.",
            )
        if action not in ("answer", "transfer", "speak", "hangup"):
            return _not_found()
        if action == "transfer" and not body.get("to"):
            return _missing("to")
        if action == "speak" and not (body.get("payload") and body.get("voice")):
            return _missing("payload" if not body.get("payload") else "voice")
        if isinstance(command_id, str):
            leg.command_ids.add(command_id)
        # "Use this field to add state to every subsequent webhook."
        if isinstance(body.get("client_state"), str):
            leg.client_state = body["client_state"]
        if action == "hangup":
            leg.alive = False
        leg.commands.append((action, body))
        return _ok()

    # --- webhooks -------------------------------------------------------------------------

    def document(self, event_type: str, leg: Leg, at: datetime, **extra: Any) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "call_control_id": leg.call_control_id,
            "call_leg_id": leg.leg_id,
            "call_session_id": leg.session_id,
            "client_state": leg.client_state,
            "connection_id": self.connection_id,
            "from": leg.from_number,
            "to": leg.to_number,
            "start_time": iso(leg.start_time),
        }
        payload.update(extra)
        return {
            "data": {
                "record_type": "event",
                "event_type": event_type,
                "id": str(uuid.uuid4()),
                "occurred_at": iso(at),
                "payload": payload,
            },
            "meta": {"attempt": 1, "delivered_to": leg.webhook_url},
        }

    async def send(self, event_type: str, leg: Leg, at: datetime, **extra: Any) -> Delivery:
        assert leg.webhook_url, "the leg has no webhook URL"
        document = self.document(event_type, leg, at, **extra)
        lost = event_type in self.drop
        self.call_events.append(
            {
                "record_type": "call_event",
                "call_leg_id": leg.leg_id,
                "call_session_id": leg.session_id,
                "event_timestamp": document["data"]["occurred_at"],
                "name": event_type,
                "type": "webhook",
                "metadata": {"event": document["data"], "failed": lost},
            }
        )
        if lost:
            delivery = Delivery(leg.webhook_url, document, b"", {}, status=0, reply="lost")
        else:
            delivery = await post_signed(
                self.http, leg.webhook_url, document, private_key=self.private_key
            )
        self.deliveries.append(delivery)
        return delivery

    def _list_call_events(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            number = int(query.get("page[number]", "1"))
            size = int(query.get("page[size]", "20"))
        except ValueError:
            return telnyx_error(400, "10015", "Bad Request", "page must be a number.", "/page")
        if number < 1 or not 1 <= size <= 250:
            return telnyx_error(
                422, "10015", "Bad Request", "page[size] must be between 1 and 250.", "/page"
            )
        filters = {
            "filter[application_session_id]": "call_session_id",
            "filter[leg_id]": "call_leg_id",
            "filter[type]": "type",
            "filter[name]": "name",
        }
        found = [
            e
            for e in self.call_events
            if all(e[field] == query[name] for name, field in filters.items() if name in query)
        ]
        pages = max(1, -(-len(found) // size))
        return web.json_response(
            {
                "data": found[(number - 1) * size : number * size],
                "meta": {
                    "page_number": number,
                    "page_size": size,
                    "total_pages": pages,
                    "total_results": len(found),
                },
            }
        )

    async def _initiated(self, leg: Leg, at: datetime) -> Delivery:
        state = "parked" if leg.direction == "incoming" else "bridging"
        return await self.send("call.initiated", leg, at, direction=leg.direction, state=state)

    async def _answered(self, leg: Leg, at: datetime) -> Delivery:
        leg.answered_at = at
        return await self.send("call.answered", leg, at, state="answered")

    async def _hangup(self, leg: Leg, cause: str, at: datetime, source: str) -> Delivery:
        leg.alive = False
        leg.ended_at = at
        return await self.send(
            "call.hangup",
            leg,
            at,
            state="hangup",
            hangup_cause=cause,
            hangup_source=source,
            sip_hangup_cause=HANGUP_SIP_CODES.get(cause, "unspecified"),
        )

    def _transferred(self, parent: Leg, body: dict[str, Any]) -> Leg:
        leg = Leg(
            call_control_id=new_call_control_id(),
            # "This attribute will default to the to number of the original call if omitted."
            from_number=body.get("from") or parent.to_number,
            to_number=body["to"],
            direction="outgoing",
            webhook_url=body.get("webhook_url") or parent.webhook_url,
            client_state=body.get("target_leg_client_state"),
            session_id=parent.session_id,
        )
        self.legs[leg.call_control_id] = leg
        return leg

    async def _bridge(
        self,
        parent: Leg,
        child: Leg,
        outcome: str,
        talk_seconds: int,
        clock: _Clock,
        sent: list[Delivery],
        *,
        until_hung_up: bool = False,
    ) -> None:
        """The transfer's new leg plays `outcome` (`answered`, else a hangup cause).

        With `until_hung_up` an answered call talks until the original leg gets a `hangup`
        command: that leg's `call.hangup` follows, then the bridged leg's.
        """
        sent.append(await self._initiated(child, clock.tick(1)))
        if outcome in ("timeout", "no_answer", "answered"):
            # Early media (ringback) is bridged to the original leg while the far end rings.
            sent.append(await self.send("call.bridged", parent, clock.tick(1), state="bridged"))
            sent.append(await self.send("call.bridged", child, clock.now, state="bridged"))
        if outcome == "answered":
            sent.append(await self._answered(child, clock.tick(4)))
            if until_hung_up:
                await self.wait_for_command(parent.call_control_id, ("hangup",))
                ended = clock.tick(talk_seconds)
                sent.append(await self._hangup(parent, "normal_clearing", ended, "caller"))
                sent.append(
                    await self._hangup(child, "normal_clearing", clock.tick(0.2), "unknown")
                )
                return
            sent.append(
                await self._hangup(child, "normal_clearing", clock.tick(talk_seconds), "callee")
            )
            # Telnyx hangs up the other leg when the bridge ends (`park_after_unbridge` unset).
            sent.append(await self._hangup(parent, "normal_clearing", clock.tick(0.2), "unknown"))
            return
        sent.append(await self._hangup(child, outcome, clock.tick(25), "callee"))
        # "The original call will remain active": the gateway is expected to hang it up.
        await self.wait_for_command(parent.call_control_id, ("hangup",))
        sent.append(await self._hangup(parent, "normal_clearing", clock.tick(1), "caller"))

    async def play(
        self,
        call_control_id: str,
        *,
        agent_outcome: str = "answered",
        customer_outcome: str = "answered",
        talk_seconds: int = 42,
        until_hung_up: bool = False,
    ) -> list[Delivery]:
        """Play a dialed call: the agent's leg, then (if it answers) the transfer it receives.

        Outcomes are `answered` or a `hangup_cause`. One webhook at a time, in order.
        `until_hung_up` holds an answered call until the agent's leg is hung up by command.
        """
        agent = self.legs[call_control_id]
        clock = _Clock(agent.start_time.replace(microsecond=0))
        sent = [await self._initiated(agent, clock.tick(1))]
        if agent_outcome != "answered":
            sent.append(await self._hangup(agent, agent_outcome, clock.tick(20), "callee"))
            return sent
        sent.append(await self._answered(agent, clock.tick(3)))
        _, transfer = await self.wait_for_command(call_control_id, ("transfer",))
        customer = self._transferred(agent, transfer)
        await self._bridge(
            agent,
            customer,
            customer_outcome,
            talk_seconds,
            clock,
            sent,
            until_hung_up=until_hung_up,
        )
        return sent

    async def inbound(
        self,
        from_number: str,
        to_number: str,
        *,
        agent_outcome: str = "answered",
        talk_seconds: int = 30,
    ) -> list[Delivery]:
        """Someone calls one of the account's numbers; the Call Control App gets the webhooks."""
        caller = Leg(
            call_control_id=new_call_control_id(),
            from_number=from_number,
            to_number=to_number,
            direction="incoming",
            webhook_url=self.connection_webhook_url,
            client_state=None,
            session_id=str(uuid.uuid4()),
        )
        self.legs[caller.call_control_id] = caller
        clock = _Clock(caller.start_time.replace(microsecond=0))
        sent = [await self._initiated(caller, clock.now)]
        await self.wait_for_command(caller.call_control_id, ("answer",))
        sent.append(await self._answered(caller, clock.tick(1)))
        action, body = await self.wait_for_command(caller.call_control_id, ("transfer", "speak"))
        if action == "transfer":
            agent = self._transferred(caller, body)
            await self._bridge(caller, agent, agent_outcome, talk_seconds, clock, sent)
            return sent
        sent.append(await self.send("call.speak.started", caller, clock.tick(0.5)))
        sent.append(await self.send("call.speak.ended", caller, clock.tick(4), status="completed"))
        await self.wait_for_command(caller.call_control_id, ("hangup",))
        sent.append(await self._hangup(caller, "normal_clearing", clock.tick(0.5), "callee"))
        return sent


def _ok() -> web.Response:
    return web.json_response({"data": {"result": "ok"}})


def _not_found() -> web.Response:
    return telnyx_error(
        404, "10005", "Resource not found", "The requested resource or URL could not be found."
    )


def _missing(name: str) -> web.Response:
    return telnyx_error(
        422,
        "10004",
        "Missing required parameter",
        f"The '{name}' parameter is required.",
        f"/{name}",
    )


def _is_e164(value: str) -> bool:
    return value.startswith("+") and value[1:].isdigit() and 8 <= len(value) <= 16


def _not_e164(body: Mapping[str, Any], names: tuple[str, ...]) -> web.Response | None:
    """Telnyx's 422 for the first of `names` that is not a +E.164 number, if any."""
    for name in names:
        if not _is_e164(body[name]):
            return telnyx_error(
                422,
                "10016",
                "Phone number must be in +E.164 format",
                f"The '{name}' parameter must be in +E.164 format.",
                f"/{name}",
            )
    return None
