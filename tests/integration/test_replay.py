"""Replaying stored webhooks after a fix applies what was not understood, and nothing twice."""

import asyncio
import json
import sys
from pathlib import Path

import pytest
from sqlmodel import col, select

from gateway.carriers.sandbox import const, signature
from gateway.keys import sessionmaker_key
from gateway.models import (
    AgentPresence,
    Call,
    CallEventRecord,
    CallLeg,
    CallOutcome,
    CallStatus,
    CarrierAccount,
    InboxStatus,
    PresenceEvent,
    WebhookInbox,
)
from tests.conftest import Gateway
from webhooks.replay import replay

ROOT = Path(__file__).resolve().parents[2]


async def post_sandbox(gw: Gateway, payload: dict[str, object]) -> int:
    async with gw.app[sessionmaker_key]() as session:
        account = (await session.exec(select(CarrierAccount))).one()
    path = f"/webhooks/sandbox/{account.id}/status"
    body = json.dumps(payload).encode()
    header = signature.header_value(account.credentials["api_key"], gw.url + path, body)
    status, _ = await gw.request(
        "POST",
        path,
        data=body,
        headers={"Content-Type": "application/json", "X-Sandbox-Signature": header},
    )
    return status


CALL = {
    "call_id": "SBconsole1",
    "direction": "outbound",
    "from": "+918047180000",
    "to": "+919876543210",
}


async def test_replay_applies_events_a_fix_now_understands(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await post_sandbox(gateway, {**CALL, "status": "ringing", "sequence": 0}) == 204
    # A status this version does not know: stored and flagged, the call stays ringing.
    assert (
        await post_sandbox(gateway, {**CALL, "status": "hungup", "sequence": 1, "duration": 7})
        == 204
    )
    async with gateway.app[sessionmaker_key]() as session:
        call = (await session.exec(select(Call))).one()
        events = (await session.exec(select(CallEventRecord))).all()
    assert call.status == CallStatus.RINGING
    assert [e.disposition for e in events] == ["applied", "unknown-status"]

    # The fix: the carrier's new word means "completed".
    monkeypatch.setitem(const.STATUS_MAP, "hungup", (CallStatus.COMPLETED, CallOutcome.COMPLETED))
    report = await replay(gateway.app, statuses={"applied"})
    assert (report.selected, report.changed_calls, report.failed) == (2, 1, 0)
    async with gateway.app[sessionmaker_key]() as session:
        call = (await session.exec(select(Call))).one()
        events = (
            await session.exec(select(CallEventRecord).order_by(col(CallEventRecord.id)))
        ).all()
    assert (call.status, call.outcome) == ("completed", "completed")
    assert [e.disposition for e in events] == ["applied", "applied"]

    again = await replay(gateway.app, statuses={"applied"})
    assert (again.selected, again.changed_calls, again.failed) == (2, 0, 0)
    async with gateway.app[sessionmaker_key]() as session:
        assert len((await session.exec(select(CallEventRecord))).all()) == 2


async def test_replay_retries_failed_rows(gateway: Gateway) -> None:
    assert await post_sandbox(gateway, {**CALL, "status": "answered", "sequence": 2}) == 204
    # The call's agent goes on-call just after it is applied; let that land before undoing.
    async with asyncio.timeout(5):
        while True:
            async with gateway.app[sessionmaker_key]() as session:
                if (await session.exec(select(AgentPresence.call_id))).first():
                    break
            await asyncio.sleep(0.02)
    async with gateway.app[sessionmaker_key]() as session:
        row = (await session.exec(select(WebhookInbox))).one()
        # As if applying had failed for good (e.g. the database was down five times).
        row.status = InboxStatus.FAILED
        await session.commit()
        # ... so none of its effects exist.
        for model in (AgentPresence, PresenceEvent, CallEventRecord, CallLeg, Call):
            for item in (await session.exec(select(model))).all():
                await session.delete(item)
            await session.flush()
        await session.commit()
    report = await replay(gateway.app, statuses={"failed"})
    assert (report.selected, report.changed_calls, report.failed) == (1, 1, 0)
    async with gateway.app[sessionmaker_key]() as session:
        call = (await session.exec(select(Call))).one()
        row = (await session.exec(select(WebhookInbox))).one()
    assert call.status == CallStatus.IN_PROGRESS and row.status == InboxStatus.APPLIED


async def test_replay_command(tmp_path: Path, sqlite_url: str) -> None:
    import asyncio
    import os

    env = {
        **os.environ,
        "DATABASE_URL": sqlite_url,
        "PYTHONPATH": str(ROOT),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "webhooks",
        "replay",
        "--all",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, out.decode()
    assert "replayed 0 stored webhooks" in out.decode()
