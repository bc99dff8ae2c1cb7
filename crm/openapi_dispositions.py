"""OpenAPI paths and schemas of call dispositions and follow-ups."""

from typing import Any

from gateway.openapi import PAGING, TIMESTAMP, _errors, _json, _list_of, _path, _query

REF = "#/components/schemas/"


def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {"$ref": REF + name}}}}


FOLLOW_UP_IN: dict[str, Any] = {
    "type": "object",
    "required": ["due_at"],
    "additionalProperties": False,
    "properties": {
        "due_at": {
            "type": "string",
            "description": "ISO 8601. With an offset (or Z) it is absolute; without one "
            '("2026-12-01T10:30") it is wall time in `timezone`. Must be in the future; '
            "a wall time that a DST change skips or repeats is refused (400) — give an offset",
        },
        "timezone": {
            "type": ["string", "null"],
            "description": "IANA zone; default the lead's zone (its own, else its number's, "
            "else the organization's)",
        },
        "note": {"type": ["string", "null"], "maxLength": 1000},
    },
}

SCHEMAS: dict[str, Any] = {
    "FollowUpIn": FOLLOW_UP_IN,
    "FollowUpCreate": {
        "allOf": [
            {"$ref": REF + "FollowUpIn"},
            {
                "type": "object",
                "properties": {
                    "agent_id": {
                        "type": ["integer", "null"],
                        "description": "Whom to remind (managers: their team, admins: anyone); "
                        "default the lead's owner, else the caller",
                    }
                },
            },
        ]
    },
    "FollowUpPatch": {
        "type": "object",
        "additionalProperties": False,
        "description": "Either status (close it) or due_at (reschedule: the reminder is sent "
        "again when the new time comes)",
        "properties": {
            "status": {"enum": ["done", "canceled"]},
            "due_at": {"type": "string", "description": "As in FollowUpIn"},
            "timezone": {"type": ["string", "null"]},
            "note": {"type": ["string", "null"], "maxLength": 1000},
        },
    },
    "FollowUp": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "lead_id": {"type": "integer"},
            "agent_id": {"type": ["integer", "null"]},
            "call_id": {"type": ["integer", "null"]},
            "due_at": {"type": "string", "format": "date-time", "description": "UTC"},
            "local_due_at": {
                "type": "string",
                "format": "date-time",
                "description": "The due time in `timezone`, with its offset",
            },
            "timezone": {"type": "string"},
            "note": {"type": ["string", "null"]},
            "status": {"enum": ["open", "done", "canceled"]},
            "overdue_by_s": {
                "type": ["integer", "null"],
                "description": "Seconds past due for an open follow-up; null otherwise",
            },
            "notified_at": TIMESTAMP,
            "completed_at": TIMESTAMP,
            "created_by": {"type": ["integer", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "lead": {"$ref": REF + "LeadSummary"},
        },
    },
    "LeadSummary": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "phone": {"type": "string", "description": "E.164"},
        },
    },
    "DispositionIn": {
        "type": "object",
        "required": ["code"],
        "additionalProperties": False,
        "properties": {
            "code": {"type": "string", "description": "One of the organization's dispositions"},
            "notes": {
                "type": ["string", "null"],
                "description": "Also kept as a note on the lead",
            },
            "follow_up": {
                "oneOf": [{"$ref": REF + "FollowUpIn"}, {"type": "null"}],
                "description": "Required by dispositions that ask for a follow-up",
            },
            "lead_id": {
                "type": ["integer", "null"],
                "description": "Attaches a call that has no lead to this lead",
            },
        },
    },
    "Disposition": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "call_id": {"type": ["integer", "null"]},
            "lead_id": {"type": "integer"},
            "agent_id": {"type": ["integer", "null"]},
            "code": {"type": "string"},
            "notes": {"type": ["string", "null"]},
            "follow_up": {"oneOf": [{"$ref": REF + "FollowUp"}, {"type": "null"}]},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
}

PATHS: dict[str, Any] = {
    "/api/calls/{call_id}/disposition": {
        "get": {
            "summary": "The call's disposition",
            "parameters": [_path("call_id")],
            "responses": {"200": _json({"$ref": REF + "Disposition"}), **_errors(401, 404)},
        },
        "post": {
            "summary": "Record the call's one disposition: note, lead status, do-not-call, "
            "follow-up and the disposition.recorded event, all in one transaction",
            "parameters": [_path("call_id")],
            "requestBody": _body("DispositionIn"),
            "responses": {
                "201": _json({"$ref": REF + "Disposition"}, "Recorded"),
                **_errors(400, 401, 404, 409),
            },
        },
        "put": {
            "summary": "Amend the disposition on the day it was recorded (organization's day)",
            "parameters": [_path("call_id")],
            "requestBody": _body("DispositionIn"),
            "responses": {
                "200": _json({"$ref": REF + "Disposition"}),
                **_errors(400, 401, 404, 409),
            },
        },
    },
    "/api/leads/{lead_id}/follow-ups": {
        "post": {
            "summary": "Schedule a follow-up on a lead",
            "parameters": [_path("lead_id")],
            "requestBody": _body("FollowUpCreate"),
            "responses": {
                "201": _json({"$ref": REF + "FollowUp"}, "Created"),
                **_errors(400, 401, 403, 404),
            },
        }
    },
    "/api/follow-ups": {
        "get": {
            "summary": "Follow-ups (agents: theirs, managers: their team's, admins: all), "
            "soonest first; due=overdue is the overdue report",
            "description": "When an open follow-up comes due, its agent is sent the Socket.IO "
            "event follow_up_due (namespace /dialer) once: "
            '{"follow_up": FollowUp, "lead": LeadSummary}. Rescheduling sends it again. The '
            "follow-up of a deactivated agent reminds the managers of the lead's (else the "
            "agent's) team instead, or the organization's supervisors.",
            "parameters": [
                _query("agent_id", {"type": "integer"}, "Assigned agent"),
                _query(
                    "team_id",
                    {"type": "integer"},
                    "Follow-ups of this team's agents (admins: any team; managers: their own, "
                    "else 403; agents: 403). With due=overdue, a team's overdue report",
                ),
                _query("lead_id", {"type": "integer"}, "Lead"),
                _query("status", {"enum": ["open", "done", "canceled"]}, "Status"),
                _query(
                    "due",
                    {"enum": ["overdue", "today", "upcoming"]},
                    "Open follow-ups past due, due on the organization's today, or still ahead",
                ),
                *PAGING,
            ],
            "responses": {
                "200": _json(_list_of(REF + "FollowUp")),
                **_errors(400, 401, 403),
            },
        }
    },
    "/api/follow-ups/{follow_up_id}": {
        "patch": {
            "summary": "Close (done, canceled) or reschedule an open follow-up",
            "parameters": [_path("follow_up_id")],
            "requestBody": _body("FollowUpPatch"),
            "responses": {
                "200": _json({"$ref": REF + "FollowUp"}),
                **_errors(400, 401, 404, 409),
            },
        }
    },
}
