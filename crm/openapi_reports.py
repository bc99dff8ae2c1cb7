"""OpenAPI paths and schemas of the reports (merged into /api/openapi.json)."""

from typing import Any

from crm.reports.calls import LATENCY_BUCKETS, SUMMARY_METRICS
from crm.reports.catalog import REPORTS
from crm.reports.params import MAX_PERIOD_DAYS, MAX_ROW_LIMIT
from gateway.openapi import _errors, _json, _query

REF = "#/components/schemas/"

COMMON = [
    _query(
        "from",
        {"type": "string"},
        "Start: a date (YYYY-MM-DD, from that day's midnight in the organization's time zone) or "
        "a date-time (without an offset: in the organization's time zone). Default: the day of "
        "`to`",
    ),
    _query(
        "to",
        {"type": "string"},
        "End: a date (that whole day included) or a date-time (excluded). Default: today. "
        f"At most {MAX_PERIOD_DAYS} days after `from`",
    ),
    _query("team_id", {"type": "integer"}, "Only this team (managers: their own)"),
    _query("agent_id", {"type": "integer"}, "Only this agent (agents: themselves)"),
    _query(
        "format",
        {"enum": ["json", "csv"]},
        "csv: a download with a header row; without it, `Accept: text/csv` asks for CSV too",
    ),
]
LIMIT = _query(
    "limit",
    {"type": "integer", "minimum": 1, "maximum": MAX_ROW_LIMIT},
    "Most rows returned (default 1000); `truncated` says when more matched",
)

# Extra parameters and the meaning of the rows, per report.
_DETAILS: dict[str, dict[str, Any]] = {
    "calls-summary": {
        "params": [],
        "description": "Calls by when they were created (dialed or arrived). incoming/outgoing: "
        "direction. connected: ended completed with duration_s > 0 (inbound also needs an "
        "agent). missed: an ended inbound call that did not connect. rejected: a missed call "
        "that ended busy or canceled. connect_rate: connected / total. talk_time_s: duration_s "
        "of connected calls; avg_talk_s per connected call. first_call_at / last_call_at: the "
        "first and last call of the row (group by agent,day for each agent's day). "
        "`group_by`: agent (default), team, day, hour (each hour of the period), hour_of_day "
        "(0-23), or two of them comma-separated (e.g. agent,day); a single time dimension "
        "lists every day or hour of the period. `totals` are the whole selection's (the CSV's "
        f"last row). Metrics: {', '.join(SUMMARY_METRICS)}",
    },
    "never-attended": {
        "params": [LIMIT],
        "description": "Missed inbound calls of the period with no later outbound call to the "
        "same lead or number (by anyone), oldest first; waited_s runs to now. "
        "callback_latency: for the missed calls that were called back, seconds to the first "
        "later outbound call: p50_s and p90_s (nearest rank) and a histogram ("
        + ", ".join(b[0] for b in LATENCY_BUCKETS)
        + ")",
    },
    "never-connected": {
        "params": [
            LIMIT,
            _query(
                "within",
                {"enum": ["period", "ever"]},
                "period (default): no connected call in the period; ever: none at any time",
            ),
        ],
        "description": "Leads dialed (outbound) in the period that never connected, most "
        "attempts first: attempts (outbound calls in the period) and last_attempt_at",
    },
    "customers-reached": {
        "params": [LIMIT],
        "description": "Leads with a connected call in the period, most talk time first: calls "
        "by direction, connected by direction, talk_time_s and avg_talk_s per connected call",
    },
    "working-hours": {
        "params": [],
        "description": "Seconds per agent (or `group_by=team`) from presence intervals clipped "
        "to the period; an interval still open runs to now. logged_in_s: every state but "
        "offline. paused_s is split by the organization's pause reasons (paused_other_s: any "
        "other). Agents in scope without intervals get zeros",
    },
    "call-history": {
        "params": [
            LIMIT,
            _query("lead_id", {"type": "integer"}, "Lead"),
            _query("direction", {"enum": ["outbound", "inbound"]}, "Direction"),
            _query(
                "outcome",
                {"enum": ["completed", "busy", "no-answer", "failed", "canceled"]},
                "Outcome",
            ),
            _query(
                "status",
                {"enum": ["queued", "initiated", "ringing", "in-progress", "completed"]},
                "Status",
            ),
        ],
        "description": "Calls of the period, newest first, with lead, agent and team names "
        "and the disposition code",
    },
    "dispositions": {
        "params": [],
        "description": "Dispositions recorded in the period, by code in the organization's "
        "order (every code listed) or `group_by=agent` (agent and code); share of the count",
    },
    "leads-funnel": {
        "params": [
            _query(
                "created",
                {"enum": ["period", "all"]},
                "period (default): leads created in the period; all: every lead",
            ),
        ],
        "description": "Leads (merged ones left out) by status in the organization's funnel "
        "order (every status listed), by source, or by source,status",
    },
}


