"""End to end through Twilio: registration, click-to-call via a REST stand-in, signed callbacks."""

import asyncio
import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.conftest import Gateway, GatewayFactory, LiveCall
from tests.integration.carrier_flows import (
    call_ids_for_account,
    click_to_call,
    deactivate_sandbox,
    post_carrier_account,
    register_account,
    rows_for_account,
    settled,
)
from tests.standins.twilio_api import (
    CallbackResult,
    TwilioStandin,
    new_sid,
    post_signed,
    sign,
    status_params,
)

ACCOUNT_SID = "AC" + "5f1c2e9a0b7d4c3e8a6f1b2c3d4e5f60"
AUTH_TOKEN = "f3b1c0de9a8b7c6d5e4f3a2b1c0d9e8f"
TWILIO_NUMBER = "+1 415 555 0100"
TWILIO_E164 = "+14155550100"
AGENT1_PHONE = "+919000012345"
PRIYA_E164 = "+919876543210"


# --- helpers -------------------------------------------------------------------------------


@pytest.fixture
async def standin() -> AsyncIterator[TwilioStandin]:
    api = await TwilioStandin({ACCOUNT_SID: AUTH_TOKEN}).start()
    yield api
    await api.close()


async def register_twilio(gw: Gateway, api_base_url: str | None = None) -> dict[str, Any]:
    credentials = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
    if api_base_url is not None:
        credentials["api_base_url"] = api_base_url
    return await register_account(gw, "twilio", credentials, [TWILIO_NUMBER])


def hook_url(gw: Gateway, account_id: int, kind: str = "status", query: str = "") -> str:
    return f"{gw.settings.public_base_url}/webhooks/twilio/{account_id}/{kind}{query}"


def console_call(
    call_sid: str,
    status: str,
    sequence: int,
    *,
    to: str,
    from_: str = TWILIO_E164,
    direction: str = "outbound-api",
    at: datetime | None = None,
    duration: int | None = None,
) -> dict[str, str]:
    """A status callback for a call placed outside Dialgate (e.g. from the Twilio console)."""
    return status_params(
        account_sid=ACCOUNT_SID,
        call_sid=call_sid,
        status=status,
        sequence=sequence,
        from_number=from_,
        to_number=to,
        direction=direction,
        at=at or datetime.now(UTC),
        call_duration=duration,
    )


async def send(gw: Gateway, url: str, params: dict[str, str], **kwargs: Any) -> CallbackResult:
    """POST a callback signed as Twilio signs it; returns once its effects can be read."""
    result = await post_signed(gw.http, url, params, AUTH_TOKEN, **kwargs)
    await settled(gw)
    return result


async def send_for_json(gw: Gateway, url: str, params: dict[str, str]) -> tuple[int, Any]:
    result = await send(gw, url, params)
    return result.status, json.loads(result.body)


async def create_lead(gw: Gateway, token: str, name: str, phone: str) -> dict[str, Any]:
    status, lead = await gw.request(
        "POST", "/api/leads", token, json={"name": name, "phone": phone}
    )
    assert status == 201, lead
    return dict(lead)


@dataclass
class Dialed:
    live: LiveCall  # agent1's Socket.IO client
    token: str  # agent1's bearer token
    call_id: int
    account_id: int
    parent_sid: str  # the Call SID Twilio (the stand-in) gave the agent leg


async def dial_priya(gw: Gateway, standin: TwilioStandin) -> Dialed:
    """Agent1 clicks to call Priya through Twilio; returns once Twilio got the create request."""
    account = await register_twilio(gw, standin.url)
    await deactivate_sandbox(gw)
    live, token, call = await click_to_call(gw)
    assert call["carrier"] == "twilio"
    assert call["carrier_account_id"] == account["id"]
    assert call["status"] == "queued"
    (created,) = await standin.wait_for_calls(1)
    return Dialed(live, token, int(call["id"]), int(account["id"]), created.sid)


# --- a. registration -------------------------------------------------------------------------


