"""Assignment policies: every rule kind and every reason an agent is passed over, without I/O."""

from collections import Counter
from dataclasses import replace
from datetime import time
from typing import Any

import pytest

from crm.assignment.policies import (
    Candidate,
    LeadFacts,
    Rule,
    availability,
    decide,
    on_shift,
    requirements,
    territory_match,
)
from crm.assignment.territory import locate, parse_territory, valid_territory

LEAD = LeadFacts(lead_id=1)


def agent(agent_id: int, **kwargs: Any) -> Candidate:
    values: dict[str, Any] = {"name": f"A{agent_id}", "presence": "available"}
    values.update(kwargs)
    return Candidate(agent_id=agent_id, **values)


def reasons(decision: Any) -> dict[int, tuple[bool, str]]:
    return {v.agent_id: (v.eligible, v.reason) for v in decision.candidates}


def test_shifts_include_their_start_exclude_their_end_and_wrap_past_midnight() -> None:
    assert on_shift(None, None, time(3, 0))
    assert on_shift("09:00", "18:00", time(9, 0))
    assert not on_shift("09:00", "18:00", time(18, 0))
    assert not on_shift("09:00", "18:00", time(8, 59))
    assert on_shift("22:00", "06:00", time(23, 30)) and on_shift("22:00", "06:00", time(5, 59))
    assert not on_shift("22:00", "06:00", time(12, 0))


def test_availability_names_why_an_agent_is_skipped() -> None:
    assert availability(agent(1), {}) is None
    assert availability(agent(1, is_active=False), {}) == "inactive"
    assert availability(agent(1, on_shift=False), {}) == "off shift"
    assert availability(agent(1, open_leads=50, max_open_leads=50), {}) == "at cap 50/50"
    assert availability(agent(1, open_leads=49, max_open_leads=50), {}) is None
    assert availability(agent(1, leads_today=10, max_daily_leads=10), {}) == "at daily cap 10/10"
    assert availability(agent(1, leads_today=9, max_daily_leads=10), {}) is None
    assert availability(agent(1, leads_today=0, max_daily_leads=0), {}) == "at daily cap 0/0"
    assert availability(agent(1, presence="offline"), {}) == "offline"
    paused = agent(1, presence="paused", presence_reason="lunch")
    assert availability(paused, {}) == "paused: lunch"
    assert availability(agent(1, presence="paused"), {}) == "paused"
    for state in ("on-call", "wrap-up"):
        assert availability(agent(1, presence=state), {}) is None
    # include_offline ignores presence, never activity, shifts or caps.
    assert availability(agent(1, presence="offline"), {"include_offline": True}) is None
    assert availability(paused, {"include_offline": True}) is None
    assert availability(agent(1, on_shift=False), {"include_offline": True}) == "off shift"
    assert availability(agent(1, excluded="handing over"), {}) == "handing over"


def test_round_robin_follows_the_cursor_wraps_and_skips_the_unavailable() -> None:
    pool = [agent(3), agent(5, presence="paused", presence_reason="lunch"), agent(7), agent(9)]
    first = decide(Rule("round_robin"), LEAD, pool)
    assert first.agent_id == 3 and "first turn" in first.reason
    assert decide(Rule("round_robin", last_agent_id=3), LEAD, pool).agent_id == 7
    after7 = decide(Rule("round_robin", last_agent_id=7), LEAD, pool)
    assert after7.agent_id == 9 and "A9 (#9)" in after7.reason
    assert decide(Rule("round_robin", last_agent_id=9), LEAD, pool).agent_id == 3
    # The cursor may name an agent who has since left.
    assert decide(Rule("round_robin", last_agent_id=4), LEAD, pool).agent_id == 7
    assert reasons(after7) == {
        3: (True, "eligible"),
        5: (False, "paused: lunch"),
        7: (True, "eligible"),
        9: (True, "eligible"),
    }
    cursor, seen = None, []
    for _ in range(6):
        chosen = decide(Rule("round_robin", last_agent_id=cursor), LEAD, pool).agent_id
        seen.append(chosen)
        cursor = chosen
    assert seen == [3, 7, 9, 3, 7, 9]


