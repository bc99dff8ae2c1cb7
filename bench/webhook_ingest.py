"""Benchmark of webhook ingest: signed Twilio callbacks to the gateway vs a bare aiohttp app.

Run: `.venv/bin/python -m bench.webhook_ingest [--events N] [--concurrency C]
[--database sqlite|postgres]`. See bench/README.md for what is measured and how to read it.
"""

import argparse
import asyncio
import contextlib
import cProfile
import json
import multiprocessing
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp
import asyncpg
import sqlalchemy as sa
from aiohttp import web
from redis.asyncio import Redis
from sqlmodel import col, select
from twilio.request_validator import RequestValidator

from gateway import eventloop, logsetup
from gateway.accounts import CarrierAccountCreate, register_account
from gateway.app import create_app
from gateway.carriers.registry import CarrierRegistry
from gateway.db import make_engine, make_sessionmaker
from gateway.demo import DEMO_ORG, seed_demo
from gateway.migrate import upgrade
from gateway.models import Organization
from gateway.settings import Settings
from webhooks.applier import Applier

RESULTS = Path(__file__).parent / "results"
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PG_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/dialgate_test"
)
HOST = "127.0.0.1"  # loopback only: this benchmark never targets another address
BENCH_DB_PREFIX = "dialgate_bench"
ACCOUNT_SID = "AC" + "b3" * 16
AUTH_TOKEN = "bench-auth-token-0123456789abcdef"  # noqa: S105  (a throwaway benchmark account)
TWILIO_NUMBER = "+14155550100"
# Each simulated call's status callbacks, in Twilio's order; the mix varies the final status.
CALL_SCRIPTS: tuple[tuple[str, ...], ...] = (
    ("initiated", "ringing", "in-progress", "completed"),
    ("initiated", "ringing", "busy"),
    ("initiated", "ringing", "in-progress", "completed"),
    ("initiated", "ringing", "no-answer"),
    ("initiated", "failed"),
    ("initiated", "ringing", "canceled"),
)
SERVER_START_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 30.0


# --- the two servers (each in its own process) --------------------------------------------


async def _bare_receive(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=204)


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def baseline_app() -> web.Application:
    """The floor: aiohttp parsing the same requests and answering 204, with no work at all."""
    app = web.Application()
    app.router.add_get("/healthz", _healthz)
    app.router.add_route("*", "/{tail:.*}", _bare_receive)
    return app


def _run(app: web.Application, port: int, profile_path: str | None) -> None:
    # The same runner and log level as `dialgate serve`; SIGTERM runs the cleanup contexts.
    logsetup.configure("WARNING")
    # CPU time, not wall time: the profile stays true on a machine busy with other work.
    profiler = cProfile.Profile(time.process_time) if profile_path else None
    if profiler is not None:
        profiler.enable()
    try:
        # As `dialgate serve` runs it: EVENT_LOOP's loop (uvloop if installed), heap frozen.
        eventloop.run_app(app, Settings(_env_file=None).event_loop, host=HOST, port=port)
    finally:
        if profiler is not None and profile_path:
            profiler.disable()
            profiler.dump_stats(profile_path)


def serve_baseline(port: int) -> None:
    _run(baseline_app(), port, None)


def serve_gateway(
    port: int, values: dict[str, Any], profile_path: str | None, applier: bool
) -> None:
    if not applier:
        _disable_applier()
    _run(create_app(Settings(_env_file=None, **values)), port, profile_path)


def serve_processes(port: int, values: dict[str, Any], processes: int) -> None:
    """`dialgate serve --processes N`: the workers read their settings from the environment."""
    from gateway import workers

    os.environ.update({k: str(v) for k, v in values.items() if v is not None})
    logsetup.configure("WARNING")
    sys.exit(workers.serve(HOST, port, processes))


def _disable_applier() -> None:
    """For diagnosis: no apply task and no sweep, so the ingest path has the process alone.

    Rows are still committed before the 2xx; they just stay pending.
    """

    async def start(self: Applier) -> None:
        return None

    async def enqueue(self: Applier, ids: list[int]) -> None:
        return None

    Applier.start = start  # type: ignore[method-assign]
    Applier.enqueue = enqueue  # type: ignore[method-assign]


def _pinned(cpus: set[int] | None, target: Callable[..., None], *args: Any) -> None:
    """Run `target` on these CPUs only (`--pin`); the processes it starts inherit them."""
    if cpus:
        os.sched_setaffinity(0, cpus)
    target(*args)