async def test_admin_registers_twilio_account_with_redacted_credentials(
    gateway: Gateway, standin: TwilioStandin
) -> None:
    admin = await gateway.login("admin@demo.test")
    status, body = await gateway.request(
        "POST",
        "/api/carrier-accounts",
        admin,
        json={
            "carrier": "twilio",
            "credentials": {
                "account_sid": ACCOUNT_SID,
                "auth_token": AUTH_TOKEN,
                "api_base_url": standin.url,
            },
            "numbers": [TWILIO_NUMBER],
        },
    )
    assert status == 201, body
    account_id = body["id"]
    assert isinstance(account_id, int)
    assert body["carrier"] == "twilio"
    assert body["numbers"] == [TWILIO_E164]
    assert body["credentials"]["account_sid"] == ACCOUNT_SID
    assert body["credentials"]["auth_token"] != AUTH_TOKEN
    assert AUTH_TOKEN not in repr(body)
    base = f"{gateway.url}/webhooks/twilio/{account_id}"
    assert body["webhook_urls"]["status"] == f"{base}/status"
    assert body["webhook_urls"]["voice"] == f"{base}/voice"

    status, fetched = await gateway.request("GET", f"/api/carrier-accounts/{account_id}", admin)
    assert status == 200
    assert AUTH_TOKEN not in repr(fetched)


@pytest.mark.parametrize("email", ["agent1@demo.test", "manager@demo.test"])
async def test_only_admins_register_carrier_accounts(gateway: Gateway, email: str) -> None:
    token = await gateway.login(email)
    status, body = await post_carrier_account(
        gateway,
        token,
        "twilio",
        {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN},
        [TWILIO_NUMBER],
    )
    assert status == 403, body
    assert body["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    ("credentials", "numbers", "field"),
    [
        (
            {"account_sid": "AC123", "auth_token": AUTH_TOKEN},
            [TWILIO_NUMBER],
            "credentials.account_sid",
        ),
        (
            {"account_sid": "XY" + ACCOUNT_SID[2:], "auth_token": AUTH_TOKEN},
            [TWILIO_NUMBER],
            "credentials.account_sid",
        ),
        ({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}, ["12345"], "numbers.0"),
        (
            {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN},
            [TWILIO_NUMBER, "not a number"],
            "numbers.1",
        ),
    ],
)
async def test_invalid_twilio_registration_names_the_field(
    gateway: Gateway, credentials: dict[str, str], numbers: list[str], field: str
) -> None:
    admin = await gateway.login("admin@demo.test")
    status, body = await post_carrier_account(gateway, admin, "twilio", credentials, numbers)
    assert status == 400, body
    assert body["error"]["field"] == field


# --- b. click-to-call through the REST stand-in -----------------------------------------------


