"""`dialgate serve --processes N`: N gateway processes sharing one port (SO_REUSEPORT, Linux).

The parent only supervises: it starts the workers, forwards SIGTERM/SIGINT to them for a graceful
stop and, if a worker exits on its own (a crash, or a port it could not bind), stops the others
and exits with status 1, leaving restarts to the service manager (systemd, Docker, Kubernetes),
which already knows how to back off. Restarting inside would hide a crash loop.

Several processes share state only through Redis (Socket.IO, dial locks, pacing, presence, the
applier's stream and lease) and a server database, so N > 1 needs REDIS_URL and PostgreSQL.
"""

import logging
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

from gateway import eventloop, logsetup
from gateway.app import create_app
from gateway.health import worker_key
from gateway.settings import Settings

log = logging.getLogger(__name__)
# A worker still running this long after SIGTERM is killed (its callbacks are stored and acked
# before any apply, so the sweep of the surviving deployment finishes its work).
STOP_TIMEOUT_S = 30.0


def unsafe_reason(settings: Settings, processes: int) -> str | None:
    """Why this many processes cannot share these settings, or None."""
    if processes <= 1:
        return None
    if not settings.redis_url:
        return (
            "--processes/WEB_PROCESSES above 1 needs REDIS_URL: without Redis the Socket.IO "
            "rooms, dial locks, pacing, presence and the applier's queue live in one process's "
            "memory, so a second process would miss pushes and apply webhooks out of order"
        )
    if settings.is_sqlite:
        return (
            "--processes/WEB_PROCESSES above 1 needs a PostgreSQL DATABASE_URL: SQLite takes "
            "one writer at a time, and processes would poll each other's write lock"
        )
    return None


def _watch_parent(parent: int) -> None:
    """Stop this worker if the supervisor disappears (killed with SIGKILL, say)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


def run_worker(index: int, host: str, port: int, parent: int) -> None:
    """One worker process: the whole gateway on a port shared with its siblings."""
    # Its own process group: a terminal's Ctrl-C reaches only the parent, which forwards it
    # once (a second signal would cut short the first one's graceful stop).
    os.setpgrp()
    settings = Settings()
    logsetup.configure(settings.log_level)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    app = create_app(settings)
    app[worker_key] = index
    log.info("worker %s (pid %s) serving on %s:%s", index, os.getpid(), host, port)
    eventloop.run_app(app, settings.event_loop, host=host, port=port, reuse_port=True)


def _stop(workers: list[BaseProcess]) -> bool:
    """SIGTERM every worker still running, wait for them; True if all stopped cleanly."""
    for proc in workers:
        if proc.is_alive() and proc.pid is not None:
            os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for proc in workers:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            log.error("worker pid %s did not stop in %ss: killed", proc.pid, STOP_TIMEOUT_S)
            proc.kill()
            proc.join()
    # -SIGTERM: a worker stopped before its server took the signal over, with nothing in flight.
    return all(proc.exitcode in (0, -signal.SIGTERM) for proc in workers)


def serve(host: str, port: int, processes: int) -> int:
    """Run `processes` workers until SIGTERM/SIGINT or a worker's own exit; the exit status."""
    # spawn, not fork: each worker builds its own event loop, engine and Redis clients.
    context = multiprocessing.get_context("spawn")
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: stopping %s workers", signal.Signals(signum).name, processes)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    workers: list[BaseProcess] = []
    for index in range(1, processes + 1):
        proc = context.Process(
            target=run_worker,
            args=(index, host, port, os.getpid()),
            name=f"dialgate-worker-{index}",
        )
        proc.start()
        workers.append(proc)
    log.info(
        "%s workers on %s:%s (pids %s)",
        processes,
        host,
        port,
        ", ".join(str(p.pid) for p in workers),
    )
    while not stopping.is_set():
        ended = wait([p.sentinel for p in workers], timeout=0.2)
        if ended and not stopping.is_set():
            for worker in workers:
                # Its sentinel closes a moment before it can be reaped: join, not is_alive().
                if worker.sentinel in ended:
                    worker.join()
                    log.error("worker pid %s exited with status %s", worker.pid, worker.exitcode)
            _stop(workers)
            return 1
    return 0 if _stop(workers) else 1
