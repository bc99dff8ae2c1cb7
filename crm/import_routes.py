"""REST routes of bulk lead imports: upload a CSV, follow the job, read its row issues."""

import asyncio
import csv
import io
import secrets
from pathlib import Path
from typing import IO, Any

from aiohttp import BodyPartReader, web

from crm.importer.runtime import imports_key
from crm.importer.service import (
    ISSUE_CODES,
    create_job,
    imports_dir,
    issue_to_json,
    job_to_json,
    list_issues,
    list_jobs,
    parse_options,
    require_importer,
    visible_job,
)
from gateway.auth import current
from gateway.errors import InvalidInput, NotFound, PayloadTooLarge, UnsupportedMediaType
from gateway.keys import sessionmaker_key, settings_key
from gateway.pagination import decode_cursor, parse_limit

routes = web.RouteTableDef()
CSV_TYPES = ("text/csv", "application/csv", "text/plain", "application/vnd.ms-excel")
OPTION_FIELDS = ("mapping", "default_region", "on_existing", "source", "team_id", "owner_id")
WRITE_BLOCK = 1024 * 1024
MAX_FIELD_BYTES = 64 * 1024
CSV_PAGE = 5000


def _job_id(request: web.Request) -> int:
    raw = request.match_info["job_id"]
    if not raw.isdigit():
        raise NotFound("no such import", field="job_id")
    return int(raw)


class _Upload:
    """The request body streamed to a new file under the data directory, with a size cap."""

    def __init__(self, directory: Path, limit: int) -> None:
        # Absolute: the job may be resumed by a process started from another directory.
        self.path = directory.resolve() / f"{secrets.token_hex(12)}.csv"
        self.limit = limit
        self.size = 0
        self.buffer = bytearray()
        self.file: IO[bytes] | None = None

    async def open(self) -> None:
        def make() -> IO[bytes]:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return self.path.open("xb")

        self.file = await asyncio.to_thread(make)

    async def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise PayloadTooLarge(
                f"the file is larger than {self.limit // 1024**2} MB; split it", field="file"
            )
        self.buffer.extend(data)
        if len(self.buffer) >= WRITE_BLOCK:
            await self.flush()

    async def flush(self) -> None:
        assert self.file is not None
        data, self.buffer = bytes(self.buffer), bytearray()
        await asyncio.to_thread(self.file.write, data)

    async def close(self) -> None:
        if self.file is not None:
            await self.flush()
            await asyncio.to_thread(self.file.close)
            self.file = None

    async def discard(self) -> None:
        if self.file is not None:
            await asyncio.to_thread(self.file.close)
            self.file = None
        await asyncio.to_thread(self.path.unlink, True)


async def _receive(request: web.Request, upload: _Upload) -> tuple[dict[str, Any], str | None]:
    """Store the CSV; the options from the query string and (multipart) the form fields."""
    options: dict[str, Any] = {k: request.query[k] for k in OPTION_FIELDS if k in request.query}
    if request.content_length is not None and request.content_length > upload.limit:
        raise PayloadTooLarge(
            f"the file is larger than {upload.limit // 1024**2} MB; split it", field="file"
        )
    filename: str | None = None
    if request.content_type in CSV_TYPES:
        async for data in request.content.iter_chunked(64 * 1024):
            await upload.write(data)
        return options, request.query.get("filename")
    if request.content_type != "multipart/form-data":
        raise UnsupportedMediaType(
            "send the CSV as text/csv or as the `file` part of multipart/form-data", field="body"
        )
    got_file = False
    async for part in await request.multipart():
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "file":
            if got_file:
                raise InvalidInput("send one file per import", field="file")
            got_file = True
            filename = part.filename
            while data := await part.read_chunk(64 * 1024):
                await upload.write(data)
        elif part.name in OPTION_FIELDS:
            value = await part.read(decode=True)
            if len(value) > MAX_FIELD_BYTES:
                raise InvalidInput(f"{part.name} is too long", field=part.name)
            options[part.name] = value.decode("utf-8", "replace")
    if not got_file:
        raise InvalidInput("the form has no `file` part", field="file")
    return options, filename


@routes.post("/api/imports")
async def post_import(request: web.Request) -> web.Response:
    principal = current(request)
    require_importer(principal)
    settings = request.app[settings_key]
    upload = _Upload(imports_dir(settings.data_dir), settings.import_max_bytes)
    await upload.open()
    try:
        raw_options, filename = await _receive(request, upload)
        await upload.close()
        if upload.size == 0:
            raise InvalidInput("the file is empty", field="file")
        options = parse_options(raw_options)
        async with request.app[sessionmaker_key]() as session:
            job = await create_job(
                session,
                org_id=principal.org_id,
                principal=principal,
                path=upload.path,
                filename=filename,
                options=options,
            )
            await session.commit()
    except BaseException:
        await upload.discard()
        raise
    assert job.id is not None
    request.app[imports_key].start(job.id)
    return web.json_response(job_to_json(job), status=202)


@routes.get("/api/imports")
async def get_imports(request: web.Request) -> web.Response:
    principal = current(request)
    q = request.query
    async with request.app[sessionmaker_key]() as session:
        jobs, next_cursor = await list_jobs(
            session,
            principal,
            limit=parse_limit(q.get("limit")),
            before_id=decode_cursor(q.get("cursor")),
        )
    return web.json_response({"data": [job_to_json(j) for j in jobs], "next_cursor": next_cursor})


@routes.get("/api/imports/{job_id}")
async def get_import(request: web.Request) -> web.Response:
    principal = current(request)
    async with request.app[sessionmaker_key]() as session:
        job = await visible_job(session, principal, _job_id(request))
    return web.json_response(job_to_json(job))


def _issues_csv(rows: list[dict[str, Any]], header: bool) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    if header:
        writer.writerow(["row", "code", "field", "message", "lead_id"])
    for r in rows:
        writer.writerow([r["row"], r["code"], r["field"] or "", r["message"], r["lead_id"] or ""])
    return out.getvalue().encode()


@routes.get("/api/imports/{job_id}/issues")
async def get_import_issues(request: web.Request) -> web.StreamResponse:
    principal = current(request)
    q = request.query
    code = q.get("code") or None
    if code is not None and code not in ISSUE_CODES:
        raise InvalidInput(f"code must be one of {', '.join(ISSUE_CODES)}", field="code")
    fmt = q.get("format", "json")
    if fmt not in ("json", "csv"):
        raise InvalidInput("format must be json or csv", field="format")
    sessionmaker = request.app[sessionmaker_key]
    async with sessionmaker() as session:
        job = await visible_job(session, principal, _job_id(request))
        if fmt == "json":
            issues, next_cursor = await list_issues(
                session,
                job_id=job.id or 0,
                code=code,
                limit=parse_limit(q.get("limit")),
                after_id=decode_cursor(q.get("cursor")),
            )
            return web.json_response(
                {"data": [issue_to_json(i) for i in issues], "next_cursor": next_cursor}
            )
    # The whole list as a download, read page by page (a 100,000-row file can have as many).
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="import-{job.id}-issues.csv"',
        }
    )
    await response.prepare(request)
    after: int | None = None
    first = True
    while True:
        async with sessionmaker() as session:
            page, _ = await list_issues(
                session, job_id=job.id or 0, code=code, limit=CSV_PAGE, after_id=after
            )
        await response.write(_issues_csv([issue_to_json(i) for i in page], first))
        first = False
        if len(page) < CSV_PAGE:
            break
        after = page[-1].id
    await response.write_eof()
    return response
