"""REST routes for assignment rules, manual/automatic/bulk lead assignment and its trail."""

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access import lead_scope
from crm.assignment.policies import MEASURES, Kind
from crm.assignment.service import (
    assign_to,
    assignment_to_json,
    assignment_trail,
    auto_assign,
    lead_ids_of_agent,
    push_assigned,
)
from crm.leads import lead_to_json, visible_lead
from gateway.auth import Principal, current
from gateway.errors import Conflict, Forbidden, InvalidInput, NotFound, read_model
from gateway.keys import sessionmaker_key, settings_key
from gateway.models import AssignmentRule, Lead, LeadAssignment, Role, Team, User
from gateway.pagination import decode_cursor, parse_limit, path_id

routes = web.RouteTableDef()

MAX_BULK_LEADS = 5000
# Config keys each kind understands (besides include_offline, which every kind takes).
_KIND_KEYS: dict[str, set[str]] = {
    "round_robin": set(),
    "least_loaded": {"measure"},
    "weighted": set(),
    "territory": set(),
    "skill": {"require", "from", "tag_prefix", "match"},
    "language": {"require", "from", "tag_prefix", "match"},
    "sticky": set(),
}


def require_supervisor(principal: Principal) -> None:
    if principal.role not in (Role.ADMIN, Role.MANAGER):
        raise Forbidden("only admins and managers manage assignment")


