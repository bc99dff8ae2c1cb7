"""The import's JSON encoder writes exactly what `json.dumps` writes."""

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import select

from crm.importer.bulk import binder, json_binder, json_text
from crm.importer.job import ImportContext, run_job
from crm.importer.service import create_job, parse_options
from gateway.db import make_engine, make_sessionmaker
from gateway.models import Lead, Organization
from tests.conftest import seed
from tests.conftest import test_settings as settings_for

SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@given(VALUES)
def test_the_text_is_json_dumps_text(value: Any) -> None:
    encode = json_text()
    assert encode(value) == json.dumps(value)
    # The encoder is kept between values: a second use gives the same text.
    assert encode(value) == json.dumps(value)


def test_what_json_dumps_refuses_it_refuses() -> None:
    encode = json_text()
    for bad in ({"when": object()}, [b"bytes"]):
        with pytest.raises(TypeError):
            encode(bad)
    assert encode({"after": "an error"}) == '{"after": "an error"}'


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_a_json_column_is_bound_as_its_own_processor_binds_it(
    database: str, request: pytest.FixtureRequest
) -> None:
    # The import binds its JSON columns with `json_text` where the column's processor would
    # store the same text.
    if database == "postgres":
        url = request.getfixturevalue("pg_database")
    else:
        url = f"sqlite+aiosqlite:///{request.getfixturevalue('tmp_path')}/json.db"
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            column = Lead.__table__.c.tags  # type: ignore[attr-defined]
            fast, own = json_binder(conn, column), binder(conn, column)
            for value in ([], {}, ["a", "é", 'q"uote'], {"k": [1, 2.5, None, True]}):
                assert fast(value) == own(value)
    finally:
        await engine.dispose()


async def test_an_engine_with_its_own_json_serializer_stores_the_import_as_it_writes(
    tmp_path: Path, sqlite_url: str
) -> None:
    # The parsing processes write the JSON columns as the default serializer does; an engine
    # configured with another one stores what that one writes.
    url = sqlite_url
    settings = settings_for(url, 0, DATA_DIR=str(tmp_path / "data"))
    await seed(settings)
    engine = create_async_engine(url, json_serializer=compact)
    try:
        sessionmaker = make_sessionmaker(engine)
        csv_path = tmp_path / "leads.csv"
        csv_path.write_text(
            "Name,Phone,Other,Tags,Segment\n"
            "Asha Rao,+91 98111 22233,+91 98111 22244,vip;north,gold\n"
            "Ravi Iyer,+91 98111 22255,,,\n",
            encoding="utf-8",
        )
        async with sessionmaker() as session:
            org_id = (await session.exec(select(Organization.id))).first()
            assert org_id is not None
            job = await create_job(
                session,
                org_id=org_id,
                principal=None,
                path=csv_path,
                filename="leads.csv",
                options=parse_options(
                    {
                        "mapping": json.dumps(
                            {
                                "Name": "name",
                                "Phone": "phone",
                                "Other": "alt_phones",
                                "Tags": "tags",
                                "Segment": "custom:segment",
                            }
                        )
                    }
                ),
            )
            await session.commit()
        assert job.id is not None
        done = await run_job(ImportContext(sessionmaker, settings), job.id)
        assert done is not None and done.status == "completed", done and done.error
        async with engine.connect() as conn:
            rows = (
                await conn.exec_driver_sql(
                    "SELECT phone, alt_phones, tags, custom_fields FROM lead "
                    "WHERE phone IN ('+919811122233', '+919811122255') ORDER BY phone"
                )
            ).all()
        assert [tuple(r) for r in rows] == [
            ("+919811122233", '["+919811122244"]', '["vip","north"]', '{"segment":"gold"}'),
            ("+919811122255", "[]", "[]", "{}"),
        ]
    finally:
        await engine.dispose()


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
