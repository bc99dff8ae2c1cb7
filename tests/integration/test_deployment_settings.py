"""Settings that change what a deployment exposes: the sandbox carrier, trusted proxies."""

import json

from gateway.carriers.sandbox import signature
from tests.conftest import GatewayFactory

PRODUCTION = {
    "DIALGATE_ENV": "production",
    "SECRET_KEY": "s" * 32,
    "LOOKUP_KEY_SECRET": "l" * 32,
}


async def test_sandbox_carrier_api_is_off_in_production(start_gateway: GatewayFactory) -> None:
    gw = await start_gateway(**PRODUCTION)
    status, _ = await gw.request("POST", "/sandbox-carrier/v1/calls", json={})
    assert status == 404
    enabled = await start_gateway(**PRODUCTION, SANDBOX_ENABLED="true")
    status, body = await enabled.request("POST", "/sandbox-carrier/v1/calls", json={})
    assert status == 401  # mounted, and asking for its API key
    assert body["error"]["code"] == "unauthorized"


async def callback(gw_url: str, request_url: str, key: str, headers: dict[str, str]) -> int:
    import aiohttp

    body = json.dumps({"call_id": "SBproxy", "status": "ringing", "sequence": 0}).encode()
    signed = {"X-Sandbox-Signature": signature.header_value(key, request_url, body)}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            gw_url, data=body, headers=signed | headers | {"Content-Type": "application/json"}
        ) as resp,
    ):
        return resp.status


async def test_forwarded_host_counts_only_from_trusted_proxies(
    start_gateway: GatewayFactory,
) -> None:
    from sqlmodel import select

    from gateway.keys import sessionmaker_key
    from gateway.models import CarrierAccount

    trusting = await start_gateway(TRUSTED_PROXIES="127.0.0.1")
    untrusting = await start_gateway()
    async with trusting.app[sessionmaker_key]() as session:
        account = (await session.exec(select(CarrierAccount))).one()
    key = account.credentials["api_key"]
    path = f"/webhooks/sandbox/{account.id}/status"
    public = f"https://calls.example.com{path}"
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "calls.example.com"}

    assert await callback(trusting.url + path, public, key, forwarded) == 204
    # The same headers from an untrusted peer are ignored: the URL is PUBLIC_BASE_URL's.
    assert await callback(untrusting.url + path, public, key, forwarded) == 403
    assert await callback(untrusting.url + path, untrusting.url + path, key, forwarded) == 204
