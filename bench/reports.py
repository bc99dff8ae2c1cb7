"""Benchmark of the managers' reports on PostgreSQL with a million calls.

Run: `.venv/bin/python -m bench.reports [--calls N] [--days D] [--before-revision 0008]`.
See bench/README.md for what is measured and how to read it.
"""

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select

from bench.webhook_ingest import BENCH_DB_PREFIX, PG_URL, _pg_admin, machine_info, source_revision
from crm.orgconfig import DEFAULT_DISPOSITIONS, DEFAULT_LEAD_STATUSES, DEFAULT_PAUSE_REASONS
from crm.reports.catalog import REPORTS
from crm.reports.params import read_params
from gateway.auth import Principal
from gateway.carriers.registry import CarrierRegistry
from gateway.db import make_engine, make_sessionmaker
from gateway.demo import seed_demo
from gateway.migrate import upgrade
from gateway.models import Organization, Role, User
from gateway.settings import Settings

RESULTS = Path(__file__).parent / "results"
OUR_NUMBER = "+918047180000"
SOURCES = ("web", "referral", "import", "ads", "walk-in", None)
RUNS = 3


@dataclass
class Seeded:
    org_id: int
    admin: Principal
    team_ids: list[int]
    counts: dict[str, int]
    seconds: float


def _urls() -> tuple[str, str, str, str]:
    """Admin DSN, this run's database name, its SQLAlchemy URL and its asyncpg DSN."""
    parts = urlsplit(PG_URL)
    name = f"{BENCH_DB_PREFIX}_{os.getpid()}"
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    url = urlunsplit(parts._replace(path=f"/{name}"))
    return admin, name, url, url.replace("postgresql+asyncpg", "postgresql")


async def seed(url: str, dsn: str, args: argparse.Namespace, now: datetime) -> Seeded:
    """The demo organization, then teams, agents, leads, calls, dispositions and presence
    written with COPY (the ORM would take an hour for a million calls)."""
    started = time.perf_counter()
    settings = Settings(
        _env_file=None, DATABASE_URL=url, ARGON2_TIME_COST=1, ARGON2_MEMORY_COST_KIB=256
    )
    engine = make_engine(url)
    async with make_sessionmaker(engine)() as session:
        await seed_demo(session, settings, CarrierRegistry())
        await session.commit()
        org = (await session.exec(select(Organization))).one()
        admin_user = (
            await session.exec(select(User).where(col(User.email) == "admin@demo.test"))
        ).one()
    await engine.dispose()
    assert org.id is not None and admin_user.id is not None
    admin = Principal(
        user_id=admin_user.id,
        org_id=org.id,
        role=Role.ADMIN,
        team_id=None,
        email=admin_user.email,
        name=admin_user.name,
    )
    rng = random.Random(20261127)
    conn = await asyncpg.connect(dsn)
    try:
        # The rows reference each other correctly by construction: skipping the foreign-key
        # triggers makes COPY several times faster (this needs a superuser, as in the tests).
        await conn.execute("SET session_replication_role = replica")
        counts = await _copy_all(conn, org.id, args, now, rng)
        await conn.execute("SET session_replication_role = DEFAULT")
        team_ids = [
            r["id"] for r in await conn.fetch("SELECT id FROM team WHERE name LIKE 'Bench %'")
        ]
        # What autovacuum would have done on a live database (index-only scans need it).
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return Seeded(org.id, admin, team_ids, counts, time.perf_counter() - started)


async def _next_id(conn: asyncpg.Connection, table: str) -> int:
    # Table names come from this module only.
    sql = f'SELECT coalesce(max(id), 0) + 1 FROM "{table}"'  # noqa: S608
    return int(await conn.fetchval(sql))


async def _copy(conn: asyncpg.Connection, table: str, columns: list[str], rows: list[Any]) -> None:
    await conn.copy_records_to_table(table, records=rows, columns=columns)
    if "id" in columns:
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "  # noqa: S608
            f'(SELECT max(id) FROM "{table}"))'
        )


