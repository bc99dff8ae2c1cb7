"""The import's JSON encoder writes exactly what `json.dumps` writes."""

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.importer.bulk import binder, json_binder, json_text
from gateway.db import make_engine
from gateway.models import Lead

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