def _report_path(name: str) -> dict[str, Any]:
    spec = REPORTS[name]
    details = _DETAILS[name]
    params = list(COMMON)
    if spec.group_by is not None:
        params.append(
            _query(
                "group_by",
                {"type": "string"},
                f"One of {', '.join(spec.group_by.choices)}"
                + (
                    f" (up to {spec.group_by.max_dims}, comma-separated)"
                    if spec.group_by.max_dims > 1
                    else ""
                )
                + f"; default {','.join(spec.group_by.default)}",
            )
        )
    params += details["params"]
    return {
        "get": {
            "summary": spec.summary,
            "description": details["description"],
            "parameters": params,
            "responses": {
                "200": {
                    "description": "The report (CSV when asked, as an attachment)",
                    "content": {
                        "application/json": {"schema": {"$ref": REF + "Report"}},
                        "text/csv": {"schema": {"type": "string"}},
                    },
                },
                **_errors(400, 401, 403),
            },
        }
    }


PATHS: dict[str, Any] = {
    "/api/reports": {
        "get": {
            "summary": "The reports available",
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "data": {"type": "array", "items": {"$ref": REF + "ReportInfo"}}
                        },
                    }
                ),
                **_errors(401),
            },
        }
    },
    **{f"/api/reports/{name}": _report_path(name) for name in REPORTS},
}

SCHEMAS: dict[str, Any] = {
    "ReportInfo": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "summary": {"type": "string"},
            "group_by": {"type": "array", "items": {"type": "string"}},
            "url": {"type": "string"},
        },
    },
    "Report": {
        "type": "object",
        "description": "Times are in the organization's time zone, with their offset",
        "properties": {
            "report": {"type": "string"},
            "from": {"type": "string", "format": "date-time"},
            "to": {"type": "string", "format": "date-time", "description": "exclusive"},
            "timezone": {"type": "string"},
            "generated_at": {"type": "string", "format": "date-time"},
            "filters": {"type": "object"},
            "group_by": {"type": ["array", "null"], "items": {"type": "string"}},
            "columns": {"type": "array", "items": {"type": "string"}},
            "rows": {
                "type": "array",
                "items": {"type": "object", "description": "One value per column"},
            },
            "truncated": {"type": "boolean"},
            "totals": {"type": "object", "description": "calls-summary, working-hours, ..."},
            "summary": {"type": "object", "description": "never-attended, never-connected, ..."},
            "callback_latency": {
                "type": "object",
                "description": "never-attended only",
                "properties": {
                    "count": {"type": "integer"},
                    "p50_s": {"type": ["number", "null"]},
                    "p90_s": {"type": ["number", "null"]},
                    "buckets": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "label": {"type": "string"},
                                "from_s": {"type": "integer"},
                                "to_s": {"type": ["integer", "null"]},
                                "count": {"type": "integer"},
                            },
                        },
                    },
                },
            },
        },
    },
}
