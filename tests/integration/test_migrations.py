"""The migrations build the schema the models describe, and the newest one steps back and
forth on both databases."""

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import gateway.models  # noqa: F401  (the tables the metadata holds)
from gateway.db import make_engine
from gateway.migrate import alembic_config, upgrade
from tests.conftest import PG_URL, _admin_dsn, unavailable


async def _differences(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), SQLModel.metadata)
            )
    finally:
        await engine.dispose()


async def _partial_indexes(url: str) -> dict[str, str]:
    """Each partial index of `lead` and `lead_assignment`, with its condition."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                rows = await conn.execute(
                    sa.text(
                        "SELECT indexname, indexdef FROM pg_indexes"
                        " WHERE tablename IN ('lead', 'lead_assignment')"
                    )
                )
            else:
                rows = await conn.execute(
                    sa.text(
                        "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                        " AND tbl_name IN ('lead', 'lead_assignment') AND sql IS NOT NULL"
                    )
                )
            return {n: d.split(" WHERE ", 1)[1] for n, d in rows.all() if " WHERE " in d}
    finally:
        await engine.dispose()


async def _steps(url: str) -> None:
    await asyncio.to_thread(upgrade, url)
    assert await _differences(url) == []
    partial = await _partial_indexes(url)
    assert set(partial) == {
        "ix_lead_team_id",
        "ix_lead_next_follow_up_at",
        "ix_lead_merged_into_id",
        "ix_lead_assignment_agent_id",
    }
    assert all("IS NOT NULL" in where for where in partial.values())
    await asyncio.to_thread(command.downgrade, alembic_config(url), "0012")
    assert await _partial_indexes(url) == {}
    await asyncio.to_thread(upgrade, url)
    assert await _differences(url) == []
    assert set(await _partial_indexes(url)) == set(partial)


async def test_sqlite_migrations_match_the_models_and_step_back(tmp_path: Path) -> None:
    await _steps(f"sqlite+aiosqlite:///{tmp_path}/migrations.db")


async def test_postgres_migrations_match_the_models_and_step_back() -> None:
    admin_dsn, name, url = _admin_dsn(PG_URL)
    name, url = f"{name}_migrations", url.replace(f"/{name}", f"/{name}_migrations")
    # Its own database: stepping back would break the run's shared one.

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(admin_dsn, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError) as exc:
        unavailable("PostgreSQL", exc)
    try:
        await _steps(url)
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
