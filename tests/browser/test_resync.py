"""Consoles that lose their live connection catch up when it comes back, without a reload."""

import asyncio
import re
from typing import Any

from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import js_errors, new_page, sign_in
from tests.conftest import Gateway, GatewayFactory
from tests.integration.dialer_client import connect
from tests.integration.test_presence import set_org


async def me_of(gw: Gateway, email: str) -> dict[str, Any]:
    _, me = await gw.request("GET", "/api/auth/me", token=await gw.login(email))
    assert isinstance(me, dict)
    return me


async def go_offline(page: Page) -> None:
    """The page loses the network, as on a flaky link or a laptop put to sleep: Chromium's
    offline mode closes its sockets and refuses new ones until it is back online."""
    await page.context.set_offline(True)
    conn = page.locator("#conn")
    await expect(conn).to_have_attribute("data-state", re.compile("^(disconnected|error)$"))
    await expect(conn).to_have_text(re.compile("^(Reconnecting…|Offline — reconnecting…)$"))


async def back_live(page: Page) -> None:
    """Wait for the badge to say the console is live again (reconnection backs off up to 5 s)."""
    conn = page.locator("#conn")
    await expect(conn).to_have_attribute("data-state", "connected", timeout=15_000)
    await expect(conn).to_have_text("Live")


SNAPSHOT = "(selector) => document.querySelector(selector).dataset.state"


async def until(gw: Gateway, token: str, path: str, done: Any, timeout: float = 15.0) -> Any:
    """Poll a read of the gateway until `done(body)` holds."""
    async with asyncio.timeout(timeout):
        while True:
            status, body = await gw.request("GET", path, token=token)
            assert status == 200, body
            if done(body):
                return body
            await asyncio.sleep(0.1)