class Server:
    """One server process on a loopback port."""

    def __init__(
        self,
        name: str,
        port: int,
        target: Callable[..., None],
        *args: Any,
        daemon: bool = True,
        cpus: set[int] | None = None,
    ) -> None:
        self.name = name
        self.port = port
        self.url = f"http://{HOST}:{port}"
        # spawn, not fork: the child imports afresh and shares no state with the driver.
        ctx = multiprocessing.get_context("spawn")
        self.process = ctx.Process(target=_pinned, args=(cpus, target, *args), name=f"bench-{name}")
        # A daemonic process may not start processes of its own (`--processes` does).
        self.process.daemon = daemon

    def start(self) -> None:
        self.process.start()

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    async def wait_ready(self, http: aiohttp.ClientSession) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if not self.process.is_alive():
                raise RuntimeError(f"{self.name} server exited with {self.process.exitcode}")
            try:
                async with http.get(f"{self.url}/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.name} server did not start in {SERVER_START_TIMEOUT_S} s")

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()  # SIGTERM: aiohttp shuts down and runs cleanup contexts
            self.process.join(30)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), all threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and its living descendants (`serve --processes`' workers)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(stat.parent.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        with contextlib.suppress(OSError):
            total += cpu_seconds(current)
        todo.extend(children.get(current, []))
    return total


def system_cpu() -> list[int]:
    """The machine's CPU counters (/proc/stat: user nice system idle iowait irq softirq steal)."""
    return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def cpu_shares(before: list[int], after: list[int]) -> dict[str, float]:
    """Where the whole machine's CPU time went during a run (idle or stolen time skews results)."""
    delta = [b - a for a, b in zip(before, after, strict=True)]
    total = sum(delta) or 1
    return {
        "busy": round((delta[0] + delta[1] + delta[2] + delta[5] + delta[6]) / total, 2),
        "idle": round((delta[3] + delta[4]) / total, 2),
        "steal": round(delta[7] / total, 2),
    }


# --- databases ------------------------------------------------------------------------------


@dataclass
class Database:
    kind: str
    url: str
    cleanup: Callable[[], None]
    info: dict[str, Any] = field(default_factory=dict)


def sqlite_database() -> Database:
    directory = tempfile.mkdtemp(prefix="dialgate-bench-")
    url = f"sqlite+aiosqlite:///{directory}/bench.db"
    upgrade(url)
    return Database("sqlite", url, lambda: shutil.rmtree(directory, ignore_errors=True))


def _pg_urls(tag: str = "") -> tuple[str, str, str]:
    """Admin DSN, this run's throwaway database name and its URL."""
    parts = urlsplit(PG_URL)
    name = f"{BENCH_DB_PREFIX}_{tag}{os.getpid()}"
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    return admin, name, urlunsplit(parts._replace(path=f"/{name}"))


async def _pg_admin(admin_dsn: str, name: str, *, create: bool) -> dict[str, Any]:
    conn = await asyncpg.connect(admin_dsn, timeout=5)
    try:
        # Databases of earlier runs that died before dropping theirs (their pid is gone).
        for row in await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1", f"{BENCH_DB_PREFIX}\\_%"
        ):
            pid = row["datname"].rsplit("_", 1)[1]
            if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):  # noqa: ASYNC240
                await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        info: dict[str, Any] = {}
        if create:
            await conn.execute(f'CREATE DATABASE "{name}"')
            info["server_version"] = await conn.fetchval("SHOW server_version")
            # What a commit waits for: these decide the cost of each group commit.
            info["synchronous_commit"] = await conn.fetchval("SHOW synchronous_commit")
            info["fsync"] = await conn.fetchval("SHOW fsync")
        return info
    finally:
        await conn.close()


def postgres_database(tag: str = "") -> Database:
    admin, name, url = _pg_urls(tag)
    info = asyncio.run(_pg_admin(admin, name, create=True))

    def drop() -> None:
        asyncio.run(_pg_admin(admin, name, create=False))

    upgrade(url)
    return Database("postgres", url, drop, info)


def settings_values(database_url: str, port: int) -> dict[str, Any]:
    return {
        "DATABASE_URL": database_url,
        "PUBLIC_BASE_URL": f"http://{HOST}:{port}",
        "REDIS_URL": None,  # one process: the applier's in-memory queue
        "SANDBOX_ENABLED": False,
        "LOG_LEVEL": "WARNING",
        # Only the demo logins are hashed (at seeding); cheap hashing keeps set-up short.
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST_KIB": 256,
    }


def applier_env(values: dict[str, Any]) -> dict[str, str]:
    """The environment of a `dialgate applier` process: the gateway's settings."""
    env = {k: v for k, v in os.environ.items() if k not in values}
    env.update({k: str(v) for k, v in values.items() if v is not None})
    return env