async def test_click_to_call_originates_through_twilio_and_streams_the_call(
    gateway: Gateway, standin: TwilioStandin
) -> None:
    dialed = await dial_priya(gateway, standin)
    live, call_id, parent_sid = dialed.live, dialed.call_id, dialed.parent_sid

    (create,) = standin.creates()
    assert create.status == 201
    assert create.auth == (ACCOUNT_SID, AUTH_TOKEN)
    assert create.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
    form = create.form
    assert form.getall("To") == [AGENT1_PHONE]
    assert form.getall("From") == [TWILIO_E164]
    callback = f"{gateway.url}/webhooks/twilio/{dialed.account_id}/status?call_id={call_id}"
    assert form.getall("StatusCallback") == [callback]
    assert form.getall("StatusCallbackEvent") == ["initiated", "ringing", "answered", "completed"]
    assert form.getall("StatusCallbackMethod") == ["POST"]
    twiml = form["Twiml"]
    assert "<Dial" in twiml and "<Number" in twiml
    dial = ET.fromstring(twiml).find("Dial")  # noqa: S314  (the gateway's own TwiML)
    assert dial is not None and dial.get("callerId") == TWILIO_E164
    number = dial.find("Number")
    assert number is not None
    assert number.text == PRIYA_E164
    assert number.get("statusCallback") == callback
    assert (number.get("statusCallbackEvent") or "").split() == [
        "initiated",
        "ringing",
        "answered",
        "completed",
    ]

    played = await standin.play(
        parent_sid, customer_outcome="completed", talk_seconds=42, between=lambda: settled(gateway)
    )
    assert [r.status for r in played] == [204] * len(played)
    assert [(r.leg, r.params["CallStatus"]) for r in played] == [
        ("parent", "initiated"),
        ("parent", "ringing"),
        ("parent", "in-progress"),
        ("child", "initiated"),
        ("child", "ringing"),
        ("child", "in-progress"),
        ("child", "completed"),
        ("parent", "completed"),
    ]
    child_sid = played[3].params["CallSid"]
    for result in played:
        is_child = result.leg == "child"
        assert result.params["CallSid"] == (child_sid if is_child else parent_sid)
        assert result.params.get("ParentCallSid") == (parent_sid if is_child else None)
        assert result.params["Direction"] == ("outbound-dial" if is_child else "outbound-api")
    assert [r.params["SequenceNumber"] for r in played if r.leg == "child"] == ["0", "1", "2", "3"]

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
    assert detail["carrier"] == "twilio"
    assert detail["carrier_call_id"] == parent_sid
    assert detail["status"] == "completed" and detail["outcome"] == "completed"
    legs = {leg["role"]: leg for leg in detail["legs"]}
    assert set(legs) == {"agent", "customer"}
    assert legs["agent"]["carrier_leg_id"] == parent_sid
    assert legs["agent"]["number"] == AGENT1_PHONE
    assert legs["customer"]["carrier_leg_id"] == child_sid
    assert legs["customer"]["number"] == PRIYA_E164
    assert legs["customer"]["outcome"] == "completed"
    assert legs["customer"]["duration_s"] == 42
    timeline = [
        (e["kind"], e["leg"], e["carrier_status"], e["disposition"]) for e in detail["events"]
    ]
    assert timeline[0] == ("local", None, "queued", "applied")
    assert timeline[1:] == [
        ("status", "agent", "initiated", "applied"),
        ("status", "agent", "ringing", "applied"),
        ("status", "agent", "in-progress", "applied"),
        ("status", "customer", "initiated", "applied"),
        ("status", "customer", "ringing", "applied"),
        ("status", "customer", "in-progress", "applied"),
        ("status", "customer", "completed", "applied"),
        ("status", "agent", "completed", "applied"),
    ]


async def test_customer_busy_gives_outcome_busy(gateway: Gateway, standin: TwilioStandin) -> None:
    dialed = await dial_priya(gateway, standin)
    live, call_id, token = dialed.live, dialed.call_id, dialed.token
    played = await standin.play(
        dialed.parent_sid, customer_outcome="busy", between=lambda: settled(gateway)
    )
    assert all(r.status == 204 for r in played)
    assert ("child", "busy") in [(r.leg, r.params["CallStatus"]) for r in played]

    final = await live.until_ended(call_id)
    assert final["outcome"] == "busy"
    assert final["duration_s"] == 0
    assert [u["status"] for u in live.for_call(call_id)] == [
        "queued",
        "initiated",
        "ringing",
        "completed",
    ]
    status, detail = await gateway.request("GET", f"/api/calls/{call_id}", token)
    assert status == 200
    legs = {leg["role"]: leg for leg in detail["legs"]}
    assert legs["customer"]["outcome"] == "busy"
    # The agent's leg was answered and then hung up; that does not change the lead's outcome.
    assert legs["agent"]["outcome"] == "completed"
    assert detail["outcome"] == "busy"


async def test_agent_not_answering_cancels_the_call_not_a_lead_no_answer(
    gateway: Gateway, standin: TwilioStandin
) -> None:
    dialed = await dial_priya(gateway, standin)
    live, call_id, token = dialed.live, dialed.call_id, dialed.token
    played = await standin.play(
        dialed.parent_sid, agent_outcome="no-answer", between=lambda: settled(gateway)
    )
    assert [(r.leg, r.params["CallStatus"]) for r in played] == [
        ("parent", "initiated"),
        ("parent", "ringing"),
        ("parent", "no-answer"),
    ]
    assert all(r.status == 204 for r in played)

    final = await live.until_ended(call_id)
    assert final["outcome"] == "canceled"
    assert final["end_reason"] == "agent_no-answer"
    assert [u["status"] for u in live.for_call(call_id)] == ["queued", "initiated", "completed"]
    status, detail = await gateway.request("GET", f"/api/calls/{call_id}", token)
    assert status == 200
    assert [leg["role"] for leg in detail["legs"]] == ["agent"]
    assert detail["legs"][0]["outcome"] == "no-answer"


