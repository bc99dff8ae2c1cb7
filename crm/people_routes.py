"""REST routes for users (with their assignment attributes and presence) and teams."""

import re
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.assignment.service import open_lead_counts
from crm.assignment.territory import parse_territory, valid_territory
from crm.numbers import agent_with_key, is_internal
from gateway.auth import Principal, current
from gateway.errors import Conflict, Forbidden, InvalidInput, NotFound, read_model
from gateway.keys import sessionmaker_key, settings_key
from gateway.models import (
    AgentPresence,
    CarrierAccount,
    CarrierNumber,
    Organization,
    Role,
    Team,
    User,
)
from gateway.pagination import parse_int, path_id
from gateway.phones import InvalidPhoneNumber, lookup_key, to_e164
from gateway.settings import Settings
from gateway.users import create_user, user_to_json

routes = web.RouteTableDef()

NOT_NULL = ("name", "role", "is_active", "skills", "languages", "territories", "weight")
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
Tags = list[str]


def _tags(values: list[str], field: str) -> list[str]:
    """Free tags (skills, languages): trimmed, at most 64 characters, no repeats."""
    clean: list[str] = []
    for i, raw in enumerate(values):
        text = raw.strip()
        if not text or len(text) > 64:
            raise ValueError(f"{field}.{i}: 1 to 64 characters")
        if text.casefold() not in (x.casefold() for x in clean):
            clean.append(text)
    return clean


def _territories(values: list[str]) -> list[str]:
    clean: list[str] = []
    for i, raw in enumerate(values):
        if not valid_territory(raw):
            raise ValueError(
                f"territories.{i}: {raw!r} is not an ISO country code or COUNTRY:Region"
            )
        country, region = parse_territory(raw)
        entry = f"{country}:{raw.strip()[3:].strip()}" if region else country
        if entry not in clean:
            clean.append(entry)
    return clean


def _shift(value: str | None) -> str | None:
    if value is None:
        return None
    if not HHMM.match(value):
        raise ValueError("must be HH:MM (24-hour)")
    return value


class Attributes(BaseModel):
    """What assignment rules read from a user."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    skills: Tags | None = Field(default=None, max_length=50)
    languages: Tags | None = Field(default=None, max_length=50)
    territories: Tags | None = Field(default=None, max_length=200)
    weight: int | None = Field(default=None, ge=0, le=1000)
    max_open_leads: int | None = Field(default=None, ge=0, le=1_000_000)
    max_daily_leads: int | None = Field(default=None, ge=0, le=1_000_000)
    shift_start: str | None = None
    shift_end: str | None = None
    # One of the organization's carrier numbers to call from; null: the team's or the default.
    caller_id_number_id: int | None = Field(default=None, ge=1)

    @field_validator("skills")
    @classmethod
    def _skills(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _tags(value, "skills")

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _tags(value, "languages")

    @field_validator("territories")
    @classmethod
    def _territories(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _territories(value)

    @field_validator("shift_start", "shift_end")
    @classmethod
    def _shift(cls, value: str | None) -> str | None:
        return _shift(value)


class UserCreate(Attributes):
    email: str = Field(min_length=3, max_length=320)
    name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=8, max_length=1024)
    role: Role
    team_id: int | None = None
    phone: str | None = Field(default=None, max_length=40)


class UserUpdate(Attributes):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    role: Role | None = None
    team_id: int | None = None
    is_active: bool | None = None

    def refuse_nulls(self) -> None:
        for name in NOT_NULL:
            if name in self.model_fields_set and getattr(self, name) is None:
                raise InvalidInput(f"{name} cannot be null", field=name)


class TeamCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)


def user_detail_json(
    user: User,
    presence: AgentPresence | None,
    open_leads: int = 0,
    caller_id: str | None = None,
) -> dict[str, Any]:
    body = user_to_json(user)
    body.update(
        {
            "is_active": user.is_active,
            "skills": list(user.skills),
            "languages": list(user.languages),
            "territories": list(user.territories),
            "weight": user.weight,
            "max_open_leads": user.max_open_leads,
            "max_daily_leads": user.max_daily_leads,
            "open_leads": open_leads,
            "shift_start": user.shift_start,
            "shift_end": user.shift_end,
            "caller_id_number_id": user.caller_id_number_id,
            "caller_id": caller_id,
            "presence": {
                "state": presence.state if presence else "offline",
                "reason": presence.reason if presence else None,
                "since": presence.since.isoformat() if presence else None,
            },
            "created_at": user.created_at.isoformat(),
        }
    )
    return body


async def _org(session: AsyncSession, principal: Principal) -> Organization:
    org = await session.get(Organization, principal.org_id)
    assert org is not None
    return org


async def _details(session: AsyncSession, org: Organization, users: list[User]) -> list[Any]:
    ids = [u.id for u in users if u.id is not None]
    presence = {
        p.user_id: p
        for p in (
            await session.exec(select(AgentPresence).where(col(AgentPresence.user_id).in_(ids)))
        ).all()
    }
    loads = await open_lead_counts(session, org, ids)
    number_ids = {u.caller_id_number_id for u in users if u.caller_id_number_id is not None}
    numbers = (
        dict(
            (
                await session.exec(
                    select(CarrierNumber.id, CarrierNumber.e164).where(
                        col(CarrierNumber.id).in_(number_ids)
                    )
                )
            ).all()
        )
        if number_ids
        else {}
    )
    return [
        user_detail_json(
            u,
            presence.get(u.id or 0),
            loads.get(u.id or 0, 0),
            numbers.get(u.caller_id_number_id) if u.caller_id_number_id is not None else None,
        )
        for u in users
    ]


def _usable_numbers(org_id: int) -> Any:
    """The organization's numbers on active carrier accounts: what a call can go out from."""
    return (
        select(CarrierNumber, CarrierAccount)
        .join(CarrierAccount, col(CarrierNumber.account_id) == CarrierAccount.id)
        .where(col(CarrierAccount.org_id) == org_id, col(CarrierAccount.is_active))
        .order_by(col(CarrierNumber.id))
    )


