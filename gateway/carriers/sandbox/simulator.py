"""The sandbox carrier's side: a REST API that places simulated calls and posts signed callbacks.

It runs inside the gateway by default (mounted at /sandbox-carrier) and talks to the gateway
only over HTTP, exactly like a real carrier. Outcomes are deterministic by the last four digits
of the dialed number (see `const.OUTCOME_BY_SUFFIX`); `chaos` switches deliver every callback
twice (`duplicate`), swap neighbouring callbacks (`reorder`), never deliver callbacks of some
statuses (`drop`, a list) or a share of all of them (`drop_rate`), or hold each back
(`delay_ms`); `seed` fixes the randomness.
"""

import asyncio
import contextlib
import json
import logging
import random
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from gateway.carriers.sandbox import signature
from gateway.carriers.sandbox.const import scripted_outcome
from gateway.stopping import stop_tasks

log = logging.getLogger(__name__)

# Simulated seconds (divided by the speed setting).
AGENT_RING_S = 0.15
AGENT_ANSWER_S = 0.5
CUSTOMER_RING_S = 1.0
NO_ANSWER_AFTER_S = 3.0
TALK_S = 4
DELIVERY_ATTEMPTS = 4
LEG_FIELDS = ("call_id", "parent_call_id", "direction", "from", "to")


@dataclass
class Scheduled:
    at: float  # simulated seconds after the call was placed
    url: str
    payload: dict[str, Any]


@dataclass
class SimulatedCall:
    call_id: str
    api_key: str
    legs: dict[str, dict[str, Any]] = field(default_factory=dict)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    created_at: float = field(default_factory=time.monotonic)
    # Set by the hang-up API: the script stops and every live leg ends at once.
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)
    finished: bool = False


def _new_id() -> str:
    return "SB" + secrets.token_hex(16)


def leg_script(
    *,
    leg_id: str,
    parent_id: str | None,
    direction: str,
    from_number: str,
    to_number: str,
    url: str,
    start: float,
    ring_s: float,
    outcome: str,
    talk_s: int,
) -> tuple[list[Scheduled], float, bool]:
    """Events of one leg from `start`; returns them, the end time, and whether it was answered."""
    base = {
        "call_id": leg_id,
        "parent_call_id": parent_id,
        "direction": direction,
        "from": from_number,
        "to": to_number,
    }
    events = [Scheduled(start, url, {**base, "status": "initiated"})]
    if outcome == "failed":
        end = start + 0.1
        events.append(Scheduled(end, url, {**base, "status": "failed", "duration": 0}))
        return events, end, False
    events.append(Scheduled(start + 0.1, url, {**base, "status": "ringing"}))
    if outcome == "busy":
        end = start + 0.6
        events.append(Scheduled(end, url, {**base, "status": "busy", "duration": 0}))
        return events, end, False
    if outcome == "no-answer":
        end = start + NO_ANSWER_AFTER_S
        events.append(Scheduled(end, url, {**base, "status": "no-answer", "duration": 0}))
        return events, end, False
    answered = start + 0.1 + ring_s
    events.append(Scheduled(answered, url, {**base, "status": "answered"}))
    return events, answered, True


