"""End to end through Exotel: registration, click-to-call via a REST stand-in, tokened callbacks."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlmodel import select

from gateway.carriers.exotel import signature
from gateway.carriers.exotel.adapter import ExotelCarrier
from gateway.carriers.exotel.const import CALLBACK_TOKEN_TTL_S
from gateway.keys import runtime_key, sessionmaker_key
from gateway.models import (
    CarrierAccount,
    InboxStatus,
    LegRole,
    WebhookInbox,
)
from tests.conftest import Gateway, LiveCall
from tests.integration.carrier_flows import (
    assert_only_forward,
    click_to_call,
    deactivate_sandbox,
    post_carrier_account,
    register_account,
    rows_for_account,
    statuses,
)
from tests.standins.exotel_api import (
    CallbackResult,
    ExotelStandin,
    deliver,
    fetch,
    flow_params,
    new_sid,
)

ACCOUNT_SID = "dialgate1"
API_KEY = "3f1a0c9e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39"
API_TOKEN = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d"
EXOTEL_NUMBER = "080 4718 1111"
EXOTEL_E164 = "+918047181111"
AGENT1_PHONE = "+919000012345"
PRIYA_E164 = "+919876543210"


# --- helpers -------------------------------------------------------------------------------


@pytest.fixture
async def standin() -> AsyncIterator[ExotelStandin]:
    api = await ExotelStandin({ACCOUNT_SID: (API_KEY, API_TOKEN)}).start()
    yield api
    await api.close()


def credentials(api_base_url: str | None = None, **extra: Any) -> dict[str, Any]:
    given: dict[str, Any] = {"account_sid": ACCOUNT_SID, "api_key": API_KEY, "api_token": API_TOKEN}
    if api_base_url is not None:
        given["api_base_url"] = api_base_url
    return given | extra


async def register_exotel(
    gw: Gateway, api_base_url: str | None = None, numbers: list[str] | None = None
) -> dict[str, Any]:
    return await register_account(
        gw,
        "exotel",
        credentials(api_base_url),
        [EXOTEL_NUMBER] if numbers is None else numbers,
    )


async def stored_credentials(gw: Gateway, account_id: int) -> dict[str, Any]:
    async with gw.app[sessionmaker_key]() as session:
        account = await session.get(CarrierAccount, account_id)
        assert account is not None
        return dict(account.credentials)


def webhook_base(gw: Gateway, account_id: int) -> str:
    return f"{gw.settings.public_base_url}/webhooks/exotel/{account_id}"


@dataclass
class Dialed:
    live: LiveCall
    token: str
    call_id: int
    account_id: int
    sid: str  # the CallSid Exotel (the stand-in) gave the call


async def dial_priya(gw: Gateway, standin: ExotelStandin) -> Dialed:
    """Agent1 clicks to call Priya through Exotel; returns once the call has its CallSid."""
    account = await register_exotel(gw, standin.url)
    await deactivate_sandbox(gw)
    live, token, call = await click_to_call(gw)
    assert call["carrier"] == "exotel"
    assert call["carrier_account_id"] == account["id"]
    (created,) = await standin.wait_for_calls(1)
    # The gateway stores the CallSid once Exotel's answer arrives, a moment after the request.
    for _ in range(250):
        _, detail = await gw.request("GET", f"/api/calls/{call['id']}", token)
        if detail["carrier_call_id"]:
            break
        await asyncio.sleep(0.02)
    assert detail["carrier_call_id"] == created.sid
    return Dialed(live, token, int(call["id"]), int(account["id"]), created.sid)


# --- a. registration -------------------------------------------------------------------------


async def test_admin_registers_an_exotel_account(gateway: Gateway, standin: ExotelStandin) -> None:
    account = await register_exotel(gateway, standin.url)
    assert account["carrier"] == "exotel"
    assert account["numbers"] == [EXOTEL_E164]
    assert account["credentials"]["account_sid"] == ACCOUNT_SID
    assert API_KEY not in repr(account)
    base = f"{gateway.url}/webhooks/exotel/{account['id']}"
    assert account["webhook_urls"]["status"] == f"{base}/status"
    stored = await stored_credentials(gateway, account["id"])
    # The gateway made the account's callback secret itself.
    (secret,) = stored["callback_secrets"]
    assert len(secret) == 64
    assert stored["time_zone"] == "Asia/Kolkata"


async def test_the_accounts_api_never_shows_the_api_token_or_callback_secrets(
    gateway: Gateway, standin: ExotelStandin
) -> None:
    account = await register_exotel(gateway, standin.url)
    admin = await gateway.login("admin@demo.test")
    _, fetched = await gateway.request("GET", f"/api/carrier-accounts/{account['id']}", admin)
    (secret,) = (await stored_credentials(gateway, account["id"]))["callback_secrets"]
    for body in (account, fetched):
        assert API_TOKEN not in repr(body)
        assert secret not in repr(body)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"account_sid": "bad sid"}, "credentials.account_sid"),
        ({"api_key": "key:with:colons"}, "credentials.api_key"),
        ({"api_token": ""}, "credentials.api_token"),
        ({"subdomain": "api.example.com"}, "credentials.subdomain"),
        ({"callback_secrets": ["too-short"]}, "credentials.callback_secrets"),
    ],
)
async def test_bad_exotel_credentials_are_400_naming_the_field(
    gateway: Gateway, change: dict[str, Any], field: str
) -> None:
    admin = await gateway.login("admin@demo.test")
    status, body = await post_carrier_account(gateway, admin, "exotel", credentials(**change), [])
    assert status == 400, body
    assert body["error"]["field"] == field


# --- b. click-to-call ------------------------------------------------------------------------


async def test_click_to_call_connects_two_numbers_and_streams_the_call(
    gateway: Gateway, standin: ExotelStandin
) -> None:
    before = int(time.time())
    dialed = await dial_priya(gateway, standin)
    call_id = dialed.call_id

    (connect,) = standin.connects()
    assert connect.status == 200
    assert connect.auth == (API_KEY, API_TOKEN)
    assert connect.path == f"/v1/Accounts/{ACCOUNT_SID}/Calls/connect.json"
    form = connect.form
    # Exotel dials From first: the agent; then To: the lead.
    assert form.getall("From") == [AGENT1_PHONE]
    assert form.getall("To") == [PRIYA_E164]
    assert form.getall("CallerId") == [EXOTEL_E164]
    assert form.getall("CallType") == ["trans"]
    assert form.getall("TimeLimit") == ["14400"]
    assert form.getall("TimeOut") == ["30"]
    assert form.getall("StatusCallbackEvents[0]") == ["terminal"]
    assert form.getall("StatusCallbackEvents[1]") == ["answered"]
    assert form.getall("StatusCallbackContentType") == ["application/json"]
    (callback,) = form.getall("StatusCallback")
    base = f"{gateway.url}/webhooks/exotel/{dialed.account_id}/status?call_id={call_id}&exp="
    assert callback.startswith(base)
    query = parse_qs(urlsplit(callback).query)
    expires = int(query["exp"][0])
    assert before + CALLBACK_TOKEN_TTL_S <= expires <= int(time.time()) + CALLBACK_TOKEN_TTL_S
    (secret,) = (await stored_credentials(gateway, dialed.account_id))["callback_secrets"]
    signature.verify_callback([secret], callback, now=time.time())
    assert secret not in callback

    played = await standin.play(dialed.sid, customer_outcome="completed", talk_seconds=42)
    assert [r.status for r in played] == [200, 200, 200], [r.body for r in played]
    assert [
        (r.payload["EventType"], r.payload["Legs"][0]["Status"], r.payload["Legs"][1]["Status"])
        for r in played
    ] == [
        ("answered", "in-progress", ""),
        ("answered", "in-progress", "in-progress"),
        ("terminal", "completed", "completed"),
    ]

    final = await dialed.live.until_ended(call_id)
    seen = statuses(dialed.live, call_id)
    # Exotel reports nothing before the agent answers, so no callback says `initiated`.
    assert [s for s in seen if s != "initiated"] == [
        "queued",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert_only_forward(seen)
    assert final["outcome"] == "completed"
    assert final["duration_s"] == 42
    assert final["answered_at"] is not None and final["ended_at"] is not None

    status, detail = await gateway.request("GET", f"/api/calls/{call_id}", dialed.token)
    assert status == 200
    assert detail["carrier"] == "exotel"
    assert detail["carrier_call_id"] == dialed.sid
    assert detail["status"] == "completed" and detail["outcome"] == "completed"
    legs = {leg["role"]: leg for leg in detail["legs"]}
    assert set(legs) == {"agent", "customer"}
    assert legs["agent"]["number"] == AGENT1_PHONE
    assert legs["customer"]["number"] == PRIYA_E164
    for leg in legs.values():
        assert leg["carrier_leg_id"] == dialed.sid
        assert (leg["status"], leg["outcome"]) == ("completed", "completed")
    assert legs["customer"]["duration_s"] == 42
    assert [(e["leg"], e["carrier_status"], e["disposition"]) for e in detail["events"][1:]] == [
        ("customer", "ringing", "applied"),
        ("agent", "in-progress", "applied"),
        ("customer", "in-progress", "applied"),
        ("customer", "completed", "applied"),
        ("agent", "completed", "applied"),
    ]

    # The Call details API agrees: the customer leg, completed after 42 seconds.
    adapter = ExotelCarrier()
    stored = await stored_credentials(gateway, dialed.account_id)
    fetched = await adapter.fetch_status(gateway.app[runtime_key], stored, dialed.sid)
    assert fetched is not None
    assert (fetched.leg, fetched.carrier_status, fetched.outcome, fetched.duration_s) == (
        LegRole.CUSTOMER,
        "completed",
        "completed",
        42,
    )
    assert await adapter.fetch_status(gateway.app[runtime_key], stored, new_sid()) is None


@pytest.mark.parametrize("outcome", ["busy", "no-answer", "failed"])
async def test_an_unreachable_customer_gives_that_outcome(
    gateway: Gateway, standin: ExotelStandin, outcome: str
) -> None:
    dialed = await dial_priya(gateway, standin)
    played = await standin.play(dialed.sid, customer_outcome=outcome)
    assert [r.status for r in played] == [200, 200]
    final = await dialed.live.until_ended(dialed.call_id)
    assert final["outcome"] == outcome
    assert final["duration_s"] == 0
    assert_only_forward(statuses(dialed.live, dialed.call_id))
    _, detail = await gateway.request("GET", f"/api/calls/{dialed.call_id}", dialed.token)
    legs = {leg["role"]: leg for leg in detail["legs"]}
    assert legs["customer"]["outcome"] == outcome
    assert legs["agent"]["outcome"] == "completed"


async def test_an_agent_who_does_not_answer_cancels_the_call(
    gateway: Gateway, standin: ExotelStandin
) -> None:
    dialed = await dial_priya(gateway, standin)
    (result,) = await standin.play(dialed.sid, agent_outcome="no-answer")
    assert result.status == 200
    final = await dialed.live.until_ended(dialed.call_id)
    # The lead was never rung: not the lead's no-answer.
    assert final["outcome"] == "canceled"
    assert final["end_reason"] == "agent_no-answer"


async def test_exotel_refusing_the_call_fails_it(gateway: Gateway, standin: ExotelStandin) -> None:
    standin.accounts[ACCOUNT_SID] = (API_KEY, "a-rotated-token")
    account = await register_exotel(gateway, standin.url)
    await deactivate_sandbox(gateway)
    token = await gateway.login("agent1@demo.test")
    live = await gateway.connect(token)
    status, call = await gateway.request("POST", "/api/calls", token, json={"number": PRIYA_E164})
    assert status == 202, call
    final = await live.until_ended(call["id"])
    assert (final["outcome"], final["end_reason"]) == ("failed", "carrier_error")
    (refused,) = standin.connects()
    assert refused.status == 401
    assert await rows_for_account(gateway, account["id"]) == (1, 0)


async def test_hanging_up_is_not_supported_and_the_call_goes_on(
    gateway: Gateway, standin: ExotelStandin
) -> None:
    """Exotel's Calls API has no request that ends a call in progress: 409, nothing sent."""
    dialed = await dial_priya(gateway, standin)
    ack = await dialed.live.client.call("hangup", {"call_id": dialed.call_id}, namespace="/dialer")
    assert ack["ok"] is False and ack["code"] == "hangup_not_supported"
    assert standin.requests == standin.connects()
    await standin.play(dialed.sid)
    final = await dialed.live.until_ended(dialed.call_id)
    assert final["outcome"] == "completed"


