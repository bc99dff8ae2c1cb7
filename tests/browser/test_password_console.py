"""Passwords and sessions in both consoles: change one's own, an admin's reset, sign out."""

from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import (
    js_errors,
    new_page,
    screenshot,
    sideways_scroll,
    sign_in,
    unlabelled_controls,
)
from tests.conftest import Gateway, GatewayFactory


async def login_status(gw: Gateway, email: str, password: str) -> int:
    status, _ = await gw.request(
        "POST", "/api/auth/login", json={"email": email, "password": password}
    )
    return status


async def page_token(page: Page) -> str:
    token: str = await page.evaluate("sessionStorage.getItem('dialgate.token')")
    assert token
    return token


async def test_agent_changes_her_password_at_phone_width(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    gw = await start_gateway()
    elsewhere = await gw.login("agent1@demo.test")
    page = await new_page(browser, width=390, height=844)
    await sign_in(page, f"{gw.url}/app/", "agent1@demo.test")

    opener = page.get_by_role("button", name="Change password")
    await opener.focus()
    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Change password")
    current = dialog.get_by_label("Current password")
    new = dialog.get_by_label("New password", exact=True)
    confirm = dialog.get_by_label("New password again")
    await expect(current).to_be_focused()
    # Escape closes it and the keyboard is back where it was.
    await page.keyboard.press("Escape")
    await expect(dialog).to_have_count(0)
    await expect(opener).to_be_focused()
    await page.keyboard.press("Enter")

    # The confirmation is checked here, before anything is sent.
    await current.fill("demo")
    await new.fill("n3w-passw0rd")
    await confirm.fill("n3w-passw0rd!")
    await page.keyboard.press("Enter")
    await expect(confirm).to_have_attribute("aria-invalid", "true")
    await expect(confirm).to_be_focused()
    await expect(page.locator("#pw-confirm-error")).to_have_text(
        "This does not match the new password."
    )
    # A wrong current password: the API's refusal stands next to that field.
    await current.fill("not-my-password")
    await confirm.fill("n3w-passw0rd")
    await dialog.get_by_role("button", name="Change password").click()
    await expect(current).to_have_attribute("aria-invalid", "true")
    await expect(current).to_be_focused()
    await expect(page.locator("#pw-current-error")).to_have_text("the current password is wrong")
    await expect(confirm).not_to_have_attribute("aria-invalid", "true")
    described = await current.get_attribute("aria-describedby")
    assert described is not None and "pw-current-error" in described.split()
    await expect(new).to_have_value("n3w-passw0rd")
    assert not await sideways_scroll(page), "the dialog scrolls sideways at phone width"
    await screenshot(page, "change-password-error")
    assert await unlabelled_controls(page) == []
    assert await login_status(gw, "agent1@demo.test", "demo") == 200

    await current.fill("demo")
    await page.keyboard.press("Enter")
    await expect(dialog.get_by_role("status")).to_contain_text("Password changed.")
    await expect(dialog.get_by_role("button", name="Close")).to_be_focused()
    await expect(current).to_have_value("")
    await expect(current).not_to_have_attribute("aria-invalid", "true")
    await screenshot(page, "change-password-done")

    # The real effect: the new password signs in, the old one no longer does; this page's
    # session goes on and the other one ended.
    assert await login_status(gw, "agent1@demo.test", "n3w-passw0rd") == 200
    assert await login_status(gw, "agent1@demo.test", "demo") == 401
    assert (await gw.request("GET", "/api/auth/me", await page_token(page)))[0] == 200
    assert (await gw.request("GET", "/api/auth/me", elsewhere))[0] == 401
    await dialog.get_by_role("button", name="Close").click()
    await expect(dialog).to_have_count(0)
    await expect(opener).to_be_focused()
    assert js_errors(page) == []


async def test_manager_changes_password_from_the_manager_console(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    gw = await start_gateway()
    page = await new_page(browser)
    await sign_in(page, f"{gw.url}/manager", "manager@demo.test")
    await page.get_by_role("button", name="Change password").click()
    dialog = page.get_by_role("dialog", name="Change password")
    await dialog.get_by_label("Current password").fill("demo")
    await dialog.get_by_label("New password", exact=True).fill("demo")
    await dialog.get_by_label("New password again").fill("demo")
    await page.keyboard.press("Enter")
    # Too short is said here; the same password again is the API's to refuse.
    await expect(page.locator("#pw-new-error")).to_contain_text("at least 8 characters")
    await dialog.get_by_label("Current password").fill("manag3r-passw0rd")
    await dialog.get_by_label("New password", exact=True).fill("manag3r-passw0rd")
    await dialog.get_by_label("New password again").fill("manag3r-passw0rd")
    await page.keyboard.press("Enter")
    await expect(page.locator("#pw-current-error")).to_have_text("the current password is wrong")
    await dialog.get_by_label("Current password").fill("demo")
    await page.keyboard.press("Enter")
    await expect(dialog.get_by_role("status")).to_contain_text("Password changed.")
    await screenshot(page, "manager-change-password")
    assert await login_status(gw, "manager@demo.test", "manag3r-passw0rd") == 200
    assert await login_status(gw, "manager@demo.test", "demo") == 401
    assert js_errors(page) == []


async def test_admin_resets_an_agents_password_and_the_shown_one_signs_in(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    gw = await start_gateway()
    arjun = await gw.login("agent2@demo.test")
    manager_page = await new_page(browser)
    await sign_in(manager_page, f"{gw.url}/manager#agents", "manager@demo.test")
    await expect(manager_page.locator("#people")).to_be_visible()
    # Only admins reset passwords: managers are not offered it.
    await expect(manager_page.locator("button[data-reset]")).to_have_count(0)

    page = await new_page(browser)
    await sign_in(page, f"{gw.url}/manager#agents", "admin@demo.test")
    await expect(page.locator("#people")).to_be_visible()
    # An admin's own password is changed from the top bar, not reset.
    await expect(page.get_by_role("button", name="Reset password of Asha Admin")).to_have_count(0)
    reset = page.get_by_role("button", name="Reset password of Arjun Agent")
    await reset.click()
    form = page.get_by_role("form", name="Reset password of Arjun Agent")
    password = form.get_by_label("New password")
    await expect(password).to_be_focused()
    generated = await password.input_value()
    assert len(generated) == 16
    # Escape leaves it unchanged, back on the button.
    await page.keyboard.press("Escape")
    await expect(form).to_have_count(0)
    await expect(reset).to_be_focused()
    assert (await gw.request("GET", "/api/auth/me", arjun))[0] == 200

    await reset.click()
    await password.fill("short")
    await page.keyboard.press("Enter")
    await expect(password).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#reset-password-error")).to_contain_text("8 characters")
    await password.fill(generated)
    await form.get_by_role("button", name="Reset password").click()

    shown = page.get_by_role(
        "region", name="Arjun Agent's password was reset: their sign-in details"
    )
    await expect(shown).to_contain_text("Shown only now.")
    await expect(page.locator("#new-agent-done")).to_be_focused()
    shown_email = await page.locator("#new-agent-login").inner_text()
    shown_password = await page.locator("#new-agent-secret").inner_text()
    assert (shown_email, shown_password) == ("agent2@demo.test", generated)
    await screenshot(page, "manager-password-reset")
    assert await unlabelled_controls(page) == []

    # The real effect: signed out everywhere, in with the shown password only.
    assert (await gw.request("GET", "/api/auth/me", arjun))[0] == 401
    assert await login_status(gw, "agent2@demo.test", "demo") == 401
    assert await login_status(gw, shown_email, shown_password) == 200
    await page.locator("#new-agent-done").click()
    await expect(shown).to_have_count(0)
    await expect(reset).to_be_focused()
    assert generated not in await page.content()
    assert js_errors(page) == [] and js_errors(manager_page) == []


async def test_signing_out_ends_the_session_in_both_consoles(
    start_gateway: GatewayFactory, browser: Browser
) -> None:
    gw = await start_gateway()
    for url, email in [
        (f"{gw.url}/app/", "agent1@demo.test"),
        (f"{gw.url}/manager", "manager@demo.test"),
    ]:
        page = await new_page(browser)
        await sign_in(page, url, email)
        token = await page_token(page)
        assert (await gw.request("GET", "/api/auth/me", token))[0] == 200
        await page.get_by_role("button", name="Sign out").click()
        await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        assert await page.evaluate("sessionStorage.getItem('dialgate.token')") is None
        # Not merely forgotten by the page: the gateway no longer takes the token.
        status, err = await gw.request("GET", "/api/auth/me", token)
        assert status == 401 and err["error"]["code"] == "invalid_token"
        assert js_errors(page) == []
