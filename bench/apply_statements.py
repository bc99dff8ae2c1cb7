"""SQL statements and CPU time per applied carrier callback (the applier's cost, without HTTP).

Run: `.venv/bin/python -m bench.apply_statements [--events N] [--database sqlite|postgres]`.
Stores the benchmark's signed Twilio status callbacks in the inbox, then applies them one by one
through `Applier.apply`, counting the statements sent to the database (an engine event
listener) and the process CPU time of each apply. See bench/README.md.
"""

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web
from sqlalchemy import event, func
from sqlmodel import col, select

from bench.webhook_ingest import (
    HOST,
    RESULTS,
    machine_info,
    postgres_database,
    prepare,
    seed,
    settings_values,
    source_revision,
    sqlite_database,
)
from gateway.app import create_app
from gateway.keys import engine_key, sessionmaker_key
from gateway.models import InboxStatus, WebhookInbox
from gateway.settings import Settings
from webhooks.applier import Applier, applier_key
from webhooks.routes import committer_key


async def measure(database_url: str, events: int, batch_size: int = 1) -> dict[str, Any]:
    port = 8080  # never served: only the signed URL needs one
    values = settings_values(database_url, port)
    settings = Settings(_env_file=None, **values)
    _, account_id = await seed(settings)
    base_url = f"http://{HOST}:{port}"
    requests = prepare(base_url, account_id, "feed", events)

    async def no_consumer(self: Applier) -> None:
        return None  # the measurement calls apply() itself, one row at a time

    Applier.start = no_consumer  # type: ignore[method-assign]
    app = create_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        committer = app[committer_key]
        ids = []
        for req in requests:
            ids.append(
                await committer.submit(
                    {
                        "org_id": 1,
                        "account_id": account_id,
                        "carrier": "twilio",
                        "kind": "status",
                        "method": "POST",
                        "url": base_url + req.path,
                        "headers": {k.lower(): v for k, v in req.headers.items()},
                        "body": req.body,
                        "received_at": _now(),
                        "status": "pending",
                        "attempts": 0,
                    },
                    enqueue=False,
                )
            )
        count = 0
        statements: list[str] = []
        shown: dict[str, list[str]] = {}

        measuring = asyncio.current_task()

        def on_execute(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            # Only this task's statements: background tasks (the outbox dispatcher) share
            # the engine. SQLAlchemy runs them in a greenlet of the awaiting task.
            if asyncio.current_task() is not measuring:
                return
            nonlocal count
            count += 1
            statements.append(" ".join(statement.split())[:110])

        sync_engine = app[engine_key].sync_engine
        event.listen(sync_engine, "before_cursor_execute", on_execute)
        applier = app[applier_key]
        by_kind: dict[str, list[tuple[int, float]]] = {"first": [], "later": []}
        batches: list[tuple[int, float, int]] = []
        for start in range(0, len(ids) if batch_size > 1 else 0, batch_size):
            chunk = ids[start : start + batch_size]
            count = 0
            statements.clear()
            cpu = time.process_time()
            await applier.apply_many(chunk)
            cpu = time.process_time() - cpu
            batches.append((count, cpu, len(chunk)))
            shown["batch"] = list(statements)
        for req, row_id in zip(requests, ids if batch_size == 1 else [], strict=False):
            seq = parse_qs(req.body.decode())["SequenceNumber"][0]
            count = 0
            statements.clear()
            cpu = time.process_time()
            result = await applier.apply(row_id)
            cpu = time.process_time() - cpu
            assert result is not None and result.duplicates == 0
            kind = "first" if seq == "0" else "later"
            by_kind[kind].append((count, cpu))
            shown[kind] = list(statements)
        event.remove(sync_engine, "before_cursor_execute", on_execute)
        async with app[sessionmaker_key]() as session:
            pending = (
                await session.exec(
                    select(func.count())
                    .select_from(WebhookInbox)
                    .where(col(WebhookInbox.status) != InboxStatus.APPLIED)
                )
            ).one()
        assert pending == 0, f"{pending} inbox rows not applied"
    finally:
        await runner.cleanup()

    def summary(samples: list[tuple[int, float]]) -> dict[str, Any]:
        return {
            "callbacks": len(samples),
            "statements_mean": round(statistics.mean(s for s, _ in samples), 2),
            "statements_max": max(s for s, _ in samples),
            "cpu_ms_median": round(statistics.median(c for _, c in samples) * 1000, 2),
            "cpu_ms_mean": round(statistics.mean(c for _, c in samples) * 1000, 2),
        }

    if batches:
        rows = sum(n for _, _, n in batches)
        return {
            "batches": {
                "batch_size": batch_size,
                "batches": len(batches),
                "callbacks": rows,
                "statements_per_callback": round(sum(c for c, _, _ in batches) / rows, 2),
                "cpu_ms_per_callback": round(sum(t for _, t, _ in batches) / rows * 1000, 3),
                "cpu_ms_per_batch_median": round(
                    statistics.median(t for _, t, _ in batches) * 1000, 2
                ),
            },
            "statements_of_last": shown,
        }
    everything = by_kind["first"] + by_kind["later"]
    return {
        "all": summary(everything),
        "first_of_call": summary(by_kind["first"]),
        "later_of_call": summary(by_kind["later"]),
        "statements_of_last": shown,
    }


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.apply_statements")
    parser.add_argument("--events", type=int, default=600)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--batch", type=int, default=1, help="rows per Applier.apply_many (1: Applier.apply each)"
    )
    parser.add_argument("--output", type=Path)
    parser.add_argument("--show", action="store_true", help="print the statements of one apply")
    args = parser.parse_args(argv)
    database = sqlite_database() if args.database == "sqlite" else postgres_database()
    try:
        measured = asyncio.run(measure(database.url, args.events, args.batch))
    finally:
        database.cleanup()
    result = {
        "benchmark": "apply_statements",
        "parameters": {"events": args.events, "database": database.kind, "batch": args.batch},
        "machine": machine_info(),
        "source": source_revision(),
        **measured,
    }
    if "batches" in measured:
        b = measured["batches"]
        print(
            f"{b['callbacks']} callbacks in {b['batches']} batches of {b['batch_size']}: "
            f"{b['statements_per_callback']:.2f} statements and "
            f"{b['cpu_ms_per_callback']:.3f} ms CPU per callback"
        )
    for name in ("all", "first_of_call", "later_of_call"):
        if name not in measured:
            continue
        s = measured[name]
        print(
            f"{name:<14} {s['callbacks']:>5} callbacks  {s['statements_mean']:>6.2f} statements "
            f"(max {s['statements_max']})  CPU {s['cpu_ms_median']:.2f} ms median, "
            f"{s['cpu_ms_mean']:.2f} ms mean"
        )
    if args.show:
        for kind, texts in measured["statements_of_last"].items():
            print(f"\n{kind} callback of a call:\n  " + "\n  ".join(texts))
    suffix = f"-batch{args.batch}" if args.batch > 1 else ""
    output = args.output or RESULTS / f"apply_statements-{database.kind}{suffix}.json"
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
