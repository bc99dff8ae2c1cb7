"""`dialgate serve --processes N`: workers sharing one port, a graceful stop, refusals.

The gateway runs as the operator runs it, a `dialgate serve` subprocess on PostgreSQL and Redis;
an in-process gateway on the same database registers the carrier account and reads the result.
"""

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlmodel import col, func, select

from gateway.keys import sessionmaker_key
from gateway.models import Call, CallEventRecord, InboxStatus, WebhookInbox
from tests.conftest import Gateway, GatewayFactory, free_port
from tests.integration.test_cli import env_for
from tests.integration.test_redis_scaleout import channel, redis_url
from tests.integration.test_twilio_flow import (
    AUTH_TOKEN,
    PRIYA_E164,
    console_call,
    register_twilio,
)
from tests.standins.twilio_api import new_sid, post_signed

__all__ = ["channel", "redis_url"]  # fixtures shared with the scale-out tests
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.parametrize("db_url", ["postgres"], indirect=True),
]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CALLS = 100
PROGRESS = ["ringing", "in-progress", "completed"]  # three callbacks a call: 300 in all


class Served:
    """A `dialgate serve --processes N` subprocess and its log."""

    def __init__(self, proc: asyncio.subprocess.Process, log: Path, url: str) -> None:
        self.proc, self.log, self.url = proc, log, url

    def worker_pids(self) -> dict[int, int]:
        found = re.findall(r"worker (\d+) \(pid (\d+)\) serving", self.log.read_text())
        return {int(index): int(pid) for index, pid in found}

    async def ready(self, workers: int, timeout: float = 60.0) -> None:
        async with asyncio.timeout(timeout), aiohttp.ClientSession() as http:
            while len(self.worker_pids()) < workers:
                assert self.proc.returncode is None, self.log.read_text()
                await asyncio.sleep(0.1)
            while True:
                try:
                    async with http.get(f"{self.url}/readyz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)


@pytest.fixture
async def serve(tmp_path: Path, redis_url: str, channel: str) -> AsyncIterator[list[Served]]:
    started: list[Served] = []
    yield started
    for served in started:
        if served.proc.returncode is None:
            served.proc.kill()
            await served.proc.wait()
        for pid in served.worker_pids().values():
            if os.path.exists(f"/proc/{pid}"):  # noqa: ASYNC240
                os.kill(pid, signal.SIGKILL)


async def start_serve(started: list[Served], gw: Gateway, tmp_path: Path, processes: int) -> Served:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = env_for(
        tmp_path,
        PYTHONPATH=str(PROJECT_ROOT),
        DATABASE_URL=gw.settings.database_url,
        REDIS_URL=gw.settings.redis_url or "",
        SOCKETIO_CHANNEL=gw.settings.socketio_channel,
        PUBLIC_BASE_URL=url,  # what the carrier signs
        LOG_LEVEL="INFO",
    )
    log = tmp_path / f"serve-{port}.log"
    # Appending: the processes share the file, and each line must land at its end.
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--processes",
            str(processes),
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    served = Served(proc, log, url)
    started.append(served)
    await served.ready(processes)
    return served


async def _inbox_statuses(gw: Gateway) -> list[InboxStatus]:
    async with gw.app[sessionmaker_key]() as session:
        return list((await session.exec(select(WebhookInbox.status))).all())


async def _gone(pids: list[int], timeout: float) -> bool:
    async with asyncio.timeout(timeout):
        while any(os.path.exists(f"/proc/{pid}") for pid in pids):  # noqa: ASYNC110, ASYNC240
            await asyncio.sleep(0.05)
    return True


async def test_two_workers_ack_and_apply_every_callback_once(
    channel: str,
    redis_url: str,
    start_gateway: GatewayFactory,
    serve: list[Served],
    tmp_path: Path,
) -> None:
    # This process only registers the account and reads the database: it applies nothing.
    gw = await start_gateway(
        REDIS_URL=redis_url, SOCKETIO_CHANNEL=channel, APPLIER_IN_PROCESS=False
    )
    twilio = await register_twilio(gw)
    served = await start_serve(serve, gw, tmp_path, processes=2)
    pids = served.worker_pids()
    assert set(pids) == {1, 2} and served.proc.pid not in pids.values()

    # Every request on a new connection, so the kernel spreads them over the two sockets.
    connector = aiohttp.TCPConnector(force_close=True, limit=64)
    async with aiohttp.ClientSession(connector=connector) as http:
        # Both workers answer on the one port (the second may still be starting up; a port
        # only one of them listened on would never show the other).
        seen: set[str] = set()
        async with asyncio.timeout(30):
            while seen != {"1", "2"}:
                async with http.get(f"{served.url}/healthz") as resp:
                    assert resp.status == 200
                    seen.add(resp.headers["X-Dialgate-Worker"])

        hook = f"{served.url}/webhooks/twilio/{twilio['id']}/status"
        sids = [new_sid("CA") for _ in range(CALLS)]
        sent = await asyncio.gather(
            *(
                post_signed(
                    http,
                    hook,
                    console_call(
                        sid, progress, seq, to=PRIYA_E164, duration=9 if seq == 2 else None
                    ),
                    AUTH_TOKEN,
                )
                for sid in sids
                for seq, progress in enumerate(PROGRESS)
            )
        )
    assert [r.status for r in sent] == [204] * CALLS * len(PROGRESS)

    async with asyncio.timeout(60):
        while (statuses := await _inbox_statuses(gw)).count(InboxStatus.APPLIED) < len(sent):
            assert InboxStatus.FAILED not in statuses
            await asyncio.sleep(0.2)
    assert len(statuses) == len(sent)
    async with gw.app[sessionmaker_key]() as session:
        calls = (await session.exec(select(Call).where(col(Call.carrier_call_id).in_(sids)))).all()
        events = (
            await session.exec(
                select(CallEventRecord.call_id, func.count())
                .where(col(CallEventRecord.account_id) == twilio["id"])
                .group_by(col(CallEventRecord.call_id))
            )
        ).all()
    assert len(calls) == CALLS
    assert {(c.status, c.outcome, c.duration_s) for c in calls} == {("completed", "completed", 9)}
    assert sorted(n for _, n in events) == [len(PROGRESS)] * CALLS
    assert {call_id for call_id, _ in events} == {c.id for c in calls}

    # SIGTERM to the parent: every worker stops gracefully, all within a few seconds.
    served.proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(served.proc.wait(), 10) == 0
    assert await _gone(list(pids.values()), 5)


async def test_a_dead_worker_stops_the_rest_with_an_error(
    channel: str,
    redis_url: str,
    start_gateway: GatewayFactory,
    serve: list[Served],
    tmp_path: Path,
) -> None:
    gw = await start_gateway(REDIS_URL=redis_url, SOCKETIO_CHANNEL=channel)
    served = await start_serve(serve, gw, tmp_path, processes=2)
    pids = served.worker_pids()
    os.kill(pids[1], signal.SIGKILL)
    # No silent restart: the parent stops the survivor and reports failure to its supervisor.
    assert await asyncio.wait_for(served.proc.wait(), 40) == 1
    assert await _gone(list(pids.values()), 5)
    assert f"worker pid {pids[1]} exited with status -9" in served.log.read_text()
