"""The organization's dialing settings over REST: read by all, changed by admins, validated, and
in force for the next dial in every process."""

import asyncio
from typing import Any

import pytest

from tests.conftest import Gateway, GatewayFactory
from tests.integration.dialer_client import connect
from tests.integration.test_dial_guard import at, dial, freeze, new_lead

# The demo organization's (it calls around the clock).
DEFAULTS = {
    "calling_window_start": "00:00",
    "calling_window_end": "24:00",
    "max_daily_attempts": 3,
    "wrapup_limit_s": 60,
    "wrapup_requires_disposition": False,
    "timezone": "Asia/Kolkata",
    "default_region": "IN",
}


async def patch(gw: Gateway, token: str, **values: Any) -> tuple[int, Any]:
    return await gw.request("PATCH", "/api/settings/dialing", token, json=values)


async def test_everyone_reads_only_admins_change(gateway: Gateway) -> None:
    agent = await gateway.login("agent1@demo.test")
    manager = await gateway.login("manager@demo.test")
    admin = await gateway.login("admin@demo.test")
    for token in (agent, manager, admin):
        status, body = await gateway.request("GET", "/api/settings/dialing", token)
        assert (status, body) == (200, DEFAULTS)
    status, _ = await gateway.request("GET", "/api/settings/dialing")
    assert status == 401

    for token in (agent, manager):
        status, body = await patch(gateway, token, max_daily_attempts=5)
        assert status == 403 and body["error"]["code"] == "forbidden"

    status, body = await patch(
        gateway,
        admin,
        max_daily_attempts=None,
        wrapup_limit_s=0,
        wrapup_requires_disposition=True,
        timezone="America/New_York",
        default_region="us",
    )
    assert status == 200, body
    assert body == {
        **DEFAULTS,
        "max_daily_attempts": None,
        "wrapup_limit_s": 0,
        "wrapup_requires_disposition": True,
        "timezone": "America/New_York",
        "default_region": "US",
    }
    # Only the fields sent change.
    status, body = await patch(gateway, admin, calling_window_end="21:00")
    assert status == 200 and body["calling_window_end"] == "21:00"
    assert body["timezone"] == "America/New_York"
    _, seen = await gateway.request("GET", "/api/settings/dialing", agent)
    assert seen == body


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"calling_window_start": "9:00"}, "calling_window_start"),
        ({"calling_window_start": "09:60"}, "calling_window_start"),
        ({"calling_window_start": "24:00"}, "calling_window_start"),
        ({"calling_window_end": "25:00"}, "calling_window_end"),
        ({"calling_window_end": "21:00:00"}, "calling_window_end"),
        ({"calling_window_end": None}, "calling_window_end"),
        ({"calling_window_end": "00:00"}, "calling_window_end"),  # equals the stored start
        ({"calling_window_start": "10:00", "calling_window_end": "10:00"}, "calling_window_end"),
        ({"max_daily_attempts": -1}, "max_daily_attempts"),
        ({"max_daily_attempts": "3"}, "max_daily_attempts"),
        ({"max_daily_attempts": 2.5}, "max_daily_attempts"),
        ({"wrapup_limit_s": -5}, "wrapup_limit_s"),
        ({"wrapup_limit_s": True}, "wrapup_limit_s"),
        ({"wrapup_requires_disposition": "yes"}, "wrapup_requires_disposition"),
        ({"wrapup_requires_disposition": None}, "wrapup_requires_disposition"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"timezone": None}, "timezone"),
        ({"default_region": "XX"}, "default_region"),
        ({"window": "09:00-21:00"}, "window"),
    ],
)
async def test_invalid_values_are_refused_naming_the_field(
    gateway: Gateway, values: dict[str, Any], field: str
) -> None:
    admin = await gateway.login("admin@demo.test")
    status, body = await patch(gateway, admin, **values)
    assert status == 400, body
    assert body["error"]["field"] == field, body
    _, seen = await gateway.request("GET", "/api/settings/dialing", admin)
    assert seen == DEFAULTS


