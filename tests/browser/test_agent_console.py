"""The agent console in a real browser: sign in, dial a lead, follow the call, wrap up."""

import re
from datetime import UTC, datetime, timedelta

from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import (
    js_errors,
    new_page,
    screenshot,
    sign_in,
    unlabelled_controls,
)
from tests.conftest import Gateway, GatewayFactory
from tests.integration.test_inbound_and_openapi import ring_in
from tests.integration.test_presence import set_org

# Records every text #call-state shows, so fast transitions are not missed between polls.
RECORD_CALL_STATES = """
() => {
  window.callStates = [];
  const panel = document.querySelector('#call-panel');
  const note = () => {
    const el = document.querySelector('#call-state');
    const text = el ? el.textContent : null;
    const seen = window.callStates;
    if (text && seen[seen.length - 1] !== text) seen.push(text);
  };
  new MutationObserver(note).observe(panel, {subtree: true, childList: true, characterData: true});
  note();
}
"""


async def dial_priya(page: Page, gw: Gateway) -> None:
    await sign_in(page, f"{gw.url}/app/", "agent1@demo.test")
    queue = page.locator("#queue-list")
    await expect(queue.locator(".lead-item")).not_to_have_count(0)
    await queue.get_by_role("button", name=re.compile("^Priya Sharma")).click()
    await expect(page.locator("#lead-title")).to_have_text("Priya Sharma")
    await page.evaluate(RECORD_CALL_STATES)
    await page.locator("#lead-panel").get_by_role("button", name=re.compile("^Call Priya")).click()


