"""The reports by name: each one's query, grouping choices and extra parameters."""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from crm.reports import calls, funnel, people
from crm.reports.params import Grouping, ReportParams
from crm.reports.result import Report

Query = Callable[[AsyncSession, ReportParams], Awaitable[Report]]
OptionParams = Callable[[Mapping[str, str]], dict[str, str]]


def _none(query: Mapping[str, str]) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class ReportSpec:
    name: str
    run: Query
    summary: str
    # None: the report has no grouping.
    group_by: Grouping | None = None
    options: OptionParams = _none


REPORTS: dict[str, ReportSpec] = {
    spec.name: spec
    for spec in (
        ReportSpec(
            "calls-summary",
            calls.calls_summary,
            "Calls per agent, team, day or hour: counts, connect rate, talk time",
            group_by=Grouping(calls.SUMMARY_DIMS, ("agent",), max_dims=2),
        ),
        ReportSpec(
            "never-attended",
            calls.never_attended,
            "Missed inbound calls never called back, and the callback latency of the others",
        ),
        ReportSpec(
            "never-connected",
            calls.never_connected,
            "Leads dialed in the period that never connected",
            options=calls.within_filter,
        ),
        ReportSpec(
            "customers-reached",
            calls.customers_reached,
            "Leads with at least one connected call in the period",
        ),
        ReportSpec(
            "working-hours",
            people.working_hours,
            "Time logged in, available, on calls, in wrap-up and paused (by reason)",
            group_by=Grouping(("agent", "team"), ("agent",)),
        ),
        ReportSpec(
            "call-history",
            calls.call_history,
            "Calls with lead and agent names, newest first",
            options=calls.history_filters,
        ),
        ReportSpec(
            "dispositions",
            people.dispositions,
            "Recorded dispositions by code, or by agent and code",
            group_by=Grouping(("code", "agent"), ("code",)),
        ),
        ReportSpec(
            "leads-funnel",
            funnel.leads_funnel,
            "Leads by status in funnel order, or by source",
            group_by=Grouping(("status", "source"), ("status",), max_dims=2),
            options=funnel.created_filter,
        ),
    )
}
