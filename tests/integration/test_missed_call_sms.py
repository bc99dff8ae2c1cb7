"""The optional SMS after a missed call: the setting, sending through each carrier's messaging
API (the sandbox end to end, the others through their stand-ins), and the do-not-call refusal."""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlmodel import col, select

from dialer.missed_sms import text_missed_call
from gateway.carriers.base import CarrierAPIError, CarrierDefaults, NotSupported, SmsRequest
from gateway.carriers.exotel.adapter import ExotelCarrier
from gateway.carriers.plivo.adapter import PlivoCarrier
from gateway.carriers.telnyx.adapter import TelnyxCarrier
from gateway.carriers.twilio.adapter import TwilioCarrier
from gateway.carriers.vonage.adapter import VonageCarrier
from gateway.keys import runtime_key, sessionmaker_key
from gateway.models import Call, CarrierAccount, Direction, IntegrationEvent
from tests.conftest import Gateway
from tests.integration import test_exotel_flow as exotel
from tests.integration import test_telnyx_flow as telnyx
from tests.integration import test_vonage_flow as vonage
from tests.standins.exotel_api import ExotelStandin
from tests.standins.plivo_api import PlivoStandin
from tests.standins.telnyx_api import TelnyxStandin
from tests.standins.twilio_api import TwilioStandin
from tests.standins.vonage_api import Application, VonageStandin

CALLER = "+447911123499"
OUR_NUMBER = "+918047180000"
AGENT1_PHONE = "+919000012345"
SETTINGS = "/api/settings/missed-call-sms"


async def sms_events(gw: Gateway) -> list[dict[str, Any]]:
    async with gw.app[sessionmaker_key]() as session:
        rows = await session.exec(
            select(IntegrationEvent)
            .where(col(IntegrationEvent.type) == "call.missed_sms")
            .order_by(col(IntegrationEvent.id))
        )
        return [dict(e.data) for e in rows.all()]


async def until_sms_events(gw: Gateway, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The texts go out in the background after the call's end: wait for their records."""
    deadline = time.monotonic() + timeout
    while len(found := await sms_events(gw)) < count:
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.05)
    return found


async def sandbox_account(gw: Gateway) -> CarrierAccount:
    async with gw.app[sessionmaker_key]() as session:
        account: CarrierAccount = (await session.exec(select(CarrierAccount))).one()
    return account


async def missed_inbound_call(gw: Gateway, caller: str = CALLER) -> int:
    """A caller rings the sandbox number; nobody answers (the demo's agents are offline)."""
    account = await sandbox_account(gw)
    base = f"{gw.url}/webhooks/sandbox/{account.id}"
    manager = await gw.connect(await gw.login("manager@demo.test"))
    status, placed = await gw.request(
        "POST",
        "/sandbox-carrier/v1/inbound",
        headers={"Authorization": f"Bearer {account.credentials['api_key']}"},
        json={
            "from": caller,
            "to": OUR_NUMBER,
            "voice_url": f"{base}/voice",
            "status_callback": f"{base}/status",
        },
    )
    assert status == 201, placed
    final = await manager.wait_for(lambda u: u["status"] == "completed")
    return int(final["call_id"])


async def sandbox_messages(gw: Gateway) -> list[dict[str, Any]]:
    """The messages the sandbox carrier took, read through its own API."""
    account = await sandbox_account(gw)
    status, body = await gw.request(
        "GET",
        "/sandbox-carrier/v1/messages",
        headers={"Authorization": f"Bearer {account.credentials['api_key']}"},
    )
    assert status == 200
    return list(body["data"])


# --- the setting ------------------------------------------------------------------------------


