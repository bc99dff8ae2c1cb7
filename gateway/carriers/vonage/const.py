"""Vonage's call states, webhook kinds and API constants, and how they map onto Dialgate's."""

from gateway.models import CallOutcome, CallStatus, Direction

NAME = "vonage"
DEFAULT_API_BASE_URL = "https://api.nexmo.com"

# The answer webhook is fetched when a leg is answered and must be answered with an NCCO;
# every call-state change goes to the event webhook.
# https://developer.vonage.com/en/voice/voice-api/webhook-reference
ANSWER = "answer"
EVENT = "event"
WEBHOOK_KINDS = frozenset({ANSWER, EVENT})
SYNC_KINDS = frozenset({ANSWER})

# Our own query parameter on the answer/event URLs we hand Vonage: which leg of a click-to-call
# the request is about. Vonage's events carry no parent id, only the shared conversation_uuid.
LEG_PARAM = "leg"
OUR_PARAMS = frozenset({"call_id", LEG_PARAM})

# Signed webhooks: `Authorization: Bearer <JWT HS256 signed with the signature secret>`.
# Vonage's other signed webhooks expire after 5 minutes; the same window bounds replay here.
SIGNATURE_TOLERANCE_S = 300

# Application JWTs (REST auth) live as long as vonage-jwt's default: 15 minutes.
APPLICATION_JWT_TTL_S = 15 * 60
# `ringing_timer` of a created call: 1-120 s (Voice API create-call reference).
RINGING_TIMER_MIN_S, RINGING_TIMER_MAX_S = 1, 120

# carrier_status we record for the answer webhook itself (it carries no `status`).
ANSWER_WEBHOOK_STATUS = "answer"

# Every `status` of the event webhook reference (and the SDKs' CallState enums).
STATUS_MAP: dict[str, tuple[CallStatus, CallOutcome | None]] = {
    # An inbound `started` is a caller waiting for us: mapped to ringing in parse.
    "started": (CallStatus.INITIATED, None),
    "ringing": (CallStatus.RINGING, None),
    "answered": (CallStatus.IN_PROGRESS, None),
    # Machine detection's verdict arrives after `answered`: answered by someone or something.
    "human": (CallStatus.IN_PROGRESS, None),
    "machine": (CallStatus.IN_PROGRESS, None),
    # Sent when a leg's media connection (e.g. a WebSocket) drops; the call may go on with a
    # new NCCO and its `completed` still follows, so it never ends a call here.
    "disconnected": (CallStatus.IN_PROGRESS, None),
    "completed": (CallStatus.COMPLETED, CallOutcome.COMPLETED),
    "busy": (CallStatus.COMPLETED, CallOutcome.BUSY),
    # Cancelled by the originator before it was answered.
    "cancelled": (CallStatus.COMPLETED, CallOutcome.CANCELED),
    # Unreachable or declined by the callee.
    "unanswered": (CallStatus.COMPLETED, CallOutcome.NO_ANSWER),
    # Rang longer than ringing_timer / the connect action's timeout.
    "timeout": (CallStatus.COMPLETED, CallOutcome.NO_ANSWER),
    # Rejected by Vonage before it was connected.
    "rejected": (CallStatus.COMPLETED, CallOutcome.FAILED),
    "failed": (CallStatus.COMPLETED, CallOutcome.FAILED),
}

# Statuses after which a leg is over (the STATUS_MAP entries that complete a call).
TERMINAL = frozenset(k for k, (status, _) in STATUS_MAP.items() if status == CallStatus.COMPLETED)

DIRECTION_MAP: dict[str, Direction] = {
    "inbound": Direction.INBOUND,
    "outbound": Direction.OUTBOUND,
}

# Events without a `status` field: what they are is told by the fields they carry.
RECORD, INPUT, TRANSFER, ERROR = "record", "input", "transfer", "error"
