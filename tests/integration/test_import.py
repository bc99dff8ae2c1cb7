"""Bulk lead import over HTTP, Socket.IO and the CLI, on SQLite and PostgreSQL."""

import asyncio
import csv
import io
from pathlib import Path
from typing import Any

from sqlmodel import col, func, select

from gateway.keys import sessionmaker_key
from gateway.models import ImportJob, IntegrationEvent
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
