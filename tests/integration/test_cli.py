"""The `dialgate` command as an operator runs it: migrate, create-user, demo, serve."""

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import free_port

DIALGATE = [sys.executable, "-m", "gateway.cli"]


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    env.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        ARGON2_TIME_COST="1",
        ARGON2_MEMORY_COST_KIB="256",
        SANDBOX_SPEED="20",
    )
    env.update(extra)
    return env


async def run(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *DIALGATE,
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode()


@pytest.fixture
def project_root() -> Path:
    return Path(__file__).resolve().parents[2]


async def test_migrate_then_create_user_then_log_in(tmp_path: Path, project_root: Path) -> None:
    env = env_for(tmp_path, PYTHONPATH=str(project_root))
    code, out = await run(["migrate"], env, tmp_path)
    assert code == 0, out
    code, out = await run(
        [
            "create-user",
            "--org",
            "Acme",
            "--email",
            "Boss@Acme.test",
            "--password",
            "correct-horse",
            "--role",
            "admin",
            "--region",
            "GB",
            "--phone",
            "020 7946 0111",
        ],
        env,
        tmp_path,
    )
    assert code == 0, out
    assert "created user" in out
    code, out = await run(
        ["create-user", "--org", "Acme", "--email", "boss@acme.test", "--password", "another-pass"],
        env,
        tmp_path,
    )
    assert code != 0 and "email" in out
    code, out = await run(
        ["create-user", "--org", "Acme", "--email", "x@acme.test", "--password", "short"],
        env,
        tmp_path,
    )
    assert code != 0 and "8 characters" in out


@pytest.fixture
async def demo(tmp_path: Path, project_root: Path) -> AsyncIterator[str]:
    port = free_port()
    env = env_for(tmp_path, PYTHONPATH=str(project_root))
    del env["DATABASE_URL"]  # the demo picks its own SQLite file
    proc = await asyncio.create_subprocess_exec(
        *DIALGATE,
        "demo",
        "--port",
        str(port),
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"{url}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("demo did not come up")
        yield url
    finally:
        proc.terminate()
        out, _ = await asyncio.wait_for(proc.communicate(), 20)
        text = out.decode()
        assert "agent1@demo.test" in text and "password: demo" in text
        assert (tmp_path / "dialgate-demo.db").exists()


async def test_demo_command_serves_logins_and_dials(demo: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{demo}/api/auth/login", json={"email": "agent1@demo.test", "password": "demo"}
        ) as resp:
            assert resp.status == 200
            token = (await resp.json())["token"]
        headers = {"Authorization": f"Bearer {token}"}
        async with http.get(f"{demo}/api/leads?limit=200", headers=headers) as resp:
            leads = (await resp.json())["data"]
        phones = [lead["phone"] for lead in leads]
        for prefix in ("+91", "+1", "+44"):  # Indian, US and UK numbers, all in E.164
            assert any(p.startswith(prefix) for p in phones), prefix
        async with http.post(
            f"{demo}/api/calls", json={"lead_id": leads[0]["id"]}, headers=headers
        ) as resp:
            assert resp.status == 202
            call = await resp.json()
        for _ in range(100):
            async with http.get(f"{demo}/api/calls/{call['id']}", headers=headers) as resp:
                detail = await resp.json()
            if detail["status"] == "completed":
                break
            await asyncio.sleep(0.1)
        assert detail["status"] == "completed"
        async with http.get(f"{demo}/api/openapi.json") as resp:
            assert resp.status == 200


async def test_serve_refuses_placeholder_secrets_in_production(
    tmp_path: Path, project_root: Path
) -> None:
    env = env_for(tmp_path, PYTHONPATH=str(project_root), DIALGATE_ENV="production")
    code, out = await run(["serve", "--port", str(free_port())], env, tmp_path)
    assert code != 0
    assert "SECRET_KEY" in out


async def test_several_processes_need_redis_and_postgres(
    tmp_path: Path, project_root: Path
) -> None:
    port = str(free_port())
    env = env_for(tmp_path, PYTHONPATH=str(project_root))
    code, out = await run(["serve", "--port", port, "--processes", "2"], env, tmp_path)
    assert code != 0
    assert "needs REDIS_URL" in out
    env = env_for(tmp_path, PYTHONPATH=str(project_root), WEB_PROCESSES="3")
    code, out = await run(["serve", "--port", port], env, tmp_path)
    assert code != 0
    assert "needs REDIS_URL" in out
    env = env_for(tmp_path, PYTHONPATH=str(project_root), REDIS_URL="redis://127.0.0.1:6379/0")
    code, out = await run(["serve", "--port", port, "--processes", "2"], env, tmp_path)
    assert code != 0
    assert "needs a PostgreSQL DATABASE_URL" in out
    code, out = await run(["serve", "--port", port, "--processes", "0"], env, tmp_path)
    assert code != 0
    assert "--processes must be 1 or more" in out