async def test_a_call_that_ends_while_offline_shows_ended_after_reconnecting(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    # Slow enough that the call is still in progress when the page drops off.
    gw = await start_gateway(SANDBOX_SPEED=1.0)
    token = await gw.login("agent1@demo.test")
    page = await new_page(browser)
    await sign_in(page, f"{gw.url}/app/", "agent1@demo.test")
    queue = page.locator("#queue-list")
    await queue.get_by_role("button", name=re.compile("^Call Priya Sharma")).click()
    state = page.locator("#call-state")
    await expect(state).to_have_text("In progress", timeout=15_000)

    await go_offline(page)
    calls = await until(
        gw, token, "/api/calls?limit=1", lambda b: b["data"][0]["status"] == "completed"
    )
    call = calls["data"][0]
    # The end was pushed while the page was away: nothing has told it yet.
    await asyncio.sleep(0.5)
    await expect(state).to_have_text("In progress")
    await expect(page.locator("#wrapup-panel")).to_be_hidden()

    await page.context.set_offline(False)
    await back_live(page)
    # "Live" means caught up: the panel is current the moment it shows.
    assert await state.text_content() == "Completed"
    await expect(state).to_have_text("Completed")
    await expect(state).to_have_attribute("data-status", "completed")
    await expect(page.locator("#call-timer")).to_have_text(f"0:0{call['duration_s']}")
    await expect(page.locator("#hangup")).to_have_count(0)
    # The wrap-up the gateway put the agent in shows, and the status says so too.
    wrapup = page.locator("#wrapup-panel")
    await expect(wrapup).to_be_visible()
    await expect(wrapup).to_contain_text("Priya Sharma — Completed")
    await expect(page.get_by_label("My status")).to_have_value("wrap-up")
    assert js_errors(page) == []


async def test_a_call_placed_and_ended_while_offline_is_wrapped_up_after_reconnecting(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    """A call the console never heard of (placed elsewhere while it was away) still gets its
    wrap-up: the agent's presence names the call."""
    gw = await start_gateway()
    token = await gw.login("agent1@demo.test")
    page = await new_page(browser)
    await sign_in(page, f"{gw.url}/app/", "agent1@demo.test")
    await expect(page.get_by_label("My status")).to_have_value("available")
    await expect(page.locator("#call-state")).to_have_text("No call")

    await go_offline(page)
    _, queue = await gw.request("GET", "/api/queue", token=token)
    lead = queue["data"][0]["lead"]
    status, body = await gw.request("POST", "/api/calls", token=token, json={"lead_id": lead["id"]})
    assert status == 202, body
    await until(
        gw,
        token,
        "/api/presence",
        lambda b: (b["data"][0]["state"], b["data"][0]["call_id"]) == ("wrap-up", body["id"]),
    )

    await page.context.set_offline(False)
    await back_live(page)
    await expect(page.locator("#call-state")).to_have_text("Completed")
    await expect(page.locator("#call-panel")).to_contain_text(lead["name"])
    await expect(page.locator("#wrapup-panel")).to_be_visible()
    await expect(page.get_by_label("My status")).to_have_value("wrap-up")
    assert js_errors(page) == []


async def test_the_wallboard_catches_up_on_what_it_missed_while_offline(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    gw = await start_gateway()
    await set_org(gw, wrapup_limit_s=0)
    agent = await me_of(gw, "agent1@demo.test")
    token = await gw.login("agent1@demo.test")
    page = await new_page(browser)
    await sign_in(page, f"{gw.url}/manager", "manager@demo.test")
    row = page.locator(f"#agent-rows tr[data-agent-id='{agent['id']}']")
    await expect(row).to_have_attribute("data-state", "offline")
    calls_today = page.locator(".tile").filter(has_text="Calls today").locator(".tile-value")
    await expect(calls_today).to_have_text("0")

    # The agent comes online while the wallboard is connected: it hears of it live.
    live = await gw.connect(token)
    await expect(row).to_have_attribute("data-state", "available")

    await go_offline(page)
    # While the wallboard is away the agent places a call, then pauses for lunch.
    _, queue = await gw.request("GET", "/api/queue", token=token)
    status, call = await gw.request(
        "POST", "/api/calls", token=token, json={"lead_id": queue["data"][0]["lead"]["id"]}
    )
    assert status == 202, call
    await live.until_ended(call["id"], timeout=15)
    await until(gw, token, "/api/presence", lambda b: b["data"][0]["state"] == "available")
    ack = await live.client.call(
        "set_state", {"state": "paused", "reason": "lunch"}, namespace="/dialer"
    )
    assert ack["ok"], ack
    # Missed: the wallboard still shows what it last heard.
    await asyncio.sleep(0.5)
    await expect(row).to_have_attribute("data-state", "available")
    await expect(calls_today).to_have_text("0")

    await page.context.set_offline(False)
    await back_live(page)
    # "Live" means caught up: the row and the counters are current the moment it shows (not
    # a refresh some time later, which a stray push might or might not set off).
    now = await page.evaluate(SNAPSHOT, f"#agent-rows tr[data-agent-id='{agent['id']}']")
    assert now == "paused", now
    assert await calls_today.text_content() == "1"
    await expect(row).to_have_attribute("data-state", "paused")
    await expect(row).to_contain_text("Paused (Lunch)")
    await expect(calls_today).to_have_text("1")
    # Live again: the next change arrives as a push.
    ack = await live.client.call("set_state", {"state": "available"}, namespace="/dialer")
    assert ack["ok"], ack
    await expect(row).to_have_attribute("data-state", "available")
    assert js_errors(page) == []


async def test_an_offer_made_while_offline_counts_down_after_reconnecting(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    gw = await start_gateway(PROGRESSIVE_COUNTDOWN_S=60)
    token = await gw.login("agent1@demo.test")
    _, queue = await gw.request("GET", "/api/queue", token=token)
    first = queue["data"][0]["lead"]
    page = await new_page(browser)
    await sign_in(page, f"{gw.url}/app/", "agent1@demo.test")
    panel = page.locator("#progressive-panel")
    await expect(panel).to_be_visible()
    await back_live(page)

    await go_offline(page)
    # The agent's other tab switches progressive dialing on: the offer is pushed meanwhile.
    tab = await connect(gw, token)
    mark = tab.mark()
    assert (await tab.call("set_progressive", {"enabled": True}))["ok"] is True
    offer = await tab.wait_event("next_dial", after=mark)
    assert offer["lead"]["id"] == first["id"]
    await asyncio.sleep(0.3)
    await expect(panel).not_to_contain_text("Next:")

    await page.context.set_offline(False)
    await back_live(page)
    await expect(panel).to_contain_text(f"Next: {first['name']}")
    await expect(page.locator("#next-countdown")).to_have_text(re.compile(r"^[45]\d$"))
    # It can be canceled from here: the gateway drops it and dials nothing.
    await panel.get_by_role("button", name="Cancel").click()
    await expect(panel).not_to_contain_text("Next:")
    pending = await until(gw, token, "/api/queue/next", lambda b: b["lead"] is None)
    assert pending["dial_at"] is None
    _, calls = await gw.request("GET", "/api/calls", token=token)
    assert calls["data"] == []
    assert js_errors(page) == []
