"""The import's JSON encoder writes exactly what `json.dumps` writes."""

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.importer.bulk import json_text

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
