"""Exotel's call status vocabulary, webhook kinds and how they map onto Dialgate's."""

from gateway.models import CallOutcome, CallStatus, Direction

NAME = "exotel"

# Regions of the REST API (https://developer.exotel.com/docs/voice-v1/api-reference/connect-two-numbers).
API_HOSTS = frozenset({"api.exotel.com", "api.in.exotel.com"})
DEFAULT_API_HOST = "api.exotel.com"
# Exotel sends local times without a zone; accounts run on India time unless told otherwise.
DEFAULT_TIME_ZONE = "Asia/Kolkata"

# status: the StatusCallback of a call we placed (per-call signed URL).
# passthru: a synchronous Passthru at the start of an inbound flow (200: branch A, 302: B).
# connect: the Connect applet's dynamic "Dial whom" URL (we answer with the number to ring).
# hangup: an asynchronous Passthru placed last in every branch of the flow: the call is over.
WEBHOOK_KINDS = frozenset({"status", "passthru", "connect", "hangup"})
SYNC_KINDS = frozenset({"passthru", "connect"})
INBOUND_KINDS = frozenset({"passthru", "connect", "hangup"})

# The connect API caps a call at 4 hours (TimeLimit, max 14400 s); we ask for that cap explicitly
# so a per-call callback token can be given a lifetime that outlasts the call for certain.
TIME_LIMIT_S = 14400
# Token lifetime: the longest call, its ring time, plus room for Exotel's delayed deliveries
# and its two retries (https://developer.exotel.com/docs/references/webhooks).
CALLBACK_TOKEN_TTL_S = TIME_LIMIT_S + 2 * 3600

STATUS_CALLBACK_EVENTS = ("terminal", "answered")
STATUS_CALLBACK_CONTENT_TYPE = "application/json"

# Values of `Status` (StatusCallback, Call details API), `Legs[n][Status]`, Passthru's `CallStatus`
# and `DialCallStatus`. Sources: status-callback and connect-two-numbers API references,
# support article 3000088074 (Dial whom), frappe/crm's Exotel handler.
STATUS_MAP: dict[str, tuple[CallStatus, CallOutcome | None]] = {
    "queued": (CallStatus.QUEUED, None),
    # Exotel reports an empty status for a leg that is being dialed; parse names it "ringing".
    "ringing": (CallStatus.RINGING, None),
    "in-progress": (CallStatus.IN_PROGRESS, None),
    "completed": (CallStatus.COMPLETED, CallOutcome.COMPLETED),
    "busy": (CallStatus.COMPLETED, CallOutcome.BUSY),
    "no-answer": (CallStatus.COMPLETED, CallOutcome.NO_ANSWER),
    "failed": (CallStatus.COMPLETED, CallOutcome.FAILED),
    "canceled": (CallStatus.COMPLETED, CallOutcome.CANCELED),
    # Leg status "null": the leg was never attempted. Only used for the customer leg of a call
    # whose agent answered and hung up before the customer was rung: nobody reached the lead.
    "null": (CallStatus.COMPLETED, CallOutcome.CANCELED),
}

# Passthru's `CallType` (https://support.exotel.com/support/solutions/articles/48283).
# call-attempt: the caller is in the flow and no Connect applet has run yet. At the start of a
# flow that is a call waiting for an agent (ringing, like Twilio's inbound voice request); at
# the end of a flow (the `hangup` kind) nobody was connected: a missed call.
CALL_TYPE_MAP: dict[str, tuple[CallStatus, CallOutcome | None]] = {
    "call-attempt": (CallStatus.RINGING, None),
    "completed": (CallStatus.COMPLETED, CallOutcome.COMPLETED),
    "client-hangup": (CallStatus.COMPLETED, CallOutcome.CANCELED),
    "incomplete": (CallStatus.COMPLETED, CallOutcome.NO_ANSWER),
    # The caller was sent to voicemail: nobody answered.
    "voicemail": (CallStatus.COMPLETED, CallOutcome.NO_ANSWER),
}
CALL_ATTEMPT_AT_HANGUP = (CallStatus.COMPLETED, CallOutcome.NO_ANSWER)
# `CallType=incomplete` says no agent picked up; `DialCallStatus` says why (frappe/crm reads it).
INCOMPLETE_OUTCOMES: dict[str, CallOutcome] = {
    "busy": CallOutcome.BUSY,
    "no-answer": CallOutcome.NO_ANSWER,
    "failed": CallOutcome.FAILED,
    "canceled": CallOutcome.CANCELED,
}

DOCUMENTED_STATUSES = frozenset(STATUS_MAP) | frozenset(CALL_TYPE_MAP)

DIRECTION_MAP: dict[str, Direction] = {
    "inbound": Direction.INBOUND,
    "incoming": Direction.INBOUND,
    "outbound-api": Direction.OUTBOUND,
    "outbound-dial": Direction.OUTBOUND,
}
