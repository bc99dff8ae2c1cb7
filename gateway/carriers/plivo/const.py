"""Plivo's call vocabulary (CallStatus, Dial events, hangup causes) mapped onto Dialgate's."""

from gateway.models import CallOutcome, CallStatus, Direction

NAME = "plivo"
DEFAULT_API_BASE_URL = "https://api.plivo.com"

# https://www.plivo.com/docs/voice/xml/request/validation
SIGNATURE_HEADER = "X-Plivo-Signature-V3"
NONCE_HEADER = "X-Plivo-Signature-V3-Nonce"

# Webhook kinds, one per URL Plivo is given:
#   answer  answer_url of the Make Call API and of the number's Application (replies Plivo XML)
#   ring    ring_url of the Make Call API
#   hangup  hangup_url of the Make Call API and of the Application
#   dial    the <Dial callbackUrl>: live events of the dialled (B) leg
#   action  the <Dial action>: the dial's final result (replies Plivo XML)
ANSWER, RING, HANGUP, DIAL, ACTION = "answer", "ring", "hangup", "dial", "action"
WEBHOOK_KINDS = frozenset({ANSWER, RING, HANGUP, DIAL, ACTION})
# Plivo waits for the answer URL's XML, so its request is applied before we reply.
SYNC_KINDS = frozenset({ANSWER})

# CallStatus on answer/ring/hangup requests and DialStatus on the Dial action share one
# vocabulary: https://www.plivo.com/docs/account/api/application/ (ringing, in-progress,
# completed; outbound also busy, failed, timeout, no-answer) and
# https://docs.plivo.com/docs/voice/use-cases/dial-status-reporting (adds `cancel`).
STATUS_MAP: dict[str, tuple[CallStatus, CallOutcome | None]] = {
    "ringing": (CallStatus.RINGING, None),
    "in-progress": (CallStatus.IN_PROGRESS, None),
    "completed": (CallStatus.COMPLETED, CallOutcome.COMPLETED),
    "busy": (CallStatus.COMPLETED, CallOutcome.BUSY),
    "failed": (CallStatus.COMPLETED, CallOutcome.FAILED),
    # "There was a timeout while connecting your call": the callee never picked up.
    "timeout": (CallStatus.COMPLETED, CallOutcome.NO_ANSWER),
    "no-answer": (CallStatus.COMPLETED, CallOutcome.NO_ANSWER),
    "cancel": (CallStatus.COMPLETED, CallOutcome.CANCELED),
}

# DialAction of the <Dial callbackUrl> requests (https://www.plivo.com/docs/voice/xml/dial/).
# `hangup` is terminal; its outcome comes from the B leg's duration and hangup cause.
# `digits` (digitsMatch) is never requested by Dialgate and stays unmapped.
DIAL_ACTION_MAP: dict[str, CallStatus] = {
    "answer": CallStatus.IN_PROGRESS,
    "connected": CallStatus.IN_PROGRESS,
    "hangup": CallStatus.COMPLETED,
}

# DialBLegHangupCause / HangupCause carry the standard telephony cause as FreeSWITCH names it
# (NORMAL_CLEARING, USER_BUSY, ...; plivo/plivoframework forwards FreeSWITCH's Hangup-Cause).
# Only causes whose meaning for an unanswered leg is unambiguous are listed.
HANGUP_CAUSE_OUTCOMES: dict[str, CallOutcome] = {
    "USER_BUSY": CallOutcome.BUSY,
    "NO_ANSWER": CallOutcome.NO_ANSWER,
    "NO_USER_RESPONSE": CallOutcome.NO_ANSWER,
    "CALL_REJECTED": CallOutcome.NO_ANSWER,
    "ORIGINATOR_CANCEL": CallOutcome.CANCELED,
    "UNALLOCATED_NUMBER": CallOutcome.FAILED,
    "NO_ROUTE_DESTINATION": CallOutcome.FAILED,
    "NUMBER_CHANGED": CallOutcome.FAILED,
    "INVALID_NUMBER_FORMAT": CallOutcome.FAILED,
    "DESTINATION_OUT_OF_ORDER": CallOutcome.FAILED,
    "NETWORK_OUT_OF_ORDER": CallOutcome.FAILED,
    "NORMAL_TEMPORARY_FAILURE": CallOutcome.FAILED,
    "OUTGOING_CALL_BARRED": CallOutcome.FAILED,
}

# Plivo's own hangup codes (https://docs.plivo.com/docs/voice/troubleshooting/hangup-causes),
# used for call records fetched back, which carry no status: 1000 the Hangup API canceled it
# before answer; 1010/1020 out of credits, dial limit; 2000-2070 destination problems.
CANCELED_HANGUP_CODES = frozenset({1000})
FAILED_HANGUP_CODES = range(1010, 3000)

DIRECTION_MAP: dict[str, Direction] = {
    "inbound": Direction.INBOUND,
    "outbound": Direction.OUTBOUND,
}

# Every status value Plivo documents, for the exhaustive mapping test.
DOCUMENTED_STATUSES = frozenset(STATUS_MAP) | frozenset(DIAL_ACTION_MAP)

# Seconds the customer's phone may ring from our <Dial>.
DIAL_TIMEOUT_S = 30