async def test_agent_dials_a_lead_and_sees_the_call_through(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    # Slow enough that "in progress" lasts a couple of seconds on screen.
    gw = await start_gateway(SANDBOX_SPEED=2.0)
    page = await new_page(browser)
    await dial_priya(page, gw)
    await screenshot(page, "agent-console")

    state = page.locator("#call-state")
    await expect(state).to_have_attribute("aria-live", "polite")
    await expect(state).to_have_text("In progress")
    await expect(page.locator("#hangup")).to_be_visible()
    # The status menu is locked during the call, and still says so legibly.
    status_menu = page.get_by_label("My status")
    await expect(status_menu).to_be_disabled()
    await expect(status_menu).to_have_value("on-call")
    ink, paper, opacity = await status_menu.evaluate(
        "el => { const c = getComputedStyle(el); return [c.color, c.backgroundColor, c.opacity]; }"
    )
    assert ink != paper and opacity == "1", (ink, paper, opacity)
    await expect(page.locator("#call-timer")).to_have_text(re.compile(r"^0:0\d$"))
    await screenshot(page, "live-call")
    await expect(state).to_have_text("Completed", timeout=15_000)
    seen = await page.evaluate("window.callStates")
    assert "Ringing" in seen and "In progress" in seen, seen
    assert seen.index("Ringing") < seen.index("In progress") < seen.index("Completed"), seen

    # Wrap-up: the dispositions come from the organization's vocabulary.
    wrapup = page.locator("#wrapup-panel")
    await expect(wrapup).to_be_visible()
    options = await page.locator("#wrapup-code option").all_text_contents()
    assert "Interested" in options and "Call back later" in options, options
    await expect(page.get_by_label("Notes", exact=True)).to_be_editable()
    await expect(page.get_by_label("Due")).to_have_attribute("type", "datetime-local")
    # The lead's timeline shows the finished call.
    await expect(page.locator("#lead-panel .timeline li").first).to_contain_text("Completed")
    await screenshot(page, "wrap-up")
    assert await unlabelled_controls(page) == []

    status, calls = await gw.request("GET", "/api/calls", token=await gw.login("agent1@demo.test"))
    assert status == 200 and calls["data"][0]["status"] == "completed"
    assert js_errors(page) == []


async def test_refused_dial_shows_its_reason(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    gw = await start_gateway()
    manager = await gw.login("manager@demo.test")
    status, _ = await gw.request(
        "POST", "/api/dnc", token=manager, json={"number": "98765 43210", "reason": "asked"}
    )
    assert status == 201
    page = await new_page(browser)
    await sign_in(page, f"{gw.url}/app/", "agent1@demo.test")
    # The queue leaves out numbers on the list, so the agent types it.
    queue = page.locator("#queue-list")
    await expect(queue.locator(".lead-item")).not_to_have_count(0)
    await expect(queue).not_to_contain_text("Priya Sharma")
    pad = page.get_by_label("Number", exact=True)
    await pad.fill("98765 43210")
    await pad.press("Enter")
    alert = page.get_by_role("alert").filter(has_text="Dial refused")
    await expect(alert).to_contain_text("do-not-call list (dnc)")
    await expect(page.locator("#call-state")).to_have_text("No call")
    status, calls = await gw.request("GET", "/api/calls", token=await gw.login("agent1@demo.test"))
    assert status == 200 and calls["data"] == []


async def test_dial_pad_formats_as_you_type_and_dials_from_the_keyboard(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    gw = await start_gateway()
    # A phone-width screen: the console stacks into one column.
    page = await new_page(browser, width=390, height=844)
    await sign_in(page, f"{gw.url}/app/", "agent1@demo.test")
    pad = page.get_by_label("Number", exact=True)
    # Digits typed outside any field go to the dial pad.
    await page.get_by_role("heading", name="My queue").click()
    await page.keyboard.type("98765")
    await expect(pad).to_be_focused()
    await pad.press_sequentially("43210")
    # Formatted for the agent's own country (their number is Indian).
    await expect(pad).to_have_value("98765 43210")
    await expect(page.locator("#pad-hint")).to_have_text("Will dial +91 98765 43210")
    await screenshot(page, "agent-console-phone")
    # The bar keeps to two rows (brand, status, connection; then the agent and account).
    bar = await page.locator("header.topbar").bounding_box()
    status_box = await page.get_by_label("My status").bounding_box()
    sign_out = await page.get_by_role("button", name="Sign out").bounding_box()
    assert bar is not None and status_box is not None and sign_out is not None
    assert bar["height"] <= 96, bar
    assert status_box["y"] < bar["y"] + bar["height"] / 2 < sign_out["y"], (status_box, sign_out)
    await pad.press("Enter")
    await expect(page.locator("#call-state")).to_have_text(
        re.compile("Dialing|Ringing|In progress|Completed")
    )
    status, calls = await gw.request("GET", "/api/calls", token=await gw.login("agent1@demo.test"))
    assert status == 200 and calls["data"][0]["to_number"] == "+919876543210"
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the page scrolls sideways at phone width"
    assert js_errors(page) == []


async def test_wrap_up_saves_the_disposition(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    gw = await start_gateway()
    page = await new_page(browser)
    await dial_priya(page, gw)
    await expect(page.locator("#wrapup-panel")).to_be_visible(timeout=15_000)
    await page.get_by_label("Disposition").select_option("interested")
    await page.get_by_label("Notes", exact=True).fill("Wants a quote for 40 units")
    await page.get_by_role("button", name="Save wrap-up").click()
    await expect(page.get_by_role("status").filter(has_text="Wrap-up saved")).to_be_visible()
    await expect(page.locator("#wrapup-panel")).to_be_hidden()
    # The wrap-up lasts up to a minute by default: only the disposition can have ended it.
    await expect(page.get_by_label("My status")).to_have_value("available")
    agent = await gw.login("agent1@demo.test")
    _, board = await gw.request("GET", "/api/presence", token=agent)
    assert board["data"][0]["state"] == "available"
    _, calls = await gw.request("GET", "/api/calls", token=agent)
    call = calls["data"][0]
    status, saved = await gw.request("GET", f"/api/calls/{call['id']}/disposition", token=agent)
    assert status == 200, saved
    assert (saved["code"], saved["notes"]) == ("interested", "Wants a quote for 40 units")
    # The "interested" disposition moves the lead to the status it names.
    _, lead = await gw.request("GET", f"/api/leads/{call['lead_id']}", token=agent)
    assert lead["status"] == "interested"
    # The lead's timeline shows the change.
    await expect(page.locator("#lead-panel .timeline")).to_contain_text("Status → Interested")


async def test_real_events_show_as_notifications(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    """Each notification comes from the real action behind it: a manager's assignment, a
    follow-up coming due, and calls placed through the sandbox carrier."""
    gw = await start_gateway(FOLLOWUP_SWEEP_INTERVAL_S=0.3)
    await set_org(gw, wrapup_limit_s=0)
    agent_token = await gw.login("agent1@demo.test")
    manager_token = await gw.login("manager@demo.test")
    _, me = await gw.request("GET", "/api/auth/me", token=agent_token)
    _, leads = await gw.request("GET", "/api/leads?limit=200", token=manager_token)
    by_name = {lead["name"]: lead for lead in leads["data"]}
    priya = by_name["Priya Sharma"]
    assert priya["owner_id"] == me["id"]
    pool = next(lead for lead in leads["data"] if lead["owner_id"] is None)

    page = await new_page(browser)
    await sign_in(page, f"{gw.url}/app/", "agent1@demo.test")
    await expect(page.get_by_label("My status")).to_have_value("available")
    toasts = page.get_by_role("region", name="Notifications")

    # A manager gives the agent a lead from the team's pool.
    status, body = await gw.request(
        "POST", f"/api/leads/{pool['id']}/assign", manager_token, json={"agent_id": me["id"]}
    )
    assert status == 200, body
    assigned = toasts.get_by_role("status").filter(has_text="New lead assigned")
    await expect(assigned).to_contain_text(f"{pool['name']} ({pool['company']})")

    # A follow-up the agent set comes due; the gateway's sweep reminds her.
    due = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    status, body = await gw.request(
        "POST",
        f"/api/leads/{priya['id']}/follow-ups",
        agent_token,
        json={"due_at": due, "note": "send the quote"},
    )
    assert status == 201, body
    await expect(toasts.get_by_role("status").filter(has_text="Follow-up due")).to_contain_text(
        "Priya Sharma — send the quote"
    )

    # Paused, with nobody else free: Priya's call through the carrier is missed.
    await page.get_by_label("My status").select_option(label="Paused — Lunch")
    await expect(page.locator("#presence-box .dot")).to_have_attribute("data-state", "paused")
    await ring_in(gw, priya["phone"])
    await expect(toasts.get_by_role("alert")).to_contain_text("Priya Sharma called and was missed")

    # Available again: her next call rings this agent, whose console opens her lead.
    await page.get_by_label("My status").select_option(label="Available")
    await expect(page.get_by_label("My status")).to_have_value("available")
    await page.evaluate(RECORD_CALL_STATES)
    await ring_in(gw, priya["phone"])
    await expect(toasts.get_by_role("status").filter(has_text="Incoming call")).to_contain_text(
        "Priya Sharma is calling"
    )
    await expect(page.locator("#lead-title")).to_have_text("Priya Sharma")
    await expect(page.locator("#call-state")).to_have_text("Completed", timeout=15_000)
    seen = await page.evaluate("window.callStates")
    assert "Ringing" in seen and seen.index("Ringing") < seen.index("Completed"), seen

    _, calls = await gw.request("GET", "/api/calls", token=manager_token)
    inbound = [c for c in calls["data"] if c["direction"] == "inbound"]
    # Newest first: the call the agent took, then the one that rang nobody.
    assert [(c["agent_id"], c["status"]) for c in inbound] == [
        (me["id"], "completed"),
        (None, "completed"),
    ], inbound
    assert js_errors(page) == []