class Appliers:
    """N `dialgate applier` processes, as an operator runs them next to the web process."""

    def __init__(self, count: int, values: dict[str, Any]) -> None:
        self.count = count
        self.values = values
        self.processes: list[subprocess.Popen[bytes]] = []
        self._cwd = tempfile.mkdtemp(prefix="dialgate-bench-applier-")  # no .env there

    def start(self) -> None:
        for _ in range(self.count):
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "gateway.cli", "applier"],
                    env=applier_env(self.values),
                    cwd=self._cwd,
                )
            )

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.processes if p.poll() is None)

    def stop(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        shutil.rmtree(self._cwd, ignore_errors=True)


async def _drop_redis_keys(url: str, prefix: str) -> None:
    client = Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def seed(settings: Settings) -> tuple[int, int]:
    """The demo organization plus two Twilio accounts: one for warm-up, one measured."""
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            assert await seed_demo(session, settings, CarrierRegistry())
            org_id = (
                await session.exec(
                    select(Organization.id).where(col(Organization.name) == DEMO_ORG)
                )
            ).one()
            assert org_id is not None
            ids: list[int] = []
            for name in ("bench warm-up", "bench measured"):
                account, _ = await register_account(
                    session,
                    settings,
                    CarrierRegistry(),
                    org_id=org_id,
                    data=CarrierAccountCreate(
                        carrier="twilio",
                        name=name,
                        credentials={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN},
                    ),
                )
                assert account.id is not None
                ids.append(account.id)
            await session.commit()
    finally:
        await engine.dispose()
    return ids[0], ids[1]


async def inbox_counts(database_url: str) -> dict[int, dict[str, int]]:
    """Inbox rows per account and status, straight from the database."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.text(
                    "SELECT account_id, status, count(*) FROM webhook_inbox "
                    "GROUP BY account_id, status"
                )
            )
            counts: dict[int, dict[str, int]] = {}
            for account_id, status, n in rows:
                counts.setdefault(int(account_id), {})[str(status)] = int(n)
            return counts
    finally:
        await engine.dispose()


# --- the requests -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    path: str
    body: bytes
    headers: dict[str, str]


def status_callbacks(tag: str, count: int) -> Iterator[dict[str, str]]:
    """Twilio status callback parameters, every (CallSid, SequenceNumber) distinct."""
    start = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
    sent = 0
    call = 0
    while True:
        script = CALL_SCRIPTS[call % len(CALL_SCRIPTS)]
        call_sid = f"CA{tag}{call:028x}"
        to = f"+1202555{call % 100:04d}"
        for seq, status in enumerate(script):
            if sent == count:
                return
            params = {
                "AccountSid": ACCOUNT_SID,
                "ApiVersion": "2010-04-01",
                "CallSid": call_sid,
                "CallStatus": status,
                "Called": to,
                "Caller": TWILIO_NUMBER,
                "CallbackSource": "call-progress-events",
                "Direction": "outbound-api",
                "From": TWILIO_NUMBER,
                "SequenceNumber": str(seq),
                "Timestamp": format_datetime(start + timedelta(seconds=call + seq), usegmt=True),
                "To": to,
                "ToCountry": "US",
                "FromCountry": "US",
            }
            if status == "completed":
                params["CallDuration"] = str(30 + call % 90)
                params["Duration"] = str(1 + (30 + call % 90) // 60)
            yield params
            sent += 1
        call += 1


def prepare(base_url: str, account_id: int, tag: str, count: int) -> list[Prepared]:
    """Form-encoded, validly signed callbacks; signed by the twilio SDK (the independent oracle)."""
    path = f"/webhooks/twilio/{account_id}/status"
    validator = RequestValidator(AUTH_TOKEN)
    prepared = []
    for i, params in enumerate(status_callbacks(tag, count)):
        signature = validator.compute_signature(base_url + path, params)
        prepared.append(
            Prepared(
                path=path,
                body=urlencode(params).encode(),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "User-Agent": "TwilioProxy/1.1",
                    "I-Twilio-Idempotency-Token": f"{tag}-{i:08d}",
                    "X-Twilio-Signature": signature,
                },
            )
        )
    return prepared


# --- the load generator -----------------------------------------------------------------------


@dataclass
class RunResult:
    name: str
    requests: int
    elapsed_s: float
    statuses: dict[str, int]
    latencies_ms: list[float]
    server_cpu_s: float
    client_cpu_s: float
    machine_cpu: dict[str, float]
    errors: list[str] = field(default_factory=list)
    # wrk reports percentiles, not each request's time: then these replace `latencies_ms`.
    latency_summary: dict[str, float] | None = None

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if status.startswith("2"))

    def latency(self) -> dict[str, float]:
        if self.latency_summary is not None:
            return self.latency_summary
        lat = sorted(self.latencies_ms)
        return {
            "p50": round(percentile(lat, 50), 2),
            "p90": round(percentile(lat, 90), 2),
            "p99": round(percentile(lat, 99), 2),
            "max": round(lat[-1], 2) if lat else 0.0,
            "mean": round(sum(lat) / len(lat), 2) if lat else 0.0,
        }

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "ok_2xx": self.ok,
            "statuses": self.statuses,
            "errors_sample": self.errors[:5],
            "elapsed_s": round(self.elapsed_s, 3),
            "throughput_rps": round(self.requests / self.elapsed_s, 1),
            "latency_ms": self.latency(),
            # CPU time per request: what each side costs, whichever one is the bottleneck.
            "server_cpu_us_per_request": round(self.server_cpu_s / self.requests * 1e6, 1),
            "server_cpu_utilization": round(self.server_cpu_s / self.elapsed_s, 2),
            "client_cpu_us_per_request": round(self.client_cpu_s / self.requests * 1e6, 1),
            "client_cpu_utilization": round(self.client_cpu_s / self.elapsed_s, 2),
            "machine_cpu": self.machine_cpu,
        }


def percentile(ordered: list[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not ordered:
        return 0.0
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


async def drive(
    name: str,
    http: aiohttp.ClientSession,
    base_url: str,
    requests: list[Prepared],
    *,
    concurrency: int,
    server_pid: int,
    time_limit_s: float,
) -> RunResult:
    """Send every request, at most `concurrency` in flight; time each until its response ends."""
    latencies = [0.0] * len(requests)
    statuses: dict[str, int] = {}
    errors: list[str] = []
    pending = iter(range(len(requests)))

    async def worker() -> None:
        for i in pending:
            req = requests[i]
            start = time.perf_counter()
            try:
                async with http.post(
                    base_url + req.path, data=req.body, headers=req.headers
                ) as resp:
                    await resp.read()
                    status = str(resp.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                status = "error"
                errors.append(repr(exc))
            latencies[i] = (time.perf_counter() - start) * 1000
            statuses[status] = statuses.get(status, 0) + 1

    server_cpu = tree_cpu_seconds(server_pid)
    client_cpu = time.process_time()
    machine_cpu = system_cpu()
    start = time.perf_counter()
    async with asyncio.timeout(time_limit_s):
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    return RunResult(
        name=name,
        requests=len(requests),
        elapsed_s=elapsed,
        statuses=statuses,
        latencies_ms=latencies,
        server_cpu_s=tree_cpu_seconds(server_pid) - server_cpu,
        client_cpu_s=time.process_time() - client_cpu,
        machine_cpu=cpu_shares(machine_cpu, system_cpu()),
        errors=errors,
    )


WRK_SCRIPT = Path(__file__).with_name("wrk_replay.lua")


def raw_requests(base_url: str, requests: list[Prepared]) -> bytes:
    """The requests as HTTP/1.1 bytes, each after a line with its length (wrk_replay.lua's file)."""
    host = urlsplit(base_url).netloc
    out = bytearray()
    for req in requests:
        head = [f"POST {req.path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(req.body)}"]
        head += [f"{k}: {v}" for k, v in req.headers.items()]
        raw = ("\r\n".join(head) + "\r\n\r\n").encode() + req.body
        out += b"%d\n" % len(raw) + raw
    return bytes(out)


async def drive_wrk(
    name: str,
    base_url: str,
    requests: list[Prepared],
    *,
    concurrency: int,
    server_pid: int,
    time_limit_s: float,
    cpus: set[int] | None,
) -> RunResult:
    """Send every request once through wrk (C, one thread): a load generator that costs the
    machine a fraction of what aiohttp's client does, so the server is the bottleneck."""
    with tempfile.NamedTemporaryFile(prefix="dialgate-wrk-", suffix=".http") as file:
        file.write(raw_requests(base_url, requests))
        file.flush()
        command = ["wrk", "-t1", f"-c{concurrency}", f"-d{int(time_limit_s)}s", "--timeout"]
        command += [f"{int(REQUEST_TIMEOUT_S)}s", "-s", str(WRK_SCRIPT), base_url]
        if cpus:
            command = ["taskset", "-c", ",".join(map(str, sorted(cpus))), *command]
        env = {**os.environ, "DIALGATE_WRK_REQUESTS": file.name}
        server_cpu = tree_cpu_seconds(server_pid)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        machine_cpu = system_cpu()
        proc = await asyncio.create_subprocess_exec(
            *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        assert proc.stderr is not None and proc.stdout is not None
        start = end = time.perf_counter()
        stderr: list[str] = []
        # wrk_replay.lua says when it sends the first request and when the last answer is in;
        # wrk itself would run on to the end of its -d duration, so it is interrupted then.
        async for raw in proc.stderr:
            text = raw.decode()
            if text.startswith("dialgate-wrk: first request"):
                start = time.perf_counter()
            elif text.startswith("dialgate-wrk: all answered"):
                end = time.perf_counter()
                proc.send_signal(signal.SIGINT)
            else:
                stderr.append(text)
        out = await proc.stdout.read()
        await proc.wait()
        elapsed = (end if end > start else time.perf_counter()) - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((ln for ln in out.decode().splitlines() if ln.startswith('{"wrk"')), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {''.join(stderr)}{out.decode()}")
    w = json.loads(line)["wrk"]
    statuses = {str(k): int(v) for k, v in w["statuses"].items()}
    errors = [f"wrk socket errors: {w['errors']}"] if any(w["errors"].values()) else []
    if sum(statuses.values()) != len(requests):
        errors.append(f"wrk saw {sum(statuses.values())} answers of {len(requests)} requests")
    lat = w["latency_us"]
    return RunResult(
        name=name,
        requests=len(requests),
        elapsed_s=elapsed,
        statuses=statuses,
        latencies_ms=[],
        server_cpu_s=tree_cpu_seconds(server_pid) - server_cpu,
        client_cpu_s=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        machine_cpu=cpu_shares(machine_cpu, system_cpu()),
        errors=errors,
        latency_summary={k: round(lat[k] / 1000, 2) for k in ("p50", "p90", "p99", "max", "mean")},
    )


async def send(
    args: argparse.Namespace,
    name: str,
    http: aiohttp.ClientSession,
    base_url: str,
    requests: list[Prepared],
    server_pid: int,
) -> RunResult:
    """Send the requests with the chosen load generator."""
    kw: dict[str, Any] = {"concurrency": args.concurrency, "time_limit_s": args.time_limit}
    if args.driver == "wrk":
        cpus = args.driver_cpus
        return await drive_wrk(name, base_url, requests, server_pid=server_pid, cpus=cpus, **kw)
    return await drive(name, http, base_url, requests, server_pid=server_pid, **kw)


def session(concurrency: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency),
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
    )


@dataclass
class Variant:
    """One way of running the full path, on its own database (so no backlog is shared)."""

    name: str
    server: Server
    database: Database
    warmup_account: int
    measured_account: int
    appliers: Appliers | None = None

    def start(self) -> None:
        self.server.start()
        if self.appliers is not None:
            self.appliers.start()

    def stop(self) -> None:
        self.server.stop()
        if self.appliers is not None:
            self.appliers.stop()


@dataclass
class Plan:
    args: argparse.Namespace
    baseline: Server
    variants: list[Variant]


@dataclass
class Measured:
    variant: Variant
    run: RunResult
    inbox: dict[int, dict[str, int]]
    applier: dict[str, Any]


async def measure_variant(
    plan: Plan, variant: Variant, http: aiohttp.ClientSession, tag: str
) -> Measured:
    args = plan.args
    gateway = variant.server
    warm = prepare(gateway.url, variant.warmup_account, f"{tag}0", args.warmup)
    measured = prepare(gateway.url, variant.measured_account, f"{tag}1", args.events)
    await gateway.wait_ready(http)
    warm_full = await send(args, "warm-up", http, gateway.url, warm, gateway.pid)
    db = variant.database.url
    if variant.appliers is not None:
        # The warm-up's rows applied first: the measurement starts with no backlog.
        started = time.perf_counter()
        while _pending(await inbox_counts(db)) and time.perf_counter() - started < 120:  # noqa: ASYNC110
            await asyncio.sleep(0.5)
    # A marker for attaching a profiler (py-spy record --pid ...) to the measured part.
    print(f"measuring {variant.name} (gateway pid {gateway.pid})", flush=True)
    applier_cpu = variant.appliers.cpu_seconds() if variant.appliers else 0.0
    full = await send(args, variant.name, http, gateway.url, measured, gateway.pid)
    counts = await inbox_counts(db)
    at_end = counts

    def by_account(counts: dict[int, dict[str, int]]) -> dict[str, dict[str, int]]:
        return {
            "measured": counts.get(variant.measured_account, {}),
            "warm-up": counts.get(variant.warmup_account, {}),
        }

    applier: dict[str, Any] = {
        "processes": variant.appliers.count if variant.appliers else 0,
        "at_end_of_load": by_account(at_end),
        "applied_per_s_during_load": round(
            at_end.get(variant.measured_account, {}).get("applied", 0) / full.elapsed_s, 1
        ),
    }
    if args.drain > 0:
        # How fast the applier catches up once the load stops.
        started = time.perf_counter()
        deadline = started + args.drain
        while _pending(counts) and time.perf_counter() < deadline:
            await asyncio.sleep(0.5)
            counts = await inbox_counts(db)
        drain_s = time.perf_counter() - started
        applied = counts.get(variant.measured_account, {}).get("applied", 0)
        applier["drain_s"] = round(drain_s, 1)
        applier["after_drain"] = by_account(counts)
        applier["drain_rows_per_s"] = round((_pending(at_end) - _pending(counts)) / drain_s, 1)
        # From the first request until the last row was applied (or the drain gave up).
        applier["applied_per_s_overall"] = round(applied / (full.elapsed_s + drain_s), 1)
        applier["all_applied"] = _pending(counts) == 0
    if variant.appliers is not None:
        spent = variant.appliers.cpu_seconds() - applier_cpu
        applied = sum(c.get("applied", 0) for c in (counts.get(variant.measured_account, {}),))
        applier["applier_processes_cpu_s"] = round(spent, 2)
        if applied:
            applier["applier_cpu_ms_per_applied"] = round(spent / applied * 1000, 2)
    if warm_full.ok != warm_full.requests:
        full.errors.append(f"warm-up: {warm_full.statuses}")
    return Measured(variant, full, at_end, applier)


def _pending(counts: dict[int, dict[str, int]]) -> int:
    return sum(c.get("pending", 0) for c in counts.values())


async def measure(plan: Plan) -> tuple[RunResult, list[Measured]]:
    args = plan.args
    tag = f"{os.getpid() % 0xFFFF:04x}"
    warm = prepare(plan.baseline.url, 1, f"{tag}0", args.warmup)
    measured = prepare(plan.baseline.url, 1, f"{tag}1", args.events)
    results: list[Measured] = []
    async with session(args.concurrency) as http:
        await plan.baseline.wait_ready(http)
        # Warm-up: connections, SQL compilation caches, the account cache; not measured.
        await send(args, "warm-up", http, plan.baseline.url, warm, plan.baseline.pid)
        print(f"measuring the baseline (pid {plan.baseline.pid})", flush=True)
        base = await send(args, "baseline", http, plan.baseline.url, measured, plan.baseline.pid)
        for variant in plan.variants:
            # One variant at a time: the others' processes would compete for the CPUs.
            variant.start()
            try:
                results.append(await measure_variant(plan, variant, http, tag))
            finally:
                variant.stop()
    return base, results


# --- report -----------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    from importlib.metadata import version
    from sqlite3 import sqlite_version

    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": {
            name: version(name)
            for name in ("aiohttp", "sqlalchemy", "sqlmodel", "aiosqlite", "asyncpg")
        },
        "sqlite": sqlite_version,
        # Other work on the machine skews every number: 1-minute load average at the end.
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def source_revision() -> dict[str, Any]:
    """The commit measured, and whether the work tree differed from it."""
    root = Path(__file__).resolve().parent.parent
    git = shutil.which("git")
    if git is None:
        return {}

    def run(*args: str) -> str:
        done = subprocess.run(  # noqa: S603  (git, with arguments from this module only)
            [git, *args], cwd=root, capture_output=True, text=True, check=True, timeout=10
        )
        return done.stdout.strip()

    try:
        head = run("rev-parse", "HEAD")
        # Results written by earlier runs are no change to what is measured.
        dirty = run("status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results")
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"commit": head, "uncommitted_changes": bool(dirty)}


def row(label: str, s: dict[str, Any]) -> str:
    lat = s["latency_ms"]
    return (
        f"{label:<22}{s['throughput_rps']:>9,.0f}{lat['p50']:>9.2f}{lat['p90']:>9.2f}"
        f"{lat['p99']:>9.2f}{lat['max']:>9.1f}{s['ok_2xx']:>8}/{s['requests']:<7}"
        f"{s['server_cpu_us_per_request']:>8.0f}{s['client_cpu_us_per_request']:>8.0f}"
    )


def report(
    args: argparse.Namespace, kind: str, base: RunResult, measured: list[Measured]
) -> tuple[dict[str, Any], bool]:
    b = base.summary()
    checks: dict[str, bool] = {"baseline_all_2xx": base.ok == base.requests}
    variants: list[dict[str, Any]] = []
    for m in measured:
        f = m.run.summary()
        v = m.variant
        committed = sum(m.inbox.get(v.measured_account, {}).values())
        warm_committed = sum(m.inbox.get(v.warmup_account, {}).values())
        checks[f"{v.name}: all_2xx"] = m.run.ok == m.run.requests and not m.run.errors
        checks[f"{v.name}: inbox_rows_equal_events"] = committed == args.events
        checks[f"{v.name}: warmup_rows_equal_warmup"] = warm_committed == args.warmup
        ratios = {
            "throughput_full_over_baseline": round(f["throughput_rps"] / b["throughput_rps"], 3),
            "p99_full_over_baseline": round(f["latency_ms"]["p99"] / b["latency_ms"]["p99"], 2),
            # Independent of which process is the bottleneck (see README).
            "server_cpu_per_request_full_over_baseline": round(
                f["server_cpu_us_per_request"] / b["server_cpu_us_per_request"], 2
            ),
        }
        variants.append(
            {
                "name": v.name,
                "full": f,
                "ratios": ratios,
                "applier": m.applier,
                "committed": committed,
                "warmup_committed": warm_committed,
            }
        )
    machine = machine_info()
    machine["loadavg_1m_at_start"] = args.loadavg_at_start
    print(
        f"\nWebhook ingest: {args.events} signed Twilio status callbacks, "
        f"concurrency {args.concurrency}, database {kind}; "
        f"{machine['nproc']} CPUs, Python {machine['python']}, "
        f"load average {args.loadavg_at_start} → {machine['loadavg_1m']}\n"
    )
    print(
        f"{'':<22}{'acks/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'2xx':>8}{'':<8}{'srv µs':>8}{'cli µs':>8}{'applied/s':>11}"
    )
    print(row("baseline (bare)", b))
    for vr in variants:
        a = vr["applier"]
        rate = a.get("applied_per_s_overall", a["applied_per_s_during_load"])
        print(row(vr["name"], vr["full"]) + f"{rate:>11,.0f}")
    for vr in variants:
        r, a = vr["ratios"], vr["applier"]
        print(
            f"\n{vr['name']}: {r['throughput_full_over_baseline']:.2f}x the baseline's acks/s, "
            f"p99 time-to-ack {r['p99_full_over_baseline']:.1f}x, "
            f"server CPU per request {r['server_cpu_per_request_full_over_baseline']:.1f}x"
        )
        print(f"  inbox rows committed: {vr['committed']} of {args.events}")
        print(
            f"  applier: {a['applied_per_s_during_load']} rows/s during the load; "
            f"at its end {a['at_end_of_load']['measured']}"
        )
        if "after_drain" in a:
            print(
                f"  after {a['drain_s']} s of drain: {a['after_drain']['measured']} "
                f"({a['drain_rows_per_s']} rows/s; {a['applied_per_s_overall']} applied/s "
                "from the first request to the last row applied)"
            )
        if "applier_cpu_ms_per_applied" in a:
            print(f"  applier processes' CPU: {a['applier_cpu_ms_per_applied']} ms per row")
    ok = all(checks.values())
    print("verified: " + ("yes" if ok else f"NO {checks}"))
    result = {
        "benchmark": "webhook_ingest",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "parameters": {
            "events": args.events,
            "warmup": args.warmup,
            "concurrency": args.concurrency,
            "driver": args.driver,
            "pinned": args.pin,
            "database": kind,
            "applier": not args.no_applier,
            "workers": args.workers,
            "processes": args.processes,
            "drain_s": args.drain,
            "kind": "twilio status callback, form-encoded, X-Twilio-Signature HMAC-SHA1",
        },
        "machine": machine,
        "source": source_revision(),
        "database": measured[0].variant.database.info if measured else {},
        "baseline": b,
        # The in-process variant under the keys earlier results used.
        "full": variants[0]["full"],
        "ratios": variants[0]["ratios"],
        "applier": variants[0]["applier"],
        "variants": variants,
        "checks": checks,
        "verified": ok,
    }
    return result, ok


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.webhook_ingest", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--events", type=int, default=20_000, help="measured requests per path")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--warmup", type=int, default=500, help="unmeasured requests per path first"
    )
    parser.add_argument(
        "--drain",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="after the load, wait up to this long for the applier to apply every row",
    )
    parser.add_argument(
        "--time-limit", type=float, default=300.0, help="seconds allowed for each run of requests"
    )
    parser.add_argument(
        "--output", type=Path, help="JSON results (default bench/results/webhook_ingest-DB.json)"
    )
    parser.add_argument(
        "--no-applier",
        action="store_true",
        help="diagnosis: leave committed rows pending (no applier competing for the process)",
    )
    parser.add_argument(
        "--profile", type=Path, help="write a cProfile of the gateway process to this file"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        metavar="N",
        help="also measure the full path with Redis, its applier off and N `dialgate applier` "
        "processes (Redis at TEST_REDIS_URL)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=0,
        metavar="N",
        help="also measure `dialgate serve --processes N` (Redis at TEST_REDIS_URL; "
        "needs --database postgres); 1: one process with Redis, to compare with",
    )
    parser.add_argument(
        "--driver",
        choices=("wrk", "aiohttp"),
        default="wrk",
        help="load generator: wrk (Debian's package; C, cheap) or aiohttp's client in this process",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="run each server on CPU 0 only and the load generator on the other CPUs: "
        "the full path on one core",
    )
    args = parser.parse_args(argv)
    if args.driver == "wrk" and shutil.which("wrk") is None:
        parser.error("--driver wrk needs wrk on PATH (apt-get install wrk), or --driver aiohttp")
    cpus = sorted(os.sched_getaffinity(0))
    if args.pin and len(cpus) < 2:
        parser.error("--pin needs at least two CPUs")
    args.server_cpus = {cpus[0]} if args.pin else None
    args.driver_cpus = set(cpus[1:]) if args.pin else None
    if args.pin and args.driver == "aiohttp":
        os.sched_setaffinity(0, args.driver_cpus)
    if args.processes < 0 or (args.processes and args.database != "postgres"):
        parser.error("--processes must be positive, and needs --database postgres")
    if args.workers < 0 or (args.workers and args.no_applier):
        parser.error("--workers must be positive, and needs the applier")
    if args.events < 1 or args.concurrency < 1 or args.warmup < 0:
        parser.error("--events and --concurrency must be positive, --warmup not negative")
    return args


