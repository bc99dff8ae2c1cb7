"""The organization's do-not-call list: entries matched by keyed lookup, CSV upload, dial checks."""

import csv
import io
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from gateway.auth import Principal
from gateway.errors import Forbidden, InvalidInput, NotFound
from gateway.models import DncEntry, DncSource, Lead, LeadPhone, Role, utcnow
from gateway.pagination import encode_cursor
from gateway.phones import InvalidPhoneNumber, lookup_key, to_e164
from gateway.settings import Settings

log = logging.getLogger(__name__)
# Upper bound of a bulk upload's body; larger lists go in several requests.
MAX_UPLOAD_BYTES = 5 * 1024**2
# Keys per `IN (...)` query: well under SQLite's and asyncpg's parameter limits.
KEY_CHUNK = 500
# The report names at most this many invalid lines; `invalid_count` has the total.
MAX_INVALID_REPORTED = 1000


class DncCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    number: str = Field(min_length=1, max_length=40)
    reason: str | None = Field(default=None, max_length=500)


def require_manager(principal: Principal) -> None:
    """Admins and managers manage the list; agents learn of it only through dial refusals."""
    if principal.role not in (Role.ADMIN, Role.MANAGER):
        raise Forbidden("only admins and managers manage the do-not-call list")


def dnc_to_json(entry: DncEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "number": entry.e164,
        "reason": entry.reason,
        "source": entry.source,
        "created_by": entry.created_by,
        "created_at": entry.created_at.isoformat(),
    }


def parse_number(raw: str, region: str, *, field_name: str) -> str:
    try:
        return to_e164(raw, region)
    except InvalidPhoneNumber as exc:
        raise InvalidInput(
            f"{raw!r} is not a valid phone number ({exc})", field=field_name, code="invalid_phone"
        ) from None


# --- data access (never commits) -----------------------------------------------------------


async def entry_with_key(session: AsyncSession, *, org_id: int, key: str) -> DncEntry | None:
    return (
        await session.exec(
            select(DncEntry).where(col(DncEntry.org_id) == org_id, col(DncEntry.phone_key) == key)
        )
    ).first()


async def is_listed(session: AsyncSession, *, org_id: int, key: str) -> bool:
    row = (
        await session.exec(
            select(DncEntry.id).where(
                col(DncEntry.org_id) == org_id, col(DncEntry.phone_key) == key
            )
        )
    ).first()
    return row is not None


async def listed_keys(session: AsyncSession, *, org_id: int, keys: Iterable[str]) -> set[str]:
    wanted = list(dict.fromkeys(keys))
    found: set[str] = set()
    for i in range(0, len(wanted), KEY_CHUNK):
        rows = await session.exec(
            select(DncEntry.phone_key).where(
                col(DncEntry.org_id) == org_id,
                col(DncEntry.phone_key).in_(wanted[i : i + KEY_CHUNK]),
            )
        )
        found.update(rows.all())
    return found


async def leads_on_dnc(session: AsyncSession, *, org_id: int, lead_ids: list[int]) -> set[int]:
    """Which of these leads have their primary phone on the list (one query per page)."""
    if not lead_ids:
        return set()
    rows = await session.exec(
        select(LeadPhone.lead_id)
        .join(
            DncEntry,
            sa.and_(
                col(DncEntry.org_id) == LeadPhone.org_id,
                col(DncEntry.phone_key) == LeadPhone.phone_key,
            ),
        )
        .where(
            col(LeadPhone.org_id) == org_id,
            col(LeadPhone.is_primary) == True,  # noqa: E712
            col(LeadPhone.lead_id).in_(lead_ids),
        )
    )
    return set(rows.all())


