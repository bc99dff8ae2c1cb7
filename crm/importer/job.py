"""Running an import job: streamed in chunks, one transaction per chunk with its checkpoint.

Each chunk's leads, numbers, row issues and the job's progress counters are committed together,
and the checkpoint update is guarded by the value it replaces. So a crash resumes exactly after
the last committed chunk, and two processes resuming one job never import a chunk twice: the
second one's checkpoint update matches no row and its transaction rolls back.
"""

import asyncio
import gc
import inspect
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Generator, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.assignment.service import assign_new_leads, record_new_assignments
from crm.dnc import add_unlisted
from crm.followups import cancel_open_follow_ups
from crm.history import change_status
from crm.importer.bulk import (
    allocate_ids,
    binder,
    default_json,
    insert_many,
    json_binder,
    json_text,
)
from crm.importer.csvfile import CsvFormat, count_data_records, data_chunks
from crm.importer.rows import (
    STORED,
    Parsed,
    Rejected,
    RowConfig,
    from_worker,
    parse_chunk,
    parse_chunk_in_worker,
    phone_keys,
)
from crm.leads import NewLead
from crm.orgconfig import dnc_statuses, lead_statuses
from crm.outbox import emit
from gateway.models import (
    AssignmentRule,
    DncEntry,
    DncSource,
    ImportJob,
    ImportRowIssue,
    Lead,
    LeadPhone,
    Organization,
    utcnow,
)
from gateway.phones import lookup_key
from gateway.settings import Settings

log = logging.getLogger(__name__)
# Keys per `IN (...)`: well under SQLite's and asyncpg's parameter limits.
KEY_BATCH = 1000
ISSUE_MESSAGE_MAX = 500
# Rows per call to a parsing process: small enough to spread a chunk over the processes and
# start writing early, large enough that a call's overhead is nothing beside its work.
PARSE_ROWS = 2000
# Rows of a job's first chunk (at most); the next ones double up to the chunk size.
FIRST_CHUNK_ROWS = 1000
# SQLite's page cache for the job's connections (KiB; the default is 2,000): each chunk
# inserts the numbers' lookup keys at random places of their index, whose pages a small cache
# evicts and reads again. 16 MiB takes most of the gain of 64 (a fifth of the import's time
# against the default) for a quarter of the memory, which the pooled connection keeps.
SQLITE_CACHE_KIB = 16384
# SQLite's automatic checkpoint while a chunk commits (WAL pages; the default is 1,000 and is
# put back after each chunk). A chunk's writes touch the same index pages again and again:
# checkpointing every 4 MiB copied them into the database many times over (commits 0.50 →
# 0.31 s per 100,000 rows). The WAL stays under 80 MiB, and the job checkpoints at its end.
SQLITE_CHUNK_CHECKPOINT_PAGES = 20_000
SQLITE_CHECKPOINT_PAGES = 1000

JOB = ImportJob.__table__  # type: ignore[attr-defined]
LEAD = Lead.__table__  # type: ignore[attr-defined]
PHONE = LeadPhone.__table__  # type: ignore[attr-defined]
ISSUE = ImportRowIssue.__table__  # type: ignore[attr-defined]

# Test seam: awaited with ("before_commit" | "after_commit", chunk index) around each commit.
Hook = Callable[[str, int], Awaitable[None]]
Progress = Callable[[ImportJob], Awaitable[None]]


class JobTakenOver(Exception):
    """Another runner committed this job's next chunk first; this one stops."""


@dataclass
class Counters:
    created: int = 0
    updated: int = 0
    merged: int = 0
    skipped: int = 0
    errors: int = 0

    def add(self, other: "Counters") -> None:
        self.created += other.created
        self.updated += other.updated
        self.merged += other.merged
        self.skipped += other.skipped
        self.errors += other.errors


@dataclass
class ImportContext:
    """What a job needs to run, in the app or in the CLI."""

    sessionmaker: async_sessionmaker[AsyncSession]
    settings: Settings
    pool: Executor | None = None
    progress: Progress | None = None
    hook: Hook | None = None
    # Called with each chunk's session after its commit (the app pushes `lead_assigned`).
    on_commit: Callable[[AsyncSession], Awaitable[None]] | None = None


@dataclass
class _Chunk:
    index: int
    size: int
    parsed: list[Parsed | Rejected]


