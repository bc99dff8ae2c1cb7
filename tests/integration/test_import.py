"""Bulk lead import over HTTP, Socket.IO and the CLI, on SQLite and PostgreSQL."""

import asyncio
import contextlib
import csv
import io
import json
import os
import re
import sys
import threading
import time
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio
import sqlalchemy as sa
from sqlmodel import col, func, select

from bench.lead_import import write_csv
from crm.importer.runtime import imports_key, make_pool, shutdown_pool
from crm.importer.service import create_job, parse_options
from gateway.keys import engine_key, sessionmaker_key
from gateway.models import (
    ImportJob,
    ImportRowIssue,
    IntegrationEvent,
    Lead,
    LeadPhone,
    LeadStatusChange,
    Organization,
)
from gateway.stopping import stop_tasks
from tests.conftest import Gateway, GatewayFactory

PRIYA = "+919876543210"  # a demo lead ("98765 43210")


async def start(start_gateway: GatewayFactory, tmp_path: Path, **overrides: Any) -> Gateway:
    values: dict[str, Any] = {"DATA_DIR": str(tmp_path / "data"), "IMPORT_WORKERS": 0}
    values.update(overrides)
    return await start_gateway(**values)


async def upload(
    gw: Gateway,
    token: str,
    body: str | bytes,
    *,
    params: dict[str, str] | None = None,
    content_type: str = "text/csv",
) -> tuple[int, Any]:
    data = body.encode() if isinstance(body, str) else body
    return await gw.request(
        "POST",
        "/api/imports",
        token,
        data=data,
        params=params or {},
        headers={"Content-Type": content_type},
    )


async def finished(gw: Gateway, token: str, job_id: int, timeout: float = 60) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            status, job = await gw.request("GET", f"/api/imports/{job_id}", token)
            assert status == 200, job
            if job["status"] in ("completed", "failed"):
                return dict(job)
            await asyncio.sleep(0.05)


