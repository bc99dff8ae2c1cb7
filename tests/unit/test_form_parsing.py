"""The fast form decoder gives exactly what urllib's parse_qs gives, for any body."""

from urllib.parse import parse_qs, urlencode

from hypothesis import given
from hypothesis import strategies as st

from gateway.carriers.base import InboundWebhook
from gateway.carriers.common import form_params, parse_form

# Bodies built from the characters that matter to the format, and arbitrary text.
form_text = st.text(alphabet=st.sampled_from("ab=&+%236DdFz0;é ")) | st.text()


@given(form_text)
def test_matches_parse_qs_on_any_text(text: str) -> None:
    assert parse_form(text) == parse_qs(text, keep_blank_values=True)


@given(st.lists(st.tuples(st.text(), st.text()), max_size=20))
def test_round_trips_encoded_pairs(pairs: list[tuple[str, str]]) -> None:
    text = urlencode(pairs)
    assert parse_form(text) == parse_qs(text, keep_blank_values=True)


def test_a_hook_decodes_its_body_once() -> None:
    hook = InboundWebhook(
        method="POST",
        url="https://example.test/webhooks/twilio/1/status",
        headers={},
        body=b"CallSid=CA1&From=%2B14155550100&Caller+Name=A+B&Empty=",
        query={},
        kind="status",
    )
    first = form_params(hook)
    assert first == {
        "CallSid": ["CA1"],
        "From": ["+14155550100"],
        "Caller Name": ["A B"],
        "Empty": [""],
    }
    assert form_params(hook) is first
