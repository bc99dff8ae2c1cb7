"""Benchmark of bulk lead import: the whole job against bare `phonenumbers` on the same rows.

Run: `.venv/bin/python -m bench.lead_import [--rows N] [--database sqlite|postgres]
[--workers W]`. See bench/README.md for what is measured and how to read it.
"""

import argparse
import asyncio
import csv
import json
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Executor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import phonenumbers
import sqlalchemy as sa
from sqlmodel import col, select

from bench.webhook_ingest import (
    cpu_shares,
    machine_info,
    postgres_database,
    source_revision,
    sqlite_database,
    system_cpu,
)
from crm.importer.job import ImportContext, run_job
from crm.importer.rows import RowConfig, parse_chunk
from crm.importer.runtime import make_pool
from crm.importer.service import create_job, parse_options
from gateway import logsetup
from gateway.carriers.registry import CarrierRegistry
from gateway.db import make_engine, make_sessionmaker
from gateway.demo import DEMO_ORG, seed_demo
from gateway.models import AssignmentRule, ImportRowIssue, Lead, LeadPhone, Organization
from gateway.settings import Settings, default_import_workers

RESULTS = Path(__file__).parent / "results"
WARM_KEY = "warm-up"  # keys of the warm-up parse, thrown away
HEADER = ["Name", "Company", "Email", "Mobile", "City", "Tags"]
FIRST = ["Asha", "Ravi", "Priya", "John", "Emily", "Oliver", "Isla", "Arjun", "Meera", "Sam"]
LAST = ["Rao", "Sharma", "Iyer", "Smith", "Clark", "Brown", "Evans", "Nair", "Joshi", "Patel"]
CITIES = ["Mumbai", "Pune", "Bengaluru", "London", "Leeds", "New York", "San Jose", "Chennai"]
US_AREAS = ["212", "415", "650", "312", "617", "646", "718", "305", "404", "213", "206", "512"]
UK_AREAS = ["20 7946", "161 496", "117 496", "113 496", "131 496"]


def _indian(r: random.Random) -> str:
    digits = f"{r.choice('6789')}{r.randrange(10**8, 10**9)}"
    head, tail = digits[:5], digits[5:]
    return r.choice(
        [
            f"{head} {tail}",
            f"+91 {head} {tail}",
            f"+91-{head}-{tail}",
            f"0{head} {tail}",
            f"0091 {head} {tail}",
            digits,
            f"+91{digits}",
        ]
    )


def _us(r: random.Random) -> str:
    area, exchange, line = r.choice(US_AREAS), r.randrange(200, 1000), r.randrange(10**4)
    return r.choice(
        [
            f"+1 ({area}) {exchange}-{line:04d}",
            f"+1 {area}-{exchange}-{line:04d}",
            f"001 {area} {exchange} {line:04d}",
            f"+1.{area}.{exchange}.{line:04d}",
        ]
    )


def _uk(r: random.Random) -> str:
    if r.random() < 0.6:
        mobile = f"7{r.randrange(100, 1000)} {r.randrange(10**5, 10**6)}"
        return r.choice([f"+44 {mobile}", f"0044 {mobile}", f"+44 (0){mobile}"])
    return f"+44 {r.choice(UK_AREAS)} {r.randrange(10**4):04d}"


def _invalid(r: random.Random) -> str:
    return r.choice(["12345", "0000000000", "+91 12345", "call me", "98765", "+1 (000) 000-0000"])


def generate_rows(n: int, seed: int = 20261127) -> Iterator[list[str]]:
    """`n` deterministic lead rows: 60 % Indian, 20 % US, 15 % UK numbers in mixed formats,
    about 3 % invalid, 1 % without a number and 5 % repeating an earlier number."""
    r = random.Random(seed)
    earlier: list[str] = []
    for i in range(n):
        roll = r.random()
        if roll < 0.03:
            phone = _invalid(r)
        elif roll < 0.04:
            phone = ""
        elif roll < 0.09 and earlier:
            phone = r.choice(earlier)
        else:
            pick = r.random()
            phone = _indian(r) if pick < 0.63 else _us(r) if pick < 0.84 else _uk(r)
            if len(earlier) < 5000:
                earlier.append(phone)
            else:
                earlier[r.randrange(5000)] = phone
        first, last = r.choice(FIRST), r.choice(LAST)
        yield [
            f"{first} {last}",
            f"{last} {r.choice(['Traders', 'Motors', 'Foods', 'Labs', 'Realty'])}",
            f"{first.lower()}.{last.lower()}{i}@example.com" if r.random() < 0.8 else "",
            phone,
            r.choice(CITIES),
            r.choice(["", "expo", "web, hot", "referral"]),
        ]


