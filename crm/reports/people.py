"""Reports over agents' work: working hours from presence intervals, and dispositions."""

from collections import defaultdict
from typing import Any, cast

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.orgconfig import dispositions as org_dispositions
from crm.orgconfig import pause_reasons
from crm.reports.params import ReportParams
from crm.reports.result import Report
from crm.reports.timebuckets import greatest, least, seconds_between, utc_param
from gateway.models import Disposition, PresenceEvent, PresenceState, Role, User

PRESENCE = cast(sa.Table, PresenceEvent.__table__)  # type: ignore[attr-defined]
USER = cast(sa.Table, User.__table__)  # type: ignore[attr-defined]
DISPOSITION = cast(sa.Table, Disposition.__table__)  # type: ignore[attr-defined]

_STATE_COLUMNS = {
    PresenceState.AVAILABLE: "available_s",
    PresenceState.ON_CALL: "on_call_s",
    PresenceState.WRAP_UP: "wrap_up_s",
    PresenceState.PAUSED: "paused_s",
}


def _people_scope(params: ReportParams, user_col: Any) -> list[Any]:
    """Agents see themselves, managers their team's members, admins everyone; plus filters."""
    p = params.principal
    conds: list[Any] = [USER.c.org_id == params.org_id]
    if p.role == Role.AGENT:
        conds.append(user_col == p.user_id)
    elif p.role == Role.MANAGER:
        conds.append(USER.c.team_id == p.team_id)
    if params.team_id is not None:
        conds.append(USER.c.team_id == params.team_id)
    if params.agent_id is not None:
        conds.append(user_col == params.agent_id)
    return conds


async def working_hours(session: AsyncSession, params: ReportParams) -> Report:
    """Time per presence state, each interval clipped to the period; an open one runs to now.

    Logged in is every state but offline; paused is also split by the pause reason.
    """
    conn = await session.connection()
    dialect = conn.dialect.name
    pe = PRESENCE
    start, end = utc_param(params.period.start), utc_param(params.period.end)
    clip_start = greatest(pe.c.started_at, start, dialect)
    clip_end = least(sa.func.coalesce(pe.c.ended_at, utc_param(params.now)), end, dialect)
    seconds = sa.case(
        (clip_end > clip_start, seconds_between(clip_end, clip_start, dialect)), else_=0
    )
    stmt = (
        sa.select(pe.c.user_id, pe.c.state, pe.c.reason, sa.func.sum(seconds).label("seconds"))
        .select_from(pe.join(USER, USER.c.id == pe.c.user_id))
        .where(
            pe.c.org_id == params.org_id,
            pe.c.started_at < end,
            # Two index-friendly halves: intervals still open, and those ending after the start.
            sa.or_(pe.c.ended_at.is_(None), pe.c.ended_at > start),
            *_people_scope(params, pe.c.user_id),
        )
        .group_by(pe.c.user_id, pe.c.state, pe.c.reason)
    )
    reasons = [r["key"] for r in pause_reasons(params.org)]
    per_user: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in (await conn.execute(stmt)).all():
        secs = float(r.seconds or 0)
        figures = per_user[r.user_id]
        if r.state != PresenceState.OFFLINE:
            figures["logged_in_s"] += secs
        column = _STATE_COLUMNS.get(r.state)
        if column:
            figures[column] += secs
        if r.state == PresenceState.PAUSED:
            key = r.reason if r.reason in reasons else "other"
            figures[f"paused_{key}_s"] += secs
    # Agents in scope without a single interval still get a row (of zeros).
    in_scope = sa.select(USER.c.id).where(
        *_people_scope(params, USER.c.id), USER.c.role == Role.AGENT, USER.c.is_active
    )
    for (user_id,) in (await conn.execute(in_scope)).all():
        per_user.setdefault(user_id, defaultdict(float))

    metric_columns = [
        "logged_in_s",
        "available_s",
        "on_call_s",
        "wrap_up_s",
        "paused_s",
        *[f"paused_{k}_s" for k in reasons],
        "paused_other_s",
    ]
    d = params.directory
    totals = {c: 0 for c in metric_columns}
    by_team: dict[int | None, dict[str, int]] = defaultdict(lambda: {c: 0 for c in metric_columns})
    rows: list[dict[str, Any]] = []
    for user_id, figures in per_user.items():
        team_id = d.team_of(user_id)
        row: dict[str, Any] = {
            "agent_id": user_id,
            "agent_name": d.user_name(user_id),
            "team_id": team_id,
            "team_name": d.team_name(team_id),
        }
        for c in metric_columns:
            row[c] = round(figures.get(c, 0.0))
            totals[c] += row[c]
            by_team[team_id][c] += row[c]
        rows.append(row)
    if params.group_by == ("team",):
        rows = [
            {"team_id": tid, "team_name": d.team_name(tid), **figs} for tid, figs in by_team.items()
        ]
        columns = ["team_id", "team_name", *metric_columns]
        rows.sort(key=lambda r: (r["team_name"] is None, r["team_name"] or ""))
    else:
        columns = ["agent_id", "agent_name", "team_id", "team_name", *metric_columns]
        rows.sort(key=lambda r: (r["agent_name"] or "", r["agent_id"]))
    return Report(
        "working-hours",
        params,
        columns,
        rows,
        extra={"totals": totals},
        csv_totals={**totals, columns[0]: "total"},
    )