async def list_entries(
    session: AsyncSession, *, org_id: int, key: str | None, limit: int, before_id: int | None
) -> tuple[list[DncEntry], str | None]:
    stmt = select(DncEntry).where(col(DncEntry.org_id) == org_id)
    if key is not None:
        stmt = stmt.where(col(DncEntry.phone_key) == key)
    if before_id is not None:
        stmt = stmt.where(col(DncEntry.id) < before_id)
    rows = list((await session.exec(stmt.order_by(col(DncEntry.id).desc()).limit(limit + 1))).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        assert rows[-1].id is not None
        next_cursor = encode_cursor(rows[-1].id)
    return rows, next_cursor


async def add_unlisted(
    session: AsyncSession,
    *,
    org_id: int,
    rows: Mapping[str, tuple[str, str | None]],
    source: DncSource,
    created_by: int | None,
) -> tuple[int, set[str]]:
    """Add entries for the keys (`key: (e164, reason)`) not yet listed; returns how many were
    added and the keys that already were. The caller commits."""
    known = await listed_keys(session, org_id=org_id, keys=rows)
    now = utcnow()
    new = [
        DncEntry(
            org_id=org_id,
            phone_key=key,
            e164=e164,
            reason=reason,
            source=source,
            created_by=created_by,
            created_at=now,
        )
        for key, (e164, reason) in rows.items()
        if key not in known
    ]
    if new:
        session.add_all(new)
        await session.flush()
    return len(new), known


async def add_entry(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    *,
    e164: str,
    reason: str | None,
    source: DncSource = DncSource.MANUAL,
) -> tuple[DncEntry, bool]:
    """The entry for `e164`, and whether it is new (idempotent); the caller commits."""
    key = lookup_key(settings.lookup_key_secret, e164)
    existing = await entry_with_key(session, org_id=principal.org_id, key=key)
    if existing is not None:
        return existing, False
    entry = DncEntry(
        org_id=principal.org_id,
        phone_key=key,
        e164=e164,
        reason=reason,
        source=source,
        created_by=principal.user_id,
        created_at=utcnow(),
    )
    session.add(entry)
    await session.flush()
    return entry, True


async def list_lead_numbers(
    session: AsyncSession,
    settings: Settings,
    lead: Lead,
    *,
    reason: str,
    created_by: int | None,
    numbers: Iterable[str] | None = None,
) -> int:
    """Put the lead's numbers (all, or just `numbers`) on its organization's list.

    For a lead whose status or disposition means "do not call": source `lead-status`, the
    reason names the lead and what listed it. Numbers already listed keep their entry, so
    this is idempotent. Returns how many entries are new; the caller commits.
    """
    wanted = list(numbers) if numbers is not None else [lead.phone, *lead.alt_phones]
    reason = reason[:500]
    rows = {lookup_key(settings.lookup_key_secret, n): (n, reason) for n in wanted if n}
    added, _ = await add_unlisted(
        session, org_id=lead.org_id, rows=rows, source=DncSource.LEAD_STATUS, created_by=created_by
    )
    if added:
        log.info("lead %s: %d number(s) put on the do-not-call list", lead.id, added)
    return added


async def remove_entry(session: AsyncSession, principal: Principal, entry_id: int) -> None:
    """Delete one entry of the caller's organization; the caller commits."""
    entry = await session.get(DncEntry, entry_id)
    if entry is None or entry.org_id != principal.org_id:
        # Another organization's entry answers like a missing one.
        raise NotFound("no such do-not-call entry", field="dnc_id")
    await session.delete(entry)
    # Numbers stay out of INFO logs; the id and the user are enough to audit.
    log.info(
        "dnc entry %s removed by user %s (org %s)", entry_id, principal.user_id, principal.org_id
    )


# --- bulk upload -----------------------------------------------------------------------------


@dataclass
class ParsedUpload:
    """Valid rows by key (first occurrence wins), repeats within the file, invalid lines."""

    rows: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    repeated: int = 0
    invalid: list[dict[str, Any]] = field(default_factory=list)
    invalid_count: int = 0

    def reject(self, line: int, value: str, error: str) -> None:
        self.invalid_count += 1
        if len(self.invalid) < MAX_INVALID_REPORTED:
            self.invalid.append({"line": line, "value": value[:100], "error": error})


def parse_upload(text: str, region: str, secret: str) -> ParsedUpload:
    """Parse a CSV: one number per line, or a header with `number` and optional `reason`.

    Pure and CPU-bound (about 28 µs per number): the route runs it in a thread.
    """
    result = ParsedUpload()
    reader = csv.reader(io.StringIO(text))
    number_col, reason_col = 0, None
    first = True
    for row in reader:
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if first:
            first = False
            header = [c.lower() for c in cells]
            if "number" in header:
                number_col = header.index("number")
                reason_col = header.index("reason") if "reason" in header else None
                continue
        line = reader.line_num
        raw = cells[number_col] if number_col < len(cells) else ""
        reason = cells[reason_col] if reason_col is not None and reason_col < len(cells) else ""
        if not raw:
            result.reject(line, raw, "no number")
            continue
        if len(reason) > 500:
            result.reject(line, raw, "reason is longer than 500 characters")
            continue
        try:
            e164 = to_e164(raw, region)
        except InvalidPhoneNumber as exc:
            result.reject(line, raw, str(exc))
            continue
        key = lookup_key(secret, e164)
        if key in result.rows:
            result.repeated += 1
            continue
        result.rows[key] = (e164, reason or None)
    return result


async def add_parsed(
    session: AsyncSession, principal: Principal, parsed: ParsedUpload
) -> dict[str, Any]:
    """Add the upload's new numbers; the caller commits them all in one transaction."""
    added, known = await add_unlisted(
        session,
        org_id=principal.org_id,
        rows=parsed.rows,
        source=DncSource.UPLOAD,
        created_by=principal.user_id,
    )
    return {
        "added": added,
        "already_listed": len(known) + parsed.repeated,
        "invalid": parsed.invalid,
        "invalid_count": parsed.invalid_count,
    }