def write_csv(path: Path, n: int, seed: int = 20261127) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        writer.writerows(generate_rows(n, seed))


def bare_phonenumbers(path: Path, region: str) -> dict[str, Any]:
    """The floor: `phonenumbers` parse + validate + format of every row's number, one core,
    no cache, nothing else; also the set of valid distinct numbers (the expected import)."""
    with path.open(newline="", encoding="utf-8") as f:
        raws = [row[3] for row in list(csv.reader(f))[1:]]
    valid: set[str] = set()
    cpu0 = time.process_time()
    start = time.perf_counter()
    for raw in raws:
        if not raw:
            continue
        text = "+" + raw[2:] if raw.startswith("00") else raw
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            valid.add(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    elapsed = time.perf_counter() - start
    return {
        "elapsed_s": round(elapsed, 3),
        "cpu_s": round(time.process_time() - cpu0, 3),
        "valid_distinct": len(valid),
        "_valid": valid,
    }


async def _demo_org(settings: Settings, *, assign_offline: bool) -> tuple[int, set[str]]:
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            assert await seed_demo(session, settings, CarrierRegistry())
            await session.commit()
            if assign_offline:
                # The demo's round robin skips offline agents (every agent, here): with this,
                # each new lead is given to one, with its audit row, event and push.
                for rule in (await session.exec(select(AssignmentRule))).all():
                    rule.config = {**rule.config, "include_offline": True}
                    session.add(rule)
                await session.commit()
            org_id = (
                await session.exec(
                    select(Organization.id).where(col(Organization.name) == DEMO_ORG)
                )
            ).one()
            phones = set((await session.exec(select(Lead.phone))).all())
    finally:
        await engine.dispose()
    assert org_id is not None
    return org_id, phones


async def _counts(settings: Settings, job_id: int) -> dict[str, int]:
    engine = make_engine(settings.database_url)
    try:
        async with engine.connect() as conn:

            async def one(stmt: Any) -> int:
                return int((await conn.execute(stmt)).scalar_one())

            return {
                "leads": await one(sa.select(sa.func.count()).select_from(Lead)),
                "distinct_lead_phones": await one(
                    sa.select(sa.func.count(sa.distinct(col(Lead.phone))))
                ),
                "lead_phone_rows": await one(sa.select(sa.func.count()).select_from(LeadPhone)),
                "owned_leads": await one(
                    sa.select(sa.func.count()).where(col(Lead.owner_id).is_not(None))
                ),
                "issues": await one(
                    sa.select(sa.func.count())
                    .select_from(ImportRowIssue)
                    .where(col(ImportRowIssue.job_id) == job_id)
                ),
            }
    finally:
        await engine.dispose()


def _warm(pool: Executor | None) -> float:
    """Start the worker processes before the clock (the app keeps them for its lifetime)."""
    start = time.perf_counter()
    if pool is not None:
        cfg = RowConfig(columns=((0, "phone"),), width=1, region="IN", secret=WARM_KEY, statuses={})
        list(pool.map(parse_chunk, [cfg] * 8, [[(2, ["98765 43210"])]] * 8))
    return time.perf_counter() - start


async def full_import(
    settings: Settings, path: Path, org_id: int, pool: Executor | None
) -> dict[str, Any]:
    engine = make_engine(settings.database_url)
    try:
        sessionmaker = make_sessionmaker(engine)
        copy = Path(settings.data_dir) / "bench.csv"
        shutil.copyfile(path, copy)
        async with sessionmaker() as session:
            job = await create_job(
                session,
                org_id=org_id,
                principal=None,
                path=copy.resolve(),
                filename=path.name,
                options=parse_options({"source": "bench"}),
            )
            await session.commit()
        assert job.id is not None
        machine = system_cpu()
        cpu0 = time.process_time()
        start = time.perf_counter()
        done = await run_job(ImportContext(sessionmaker, settings, pool=pool), job.id)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu0
        assert done is not None
        return {
            "job_id": job.id,
            "elapsed_s": round(elapsed, 3),
            "rows_per_s": round(100_000 if not elapsed else (done.processed_rows / elapsed)),
            "main_process_cpu_s": round(cpu, 3),
            "machine_cpu": cpu_shares(machine, system_cpu()),
            "status": done.status,
            "error": done.error,
            "counters": {
                "created": done.created_count,
                "updated": done.updated_count,
                "merged": done.merged_count,
                "skipped": done.skipped_count,
                "errors": done.error_count,
            },
            "total_rows": done.total_rows,
        }
    finally:
        await engine.dispose()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.lead_import", description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--workers",
        type=int,
        default=default_import_workers(),
        help="parsing processes (0: none); default: the gateway's, one per CPU",
    )
    parser.add_argument(
        "--chunk",
        type=int,
        default=Settings.model_fields["import_chunk_rows"].default,
        help="rows per transaction; default: the gateway's",
    )
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument(
        "--assign",
        choices=["demo", "all"],
        default="demo",
        help="demo: the demo's round robin as seeded (it skips offline agents, so every lead "
        "is left unassigned with its reason); all: it takes offline agents too",
    )
    parser.add_argument("--output", help="default: bench/results/lead_import-<database>.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logsetup.configure("WARNING")
    loadavg_at_start = round(os.getloadavg()[0], 2)
    work = Path(tempfile.mkdtemp(prefix="dialgate-import-bench-"))
    db = sqlite_database() if args.database == "sqlite" else postgres_database()
    pool = make_pool(args.workers)
    try:
        csv_path = work / "leads.csv"
        start = time.perf_counter()
        write_csv(csv_path, args.rows, args.seed)
        generate_s = time.perf_counter() - start
        settings = Settings(
            _env_file=None,
            DATABASE_URL=db.url,
            DATA_DIR=str(work / "data"),
            IMPORT_WORKERS=args.workers,
            IMPORT_CHUNK_ROWS=args.chunk,
            ARGON2_TIME_COST=1,
            ARGON2_MEMORY_COST_KIB=256,
            LOG_LEVEL="WARNING",
        )
        (work / "data").mkdir()
        org_id, demo_phones = asyncio.run(_demo_org(settings, assign_offline=args.assign == "all"))
        bare = bare_phonenumbers(csv_path, "IN")
        expected = bare.pop("_valid") - demo_phones
        pool_start_s = _warm(pool)
        rss_before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        full = asyncio.run(full_import(settings, csv_path, org_id, pool))
        rss_after_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        counts = asyncio.run(_counts(settings, full["job_id"]))
    finally:
        if pool is not None:
            pool.shutdown()
        db.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    children_kib = children.ru_maxrss
    # The workers have exited (pool shut down): their CPU time is the children's.
    full["workers_cpu_s"] = round(children.ru_utime + children.ru_stime, 3)
    full["cpu_s_total"] = round(full["main_process_cpu_s"] + full["workers_cpu_s"], 3)
    checks = {
        "completed": full["status"] == "completed",
        "all_rows_processed": full["total_rows"] == args.rows,
        "created_equals_valid_distinct_new_numbers": full["counters"]["created"] == len(expected),
        "no_duplicate_leads": counts["distinct_lead_phones"] == counts["leads"],
        "every_row_accounted_for": sum(full["counters"].values()) == args.rows,
    }
    machine = machine_info()
    machine["loadavg_1m_at_start"] = loadavg_at_start
    result = {
        "benchmark": "lead_import",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "parameters": {
            "rows": args.rows,
            "database": db.kind,
            "workers": args.workers,
            "chunk_rows": args.chunk,
            "seed": args.seed,
            "assign": args.assign,
            "kind": "CSV, 60% IN / 20% US / 15% UK numbers in mixed formats, ~3% invalid, "
            "~1% missing, ~5% repeats; default region IN",
        },
        "machine": machine,
        "source": source_revision(),
        "database": db.info,
        "generate_csv_s": round(generate_s, 3),
        "bare_phonenumbers": bare,
        "worker_pool_start_s": round(pool_start_s, 3),
        "full": full,
        "ratio_full_over_bare": round(full["elapsed_s"] / bare["elapsed_s"], 2),
        # CPU seconds rather than wall: on a machine shared with other work, wall time
        # depends on how many processes compete; CPU spent per row much less.
        "ratio_full_cpu_over_bare": round(full["cpu_s_total"] / bare["cpu_s"], 2),
        "peak_rss_mib": {
            "main_process": round(rss_after_kib / 1024, 1),
            "main_process_before_import": round(rss_before_kib / 1024, 1),
            "largest_worker": round(children_kib / 1024, 1),
        },
        "database_counts": counts,
        "checks": checks,
        "verified": all(checks.values()),
    }
    print(
        f"{args.rows:,} rows on {db.kind}, {args.workers} workers: bare phonenumbers "
        f"{bare['elapsed_s']:.2f} s, full import {full['elapsed_s']:.2f} s "
        f"(ratio {result['ratio_full_over_bare']}, CPU ratio "
        f"{result['ratio_full_cpu_over_bare']}), peak RSS {rss_after_kib / 1024:.0f} MiB, "
        f"load {loadavg_at_start} → {machine['loadavg_1m']}, verified={result['verified']}"
    )
    suffix = "" if args.assign == "demo" else "-assign-all"
    output = Path(args.output) if args.output else RESULTS / f"lead_import-{db.kind}{suffix}.json"
    output.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["verified"] else 1


if __name__ == "__main__":
    sys.exit(main())