async def test_a_change_holds_for_the_next_dial_in_another_process(
    start_gateway: GatewayFactory,
) -> None:
    first = await start_gateway()
    second = await start_gateway()
    admin = await first.login("admin@demo.test")
    agent = await second.login("agent1@demo.test")
    tab = await connect(second, agent)
    priya = await new_lead(second, agent, "+91 80 1234 5678")

    status, _ = await patch(first, admin, calling_window_start="09:00", calling_window_end="21:00")
    assert status == 200
    # 23:00 in India (17:30 UTC): outside 09:00-21:00.
    freeze(second, at(17, 30))
    status, body = await dial(second, agent, lead_id=priya)
    assert status == 409 and body["error"]["code"] == "outside_calling_hours"

    # A window across midnight, and no attempts at all: the cap now refuses.
    status, body = await patch(
        first, admin, calling_window_start="22:00", calling_window_end="02:00", max_daily_attempts=0
    )
    assert status == 200, body
    status, body = await dial(second, agent, lead_id=priya)
    assert status == 409 and body["error"]["code"] == "attempt_cap_reached", body
    assert body["error"]["max_daily_attempts"] == 0

    # Wrap-up that waits for a disposition, and no cap: the dial goes through.
    status, _ = await patch(first, admin, max_daily_attempts=None, wrapup_requires_disposition=True)
    assert status == 200
    status, call = await dial(second, agent, lead_id=priya)
    assert status == 202, call
    await tab.wait_state("wrap-up", call_id=call["id"])
    ack = await tab.call("end_wrap_up", {"call_id": call["id"]})
    assert ack["ok"] is False and ack["code"] == "disposition_required"

    # 02:00 in India is the window's (exclusive) end.
    freeze(second, at(20, 30))
    status, _ = await patch(first, admin, wrapup_requires_disposition=False)
    assert status == 200
    ack = await tab.call("end_wrap_up", {"call_id": call["id"]})
    assert ack["ok"] is True, ack
    status, body = await dial(second, agent, lead_id=priya)
    assert status == 409 and body["error"]["code"] == "outside_calling_hours"
    assert body["error"]["window"] == {"start": "22:00", "end": "02:00"}


async def test_openapi_documents_dialing_settings(gateway: Gateway) -> None:
    status, spec = await gateway.request("GET", "/api/openapi.json")
    assert status == 200
    assert {"get", "patch"} <= set(spec["paths"]["/api/settings/dialing"])
    props = spec["components"]["schemas"]["DialingSettings"]["properties"]
    assert set(props) == set(DEFAULTS)


async def test_a_longer_wrap_up_set_during_one_holds_for_it(
    start_gateway: GatewayFactory,
) -> None:
    gw = await start_gateway(PRESENCE_GRACE_S=2.0)
    admin = await gw.login("admin@demo.test")
    agent = await gw.login("agent1@demo.test")
    status, _ = await patch(gw, admin, wrapup_limit_s=2)
    assert status == 200
    tab = await connect(gw, agent)
    tab.start_heartbeats()
    priya = await new_lead(gw, agent, "+91 80 1234 5678")
    status, call = await dial(gw, agent, lead_id=priya)
    assert status == 202, call
    await tab.wait_state("wrap-up", call_id=call["id"])
    # Raised while the agent wraps up: the two seconds set when it began no longer end it.
    status, _ = await patch(gw, admin, wrapup_limit_s=3600)
    assert status == 200
    mark = tab.mark()
    await asyncio.sleep(3.0)
    assert [data for event, data in tab.events[mark:] if event == "presence"] == []
    _, board = await gw.request("GET", "/api/presence", agent)
    assert board["data"][0]["state"] == "wrap-up"
    # Lowered again: the sweep ends it by the new limit.
    status, _ = await patch(gw, admin, wrapup_limit_s=1)
    assert status == 200
    await tab.wait_state("available", after=mark)
    await tab.stop_heartbeats()
