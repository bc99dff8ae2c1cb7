"""A Socket.IO client of the `/dialer` namespace that records every event, for dialer tests."""

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import socketio

from tests.conftest import Gateway

NS = "/dialer"


@dataclass
class DialerClient:
    client: socketio.AsyncClient
    events: list[tuple[str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    _beat: asyncio.Task[None] | None = None

    def of(self, name: str) -> list[Any]:
        return [data for event, data in self.events if event == name]

    async def wait_event(
        self,
        name: str,
        predicate: Callable[[Any], bool] = lambda _: True,
        timeout: float = 10.0,
        *,
        after: int = 0,
    ) -> Any:
        """The first `name` event matching `predicate`, among those from index `after` on."""

        async def scan() -> Any:
            while True:
                for event, data in self.events[after:]:
                    if event == name and predicate(data):
                        return data
                self.changed.clear()
                await self.changed.wait()

        return await asyncio.wait_for(scan(), timeout)

    async def wait_state(
        self, state: str, timeout: float = 10.0, *, after: int = 0, **match: Any
    ) -> Any:
        return await self.wait_event(
            "presence",
            lambda p: p["state"] == state and all(p.get(k) == v for k, v in match.items()),
            timeout,
            after=after,
        )

    def mark(self) -> int:
        """The index of the next event (to wait only for events from now on)."""
        return len(self.events)

    async def call(self, event: str, data: Any = None) -> Any:
        return await self.client.call(event, data if data is not None else {}, namespace=NS)

    def start_heartbeats(self, every: float = 0.2) -> None:
        async def beat() -> None:
            while self.client.connected:
                try:
                    await self.call("heartbeat")
                except Exception:
                    return  # disconnected meanwhile
                await asyncio.sleep(every)

        self._beat = asyncio.get_running_loop().create_task(beat())

    async def stop_heartbeats(self) -> None:
        if self._beat is not None:
            self._beat.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._beat
            self._beat = None

    async def disconnect(self) -> None:
        await self.stop_heartbeats()
        await self.client.disconnect()


async def connect(gw: Gateway, token: str) -> DialerClient:
    client = socketio.AsyncClient(reconnection=False)
    live = DialerClient(client)

    def record(event: str, data: Any) -> None:
        live.events.append((event, data))
        live.changed.set()

    client.on("*", record, namespace=NS)
    await client.connect(
        gw.url, namespaces=[NS], auth={"token": token}, transports=["websocket"], wait_timeout=5
    )
    gw.sockets.append(client)
    return live