@dataclass
class _Plan:
    """One chunk sorted: rows to create, rows matching a lead, issues and counters."""

    new: list[Parsed] = field(default_factory=list)
    existing: list[tuple[Parsed, int]] = field(default_factory=list)
    issues: list[dict[str, Any]] = field(default_factory=list)
    counters: Counters = field(default_factory=Counters)

    def issue(
        self, job_id: int, row: int, code: str, fld: str | None, msg: str, lead_id: int | None
    ) -> None:
        self.issues.append(
            {
                "job_id": job_id,
                "row_number": row,
                "code": code,
                "field": fld,
                "message": msg[:ISSUE_MESSAGE_MAX],
                "lead_id": lead_id,
            }
        )


def csv_format(job: ImportJob) -> CsvFormat:
    opts = job.options
    return CsvFormat(
        encoding=opts["encoding"],
        delimiter=opts["delimiter"],
        header=list(opts["header"]),
        header_records=int(opts["header_records"]),
    )


async def _row_config(session: AsyncSession, settings: Settings, job: ImportJob) -> RowConfig:
    org = await session.get(Organization, job.org_id)
    assert org is not None
    statuses: dict[str, str] = {}
    for entry in lead_statuses(org):
        statuses[str(entry["key"]).lower()] = entry["key"]
        statuses.setdefault(str(entry.get("label", entry["key"])).lower(), entry["key"])
    # New leads go through the rules unless the import names their owner: the workers then
    # also find each number's zones (and, for territory rules, its place).
    kinds: set[str] = set()
    if job.options.get("owner_id") is None:
        kinds = set(
            (
                await session.exec(
                    select(AssignmentRule.kind).where(
                        col(AssignmentRule.org_id) == job.org_id, col(AssignmentRule.is_active)
                    )
                )
            ).all()
        )
    return RowConfig(
        columns=tuple((int(i), str(f)) for i, f in job.options["columns"]),
        width=len(job.options["header"]),
        region=job.options["default_region"],
        secret=settings.lookup_key_secret,
        statuses=statuses,
        zones=bool(kinds),
        where="territory" in kinds,
    )


def _key_table(conn: AsyncConnection, keys: list[str]) -> Any:
    """The keys as one parameter, a table with a `key` column to look each one up: an array
    unnested on PostgreSQL, a JSON array's `json_each` on SQLite.

    One statement per chunk and a plan that stays an index lookup per key. PostgreSQL, joined
    any other way, chose from stale row counts (the import itself grows the tables) a nested
    loop over every lead: 9 s per chunk at 10,000 rows. SQLite's `IN` lists needed a batch
    per thousand keys under its parameter limit, each list bound and expanded by SQLAlchemy:
    a tenth of the job's process.
    """
    if conn.dialect.name == "postgresql":
        param = sa.bindparam("keys", keys, type_=postgresql.ARRAY(sa.String()))
        return sa.func.unnest(param).table_valued("key").render_derived(name="k")
    text = sa.bindparam("keys", _json_keys(keys), type_=sa.String())
    found = sa.func.json_each(text).table_valued("value").alias("j")
    return sa.select(found.c.value.label("key")).subquery("k")


_json_keys = json_text()


async def _dnc_keys(session: AsyncSession, org_id: int, keys: list[str]) -> set[str]:
    conn = await session.connection()
    k = _key_table(conn, keys)
    listed = sa.exists().where(col(DncEntry.org_id) == org_id, col(DncEntry.phone_key) == k.c.key)
    rows = (await conn.execute(sa.select(k.c.key).where(listed))).all()
    return {r[0] for r in rows}


async def _existing(session: AsyncSession, org_id: int, keys: list[str]) -> dict[str, int]:
    """The oldest live lead having each number (primary or alternate)."""
    conn = await session.connection()
    k = _key_table(conn, keys)
    oldest = (
        sa.select(sa.func.min(col(LeadPhone.lead_id)))
        .join(Lead, col(Lead.id) == col(LeadPhone.lead_id))
        .where(
            col(LeadPhone.org_id) == org_id,
            col(LeadPhone.phone_key) == k.c.key,
            col(Lead.merged_into_id).is_(None),
        )
        .scalar_subquery()
    )
    rows = (await conn.execute(sa.select(k.c.key, oldest))).all()
    return {r[0]: int(r[1]) for r in rows if r[1] is not None}


