"""End to end through Telnyx Call Control: registration, dial and commands via a REST stand-in,
signed webhooks, inbound calls answered and transferred or spoken to."""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import telnyx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import select

from gateway.carriers.base import CarrierAPIError
from gateway.carriers.telnyx.adapter import TelnyxCarrier
from gateway.carriers.telnyx.parse import ClientState
from gateway.keys import runtime_key, sessionmaker_key
from gateway.models import Call, LegRole
from tests.conftest import Gateway, LiveCall
from tests.integration.carrier_flows import (
    click_to_call,
    deactivate_sandbox,
    register_account,
    rows_for_account,
)
from tests.standins.telnyx_api import (
    TEST_PUBLIC_KEY,
    Delivery,
    TelnyxStandin,
    iso,
    new_call_control_id,
    post_signed,
)
from webhooks.reconcile import reconcile_stuck

API_KEY = "KEY0190F1B2C3D4E5F60718293A4B5C6D7E_Zx9aQ"
CONNECTION_ID = "1494404757140276705"
TELNYX_NUMBER = "+1 312 945 7420"
TELNYX_E164 = "+13129457420"
AGENT1_PHONE = "+919000012345"
PRIYA_E164 = "+919876543210"
INBOUND_MESSAGE = "Thank you for calling. An agent will call you back shortly."


# --- helpers -------------------------------------------------------------------------------


@pytest.fixture
async def standin() -> AsyncIterator[TelnyxStandin]:
    api = await TelnyxStandin(api_key=API_KEY, connection_id=CONNECTION_ID).start()
    yield api
    await api.close()


def credentials(api_base_url: str | None = None, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "api_key": API_KEY,
        "public_key": TEST_PUBLIC_KEY,
        "connection_id": CONNECTION_ID,
    }
    if api_base_url is not None:
        values["api_base_url"] = api_base_url
    values.update(changes)
    return values


async def register_telnyx(gw: Gateway, api_base_url: str | None = None) -> dict[str, Any]:
    return await register_account(gw, "telnyx", credentials(api_base_url), [TELNYX_NUMBER])


async def eventually(
    check: Callable[[], Awaitable[Any]], expected: Any, timeout: float = 10.0
) -> None:
    """Webhooks are applied after Telnyx has its 200: wait until the effect shows."""
    deadline = time.monotonic() + timeout
    while (got := await check()) != expected:
        assert time.monotonic() < deadline, f"still {got!r}, expected {expected!r}"
        await asyncio.sleep(0.05)


async def detail_when(
    gw: Gateway, token: str, call_id: int, ready: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        status, detail = await gw.request("GET", f"/api/calls/{call_id}", token)
        assert status == 200, detail
        if ready(detail):
            return dict(detail)
        assert time.monotonic() < deadline, detail
        await asyncio.sleep(0.05)


def hook_url(gw: Gateway, account_id: int, kind: str = "status") -> str:
    return f"{gw.settings.public_base_url}/webhooks/telnyx/{account_id}/{kind}"


def state_of(value: str) -> ClientState:
    state = ClientState.decode(value)
    assert state is not None
    return state


@dataclass
class Dialed:
    live: LiveCall
    token: str
    call_id: int
    account_id: int
    agent_leg: str  # the call_control_id Telnyx (the stand-in) gave the agent's leg


async def dial_priya(gw: Gateway, standin: TelnyxStandin) -> Dialed:
    """Agent1 clicks to call Priya through Telnyx; returns once Telnyx got the dial."""
    account = await register_telnyx(gw, standin.url)
    await deactivate_sandbox(gw)
    live, token, call = await click_to_call(gw)
    assert call["carrier"] == "telnyx" and call["status"] == "queued"
    (leg,) = await standin.wait_for_dials(1)
    return Dialed(live, token, int(call["id"]), int(account["id"]), leg.call_control_id)


def console_event(
    event_type: str,
    call_control_id: str,
    at: datetime,
    *,
    event_id: str | None = None,
    to: str = PRIYA_E164,
    **payload: Any,
) -> dict[str, Any]:
    """A webhook for a call Dialgate did not place (e.g. dialed from another application)."""
    body: dict[str, Any] = {
        "call_control_id": call_control_id,
        "call_leg_id": str(uuid.uuid4()),
        "call_session_id": str(uuid.uuid4()),
        "client_state": None,
        "connection_id": CONNECTION_ID,
        "from": TELNYX_E164,
        "to": to,
        "start_time": iso(at),
    }
    body.update(payload)
    return {
        "data": {
            "record_type": "event",
            "event_type": event_type,
            "id": event_id or str(uuid.uuid4()),
            "occurred_at": iso(at),
            "payload": body,
        },
        "meta": {"attempt": 1},
    }


# --- a. registration -------------------------------------------------------------------------


async def test_admin_registers_a_telnyx_account(gateway: Gateway) -> None:
    account = await register_telnyx(gateway)
    assert account["carrier"] == "telnyx"
    assert account["numbers"] == [TELNYX_E164]
    assert account["credentials"]["api_key"] != API_KEY
    assert API_KEY not in repr(account)
    assert account["credentials"]["public_key"] == TEST_PUBLIC_KEY
    assert account["credentials"]["connection_id"] == CONNECTION_ID
    base = f"{gateway.url}/webhooks/telnyx/{account['id']}"
    assert account["webhook_urls"] == {"status": f"{base}/status", "voice": f"{base}/voice"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"api_key": ""}, "credentials.api_key"),
        ({"public_key": "bm90IGEga2V5"}, "credentials.public_key"),
        ({"public_key": "not base64"}, "credentials.public_key"),
        ({"connection_id": None}, "credentials.connection_id"),
        ({"api_base_url": "api.telnyx.com"}, "credentials.api_base_url"),
    ],
)
async def test_bad_credentials_are_400_naming_the_field(
    gateway: Gateway, changes: dict[str, Any], field: str
) -> None:
    admin = await gateway.login("admin@demo.test")
    status, body = await gateway.request(
        "POST",
        "/api/carrier-accounts",
        admin,
        json={
            "carrier": "telnyx",
            "credentials": credentials(**changes),
            "numbers": [TELNYX_NUMBER],
        },
    )
    assert status == 400, body
    assert body["error"]["field"] == field


