"""OpenAPI paths and schemas of the dialer's REST endpoints (presence, queue, hang-up)."""

from typing import Any

from gateway.openapi import TIMESTAMP, _errors, _json, _path, _query

REF = "#/components/schemas/"

PRESENCE_STATES = ["offline", "available", "on-call", "wrap-up", "paused"]

_HHMM = {"type": "string", "pattern": "^[0-9]{2}:[0-5][0-9]$"}

SCHEMAS: dict[str, Any] = {
    "DialingSettings": {
        "type": "object",
        "description": "The organization's dialing rules. In a PATCH every field is optional and "
        "a field left out stays; a change holds from the next dial on, in every process",
        "properties": {
            "calling_window_start": {
                **_HHMM,
                "description": "Start of the callee's local calling hours, 00:00-23:59",
            },
            "calling_window_end": {
                **_HHMM,
                "description": "End (exclusive), 00:00-24:00; before the start: the window "
                "spans midnight (22:00-02:00). Must differ from the start",
            },
            "max_daily_attempts": {
                "type": ["integer", "null"],
                "minimum": 0,
                "maximum": 1000,
                "description": "Dial attempts per lead per day (organization time); null: no cap",
            },
            "wrapup_limit_s": {
                "type": ["integer", "null"],
                "minimum": 0,
                "maximum": 86400,
                "description": "Seconds of wrap-up before the agent is available again; "
                "null: no limit",
            },
            "wrapup_requires_disposition": {
                "type": "boolean",
                "description": "Wrap-up lasts until a disposition is recorded",
            },
            "timezone": {
                "type": "string",
                "description": "IANA zone of the organization's day (attempt caps, reports)",
            },
            "default_region": {
                "type": "string",
                "description": "ISO 3166 country of numbers typed without a country code",
            },
        },
    },
    "MissedCallSms": {
        "type": "object",
        "description": "The optional SMS after a missed call (off by default). `to`: `caller` "
        "(the default: 'sorry we missed your call'), `owner` (the lead's owner, or the agent "
        "the call rang, on their own phone) or `both`. Templates may use {org}, {caller}, "
        "{lead} and {agent}. Sent once through the account the call came in on, from the "
        "number dialed; never to a do-not-call number or a lead who withdrew consent. Each "
        "outcome is a `call.missed_sms` integration event. In a PUT, fields left out stay.",
        "properties": {
            "enabled": {"type": "boolean"},
            "to": {"enum": ["caller", "owner", "both"]},
            "caller_template": {"type": "string", "maxLength": 459},
            "owner_template": {"type": "string", "maxLength": 459},
        },
    },
    "NextDial": {
        "type": "object",
        "description": "A progressive-dialing offer (the `next_dial` event): the lead dialed "
        "at `dial_at` unless the agent skips or cancels; all null when there is none",
        "properties": {
            "lead": {"anyOf": [{"$ref": REF + "Lead"}, {"type": "null"}]},
            "reason": {"enum": ["missed_call", "follow_up", "new", "retry", None]},
            "dial_at": {"anyOf": [TIMESTAMP, {"type": "null"}]},
            "countdown_s": {"type": ["number", "null"]},
        },
    },
    "QueueEntry": {
        "type": "object",
        "description": "Also the `next_dial` event's lead and reason",
        "properties": {
            "lead": {"$ref": REF + "Lead"},
            "reason": {"enum": ["missed_call", "follow_up", "new", "retry"]},
            "due_at": TIMESTAMP,
            "call_id": {"type": "integer", "description": "The missed call (missed_call)"},
            "follow_up_id": {"type": "integer", "description": "The follow-up (follow_up)"},
        },
    },
    "AgentPresence": {
        "type": "object",
        "description": "Also the payload of the Socket.IO `presence` event (without the "
        "wallboard-only fields time_in_state_s, call and today).",
        "properties": {
            "user_id": {"type": "integer"},
            "name": {"type": "string"},
            "team_id": {"type": ["integer", "null"]},
            "state": {"enum": PRESENCE_STATES},
            "reason": {"type": ["string", "null"], "description": "Pause reason key"},
            "since": {"type": "string", "format": "date-time"},
            "call_id": {"type": ["integer", "null"]},
            "progressive": {"type": "boolean"},
            "time_in_state_s": {"type": "integer"},
            "call": {
                "type": ["object", "null"],
                "properties": {
                    "id": {"type": "integer"},
                    "lead_id": {"type": ["integer", "null"]},
                    "direction": {"enum": ["inbound", "outbound"]},
                    "status": {"type": "string"},
                    "started_at": TIMESTAMP,
                },
            },
            "today": {
                "type": "object",
                "description": "Since midnight in the organization's time zone",
                "properties": {
                    "calls": {"type": "integer"},
                    "connected": {"type": "integer", "description": "Calls answered"},
                    "talk_time_s": {"type": "integer"},
                },
            },
        },
    },
}