async def _plan(session: AsyncSession, job: ImportJob, chunk: _Chunk, seen: set[str]) -> _Plan:
    assert job.id is not None
    plan = _Plan()
    candidates: list[Parsed] = []
    for p in chunk.parsed:
        if isinstance(p, Rejected):
            plan.issue(job.id, p.row, p.code, p.field, p.message, None)
            plan.counters.errors += 1
        elif p.key in seen:
            plan.issue(
                job.id,
                p.row,
                "duplicate_in_file",
                "phone",
                "the number is on an earlier row of this file",
                None,
            )
            plan.counters.skipped += 1
        else:
            seen.add(p.key)
            candidates.append(p)
    keys = [p.key for p in candidates]
    dnc = await _dnc_keys(session, job.org_id, keys) if keys else set()
    existing = await _existing(session, job.org_id, keys) if keys else {}
    on_existing = job.options.get("on_existing", "skip")
    for p in candidates:
        lead_id = existing.get(p.key)
        if p.key in dnc:
            plan.issue(
                job.id,
                p.row,
                "dnc_suppressed",
                "phone",
                "the number is on the do-not-call list",
                lead_id,
            )
            plan.counters.skipped += 1
        elif lead_id is None:
            plan.new.append(p)
        elif on_existing == "skip":
            plan.issue(job.id, p.row, "exists_skipped", "phone", "a lead has this number", lead_id)
            plan.counters.skipped += 1
        else:
            plan.existing.append((p, lead_id))
    return plan


# The columns the job's process fills, then those the parsing processes did (`Parsed.stored`).
LEAD_COLUMNS = (
    "id",
    "org_id",
    "owner_id",
    "team_id",
    "assigned_at",
    "country",
    "region",
    "source",
    "created_at",
    "updated_at",
    "attempts",
    *STORED,
)
# Positions in `Parsed.stored` of the JSON columns.
_STORED_JSON = tuple(
    i for i, c in enumerate(STORED) if c in ("alt_phones", "tags", "custom_fields")
)
PHONE_COLUMNS = ("id", "org_id", "lead_id", "phone_key", "is_primary")
ISSUE_COLUMNS = ("id", "job_id", "row_number", "code", "field", "message", "lead_id")


def _new_leads(job: ImportJob, plan: _Plan, lead_ids: list[int]) -> list[NewLead]:
    now = utcnow()
    org_id = job.org_id
    team_id = job.options.get("team_id")
    default_source = job.options.get("source") or "import"
    return [
        NewLead(lead_id, org_id, team_id, p.values.get("source") or default_source, now, p)
        for lead_id, p in zip(lead_ids, plan.new, strict=True)
    ]


def _restored(stored: tuple[Any, ...], as_json: Callable[[Any], Any]) -> tuple[Any, ...]:
    """`stored` with its JSON columns bound by `as_json` (an engine with its own serializer)."""
    values = list(stored)
    for i in _STORED_JSON:
        values[i] = as_json(json.loads(values[i]))
    return tuple(values)


async def _insert_new(conn: AsyncConnection, plan: _Plan, leads: list[NewLead]) -> dict[str, int]:
    """Bulk-insert the new leads and their numbers; their ids by primary E.164."""
    if not leads:
        return {}
    # Bound once per chunk, not per row: the values the dialect would store.
    stamp = binder(conn, LEAD.c.created_at)
    # The parsing processes wrote the JSON columns as SQLAlchemy's default serializer does.
    plain_json = default_json(conn)
    as_json = json_binder(conn, LEAD.c.tags)
    true, false = binder(conn, PHONE.c.is_primary)(True), binder(conn, PHONE.c.is_primary)(False)
    created = stamp(leads[0].created_at)
    stamps: dict[Any, Any] = {None: None, leads[0].created_at: created}
    rows: list[tuple[Any, ...]] = []
    phones: list[tuple[Any, ...]] = []
    ids: dict[str, int] = {}
    org_id = leads[0].org_id
    for lead in leads:
        p = lead.row
        assert isinstance(p, Parsed)
        assigned_at, updated_at = lead.assigned_at, lead.updated_at
        if assigned_at not in stamps:
            stamps[assigned_at] = stamp(assigned_at)
        if updated_at not in stamps:
            stamps[updated_at] = stamp(updated_at)
        rows.append(
            (
                lead.id,
                org_id,
                lead.owner_id,
                lead.team_id,
                stamps[assigned_at],
                lead.country,
                lead.region,
                lead.source,
                created,
                stamps[updated_at],
                0,
            )
            + (p.stored if plain_json else _restored(p.stored, as_json))
        )
        ids[p.e164] = lead.id
        phones.append((org_id, lead.id, p.key, true))
        if p.alts:
            phones.extend((org_id, lead.id, k, false) for _, k in p.alts)
    await insert_many(conn, LEAD, LEAD_COLUMNS, rows)
    phone_ids = await allocate_ids(conn, PHONE, len(phones))
    await insert_many(
        conn, PHONE, PHONE_COLUMNS, [(i, *r) for i, r in zip(phone_ids, phones, strict=True)]
    )
    plan.counters.created += len(leads)
    return ids