async def test_twilio_refusing_the_call_fails_it(gateway: Gateway, standin: TwilioStandin) -> None:
    """A wrong auth token: the stand-in answers 401/20003 as Twilio does; the call fails."""
    standin.accounts[ACCOUNT_SID] = "another-token-0000"
    await register_twilio(gateway, standin.url)
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
    (create,) = standin.creates()
    assert create.status == 401
    assert standin.calls == {}
    _, detail = await gateway.request("GET", f"/api/calls/{call['id']}", token)
    assert [e["carrier_status"] for e in detail["events"]] == ["queued", "carrier_error"]


async def test_standin_answers_like_twilio_to_the_sdk(standin: TwilioStandin) -> None:
    """The stand-in's errors and Call resource are what twilio's own SDK understands."""
    http = AsyncTwilioHttpClient(timeout=5)
    try:
        good = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http)
        good.api.base_url = standin.url
        call = await good.calls.create_async(
            to=AGENT1_PHONE,
            from_=TWILIO_E164,
            twiml="<Response><Say>hi</Say></Response>",
            status_callback_event=["initiated", "completed"],
        )
        assert call.sid.startswith("CA") and len(call.sid) == 34
        assert (call.status, call.direction) == ("queued", "outbound-api")
        # The SDK keeps `from` as `_from` (a Python keyword).
        assert (call.to, call._from, call.account_sid) == (AGENT1_PHONE, TWILIO_E164, ACCOUNT_SID)
        assert call.start_time is None
        assert call.uri == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{call.sid}.json"
        assert standin.creates()[-1].form.getall("StatusCallbackEvent") == [
            "initiated",
            "completed",
        ]

        bad = Client(ACCOUNT_SID, "wrong-token", http_client=http)
        bad.api.base_url = standin.url
        for client, kwargs, status, code in [
            (
                bad,
                {"to": AGENT1_PHONE, "from_": TWILIO_E164, "url": "https://x.example/t"},
                401,
                20003,
            ),
            (good, {"to": "", "from_": TWILIO_E164, "url": "https://x.example/t"}, 400, 21201),
            (good, {"to": AGENT1_PHONE, "from_": "", "url": "https://x.example/t"}, 400, 21213),
            (good, {"to": AGENT1_PHONE, "from_": TWILIO_E164}, 400, 21205),
        ]:
            with pytest.raises(TwilioRestException) as exc:
                await client.calls.create_async(**kwargs)
            assert (exc.value.status, exc.value.code) == (status, code)
    finally:
        await http.close()
    assert len(standin.calls) == 1
    assert [r.status for r in standin.creates()] == [201, 401, 400, 400, 400]


# --- c. a call Dialgate did not start --------------------------------------------------------


async def test_console_call_attaches_to_lead_and_reaches_owner_and_manager_only(
    gateway: Gateway,
) -> None:
    account = await register_twilio(gateway)
    account_id = account["id"]
    agent1 = await gateway.login("agent1@demo.test")
    agent2 = await gateway.login("agent2@demo.test")
    manager = await gateway.login("manager@demo.test")
    lead = await create_lead(gateway, agent1, "Console Lead", "098450 12399")
    assert lead["phone"] == "+919845012399"
    # A lead of agent2's, called afterwards: its update is agent2's barrier (see below).
    other = await create_lead(gateway, agent2, "Agent Two Lead", "098450 12398")
    owner_live = await gateway.connect(agent1)
    manager_live = await gateway.connect(manager)
    agent2_live = await gateway.connect(agent2)

    sid = new_sid("CA")
    first = console_call(sid, "initiated", 0, to="+919845012399")
    result = await send(gateway, hook_url(gateway, account_id), first)
    assert result.status == 204, result.body

    owner_update = await owner_live.wait_for(lambda u: u["lead_id"] == lead["id"])
    call_id = owner_update["call_id"]
    assert owner_update["status"] == "initiated"
    assert owner_update["direction"] == "outbound"
    assert owner_update["agent_id"] == lead["owner_id"]
    await manager_live.wait_for(lambda u: u["call_id"] == call_id)

    status, detail = await gateway.request("GET", f"/api/calls/{call_id}", agent1)
    assert status == 200
    assert detail["lead_id"] == lead["id"]
    assert detail["lead_match"] == "matched"
    assert detail["carrier_call_id"] == sid
    assert detail["agent_id"] == owner_update["agent_id"]
    assert detail["to_number"] == "+919845012399"

    # The very same delivery again (Twilio retries): no second call, event or push.
    retry = await send(gateway, hook_url(gateway, account_id), first)
    assert retry.status == 204
    assert await rows_for_account(gateway, account_id) == (1, 1)

    # Barriers: Socket.IO delivers one client's events in order, so once a later update
    # arrives, an earlier one addressed to the same client would have arrived before it.
    later = console_call(sid, "ringing", 1, to="+919845012399")
    assert (await send(gateway, hook_url(gateway, account_id), later)).status == 204
    for live in (owner_live, manager_live):
        await live.wait_for(lambda u: u["call_id"] == call_id and u["status"] == "ringing")
        assert [u["status"] for u in live.for_call(call_id)] == ["initiated", "ringing"]

    other_sid = new_sid("CA")
    other_call = console_call(other_sid, "initiated", 0, to="+919845012398")
    assert (await send(gateway, hook_url(gateway, account_id), other_call)).status == 204
    await agent2_live.wait_for(lambda u: u["lead_id"] == other["id"])
    assert agent2_live.for_call(call_id) == []
    status, _ = await gateway.request("GET", f"/api/calls/{call_id}", agent2)
    assert status == 404

    assert await rows_for_account(gateway, account_id) == (2, 3)
    _, detail = await gateway.request("GET", f"/api/calls/{call_id}", agent1)
    assert [e["carrier_status"] for e in detail["events"]] == ["initiated", "ringing"]


