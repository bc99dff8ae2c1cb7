"""End to end through Plivo: registration, click-to-call via a REST stand-in, signed callbacks."""

import asyncio
import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import plivo
import pytest
from plivo.utils.signature_v3 import validate_v3_signature
from sqlmodel import select

from gateway.carriers.base import CarrierAPIError, CarrierRuntime
from gateway.carriers.plivo.adapter import PlivoCarrier
from gateway.keys import sessionmaker_key
from gateway.models import Call, CallStatus
from tests.conftest import Gateway, LiveCall
from tests.integration.carrier_flows import (
    click_to_call,
    deactivate_sandbox,
    post_carrier_account,
    register_account,
    settled,
    statuses,
)
from tests.integration.carrier_flows import rows_for_account as stored_rows
from tests.standins.plivo_api import CallbackResult, PlivoStandin, new_uuid, post_signed

AUTH_ID = "MAZJNLNJIYNWMZYZHIMM"
AUTH_TOKEN = "Y2Q2ZDgxZmY5YWRiOTI5YmQ1Njg0MTAxZWIyOTc4"
PLIVO_NUMBER = "080 4718 0001"
PLIVO_E164 = "+918047180001"
AGENT1_PHONE = "+919000012345"
PRIYA_E164 = "+919876543210"


# --- helpers -------------------------------------------------------------------------------


@pytest.fixture
async def standin() -> AsyncIterator[PlivoStandin]:
    api = await PlivoStandin({AUTH_ID: AUTH_TOKEN}).start()
    yield api
    await api.close()


async def register_plivo(gw: Gateway, api_base_url: str | None = None) -> dict[str, Any]:
    credentials = {"auth_id": AUTH_ID, "auth_token": AUTH_TOKEN}
    if api_base_url is not None:
        credentials["api_base_url"] = api_base_url
    return await register_account(gw, "plivo", credentials, [PLIVO_NUMBER])


async def rows_for_account(gw: Gateway, account_id: int) -> tuple[int, int]:
    """(calls, carrier events) stored for a carrier account, once callbacks are applied."""
    await settled(gw)
    return await stored_rows(gw, account_id)


def hook_url(gw: Gateway, account_id: int, kind: str, query: str = "") -> str:
    return f"{gw.settings.public_base_url}/webhooks/plivo/{account_id}/{kind}{query}"


def console_call(call_uuid: str, status: str, **extra: str) -> dict[str, str]:
    """A callback for a call placed outside Dialgate (e.g. from Plivo's console)."""
    params = {
        "ALegRequestUUID": call_uuid,
        "ALegUUID": call_uuid,
        "CallStatus": status,
        "CallUUID": call_uuid,
        "Direction": "outbound",
        "From": PLIVO_E164.lstrip("+"),
        "RequestUUID": call_uuid,
        "To": PRIYA_E164.lstrip("+"),
    }
    params.update(extra)
    return params


async def send(gw: Gateway, url: str, params: dict[str, str], **kwargs: Any) -> CallbackResult:
    result = await post_signed(gw.http, url, params, AUTH_TOKEN, **kwargs)
    await settled(gw)
    return result


@dataclass
class Dialed:
    live: LiveCall  # agent1's Socket.IO client
    token: str  # agent1's bearer token
    call_id: int
    account_id: int
    request_uuid: str  # what Plivo (the stand-in) answered the Make Call request with


async def dial_priya(gw: Gateway, standin: PlivoStandin) -> Dialed:
    """Agent1 clicks to call Priya through Plivo; returns once Plivo got the Make Call request."""
    account = await register_plivo(gw, standin.url)
    await deactivate_sandbox(gw)
    live, token, call = await click_to_call(gw)
    assert call["carrier"] == "plivo"
    assert call["carrier_account_id"] == account["id"]
    (created,) = await standin.wait_for_calls(1)
    return Dialed(live, token, int(call["id"]), int(account["id"]), created.request_uuid)


def settle_each(gw: Gateway) -> Callable[[CallbackResult], Awaitable[None]]:
    """For exact timelines: each callback is applied before the stand-in sends the next.

    Without it the synchronous answer URL may be applied before the ring callback queued
    just ahead of it (harmless: the ring is then stale), which a timeline assertion would see.
    """

    async def wait(_: CallbackResult) -> None:
        await settled(gw)

    return wait


