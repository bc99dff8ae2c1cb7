"""Import jobs as a service: options, creating a job for a stored file, reading jobs and issues."""

import asyncio
import json
from pathlib import Path
from typing import Any

import phonenumbers
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.importer.csvfile import NotACsv, sniff
from crm.importer.mapping import resolve
from gateway.auth import Principal
from gateway.errors import Forbidden, InvalidInput, NotFound
from gateway.models import ImportJob, ImportRowIssue, Organization, Role, Team, User, utcnow
from gateway.pagination import encode_cursor

ON_EXISTING = ("skip", "update", "merge")
ISSUE_CODES = (
    "invalid_phone",
    "missing_phone",
    "duplicate_in_file",
    "exists_skipped",
    "exists_updated",
    "exists_merged",
    "dnc_suppressed",
    "invalid_email",
    "bad_row",
)


def require_importer(principal: Principal) -> None:
    if principal.role not in (Role.ADMIN, Role.MANAGER):
        raise Forbidden("only admins and managers import leads")


def imports_dir(data_dir: str) -> Path:
    return Path(data_dir) / "imports"


def _int_option(raw: Any, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw.strip())
    raise InvalidInput(f"{name} must be an integer", field=name)


def parse_options(raw: dict[str, Any]) -> dict[str, Any]:
    """Validate the options as sent (query string, form fields or CLI flags)."""
    options: dict[str, Any] = {}
    mapping = raw.get("mapping")
    if isinstance(mapping, str) and mapping.strip():
        try:
            mapping = json.loads(mapping)
        except ValueError:
            raise InvalidInput("mapping must be a JSON object", field="mapping") from None
    if mapping in (None, ""):
        mapping = None
    elif not isinstance(mapping, dict) or not all(isinstance(k, str) for k in mapping):
        raise InvalidInput("mapping must be a JSON object of column to field", field="mapping")
    options["mapping"] = mapping
    region = raw.get("default_region")
    if region:
        if not isinstance(region, str) or region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise InvalidInput(
                "default_region must be an ISO 3166 country code", field="default_region"
            )
        options["default_region"] = region.upper()
    on_existing = raw.get("on_existing") or "skip"
    if on_existing not in ON_EXISTING:
        raise InvalidInput(
            f"on_existing must be one of {', '.join(ON_EXISTING)}", field="on_existing"
        )
    options["on_existing"] = on_existing
    source = raw.get("source")
    if source is not None and source != "":
        if not isinstance(source, str) or len(source.strip()) > 64 or not source.strip():
            raise InvalidInput("source must be a label of 1 to 64 characters", field="source")
        options["source"] = source.strip()
    options["team_id"] = _int_option(raw.get("team_id"), "team_id")
    options["owner_id"] = _int_option(raw.get("owner_id"), "owner_id")
    return options


async def _check_people(
    session: AsyncSession, org_id: int, principal: Principal | None, options: dict[str, Any]
) -> None:
    """team_id and owner_id exist in the organization and are the caller's to use; the team
    defaults to the owner's, then to a manager's own (so the manager keeps seeing the leads)."""
    owner_team: int | None = None
    if options["owner_id"] is not None:
        owner = await session.get(User, options["owner_id"])
        if owner is None or owner.org_id != org_id:
            raise InvalidInput("no such user", field="owner_id")
        owner_team = owner.team_id
        if principal and principal.role == Role.MANAGER and owner_team != principal.team_id:
            raise Forbidden("managers assign leads within their team", field="owner_id")
    if options["team_id"] is not None:
        team = await session.get(Team, options["team_id"])
        if team is None or team.org_id != org_id:
            raise InvalidInput("no such team", field="team_id")
        if principal and principal.role == Role.MANAGER and team.id != principal.team_id:
            raise Forbidden("managers import into their own team", field="team_id")
    elif owner_team is not None:
        options["team_id"] = owner_team
    elif principal is not None and principal.role == Role.MANAGER:
        options["team_id"] = principal.team_id


