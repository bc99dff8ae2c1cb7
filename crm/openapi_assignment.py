"""OpenAPI paths and schemas of assignment rules, lead assignment and its audit trail."""

from typing import Any

from crm.assignment.policies import KINDS, MEASURES
from gateway.openapi import PAGING, TIMESTAMP, _errors, _json, _list_of, _path

REF = "#/components/schemas/"


def _body(ref: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {"$ref": REF + ref}}}}


_RULE_LIST = {
    "type": "object",
    "properties": {"data": {"type": "array", "items": {"$ref": REF + "AssignmentRule"}}},
}

SCHEMAS: dict[str, Any] = {
    "AssignmentRuleConfig": {
        "type": "object",
        "additionalProperties": False,
        "description": "Keys a rule's kind does not take are refused (400 naming config.<key>)",
        "properties": {
            "include_offline": {
                "type": "boolean",
                "description": "Any kind: offline and paused agents may be chosen (imports); "
                "shifts, caps and deactivation still apply",
            },
            "measure": {"enum": list(MEASURES), "description": "least_loaded (open_leads)"},
            "require": {
                "enum": ["skills", "languages"],
                "description": "skill (skills) / language (languages): what agents must have",
            },
            "from": {
                "type": "string",
                "description": "skill/language: tag | custom_field:<name> | lead.language "
                "(skill: tag, language: lead.language)",
            },
            "tag_prefix": {
                "type": "string",
                "description": "from=tag: only tags with this prefix count (prefix removed)",
            },
            "match": {"enum": ["any", "all"], "description": "skill/language (any)"},
        },
    },
    "AssignmentRuleCreate": {
        "type": "object",
        "required": ["kind"],
        "additionalProperties": False,
        "properties": {
            "kind": {"enum": list(KINDS)},
            "team_id": {
                "type": ["integer", "null"],
                "description": "Team scope (managers: always their own team); null: the "
                "organization",
            },
            "config": {"$ref": REF + "AssignmentRuleConfig"},
            "is_active": {"type": "boolean"},
        },
    },
    "AssignmentRuleUpdate": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "kind": {"enum": list(KINDS)},
            "team_id": {"type": ["integer", "null"]},
            "config": {"$ref": REF + "AssignmentRuleConfig"},
            "is_active": {"type": "boolean"},
        },
    },
    "AssignmentRule": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "team_id": {"type": ["integer", "null"]},
            "position": {"type": "integer", "description": "Rules run in ascending position"},
            "kind": {"enum": list(KINDS)},
            "config": {"$ref": REF + "AssignmentRuleConfig"},
            "is_active": {"type": "boolean"},
            "last_agent_id": {
                "type": ["integer", "null"],
                "description": "The agent this rule chose last (its round-robin cursor)",
            },
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "AssignmentCandidate": {
        "type": "object",
        "properties": {
            "agent_id": {"type": "integer"},
            "eligible": {"type": "boolean"},
            "reason": {
                "type": "string",
                "description": "eligible, or why not: inactive, off shift, at cap 50/50, "
                "offline, paused: lunch, busier: ..., lacks skills: ..., ...",
            },
            "rule_id": {"type": ["integer", "null"], "description": "The rule that judged it"},
        },
    },
    "LeadAssignment": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "lead_id": {"type": "integer"},
            "agent_id": {
                "type": ["integer", "null"],
                "description": "null: rules ran but none found an agent (the reason says why)",
            },
            "previous_agent_id": {"type": ["integer", "null"]},
            "rule_id": {"type": ["integer", "null"]},
            "rule_kind": {"type": ["string", "null"]},
            "method": {"enum": ["auto", "manual", "bulk", "import"]},
            "reason": {"type": "string"},
            "candidates": {"type": "array", "items": {"$ref": REF + "AssignmentCandidate"}},
            "assigned_by": {"type": ["integer", "null"]},
            "created_at": TIMESTAMP,
        },
    },
    "AssignLead": {
        "type": "object",
        "additionalProperties": False,
        "description": "Exactly one of agent_id (manual) or auto: true (run the rules)",
        "properties": {"agent_id": {"type": "integer"}, "auto": {"type": "boolean"}},
    },
    "AssignLeadResult": {
        "type": "object",
        "description": "Also the payload of the Socket.IO event lead_assigned (to the agent)",
        "properties": {
            "lead": {"$ref": REF + "Lead"},
            "assignment": {
                "oneOf": [{"$ref": REF + "LeadAssignment"}, {"type": "null"}],
                "description": "null: the lead already belonged to that agent",
            },
        },
    },
    "AssignLeadsBulk": {
        "type": "object",
        "additionalProperties": False,
        "description": "Exactly one of lead_ids or from_agent_id, and one of agent_id or auto",
        "properties": {
            "lead_ids": {"type": "array", "items": {"type": "integer"}, "maxItems": 5000},
            "from_agent_id": {
                "type": "integer",
                "description": "Every lead this user owns (auto never gives them back to them)",
            },
            "only_open": {"type": "boolean", "description": "With from_agent_id: open leads"},
            "agent_id": {"type": "integer"},
            "auto": {"type": "boolean"},
        },
    },
    "AssignLeadsBulkResult": {
        "type": "object",
        "properties": {
            "matched": {"type": "integer"},
            "assigned": {"type": "integer"},
            "by_agent": {"type": "object", "additionalProperties": {"type": "integer"}},
            "unassigned_lead_ids": {"type": "array", "items": {"type": "integer"}},
        },
    },
}

