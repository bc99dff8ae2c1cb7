"""The assignment service: lock, gather the facts, run the rules in order, write and audit.

Callers own the transaction: these functions add rows and flush, the caller commits and then
calls `push_assigned` so that agents hear about their new leads only once they exist.
"""

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import col, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.assignment.policies import (
    LEAD_BLIND_KINDS,
    Candidate,
    LeadFacts,
    Rule,
    Verdict,
    availability,
    decide,
    on_shift,
)
from crm.assignment.territory import locate
from crm.importer.bulk import allocate_ids, binder, insert_many, insert_sharing, json_text
from crm.leads import NewLead, lead_to_json
from crm.orgconfig import lead_statuses
from crm.outbox import EVENTS_WRITTEN, emit
from dialer.rooms import agent_room
from gateway.errors import InvalidInput
from gateway.keys import sio_key
from gateway.models import (
    AgentPresence,
    AssignmentRule,
    Call,
    IntegrationEvent,
    Lead,
    LeadAssignment,
    LeadPhone,
    Organization,
    Role,
    User,
    utcnow,
)
from gateway.pagination import encode_cursor
from gateway.settings import Settings

log = logging.getLogger(__name__)

METHODS = ("auto", "manual", "bulk", "import")
NAMESPACE = "/dialer"
# More new leads than this for one agent in one commit arrive as one `leads_assigned`
# summary instead of an event per lead (an import must not flood a browser or Redis).
PUSH_PER_LEAD_LIMIT = 50
_PENDING = "lead_assigned_pushes"
_CHUNK = 1000
_MAX_CANDIDATES_RECORDED = 200


def _is_sqlite(session: AsyncSession) -> bool:
    bind = session.bind
    return bind is not None and bind.dialect.name == "sqlite"


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


async def _lock_rules(session: AsyncSession, org_id: int) -> list[AssignmentRule]:
    """The organization's active rules in order, locked until commit.

    The lock serializes every automatic assignment of the organization: each reads the
    round-robin cursors, loads and counts that the previous one committed. PostgreSQL takes
    row locks in id order (no deadlocks between assigners); SQLite has no row locks, so a
    no-op UPDATE as the transaction's first write takes its database write lock instead
    (a plain SELECT would start a read that a later write could not upgrade safely).
    """
    stmt = select(AssignmentRule).where(
        col(AssignmentRule.org_id) == org_id, col(AssignmentRule.is_active)
    )
    if _is_sqlite(session):
        await session.exec(
            update(AssignmentRule)
            .where(col(AssignmentRule.org_id) == org_id)
            .values(position=AssignmentRule.position)
            .execution_options(synchronize_session=False)
        )
    else:
        stmt = stmt.with_for_update()
    stmt = stmt.order_by(col(AssignmentRule.id)).execution_options(populate_existing=True)
    rules = list((await session.exec(stmt)).all())
    rules.sort(key=lambda r: (r.position, r.id or 0))
    return rules


async def _lock_leads(session: AsyncSession, org_id: int, lead_ids: Sequence[int]) -> list[Lead]:
    """The leads, locked until commit and read fresh (never from the session's cache)."""
    ids = sorted(set(lead_ids))
    leads: list[Lead] = []
    for chunk in _chunks(ids):
        where = (col(Lead.org_id) == org_id, col(Lead.id).in_(chunk))
        if _is_sqlite(session):
            await session.exec(
                update(Lead)
                .where(*where)
                .values(updated_at=Lead.updated_at)
                .execution_options(synchronize_session=False)
            )
            stmt = select(Lead).where(*where)
        else:
            stmt = select(Lead).where(*where).with_for_update()
        stmt = stmt.order_by(col(Lead.id)).execution_options(populate_existing=True)
        leads.extend((await session.exec(stmt)).all())
    return leads


# --- the facts -----------------------------------------------------------------------------


@dataclass
class AgentState:
    """An agent and the figures the policies weigh, kept current while a batch is assigned."""

    user: User
    presence: str = "offline"
    presence_reason: str | None = None
    open_leads: int = 0
    leads_today: int = 0
    calls_today: int = 0
    rule_counts: dict[int, int] = field(default_factory=dict)
    # Bumped with every change of the figures: a batch reuses candidates built since.
    version: int = 0

    def candidate(self, *, now_local: time, rule_id: int | None, excluded: str | None) -> Candidate:
        user = self.user
        assert user.id is not None
        return Candidate(
            agent_id=user.id,
            name=user.name,
            is_active=user.is_active,
            team_id=user.team_id,
            presence=self.presence,
            presence_reason=self.presence_reason,
            on_shift=on_shift(user.shift_start, user.shift_end, now_local),
            open_leads=self.open_leads,
            max_open_leads=user.max_open_leads,
            leads_today=self.leads_today,
            max_daily_leads=user.max_daily_leads,
            calls_today=self.calls_today,
            rule_assignments=self.rule_counts.get(rule_id, 0) if rule_id is not None else 0,
            weight=user.weight,
            skills=tuple(user.skills),
            languages=tuple(user.languages),
            territories=tuple(user.territories),
            excluded=excluded,
        )


