"""OpenAPI paths and schemas of the outgoing webhooks (subscriptions and deliveries)."""

from typing import Any

from crm.integrations.deliveries import STATUSES
from crm.integrations.subscriptions import ALL_EVENTS, EVENT_TYPES
from gateway.openapi import PAGING, TIMESTAMP, _errors, _json, _list_of, _path, _query

REF = "#/components/schemas/"
EVENTS = {
    "type": "array",
    "minItems": 1,
    "items": {"enum": [*EVENT_TYPES, ALL_EVENTS]},
    "description": "Event types to receive; '*' for all",
}
URL = {
    "type": "string",
    "maxLength": 2048,
    "description": "http:// or https:// URL that receives POSTs signed per Standard Webhooks",
}
ADMIN = " (admin)"


def _body(ref: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {"$ref": REF + ref}}}}


SCHEMAS: dict[str, Any] = {
    "WebhookSubscriptionCreate": {
        "type": "object",
        "required": ["url", "events"],
        "additionalProperties": False,
        "properties": {
            "url": URL,
            "events": EVENTS,
            "description": {"type": ["string", "null"], "maxLength": 200},
        },
    },
    "WebhookSubscriptionUpdate": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "url": URL,
            "events": EVENTS,
            "description": {"type": ["string", "null"], "maxLength": 200},
            "is_active": {
                "type": "boolean",
                "description": "false pauses sending; deliveries wait until it is true again",
            },
        },
    },
    "WebhookSubscription": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "url": {"type": "string"},
            "events": {"type": "array", "items": {"type": "string"}},
            "description": {"type": ["string", "null"]},
            "is_active": {"type": "boolean"},
            "secret_prefix": {
                "type": "string",
                "description": "The first characters of the signing secret",
            },
            "created_at": TIMESTAMP,
        },
    },
    "WebhookSubscriptionWithSecret": {
        "allOf": [
            {"$ref": REF + "WebhookSubscription"},
            {
                "type": "object",
                "properties": {
                    "secret": {
                        "type": "string",
                        "description": "whsec_... signing secret, shown only in this answer",
                    }
                },
            },
        ]
    },
    "WebhookDelivery": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "webhook_id": {
                "type": "string",
                "description": "The webhook-id header: the same for every attempt",
            },
            "subscription_id": {"type": "integer"},
            "event_id": {"type": "integer"},
            "event_type": {"type": "string"},
            "status": {"enum": list(STATUSES)},
            "attempts": {"type": "integer"},
            "next_attempt_at": {
                **TIMESTAMP,
                "description": "When it is tried next (pending or failed only)",
            },
            "last_status_code": {"type": ["integer", "null"]},
            "last_response": {
                "type": ["string", "null"],
                "description": "Start of the receiver's last answer (2,000 characters at most)",
            },
            "last_error": {"type": ["string", "null"], "description": "Timeout, refused, ..."},
            "created_at": TIMESTAMP,
            "delivered_at": TIMESTAMP,
        },
    },
    "WebhookDeliveryDetail": {
        "allOf": [
            {"$ref": REF + "WebhookDelivery"},
            {
                "type": "object",
                "properties": {
                    "payload": {
                        "type": "object",
                        "description": "The body sent",
                        "properties": {
                            "type": {"type": "string"},
                            "timestamp": TIMESTAMP,
                            "data": {"type": "object"},
                        },
                    }
                },
            },
        ]
    },
}

PATHS: dict[str, Any] = {
    "/api/webhook-subscriptions": {
        "get": {
            "summary": "Webhook subscriptions, newest first" + ADMIN,
            "parameters": [*PAGING],
            "responses": {
                "200": _json(_list_of(REF + "WebhookSubscription")),
                **_errors(400, 401, 403),
            },
        },
        "post": {
            "summary": "Subscribe a URL to events; the answer shows the secret once" + ADMIN,
            "requestBody": _body("WebhookSubscriptionCreate"),
            "responses": {
                "201": _json({"$ref": REF + "WebhookSubscriptionWithSecret"}, "Created"),
                **_errors(400, 401, 403),
            },
        },
    },
    "/api/webhook-subscriptions/{subscription_id}": {
        "get": {
            "summary": "One webhook subscription" + ADMIN,
            "parameters": [_path("subscription_id")],
            "responses": {
                "200": _json({"$ref": REF + "WebhookSubscription"}),
                **_errors(401, 403, 404),
            },
        },
        "patch": {
            "summary": "Change a subscription's URL, events, description or activity" + ADMIN,
            "parameters": [_path("subscription_id")],
            "requestBody": _body("WebhookSubscriptionUpdate"),
            "responses": {
                "200": _json({"$ref": REF + "WebhookSubscription"}),
                **_errors(400, 401, 403, 404),
            },
        },
        "delete": {
            "summary": "Delete a subscription and its delivery log" + ADMIN,
            "parameters": [_path("subscription_id")],
            "responses": {"204": {"description": "Deleted"}, **_errors(401, 403, 404)},
        },
    },
    "/api/webhook-subscriptions/{subscription_id}/rotate-secret": {
        "post": {
            "summary": "Replace the signing secret; later attempts use the new one" + ADMIN,
            "parameters": [_path("subscription_id")],
            "responses": {
                "200": _json({"$ref": REF + "WebhookSubscriptionWithSecret"}),
                **_errors(401, 403, 404),
            },
        }
    },
    "/api/webhook-deliveries": {
        "get": {
            "summary": "Deliveries of events to subscriptions, newest first" + ADMIN,
            "parameters": [
                _query("subscription_id", {"type": "integer"}, "Subscription"),
                _query("status", {"enum": list(STATUSES)}, "Delivery status"),
                *PAGING,
            ],
            "responses": {
                "200": _json(_list_of(REF + "WebhookDelivery")),
                **_errors(400, 401, 403),
            },
        }
    },
    "/api/webhook-deliveries/{delivery_id}": {
        "get": {
            "summary": "One delivery with the payload it sends" + ADMIN,
            "parameters": [_path("delivery_id")],
            "responses": {
                "200": _json({"$ref": REF + "WebhookDeliveryDetail"}),
                **_errors(401, 403, 404),
            },
        }
    },
    "/api/webhook-deliveries/{delivery_id}/replay": {
        "post": {
            "summary": "Send a delivery again now, whatever its status (one more attempt)" + ADMIN,
            "parameters": [_path("delivery_id")],
            "responses": {
                "202": _json({"$ref": REF + "WebhookDelivery"}, "Queued"),
                **_errors(401, 403, 404),
            },
        }
    },
}
