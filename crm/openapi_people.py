"""OpenAPI paths and schemas of the users and teams API."""

from typing import Any

from gateway.openapi import _errors, _json, _path, _query

REF = "#/components/schemas/"

_TAGS = {"type": "array", "items": {"type": "string"}}
_HHMM = {"type": ["string", "null"], "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}

_ATTRIBUTES: dict[str, Any] = {
    "skills": _TAGS,
    "languages": _TAGS,
    "territories": {
        **_TAGS,
        "description": 'ISO country codes ("IN") or COUNTRY:Region ("IN:Maharashtra", '
        '"US:California")',
    },
    "weight": {"type": "integer", "minimum": 0, "description": "Share in weighted rules"},
    "max_open_leads": {
        "type": ["integer", "null"],
        "description": "Cap of open (non-terminal) leads for automatic assignment; null: none",
    },
    "max_daily_leads": {
        "type": ["integer", "null"],
        "minimum": 0,
        "description": "Cap of leads automatic assignment gives the user per day (the "
        "organization's day); null: none",
    },
    "shift_start": {**_HHMM, "description": "In the organization's time zone; null: always"},
    "shift_end": _HHMM,
    "caller_id_number_id": {
        "type": ["integer", "null"],
        "description": "The number the user's calls go out from: one of GET /api/carrier-numbers; "
        "null: the team's, else the organization's first line",
    },
}


def _body(ref: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {"$ref": REF + ref}}}}


def _data(ref: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"data": {"type": "array", "items": {"$ref": REF + ref}}},
    }


SCHEMAS: dict[str, Any] = {
    "UserDetail": {
        "allOf": [
            {"$ref": REF + "User"},
            {
                "type": "object",
                "properties": {
                    **_ATTRIBUTES,
                    "is_active": {"type": "boolean"},
                    "open_leads": {"type": "integer"},
                    "caller_id": {
                        "type": ["string", "null"],
                        "description": "E.164 of caller_id_number_id",
                    },
                    "presence": {
                        "type": "object",
                        "properties": {
                            "state": {
                                "enum": ["offline", "available", "on-call", "wrap-up", "paused"]
                            },
                            "reason": {"type": ["string", "null"]},
                            "since": {"type": ["string", "null"], "format": "date-time"},
                        },
                    },
                    "created_at": {"type": "string", "format": "date-time"},
                },
            },
        ]
    },
    "UserCreate": {
        "type": "object",
        "required": ["email", "name", "password", "role"],
        "additionalProperties": False,
        "properties": {
            "email": {"type": "string"},
            "name": {"type": "string"},
            "password": {"type": "string", "minLength": 8},
            "role": {"enum": ["admin", "manager", "agent"]},
            "team_id": {"type": ["integer", "null"]},
            "phone": {"type": ["string", "null"], "description": "Any format; stored as E.164"},
            **_ATTRIBUTES,
        },
    },
    "UserUpdate": {
        "type": "object",
        "additionalProperties": False,
        "description": "Managers: their own team's agents, without role or another team",
        "properties": {
            "name": {"type": "string"},
            "phone": {"type": ["string", "null"]},
            "role": {"enum": ["admin", "manager", "agent"], "description": "Admins only"},
            "team_id": {"type": ["integer", "null"]},
            "is_active": {
                "type": "boolean",
                "description": "false: the user can no longer log in; their leads stay theirs "
                "until handed over (POST /api/leads/assign with from_agent_id)",
            },
            **_ATTRIBUTES,
        },
    },
    "CarrierNumber": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "e164": {"type": "string"},
            "account_id": {"type": "integer"},
            "account_name": {"type": "string"},
            "carrier": {"type": "string"},
        },
    },
    "TeamCreate": {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": {"name": {"type": "string"}},
    },
    "Team": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "member_count": {"type": "integer", "description": "Active members"},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
}

PATHS: dict[str, Any] = {
    "/api/users": {
        "get": {
            "summary": "Users with assignment attributes and presence (admin: all; manager: "
            "their team; agent: themselves)",
            "parameters": [
                _query("team_id", {"type": "integer"}, "Team"),
                _query("role", {"enum": ["admin", "manager", "agent"]}, "Role"),
                _query("active", {"enum": ["true", "false"]}, "Active or deactivated"),
            ],
            "responses": {"200": _json(_data("UserDetail")), **_errors(400, 401)},
        },
        "post": {
            "summary": "Create a user (admin)",
            "requestBody": _body("UserCreate"),
            "responses": {
                "201": _json({"$ref": REF + "UserDetail"}, "Created"),
                **_errors(400, 401, 403, 409),
            },
        },
    },
    "/api/users/{user_id}": {
        "patch": {
            "summary": "Change a user (admin; manager: their team's agents)",
            "parameters": [_path("user_id")],
            "requestBody": _body("UserUpdate"),
            "responses": {
                "200": _json({"$ref": REF + "UserDetail"}),
                **_errors(400, 401, 403, 404, 409),
            },
        }
    },
    "/api/carrier-numbers": {
        "get": {
            "summary": "The organization's numbers on active carrier accounts, which users can "
            "be given as caller ID (admin, manager)",
            "responses": {"200": _json(_data("CarrierNumber")), **_errors(401, 403)},
        }
    },
    "/api/teams": {
        "get": {
            "summary": "The organization's teams",
            "responses": {"200": _json(_data("Team")), **_errors(401)},
        },
        "post": {
            "summary": "Create a team (admin)",
            "requestBody": _body("TeamCreate"),
            "responses": {
                "201": _json({"$ref": REF + "Team"}, "Created"),
                **_errors(400, 401, 403, 409),
            },
        },
    },
}