# --- c. delivery semantics -------------------------------------------------------------------


async def test_a_duplicate_delivery_is_one_event(gateway: Gateway, standin: ExotelStandin) -> None:
    dialed = await dial_priya(gateway, standin)
    await standin.play(dialed.sid)
    await dialed.live.until_ended(dialed.call_id)
    await gateway.settled()
    before = await rows_for_account(gateway, dialed.account_id)
    terminal = standin.callbacks[-1].payload
    # Exotel retries up to twice: the same request again.
    again = [await standin.send(dialed.sid, terminal) for _ in range(2)]
    assert [r.status for r in again] == [200, 200]
    await gateway.settled()
    assert await rows_for_account(gateway, dialed.account_id) == before == (1, 5)


async def test_out_of_order_delivery_never_moves_the_call_back(
    gateway: Gateway, standin: ExotelStandin
) -> None:
    dialed = await dial_priya(gateway, standin)
    answered_agent, answered_customer, terminal = standin.script(dialed.sid, talk_seconds=20)
    for payload in (terminal, answered_customer, answered_agent):
        assert (await standin.send(dialed.sid, payload)).status == 200
    final = await dialed.live.until_ended(dialed.call_id)
    assert (final["outcome"], final["duration_s"]) == ("completed", 20)
    await gateway.settled()
    _, detail = await gateway.request("GET", f"/api/calls/{dialed.call_id}", dialed.token)
    assert detail["status"] == "completed"
    assert [(e["carrier_status"], e["disposition"]) for e in detail["events"][1:]] == [
        ("completed", "applied"),
        ("completed", "applied"),
        ("in-progress", "stale"),
        ("in-progress", "stale"),
        ("ringing", "stale"),
    ]
    await asyncio.sleep(0.1)
    assert statuses(dialed.live, dialed.call_id) == ["queued", "completed"]


