"""End to end through Vonage: registration, click-to-call via a REST stand-in, signed webhooks."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from gateway.carriers.base import CarrierAPIError, OriginateRequest
from gateway.keys import carriers_key, runtime_key, sessionmaker_key
from gateway.models import CarrierAccount
from tests.conftest import Gateway, LiveCall
from tests.integration.carrier_flows import call_ids_for_account as stored_call_ids
from tests.integration.carrier_flows import (
    click_to_call,
    deactivate_sandbox,
    post_carrier_account,
    register_account,
)
from tests.integration.carrier_flows import rows_for_account as stored_rows
from tests.standins.vonage_api import (
    Application,
    CallbackResult,
    Leg,
    VonageStandin,
    compact,
    deliver,
    event_payload,
    new_private_key,
)

APPLICATION_ID = str(uuid.uuid4())
PRIVATE_KEY = new_private_key()
SIGNATURE_SECRET = "dialgate-test-signature-secret-0123456789"
VONAGE_NUMBER = "+44 20 7946 0000"
VONAGE_E164 = "+442079460000"
AGENT1_PHONE = "+919000012345"
PRIYA_E164 = "+919876543210"


# --- helpers -------------------------------------------------------------------------------


@pytest.fixture
async def standin() -> AsyncIterator[VonageStandin]:
    api = await VonageStandin([Application(APPLICATION_ID, PRIVATE_KEY, SIGNATURE_SECRET)]).start()
    yield api
    await api.close()


def application(standin: VonageStandin) -> Application:
    return standin.applications[APPLICATION_ID]


def vonage_credentials(api_base_url: str | None = None, **overrides: Any) -> dict[str, Any]:
    credentials: dict[str, Any] = {
        "application_id": APPLICATION_ID,
        "private_key": PRIVATE_KEY,
        "signature_secret": SIGNATURE_SECRET,
    }
    if api_base_url is not None:
        credentials["api_base_url"] = api_base_url
    credentials.update(overrides)
    return credentials


async def register_vonage(gw: Gateway, standin: VonageStandin, **overrides: Any) -> dict[str, Any]:
    """Register the account and point the stand-in application's own webhooks at it."""
    body = await register_account(
        gw, "vonage", vonage_credentials(standin.url, **overrides), [VONAGE_NUMBER]
    )
    app = application(standin)
    app.answer_url = body["webhook_urls"]["answer"]
    app.event_url = body["webhook_urls"]["event"]
    return body


async def rows_for_account(gw: Gateway, account_id: int) -> tuple[int, int]:
    """(calls, carrier events) stored for a carrier account, once every webhook is applied."""
    await gw.settled()
    return await stored_rows(gw, account_id)


async def call_ids_for_account(gw: Gateway, account_id: int) -> list[int]:
    await gw.settled()
    return await stored_call_ids(gw, account_id)


def hook_url(gw: Gateway, account_id: int, kind: str = "event", query: str = "") -> str:
    return f"{gw.settings.public_base_url}/webhooks/vonage/{account_id}/{kind}{query}"


def console_leg(status_to: str = PRIYA_E164, direction: str = "outbound") -> Leg:
    """A leg of a call placed outside Dialgate (e.g. from the Vonage dashboard)."""
    return Leg(
        uuid=str(uuid.uuid4()),
        conversation_uuid=f"CON-{uuid.uuid4()}",
        role="customer",
        direction=direction,
        from_number=VONAGE_E164.lstrip("+"),
        to_number=status_to.lstrip("+"),
        event_url=None,
    )


async def send(
    gw: Gateway, url: str, fields: dict[str, Any], standin: VonageStandin, **kwargs: Any
) -> CallbackResult:
    result = await deliver(gw.http, url, fields, application(standin), **kwargs)
    await gw.settled()
    return result


@dataclass
class Dialed:
    live: LiveCall  # agent1's Socket.IO client
    token: str  # agent1's bearer token
    call_id: int
    account_id: int
    conversation: str  # the conversation_uuid Vonage (the stand-in) gave the call


async def dial_priya(gw: Gateway, standin: VonageStandin) -> Dialed:
    """Agent1 clicks to call Priya through Vonage; returns once Vonage got the create request."""
    account = await register_vonage(gw, standin)
    await deactivate_sandbox(gw)
    live, token, call = await click_to_call(gw)
    assert (call["carrier"], call["carrier_account_id"]) == ("vonage", account["id"])
    (created,) = await standin.wait_for_calls(1)
    return Dialed(live, token, int(call["id"]), int(account["id"]), created.conversation_uuid)