# --- d. inbound calls ------------------------------------------------------------------------


async def test_inbound_call_from_unknown_number_creates_one_lead(gateway: Gateway) -> None:
    account = await register_twilio(gateway)
    account_id = account["id"]
    admin = await gateway.login("admin@demo.test")
    manager_live = await gateway.connect(await gateway.login("manager@demo.test"))
    caller = "+447911123400"

    def ringing(sid: str) -> dict[str, str]:
        params = console_call(sid, "ringing", 0, to=TWILIO_E164, from_=caller, direction="inbound")
        del params["SequenceNumber"], params["CallbackSource"], params["Timestamp"]
        params.update(FromCountry="GB", ToCountry="US")
        return params

    first_sid = new_sid("CA")
    reply = await send(gateway, hook_url(gateway, account_id, "voice"), ringing(first_sid))
    assert reply.status == 200, reply.body
    assert reply.content_type == "text/xml"
    twiml = ET.fromstring(reply.body)  # noqa: S314  (the gateway's reply)
    assert twiml.tag == "Response"
    # Nobody owns the new lead, so nobody is rung: a message, then hang up.
    assert [verb.tag for verb in twiml] == ["Say", "Hangup"]

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

    # Twilio may fetch the Voice URL with GET: the parameters travel in the signed query.
    second_sid = new_sid("CA")
    reply = await send(
        gateway, hook_url(gateway, account_id, "voice"), ringing(second_sid), method="GET"
    )
    assert reply.status == 200, reply.body
    assert reply.content_type == "text/xml"
    _, found = await gateway.request("GET", "/api/leads", admin, params={"q": caller})
    assert [x["id"] for x in found["data"]] == [lead["id"]]

    status, calls = await gateway.request(
        "GET", "/api/calls", admin, params={"lead_id": lead["id"]}
    )
    assert status == 200
    by_sid = {c["carrier_call_id"]: c for c in calls["data"]}
    assert set(by_sid) == {first_sid, second_sid}
    assert by_sid[first_sid]["lead_match"] == "created"
    assert by_sid[second_sid]["lead_match"] == "matched"
    assert all(c["direction"] == "inbound" and c["from_number"] == caller for c in by_sid.values())


async def test_inbound_call_from_a_known_lead_rings_its_owner(gateway: Gateway) -> None:
    account = await register_twilio(gateway)
    agent1 = await gateway.login("agent1@demo.test")
    live = await gateway.connect(agent1)
    params = console_call(
        new_sid("CA"), "ringing", 0, to=TWILIO_E164, from_=PRIYA_E164, direction="inbound"
    )
    reply = await send(gateway, hook_url(gateway, account["id"], "voice"), params)
    assert reply.status == 200, reply.body
    dial = ET.fromstring(reply.body).find("Dial")  # noqa: S314  (the gateway's reply)
    assert dial is not None
    assert dial.get("callerId") == TWILIO_E164
    assert [n.text for n in dial.findall("Number")] == [AGENT1_PHONE]
    update = await live.wait_for(lambda u: u["direction"] == "inbound")
    _, detail = await gateway.request("GET", f"/api/calls/{update['call_id']}", agent1)
    assert detail["lead_match"] == "matched"
    assert detail["from_number"] == PRIYA_E164