async def _insert_issues(conn: AsyncConnection, issues: list[dict[str, Any]]) -> None:
    # In row order, so the issue ids (the listing's order) follow the file.
    issues.sort(key=lambda x: x["row_number"])
    ids = await allocate_ids(conn, ISSUE, len(issues))
    await insert_many(
        conn,
        ISSUE,
        ISSUE_COLUMNS,
        [
            (i, x["job_id"], x["row_number"], x["code"], x["field"], x["message"], x["lead_id"])
            for i, x in zip(ids, issues, strict=True)
        ],
    )


def _apply_update(lead: Lead, p: Parsed, *, merge: bool) -> None:
    """`update` overwrites with the row's non-empty values; `merge` only fills what is empty.

    Both add the row's tags and alternate numbers to the lead's, and never change its status
    here (that goes through the status history)."""
    v = p.values
    for name in ("name", "company", "email", "address", "source"):
        value = v.get(name)
        if value and (not merge or not getattr(lead, name)):
            setattr(lead, name, value)
    if "tags" in v:
        lead.tags = list(dict.fromkeys([*lead.tags, *v["tags"]]))
    custom = v.get("custom_fields")
    if custom:
        lead.custom_fields = (
            {**custom, **lead.custom_fields} if merge else {**lead.custom_fields, **custom}
        )
    known = {lead.phone, *lead.alt_phones}
    lead.alt_phones = [*lead.alt_phones, *(e for e, _ in p.alts if e not in known)]


async def _update_existing(
    session: AsyncSession, job: ImportJob, plan: _Plan
) -> dict[int | None, Lead]:
    """Update (or merge into) the existing leads; returns them by id."""
    if not plan.existing:
        return {}
    assert job.id is not None
    merge = job.options.get("on_existing") == "merge"
    ids = list({lead_id for _, lead_id in plan.existing})
    leads = {
        lead.id: lead
        for lead in (await session.exec(select(Lead).where(col(Lead.id).in_(ids)))).all()
    }
    now = utcnow()
    new_phones: list[dict[str, Any]] = []
    for p, lead_id in plan.existing:
        lead = leads[lead_id]
        before = set(lead.alt_phones)
        _apply_update(lead, p, merge=merge)
        for e164, key in p.alts:
            if e164 in lead.alt_phones and e164 not in before:
                new_phones.append(
                    {
                        "org_id": job.org_id,
                        "lead_id": lead_id,
                        "phone_key": key,
                        "is_primary": False,
                    }
                )
        status = p.values.get("status")
        if status and not merge:
            change_status(session, lead, status, changed_by=job.created_by, reason="import")
        lead.updated_at = now
        session.add(lead)
        code = "exists_merged" if merge else "exists_updated"
        plan.issue(
            job.id,
            p.row,
            code,
            "phone",
            "merged into the lead with this number"
            if merge
            else "updated the lead with this number",
            lead_id,
        )
        if merge:
            plan.counters.merged += 1
        else:
            plan.counters.updated += 1
    await session.flush()
    if new_phones:
        await (await session.connection()).execute(sa.insert(PHONE), new_phones)
    return leads