# --- a. registration -----------------------------------------------------------------------


async def test_admin_registers_a_vonage_account(gateway: Gateway, standin: VonageStandin) -> None:
    body = await register_vonage(gateway, standin)
    base = f"{gateway.url}/webhooks/vonage/{body['id']}"
    assert body["webhook_urls"] == {"answer": f"{base}/answer", "event": f"{base}/event"}
    assert body["numbers"] == [VONAGE_E164]
    assert body["credentials"]["application_id"] == APPLICATION_ID
    assert body["credentials"]["api_base_url"] == standin.url
    assert PRIVATE_KEY not in repr(body)
    admin = await gateway.login("admin@demo.test")
    _, fetched = await gateway.request("GET", f"/api/carrier-accounts/{body['id']}", admin)
    assert PRIVATE_KEY not in repr(fetched)


async def test_registration_hides_the_signature_secret(
    gateway: Gateway, standin: VonageStandin
) -> None:
    body = await register_vonage(gateway, standin)
    assert SIGNATURE_SECRET not in repr(body)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"application_id": "my-app"}, "credentials.application_id"),
        ({"private_key": "not a key"}, "credentials.private_key"),
        ({"signature_secret": "short"}, "credentials.signature_secret"),
        ({"api_base_url": "api.nexmo.com"}, "credentials.api_base_url"),
    ],
)
async def test_invalid_vonage_registration_names_the_field(
    gateway: Gateway, overrides: dict[str, Any], field: str
) -> None:
    admin = await gateway.login("admin@demo.test")
    status, body = await post_carrier_account(
        gateway, admin, "vonage", vonage_credentials(**overrides), [VONAGE_NUMBER]
    )
    assert status == 400, body
    assert body["error"]["field"] == field


# --- b. click-to-call through the REST stand-in --------------------------------------------