async def test_recording_callback_sets_the_recording_url(gateway: Gateway) -> None:
    account = await register_twilio(gateway)
    account_id = account["id"]
    admin = await gateway.login("admin@demo.test")
    sid = new_sid("CA")
    status_hook = hook_url(gateway, account_id)
    assert (
        await send(gateway, status_hook, console_call(sid, "completed", 0, to=PRIYA_E164))
    ).status == 204
    (call_id,) = await call_ids_for_account(gateway, account_id)
    recording_sid = new_sid("RE")
    recording_url = (
        f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{recording_sid}"
    )
    recording = {
        "AccountSid": ACCOUNT_SID,
        "CallSid": sid,
        "RecordingSid": recording_sid,
        "RecordingUrl": recording_url,
        "RecordingStatus": "completed",
        "RecordingDuration": "12",
        "RecordingChannels": "1",
        "RecordingSource": "OutboundAPI",
    }
    result = await send(gateway, hook_url(gateway, account_id, "recording"), recording)
    assert result.status == 204, result.body
    _, detail = await gateway.request("GET", f"/api/calls/{call_id}", admin)
    assert detail["recording_url"] == recording_url
    assert detail["outcome"] == "completed"
    assert [(e["kind"], e["disposition"]) for e in detail["events"]] == [
        ("status", "applied"),
        ("recording", "recording"),
    ]


# --- e. security and error answers -----------------------------------------------------------


async def test_bad_or_missing_signature_is_refused_and_changes_nothing(gateway: Gateway) -> None:
    account = await register_twilio(gateway)
    account_id = account["id"]
    url = hook_url(gateway, account_id)
    params = console_call(new_sid("CA"), "initiated", 0, to=PRIYA_E164)

    forged = sign("not-the-auth-token", url, params)
    tampered = dict(params, To="+919000023456")
    cases = [
        await send(gateway, url, params, signature=forged),
        await send(gateway, url, params, signature=""),
        await send(gateway, url, params, signature="é" * 28),
        await send(gateway, url, params, signed_url=url + "?call_id=1"),
        await post_signed(
            gateway.http, url, tampered, AUTH_TOKEN, signature=sign(AUTH_TOKEN, url, params)
        ),
    ]
    for result in cases:
        assert result.status == 403, (result.signature, result.body)
        assert result.content_type == "application/json"
    body = json.loads(cases[0].body)
    assert body["error"]["code"] == "invalid_signature"
    assert await rows_for_account(gateway, account_id) == (0, 0)

    ok = await send(gateway, url, params)
    assert ok.status == 204
    assert await rows_for_account(gateway, account_id) == (1, 1)


async def test_signed_but_malformed_callback_is_400_naming_the_field(gateway: Gateway) -> None:
    account = await register_twilio(gateway)
    url = hook_url(gateway, account["id"])
    params = console_call(new_sid("CA"), "initiated", 0, to=PRIYA_E164)
    del params["CallStatus"]
    status, body = await send_for_json(gateway, url, params)
    assert status == 400
    assert body["error"]["field"] == "CallStatus"

    params = console_call(new_sid("CA"), "initiated", 0, to=PRIYA_E164)
    params["SequenceNumber"] = "three"
    status, body = await send_for_json(gateway, url, params)
    assert status == 400
    assert body["error"]["field"] == "SequenceNumber"
    assert await rows_for_account(gateway, account["id"]) == (0, 0)