# --- a. registration -------------------------------------------------------------------------


async def test_admin_registers_a_plivo_account(gateway: Gateway, standin: PlivoStandin) -> None:
    body = await register_plivo(gateway, standin.url)
    account_id = body["id"]
    assert body["carrier"] == "plivo"
    assert body["numbers"] == [PLIVO_E164]
    assert body["credentials"]["auth_id"] == AUTH_ID
    assert body["credentials"]["auth_token"] != AUTH_TOKEN
    assert AUTH_TOKEN not in json.dumps(body)
    base = f"{gateway.url}/webhooks/plivo/{account_id}"
    # The answer and hangup URLs go into the number's Plivo Application.
    assert body["webhook_urls"] == {
        kind: f"{base}/{kind}" for kind in ("action", "answer", "dial", "hangup", "ring")
    }


@pytest.mark.parametrize(
    ("credentials", "numbers", "field"),
    [
        ({"auth_id": "MA123", "auth_token": AUTH_TOKEN}, [PLIVO_NUMBER], "credentials.auth_id"),
        (
            {"auth_id": "AC" + AUTH_ID[2:], "auth_token": AUTH_TOKEN},
            [PLIVO_NUMBER],
            "credentials.auth_id",
        ),
        ({"auth_id": AUTH_ID, "auth_token": "short"}, [PLIVO_NUMBER], "credentials.auth_token"),
        ({"auth_id": AUTH_ID}, [PLIVO_NUMBER], "credentials.auth_token"),
        (
            {"auth_id": AUTH_ID, "auth_token": AUTH_TOKEN, "api_base_url": "api.plivo.com"},
            [PLIVO_NUMBER],
            "credentials.api_base_url",
        ),
        ({"auth_id": AUTH_ID, "auth_token": AUTH_TOKEN}, ["12345"], "numbers.0"),
    ],
)
async def test_invalid_plivo_registration_names_the_field(
    gateway: Gateway, credentials: dict[str, str], numbers: list[str], field: str
) -> None:
    admin = await gateway.login("admin@demo.test")
    status, body = await post_carrier_account(gateway, admin, "plivo", credentials, numbers)
    assert status == 400, body
    assert body["error"]["field"] == field


# --- b. click-to-call through the REST stand-in -----------------------------------------------


