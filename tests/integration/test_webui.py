"""The gateway serves the built consoles: pages, assets, and a clear answer when unbuilt."""

from pathlib import Path

import pytest

from gateway import webui
from tests.conftest import Gateway


async def test_consoles_and_their_assets_are_served(gateway: Gateway) -> None:
    async with gateway.http.get(f"{gateway.url}/app", allow_redirects=False) as resp:
        assert resp.status == 302 and resp.headers["Location"] == "/app/"
    for path, marker in (("/app/", "agent.js"), ("/manager", "manager.js")):
        async with gateway.http.get(f"{gateway.url}{path}") as resp:
            assert resp.status == 200 and resp.content_type == "text/html"
            assert marker in await resp.text()
            assert resp.headers["Cache-Control"] == "no-cache"
    async with gateway.http.get(f"{gateway.url}/app/assets/agent.js") as resp:
        assert resp.status == 200 and resp.content_type in (
            "application/javascript",
            "text/javascript",
        )
    async with gateway.http.get(f"{gateway.url}/") as resp:
        home = await resp.text()
    assert 'href="/app/"' in home and 'href="/manager"' in home
    # Only single names inside the build folder: no way out of it, nothing else in it.
    for path in ("/app/assets/..%2F..%2Fapp.py", "/app/assets/.hidden", "/app/assets/nope.js"):
        async with gateway.http.get(f"{gateway.url}{path}") as resp:
            assert resp.status == 404, path


async def test_an_unbuilt_console_says_how_to_build_it(
    gateway: Gateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webui, "BUILT", tmp_path)
    async with gateway.http.get(f"{gateway.url}/app/") as resp:
        assert resp.status == 503
        assert "scripts/bootstrap" in await resp.text()
