"""Twilio's call status vocabulary and how it maps onto Dialgate's."""

from gateway.models import CallOutcome, CallStatus, Direction

NAME = "twilio"
SIGNATURE_HEADER = "X-Twilio-Signature"
# Public-beta Webhook Rules signing: "key=<shared key id>,algorithm=HMAC_SHA256".
SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"

# https://www.twilio.com/docs/voice/api/call-resource#call-status-values
STATUS_MAP: dict[str, tuple[CallStatus, CallOutcome | None]] = {
    "queued": (CallStatus.QUEUED, None),
    "initiated": (CallStatus.INITIATED, None),
    "ringing": (CallStatus.RINGING, None),
    "in-progress": (CallStatus.IN_PROGRESS, None),
    "completed": (CallStatus.COMPLETED, CallOutcome.COMPLETED),
    "busy": (CallStatus.COMPLETED, CallOutcome.BUSY),
    # Twilio reports rejected calls as no-answer.
    "no-answer": (CallStatus.COMPLETED, CallOutcome.NO_ANSWER),
    "failed": (CallStatus.COMPLETED, CallOutcome.FAILED),
    "canceled": (CallStatus.COMPLETED, CallOutcome.CANCELED),
}

DIRECTION_MAP: dict[str, Direction] = {
    "inbound": Direction.INBOUND,
    "outbound-api": Direction.OUTBOUND,
    "outbound-dial": Direction.OUTBOUND,
}

STATUS_CALLBACK_EVENTS = ("initiated", "ringing", "answered", "completed")
WEBHOOK_KINDS = frozenset({"status", "voice", "recording"})
