"""The browser extension saves a selected number (with a name) as a lead and says what became of
it: created, already a lead, or refused with the API's reason."""

from pathlib import Path

from playwright.async_api import Page, expect

from tests.browser.conftest import (
    extension_browser,
    extension_sign_in,
    require_chromium,
    web_page,
)
from tests.conftest import GatewayFactory

CONTACTS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Trade fair contacts</title></head>
<body style="font-size: 18px">
<h1>Trade fair contacts</h1>
<p id="new">Kiran Rao — 98450 67890</p>
<p id="known">Priya Sharma, 98765 43210</p>
<p id="bad">Zubin Quasim, ext. 1234 567</p>
<p id="plain">Nothing to save here.</p>
</body></html>
"""


async def select_paragraph(page: Page, selector: str) -> None:
    # A person's triple click on the paragraph's first word (not on its dial button).
    await page.locator(selector).click(click_count=3, position={"x": 4, "y": 6})


async def save_selection(page: Page, selector: str) -> str:
    # The previous result is closed first: it may cover the next line.
    close = page.locator(".dialgate-save").get_by_role("button", name="Close")
    if await close.count():
        await close.click()
    await select_paragraph(page, selector)
    box = page.locator(".dialgate-save")
    await box.get_by_role("button", name="Save selection as a Dialgate lead").click()
    status = box.get_by_role("status")
    await expect(status).not_to_be_empty()
    return str(await box.get_attribute("data-state"))


async def test_selected_number_and_name_become_a_lead(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    require_chromium()
    gw = await start_gateway()
    token = await gw.login("agent1@demo.test")
    _, me = await gw.request("GET", "/api/auth/me", token)
    async with (
        web_page(CONTACTS_PAGE) as site,
        extension_browser(tmp_path / "profile") as (context, base),
    ):
        await extension_sign_in(context, base, gw.url)
        page = await context.new_page()
        await page.goto(str(site.make_url("/")))
        await expect(page.locator("button.dialgate-dial")).to_have_count(2)
        box = page.locator(".dialgate-save")

        # Text without a number offers nothing.
        await select_paragraph(page, "#plain")
        await expect(box).to_have_count(0)

        assert await save_selection(page, "#new") == "created"
        await expect(box.get_by_role("status")).to_have_text(
            "Lead saved: Kiran Rao (+919845067890)"
        )
        status, found = await gw.request("GET", "/api/leads?phone=%2B919845067890", token)
        assert status == 200
        (lead,) = found["data"]
        assert (lead["name"], lead["owner_id"], lead["source"]) == (
            "Kiran Rao",
            me["id"],
            "extension",
        )

        # The same number again, and one that is a demo lead already: not saved twice.
        for selector in ("#new", "#known"):
            assert await save_selection(page, selector) == "exists"
            await expect(box.get_by_role("status")).to_contain_text("Already a lead: +91")
        # A number that is not one: the API's own reason.
        assert await save_selection(page, "#bad") == "invalid"
        await expect(box.get_by_role("status")).to_have_text(
            "Not saved: '1234 567' is not a valid phone number (not a valid number for its "
            "region) (invalid_phone)"
        )
        status, found = await gw.request("GET", "/api/leads?q=Zubin", token)
        assert found["data"] == []

        # A page's own script cannot press the button for the user.
        await select_paragraph(page, "#new")
        save = box.get_by_role("button", name="Save selection as a Dialgate lead")
        await expect(save).to_be_visible()
        await page.evaluate(
            "document.querySelector('.dialgate-save button:not(.dialgate-close)').click()"
        )
        await expect(save).to_be_enabled()
        await expect(box.locator("[role=status]")).to_be_empty()
        # The popup tells the last outcome too (the context menu's only display elsewhere).
        popup = await context.new_page()
        await popup.goto(f"{base}/popup.html")
        await expect(popup.locator("#last-lead")).to_contain_text("Lead not saved: '1234 567'")
