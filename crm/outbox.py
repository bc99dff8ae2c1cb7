"""Integration events (`call.completed`, `call.missed`, `lead.created`, ...) into the outbox.

Each is added in the transaction that caused it, so an event exists exactly when its cause
was committed; delivery to subscribers reads the outbox afterwards and never slows a call.
"""

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from crm.calls import call_to_json
from gateway.models import Call, CallOutcome, Direction, IntegrationEvent

# Set on a session that wrote events: its commit wakes this process's webhook dispatcher.
EVENTS_WRITTEN = "integration_events_written"


def emit(session: AsyncSession, *, org_id: int, type: str, data: dict[str, Any]) -> None:
    session.add(IntegrationEvent(org_id=org_id, type=type, data=data))
    session.info[EVENTS_WRITTEN] = True


def call_ended(session: AsyncSession, call: Call) -> bool:
    """`call.missed` for an inbound call nobody answered, `call.completed` for every other end.

    An inbound call can "complete" at the carrier with nobody on our side: answered by a
    recorded message (no agent), or for no time at all. Those are missed calls too.
    Returns whether the call was missed (its owner is alerted once it is committed).
    """
    missed = call.direction == Direction.INBOUND and (
        call.outcome != CallOutcome.COMPLETED or call.agent_id is None or not call.duration_s
    )
    emit(
        session,
        org_id=call.org_id,
        type="call.missed" if missed else "call.completed",
        data=call_to_json(call),
    )
    return missed