async def _copy_all(
    conn: asyncpg.Connection,
    org_id: int,
    args: argparse.Namespace,
    now: datetime,
    rng: random.Random,
) -> dict[str, int]:
    # Teams and agents.
    team_id = await _next_id(conn, "team")
    teams = [(team_id + i, org_id, f"Bench team {i + 1}", now) for i in range(args.teams)]
    await _copy(conn, "team", ["id", "org_id", "name", "created_at"], teams)
    user_id = await _next_id(conn, "user_account")
    agents: list[tuple[int, int]] = []  # (agent id, team id)
    users = []
    for t in teams:
        for _ in range(args.agents_per_team):
            agents.append((user_id, t[0]))
            users.append(
                (user_id, org_id, f"bench{user_id}@bench.test", f"Bench Agent {user_id}", "agent",
                 t[0], "x", True, "[]", "[]", "[]", 1, now)
            )  # fmt: skip
            user_id += 1
    await _copy(
        conn,
        "user_account",
        ["id", "org_id", "email", "name", "role", "team_id", "password_hash", "is_active",
         "skills", "languages", "territories", "weight", "created_at"],
        users,
    )  # fmt: skip

    # Leads: owned by an agent of their team, created over the last year.
    statuses = [s["key"] for s in DEFAULT_LEAD_STATUSES]
    lead_id = await _next_id(conn, "lead")
    leads = []
    lead_info: list[tuple[int, str, int, int]] = []  # (id, phone, owner, team)
    created_times = sorted(
        now - timedelta(seconds=rng.randrange(365 * 86400)) for _ in range(args.leads)
    )
    for i, created in enumerate(created_times):
        owner, team = agents[rng.randrange(len(agents))]
        phone = f"+9170{i:08d}"
        leads.append(
            (lead_id + i, org_id, f"Lead {i}", phone, rng.choice(statuses), owner, team,
             rng.choice(SOURCES), "[]", "[]", "{}", 0, created, created)
        )  # fmt: skip
        lead_info.append((lead_id + i, phone, owner, team))
    await _copy(
        conn,
        "lead",
        ["id", "org_id", "name", "phone", "status", "owner_id", "team_id", "source",
         "alt_phones", "tags", "custom_fields", "attempts", "created_at", "updated_at"],
        leads,
    )  # fmt: skip

    # Calls over the last `days` days, in working hours (IST); a few leads get many calls.
    call_id = await _next_id(conn, "call")
    calls = []
    dispositions = []
    codes = [d["key"] for d in DEFAULT_DISPOSITIONS]
    span = args.days * 86400
    times = []
    for _ in range(args.calls):
        created = now - timedelta(seconds=rng.randrange(span))
        # Working hours: fold the instant into 03:30-13:30 UTC (09:00-19:00 IST).
        day = created.replace(hour=0, minute=0, second=0, microsecond=0)
        created = day + timedelta(seconds=12600 + rng.randrange(36000))
        times.append(created - timedelta(days=1) if created > now else created)
    # Calls are stored as they happen: ids and table order follow time, as in production.
    times.sort()
    for i, created in enumerate(times):
        # Half the calls go to a fifth of the leads: some leads are called again and again.
        pool = len(lead_info) // 5 if rng.random() < 0.5 else len(lead_info)
        lead = lead_info[rng.randrange(pool)]
        lead_id_, phone, owner, team = lead
        inbound = rng.random() < 0.3
        agent, agent_team = owner, team
        if rng.random() < 0.3:
            agent, agent_team = agents[rng.randrange(len(agents))]
        r = rng.random()
        if inbound:
            outcome = (
                "completed" if r < 0.6 else "no-answer" if r < 0.8 else "busy" if r < 0.9
                else "canceled"
            )  # fmt: skip
            if outcome != "completed" and rng.random() < 0.5:
                agent = None
            matched = rng.random() < 0.85
            caller = phone if matched else f"+9188{rng.randrange(10**8):08d}"
            row_lead = lead_id_ if matched else None
            from_n, to_n = caller, OUR_NUMBER
        else:
            outcome = (
                "completed" if r < 0.4 else "no-answer" if r < 0.7 else "busy" if r < 0.85
                else "failed" if r < 0.95 else "canceled"
            )  # fmt: skip
            row_lead, from_n, to_n = lead_id_, OUR_NUMBER, phone
        duration = rng.randrange(0, 600) if outcome == "completed" else None
        answered = created + timedelta(seconds=8) if duration else None
        ended = created + timedelta(seconds=8 + (duration or 20))
        cid = call_id + i
        calls.append(
            (cid, org_id, "sandbox", "inbound" if inbound else "outbound", from_n, to_n,
             row_lead, "matched" if row_lead else "none", agent, agent_team if agent else team,
             not inbound, "completed", outcome, created, answered, ended, duration, created,
             ended)
        )  # fmt: skip
        if duration and agent and row_lead and rng.random() < 0.8:
            dispositions.append(
                (org_id, row_lead, cid, agent, rng.choice(codes), ended + timedelta(seconds=20))
            )
    await _copy(
        conn,
        "call",
        ["id", "org_id", "carrier", "direction", "from_number", "to_number", "lead_id",
         "lead_match", "agent_id", "team_id", "bridged", "status", "outcome", "created_at",
         "answered_at", "ended_at", "duration_s", "started_at", "updated_at"],
        calls,
    )  # fmt: skip
    dispositions.sort(key=lambda d: d[-1])
    await _copy(
        conn,
        "disposition",
        ["org_id", "lead_id", "call_id", "agent_id", "code", "created_at"],
        dispositions,
    )

    # Presence: each agent's working day as a chain of intervals; today's last one is open.
    reasons = [r["key"] for r in DEFAULT_PAUSE_REASONS]
    presence = []
    for agent, _team in agents:
        for back in range(args.days):
            day = (now - timedelta(days=back)).replace(hour=3, minute=30, second=0, microsecond=0)
            if day > now:
                continue
            at = day + timedelta(seconds=rng.randrange(1800))
            for _ in range(args.presence_per_day):
                state = rng.choice(("available", "on-call", "on-call", "wrap-up", "paused"))
                reason = rng.choice(reasons) if state == "paused" else None
                end = at + timedelta(seconds=rng.randrange(60, 3600))
                if end > now:
                    presence.append((org_id, agent, state, reason, at, None))
                    break
                presence.append((org_id, agent, state, reason, at, end))
                at = end
            else:
                presence.append((org_id, agent, "offline", None, at, at + timedelta(hours=13)))
    presence.sort(key=lambda p: p[4])
    await _copy(
        conn,
        "presence_event",
        ["org_id", "user_id", "state", "reason", "started_at", "ended_at"],
        presence,
    )
    return {
        "teams": len(teams),
        "agents": len(agents),
        "leads": len(leads),
        "calls": len(calls),
        "dispositions": len(dispositions),
        "presence_events": len(presence),
    }


