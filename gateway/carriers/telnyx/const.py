"""Telnyx Call Control's event and hangup-cause vocabulary and how it maps onto Dialgate's."""

from gateway.models import CallOutcome, CallStatus, Direction

NAME = "telnyx"
DEFAULT_API_BASE_URL = "https://api.telnyx.com"
SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
# telnyx-python `lib/webhook_verification.py` (TIMESTAMP_TOLERANCE_SECONDS) rejects beyond 5 min.
SIGNATURE_TOLERANCE_S = 300

INITIATED = "call.initiated"
ANSWERED = "call.answered"
BRIDGED = "call.bridged"
HANGUP = "call.hangup"
SPEAK_ENDED = "call.speak.ended"

# https://developers.telnyx.com/api-reference/callbacks/call-hangup (`hangup_cause`), as listed
# by telnyx-python `types/call_hangup.py`. A hangup says nothing about whether the leg had been
# answered, so causes that can end either kind of leg are mapped as the unanswered case.
HANGUP_OUTCOMES: dict[str, CallOutcome] = {
    "normal_clearing": CallOutcome.COMPLETED,
    # The leg reached `time_limit_secs` after being answered.
    "time_limit": CallOutcome.COMPLETED,
    "user_busy": CallOutcome.BUSY,
    "no_answer": CallOutcome.NO_ANSWER,
    # `timeout_secs` ran out before an answer.
    "timeout": CallOutcome.NO_ANSWER,
    # SIP 603 Decline from the callee: a person refusing the call, as Twilio's no-answer.
    "call_rejected": CallOutcome.NO_ANSWER,
    "not_found": CallOutcome.FAILED,
    "unspecified": CallOutcome.FAILED,
    # The caller (for our legs: Dialgate or Telnyx on its behalf) hung up before an answer.
    "originator_cancel": CallOutcome.CANCELED,
}

# The carrier status Dialgate records is the event type, qualified where Telnyx puts the
# meaning in a second field: `call.initiated:{direction}`, `call.hangup:{hangup_cause}`.
STATUS_MAP: dict[str, tuple[CallStatus, CallOutcome | None]] = {
    f"{INITIATED}:outgoing": (CallStatus.INITIATED, None),
    # An incoming call is parked, ringing, until someone answers or transfers it.
    f"{INITIATED}:incoming": (CallStatus.RINGING, None),
    # `call.bridged` can precede `call.answered` (the transfer docs list it first: early media
    # is bridged while the far end rings), so it proves the leg is set up, never that it answered.
    BRIDGED: (CallStatus.RINGING, None),
    ANSWERED: (CallStatus.IN_PROGRESS, None),
    **{
        f"{HANGUP}:{cause}": (CallStatus.COMPLETED, outcome)
        for cause, outcome in HANGUP_OUTCOMES.items()
    },
}

DIRECTION_MAP: dict[str, Direction] = {
    "incoming": Direction.INBOUND,
    "outgoing": Direction.OUTBOUND,
}

# Every callback Telnyx sends for a call goes to one URL (the dial's or transfer's `webhook_url`,
# else the Call Control App's); `voice` exists for events that ask what to do next.
WEBHOOK_KINDS = frozenset({"status", "voice"})

# Call Control command error: https://developers.telnyx.com/development/api-fundamentals/api-errors
CALL_ENDED_ERROR = "90018"
# `timeout_secs` bounds on dial and transfer (telnyx-python `types/call_dial_params.py`).
MIN_TIMEOUT_S = 5
MAX_TIMEOUT_S = 600
# Telnyx's speak command needs a voice; `female` is the basic service level's speaker.
SPEAK_VOICE = "female"
SPEAK_LANGUAGE = "en-US"