# --- b. click-to-call -------------------------------------------------------------------------


async def test_click_to_call_dials_the_agent_then_transfers_to_the_customer(
    gateway: Gateway, standin: TelnyxStandin
) -> None:
    dialed = await dial_priya(gateway, standin)
    live, call_id, agent_leg = dialed.live, dialed.call_id, dialed.agent_leg
    callback = f"{gateway.url}/webhooks/telnyx/{dialed.account_id}/status?call_id={call_id}"

    (dial,) = standin.dials()
    assert dial.status == 200 and dial.bearer == API_KEY
    assert dial.body == {
        "connection_id": CONNECTION_ID,
        "to": AGENT1_PHONE,
        "from": TELNYX_E164,
        "webhook_url": callback,
        "webhook_url_method": "POST",
        "client_state": dial.body["client_state"],
        "timeout_secs": 30,
    }
    assert state_of(dial.body["client_state"]) == ClientState(
        call_id=call_id, leg=LegRole.AGENT, customer_hook=callback, ring_s=30
    )

    played = await standin.play(agent_leg, customer_outcome="answered", talk_seconds=42)
    assert [d.status for d in played] == [200] * len(played)
    customer_leg = played[2].payload["call_control_id"]
    assert [
        (d.event_type, "agent" if d.payload["call_control_id"] == agent_leg else "customer")
        for d in played
    ] == [
        ("call.initiated", "agent"),
        ("call.answered", "agent"),
        ("call.initiated", "customer"),
        ("call.bridged", "agent"),
        ("call.bridged", "customer"),
        ("call.answered", "customer"),
        ("call.hangup", "customer"),
        ("call.hangup", "agent"),
    ]
    assert all(d.url == callback for d in played)

    # The agent's answer made the gateway transfer the agent's leg to Priya.
    (transfer,) = standin.commands("transfer")
    assert transfer.path == f"/v2/calls/{agent_leg}/actions/transfer"
    assert transfer.status == 200 and transfer.bearer == API_KEY
    assert transfer.body["to"] == PRIYA_E164
    assert transfer.body["from"] == TELNYX_E164
    assert transfer.body["webhook_url"] == callback
    assert transfer.body["timeout_secs"] == 30
    assert transfer.body["command_id"] == f"dialgate-{played[1].document['data']['id']}"
    assert state_of(transfer.body["target_leg_client_state"]) == ClientState(
        call_id=call_id, leg=LegRole.CUSTOMER, parent=agent_leg
    )

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

    detail = await detail_when(gateway, dialed.token, call_id, lambda d: len(d["events"]) == 9)
    assert detail["carrier"] == "telnyx"
    assert detail["carrier_call_id"] == agent_leg
    legs = {leg["role"]: leg for leg in detail["legs"]}
    assert legs["agent"]["carrier_leg_id"] == agent_leg
    assert legs["agent"]["number"] == AGENT1_PHONE
    assert legs["customer"]["carrier_leg_id"] == customer_leg
    assert legs["customer"]["number"] == PRIYA_E164
    assert (legs["customer"]["outcome"], legs["customer"]["duration_s"]) == ("completed", 42)
    assert [
        (e["kind"], e["leg"], e["carrier_status"], e["disposition"]) for e in detail["events"]
    ] == [
        ("local", None, "queued", "applied"),
        ("status", "agent", "call.initiated:outgoing", "applied"),
        ("voice", "agent", "call.answered", "applied"),
        ("status", "customer", "call.initiated:outgoing", "applied"),
        ("status", "agent", "call.bridged", "stale"),
        ("status", "customer", "call.bridged", "applied"),
        ("status", "customer", "call.answered", "applied"),
        ("status", "customer", "call.hangup:normal_clearing", "applied"),
        ("status", "agent", "call.hangup:normal_clearing", "applied"),
    ]

    # Telnyx's call status API, read back through the adapter.
    status_event = await TelnyxCarrier().fetch_status(
        gateway.app[runtime_key], credentials(standin.url), customer_leg
    )
    assert status_event is not None
    assert (status_event.status, status_event.outcome, status_event.duration_s) == (
        "completed",
        "completed",
        42,
    )