async def measure(
    url: str, seeded: Seeded, args: argparse.Namespace, now: datetime
) -> dict[str, Any]:
    """Each report for the organization and for one team: one warm-up, then RUNS timed runs
    of the whole service call (parameters, SQL, rows to JSON or CSV)."""
    today = now.astimezone(UTC).date()
    period = {
        "from": (today - timedelta(days=args.period_days - 1)).isoformat(),
        "to": today.isoformat(),
    }
    scopes = {"org": {}, "team": {"team_id": str(seeded.team_ids[0])}}
    engine = make_engine(url)
    sessionmaker = make_sessionmaker(engine)
    results: dict[str, Any] = {}
    try:
        for name, spec in REPORTS.items():
            for scope, filters in scopes.items():
                query = {**period, **filters}
                if name == "call-history":
                    query["limit"] = "1000"
                timings: list[float] = []
                rows = 0
                label = f"  {name + ' / ' + scope:<32}"
                try:
                    for run in range(RUNS + 1):
                        started = time.perf_counter()
                        async with sessionmaker() as session:
                            # A slow plan (the schema before an index) must not stall the run.
                            conn = await session.connection()
                            timeout_ms = args.timeout_s * 1000
                            await conn.execute(
                                sa.text(f"SET LOCAL statement_timeout = {timeout_ms}")
                            )
                            params = await read_params(
                                session, seeded.admin, query, group_by=spec.group_by, now=now
                            )
                            params.options.update(spec.options(query))
                            report = await spec.run(session, params)
                            json.dumps(report.to_json())
                        if run:
                            timings.append((time.perf_counter() - started) * 1000)
                        rows = len(report.rows)
                except DBAPIError as exc:
                    if "statement timeout" not in str(exc):
                        raise
                    results[f"{name}/{scope}"] = {"timed_out_after_s": args.timeout_s}
                    print(f"{label} timed out after {args.timeout_s} s")
                    continue
                results[f"{name}/{scope}"] = {
                    "median_ms": round(statistics.median(timings), 1),
                    "runs_ms": [round(t, 1) for t in timings],
                    "rows": rows,
                }
                print(f"{label} {statistics.median(timings):9.1f} ms  {rows} rows")
    finally:
        await engine.dispose()
    return results


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=180, help="the calls' span, ending now")
    parser.add_argument("--leads", type=int, default=200_000)
    parser.add_argument("--teams", type=int, default=10)
    parser.add_argument("--agents-per-team", type=int, default=10)
    parser.add_argument("--presence-per-day", type=int, default=12)
    parser.add_argument("--period-days", type=int, default=30, help="the reports' period")
    parser.add_argument(
        "--before-revision",
        help="also measure with the schema at this revision (e.g. 0008), before upgrading to head",
    )
    parser.add_argument(
        "--timeout-s", type=int, default=60, help="PostgreSQL statement_timeout of each run"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the database (for EXPLAIN); the next run drops it"
    )
    parser.add_argument(
        "--reuse", metavar="DATABASE", help="measure a database kept by --keep (no seeding)"
    )
    parser.add_argument("--output", type=Path)
    return parser.parse_args(argv)


