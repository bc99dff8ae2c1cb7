"""The dial guard's time rules (callee's local calling window, daily attempt cap) and caller ID."""

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import col, select

from dialer.clock import clock_key
from gateway.keys import sessionmaker_key
from gateway.models import CarrierAccount, CarrierNumber, Lead, Team, User
from gateway.phones import lookup_key
from tests.conftest import Gateway
from tests.integration.dialer_client import connect
from tests.integration.test_presence import set_org

WINTER_DAY = datetime(2026, 1, 15, tzinfo=UTC)


def at(hours: int, minutes: int = 0, day: datetime = WINTER_DAY) -> datetime:
    return day + timedelta(hours=hours, minutes=minutes)


def freeze(gw: Gateway, moment: datetime) -> None:
    gw.app[clock_key].set(lambda: moment)


async def new_lead(gw: Gateway, token: str, phone: str, **fields: Any) -> int:
    status, lead = await gw.request("POST", "/api/leads", token, json={"phone": phone})
    assert status == 201, lead
    if fields:
        async with gw.app[sessionmaker_key]() as session:
            row = await session.get(Lead, lead["id"])
            assert row is not None
            for name, value in fields.items():
                setattr(row, name, value)
            await session.commit()
    return int(lead["id"])


async def dial(gw: Gateway, token: str, **body: Any) -> tuple[int, Any]:
    return await gw.request("POST", "/api/calls", token, json=body)


async def test_calling_window_in_every_candidate_zone_of_the_callee(gateway: Gateway) -> None:
    await set_org(gateway, calling_window_start="09:00", calling_window_end="21:00")
    token = await gateway.login("agent1@demo.test")
    tab = await connect(gateway, token)
    priya = await new_lead(gateway, token, "+91 80 1234 5678")

    # India: 08:59 IST is 03:29 UTC.
    freeze(gateway, at(3, 29))
    status, body = await dial(gateway, token, lead_id=priya)
    assert status == 409, body
    error = body["error"]
    assert error["code"] == "outside_calling_hours" and error["field"] == "lead_id"
    assert error["local_times"] == [{"timezone": "Asia/Kolkata", "local_time": "08:59"}]
    assert error["window"] == {"start": "09:00", "end": "21:00"}
    ack = await tab.call("dial", {"lead_id": priya})
    assert ack["ok"] is False and ack["code"] == "outside_calling_hours"
    assert ack["local_times"][0]["local_time"] == "08:59"
    _, calls = await gateway.request("GET", "/api/calls", token)
    assert calls["data"] == []

    freeze(gateway, at(3, 30))
    status, call = await dial(gateway, token, lead_id=priya)
    assert status == 202, call
    await tab.wait_state("wrap-up", call_id=call["id"])
    await tab.call("end_wrap_up", {"call_id": call["id"]})
    freeze(gateway, at(15, 30))  # 21:00 IST: the window's end is exclusive
    status, body = await dial(gateway, token, lead_id=priya)
    assert status == 409 and body["error"]["local_times"][0]["local_time"] == "21:00"

    # Alaska's area code covers Anchorage (UTC-9 in January) and Adak (UTC-10): 18:00 UTC is
    # 09:00 in Anchorage but 08:00 in Adak, so not yet; at 19:00 UTC both are open.
    alaska = await new_lead(gateway, token, "+1 907 555 0100")
    freeze(gateway, at(18))
    status, body = await dial(gateway, token, lead_id=alaska)
    assert status == 409 and body["error"]["code"] == "outside_calling_hours"
    assert body["error"]["local_times"] == [
        {"timezone": "America/Adak", "local_time": "08:00"},
        {"timezone": "America/Anchorage", "local_time": "09:00"},
    ]
    # A known time zone on the lead replaces the number's candidates.
    anchorage = await new_lead(gateway, token, "+1 907 555 0101", timezone="America/Anchorage")
    status, call = await dial(gateway, token, lead_id=anchorage)
    assert status == 202, call
    await tab.wait_state("wrap-up", call_id=call["id"])
    await tab.call("end_wrap_up", {"call_id": call["id"]})

    # Toll-free numbers span 42 zones: never inside a 12-hour window everywhere.
    freeze(gateway, at(19))
    toll_free = await new_lead(gateway, token, "+1 800 555 0100")
    status, body = await dial(gateway, token, lead_id=toll_free)
    assert status == 409 and body["error"]["code"] == "outside_calling_hours"
    assert len(body["error"]["local_times"]) == 42
    # A number with no known zone (an international freephone) is refused outright.
    status, body = await dial(gateway, token, number="+800 1234 5678")
    assert status == 409 and body["error"]["code"] == "unknown_timezone"
    assert body["error"]["field"] == "number"
    _, found = await gateway.request("GET", "/api/leads", token, params={"q": "+80012345678"})
    assert found["data"] == []  # the refused dial created no lead