# --- d. inbound calls ---------------------------------------------------------------------------


async def inbound_urls(gw: Gateway, account_id: int) -> dict[str, str]:
    stored = await stored_credentials(gw, account_id)
    return ExotelCarrier().inbound_urls(stored, webhook_base(gw, account_id))


async def test_inbound_call_from_an_unknown_number_creates_a_lead(
    gateway: Gateway, standin: ExotelStandin
) -> None:
    account = await register_exotel(gateway, standin.url)
    urls = await inbound_urls(gateway, account["id"])
    admin = await gateway.login("admin@demo.test")
    manager_live = await gateway.connect(await gateway.login("manager@demo.test"))
    caller = "09812300001"  # Exotel passes Indian numbers with a leading 0

    sent = await standin.inbound(
        caller=caller,
        exophone="08047181111",
        passthru_url=urls["passthru"],
        connect_url=urls["connect"],
        hangup_url=urls["hangup"],
    )
    # Nobody owns the new lead: the Passthru answers 302 (the flow's greeting branch), so no
    # Connect applet runs, and the closing Passthru says only an IVR was heard.
    assert [(r.kind, r.status) for r in sent] == [("passthru", 302), ("hangup", 200)]

    status, found = await gateway.request("GET", "/api/leads", admin, params={"q": "+919812300001"})
    assert status == 200 and len(found["data"]) == 1, found
    lead = found["data"][0]
    assert (lead["phone"], lead["source"]) == ("+919812300001", "inbound-call")
    update = await manager_live.until_ended(
        (await manager_live.wait_for(lambda u: u["lead_id"] == lead["id"]))["call_id"]
    )
    assert (update["direction"], update["outcome"]) == ("inbound", "no-answer")
    _, calls = await gateway.request("GET", "/api/calls", admin, params={"lead_id": lead["id"]})
    (call,) = calls["data"]
    assert call["lead_match"] == "created"
    assert call["carrier_call_id"] == sent[0].payload["CallSid"]
    assert (call["from_number"], call["to_number"]) == ("+919812300001", EXOTEL_E164)


