"""The dialer's clock: compliance decisions read the time here, so tests can set it."""

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from aiohttp import web

from gateway.models import utcnow


class Clock:
    """Returns aware UTC datetimes; `set` swaps the source (the app is frozen once running)."""

    def __init__(self, source: Callable[[], datetime] = utcnow) -> None:
        self._source = source

    def now(self) -> datetime:
        value = self._source()
        if value.tzinfo is None:
            raise ValueError("the clock must return an aware datetime")
        return value

    def set(self, source: Callable[[], datetime]) -> None:
        self._source = source


clock_key = web.AppKey("dialer_clock", Clock)


def setup_clock(app: web.Application) -> None:
    app[clock_key] = Clock()


def now(app: Mapping[Any, Any]) -> datetime:
    clock: Clock | None = app.get(clock_key)
    return clock.now() if clock is not None else utcnow()