async def _check_caller_id(session: AsyncSession, org_id: int, number_id: int) -> None:
    row = (
        await session.exec(_usable_numbers(org_id).where(col(CarrierNumber.id) == number_id))
    ).first()
    if row is None:
        raise InvalidInput(
            "not one of the organization's numbers on an active carrier account",
            field="caller_id_number_id",
        )


async def _team(session: AsyncSession, principal: Principal, team_id: int) -> Team:
    team = await session.get(Team, team_id)
    if team is None or team.org_id != principal.org_id:
        raise InvalidInput("no such team", field="team_id")
    return team


async def _set_phone(
    session: AsyncSession, settings: Settings, org: Organization, user: User, raw: str | None
) -> None:
    if not raw:
        user.phone = user.phone_key = None
        return
    try:
        e164 = to_e164(raw, org.default_region)
    except InvalidPhoneNumber as exc:
        raise InvalidInput(f"{raw!r}: {exc}", field="phone", code="invalid_phone") from None
    key = lookup_key(settings.lookup_key_secret, e164)
    assert org.id is not None
    holder = await agent_with_key(session, org_id=org.id, key=key)
    if (holder is not None and holder.id != user.id) or (
        holder is None and await is_internal(session, org_id=org.id, key=key)
    ):
        raise Conflict("number already used in this organization", field="phone")
    user.phone, user.phone_key = e164, key


async def _apply_attributes(session: AsyncSession, user: User, data: Attributes) -> None:
    fields = data.model_fields_set
    if "caller_id_number_id" in fields:
        if data.caller_id_number_id is not None:
            await _check_caller_id(session, user.org_id, data.caller_id_number_id)
        user.caller_id_number_id = data.caller_id_number_id
    for name in (
        "skills",
        "languages",
        "territories",
        "weight",
        "max_open_leads",
        "max_daily_leads",
    ):
        if name in fields:
            setattr(user, name, getattr(data, name))
    if "shift_start" in fields:
        user.shift_start = data.shift_start
    if "shift_end" in fields:
        user.shift_end = data.shift_end
    if (user.shift_start is None) != (user.shift_end is None):
        missing = "shift_end" if user.shift_end is None else "shift_start"
        raise InvalidInput("a shift needs both its start and its end", field=missing)
    if user.shift_start is not None and user.shift_start == user.shift_end:
        raise InvalidInput("a shift cannot end when it starts", field="shift_end")


@routes.get("/api/users")
async def get_users(request: web.Request) -> web.Response:
    """Admins see everyone, managers their team, agents themselves."""
    principal = current(request)
    q = request.query
    stmt = select(User).where(col(User.org_id) == principal.org_id)
    if principal.role == Role.MANAGER:
        stmt = stmt.where(
            sa.or_(col(User.team_id) == principal.team_id, col(User.id) == principal.user_id)
        )
    elif principal.role == Role.AGENT:
        stmt = stmt.where(col(User.id) == principal.user_id)
    team_id = parse_int(q.get("team_id"), "team_id")
    if team_id is not None:
        stmt = stmt.where(col(User.team_id) == team_id)
    role = q.get("role")
    if role:
        if role not in {r.value for r in Role}:
            raise InvalidInput("role must be admin, manager or agent", field="role")
        stmt = stmt.where(col(User.role) == role)
    active = q.get("active")
    if active:
        if active not in ("true", "false"):
            raise InvalidInput("active must be true or false", field="active")
        stmt = stmt.where(col(User.is_active) == (active == "true"))
    async with request.app[sessionmaker_key]() as session:
        users = list((await session.exec(stmt.order_by(col(User.id)))).all())
        data = await _details(session, await _org(session, principal), users)
    return web.json_response({"data": data})


