"""The skeleton every carrier stand-in shares: an aiohttp server on a free port, plus a client."""

import asyncio
import base64
import binascii
from typing import Generic, Self, TypeVar

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

CallT = TypeVar("CallT")


class StandinServer:
    """A carrier REST API stand-in on 127.0.0.1 with an HTTP client for its callbacks.

    Subclasses answer every request in `_handle` (recording it as their wire format needs).
    """

    def __init__(self) -> None:
        self._server: TestServer | None = None
        self._http: aiohttp.ClientSession | None = None

    # --- lifecycle --------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return str(self._server.make_url("")).rstrip("/")

    @property
    def http(self) -> aiohttp.ClientSession:
        assert self._http is not None, "start() first"
        return self._http

    async def start(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # port=0 lets the OS pick a free port; TestServer reports the one it bound.
        self._server = TestServer(app, host="127.0.0.1", port=0)
        await self._server.start_server()
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        return self

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self._server is not None:
            await self._server.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError


class CallsStandin(StandinServer, Generic[CallT]):
    """A stand-in that keeps the calls created through it, by the carrier's call id."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: dict[str, CallT] = {}
        self._created = asyncio.Condition()

    async def wait_for_calls(self, count: int = 1, timeout: float = 10.0) -> list[CallT]:
        async with self._created:
            await asyncio.wait_for(
                self._created.wait_for(lambda: len(self.calls) >= count), timeout
            )
        return list(self.calls.values())

    async def _call_created(self, key: str, call: CallT) -> None:
        """Store a new call and wake whoever waits for it."""
        async with self._created:
            self.calls[key] = call
            self._created.notify_all()


def basic_auth(header: str | None) -> tuple[str, str] | None:
    """(user, password) from an HTTP Basic `Authorization` header, or None."""
    if not header or not header.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:], validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None
