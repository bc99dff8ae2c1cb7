"""Presence, progressive dialing and bulk assignment in real browsers against the real gateway."""

import re
from typing import Any

from playwright.async_api import Browser, expect

from tests.browser.conftest import js_errors, new_page, sign_in
from tests.conftest import Gateway, GatewayFactory
from tests.integration.test_presence import set_org


async def me_of(gw: Gateway, email: str) -> dict[str, Any]:
    _, me = await gw.request("GET", "/api/auth/me", token=await gw.login(email))
    assert isinstance(me, dict)
    return me


async def test_pausing_shows_on_the_wallboard_live(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    gw = await start_gateway()
    me = await me_of(gw, "agent1@demo.test")
    # The manager and the agent share nothing but the gateway.
    manager = await new_page(browser)
    await sign_in(manager, f"{gw.url}/manager", "manager@demo.test")
    row = manager.locator(f"#agent-rows tr[data-agent-id='{me['id']}']")
    await expect(row).to_have_attribute("data-state", "offline")

    agent = await new_page(browser)
    await sign_in(agent, f"{gw.url}/app/", "agent1@demo.test")
    status = agent.get_by_label("My status")
    # Connecting made the agent available, and the wallboard heard of it.
    await expect(status).to_have_value("available")
    await expect(row).to_have_attribute("data-state", "available")

    await status.select_option(label="Paused — Lunch")
    await expect(agent.locator("#presence-box .dot")).to_have_attribute("data-state", "paused")
    await expect(row).to_have_attribute("data-state", "paused")
    await expect(row).to_contain_text("Paused (Lunch)")
    ticker = row.locator(".ticker")
    await expect(ticker).to_have_text(re.compile(r"^0:0\d$"))
    first = await ticker.text_content()
    await expect(ticker).not_to_have_text(first or "", timeout=3_000)
    _, board = await gw.request("GET", "/api/presence", token=await gw.login("manager@demo.test"))
    mine = next(p for p in board["data"] if p["user_id"] == me["id"])
    assert (mine["state"], mine["reason"]) == ("paused", "lunch")

    await status.select_option(label="Available")
    await expect(row).to_have_attribute("data-state", "available")
    await expect(row).not_to_contain_text("Lunch")
    assert js_errors(manager) == [] and js_errors(agent) == []


async def test_progressive_dialing_offers_skips_and_dials_the_next_lead(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    gw = await start_gateway(PROGRESSIVE_COUNTDOWN_S=3.0)
    await set_org(gw, wrapup_limit_s=1)
    agent_token = await gw.login("agent1@demo.test")
    _, queue = await gw.request("GET", "/api/queue", token=agent_token)
    first, second, third = (e["lead"] for e in queue["data"][:3])

    page = await new_page(browser)
    await sign_in(page, f"{gw.url}/app/", "agent1@demo.test")
    await expect(page.locator("#queue-list .lead-item").first).to_contain_text(first["name"])
    await page.locator("#queue-list").get_by_role("button", name=f"Call {first['name']}").click()
    await expect(page.locator("#wrapup-panel")).to_be_visible(timeout=15_000)
    # Switched on during the wrap-up: the next lead is offered once the wrap-up ends.
    await page.get_by_label("Dial my queue automatically").check()
    panel = page.locator("#progressive-panel")
    await expect(panel).to_contain_text(f"Next: {second['name']}", timeout=5_000)
    countdown = page.locator("#next-countdown")
    await expect(countdown).to_have_text(re.compile(r"^[1-3]$"))

    await panel.get_by_role("button", name="Skip").click()
    await expect(panel).to_contain_text(f"Next: {third['name']}")
    await expect(countdown).to_have_text(re.compile(r"^[0-2]$"), timeout=4_000)
    # The countdown ran out: the gateway dialed the lead, and the console follows the call.
    await expect(page.locator("#call-panel")).to_contain_text(third["name"], timeout=5_000)
    await expect(page.locator("#call-state")).to_have_text(
        re.compile("Dialing|Ringing|In progress|Completed")
    )
    _, calls = await gw.request("GET", "/api/calls", token=agent_token)
    assert [c["lead_id"] for c in calls["data"]][:2] == [third["id"], first["id"]]
    assert second["id"] not in [c["lead_id"] for c in calls["data"]]
    assert js_errors(page) == []


async def test_bulk_assignment_changes_the_owners(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    gw = await start_gateway()
    manager = await me_of(gw, "manager@demo.test")
    arjun = await me_of(gw, "agent2@demo.test")
    page = await new_page(browser)
    await sign_in(page, f"{gw.url}/manager#leads", "manager@demo.test")

    table = page.get_by_role("table")
    await expect(table.get_by_role("row", name="Priya Sharma")).to_contain_text("Anita Agent")
    await page.get_by_label("Select Priya Sharma").check()
    await page.get_by_label("Select Sneha Iyer").check()
    await expect(page.get_by_text("2 selected")).to_be_visible()
    await page.get_by_label("Assign selected to").select_option(label="Arjun Agent")
    await page.get_by_role("button", name="Assign", exact=True).click()
    await expect(page.get_by_role("status").filter(has_text="2 leads assigned.")).to_be_visible()
    # The table reloads from the server.
    await expect(table.get_by_role("row", name="Priya Sharma")).to_contain_text("Arjun Agent")
    await expect(page.get_by_text("0 selected")).to_be_visible()

    token = await gw.login("manager@demo.test")
    _, leads = await gw.request("GET", "/api/leads?limit=200", token=token)
    moved = {x["name"]: x for x in leads["data"] if x["name"] in ("Priya Sharma", "Sneha Iyer")}
    assert len(moved) == 2 and {x["owner_id"] for x in moved.values()} == {arjun["id"]}, moved
    for lead in moved.values():
        _, trail = await gw.request("GET", f"/api/leads/{lead['id']}/assignments", token=token)
        latest = trail["data"][0]
        assert (latest["agent_id"], latest["method"], latest["assigned_by"]) == (
            arjun["id"],
            "bulk",
            manager["id"],
        ), latest
    assert js_errors(page) == []


async def test_csv_import_shows_its_progress_and_row_issues(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    # Parsing in a thread: parser processes forked from this test process (which also runs
    # Playwright's driver) do not shut down when the gateway closes.
    gw = await start_gateway(IMPORT_WORKERS=0)
    page = await new_page(browser)
    await sign_in(page, f"{gw.url}/manager#import", "manager@demo.test")
    csv = b"name,phone\nA One,98111 11111\nB Two,98222 22222\nC Three,98333 33333\nD Four,12\n"
    await page.get_by_label("CSV file").set_input_files(
        {"name": "leads.csv", "mimeType": "text/csv", "buffer": csv}
    )
    await page.get_by_role("button", name="Import").click()
    job = page.locator(".job")
    await expect(job).to_contain_text(re.compile(r"Import #\d+: completed"))
    await expect(page.locator("#import-progress")).to_have_js_property("value", 100)
    await expect(page.locator("#import-counts")).to_have_text(
        re.compile(r"^4 of 4 rows · 3 created · 1 errors$")
    )
    issues = page.get_by_role("list", name="Rows with issues")
    await expect(issues.get_by_role("listitem")).to_have_count(1)
    await expect(issues).to_contain_text("row 5")

    token = await gw.login("manager@demo.test")
    _, jobs = await gw.request("GET", "/api/imports", token=token)
    latest = jobs["data"][0]
    assert (latest["filename"], latest["status"]) == ("leads.csv", "completed"), latest
    _, leads = await gw.request("GET", "/api/leads?limit=200", token=token)
    names = {x["name"] for x in leads["data"]}
    assert {"A One", "B Two", "C Three"} <= names and "D Four" not in names
    assert js_errors(page) == []