def _variant(
    args: argparse.Namespace,
    name: str,
    database: Database,
    workers: int,
    channel: str,
    processes: int = 0,
) -> Variant:
    port = free_port()
    values = settings_values(database.url, port)
    if workers:
        values.update(REDIS_URL=REDIS_URL, SOCKETIO_CHANNEL=channel, APPLIER_IN_PROCESS=False)
    if processes:
        values.update(REDIS_URL=REDIS_URL, SOCKETIO_CHANNEL=channel)
    accounts = asyncio.run(seed(Settings(_env_file=None, **values)))
    profile = str(args.profile.resolve()) if args.profile and not workers else None
    if processes > 1:
        server = Server(
            "gateway",
            port,
            serve_processes,
            port,
            values,
            processes,
            daemon=False,
            cpus=args.server_cpus,
        )
    else:
        server = Server(
            "gateway",
            port,
            serve_gateway,
            port,
            values,
            profile,
            not args.no_applier,
            cpus=args.server_cpus,
        )
    appliers = Appliers(workers, values) if workers else None
    return Variant(name, server, database, accounts[0], accounts[1], appliers)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.loadavg_at_start = round(os.getloadavg()[0], 2)
    kind = args.database
    channel = f"dialgate-bench-{os.getpid()}"
    databases: list[Database] = []

    def new_database(tag: str) -> Database:
        database = sqlite_database() if kind == "sqlite" else postgres_database(tag)
        databases.append(database)
        return database

    try:
        variants = [_variant(args, f"full path ({kind})", new_database(""), 0, channel)]
        if args.workers:
            name = f"+ {args.workers} applier proc."
            variants.append(_variant(args, name, new_database("w"), args.workers, channel))
        if args.processes:
            name = f"{args.processes} web proc. + Redis"
            database = new_database("p")
            variants.append(_variant(args, name, database, 0, channel, args.processes))
        base_port = free_port()
        baseline = Server("baseline", base_port, serve_baseline, base_port, cpus=args.server_cpus)
        plan = Plan(args=args, baseline=baseline, variants=variants)
        baseline.start()
        try:
            base, measured = asyncio.run(measure(plan))
        finally:
            baseline.stop()
    finally:
        for database in databases:
            database.cleanup()
        if args.workers or args.processes:
            asyncio.run(_drop_redis_keys(REDIS_URL, channel))
    result, ok = report(args, kind, base, measured)
    output = args.output or RESULTS / f"webhook_ingest-{kind}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {output}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
