"""The manager console's dialing settings: an admin changes them (errors name the field), a
manager only reads them, and the next dial follows."""

from playwright.async_api import Browser, expect

from tests.browser.conftest import js_errors, new_page, screenshot, sign_in, unlabelled_controls
from tests.conftest import GatewayFactory


async def test_admin_changes_dialing_settings_and_a_manager_reads_them(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    gw = await start_gateway()
    admin = await new_page(browser)
    await sign_in(admin, f"{gw.url}/manager", "admin@demo.test")
    await admin.get_by_role("link", name="Settings").click()
    form = admin.locator("form.settings")
    start = form.get_by_label("Calling hours start")
    end = form.get_by_label("Calling hours end")
    await expect(start).to_have_value("00:00")
    await expect(end).to_have_value("24:00")
    await expect(form.get_by_label("Organization time zone")).to_have_value("Asia/Kolkata")
    assert await unlabelled_controls(admin) == []

    # An empty window: the API's error, on the field it names.
    await start.fill("10:00")
    await end.fill("10:00")
    await form.get_by_role("button", name="Save settings").click()
    await expect(form.get_by_role("alert")).to_have_text(
        "the calling window must not be empty (start equals end) (calling_window_end)"
    )
    await expect(end).to_have_attribute("aria-invalid", "true")
    await expect(end).to_be_focused()

    await end.fill("18:30")
    await form.get_by_label("Attempts per lead per day").fill("")
    await form.get_by_label("Wrap-up lasts until a disposition is recorded").check()
    await form.get_by_label("Default country").fill("us")
    await form.get_by_role("button", name="Save settings").click()
    await expect(form.get_by_role("status")).to_have_text(
        "Saved. The next dial follows the new settings."
    )
    await expect(end).not_to_have_attribute("aria-invalid", "true")
    await expect(form.get_by_label("Default country")).to_have_value("US")
    await screenshot(admin, "manager-settings")

    token = await gw.login("agent1@demo.test")
    status, body = await gw.request("GET", "/api/settings/dialing", token)
    assert status == 200
    assert body == {
        "calling_window_start": "10:00",
        "calling_window_end": "18:30",
        "max_daily_attempts": None,
        "wrapup_limit_s": 60,
        "wrapup_requires_disposition": True,
        "timezone": "Asia/Kolkata",
        "default_region": "US",
    }

    manager = await new_page(browser)
    await sign_in(manager, f"{gw.url}/manager#settings", "manager@demo.test")
    await expect(manager.locator("#settings-readonly")).to_have_text(
        "Only admins change these settings."
    )
    await expect(manager.get_by_label("Calling hours end")).to_have_value("18:30")
    await expect(manager.get_by_label("Calling hours end")).to_be_disabled()
    await expect(manager.get_by_role("button", name="Save settings")).to_have_count(0)
    assert js_errors(admin) == [] and js_errors(manager) == []