def test_no_one_available_gives_no_agent_and_every_reason() -> None:
    pool = [agent(1, presence="offline"), agent(2, is_active=False), agent(3, on_shift=False)]
    decision = decide(Rule("round_robin"), LEAD, pool)
    assert decision.agent_id is None and "no agent available" in decision.reason
    assert reasons(decision) == {
        1: (False, "offline"),
        2: (False, "inactive"),
        3: (False, "off shift"),
    }
    assert decide(Rule("round_robin"), LEAD, []).agent_id is None


def test_least_loaded_by_open_leads_or_calls_today_ties_take_turns() -> None:
    pool = [
        agent(1, open_leads=4, calls_today=0),
        agent(2, open_leads=2, calls_today=9),
        agent(3, open_leads=2, calls_today=5),
    ]
    by_leads = decide(Rule("least_loaded"), LEAD, pool)
    assert by_leads.agent_id == 2
    assert reasons(by_leads)[1] == (False, "busier: 4 open leads > 2")
    assert decide(Rule("least_loaded", last_agent_id=2), LEAD, pool).agent_id == 3
    calls = Rule("least_loaded", config={"measure": "calls_today"})
    decision = decide(calls, LEAD, pool)
    assert decision.agent_id == 1 and "0 calls today" in decision.reason


def test_weighted_is_smooth_deterministic_and_proportional() -> None:
    weights = {1: 3, 2: 1, 3: 2, 4: 0}
    counts: Counter[int] = Counter()
    sequence = []
    for _ in range(60):
        pool = [agent(i, weight=w, rule_assignments=counts[i]) for i, w in weights.items()]
        decision = decide(Rule("weighted"), LEAD, pool)
        assert decision.agent_id is not None
        assert reasons(decision)[4] == (False, "weight 0")
        counts[decision.agent_id] += 1
        sequence.append(decision.agent_id)
        # Never more than one lead away from the exact share, at every step.
        total = sum(counts.values())
        for i in (1, 2, 3):
            assert abs(counts[i] - total * weights[i] / 6) <= 1
    assert counts == {1: 30, 2: 10, 3: 20}
    assert sequence[:6] == [1, 3, 1, 2, 3, 1]
    # Smooth: the heavy agent never gets long streaks.
    assert "1, 1, 1" not in ", ".join(map(str, sequence))
    only_zero = decide(Rule("weighted"), LEAD, [agent(4, weight=0)])
    assert only_zero.agent_id is None


def test_territory_prefers_a_region_match_then_the_country() -> None:
    pool = [
        agent(1, territories=("IN",)),
        agent(2, territories=("IN:Maharashtra", "US")),
        agent(3, territories=("US:California",)),
        agent(4),
    ]
    mumbai = LeadFacts(lead_id=1, country="IN", region="Maharashtra")
    decision = decide(Rule("territory"), mumbai, pool)
    assert decision.agent_id == 2 and "IN:Maharashtra" in decision.reason
    assert reasons(decision)[1] == (False, "covers IN only; a region match exists")
    assert reasons(decision)[4] == (False, "territory does not cover IN:Maharashtra")
    karnataka = LeadFacts(lead_id=1, country="IN", region="Karnataka")
    assert decide(Rule("territory"), karnataka, pool).agent_id == 1
    # "CA" in a US lead's region is California (the geocoder's abbreviation).
    sf = LeadFacts(lead_id=1, country="US", region="CA")
    assert decide(Rule("territory"), sf, pool).agent_id == 3
    texas = LeadFacts(lead_id=1, country="US", region="Texas")
    assert decide(Rule("territory"), texas, pool).agent_id == 2
    uk = decide(Rule("territory"), LeadFacts(lead_id=1, country="GB"), pool)
    assert uk.agent_id is None and "no available agent covers GB" in uk.reason
    assert decide(Rule("territory"), LEAD, pool).agent_id is None


def test_territory_helpers_locate_numbers_and_parse_entries() -> None:
    assert locate("+912223456789") == ("IN", "Maharashtra")
    assert locate("+918023456789") == ("IN", "Karnataka")
    assert locate("+14155550123") == ("US", "California")
    assert locate("+919876543210") == ("IN", None)  # mobiles have no place
    assert locate("+447946095800") == ("GB", None)
    assert parse_territory("in-maharashtra") == ("IN", "maharashtra")
    assert parse_territory("US:CA") == ("US", "California")
    assert parse_territory("us") == ("US", None)
    assert valid_territory("IN:Maharashtra") and valid_territory("GB")
    assert not valid_territory("XX") and not valid_territory("IN:") and not valid_territory("")
    assert territory_match(["IN:maharashtra"], "IN", "Maharashtra") == 2
    assert territory_match(["IN"], "in", None) == 1


