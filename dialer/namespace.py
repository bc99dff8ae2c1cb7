"""The `/dialer` Socket.IO namespace: agents dial here and receive live call state."""

import logging
from collections.abc import Mapping
from typing import Any

import socketio
from pydantic import ValidationError

from crm.calls import call_update_json
from dialer.clicktocall import DialRequest, start_call
from dialer.rooms import rooms_for
from gateway.auth import Principal, authenticate_token
from gateway.errors import DomainError, Unauthorized, from_validation_error
from gateway.keys import sessionmaker_key, settings_key

log = logging.getLogger(__name__)


def _ack_error(exc: DomainError) -> dict[str, Any]:
    ack: dict[str, Any] = {"ok": False, "code": exc.code, "message": exc.message}
    if exc.field:
        ack["field"] = exc.field
    ack.update(exc.extra)
    return ack


class DialerNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    def __init__(self, app: Mapping[Any, Any]) -> None:
        super().__init__("/dialer")
        self.app = app

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        if not token:
            header = environ.get("HTTP_AUTHORIZATION", "")
            if header.lower().startswith("bearer "):
                token = header[7:].strip()
        try:
            async with self.app[sessionmaker_key]() as session:
                principal = await authenticate_token(session, self.app[settings_key], token)
        except Unauthorized as exc:
            # Refusing here is how python-socketio rejects a connection with a reason.
            raise ConnectionRefusedError(exc.code) from None
        await self.save_session(sid, {"principal": principal})
        for room in rooms_for(principal):
            await self.enter_room(sid, room)
        await self.emit(
            "hello",
            {"user_id": principal.user_id, "role": principal.role, "name": principal.name},
            to=sid,
        )

    async def _principal(self, sid: str) -> Principal:
        session = await self.get_session(sid)
        principal = session.get("principal")
        assert isinstance(principal, Principal)
        return principal

    async def on_dial(self, sid: str, data: Any = None) -> dict[str, Any]:
        principal = await self._principal(sid)
        try:
            request = DialRequest.model_validate(data if isinstance(data, dict) else {})
            call = await start_call(self.app, principal, request)
        except ValidationError as exc:
            err = from_validation_error(exc)
            err.field = err.field or "lead_id"
            return _ack_error(err)
        except DomainError as exc:
            return _ack_error(exc)
        return {"ok": True, "call_id": call.id, "call": call_update_json(call)}