async def test_the_setting_is_off_by_default_and_admins_change_it(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    status, body = await gateway.request("GET", SETTINGS, admin)
    assert status == 200
    assert body["enabled"] is False and body["to"] == "caller"
    assert "{org}" in body["caller_template"]

    status, body = await gateway.request("PUT", SETTINGS, admin, json={"enabled": True})
    assert status == 200 and body["enabled"] is True and body["to"] == "caller"
    status, body = await gateway.request("PUT", SETTINGS, admin, json={"to": "both"})
    assert (body["enabled"], body["to"]) == (True, "both")

    status, body = await gateway.request(
        "PUT", SETTINGS, admin, json={"caller_template": "Hi {name}"}
    )
    assert status == 400 and body["error"]["field"] == "caller_template"
    status, body = await gateway.request("PUT", SETTINGS, admin, json={"to": "everyone"})
    assert status == 400 and body["error"]["field"] == "to"
    status, body = await gateway.request("PUT", SETTINGS, admin, json={})
    assert status == 400 and body["error"]["field"] == "body"

    agent = await gateway.login("agent1@demo.test")
    status, body = await gateway.request("PUT", SETTINGS, agent, json={"enabled": False})
    assert status == 403
    status, body = await gateway.request("GET", SETTINGS, agent)
    assert status == 200 and body["enabled"] is True


async def test_no_text_while_the_setting_is_off(gateway: Gateway) -> None:
    await missed_inbound_call(gateway)
    await gateway.settled()
    await asyncio.sleep(0.3)
    assert await sms_events(gateway) == []
    assert await sandbox_messages(gateway) == []


# --- end to end through the sandbox ---------------------------------------------------------------


async def test_a_missed_caller_is_texted_through_the_carrier(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    await gateway.request("PUT", SETTINGS, admin, json={"enabled": True})
    call_id = await missed_inbound_call(gateway)

    (event,) = await until_sms_events(gateway, 1)
    assert event["call_id"] == call_id and event["recipient"] == "caller"
    assert (event["status"], event["to"], event["carrier"]) == ("sent", CALLER, "sandbox")
    (message,) = await sandbox_messages(gateway)
    assert message["message_id"] == event["carrier_message_id"]
    assert (message["to"], message["from"]) == (CALLER, OUR_NUMBER)
    assert (
        message["text"]
        == "Sorry we missed your call. Demo Telecalling Co. will call you back shortly."
    )


async def test_the_owner_can_be_texted_as_well(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    await gateway.request(
        "PUT",
        SETTINGS,
        admin,
        json={"enabled": True, "to": "both", "owner_template": "Call back {lead} on {caller}"},
    )
    # Priya's number: her lead's owner is agent1.
    await missed_inbound_call(gateway, caller="+919876543210")
    events = await until_sms_events(gateway, 2)
    assert [(e["recipient"], e["status"], e["to"]) for e in events] == [
        ("caller", "sent", "+919876543210"),
        ("owner", "sent", AGENT1_PHONE),
    ]
    texts = {m["to"]: m["text"] for m in await sandbox_messages(gateway)}
    assert texts[AGENT1_PHONE] == "Call back Priya Sharma on +919876543210"


async def test_a_number_on_the_do_not_call_list_is_never_texted(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    await gateway.request("PUT", SETTINGS, admin, json={"enabled": True})
    status, _ = await gateway.request("POST", "/api/dnc", admin, json={"number": CALLER})
    assert status == 201
    call_id = await missed_inbound_call(gateway)

    (event,) = await until_sms_events(gateway, 1)
    assert (event["call_id"], event["status"], event["reason"]) == (call_id, "refused", "dnc")
    assert event["carrier_message_id"] is None
    assert await sandbox_messages(gateway) == []


async def test_a_lead_who_withdrew_consent_is_never_texted(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    await gateway.request("PUT", SETTINGS, admin, json={"enabled": True})
    status, found = await gateway.request("GET", "/api/leads?q=Priya", admin)
    lead = found["data"][0]
    status, _ = await gateway.request(
        "PATCH", f"/api/leads/{lead['id']}", admin, json={"consent": "withdrawn"}
    )
    assert status == 200
    await missed_inbound_call(gateway, caller="+919876543210")
    (event,) = await until_sms_events(gateway, 1)
    assert (event["status"], event["reason"]) == ("refused", "consent_withdrawn")
    assert await sandbox_messages(gateway) == []


async def test_a_carrier_refusal_is_recorded_and_not_retried(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    await gateway.request("PUT", SETTINGS, admin, json={"enabled": True})
    # The sandbox cannot text numbers ending in 0003 (a definite refusal, 422).
    await missed_inbound_call(gateway, caller="+447911120003")
    (event,) = await until_sms_events(gateway, 1)
    assert (event["status"], event["reason"]) == ("failed", "carrier_error")
    assert event["error"]["status"] == 422
    await asyncio.sleep(0.3)
    assert len(await sms_events(gateway)) == 1


async def test_a_call_without_a_carrier_account_is_recorded_as_failed(gateway: Gateway) -> None:
    admin = await gateway.login("admin@demo.test")
    await gateway.request("PUT", SETTINGS, admin, json={"enabled": True})
    account = await sandbox_account(gateway)
    async with gateway.app[sessionmaker_key]() as session:
        call = Call(
            org_id=account.org_id,
            carrier="sandbox",
            direction=Direction.INBOUND,
            from_number=CALLER,
            to_number=OUR_NUMBER,
        )
        session.add(call)
        await session.commit()
    (outcome,) = await text_missed_call(gateway.app, call)
    assert (outcome["status"], outcome["reason"]) == ("failed", "no_carrier_account")
    assert await sandbox_messages(gateway) == []


def test_an_adapter_without_sms_refuses_as_not_supported() -> None:
    class Silent(CarrierDefaults):
        name = "silent"

    async def send() -> None:
        await Silent().send_sms(None, {}, MESSAGE)  # type: ignore[arg-type]

    with pytest.raises(NotSupported):
        asyncio.run(send())


# --- each carrier's messaging API, through its stand-in -------------------------------------------

TWILIO_SID = "AC" + "1" * 32
TWILIO_TOKEN = "twilio-auth-token-0001"
MESSAGE = SmsRequest(to_number=CALLER, from_number="+13129457420", text="Sorry we missed you")


@pytest.fixture
async def twilio() -> AsyncIterator[TwilioStandin]:
    standin = await TwilioStandin({TWILIO_SID: TWILIO_TOKEN}).start()
    yield standin
    await standin.close()


async def test_twilio_sends_through_the_sdk(gateway: Gateway, twilio: TwilioStandin) -> None:
    adapter = TwilioCarrier()
    credentials = {
        "account_sid": TWILIO_SID,
        "auth_token": TWILIO_TOKEN,
        "api_base_url": twilio.url,
    }
    try:
        result = await adapter.send_sms(gateway.app[runtime_key], credentials, MESSAGE)
        (request,) = [r for r in twilio.requests if r.path.endswith("/Messages.json")]
        assert request.path == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
        assert request.auth == (TWILIO_SID, TWILIO_TOKEN)
        assert dict(request.form) == {
            "To": CALLER,
            "From": "+13129457420",
            "Body": "Sorry we missed you",
        }
        assert result.carrier_message_id == twilio.messages[0]["sid"]
        assert result.carrier_message_id.startswith("SM")
        assert result.carrier_status == "queued"

        bad = SmsRequest(to_number="12", from_number="+13129457420", text="x")
        with pytest.raises(CarrierAPIError) as refused:
            await adapter.send_sms(gateway.app[runtime_key], credentials, bad)
        assert (refused.value.status, refused.value.code) == (400, "21211")
        assert not refused.value.ambiguous
        wrong = {**credentials, "auth_token": "not-the-token-0001"}
        with pytest.raises(CarrierAPIError) as denied:
            await adapter.send_sms(gateway.app[runtime_key], wrong, MESSAGE)
        assert (denied.value.status, denied.value.code) == (401, "20003")
        assert len(twilio.messages) == 1
    finally:
        await adapter.close()


async def test_plivo_sends_a_message(gateway: Gateway) -> None:
    auth_id, token = "MAODUZYTQ0Y2FMYJBLOW", "plivo-auth-token-0001"
    standin = await PlivoStandin({auth_id: token}).start()
    try:
        credentials = {"auth_id": auth_id, "auth_token": token, "api_base_url": standin.url}
        result = await PlivoCarrier().send_sms(gateway.app[runtime_key], credentials, MESSAGE)
        (request,) = [r for r in standin.requests if r.path.endswith("/Message/")]
        assert request.path == f"/v1/Account/{auth_id}/Message/"
        assert request.auth == (auth_id, token)
        assert request.body == {
            "src": "13129457420",
            "dst": "447911123499",
            "text": "Sorry we missed you",
            "type": "sms",
        }
        assert request.status == 202
        assert result.carrier_message_id == standin.messages[0]["message_uuid"]
        with pytest.raises(CarrierAPIError) as denied:
            await PlivoCarrier().send_sms(
                gateway.app[runtime_key], {**credentials, "auth_token": "wrong-token"}, MESSAGE
            )
        assert denied.value.status == 401
    finally:
        await standin.close()


async def test_telnyx_sends_a_message(gateway: Gateway) -> None:
    api_key = "KEY0190F1B2C3D4E5F60718293A4B5C6D7E_Zx9aQ"
    standin = await TelnyxStandin(api_key=api_key, connection_id="1494404757140276705").start()
    try:
        credentials = {
            "api_key": api_key,
            "connection_id": "1494404757140276705",
            "api_base_url": standin.url,
        }
        result = await TelnyxCarrier().send_sms(gateway.app[runtime_key], credentials, MESSAGE)
        (request,) = [r for r in standin.requests if r.path == "/v2/messages"]
        assert request.bearer == api_key and request.status == 200
        assert request.body == {
            "from": "+13129457420",
            "to": CALLER,
            "text": "Sorry we missed you",
        }
        assert result.carrier_message_id == standin.messages[0]["id"]
        assert result.carrier_status == "queued"
        bad = SmsRequest(to_number="447911123499", from_number="+13129457420", text="x")
        with pytest.raises(CarrierAPIError) as refused:
            await TelnyxCarrier().send_sms(gateway.app[runtime_key], credentials, bad)
        assert (refused.value.status, refused.value.code) == (422, "10016")
    finally:
        await standin.close()


async def test_vonage_sends_through_the_messages_api(gateway: Gateway) -> None:
    standin = await VonageStandin(
        [Application(vonage.APPLICATION_ID, vonage.PRIVATE_KEY, vonage.SIGNATURE_SECRET)]
    ).start()
    try:
        credentials = vonage.vonage_credentials(standin.url)
        result = await VonageCarrier().send_sms(gateway.app[runtime_key], credentials, MESSAGE)
        (request,) = [r for r in standin.requests if r.path == "/v1/messages"]
        assert request.status == 202
        assert request.claims is not None
        assert request.claims["application_id"] == vonage.APPLICATION_ID
        assert request.body == {
            "message_type": "text",
            "channel": "sms",
            "to": "447911123499",
            "from": "13129457420",
            "text": "Sorry we missed you",
        }
        assert result.carrier_message_id == standin.messages[0]["message_uuid"]
        bad = SmsRequest(to_number=CALLER, from_number="+13129457420", text="")
        with pytest.raises(CarrierAPIError) as refused:
            await VonageCarrier().send_sms(gateway.app[runtime_key], credentials, bad)
        assert (refused.value.status, refused.value.code) == (422, "1150")
        assert len(standin.messages) == 1
    finally:
        await standin.close()


async def test_a_missed_telnyx_call_is_texted_through_telnyx(gateway: Gateway) -> None:
    """End to end: the call comes in through Telnyx, the text goes out through Telnyx."""
    standin = await TelnyxStandin(
        api_key=telnyx.API_KEY, connection_id=telnyx.CONNECTION_ID
    ).start()
    try:
        account = await telnyx.register_telnyx(gateway, standin.url)
        standin.connection_webhook_url = telnyx.hook_url(gateway, account["id"])
        admin = await gateway.login("admin@demo.test")
        await gateway.request("PUT", SETTINGS, admin, json={"enabled": True})

        # Nobody can take it: the caller hears the message and the call is missed.
        await standin.inbound(CALLER, telnyx.TELNYX_E164)
        (event,) = await until_sms_events(gateway, 1)
        assert (event["status"], event["carrier"], event["to"]) == ("sent", "telnyx", CALLER)
        (request,) = [r for r in standin.requests if r.path == "/v2/messages"]
        assert request.bearer == telnyx.API_KEY
        assert request.body == {
            "from": telnyx.TELNYX_E164,
            "to": CALLER,
            "text": "Sorry we missed your call. Demo Telecalling Co. will call you back shortly.",
        }
        assert event["carrier_message_id"] == standin.messages[0]["id"]
    finally:
        await standin.close()


async def test_exotel_sends_a_message_with_the_dlt_registration(gateway: Gateway) -> None:
    standin = await ExotelStandin({exotel.ACCOUNT_SID: (exotel.API_KEY, exotel.API_TOKEN)}).start()
    try:
        india = SmsRequest(to_number="+919876543210", from_number="+918047180000", text="Sorry")
        plain = exotel.credentials(standin.url)
        with pytest.raises(CarrierAPIError) as refused:
            await ExotelCarrier().send_sms(gateway.app[runtime_key], plain, india)
        assert refused.value.status == 400 and not refused.value.ambiguous

        registered = ExotelCarrier().check_credentials(
            exotel.credentials(standin.url, sms_dlt_entity_id="1201159100000000001")
        )
        result = await ExotelCarrier().send_sms(gateway.app[runtime_key], registered, india)
        request = [r for r in standin.requests if "/Sms/" in r.path][-1]
        assert request.path == f"/v1/Accounts/{exotel.ACCOUNT_SID}/Sms/send.json"
        assert request.auth == (exotel.API_KEY, exotel.API_TOKEN)
        assert dict(request.form) == {
            "From": "+918047180000",
            "To": "+919876543210",
            "Body": "Sorry",
            "DltEntityId": "1201159100000000001",
        }
        (message,) = standin.messages
        assert result.carrier_message_id == message["Sid"]
        assert result.carrier_status == "queued"
    finally:
        await standin.close()
