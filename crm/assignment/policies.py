"""Assignment policies as pure functions: lead facts + candidates + a rule -> a decision.

Nothing here touches the database or the clock: the service gathers the facts (loads,
presence, the local time) and records what `decide` returns, so every policy is unit-tested
with plain values and every decision can be explained from its inputs.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import time
from typing import Any, Literal, get_args

from crm.assignment.territory import parse_territory, region_name

Kind = Literal[
    "round_robin", "least_loaded", "weighted", "territory", "skill", "language", "sticky"
]
Measure = Literal["open_leads", "calls_today"]
KINDS: tuple[str, ...] = get_args(Kind)
# Kinds whose decision reads only the rule and the candidates, never the lead's facts.
LEAD_BLIND_KINDS = frozenset({"round_robin", "least_loaded", "weighted"})
MEASURES: tuple[str, ...] = get_args(Measure)


@dataclass(frozen=True)
class LeadFacts:
    lead_id: int
    team_id: int | None = None
    owner_id: int | None = None
    country: str | None = None
    region: str | None = None
    language: str | None = None
    tags: tuple[str, ...] = ()
    custom_fields: Mapping[str, Any] = field(default_factory=dict)
    # Agents the lead "belongs" to, in preference order, each with why: its current owner,
    # then for a returning caller the owners of the caller's other leads.
    sticky: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class Candidate:
    agent_id: int
    name: str = ""
    is_active: bool = True
    team_id: int | None = None
    presence: str = "offline"
    presence_reason: str | None = None
    on_shift: bool = True
    open_leads: int = 0
    max_open_leads: int | None = None
    # Leads given to the agent since the organization's midnight, against their daily cap.
    leads_today: int = 0
    max_daily_leads: int | None = None
    calls_today: int = 0
    # Leads this rule has given the agent so far (weighted rules).
    rule_assignments: int = 0
    weight: int = 1
    skills: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    territories: tuple[str, ...] = ()
    # Set when the agent must not get this lead whatever their state (say, the agent whose
    # leads are being handed over).
    excluded: str | None = None


@dataclass(frozen=True)
class Rule:
    kind: str
    rule_id: int | None = None
    team_id: int | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    # The cursor: the agent this rule chose last.
    last_agent_id: int | None = None


@dataclass(frozen=True)
class Verdict:
    agent_id: int
    eligible: bool
    reason: str

    def to_json(self, rule_id: int | None = None) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "eligible": self.eligible,
            "reason": self.reason,
            "rule_id": rule_id,
        }


@dataclass(frozen=True)
class Decision:
    agent_id: int | None
    candidates: tuple[Verdict, ...]
    reason: str


def on_shift(start: str | None, end: str | None, now: time) -> bool:
    """Whether local time `now` is within the shift; overnight shifts wrap past midnight."""
    if start is None or end is None:
        return True
    begin, finish = time.fromisoformat(start), time.fromisoformat(end)
    if begin == finish:
        return True
    if begin < finish:
        return begin <= now < finish
    return now >= begin or now < finish


def availability(candidate: Candidate, config: Mapping[str, Any]) -> str | None:
    """Why the agent cannot take a lead now (None: they can)."""
    if candidate.excluded:
        return candidate.excluded
    if not candidate.is_active:
        return "inactive"
    if not candidate.on_shift:
        return "off shift"
    cap = candidate.max_open_leads
    if cap is not None and candidate.open_leads >= cap:
        return f"at cap {candidate.open_leads}/{cap}"
    daily = candidate.max_daily_leads
    if daily is not None and candidate.leads_today >= daily:
        return f"at daily cap {candidate.leads_today}/{daily}"
    if not config.get("include_offline"):
        if candidate.presence == "offline":
            return "offline"
        if candidate.presence == "paused":
            reason = candidate.presence_reason
            return f"paused: {reason}" if reason else "paused"
    return None


def _after_cursor(agent_ids: Iterable[int], cursor: int | None) -> int:
    """The first id after the cursor in ascending order, wrapping around."""
    ordered = sorted(agent_ids)
    if cursor is not None:
        for agent_id in ordered:
            if agent_id > cursor:
                return agent_id
    return ordered[0]


def _fold(values: Iterable[str]) -> set[str]:
    return {v.strip().casefold() for v in values if v and v.strip()}


def _label(candidates: Mapping[int, Candidate], agent_id: int) -> str:
    name = candidates[agent_id].name
    return f"{name} (#{agent_id})" if name else f"agent #{agent_id}"


def territory_match(entries: Iterable[str], country: str | None, region: str | None) -> int:
    """2: a region entry matches, 1: a whole-country entry matches, 0: no entry matches."""
    if country is None:
        return 0
    best = 0
    lead_region = region_name(country, region).casefold() if region else None
    for entry in entries:
        t_country, t_region = parse_territory(entry)
        if t_country != country.upper():
            continue
        if t_region is None:
            best = max(best, 1)
        elif lead_region is not None and t_region.casefold() == lead_region:
            return 2
    return best


def requirements(rule: Rule, lead: LeadFacts) -> set[str]:
    """What a skill/language rule asks of the agent for this lead."""
    source = str(rule.config.get("from") or _default_source(rule.kind))
    if source == "tag":
        prefix = str(rule.config.get("tag_prefix") or "")
        return _fold(t[len(prefix) :] for t in lead.tags if t.startswith(prefix))
    if source == "lead.language":
        return _fold([lead.language or ""])
    name = source.removeprefix("custom_field:")
    value = lead.custom_fields.get(name)
    if isinstance(value, str):
        return _fold(value.split(","))
    if isinstance(value, list):
        return _fold(str(v) for v in value if isinstance(v, str | int))
    return set()


def _default_source(kind: str) -> str:
    return "lead.language" if kind == "language" else "tag"


def _required_attribute(rule: Rule) -> str:
    default = "languages" if rule.kind == "language" else "skills"
    return str(rule.config.get("require") or default)


def decide(rule: Rule, lead: LeadFacts, candidates: Sequence[Candidate]) -> Decision:
    """Choose an agent for the lead under one rule; no eligible agent gives agent_id None.

    `candidates` are the agents in the rule's scope (its team, the lead's team); each gets a
    verdict, so the audit trail shows why everyone else was passed over.
    """
    by_id = {c.agent_id: c for c in candidates}
    verdicts: dict[int, Verdict] = {}
    available: list[Candidate] = []
    for c in sorted(candidates, key=lambda c: c.agent_id):
        why_not = availability(c, rule.config)
        if why_not is None:
            available.append(c)
        else:
            verdicts[c.agent_id] = Verdict(c.agent_id, False, why_not)

    chosen, why, fit = _choose(rule, lead, available)
    for c in available:
        note = fit.get(c.agent_id)
        if note is None:
            verdicts[c.agent_id] = Verdict(c.agent_id, True, "eligible")
        elif note[0]:
            verdicts[c.agent_id] = Verdict(c.agent_id, True, note[1])
        else:
            verdicts[c.agent_id] = Verdict(c.agent_id, False, note[1])
    ordered = tuple(verdicts[c.agent_id] for c in sorted(candidates, key=lambda c: c.agent_id))
    if chosen is None:
        return Decision(None, ordered, f"{rule.kind}: {why}")
    return Decision(chosen, ordered, f"{rule.kind}: {_label(by_id, chosen)} — {why}")


# A policy's answer: the chosen agent (or None), why, and per available agent whether it
# fitted the policy (eligible?, note); agents it does not mention simply were eligible.
Choice = tuple[int | None, str, dict[int, tuple[bool, str]]]


def _choose(rule: Rule, lead: LeadFacts, available: list[Candidate]) -> Choice:
    if not available:
        return None, "no agent available", {}
    kind = rule.kind
    if kind == "round_robin":
        return _round_robin(rule, available, {})
    if kind == "least_loaded":
        return _least_loaded(rule, available)
    if kind == "weighted":
        return _weighted(available)
    if kind == "territory":
        return _territory(rule, lead, available)
    if kind in ("skill", "language"):
        return _skilled(rule, lead, available)
    if kind == "sticky":
        return _sticky(lead, available)
    return None, f"unknown rule kind {kind!r}", {}


def _round_robin(
    rule: Rule, pool: list[Candidate], fit: dict[int, tuple[bool, str]], prefix: str = ""
) -> Choice:
    chosen = _after_cursor((c.agent_id for c in pool), rule.last_agent_id)
    if rule.last_agent_id is None:
        why = "round robin, first turn"
    else:
        why = f"round robin, next after #{rule.last_agent_id}"
    return chosen, prefix + why, fit


def _least_loaded(rule: Rule, available: list[Candidate]) -> Choice:
    measure = str(rule.config.get("measure") or "open_leads")

    def load(c: Candidate) -> int:
        return c.calls_today if measure == "calls_today" else c.open_leads

    lowest = min(load(c) for c in available)
    label = "calls today" if measure == "calls_today" else "open leads"
    fit = {
        c.agent_id: (False, f"busier: {load(c)} {label} > {lowest}")
        for c in available
        if load(c) > lowest
    }
    tied = [c for c in available if load(c) == lowest]
    # Ties rotate through the cursor, so equally loaded agents take turns.
    return _round_robin(rule, tied, fit, prefix=f"least loaded ({lowest} {label}); ")


def _weighted(available: list[Candidate]) -> Choice:
    """Smooth weighted round robin with no state beyond the per-agent counts.

    The next lead goes to the agent furthest below their share: the smallest
    (2 * assigned + 1) / weight (the Sainte-Laguë order, which interleaves like nginx's
    smooth weighted round robin), ties to the heavier weight, then the lower id. The counts
    stay within one lead of weight-proportional and equal counts give equal choices.
    """
    fit: dict[int, tuple[bool, str]] = {}
    weighted = [c for c in available if c.weight > 0]
    for c in available:
        if c.weight <= 0:
            fit[c.agent_id] = (False, "weight 0")
    if not weighted:
        return None, "every available agent has weight 0", fit
    best = min(
        weighted, key=lambda c: ((2 * c.rule_assignments + 1) / c.weight, -c.weight, c.agent_id)
    )
    total_weight = sum(c.weight for c in weighted)
    why = (
        f"weighted: weight {best.weight}/{total_weight}, "
        f"{best.rule_assignments} assigned by this rule so far"
    )
    return best.agent_id, why, fit


def _territory(rule: Rule, lead: LeadFacts, available: list[Candidate]) -> Choice:
    if lead.country is None:
        return None, "the lead's country is unknown", {}
    place = f"{lead.country}:{lead.region}" if lead.region else lead.country
    scores = {
        c.agent_id: territory_match(c.territories, lead.country, lead.region) for c in available
    }
    best = max(scores.values())
    fit: dict[int, tuple[bool, str]] = {}
    for c in available:
        if scores[c.agent_id] == 0:
            fit[c.agent_id] = (False, f"territory does not cover {place}")
        elif scores[c.agent_id] < best:
            fit[c.agent_id] = (False, f"covers {lead.country} only; a region match exists")
    if best == 0:
        return None, f"no available agent covers {place}", fit
    pool = [c for c in available if scores[c.agent_id] == best]
    return _round_robin(rule, pool, fit, prefix=f"territory {place}; ")


def _skilled(rule: Rule, lead: LeadFacts, available: list[Candidate]) -> Choice:
    attribute = _required_attribute(rule)
    needed = requirements(rule, lead)
    if not needed:
        return None, f"the lead asks for no {attribute}", {}
    match_all = rule.config.get("match") == "all"
    shown = ", ".join(sorted(needed))
    matched: dict[int, int] = {}
    fit: dict[int, tuple[bool, str]] = {}
    for c in available:
        has = _fold(c.skills if attribute == "skills" else c.languages)
        count = len(needed & has)
        if count == 0 or (match_all and count < len(needed)):
            fit[c.agent_id] = (False, f"lacks {attribute}: {shown}")
        else:
            matched[c.agent_id] = count
    if not matched:
        return None, f"no available agent has {attribute}: {shown}", fit
    # Agents who cover more of what the lead asks for come first.
    most = max(matched.values())
    for agent_id, count in matched.items():
        if count < most:
            fit[agent_id] = (
                False,
                f"covers {count} of {len(needed)} {attribute}; others cover more",
            )
    pool = [c for c in available if matched.get(c.agent_id) == most]
    return _round_robin(rule, pool, fit, prefix=f"{attribute} {shown}; ")


def _sticky(lead: LeadFacts, available: list[Candidate]) -> Choice:
    if not lead.sticky:
        return None, "the lead has no owner to stick to", {}
    ids = {c.agent_id for c in available}
    fit: dict[int, tuple[bool, str]] = {
        c.agent_id: (False, "not the lead's owner") for c in available
    }
    for agent_id, why in lead.sticky:
        if agent_id in ids:
            fit[agent_id] = (True, why)
            return agent_id, why, fit
    return None, "the lead's owner is not available", fit
