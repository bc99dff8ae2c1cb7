"""Carrier accounts change over their life: rotated secrets, pacing, off and on, numbers."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import Gateway
from tests.integration.carrier_flows import register_account
from tests.standins.twilio_api import new_sid, post_signed, status_params

ACCOUNT_SID = "AC" + "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
OLD_TOKEN = "0123456789abcdef0123456789abcdef"
NEW_TOKEN = "fedcba9876543210fedcba9876543210"


@pytest.fixture
async def account(gateway: Gateway) -> AsyncIterator[dict[str, Any]]:
    yield await register_account(
        gateway,
        "twilio",
        {"account_sid": ACCOUNT_SID, "auth_token": OLD_TOKEN},
        ["+1 415 555 0142"],
    )


async def callback(gw: Gateway, account_id: int, token: str) -> int:
    url = f"{gw.settings.public_base_url}/webhooks/twilio/{account_id}/status"
    params = status_params(
        account_sid=ACCOUNT_SID,
        call_sid=new_sid("CA"),
        status="ringing",
        sequence=0,
        from_number="+14155550142",
        to_number="+919876543210",
        direction="outbound-api",
        at=datetime.now(UTC),
    )
    result = await post_signed(gw.http, url, params, token)
    return result.status


async def patch(gw: Gateway, account_id: int, body: dict[str, Any]) -> tuple[int, Any]:
    admin = await gw.login("admin@demo.test")
    return await gw.request("PATCH", f"/api/carrier-accounts/{account_id}", admin, json=body)


async def test_rotating_the_auth_token_takes_effect_at_once(
    gateway: Gateway, account: dict[str, Any]
) -> None:
    assert await callback(gateway, account["id"], OLD_TOKEN) == 204
    status, body = await patch(gateway, account["id"], {"credentials": {"auth_token": NEW_TOKEN}})
    assert status == 200, body
    assert body["credentials"]["account_sid"] == ACCOUNT_SID  # merged, not replaced
    assert NEW_TOKEN not in repr(body) and body["credentials"]["auth_token"].endswith("3210")
    assert await callback(gateway, account["id"], OLD_TOKEN) == 403
    assert await callback(gateway, account["id"], NEW_TOKEN) == 204


async def test_a_deactivated_account_refuses_webhooks_until_reactivated(
    gateway: Gateway, account: dict[str, Any]
) -> None:
    status, body = await patch(gateway, account["id"], {"is_active": False})
    assert status == 200 and body["is_active"] is False
    assert await callback(gateway, account["id"], OLD_TOKEN) == 404
    status, body = await patch(gateway, account["id"], {"is_active": True})
    assert status == 200 and body["is_active"] is True
    assert await callback(gateway, account["id"], OLD_TOKEN) == 204


async def test_pacing_and_numbers_change_and_bad_input_names_the_field(
    gateway: Gateway, account: dict[str, Any]
) -> None:
    status, body = await patch(
        gateway,
        account["id"],
        {
            "name": "Twilio US",
            "calls_per_second": 2.5,
            "add_numbers": ["+1 (415) 555-0199"],
            "remove_numbers": ["+1 415-555-0142"],
        },
    )
    assert status == 200, body
    assert body["name"] == "Twilio US" and body["calls_per_second"] == 2.5
    assert body["numbers"] == ["+14155550199"]
    status, body = await patch(gateway, account["id"], {"calls_per_second": None})
    assert status == 200 and body["calls_per_second"] is None and body["name"] == "Twilio US"

    before = await patch(gateway, account["id"], {})
    cases: list[tuple[dict[str, Any], str]] = [
        ({"calls_per_second": 0}, "calls_per_second"),
        ({"credentials": {"account_sid": "nope"}}, "credentials.account_sid"),
        ({"add_numbers": ["12"]}, "add_numbers.0"),
        ({"add_numbers": ["+14155550199"]}, "add_numbers.0"),
        ({"remove_numbers": ["+14155550100"]}, "remove_numbers.0"),
        ({"colour": "red"}, "colour"),
    ]
    for bad, field in cases:
        status, body = await patch(gateway, account["id"], bad)
        assert status in (400, 404, 409), (bad, body)
        assert body["error"]["field"] == field, (bad, body)
    # A refused update changed nothing.
    assert await patch(gateway, account["id"], {}) == before


async def test_only_admins_of_the_org_change_accounts(
    gateway: Gateway, account: dict[str, Any]
) -> None:
    manager = await gateway.login("manager@demo.test")
    status, _ = await gateway.request(
        "PATCH", f"/api/carrier-accounts/{account['id']}", manager, json={"is_active": False}
    )
    assert status == 403
    status, body = await gateway.request(
        "PATCH", "/api/carrier-accounts/999999", await gateway.login("admin@demo.test"), json={}
    )
    assert status == 404 and body["error"]["field"] == "account_id"