async def test_click_to_call_originates_through_plivo_and_streams_the_call(
    gateway: Gateway, standin: PlivoStandin
) -> None:
    dialed = await dial_priya(gateway, standin)
    live, call_id, request_uuid = dialed.live, dialed.call_id, dialed.request_uuid

    (create,) = standin.creates()
    assert create.status == 201
    assert create.auth == (AUTH_ID, AUTH_TOKEN)
    assert create.path == f"/v1/Account/{AUTH_ID}/Call/"
    assert create.content_type == "application/json"
    base = f"{gateway.url}/webhooks/plivo/{dialed.account_id}"
    assert create.body == {
        "from": PLIVO_E164.lstrip("+"),
        "to": AGENT1_PHONE.lstrip("+"),
        "answer_url": f"{base}/answer?call_id={call_id}",
        "answer_method": "POST",
        "ring_url": f"{base}/ring?call_id={call_id}",
        "ring_method": "POST",
        "hangup_url": f"{base}/hangup?call_id={call_id}",
        "hangup_method": "POST",
        "ring_timeout": 30,
    }

    played = await standin.play(
        request_uuid, customer_outcome="completed", talk_seconds=42, after_each=settle_each(gateway)
    )
    assert [r.status for r in played] == [200] * len(played), [r.body for r in played]
    assert [(r.leg, r.params.get("Event")) for r in played] == [
        ("agent", "Ring"),
        ("agent", "StartApp"),
        ("customer", "DialAnswer"),
        ("customer", "DialConnected"),
        ("customer", "DialHangup"),
        ("customer", "Redirect"),
        ("agent", "Hangup"),
    ]
    # The answer URL's reply: dial Priya from our number, reporting back to our webhooks.
    answer = played[1]
    assert answer.content_type == "text/xml"
    dial = ET.fromstring(answer.body).find("Dial")  # noqa: S314  (the gateway's reply)
    assert dial is not None
    assert dial.get("callerId") == PLIVO_E164.lstrip("+")
    assert dial.get("callbackUrl") == f"{base}/dial?call_id={call_id}"
    assert dial.get("action") == f"{base}/action?call_id={call_id}"
    number = dial.find("Number")
    assert number is not None and number.text == PRIYA_E164.lstrip("+")
    assert [e.tag for e in ET.fromstring(played[5].body)] == ["Hangup"]  # noqa: S314
    # Every callback was signed as Plivo signs, by the SDK's own validator's reckoning.
    for result in played:
        assert validate_v3_signature(
            "POST", result.url, result.nonce, AUTH_TOKEN, result.signature, dict(result.params)
        )
    b_leg = played[2].params["DialBLegUUID"]

    final = await live.until_ended(call_id)
    await settled(gateway)
    # Plivo's Dial reports no ringing of the dialled leg: the call goes from the agent's leg
    # (initiated) straight to the customer answering.
    assert statuses(live, call_id) == ["queued", "initiated", "in-progress", "completed"]
    assert final["outcome"] == "completed"
    assert final["duration_s"] == 42
    assert final["answered_at"] is not None and final["ended_at"] is not None

    status, detail = await gateway.request("GET", f"/api/calls/{call_id}", dialed.token)
    assert status == 200
    assert detail["carrier"] == "plivo"
    assert detail["carrier_call_id"] == request_uuid
    assert detail["status"] == "completed" and detail["outcome"] == "completed"
    legs = {leg["role"]: leg for leg in detail["legs"]}
    assert set(legs) == {"agent", "customer"}
    assert legs["agent"]["carrier_leg_id"] == request_uuid
    assert legs["agent"]["number"] == AGENT1_PHONE
    assert legs["agent"]["outcome"] == "completed"
    assert legs["customer"]["carrier_leg_id"] == b_leg
    assert legs["customer"]["number"] == PRIYA_E164
    assert legs["customer"]["outcome"] == "completed"
    assert legs["customer"]["duration_s"] == 42
    timeline = [
        (e["kind"], e["leg"], e["carrier_status"], e["disposition"]) for e in detail["events"]
    ]
    assert timeline[0] == ("local", None, "queued", "applied")
    assert timeline[1:] == [
        ("ring", "agent", "ringing", "applied"),
        ("answer", "agent", "in-progress", "applied"),
        ("dial", "customer", "answer", "applied"),
        ("dial", "customer", "connected", "stale"),
        ("dial", "customer", "hangup", "applied"),
        ("action", "customer", "completed", "duplicate-terminal"),
        ("hangup", "agent", "completed", "applied"),
    ]


@pytest.mark.parametrize("customer_outcome", ["busy", "no-answer", "failed"])
async def test_customer_not_answering_gives_that_outcome(
    gateway: Gateway, standin: PlivoStandin, customer_outcome: str
) -> None:
    dialed = await dial_priya(gateway, standin)
    live, call_id = dialed.live, dialed.call_id
    played = await standin.play(dialed.request_uuid, customer_outcome=customer_outcome)
    assert all(r.status == 200 for r in played)
    action = played[-2]
    assert action.params["DialStatus"] == customer_outcome
    assert action.params["DialBLegUUID"] == ""

    final = await live.until_ended(call_id)
    await settled(gateway)
    assert final["outcome"] == customer_outcome
    assert final["duration_s"] == 0
    assert statuses(live, call_id) == ["queued", "initiated", "completed"]
    status, detail = await gateway.request("GET", f"/api/calls/{call_id}", dialed.token)
    assert status == 200
    legs = {leg["role"]: leg for leg in detail["legs"]}
    assert legs["customer"]["outcome"] == customer_outcome
    # The agent's leg was answered and then hung up; that does not change the lead's outcome.
    assert legs["agent"]["outcome"] == "completed"
    assert detail["outcome"] == customer_outcome


