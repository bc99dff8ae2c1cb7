"""The leads funnel: leads by status (in the organization's funnel order) and by source."""

from typing import Any

import sqlalchemy as sa
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.access import lead_scope
from crm.orgconfig import lead_statuses
from crm.reports.params import ReportParams, parse_choice
from crm.reports.result import Report
from crm.reports.timebuckets import utc_param
from gateway.models import Lead


def created_filter(query: Any) -> dict[str, str]:
    return {"created": parse_choice(query.get("created"), "created", ("period", "all"))}


async def leads_funnel(session: AsyncSession, params: ReportParams) -> Report:
    """Leads visible to the caller (merged ones left out), created in the period or at any time."""
    conn = await session.connection()
    where: list[Any] = [lead_scope(params.principal), col(Lead.merged_into_id).is_(None)]
    if params.options.get("created") != "all":
        where += [
            col(Lead.created_at) >= utc_param(params.period.start),
            col(Lead.created_at) < utc_param(params.period.end),
        ]
    if params.team_id is not None:
        where.append(col(Lead.team_id) == params.team_id)
    if params.agent_id is not None:
        where.append(col(Lead.owner_id) == params.agent_id)
    dims = params.group_by
    keys = [col(Lead.source) if d == "source" else col(Lead.status) for d in dims]
    stmt = sa.select(*keys, sa.func.count().label("count")).where(*where).group_by(*keys)
    found = [tuple(r) for r in (await conn.execute(stmt)).all()]
    total = sum(int(r[-1]) for r in found)

    statuses = lead_statuses(params.org)
    order = {x["key"]: i for i, x in enumerate(statuses)}
    labels = {x["key"]: x["label"] for x in statuses}
    terminal = {x["key"]: bool(x.get("terminal")) for x in statuses}
    counts = {r[:-1]: int(r[-1]) for r in found}
    if dims == ("status",):
        # The whole funnel, empty stages included, then any status no longer configured.
        keys_in_order = [(x["key"],) for x in statuses]
        keys_in_order += sorted(k for k in counts if k[0] not in order)
    else:
        keys_in_order = sorted(
            counts,
            key=lambda k: tuple(
                (order.get(v, len(order)), v or "") if d == "status" else (v is None, v or "")
                for d, v in zip(dims, k, strict=True)
            ),
        )
    rows: list[dict[str, Any]] = []
    for key in keys_in_order:
        row: dict[str, Any] = dict(zip(dims, key, strict=True))
        if "status" in dims:
            row["label"] = labels.get(row["status"], row["status"])
            row["terminal"] = terminal.get(row["status"], False)
        row["count"] = counts.get(key, 0)
        row["share"] = round(row["count"] / total, 4) if total else None
        rows.append(row)
    columns = [*dims, *(["label", "terminal"] if "status" in dims else []), "count", "share"]
    return Report("leads-funnel", params, columns, rows, extra={"totals": {"count": total}})
