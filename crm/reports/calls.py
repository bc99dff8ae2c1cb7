"""Reports over calls: summary, never attended, never connected, customers reached, history.

A call belongs to the moment it was created: when it was dialed or when it arrived (the time
GET /api/calls filters on too). Definitions, the same in every report:

- incoming / outgoing: the call's direction.
- connected: ended `completed` with talk time (`duration_s` > 0); an inbound call also needs an
  agent, since a carrier "completes" a call that a recorded message answered.
- missed: an ended inbound call that did not connect (the `call.missed` event's definition).
- rejected: a missed call that ended `busy` or `canceled`: the line was busy or declined it, or
  the caller gave up before anyone answered (the others rang out or failed).
- talk time: `duration_s` of connected calls.
"""

from math import ceil
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import util as sql_util
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access import call_scope
from crm.reports.params import ReportParams, parse_choice
from crm.reports.result import Report
from crm.reports.timebuckets import TIME_DIMS, all_buckets, bucket, bucket_label, to_utc, utc_param
from gateway.errors import InvalidInput
from gateway.models import (
    Call,
    CallOutcome,
    CallStatus,
    Direction,
    Disposition,
    Lead,
    User,
)
from gateway.pagination import parse_int

CALL = cast(sa.Table, Call.__table__)  # type: ignore[attr-defined]
LEAD = cast(sa.Table, Lead.__table__)  # type: ignore[attr-defined]
USER = cast(sa.Table, User.__table__)  # type: ignore[attr-defined]
DISPOSITION = cast(sa.Table, Disposition.__table__)  # type: ignore[attr-defined]

SUMMARY_DIMS = ("agent", "team", *TIME_DIMS)
SUMMARY_METRICS = [
    "incoming",
    "outgoing",
    "total",
    "connected",
    "connect_rate",
    "missed",
    "rejected",
    "talk_time_s",
    "avg_talk_s",
    "first_call_at",
    "last_call_at",
]
# Callback latency histogram: (label, from seconds, up to seconds exclusive).
LATENCY_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("<5m", 0, 300),
    ("5-15m", 300, 900),
    ("15-60m", 900, 3600),
    ("1-4h", 3600, 4 * 3600),
    ("4-24h", 4 * 3600, 86400),
    ("1-3d", 86400, 3 * 86400),
    (">3d", 3 * 86400, None),
)


async def _conn(session: AsyncSession) -> tuple[AsyncConnection, str]:
    conn = await session.connection()
    return conn, conn.dialect.name


def connected(t: Any) -> Any:
    talked = sa.and_(
        sa.func.coalesce(t.c.outcome, "") == CallOutcome.COMPLETED,
        sa.func.coalesce(t.c.duration_s, 0) > 0,
    )
    return sa.and_(talked, sa.or_(t.c.direction == Direction.OUTBOUND, t.c.agent_id.is_not(None)))


def missed(t: Any) -> Any:
    return sa.and_(
        t.c.direction == Direction.INBOUND,
        t.c.status == CallStatus.COMPLETED,
        sa.not_(connected(t)),
    )


def rejected(t: Any) -> Any:
    return sa.and_(missed(t), t.c.outcome.in_([CallOutcome.BUSY.value, CallOutcome.CANCELED.value]))


def _count(cond: Any) -> Any:
    # FILTER (both databases have it) skips the rows instead of summing a CASE over each.
    return sa.func.count().filter(cond)


def _talk_time(conn_: Any, t: Any) -> Any:
    return sa.func.coalesce(sa.func.sum(t.c.duration_s).filter(conn_), 0)


def call_conditions(params: ReportParams, t: Any = CALL) -> list[Any]:
    """The caller's scope, the filters asked for, and the period."""
    conds = [
        _scope_on(t, params),
        t.c.created_at >= utc_param(params.period.start),
        t.c.created_at < utc_param(params.period.end),
    ]
    if params.team_id is not None:
        conds.append(t.c.team_id == params.team_id)
    if params.agent_id is not None:
        conds.append(t.c.agent_id == params.agent_id)
    return conds