PATHS: dict[str, Any] = {
    "/api/settings/dialing": {
        "get": {
            "summary": "The organization's dialing settings (every role may read them)",
            "responses": {"200": _json({"$ref": REF + "DialingSettings"}), **_errors(401)},
        },
        "patch": {
            "summary": "Change any of the dialing settings (admin)",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": REF + "DialingSettings"}}},
            },
            "responses": {
                "200": _json({"$ref": REF + "DialingSettings"}),
                **_errors(400, 401, 403),
            },
        },
    },
    "/api/settings/missed-call-sms": {
        "get": {
            "summary": "The missed-call SMS setting",
            "responses": {"200": _json({"$ref": REF + "MissedCallSms"}), **_errors(401)},
        },
        "put": {
            "summary": "Change the missed-call SMS setting (admin)",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": REF + "MissedCallSms"}}},
            },
            "responses": {
                "200": _json({"$ref": REF + "MissedCallSms"}),
                **_errors(400, 401, 403),
            },
        },
    },
    "/api/queue": {
        "get": {
            "summary": "The caller's call queue: missed calls not yet called back, due "
            "follow-ups, leads never called, then busy / no-answer retries; leads the dial "
            "guard would refuse now (do-not-call, calling hours, attempt caps) are left out",
            "parameters": [
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "Default 20")
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "data": {"type": "array", "items": {"$ref": REF + "QueueEntry"}}
                        },
                    }
                ),
                **_errors(400, 401),
            },
        }
    },
    "/api/queue/next": {
        "get": {
            "summary": "The caller's pending progressive-dialing offer, shaped like the next_dial "
            "push (lead null: none); countdown_s is what is left of its countdown",
            "responses": {"200": _json({"$ref": REF + "NextDial"}), **_errors(401)},
        }
    },
    "/api/calls/{call_id}/hangup": {
        "post": {
            "summary": "Ask the carrier to end a call (the caller's own; managers: their team's; "
            "admins: any). The end arrives as call_updated through the carrier's callbacks",
            "parameters": [_path("call_id")],
            "responses": {
                "202": _json(
                    {
                        "type": "object",
                        "properties": {"ok": {"const": True}, "call_id": {"type": "integer"}},
                    },
                    "The carrier accepted",
                ),
                **_errors(401, 404),
                "409": _json(
                    {"$ref": "#/components/schemas/Error"},
                    "code call_ended, call_not_placed (not confirmed by the carrier yet) or "
                    "hangup_not_supported (the carrier's adapter cannot end calls)",
                ),
                "503": _json({"$ref": "#/components/schemas/Error"}, "The carrier failed"),
            },
        }
    },
    "/api/presence": {
        "get": {
            "summary": "Wallboard: presence and today's counters of the agents visible to the "
            "caller (admins: all, managers: their team, agents: themselves)",
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "data": {"type": "array", "items": {"$ref": REF + "AgentPresence"}},
                            "as_of": {"type": "string", "format": "date-time"},
                        },
                    }
                ),
                **_errors(401),
            },
        }
    },
}
