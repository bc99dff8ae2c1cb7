"""The manager console's missed-call SMS setting: an admin changes it (the API's errors stand
under the field they name), a manager only reads it, and what was saved is what the API holds."""

from playwright.async_api import Browser, expect

from tests.browser.conftest import (
    js_errors,
    new_page,
    screenshot,
    sideways_scroll,
    sign_in,
    unlabelled_controls,
)
from tests.conftest import GatewayFactory

SETTING = "/api/settings/missed-call-sms"


async def test_admin_turns_on_missed_call_texts_and_a_manager_reads_them(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    gw = await start_gateway()
    token = await gw.login("admin@demo.test")
    _, before = await gw.request("GET", SETTING, token)
    assert before["enabled"] is False

    page = await new_page(browser)
    await sign_in(page, f"{gw.url}/manager#settings", "admin@demo.test")
    form = page.get_by_role("form", name="Missed-call SMS")
    enabled = form.get_by_label("Send a text after a missed call")
    caller = form.get_by_label("Message to the caller")
    await expect(enabled).not_to_be_checked()
    await expect(caller).to_have_value(before["caller_template"])
    await expect(form.locator("#sms-placeholders")).to_contain_text("{lead}")
    await expect(form.locator("#sms-caller_template-preview")).to_have_text(
        "Preview, with the examples below: "
        "Sorry we missed your call. Demo Sales will call you back shortly."
    )
    assert await unlabelled_controls(page) == []

    # A placeholder the API does not know: refused under the message, the rest kept.
    await enabled.check()
    await form.get_by_label("Who gets the text").select_option("both")
    await caller.fill("Hi {name}, {org} missed your call and will ring back.")
    await expect(form.locator("#sms-caller_template-preview")).to_have_text(
        "Preview, with the examples below: "
        "Hi {name}, Demo Sales missed your call and will ring back."
    )
    await form.get_by_role("button", name="Save missed-call SMS").click()
    await expect(caller).to_have_attribute("aria-invalid", "true")
    await expect(caller).to_be_focused()
    await expect(page.locator("#sms-caller-template-error")).to_have_text(
        "unknown placeholder {name}; use agent, caller, lead, org"
    )
    await expect(form.get_by_label("Send a text after a missed call")).to_be_checked()
    await expect(form.get_by_label("Who gets the text")).to_have_value("both")
    _, unchanged = await gw.request("GET", SETTING, token)
    assert unchanged == before
    await screenshot(page, "manager-missed-sms-error")

    await caller.fill("Hi {lead}, {org} missed your call and will ring back.")
    await form.get_by_role("button", name="Save missed-call SMS").click()
    await expect(form.get_by_role("status")).to_have_text(
        "Saved. Missed calls from now on are texted about."
    )
    _, stored = await gw.request("GET", SETTING, token)
    assert stored == {
        **before,
        "enabled": True,
        "to": "both",
        "caller_template": "Hi {lead}, {org} missed your call and will ring back.",
    }
    await screenshot(page, "manager-missed-sms")
    assert js_errors(page) == []

    # A manager sees the setting as stored and cannot change it.
    manager = await new_page(browser, width=390, height=844)
    await sign_in(manager, f"{gw.url}/manager#settings", "manager@demo.test")
    form = manager.get_by_role("form", name="Missed-call SMS")
    await expect(manager.locator("#sms-readonly")).to_have_text("Only admins change this setting.")
    await expect(form.get_by_label("Send a text after a missed call")).to_be_checked()
    await expect(form.get_by_label("Send a text after a missed call")).to_be_disabled()
    await expect(form.get_by_label("Message to the caller")).to_have_value(
        stored["caller_template"]
    )
    await expect(form.get_by_label("Message to the caller")).to_be_disabled()
    await expect(form.get_by_role("button", name="Save missed-call SMS")).to_have_count(0)
    assert not await sideways_scroll(manager), "the settings page scrolls sideways at phone width"
    await manager.locator("#sms-title").scroll_into_view_if_needed()
    await screenshot(manager, "manager-missed-sms-phone")
    assert js_errors(manager) == []