async def issues(gw: Gateway, token: str, job_id: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    params = {"limit": "200"}
    while True:
        status, page = await gw.request(
            "GET", f"/api/imports/{job_id}/issues", token, params=params
        )
        assert status == 200, page
        found += page["data"]
        if not page["next_cursor"]:
            return found
        params["cursor"] = page["next_cursor"]


async def settle(gw: Gateway) -> None:
    """Wait for the gateway's import tasks to end (however they end)."""
    tasks = list(gw.app[imports_key].running.values())
    if tasks:
        await asyncio.wait(tasks, timeout=30)


async def lead_by_phone(gw: Gateway, token: str, number: str) -> dict[str, Any]:
    status, page = await gw.request("GET", "/api/leads", token, params={"q": number})
    assert status == 200
    (lead,) = page["data"]
    return dict(lead)


MIXED = (
    "\ufeffFull Name,Mobile,E-mail,Company,Address,Alt Phone,Tags,Status,Notes\r\n"
    'Asha Rao,98450 12301,ASHA@Example.com,Rao & Co,"12 MG Road\nBengaluru",'
    '+44 20 7946 0321,"vip, south",interested,ignored column\r\n'
    "\r\n"
    "Bad Number,12345,,,,,,,\r\n"
    "No Number,,nobody@example.com,,,,,,\r\n"
    "Asha Again,+91 98450-12301,,,,,,,\r\n"
    "Priya Existing,98765 43210,,,,,,,\r\n"
    "Dee NotCalled,+91 98450 12302,,,,,,,\r\n"
    "Eve Email,+1 (415) 555-2671,not-an-email,,,,,,\r\n"
    "Ragged Row,+1 415 555 2672,,,,,,,,,extra,cells\r\n"
    "Short Row,+1 650 253 0000\r\n"
    "Bad Status,+1 650 253 0001,,,,,,weird,\r\n"
    "Uma US,+1 (212) 555-0142,uma@example.com,,,not a number,,,\r\n"
)


async def test_mixed_file_lands_good_rows_and_reports_bad_ones(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw = await start(start_gateway, tmp_path)
    admin = await gw.login("admin@demo.test")
    status, _ = await gw.request(
        "POST", "/api/dnc", admin, json={"number": "+919845012302", "reason": "asked"}
    )
    assert status == 201
    status, job = await upload(gw, admin, MIXED, params={"source": "expo-2026"})
    assert status == 202, job
    assert job["status"] == "queued" and job["encoding"] == "utf-8-sig"
    assert job["mapping"] == {
        "Full Name": "name",
        "Mobile": "phone",
        "E-mail": "email",
        "Company": "company",
        "Address": "address",
        "Alt Phone": "alt_phones",
        "Tags": "tags",
        "Status": "status",
    }
    job = await finished(gw, admin, job["id"])
    assert job["status"] == "completed", job
    assert job["total_rows"] == 12 and job["processed_rows"] == 12 and job["percent"] == 100
    # Created: Asha, Short Row, Eve (bad e-mail dropped), Uma. Skipped: repeat, existing, DNC.
    # Errors: bad number, no number, ragged row, bad status.
    assert job["counters"] == {
        "created": 4,
        "updated": 0,
        "merged": 0,
        "skipped": 3,
        "errors": 4,
    }
    found = [(i["row"], i["code"], i["field"]) for i in await issues(gw, admin, job["id"])]
    assert found == [
        (4, "invalid_phone", "phone"),
        (5, "missing_phone", "phone"),
        (6, "duplicate_in_file", "phone"),
        (7, "exists_skipped", "phone"),
        (8, "dnc_suppressed", "phone"),
        (9, "invalid_email", "email"),
        (10, "bad_row", None),
        (12, "bad_row", "status"),
        (13, "invalid_phone", "alt_phones"),
    ]
    asha = await lead_by_phone(gw, admin, "+919845012301")
    assert asha["name"] == "Asha Rao" and asha["email"] == "asha@example.com"
    assert asha["address"] == "12 MG Road\nBengaluru" and asha["alt_phones"] == ["+442079460321"]
    assert asha["tags"] == ["vip", "south"] and asha["status"] == "interested"
    assert asha["source"] == "expo-2026" and asha["custom_fields"] == {}
    # The alternate number finds the lead too (it has its own lookup key).
    assert (await lead_by_phone(gw, admin, "+44 20 7946 0321"))["id"] == asha["id"]
    eve = await lead_by_phone(gw, admin, "+14155552671")
    assert eve["email"] is None and eve["status"] == "new"
    priya = await lead_by_phone(gw, admin, PRIYA)
    assert priya["name"] == "Priya Sharma"
    # Managers see the leads a manager imports: here the admin's import has no team.
    async with gw.app[sessionmaker_key]() as session:
        events = (
            await session.exec(
                select(IntegrationEvent).where(col(IntegrationEvent.type) == "import.completed")
            )
        ).all()
        assert [e.data["created"] for e in events] == [4]
        assert events[0].data["job_id"] == job["id"]
        lead_created = (
            await session.exec(
                select(func.count())
                .select_from(IntegrationEvent)
                .where(col(IntegrationEvent.type) == "lead.created")
            )
        ).one()
        assert lead_created == 0
        stored = await session.get(ImportJob, job["id"])
        assert stored is not None
        assert not Path(stored.source_path).exists()  # noqa: ASYNC240

    status, listing = await gw.request("GET", "/api/imports", admin)
    assert status == 200 and [j["id"] for j in listing["data"]] == [job["id"]]
    async with gw.http.get(
        f"{gw.url}/api/imports/{job['id']}/issues",
        params={"format": "csv", "code": "bad_row"},
        headers={"Authorization": f"Bearer {admin}"},
    ) as resp:
        assert resp.status == 200 and resp.content_type == "text/csv"
        rows = list(csv.reader(io.StringIO(await resp.text())))
    assert rows[0] == ["row", "code", "field", "message", "lead_id"]
    assert [(r[0], r[1], r[2]) for r in rows[1:]] == [
        ("10", "bad_row", ""),
        ("12", "bad_row", "status"),
    ]


async def test_bad_requests_are_refused_and_leave_no_file(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw = await start(start_gateway, tmp_path, IMPORT_MAX_BYTES=2048)
    admin = await gw.login("admin@demo.test")
    good = "Name,Phone\nAsha,98450 12301\n"
    for params, field in (
        ({"on_existing": "replace"}, "on_existing"),
        ({"mapping": "{not json"}, "mapping"),
        ({"mapping": '{"Phone": "fax"}'}, "mapping"),
        ({"mapping": '{"Mobile": "phone"}'}, "mapping"),
        ({"mapping": '{"Name": "name"}'}, "mapping"),
        ({"default_region": "XX"}, "default_region"),
        ({"team_id": "abc"}, "team_id"),
        ({"team_id": "999"}, "team_id"),
        ({"owner_id": "999"}, "owner_id"),
        ({"source": "x" * 65}, "source"),
    ):
        status, body = await upload(gw, admin, good, params=params)
        assert status == 400 and body["error"]["field"] == field, (params, body)
    status, body = await upload(gw, admin, "Name,Company\nAsha,Rao\n")
    assert status == 400 and body["error"]["field"] == "mapping"
    status, body = await upload(gw, admin, "\n\n")
    assert status == 400 and body["error"]["field"] == "file"
    status, body = await upload(gw, admin, good + "Ravi,98450 12302\n" * 200)
    assert status == 413 and body["error"]["field"] == "file"
    status, body = await upload(gw, admin, good, content_type="application/json")
    assert status == 415
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("on_existing", "skip")
    status, body = await gw.request("POST", "/api/imports", admin, data=form)
    assert status == 400 and body["error"]["field"] == "file"
    agent = await gw.login("agent1@demo.test")
    status, body = await upload(gw, agent, good)
    assert status == 403
    status, _ = await gw.request("GET", "/api/imports", agent)
    assert status == 403
    status, _ = await gw.request("GET", "/api/imports/12345", admin)
    assert status == 404
    leftovers = [p for p in (tmp_path / "data").rglob("*") if p.is_file()]
    assert leftovers == []
    status, page = await gw.request("GET", "/api/imports", admin)
    assert page["data"] == []


async def test_update_and_merge_existing_leads(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw = await start(start_gateway, tmp_path)
    admin = await gw.login("admin@demo.test")
    first = (
        "Name,Phone,Company,Email,Tags,Plan\n"
        "Asha Rao,98450 12301,,asha@example.com,vip,gold\n"
        "Ravi Iyer,98450 12302,Iyer Labs,,,\n"
    )
    mapping = json.dumps(
        {
            "Name": "name",
            "Phone": "phone",
            "Company": "company",
            "Email": "email",
            "Tags": "tags",
            "Plan": "custom:plan",
        }
    )
    _, job = await upload(gw, admin, first, params={"mapping": mapping})
    assert (await finished(gw, admin, job["id"]))["counters"]["created"] == 2
    asha = await lead_by_phone(gw, admin, "+919845012301")
    assert asha["custom_fields"] == {"plan": "gold"} and asha["source"] == "import"

    second = (
        "Name,Phone,Company,Email,Tags,Plan,Status,Other\n"
        "Asha R.,+91 98450-12301,Rao Textiles,new@example.com,hot,silver,callback,+91 98450 12399\n"
        "Ravi New,098450 12302,Other Co,ravi@example.com,,,,\n"
    )
    mapping2 = json.dumps({**json.loads(mapping), "Status": "status", "Other": "alt_phones"})
    _, job = await upload(gw, admin, second, params={"mapping": mapping2, "on_existing": "merge"})
    job = await finished(gw, admin, job["id"])
    assert job["counters"] == {"created": 0, "updated": 0, "merged": 2, "skipped": 0, "errors": 0}
    asha = await lead_by_phone(gw, admin, "+919845012301")
    # Merge fills what is empty and adds tags, numbers and custom fields; it keeps the rest.
    assert asha["name"] == "Asha Rao" and asha["company"] == "Rao Textiles"
    assert asha["email"] == "asha@example.com" and asha["tags"] == ["vip", "hot"]
    assert asha["custom_fields"] == {"plan": "gold"} and asha["status"] == "new"
    assert asha["alt_phones"] == ["+919845012399"]
    assert (await lead_by_phone(gw, admin, "98450 12399"))["id"] == asha["id"]
    ravi = await lead_by_phone(gw, admin, "+919845012302")
    assert ravi["name"] == "Ravi Iyer" and ravi["company"] == "Iyer Labs"
    assert ravi["email"] == "ravi@example.com"

    _, job = await upload(gw, admin, second, params={"mapping": mapping2, "on_existing": "update"})
    job = await finished(gw, admin, job["id"])
    assert job["counters"] == {"created": 0, "updated": 2, "merged": 0, "skipped": 0, "errors": 0}
    found = await issues(gw, admin, job["id"])
    assert [(i["row"], i["code"], i["lead_id"]) for i in found] == [
        (2, "exists_updated", asha["id"]),
        (3, "exists_updated", ravi["id"]),
    ]
    asha = await lead_by_phone(gw, admin, "+919845012301")
    assert asha["name"] == "Asha R." and asha["company"] == "Rao Textiles"
    assert asha["email"] == "new@example.com" and asha["custom_fields"] == {"plan": "silver"}
    assert asha["status"] == "callback" and asha["alt_phones"] == ["+919845012399"]
    async with gw.app[sessionmaker_key]() as session:
        changes = (
            await session.exec(
                select(LeadStatusChange).where(col(LeadStatusChange.lead_id) == asha["id"])
            )
        ).all()
        assert [(c.from_status, c.to_status) for c in changes] == [("new", "callback")]
        # One lookup row per number: merging twice added the alternate number once.
        keys = (
            await session.exec(
                select(func.count())
                .select_from(LeadPhone)
                .where(col(LeadPhone.lead_id) == asha["id"])
            )
        ).one()
        assert keys == 2


async def test_windows_encoded_semicolon_file_as_multipart(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw = await start(start_gateway, tmp_path)
    admin = await gw.login("admin@demo.test")
    text = "Nom;Téléphone;Ville\r\nRené Côté;+33 1 42 68 53 00;Paris\r\nZoë;06 12 34 56 78;Lyon\r\n"
    form = aiohttp.FormData()
    form.add_field("file", text.encode("cp1252"), filename="clients.csv", content_type="text/csv")
    form.add_field(
        "mapping", json.dumps({"nom": "name", "TÉLÉPHONE": "phone", "Ville": "custom:city"})
    )
    form.add_field("default_region", "fr")
    form.add_field("source", "salon")
    status, job = await gw.request("POST", "/api/imports", admin, data=form)
    assert status == 202, job
    assert job["filename"] == "clients.csv" and job["delimiter"] == ";"
    assert job["encoding"] == "cp1252" and job["options"]["default_region"] == "FR"
    job = await finished(gw, admin, job["id"])
    assert job["counters"]["created"] == 2, await issues(gw, admin, job["id"])
    rene = await lead_by_phone(gw, admin, "+33142685300")
    assert rene["name"] == "René Côté" and rene["custom_fields"] == {"city": "Paris"}
    assert rene["source"] == "salon"
    zoe = await lead_by_phone(gw, admin, "+33612345678")
    assert zoe["name"] == "Zoë"


async def test_progress_reaches_the_uploader_over_socketio(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw = await start(start_gateway, tmp_path, IMPORT_CHUNK_ROWS=2)
    manager = await gw.login("manager@demo.test")
    client = socketio.AsyncClient(reconnection=False)
    events: list[dict[str, Any]] = []
    done = asyncio.Event()

    async def on_progress(data: dict[str, Any]) -> None:
        events.append(data["job"])
        if data["job"]["status"] == "completed":
            done.set()

    client.on("import_progress", on_progress, namespace="/dialer")
    await client.connect(
        gw.url,
        namespaces=["/dialer"],
        auth={"token": manager},
        transports=["websocket"],
        wait_timeout=5,
    )
    gw.sockets.append(client)
    rows = "".join(f"Lead {i},+91 98450 1240{i}\n" for i in range(5))
    status, job = await upload(gw, manager, "Name,Phone\n" + rows)
    assert status == 202, job
    await asyncio.wait_for(done.wait(), 30)
    assert [e["processed_rows"] for e in events] == [2, 4, 5, 5]
    assert [e["status"] for e in events] == ["running"] * 3 + ["completed"]
    assert events[-1]["counters"]["created"] == 5 and events[-1]["percent"] == 100
    assert all(e["id"] == job["id"] for e in events)
    # A manager's import lands in the manager's team, so the manager sees the leads.
    lead = await lead_by_phone(gw, manager, "+919845012403")
    status, me = await gw.request("GET", "/api/auth/me", manager)
    assert lead["team_id"] == me.get("team_id") and lead["team_id"] is not None
    status, listing = await gw.request("GET", "/api/imports", manager)
    assert [j["id"] for j in listing["data"]] == [job["id"]]


async def imported_once(
    gw: Gateway, token: str, job: dict[str, Any], rows: int, expected: dict[str, int]
) -> None:
    """The finished job of a `crash_file` counted, reported and created every row once."""
    assert job["status"] == "completed" and job["processed_rows"] == rows
    assert job["counters"] == {
        "created": expected["created"],
        "updated": 0,
        "merged": 0,
        "skipped": expected["duplicate_in_file"],
        "errors": expected["invalid_phone"],
    }
    found = await issues(gw, token, job["id"])
    # Repeats of row 0 after a restart are still repeats, not "exists" (row 0 was imported).
    assert sorted({i["code"] for i in found}) == ["duplicate_in_file", "invalid_phone"]
    assert len({(i["row"], i["code"]) for i in found}) == len(found)
    assert len(found) == expected["duplicate_in_file"] + expected["invalid_phone"]
    async with gw.app[sessionmaker_key]() as session:
        phones = (await session.exec(select(Lead.phone).where(col(Lead.source) == "import"))).all()
        assert len(phones) == len(set(phones)) == expected["created"]
        keys = (
            await session.exec(
                select(func.count(), func.count(sa.distinct(col(LeadPhone.phone_key)))).where(
                    col(LeadPhone.lead_id).in_(select(Lead.id).where(col(Lead.source) == "import"))
                )
            )
        ).one()
        assert tuple(keys) == (expected["created"], expected["created"])
        events = (
            await session.exec(
                select(func.count())
                .select_from(IntegrationEvent)
                .where(col(IntegrationEvent.type) == "import.completed")
            )
        ).one()
        assert events == 1


def crash_file(rows: int) -> tuple[str, dict[str, int]]:
    """Numbers unique but every 10th row repeating row 0's, every 15th invalid."""
    lines = ["Name,Phone"]
    expected = {"created": 0, "duplicate_in_file": 0, "invalid_phone": 0}
    for i in range(rows):
        if i % 15 == 14:
            phone = "12345"
            expected["invalid_phone"] += 1
        elif i % 10 == 9:
            phone = "+91 98000 00000"
            expected["duplicate_in_file"] += 1
        else:
            phone = f"+91 {9800000000 + i}"
            expected["created"] += 1
        lines.append(f"Lead {i},{phone}")
    return "\n".join(lines) + "\n", expected


async def test_a_crash_mid_chunk_resumes_exactly_after_the_last_commit(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw = await start(start_gateway, tmp_path, IMPORT_CHUNK_ROWS=40)
    admin = await gw.login("admin@demo.test")

    async def crash(stage: str, chunk: int) -> None:
        # The process dies inside chunk 2's transaction, after its rows were written.
        if stage == "before_commit" and chunk == 2:
            raise asyncio.CancelledError

    gw.app[imports_key].hook = crash
    text, expected = crash_file(200)
    status, job = await upload(gw, admin, text)
    assert status == 202
    await settle(gw)
    status, stopped = await gw.request("GET", f"/api/imports/{job['id']}", admin)
    assert stopped["status"] == "running" and stopped["processed_rows"] == 80
    async with gw.app[sessionmaker_key]() as session:
        leads = (
            await session.exec(
                select(func.count()).select_from(Lead).where(col(Lead.source) == "import")
            )
        ).one()
        assert leads == stopped["counters"]["created"] == crash_file(80)[1]["created"]

    # A new process finds the job running and resumes it from its checkpoint.
    gw2 = await start(start_gateway, tmp_path)
    job = await finished(gw2, admin, job["id"])
    await imported_once(gw2, admin, job, 200, expected)


async def test_a_file_with_only_its_header_completes_with_no_rows(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw = await start(start_gateway, tmp_path)
    admin = await gw.login("admin@demo.test")
    status, job = await upload(gw, admin, "Name,Phone\r\n")
    assert status == 202, job
    done = await finished(gw, admin, job["id"])
    assert done["status"] == "completed"
    assert done["total_rows"] == 0 and done["processed_rows"] == 0
    # Blank lines are records too (numbered as a spreadsheet numbers them).
    status, job = await upload(gw, admin, "Name,Phone\n\n\n")
    assert status == 202, job
    done = await finished(gw, admin, job["id"])
    assert done["status"] == "completed"
    assert done["total_rows"] == 2 and done["processed_rows"] == 2


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_sqlite_settings_of_a_chunk_are_put_back_on_the_app_connections(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """A chunk is written without per-row foreign key checks and with rarer checkpoints;
    whether it commits or fails, the connection goes back to the app as it was."""
    gw = await start(start_gateway, tmp_path, IMPORT_CHUNK_ROWS=40)
    admin = await gw.login("admin@demo.test")
    engine = gw.app[engine_key]

    async def pooled_settings() -> set[tuple[int, int]]:
        """(foreign_keys, wal_autocheckpoint) of every connection idle in the pool."""
        async with contextlib.AsyncExitStack() as stack:
            conns = [
                await stack.enter_async_context(engine.connect())
                for _ in range(engine.pool.checkedin())
            ]
            return {
                (
                    (await c.exec_driver_sql("PRAGMA foreign_keys")).scalar_one(),
                    (await c.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar_one(),
                )
                for c in conns
            }

    async def fail(stage: str, chunk: int) -> None:
        if stage == "before_commit" and chunk == 1:
            raise RuntimeError("disk on fire")

    gw.app[imports_key].hook = fail
    text, _ = crash_file(100)
    status, job = await upload(gw, admin, text)
    assert status == 202
    failed = await finished(gw, admin, job["id"])
    assert failed["status"] == "failed" and "disk on fire" in failed["error"]
    # Chunk 0 committed, chunk 1 rolled back whole.
    assert failed["processed_rows"] == 40
    assert failed["counters"]["created"] == crash_file(40)[1]["created"]
    assert await pooled_settings() == {(1, 1000)}

    gw.app[imports_key].hook = None
    status, job = await upload(gw, admin, crash_file(100)[0].replace("Lead ", "Again "))
    assert status == 202
    done = await finished(gw, admin, job["id"])
    assert done["status"] == "completed" and done["total_rows"] == 100
    assert await pooled_settings() == {(1, 1000)}
    # Foreign keys are enforced again for the app.
    async with gw.app[sessionmaker_key]() as session:
        session.add(LeadPhone(org_id=1, lead_id=10**9, phone_key="x" * 43, is_primary=False))
        with pytest.raises(sa.exc.IntegrityError):
            await session.commit()


async def test_two_runners_of_one_job_never_import_a_chunk_twice(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw = await start(start_gateway, tmp_path, IMPORT_CHUNK_ROWS=25)
    admin = await gw.login("admin@demo.test")
    text, expected = crash_file(150)
    status, job = await upload(gw, admin, text)
    assert status == 202
    # A second process starting up at the same moment resumes the same queued job.
    gw2 = await start(start_gateway, tmp_path, IMPORT_CHUNK_ROWS=25)
    gw2.app[imports_key].start(job["id"])
    job = await finished(gw, admin, job["id"])
    await settle(gw)
    await settle(gw2)
    _, job = await gw.request("GET", f"/api/imports/{job['id']}", admin)
    assert job["processed_rows"] == 150 and job["counters"]["created"] == expected["created"]
    async with gw.app[sessionmaker_key]() as session:
        phones = (await session.exec(select(Lead.phone).where(col(Lead.source) == "import"))).all()
        assert len(phones) == len(set(phones)) == expected["created"]
        count = (
            await session.exec(
                select(func.count())
                .select_from(ImportRowIssue)
                .where(col(ImportRowIssue.job_id) == job["id"])
            )
        ).one()
        assert count == expected["duplicate_in_file"] + expected["invalid_phone"]


async def test_100k_rows_with_parallel_parsing(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw = await start(start_gateway, tmp_path, IMPORT_WORKERS=2)
    admin = await gw.login("admin@demo.test")
    path = tmp_path / "leads.csv"
    await asyncio.to_thread(write_csv, path, 100_000)
    body = await asyncio.to_thread(path.read_bytes)
    started = time.monotonic()
    status, job = await upload(gw, admin, body)
    assert status == 202, job
    # Generous: this machine's other work can slow it many times over.
    job = await finished(gw, admin, job["id"], timeout=600)
    elapsed = time.monotonic() - started
    counters = job["counters"]
    assert job["status"] == "completed" and job["processed_rows"] == 100_000
    assert sum(counters.values()) == 100_000
    assert counters["created"] > 85_000 and counters["errors"] > 3000
    assert counters["skipped"] > 4000
    async with gw.app[sessionmaker_key]() as session:
        phones = (
            await session.exec(
                select(func.count(), func.count(sa.distinct(col(Lead.phone)))).where(
                    col(Lead.source) == "import"
                )
            )
        ).one()
        assert tuple(phones) == (counters["created"], counters["created"])
    print(f"100k-row import: {elapsed:.2f} s")


async def test_cli_imports_a_file_and_prints_the_report(tmp_path: Path) -> None:
    """Runs on SQLite only: the command is the same job code as the API tests run on both."""
    root = Path(__file__).parents[2].absolute()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    env.update(
        PYTHONPATH=str(root),
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        DATA_DIR=str(tmp_path / "data"),
        ARGON2_TIME_COST="1",
        ARGON2_MEMORY_COST_KIB="256",
        IMPORT_CHUNK_ROWS="3",
    )

    async def dialgate(*args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway.cli",
            *args,
            env=env,
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        return proc.returncode or 0, out.decode(), err.decode()

    assert (await dialgate("migrate"))[0] == 0
    code, out, err = await dialgate(
        "create-user", "--org", "Acme", "--email", "boss@acme.test", "--password", "correct-horse",
        "--role", "admin", "--region", "GB",
    )  # fmt: skip
    assert code == 0, out + err
    path = tmp_path / "leads.csv"
    path.write_text(
        "Contact,Cell,Notes\n"
        "Ann,020 7946 0111,first\n"
        "Bob,07911 123456,\n"
        "Ann again,+44 20 7946 0111,\n"
        "Nobody,555,\n"
        "Cy,0161 496 0321,\n"
    )
    code, out, err = await dialgate(
        "leads", "import", str(path), "--org-id", "1", "--source", "cli",
        "--mapping", json.dumps({"Contact": "name", "Cell": "phone", "Notes": "custom:notes"}),
    )  # fmt: skip
    assert code == 0, out + err
    report = json.loads(out)
    assert report["status"] == "completed" and report["total_rows"] == 5
    assert report["counters"] == {
        "created": 3,
        "updated": 0,
        "merged": 0,
        "skipped": 1,
        "errors": 1,
    }
    assert report["issue_counts"] == {"duplicate_in_file": 1, "invalid_phone": 1}
    assert [(i["row"], i["code"]) for i in report["first_issues"]] == [
        (4, "duplicate_in_file"),
        (5, "invalid_phone"),
    ]
    # The first report may come before the records are counted.
    assert re.search(r"^import 1: 3(/5)? rows$", err, re.M), err
    assert path.exists()  # the operator's file stays
    # The same file again: every number now belongs to a lead.
    code, out, err = await dialgate("leads", "import", str(path), "--org-id", "1")
    assert code == 0, out + err
    assert json.loads(out)["counters"]["skipped"] == 4
    code, out, err = await dialgate(
        "leads", "import", str(path), "--org-id", "1", "--mapping", '{"Fax": "phone"}'
    )
    assert code != 0 and "mapping" in err


async def test_a_gateway_shut_down_mid_import_stops_cleanly_and_the_job_resumes(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw = await start(start_gateway, tmp_path, IMPORT_CHUNK_ROWS=100, IMPORT_WORKERS=2)
    admin = await gw.login("admin@demo.test")
    runtime = gw.app[imports_key]
    midway = asyncio.Event()

    async def note(stage: str, chunk: int) -> None:
        if stage != "after_commit":
            return
        if chunk == 2:
            midway.set()
        elif midway.is_set():
            # Paced from here on, so that the stop surely comes before the end of the file.
            await asyncio.sleep(0.05)

    runtime.hook = note
    text, expected = crash_file(3000)
    status, job = await upload(gw, admin, text)
    assert status == 202
    await asyncio.wait_for(midway.wait(), 60)
    assert runtime.pool is not None
    workers = list(getattr(runtime.pool, "_processes", {}).values())
    assert workers
    # The job is reading, parsing ahead in the worker processes and writing when the gateway
    # stops: the stop must end, and leave no worker behind.
    async with asyncio.timeout(30):
        await gw.server.close()
    assert not any(p.is_alive() for p in workers)
    async with gw.app[sessionmaker_key]() as session:
        stopped = await session.get(ImportJob, job["id"])
        assert stopped is not None
        # Still resumable: not failed, its checkpoint at a committed chunk.
        assert stopped.status == "running", stopped.error
        assert 300 <= stopped.processed_rows < 3000 and stopped.processed_rows % 100 == 0

    # A new gateway resumes the job from its checkpoint and imports nothing twice.
    gw2 = await start(start_gateway, tmp_path, IMPORT_CHUNK_ROWS=100, IMPORT_WORKERS=2)
    job = await finished(gw2, admin, job["id"])
    await imported_once(gw2, admin, job, 3000, expected)


async def test_a_stop_while_a_chunk_is_being_read_leaves_the_job_resumable(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw = await start(start_gateway, tmp_path, IMPORT_CHUNK_ROWS=50)
    admin = await gw.login("admin@demo.test")
    runtime = gw.app[imports_key]
    text, expected = crash_file(120)
    source = tmp_path / "source.csv"
    source.write_text(text)
    async with gw.app[sessionmaker_key]() as session:
        org_id = (await session.exec(select(Organization.id))).one()
        job = await create_job(
            session,
            org_id=org_id,
            principal=None,
            path=source,
            filename=source.name,
            options=parse_options({}),
        )
        # Counted already, so that nothing but the chunks reads the pipe below.
        job.total_rows = 120
        await session.commit()
        assert job.id is not None
        job_id = job.id
    # The file turns into a pipe whose writer stalls mid-file (as a slow mount would): the
    # job's reading thread is inside the file when the stop comes.
    source.unlink()
    os.mkfifo(source)
    opened, release = threading.Event(), threading.Event()

    def writer() -> None:
        # The stopped job may drop the file before reading it all.
        with contextlib.suppress(BrokenPipeError), open(source, "w") as pipe:
            opened.set()
            pipe.write(text[: len(text) // 2])
            pipe.flush()
            release.wait(30)
            pipe.write(text[len(text) // 2 :])

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        runtime.start(job_id)
        task = runtime.running[job_id]
        assert await asyncio.to_thread(opened.wait, 30)
        async with asyncio.timeout(10):
            await stop_tasks([task])
        assert task.cancelled()
    finally:
        release.set()
        await asyncio.to_thread(thread.join, 30)
    _, stopped = await gw.request("GET", f"/api/imports/{job_id}", admin)
    assert stopped["status"] == "running" and stopped["error"] is None
    assert stopped["processed_rows"] in (0, 50)

    source.unlink()
    source.write_text(text)
    runtime.start(job_id)
    done = await finished(gw, admin, job_id)
    assert done["status"] == "completed" and done["processed_rows"] == 120
    assert done["counters"]["created"] == expected["created"]
    async with gw.app[sessionmaker_key]() as session:
        phones = (await session.exec(select(Lead.phone).where(col(Lead.source) == "import"))).all()
        assert len(phones) == len(set(phones)) == expected["created"]


def test_a_wedged_parsing_process_cannot_hold_the_stop() -> None:
    pool = make_pool(2)
    assert pool is not None
    wedged = pool.submit(time.sleep, 600)
    idle = pool.submit(sum, [1, 2])
    assert idle.result(timeout=30) == 3 and wedged.running()
    processes = list(getattr(pool, "_processes", {}).values())
    assert len(processes) == 2
    # shutdown(wait=True) would wait the ten minutes out; the gateway's stop must not. (The
    # pool stops its idle workers only after every running call returned, so both go.)
    assert shutdown_pool(pool, grace_s=1.0) >= 1
    # Every process has ended: its sentinel is ready (is_alive() can lag while the pool's
    # manager thread reaps it).
    assert all(p.sentinel in wait([p.sentinel], 0) for p in processes)
