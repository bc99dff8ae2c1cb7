"""OpenAPI paths and schemas of lead management: edit, merge, history, notes, vocabularies."""

from typing import Any

from gateway.openapi import PAGING, TIMESTAMP, _errors, _json, _list_of, _path

REF = "#/components/schemas/"


def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {"$ref": REF + name}}}}


_KEY = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$", "maxLength": 32}
_LABEL = {"type": "string", "minLength": 1, "maxLength": 100}

SCHEMAS: dict[str, Any] = {
    "LeadUpdate": {
        "type": "object",
        "additionalProperties": False,
        "description": "Only the fields sent change; lists and custom_fields are replaced "
        "whole. owner_id and team_id are refused (400): owner and team change through lead "
        "assignment",
        "properties": {
            "name": {"type": "string"},
            "company": {"type": ["string", "null"]},
            "email": {"type": ["string", "null"]},
            "phone": {"type": "string", "description": "Any format; stored as E.164"},
            "alt_phones": {"type": "array", "items": {"type": "string"}, "maxItems": 10},
            "address": {"type": ["string", "null"]},
            "status": {
                "type": "string",
                "description": "One of the organization's lead statuses; recorded in the "
                "history with reason manual",
            },
            "source": {"type": ["string", "null"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "custom_fields": {"type": "object"},
            "consent": {"enum": ["granted", "withdrawn", None]},
        },
    },
    "LeadWithSharedNumbers": {
        "allOf": [
            {"$ref": REF + "Lead"},
            {
                "type": "object",
                "properties": {
                    "shared_numbers": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "number": {"type": "string"},
                                "lead_ids": {"type": "array", "items": {"type": "integer"}},
                            },
                        },
                    },
                    "merged_lead_ids": {
                        "type": "array",
                        "items": {"type": "integer"},
                        "description": "Merge only: the leads folded into this one",
                    },
                },
            },
        ]
    },
    "LeadMergeRequest": {
        "type": "object",
        "required": ["from_lead_ids"],
        "additionalProperties": False,
        "properties": {
            "from_lead_ids": {
                "type": "array",
                "items": {"type": "integer"},
                "minItems": 1,
                "maxItems": 50,
                "description": "Leads folded into the one in the path",
            }
        },
    },
    "LeadStatusChange": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "from": {"type": ["string", "null"]},
            "to": {"type": "string"},
            "by": {"type": ["integer", "null"], "description": "User id; null: the system"},
            "by_name": {"type": ["string", "null"]},
            "reason": {
                "type": ["string", "null"],
                "description": "manual, a disposition, an import, ...",
            },
            "at": {"type": "string", "format": "date-time"},
        },
    },
    "LeadNoteCreate": {
        "type": "object",
        "required": ["body"],
        "additionalProperties": False,
        "properties": {
            "body": {"type": "string", "minLength": 1, "maxLength": 10000},
            "call_id": {
                "type": ["integer", "null"],
                "description": "A call with this lead (a note taken during or after it)",
            },
        },
    },
    "LeadNote": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "lead_id": {"type": "integer"},
            "call_id": {"type": ["integer", "null"]},
            "author_id": {"type": ["integer", "null"]},
            "author_name": {"type": ["string", "null"]},
            "body": {"type": "string"},
            "created_at": TIMESTAMP,
        },
    },
    "LeadStatusDef": {
        "type": "object",
        "required": ["key", "label"],
        "properties": {
            "key": _KEY,
            "label": _LABEL,
            "terminal": {"type": "boolean"},
            "dnc": {
                "type": "boolean",
                "description": "A lead set to this status (by hand, by import or by a "
                "disposition) has all its numbers put on the do-not-call list (source "
                "lead-status)",
            },
        },
    },
    "DispositionDef": {
        "type": "object",
        "required": ["key", "label"],
        "properties": {
            "key": _KEY,
            "label": _LABEL,
            "lead_status": {
                "type": ["string", "null"],
                "description": "The lead moves to this status (one of lead_statuses)",
            },
            "dnc": {
                "type": "boolean",
                "description": "Put the lead's numbers on the do-not-call list (so does a "
                "lead_status marked dnc)",
            },
            "follow_up": {"type": "boolean", "description": "Ask for a follow-up"},
        },
    },
    "PauseReasonDef": {
        "type": "object",
        "required": ["key", "label"],
        "properties": {"key": _KEY, "label": _LABEL},
    },
    "CrmSettings": {
        "type": "object",
        "description": "In a PUT, each list sent replaces the stored one whole (non-empty, "
        "unique keys); lists left out stay",
        "properties": {
            "lead_statuses": {"type": "array", "items": {"$ref": REF + "LeadStatusDef"}},
            "dispositions": {"type": "array", "items": {"$ref": REF + "DispositionDef"}},
            "pause_reasons": {"type": "array", "items": {"$ref": REF + "PauseReasonDef"}},
        },
    },
}

