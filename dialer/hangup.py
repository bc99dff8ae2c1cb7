"""Hanging up: the agent (or a supervisor) asks the carrier to end a call.

The call is not marked ended here: the carrier's own callbacks report the end, through the
same path as any other end, so the record says what the carrier did.
"""

import logging
from collections.abc import Mapping
from typing import Any

from crm.calls import visible_call
from gateway.auth import Principal
from gateway.carriers.base import CarrierAPIError, NotSupported
from gateway.errors import Conflict, Unavailable
from gateway.keys import carriers_key, runtime_key, sessionmaker_key
from gateway.models import Call, CallStatus, CarrierAccount

log = logging.getLogger(__name__)


async def hang_up(app: Mapping[Any, Any], principal: Principal, call_id: int) -> Call:
    """Returns once the carrier accepted; refusals are domain errors naming `call_id`."""
    async with app[sessionmaker_key]() as session:
        # Agents reach their own calls, managers their team's, admins all (404 otherwise).
        call = await visible_call(session, principal, call_id)
        account = await session.get(CarrierAccount, call.account_id) if call.account_id else None
    if call.status == CallStatus.COMPLETED:
        raise Conflict("the call has already ended", field="call_id", code="call_ended")
    if call.carrier_call_id is None or account is None:
        raise Conflict(
            "the carrier has not confirmed the call yet; try again in a moment",
            field="call_id",
            code="call_not_placed",
        )
    adapter = app[carriers_key].get(account.carrier)
    assert adapter is not None
    try:
        await adapter.hangup(app[runtime_key], account.credentials, call.carrier_call_id)
    except NotSupported as exc:
        raise Conflict(exc.message, field="call_id", code="hangup_not_supported") from None
    except CarrierAPIError as exc:
        if exc.status in (404, 409):
            # The carrier's call is already over; its final callback is on its way.
            raise Conflict(
                "the call has already ended", field="call_id", code="call_ended"
            ) from None
        log.warning("carrier did not end call %s: %s", call_id, exc.message)
        raise Unavailable(
            f"the carrier did not end the call: {exc.message}",
            field="call_id",
            code="carrier_error",
        ) from None
    return call
