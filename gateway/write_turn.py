"""Turns between one process's writers on SQLite, so they queue instead of polling its lock."""

import asyncio
import contextlib
from collections.abc import AsyncIterator


class WriteTurn:
    """Takes turns between this process's busiest writers (the inbox, the applier) on SQLite.

    SQLite has one writer at a time, and a writer that finds the database locked polls it,
    sleeping up to 100 ms between tries: an inbox commit that collides with the applier's
    transaction can wait far longer than the transaction lasts. Waiting for an asyncio lock
    instead hands the turn over the moment it is free. PostgreSQL has no such lock: no turns.
    """

    def __init__(self, database_url: str) -> None:
        self._lock = asyncio.Lock() if database_url.startswith("sqlite") else None

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        if self._lock is None:
            yield
            return
        async with self._lock:
            yield