@pytest.mark.parametrize(
    ("cause", "outcome", "statuses"),
    [
        ("user_busy", "busy", ["queued", "initiated", "completed"]),
        ("timeout", "no-answer", ["queued", "initiated", "ringing", "completed"]),
        ("call_rejected", "no-answer", ["queued", "initiated", "completed"]),
    ],
)
async def test_customer_not_connecting_gives_its_outcome_and_ends_the_agent_leg(
    gateway: Gateway, standin: TelnyxStandin, cause: str, outcome: str, statuses: list[str]
) -> None:
    dialed = await dial_priya(gateway, standin)
    played = await standin.play(dialed.agent_leg, customer_outcome=cause)
    assert all(d.status == 200 for d in played)
    customer_hangup = next(
        d for d in played if d.event_type == "call.hangup" and d.payload["hangup_cause"] == cause
    )
    # "The original call will remain active": the gateway hung up the agent's leg itself.
    (hangup,) = standin.commands("hangup")
    assert hangup.path == f"/v2/calls/{dialed.agent_leg}/actions/hangup"
    assert hangup.body == {"command_id": f"dialgate-{customer_hangup.document['data']['id']}"}

    final = await dialed.live.until_ended(dialed.call_id)
    assert final["outcome"] == outcome
    assert final["duration_s"] == 0
    assert [u["status"] for u in dialed.live.for_call(dialed.call_id)] == statuses
    detail = await detail_when(
        gateway,
        dialed.token,
        dialed.call_id,
        lambda d: (
            {leg["role"]: leg["status"] for leg in d["legs"]}
            == {"agent": "completed", "customer": "completed"}
        ),
    )
    legs = {leg["role"]: leg for leg in detail["legs"]}
    assert legs["customer"]["outcome"] == outcome
    assert legs["agent"]["outcome"] == "completed"
    assert detail["outcome"] == outcome


async def test_agent_not_answering_cancels_the_call(
    gateway: Gateway, standin: TelnyxStandin
) -> None:
    dialed = await dial_priya(gateway, standin)
    played = await standin.play(dialed.agent_leg, agent_outcome="timeout")
    assert [(d.event_type, d.payload.get("hangup_cause")) for d in played] == [
        ("call.initiated", None),
        ("call.hangup", "timeout"),
    ]
    final = await dialed.live.until_ended(dialed.call_id)
    assert final["outcome"] == "canceled"
    assert final["end_reason"] == "agent_no-answer"
    assert standin.commands() == []
    detail = await detail_when(gateway, dialed.token, dialed.call_id, lambda d: bool(d["legs"]))
    assert [leg["role"] for leg in detail["legs"]] == ["agent"]
    assert detail["legs"][0]["outcome"] == "no-answer"