async def _list_dnc_statuses(
    session: AsyncSession,
    settings: Settings,
    job: ImportJob,
    plan: _Plan,
    ids: dict[str, int],
    updated: dict[int | None, Lead],
) -> None:
    """Rows that give a lead a do-not-call status list its numbers, as setting that status
    by hand does (`crm.leads.list_if_dnc_status`), in the chunk's transaction."""
    org = await session.get(Organization, job.org_id)
    assert org is not None
    dnc = dnc_statuses(org)
    if not dnc:
        return
    rows: dict[str, tuple[str, str | None]] = {}
    for p in plan.new:
        status = p.values.get("status", "new")
        if status in dnc:
            reason = f"lead:{ids[p.e164]} status:{status}"
            rows[p.key] = (p.e164, reason)
            rows.update((key, (e164, reason)) for e164, key in p.alts)
    if job.options.get("on_existing") != "merge":
        for p, lead_id in plan.existing:
            lead = updated[lead_id]
            if p.values.get("status") in dnc and lead.status in dnc:
                reason = f"lead:{lead_id} status:{lead.status}"
                for e164 in (lead.phone, *lead.alt_phones):
                    rows[lookup_key(settings.lookup_key_secret, e164)] = (e164, reason)
                await cancel_open_follow_ups(session, lead)
    if rows:
        await add_unlisted(
            session,
            org_id=job.org_id,
            rows=rows,
            source=DncSource.LEAD_STATUS,
            created_by=job.created_by,
        )


async def _give_to_owner(session: AsyncSession, *, job: ImportJob, lead_ids: list[int]) -> None:
    """The import named the new leads' owner (`owner_id`): all of them go to it."""
    owner_id = job.options.get("owner_id")
    if not lead_ids or owner_id is None:
        return
    conn = await session.connection()
    for i in range(0, len(lead_ids), KEY_BATCH):
        await conn.execute(
            sa.update(LEAD)
            .where(LEAD.c.id.in_(lead_ids[i : i + KEY_BATCH]))
            .values(owner_id=owner_id, assigned_at=utcnow())
        )


async def _claim_chunk(conn: AsyncConnection, job: ImportJob, size: int) -> None:
    """Move the checkpoint first: it locks the job row, so a second runner waits here and then
    finds the checkpoint moved (and stops) instead of importing the chunk again."""
    result = await conn.execute(
        sa.update(JOB)
        .where(JOB.c.id == job.id, JOB.c.processed_rows == job.processed_rows)
        .values(processed_rows=job.processed_rows + size)
    )
    if result.rowcount != 1:
        raise JobTakenOver(f"import {job.id} was advanced by another runner")


async def _write_chunk(
    ctx: ImportContext, job: ImportJob, chunk: _Chunk, seen: set[str]
) -> Counters:
    """The chunk in one transaction, on a connection held until its settings are put back."""
    engine = ctx.sessionmaker.kw["bind"]
    async with engine.connect() as conn:
        if conn.dialect.name != "sqlite":
            async with ctx.sessionmaker(bind=conn) as session:
                return await _write_chunk_in(ctx, session, job, chunk, seen)
        await _sqlite_chunk_settings(conn, chunk=True)
        # Ends the transaction the statements began on the connection (SQLite began none), so
        # that the session's is the chunk's own and its commit a real one.
        await conn.commit()
        try:
            async with ctx.sessionmaker(bind=conn) as session:
                return await _write_chunk_in(ctx, session, job, chunk, seen)
        finally:
            # Whatever became of the chunk, the pooled connection serves the app next.
            await conn.rollback()
            await _sqlite_chunk_settings(conn, chunk=False)


async def _sqlite_chunk_settings(conn: AsyncConnection, *, chunk: bool) -> None:
    """SQLite's settings for writing a chunk, or back to the app's (outside a transaction:
    SQLite ignores `foreign_keys` inside one).

    Foreign keys are not checked per row while a chunk is written: every row the chunk
    inserts refers to rows it inserted itself or read in its own transaction, which holds the
    database's write lock from its first statement (the organization, the job, the rules and
    agents chosen, existing leads), or to rows that are never deleted (the job's team, owner
    and creator, checked when it was created). The checks cost a tenth of SQLite's time.
    """
    statements: tuple[str, ...]
    if chunk:
        statements = (
            f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}",
            f"PRAGMA wal_autocheckpoint={SQLITE_CHUNK_CHECKPOINT_PAGES}",
            "PRAGMA foreign_keys=OFF",
        )
    else:
        statements = (
            f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}",
            "PRAGMA foreign_keys=ON",
        )
    for sql in statements:
        await conn.exec_driver_sql(sql)


