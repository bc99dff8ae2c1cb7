"""Plivo's V3 signature check agrees with the plivo SDK and Plivo's published vectors."""

from collections.abc import Mapping, Sequence
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from plivo.utils.signature_v3 import (
    construct_get_url,
    construct_post_url,
    get_signature_v3,
    validate_v3_signature,
)

from gateway.carriers.base import InboundWebhook, SignatureError
from gateway.carriers.plivo import signature
from gateway.carriers.plivo.adapter import PlivoCarrier

Params = Mapping[str, Sequence[str]]

# --- Plivo's vectors ---------------------------------------------------------------------------
# plivo/plivo-go utils_test.go, TestValidateSignatureV3Pass1..4 (copied literally): a real
# answer_url request (Event=StartApp) signed by Plivo, with and without a query, GET and POST.
GO_TOKEN = "Y2Q2ZDgxZmY5YWRiOTI5YmQ1Njg0MTAxZWIyOTc4"
GO_NONCE = "31627761595286130198"
GO_URL_QUERY = "https://plivobin.non-prod.plivops.com/api/v1/validate_signature03.xml/?a=b&c=d"
GO_URL = "https://plivobin.non-prod.plivops.com/api/v1/validate_signature03.xml"
GO_PARAMS = {
    "Direction": "outbound",
    "From": "19792014278",
    "ALegUUID": "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36",
    "CallStatus": "in-progress",
    "BillRate": "0.002",
    "ParentAuthID": "MANWVLYTK4ZWU1YTY4QA",
    "To": "sip:PlivoSignature382029104058171078704104@phone-qa.voice.plivodev.com",
    "ALegRequestUUID": "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36",
    "CallUUID": "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36",
    "RequestUUID": "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36",
    "SIP-H-To": "<sip:PlivoSignature382029104058171078704104@52.9.11.55;transport=udp>;tag=1",
    "SessionStart": "2020-04-08 11:34:33.238707",
    "Event": "StartApp",
}
GO_VECTORS = [
    ("POST", GO_URL_QUERY, "k7Pusd4OxCIjR5IfA9iedDNu/h/gbdYqdzG/MiYtd1c="),
    ("GET", GO_URL_QUERY, "UBq8jAtd32wR8EK9VgxbBn4n5rpI/l1H9iN4WfSEHFQ="),
    ("POST", GO_URL, "iAjE5QqI37mbkYe4w3jTMudqEzbDufdqi7sYwTu64e0="),
    ("GET", GO_URL, "i/MQsaQSAd6fiKhOh2qeeeLHZ9faldADSb3/7+Akfbc="),
]
# TestValidateSignatureV3Fail: the same kind of request with the last character changed.
GO_FAIL_SIGNATURE = "rXj4UwTSVxH6Kj+W0qX8LaCvVOOvmzPGzY8sQVn3d1I+"

TOKEN = "test-plivo-auth-token-0000000000000001"
URL = "https://gw.example.com/webhooks/plivo/3/hangup?call_id=42"


def lists(params: Mapping[str, str]) -> dict[str, list[str]]:
    return {k: [v] for k, v in params.items()}


def sdk_sign(token: str, method: str, url: str, params: Params, nonce: str) -> str:
    """The SDK's own signer: the string plivo-python builds, HMAC'd by its get_signature_v3."""
    copy = {k: list(v) for k, v in params.items()}
    built = construct_get_url(url, copy) if method == "GET" else construct_post_url(url, copy)
    return str(get_signature_v3(token, built.decode(), nonce).decode())


def sdk_valid(token: str, method: str, url: str, params: Params, nonce: str, sig: str) -> bool:
    copy = {k: list(v) for k, v in params.items()}
    return bool(validate_v3_signature(method, url, nonce, token, sig, copy))


@pytest.mark.parametrize(("method", "url", "expected"), GO_VECTORS)
def test_plivo_go_vectors(method: str, url: str, expected: str) -> None:
    params = lists(GO_PARAMS)
    assert signature.compute(GO_TOKEN, method, url, params, GO_NONCE) == expected
    assert signature.is_valid([GO_TOKEN], method, url, params, GO_NONCE, expected)
    # The SDK agrees with the vector too: the oracle is sound.
    assert sdk_valid(GO_TOKEN, method, url, params, GO_NONCE, expected)


def test_plivo_go_failing_vector() -> None:
    assert not signature.is_valid(
        [GO_TOKEN], "GET", "https://answer.url", lists(GO_PARAMS), "12345", GO_FAIL_SIGNATURE
    )