@routes.post("/api/users")
async def post_user(request: web.Request) -> web.Response:
    principal = current(request)
    if principal.role != Role.ADMIN:
        raise Forbidden("only admins create users")
    data = await read_model(request, UserCreate)
    settings = request.app[settings_key]
    async with request.app[sessionmaker_key]() as session:
        org = await _org(session, principal)
        team = await _team(session, principal, data.team_id) if data.team_id else None
        user = await create_user(
            session,
            settings,
            org=org,
            email=data.email,
            password=data.password,
            name=data.name,
            role=data.role,
            team=team,
            phone=data.phone,
        )
        await _apply_attributes(session, user, data)
        session.add(user)
        await session.commit()
        (body,) = await _details(session, org, [user])
    return web.json_response(body, status=201)


@routes.patch("/api/users/{user_id}")
async def patch_user(request: web.Request) -> web.Response:
    """Admins change anyone; managers their own team's agents, within the team.

    Deactivating keeps the user's leads (hand them over with POST /api/leads/assign) and
    ends their tokens' use at once (every request checks is_active).
    """
    principal = current(request)
    if principal.role == Role.AGENT:
        raise Forbidden("agents cannot change users")
    user_id = path_id(request, "user_id")
    data = await read_model(request, UserUpdate)
    data.refuse_nulls()
    fields = data.model_fields_set
    settings = request.app[settings_key]
    async with request.app[sessionmaker_key]() as session:
        user = await session.get(User, user_id)
        if user is None or user.org_id != principal.org_id:
            raise NotFound("no such user", field="user_id")
        if principal.role == Role.MANAGER:
            if user.role != Role.AGENT or user.team_id != principal.team_id:
                raise Forbidden("managers change their own team's agents", field="user_id")
            if "role" in fields:
                raise Forbidden("only admins change roles", field="role")
            if "team_id" in fields and data.team_id != principal.team_id:
                raise Forbidden("managers cannot move agents to another team", field="team_id")
        if user.id == principal.user_id:
            if data.is_active is False:
                raise Conflict("you cannot deactivate yourself", field="is_active")
            if "role" in fields and data.role != user.role:
                raise Conflict("you cannot change your own role", field="role")
        org = await _org(session, principal)
        if "team_id" in fields:
            if data.team_id is not None:
                await _team(session, principal, data.team_id)
            user.team_id = data.team_id
        if data.name is not None:
            user.name = data.name
        if data.role is not None:
            user.role = data.role
        if data.is_active is not None:
            user.is_active = data.is_active
        if "phone" in fields:
            await _set_phone(session, settings, org, user, data.phone)
        await _apply_attributes(session, user, data)
        session.add(user)
        await session.commit()
        (body,) = await _details(session, org, [user])
    return web.json_response(body)


@routes.get("/api/carrier-numbers")
async def get_carrier_numbers(request: web.Request) -> web.Response:
    """The numbers agents can be given as their caller ID (admins and managers)."""
    principal = current(request)
    if principal.role == Role.AGENT:
        raise Forbidden("agents cannot list the organization's numbers")
    async with request.app[sessionmaker_key]() as session:
        rows = (await session.exec(_usable_numbers(principal.org_id))).all()
    return web.json_response(
        {
            "data": [
                {
                    "id": number.id,
                    "e164": number.e164,
                    "account_id": account.id,
                    "account_name": account.name,
                    "carrier": account.carrier,
                }
                for number, account in rows
            ]
        }
    )


def team_to_json(team: Team, members: int) -> dict[str, Any]:
    return {
        "id": team.id,
        "name": team.name,
        "member_count": members,
        "created_at": team.created_at.isoformat(),
    }


@routes.get("/api/teams")
async def get_teams(request: web.Request) -> web.Response:
    principal = current(request)
    async with request.app[sessionmaker_key]() as session:
        teams = (
            await session.exec(
                select(Team).where(col(Team.org_id) == principal.org_id).order_by(col(Team.id))
            )
        ).all()
        counts = dict(
            (
                await session.exec(
                    select(User.team_id, func.count())
                    .where(col(User.org_id) == principal.org_id, col(User.is_active))
                    .group_by(col(User.team_id))
                )
            ).all()
        )
    return web.json_response({"data": [team_to_json(t, counts.get(t.id, 0)) for t in teams]})


@routes.post("/api/teams")
async def post_team(request: web.Request) -> web.Response:
    principal = current(request)
    if principal.role != Role.ADMIN:
        raise Forbidden("only admins create teams")
    data = await read_model(request, TeamCreate)
    async with request.app[sessionmaker_key]() as session:
        clash = (
            await session.exec(
                select(Team.id).where(
                    col(Team.org_id) == principal.org_id,
                    func.lower(Team.name) == data.name.lower(),
                )
            )
        ).first()
        if clash is not None:
            raise Conflict("a team with this name exists", field="name", code="duplicate_name")
        team = Team(org_id=principal.org_id, name=data.name)
        session.add(team)
        await session.commit()
    return web.json_response(team_to_json(team, 0), status=201)
