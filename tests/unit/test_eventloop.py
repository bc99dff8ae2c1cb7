"""The event loop and heap set-up of the gateway's processes (gateway/eventloop.py)."""

import asyncio
import gc
import sys

import pytest
import uvloop
from aiohttp import web
from pydantic import ValidationError

from gateway import eventloop
from gateway.settings import Settings


def test_auto_and_uvloop_choose_uvloop_when_installed() -> None:
    for name in ("auto", "uvloop"):
        loop = eventloop.loop_factory(name)()
        try:
            assert isinstance(loop, uvloop.Loop)
        finally:
            loop.close()


def test_asyncio_keeps_the_standard_loop() -> None:
    loop = eventloop.loop_factory("asyncio")()
    try:
        assert not isinstance(loop, uvloop.Loop)
        assert isinstance(loop, asyncio.BaseEventLoop)
    finally:
        loop.close()


def test_without_uvloop_auto_falls_back_and_uvloop_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now raises ImportError
    loop = eventloop.loop_factory("auto")()
    try:
        assert type(loop).__module__.startswith("asyncio")
    finally:
        loop.close()
    with pytest.raises(RuntimeError, match="uvloop is not installed"):
        eventloop.loop_factory("uvloop")


def test_run_runs_a_coroutine_on_the_chosen_loop() -> None:
    async def loop_type() -> type:
        return type(asyncio.get_running_loop())

    assert eventloop.run(loop_type(), "uvloop") is uvloop.Loop
    assert eventloop.run(loop_type(), "asyncio") is not uvloop.Loop


def test_event_loop_setting_rejects_unknown_values() -> None:
    assert Settings(_env_file=None).event_loop == "auto"
    with pytest.raises(ValidationError) as info:
        Settings(_env_file=None, EVENT_LOOP="tokio")
    assert "EVENT_LOOP" in str(info.value)


async def test_start_up_freezes_the_heap_out_of_the_collectors_reach() -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    kept = [object() for _ in range(10)]
    try:
        await eventloop._freeze_heap(web.Application())
        # Everything alive at start-up, this list among it, left the collected generations.
        assert gc.get_freeze_count() > len(kept)
        assert gc.is_tracked(kept) and not any(o is kept for o in gc.get_objects())
    finally:
        gc.unfreeze()