async def test_daily_attempt_cap_counts_calls_in_the_organizations_day(gateway: Gateway) -> None:
    await set_org(gateway, max_daily_attempts=2)
    token = await gateway.login("agent1@demo.test")
    tab = await connect(gateway, token)
    lead = await new_lead(gateway, token, "+91 99887 00001")  # busy: ends quickly
    # 23:00 IST on the 15th is 17:30 UTC; the organization's day ends at 18:30 UTC.
    freeze(gateway, at(17, 30))
    for _ in range(2):
        status, call = await dial(gateway, token, lead_id=lead)
        assert status == 202, call
        await tab.wait_state("wrap-up", call_id=call["id"])
        await tab.call("end_wrap_up", {"call_id": call["id"]})
    status, body = await dial(gateway, token, lead_id=lead)
    assert status == 409 and body["error"]["code"] == "attempt_cap_reached"
    assert body["error"]["attempts"] == 2 and body["error"]["max_daily_attempts"] == 2
    freeze(gateway, at(18, 30))  # midnight in India: a new day
    status, call = await dial(gateway, token, lead_id=lead)
    assert status == 202, call
    async with gateway.app[sessionmaker_key]() as session:
        row = await session.get(Lead, lead)
        assert row is not None and row.attempts == 3
        assert row.last_called_at == at(18, 30)


async def test_caller_id_is_chosen_by_request_agent_team_then_default(gateway: Gateway) -> None:
    await set_org(gateway, max_daily_attempts=None)
    async with gateway.app[sessionmaker_key]() as session:
        account = (await session.exec(select(CarrierAccount))).one()
        default = (await session.exec(select(CarrierNumber))).one()
        numbers = []
        for e164 in ("+918047180001", "+918047180002", "+918047180003"):
            number = CarrierNumber(
                org_id=account.org_id,
                account_id=account.id or 0,
                e164=e164,
                phone_key=lookup_key(gateway.settings.lookup_key_secret, e164),
            )
            session.add(number)
            numbers.append(number)
        await session.commit()
        ids = [n.id for n in numbers]
    token = await gateway.login("agent1@demo.test")
    tab = await connect(gateway, token)

    async def from_number(**body: Any) -> str:
        status, call = await dial(gateway, token, number="98765 43210", **body)
        assert status == 202, call
        await tab.wait_state("wrap-up", call_id=call["id"])
        await tab.call("end_wrap_up", {"call_id": call["id"]})
        return str(call["from_number"])

    assert await from_number() == default.e164
    async with gateway.app[sessionmaker_key]() as session:
        agent = (
            await session.exec(select(User).where(col(User.email) == "agent1@demo.test"))
        ).one()
        team = await session.get(Team, agent.team_id)
        assert team is not None
        team.caller_id_number_id = ids[0]
        await session.commit()
    assert await from_number() == "+918047180001"
    async with gateway.app[sessionmaker_key]() as session:
        agent = (
            await session.exec(select(User).where(col(User.email) == "agent1@demo.test"))
        ).one()
        agent.caller_id_number_id = ids[1]
        await session.commit()
    assert await from_number() == "+918047180002"
    assert await from_number(caller_id_number_id=ids[2]) == "+918047180003"
    status, body = await dial(gateway, token, number="98765 43210", caller_id_number_id=99999)
    assert status == 400 and body["error"]["field"] == "caller_id_number_id"