async def test_inbound_call_from_a_lead_rings_its_owner(
    gateway: Gateway, standin: ExotelStandin
) -> None:
    account = await register_exotel(gateway, standin.url)
    urls = await inbound_urls(gateway, account["id"])
    agent1 = await gateway.login("agent1@demo.test")
    live = await gateway.connect(agent1)

    sent = await standin.inbound(
        caller="09876543210",
        exophone="08047181111",
        passthru_url=urls["passthru"],
        connect_url=urls["connect"],
        hangup_url=urls["hangup"],
        talk_seconds=30,
    )
    assert [(r.kind, r.status) for r in sent] == [
        ("passthru", 200),
        ("connect", 200),
        ("hangup", 200),
    ]
    connect = sent[1]
    assert connect.reply_type == "application/json"
    assert json.loads(connect.body) == {
        "fetch_after_attempt": False,
        "destination": {"numbers": [AGENT1_PHONE]},
        "max_ringing_duration": 30,
        "outgoing_phone_number": EXOTEL_E164,
    }
    update = await live.wait_for(lambda u: u["direction"] == "inbound")
    final = await live.until_ended(update["call_id"])
    assert (final["outcome"], final["duration_s"]) == ("completed", 38)
    _, detail = await gateway.request("GET", f"/api/calls/{update['call_id']}", agent1)
    assert detail["lead_match"] == "matched"
    assert [(e["kind"], e["carrier_status"]) for e in detail["events"]] == [
        ("passthru", "call-attempt"),
        ("connect", "call-attempt"),
        ("hangup", "completed"),
    ]


# --- e. security and error answers ---------------------------------------------------------------