_LEAD_ID = [_path("lead_id")]

PATHS: dict[str, Any] = {
    "/api/leads/{lead_id}": {
        "patch": {
            "summary": "Change a lead's fields (emits lead.updated); numbers are re-normalized "
            "and checked as on create. A status marked dnc (or a dnc disposition's status) "
            "puts the lead's numbers on the do-not-call list; the answer's dnc says so",
            "parameters": _LEAD_ID,
            "requestBody": _body("LeadUpdate"),
            "responses": {
                "200": _json({"$ref": REF + "LeadWithSharedNumbers"}),
                **_errors(400, 401, 404),
                "409": _json(
                    {"$ref": "#/components/schemas/Error"},
                    "duplicate_phone (another lead has the number; lead_ids), lead_merged",
                ),
            },
        }
    },
    "/api/leads/{lead_id}/merge": {
        "post": {
            "summary": "Merge leads into this one (admin, manager; emits lead.merged): calls, "
            "notes, dispositions, follow-ups, history, numbers and tags move; empty fields "
            "are filled; the merged leads keep merged_into_id and leave the lists. If any "
            "of them is in a do-not-call status or has a number on the do-not-call list, "
            "all the lead's numbers are listed and its open follow-ups canceled",
            "parameters": _LEAD_ID,
            "requestBody": _body("LeadMergeRequest"),
            "responses": {
                "200": _json({"$ref": REF + "LeadWithSharedNumbers"}),
                **_errors(400, 401, 403, 404),
                "409": _json(
                    {"$ref": "#/components/schemas/Error"}, "already_merged (merged_into_id)"
                ),
            },
        }
    },
    "/api/leads/{lead_id}/history": {
        "get": {
            "summary": "A lead's status changes, newest first",
            "parameters": [*_LEAD_ID, *PAGING],
            "responses": {
                "200": _json(_list_of(REF + "LeadStatusChange")),
                **_errors(400, 401, 404),
            },
        }
    },
    "/api/leads/{lead_id}/notes": {
        "get": {
            "summary": "A lead's notes, newest first",
            "parameters": [*_LEAD_ID, *PAGING],
            "responses": {"200": _json(_list_of(REF + "LeadNote")), **_errors(400, 401, 404)},
        },
        "post": {
            "summary": "Add a note to a lead, optionally tied to one of its calls",
            "parameters": _LEAD_ID,
            "requestBody": _body("LeadNoteCreate"),
            "responses": {
                "201": _json({"$ref": REF + "LeadNote"}, "Created"),
                **_errors(400, 401, 404, 409),
            },
        },
    },
    "/api/settings/crm": {
        "get": {
            "summary": "The organization's lead statuses, dispositions and pause reasons",
            "responses": {"200": _json({"$ref": REF + "CrmSettings"}), **_errors(401)},
        },
        "put": {
            "summary": "Replace any of the three lists (admin)",
            "requestBody": _body("CrmSettings"),
            "responses": {
                "200": _json({"$ref": REF + "CrmSettings"}),
                **_errors(400, 401, 403),
                "409": _json(
                    {"$ref": "#/components/schemas/Error"},
                    "status_in_use: a removed status still has leads (status, count) or a "
                    "disposition leads to it",
                ),
            },
        },
    },
}
