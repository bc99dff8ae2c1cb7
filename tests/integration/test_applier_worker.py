"""The applier apart from the web gateway: `dialgate applier` processes fed through Redis.

Sandbox and Twilio callbacks are stored by a web process that applies nothing, applied by a
`dialgate applier` subprocess, and their pushes reach the agent's socket on the web process.
"""

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlmodel import col, select

from gateway import cli
from gateway.keys import sessionmaker_key
from gateway.models import Call, InboxStatus, WebhookInbox
from gateway.settings import Settings
from tests.conftest import GatewayFactory
from tests.integration.test_redis_scaleout import channel, redis_url
from tests.integration.test_twilio_flow import (
    AUTH_TOKEN,
    PRIYA_E164,
    console_call,
    hook_url,
    register_twilio,
)
from tests.standins.twilio_api import new_sid, post_signed

__all__ = ["channel", "redis_url"]  # fixtures shared with the scale-out tests


def test_in_process_applier_off_needs_redis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValidationError, match="APPLIER_IN_PROCESS=false needs REDIS_URL"):
        Settings(_env_file=None, APPLIER_IN_PROCESS=False, REDIS_URL=None)
    assert Settings(_env_file=None, APPLIER_IN_PROCESS=False, REDIS_URL="redis://x:6379/0")
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(SystemExit, match="only with REDIS_URL"):
        cli.main(["applier"])


async def _pending_and_applied(gw_app: object) -> tuple[int, int]:
    async with gw_app[sessionmaker_key]() as session:  # type: ignore[index]
        rows = (await session.exec(select(WebhookInbox.status))).all()
    return rows.count(InboxStatus.PENDING), rows.count(InboxStatus.APPLIED)


@pytest.fixture
async def applier_process(tmp_path: Path) -> AsyncIterator[list[asyncio.subprocess.Process]]:
    started: list[asyncio.subprocess.Process] = []
    yield started
    for proc in started:
        if proc.returncode is None:
            proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)


@pytest.mark.redis
async def test_a_separate_applier_process_applies_and_pushes(
    channel: str,
    redis_url: str,
    start_gateway: GatewayFactory,
    applier_process: list[asyncio.subprocess.Process],
    tmp_path: Path,
) -> None:
    web = await start_gateway(
        REDIS_URL=redis_url, SOCKETIO_CHANNEL=channel, APPLIER_IN_PROCESS=False
    )
    token = await web.login("agent1@demo.test")
    live = await web.connect(token)
    status, call = await web.request("POST", "/api/calls", token, json={"number": "98765 43210"})
    assert status == 202
    # The sandbox carrier's callbacks are stored and acknowledged, but nothing here applies them.
    async with asyncio.timeout(15):
        while (await _pending_and_applied(web.app))[0] < 3:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    assert (await _pending_and_applied(web.app))[1] == 0
    assert [u["status"] for u in live.for_call(call["id"])] == ["queued"]

    env = {
        **os.environ,
        "DATABASE_URL": web.settings.database_url,
        "REDIS_URL": redis_url,
        "SOCKETIO_CHANNEL": channel,
        "PUBLIC_BASE_URL": web.settings.public_base_url,
        "APPLIER_IN_PROCESS": "false",  # the web processes' setting; the applier applies anyway
        "LOG_LEVEL": "WARNING",
    }
    applier_process.append(
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.cli", "applier", cwd=tmp_path, env=env
        )
    )
    # The applier process applies them; its pushes reach the agent's socket on the web process.
    final = await live.until_ended(call["id"], timeout=30)
    assert final["outcome"] == "completed"
    statuses = [u["status"] for u in live.for_call(call["id"])]
    assert statuses == ["queued", "initiated", "ringing", "in-progress", "completed"]
    await web.settled(timeout=15)
    async with web.app[sessionmaker_key]() as session:
        stored = (await session.exec(select(Call).where(col(Call.id) == call["id"]))).one()
        rows = (await session.exec(select(WebhookInbox.status))).all()
    assert (stored.status, stored.outcome) == ("completed", "completed")
    assert set(rows) == {InboxStatus.APPLIED}

    # Twilio: a console call's signed status callbacks, stored here and applied there.
    twilio = await register_twilio(web)
    sid = new_sid("CA")
    for seq, progress in enumerate(["initiated", "ringing", "in-progress", "completed"]):
        params = console_call(sid, progress, seq, to=PRIYA_E164, duration=7 if seq == 3 else None)
        sent = await post_signed(web.http, hook_url(web, twilio["id"]), params, AUTH_TOKEN)
        assert sent.status == 204
    await web.settled(timeout=30)
    async with web.app[sessionmaker_key]() as session:
        console = (await session.exec(select(Call).where(col(Call.carrier_call_id) == sid))).one()
    assert (console.status, console.outcome, console.duration_s) == ("completed", "completed", 7)

    proc = applier_process[0]
    proc.terminate()
    assert await asyncio.wait_for(proc.wait(), 20) == 0  # SIGTERM: a clean stop
