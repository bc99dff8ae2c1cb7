"""Stopping background tasks for certain, even when a cancellation gets lost."""

import asyncio
from collections.abc import Iterable
from typing import Any

# Python 3.11's asyncio.wait_for and asyncio.timeout can swallow a cancellation that arrives
# as the awaited thing completes; a loop around them then runs on and never ends. Cancelling
# again after a short wait stops it.
RECANCEL_AFTER_S = 0.5


async def stop_tasks(tasks: Iterable["asyncio.Task[Any]"]) -> None:
    """Cancel the tasks and wait until every one has ended, cancelling again as needed."""
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=RECANCEL_AFTER_S)