async def test_click_to_call_originates_through_vonage_and_streams_the_call(
    gateway: Gateway, standin: VonageStandin
) -> None:
    dialed = await dial_priya(gateway, standin)
    live, call_id, conversation = dialed.live, dialed.call_id, dialed.conversation

    (create,) = standin.creates()
    assert create.status == 201
    assert create.claims is not None and create.claims["application_id"] == APPLICATION_ID
    base = f"{gateway.url}/webhooks/vonage/{dialed.account_id}"
    assert create.body == {
        "to": [{"type": "phone", "number": AGENT1_PHONE[1:]}],
        "from": {"type": "phone", "number": VONAGE_E164[1:]},
        "answer_url": [f"{base}/answer?call_id={call_id}&leg=agent"],
        "answer_method": "POST",
        "event_url": [f"{base}/event?call_id={call_id}&leg=agent"],
        "event_method": "POST",
        "ringing_timer": 30,
    }

    played = await standin.play(conversation, talk_seconds=42, after_each=gateway.settled)
    assert [(r.kind, r.leg, r.payload.get("status")) for r in played] == [
        ("event", "agent", "started"),
        ("event", "agent", "ringing"),
        ("answer", "agent", None),
        ("event", "agent", "answered"),
        ("event", "customer", "started"),
        ("event", "customer", "ringing"),
        ("event", "customer", "answered"),
        ("event", "customer", "completed"),
        ("event", "agent", "completed"),
    ]
    answer = played[2]
    assert (answer.method, answer.status) == ("POST", 200)
    assert [r.status for r in played if r.kind == "event"] == [204] * 8
    # The agent answered: connect the lead, showing our number, its events to its own URL.
    assert answer.json() == [
        {
            "action": "connect",
            "from": VONAGE_E164[1:],
            "eventUrl": [f"{base}/event?call_id={call_id}&leg=customer"],
            "eventMethod": "POST",
            "endpoint": [{"type": "phone", "number": PRIYA_E164[1:]}],
        }
    ]
    agent_uuid = played[0].payload["uuid"]
    customer_uuid = played[4].payload["uuid"]
    assert agent_uuid != customer_uuid
    assert {r.payload["conversation_uuid"] for r in played} == {conversation}

    final = await live.until_ended(call_id)
    assert [u["status"] for u in live.for_call(call_id)] == [
        "queued",
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert final["outcome"] == "completed"
    assert final["duration_s"] == 42
    assert final["answered_at"] is not None and final["ended_at"] is not None

    status, detail = await gateway.request("GET", f"/api/calls/{call_id}", dialed.token)
    assert status == 200
    assert (detail["carrier"], detail["carrier_call_id"]) == ("vonage", conversation)
    legs = {leg["role"]: leg for leg in detail["legs"]}
    assert set(legs) == {"agent", "customer"}
    assert (legs["agent"]["carrier_leg_id"], legs["agent"]["number"]) == (agent_uuid, AGENT1_PHONE)
    assert (legs["customer"]["carrier_leg_id"], legs["customer"]["number"]) == (
        customer_uuid,
        PRIYA_E164,
    )
    assert (legs["customer"]["outcome"], legs["customer"]["duration_s"]) == ("completed", 42)
    timeline = [
        (e["kind"], e["leg"], e["carrier_status"], e["disposition"]) for e in detail["events"]
    ]
    assert timeline == [
        ("local", None, "queued", "applied"),
        ("event", "agent", "started", "applied"),
        ("event", "agent", "ringing", "applied"),
        ("answer", "agent", "answer", "applied"),
        ("event", "agent", "answered", "stale"),
        ("event", "customer", "started", "applied"),
        ("event", "customer", "ringing", "applied"),
        ("event", "customer", "answered", "applied"),
        ("event", "customer", "completed", "applied"),
        ("event", "agent", "completed", "applied"),
    ]

    # Vonage's call records agree: the conversation's customer leg ended after 42 s.
    adapter = gateway.app[carriers_key].get("vonage")
    async with gateway.app[sessionmaker_key]() as session:
        account = await session.get(CarrierAccount, dialed.account_id)
    assert adapter is not None and account is not None
    runtime = gateway.app[runtime_key]
    reconciled = await adapter.fetch_status(runtime, account.credentials, conversation)
    assert reconciled is not None
    assert (reconciled.carrier_call_id, reconciled.carrier_status, reconciled.duration_s) == (
        customer_uuid,
        "completed",
        42,
    )
    assert (reconciled.leg, reconciled.parent_call_id) == ("customer", conversation)
    by_leg = await adapter.fetch_status(runtime, account.credentials, agent_uuid)
    assert by_leg is not None and by_leg.carrier_status == "completed"
    assert await adapter.fetch_status(runtime, account.credentials, str(uuid.uuid4())) is None


@pytest.mark.parametrize(
    ("customer_outcome", "outcome"),
    [("busy", "busy"), ("timeout", "no-answer"), ("unanswered", "no-answer")],
)
async def test_customer_not_taking_the_call_gives_its_outcome(
    gateway: Gateway, standin: VonageStandin, customer_outcome: str, outcome: str
) -> None:
    dialed = await dial_priya(gateway, standin)
    played = await standin.play(
        dialed.conversation, customer_outcome=customer_outcome, after_each=gateway.settled
    )
    assert ("customer", customer_outcome) in [(r.leg, r.payload.get("status")) for r in played]
    final = await dialed.live.until_ended(dialed.call_id)
    assert (final["outcome"], final["duration_s"]) == (outcome, 0)
    assert [u["status"] for u in dialed.live.for_call(dialed.call_id)] == [
        "queued",
        "initiated",
        "ringing",
        "completed",
    ]
    _, detail = await gateway.request("GET", f"/api/calls/{dialed.call_id}", dialed.token)
    legs = {leg["role"]: leg for leg in detail["legs"]}
    assert legs["customer"]["outcome"] == outcome
    # The agent's leg was answered and then hung up; that does not change the lead's outcome.
    assert legs["agent"]["outcome"] == "completed"
    assert detail["outcome"] == outcome


async def test_agent_not_answering_cancels_the_call_not_a_lead_no_answer(
    gateway: Gateway, standin: VonageStandin
) -> None:
    dialed = await dial_priya(gateway, standin)
    played = await standin.play(
        dialed.conversation, agent_outcome="timeout", after_each=gateway.settled
    )
    assert [(r.kind, r.leg, r.payload["status"]) for r in played] == [
        ("event", "agent", "started"),
        ("event", "agent", "ringing"),
        ("event", "agent", "timeout"),
    ]
    final = await dialed.live.until_ended(dialed.call_id)
    assert (final["outcome"], final["end_reason"]) == ("canceled", "agent_no-answer")
    assert [u["status"] for u in dialed.live.for_call(dialed.call_id)] == [
        "queued",
        "initiated",
        "completed",
    ]
    _, detail = await gateway.request("GET", f"/api/calls/{dialed.call_id}", dialed.token)
    assert [(leg["role"], leg["outcome"]) for leg in detail["legs"]] == [("agent", "no-answer")]


async def test_vonage_refusing_the_application_jwt_fails_the_call(
    gateway: Gateway, standin: VonageStandin
) -> None:
    """The account's key is not the application's: the stand-in answers 401 as Vonage does."""
    await register_vonage(gateway, standin, private_key=new_private_key())
    await deactivate_sandbox(gateway)
    token = await gateway.login("agent1@demo.test")
    live = await gateway.connect(token)
    _, leads = await gateway.request("GET", "/api/leads", token, params={"q": "Priya Sharma"})
    status, call = await gateway.request(
        "POST", "/api/calls", token, json={"lead_id": leads["data"][0]["id"]}
    )
    assert status == 202, call
    final = await live.until_ended(call["id"])
    assert (final["outcome"], final["end_reason"]) == ("failed", "carrier_error")
    (create,) = standin.creates()
    assert create.status == 401
    assert standin.calls == {}
    _, detail = await gateway.request("GET", f"/api/calls/{call['id']}", token)
    assert [e["carrier_status"] for e in detail["events"]] == ["queued", "carrier_error"]


async def test_standin_answers_like_vonage(gateway: Gateway, standin: VonageStandin) -> None:
    """Validation and auth errors in Vonage's shape, and the adapter's reading of them."""
    adapter = gateway.app[carriers_key].get("vonage")
    assert adapter is not None
    runtime = gateway.app[runtime_key]
    credentials = adapter.check_credentials(vonage_credentials(standin.url))

    def request(agent: str) -> OriginateRequest:
        return OriginateRequest(
            call_id=1,
            agent_number=agent,
            customer_number=PRIYA_E164,
            caller_id=VONAGE_E164,
            status_callback_url="unused",
            customer_status_callback_url="unused",
            webhook_base=f"{gateway.url}/webhooks/vonage/9",
        )

    with pytest.raises(CarrierAPIError) as exc:
        await adapter.originate(runtime, credentials, request("+12"))
    assert (exc.value.status, exc.value.code) == (400, "validation")
    assert "to[0].number" in exc.value.message
    result = await adapter.originate(runtime, credentials, request(AGENT1_PHONE))
    assert result.carrier_call_id.startswith("CON-") and result.carrier_status == "started"

    async with gateway.http.post(f"{standin.url}/v1/calls", json={}) as resp:
        assert resp.status == 401
        body = await resp.json()
    assert body["type"].endswith("#unauthorized") and body["title"] == "Unauthorized"
    expired = jwt.encode(
        {"application_id": APPLICATION_ID, "iat": 1, "exp": 2, "jti": "x"},
        PRIVATE_KEY,
        algorithm="RS256",
    )
    async with gateway.http.post(
        f"{standin.url}/v1/calls", json={}, headers={"Authorization": f"Bearer {expired}"}
    ) as resp:
        assert resp.status == 401


async def test_agent_hangs_up_a_connected_call_and_vonage_reports_the_end(
    gateway: Gateway, standin: VonageStandin
) -> None:
    """Update call `{"action": "hangup"}` for each live leg; their `completed` events end it."""
    dialed = await dial_priya(gateway, standin)
    live, call_id, conversation = dialed.live, dialed.call_id, dialed.conversation
    connected = asyncio.Event()

    async def watch() -> None:
        await gateway.settled()
        last = standin.callbacks[-1]
        if (last.leg, last.payload.get("status")) == ("customer", "answered"):
            connected.set()

    playing = asyncio.create_task(
        standin.play(conversation, talk_seconds=30, until_hung_up=True, after_each=watch)
    )
    await asyncio.wait_for(connected.wait(), 10)
    ack = await live.client.call("hangup", {"call_id": call_id}, namespace="/dialer")
    assert ack == {"ok": True, "call_id": call_id}
    played = await asyncio.wait_for(playing, 10)

    agent, customer = standin.calls[conversation].legs
    puts = standin.hangups()
    assert [r.path for r in puts] == [f"/v1/calls/{agent.uuid}", f"/v1/calls/{customer.uuid}"]
    for put in puts:
        assert put.body == {"action": "hangup"}
        assert put.claims is not None and put.claims["application_id"] == APPLICATION_ID
    # The agent's leg is hung up first (204); the lead's may have ended with it by the time
    # its own request arrives, which the gateway takes as done.
    assert puts[0].status == 204 and puts[1].status in (204, 400)
    assert [(r.leg, r.payload.get("status")) for r in played[-2:]] == [
        ("customer", "completed"),
        ("agent", "completed"),
    ]
    final = await live.until_ended(call_id)
    assert final["outcome"] == "completed" and final["duration_s"] == 30
    status, body = await gateway.request("POST", f"/api/calls/{call_id}/hangup", dialed.token)
    assert status == 409 and body["error"]["code"] == "call_ended"


# --- c. calls to our number ---------------------------------------------------------------


async def test_inbound_call_from_unknown_number_creates_a_lead_and_is_told_a_message(
    gateway: Gateway, standin: VonageStandin
) -> None:
    account = await register_vonage(gateway, standin)
    admin = await gateway.login("admin@demo.test")
    manager_live = await gateway.connect(await gateway.login("manager@demo.test"))
    caller = "+447911123499"
    played = await standin.inbound(
        APPLICATION_ID,
        from_number=caller[1:],
        to_number=VONAGE_E164[1:],
        after_each=gateway.settled,
    )
    assert [(r.kind, r.method, r.payload.get("status")) for r in played] == [
        ("event", "POST", "started"),
        ("answer", "GET", None),
        ("event", "POST", "answered"),
        ("event", "POST", "completed"),
    ]
    answer = played[1]
    assert (answer.status, answer.content_type) == (200, "application/json")
    # Nobody owns the new lead, so nobody is rung: a message, then Vonage hangs up.
    (talk,) = answer.json()
    assert talk["action"] == "talk" and talk["text"]

    status, found = await gateway.request("GET", "/api/leads", admin, params={"q": caller})
    assert status == 200 and len(found["data"]) == 1, found
    lead = found["data"][0]
    assert (lead["phone"], lead["source"]) == (caller, "inbound-call")
    update = await manager_live.wait_for(lambda u: u["lead_id"] == lead["id"])
    assert update["direction"] == "inbound"
    (call_id,) = await call_ids_for_account(gateway, account["id"])
    _, detail = await gateway.request("GET", f"/api/calls/{call_id}", admin)
    assert (detail["direction"], detail["from_number"], detail["lead_match"]) == (
        "inbound",
        caller,
        "created",
    )
    assert detail["carrier_call_id"] == played[0].payload["conversation_uuid"]
    assert (detail["status"], detail["outcome"]) == ("completed", "completed")


@pytest.mark.parametrize(
    ("agent_outcome", "outcome"), [("completed", "completed"), ("timeout", "no-answer")]
)
async def test_inbound_call_from_a_known_lead_rings_its_owner(
    gateway: Gateway, standin: VonageStandin, agent_outcome: str, outcome: str
) -> None:
    account = await register_vonage(gateway, standin)
    agent1 = await gateway.login("agent1@demo.test")
    live = await gateway.connect(agent1)
    played = await standin.inbound(
        APPLICATION_ID,
        from_number=PRIYA_E164[1:],
        to_number=VONAGE_E164[1:],
        answer_method="POST",
        agent_outcome=agent_outcome,
        after_each=gateway.settled,
    )
    answer = played[1]
    (connect,) = answer.json()
    base = f"{gateway.url}/webhooks/vonage/{account['id']}"
    assert connect == {
        "action": "connect",
        "from": VONAGE_E164[1:],
        "eventUrl": [f"{base}/event?leg=agent"],
        "eventMethod": "POST",
        "endpoint": [{"type": "phone", "number": AGENT1_PHONE[1:]}],
    }
    assert ("agent", agent_outcome) in [(r.leg, r.payload.get("status")) for r in played]
    update = await live.wait_for(
        lambda u: u["direction"] == "inbound" and u["status"] == "completed"
    )
    _, detail = await gateway.request("GET", f"/api/calls/{update['call_id']}", agent1)
    assert (detail["lead_match"], detail["from_number"]) == ("matched", PRIYA_E164)
    # A caller no agent answered is a missed call.
    assert detail["outcome"] == outcome


# --- d. security and error answers ---------------------------------------------------------


async def test_bad_or_missing_signature_is_refused_and_changes_nothing(
    gateway: Gateway, standin: VonageStandin
) -> None:
    account = await register_vonage(gateway, standin)
    account_id = account["id"]
    url = hook_url(gateway, account_id)
    fields = event_payload(console_leg(), "ringing", datetime.now(UTC))
    tampered = compact({**fields, "to": "919000023456"})
    now = datetime.now(UTC).timestamp()
    cases = [
        await send(gateway, url, fields, standin, secret="not-the-signature-secret-0000000000"),
        await send(gateway, url, fields, standin, token=""),
        await send(gateway, url, fields, standin, token="not.a.jwt"),
        await send(gateway, url, fields, standin, body=tampered),
        await send(gateway, url, fields, standin, iat=now - 3600),
        await send(
            gateway, url, fields, standin, extra_claims={"application_id": str(uuid.uuid4())}
        ),
    ]
    for result in cases:
        assert result.status == 403, result.body
        assert result.content_type == "application/json"
        assert json.loads(result.body)["error"]["code"] == "invalid_signature"
    assert await rows_for_account(gateway, account_id) == (0, 0)

    ok = await send(gateway, url, fields, standin)
    assert ok.status == 204
    assert await rows_for_account(gateway, account_id) == (1, 1)


async def test_signed_but_malformed_webhook_is_400_naming_the_field(
    gateway: Gateway, standin: VonageStandin
) -> None:
    account = await register_vonage(gateway, standin)
    url = hook_url(gateway, account["id"])
    fields = event_payload(console_leg(), "completed", datetime.now(UTC))
    for broken, field in [
        ({k: v for k, v in fields.items() if k != "status"}, "status"),
        ({k: v for k, v in fields.items() if k != "uuid"}, "uuid"),
        ({**fields, "duration": "forty-two"}, "duration"),
        ({**fields, "timestamp": "yesterday"}, "timestamp"),
    ]:
        result = await send(gateway, url, broken, standin)
        assert result.status == 400, result.body
        assert json.loads(result.body)["error"]["field"] == field
    result = await send(
        gateway, hook_url(gateway, account["id"], query="?leg=boss"), fields, standin
    )
    assert json.loads(result.body)["error"]["field"] == "leg"
    assert await rows_for_account(gateway, account["id"]) == (0, 0)


async def test_duplicate_delivery_is_one_event(gateway: Gateway, standin: VonageStandin) -> None:
    account = await register_vonage(gateway, standin)
    url = hook_url(gateway, account["id"])
    leg = console_leg()
    start = datetime.now(UTC)
    events = [event_payload(leg, s, start) for s in ("started", "ringing", "answered")]
    leg.duration = 9
    events.append(event_payload(leg, "completed", start + timedelta(seconds=12)))
    # Each delivered twice (a retry signs again: another jti and iat), twice concurrently.
    results = [await send(gateway, url, e, standin) for e in events]
    results += await asyncio.gather(*(send(gateway, url, e, standin) for e in events + events))
    assert [r.status for r in results] == [204] * 12
    assert await rows_for_account(gateway, account["id"]) == (1, 4)
    (call_id,) = await call_ids_for_account(gateway, account["id"])
    admin = await gateway.login("admin@demo.test")
    _, detail = await gateway.request("GET", f"/api/calls/{call_id}", admin)
    assert (detail["status"], detail["outcome"], detail["duration_s"]) == (
        "completed",
        "completed",
        9,
    )
    assert detail["carrier_call_id"] == leg.conversation_uuid


async def test_out_of_order_delivery_never_moves_the_call_backwards(
    gateway: Gateway, standin: VonageStandin
) -> None:
    account = await register_vonage(gateway, standin)
    url = hook_url(gateway, account["id"])
    leg = console_leg()
    start = datetime.now(UTC).replace(microsecond=0)
    leg.duration = 25
    completed = event_payload(leg, "completed", start + timedelta(seconds=30))
    for fields in (
        completed,
        event_payload(leg, "ringing", start + timedelta(seconds=2)),
        event_payload(leg, "answered", start + timedelta(seconds=5)),
        event_payload(leg, "failed", start + timedelta(seconds=31)),
        event_payload(leg, "payment", start + timedelta(seconds=32)),
    ):
        assert (await send(gateway, url, fields, standin)).status == 204
    (call_id,) = await call_ids_for_account(gateway, account["id"])
    admin = await gateway.login("admin@demo.test")
    _, detail = await gateway.request("GET", f"/api/calls/{call_id}", admin)
    assert (detail["status"], detail["outcome"], detail["duration_s"]) == (
        "completed",
        "completed",
        25,
    )
    assert [(e["carrier_status"], e["disposition"]) for e in detail["events"]] == [
        ("completed", "applied"),
        ("ringing", "stale"),
        ("answered", "stale"),
        ("failed", "conflicting-terminal"),
        ("payment", "unknown-status"),
    ]
