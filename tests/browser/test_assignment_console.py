"""Assignment in the manager console: the rules editor and a lead's "why assigned" trail."""

import asyncio
import re
from typing import Any

from playwright.async_api import Browser, Dialog, expect

from tests.browser.conftest import (
    js_errors,
    new_page,
    screenshot,
    sideways_scroll,
    sign_in,
    unlabelled_controls,
)
from tests.conftest import Gateway, GatewayFactory


async def rules_of(gw: Gateway, token: str) -> list[dict[str, Any]]:
    status, body = await gw.request("GET", "/api/assignment-rules", token)
    assert status == 200, body
    return list(body["data"])


async def me_of(gw: Gateway, token: str) -> dict[str, Any]:
    _, me = await gw.request("GET", "/api/auth/me", token=token)
    assert isinstance(me, dict)
    return me


async def test_manager_edits_reorders_disables_and_deletes_rules(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    gw = await start_gateway()
    token = await gw.login("manager@demo.test")
    manager = await me_of(gw, token)
    [demo_rule] = await rules_of(gw, token)
    page = await new_page(browser)
    page.on("dialog", lambda dialog: asyncio.ensure_future(accept(dialog)))
    await sign_in(page, f"{gw.url}/manager#rules", "manager@demo.test")

    rules = page.get_by_role("list", name="Rules in the order they run")
    await expect(rules.get_by_role("listitem")).to_have_count(1)
    await expect(rules).to_contain_text("Round robin")
    await expect(rules).to_contain_text("Team Inside Sales")

    # A skill rule reading a custom field whose name was left out: the API names the field,
    # and the page shows its message next to it.
    await page.get_by_role("button", name="Add rule").click()
    form = page.get_by_role("form", name="New rule")
    await expect(page.get_by_label("Policy")).to_be_focused()
    await page.get_by_label("Policy").select_option(label="Skill")
    await page.get_by_label("What the lead asks for comes from").select_option(
        label="A custom field"
    )
    await page.get_by_label("An agent must have").select_option(label="All of them")
    await form.get_by_role("button", name="Add rule").click()
    name_box = page.get_by_label("Custom field name")
    await expect(name_box).to_have_attribute("aria-invalid", "true")
    await expect(name_box).to_be_focused()
    error = page.locator("#rule-custom-field-error")
    await expect(error).to_have_text("must be tag, lead.language or custom_field:<name>")
    await expect(name_box).to_have_attribute("aria-describedby", "rule-custom-field-error")
    # What was chosen survives the refusal.
    await expect(page.get_by_label("Policy")).to_have_value("skill")
    await expect(page.get_by_label("An agent must have")).to_have_value("all")
    await screenshot(page, "manager-rules-error")
    assert len(await rules_of(gw, token)) == 1

    await name_box.fill("product")
    await form.get_by_role("button", name="Add rule").click()
    await expect(page.get_by_role("status").filter(has_text="Rule added.")).to_be_visible()
    await expect(rules.get_by_role("listitem")).to_have_count(2)
    skill_item = rules.get_by_role("listitem", name="rule 2 (Skill)")
    await expect(skill_item).to_contain_text("skills from custom field product")
    await expect(skill_item).to_contain_text("must match all")
    demo, skill = await rules_of(gw, token)
    assert demo["id"] == demo_rule["id"]
    assert (skill["kind"], skill["team_id"], skill["is_active"]) == (
        "skill",
        manager["team_id"],
        True,
    )
    assert skill["config"] == {"require": "skills", "from": "custom_field:product", "match": "all"}

    # Reordered from the keyboard: the skill rule now runs first.
    await page.get_by_role("button", name="Move rule 2 (Skill) up").focus()
    await page.keyboard.press("Enter")
    await expect(rules.get_by_role("listitem").first).to_contain_text("Skill")
    await expect(page.get_by_role("button", name="Move rule 1 (Skill) down")).to_be_focused()
    assert [r["id"] for r in await rules_of(gw, token)] == [skill["id"], demo["id"]]

    # Disabled with its switch.
    robin = rules.get_by_role("listitem", name="rule 2 (Round robin)")
    await page.get_by_label("Enabled: rule 2 (Round robin)").uncheck()
    await expect(robin).to_have_attribute("data-active", "false")
    await expect(robin).to_contain_text("Disabled")
    assert [r["is_active"] for r in await rules_of(gw, token)] == [True, False]
    await screenshot(page, "manager-rules")
    assert await unlabelled_controls(page) == []

    # Edited into another policy with its own parameter.
    await page.get_by_role("button", name="Edit rule 1 (Skill)").click()
    edit = page.get_by_role("form", name="Edit rule: Skill")
    await edit.get_by_label("Policy").select_option(label="Least loaded")
    await expect(edit.get_by_label("What the lead asks for comes from")).to_have_count(0)
    await edit.get_by_label("Least work by").select_option(label="Calls today")
    await edit.get_by_label("Also offline and paused agents (for imports)").check()
    await edit.get_by_role("button", name="Save rule").click()
    first = rules.get_by_role("listitem", name="rule 1 (Least loaded)")
    await expect(first).to_contain_text("by calls today · includes offline agents")
    changed = (await rules_of(gw, token))[0]
    assert (changed["id"], changed["kind"], changed["config"]) == (
        skill["id"],
        "least_loaded",
        {"measure": "calls_today", "include_offline": True},
    )

    # Escape leaves an edit without saving.
    await page.get_by_role("button", name="Edit rule 1 (Least loaded)").click()
    await page.get_by_label("Least work by").select_option(label="Open leads")
    await page.keyboard.press("Escape")
    await expect(page.get_by_role("button", name="Edit rule 1 (Least loaded)")).to_be_focused()
    assert (await rules_of(gw, token))[0]["config"]["measure"] == "calls_today"

    await page.get_by_role("button", name="Delete rule 1 (Least loaded)").click()
    await expect(rules.get_by_role("listitem")).to_have_count(1)
    assert [r["id"] for r in await rules_of(gw, token)] == [demo["id"]]
    assert js_errors(page) == []


async def accept(dialog: Dialog) -> None:
    await dialog.accept()


async def test_admin_sees_organization_rules_and_a_phone_sized_editor(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    gw = await start_gateway()
    admin = await gw.login("admin@demo.test")
    status, org_rule = await gw.request(
        "POST", "/api/assignment-rules", admin, json={"kind": "sticky", "team_id": None}
    )
    assert status == 201, org_rule

    # A manager sees the organization's rule but cannot change it.
    manager = await new_page(browser, width=390, height=844)
    await sign_in(manager, f"{gw.url}/manager#rules", "manager@demo.test")
    rules = manager.get_by_role("list", name="Rules in the order they run")
    org_item = rules.get_by_role("listitem", name="rule 2 (Sticky owner)")
    await expect(org_item).to_contain_text("Whole organization")
    await expect(org_item).to_contain_text("Organization rule: admins change it.")
    await expect(org_item.get_by_role("button")).to_have_count(0)
    await manager.get_by_role("button", name="Add rule").click()
    await manager.get_by_label("Policy").select_option(label="Language")
    await expect(manager.get_by_label("Agents must have")).to_have_value("languages")
    await expect(manager.get_by_label("What the lead asks for comes from")).to_have_value(
        "lead.language"
    )
    await screenshot(manager, "manager-rules-phone")
    assert not await sideways_scroll(manager), "the rules page scrolls sideways at phone width"
    assert await unlabelled_controls(manager) == []

    # The admin moves it to the top, for the whole organization.
    page = await new_page(browser)
    await sign_in(page, f"{gw.url}/manager#rules", "admin@demo.test")
    await page.get_by_role("button", name="Move rule 2 (Sticky owner) up").click()
    await expect(
        page.get_by_role("list", name="Rules in the order they run").get_by_role("listitem").first
    ).to_contain_text("Sticky owner")
    assert (await rules_of(gw, admin))[0]["id"] == org_rule["id"]

    # Admins choose the scope; a tag prefix longer than the API takes is refused in place.
    _, teams = await gw.request("GET", "/api/teams", admin)
    [team] = teams["data"]
    await page.get_by_role("button", name="Add rule").click()
    await page.get_by_label("Policy").select_option(label="Skill")
    await page.get_by_label("Applies to").select_option(label=team["name"])
    prefix = page.get_by_label("Only tags starting with")
    await prefix.fill("x" * 65)
    await page.get_by_role("form", name="New rule").get_by_role("button", name="Add rule").click()
    await expect(page.locator("#rule-tag-prefix-error")).to_have_text(
        "must be a string of 1 to 64 characters"
    )
    await expect(prefix).to_be_focused()
    await expect(page.get_by_label("Applies to")).to_have_value(str(team["id"]))
    await prefix.fill("skill:")
    await page.get_by_role("form", name="New rule").get_by_role("button", name="Add rule").click()
    await expect(page.get_by_role("list", name="Rules in the order they run")).to_contain_text(
        "skills from tags · prefix skill: · matches any"
    )
    added = (await rules_of(gw, admin))[-1]
    assert (added["kind"], added["team_id"], added["config"]) == (
        "skill",
        team["id"],
        {"require": "skills", "from": "tag", "tag_prefix": "skill:", "match": "any"},
    ), added
    assert js_errors(manager) == [] and js_errors(page) == []


async def test_why_assigned_shows_the_rule_the_candidates_and_who(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    gw = await start_gateway()
    token = await gw.login("manager@demo.test")
    manager = await me_of(gw, token)
    anita = await me_of(gw, await gw.login("agent1@demo.test"))
    _, leads = await gw.request("GET", "/api/leads?limit=200", token)
    lead = next(x for x in leads["data"] if x["owner_id"] is None)
    [rule] = await rules_of(gw, token)

    # Anita is online (her console is open); Arjun is not, so the rule passes him over.
    agent = await new_page(browser)
    await sign_in(agent, f"{gw.url}/app/", "agent1@demo.test")
    await expect(agent.get_by_label("My status")).to_have_value("available")

    page = await new_page(browser)
    await sign_in(page, f"{gw.url}/manager#leads", "manager@demo.test")
    table = page.get_by_role("table")
    await page.get_by_label(f"Select {lead['name']}").check()
    await page.get_by_label("Assign selected to").select_option(
        label="Automatically (assignment rules)"
    )
    await page.get_by_role("button", name="Assign", exact=True).click()
    await expect(page.get_by_role("status").filter(has_text="1 lead assigned.")).to_be_visible()
    await expect(table.get_by_role("row", name=lead["name"])).to_contain_text("Anita Agent")
    # Then by hand, to Arjun.
    await page.get_by_label(f"Select {lead['name']}").check()
    await page.get_by_label("Assign selected to").select_option(label="Arjun Agent")
    await page.get_by_role("button", name="Assign", exact=True).click()
    await expect(table.get_by_role("row", name=lead["name"])).to_contain_text("Arjun Agent")

    why = page.get_by_role("button", name=f"Why assigned: {lead['name']}")
    await why.focus()
    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name=f"Why assigned: {lead['name']}")
    await expect(dialog).to_be_visible()
    entries = dialog.get_by_role("list", name="Assignments, newest first").locator(
        "> li.assignment"
    )
    await expect(entries).to_have_count(2)
    manual, auto = entries.nth(0), entries.nth(1)
    await expect(manual.locator("dd.chosen")).to_have_text("Arjun Agent")
    await expect(manual.locator("dd.rule-used")).to_have_text("No rule")
    await expect(manual.locator("dd.by")).to_have_text(manager["name"])
    await expect(manual.get_by_role("heading")).to_contain_text("Bulk, by hand")
    await expect(auto.get_by_role("heading")).to_contain_text("Bulk, by the rules")
    await expect(auto.locator("dd.chosen")).to_have_text("Anita Agent")
    await expect(auto.locator("dd.rule-used")).to_have_text(f"Round robin (rule #{rule['id']})")
    await expect(auto.locator("dd.reason")).to_contain_text("round_robin: Anita Agent")
    candidates = auto.get_by_role("table", name="Candidates considered")
    await expect(candidates.get_by_role("row", name=re.compile("^Anita Agent"))).to_contain_text(
        "Chosen"
    )
    arjun_row = candidates.get_by_role("row", name=re.compile("^Arjun Agent"))
    await expect(arjun_row).to_contain_text("Skipped")
    await expect(arjun_row).to_contain_text("offline")
    await screenshot(page, "manager-assignment-trace")

    # The page shows what the API recorded.
    _, trail = await gw.request("GET", f"/api/leads/{lead['id']}/assignments", token)
    newest, oldest = trail["data"]
    assert (oldest["agent_id"], oldest["rule_id"]) == (anita["id"], rule["id"]), oldest
    verdicts = {c["agent_id"]: (c["eligible"], c["reason"]) for c in oldest["candidates"]}
    assert verdicts[anita["id"]] == (True, "eligible"), verdicts
    assert (False, "offline") in verdicts.values(), verdicts
    assert newest["previous_agent_id"] == anita["id"] and newest["rule_id"] is None

    await page.set_viewport_size({"width": 390, "height": 844})
    box = await dialog.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    await screenshot(page, "manager-assignment-trace-phone")

    await page.keyboard.press("Escape")
    await expect(dialog).to_have_count(0)
    await expect(why).to_be_focused()
    assert await unlabelled_controls(page) == []
    assert js_errors(page) == [] and js_errors(agent) == []


async def test_a_long_assignment_history_pages_back(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    gw = await start_gateway()
    token = await gw.login("manager@demo.test")
    _, users = await gw.request("GET", "/api/users", token)
    agents = [u["id"] for u in users["data"] if u["role"] == "agent"]
    _, leads = await gw.request("GET", "/api/leads?limit=200", token)
    lead = next(x for x in leads["data"] if x["owner_id"] is None)
    # 21 hand-overs: one more than the dialog's first page.
    for i in range(21):
        status, body = await gw.request(
            "POST", f"/api/leads/{lead['id']}/assign", token, json={"agent_id": agents[i % 2]}
        )
        assert status == 200, body

    page = await new_page(browser)
    await sign_in(page, f"{gw.url}/manager#leads", "manager@demo.test")
    await page.get_by_role("button", name=f"Why assigned: {lead['name']}").click()
    dialog = page.get_by_role("dialog", name=f"Why assigned: {lead['name']}")
    entries = dialog.locator("li.assignment")
    await expect(entries).to_have_count(20)
    await dialog.get_by_role("button", name="Show older assignments").click()
    await expect(entries).to_have_count(21)
    await expect(entries.nth(20)).to_be_focused()
    # The oldest: the lead had no owner before it.
    await expect(entries.nth(20).locator("dd").nth(1)).to_have_text("None")
    await expect(dialog.get_by_role("button", name="Show older assignments")).to_be_hidden()
    assert js_errors(page) == []
