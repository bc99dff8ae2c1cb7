"""Leads: validation, creation with normalized numbers, lookup, listing and their JSON."""

import re
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access import can_see_lead, lead_scope
from crm.numbers import is_internal, leads_with_key
from crm.outbox import emit
from gateway.auth import Principal
from gateway.errors import Conflict, Forbidden, InvalidInput, NotFound
from gateway.models import Lead, LeadPhone, Organization, Role, User, utcnow
from gateway.pagination import encode_cursor
from gateway.phones import InvalidPhoneNumber, lookup_key, to_e164, try_e164
from gateway.settings import Settings

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
STATUSES = ("new", "contacted", "interested", "callback", "not-interested", "converted", "lost")


class LeadCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(default="", max_length=200)
    company: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str = Field(min_length=1, max_length=40)
    alt_phones: list[str] = Field(default_factory=list, max_length=10)
    address: str | None = Field(default=None, max_length=500)
    status: str = "new"
    owner_id: int | None = None
    team_id: int | None = None
    source: str | None = Field(default=None, max_length=64)
    tags: list[str] = Field(default_factory=list, max_length=50)
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    consent: Literal["granted", "withdrawn"] | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not EMAIL_RE.match(value):
            raise ValueError("not an e-mail address")
        return value.lower()

    @field_validator("status")
    @classmethod
    def _status(cls, value: str) -> str:
        if value not in STATUSES:
            raise ValueError(f"must be one of {', '.join(STATUSES)}")
        return value


def lead_to_json(lead: Lead, *, dnc: bool | None = None) -> dict[str, Any]:
    """The lead's JSON, with `dnc` (primary phone on the do-not-call list) if it was looked up."""
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
        "next_follow_up_at": (
            lead.next_follow_up_at.isoformat() if lead.next_follow_up_at else None
        ),
        "created_at": lead.created_at.isoformat(),
        "updated_at": lead.updated_at.isoformat(),
    }
    if dnc is not None:
        body["dnc"] = dnc
    return body


async def org_region(session: AsyncSession, settings: Settings, org_id: int) -> str:
    org = await session.get(Organization, org_id)
    return org.default_region if org else settings.default_region


async def _normalize_numbers(
    session: AsyncSession, settings: Settings, org_id: int, data: LeadCreate
) -> tuple[str, list[str]]:
    region = await org_region(session, settings, org_id)
    fields = [("phone", data.phone)] + [
        (f"alt_phones.{i}", raw) for i, raw in enumerate(data.alt_phones)
    ]
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
    assert lead.id is not None
    for i, e164 in enumerate([lead.phone, *lead.alt_phones]):
        session.add(
            LeadPhone(
                org_id=lead.org_id,
                lead_id=lead.id,
                phone_key=lookup_key(settings.lookup_key_secret, e164),
                is_primary=i == 0,
            )
        )


async def create_lead(
    session: AsyncSession, settings: Settings, principal: Principal, data: LeadCreate
) -> Lead:
    """Validate and add a lead with its lookup keys; the caller commits."""
    phone, alt_phones = await _normalize_numbers(session, settings, principal.org_id, data)
    for field_name, e164 in [("phone", phone)] + [
        (f"alt_phones.{i}", n) for i, n in enumerate(alt_phones)
    ]:
        existing = await leads_with_key(
            session, org_id=principal.org_id, key=lookup_key(settings.lookup_key_secret, e164)
        )
        if existing.lead_ids:
            raise Conflict(
                f"{e164} already belongs to a lead",
                field=field_name,
                code="duplicate_phone",
                lead_ids=existing.lead_ids,
            )
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
    emit_lead_created(session, lead)
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


async def list_leads(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    *,
    q: str | None,
    status: str | None,
    owner_id: int | None,
    limit: int,
    before_id: int | None,
) -> tuple[list[Lead], str | None]:
    stmt = select(Lead).where(lead_scope(principal))
    if q:
        region = await org_region(session, settings, principal.org_id)
        e164 = try_e164(q, region)
        text = f"%{q.lower()}%"
        conditions = [
            sa.func.lower(Lead.name).like(text),
            sa.func.lower(sa.func.coalesce(Lead.company, "")).like(text),
            sa.func.lower(sa.func.coalesce(Lead.email, "")).like(text),
        ]
        if e164 is not None:
            key = lookup_key(settings.lookup_key_secret, e164)
            conditions.append(
                col(Lead.id).in_(
                    select(LeadPhone.lead_id).where(
                        col(LeadPhone.org_id) == principal.org_id, col(LeadPhone.phone_key) == key
                    )
                )
            )
        stmt = stmt.where(sa.or_(*conditions))
    if status:
        stmt = stmt.where(col(Lead.status) == status)
    if owner_id is not None:
        stmt = stmt.where(col(Lead.owner_id) == owner_id)
    if before_id is not None:
        stmt = stmt.where(col(Lead.id) < before_id)
    rows = list((await session.exec(stmt.order_by(col(Lead.id).desc()).limit(limit + 1))).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        assert rows[-1].id is not None
        next_cursor = encode_cursor(rows[-1].id)
    return rows, next_cursor