def validate_config(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """The rule's config, checked against its kind; errors name `config.<key>`."""
    allowed = _KIND_KEYS[kind] | {"include_offline"}
    clean: dict[str, Any] = {}
    for key, value in config.items():
        field = f"config.{key}"
        if key not in allowed:
            raise InvalidInput(f"{kind} rules take no {key!r}", field=field)
        if key == "include_offline":
            if not isinstance(value, bool):
                raise InvalidInput("must be true or false", field=field)
        elif key == "measure":
            if value not in MEASURES:
                raise InvalidInput(f"must be one of {', '.join(MEASURES)}", field=field)
        elif key == "require":
            if value not in ("skills", "languages"):
                raise InvalidInput("must be skills or languages", field=field)
        elif key == "match":
            if value not in ("any", "all"):
                raise InvalidInput("must be any or all", field=field)
        elif key == "from":
            ok = isinstance(value, str) and (
                value in ("tag", "lead.language")
                or (value.startswith("custom_field:") and len(value) > len("custom_field:"))
            )
            if not ok:
                raise InvalidInput("must be tag, lead.language or custom_field:<name>", field=field)
        elif key == "tag_prefix" and not (isinstance(value, str) and 0 < len(value) <= 64):
            raise InvalidInput("must be a string of 1 to 64 characters", field=field)
        clean[key] = value
    return clean


def rule_to_json(rule: AssignmentRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "team_id": rule.team_id,
        "position": rule.position,
        "kind": rule.kind,
        "config": dict(rule.config),
        "is_active": rule.is_active,
        "last_agent_id": rule.last_agent_id,
        "created_at": rule.created_at.isoformat(),
    }


class RuleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind
    team_id: int | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    is_active: bool = True


class RuleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind | None = None
    team_id: int | None = None
    config: dict[str, Any] | None = None
    is_active: bool | None = None


class RuleOrder(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule_ids: list[int] = Field(max_length=1000)


async def _visible_rules(session: AsyncSession, principal: Principal) -> list[AssignmentRule]:
    stmt = select(AssignmentRule).where(col(AssignmentRule.org_id) == principal.org_id)
    if principal.role == Role.MANAGER:
        # Managers see the organization's rules (read-only) and their team's.
        stmt = stmt.where(
            col(AssignmentRule.team_id).is_(None)
            | (col(AssignmentRule.team_id) == principal.team_id)
        )
    rows = await session.exec(stmt.order_by(col(AssignmentRule.position), col(AssignmentRule.id)))
    return list(rows.all())


async def _check_team(session: AsyncSession, principal: Principal, team_id: int | None) -> None:
    if team_id is not None:
        team = await session.get(Team, team_id)
        if team is None or team.org_id != principal.org_id:
            raise InvalidInput("no such team", field="team_id")
    if principal.role == Role.MANAGER and (team_id is None or team_id != principal.team_id):
        raise Forbidden("managers manage their own team's rules", field="team_id")


async def _managed_rule(
    session: AsyncSession, principal: Principal, rule_id: int
) -> AssignmentRule:
    rule = await session.get(AssignmentRule, rule_id)
    if rule is None or rule.org_id != principal.org_id:
        raise NotFound("no such rule", field="rule_id")
    if principal.role == Role.MANAGER and (
        rule.team_id is None or rule.team_id != principal.team_id
    ):
        if rule.team_id is None:
            raise Forbidden("organization rules are managed by admins", field="rule_id")
        raise NotFound("no such rule", field="rule_id")
    return rule


@routes.get("/api/assignment-rules")
async def get_rules(request: web.Request) -> web.Response:
    principal = current(request)
    require_supervisor(principal)
    async with request.app[sessionmaker_key]() as session:
        rules = await _visible_rules(session, principal)
    return web.json_response({"data": [rule_to_json(r) for r in rules]})


@routes.post("/api/assignment-rules")
async def post_rule(request: web.Request) -> web.Response:
    principal = current(request)
    require_supervisor(principal)
    data = await read_model(request, RuleCreate)
    team_id = data.team_id
    if principal.role == Role.MANAGER and "team_id" not in data.model_fields_set:
        team_id = principal.team_id
    config = validate_config(data.kind, data.config)
    async with request.app[sessionmaker_key]() as session:
        await _check_team(session, principal, team_id)
        last = (
            await session.exec(
                select(AssignmentRule.position)
                .where(col(AssignmentRule.org_id) == principal.org_id)
                .order_by(col(AssignmentRule.position).desc())
            )
        ).first()
        rule = AssignmentRule(
            org_id=principal.org_id,
            team_id=team_id,
            position=0 if last is None else last + 1,
            kind=data.kind,
            config=config,
            is_active=data.is_active,
        )
        session.add(rule)
        await session.commit()
    return web.json_response(rule_to_json(rule), status=201)


@routes.patch("/api/assignment-rules/{rule_id}")
async def patch_rule(request: web.Request) -> web.Response:
    principal = current(request)
    require_supervisor(principal)
    rule_id = path_id(request, "rule_id")
    data = await read_model(request, RuleUpdate)
    fields = data.model_fields_set
    async with request.app[sessionmaker_key]() as session:
        rule = await _managed_rule(session, principal, rule_id)
        if "kind" in fields:
            if data.kind is None:
                raise InvalidInput("kind cannot be null", field="kind")
            if data.kind != rule.kind:
                rule.last_agent_id = None  # another policy starts its own turns
            rule.kind = data.kind
        if "team_id" in fields:
            await _check_team(session, principal, data.team_id)
            rule.team_id = data.team_id
        if "config" in fields:
            if data.config is None:
                raise InvalidInput("config cannot be null", field="config")
            rule.config = data.config
        # The config is checked against the kind it ends up with (either may have changed).
        rule.config = validate_config(rule.kind, dict(rule.config))
        if "is_active" in fields:
            if data.is_active is None:
                raise InvalidInput("is_active cannot be null", field="is_active")
            rule.is_active = data.is_active
        session.add(rule)
        await session.commit()
    return web.json_response(rule_to_json(rule))


@routes.delete("/api/assignment-rules/{rule_id}")
async def delete_rule(request: web.Request) -> web.Response:
    principal = current(request)
    require_supervisor(principal)
    rule_id = path_id(request, "rule_id")
    async with request.app[sessionmaker_key]() as session:
        rule = await _managed_rule(session, principal, rule_id)
        # The audit trail outlives the rule: its rows keep the rule's kind, not the link.
        await session.exec(
            update(LeadAssignment)
            .where(col(LeadAssignment.rule_id) == rule_id)
            .values(rule_id=None)
            .execution_options(synchronize_session=False)
        )
        await session.delete(rule)
        await session.commit()
    return web.Response(status=204)


@routes.put("/api/assignment-rules/order")
async def put_rule_order(request: web.Request) -> web.Response:
    """Reorder the rules the caller manages: admins all, managers their team's (which keep
    the positions they held among the organization's rules, just in the new order)."""
    principal = current(request)
    require_supervisor(principal)
    data = await read_model(request, RuleOrder)
    if len(set(data.rule_ids)) != len(data.rule_ids):
        raise InvalidInput("a rule is listed twice", field="rule_ids")
    async with request.app[sessionmaker_key]() as session:
        rules = await _visible_rules(session, principal)
        managed = {
            r.id: r for r in rules if principal.role == Role.ADMIN or r.team_id == principal.team_id
        }
        unknown = [i for i in data.rule_ids if i not in managed]
        missing = sorted(i for i in managed if i is not None and i not in data.rule_ids)
        if unknown or missing:
            raise InvalidInput(
                "rule_ids must list every rule you manage, once",
                field="rule_ids",
                unknown=unknown,
                missing=missing,
            )
        if principal.role == Role.ADMIN:
            slots = list(range(len(data.rule_ids)))
        else:
            slots = sorted(r.position for r in managed.values())
        for slot, rule_id in zip(slots, data.rule_ids, strict=True):
            managed[rule_id].position = slot
            session.add(managed[rule_id])
        await session.commit()
        rules = await _visible_rules(session, principal)
    return web.json_response({"data": [rule_to_json(r) for r in rules]})


# --- assigning leads -----------------------------------------------------------------------


class AssignOne(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: int | None = None
    auto: bool = False


class AssignBulk(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lead_ids: list[int] | None = Field(default=None, min_length=1, max_length=MAX_BULK_LEADS)
    from_agent_id: int | None = None
    agent_id: int | None = None
    auto: bool = False
    # With from_agent_id: only the agent's open leads (not converted/lost ones).
    only_open: bool = False


def _target(agent_id: int | None, auto: bool) -> None:
    if (agent_id is None) == (not auto):
        raise InvalidInput('give either agent_id or "auto": true', field="agent_id")


async def _check_agent(session: AsyncSession, principal: Principal, agent_id: int) -> User:
    """The user leads may be given to by this caller (the service checks the rest)."""
    user = await session.get(User, agent_id)
    if user is None or user.org_id != principal.org_id:
        raise InvalidInput("no such user", field="agent_id")
    if principal.role == Role.MANAGER and user.team_id != principal.team_id:
        raise Forbidden("managers assign leads within their team", field="agent_id")
    return user


def _team_limit(principal: Principal) -> int | None:
    return principal.team_id if principal.role == Role.MANAGER else None


@routes.post("/api/leads/{lead_id}/assign")
async def post_assign(request: web.Request) -> web.Response:
    principal = current(request)
    require_supervisor(principal)
    lead_id = path_id(request, "lead_id")
    data = await read_model(request, AssignOne)
    _target(data.agent_id, data.auto)
    settings = request.app[settings_key]
    async with request.app[sessionmaker_key]() as session:
        await visible_lead(session, principal, lead_id)
        if data.agent_id is not None:
            await _check_agent(session, principal, data.agent_id)
            rows = await assign_to(
                session,
                org_id=principal.org_id,
                lead_ids=[lead_id],
                agent_id=data.agent_id,
                method="manual",
                assigned_by=principal.user_id,
            )
        else:
            rows = await auto_assign(
                session,
                settings,
                org_id=principal.org_id,
                lead_ids=[lead_id],
                method="auto",
                assigned_by=principal.user_id,
                only_unowned=False,
                team_id=_team_limit(principal),
            )
            if not rows:
                raise Conflict("no active assignment rule applies", code="no_rules")
        lead = await session.get(Lead, lead_id)
        assert lead is not None
        await session.commit()
        await push_assigned(request.app, session)
    assignment = assignment_to_json(rows[0]) if rows else None
    return web.json_response({"lead": lead_to_json(lead), "assignment": assignment})


@routes.post("/api/leads/assign")
async def post_assign_bulk(request: web.Request) -> web.Response:
    """Assign many leads, or hand over everything an agent owns (say, when they leave)."""
    principal = current(request)
    require_supervisor(principal)
    data = await read_model(request, AssignBulk)
    if (data.lead_ids is None) == (data.from_agent_id is None):
        raise InvalidInput("give either lead_ids or from_agent_id", field="lead_ids")
    _target(data.agent_id, data.auto)
    settings = request.app[settings_key]
    async with request.app[sessionmaker_key]() as session:
        if data.from_agent_id is not None:
            source = await session.get(User, data.from_agent_id)
            if source is None or source.org_id != principal.org_id:
                raise InvalidInput("no such user", field="from_agent_id")
            if principal.role == Role.MANAGER and source.team_id != principal.team_id:
                raise Forbidden("managers hand over their own team's leads", field="from_agent_id")
            lead_ids = await lead_ids_of_agent(
                session,
                org_id=principal.org_id,
                agent_id=data.from_agent_id,
                only_open=data.only_open,
            )
        else:
            assert data.lead_ids is not None
            lead_ids = sorted(set(data.lead_ids))
            visible = set(
                (
                    await session.exec(
                        select(Lead.id).where(lead_scope(principal), col(Lead.id).in_(lead_ids))
                    )
                ).all()
            )
            missing = [i for i in lead_ids if i not in visible]
            if missing:
                raise NotFound("no such lead", field="lead_ids", lead_ids=missing[:100])
        if data.agent_id is not None:
            await _check_agent(session, principal, data.agent_id)
            rows = await assign_to(
                session,
                org_id=principal.org_id,
                lead_ids=lead_ids,
                agent_id=data.agent_id,
                method="bulk",
                assigned_by=principal.user_id,
            )
        else:
            rows = await auto_assign(
                session,
                settings,
                org_id=principal.org_id,
                lead_ids=lead_ids,
                method="bulk",
                assigned_by=principal.user_id,
                only_unowned=False,
                team_id=_team_limit(principal),
                exclude_agent_ids=[data.from_agent_id] if data.from_agent_id else [],
            )
            if lead_ids and not rows:
                raise Conflict("no active assignment rule applies", code="no_rules")
        await session.commit()
        await push_assigned(request.app, session)
    by_agent: dict[str, int] = {}
    for row in rows:
        if row.agent_id is not None:
            by_agent[str(row.agent_id)] = by_agent.get(str(row.agent_id), 0) + 1
    return web.json_response(
        {
            "matched": len(lead_ids),
            "assigned": sum(by_agent.values()),
            "by_agent": by_agent,
            "unassigned_lead_ids": [r.lead_id for r in rows if r.agent_id is None],
        }
    )


@routes.get("/api/leads/{lead_id}/assignments")
async def get_assignments(request: web.Request) -> web.Response:
    principal = current(request)
    lead_id = path_id(request, "lead_id")
    q = request.query
    async with request.app[sessionmaker_key]() as session:
        await visible_lead(session, principal, lead_id)
        rows, next_cursor = await assignment_trail(
            session,
            lead_id=lead_id,
            limit=parse_limit(q.get("limit")),
            before_id=decode_cursor(q.get("cursor")),
        )
    data = [assignment_to_json(r) for r in rows]
    if principal.role == Role.AGENT:
        # An agent sees why a lead came to them, not their colleagues' states.
        for row in data:
            row["candidates"] = [
                c for c in row["candidates"] if c.get("agent_id") == principal.user_id
            ]
    return web.json_response({"data": data, "next_cursor": next_cursor})