async def test_unknown_account_or_wrong_carrier_is_404(gateway: Gateway) -> None:
    account = await register_twilio(gateway)
    params = console_call(new_sid("CA"), "initiated", 0, to=PRIYA_E164)
    base = gateway.settings.public_base_url
    for url, field in [
        (f"{base}/webhooks/twilio/9999/status", "account_id"),
        # The demo's sandbox account, addressed as Twilio.
        (f"{base}/webhooks/twilio/1/status", "account_id"),
        (f"{base}/webhooks/sandbox/{account['id']}/status", "account_id"),
        (f"{base}/webhooks/nosuchcarrier/{account['id']}/status", "carrier"),
        (f"{base}/webhooks/twilio/{account['id']}/nosuchkind", "kind"),
    ]:
        status, body = await send_for_json(gateway, url, params)
        assert status == 404, (url, body)
        assert body["error"]["field"] == field
    assert await rows_for_account(gateway, account["id"]) == (0, 0)


async def test_out_of_order_and_conflicting_terminal_callbacks(gateway: Gateway) -> None:
    account = await register_twilio(gateway)
    account_id = account["id"]
    admin = await gateway.login("admin@demo.test")
    url = hook_url(gateway, account_id)
    sid = new_sid("CA")
    start = datetime.now(UTC).replace(microsecond=0)

    def event(status: str, sequence: int, seconds: int, **kw: Any) -> dict[str, str]:
        return console_call(
            sid, status, sequence, to=PRIYA_E164, at=start + timedelta(seconds=seconds), **kw
        )

    # Twilio's callbacks are separate requests: `completed` (3) may arrive before `ringing` (1).
    assert (await send(gateway, url, event("completed", 3, 30, duration=25))).status == 204
    assert (await send(gateway, url, event("ringing", 1, 2))).status == 204
    assert (await send(gateway, url, event("failed", 4, 31))).status == 204
    assert (await send(gateway, url, event("answered-by-robot", 5, 32))).status == 204

    (call_id,) = await call_ids_for_account(gateway, account_id)
    status, detail = await gateway.request("GET", f"/api/calls/{call_id}", admin)
    assert status == 200
    assert detail["status"] == "completed"
    assert detail["outcome"] == "completed"
    assert detail["duration_s"] == 25
    assert [(e["carrier_status"], e["disposition"]) for e in detail["events"]] == [
        ("completed", "applied"),
        ("ringing", "stale"),
        ("failed", "conflicting-terminal"),
        ("answered-by-robot", "unknown-status"),
    ]
    assert detail["events"][3]["status"] is None


# --- f. which URL the signature covers --------------------------------------------------------


FORWARDED_FROM_EVIL = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}


async def test_signature_covers_public_base_url_path_and_query(gateway: Gateway) -> None:
    account = await register_twilio(gateway)
    account_id = account["id"]
    url = hook_url(gateway, account_id, query="?src=console&n=1")
    assert url.startswith(f"http://127.0.0.1:{urlsplit(gateway.url).port}/")
    without_port = url.replace(f":{urlsplit(url).port}", "", 1)
    validator = RequestValidator(AUTH_TOKEN)

    def params() -> dict[str, str]:
        return console_call(new_sid("CA"), "initiated", 0, to=PRIYA_E164)

    accepted: dict[str, dict[str, Any]] = {
        "the exact public URL": {},
        # twilio's RequestValidator also accepts the URL with its port removed.
        "the URL without its port": {"signed_url": without_port},
        # Neither Host nor X-Forwarded-* from an untrusted client picks the URL:
        # PUBLIC_BASE_URL is what Twilio was given.
        "a spoofed Host header": {"headers": {"Host": "evil.example"}},
        "spoofed forwarded headers": {"headers": FORWARDED_FROM_EVIL},
    }
    for reason, kwargs in accepted.items():
        p = params()
        sig = sign(AUTH_TOKEN, kwargs.get("signed_url", url), p)
        assert validator.validate(url, p, sig), reason
        result = await send(gateway, url, p, **kwargs)
        assert result.status == 204, (reason, result.body)

    refused = {
        "no query": url.split("?")[0],
        "another query": url.replace("n=1", "n=2"),
        "another path": url.replace("/status", "/voice"),
        "another host": url.replace("127.0.0.1", "localhost"),
        "https": url.replace("http://", "https://"),
        "the Host header's URL": f"http://evil.example{urlsplit(url).path}?{urlsplit(url).query}",
        "the forwarded URL": f"https://evil.example{urlsplit(url).path}?{urlsplit(url).query}",
    }
    for reason, signed_url in refused.items():
        p = params()
        assert not validator.validate(url, p, sign(AUTH_TOKEN, signed_url, p)), reason
        for headers in ({"Host": "evil.example"}, FORWARDED_FROM_EVIL):
            result = await send(gateway, url, p, signed_url=signed_url, headers=headers)
            assert result.status == 403, (reason, headers)
    assert await rows_for_account(gateway, account_id) == (len(accepted), len(accepted))


