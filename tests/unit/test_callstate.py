"""The call state machine: forward-only, terminal is absorbing, the first outcome stands."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from gateway import callstate
from gateway.models import CallOutcome, CallStatus

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
ORDER = [
    CallStatus.QUEUED,
    CallStatus.INITIATED,
    CallStatus.RINGING,
    CallStatus.IN_PROGRESS,
    CallStatus.COMPLETED,
]


@dataclass
class Tracked:
    status: str = CallStatus.QUEUED
    outcome: str | None = None
    started_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    duration_s: int | None = None


@pytest.mark.parametrize("i", range(len(ORDER)))
@pytest.mark.parametrize("j", range(len(ORDER)))
def test_only_forward_moves_apply(i: int, j: int) -> None:
    current, new = ORDER[i], ORDER[j]
    outcome = CallOutcome.COMPLETED if new == CallStatus.COMPLETED else None
    current_outcome = CallOutcome.COMPLETED if current == CallStatus.COMPLETED else None
    decision = callstate.decide(current, current_outcome, new, outcome)
    if current == CallStatus.COMPLETED:
        expected = callstate.DUPLICATE_TERMINAL if new == current else callstate.STALE
    else:
        expected = callstate.APPLIED if j > i else callstate.STALE
    assert decision == expected


def test_disagreeing_terminal_is_flagged_not_applied() -> None:
    decision = callstate.decide(
        CallStatus.COMPLETED, CallOutcome.BUSY, CallStatus.COMPLETED, CallOutcome.COMPLETED
    )
    assert decision == callstate.CONFLICTING_TERMINAL


def test_unknown_status_is_flagged() -> None:
    assert callstate.decide(CallStatus.RINGING, None, None, None) == callstate.UNKNOWN_STATUS


def test_advance_stamps_times_and_derives_duration() -> None:
    call = Tracked()
    callstate.advance(call, CallStatus.INITIATED, None, T0)
    callstate.advance(call, CallStatus.RINGING, None, T0 + timedelta(seconds=1))
    callstate.advance(call, CallStatus.IN_PROGRESS, None, T0 + timedelta(seconds=3))
    callstate.advance(call, CallStatus.COMPLETED, CallOutcome.COMPLETED, T0 + timedelta(seconds=45))
    assert call.started_at == T0
    assert call.answered_at == T0 + timedelta(seconds=3)
    assert call.ended_at == T0 + timedelta(seconds=45)
    assert call.duration_s == 42
    assert call.outcome == CallOutcome.COMPLETED


def test_carrier_duration_wins_over_derived_one() -> None:
    call = Tracked(status=CallStatus.IN_PROGRESS, answered_at=T0)
    callstate.advance(
        call, CallStatus.COMPLETED, CallOutcome.COMPLETED, T0 + timedelta(seconds=10), duration_s=9
    )
    assert call.duration_s == 9


def test_unanswered_outcomes_have_zero_talk_time() -> None:
    call = Tracked()
    callstate.advance(call, CallStatus.COMPLETED, CallOutcome.BUSY, T0, duration_s=30)
    assert (call.status, call.outcome, call.duration_s) == ("completed", "busy", 0)
    # Jumping straight to the end still records when the call started.
    assert call.started_at == T0
