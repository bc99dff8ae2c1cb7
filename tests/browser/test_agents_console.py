"""Agents in the manager console: the attributes assignment rules read, edited through the page."""

from typing import Any

from playwright.async_api import Browser, expect

from tests.browser.conftest import (
    js_errors,
    new_page,
    screenshot,
    sideways_scroll,
    sign_in,
    unlabelled_controls,
)
from tests.conftest import Gateway, GatewayFactory


async def people(gw: Gateway, token: str) -> dict[str, dict[str, Any]]:
    status, body = await gw.request("GET", "/api/users", token)
    assert status == 200, body
    return {u["email"]: u for u in body["data"]}


async def test_manager_edits_an_agent_and_a_territory_rule_then_picks_them(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    gw = await start_gateway()
    admin = await gw.login("admin@demo.test")
    token = await gw.login("manager@demo.test")
    status, spare = await gw.request(
        "POST",
        "/api/carrier-accounts",
        admin,
        json={
            "carrier": "sandbox",
            "name": "West coast",
            "credentials": {"api_key": "sk_sandbox_west_coast_1"},
            "numbers": ["+1 650 253 0001"],
        },
    )
    assert status == 201, spare
    before = await people(gw, token)
    arjun = before["agent2@demo.test"]

    page = await new_page(browser)
    await sign_in(page, f"{gw.url}/manager#agents", "manager@demo.test")
    table = page.get_by_role("table", name="Agents and their assignment attributes")
    row = table.locator(f'tr[data-user-id="{arjun["id"]}"]')
    await expect(row).to_contain_text("Inside Sales")
    await expect(table.locator("tbody tr")).to_have_count(3)
    # The manager edits their team's agents, not themselves.
    manager_row = table.locator(f'tr[data-user-id="{before["manager@demo.test"]["id"]}"]')
    await expect(manager_row.get_by_role("button")).to_have_count(0)
    # Presence follows the live pushes: Anita opens her console.
    anita_row = table.locator(f'tr[data-user-id="{before["agent1@demo.test"]["id"]}"]')
    await expect(anita_row.locator("td.state-cell")).to_have_text("Offline")
    agent = await new_page(browser)
    await sign_in(agent, f"{gw.url}/app/", "agent1@demo.test")
    await expect(anita_row.locator("td.state-cell")).to_have_text("Available")

    edit = page.get_by_role("button", name="Edit Arjun Agent")
    await edit.focus()
    await page.keyboard.press("Enter")
    form = page.get_by_role("form", name="Edit Arjun Agent")
    await expect(page.get_by_label("Name")).to_be_focused()
    # Roles and teams are for admins: a manager's form does not offer them.
    await expect(form.get_by_label("Role")).to_have_count(0)
    await expect(form.get_by_label("Team")).to_have_count(0)
    await expect(form).to_contain_text("Team: Inside Sales")

    territories = form.get_by_label("Territories")
    await territories.fill("US:California, Narnia")
    await form.get_by_label("Skills").fill("loans, cards")
    await form.get_by_label("Weight").fill("3")
    await form.get_by_role("button", name="Save agent").click()
    await expect(territories).to_have_attribute("aria-invalid", "true")
    await expect(territories).to_be_focused()
    await expect(page.locator("#agent-territories-error")).to_have_text(
        "Entry 2: 'Narnia' is not an ISO country code or COUNTRY:Region"
    )
    described = await territories.get_attribute("aria-describedby")
    assert described is not None and "agent-territories-error" in described.split()
    # What was typed survives the refusal, and nothing was saved.
    await expect(form.get_by_label("Skills")).to_have_value("loans, cards")
    await expect(form.get_by_label("Weight")).to_have_value("3")
    await screenshot(page, "manager-agents-error")
    assert (await people(gw, token))["agent2@demo.test"]["skills"] == []

    await territories.fill("US:California, IN")
    await form.get_by_label("Languages").fill("hi, en")
    await form.get_by_label("Open-lead cap").fill("25")
    await form.get_by_label("Daily lead cap").fill("5")
    await form.get_by_label("Caller ID (number calls go out from)").select_option(
        label="+1 650 253 0001 (West coast)"
    )
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status").filter(has_text="Arjun Agent saved.")).to_be_visible()
    await expect(form).to_have_count(0)
    await expect(edit).to_be_focused()
    await expect(row).to_contain_text("US:California, IN")
    await expect(row).to_contain_text("loans, cards")
    await expect(row).to_contain_text("+1 650 253 0001")

    saved = (await people(gw, token))["agent2@demo.test"]
    assert saved["territories"] == ["US:California", "IN"]
    assert (saved["skills"], saved["languages"]) == (["loans", "cards"], ["hi", "en"])
    assert (saved["weight"], saved["max_open_leads"], saved["max_daily_leads"]) == (3, 25, 5)
    assert saved["caller_id"] == "+16502530001"
    # Untouched fields stay as they were.
    assert (saved["name"], saved["phone"], saved["shift_start"]) == (
        arjun["name"],
        arjun["phone"],
        None,
    )
    await screenshot(page, "manager-agents")
    assert await unlabelled_controls(page) == []

    # A territory rule ahead of the team's round robin now gives a Californian lead to Arjun,
    # who is offline: the rule considers offline agents too.
    status, rule = await gw.request(
        "POST",
        "/api/assignment-rules",
        token,
        json={"kind": "territory", "config": {"include_offline": True}},
    )
    assert status == 201, rule
    _, rules = await gw.request("GET", "/api/assignment-rules", token)
    order = [rule["id"]] + [r["id"] for r in rules["data"] if r["id"] != rule["id"]]
    status, body = await gw.request(
        "PUT", "/api/assignment-rules/order", token, json={"rule_ids": order}
    )
    assert status == 200, body
    status, lead = await gw.request(
        "POST", "/api/leads", token, json={"name": "Mountain View Co", "phone": "+1 650 253 0000"}
    )
    assert status == 201 and lead["owner_id"] == arjun["id"], lead
    _, trail = await gw.request("GET", f"/api/leads/{lead['id']}/assignments", token)
    (entry,) = trail["data"]
    assert entry["rule_id"] == rule["id"] and "US:California" in entry["reason"], entry

    await page.get_by_role("link", name="Leads").click()
    await page.reload()
    await expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
    lead_row = page.locator(f'tr[data-lead-id="{lead["id"]}"]')
    await expect(lead_row).to_contain_text("Arjun Agent")
    assert js_errors(page) == [] and js_errors(agent) == []


async def test_admin_changes_role_team_and_shift_at_phone_width(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    gw = await start_gateway()
    admin = await gw.login("admin@demo.test")
    status, team = await gw.request("POST", "/api/teams", admin, json={"name": "Renewals"})
    assert status == 201, team
    before = await people(gw, admin)
    anita = before["agent1@demo.test"]

    page = await new_page(browser, width=390, height=844)
    await sign_in(page, f"{gw.url}/manager#agents", "admin@demo.test")
    table = page.get_by_role("table", name="Agents and their assignment attributes")
    await expect(table.locator("tbody tr")).to_have_count(4)

    # Admins cannot take away their own role or access.
    await page.get_by_role("button", name="Edit Asha Admin").click()
    own = page.get_by_role("form", name="Edit Asha Admin")
    await expect(own.get_by_label("Role")).to_be_disabled()
    await expect(own.get_by_label("Active (can sign in and take leads)")).to_be_disabled()
    await page.keyboard.press("Escape")
    await expect(own).to_have_count(0)
    await expect(page.get_by_role("button", name="Edit Asha Admin")).to_be_focused()

    await page.get_by_role("button", name="Edit Anita Agent").click()
    form = page.get_by_role("form", name="Edit Anita Agent")
    # A shift with a start and no end: the API names the end, and the page shows it there.
    await form.get_by_label("Shift starts").fill("22:00")
    await form.get_by_label("Team").select_option(label="Renewals")
    await form.get_by_role("button", name="Save agent").click()
    end = form.get_by_label("Shift ends")
    await expect(end).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#agent-shift-end-error")).to_have_text(
        "a shift needs both its start and its end"
    )
    await expect(form.get_by_label("Team")).to_have_value(str(team["id"]))
    assert not await sideways_scroll(page), "the agents page scrolls sideways at phone width"
    await screenshot(page, "manager-agents-phone")
    assert await unlabelled_controls(page) == []

    await end.fill("06:00")
    await form.get_by_label("Role").select_option(label="Manager")
    await form.get_by_role("button", name="Save agent").click()
    await expect(page.get_by_role("status").filter(has_text="Anita Agent saved.")).to_be_visible()
    row = table.locator(f'tr[data-user-id="{anita["id"]}"]')
    await expect(row).to_contain_text("22:00\u201306:00")
    await expect(row).to_contain_text("Renewals")
    await expect(row).to_contain_text("Manager")
    saved = (await people(gw, admin))["agent1@demo.test"]
    assert (saved["shift_start"], saved["shift_end"]) == ("22:00", "06:00")
    assert (saved["team_id"], saved["role"]) == (team["id"], "manager")

    # Deactivated from the form: the row says so and the API agrees.
    await page.get_by_role("button", name="Edit Arjun Agent").click()
    form = page.get_by_role("form", name="Edit Arjun Agent")
    await form.get_by_label("Active (can sign in and take leads)").uncheck()
    await form.get_by_role("button", name="Save agent").click()
    arjun = table.locator(f'tr[data-user-id="{before["agent2@demo.test"]["id"]}"]')
    await expect(arjun).to_have_attribute("data-active", "false")
    await expect(arjun).to_contain_text("Deactivated")
    assert (await people(gw, admin))["agent2@demo.test"]["is_active"] is False
    assert not await sideways_scroll(page)
    assert js_errors(page) == []


async def test_admin_adds_a_team_and_an_agent_who_signs_in_with_the_shown_password(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    gw = await start_gateway()
    admin = await gw.login("admin@demo.test")
    manager_page = await new_page(browser)
    await sign_in(manager_page, f"{gw.url}/manager#agents", "manager@demo.test")
    await expect(manager_page.locator("#people")).to_be_visible()
    # The API lets only admins create users and teams: managers are not offered it.
    await expect(manager_page.get_by_role("button", name="Add agent")).to_have_count(0)
    await expect(manager_page.get_by_role("button", name="Add team")).to_have_count(0)

    page = await new_page(browser)
    await sign_in(page, f"{gw.url}/manager#agents", "admin@demo.test")
    await page.get_by_role("button", name="Add team").click()
    team_form = page.get_by_role("form", name="Add team")
    name = team_form.get_by_label("Team name")
    await expect(name).to_be_focused()
    # A name taken (in another case): the API's refusal stands under the field.
    await name.fill("inside sales")
    await page.keyboard.press("Enter")
    await expect(name).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#new-team-name-error")).to_have_text("a team with this name exists")
    await name.fill("Renewals")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status").filter(has_text="Team Renewals added")).to_be_visible()
    await expect(team_form).to_have_count(0)
    _, teams = await gw.request("GET", "/api/teams", admin)
    (renewals,) = [t for t in teams["data"] if t["name"] == "Renewals"]

    await page.get_by_role("button", name="Add agent").click()
    form = page.get_by_role("form", name="Add agent")
    await expect(form.get_by_label("Name")).to_be_focused()
    password = form.get_by_label("Initial password")
    generated = await password.input_value()
    assert len(generated) == 16
    await form.get_by_label("Name").fill("Ravi Renewals")
    # An e-mail already in use: refused next to the field, the rest kept.
    await form.get_by_label("E-mail (signs in with it)").fill("agent1@demo.test")
    await form.get_by_label("Team").select_option(label="Renewals")
    await form.get_by_label("Phone the dialer rings").fill("98450 77001")
    await form.get_by_role("button", name="Add agent").click()
    email = form.get_by_label("E-mail (signs in with it)")
    await expect(email).to_have_attribute("aria-invalid", "true")
    await expect(email).to_be_focused()
    await expect(page.locator("#new-agent-email-error")).to_have_text(
        "a user with this e-mail exists"
    )
    await expect(password).to_have_value(generated)
    await expect(form.get_by_label("Team")).to_have_value(str(renewals["id"]))
    await screenshot(page, "manager-add-agent")
    assert await unlabelled_controls(page) == []
    # Too short a password of one's own is the API's to refuse, in place too.
    await email.fill("ravi@demo.test")
    await password.fill("short")
    await form.get_by_role("button", name="Add agent").click()
    await expect(password).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#new-agent-password-error")).to_contain_text("8 characters")
    await password.fill(generated)
    await form.get_by_role("button", name="Add agent").click()

    shown = page.get_by_role("region", name="Ravi Renewals was added: their sign-in details")
    await expect(shown).to_contain_text("Shown only now.")
    await expect(page.locator("#new-agent-done")).to_be_focused()
    shown_email = await page.locator("#new-agent-login").inner_text()
    shown_password = await page.locator("#new-agent-secret").inner_text()
    assert (shown_email, shown_password) == ("ravi@demo.test", generated)
    await screenshot(page, "manager-agent-added")
    table = page.get_by_role("table", name="Agents and their assignment attributes")
    await expect(table.locator("tbody tr").filter(has_text="Ravi Renewals")).to_contain_text(
        "Renewals"
    )

    # The real effect: the agent signs in with what the page showed.
    token = await gw.login(shown_email, shown_password)
    status, me = await gw.request("GET", "/api/users", token)
    assert status == 200, me
    (ravi,) = me["data"]
    assert (ravi["name"], ravi["role"], ravi["team_id"], ravi["phone"]) == (
        "Ravi Renewals",
        "agent",
        renewals["id"],
        "+919845077001",
    )
    # Once dismissed, the password is gone from the page for good.
    await page.locator("#new-agent-done").click()
    await expect(shown).to_have_count(0)
    await expect(page.get_by_role("button", name="Add agent")).to_be_focused()
    assert generated not in await page.content()
    assert js_errors(page) == [] and js_errors(manager_page) == []
