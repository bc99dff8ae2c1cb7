"""Import jobs inside the app: background tasks, the parsing processes, progress pushes."""

import asyncio
import gc
import logging
import multiprocessing
from collections.abc import AsyncIterator
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field

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


def make_pool(workers: int) -> Executor | None:
    """Processes that parse phone numbers; None (parse in a thread) when `workers` is 0.

    fork (Linux's default for Python before 3.14): a worker starts at once with this process's
    modules. spawn and forkserver re-import the main module in every worker (the whole app,
    seconds on a loaded machine). The workers run only `crm.importer.rows`, which takes no
    lock another thread of this process could hold at the fork.
    """
    if workers <= 0:
        return None
    # Each worker freezes what it inherited: the collector's full passes then walk only the
    # worker's own chunk, not the app's heap (which stays shared with this process, as the
    # passes would otherwise write to its pages).
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("fork"), initializer=gc.freeze
    )


@dataclass
class ImportRuntime:
    """The app's import runner: one task per running job, tracked with the app's tasks."""

    app: web.Application
    settings: Settings
    pool: Executor | None = None
    # Awaited around each chunk's commit (tests simulate crashes with it).
    hook: Hook | None = None
    running: dict[int, asyncio.Task[None]] = field(default_factory=dict)

    def _context(self) -> ImportContext:
        if self.pool is None and self.settings.import_workers > 0:
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

    async def close(self) -> None:
        if self.pool is not None:
            pool, self.pool = self.pool, None
            await asyncio.to_thread(pool.shutdown, True, cancel_futures=True)


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
    await stop_tasks(list(runtime.running.values()))
    await runtime.close()
