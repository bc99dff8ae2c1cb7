"""Database engine and sessions (SQLAlchemy async: aiosqlite or asyncpg)."""

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from gateway.keys import engine_key, sessionmaker_key, settings_key, write_turn_key
from gateway.write_turn import WriteTurn


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        # A generous busy timeout: carrier callbacks and API writes arrive together.
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def db_ctx(app: web.Application) -> AsyncIterator[None]:
    engine = make_engine(app[settings_key].database_url)
    app[engine_key] = engine
    app[sessionmaker_key] = make_sessionmaker(engine)
    app[write_turn_key] = WriteTurn(app[settings_key].database_url)
    yield
    await engine.dispose()


def session(app: web.Application) -> AsyncSession:
    return app[sessionmaker_key]()