@pytest.mark.parametrize(
    ("config", "lead", "expected"),
    [
        ({}, LeadFacts(lead_id=1, tags=("Insurance", "demo")), {"insurance", "demo"}),
        ({"tag_prefix": "skill:"}, LeadFacts(lead_id=1, tags=("skill:loans", "x")), {"loans"}),
        (
            {"from": "custom_field:product"},
            LeadFacts(lead_id=1, custom_fields={"product": "Loans, Cards"}),
            {"loans", "cards"},
        ),
        (
            {"from": "custom_field:product"},
            LeadFacts(lead_id=1, custom_fields={"product": ["a", 3, None]}),
            {"a", "3"},
        ),
        ({"from": "lead.language"}, LeadFacts(lead_id=1, language="ta"), {"ta"}),
        ({"from": "custom_field:none"}, LeadFacts(lead_id=1), set()),
    ],
)
def test_requirements_come_from_tags_custom_fields_or_the_language(
    config: dict[str, Any], lead: LeadFacts, expected: set[str]
) -> None:
    assert requirements(Rule("skill", config=config), lead) == expected


def test_skill_rules_match_any_or_all_and_prefer_wider_cover() -> None:
    pool = [
        agent(1, skills=("loans",)),
        agent(2, skills=("Loans", "cards")),
        agent(3, skills=("cards",)),
        agent(4, skills=("insurance",)),
    ]
    lead = LeadFacts(lead_id=1, tags=("loans", "cards"))
    decision = decide(Rule("skill"), lead, pool)
    assert decision.agent_id == 2 and "skills cards, loans" in decision.reason
    assert reasons(decision)[1] == (False, "covers 1 of 2 skills; others cover more")
    assert reasons(decision)[4] == (False, "lacks skills: cards, loans")
    pool_without_2 = [c for c in pool if c.agent_id != 2]
    assert decide(Rule("skill"), lead, pool_without_2).agent_id == 1
    strict = Rule("skill", config={"match": "all"})
    assert decide(strict, lead, pool_without_2).agent_id is None
    untagged = decide(Rule("skill"), LEAD, pool)
    assert untagged.agent_id is None and "asks for no skills" in untagged.reason


def test_language_rules_read_the_leads_language_by_default() -> None:
    pool = [agent(1, languages=("hi", "en")), agent(2, languages=("ta",))]
    tamil = LeadFacts(lead_id=1, language="TA")
    assert decide(Rule("language"), tamil, pool).agent_id == 2
    by_tag = Rule("skill", config={"require": "languages", "from": "tag"})
    assert decide(by_tag, LeadFacts(lead_id=1, tags=("hi",)), pool).agent_id == 1
    assert decide(Rule("language"), LEAD, pool).agent_id is None


def test_sticky_keeps_the_owner_or_a_returning_callers_owner() -> None:
    pool = [agent(1), agent(2), agent(3, presence="paused", presence_reason="break")]
    owned = LeadFacts(lead_id=1, owner_id=2, sticky=((2, "sticky: the lead's owner"),))
    decision = decide(Rule("sticky"), owned, pool)
    assert decision.agent_id == 2 and decision.reason.endswith("sticky: the lead's owner")
    assert reasons(decision)[1] == (False, "not the lead's owner")
    returning = LeadFacts(
        lead_id=9,
        sticky=((3, "sticky: returning caller, owner of lead #4"), (1, "returning, #5")),
    )
    # The first owner is on a break: the next one the caller knows takes it.
    assert decide(Rule("sticky"), returning, pool).agent_id == 1
    gone = decide(Rule("sticky"), replace(returning, sticky=((3, "x"),)), pool)
    assert gone.agent_id is None and "not available" in gone.reason
    assert decide(Rule("sticky"), LEAD, pool).agent_id is None


def test_unknown_kinds_choose_no_one() -> None:
    assert decide(Rule("lottery"), LEAD, [agent(1)]).agent_id is None
