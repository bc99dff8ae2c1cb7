"""The OpenAPI 3.1 document of the REST API, served at `/api/openapi.json`."""

import importlib
from typing import Any

from aiohttp import web

from gateway.carriers.registry import ADAPTER_CLASSES

routes = web.RouteTableDef()

ERROR = {"$ref": "#/components/schemas/Error"}
CARRIERS = sorted(ADAPTER_CLASSES)


def _list_of(ref: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "data": {"type": "array", "items": {"$ref": ref}},
            "next_cursor": {"type": ["string", "null"]},
        },
    }


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Invalid input (the error names the field)",
        401: "Missing or invalid token",
        403: "Not allowed",
        404: "Not found",
        409: "Conflict",
        413: "Body too large",
        415: "Unsupported content type",
        503: "No carrier available",
    }
    return {str(c): _json(ERROR, text[c]) for c in codes}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}


PAGING = [
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "Page size (default 50)"),
    _query("cursor", {"type": "string"}, "next_cursor of the previous page"),
]

TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}


def _time_filter(name: str, description: str) -> dict[str, Any]:
    return _query(
        name,
        {"type": "string", "format": "date-time"},
        f"{description} (ISO 8601 with an offset, e.g. 2026-11-01T00:00:00Z)",
    )


LEAD_FILTERS = [
    _query("name", {"type": "string"}, "Name contains (any case)"),
    _query("company", {"type": "string"}, "Company contains (any case)"),
    _query("email", {"type": "string"}, "E-mail contains (any case)"),
    _query("status", {"type": "string"}, "Lead status; several comma-separated"),
    _query("owner_id", {"type": "string"}, "Owner's user id, or none for unassigned leads"),
    _query("team_id", {"type": "string"}, "Team id, or none for leads in no team"),
    _query("tag", {"type": "string"}, "Has this tag"),
    _query("source", {"type": "string"}, "Source (api, import, inbound-call, dialer, ...)"),
    _query("country", {"type": "string"}, "ISO country of the primary number"),
    _query("phone", {"type": "string"}, "Has this number (any format, exact)"),
    _time_filter("created_from", "Created at or after"),
    _time_filter("created_to", "Created before"),
    _time_filter("updated_from", "Updated at or after"),
    _time_filter("updated_to", "Updated before"),
]

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": ["string", "null"]},
                },
            }
        },
    },
    "User": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "org_id": {"type": "integer"},
            "email": {"type": "string"},
            "name": {"type": "string"},
            "role": {"enum": ["admin", "manager", "agent"]},
            "team_id": {"type": ["integer", "null"]},
            "phone": {"type": ["string", "null"]},
        },
    },
    "LeadCreate": {
        "type": "object",
        "required": ["phone"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string"},
            "company": {"type": ["string", "null"]},
            "email": {"type": ["string", "null"]},
            "phone": {"type": "string", "description": "Any format; stored as E.164"},
            "alt_phones": {"type": "array", "items": {"type": "string"}},
            "address": {"type": ["string", "null"]},
            "status": {
                "type": "string",
                "description": "One of the organization's lead statuses (GET /api/settings/crm); "
                "default new",
            },
            "owner_id": {"type": ["integer", "null"]},
            "team_id": {"type": ["integer", "null"]},
            "source": {"type": ["string", "null"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "custom_fields": {"type": "object"},
            "consent": {"enum": ["granted", "withdrawn", None]},
        },
    },
    "Lead": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "company": {"type": ["string", "null"]},
            "email": {"type": ["string", "null"]},
            "phone": {"type": "string", "description": "E.164"},
            "alt_phones": {"type": "array", "items": {"type": "string"}},
            "address": {"type": ["string", "null"]},
            "status": {"type": "string"},
            "owner_id": {"type": ["integer", "null"]},
            "team_id": {"type": ["integer", "null"]},
            "source": {"type": ["string", "null"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "custom_fields": {"type": "object"},
            "consent": {"enum": ["granted", "withdrawn", None]},
            "consent_at": TIMESTAMP,
            "next_follow_up_at": {**TIMESTAMP, "description": "The earliest open follow-up"},
            "dnc": {
                "type": "boolean",
                "description": "The primary phone is on the organization's do-not-call list",
            },
            "country": {
                "type": ["string", "null"],
                "description": "ISO 3166 region of the primary number",
            },
            "region": {
                "type": ["string", "null"],
                "description": "Where the primary number is (e.g. Mumbai, California); null for "
                "numbers that only tell the country",
            },
            "timezone": {
                "type": ["string", "null"],
                "description": "The lead's zone: the number's when it names exactly one, else "
                "null (the dialer then checks every zone in `timezones`)",
            },
            "timezones": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Every IANA zone the primary number may be in",
            },
            "attempts": {"type": "integer"},
            "last_called_at": TIMESTAMP,
            "assigned_at": TIMESTAMP,
            "merged_into_id": {
                "type": ["integer", "null"],
                "description": "Set when this lead was merged into another (it is then hidden "
                "from lists)",
            },
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
        },
    },
    "LeadDetail": {
        "allOf": [
            {"$ref": "#/components/schemas/Lead"},
            {
                "type": "object",
                "properties": {
                    "calls": {"type": "array", "items": {"$ref": "#/components/schemas/Call"}},
                    "shared_numbers": {
                        "type": "array",
                        "description": "The lead's numbers that other leads hold too",
                        "items": {
                            "type": "object",
                            "properties": {
                                "number": {"type": "string"},
                                "lead_ids": {"type": "array", "items": {"type": "integer"}},
                            },
                        },
                    },
                },
            },
        ]
    },
    "CallUpdate": {
        "type": "object",
        "description": "Payload of the Socket.IO event call_updated",
        "properties": {
            "call_id": {"type": "integer"},
            "lead_id": {"type": ["integer", "null"]},
            "agent_id": {"type": ["integer", "null"]},
            "direction": {"enum": ["outbound", "inbound"]},
            "status": {"enum": ["queued", "initiated", "ringing", "in-progress", "completed"]},
            "outcome": {"enum": ["completed", "busy", "no-answer", "failed", "canceled", None]},
            "started_at": TIMESTAMP,
            "answered_at": TIMESTAMP,
            "ended_at": TIMESTAMP,
            "duration_s": {"type": ["integer", "null"]},
            "end_reason": {"type": ["string", "null"]},
            "reconciled": {
                "type": "boolean",
                "description": "the outcome came from the carrier's records, not a callback",
            },
        },
    },
    "CallLeg": {
        "type": "object",
        "properties": {
            "role": {"enum": ["agent", "customer"]},
            "carrier_leg_id": {"type": ["string", "null"]},
            "number": {"type": ["string", "null"]},
            "status": {"type": "string"},
            "outcome": {"type": ["string", "null"]},
            "started_at": TIMESTAMP,
            "answered_at": TIMESTAMP,
            "ended_at": TIMESTAMP,
            "duration_s": {"type": ["integer", "null"]},
        },
    },
    "Call": {
        "allOf": [
            {"$ref": "#/components/schemas/CallUpdate"},
            {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "carrier": {"type": "string"},
                    "carrier_account_id": {"type": ["integer", "null"]},
                    "carrier_call_id": {"type": ["string", "null"]},
                    "from_number": {"type": ["string", "null"]},
                    "to_number": {"type": ["string", "null"]},
                    "team_id": {"type": ["integer", "null"]},
                    "lead_match": {
                        "type": "string",
                        "description": "dialed, matched, created, ambiguous, none, "
                        "manual (attached by a disposition), internal-*",
                    },
                    "recording_url": {"type": ["string", "null"]},
                    "legs": {"type": "array", "items": {"$ref": "#/components/schemas/CallLeg"}},
                },
            },
        ]
    },
    "CallEvent": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string"},
            "leg": {"type": ["string", "null"]},
            "carrier_status": {"type": ["string", "null"]},
            "status": {"type": ["string", "null"]},
            "outcome": {"type": ["string", "null"]},
            "disposition": {
                "type": "string",
                "description": "applied, stale, duplicate-terminal, conflicting-terminal, "
                "unknown-status, recording, flagged",
            },
            "occurred_at": TIMESTAMP,
            "received_at": {"type": "string", "format": "date-time"},
        },
    },
    "CallDetail": {
        "allOf": [
            {"$ref": "#/components/schemas/Call"},
            {
                "type": "object",
                "properties": {
                    "events": {"type": "array", "items": {"$ref": "#/components/schemas/CallEvent"}}
                },
            },
        ]
    },
    "DialRequest": {
        "type": "object",
        "additionalProperties": False,
        "description": "Exactly one of lead_id or number",
        "properties": {
            "lead_id": {"type": "integer"},
            "number": {"type": "string"},
            "caller_id_number_id": {
                "type": "integer",
                "description": "One of the organization's carrier numbers to call from; "
                "default: the agent's, the team's, then the first line",
            },
        },
    },
    "DncCreate": {
        "type": "object",
        "required": ["number"],
        "additionalProperties": False,
        "properties": {
            "number": {"type": "string", "description": "Any format; stored as E.164"},
            "reason": {"type": ["string", "null"]},
        },
    },
    "DncEntry": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "number": {"type": "string", "description": "E.164"},
            "reason": {"type": ["string", "null"]},
            "source": {"enum": ["manual", "upload", "lead-status"]},
            "created_by": {"type": ["integer", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "DncUploadReport": {
        "type": "object",
        "properties": {
            "added": {"type": "integer"},
            "already_listed": {
                "type": "integer",
                "description": "Listed before, or repeated within the upload",
            },
            "invalid": {
                "type": "array",
                "description": "At most 1000 invalid lines",
                "items": {
                    "type": "object",
                    "properties": {
                        "line": {"type": "integer"},
                        "value": {"type": "string"},
                        "error": {"type": "string"},
                    },
                },
            },
            "invalid_count": {"type": "integer"},
        },
    },
    "CarrierAccountUpdate": {
        "type": "object",
        "description": "Only the fields given change",
        "properties": {
            "name": {"type": "string"},
            "credentials": {
                "type": "object",
                "description": "Merged over the stored credentials and validated again: send "
                "only what rotates, e.g. a new auth token",
            },
            "calls_per_second": {"type": ["number", "null"]},
            "is_active": {
                "type": "boolean",
                "description": "false: its webhooks answer 404 and click-to-call skips it",
            },
            "add_numbers": {"type": "array", "items": {"type": "string"}},
            "remove_numbers": {"type": "array", "items": {"type": "string"}},
        },
    },
    "CarrierAccountCreate": {
        "type": "object",
        "required": ["carrier"],
        "properties": {
            "carrier": {"enum": CARRIERS},
            "name": {"type": "string"},
            "credentials": {
                "type": "object",
                "description": "The carrier's own fields; see the README's section for each "
                "carrier (fields naming a token, secret, key or password are never shown back)",
            },
            "numbers": {"type": "array", "items": {"type": "string"}},
            "calls_per_second": {
                "type": ["number", "null"],
                "description": "Originations are paced to this rate; null: unpaced",
            },
        },
    },
    "CarrierAccount": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "carrier": {"type": "string"},
            "name": {"type": "string"},
            "credentials": {"type": "object", "description": "secrets redacted"},
            "numbers": {"type": "array", "items": {"type": "string"}},
            "webhook_urls": {"type": "object", "additionalProperties": {"type": "string"}},
            "is_active": {"type": "boolean"},
            "calls_per_second": {"type": ["number", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
}


# Feature packages document their own endpoints: each module here exports `PATHS` and
# `SCHEMAS` (imported when the document is built, so they may use this module's helpers).
PARTS: tuple[str, ...] = (
    "crm.openapi_leads",
    "crm.openapi_integrations",
    "crm.openapi_assignment",
    "crm.openapi_people",
    "crm.openapi_reports",
    "dialer.openapi_dialer",
    "crm.openapi_dispositions",
    "crm.openapi_import",
)


def build_spec() -> dict[str, Any]:
    spec = _core_spec()
    for name in PARTS:
        part = importlib.import_module(name)
        # A part may add methods to a path documented elsewhere, never document one twice.
        for path, methods in part.PATHS.items():
            existing = spec["paths"].setdefault(path, {})
            overlap = set(methods) & set(existing)
            assert not overlap, f"{name} documents {path} {overlap} twice"
            existing.update(methods)
        spec["components"]["schemas"].update(part.SCHEMAS)
    return spec


def _core_spec() -> dict[str, Any]:
    ref = "#/components/schemas/"
    return {
        "openapi": "3.1.0",
        "info": {"title": "Dialgate API", "version": "0.1.0"},
        "components": {
            "schemas": dict(SCHEMAS),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/auth/login": {
                "post": {
                    "summary": "Log in and get a bearer token",
                    "security": [],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["email", "password"],
                                    "properties": {
                                        "email": {"type": "string"},
                                        "password": {"type": "string"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "token": {"type": "string"},
                                    "user": {"$ref": ref + "User"},
                                },
                            }
                        ),
                        **_errors(400, 401),
                    },
                }
            },
            "/api/auth/me": {
                "get": {
                    "summary": "The current user",
                    "responses": {"200": _json({"$ref": ref + "User"}), **_errors(401)},
                }
            },
            "/api/auth/logout": {
                "post": {
                    "summary": "End this session: the bearer token stops working",
                    "responses": {"204": {"description": "Signed out"}, **_errors(401)},
                }
            },
            "/api/auth/password": {
                "post": {
                    "summary": "Change one's own password; the user's other sessions end",
                    "requestBody": _body(
                        {
                            "type": "object",
                            "required": ["current_password", "new_password"],
                            "additionalProperties": False,
                            "properties": {
                                "current_password": {"type": "string"},
                                "new_password": {"type": "string", "minLength": 8},
                            },
                        }
                    ),
                    "responses": {"204": {"description": "Changed"}, **_errors(400, 401)},
                }
            },
            "/api/users/{user_id}/password": {
                "post": {
                    "summary": "Set a user's password (admins); that user's sessions all end",
                    "parameters": [_path("user_id")],
                    "requestBody": _body(
                        {
                            "type": "object",
                            "required": ["password"],
                            "additionalProperties": False,
                            "properties": {"password": {"type": "string", "minLength": 8}},
                        }
                    ),
                    "responses": {"204": {"description": "Set"}, **_errors(400, 401, 403, 404)},
                }
            },
            "/api/leads": {
                "get": {
                    "summary": "List leads visible to the caller, newest first (merged leads "
                    "left out); filters combine",
                    "parameters": [
                        _query(
                            "q",
                            {"type": "string"},
                            "Name, company, e-mail, or a phone number in any format",
                        ),
                        *LEAD_FILTERS,
                        *PAGING,
                    ],
                    "responses": {"200": _json(_list_of(ref + "Lead")), **_errors(400, 401)},
                },
                "post": {
                    "summary": "Create a lead",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": ref + "LeadCreate"}}},
                    },
                    "responses": {
                        "201": _json({"$ref": ref + "Lead"}, "Created"),
                        **_errors(400, 401, 403, 409),
                    },
                },
            },
            "/api/leads/{lead_id}": {
                "get": {
                    "summary": "A lead with its calls, newest first",
                    "parameters": [_path("lead_id")],
                    "responses": {"200": _json({"$ref": ref + "LeadDetail"}), **_errors(401, 404)},
                }
            },
            "/api/calls": {
                "get": {
                    "summary": "List calls visible to the caller, newest first",
                    "parameters": [
                        _query("lead_id", {"type": "integer"}, "Lead"),
                        _query("agent_id", {"type": "integer"}, "Agent"),
                        _query("status", {"type": "string"}, "Normalized status"),
                        _query(
                            "since",
                            {"type": "string", "format": "date-time"},
                            "Created at or after",
                        ),
                        _query(
                            "until", {"type": "string", "format": "date-time"}, "Created before"
                        ),
                        *PAGING,
                    ],
                    "responses": {"200": _json(_list_of(ref + "Call")), **_errors(400, 401)},
                },
                "post": {
                    "summary": "Click-to-call: ring the caller's phone, then bridge to the lead",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": ref + "DialRequest"}}},
                    },
                    "responses": {
                        "202": _json(
                            {"$ref": ref + "Call"}, "Accepted; progress follows as call_updated"
                        ),
                        **_errors(400, 401, 403, 404, 409, 503),
                        "409": _json(
                            ERROR,
                            "Conflict; code dnc (the number is on the do-not-call list), "
                            "consent_withdrawn, agent_busy, ambiguous_number, "
                            "outside_calling_hours (with local_times and window), "
                            "unknown_timezone, attempt_cap_reached, ...",
                        ),
                    },
                },
            },
            "/api/calls/{call_id}": {
                "get": {
                    "summary": "A call with its legs and event timeline",
                    "parameters": [_path("call_id")],
                    "responses": {"200": _json({"$ref": ref + "CallDetail"}), **_errors(401, 404)},
                }
            },
            "/api/dnc": {
                "get": {
                    "summary": "The organization's do-not-call list, newest first (admin, manager)",
                    "parameters": [
                        _query("q", {"type": "string"}, "A phone number in any format"),
                        *PAGING,
                    ],
                    "responses": {
                        "200": _json(_list_of(ref + "DncEntry")),
                        **_errors(400, 401, 403),
                    },
                },
                "post": {
                    "summary": "Put a number on the do-not-call list (admin, manager)",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": ref + "DncCreate"}}},
                    },
                    "responses": {
                        "200": _json({"$ref": ref + "DncEntry"}, "Already listed"),
                        "201": _json({"$ref": ref + "DncEntry"}, "Created"),
                        **_errors(400, 401, 403),
                    },
                },
            },
            "/api/dnc/bulk": {
                "post": {
                    "summary": "Upload numbers to the do-not-call list, all valid rows or none "
                    "(admin, manager)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "text/csv": {
                                "schema": {
                                    "type": "string",
                                    "description": "One number per line, or a header row with "
                                    "a number column and an optional reason column; "
                                    "at most 5 MB",
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json({"$ref": ref + "DncUploadReport"}),
                        **_errors(400, 401, 403, 409, 413, 415),
                    },
                }
            },
            "/api/dnc/{dnc_id}": {
                "delete": {
                    "summary": "Take a number off the do-not-call list (admin, manager)",
                    "parameters": [_path("dnc_id")],
                    "responses": {"204": {"description": "Deleted"}, **_errors(401, 403, 404)},
                }
            },
            "/api/carrier-accounts": {
                "get": {
                    "summary": "Carrier accounts with their webhook URLs (admin)",
                    "responses": {
                        "200": _json(_list_of(ref + "CarrierAccount")),
                        **_errors(401, 403),
                    },
                },
                "post": {
                    "summary": "Register a carrier account (admin)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": ref + "CarrierAccountCreate"}}
                        },
                    },
                    "responses": {
                        "201": _json({"$ref": ref + "CarrierAccount"}, "Created"),
                        **_errors(400, 401, 403, 409),
                    },
                },
            },
            "/api/carrier-accounts/{account_id}": {
                "get": {
                    "summary": "One carrier account (admin)",
                    "parameters": [_path("account_id")],
                    "responses": {
                        "200": _json({"$ref": ref + "CarrierAccount"}),
                        **_errors(401, 403, 404),
                    },
                },
                "patch": {
                    "summary": "Rotate credentials, change pacing, switch off or on, add or "
                    "remove numbers (admin)",
                    "parameters": [_path("account_id")],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": ref + "CarrierAccountUpdate"}}
                        },
                    },
                    "responses": {
                        "200": _json({"$ref": ref + "CarrierAccount"}),
                        **_errors(400, 401, 403, 404, 409),
                    },
                },
            },
        },
    }


@routes.get("/api/openapi.json")
async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(build_spec())