async def _write_chunk_in(
    ctx: ImportContext, session: AsyncSession, job: ImportJob, chunk: _Chunk, seen: set[str]
) -> Counters:
    conn = await session.connection()
    await _claim_chunk(conn, job, chunk.size)
    plan = await _plan(session, job, chunk, seen)
    leads = _new_leads(job, plan, await allocate_ids(conn, LEAD, len(plan.new)))
    assigned = None
    if leads and job.options.get("owner_id") is None:
        # Decided before the insert, so the leads are stored already assigned.
        assigned = await assign_new_leads(
            session,
            org_id=job.org_id,
            leads=leads,
            keys=lambda: {
                x.id: [p.key, *(k for _, k in p.alts)] for x, p in zip(leads, plan.new, strict=True)
            },
            method="import",
            assigned_by=job.created_by,
        )
    ids = await _insert_new(conn, plan, leads)
    if assigned is not None:
        await record_new_assignments(session, assigned)
    updated = await _update_existing(session, job, plan)
    await _list_dnc_statuses(session, ctx.settings, job, plan, ids, updated)
    assert job.id is not None
    for p in plan.new:
        for code, fld, msg in p.warnings:
            plan.issue(job.id, p.row, code, fld, msg, ids[p.e164])
    for p, lead_id in plan.existing:
        for code, fld, msg in p.warnings:
            plan.issue(job.id, p.row, code, fld, msg, lead_id)
    await _give_to_owner(session, job=job, lead_ids=[x.id for x in leads])
    if plan.issues:
        await _insert_issues(conn, plan.issues)
    c = plan.counters
    await conn.execute(
        sa.update(JOB)
        .where(JOB.c.id == job.id)
        .values(
            created_count=JOB.c.created_count + c.created,
            updated_count=JOB.c.updated_count + c.updated,
            merged_count=JOB.c.merged_count + c.merged,
            skipped_count=JOB.c.skipped_count + c.skipped,
            error_count=JOB.c.error_count + c.errors,
            total_rows=job.total_rows,
        )
    )
    if ctx.hook is not None:
        await ctx.hook("before_commit", chunk.index)
    await session.commit()
    if ctx.on_commit is not None:
        await ctx.on_commit(session)
    return plan.counters


def _apply_counters(job: ImportJob, size: int, c: Counters) -> None:
    job.processed_rows += size
    job.created_count += c.created
    job.updated_count += c.updated
    job.merged_count += c.merged
    job.skipped_count += c.skipped
    job.error_count += c.errors


