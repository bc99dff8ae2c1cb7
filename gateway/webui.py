"""The browser consoles: the agent console at /app/, the manager console at /manager."""

from pathlib import Path

from aiohttp import web

routes = web.RouteTableDef()
BUILT = Path(__file__).parent / "static" / "app"
# The bundles keep fixed names across builds, so browsers must revalidate them.
NO_CACHE = {"Cache-Control": "no-cache"}
NOT_BUILT = "The web consoles are not built: run scripts/bootstrap (npm ci and the build in web/)."


def _page(name: str) -> web.StreamResponse:
    path = BUILT / name
    if not path.is_file():
        return web.Response(status=503, text=NOT_BUILT)
    return web.FileResponse(path, headers=NO_CACHE)


@routes.get("/app")
async def agent_redirect(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/app/")


@routes.get("/app/")
async def agent_console(request: web.Request) -> web.StreamResponse:
    return _page("agent.html")


@routes.get("/manager")
async def manager_console(request: web.Request) -> web.StreamResponse:
    return _page("manager.html")


# One path segment of safe characters: no way to walk out of the build folder.
@routes.get(r"/app/assets/{name:[A-Za-z0-9][A-Za-z0-9._-]*}")
async def asset(request: web.Request) -> web.StreamResponse:
    path = BUILT / request.match_info["name"]
    if not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers=NO_CACHE)