async def test_dial_action_alone_settles_an_unanswered_customer(
    gateway: Gateway, standin: PlivoStandin
) -> None:
    """Without a DialHangup for the never-answered B leg, the action's DialStatus decides."""
    dialed = await dial_priya(gateway, standin)
    played = await standin.play(
        dialed.request_uuid, customer_outcome="busy", dial_hangup_for_unanswered=False
    )
    assert "DialHangup" not in [r.params.get("Event") for r in played]
    final = await dialed.live.until_ended(dialed.call_id)
    await settled(gateway)
    assert final["outcome"] == "busy"
    _, detail = await gateway.request("GET", f"/api/calls/{dialed.call_id}", dialed.token)
    legs = {leg["role"]: leg for leg in detail["legs"]}
    # Plivo gives no UUID for a B leg nobody answered: the leg is named after the A leg's Dial.
    assert legs["customer"]["carrier_leg_id"] == f"{dialed.request_uuid}:dial"
    assert legs["agent"]["carrier_leg_id"] == dialed.request_uuid


async def test_agent_not_answering_cancels_the_call_not_a_lead_no_answer(
    gateway: Gateway, standin: PlivoStandin
) -> None:
    dialed = await dial_priya(gateway, standin)
    live, call_id = dialed.live, dialed.call_id
    played = await standin.play(dialed.request_uuid, agent_outcome="no-answer")
    assert [(r.leg, r.params["CallStatus"]) for r in played] == [
        ("agent", "ringing"),
        ("agent", "no-answer"),
    ]
    final = await live.until_ended(call_id)
    await settled(gateway)
    assert final["outcome"] == "canceled"
    assert final["end_reason"] == "agent_no-answer"
    assert statuses(live, call_id) == ["queued", "initiated", "completed"]
    _, detail = await gateway.request("GET", f"/api/calls/{call_id}", dialed.token)
    assert [leg["role"] for leg in detail["legs"]] == ["agent"]
    assert detail["legs"][0]["outcome"] == "no-answer"


async def test_plivo_refusing_the_call_fails_it(gateway: Gateway, standin: PlivoStandin) -> None:
    """A wrong auth token: the stand-in answers 401 as Plivo does; the call fails."""
    standin.accounts[AUTH_ID] = "another-token-00000000000000"
    await register_plivo(gateway, standin.url)
    await deactivate_sandbox(gateway)
    token = await gateway.login("agent1@demo.test")
    live = await gateway.connect(token)
    _, leads = await gateway.request("GET", "/api/leads", token, params={"q": "Priya Sharma"})
    status, call = await gateway.request(
        "POST", "/api/calls", token, json={"lead_id": leads["data"][0]["id"]}
    )
    assert status == 202, call
    final = await live.until_ended(call["id"])
    assert final["outcome"] == "failed"
    assert final["end_reason"] == "carrier_error"
    assert standin.creates()[0].status == 401


# --- c. the Call API as the SDK sees it, and reading calls back --------------------------------