async def test_telnyx_refusing_the_dial_fails_the_call(
    gateway: Gateway, standin: TelnyxStandin
) -> None:
    """A revoked API key: the stand-in answers 401/10009 as Telnyx does; the call fails."""
    standin.api_key = "KEY_some_other_key_000000"
    await register_telnyx(gateway, standin.url)
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
    (dial,) = standin.dials()
    assert dial.status == 401
    assert standin.legs == {}


async def test_standin_answers_like_telnyx_to_the_sdk(standin: TelnyxStandin) -> None:
    """telnyx-python's async client understands the stand-in's dial response and errors."""
    good = telnyx.AsyncTelnyx(api_key=API_KEY, base_url=f"{standin.url}/v2", max_retries=0)
    bad = telnyx.AsyncTelnyx(api_key="KEY_wrong", base_url=f"{standin.url}/v2", max_retries=0)
    try:
        dialed = await good.calls.dial(
            connection_id=CONNECTION_ID, to=AGENT1_PHONE, from_=TELNYX_E164
        )
        assert dialed.data is not None
        assert dialed.data.call_control_id.startswith("v3:")
        assert (dialed.data.is_alive, dialed.data.record_type) == (False, "call")
        with pytest.raises(telnyx.AuthenticationError) as auth:
            await bad.calls.dial(connection_id=CONNECTION_ID, to=AGENT1_PHONE, from_=TELNYX_E164)
        assert auth.value.status_code == 401
        with pytest.raises(telnyx.UnprocessableEntityError):
            await good.calls.dial(connection_id=CONNECTION_ID, to="12345", from_=TELNYX_E164)
        hung = await good.calls.actions.hangup(dialed.data.call_control_id)
        assert hung.data is not None and hung.data.result == "ok"
        status = await good.calls.retrieve_status(dialed.data.call_control_id)
        assert status.data is not None and status.data.is_alive is False
    finally:
        await good.close()
        await bad.close()


async def test_agent_hangs_up_a_connected_call_and_telnyx_reports_the_end(
    gateway: Gateway, standin: TelnyxStandin
) -> None:
    """Hangup command on the agent's leg; the legs' `call.hangup` webhooks end the call."""
    dialed = await dial_priya(gateway, standin)
    live, call_id, agent_leg = dialed.live, dialed.call_id, dialed.agent_leg
    playing = asyncio.create_task(
        standin.play(agent_leg, customer_outcome="answered", talk_seconds=30, until_hung_up=True)
    )
    await live.wait_for(lambda u: u["call_id"] == call_id and u["status"] == "in-progress")

    async def last_webhook() -> list[str]:
        return [d.event_type for d in standin.deliveries][-1:]

    # The customer's leg answered: the stand-in now holds the call until it is hung up.
    await eventually(last_webhook, ["call.answered"])
    # Both legs are up at Telnyx: reconciliation leaves the call alone.
    await gateway.settled()
    assert await reconcile_stuck(gateway.app, after=timedelta(0), give_up=timedelta(0)) == []
    status, body = await gateway.request("POST", f"/api/calls/{call_id}/hangup", dialed.token)
    assert (status, body) == (202, {"ok": True, "call_id": call_id})
    played = await asyncio.wait_for(playing, 10)

    (hangup,) = standin.commands("hangup")
    assert hangup.path == f"/v2/calls/{agent_leg}/actions/hangup"
    assert hangup.bearer == API_KEY and hangup.status == 200
    assert set(hangup.body) == {"command_id"}
    assert [(d.event_type, d.payload["hangup_source"]) for d in played[-2:]] == [
        ("call.hangup", "caller"),
        ("call.hangup", "unknown"),
    ]
    assert played[-2].payload["call_control_id"] == agent_leg
    assert all(d.status == 200 for d in played)
    final = await live.until_ended(call_id)
    assert final["outcome"] == "completed" and final["duration_s"] == 30
    # Telnyx refuses commands to an ended leg (422, 90018): the agent hears "already ended".
    with pytest.raises(CarrierAPIError) as refused:
        await TelnyxCarrier().hangup(gateway.app[runtime_key], credentials(standin.url), agent_leg)
    assert (refused.value.status, refused.value.code) == (409, "90018")


