"""Shared fixtures: a migrated database per test (SQLite and PostgreSQL), a running gateway."""

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import pytest
import socketio
from aiohttp.test_utils import TestServer
from sqlmodel import SQLModel, col, func, select

from gateway.app import create_app
from gateway.carriers.registry import CarrierRegistry
from gateway.db import make_engine, make_sessionmaker
from gateway.demo import seed_demo
from gateway.keys import sessionmaker_key
from gateway.migrate import upgrade
from gateway.models import InboxStatus, WebhookInbox
from gateway.settings import Settings

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/dialgate_test"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unavailable(what: str, exc: BaseException) -> None:
    """Outside CI a missing server skips its tests; in CI it fails them (CI starts both)."""
    message = f"{what} is not reachable: {exc!r}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def in_thread(func: Callable[[], Any]) -> Any:
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(func).result()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- databases -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy (migrations are tested every run)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


def _admin_dsn(url: str) -> tuple[str, str, str]:
    """Admin DSN, this run's database name (base + pid: runs never share) and its URL."""
    parts = urlsplit(url)
    base = parts.path.lstrip("/")
    db_name = f"{base}_{os.getpid()}"
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    return admin, db_name, urlunsplit(parts._replace(path=f"/{db_name}"))


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this run, dropped at the end."""
    admin_dsn, db_name, run_url = _admin_dsn(PG_URL)
    base = db_name.rsplit("_", 1)[0]

    async def recreate(drop_only: bool = False) -> None:
        conn = await asyncpg.connect(admin_dsn, timeout=5)
        try:
            # Databases of earlier runs that died before cleaning up (their pid is gone).
            for row in await conn.fetch(
                "SELECT datname FROM pg_database WHERE datname LIKE $1", f"{base}\\_%"
            ):
                pid = row["datname"].rsplit("_", 1)[1]
                if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):  # noqa: ASYNC240
                    await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
            await conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            if not drop_only:
                await conn.execute(f'CREATE DATABASE "{db_name}"')
        finally:
            await conn.close()

    # Requested from inside a running event loop: work in a thread with a loop of its own.
    try:
        in_thread(lambda: asyncio.run(recreate()))
    except (OSError, asyncpg.PostgresError) as exc:
        unavailable("PostgreSQL", exc)
    in_thread(lambda: upgrade(run_url))
    yield run_url
    in_thread(lambda: asyncio.run(recreate(drop_only=True)))


async def _truncate_pg(url: str) -> None:
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> AsyncIterator[str]:
    """Each test starts from a clean, migrated database, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "dialgate.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_database")
        await _truncate_pg(url)
        yield url


@pytest.fixture
async def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "dialgate.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


# --- the running gateway -----------------------------------------------------------------


def test_settings(db_url: str, port: int, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "DATABASE_URL": db_url,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "SANDBOX_SPEED": 20.0,
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST_KIB": 256,
        "OUTBOUND_TIMEOUT_S": 5.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@dataclass
class LiveCall:
    """`call_updated` events one Socket.IO client received."""

    client: socketio.AsyncClient
    updates: list[dict[str, Any]] = field(default_factory=list)
    other: list[tuple[str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        async def scan() -> dict[str, Any]:
            while True:
                for update in self.updates:
                    if predicate(update):
                        return update
                self.changed.clear()
                await self.changed.wait()

        return await asyncio.wait_for(scan(), timeout)

    async def until_ended(self, call_id: int, timeout: float = 10.0) -> dict[str, Any]:
        return await self.wait_for(
            lambda u: u["call_id"] == call_id and u["status"] == "completed", timeout
        )

    def for_call(self, call_id: int) -> list[dict[str, Any]]:
        return [u for u in self.updates if u["call_id"] == call_id]


@dataclass
class Gateway:
    url: str
    settings: Settings
    server: TestServer
    http: aiohttp.ClientSession
    sockets: list[socketio.AsyncClient] = field(default_factory=list)

    @property
    def app(self) -> Any:
        return self.server.app

    async def login(self, email: str, password: str = "demo") -> str:
        async with self.http.post(
            f"{self.url}/api/auth/login", json={"email": email, "password": password}
        ) as resp:
            assert resp.status == 200, await resp.text()
            return str((await resp.json())["token"])

    async def settled(self, timeout: float = 10.0) -> None:
        """Wait until every stored webhook has been applied (the carrier's 2xx comes first)."""
        async with asyncio.timeout(timeout):
            while True:
                async with self.app[sessionmaker_key]() as session:
                    pending = (
                        await session.exec(
                            select(func.count())
                            .select_from(WebhookInbox)
                            .where(col(WebhookInbox.status) == InboxStatus.PENDING)
                        )
                    ).one()
                if pending == 0:
                    return
                await asyncio.sleep(0.01)

    async def request(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with self.http.request(
            method, f"{self.url}{path}", headers=headers, **kwargs
        ) as resp:
            body = await resp.json(content_type=None) if await resp.read() else None
        if path.startswith("/webhooks/"):
            # Callers read the effects next: let the applier catch up first.
            await self.settled()
        return resp.status, body

    async def connect(self, token: str, url: str | None = None) -> LiveCall:
        client = socketio.AsyncClient(reconnection=False)
        live = LiveCall(client)

        async def on_update(data: dict[str, Any]) -> None:
            live.updates.append(data)
            live.changed.set()

        client.on("call_updated", on_update, namespace="/dialer")
        await client.connect(
            url or self.url,
            namespaces=["/dialer"],
            auth={"token": token},
            transports=["websocket"],
            wait_timeout=5,
        )
        self.sockets.append(client)
        return live


async def seed(settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    async with make_sessionmaker(engine)() as session:
        assert await seed_demo(session, settings, CarrierRegistry())
        await session.commit()
    await engine.dispose()


GatewayFactory = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def start_gateway(db_url: str) -> AsyncIterator[GatewayFactory]:
    """Start gateways over real HTTP on the test database; the first call seeds the demo."""
    started: list[Gateway] = []
    seeded = False

    async def start(**overrides: Any) -> Gateway:
        nonlocal seeded
        port = free_port()
        settings = test_settings(db_url, port, **overrides)
        if not seeded:
            await seed(settings)
            seeded = True
        server = TestServer(create_app(settings), host="127.0.0.1", port=port)
        await server.start_server()
        http = aiohttp.ClientSession()
        gw = Gateway(url=f"http://127.0.0.1:{port}", settings=settings, server=server, http=http)
        started.append(gw)
        return gw

    yield start
    for gw in started:
        for sock in gw.sockets:
            await sock.disconnect()
        await gw.http.close()
        await gw.server.close()


@pytest.fixture
async def gateway(start_gateway: GatewayFactory) -> Gateway:
    return await start_gateway()
