"""Leads: validation, creation and update with normalized numbers, lookup, listing, JSON."""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import lru_cache
from typing import Any, Literal, Protocol

import phonenumbers
import sqlalchemy as sa
from phonenumbers import geocoder
from phonenumbers import timezone as phone_timezone
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access import can_see_lead, lead_scope
from crm.calls import parse_time
from crm.dnc import list_lead_numbers
from crm.followups import cancel_open_follow_ups
from crm.history import change_status
from crm.numbers import is_internal, leads_with_key
from crm.orgconfig import dnc_statuses, status_keys
from crm.outbox import emit
from gateway.auth import Principal
from gateway.errors import Conflict, Forbidden, InvalidInput, NotFound
from gateway.models import Call, Direction, Lead, LeadPhone, Organization, Role, User, utcnow
from gateway.pagination import encode_cursor
from gateway.phones import InvalidPhoneNumber, current_zone, lookup_key, to_e164, try_e164
from gateway.settings import Settings

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
UNKNOWN_ZONE = "Etc/Unknown"


def _valid_email(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    if not EMAIL_RE.match(value):
        raise ValueError("not an e-mail address")
    return value.lower()


class LeadCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(default="", max_length=200)
    company: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str = Field(min_length=1, max_length=40)
    alt_phones: list[str] = Field(default_factory=list, max_length=10)
    address: str | None = Field(default=None, max_length=500)
    # Checked against the organization's statuses by the service.
    status: str = Field(default="new", min_length=1, max_length=32)
    owner_id: int | None = None
    team_id: int | None = None
    source: str | None = Field(default=None, max_length=64)
    tags: list[str] = Field(default_factory=list, max_length=50)
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    consent: Literal["granted", "withdrawn"] | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return _valid_email(value)


class LeadUpdate(BaseModel):
    """PATCH: only the fields sent change; owner and team change through assignment."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(default="", max_length=200)
    company: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str = Field(default="", min_length=1, max_length=40)
    alt_phones: list[str] = Field(default_factory=list, max_length=10)
    address: str | None = Field(default=None, max_length=500)
    status: str = Field(default="new", min_length=1, max_length=32)
    source: str | None = Field(default=None, max_length=64)
    tags: list[str] = Field(default_factory=list, max_length=50)
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    consent: Literal["granted", "withdrawn"] | None = None
    # Accepted only to answer with a pointed error rather than a generic "extra field" one.
    owner_id: Any = None
    team_id: Any = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return _valid_email(value)

    @field_validator("owner_id", "team_id")
    @classmethod
    def _not_here(cls, value: Any) -> Any:
        raise ValueError("owner and team change through lead assignment, not this endpoint")


@lru_cache(maxsize=65536)
def number_location(e164: str) -> tuple[str | None, str | None, tuple[str, ...]]:
    """ISO country, English geographic description and time zones of a number.

    Cached like `to_e164`: the same numbers recur, and the geocoder and zone lookups cost
    microseconds each. The description is dropped when it only repeats the country (Indian
    mobiles geocode to "India"), and `Etc/Unknown` is no zone at all.
    """
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None, None, ()
    country = phonenumbers.region_code_for_number(number)
    if not country or len(country) != 2 or country == "ZZ":
        country = None
    description = geocoder.description_for_number(number, "en") or None
    if description is not None and description == geocoder.country_name_for_number(number, "en"):
        description = None
    zones = tuple(
        current_zone(z) for z in phone_timezone.time_zones_for_number(number) if z != UNKNOWN_ZONE
    )
    return country, description[:100] if description else None, zones


def derive_location(lead: Lead) -> None:
    """Country, region and time zone from the primary number.

    The zone only when the number names exactly one: a number spanning several (US area
    codes across a state line, toll-free) leaves it unset, so that the dialer's calling
    window checks every candidate (`timezones`) unless someone sets the lead's real zone.
    """
    country, region, zones = number_location(lead.phone)
    lead.country = country
    lead.region = region
    lead.timezone = zones[0] if len(zones) == 1 else None


def _iso(value: datetime | None) -> str | None:
    return _isoformat(value) if value else None


def _isoformat(value: datetime) -> str:
    # A batch of leads (an import's chunk, a reassignment) shares its few timestamps. Keyed
    # with the zone too: equal instants in two zones are equal datetimes, written apart.
    return _isoformat_in(value, value.tzinfo)


@lru_cache(maxsize=1024)
def _isoformat_in(value: datetime, _zone: tzinfo | None) -> str:
    return value.isoformat()


class ImportedRow(Protocol):
    """What `NewLead` reads of an import's parsed row (`crm.importer.rows.Parsed`)."""

    @property
    def e164(self) -> str: ...

    @property
    def alts(self) -> list[tuple[str, str]]: ...

    @property
    def values(self) -> dict[str, Any]: ...

    @property
    def place(self) -> tuple[str | None, str | None, tuple[str, ...]] | None: ...


class NewLead:
    """A lead an import is about to store, as plain values: what assignment reads and changes
    of a `Lead`, and what `lead_to_json` shows, without an ORM object per row.

    Slotted, and over the parsed row rather than a copy of it: a chunk makes thousands, and
    what only `lead_to_json` reads (the assigned ones' events) is read from the row then.
    """

    __slots__ = (
        "assigned_at",
        "country",
        "created_at",
        "id",
        "org_id",
        "owner_id",
        "region",
        "row",
        "source",
        "team_id",
        "timezones",
        "updated_at",
    )

    # What an imported lead never has when it is created.
    timezone: str | None = None
    language: str | None = None
    consent: str | None = None
    consent_at: datetime | None = None
    attempts: int = 0
    last_called_at: datetime | None = None
    next_follow_up_at: datetime | None = None
    merged_into_id: int | None = None

    def __init__(
        self,
        id: int,
        org_id: int,
        team_id: int | None,
        source: str | None,
        created_at: datetime,
        row: ImportedRow,
    ) -> None:
        self.id = id
        self.org_id = org_id
        self.team_id = team_id
        self.source = source
        self.created_at = self.updated_at = created_at
        self.owner_id: int | None = None
        self.assigned_at: datetime | None = None
        # The number's place and time zones, if found where the row was parsed (None: look up).
        self.country: str | None
        self.region: str | None
        self.timezones: tuple[str, ...] | None
        self.country, self.region, self.timezones = row.place or (None, None, None)
        self.row = row

    @property
    def phone(self) -> str:
        return self.row.e164

    @property
    def alt_phones(self) -> list[str]:
        return [e for e, _ in self.row.alts]

    @property
    def name(self) -> str:
        return str(self.row.values.get("name", ""))

    @property
    def company(self) -> str | None:
        return self.row.values.get("company")

    @property
    def email(self) -> str | None:
        return self.row.values.get("email")

    @property
    def address(self) -> str | None:
        return self.row.values.get("address")

    @property
    def status(self) -> str:
        return str(self.row.values.get("status", "new"))

    @property
    def tags(self) -> list[str]:
        return list(self.row.values.get("tags") or [])

    @property
    def custom_fields(self) -> dict[str, Any]:
        return dict(self.row.values.get("custom_fields") or {})


def lead_to_json(lead: Lead | NewLead, *, dnc: bool | None = None) -> dict[str, Any]:
    """The lead's JSON, with `dnc` (primary phone on the do-not-call list) if it was looked up."""
    timezones = lead.timezones if isinstance(lead, NewLead) else None
    if timezones is None:
        timezones = number_location(lead.phone)[2]
    body: dict[str, Any] = {
        "id": lead.id,
        "name": lead.name,
        "company": lead.company,
        "email": lead.email,
        "phone": lead.phone,
        "alt_phones": list(lead.alt_phones),
        "address": lead.address,
        "status": lead.status,
        "owner_id": lead.owner_id,
        "team_id": lead.team_id,
        "source": lead.source,
        "tags": list(lead.tags),
        "custom_fields": dict(lead.custom_fields),
        "consent": lead.consent,
        "consent_at": lead.consent_at.isoformat() if lead.consent_at else None,
        "country": lead.country,
        "region": lead.region,
        "timezone": lead.timezone,
        # Every candidate zone of the number (several for e.g. US toll-free or AU mobiles).
        "timezones": list(timezones),
        "attempts": lead.attempts,
        "last_called_at": _iso(lead.last_called_at),
        "next_follow_up_at": _iso(lead.next_follow_up_at),
        "assigned_at": _iso(lead.assigned_at),
        "merged_into_id": lead.merged_into_id,
        "created_at": _isoformat(lead.created_at),
        "updated_at": _isoformat(lead.updated_at),
    }
    if dnc is not None:
        body["dnc"] = dnc
    return body


async def org_region(session: AsyncSession, settings: Settings, org_id: int) -> str:
    org = await session.get(Organization, org_id)
    return org.default_region if org else settings.default_region


async def _normalize_numbers(
    session: AsyncSession, settings: Settings, org_id: int, phone: str, alt_phones: list[str]
) -> tuple[str, list[str]]:
    region = await org_region(session, settings, org_id)
    fields = [("phone", phone)] + [(f"alt_phones.{i}", raw) for i, raw in enumerate(alt_phones)]
    numbers: list[str] = []
    for field_name, raw in fields:
        try:
            e164 = to_e164(raw, region)
        except InvalidPhoneNumber as exc:
            raise InvalidInput(
                f"{raw!r} is not a valid phone number ({exc})",
                field=field_name,
                code="invalid_phone",
            ) from None
        internal = await is_internal(
            session, org_id=org_id, key=lookup_key(settings.lookup_key_secret, e164)
        )
        if internal is not None:
            raise InvalidInput(
                f"{e164} is one of the organization's own {internal} numbers",
                field=field_name,
                code="internal_number",
            )
        if e164 not in numbers:
            numbers.append(e164)
    return numbers[0], numbers[1:]


async def _resolve_owner(
    session: AsyncSession, principal: Principal, data: LeadCreate
) -> tuple[int | None, int | None]:
    owner_id = data.owner_id
    if principal.role == Role.AGENT:
        if owner_id not in (None, principal.user_id):
            raise Forbidden("agents create leads for themselves", field="owner_id")
        owner_id = principal.user_id
    team_id = data.team_id
    owner_team: int | None = None
    if owner_id is not None:
        owner = await session.get(User, owner_id)
        if owner is None or owner.org_id != principal.org_id:
            raise InvalidInput("no such user", field="owner_id")
        owner_team = owner.team_id
        if principal.role == Role.MANAGER and owner_team != principal.team_id:
            raise Forbidden("managers assign leads within their team", field="owner_id")
    if team_id is None:
        team_id = owner_team if owner_id is not None else principal.team_id
    elif principal.role != Role.ADMIN and team_id != principal.team_id:
        raise Forbidden("leads can be put only in your own team", field="team_id")
    return owner_id, team_id


def emit_lead_created(session: AsyncSession, lead: Lead) -> None:
    emit(session, org_id=lead.org_id, type="lead.created", data=lead_to_json(lead))


async def add_phone_keys(session: AsyncSession, settings: Settings, lead: Lead) -> None:
    """Index the lead's numbers: lookup keys, location from the primary, earlier calls.

    Every path that gives a lead numbers comes through here, so a lead made by the API, the
    dialer, an import or the demo has the same derived fields and picks up its call history.
    """
    assert lead.id is not None
    derive_location(lead)
    numbers = [lead.phone, *lead.alt_phones]
    for i, e164 in enumerate(numbers):
        session.add(
            LeadPhone(
                org_id=lead.org_id,
                lead_id=lead.id,
                phone_key=lookup_key(settings.lookup_key_secret, e164),
                is_primary=i == 0,
            )
        )
    await link_earlier_calls(session, lead, numbers)


async def link_earlier_calls(session: AsyncSession, lead: Lead, numbers: list[str]) -> int:
    """Attach calls logged before any lead had one of `numbers`; returns how many.

    Only calls that matched no lead (`lead_match` "none") are taken: an ambiguous call waits
    until its number has one lead (`link_resolved_calls`), an internal one is no customer's.
    The other party's number is `to_number` on outbound calls and `from_number` on inbound
    ones. `updated_at` is left alone: reconciliation reads it as the carrier's last word.
    """
    return await _link_calls(session, lead, numbers, lead_match="none")


async def _link_calls(
    session: AsyncSession, lead: Lead, numbers: list[str], *, lead_match: str
) -> int:
    if not numbers:
        return 0
    result = await session.exec(
        update(Call)
        .where(
            col(Call.org_id) == lead.org_id,
            col(Call.lead_id).is_(None),
            col(Call.lead_match) == lead_match,
            sa.or_(
                sa.and_(
                    col(Call.direction) == Direction.OUTBOUND, col(Call.to_number).in_(numbers)
                ),
                sa.and_(
                    col(Call.direction) == Direction.INBOUND, col(Call.from_number).in_(numbers)
                ),
            ),
        )
        .values(
            lead_id=lead.id,
            lead_match="matched",
            team_id=sa.func.coalesce(col(Call.team_id), lead.team_id),
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)


async def link_resolved_calls(session: AsyncSession, settings: Settings, lead: Lead) -> int:
    """Attach ambiguous calls whose number now belongs to this lead alone (after a merge)."""
    sole: list[str] = []
    for e164 in [lead.phone, *lead.alt_phones]:
        match = await leads_with_key(
            session, org_id=lead.org_id, key=lookup_key(settings.lookup_key_secret, e164)
        )
        if match.unique == lead.id:
            sole.append(e164)
    return await _link_calls(session, lead, sole, lead_match="ambiguous")


async def _refuse_taken_numbers(
    session: AsyncSession,
    settings: Settings,
    org_id: int,
    numbers: list[tuple[str, str]],
    *,
    own_lead_id: int | None = None,
) -> None:
    """409 `duplicate_phone` for the first (field, E.164) pair that another lead holds."""
    for field_name, e164 in numbers:
        existing = await leads_with_key(
            session, org_id=org_id, key=lookup_key(settings.lookup_key_secret, e164)
        )
        others = [x for x in existing.lead_ids if x != own_lead_id]
        if others:
            raise Conflict(
                f"{e164} already belongs to a lead",
                field=field_name,
                code="duplicate_phone",
                lead_ids=others,
            )


def _numbered(phone: str, alt_phones: list[str]) -> list[tuple[str, str]]:
    return [("phone", phone)] + [(f"alt_phones.{i}", n) for i, n in enumerate(alt_phones)]


async def _check_status(session: AsyncSession, org_id: int, status: str) -> None:
    org = await session.get(Organization, org_id)
    assert org is not None
    keys = status_keys(org)
    if status not in keys:
        raise InvalidInput(f"must be one of {', '.join(sorted(keys))}", field="status")


async def create_lead(
    session: AsyncSession, settings: Settings, principal: Principal, data: LeadCreate
) -> Lead:
    """Validate and add a lead with its lookup keys; the caller commits."""
    await _check_status(session, principal.org_id, data.status)
    phone, alt_phones = await _normalize_numbers(
        session, settings, principal.org_id, data.phone, data.alt_phones
    )
    await _refuse_taken_numbers(session, settings, principal.org_id, _numbered(phone, alt_phones))
    owner_id, team_id = await _resolve_owner(session, principal, data)
    now = utcnow()
    lead = Lead(
        org_id=principal.org_id,
        name=data.name,
        company=data.company,
        email=data.email,
        phone=phone,
        alt_phones=alt_phones,
        address=data.address,
        status=data.status,
        owner_id=owner_id,
        team_id=team_id,
        source=data.source or "api",
        tags=data.tags,
        custom_fields=data.custom_fields,
        consent=data.consent,
        consent_at=now if data.consent is not None else None,
        created_at=now,
        updated_at=now,
    )
    session.add(lead)
    await session.flush()
    await add_phone_keys(session, settings, lead)
    await list_if_dnc_status(session, settings, lead, changed_by=principal.user_id)
    emit_lead_created(session, lead)
    if owner_id is None and lead.id is not None:
        # Imported here: the assignment service renders leads with this module's JSON.
        from crm.assignment.service import auto_assign

        await auto_assign(
            session,
            settings,
            org_id=principal.org_id,
            lead_ids=[lead.id],
            method="auto",
            assigned_by=principal.user_id,
        )
    return lead


async def visible_lead(session: AsyncSession, principal: Principal, lead_id: int) -> Lead:
    lead = await session.get(Lead, lead_id)
    if lead is None or lead.org_id != principal.org_id:
        raise NotFound("no such lead", field="lead_id")
    owner_team = None
    if lead.owner_id is not None:
        owner = await session.get(User, lead.owner_id)
        owner_team = owner.team_id if owner else None
    if not can_see_lead(principal, lead, owner_team):
        # Same answer as for a missing lead: do not reveal other agents' leads exist.
        raise NotFound("no such lead", field="lead_id")
    return lead


@dataclass(frozen=True)
class LeadFilters:
    """GET /api/leads filters; all combine (AND)."""

    q: str | None = None
    name: str | None = None
    company: str | None = None
    email: str | None = None
    statuses: tuple[str, ...] = ()
    owner_id: int | None = None
    unassigned: bool = False
    team_id: int | None = None
    no_team: bool = False
    tag: str | None = None
    source: str | None = None
    country: str | None = None
    phone: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    updated_from: datetime | None = None
    updated_to: datetime | None = None


def _id_or_none(raw: str | None, field: str) -> tuple[int | None, bool]:
    """An id filter's value: (id, False), or (None, True) for `none` (no value set)."""
    if raw is None or raw == "":
        return None, False
    if raw.lower() == "none":
        return None, True
    if not raw.isdigit():
        raise InvalidInput(f"{field} must be an integer or none", field=field)
    return int(raw), False


def parse_filters(query: Mapping[str, str]) -> LeadFilters:
    """Read the list filters from a query string; a malformed value is a 400 naming it."""

    def text(name: str) -> str | None:
        return query.get(name, "").strip() or None

    owner_id, unassigned = _id_or_none(query.get("owner_id"), "owner_id")
    team_id, no_team = _id_or_none(query.get("team_id"), "team_id")
    statuses = tuple(s.strip() for s in query.get("status", "").split(",") if s.strip())
    country = text("country")
    return LeadFilters(
        q=text("q"),
        name=text("name"),
        company=text("company"),
        email=text("email"),
        statuses=statuses,
        owner_id=owner_id,
        unassigned=unassigned,
        team_id=team_id,
        no_team=no_team,
        tag=text("tag"),
        source=text("source"),
        country=country.upper() if country else None,
        phone=text("phone"),
        created_from=parse_time(text("created_from"), "created_from"),
        created_to=parse_time(text("created_to"), "created_to"),
        updated_from=parse_time(text("updated_from"), "updated_from"),
        updated_to=parse_time(text("updated_to"), "updated_to"),
    )


def _contains(column: Any, value: str) -> Any:
    # LIKE wildcards in the user's text match themselves.
    escaped = value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sa.func.lower(sa.func.coalesce(column, "")).like(f"%{escaped}%", escape="\\")


def _has_tag(dialect: str, tag: str) -> Any:
    if dialect == "postgresql":
        return sa.cast(col(Lead.tags), JSONB).contains([tag])
    each = sa.func.json_each(col(Lead.tags)).table_valued("value")
    return sa.exists(sa.select(sa.literal(1)).select_from(each).where(each.c.value == tag))


def _with_key(org_id: int, key: str) -> Any:
    return col(Lead.id).in_(
        select(LeadPhone.lead_id).where(
            col(LeadPhone.org_id) == org_id, col(LeadPhone.phone_key) == key
        )
    )


async def list_leads(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    *,
    filters: LeadFilters,
    limit: int,
    before_id: int | None,
) -> tuple[list[Lead], str | None]:
    """Visible leads, newest first; leads merged into another are left out."""
    stmt = select(Lead).where(lead_scope(principal), col(Lead.merged_into_id).is_(None))
    region = await org_region(session, settings, principal.org_id)
    f = filters
    if f.q:
        e164 = try_e164(f.q, region)
        conditions = [
            _contains(col(Lead.name), f.q),
            _contains(col(Lead.company), f.q),
            _contains(col(Lead.email), f.q),
        ]
        if e164 is not None:
            key = lookup_key(settings.lookup_key_secret, e164)
            conditions.append(_with_key(principal.org_id, key))
        stmt = stmt.where(sa.or_(*conditions))
    if f.phone:
        try:
            e164 = to_e164(f.phone, region)
        except InvalidPhoneNumber as exc:
            raise InvalidInput(
                f"{f.phone!r} is not a valid phone number ({exc})", field="phone"
            ) from None
        stmt = stmt.where(_with_key(principal.org_id, lookup_key(settings.lookup_key_secret, e164)))
    for column, value in ((Lead.name, f.name), (Lead.company, f.company), (Lead.email, f.email)):
        if value:
            stmt = stmt.where(_contains(col(column), value))
    if f.statuses:
        stmt = stmt.where(col(Lead.status).in_(f.statuses))
    if f.unassigned:
        stmt = stmt.where(col(Lead.owner_id).is_(None))
    elif f.owner_id is not None:
        stmt = stmt.where(col(Lead.owner_id) == f.owner_id)
    if f.no_team:
        stmt = stmt.where(col(Lead.team_id).is_(None))
    elif f.team_id is not None:
        stmt = stmt.where(col(Lead.team_id) == f.team_id)
    if f.tag:
        stmt = stmt.where(_has_tag(session.get_bind().dialect.name, f.tag))
    if f.source:
        stmt = stmt.where(col(Lead.source) == f.source)
    if f.country:
        stmt = stmt.where(col(Lead.country) == f.country)
    if f.created_from is not None:
        stmt = stmt.where(col(Lead.created_at) >= f.created_from)
    if f.created_to is not None:
        stmt = stmt.where(col(Lead.created_at) < f.created_to)
    if f.updated_from is not None:
        stmt = stmt.where(col(Lead.updated_at) >= f.updated_from)
    if f.updated_to is not None:
        stmt = stmt.where(col(Lead.updated_at) < f.updated_to)
    if before_id is not None:
        stmt = stmt.where(col(Lead.id) < before_id)
    rows = list((await session.exec(stmt.order_by(col(Lead.id).desc()).limit(limit + 1))).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        assert rows[-1].id is not None
        next_cursor = encode_cursor(rows[-1].id)
    return rows, next_cursor


async def shared_numbers(
    session: AsyncSession, settings: Settings, lead: Lead
) -> list[dict[str, Any]]:
    """The lead's numbers that other leads hold too (imports and merges can leave such pairs)."""
    by_key = {lookup_key(settings.lookup_key_secret, n): n for n in [lead.phone, *lead.alt_phones]}
    rows = await session.exec(
        select(LeadPhone.phone_key, LeadPhone.lead_id)
        .where(
            col(LeadPhone.org_id) == lead.org_id,
            col(LeadPhone.phone_key).in_(list(by_key)),
            col(LeadPhone.lead_id) != lead.id,
        )
        .distinct()
        .order_by(col(LeadPhone.lead_id))
    )
    others: dict[str, list[int]] = {}
    for key, lead_id in rows.all():
        others.setdefault(key, []).append(lead_id)
    return [{"number": n, "lead_ids": others[k]} for k, n in by_key.items() if k in others]


async def lock_lead(session: AsyncSession, principal: Principal, lead_id: int) -> Lead:
    """The visible lead, row-locked (on PostgreSQL) for a read-modify-write; 409 if merged."""
    await visible_lead(session, principal, lead_id)
    lead = (
        await session.exec(
            select(Lead)
            .where(col(Lead.id) == lead_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one()
    if lead.merged_into_id is not None:
        raise Conflict(
            "the lead was merged into another; change that one",
            field="lead_id",
            code="lead_merged",
            merged_into_id=lead.merged_into_id,
        )
    return lead


async def _update_numbers(
    session: AsyncSession, settings: Settings, lead: Lead, data: LeadUpdate
) -> list[str]:
    """Re-normalize and re-key the lead's numbers; returns the names of the changed fields."""
    fields = data.model_fields_set
    phone, alt_phones = await _normalize_numbers(
        session,
        settings,
        lead.org_id,
        data.phone if "phone" in fields else lead.phone,
        data.alt_phones if "alt_phones" in fields else list(lead.alt_phones),
    )
    changed = [
        name
        for name, old, new in (
            ("phone", lead.phone, phone),
            ("alt_phones", list(lead.alt_phones), alt_phones),
        )
        if old != new
    ]
    if not changed:
        return changed
    held = set([lead.phone, *lead.alt_phones])
    # Only numbers new to the lead are checked: an old number shared through an import does
    # not block an unrelated edit.
    added = [(f, n) for f, n in _numbered(phone, alt_phones) if n not in held]
    await _refuse_taken_numbers(session, settings, lead.org_id, added, own_lead_id=lead.id)
    await session.exec(delete(LeadPhone).where(col(LeadPhone.lead_id) == lead.id))
    lead.phone = phone
    lead.alt_phones = alt_phones
    await add_phone_keys(session, settings, lead)
    return changed


async def list_if_dnc_status(
    session: AsyncSession,
    settings: Settings,
    lead: Lead,
    *,
    changed_by: int | None,
    held: Iterable[str] = (),
) -> int:
    """A lead in a do-not-call status has its numbers put on the list (all but `held`).

    Called when the status was set and when numbers were added: a number given to a lead
    that is not to be called is not to be called either. Numbers already listed stay as
    they are; a number a manager took off the list is listed again only when the status is
    set again. Returns how many entries are new; the caller commits.
    """
    kept = set(held)
    numbers = [n for n in (lead.phone, *lead.alt_phones) if n not in kept]
    if not numbers:
        return 0
    org = await session.get(Organization, lead.org_id)
    assert org is not None
    if lead.status not in dnc_statuses(org):
        return 0
    added = await list_lead_numbers(
        session,
        settings,
        lead,
        reason=f"lead:{lead.id} status:{lead.status}",
        created_by=changed_by,
        numbers=numbers,
    )
    if not kept:
        # As with a do-not-call disposition: no reminders to call a number that may not be.
        await cancel_open_follow_ups(session, lead)
    return added


SIMPLE_FIELDS = ("name", "company", "email", "address", "source", "tags", "custom_fields")


async def update_lead(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    lead_id: int,
    data: LeadUpdate,
) -> Lead:
    """Apply a PATCH; emits `lead.updated` with the changed fields when anything changed.

    The caller commits.
    """
    lead = await lock_lead(session, principal, lead_id)
    fields = data.model_fields_set
    if "status" in fields:
        await _check_status(session, lead.org_id, data.status)
    old_numbers = [lead.phone, *lead.alt_phones]
    changed: list[str] = []
    for name in SIMPLE_FIELDS:
        if name in fields and getattr(data, name) != getattr(lead, name):
            setattr(lead, name, getattr(data, name))
            changed.append(name)
    now = utcnow()
    if "consent" in fields and data.consent != lead.consent:
        lead.consent = data.consent
        lead.consent_at = now if data.consent is not None else None
        changed.append("consent")
    if "phone" in fields or "alt_phones" in fields:
        changed += await _update_numbers(session, settings, lead, data)
    held: list[str] = old_numbers
    if "status" in fields and change_status(
        session, lead, data.status, changed_by=principal.user_id, reason="manual"
    ):
        changed.append("status")
        held = []
    await list_if_dnc_status(session, settings, lead, changed_by=principal.user_id, held=held)
    if changed:
        lead.updated_at = now
        session.add(lead)
        emit(
            session,
            org_id=lead.org_id,
            type="lead.updated",
            data={**lead_to_json(lead), "changed": changed},
        )
    return lead
