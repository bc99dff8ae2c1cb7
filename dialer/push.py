"""Push call state to its audience over Socket.IO (one emit per call, to rooms)."""

import logging
from collections.abc import Mapping
from typing import Any

from crm.calls import call_to_json, call_update_json
from crm.leads import lead_to_json
from dialer.missed_sms import text_missed_calls
from dialer.presence import follow_calls
from dialer.rooms import agent_room, call_audience, org_supervisors_room, team_managers_room
from gateway.keys import sessionmaker_key, sio_key
from gateway.models import Call, Lead, User

log = logging.getLogger(__name__)
NAMESPACE = "/dialer"


async def push_calls(app: Mapping[Any, Any], calls: list[Call]) -> None:
    sio = app[sio_key]
    for call in calls:
        rooms = call_audience(org_id=call.org_id, agent_id=call.agent_id, team_id=call.team_id)
        try:
            await sio.emit("call_updated", call_update_json(call), to=rooms, namespace=NAMESPACE)
        except Exception:
            # The call is already committed; a push failure must not fail the carrier's request.
            log.exception("could not push call %s", call.id)
    # Calls move their agents' presence (on-call, wrap-up); never fails the caller either.
    await follow_calls(app, calls)


def responsible_room(org_id: int, team_id: int | None, person: User | None) -> str:
    """Who must act: the person if they still work here; failing that, the managers of the
    team, or else the organization's supervisors."""
    if person is not None and person.is_active and person.id is not None:
        return agent_room(person.id)
    if team_id is not None:
        return team_managers_room(team_id)
    return org_supervisors_room(org_id)


def missed_call_room(call: Call, lead: Lead | None, owner: User | None) -> str:
    """Who must call back: the lead's owner (or the agent the call rang); failing that,
    the managers of the lead's team, or else the organization's supervisors."""
    return responsible_room(call.org_id, (lead.team_id if lead else None) or call.team_id, owner)


async def push_missed_calls(app: Mapping[Any, Any], calls: list[Call]) -> None:
    """`missed_call` {"call", "lead"} for inbound calls nobody answered, after their commit."""
    if not calls:
        return
    sio = app[sio_key]
    for call in calls:
        try:
            async with app[sessionmaker_key]() as session:
                lead = await session.get(Lead, call.lead_id) if call.lead_id else None
                owner_id = (lead.owner_id if lead else None) or call.agent_id
                owner = await session.get(User, owner_id) if owner_id else None
            body = {"call": call_to_json(call), "lead": lead_to_json(lead) if lead else None}
            room = missed_call_room(call, lead, owner)
            await sio.emit("missed_call", body, to=room, namespace=NAMESPACE)
        except Exception:
            log.exception("could not push missed call %s", call.id)
    # The optional SMS (off by default) goes out in the background, never delaying the caller.
    text_missed_calls(app, calls)
