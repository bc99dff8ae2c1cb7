"""The one call state machine: ranks, the apply-or-not decision, and its effect on a call or leg."""

from datetime import datetime
from typing import Protocol

from gateway.models import CallOutcome, CallStatus

RANK: dict[str, int] = {
    CallStatus.QUEUED: 0,
    CallStatus.INITIATED: 1,
    CallStatus.RINGING: 2,
    CallStatus.IN_PROGRESS: 3,
    CallStatus.COMPLETED: 4,
}

APPLIED = "applied"
STALE = "stale"  # older than what we have: out of order or a retry
DUPLICATE_TERMINAL = "duplicate-terminal"
CONFLICTING_TERMINAL = "conflicting-terminal"  # recorded, never applied: the first outcome stands
UNKNOWN_STATUS = "unknown-status"  # stored and flagged, never dropped


class Trackable(Protocol):
    status: str
    outcome: str | None
    started_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    duration_s: int | None


def decide(
    current: str, current_outcome: str | None, new: str | None, new_outcome: str | None
) -> str:
    """Whether an event moves a call (or leg) forward; terminal states are never left."""
    if new is None:
        return UNKNOWN_STATUS
    if current == CallStatus.COMPLETED:
        if new != CallStatus.COMPLETED:
            return STALE
        return DUPLICATE_TERMINAL if new_outcome == current_outcome else CONFLICTING_TERMINAL
    return APPLIED if RANK[new] > RANK[current] else STALE


def advance(
    target: Trackable,
    status: CallStatus,
    outcome: CallOutcome | None,
    at: datetime,
    *,
    duration_s: int | None = None,
) -> None:
    """Apply an already-decided transition and stamp the times it implies."""
    target.status = status
    if RANK[status] >= RANK[CallStatus.INITIATED] and target.started_at is None:
        target.started_at = at
    if status == CallStatus.IN_PROGRESS and target.answered_at is None:
        target.answered_at = at
    if status == CallStatus.COMPLETED:
        resolved = outcome or CallOutcome.COMPLETED
        target.outcome = resolved
        target.ended_at = at
        if resolved == CallOutcome.COMPLETED:
            if duration_s is None and target.answered_at is not None:
                duration_s = max(0, round((at - target.answered_at).total_seconds()))
            target.duration_s = duration_s or 0
        else:
            target.duration_s = 0
