"""The manager console in a real browser: the wallboard follows an agent live; reports draw,
including how fast missed calls were called back."""

import asyncio
import csv
import re
from typing import Any

from playwright.async_api import Browser, expect

from tests.browser.conftest import (
    js_errors,
    new_page,
    screenshot,
    sign_in,
    unlabelled_controls,
)
from tests.conftest import Gateway, GatewayFactory
from tests.integration.test_inbound_and_openapi import ring_in


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
    await expect(manager.locator(".chart canvas")).to_have_count(4)
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


async def inbound_calls(gw: Gateway, token: str, count: int) -> list[dict[str, Any]]:
    """The organization's inbound calls once `count` of them have ended."""
    async with asyncio.timeout(15):
        while True:
            _, calls = await gw.request("GET", "/api/calls?limit=100", token=token)
            ended = [
                c
                for c in calls["data"]
                if c["direction"] == "inbound" and c["status"] == "completed"
            ]
            if len(ended) >= count:
                return ended
            await asyncio.sleep(0.1)


async def test_reports_chart_how_fast_missed_calls_were_called_back(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    gw = await start_gateway(SANDBOX_SPEED=4.0)
    manager_token = await gw.login("manager@demo.test")
    agent_token = await gw.login("agent1@demo.test")
    _, leads = await gw.request("GET", "/api/leads?limit=200", token=manager_token)
    by_name = {lead["name"]: lead for lead in leads["data"]}
    priya, sneha = by_name["Priya Sharma"], by_name["Sneha Iyer"]

    # Two customers call through the carrier while no agent is signed in: both are missed.
    await ring_in(gw, priya["phone"])
    await ring_in(gw, sneha["phone"])
    missed = await inbound_calls(gw, manager_token, 2)
    assert {c["agent_id"] for c in missed} == {None}, missed
    # Priya is called back; Sneha never is.
    status, call = await gw.request(
        "POST", "/api/calls", token=agent_token, json={"lead_id": priya["id"]}
    )
    assert status == 202, call
    async with asyncio.timeout(15):
        while call["status"] != "completed":
            await asyncio.sleep(0.1)
            _, call = await gw.request("GET", f"/api/calls/{call['id']}", token=agent_token)
    _, report = await gw.request("GET", "/api/reports/never-attended", token=manager_token)
    assert report["summary"] == {"missed": 2, "called_back": 1, "never_attended": 1}, report

    page = await new_page(browser)
    await sign_in(page, f"{gw.url}/manager#reports", "manager@demo.test")
    section = page.get_by_role("region", name="Missed-call callbacks")
    figures = section.locator("#callback-figures")
    await expect(figures).to_contain_text("Missed 2")
    await expect(figures).to_contain_text("Called back 1")
    await expect(figures).to_contain_text("Never called back 1")
    latency = section.get_by_role("table", name="Callback latency")
    await expect(latency.get_by_role("row", name="Under 5 min")).to_have_text(
        re.compile(r"Under 5 min\s*1")
    )
    await expect(latency.get_by_role("row", name="Over 3 days")).to_have_text(
        re.compile(r"Over 3 days\s*0")
    )
    chart = section.get_by_role("figure", name="Callback latency (calls called back)")
    await expect(chart.locator("canvas")).to_have_count(1)
    await expect(page.locator(".chart canvas")).to_have_count(4)
    # The callback is itself a call of the agent's in the other reports.
    by_agent = page.get_by_role("table", name="Calls per agent")
    await expect(by_agent.get_by_role("row", name=re.compile("^Anita Agent"))).to_contain_text(
        "100%"
    )
    await screenshot(page, "manager-reports")
    assert await unlabelled_controls(page) == []

    await page.set_viewport_size({"width": 390, "height": 844})
    await section.scroll_into_view_if_needed()
    await screenshot(page, "manager-reports-phone")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the reports page scrolls sideways at phone width"
    assert js_errors(page) == []


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
