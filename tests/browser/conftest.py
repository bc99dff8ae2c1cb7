"""Browser fixtures: Debian's chromium through Playwright, a gateway on SQLite, signed-in pages."""

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.conftest import IN_CI, free_port

CHROMIUM = os.environ.get("DIALGATE_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
EXTENSION = ROOT / "extension" / "dist"
BUILT = (ROOT / "gateway" / "static" / "app" / "agent.js").is_file() and (
    EXTENSION / "content.js"
).is_file()
# As root there is no sandbox; the machine reaches nothing beyond the package registries.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking"]
# Set to refresh docs/screenshots/*.png; normal runs leave the working tree alone.
UPDATE_SCREENSHOTS = os.environ.get("UPDATE_SCREENSHOTS", "").lower() in ("1", "true", "yes")

expect.set_options(timeout=10_000)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark this folder's tests `browser`, so `-m "not browser"` leaves them out."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture
async def db_url(tmp_path: Path, sqlite_template: Path) -> str:
    """Browser tests exercise the pages, not the database: SQLite alone is enough."""
    path = tmp_path / "dialgate.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


def require_chromium() -> None:
    if not os.access(CHROMIUM, os.X_OK):
        message = f"{CHROMIUM} is missing: apt-get install chromium"
        # CI installs chromium (.ci/run), so a missing browser there is a failure.
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    if not BUILT:
        pytest.fail("the web consoles are not built: run scripts/bootstrap")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    require_chromium()
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


async def new_page(browser: Browser, *, width: int = 1366, height: int = 860) -> Page:
    context = await browser.new_context(viewport={"width": width, "height": height})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(10_000)
    setattr(page, "js_errors", errors)  # noqa: B010  (read back by the tests)
    return page


async def sign_in(page: Page, url: str, email: str, password: str = "demo") -> None:
    await page.goto(url)
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#conn")).to_have_attribute("data-state", "connected")


async def screenshot(page: Page, name: str) -> None:
    if UPDATE_SCREENSHOTS:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


async def sideways_scroll(page: Page) -> bool:
    """Whether the page is wider than the window (it should reflow, not scroll sideways)."""
    width: int = await page.evaluate("document.documentElement.scrollWidth")
    viewport: int = await page.evaluate("window.innerWidth")
    return width > viewport


def js_errors(page: Page) -> list[str]:
    errors: list[str] = getattr(page, "js_errors", [])
    return errors


UNLABELLED = """
() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter((el) => el.offsetParent !== null)
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
    && !(el.tagName === 'BUTTON' && el.textContent.trim()))
  .map((el) => el.outerHTML.slice(0, 80))
"""


async def unlabelled_controls(page: Page) -> list[str]:
    """Visible form controls and buttons without an accessible name."""
    found: list[str] = await page.evaluate(UNLABELLED)
    return found


@asynccontextmanager
async def extension_browser(profile: Path) -> AsyncIterator[tuple[BrowserContext, str]]:
    """Chromium with the unpacked extension loaded: its context and the extension's base URL."""
    require_chromium()
    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=[
                *CHROMIUM_ARGS,
                f"--disable-extensions-except={EXTENSION}",
                f"--load-extension={EXTENSION}",
            ],
        )
        try:
            worker = (
                context.service_workers[0]
                if context.service_workers
                else await context.wait_for_event("serviceworker")
            )
            yield context, f"chrome-extension://{worker.url.split('/')[2]}"
        finally:
            await context.close()


@asynccontextmanager
async def web_page(html: str) -> AsyncIterator[TestServer]:
    """A stand-in web site serving one page at "/"."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    site_app = web.Application()
    site_app.router.add_get("/", page)
    site = TestServer(site_app, host="127.0.0.1", port=free_port())
    await site.start_server()
    try:
        yield site
    finally:
        await site.close()


async def extension_sign_in(context: BrowserContext, base: str, gateway_url: str) -> None:
    """Set the gateway and sign in as agent1 on the extension's options page."""
    options = await context.new_page()
    await options.goto(f"{base}/options.html")
    await options.get_by_label("Gateway URL").fill(gateway_url)
    await options.get_by_label("E-mail").fill("agent1@demo.test")
    await options.get_by_label("Password").fill("demo")
    await options.get_by_role("button", name="Save").click()
    await expect(options.get_by_role("status")).to_have_text("Saved. Signed in as Anita Agent.")
    await options.close()
