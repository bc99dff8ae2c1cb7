"""An import job's collector settings: set by the first running job, restored by the last."""

import gc
import os

from crm.importer.job import BULK_GC_THRESHOLD, _collector_for_bulk
from crm.importer.runtime import WORKER_NICENESS, make_pool, shutdown_pool


def test_jobs_share_the_collector_settings_and_the_last_one_restores_them() -> None:
    before = gc.get_threshold()
    frozen_before = gc.get_freeze_count()
    first = _collector_for_bulk()
    second = _collector_for_bulk()
    first.__enter__()
    assert gc.get_threshold() == (BULK_GC_THRESHOLD, *before[1:])
    assert gc.get_freeze_count() > frozen_before
    second.__enter__()
    # The first job ends while the second runs: the second keeps the bulk settings.
    first.__exit__(None, None, None)
    assert gc.get_threshold()[0] == BULK_GC_THRESHOLD
    assert gc.get_freeze_count() > frozen_before
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_a_failing_job_restores_the_settings() -> None:
    before = gc.get_threshold()
    try:
        with _collector_for_bulk():
            raise RuntimeError("the job failed")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before


def test_parsing_processes_yield_the_cpu_to_the_gateway() -> None:
    pool = make_pool(1)
    assert pool is not None
    try:
        worker_niceness = pool.submit(os.nice, 0).result(timeout=30)
        frozen = pool.submit(gc.get_freeze_count).result(timeout=30)
    finally:
        shutdown_pool(pool)
    assert worker_niceness == min(19, os.nice(0) + WORKER_NICENESS)
    # And each one froze what it inherited from the gateway.
    assert frozen > 0
