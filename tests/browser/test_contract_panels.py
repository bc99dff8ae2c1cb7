"""Panels for endpoints and events that land separately, against stand-ins that follow the
agreed contract: the REST side answered by Playwright routes, Socket.IO acks by handlers added
to the real server. The pages, the socket and the rest of the gateway are real."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.async_api import Browser, Page, Route, expect

from dialer.rooms import agent_room
from gateway.keys import sio_key
from tests.browser.conftest import js_errors, new_page, sign_in
from tests.conftest import Gateway, GatewayFactory


async def extend_openapi(page: Page, paths: dict[str, list[str]]) -> None:
    """The gateway's own OpenAPI document, plus the endpoints the stand-ins answer."""

    async def handle(route: Route) -> None:
        response = await route.fetch()
        spec = await response.json()
        for path, methods in paths.items():
            spec["paths"].setdefault(path, {}).update({m: {} for m in methods})
        await route.fulfill(response=response, json=spec)

    await page.route("**/api/openapi.json", handle)


def answer(body: Any, status: int = 200) -> dict[str, Any]:
    return {"status": status, "content_type": "application/json", "body": json.dumps(body)}


async def me_of(gw: Gateway, email: str) -> dict[str, Any]:
    _, me = await gw.request("GET", "/api/auth/me", token=await gw.login(email))
    assert isinstance(me, dict)
    return me


async def test_presence_switch_and_progressive_countdown(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    gw = await start_gateway()
    me = await me_of(gw, "agent1@demo.test")
    received: list[tuple[str, Any]] = []
    sio = gw.app[sio_key]

    async def set_state(sid: str, data: Any) -> dict[str, Any]:
        received.append(("set_state", data))
        presence = {"user_id": me["id"], "state": data["state"], "reason": data.get("reason")}
        return {"ok": True, "presence": presence | {"since": datetime.now(UTC).isoformat()}}

    def recorder(event: str) -> Any:
        async def handler(sid: str, data: Any = None) -> dict[str, Any]:
            received.append((event, data))
            return {"ok": True}

        return handler

    sio.on("set_state", set_state, namespace="/dialer")
    for event in ("set_progressive", "skip_next"):
        sio.on(event, recorder(event), namespace="/dialer")

    page = await new_page(browser)
    await extend_openapi(page, {"/api/presence": ["get"], "/api/queue": ["get"]})
    now = datetime.now(UTC)
    await page.route(
        "**/api/presence",
        lambda route: route.fulfill(
            **answer(
                {
                    "data": [
                        {
                            "user_id": me["id"],
                            "state": "available",
                            "since": now.isoformat(),
                            "progressive": False,
                        }
                    ]
                }
            )
        ),
    )

    async def queue(route: Route) -> None:
        leads = await (await route.fetch(url=f"{gw.url}/api/leads?limit=3")).json()
        rows = leads["data"]
        rows[0]["next_follow_up"] = {"due_at": (now + timedelta(hours=2)).isoformat()}
        await route.fulfill(**answer({"data": rows}))

    await page.route("**/api/queue", queue)
    await sign_in(page, f"{gw.url}/app/", "agent1@demo.test")

    status = page.get_by_label("My status")
    await expect(status).to_have_value("available")
    await expect(page.locator("#queue-list .due")).to_have_count(1)
    await status.select_option(label="Paused — Lunch")
    await expect(page.locator("#presence-box .dot")).to_have_attribute("data-state", "paused")
    assert ("set_state", {"state": "paused", "reason": "lunch"}) in received

    await page.get_by_label("Dial my queue automatically").check()
    await expect(page.get_by_text("Waiting for the next lead…")).to_be_visible()
    assert ("set_progressive", {"enabled": True}) in received
    lead = {"id": 1, "name": "Priya Sharma", "phone": "+919876543210"}
    dial_at = (datetime.now(UTC) + timedelta(seconds=9)).isoformat()
    await sio.emit(
        "next_dial",
        {"lead": lead, "dial_at": dial_at, "countdown_s": 9},
        to=agent_room(me["id"]),
        namespace="/dialer",
    )
    countdown = page.locator("#next-countdown")
    await expect(countdown).to_have_text("9")
    await expect(countdown).to_have_text("7", timeout=4_000)
    await expect(page.locator("#progressive-panel")).to_contain_text("Priya Sharma")
    await page.get_by_role("button", name="Skip").click()
    await expect(page.get_by_text("Waiting for the next lead…")).to_be_visible()
    assert ("skip_next", {}) in received
    assert js_errors(page) == []


async def test_bulk_assignment_and_import_progress(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    gw = await start_gateway()
    manager = await me_of(gw, "manager@demo.test")
    anita = await me_of(gw, "agent1@demo.test")
    arjun = await me_of(gw, "agent2@demo.test")
    posted: dict[str, Any] = {}

    page = await new_page(browser)
    await extend_openapi(
        page,
        {
            "/api/users": ["get"],
            "/api/leads/assign": ["post"],
            "/api/imports": ["post"],
            "/api/imports/{import_id}": ["get"],
        },
    )
    users = {"data": [manager, anita, arjun]}
    await page.route("**/api/users", lambda route: route.fulfill(**answer(users)))

    async def assign(route: Route) -> None:
        posted["assign"] = route.request.post_data_json
        await route.fulfill(**answer({"assigned": len(posted["assign"]["lead_ids"])}))

    async def imports(route: Route) -> None:
        posted["import"] = (route.request.headers["content-type"], route.request.post_data)
        await route.fulfill(**answer({"id": 7, "status": "running", "total": 3, "processed": 0}))

    await page.route("**/api/leads/assign", assign)
    await page.route("**/api/imports", imports)
    await page.route(
        "**/api/imports/7",
        lambda route: route.fulfill(
            **answer({"id": 7, "status": "running", "total": 3, "processed": 1})
        ),
    )
    await sign_in(page, f"{gw.url}/manager#leads", "manager@demo.test")

    table = page.get_by_role("table")
    await expect(table.get_by_role("row", name="Priya Sharma")).to_contain_text("Anita Agent")
    await page.get_by_label("Select Priya Sharma").check()
    await page.get_by_label("Select Rahul Verma").check()
    await expect(page.get_by_text("2 selected")).to_be_visible()
    await page.get_by_label("Assign selected to").select_option(label="Arjun Agent")
    await page.get_by_role("button", name="Assign", exact=True).click()
    await expect(page.get_by_role("status").filter(has_text="2 leads assigned.")).to_be_visible()
    assert posted["assign"]["agent_id"] == arjun["id"]
    assert len(posted["assign"]["lead_ids"]) == 2

    await page.get_by_role("link", name="Import").click()
    csv = b"name,phone\nA One,98111 11111\nB Two,98222 22222\nC Three,98333 33333\n"
    await page.get_by_label("CSV file").set_input_files(
        {"name": "leads.csv", "mimeType": "text/csv", "buffer": csv}
    )
    await page.get_by_role("button", name="Import").click()
    progress = page.locator("#import-progress")
    await expect(progress).to_have_attribute("max", "3")
    assert posted["import"] == ("text/csv", csv.decode())
    await gw.app[sio_key].emit(
        "import_progress",
        {"job": {"id": 7, "status": "done", "total": 3, "processed": 3, "created": 3}},
        to=agent_room(manager["id"]),
        namespace="/dialer",
    )
    await expect(page.get_by_text("Import #7: done")).to_be_visible()
    await expect(progress).to_have_js_property("value", 3)
    await expect(page.get_by_text("3 of 3 rows · 3 created")).to_be_visible()
    assert js_errors(page) == []