def test_signing_string_shapes() -> None:
    """The documented construction, spelled out (carriers.md §3.3)."""
    base = "https://h.example/p"
    assert signature.signing_string("POST", base, {"b": ["2"], "a": ["1"]}) == f"{base}?a1b2"
    assert signature.signing_string("POST", base + "?z=1&y=2", {"a": ["1"]}) == f"{base}?y=2&z=1.a1"
    assert signature.signing_string("POST", base + "?z=1", None) == f"{base}?z=1"
    assert signature.signing_string("POST", base, None) == base
    assert signature.signing_string("GET", base + "?z=1", {"a": ["1"]}) == f"{base}?a=1&z=1"
    assert signature.signing_string("GET", base, None) == base
    # Repeated keys: every value, sorted.
    assert signature.signing_string("POST", base, {"a": ["2", "1"]}) == f"{base}?a1a2"


SDK_CASES: list[tuple[str, str, dict[str, list[str]]]] = [
    ("POST", URL, lists({"CallUUID": "u-1", "CallStatus": "completed", "Duration": "66"})),
    ("POST", "https://gw.example.com/webhooks/plivo/3/answer", lists({"CallUUID": "u-2"})),
    ("POST", "https://gw.example.com:8443/hook?b=2&a=1&a=0", lists({"X": "1"})),
    ("POST", URL, {}),
    ("POST", "https://gw.example.com/hook", {}),
    ("POST", URL, {"Digits": ["9", "1"], "Blank": [""]}),
    ("POST", URL, lists({"CallerName": "Zoë Ünïcode", "SIP-H-To": "<sip:a@b;tag=1>"})),
    ("POST", URL, lists({"Speech": "a+b c&d=e%20f"})),
    ("GET", URL + "&CallUUID=u-3&CallStatus=ringing", {}),
    ("GET", URL, lists({"CallUUID": "u-4"})),
    ("GET", "https://gw.example.com/hook", {}),
    ("GET", "http://127.0.0.1:8080/webhooks/plivo/1/ring?call_id=1&x=a%20b", {}),
]


@pytest.mark.parametrize(("method", "url", "params"), SDK_CASES)
def test_agrees_with_the_sdk(method: str, url: str, params: dict[str, list[str]]) -> None:
    nonce = "24725744043720739450"
    expected = sdk_sign(TOKEN, method, url, params, nonce)
    assert signature.compute(TOKEN, method, url, params, nonce) == expected
    assert signature.is_valid([TOKEN], method, url, params, nonce, expected)
    assert sdk_valid(TOKEN, method, url, params, nonce, expected)


# The SDK decodes the URL's query byte by byte (Latin-1) before re-encoding it as UTF-8, so it
# only agrees with Plivo for ASCII queries; our URLs' queries are ASCII (`call_id=N`).
ascii_text = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="&=#%+"),
    min_size=1,
    max_size=8,
)
any_text = st.text(max_size=12)


@settings(max_examples=150, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST"]),
    query=st.dictionaries(ascii_text, st.lists(ascii_text, min_size=1, max_size=2), max_size=3),
    params=st.dictionaries(any_text, st.lists(any_text, min_size=1, max_size=3), max_size=5),
    nonce=st.from_regex(r"[0-9]{20}", fullmatch=True),
)
def test_property_agrees_with_the_sdk(
    method: str, query: dict[str, list[str]], params: dict[str, list[str]], nonce: str
) -> None:
    url = "https://gw.example.com/webhooks/plivo/1/dial"
    if query:
        url += "?" + urlencode([(k, v) for k, values in query.items() for v in values])
    if method == "GET":
        params = {k: v for k, v in params.items() if k.isascii() and all(x.isascii() for x in v)}
    expected = sdk_sign(TOKEN, method, url, params, nonce)
    assert signature.compute(TOKEN, method, url, params, nonce) == expected


# --- tampering -----------------------------------------------------------------------------------

PARAMS = lists({"CallUUID": "u-1", "CallStatus": "completed", "Duration": "66"})
NONCE = "12345678901234567890"
GOOD = sdk_sign(TOKEN, "POST", URL, PARAMS, NONCE)


@pytest.mark.parametrize(
    ("url", "params", "nonce"),
    [
        (URL.replace("call_id=42", "call_id=43"), PARAMS, NONCE),
        (URL.replace("?call_id=42", ""), PARAMS, NONCE),
        (URL + "&extra=1", PARAMS, NONCE),
        (URL.replace("/hangup", "/answer"), PARAMS, NONCE),
        (URL.replace("https://", "http://"), PARAMS, NONCE),
        (URL.replace("gw.example.com", "gw.example.com:443"), PARAMS, NONCE),
        (URL.replace("gw.example.com", "evil.example.com"), PARAMS, NONCE),
        (URL, {**PARAMS, "Duration": ["6600"]}, NONCE),
        (URL, {**PARAMS, "Extra": ["1"]}, NONCE),
        (URL, {k: v for k, v in PARAMS.items() if k != "Duration"}, NONCE),
        (URL, PARAMS, NONCE[:-1] + "1"),
    ],
)
def test_any_change_after_signing_fails(url: str, params: Params, nonce: str) -> None:
    assert not signature.is_valid([TOKEN], "POST", url, params, nonce, GOOD)