async def _parse(
    ctx: ImportContext, cfg: RowConfig, rows: list[tuple[int, list[str] | None]]
) -> list[Parsed | Rejected]:
    """The chunk's rows parsed; in pieces of `PARSE_ROWS` spread over the parsing processes,
    so that a large chunk (one transaction) still keeps every process busy."""
    if ctx.pool is None:
        return await asyncio.to_thread(parse_chunk, cfg, rows)
    loop = asyncio.get_running_loop()
    # A small chunk (the first) still goes to every process.
    step = min(PARSE_ROWS, -(-len(rows) // max(1, ctx.settings.import_workers)))
    parts = await asyncio.gather(
        *(
            loop.run_in_executor(ctx.pool, parse_chunk_in_worker, cfg, rows[i : i + step])
            for i in range(0, len(rows), step)
        )
    )
    return [p for part in parts for p in from_worker(part)]


def _count(ctx: ImportContext, path: Path, fmt: CsvFormat) -> asyncio.Future[int]:
    """`count_data_records` in a parsing process (a thread without them), started now."""
    loop = asyncio.get_running_loop()
    return loop.run_in_executor(ctx.pool, count_data_records, path, fmt)


def _next(chunks: Iterator[list[tuple[int, list[str] | None]]]) -> Any:
    return next(chunks, None)


async def _seen_before(
    ctx: ImportContext, cfg: RowConfig, path: Path, fmt: CsvFormat, upto: int
) -> set[str]:
    """The numbers of the rows a resumed job already went through, so repeats of them are
    still reported as repeats (the in-file check then answers as an uninterrupted run)."""
    seen: set[str] = set()
    if upto == 0:
        return seen
    size = ctx.settings.import_chunk_rows
    chunks = data_chunks(path, fmt, skip=0, size=size)
    done = 0
    while done < upto:
        rows = await asyncio.to_thread(_next, chunks)
        if rows is None:
            break
        rows = rows[: upto - done]
        done += len(rows)
        if ctx.pool is None:
            seen.update(await asyncio.to_thread(phone_keys, cfg, rows))
        else:
            loop = asyncio.get_running_loop()
            seen.update(await loop.run_in_executor(ctx.pool, phone_keys, cfg, rows))
    return seen


async def _start(ctx: ImportContext, job_id: int) -> ImportJob | None:
    """Mark the job running; None if it has nothing left to do."""
    async with ctx.sessionmaker() as session:
        job = await session.get(ImportJob, job_id)
        if job is None or job.status not in ("queued", "running"):
            return None
        job.status = "running"
        job.started_at = job.started_at or utcnow()
        session.add(job)
        await session.commit()
        return job


async def _finish(ctx: ImportContext, job: ImportJob, *, error: str | None = None) -> None:
    async with ctx.sessionmaker() as session:
        fresh = await session.get(ImportJob, job.id)
        assert fresh is not None
        # Counted while the first chunk was read (a file without data rows has no chunk).
        fresh.total_rows = fresh.total_rows if fresh.total_rows is not None else job.total_rows
        fresh.status = "failed" if error else "completed"
        fresh.error = error
        fresh.finished_at = utcnow()
        session.add(fresh)
        conn = await session.connection()
        if conn.dialect.name == "sqlite":
            # What the chunks left in the WAL goes into the database now, in the job's time.
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        if error is None:
            # One event for the whole import, not one `lead.created` per row: 100,000 events
            # would flood every subscriber for one operator action.
            emit(session, org_id=fresh.org_id, type="import.completed", data=_event(fresh))
        await session.commit()
        await session.refresh(fresh)
    for name in ImportJob.model_fields:
        setattr(job, name, getattr(fresh, name))
    try:
        await asyncio.to_thread(Path(job.source_path).unlink, True)
    except OSError:
        log.warning("could not remove the file of import %s", job.id)


def _event(job: ImportJob) -> dict[str, Any]:
    return {
        "job_id": job.id,
        "filename": job.filename,
        "source": job.options.get("source"),
        "total_rows": job.total_rows,
        "created": job.created_count,
        "updated": job.updated_count,
        "merged": job.merged_count,
        "skipped": job.skipped_count,
        "errors": job.error_count,
        "created_by": job.created_by,
    }


def _stopping() -> bool:
    """Whether this task has been asked to stop (cancelled, the cancellation not yet handled)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


# The collector's young-generation threshold while jobs run (Python's default is 700).
BULK_GC_THRESHOLD = 100_000
_bulk_jobs = 0
_saved_thresholds: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def _collector_for_bulk() -> Iterator[None]:
    """Keep the collector off the job's rows, which are alive and free of cycles.

    The objects that exist before the job are frozen, and so is everything alive each time a
    chunk's parsed rows arrive (`_run_chunks`): the rows are tens of thousands of containers
    that live until their chunk is written, and every pass that found them walked them, then
    walked them again in the older generations (0.46 s of the job's process per 100,000 rows,
    most of it in the thread that unpickles the parsing processes' results). Frozen objects are
    still freed by reference counting; only cycles wait for the job's end, and the job makes
    few (about a thousand objects per 100,000 rows). The young generation is collected every
    100,000 net allocations rather than 700, so that a pass seldom comes between two chunks.
    Process-wide settings: the first running job sets them, the last one restores them.
    """
    global _bulk_jobs, _saved_thresholds
    if _bulk_jobs == 0:
        _saved_thresholds = gc.get_threshold()
        gc.set_threshold(BULK_GC_THRESHOLD, *_saved_thresholds[1:])
    _bulk_jobs += 1
    gc.freeze()
    try:
        yield
    finally:
        _bulk_jobs -= 1
        if _bulk_jobs == 0:
            gc.set_threshold(*_saved_thresholds)
            gc.unfreeze()


async def run_job(ctx: ImportContext, job_id: int) -> ImportJob | None:
    """Run (or resume) one import to its end; the finished job, or None if there was none.

    Cancellation (shutdown) leaves the job `running` at its last checkpoint, to be resumed;
    an error marks it `failed` (the committed chunks stay imported).
    """
    job = await _start(ctx, job_id)
    if job is None:
        return None
    log.info("import %s: from row %s", job.id, job.processed_rows)
    try:
        with _collector_for_bulk():
            await _run_chunks(ctx, job)
    except JobTakenOver:
        log.warning("import %s: another runner took over", job.id)
        return job
    except asyncio.CancelledError:
        log.info("import %s stopped at row %s; it resumes on restart", job.id, job.processed_rows)
        raise
    except Exception as exc:
        if _stopping():
            # An error that the stop itself caused (a worker pool shutting down, a read cut
            # short) is no fault of the file: the job stays running, to resume on restart.
            log.info(
                "import %s stopped at row %s (%s); it resumes on restart",
                job.id,
                job.processed_rows,
                type(exc).__name__,
            )
            raise asyncio.CancelledError from exc
        log.exception("import %s failed", job.id)
        await _finish(ctx, job, error=f"{type(exc).__name__}: {str(exc)[:300]}")
        if ctx.progress is not None:
            await ctx.progress(job)
        return job
    await _finish(ctx, job)
    if ctx.progress is not None:
        await ctx.progress(job)
    log.info(
        "import %s done: %s created, %s updated, %s merged, %s skipped, %s errors",
        job.id,
        job.created_count,
        job.updated_count,
        job.merged_count,
        job.skipped_count,
        job.error_count,
    )
    return job


async def _run_chunks(ctx: ImportContext, job: ImportJob) -> None:
    path = Path(job.source_path)
    fmt = csv_format(job)
    async with ctx.sessionmaker() as session:
        cfg = await _row_config(session, ctx.settings, job)
    seen = await _seen_before(ctx, cfg, path, fmt, job.processed_rows)
    size = ctx.settings.import_chunk_rows
    # Small chunks first, doubling: the writing starts as soon as a few rows are parsed, and
    # each chunk is parsed while the one before it is written.
    chunks: Generator[list[tuple[int, list[str] | None]], None, None] = data_chunks(
        path, fmt, skip=job.processed_rows, size=size, first=min(size, FIRST_CHUNK_ROWS)
    )
    # The records are counted (for the progress) once the first chunk is on its way, and the
    # total goes with the first commit after the count is done.
    counting: asyncio.Future[int] | None = None
    # Parse ahead: the workers read the next chunks while this task writes the current one.
    depth = (ctx.settings.import_workers or 1) + 2
    pending: deque[tuple[int, asyncio.Future[list[Parsed | Rejected]]]] = deque()
    index = 0
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) < depth:
                rows = await asyncio.to_thread(_next, chunks)
                if rows is None:
                    exhausted = True
                    break
                pending.append((len(rows), asyncio.ensure_future(_parse(ctx, cfg, rows))))
                if job.total_rows is None and counting is None and len(rows) >= size:
                    # Behind the first, smaller chunks: they are what the writing waits for.
                    await asyncio.sleep(0)
                    counting = _count(ctx, path, fmt)
            if counting is not None and (counting.done() or not pending):
                job.total_rows = await counting
                counting = None
            if not pending:
                if job.total_rows is None:  # a file without data rows
                    job.total_rows = await _count(ctx, path, fmt)
                return
            n, future = pending.popleft()
            chunk = _Chunk(index=index, size=n, parsed=await future)
            # Out of the collector's sight until the job ends (see `_collector_for_bulk`).
            gc.freeze()
            counters = await _write_chunk(ctx, job, chunk, seen)
            _apply_counters(job, n, counters)
            if ctx.hook is not None:
                await ctx.hook("after_commit", index)
            index += 1
            if ctx.progress is not None:
                await ctx.progress(job)
    finally:
        if counting is not None:
            counting.cancel()
        for _, future in pending:
            future.cancel()
        # A stop (cancellation) can come while a thread is still reading the next chunk:
        # closing the generator under it raises ValueError, which would replace the
        # cancellation and fail a job that is only meant to pause. The thread then finishes
        # its read and the generator, with its file, goes when the last reference does.
        if inspect.getgeneratorstate(chunks) != inspect.GEN_RUNNING:
            chunks.close()
