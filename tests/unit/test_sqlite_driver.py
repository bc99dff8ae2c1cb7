"""The SQLite driver and SQLAlchemy's connection terminate path must not hang a shutdown."""

import asyncio

import aiosqlite
from sqlalchemy.ext.asyncio import create_async_engine


async def test_a_close_racing_a_cancelled_terminate_still_returns() -> None:
    # When a task is cancelled while SQLAlchemy terminates its connection, SQLAlchemy has started
    # a shielded graceful close() and then, where the driver supports it, force-stops the driver's
    # thread as well. With aiosqlite 0.22 the close() then waits on that exited thread forever,
    # and the event loop can never finish at shutdown.
    engine = create_async_engine("sqlite+aiosqlite://")
    try:
        conn = await aiosqlite.connect(":memory:")
        closing = asyncio.create_task(conn.close())
        await asyncio.sleep(0)
        if engine.dialect.has_terminate:
            conn.stop()  # type: ignore[attr-defined,unused-ignore]
        await asyncio.wait_for(closing, 5)
    finally:
        await engine.dispose()
