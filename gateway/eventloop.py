"""How the gateway's processes run: the event loop (uvloop where installed) and the heap.

uvloop (libuv, in C) runs the same asyncio code with less CPU per callback, socket read and
write than the standard loop's Python implementation; the carrier-callback path spends a
good part of its time there. `EVENT_LOOP=asyncio` keeps the standard loop (for debugging, or
where uvloop is not available: it does not build on Windows).

Once the app has started, everything it built (modules, SQLAlchemy's metadata, phonenumbers'
tables: hundreds of thousands of objects) is moved out of the garbage collector's reach with
`gc.freeze()`. A full collection otherwise walks all of it, about 0.1 s during which no
request is served; that was the slowest 1 % of carrier callbacks' acknowledgements.
"""

import asyncio
import gc
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

from aiohttp import web

EventLoopName = Literal["auto", "uvloop", "asyncio"]
T = TypeVar("T")


def loop_factory(name: EventLoopName) -> Callable[[], asyncio.AbstractEventLoop]:
    """A function making new loops of the chosen kind; `auto`: uvloop if it can be imported."""
    if name == "asyncio":
        return asyncio.new_event_loop
    try:
        import uvloop
    except ImportError:
        if name == "uvloop":
            raise RuntimeError("EVENT_LOOP=uvloop, but uvloop is not installed") from None
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def new_loop(name: EventLoopName) -> asyncio.AbstractEventLoop:
    """A new loop for `aiohttp.web.run_app(..., loop=...)`, set as the thread's current one."""
    loop = loop_factory(name)()
    asyncio.set_event_loop(loop)
    return loop


def run(main: Coroutine[Any, Any, T], name: EventLoopName) -> T:
    """`asyncio.run(main)` on a loop of the chosen kind."""
    with asyncio.Runner(loop_factory=loop_factory(name)) as runner:
        return runner.run(main)


async def _freeze_heap(app: web.Application) -> None:
    gc.collect()
    gc.freeze()


def run_app(app: web.Application, name: EventLoopName, **kwargs: Any) -> None:
    """`aiohttp.web.run_app` on a loop of the chosen kind, the start-up heap frozen."""
    # After every other start-up step (cleanup contexts run first), so their objects go too.
    app.on_startup.append(_freeze_heap)
    web.run_app(app, loop=new_loop(name), print=None, **kwargs)