async def test_the_stand_in_speaks_the_api_the_sdk_speaks(
    standin: PlivoStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """plivo-python itself places a call on the stand-in: same path, auth and body names."""
    monkeypatch.setattr(plivo.rest.client, "API_VOICE_BASE_URI", f"{standin.url}/v1/Account")
    client = plivo.RestClient(AUTH_ID, AUTH_TOKEN)
    response = await asyncio.to_thread(
        client.calls.create,
        from_="918047180001",
        to_="919000012345",
        answer_url="https://gw.example.com/webhooks/plivo/2/answer?call_id=1",
        ring_url="https://gw.example.com/webhooks/plivo/2/ring?call_id=1",
        hangup_url="https://gw.example.com/webhooks/plivo/2/hangup?call_id=1",
        ring_timeout=30,
    )
    assert response.message == "call fired"
    (sdk_request,) = standin.creates()
    assert sdk_request.path == f"/v1/Account/{AUTH_ID}/Call/"
    assert sdk_request.auth == (AUTH_ID, AUTH_TOKEN)
    assert sdk_request.content_type == "application/json"
    ours = {
        "from",
        "to",
        "answer_url",
        "answer_method",
        "ring_url",
        "ring_method",
        "hangup_url",
        "hangup_method",
        "ring_timeout",
    }
    assert ours <= set(sdk_request.body)
    assert sdk_request.body["ring_timeout"] == 30


async def test_fetch_status_reads_the_customer_leg(gateway: Gateway, standin: PlivoStandin) -> None:
    dialed = await dial_priya(gateway, standin)
    runtime = CarrierRuntime(settings=gateway.settings, http=gateway.http)
    adapter = PlivoCarrier()
    credentials = adapter.check_credentials(
        {"auth_id": AUTH_ID, "auth_token": AUTH_TOKEN, "api_base_url": standin.url}
    )
    # Queued at Plivo: neither live nor finished yet.
    assert await adapter.fetch_status(runtime, credentials, dialed.request_uuid) is None
    seen: list[Any] = []

    async def look(result: CallbackResult) -> None:
        if result.params.get("Event") == "StartApp":
            seen.append(await adapter.fetch_status(runtime, credentials, dialed.request_uuid))

    await standin.play(dialed.request_uuid, talk_seconds=42, after_each=look)
    (during,) = seen
    assert during is not None
    assert (during.carrier_status, during.status) == ("in-progress", CallStatus.IN_PROGRESS)
    after = await adapter.fetch_status(runtime, credentials, dialed.request_uuid)
    assert after is not None
    assert after.parent_call_id == dialed.request_uuid
    assert (after.status, after.outcome, after.duration_s) == ("completed", "completed", 42)
    assert after.to_number == PRIYA_E164
    assert await adapter.fetch_status(runtime, credentials, new_uuid()) is None


async def test_agent_hangs_up_a_connected_call_and_plivo_reports_the_end(
    gateway: Gateway, standin: PlivoStandin
) -> None:
    """Hang-up API: `DELETE .../Call/{uuid}/` (204); the call ends by Plivo's own callbacks."""
    dialed = await dial_priya(gateway, standin)
    live, call_id = dialed.live, dialed.call_id
    connected = asyncio.Event()

    async def watch(result: CallbackResult) -> None:
        await settled(gateway)
        if result.params.get("Event") == "DialConnected":
            connected.set()

    playing = asyncio.create_task(
        standin.play(dialed.request_uuid, talk_seconds=30, until_hung_up=True, after_each=watch)
    )
    await asyncio.wait_for(connected.wait(), 10)
    assert standin.legs[dialed.request_uuid].ended is None
    ack = await live.client.call("hangup", {"call_id": call_id}, namespace="/dialer")
    assert ack == {"ok": True, "call_id": call_id}
    played = await asyncio.wait_for(playing, 10)

    (request,) = standin.hangup_requests()
    assert request.path == f"/v1/Account/{AUTH_ID}/Call/{dialed.request_uuid}/"
    assert request.auth == (AUTH_ID, AUTH_TOKEN)
    assert request.status == 204
    assert [(r.leg, r.params.get("Event")) for r in played[-2:]] == [
        ("customer", "DialHangup"),
        ("agent", "Hangup"),
    ]
    assert played[-1].params["HangupSource"] == "API Request"
    assert all(r.status == 200 for r in played)
    final = await live.until_ended(call_id)
    await settled(gateway)
    assert final["outcome"] == "completed" and final["duration_s"] == 30
    _, detail = await gateway.request("GET", f"/api/calls/{call_id}", dialed.token)
    legs = {leg["role"]: leg for leg in detail["legs"]}
    assert legs["agent"]["outcome"] == legs["customer"]["outcome"] == "completed"
    status, body = await gateway.request("POST", f"/api/calls/{call_id}/hangup", dialed.token)
    assert status == 409 and body["error"]["code"] == "call_ended"
    # Plivo answers 404 for a call that is over, which the dialer reports as "call_ended".
    adapter = PlivoCarrier()
    credentials = adapter.check_credentials(
        {"auth_id": AUTH_ID, "auth_token": AUTH_TOKEN, "api_base_url": standin.url}
    )
    runtime = CarrierRuntime(settings=gateway.settings, http=gateway.http)
    with pytest.raises(CarrierAPIError) as refused:
        await adapter.hangup(runtime, credentials, dialed.request_uuid)
    assert refused.value.status == 404 and not refused.value.ambiguous


# --- d. inbound calls ------------------------------------------------------------------------


async def test_inbound_call_from_unknown_number_creates_one_lead(
    gateway: Gateway, standin: PlivoStandin
) -> None:
    account = await register_plivo(gateway, standin.url)
    admin = await gateway.login("admin@demo.test")
    manager_live = await gateway.connect(await gateway.login("manager@demo.test"))
    caller = "+447911123400"

    async def ring() -> list[CallbackResult]:
        return await standin.inbound(
            AUTH_ID,
            from_number=caller,
            to_number=PLIVO_E164,
            answer_url=account["webhook_urls"]["answer"],
            hangup_url=account["webhook_urls"]["hangup"],
        )

    first = await ring()
    assert [r.status for r in first] == [200, 200]
    answer = first[0]
    assert answer.params["Direction"] == "inbound" and answer.params["CallStatus"] == "ringing"
    assert answer.content_type == "text/xml"
    xml = ET.fromstring(answer.body)  # noqa: S314  (the gateway's reply)
    assert xml.tag == "Response"
    # Nobody owns the new lead, so nobody is rung: a message, then hang up.
    assert [element.tag for element in xml] == ["Speak", "Hangup"]

    status, found = await gateway.request(
        "GET", "/api/leads", admin, params={"q": "+44 7911 123400"}
    )
    assert status == 200
    assert len(found["data"]) == 1, found
    lead = found["data"][0]
    assert lead["phone"] == caller
    assert lead["source"] == "inbound-call"
    update = await manager_live.wait_for(lambda u: u["lead_id"] == lead["id"])
    assert update["direction"] == "inbound"

    await ring()
    await settled(gateway)
    _, found = await gateway.request("GET", "/api/leads", admin, params={"q": caller})
    assert [x["id"] for x in found["data"]] == [lead["id"]]
    status, calls = await gateway.request(
        "GET", "/api/calls", admin, params={"lead_id": lead["id"]}
    )
    assert status == 200
    by_uuid = {c["carrier_call_id"]: c for c in calls["data"]}
    assert set(by_uuid) == {first[0].params["CallUUID"], standin.callbacks[-2].params["CallUUID"]}
    assert sorted(c["lead_match"] for c in by_uuid.values()) == ["created", "matched"]
    assert all(c["direction"] == "inbound" and c["from_number"] == caller for c in by_uuid.values())
    assert all(c["outcome"] == "completed" for c in by_uuid.values())


@pytest.mark.parametrize(
    ("agent_outcome", "outcome"), [("completed", "completed"), ("no-answer", "no-answer")]
)
async def test_inbound_call_from_a_lead_rings_its_owner(
    gateway: Gateway, standin: PlivoStandin, agent_outcome: str, outcome: str
) -> None:
    account = await register_plivo(gateway, standin.url)
    agent1 = await gateway.login("agent1@demo.test")
    live = await gateway.connect(agent1)
    played = await standin.inbound(
        AUTH_ID,
        from_number=PRIYA_E164,
        to_number=PLIVO_E164,
        answer_url=account["webhook_urls"]["answer"],
        hangup_url=account["webhook_urls"]["hangup"],
        agent_outcome=agent_outcome,
        talk_seconds=30,
    )
    assert all(r.status == 200 for r in played), [r.body for r in played]
    dial = ET.fromstring(played[0].body).find("Dial")  # noqa: S314  (the gateway's reply)
    assert dial is not None
    number = dial.find("Number")
    assert number is not None and number.text == AGENT1_PHONE.lstrip("+")
    assert dial.get("callbackUrl") == f"{gateway.url}/webhooks/plivo/{account['id']}/dial"
    assert dial.get("action") == f"{gateway.url}/webhooks/plivo/{account['id']}/action"

    update = await live.wait_for(lambda u: u["status"] == "completed")
    assert update["direction"] == "inbound"
    assert update["outcome"] == outcome
    assert update["duration_s"] == (30 if outcome == "completed" else 0)
    _, detail = await gateway.request("GET", f"/api/calls/{update['call_id']}", agent1)
    assert detail["carrier_call_id"] == played[0].params["CallUUID"]
    assert detail["lead_match"] == "matched"


# --- e. security, malformed, duplicate and out-of-order callbacks -----------------------------


async def test_bad_or_missing_signature_is_refused_and_changes_nothing(
    gateway: Gateway,
) -> None:
    account = await register_plivo(gateway)
    account_id = account["id"]
    url = hook_url(gateway, account_id, "hangup")
    params = console_call(new_uuid(), "completed", Duration="12")
    tampered = dict(params, Duration="1200")
    good = await post_signed(gateway.http, url, params, AUTH_TOKEN, nonce="1" * 20)
    cases = [
        await send(gateway, url, params, signature="bm90LXRoZS1zaWduYXR1cmU="),
        await send(gateway, url, params, signature=""),
        await send(gateway, url, params, signature="é" * 44),
        await send(gateway, url, params, signed_url=url + "?call_id=1"),
        await send(gateway, url, tampered, signature=good.signature, nonce="1" * 20),
        await send(gateway, url, params, signature=good.signature, nonce="2" * 20),
        await post_signed(gateway.http, url, params, "not-the-auth-token-000000"),
    ]
    # `good` is the one request signed right: the only call and event stored.
    assert good.status == 200
    for result in cases:
        assert result.status == 403, (result.signature, result.body)
        assert result.content_type == "application/json"
    assert json.loads(cases[0].body)["error"]["code"] == "invalid_signature"
    assert await rows_for_account(gateway, account_id) == (1, 1)


async def test_signed_but_malformed_callback_is_400_naming_the_field(gateway: Gateway) -> None:
    account = await register_plivo(gateway)
    account_id = account["id"]
    cases = [
        (
            "hangup",
            {k: v for k, v in console_call(new_uuid(), "busy").items() if k != "CallStatus"},
            "CallStatus",
        ),
        (
            "ring",
            {k: v for k, v in console_call(new_uuid(), "ringing").items() if k != "CallUUID"},
            "CallUUID",
        ),
        ("hangup", console_call(new_uuid(), "completed", Duration="a minute"), "Duration"),
        (
            "dial",
            {"CallUUID": new_uuid(), "DialAction": "answer", "DialALegUUID": new_uuid()},
            "DialBLegUUID",
        ),
        ("action", {"CallUUID": new_uuid(), "DialALegUUID": new_uuid()}, "DialStatus"),
    ]
    for kind, params, field in cases:
        result = await send(gateway, hook_url(gateway, account_id, kind), params)
        assert result.status == 400, (kind, result.body)
        assert json.loads(result.body)["error"]["field"] == field
    assert await rows_for_account(gateway, account_id) == (0, 0)


async def test_duplicate_delivery_is_one_event(gateway: Gateway) -> None:
    account = await register_plivo(gateway)
    account_id = account["id"]
    url = hook_url(gateway, account_id, "ring")
    params = console_call(new_uuid(), "ringing", Event="Ring")
    first = await send(gateway, url, params)
    # Plivo retries with a fresh nonce: a new signature over the same callback.
    again = await send(gateway, url, params)
    assert (first.status, again.status) == (200, 200)
    assert first.nonce != again.nonce
    assert await rows_for_account(gateway, account_id) == (1, 1)


async def test_out_of_order_callbacks_never_move_the_call_backwards(gateway: Gateway) -> None:
    account = await register_plivo(gateway)
    account_id = account["id"]
    admin = await gateway.login("admin@demo.test")
    call_uuid = new_uuid()
    done = console_call(
        call_uuid, "completed", Duration="25", AnswerTime="2026-01-05 15:30:05", Event="Hangup"
    )
    assert (await send(gateway, hook_url(gateway, account_id, "hangup"), done)).status == 200
    ring = console_call(call_uuid, "ringing", Event="Ring")
    assert (await send(gateway, hook_url(gateway, account_id, "ring"), ring)).status == 200
    robot = console_call(call_uuid, "answered-by-robot")
    assert (await send(gateway, hook_url(gateway, account_id, "answer"), robot)).status == 200

    async with gateway.app[sessionmaker_key]() as session:
        (call_id,) = (
            await session.exec(select(Call.id).where(Call.account_id == account_id))
        ).all()
    status, detail = await gateway.request("GET", f"/api/calls/{call_id}", admin)
    assert status == 200
    assert detail["status"] == "completed" and detail["outcome"] == "completed"
    assert detail["duration_s"] == 25
    assert [(e["carrier_status"], e["disposition"]) for e in detail["events"]] == [
        ("completed", "applied"),
        ("ringing", "stale"),
        ("answered-by-robot", "unknown-status"),
    ]