async def create_job(
    session: AsyncSession,
    *,
    org_id: int,
    principal: Principal | None,
    path: Path,
    filename: str | None,
    options: dict[str, Any],
) -> ImportJob:
    """A queued job for the stored file, once its header maps to a phone column; the caller
    commits (and removes the file if this raises)."""
    org = await session.get(Organization, org_id)
    if org is None:
        raise NotFound("no such organization", field="org_id")
    await _check_people(session, org_id, principal, options)
    try:
        fmt = await asyncio.to_thread(sniff, path)
    except NotACsv as exc:
        raise InvalidInput(str(exc), field="file") from None
    columns = resolve(fmt.header, options.pop("mapping"))
    options.setdefault("default_region", org.default_region)
    options.update(
        encoding=fmt.encoding,
        delimiter=fmt.delimiter,
        header=fmt.header,
        header_records=fmt.header_records,
        columns=[[i, f] for i, f in columns],
    )
    job = ImportJob(
        org_id=org_id,
        created_by=principal.user_id if principal else None,
        status="queued",
        filename=(filename or path.name)[:255],
        source_path=str(path),
        options=options,
        created_at=utcnow(),
    )
    session.add(job)
    await session.flush()
    return job


def job_to_json(job: ImportJob) -> dict[str, Any]:
    opts = job.options
    total = job.total_rows
    percent = 100.0 if job.status == "completed" else 0.0
    if total and job.status != "completed":
        percent = round(min(100.0, 100.0 * job.processed_rows / total), 1)
    duration = None
    if job.started_at is not None:
        duration = round(((job.finished_at or utcnow()) - job.started_at).total_seconds(), 3)
    header = opts.get("header", [])
    return {
        "id": job.id,
        "status": job.status,
        "filename": job.filename,
        "created_by": job.created_by,
        "total_rows": total,
        "processed_rows": job.processed_rows,
        "percent": percent,
        "counters": {
            "created": job.created_count,
            "updated": job.updated_count,
            "merged": job.merged_count,
            "skipped": job.skipped_count,
            "errors": job.error_count,
        },
        "error": job.error,
        "options": {
            "on_existing": opts.get("on_existing"),
            "default_region": opts.get("default_region"),
            "source": opts.get("source"),
            "team_id": opts.get("team_id"),
            "owner_id": opts.get("owner_id"),
        },
        "encoding": opts.get("encoding"),
        "delimiter": opts.get("delimiter"),
        "mapping": {header[i]: f for i, f in opts.get("columns", []) if i < len(header)},
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "duration_s": duration,
        "rows_per_s": round(job.processed_rows / duration) if duration else None,
    }


def issue_to_json(issue: ImportRowIssue) -> dict[str, Any]:
    return {
        "id": issue.id,
        "row": issue.row_number,
        "code": issue.code,
        "field": issue.field,
        "message": issue.message,
        "lead_id": issue.lead_id,
    }


def _visible(principal: Principal) -> Any:
    base = col(ImportJob.org_id) == principal.org_id
    if principal.role == Role.ADMIN:
        return base
    # Managers see the imports they started.
    return base & (col(ImportJob.created_by) == principal.user_id)


async def visible_job(session: AsyncSession, principal: Principal, job_id: int) -> ImportJob:
    require_importer(principal)
    job = (
        await session.exec(
            select(ImportJob).where(_visible(principal), col(ImportJob.id) == job_id)
        )
    ).first()
    if job is None:
        raise NotFound("no such import", field="job_id")
    return job


async def list_jobs(
    session: AsyncSession, principal: Principal, *, limit: int, before_id: int | None
) -> tuple[list[ImportJob], str | None]:
    require_importer(principal)
    stmt = select(ImportJob).where(_visible(principal))
    if before_id is not None:
        stmt = stmt.where(col(ImportJob.id) < before_id)
    stmt = stmt.order_by(col(ImportJob.id).desc()).limit(limit + 1)
    rows = list((await session.exec(stmt)).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        assert rows[-1].id is not None
        next_cursor = encode_cursor(rows[-1].id)
    return rows, next_cursor


async def list_issues(
    session: AsyncSession,
    *,
    job_id: int,
    code: str | None,
    limit: int | None,
    after_id: int | None,
) -> tuple[list[ImportRowIssue], str | None]:
    """Issues in file order (chunks are written in order); `limit` None: all of them."""
    stmt = select(ImportRowIssue).where(col(ImportRowIssue.job_id) == job_id)
    if code:
        stmt = stmt.where(col(ImportRowIssue.code) == code)
    if after_id is not None:
        stmt = stmt.where(col(ImportRowIssue.id) > after_id)
    stmt = stmt.order_by(col(ImportRowIssue.id))
    if limit is None:
        return list((await session.exec(stmt)).all()), None
    rows = list((await session.exec(stmt.limit(limit + 1))).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        assert rows[-1].id is not None
        next_cursor = encode_cursor(rows[-1].id)
    return rows, next_cursor
