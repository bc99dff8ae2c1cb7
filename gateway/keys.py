"""Typed application keys: every shared resource of the app, in one place."""

import asyncio

import socketio
from aiohttp import ClientSession, web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from gateway.carriers.base import CarrierRuntime
from gateway.carriers.registry import CarrierRegistry
from gateway.carriers.sandbox.simulator import Simulator
from gateway.settings import Settings
from gateway.write_turn import WriteTurn

settings_key = web.AppKey("settings", Settings)
engine_key = web.AppKey("engine", AsyncEngine)
sessionmaker_key = web.AppKey("sessionmaker", async_sessionmaker[AsyncSession])
redis_key = web.AppKey("redis", Redis)
http_key = web.AppKey("http", ClientSession)
sio_key = web.AppKey("sio", socketio.AsyncServer)
carriers_key = web.AppKey("carriers", CarrierRegistry)
runtime_key = web.AppKey("carrier_runtime", CarrierRuntime)
simulator_key = web.AppKey("sandbox_simulator", Simulator)
write_turn_key = web.AppKey("write_turn", WriteTurn)
# Background tasks (origination) that shutdown cancels.
tasks_key: web.AppKey[set[asyncio.Task[None]]] = web.AppKey("tasks")
