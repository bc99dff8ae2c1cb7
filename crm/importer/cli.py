"""`dialgate leads import`: the same job code as the API, run in this process."""

import asyncio
import secrets
import shutil
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from crm.importer.job import ImportContext, run_job
from crm.importer.runtime import make_pool, shutdown_pool
from crm.importer.service import (
    create_job,
    imports_dir,
    issue_to_json,
    job_to_json,
    list_issues,
    parse_options,
)
from gateway.db import make_engine, make_sessionmaker
from gateway.errors import InvalidInput
from gateway.models import ImportJob, ImportRowIssue
from gateway.settings import Settings

ISSUES_SHOWN = 20


def _copy(source: Path, directory: Path) -> Path:
    """The job works on (and at its end removes) its own copy: the operator's file stays."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory.resolve() / f"cli-{secrets.token_hex(12)}.csv"
    shutil.copyfile(source, target)
    return target


async def _progress(job: ImportJob) -> None:
    # The total is counted while the first rows are imported: unknown in the first reports.
    total = f"/{job.total_rows}" if job.total_rows is not None else ""
    print(f"import {job.id}: {job.processed_rows}{total} rows", file=sys.stderr, flush=True)


async def import_file(
    settings: Settings, *, path: Path, org_id: int, options: dict[str, Any]
) -> dict[str, Any]:
    """Import `path` into the organization and return the report (job, issue counts, the
    first issues)."""
    if not await asyncio.to_thread(path.is_file):
        raise InvalidInput(f"no such file: {path}", field="file")
    parsed = parse_options(options)
    engine = make_engine(settings.database_url)
    pool = make_pool(settings.import_workers)
    try:
        sessionmaker = make_sessionmaker(engine)
        copy = await asyncio.to_thread(_copy, path, imports_dir(settings.data_dir))
        try:
            async with sessionmaker() as session:
                job = await create_job(
                    session,
                    org_id=org_id,
                    principal=None,
                    path=copy,
                    filename=path.name,
                    options=parsed,
                )
                await session.commit()
        except BaseException:
            await asyncio.to_thread(copy.unlink, True)
            raise
        assert job.id is not None
        ctx = ImportContext(sessionmaker, settings, pool=pool, progress=_progress)
        done = await run_job(ctx, job.id)
        assert done is not None
        async with sessionmaker() as session:
            counts = (
                await (await session.connection()).execute(
                    sa.select(col(ImportRowIssue.code), sa.func.count())
                    .where(col(ImportRowIssue.job_id) == job.id)
                    .group_by(col(ImportRowIssue.code))
                )
            ).all()
            first, _ = await list_issues(
                session, job_id=job.id, code=None, limit=ISSUES_SHOWN, after_id=None
            )
        report = job_to_json(done)
        report["issue_counts"] = {code: n for code, n in sorted(counts)}
        report["first_issues"] = [issue_to_json(i) for i in first]
        return report
    finally:
        if pool is not None:
            # Bounded like the gateway's stop: an interrupted import must not hang on a worker.
            await asyncio.to_thread(shutdown_pool, pool)
        await engine.dispose()