async def test_reconciliation_settles_both_legs_from_telnyx_records(
    gateway: Gateway, standin: TelnyxStandin
) -> None:
    """Both legs' `call.hangup` webhooks are lost: the call-events list still has them."""
    dialed = await dial_priya(gateway, standin)
    live, call_id, agent_leg = dialed.live, dialed.call_id, dialed.agent_leg
    standin.drop = {"call.hangup"}
    played = await standin.play(agent_leg, customer_outcome="answered", talk_seconds=42)
    assert [d.status for d in played[-2:]] == [0, 0]
    customer_leg = played[2].payload["call_control_id"]
    await live.wait_for(lambda u: u["call_id"] == call_id and u["status"] == "in-progress")

    assert await reconcile_stuck(gateway.app, after=timedelta(0), give_up=timedelta(days=1)) == [
        call_id
    ]
    # One status read for the dialed leg, then the session's events.
    (listed,) = [r for r in standin.requests if r.path == "/v2/call_events"]
    assert listed.bearer == API_KEY and listed.status == 200

    final = await live.until_ended(call_id)
    assert (final["outcome"], final["duration_s"], final["reconciled"]) == ("completed", 42, True)
    detail = await detail_when(gateway, dialed.token, call_id, lambda d: d["status"] == "completed")
    legs = {leg["role"]: leg for leg in detail["legs"]}
    assert legs["agent"]["carrier_leg_id"] == agent_leg
    assert legs["customer"]["carrier_leg_id"] == customer_leg
    assert (legs["agent"]["status"], legs["agent"]["outcome"]) == ("completed", "completed")
    assert (legs["customer"]["outcome"], legs["customer"]["duration_s"]) == ("completed", 42)
    # Events already applied from their webhooks are duplicates; the lost hangups are new.
    reconciled = [
        (e["leg"], e["carrier_status"], e["disposition"])
        for e in detail["events"]
        if e["kind"] == "reconcile"
    ]
    assert ("customer", "call.hangup:normal_clearing", "applied") in reconciled
    assert ("agent", "call.hangup:normal_clearing", "applied") in reconciled
    assert all(c != "call.answered" for _, c, _ in reconciled)


async def test_reconciliation_ends_the_agent_leg_left_up_by_an_unanswered_customer(
    gateway: Gateway, standin: TelnyxStandin
) -> None:
    """The busy customer's `call.hangup` is lost, so the gateway never hung up the agent's
    leg (Telnyx leaves it up after a failed transfer): the session's events settle it."""
    dialed = await dial_priya(gateway, standin)
    live, call_id, agent_leg = dialed.live, dialed.call_id, dialed.agent_leg
    standin.drop = {"call.hangup"}
    playing = asyncio.create_task(standin.play(agent_leg, customer_outcome="user_busy"))

    async def customer_ended() -> bool:
        return any(
            d.event_type == "call.hangup" and d.payload["call_control_id"] != agent_leg
            for d in standin.deliveries
        )

    await eventually(customer_ended, True)
    await gateway.settled()
    assert await reconcile_stuck(gateway.app, after=timedelta(0), give_up=timedelta(days=1)) == [
        call_id
    ]
    final = await live.until_ended(call_id)
    assert (final["outcome"], final["reconciled"]) == ("busy", True)
    # The reconciled end hung up the agent's leg, as its callback would have.
    await asyncio.wait_for(playing, 10)
    (hangup,) = standin.commands("hangup")
    assert hangup.path == f"/v2/calls/{agent_leg}/actions/hangup" and hangup.status == 200


# --- c. inbound calls ------------------------------------------------------------------------