def org_zone(org: Organization) -> ZoneInfo:
    try:
        return ZoneInfo(org.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def terminal_statuses(org: Organization) -> set[str]:
    return {s["key"] for s in lead_statuses(org) if s.get("terminal")}


async def open_lead_counts(
    session: AsyncSession, org: Organization, agent_ids: Sequence[int] | None = None
) -> dict[int, int]:
    """Leads each agent owns whose status is not terminal (merged-away leads excluded)."""
    stmt = (
        select(Lead.owner_id, func.count())
        .where(
            col(Lead.org_id) == org.id,
            col(Lead.owner_id).is_not(None),
            col(Lead.merged_into_id).is_(None),
            col(Lead.status).not_in(sorted(terminal_statuses(org))),
        )
        .group_by(col(Lead.owner_id))
    )
    if agent_ids is not None:
        stmt = stmt.where(col(Lead.owner_id).in_(agent_ids))
    return {owner: n for owner, n in (await session.exec(stmt)).all() if owner is not None}


def org_midnight(org: Organization) -> datetime:
    zone = org_zone(org)
    return datetime.combine(utcnow().astimezone(zone).date(), time(), tzinfo=zone)


async def leads_today_counts(
    session: AsyncSession, org: Organization, agent_ids: Sequence[int]
) -> dict[int, int]:
    """Leads given to each agent since the organization's midnight (keeping one's own lead,
    as a sticky rule does, gives nothing)."""
    rows = await session.exec(
        select(LeadAssignment.agent_id, func.count(sa.distinct(col(LeadAssignment.lead_id))))
        .where(
            col(LeadAssignment.org_id) == org.id,
            col(LeadAssignment.agent_id).in_(agent_ids),
            col(LeadAssignment.created_at) >= org_midnight(org),
            sa.or_(
                col(LeadAssignment.previous_agent_id).is_(None),
                col(LeadAssignment.previous_agent_id) != LeadAssignment.agent_id,
            ),
        )
        .group_by(col(LeadAssignment.agent_id))
    )
    return {agent_id: n for agent_id, n in rows.all() if agent_id is not None}


async def load_agents(
    session: AsyncSession,
    org: Organization,
    *,
    agent_ids: Sequence[int] | None = None,
    calls_today: bool = False,
    rule_ids: Sequence[int] = (),
) -> dict[int, AgentState]:
    """Every agent of the organization (inactive ones too: the audit says why they were
    skipped) with presence, open leads and, if asked, today's calls and rule counts."""
    stmt = select(User, AgentPresence).outerjoin(
        AgentPresence, col(AgentPresence.user_id) == User.id
    )
    stmt = stmt.where(col(User.org_id) == org.id, col(User.role) == Role.AGENT)
    if agent_ids is not None:
        stmt = stmt.where(col(User.id).in_(agent_ids))
    agents: dict[int, AgentState] = {}
    for user, presence in (await session.exec(stmt.order_by(col(User.id)))).all():
        assert user.id is not None
        agents[user.id] = AgentState(
            user=user,
            # No presence row: the agent never connected, so they are offline.
            presence=presence.state if presence else "offline",
            presence_reason=presence.reason if presence else None,
        )
    if not agents:
        return agents
    ids = list(agents)
    for owner, n in (await open_lead_counts(session, org, ids)).items():
        if owner in agents:
            agents[owner].open_leads = n
    capped = [i for i, a in agents.items() if a.user.max_daily_leads is not None]
    if capped:
        for capped_id, n in (await leads_today_counts(session, org, capped)).items():
            agents[capped_id].leads_today = n
    if calls_today:
        midnight = org_midnight(org)
        rows = await session.exec(
            select(Call.agent_id, func.count())
            .where(
                col(Call.org_id) == org.id,
                col(Call.agent_id).in_(ids),
                col(Call.created_at) >= midnight,
            )
            .group_by(col(Call.agent_id))
        )
        for agent_id, n in rows.all():
            if agent_id in agents:
                agents[agent_id].calls_today = n
    if rule_ids:
        counted = await session.exec(
            select(LeadAssignment.rule_id, LeadAssignment.agent_id, func.count())
            .where(
                col(LeadAssignment.org_id) == org.id,
                col(LeadAssignment.rule_id).in_(rule_ids),
                col(LeadAssignment.agent_id).is_not(None),
            )
            .group_by(col(LeadAssignment.rule_id), col(LeadAssignment.agent_id))
        )
        for rule_id, agent_id, n in counted.all():
            if agent_id in agents and rule_id is not None:
                agents[agent_id].rule_counts[rule_id] = n
    return agents


async def _returning_owners(
    session: AsyncSession, org_id: int, lead_ids: Sequence[int]
) -> dict[int, list[tuple[int, int]]]:
    """For each lead, (owner, other lead) of the other leads sharing one of its numbers."""
    mine, theirs = aliased(LeadPhone), aliased(LeadPhone)
    found: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for chunk in _chunks(sorted(lead_ids)):
        rows = await session.exec(
            select(mine.lead_id, Lead.id, Lead.owner_id)
            .join(
                theirs,
                sa.and_(col(theirs.org_id) == mine.org_id, col(theirs.phone_key) == mine.phone_key),
            )
            .join(Lead, col(Lead.id) == theirs.lead_id)
            .where(
                col(mine.org_id) == org_id,
                col(mine.lead_id).in_(chunk),
                col(theirs.lead_id) != mine.lead_id,
                col(Lead.owner_id).is_not(None),
                col(Lead.merged_into_id).is_(None),
            )
            .order_by(col(Lead.updated_at).desc(), col(Lead.id).desc())
        )
        for lead_id, other_id, owner_id in rows.all():
            if owner_id is not None and other_id is not None:
                pair = (owner_id, other_id)
                if pair not in found[lead_id]:
                    found[lead_id].append(pair)
    return found


def _facts(lead: Lead | NewLead, returning: list[tuple[int, int]]) -> LeadFacts:
    assert lead.id is not None
    sticky: list[tuple[int, str]] = []
    if lead.owner_id is not None:
        sticky.append((lead.owner_id, "sticky: the lead's owner"))
    for owner_id, other_id in returning:
        if owner_id not in (s[0] for s in sticky):
            sticky.append((owner_id, f"sticky: returning caller, owner of lead #{other_id}"))
    return LeadFacts(
        lead_id=lead.id,
        team_id=lead.team_id,
        owner_id=lead.owner_id,
        country=lead.country,
        region=_territory_region(lead),
        language=lead.language,
        tags=tuple(lead.tags),
        custom_fields=dict(lead.custom_fields),
        sticky=tuple(sticky),
    )


def _fill_location(lead: Lead | NewLead) -> None:
    """Territory rules need the lead's country: derive it from the number once, and keep it."""
    if lead.country is not None:
        return
    country, region = locate(lead.phone)
    if country is not None:
        lead.country = country
        lead.region = lead.region or region


def _territory_region(lead: Lead | NewLead) -> str | None:
    """The state or province territories name; the lead's `region` may be a city ("Mumbai")."""
    if isinstance(lead, NewLead):
        # Located where the import parsed it, when territory rules need it (only they read it).
        return lead.region
    return locate(lead.phone)[1] or lead.region


# --- writing -------------------------------------------------------------------------------


def assignment_to_json(row: LeadAssignment) -> dict[str, Any]:
    return {
        "id": row.id,
        "lead_id": row.lead_id,
        "agent_id": row.agent_id,
        "previous_agent_id": row.previous_agent_id,
        "rule_id": row.rule_id,
        "rule_kind": row.rule_kind,
        "method": row.method,
        "reason": row.reason,
        "candidates": list(row.candidates),
        "assigned_by": row.assigned_by,
        "created_at": row.created_at.isoformat(),
    }


def _give(lead: Lead | NewLead, agent: User, now: datetime) -> int | None:
    previous = lead.owner_id
    lead.owner_id = agent.id
    # The lead follows its agent's team (a team-less agent leaves the lead's team as it was).
    if agent.team_id is not None:
        lead.team_id = agent.team_id
    lead.assigned_at = now
    lead.updated_at = now
    return previous


async def _finish(
    session: AsyncSession, rows: list[LeadAssignment], leads: Mapping[int, Lead]
) -> None:
    """Store the audit rows, and for each real assignment its event and its push."""
    session.add_all(rows)
    session.add_all(leads.values())
    await session.flush()
    pending: list[tuple[int, dict[str, Any]]] = session.info.setdefault(_PENDING, [])
    for row in rows:
        if row.agent_id is None:
            continue
        body = {"lead": lead_to_json(leads[row.lead_id]), "assignment": assignment_to_json(row)}
        emit(session, org_id=row.org_id, type="lead.assigned", data=body)
        pending.append((row.agent_id, body))


def _clip(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Trails:
    """The audit rows' `candidates`, one list per distinct trail of a batch.

    Most leads of a batch see the same verdicts (everyone "eligible", or the same agents
    offline): one list of dicts each, shared, and encoded once as JSON when recorded.
    """

    LIMIT = 4096

    def __init__(self) -> None:
        self._made: dict[tuple[tuple[Verdict, int | None], ...], list[dict[str, Any]]] = {}

    def __call__(self, verdicts: list[tuple[Verdict, int | None]]) -> list[dict[str, Any]]:
        key = tuple(verdicts[:_MAX_CANDIDATES_RECORDED])
        made = self._made.get(key)
        if made is None:
            if len(self._made) >= self.LIMIT:
                self._made.clear()
            made = self._made[key] = [v.to_json(rule_id) for v, rule_id in key]
        return made


@dataclass
class _Choice:
    """What the rules decided for one lead: an agent (with the rule), or why nobody."""

    lead: Lead | NewLead
    agent_id: int | None
    previous_agent_id: int | None
    rule: Rule | None
    reason: str
    candidates: list[dict[str, Any]]
    at: datetime


async def auto_assign(
    session: AsyncSession,
    settings: Settings,
    *,
    org_id: int,
    lead_ids: Sequence[int],
    method: str,
    assigned_by: int | None,
    only_unowned: bool = True,
    team_id: int | None = None,
    exclude_agent_ids: Sequence[int] = (),
) -> list[LeadAssignment]:
    """Run the organization's rules over the leads; returns the audit rows written.

    Leads that already have an owner are left alone unless `only_unowned` is False (an
    explicit re-run). `team_id` keeps every choice inside one team (a manager's request);
    `exclude_agent_ids` are never chosen (say, an agent whose leads are being handed over).
    When rules applied but none found an agent, a row without agent records why.
    The caller commits, then calls `push_assigned`.
    """
    if method not in METHODS:
        raise ValueError(f"unknown assignment method {method!r}")
    rules = await _lock_rules(session, org_id)
    if not rules or not lead_ids:
        return []
    org = await session.get(Organization, org_id)
    assert org is not None
    leads = [
        lead
        for lead in await _lock_leads(session, org_id, lead_ids)
        if lead.merged_into_id is None and not (only_unowned and lead.owner_id is not None)
    ]
    if not leads:
        return []
    returning = (
        await _returning_owners(session, org_id, [x.id for x in leads if x.id is not None])
        if "sticky" in {r.kind for r in rules}
        else {}
    )
    choices = await _decide_all(
        session,
        org,
        rules,
        leads,
        returning,
        team_id=team_id,
        excluded=set(exclude_agent_ids),
    )
    rows = [
        LeadAssignment(
            org_id=org_id,
            lead_id=c.lead.id,
            agent_id=c.agent_id,
            previous_agent_id=c.previous_agent_id,
            rule_id=c.rule.rule_id if c.rule is not None else None,
            method=method,
            rule_kind=c.rule.kind if c.rule is not None else None,
            reason=c.reason,
            candidates=list(c.candidates),
            assigned_by=assigned_by,
            created_at=c.at,
        )
        for c in choices
        if c.lead.id is not None
    ]
    await _finish(session, rows, {x.id: x for x in leads if x.id is not None})
    return rows


async def _decide_all(
    session: AsyncSession,
    org: Organization,
    rules: list[AssignmentRule],
    leads: Sequence[Lead | NewLead],
    returning: Mapping[int, list[tuple[int, int]]],
    *,
    team_id: int | None,
    excluded: set[int],
) -> list[_Choice]:
    """Run the rules over each lead in turn, giving it to the chosen agent (owner, team,
    `assigned_at`) and keeping the agents' figures current for the next lead of the batch."""
    kinds = {r.kind for r in rules}
    agents = await load_agents(
        session,
        org,
        calls_today=any(r.config.get("measure") == "calls_today" for r in rules),
        rule_ids=[r.id for r in rules if r.kind == "weighted" and r.id is not None],
    )
    terminal = terminal_statuses(org)
    now = utcnow()
    now_local = now.astimezone(org_zone(org)).time()
    choices: list[_Choice] = []
    # The rules as plain values: reading and moving an ORM row's cursor for every lead cost
    # more than deciding.
    plain = [
        Rule(
            kind=r.kind,
            rule_id=r.id,
            team_id=r.team_id,
            config=r.config,
            last_agent_id=r.last_agent_id,
        )
        for r in rules
    ]
    # Per batch: who is in each rule's scope for a lead's team, and each agent's candidate
    # for each rule until its figures change (an import's batch is thousands of leads).
    scopes: dict[tuple[int, int | None], list[tuple[int, AgentState]]] = {}
    built: dict[tuple[int, int], tuple[int, Candidate]] = {}

    # What does not change during the batch, read off each agent's ORM row once.
    fixed: dict[int, Candidate] = {}

    def candidate(agent_id: int, state: AgentState, rule_id: int) -> Candidate:
        cached = built.get((agent_id, rule_id))
        if cached is not None and cached[0] == state.version:
            return cached[1]
        base = fixed.get(agent_id)
        if base is None:
            base = fixed[agent_id] = state.candidate(
                now_local=now_local,
                rule_id=None,
                excluded="handing over its leads" if agent_id in excluded else None,
            )
        # The same values as `state.candidate`, without its dozen ORM attribute reads.
        made = Candidate(
            agent_id,
            base.name,
            base.is_active,
            base.team_id,
            state.presence,
            state.presence_reason,
            base.on_shift,
            state.open_leads,
            base.max_open_leads,
            state.leads_today,
            base.max_daily_leads,
            state.calls_today,
            state.rule_counts.get(rule_id, 0),
            base.weight,
            base.skills,
            base.languages,
            base.territories,
            base.excluded,
        )
        built[(agent_id, rule_id)] = (state.version, made)
        return made

    trail = _Trails()
    # When every rule is blind to the lead, a lead nobody could take tells the next lead of
    # the same team the same story until somebody is given a lead (the only change to the
    # agents' figures and the rules' cursors): one decision per team, not one per lead.
    # An import while the team is offline is tens of thousands of such leads.
    blind = kinds <= LEAD_BLIND_KINDS
    nobody: dict[int | None, tuple[str, list[dict[str, Any]]] | None] = {}
    for lead in leads:
        assert lead.id is not None
        if blind and lead.team_id in nobody:
            told = nobody[lead.team_id]
            if told is not None:
                reason, candidates = told
                choices.append(_Choice(lead, None, lead.owner_id, None, reason, candidates, now))
            continue
        if "territory" in kinds:
            _fill_location(lead)
        facts = _facts(lead, returning.get(lead.id, []))
        verdicts: list[tuple[Verdict, int | None]] = []
        passed: list[str] = []
        chosen: tuple[Rule, int, str] | None = None
        for rule in plain:
            assert rule.rule_id is not None
            if rule.team_id is not None and lead.team_id not in (None, rule.team_id):
                continue  # another team's rule
            scope = scopes.get((rule.rule_id, lead.team_id))
            if scope is None:
                scope = scopes[(rule.rule_id, lead.team_id)] = [
                    (agent_id, a)
                    for agent_id, a in agents.items()
                    if _in_scope(a.user, rule=rule, lead=lead, team_id=team_id)
                ]
            pool = [candidate(agent_id, a, rule.rule_id) for agent_id, a in scope]
            decision = decide(rule, facts, pool)
            verdicts += [(v, rule.rule_id) for v in decision.candidates]
            if decision.agent_id is None:
                passed.append(f"rule #{rule.rule_id} {decision.reason}")
                continue
            chosen = (rule, decision.agent_id, decision.reason)
            break
        if chosen is None:
            told = None
            if passed:
                told = (_clip("unassigned: " + "; ".join(passed)), trail(verdicts))
                choices.append(_Choice(lead, None, lead.owner_id, None, *told, now))
            if blind:
                nobody[lead.team_id] = told
            continue
        nobody.clear()
        rule, agent_id, why = chosen
        state = agents[agent_id]
        previous = _give(lead, state.user, now)
        # The cursor moves for the next lead; the rule row takes it once, after the batch.
        plain[plain.index(rule)] = Rule(
            rule.kind, rule.rule_id, rule.team_id, rule.config, agent_id
        )
        # Keep the figures current for the next lead of this batch.
        if lead.status not in terminal:
            state.open_leads += 1
            if previous is not None and previous in agents:
                agents[previous].open_leads -= 1
                agents[previous].version += 1
        if previous != agent_id:
            state.leads_today += 1
        assert rule.rule_id is not None
        state.rule_counts[rule.rule_id] = state.rule_counts.get(rule.rule_id, 0) + 1
        state.version += 1
        reason = f"rule #{rule.rule_id} {why}"
        if passed:
            reason += " (after " + "; ".join(passed) + ")"
        choices.append(
            _Choice(
                lead=lead,
                agent_id=agent_id,
                previous_agent_id=previous,
                rule=rule,
                reason=_clip(reason),
                candidates=trail(verdicts),
                at=now,
            )
        )
    for row, rule in zip(rules, plain, strict=True):
        if row.last_agent_id != rule.last_agent_id:
            row.last_agent_id = rule.last_agent_id
            session.add(row)
    return choices


# --- an import's new leads, without an ORM object per row ----------------------------------


@dataclass
class NewLeadsAssigned:
    """The rules' decisions for an import chunk's new leads, to record once they are stored."""

    method: str
    assigned_by: int | None
    choices: list[_Choice] = field(default_factory=list)


async def assign_new_leads(
    session: AsyncSession,
    *,
    org_id: int,
    leads: Sequence[NewLead],
    keys: Callable[[], Mapping[int, Sequence[str]]],
    method: str,
    assigned_by: int | None,
) -> NewLeadsAssigned | None:
    """`auto_assign` for leads not stored yet (an import's chunk): the same rules, lock and
    decisions, written into the `NewLead`s (owner, team, `assigned_at`, and the place for
    territory rules) so that they are inserted already assigned. `keys` gives each lead's
    numbers' lookup keys, asked for only by sticky rules. None when the organization has no
    active rules. Store the leads, then `record_new_assignments` in the same transaction."""
    if method not in METHODS:
        raise ValueError(f"unknown assignment method {method!r}")
    rules = await _lock_rules(session, org_id)
    if not rules or not leads:
        return None
    org = await session.get(Organization, org_id)
    assert org is not None
    returning = (
        await _returning_owners_by_keys(session, org_id, keys())
        if "sticky" in {r.kind for r in rules}
        else {}
    )
    choices = await _decide_all(session, org, rules, leads, returning, team_id=None, excluded=set())
    await session.flush()
    return NewLeadsAssigned(method=method, assigned_by=assigned_by, choices=choices)


async def _returning_owners_by_keys(
    session: AsyncSession, org_id: int, keys: Mapping[int, Sequence[str]]
) -> dict[int, list[tuple[int, int]]]:
    """`_returning_owners` for leads not stored yet: the stored leads having their numbers."""
    by_key: dict[str, list[int]] = defaultdict(list)
    for lead_id, lead_keys in keys.items():
        for key in dict.fromkeys(lead_keys):
            by_key[key].append(lead_id)
    rows: list[tuple[str, int, int]] = []
    all_keys = sorted(by_key)
    for start in range(0, len(all_keys), _CHUNK):
        found = await session.exec(
            select(LeadPhone.phone_key, Lead.id, Lead.owner_id)
            .join(Lead, col(Lead.id) == LeadPhone.lead_id)
            .where(
                col(LeadPhone.org_id) == org_id,
                col(LeadPhone.phone_key).in_(all_keys[start : start + _CHUNK]),
                col(Lead.owner_id).is_not(None),
                col(Lead.merged_into_id).is_(None),
            )
            .order_by(col(Lead.updated_at).desc(), col(Lead.id).desc())
        )
        rows.extend((k, i, o) for k, i, o in found.all() if i is not None and o is not None)
    # One order over every batch, as one query would have given.
    order = {lead_id: n for n, (_, lead_id, _) in enumerate(rows)}
    found_for: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for key, other_id, owner_id in rows:
        for lead_id in by_key[key]:
            found_for[lead_id].append((order[other_id], owner_id, other_id))
    result: dict[int, list[tuple[int, int]]] = {}
    for lead_id, hits in found_for.items():
        pairs: list[tuple[int, int]] = []
        for _, owner_id, other_id in sorted(hits):
            if (owner_id, other_id) not in pairs:
                pairs.append((owner_id, other_id))
        result[lead_id] = pairs
    return result


# Each row's own values first, then those a batch's decisions share (`insert_sharing`).
ASSIGNMENT_COLUMNS = (
    "id",
    "lead_id",
    "org_id",
    "agent_id",
    "previous_agent_id",
    "rule_id",
    "method",
    "rule_kind",
    "reason",
    "candidates",
    "assigned_by",
    "created_at",
)
EVENT_COLUMNS = ("id", "org_id", "type", "data", "created_at")


async def record_new_assignments(session: AsyncSession, assigned: NewLeadsAssigned) -> None:
    """The audit rows, `lead.assigned` events and pushes of `assign_new_leads`' decisions,
    written with one executemany each, once the leads are stored."""
    if not assigned.choices:
        return
    conn = await session.connection()
    table = LeadAssignment.__table__  # type: ignore[attr-defined]
    events_table = IntegrationEvent.__table__  # type: ignore[attr-defined]
    at = binder(conn, table.c.created_at)
    now = utcnow()
    ids = await allocate_ids(conn, table, len(assigned.choices))
    rows: list[tuple[Any, ...]] = []
    bodies: list[tuple[int, int, dict[str, Any], str]] = []
    # The JSON columns' text, encoded here: the batch shares its trails (`_Trails`) and its
    # decision time, each encoded or bound once.
    encode = json_text()
    trails: dict[int, str] = {}
    stamps: dict[datetime, Any] = {}
    for row_id, c in zip(ids, assigned.choices, strict=True):
        lead = c.lead
        assert isinstance(lead, NewLead)
        created_at = c.at
        if created_at not in stamps:
            stamps[created_at] = at(created_at)
        bound_at = stamps[created_at]
        trail = trails.get(id(c.candidates))
        if trail is None:
            trail = trails[id(c.candidates)] = encode(c.candidates)
        rule_id = c.rule.rule_id if c.rule is not None else None
        rule_kind = c.rule.kind if c.rule is not None else None
        rows.append(
            (
                row_id,
                lead.id,
                lead.org_id,
                c.agent_id,
                c.previous_agent_id,
                rule_id,
                assigned.method,
                rule_kind,
                c.reason,
                trail,
                assigned.assigned_by,
                bound_at,
            )
        )
        if c.agent_id is None:
            continue
        assignment = {
            "id": row_id,
            "lead_id": lead.id,
            "agent_id": c.agent_id,
            "previous_agent_id": c.previous_agent_id,
            "rule_id": rule_id,
            "rule_kind": rule_kind,
            "method": assigned.method,
            "reason": c.reason,
            "candidates": list(c.candidates),
            "assigned_by": assigned.assigned_by,
            "created_at": created_at.isoformat(),
        }
        body = {"lead": lead_to_json(lead), "assignment": assignment}
        bodies.append((lead.org_id, c.agent_id, body, encode(body)))
    await insert_sharing(conn, table, ASSIGNMENT_COLUMNS, rows, own=2)
    if not bodies:
        return
    event_ids = await allocate_ids(conn, events_table, len(bodies))
    stamp = at(now)
    await insert_many(
        conn,
        events_table,
        EVENT_COLUMNS,
        [
            (event_id, org_id, "lead.assigned", data, stamp)
            for event_id, (org_id, _, _, data) in zip(event_ids, bodies, strict=True)
        ],
    )
    session.info[EVENTS_WRITTEN] = True
    pending: list[tuple[int, dict[str, Any]]] = session.info.setdefault(_PENDING, [])
    pending.extend((agent_id, body) for _, agent_id, body, _ in bodies)


def _in_scope(user: User, *, rule: Rule, lead: Lead | NewLead, team_id: int | None) -> bool:
    """A rule's candidates: its team's agents, within the lead's team if it has one."""
    for team in (rule.team_id, lead.team_id, team_id):
        if team is not None and user.team_id != team:
            return False
    return True


async def assign_to(
    session: AsyncSession,
    *,
    org_id: int,
    lead_ids: Sequence[int],
    agent_id: int,
    method: str,
    assigned_by: int | None,
    why: str | None = None,
) -> list[LeadAssignment]:
    """Give the leads to one agent (a person decided: presence, shift and cap do not stop it,
    but the audit notes them). Leads the agent already owns are left as they are.

    `why` replaces "assigned by ..." in the audit's reason (the system decided, say).
    """
    if method not in METHODS:
        raise ValueError(f"unknown assignment method {method!r}")
    agent = await session.get(User, agent_id)
    if agent is None or agent.org_id != org_id:
        raise InvalidInput("no such user", field="agent_id")
    if not agent.is_active:
        raise InvalidInput("the user is deactivated", field="agent_id", code="inactive_user")
    if agent.role not in (Role.AGENT, Role.MANAGER):
        raise InvalidInput("leads go to agents or managers", field="agent_id")
    leads = await _lock_leads(session, org_id, lead_ids)
    org = await session.get(Organization, org_id)
    assert org is not None
    now = utcnow()
    state = AgentState(user=agent)
    presence = await session.get(AgentPresence, agent_id)
    if presence is not None:
        state.presence, state.presence_reason = presence.state, presence.reason
    state.open_leads = (await open_lead_counts(session, org, [agent_id])).get(agent_id, 0)
    if agent.max_daily_leads is not None:
        state.leads_today = (await leads_today_counts(session, org, [agent_id])).get(agent_id, 0)
    why_not = availability(
        state.candidate(
            now_local=now.astimezone(org_zone(org)).time(), rule_id=None, excluded=None
        ),
        {},
    )
    by = await session.get(User, assigned_by) if assigned_by is not None else None
    reason = f"{method}: " + (why or f"assigned by {by.name if by else 'the system'}")
    if why_not is not None:
        reason += f" (the agent was {why_not})"
    verdict = Verdict(agent_id, why_not is None, why_not or "chosen")
    rows: list[LeadAssignment] = []
    changed: dict[int, Lead] = {}
    for lead in leads:
        assert lead.id is not None
        if lead.owner_id == agent_id or lead.merged_into_id is not None:
            continue
        previous = _give(lead, agent, now)
        changed[lead.id] = lead
        rows.append(
            LeadAssignment(
                org_id=org_id,
                lead_id=lead.id,
                agent_id=agent_id,
                previous_agent_id=previous,
                method=method,
                reason=_clip(reason),
                candidates=[verdict.to_json()],
                assigned_by=assigned_by,
                created_at=now,
            )
        )
    await _finish(session, rows, changed)
    return rows


async def lead_ids_of_agent(
    session: AsyncSession, *, org_id: int, agent_id: int, only_open: bool
) -> list[int]:
    stmt = select(Lead.id).where(
        col(Lead.org_id) == org_id,
        col(Lead.owner_id) == agent_id,
        col(Lead.merged_into_id).is_(None),
    )
    if only_open:
        org = await session.get(Organization, org_id)
        assert org is not None
        stmt = stmt.where(col(Lead.status).not_in(sorted(terminal_statuses(org))))
    return [x for x in (await session.exec(stmt.order_by(col(Lead.id)))).all() if x is not None]


async def assignment_trail(
    session: AsyncSession, *, lead_id: int, limit: int, before_id: int | None
) -> tuple[list[LeadAssignment], str | None]:
    """A lead's assignments, newest first."""
    stmt = select(LeadAssignment).where(col(LeadAssignment.lead_id) == lead_id)
    if before_id is not None:
        stmt = stmt.where(col(LeadAssignment.id) < before_id)
    rows = list(
        (await session.exec(stmt.order_by(col(LeadAssignment.id).desc()).limit(limit + 1))).all()
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        assert rows[-1].id is not None
        next_cursor = encode_cursor(rows[-1].id)
    return rows, next_cursor


# --- after commit --------------------------------------------------------------------------


def discard_pushes(session: AsyncSession) -> None:
    """Forget queued pushes (the transaction that made them was rolled back)."""
    session.info.pop(_PENDING, None)


async def push_assigned(app: Mapping[Any, Any], session: AsyncSession) -> None:
    """Tell each agent about the leads this session's committed transaction gave them."""
    pending: list[tuple[int, dict[str, Any]]] = session.info.pop(_PENDING, [])
    if not pending:
        return
    sio = app[sio_key]
    per_agent: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for agent_id, body in pending:
        per_agent[agent_id].append(body)
    for agent_id, bodies in per_agent.items():
        try:
            if len(bodies) > PUSH_PER_LEAD_LIMIT:
                summary = {
                    "count": len(bodies),
                    "lead_ids": [b["lead"]["id"] for b in bodies],
                    "method": bodies[0]["assignment"]["method"],
                }
                await sio.emit(
                    "leads_assigned", summary, to=agent_room(agent_id), namespace=NAMESPACE
                )
                continue
            for body in bodies:
                await sio.emit("lead_assigned", body, to=agent_room(agent_id), namespace=NAMESPACE)
        except Exception:
            # The assignment is committed; a failed push must not fail the request.
            log.exception("could not push assignments to agent %s", agent_id)
