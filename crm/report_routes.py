"""REST routes for the managers' reports: GET /api/reports/<name> as JSON or a CSV download."""

from collections.abc import Awaitable, Callable

from aiohttp import web

from crm.reports.catalog import REPORTS, ReportSpec
from crm.reports.params import read_params
from gateway.auth import current
from gateway.errors import InvalidInput
from gateway.keys import sessionmaker_key

routes = web.RouteTableDef()


def wants_csv(request: web.Request) -> bool:
    """`format=csv|json` wins; without it, an Accept header naming text/csv asks for CSV."""
    fmt = request.query.get("format", "")
    if fmt:
        if fmt not in ("json", "csv"):
            raise InvalidInput("must be json or csv", field="format")
        return fmt == "csv"
    return "text/csv" in request.headers.get("Accept", "")


async def _serve(request: web.Request, spec: ReportSpec) -> web.Response:
    principal = current(request)
    as_csv = wants_csv(request)
    async with request.app[sessionmaker_key]() as session:
        params = await read_params(session, principal, request.query, group_by=spec.group_by)
        params.options.update(spec.options(request.query))
        report = await spec.run(session, params)
    if not as_csv:
        return web.json_response(report.to_json())
    return web.Response(
        text=report.to_csv(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{report.filename()}"'},
    )


@routes.get("/api/reports")
async def get_reports(request: web.Request) -> web.Response:
    current(request)
    data = [
        {
            "name": spec.name,
            "summary": spec.summary,
            "group_by": list(spec.group_by.choices) if spec.group_by else [],
            "url": f"/api/reports/{spec.name}",
        }
        for spec in REPORTS.values()
    ]
    return web.json_response({"data": data})


def _handler(spec: ReportSpec) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        return await _serve(request, spec)

    handler.__name__ = "get_report_" + spec.name.replace("-", "_")
    return handler


# One route per report, so that each is documented with its own parameters.
for _spec in REPORTS.values():
    routes.get(f"/api/reports/{_spec.name}")(_handler(_spec))