async def test_inbound_call_from_unknown_number_creates_a_lead_and_hears_a_message(
    gateway: Gateway, standin: TelnyxStandin
) -> None:
    account = await register_telnyx(gateway, standin.url)
    standin.connection_webhook_url = hook_url(gateway, account["id"])
    admin = await gateway.login("admin@demo.test")
    manager_live = await gateway.connect(await gateway.login("manager@demo.test"))
    caller = "+447911123400"

    played = await standin.inbound(caller, TELNYX_E164)
    assert [d.status for d in played] == [200] * len(played)
    assert [d.event_type for d in played] == [
        "call.initiated",
        "call.answered",
        "call.speak.started",
        "call.speak.ended",
        "call.hangup",
    ]
    inbound_leg = played[0].payload["call_control_id"]
    # Answer, speak the message, hang up when the speech ends.
    assert [(r.path.rsplit("/", 1)[1], r.status) for r in standin.commands()] == [
        ("answer", 200),
        ("speak", 200),
        ("hangup", 200),
    ]
    answer, speak, hangup = standin.commands()
    assert answer.path == f"/v2/calls/{inbound_leg}/actions/answer"
    assert state_of(answer.body["client_state"]) == ClientState(leg=LegRole.CUSTOMER, then="route")
    assert speak.body["payload"] == INBOUND_MESSAGE
    assert (speak.body["voice"], speak.body["language"]) == ("female", "en-US")
    assert hangup.body["command_id"] == f"dialgate-{played[3].document['data']['id']}"

    status, found = await gateway.request("GET", "/api/leads", admin, params={"q": caller})
    assert status == 200 and len(found["data"]) == 1, found
    lead = found["data"][0]
    assert (lead["phone"], lead["source"]) == (caller, "inbound-call")
    update = await manager_live.wait_for(
        lambda u: u["lead_id"] == lead["id"] and u["status"] == "completed"
    )
    assert update["direction"] == "inbound"
    detail = await detail_when(gateway, admin, update["call_id"], lambda d: len(d["events"]) == 4)
    assert detail["carrier_call_id"] == inbound_leg
    assert detail["lead_match"] == "created"
    assert [(e["kind"], e["carrier_status"], e["disposition"]) for e in detail["events"]] == [
        ("voice", "call.initiated:incoming", "applied"),
        ("voice", "call.answered", "applied"),
        ("status", "call.speak.ended", "unknown-status"),
        ("status", "call.hangup:normal_clearing", "applied"),
    ]


@pytest.mark.parametrize(
    ("agent_outcome", "outcome"), [("answered", "completed"), ("timeout", "no-answer")]
)
async def test_inbound_call_from_a_known_lead_is_transferred_to_its_owner(
    gateway: Gateway, standin: TelnyxStandin, agent_outcome: str, outcome: str
) -> None:
    account = await register_telnyx(gateway, standin.url)
    standin.connection_webhook_url = hook_url(gateway, account["id"])
    agent1 = await gateway.login("agent1@demo.test")
    live = await gateway.connect(agent1)

    played = await standin.inbound(PRIYA_E164, TELNYX_E164, agent_outcome=agent_outcome)
    assert all(d.status == 200 for d in played)
    inbound_leg = played[0].payload["call_control_id"]
    answer, transfer, *rest = standin.commands()
    assert answer.path.endswith(f"{inbound_leg}/actions/answer")
    assert transfer.path == f"/v2/calls/{inbound_leg}/actions/transfer"
    assert transfer.body["to"] == AGENT1_PHONE
    assert transfer.body["from"] == TELNYX_E164
    assert state_of(transfer.body["target_leg_client_state"]) == ClientState(
        leg=LegRole.AGENT, parent=inbound_leg
    )
    agent_leg = played[2].payload["call_control_id"]
    assert played[2].payload["to"] == AGENT1_PHONE
    if agent_outcome == "answered":
        assert played[-2].payload["call_control_id"] == agent_leg
    else:
        # The agent never answered: the gateway ended the caller's leg.
        assert rest[-1].path == f"/v2/calls/{inbound_leg}/actions/hangup"

    final = await live.wait_for(
        lambda u: u["direction"] == "inbound" and u["status"] == "completed"
    )
    assert final["outcome"] == outcome
    assert final["agent_id"] is not None
    detail = await detail_when(
        gateway, agent1, final["call_id"], lambda d: len(d["events"]) == len(played)
    )
    assert detail["lead_match"] == "matched"
    assert detail["from_number"] == PRIYA_E164
    assert detail["carrier_call_id"] == inbound_leg
    if agent_outcome == "answered":
        # The caller's leg is timed: Dialgate answered it 6 s before the agent picked up.
        assert final["duration_s"] == 30 + 6


# --- d. security, malformed, duplicates, order ------------------------------------------------


async def test_bad_signature_is_403_and_stores_nothing(gateway: Gateway) -> None:
    account = await register_telnyx(gateway)
    url = hook_url(gateway, account["id"])
    now = datetime.now(UTC)
    doc = console_event("call.initiated", new_call_control_id(), now, direction="outgoing")
    other_key = Ed25519PrivateKey.generate()
    body = json.dumps(doc).encode()
    cases: list[Delivery] = [
        await post_signed(gateway.http, url, doc, private_key=other_key),
        await post_signed(gateway.http, url, doc, timestamp=int(time.time()) - 600),
        await post_signed(gateway.http, url, doc, sent=body.replace(b"outgoing", b"incoming")),
        await post_signed(gateway.http, url, doc, headers={"telnyx-signature-ed25519": ""}),
        await post_signed(gateway.http, url, doc, headers={"telnyx-timestamp": "1"}),
        await post_signed(gateway.http, url, doc, headers={"telnyx-signature-ed25519": "é"}),
    ]
    for result in cases:
        assert result.status == 403, result.reply
        assert json.loads(result.reply)["error"]["code"] == "invalid_signature"
    ok = await post_signed(gateway.http, url, doc)
    assert ok.status == 200
    await eventually(lambda: rows_for_account(gateway, account["id"]), (1, 1))


