"""Inbound calls through the sandbox carrier, and the served OpenAPI document."""

import re
from typing import Any

from sqlmodel import select

from gateway.keys import sessionmaker_key
from gateway.models import CarrierAccount
from tests.conftest import Gateway


async def sandbox_account(gw: Gateway) -> CarrierAccount:
    async with gw.app[sessionmaker_key]() as session:
        account: CarrierAccount = (await session.exec(select(CarrierAccount))).one()
    return account


async def ring_in(gw: Gateway, caller: str) -> dict[str, Any]:
    """Ask the sandbox carrier to place a call from `caller` to the demo's number."""
    account = await sandbox_account(gw)
    base = f"{gw.url}/webhooks/sandbox/{account.id}"
    status, body = await gw.request(
        "POST",
        "/sandbox-carrier/v1/inbound",
        headers={"Authorization": f"Bearer {account.credentials['api_key']}"},
        json={
            "from": caller,
            "to": "+918047180000",
            "voice_url": f"{base}/voice",
            "status_callback": f"{base}/status",
        },
    )
    assert status == 201, body
    return dict(body)


async def test_unknown_caller_becomes_a_lead_and_reaches_supervisors(gateway: Gateway) -> None:
    manager = await gateway.connect(await gateway.login("manager@demo.test"))
    token1 = await gateway.login("agent1@demo.test")
    _, me = await gateway.request("GET", "/api/auth/me", token1)
    agent1 = await gateway.connect(token1)
    await ring_in(gateway, "+447911123400")
    final = await manager.wait_for(lambda u: u["status"] == "completed")
    # The demo's round robin gives the new lead to the one agent online, whom it then rings.
    assert final["direction"] == "inbound" and final["agent_id"] == me["id"]
    assert [u["call_id"] for u in agent1.updates][-1] == final["call_id"]

    admin = await gateway.login("admin@demo.test")
    _, found = await gateway.request("GET", "/api/leads", admin, params={"q": "+44 7911 123400"})
    (lead,) = found["data"]
    assert lead["source"] == "inbound-call" and lead["phone"] == "+447911123400"
    assert final["lead_id"] == lead["id"] and lead["owner_id"] == me["id"]

    await ring_in(gateway, "+447911123400")
    await manager.wait_for(
        lambda u: u["status"] == "completed" and u["call_id"] != final["call_id"]
    )
    _, found = await gateway.request("GET", "/api/leads", admin, params={"q": "+447911123400"})
    assert len(found["data"]) == 1  # the second call reuses the lead
    _, detail = await gateway.request("GET", f"/api/leads/{lead['id']}", admin)
    assert len(detail["calls"]) == 2


async def test_known_caller_rings_the_owner_and_is_attached(gateway: Gateway) -> None:
    token = await gateway.login("agent1@demo.test")
    _, me = await gateway.request("GET", "/api/auth/me", token)
    live = await gateway.connect(token)
    # Priya Sharma belongs to agent1; she calls back from her number in E.164.
    await ring_in(gateway, "+919876543210")
    final = await live.wait_for(lambda u: u["status"] == "completed")
    assert final["direction"] == "inbound"
    assert final["agent_id"] == me["id"]
    assert final["outcome"] == "completed" and final["duration_s"] == 4
    _, call = await gateway.request("GET", f"/api/calls/{final['call_id']}", token)
    assert call["lead_match"] == "matched"
    assert call["from_number"] == "+919876543210" and call["to_number"] == "+918047180000"
    assert call["events"][0]["kind"] == "voice"


async def test_openapi_document_lists_the_api(gateway: Gateway) -> None:
    status, spec = await gateway.request("GET", "/api/openapi.json")
    assert status == 200
    assert spec["openapi"].startswith("3.")
    for path, methods in {
        "/api/auth/login": {"post"},
        "/api/leads": {"get", "post"},
        "/api/leads/{lead_id}": {"get"},
        "/api/calls": {"get", "post"},
        "/api/calls/{call_id}": {"get"},
        "/api/carrier-accounts": {"get", "post"},
        "/api/dnc": {"get", "post"},
        "/api/dnc/bulk": {"post"},
        "/api/dnc/{dnc_id}": {"delete"},
    }.items():
        assert methods <= set(spec["paths"][path]), path
    # Every documented path is served: an unauthenticated call answers 401, not 404.
    for path, methods in spec["paths"].items():
        concrete = re.sub(r"\{[a-z_]+\}", "1", path)
        for method in methods:
            if path == "/api/auth/login":
                continue
            code, _ = await gateway.request(method.upper(), concrete)
            assert code == 401, (method, path)
    # ... and every API route is documented.
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in gateway.app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/")
        and route.method not in ("HEAD", "OPTIONS")
        and route.resource.canonical != "/api/openapi.json"
    }
    documented = {(m, p) for p, methods in spec["paths"].items() for m in methods}
    assert served - documented == set()
    refs = str(spec)
    for name in spec["components"]["schemas"]:
        assert f"#/components/schemas/{name}" in refs or name == "Error"