async def test_signature_uses_public_base_url_not_the_socket_address(
    start_gateway: GatewayFactory,
) -> None:
    """Behind a proxy: PUBLIC_BASE_URL is https without a port while we listen on 127.0.0.1."""
    gw = await start_gateway(PUBLIC_BASE_URL="https://dialgate.example.com")
    account = await register_twilio(gw)
    account_id = account["id"]
    path = f"/webhooks/twilio/{account_id}/status"
    direct = f"{gw.url}{path}"
    public = f"https://dialgate.example.com{path}"
    validator = RequestValidator(AUTH_TOKEN)

    for signed_url, expected in [
        (public, 204),
        # twilio's RequestValidator adds the default port: Twilio may sign either form.
        (f"https://dialgate.example.com:443{path}", 204),
        (f"https://dialgate.example.com:8443{path}", 403),
        (f"http://dialgate.example.com{path}", 403),
        (direct, 403),
    ]:
        p = console_call(new_sid("CA"), "initiated", 0, to=PRIYA_E164)
        sdk_ok = validator.validate(public, p, sign(AUTH_TOKEN, signed_url, p))
        assert sdk_ok == (expected == 204), signed_url
        result = await send(gw, direct, p, signed_url=signed_url)
        assert result.status == expected, (signed_url, result.body)
    assert await rows_for_account(gw, account_id) == (2, 2)


async def test_concurrent_callbacks_for_one_call_make_one_call(gateway: Gateway) -> None:
    """Twilio's callbacks are separate requests that may overlap, and retries duplicate them."""
    account = await register_twilio(gateway)
    account_id = account["id"]
    admin = await gateway.login("admin@demo.test")
    url = hook_url(gateway, account_id)
    sid = new_sid("CA")
    start = datetime.now(UTC).replace(microsecond=0)
    events = [
        console_call(sid, status, seq, to=PRIYA_E164, at=start + timedelta(seconds=seq), duration=7)
        for seq, status in enumerate(["initiated", "ringing", "in-progress", "completed"])
    ]
    results = await asyncio.gather(
        *(post_signed(gateway.http, url, p, AUTH_TOKEN) for p in events + events)
    )
    await settled(gateway)
    assert [r.status for r in results] == [204] * 8, [r.body for r in results]
    assert await rows_for_account(gateway, account_id) == (1, 4)
    (call_id,) = await call_ids_for_account(gateway, account_id)
    _, detail = await gateway.request("GET", f"/api/calls/{call_id}", admin)
    assert detail["status"] == "completed" and detail["outcome"] == "completed"
    assert sorted(e["carrier_status"] for e in detail["events"]) == sorted(
        ["initiated", "ringing", "in-progress", "completed"]
    )


async def test_hangup_asks_twilio_to_complete_the_parent_call(
    gateway: Gateway, standin: TwilioStandin
) -> None:
    dialed = await dial_priya(gateway, standin)
    # The gateway stores the SID from Twilio's answer to the create request.
    for _ in range(100):
        _, call = await gateway.request("GET", f"/api/calls/{dialed.call_id}", dialed.token)
        if call["carrier_call_id"]:
            break
        await asyncio.sleep(0.05)
    ack = await dialed.live.client.call("hangup", {"call_id": dialed.call_id}, namespace="/dialer")
    assert ack == {"ok": True, "call_id": dialed.call_id}
    (update,) = [r for r in standin.requests if r.path.endswith(f"/Calls/{dialed.parent_sid}.json")]
    assert update.method == "POST" and update.status == 200
    assert update.form.getall("Status") == ["completed"]
    assert update.auth == (ACCOUNT_SID, AUTH_TOKEN)
    # Twilio refuses to end it twice; the agent is told the call has ended.
    ack = await dialed.live.client.call("hangup", {"call_id": dialed.call_id}, namespace="/dialer")
    assert ack["ok"] is False and ack["code"] == "call_ended"