def _scope_on(t: Any, params: ReportParams) -> Any:
    # crm.access states the rule on the table; an alias gets the same rule on its own columns.
    scope = call_scope(params.principal)
    return scope if t is CALL else sql_util.ClauseAdapter(t).traverse(scope)


def _metrics(t: Any) -> list[Any]:
    conn_ = connected(t)
    return [
        _count(t.c.direction == Direction.INBOUND).label("incoming"),
        _count(t.c.direction == Direction.OUTBOUND).label("outgoing"),
        _count(conn_).label("connected"),
        _count(missed(t)).label("missed"),
        _count(rejected(t)).label("rejected"),
        _talk_time(conn_, t).label("talk_time_s"),
        sa.func.min(t.c.created_at).label("first_call_at"),
        sa.func.max(t.c.created_at).label("last_call_at"),
    ]


def _finish_metrics(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("incoming", "outgoing", "connected", "missed", "rejected", "talk_time_s"):
        row[key] = int(row.get(key) or 0)
    row["total"] = row["incoming"] + row["outgoing"]
    row["connect_rate"] = round(row["connected"] / row["total"], 4) if row["total"] else None
    row["avg_talk_s"] = (
        round(row["talk_time_s"] / row["connected"], 1) if row["connected"] else None
    )
    row["first_call_at"] = to_utc(row.get("first_call_at"))
    row["last_call_at"] = to_utc(row.get("last_call_at"))
    return row


def _dim_columns(dim: str) -> list[str]:
    return {"agent": ["agent_id", "agent_name"], "team": ["team_id", "team_name"]}.get(dim, [dim])


async def calls_summary(session: AsyncSession, params: ReportParams) -> Report:
    conn, dialect = await _conn(session)
    t = CALL
    dims = params.group_by
    exprs: list[Any] = []
    for dim in dims:
        if dim == "agent":
            exprs.append(t.c.agent_id.label("agent"))
        elif dim == "team":
            exprs.append(t.c.team_id.label("team"))
        else:
            exprs.append(bucket(t.c.created_at, dim, params.period, dialect).label(dim))
    where = call_conditions(params)
    stmt = sa.select(*exprs, *_metrics(t)).where(*where).group_by(*[e for e in exprs])
    grouped = [dict(r._mapping) for r in (await conn.execute(stmt)).all()]
    # Every call is in exactly one group: the totals add up from the groups, without a
    # second pass over the calls.
    total: dict[str, Any] = {
        k: sum(int(g[k]) for g in grouped)
        for k in ("incoming", "outgoing", "connected", "missed", "rejected", "talk_time_s")
    }
    firsts = [to_utc(g["first_call_at"]) for g in grouped]
    lasts = [to_utc(g["last_call_at"]) for g in grouped]
    total["first_call_at"] = min((x for x in firsts if x), default=None)
    total["last_call_at"] = max((x for x in lasts if x), default=None)

    time_dims = [d for d in dims if d in TIME_DIMS]
    if len(dims) == 1 and time_dims:
        # One time dimension: every bucket of the period, so a chart has no gaps.
        have = {r[dims[0]] for r in grouped}
        grouped += [{dims[0]: k} for k in all_buckets(dims[0], params.period) if k not in have]

    d = params.directory
    rows: list[dict[str, Any]] = []
    for raw in grouped:
        row = _finish_metrics(dict(raw))
        for dim in dims:
            if dim == "agent":
                row["agent_id"] = raw["agent"]
                row["agent_name"] = d.user_name(raw["agent"])
            elif dim == "team":
                row["team_id"] = raw["team"]
                row["team_name"] = d.team_name(raw["team"])
            else:
                row["_" + dim] = raw[dim]
                row[dim] = bucket_label(dim, raw[dim], params.period)
        rows.append(row)

    def sort_key(row: dict[str, Any]) -> tuple[Any, ...]:
        parts: list[Any] = []
        for dim in dims:
            if dim in TIME_DIMS:
                parts.append(row["_" + dim])
            else:
                name = row[f"{dim}_name"]
                parts.append((name is None, name or "", row[f"{dim}_id"] or 0))
        return tuple(parts)

    rows.sort(key=sort_key)
    columns = [c for dim in dims for c in _dim_columns(dim)] + SUMMARY_METRICS
    totals = _finish_metrics(total)
    csv_totals = {**totals, columns[0]: "total"}
    return Report(
        "calls-summary", params, columns, rows, extra={"totals": totals}, csv_totals=csv_totals
    )


def _percentile(ordered: list[float], pct: float) -> float | None:
    """Nearest rank: the smallest value with at least pct % of the values at or below it."""
    if not ordered:
        return None
    return ordered[max(0, ceil(pct / 100 * len(ordered)) - 1)]


async def never_attended(session: AsyncSession, params: ReportParams) -> Report:
    """Missed calls nobody called back: no later outbound call to the lead or to the number."""
    conn, _ = await _conn(session)
    m = CALL.alias("m")
    cb = CALL.alias("cb")
    later_outbound = [cb.c.direction == Direction.OUTBOUND, cb.c.created_at > m.c.created_at]
    # Two subqueries rather than one with OR: each is answered by the first entry of its own
    # index past the missed call, without reading the table. A lead is one organization's.
    by_lead = (
        sa.select(sa.func.min(cb.c.created_at))
        .where(*later_outbound, m.c.lead_id.is_not(None), cb.c.lead_id == m.c.lead_id)
        .scalar_subquery()
    )
    by_number = (
        sa.select(sa.func.min(cb.c.created_at))
        .where(
            *later_outbound,
            cb.c.org_id == m.c.org_id,
            m.c.from_number.is_not(None),
            cb.c.to_number == m.c.from_number,
        )
        .scalar_subquery()
    )
    stmt = (
        sa.select(
            m.c.id,
            m.c.created_at,
            m.c.lead_id,
            m.c.from_number,
            m.c.agent_id,
            m.c.team_id,
            m.c.outcome,
            by_lead.label("by_lead"),
            by_number.label("by_number"),
        )
        .where(*call_conditions(params, m), missed(m))
        .order_by(m.c.created_at, m.c.id)
    )
    result = (await conn.execute(stmt)).all()
    now = params.now
    open_rows: list[dict[str, Any]] = []
    open_count = 0
    latencies: list[float] = []
    d = params.directory
    for r in result:
        missed_at = to_utc(r.created_at)
        assert missed_at is not None
        answers = [x for x in (to_utc(r.by_lead), to_utc(r.by_number)) if x is not None]
        if answers:
            latencies.append((min(answers) - missed_at).total_seconds())
            continue
        open_count += 1
        if len(open_rows) >= params.limit:
            continue  # counted; only the page's rows are built
        open_rows.append(
            {
                "call_id": r.id,
                "missed_at": missed_at,
                "waited_s": int((now - missed_at).total_seconds()),
                "lead_id": r.lead_id,
                "lead_name": None,
                "number": r.from_number,
                "outcome": r.outcome,
                "agent_id": r.agent_id,
                "agent_name": d.user_name(r.agent_id),
                "team_id": r.team_id,
                "team_name": d.team_name(r.team_id),
            }
        )
    latencies.sort()
    buckets = [
        {
            "label": label,
            "from_s": low,
            "to_s": high,
            "count": sum(1 for x in latencies if x >= low and (high is None or x < high)),
        }
        for label, low, high in LATENCY_BUCKETS
    ]
    p50, p90 = _percentile(latencies, 50), _percentile(latencies, 90)
    extra = {
        "summary": {
            "missed": len(result),
            "called_back": len(latencies),
            "never_attended": open_count,
        },
        "callback_latency": {
            "count": len(latencies),
            "p50_s": None if p50 is None else round(p50, 1),
            "p90_s": None if p90 is None else round(p90, 1),
            "buckets": buckets,
        },
    }
    page = open_rows
    # Names for the page only: joining the lead of every missed call of the period cost a
    # hash of the whole lead table (a fifth of the report's time at 200,000 leads).
    lead_ids = sorted({row["lead_id"] for row in page if row["lead_id"] is not None})
    names: dict[int, str] = {}
    for i in range(0, len(lead_ids), _NAME_BATCH):
        batch = lead_ids[i : i + _NAME_BATCH]
        found = await conn.execute(sa.select(LEAD.c.id, LEAD.c.name).where(LEAD.c.id.in_(batch)))
        names.update((lead_id, name) for lead_id, name in found)
    for row in page:
        row["lead_name"] = names.get(row["lead_id"])
    return Report(
        "never-attended",
        params,
        _NEVER_ATTENDED_COLUMNS,
        page,
        extra=extra,
        truncated=open_count > params.limit,
    )


# Ids per `IN (...)`: well under SQLite's parameter limit, whatever the row limit.
_NAME_BATCH = 1000
_NEVER_ATTENDED_COLUMNS = [
    "call_id",
    "missed_at",
    "waited_s",
    "lead_id",
    "lead_name",
    "number",
    "outcome",
    "agent_id",
    "agent_name",
    "team_id",
    "team_name",
]


def _lead_stats(params: ReportParams) -> Any:
    t = CALL
    conn_ = connected(t)
    return (
        sa.select(
            t.c.lead_id,
            sa.func.count().label("calls"),
            _count(t.c.direction == Direction.INBOUND).label("incoming"),
            _count(t.c.direction == Direction.OUTBOUND).label("outgoing"),
            _count(conn_).label("connected"),
            _count(sa.and_(conn_, t.c.direction == Direction.INBOUND)).label("connected_incoming"),
            _count(sa.and_(conn_, t.c.direction == Direction.OUTBOUND)).label("connected_outgoing"),
            _talk_time(conn_, t).label("talk_time_s"),
            sa.func.min(t.c.created_at).label("first_call_at"),
            sa.func.max(t.c.created_at).label("last_call_at"),
            sa.func.max(t.c.created_at)
            .filter(t.c.direction == Direction.OUTBOUND)
            .label("last_attempt_at"),
        )
        .where(*call_conditions(params), t.c.lead_id.is_not(None))
        .group_by(t.c.lead_id)
    )


async def _lead_rows(
    session: AsyncSession, params: ReportParams, stats: Any, order: list[Any]
) -> tuple[list[dict[str, Any]], int]:
    conn, _ = await _conn(session)
    g = stats.subquery("g")
    # The page first (with how many leads matched in all, in the same pass), then the
    # names of only the leads on it.
    page = (
        sa.select(g, sa.func.count().over().label("matched"))
        .order_by(*[o(g) for o in order], g.c.lead_id)
        .limit(params.limit)
        .subquery("page")
    )
    stmt = (
        sa.select(
            page,
            LEAD.c.name.label("lead_name"),
            LEAD.c.phone.label("phone"),
            LEAD.c.status.label("lead_status"),
            LEAD.c.owner_id.label("owner_id"),
        )
        .select_from(page.join(LEAD, LEAD.c.id == page.c.lead_id))
        .order_by(*[o(page) for o in order], page.c.lead_id)
    )
    rows = []
    count = 0
    for r in (await conn.execute(stmt)).all():
        row = dict(r._mapping)
        count = int(row.pop("matched"))
        row["owner_name"] = params.directory.user_name(row["owner_id"])
        for key in ("first_call_at", "last_call_at", "last_attempt_at"):
            row[key] = to_utc(row[key])
        rows.append(row)
    return rows, count


async def never_connected(session: AsyncSession, params: ReportParams) -> Report:
    """Leads dialed in the period that never connected: in the period, or `within=ever`."""
    t = CALL
    stats = _lead_stats(params).having(
        _count(t.c.direction == Direction.OUTBOUND) > 0, _count(connected(t)) == 0
    )
    if params.options.get("within") == "ever":
        c2 = CALL.alias("c2")
        stats = stats.having(
            ~sa.exists().where(c2.c.lead_id == t.c.lead_id, connected(c2)).correlate(t)
        )
    rows, count = await _lead_rows(
        session,
        params,
        stats,
        [lambda g: g.c.outgoing.desc(), lambda g: g.c.last_attempt_at.desc()],
    )
    for row in rows:
        row["attempts"] = int(row["outgoing"])
    columns = [
        "lead_id",
        "lead_name",
        "phone",
        "lead_status",
        "owner_id",
        "owner_name",
        "attempts",
        "last_attempt_at",
    ]
    return Report(
        "never-connected",
        params,
        columns,
        rows,
        extra={"summary": {"leads": count}},
        truncated=count > len(rows),
    )


async def customers_reached(session: AsyncSession, params: ReportParams) -> Report:
    """Leads with at least one connected call in the period."""
    t = CALL
    stats = _lead_stats(params).having(_count(connected(t)) > 0)
    rows, count = await _lead_rows(session, params, stats, [lambda g: g.c.talk_time_s.desc()])
    for row in rows:
        for key in (
            "calls",
            "incoming",
            "outgoing",
            "connected",
            "connected_incoming",
            "connected_outgoing",
            "talk_time_s",
        ):
            row[key] = int(row[key])
        row["avg_talk_s"] = round(row["talk_time_s"] / row["connected"], 1)
    columns = [
        "lead_id",
        "lead_name",
        "phone",
        "lead_status",
        "owner_id",
        "owner_name",
        "calls",
        "incoming",
        "outgoing",
        "connected",
        "connected_incoming",
        "connected_outgoing",
        "talk_time_s",
        "avg_talk_s",
        "first_call_at",
        "last_call_at",
    ]
    return Report(
        "customers-reached",
        params,
        columns,
        rows,
        extra={"summary": {"leads": count}},
        truncated=count > len(rows),
    )


HISTORY_COLUMNS = [
    "call_id",
    "created_at",
    "direction",
    "status",
    "outcome",
    "from_number",
    "to_number",
    "lead_id",
    "lead_name",
    "agent_id",
    "agent_name",
    "team_id",
    "team_name",
    "started_at",
    "answered_at",
    "ended_at",
    "duration_s",
    "end_reason",
    "disposition",
]


def history_filters(query: Any) -> dict[str, str]:
    """The filters call-history takes besides the common ones, validated."""
    extra: dict[str, str] = {}
    lead_id = parse_int(query.get("lead_id"), "lead_id")
    if lead_id is not None:
        extra["lead_id"] = str(lead_id)
    for name, allowed in (
        ("direction", [x.value for x in Direction]),
        ("outcome", [x.value for x in CallOutcome]),
        ("status", [x.value for x in CallStatus]),
    ):
        raw = query.get(name)
        if raw:
            if raw not in allowed:
                raise InvalidInput(f"must be one of {', '.join(allowed)}", field=name)
            extra[name] = raw
    return extra


async def call_history(session: AsyncSession, params: ReportParams) -> Report:
    conn, _ = await _conn(session)
    t = CALL
    where = call_conditions(params)
    if "lead_id" in params.options:
        where.append(t.c.lead_id == int(params.options["lead_id"]))
    for name in ("direction", "outcome", "status"):
        if name in params.options:
            where.append(t.c[name] == params.options[name])
    stmt = (
        sa.select(
            t.c.id.label("call_id"),
            t.c.created_at,
            t.c.direction,
            t.c.status,
            t.c.outcome,
            t.c.from_number,
            t.c.to_number,
            t.c.lead_id,
            LEAD.c.name.label("lead_name"),
            t.c.agent_id,
            t.c.team_id,
            t.c.started_at,
            t.c.answered_at,
            t.c.ended_at,
            t.c.duration_s,
            t.c.end_reason,
            DISPOSITION.c.code.label("disposition"),
        )
        .select_from(
            t.outerjoin(LEAD, LEAD.c.id == t.c.lead_id).outerjoin(
                DISPOSITION, DISPOSITION.c.call_id == t.c.id
            )
        )
        .where(*where)
        .order_by(t.c.created_at.desc(), t.c.id.desc())
        .limit(params.limit + 1)
    )
    d = params.directory
    rows = []
    for r in (await conn.execute(stmt)).all():
        row = dict(r._mapping)
        row["agent_name"] = d.user_name(row["agent_id"])
        row["team_name"] = d.team_name(row["team_id"])
        rows.append(row)
    truncated = len(rows) > params.limit
    return Report(
        "call-history", params, HISTORY_COLUMNS, rows[: params.limit], truncated=truncated
    )


def within_filter(query: Any) -> dict[str, str]:
    return {"within": parse_choice(query.get("within"), "within", ("period", "ever"))}
