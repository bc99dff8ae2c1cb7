"""Typed application keys: every shared resource of the app, in one place."""

import asyncio
from typing import TYPE_CHECKING

import socketio
from aiohttp import ClientSession, web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from gateway.settings import Settings

if TYPE_CHECKING:
    pass

settings_key = web.AppKey("settings", Settings)
engine_key = web.AppKey("engine", AsyncEngine)
sessionmaker_key = web.AppKey("sessionmaker", async_sessionmaker[AsyncSession])
redis_key = web.AppKey("redis", Redis)
http_key = web.AppKey("http", ClientSession)
sio_key = web.AppKey("sio", socketio.AsyncServer)
carriers_key = web.AppKey("carriers", "CarrierRegistry")
tasks_key = web.AppKey("tasks", set[asyncio.Task[None]])
runtime_key = web.AppKey("carrier_runtime", "CarrierRuntime")
simulator_key = web.AppKey("sandbox_simulator", "Simulator")
