"""The browser extension, loaded unpacked: dial buttons on a page's numbers, the popup's call."""

import re
from pathlib import Path

from playwright.async_api import Locator, Page, expect

from tests.browser.conftest import (
    extension_browser,
    extension_sign_in,
    require_chromium,
    screenshot,
    web_page,
)
from tests.conftest import GatewayFactory

# A stand-in for a web CRM: numbers in text and links, things that are not numbers, a field
# that must stay untouched, and a row that a script adds later (as single-page apps do).
CRM_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Acme CRM</title></head>
<body>
<h1>Acme CRM</h1>
<table>
  <tr><td>Priya Sharma</td><td>98765 43210</td></tr>
  <tr><td>John Miller</td><td><a href="tel:+12127361234">+1 (212) 736-1234</a></td></tr>
  <tr><td>Invoice</td><td>No. 4471 of 2026-11-27, total 12,500.00</td></tr>
</table>
<label>Search <input value="98765 43210"></label>
<div id="more"></div>
<button id="load" type="button">Load more</button>
<script>
document.getElementById("load").onclick = () => {
  const row = document.createElement("p");
  row.textContent = "Sneha Iyer — 09845012345";
  document.getElementById("more").append(row);
};
</script>
</body></html>
"""


def dial_button(page: Page, number: str) -> Locator:
    return page.get_by_role("button", name=f"Call {number} with Dialgate")


async def test_extension_dials_numbers_found_on_a_page(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    require_chromium()
    gw = await start_gateway()
    async with (
        web_page(CRM_PAGE) as site,
        extension_browser(tmp_path / "profile") as (context, base),
    ):
        popup = await context.new_page()
        await popup.goto(f"{base}/popup.html")
        await expect(popup.locator("#signed-out")).to_contain_text("Not signed in")

        await extension_sign_in(context, base, gw.url)

        page = await context.new_page()
        await page.goto(str(site.make_url("/")))
        buttons = page.locator("button.dialgate-dial")
        await expect(buttons).to_have_count(2)
        await expect(dial_button(page, "+91 98765 43210")).to_be_visible()
        await page.get_by_role("button", name="Load more").click()
        await expect(buttons).to_have_count(3)
        await expect(dial_button(page, "+91 98450 12345")).to_be_visible()
        # The field's value and the invoice's figures are left alone.
        await expect(page.get_by_label("Search")).to_have_value("98765 43210")

        priya = dial_button(page, "+91 98765 43210")
        await priya.click()
        await expect(priya).to_have_text("☎ Called")
        # The lead in the pool is not this agent's: refused, and the reason is shown.
        john = dial_button(page, "+1 212 736 1234")
        await john.click()
        await expect(john).to_have_text("☎ Refused")
        await expect(john).to_have_attribute("title", re.compile(r"\(lead_not_yours\)$"))
        assert page.url == str(site.make_url("/")), "the tel: link was followed"
        await screenshot(page, "extension-page")

        token = await gw.login("agent1@demo.test")
        status, calls = await gw.request("GET", "/api/calls", token=token)
        assert status == 200
        assert [c["to_number"] for c in calls["data"]] == ["+919876543210"]
        # The page's own scripts see no extension storage and no token.
        assert await page.evaluate("typeof chrome === 'undefined' || !chrome.storage")
        assert "dg_" not in await page.content()

        await popup.reload()
        await expect(popup.locator("#signed-in")).to_have_text("Signed in as Anita Agent")
        # Generous: a carrier callback the gateway is slow to answer is redelivered by the
        # sandbox only after its own 15 s timeout, as carriers do.
        await expect(popup.locator("#call-state")).to_have_text("Completed", timeout=40_000)
        await expect(popup.get_by_label("Disposition")).to_be_visible()
        # Parts the popup leaves out are not shown as the text "null".
        assert "null" not in await popup.locator("#root").inner_text()
        await popup.set_viewport_size({"width": 340, "height": 420})
        await screenshot(popup, "extension-popup")
