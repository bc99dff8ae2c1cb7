"""Push call state to its audience over Socket.IO (one emit per call, to rooms)."""

import logging
from collections.abc import Mapping
from typing import Any

from crm.calls import call_update_json
from dialer.presence import follow_calls
from dialer.rooms import call_audience
from gateway.keys import sio_key
from gateway.models import Call

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