async def test_signed_but_malformed_is_400_naming_the_field(gateway: Gateway) -> None:
    account = await register_telnyx(gateway)
    url = hook_url(gateway, account["id"])
    now = datetime.now(UTC)
    leg = new_call_control_id()
    no_cause = console_event("call.hangup", leg, now, hangup_cause=None)
    strange_app = console_event("call.answered", leg, now, connection_id="42")
    for doc, field in [
        (no_cause, "data.payload.hangup_cause"),
        (strange_app, "data.payload.connection_id"),
        ({"data": {"event_type": "call.answered", "id": "x"}}, "data.occurred_at"),
    ]:
        result = await post_signed(gateway.http, url, doc)
        assert result.status == 400, result.reply
        assert json.loads(result.reply)["error"]["field"] == field
    result = await post_signed(gateway.http, url, {}, raw=b"CallSid=v3:x&CallStatus=completed")
    assert result.status == 400, result.reply
    assert json.loads(result.reply)["error"]["field"] == "body"
    ok = await post_signed(gateway.http, url, console_event("call.answered", leg, now))
    assert ok.status == 200
    await eventually(lambda: rows_for_account(gateway, account["id"]), (1, 1))


async def test_duplicate_deliveries_make_one_event(gateway: Gateway) -> None:
    """Telnyx retries slow webhooks and may deliver one twice at once (receiving-webhooks)."""
    account = await register_telnyx(gateway)
    url = hook_url(gateway, account["id"])
    leg = new_call_control_id()
    doc = console_event("call.initiated", leg, datetime.now(UTC), direction="outgoing")
    results = await asyncio.gather(*(post_signed(gateway.http, url, doc) for _ in range(4)))
    assert [r.status for r in results] == [200] * 4
    again = await post_signed(gateway.http, url, doc)
    assert again.status == 200
    barrier = console_event("call.answered", leg, datetime.now(UTC))
    assert (await post_signed(gateway.http, url, barrier)).status == 200
    await eventually(lambda: rows_for_account(gateway, account["id"]), (1, 2))


async def test_out_of_order_delivery_never_moves_the_call_backwards(gateway: Gateway) -> None:
    account = await register_telnyx(gateway)
    admin = await gateway.login("admin@demo.test")
    url = hook_url(gateway, account["id"])
    leg = new_call_control_id()
    start = datetime.now(UTC).replace(microsecond=0)

    def at(seconds: int) -> datetime:
        return start + timedelta(seconds=seconds)

    deliveries = [
        console_event("call.hangup", leg, at(40), hangup_cause="normal_clearing"),
        console_event("call.answered", leg, at(5)),
        console_event("call.initiated", leg, at(0), direction="outgoing"),
        console_event("call.hangup", leg, at(41), hangup_cause="user_busy"),
        console_event("call.hangup", leg, at(42), hangup_cause="network_meltdown"),
    ]
    for doc in deliveries:
        assert (await post_signed(gateway.http, url, doc)).status == 200
    await eventually(lambda: rows_for_account(gateway, account["id"]), (1, 5))
    async with gateway.app[sessionmaker_key]() as session:
        call_id = (
            await session.exec(select(Call.id).where(Call.account_id == account["id"]))
        ).one()
    assert call_id is not None
    _, detail = await gateway.request("GET", f"/api/calls/{call_id}", admin)
    assert (detail["status"], detail["outcome"]) == ("completed", "completed")
    assert detail["carrier_call_id"] == leg
    assert [(e["carrier_status"], e["disposition"]) for e in detail["events"]] == [
        ("call.hangup:normal_clearing", "applied"),
        ("call.answered", "stale"),
        ("call.initiated:outgoing", "stale"),
        ("call.hangup:user_busy", "conflicting-terminal"),
        ("call.hangup:network_meltdown", "unknown-status"),
    ]