async def _existing(url: str, dsn: str) -> Seeded:
    """A database a `--keep` run left, as seeded."""
    conn = await asyncpg.connect(dsn)
    try:
        admin = await conn.fetchrow(
            "SELECT id, org_id, email, name FROM user_account WHERE email = 'admin@demo.test'"
        )
        teams = await conn.fetch("SELECT id FROM team WHERE name LIKE 'Bench %' ORDER BY id")
        counts = {
            table: int(await conn.fetchval(f'SELECT count(*) FROM "{table}"'))  # noqa: S608
            for table in ("lead", "call", "disposition", "presence_event")
        }
    finally:
        await conn.close()
    principal = Principal(
        user_id=admin["id"],
        org_id=admin["org_id"],
        role=Role.ADMIN,
        team_id=None,
        email=admin["email"],
        name=admin["name"],
    )
    return Seeded(admin["org_id"], principal, [r["id"] for r in teams], counts, 0.0)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.reuse:
        # Quick iterations on a kept database: measured at its schema, never dropped.
        parts = urlsplit(PG_URL)
        url = urlunsplit(parts._replace(path=f"/{args.reuse}"))
        dsn = url.replace("postgresql+asyncpg", "postgresql")
        seeded = asyncio.run(_existing(url, dsn))
        now = datetime.now(UTC).replace(microsecond=0)
        load_at_start = round(os.getloadavg()[0], 2)
        timings = asyncio.run(measure(url, seeded, args, now))
        if args.output:
            # The same shape as a seeding run's, so before and after compare field by field.
            machine = {**machine_info(), "loadavg_1m_at_start": load_at_start}
            machine["loadavg_1m"] = round(os.getloadavg()[0], 2)
            reused = {
                "benchmark": "reports",
                "measured_at": now.isoformat(),
                "parameters": {k: v for k, v in vars(args).items() if k != "output"},
                "machine": machine,
                "source": source_revision(),
                "seeded": seeded.counts,
                "timings": timings,
            }
            args.output.write_text(json.dumps(reused, indent=2) + "\n")
        return 0
    admin, name, url, dsn = _urls()
    info = asyncio.run(_pg_admin(admin, name, create=True))
    now = datetime.now(UTC).replace(microsecond=0)
    result: dict[str, Any] = {
        "benchmark": "reports",
        "measured_at": now.isoformat(),
        "parameters": {k: v for k, v in vars(args).items() if k != "output"},
        "machine": {**machine_info(), "loadavg_1m_at_start": round(os.getloadavg()[0], 2)},
        "source": source_revision(),
        "database": info,
    }
    try:
        upgrade(url, args.before_revision or "head")
        print(f"seeding {args.calls:,} calls into {name} ...")
        seeded = asyncio.run(seed(url, dsn, args, now))
        print(f"seeded in {seeded.seconds:.0f} s: {seeded.counts}")
        result["seeded"] = {**seeded.counts, "seconds": round(seeded.seconds, 1)}
        if args.before_revision:
            print(f"schema at {args.before_revision}:")
            result["before"] = {
                "revision": args.before_revision,
                "timings": asyncio.run(measure(url, seeded, args, now)),
            }
            upgrade(url, "head")
            asyncio.run(_analyze(dsn))
        print("schema at head:")
        result["timings"] = asyncio.run(measure(url, seeded, args, now))
    finally:
        if args.keep:
            print(f"kept {name}")
        else:
            asyncio.run(_pg_admin(admin, name, create=False))
    result["machine"]["loadavg_1m"] = round(os.getloadavg()[0], 2)
    output = args.output or RESULTS / "reports-postgres.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {output}")
    return 0


async def _analyze(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


if __name__ == "__main__":
    sys.exit(main())
