"""Import jobs inside the app: background tasks, the parsing processes, progress pushes."""

import asyncio
import contextlib
import gc
import logging
import multiprocessing
import os
import time
from collections.abc import AsyncIterator
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import wait

from aiohttp import web
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.assignment.service import push_assigned
from crm.importer.job import Hook, ImportContext, run_job
from crm.importer.service import job_to_json
from dialer.rooms import agent_room
from gateway.keys import sessionmaker_key, settings_key, sio_key, tasks_key
from gateway.models import ImportJob
from gateway.settings import Settings
from gateway.stopping import stop_tasks

log = logging.getLogger(__name__)
NAMESPACE = "/dialer"


# How long a stopping gateway lets the parsing processes finish the chunk each one is on
# (a chunk takes milliseconds); a worker still busy after that is killed.
POOL_GRACE_S = 5.0


def shutdown_pool(pool: Executor, grace_s: float = POOL_GRACE_S) -> int:
    """Shut the pool down within `grace_s`, whatever its workers do; returns how many were
    killed. Blocking: run it in a thread.

    `shutdown(wait=True)` waits for every running call, however long: one wedged worker
    and the gateway never stops. Queued calls are canceled; running ones get the grace.
    """
    # The worker processes, taken before shutdown() forgets them. A private attribute:
    # concurrent.futures has no public way to reach a pool's processes before Python 3.14.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + grace_s
    killed = 0
    for process in processes:
        # A process has ended once its sentinel is ready, whichever thread reaps it (the
        # pool's own manager thread joins them too, which can leave is_alive() briefly
        # saying True for a process that is gone).
        if not wait([process.sentinel], max(0.0, deadline - time.monotonic())):
            process.kill()
            wait([process.sentinel], 5.0)  # SIGKILL cannot be ignored; a loaded machine may lag
            killed += 1
    return killed


def make_pool(workers: int) -> Executor | None:
    """Processes that parse phone numbers; None (parse in a thread) when `workers` is 0.

    fork (Linux's default for Python before 3.14): a worker starts at once with this process's
    modules. spawn and forkserver re-import the main module in every worker (the whole app,
    seconds on a loaded machine). The workers run only `crm.importer.rows`, which takes no
    lock another thread of this process could hold at the fork.
    """
    if workers <= 0:
        return None
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("fork"), initializer=_worker
    )


# How much the parsing processes yield the CPU to the gateway's own process (nice(2) steps).
WORKER_NICENESS = 10


def _worker() -> None:
    """A parsing process's start: it freezes what it inherited (the collector's full passes
    then walk only the worker's own chunk, not the app's heap, which stays shared with this
    process as the passes would otherwise write to its pages), and it runs at a lower
    priority than the gateway's process. That process writes the import (its critical path)
    and answers calls and consoles: parsing takes the CPU time they leave."""
    gc.freeze()
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)


@dataclass
class ImportRuntime:
    """The app's import runner: one task per running job, tracked with the app's tasks."""

    app: web.Application
    settings: Settings
    pool: Executor | None = None
    # Awaited around each chunk's commit (tests simulate crashes with it).
    hook: Hook | None = None
    running: dict[int, asyncio.Task[None]] = field(default_factory=dict)
    # Set as the app stops: no job starts after the running ones were told to stop (it
    # stays queued and starts on the next start-up).
    stopping: bool = False

    def _context(self) -> ImportContext:
        if self.pool is None and self.settings.import_workers > 0 and not self.stopping:
            self.pool = make_pool(self.settings.import_workers)
        return ImportContext(
            sessionmaker=self.app[sessionmaker_key],
            settings=self.settings,
            pool=self.pool,
            progress=self.push_progress,
            hook=self.hook,
            on_commit=self.push_assigned,
        )

    async def push_assigned(self, session: AsyncSession) -> None:
        await push_assigned(self.app, session)

    async def push_progress(self, job: ImportJob) -> None:
        if job.created_by is None:
            return
        try:
            await self.app[sio_key].emit(
                "import_progress",
                {"job": job_to_json(job)},
                to=agent_room(job.created_by),
                namespace=NAMESPACE,
            )
        except Exception:
            # Progress is advisory: the job's state is in the database either way.
            log.exception("could not push the progress of import %s", job.id)

    def start(self, job_id: int) -> None:
        """Run the job in the background unless this process already runs it."""
        if job_id in self.running:
            return
        if self.stopping:
            log.info("import %s waits for the next start-up: the gateway is stopping", job_id)
            return
        task = asyncio.create_task(self._run(job_id), name=f"import-{job_id}")
        self.running[job_id] = task
        tasks = self.app[tasks_key]
        tasks.add(task)

        def done(t: asyncio.Task[None]) -> None:
            tasks.discard(t)
            self.running.pop(job_id, None)

        task.add_done_callback(done)

    async def _run(self, job_id: int) -> None:
        try:
            await run_job(self._context(), job_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("import %s could not run", job_id)

    async def stop(self) -> None:
        """Stop the running jobs at their last checkpoint, then the parsing processes."""
        self.stopping = True
        await stop_tasks(list(self.running.values()))
        if self.pool is not None:
            pool, self.pool = self.pool, None
            killed = await asyncio.to_thread(shutdown_pool, pool)
            if killed:
                log.warning("killed %d import worker(s) that did not stop in time", killed)


imports_key = web.AppKey("imports", ImportRuntime)


async def imports_ctx(app: web.Application) -> AsyncIterator[None]:
    """Resume the jobs a stopped or crashed process left queued or running."""
    runtime = ImportRuntime(app=app, settings=app[settings_key])
    app[imports_key] = runtime
    async with app[sessionmaker_key]() as session:
        ids = (
            await session.exec(
                select(ImportJob.id)
                .where(col(ImportJob.status).in_(("queued", "running")))
                .order_by(col(ImportJob.id))
            )
        ).all()
    for job_id in ids:
        assert job_id is not None
        runtime.start(job_id)
    if ids:
        log.info("resuming %s import jobs", len(ids))
    yield
    await runtime.stop()
