"""The `/dialer` Socket.IO namespace: agents dial here and receive live call state."""

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import socketio
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crm.calls import call_update_json
from dialer import presence, progressive
from dialer.clicktocall import DialRequest, start_call
from dialer.hangup import hang_up
from dialer.queue import build_queue
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


class SetStateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    state: str = Field(min_length=1, max_length=16)
    reason: str | None = Field(default=None, max_length=64)


class ProgressiveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    enabled: bool


class QueueRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=20, ge=1, le=200)


class CallRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    call_id: int = Field(ge=1)


Handler = Callable[[Principal, dict[str, Any]], Awaitable[dict[str, Any]]]


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
        grace = self.app[settings_key].presence_grace_s
        await self.emit(
            "hello",
            {
                "user_id": principal.user_id,
                "role": principal.role,
                "name": principal.name,
                # Send `heartbeat` this often; silent sockets count as gone after the grace.
                "heartbeat_interval_s": round(grace / 3, 3),
            },
            to=sid,
        )
        snapshot, changed = await presence.socket_connected(self.app, principal, sid)
        if not changed:
            # A change reached this socket through the agent's room already.
            await self.emit("presence", snapshot.to_json(), to=sid)

    async def on_disconnect(self, sid: str, *args: Any) -> None:
        session = await self.get_session(sid)
        principal = session.get("principal")
        if isinstance(principal, Principal):
            await presence.socket_disconnected(self.app, principal, sid)

    async def _principal(self, sid: str) -> Principal:
        session = await self.get_session(sid)
        principal = session.get("principal")
        assert isinstance(principal, Principal)
        return principal

    async def _ack(self, sid: str, data: Any, handler: Handler, field: str) -> dict[str, Any]:
        """Run a handler; refusals become `{"ok": false, "code", "message", "field"?}`."""
        principal = await self._principal(sid)
        try:
            body = await handler(principal, data if isinstance(data, dict) else {})
        except ValidationError as exc:
            err = from_validation_error(exc)
            err.field = err.field or field
            return _ack_error(err)
        except DomainError as exc:
            return _ack_error(exc)
        return {"ok": True, **body}

    async def on_dial(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def handle(principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
            call = await start_call(self.app, principal, DialRequest.model_validate(body))
            return {"call_id": call.id, "call": call_update_json(call)}

        return await self._ack(sid, data, handle, "lead_id")

    async def on_set_state(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def handle(principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
            request = SetStateRequest.model_validate(body)
            snapshot = await presence.set_state(self.app, principal, request.state, request.reason)
            return {"presence": snapshot.to_json()}

        return await self._ack(sid, data, handle, "state")

    async def on_heartbeat(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def handle(principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
            snapshot = await presence.heartbeat(self.app, principal, sid)
            return {"presence": snapshot.to_json()}

        return await self._ack(sid, data, handle, "body")

    async def on_end_wrap_up(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def handle(principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
            ref = CallRef.model_validate(body)
            snapshot = await presence.end_wrap_up(self.app, principal, ref.call_id)
            return {"presence": snapshot.to_json()}

        return await self._ack(sid, data, handle, "call_id")

    async def on_hangup(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def handle(principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
            ref = CallRef.model_validate(body)
            await hang_up(self.app, principal, ref.call_id)
            return {"call_id": ref.call_id}

        return await self._ack(sid, data, handle, "call_id")

    async def on_set_progressive(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def handle(principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
            request = ProgressiveRequest.model_validate(body)
            snapshot = await presence.set_progressive(self.app, principal.user_id, request.enabled)
            return {"presence": snapshot.to_json()}

        return await self._ack(sid, data, handle, "enabled")

    async def on_skip_next(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def handle(principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
            await progressive.skip_next(self.app, principal.user_id)
            return {}

        return await self._ack(sid, data, handle, "body")

    async def on_cancel_next(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def handle(principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
            return {"canceled": await progressive.cancel_next(self.app, principal.user_id)}

        return await self._ack(sid, data, handle, "body")

    async def on_queue(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def handle(principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
            request = QueueRequest.model_validate(body)
            return {"queue": await build_queue(self.app, principal, limit=request.limit)}

        return await self._ack(sid, data, handle, "limit")