class Simulator:
    def __init__(self, http: aiohttp.ClientSession | None, speed: float) -> None:
        self.http = http
        self.speed = speed
        self.calls: dict[str, SimulatedCall] = {}
        # Text messages sent through the sandbox, oldest first (nothing is delivered).
        self.messages: list[dict[str, Any]] = []
        self.tasks: set[asyncio.Task[None]] = set()

    # --- REST API -----------------------------------------------------------------------

    def routes(self) -> web.RouteTableDef:
        routes = web.RouteTableDef()
        routes.post("/v1/calls")(self.create_call)
        routes.get("/v1/calls/{call_id}")(self.get_call)
        routes.post("/v1/calls/{call_id}/hangup")(self.hangup_call)
        routes.post("/v1/inbound")(self.inbound_call)
        routes.post("/v1/messages")(self.send_message)
        routes.get("/v1/messages")(self.list_messages)
        return routes

    @staticmethod
    def _api_key(request: web.Request) -> str:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or len(key) < 16:
            raise web.HTTPUnauthorized(
                text=json.dumps({"error": {"code": "unauthorized", "message": "bad api key"}}),
                content_type="application/json",
            )
        return key

    @staticmethod
    def _error(status: int, field_name: str, message: str) -> web.Response:
        return web.json_response(
            {"error": {"code": "invalid", "field": field_name, "message": message}}, status=status
        )

    async def create_call(self, request: web.Request) -> web.Response:
        api_key = self._api_key(request)
        try:
            body = await request.json()
        except ValueError:
            return self._error(400, "body", "body must be JSON")
        for name in ("from", "to", "status_callback"):
            if not isinstance(body.get(name), str) or not body[name]:
                return self._error(400, name, f"{name} is required")
        for name in ("to", "connect_to", "from"):
            value = body.get(name)
            if value is not None and (not value.startswith("+") or not value[1:].isdigit()):
                return self._error(400, name, f"{name} must be E.164")
        call = SimulatedCall(call_id=_new_id(), api_key=api_key)
        self.calls[call.call_id] = call
        script = self._bridge_script(call, body)
        self._spawn(self._deliver_all(call, script, body.get("chaos") or {}))
        return web.json_response({"call_id": call.call_id, "status": "queued"}, status=201)

    async def get_call(self, request: web.Request) -> web.Response:
        api_key = self._api_key(request)
        call = self.calls.get(request.match_info["call_id"])
        if call is None or call.api_key != api_key:
            return web.json_response({"error": {"code": "not_found"}}, status=404)
        return web.json_response({"call_id": call.call_id, "legs": call.legs})

    async def hangup_call(self, request: web.Request) -> web.Response:
        """End a call now: legs still ringing are canceled, answered ones complete."""
        api_key = self._api_key(request)
        call = self.calls.get(request.match_info["call_id"])
        if call is None or call.api_key != api_key:
            return web.json_response({"error": {"code": "not_found"}}, status=404)
        if call.finished or call.hung_up.is_set():
            return web.json_response(
                {"error": {"code": "call_ended", "message": "the call has ended"}}, status=409
            )
        call.hung_up.set()
        return web.json_response({"call_id": call.call_id, "status": "completing"}, status=202)

    async def send_message(self, request: web.Request) -> web.Response:
        """Record a text message; a number ending in 0003 cannot receive texts (refused)."""
        api_key = self._api_key(request)
        try:
            body = await request.json()
        except ValueError:
            return self._error(400, "body", "body must be JSON")
        if not isinstance(body, dict):
            return self._error(400, "body", "body must be a JSON object")
        for name in ("from", "to", "text"):
            if not isinstance(body.get(name), str) or not body[name]:
                return self._error(400, name, f"{name} is required")
        for name in ("from", "to"):
            if not body[name].startswith("+") or not body[name][1:].isdigit():
                return self._error(400, name, f"{name} must be E.164")
        if len(body["text"]) > 1600:
            return self._error(400, "text", "text is longer than 1600 characters")
        if body["to"].endswith("0003"):
            return self._error(422, "to", "the number cannot receive text messages")
        message = {
            "message_id": f"SM{_new_id()}",
            "from": body["from"],
            "to": body["to"],
            "text": body["text"],
            "status": "sent",
        }
        self.messages.append({**message, "api_key": api_key})
        return web.json_response(message, status=201)

    async def list_messages(self, request: web.Request) -> web.Response:
        """The messages sent with this API key, oldest first."""
        api_key = self._api_key(request)
        mine = [
            {k: v for k, v in m.items() if k != "api_key"}
            for m in self.messages
            if m["api_key"] == api_key
        ]
        return web.json_response({"data": mine})

    async def inbound_call(self, request: web.Request) -> web.Response:
        """Simulate a customer calling one of the account's numbers."""
        api_key = self._api_key(request)
        body = await request.json()
        for name in ("from", "to", "voice_url", "status_callback"):
            if not isinstance(body.get(name), str) or not body[name]:
                return self._error(400, name, f"{name} is required")
        call = SimulatedCall(call_id=_new_id(), api_key=api_key)
        self.calls[call.call_id] = call
        self._spawn(self._run_inbound(call, body))
        return web.json_response({"call_id": call.call_id, "status": "ringing"}, status=201)

    # --- scripts --------------------------------------------------------------------------

    def _bridge_script(self, call: SimulatedCall, body: dict[str, Any]) -> list[Scheduled]:
        agent_outcome = scripted_outcome(body["to"])
        script, t, answered = leg_script(
            leg_id=call.call_id,
            parent_id=None,
            direction="outbound",
            from_number=body["from"],
            to_number=body["to"],
            url=body["status_callback"],
            start=0.05,
            ring_s=AGENT_ANSWER_S - 0.15,
            outcome="completed" if agent_outcome == "completed" else agent_outcome,
            talk_s=0,
        )
        agent_end = t
        customer = body.get("connect_to")
        if answered and customer:
            child_id = _new_id()
            outcome = scripted_outcome(customer)
            child, t, child_answered = leg_script(
                leg_id=child_id,
                parent_id=call.call_id,
                direction="outbound",
                from_number=body["from"],
                to_number=customer,
                url=body.get("connect_status_callback") or body["status_callback"],
                start=t + 0.05,
                ring_s=CUSTOMER_RING_S,
                outcome=outcome,
                talk_s=TALK_S,
            )
            script += child
            if child_answered:
                t += TALK_S
                script.append(
                    Scheduled(
                        t,
                        child[0].url,
                        {**child[0].payload, "status": "completed", "duration": TALK_S},
                    )
                )
            agent_end = t + 0.05
        if answered:
            first = script[0]
            script.append(
                Scheduled(
                    agent_end,
                    first.url,
                    {
                        **first.payload,
                        "status": "completed",
                        "duration": max(1, round(agent_end - AGENT_ANSWER_S)),
                    },
                )
            )
        return script

    async def _run_inbound(self, call: SimulatedCall, body: dict[str, Any]) -> None:
        payload = {
            "call_id": call.call_id,
            "direction": "inbound",
            "from": body["from"],
            "to": body["to"],
            "status": "ringing",
        }
        reply = await self._post(call, body["voice_url"], payload, sequence=0)
        url = body["status_callback"]
        script: list[Scheduled] = []
        if reply and reply.get("action") == "dial" and reply.get("number"):
            outcome = scripted_outcome(str(reply["number"]))
            if outcome == "completed":
                script.append(Scheduled(CUSTOMER_RING_S, url, {**payload, "status": "answered"}))
                script.append(
                    Scheduled(
                        CUSTOMER_RING_S + TALK_S,
                        url,
                        {**payload, "status": "completed", "duration": TALK_S},
                    )
                )
            else:
                script.append(Scheduled(NO_ANSWER_AFTER_S, url, {**payload, "status": "no-answer"}))
        else:
            script.append(Scheduled(0.5, url, {**payload, "status": "completed", "duration": 0}))
        await self._deliver_all(call, script, {}, first_sequence=1)

    # --- delivery -------------------------------------------------------------------------

    async def _deliver_all(
        self,
        call: SimulatedCall,
        script: list[Scheduled],
        chaos: dict[str, Any],
        *,
        first_sequence: int = 0,
    ) -> None:
        sequences: dict[str, int] = {}
        started = datetime.now(UTC)
        for item in script:
            leg = item.payload["call_id"]
            seq = sequences.get(leg, first_sequence)
            sequences[leg] = seq + 1
            item.payload["sequence"] = seq
            item.payload["event_id"] = _new_id()
            item.payload["timestamp"] = (started + timedelta(seconds=item.at)).isoformat()
        send_at = [item.at for item in script]
        if chaos.get("reorder"):
            # Swap the delivery times of neighbouring callbacks: each pair arrives reversed.
            for i in range(0, len(send_at) - 1, 2):
                send_at[i], send_at[i + 1] = send_at[i + 1], send_at[i]
        copies = 2 if chaos.get("duplicate") else 1
        rng = random.Random(chaos.get("seed", 0))
        plan = sorted(
            (
                (at + rng.random() * 0.001, n, item)
                for n, (at, item) in enumerate(zip(send_at, script, strict=True))
            ),
            key=lambda p: (p[0], p[1]),
        )
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for at, _, item in plan:
            delay = t0 + at / self.speed - loop.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(call.hung_up.wait(), delay)
            if call.hung_up.is_set():
                await self._end_now(call, sequences)
                return
            leg = call.legs.setdefault(item.payload["call_id"], {})
            leg.update(
                status=item.payload["status"],
                to=item.payload["to"],
                parent_call_id=item.payload.get("parent_call_id"),
                duration=item.payload.get("duration"),
                url=item.url,
                base={k: item.payload.get(k) for k in LEG_FIELDS},
            )
            if item.payload["status"] == "answered":
                leg["answered_at"] = loop.time()
            dropped = item.payload["status"] in set(chaos.get("drop") or ()) or (
                rng.random() < float(chaos.get("drop_rate") or 0)
            )
            if dropped:
                # The carrier's record moves on; the gateway never hears of it.
                call.dropped.append(dict(item.payload))
                continue
            if chaos.get("delay_ms"):
                await asyncio.sleep(int(chaos["delay_ms"]) / 1000)
            for _ in range(copies):
                await self._post(call, item.url, item.payload, sequence=item.payload["sequence"])
        call.finished = True

    async def _end_now(self, call: SimulatedCall, sequences: dict[str, int]) -> None:
        """Hung up through the API: end the live legs, the customer's first."""
        loop = asyncio.get_running_loop()
        live = [
            (leg_id, leg)
            for leg_id, leg in call.legs.items()
            if leg.get("status") in ("initiated", "ringing", "answered")
        ]
        live.sort(key=lambda item: item[1].get("parent_call_id") is None)
        for leg_id, leg in live:
            answered_at = leg.get("answered_at")
            if answered_at is not None:
                duration = max(0, round((loop.time() - answered_at) * self.speed))
                status = "completed"
            else:
                duration, status = 0, "canceled"
            seq = sequences.get(leg_id, 0)
            sequences[leg_id] = seq + 1
            leg.update(status=status, duration=duration)
            payload = {**leg["base"], "status": status, "duration": duration}
            await self._post(call, leg["url"], payload, sequence=seq)
        call.finished = True

    async def _post(
        self, call: SimulatedCall, url: str, payload: dict[str, Any], *, sequence: int
    ) -> dict[str, Any] | None:
        payload = {**payload, "sequence": sequence}
        payload.setdefault("event_id", _new_id())
        payload.setdefault("timestamp", datetime.now(UTC).isoformat())
        body = json.dumps(payload).encode()
        call.deliveries.append(payload)
        assert self.http is not None, "the simulator posts only while the app runs"
        for attempt in range(DELIVERY_ATTEMPTS):
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "DialgateSandbox/1.0",
                "X-Sandbox-Signature": signature.header_value(call.api_key, url, body),
            }
            try:
                async with self.http.post(
                    url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=15)
                ) as resp:
                    if resp.status < 300:
                        if resp.content_type == "application/json":
                            reply: dict[str, Any] = await resp.json()
                            return reply
                        return None
                    if resp.status < 500:
                        log.warning("sandbox callback refused with %s", resp.status)
                        return None
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.info("sandbox callback failed (%r), attempt %d", exc, attempt + 1)
            await asyncio.sleep(0.2 * (2**attempt) / self.speed)
        return None

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def close(self) -> None:
        await stop_tasks(list(self.tasks))