@pytest.mark.parametrize(
    "header",
    ["", ",", " , ", GOOD[:-1], GOOD.lower(), "é" * 44, GOOD + "x", "Bearer " + GOOD],
)
def test_malformed_headers_fail_without_raising(header: str) -> None:
    assert not signature.is_valid([TOKEN], "POST", URL, PARAMS, NONCE, header)


def test_missing_nonce_or_header_fails() -> None:
    assert not signature.is_valid([TOKEN], "POST", URL, PARAMS, None, GOOD)
    assert not signature.is_valid([TOKEN], "POST", URL, PARAMS, "", GOOD)
    assert not signature.is_valid([TOKEN], "POST", URL, PARAMS, NONCE, None)


def test_method_is_part_of_the_signature() -> None:
    assert not signature.is_valid([TOKEN], "GET", URL, PARAMS, NONCE, GOOD)


def test_header_with_several_signatures_accepts_any_of_them() -> None:
    other = sdk_sign("another-token-000000000000", "POST", URL, PARAMS, NONCE)
    for header in (f"{other},{GOOD}", f"{GOOD},{other}", f"{other}, {GOOD}"):
        assert signature.is_valid([TOKEN], "POST", URL, PARAMS, NONCE, header)
        assert sdk_valid(TOKEN, "POST", URL, PARAMS, NONCE, header.replace(" ", ""))
    assert not signature.is_valid([TOKEN], "POST", URL, PARAMS, NONCE, f"{other},{other}")


def test_rotation_any_listed_token_verifies() -> None:
    old, new = "old-plivo-auth-token-000000000001", TOKEN
    by_old = sdk_sign(old, "POST", URL, PARAMS, NONCE)
    assert signature.is_valid([new, old], "POST", URL, PARAMS, NONCE, by_old)
    assert signature.is_valid([new, old], "POST", URL, PARAMS, NONCE, GOOD)
    assert not signature.is_valid([new], "POST", URL, PARAMS, NONCE, by_old)
    assert not signature.is_valid([], "POST", URL, PARAMS, NONCE, GOOD)


# --- the adapter's verify ----------------------------------------------------------------------

CREDENTIALS = {"auth_id": "MA" + "A1" * 9, "auth_token": TOKEN}


def hook(
    headers: dict[str, str], body: bytes, *, method: str = "POST", url: str = URL
) -> InboundWebhook:
    return InboundWebhook(
        method=method, url=url, headers=headers, body=body, query={}, kind="hangup"
    )


def signed_headers(sig: str = GOOD, nonce: str = NONCE) -> dict[str, str]:
    return {"x-plivo-signature-v3": sig, "x-plivo-signature-v3-nonce": nonce}


def test_adapter_verifies_a_signed_form_post() -> None:
    body = urlencode({k: v[0] for k, v in PARAMS.items()}).encode()
    PlivoCarrier().verify(CREDENTIALS, hook(signed_headers(), body))


def test_adapter_verifies_a_signed_get() -> None:
    url = URL + "&CallUUID=u-1&CallStatus=ringing"
    sig = sdk_sign(TOKEN, "GET", url, {}, NONCE)
    PlivoCarrier().verify(CREDENTIALS, hook(signed_headers(sig), b"", method="GET", url=url))
    with pytest.raises(SignatureError):
        PlivoCarrier().verify(
            CREDENTIALS,
            hook(signed_headers(sig), b"", method="GET", url=url.replace("ringing", "completed")),
        )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-plivo-signature-v3": GOOD},
        {"x-plivo-signature-v3-nonce": NONCE},
        # The V2 scheme (URL + nonce only) is not accepted in place of V3.
        {"x-plivo-signature-v2": GOOD, "x-plivo-signature-v2-nonce": NONCE},
        signed_headers(nonce="00000000000000000000"),
    ],
)
def test_adapter_refuses_missing_or_wrong_headers(headers: dict[str, str]) -> None:
    body = urlencode({k: v[0] for k, v in PARAMS.items()}).encode()
    with pytest.raises(SignatureError):
        PlivoCarrier().verify(CREDENTIALS, hook(headers, body))


def test_adapter_treats_an_unreadable_body_as_a_signature_failure() -> None:
    with pytest.raises(SignatureError):
        PlivoCarrier().verify(CREDENTIALS, hook(signed_headers(), b"CallUUID=\xff\xfe"))