async def dispositions(session: AsyncSession, params: ReportParams) -> Report:
    """Recorded dispositions by code, or by agent and code."""
    conn = await session.connection()
    dt = DISPOSITION
    by_agent = params.group_by == ("agent",)
    keys = [dt.c.agent_id, dt.c.code] if by_agent else [dt.c.code]
    where = [
        dt.c.org_id == params.org_id,
        dt.c.created_at >= utc_param(params.period.start),
        dt.c.created_at < utc_param(params.period.end),
    ]
    source: Any = dt
    p = params.principal
    if p.role != Role.ADMIN or params.team_id is not None or params.agent_id is not None:
        source = dt.join(USER, USER.c.id == dt.c.agent_id)
        where += _people_scope(params, dt.c.agent_id)
    stmt = (
        sa.select(*keys, sa.func.count().label("count"))
        .select_from(source)
        .where(*where)
        .group_by(*keys)
    )
    found = [dict(r._mapping) for r in (await conn.execute(stmt)).all()]
    vocabulary = org_dispositions(params.org)
    order = {x["key"]: i for i, x in enumerate(vocabulary)}
    labels = {x["key"]: x["label"] for x in vocabulary}
    total = sum(int(r["count"]) for r in found)
    d = params.directory
    if by_agent:
        agent_totals: dict[int | None, int] = defaultdict(int)
        for r in found:
            agent_totals[r["agent_id"]] += int(r["count"])
        rows = [
            {
                "agent_id": r["agent_id"],
                "agent_name": d.user_name(r["agent_id"]),
                "code": r["code"],
                "label": labels.get(r["code"], r["code"]),
                "count": int(r["count"]),
                "share": round(int(r["count"]) / agent_totals[r["agent_id"]], 4),
            }
            for r in found
        ]
        rows.sort(
            key=lambda r: (
                r["agent_name"] or "",
                r["agent_id"] or 0,
                order.get(r["code"], len(order)),
                r["code"],
            )
        )
        columns = ["agent_id", "agent_name", "code", "label", "count", "share"]
    else:
        counts = {r["code"]: int(r["count"]) for r in found}
        # Every code of the organization's vocabulary, then any retired code still recorded.
        codes = [x["key"] for x in vocabulary] + sorted(set(counts) - set(order))
        rows = [
            {
                "code": code,
                "label": labels.get(code, code),
                "count": counts.get(code, 0),
                "share": round(counts.get(code, 0) / total, 4) if total else None,
            }
            for code in codes
        ]
        columns = ["code", "label", "count", "share"]
    return Report("dispositions", params, columns, rows, extra={"totals": {"count": total}})
