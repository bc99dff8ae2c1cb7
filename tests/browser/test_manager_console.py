"""The manager console in a real browser: the wallboard follows an agent live; reports draw."""

import asyncio
import csv
import re

from playwright.async_api import Browser, expect

from tests.browser.conftest import (
    js_errors,
    new_page,
    screenshot,
    sign_in,
    unlabelled_controls,
)
from tests.conftest import GatewayFactory


async def test_wallboard_follows_an_agents_call_live_and_reports_draw(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    gw = await start_gateway(SANDBOX_SPEED=2.0)
    agent_token = await gw.login("agent1@demo.test")
    _, me = await gw.request("GET", "/api/auth/me", token=agent_token)

    manager = await new_page(browser)
    await sign_in(manager, f"{gw.url}/manager", "manager@demo.test")
    await expect(manager.get_by_role("heading", name="Agents")).to_be_visible()

    # The agent works in a second browser context: nothing shared but the gateway.
    agent = await new_page(browser)
    await sign_in(agent, f"{gw.url}/app/", "agent1@demo.test")
    await agent.locator("#queue-list").get_by_role("button", name=re.compile("^Call Priya")).click()

    row = manager.locator(f"#agent-rows tr[data-agent-id='{me['id']}']")
    await expect(row).to_have_attribute("data-state", "on-call")
    await expect(row).to_contain_text("Priya Sharma")
    await expect(row.locator(".badge")).to_have_text(re.compile("Ringing|In progress"))
    await expect(row.locator(".badge")).to_have_text("In progress")
    await screenshot(manager, "manager-wallboard")
    # When the call ends the row leaves "on a call" and today's counters count it, no reload.
    await expect(row).not_to_have_attribute("data-state", "on-call", timeout=15_000)
    await expect(row.locator("td.num").nth(1)).to_have_text("1")
    await expect(manager.locator(".tile").first).to_contain_text("1")

    await manager.get_by_role("link", name="Reports").click()
    by_agent = manager.get_by_role("table", name="Calls per agent")
    await expect(by_agent.get_by_role("row", name=re.compile(r"1 1 100%"))).to_be_visible()
    await expect(manager.locator(".chart canvas")).to_have_count(3)
    await screenshot(manager, "manager-reports")
    async with manager.expect_download() as download_info:
        await manager.locator("#csv-agent").click()
    download = await download_info.value
    path = await download.path()
    rows = list(csv.DictReader((await asyncio.to_thread(path.read_text)).splitlines()))
    # The agent's row, then the organization's total.
    assert [(r["agent_id"], r["agent_name"], r["total"], r["connected"]) for r in rows] == [
        (str(me["id"]), "Anita Agent", "1", "1"),
        ("total", "", "1", "1"),
    ], rows

    await manager.get_by_role("link", name="Leads").click()
    await expect(manager.get_by_role("row", name=re.compile("Priya Sharma"))).to_be_visible()
    await manager.get_by_label("Select all leads").check()
    await expect(manager.get_by_text(re.compile(r"^\d+ selected$"))).not_to_have_text("0 selected")
    await screenshot(manager, "manager-leads")
    assert await unlabelled_controls(manager) == []
    assert js_errors(manager) == [] and js_errors(agent) == []


async def test_agents_cannot_use_the_manager_console(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    gw = await start_gateway()
    page = await new_page(browser)
    await page.goto(f"{gw.url}/manager")
    await page.get_by_label("E-mail").fill("agent1@demo.test")
    await page.get_by_label("Password").fill("demo")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "this console is for manager and admin accounts"
    )
    assert await page.evaluate("sessionStorage.getItem('dialgate.token')") is None