PATHS: dict[str, Any] = {
    "/api/assignment-rules": {
        "get": {
            "summary": "Assignment rules in the order they run (admin; manager: the "
            "organization's and their team's)",
            "responses": {"200": _json(_RULE_LIST), **_errors(401, 403)},
        },
        "post": {
            "summary": "Add a rule at the end (admin; manager: for their team)",
            "requestBody": _body("AssignmentRuleCreate"),
            "responses": {
                "201": _json({"$ref": REF + "AssignmentRule"}, "Created"),
                **_errors(400, 401, 403),
            },
        },
    },
    "/api/assignment-rules/{rule_id}": {
        "patch": {
            "summary": "Change a rule (a new kind resets its cursor)",
            "parameters": [_path("rule_id")],
            "requestBody": _body("AssignmentRuleUpdate"),
            "responses": {
                "200": _json({"$ref": REF + "AssignmentRule"}),
                **_errors(400, 401, 403, 404),
            },
        },
        "delete": {
            "summary": "Delete a rule (its audit rows keep the kind)",
            "parameters": [_path("rule_id")],
            "responses": {"204": {"description": "Deleted"}, **_errors(401, 403, 404)},
        },
    },
    "/api/assignment-rules/order": {
        "put": {
            "summary": "Reorder every rule you manage (managers: within their team's positions)",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["rule_ids"],
                            "properties": {
                                "rule_ids": {"type": "array", "items": {"type": "integer"}}
                            },
                        }
                    }
                },
            },
            "responses": {"200": _json(_RULE_LIST), **_errors(400, 401, 403)},
        }
    },
    "/api/leads/{lead_id}/assign": {
        "post": {
            "summary": "Give a lead to an agent, or run the rules for it (admin, manager)",
            "parameters": [_path("lead_id")],
            "requestBody": _body("AssignLead"),
            "responses": {
                "200": _json({"$ref": REF + "AssignLeadResult"}),
                **_errors(400, 401, 403, 404, 409),
            },
        }
    },
    "/api/leads/assign": {
        "post": {
            "summary": "Assign many leads, or hand over all of an agent's leads (admin, manager)",
            "requestBody": _body("AssignLeadsBulk"),
            "responses": {
                "200": _json({"$ref": REF + "AssignLeadsBulkResult"}),
                **_errors(400, 401, 403, 404, 409),
            },
        }
    },
    "/api/leads/{lead_id}/assignments": {
        "get": {
            "summary": "Why the lead went where it did: its assignments, newest first "
            "(agents see only their own candidate verdicts)",
            "parameters": [_path("lead_id"), *PAGING],
            "responses": {
                "200": _json(_list_of(REF + "LeadAssignment")),
                **_errors(400, 401, 404),
            },
        }
    },
}
