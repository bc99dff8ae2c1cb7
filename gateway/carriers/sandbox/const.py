"""Sandbox call status vocabulary, deterministic outcomes and its mapping onto Dialgate's."""

from gateway.models import CallOutcome, CallStatus, Direction

NAME = "sandbox"
SIGNATURE_HEADER = "X-Sandbox-Signature"
SIGNATURE_TOLERANCE_S = 300

STATUS_MAP: dict[str, tuple[CallStatus, CallOutcome | None]] = {
    "queued": (CallStatus.QUEUED, None),
    "initiated": (CallStatus.INITIATED, None),
    "ringing": (CallStatus.RINGING, None),
    "answered": (CallStatus.IN_PROGRESS, None),
    "completed": (CallStatus.COMPLETED, CallOutcome.COMPLETED),
    "busy": (CallStatus.COMPLETED, CallOutcome.BUSY),
    "no-answer": (CallStatus.COMPLETED, CallOutcome.NO_ANSWER),
    "failed": (CallStatus.COMPLETED, CallOutcome.FAILED),
    "canceled": (CallStatus.COMPLETED, CallOutcome.CANCELED),
}

DIRECTION_MAP = {"inbound": Direction.INBOUND, "outbound": Direction.OUTBOUND}

# Like test card numbers: the dialed number's last four digits pick the outcome.
OUTCOME_BY_SUFFIX = {"0001": "busy", "0002": "no-answer", "0003": "failed"}

WEBHOOK_KINDS = frozenset({"status", "voice"})


def scripted_outcome(number: str) -> str:
    """`busy`, `no-answer`, `failed`, or `completed` (rings, answers, talks) for a number."""
    return OUTCOME_BY_SUFFIX.get(number[-4:], "completed")