async def test_bad_tokens_are_refused_and_change_nothing(
    gateway: Gateway, standin: ExotelStandin
) -> None:
    dialed = await dial_priya(gateway, standin)
    other = await register_exotel(gateway, standin.url, numbers=[])
    (secret,) = (await stored_credentials(gateway, dialed.account_id))["callback_secrets"]
    (other_secret,) = (await stored_credentials(gateway, other["id"]))["callback_secrets"]
    url = standin.calls[dialed.sid].callback
    assert url is not None
    payload = standin.script(dialed.sid)[-1]
    base = webhook_base(gateway, dialed.account_id)
    now = int(time.time())
    forged = {
        "another account's secret": signature.signed_callback_url(
            other_secret, f"{base}/status?call_id={dialed.call_id}", expires_at=now + 600
        ),
        "expired": signature.signed_callback_url(
            secret, f"{base}/status?call_id={dialed.call_id}", expires_at=now - 1
        ),
        "moved to another call": url.replace(
            f"call_id={dialed.call_id}", f"call_id={dialed.call_id + 1}"
        ),
        "without its token": url.split("&token=")[0],
        "a static key": f"{base}/status?call_id={dialed.call_id}&key={secret}",
        "at another account": url.replace(
            f"/exotel/{dialed.account_id}/", f"/exotel/{other['id']}/"
        ),
    }
    for reason, target in forged.items():
        result = await deliver(gateway.http, target, payload)
        assert result.status == 403, (reason, result.body)
        assert json.loads(result.body)["error"]["code"] == "invalid_signature"
    params = flow_params(
        call_sid=new_sid(),
        caller="09812300002",
        exophone="08047181111",
        call_type="call-attempt",
        created=standin.calls[dialed.sid].created_at,
        now=standin.calls[dialed.sid].created_at,
    )
    for target in (
        f"{base}/passthru",
        f"{base}/passthru?token={secret}",
        signature.inbound_url(other_secret, f"{base}/passthru"),
        signature.inbound_url(secret, f"{base}/connect").replace("/connect?", "/passthru?"),
    ):
        result = await fetch(gateway.http, target, params, kind="passthru")
        assert result.status == 403, (target, result.body)
    assert await rows_for_account(gateway, dialed.account_id) == (1, 0)
    assert await rows_for_account(gateway, other["id"]) == (0, 0)

    ok = await deliver(gateway.http, url, payload)
    assert ok.status == 200
    await gateway.settled()
    assert await rows_for_account(gateway, dialed.account_id) == (1, 2)


async def test_a_valid_token_cannot_speak_for_another_carrier_call(
    gateway: Gateway, standin: ExotelStandin
) -> None:
    """The token binds our call id; the pipeline binds the call id to its CallSid."""
    dialed = await dial_priya(gateway, standin)
    url = standin.calls[dialed.sid].callback
    assert url is not None
    payload = dict(standin.script(dialed.sid)[-1], CallSid=new_sid())
    result = await deliver(gateway.http, url, payload)
    # The token is genuine, so the request is stored and acknowledged (Exotel would retry
    # anything else); applying it finds the CallSid is not this call's and refuses it whole.
    assert result.status == 200, result.body
    await gateway.settled()
    async with gateway.app[sessionmaker_key]() as session:
        (row,) = (
            await session.exec(
                select(WebhookInbox).where(WebhookInbox.account_id == dialed.account_id)
            )
        ).all()
    assert row.status == InboxStatus.FAILED
    assert (row.error or "").startswith("refused")
    assert await rows_for_account(gateway, dialed.account_id) == (1, 0)
    _, detail = await gateway.request("GET", f"/api/calls/{dialed.call_id}", dialed.token)
    assert (detail["status"], detail["carrier_call_id"]) == ("queued", dialed.sid)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"Status": None}, "Status"),
        ({"CallSid": ""}, "CallSid"),
        ({"Legs": "none"}, "Legs"),
        ({"DateUpdated": "yesterday"}, "DateUpdated"),
        ({"ConversationDuration": "long"}, "ConversationDuration"),
    ],
)
async def test_a_malformed_callback_is_400_naming_the_field(
    gateway: Gateway, standin: ExotelStandin, change: dict[str, Any], field: str
) -> None:
    dialed = await dial_priya(gateway, standin)
    payload = standin.script(dialed.sid)[-1] | change
    result: CallbackResult = await standin.send(dialed.sid, payload)
    assert result.status == 400, result.body
    assert json.loads(result.body)["error"]["field"] == field
    assert await rows_for_account(gateway, dialed.account_id) == (1, 0)
