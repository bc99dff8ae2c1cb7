"""The Twilio signature check agrees with twilio's RequestValidator and Twilio's own vectors."""

import hashlib
import hmac
import random
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from multidict import MultiDict
from twilio.request_validator import RequestValidator, get_signature_algorithm

from gateway.carriers.base import InboundWebhook, SignatureError
from gateway.carriers.twilio import signature
from gateway.carriers.twilio.adapter import TwilioCarrier

Params = Mapping[str, Sequence[str]]

# --- Twilio's published vectors ----------------------------------------------------------------
# https://www.twilio.com/docs/usage/security#validating-requests ("Validating requests"): the
# walkthrough's auth token, URL and parameters, and the signature it arrives at.
DOCS_TOKEN = "12345"
DOCS_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOCS_PARAMS = {
    "CallSid": ["CA1234567890ABCDE"],
    "Caller": ["+12349013030"],
    "Digits": ["1234"],
    "From": ["+12349013030"],
    "To": ["+18005551212"],
}
DOCS_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="

# twilio/twilio-python tests/unit/test_request_validator.py (commit 30368b08ba58), copied
# literally: same token and URL, its own parameter set, and the expected strings it asserts.
PY_PARAMS = {
    "CallSid": ["CA1234567890ABCDE"],
    "Digits": ["1234"],
    "From": ["+14158675309"],
    "To": ["+18005551212"],
    "Caller": ["+14158675309"],
}
PY_EXPECTED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
PY_DUPLICATE_PARAMS = {"Sid": ["CA123"], "SidAccount": ["AC123"], "Digits": ["5678", "1234"]}
PY_DUPLICATE_EXPECTED = "IK+Dwps556ElfBT0I3Rgjkr1wJU="
PY_HTTP_PORT_1234 = "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="  # "hash of http uri with port 1234"
PY_HTTPS_PORT_443 = "kvajT1Ptam85bY51eRf/AJRuM3w="  # "hash of uri with port 443"
PY_HTTP_PORT_80 = "0ZXoZLH/DfblKGATFgpif+LLRf4="  # "hash of uri with port 80"
PY_BODY = '{"property": "value", "boolean": true}'
PY_BODY_HASH = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
PY_BODY_SIGNATURE = "a9nBmqA0ju/hNViExpshrM61xv4="


def sdk_params(params: Params) -> MultiDict[str]:
    """The SDK reads repeated keys through MultiDict.getall (as with aiohttp/Flask forms)."""
    return MultiDict((name, value) for name, values in params.items() for value in values)


def sdk_sign(token: str, url: str, params: Params | None, algorithm: str | None = None) -> str:
    return str(RequestValidator(token).compute_signature(url, sdk_params(params or {}), algorithm))


def sdk_valid(
    token: str, url: str, params: Params | None, sig: str, alg: str | None = None
) -> bool:
    return bool(RequestValidator(token).validate(url, sdk_params(params or {}), sig, alg))


# --- published vectors, against both implementations ------------------------------------------


@pytest.mark.parametrize(
    ("token", "url", "params", "expected"),
    [
        pytest.param(DOCS_TOKEN, DOCS_URL, DOCS_PARAMS, DOCS_SIGNATURE, id="docs-walkthrough"),
        pytest.param(DOCS_TOKEN, DOCS_URL, PY_PARAMS, PY_EXPECTED, id="py-compute"),
        pytest.param(
            DOCS_TOKEN, DOCS_URL, PY_DUPLICATE_PARAMS, PY_DUPLICATE_EXPECTED, id="py-duplicates"
        ),
        pytest.param(
            DOCS_TOKEN,
            DOCS_URL.replace(".com", ".com:1234").replace("https", "http"),
            PY_PARAMS,
            PY_HTTP_PORT_1234,
            id="py-http-port-1234",
        ),
        pytest.param(
            DOCS_TOKEN,
            DOCS_URL.replace(".com", ".com:443"),
            PY_PARAMS,
            PY_HTTPS_PORT_443,
            id="py-https-port-443",
        ),
        pytest.param(
            DOCS_TOKEN,
            DOCS_URL.replace(".com", ".com:80").replace("https", "http"),
            PY_PARAMS,
            PY_HTTP_PORT_80,
            id="py-http-port-80",
        ),
    ],
)
def test_published_vectors_compute(token: str, url: str, params: Params, expected: str) -> None:
    assert signature.compute(token, url, params) == expected
    assert sdk_sign(token, url, params) == expected


@pytest.mark.parametrize(
    ("url", "params", "sig"),
    [
        pytest.param(DOCS_URL, DOCS_PARAMS, DOCS_SIGNATURE, id="docs"),
        pytest.param(DOCS_URL, PY_PARAMS, PY_EXPECTED, id="py-validation"),
        pytest.param(DOCS_URL, PY_DUPLICATE_PARAMS, PY_DUPLICATE_EXPECTED, id="py-duplicates"),
        # test_validation_removes_port_on_https: signed without the port, requested with it.
        pytest.param(DOCS_URL.replace(".com", ".com:1234"), PY_PARAMS, PY_EXPECTED, id="rm-https"),
        # test_validation_removes_port_on_http
        pytest.param(
            DOCS_URL.replace(".com", ".com:1234").replace("https", "http"),
            PY_PARAMS,
            PY_HTTP_PORT_1234,
            id="rm-http",
        ),
        # test_validation_adds_port_on_https / _on_http: signed with the default port.
        pytest.param(DOCS_URL, PY_PARAMS, PY_HTTPS_PORT_443, id="add-https-443"),
        pytest.param(
            DOCS_URL.replace("https", "http"), PY_PARAMS, PY_HTTP_PORT_80, id="add-http-80"
        ),
    ],
)
def test_published_vectors_validate(url: str, params: Params, sig: str) -> None:
    assert signature.is_valid(DOCS_TOKEN, url, params, sig)
    assert sdk_valid(DOCS_TOKEN, url, params, sig)


def test_published_json_body_vector() -> None:
    """test_compute_hash_unicode and test_validation_of_body_succeeds."""
    body = PY_BODY.encode()
    assert hashlib.sha256(body).hexdigest() == PY_BODY_HASH
    url = f"{DOCS_URL}&bodySHA256={PY_BODY_HASH}"
    assert signature.is_valid(DOCS_TOKEN, url, None, PY_BODY_SIGNATURE, body=body)
    assert RequestValidator(DOCS_TOKEN).validate(url, PY_BODY, PY_BODY_SIGNATURE)


@pytest.mark.parametrize(
    ("token", "url", "params", "sig"),
    [
        pytest.param("54321", DOCS_URL, DOCS_PARAMS, DOCS_SIGNATURE, id="token"),
        pytest.param(DOCS_TOKEN, DOCS_URL + "&baz=3", DOCS_PARAMS, DOCS_SIGNATURE, id="url-query"),
        pytest.param(
            DOCS_TOKEN, DOCS_URL.replace("myapp", "yourapp"), DOCS_PARAMS, DOCS_SIGNATURE, id="path"
        ),
        pytest.param(
            DOCS_TOKEN, DOCS_URL.replace("https", "http"), DOCS_PARAMS, DOCS_SIGNATURE, id="scheme"
        ),
        pytest.param(
            DOCS_TOKEN, DOCS_URL, dict(DOCS_PARAMS, Digits=["1235"]), DOCS_SIGNATURE, id="value"
        ),
        pytest.param(
            DOCS_TOKEN, DOCS_URL, dict(DOCS_PARAMS, Extra=[""]), DOCS_SIGNATURE, id="extra-param"
        ),
        pytest.param(
            DOCS_TOKEN,
            DOCS_URL,
            {k: v for k, v in DOCS_PARAMS.items() if k != "To"},
            DOCS_SIGNATURE,
            id="missing-param",
        ),
        pytest.param(DOCS_TOKEN, DOCS_URL, DOCS_PARAMS, DOCS_SIGNATURE.lower(), id="case"),
        pytest.param(DOCS_TOKEN, DOCS_URL, DOCS_PARAMS, DOCS_SIGNATURE[:-1], id="truncated"),
        pytest.param(DOCS_TOKEN, DOCS_URL, DOCS_PARAMS, "", id="empty"),
        pytest.param(
            DOCS_TOKEN,
            DOCS_URL.replace(".com", ".com:8443"),
            PY_PARAMS,
            PY_HTTPS_PORT_443,
            id="port",
        ),
    ],
)
def test_tampered_requests_fail(token: str, url: str, params: Params, sig: str) -> None:
    assert not signature.is_valid(token, url, params, sig)
    assert not sdk_valid(token, url, params, sig)


# --- generated cases against the SDK ---------------------------------------------------------

URLS = [
    "https://example.com/webhooks/twilio/1/status",
    "https://example.com/webhooks/twilio/1/status?call_id=42",
    "https://example.com:443/webhooks/twilio/1/status?call_id=42",
    "https://example.com:8443/webhooks/twilio/1/status?call_id=42&x=%20y",
    "http://127.0.0.1:8080/webhooks/twilio/1/status?call_id=7",
    "http://127.0.0.1/webhooks/twilio/1/voice",
    "http://127.0.0.1:80/webhooks/twilio/1/voice",
    "https://dialgate.example.co.in/a/b/c?q=%E0%A4%A8%E0%A4%AE&r=1&r=2",
]

PARAM_SETS: list[Params] = [
    {},
    DOCS_PARAMS,
    PY_DUPLICATE_PARAMS,
    {"CallSid": ["CAx"], "Empty": [""], "Spaces": ["  padded  "]},
    {"Unicode": ["नमस्ते", "Grüße"], "Emoji": ["📞"], "CallerName": ["José Müller"]},
    {"Same": ["b", "a", "b"], "same": ["A"], "_under": ["1"], "Zed": ["z"]},
    {"Symbols": ["a&b=c+d%20e", "?#/"], "Plus": ["+919876543210"]},
    {"StatusCallbackEvent": ["initiated", "ringing", "answered", "completed"]},
]


@pytest.mark.parametrize("algorithm", [signature.HMAC_SHA1, signature.HMAC_SHA256])
@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("params", PARAM_SETS, ids=range(len(PARAM_SETS)))
def test_matches_sdk_on_generated_cases(url: str, params: Params, algorithm: str) -> None:
    token = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
    ours = signature.compute(token, url, params, algorithm)
    assert ours == sdk_sign(token, url, params, algorithm)
    assert signature.is_valid(token, url, params, ours, algorithm=algorithm)

    # Every port variant the SDK accepts, we accept, and the other way round.
    parts = urlsplit(url)
    host = parts.netloc.rsplit(":", 1)[0] if parts.port else parts.netloc
    variants = [urlunsplit(parts._replace(netloc=n)) for n in (host, f"{host}:443", f"{host}:80")]
    variants.append(urlunsplit(parts._replace(netloc=f"{host}:9999")))
    for signed_url in variants:
        sig = sdk_sign(token, signed_url, params, algorithm)
        assert signature.is_valid(token, url, params, sig, algorithm=algorithm) == sdk_valid(
            token, url, params, sig, algorithm
        ), signed_url

    assert not signature.is_valid(token + "x", url, params, ours, algorithm=algorithm)
    other = signature.HMAC_SHA256 if algorithm == signature.HMAC_SHA1 else signature.HMAC_SHA1
    assert not signature.is_valid(token, url, params, ours, algorithm=other)


def test_ipv6_host_keeps_its_brackets_when_the_port_is_dropped() -> None:
    """The one place we part from the SDK on purpose.

    twilio's `remove_port` cuts the netloc at its first ':' and so turns
    https://[2001:db8::1]:8443/x into "https://[2001/x"; we drop only the port.
    """
    url = "https://[2001:db8::1]:8443/webhooks/twilio/3/recording"
    assert signature.url_variants(url) == ("https://[2001:db8::1]/webhooks/twilio/3/recording", url)
    sig = sdk_sign(TOKEN, "https://[2001:db8::1]/webhooks/twilio/3/recording", DOCS_PARAMS)
    assert signature.is_valid(TOKEN, url, DOCS_PARAMS, sig)
    assert not sdk_valid(TOKEN, url, DOCS_PARAMS, sig)
    # Signed over the URL as requested, both accept it.
    sig = sdk_sign(TOKEN, url, DOCS_PARAMS)
    assert signature.is_valid(TOKEN, url, DOCS_PARAMS, sig)
    assert sdk_valid(TOKEN, url, DOCS_PARAMS, sig)


def test_matches_sdk_on_random_parameters() -> None:
    rng = random.Random(20100401)
    alphabet = "aAzZ09+-_ &=%?#/é漢📞\t"
    for _ in range(300):
        params: dict[str, list[str]] = {}
        for _ in range(rng.randint(0, 8)):
            name = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6)))
            values = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))]
            values += values[:1] * rng.randint(0, 1)  # an exact repeat now and then
            params.setdefault(name, []).extend(values)
        token = "".join(rng.choice(alphabet) for _ in range(16))
        url = rng.choice(URLS)
        ours = signature.compute(token, url, params)
        assert ours == sdk_sign(token, url, params), params
        tampered = dict(params, **{"X": ["1"]}) if "X" not in params else {}
        assert not signature.is_valid(token, url, tampered, ours)


# --- the adapter on whole requests (raw bodies, GET, JSON, shared keys) ----------------------

TOKEN = "0123456789abcdef0123456789abcdef"
CREDENTIALS = {"account_sid": "AC" + "0" * 32, "auth_token": TOKEN}
FORM = "application/x-www-form-urlencoded"


def hook(
    url: str,
    *,
    method: str = "POST",
    body: bytes = b"",
    sig: str | None = None,
    content_type: str = FORM,
    extra: Mapping[str, str] | None = None,
) -> InboundWebhook:
    headers = {"content-type": content_type, **{k.lower(): v for k, v in (extra or {}).items()}}
    if sig is not None:
        headers["x-twilio-signature"] = sig
    query = {k: v for k, v in MultiDict(_query_pairs(url)).items()}
    return InboundWebhook(
        method=method, url=url, headers=headers, body=body, query=query, kind="status"
    )


def _query_pairs(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def verify(h: InboundWebhook, credentials: Mapping[str, Any] = CREDENTIALS) -> bool:
    try:
        TwilioCarrier().verify(credentials, h)
    except SignatureError:
        return False
    return True


@pytest.mark.parametrize("params", PARAM_SETS, ids=range(len(PARAM_SETS)))
def test_form_body_as_sent_on_the_wire(params: Params) -> None:
    """The adapter parses the raw form body itself: '+', '%', unicode and repeats survive."""
    url = "https://gw.example.com/webhooks/twilio/1/status?call_id=9"
    pairs = [(name, value) for name, values in params.items() for value in values]
    body = urlencode(pairs).encode()
    sig = sdk_sign(TOKEN, url, params)
    assert verify(hook(url, body=body, sig=sig))
    assert verify(hook(url, body=body, sig=sig, content_type=FORM + "; charset=utf-8"))
    assert not verify(hook(url, body=body + b"&Injected=1", sig=sig))
    assert not verify(hook(url.replace("call_id=9", "call_id=8"), body=body, sig=sig))
    assert not verify(hook(url, body=body, sig=sdk_sign("wrong-token", url, params)))


def test_get_webhook_signs_the_url_with_its_query() -> None:
    params = {"CallSid": "CA1", "CallStatus": "ringing", "From": "+919876543210"}
    url = "https://gw.example.com/webhooks/twilio/1/voice?" + urlencode(params)
    sig = sdk_sign(TOKEN, url, None)
    assert sdk_valid(TOKEN, url, None, sig)
    assert verify(hook(url, method="GET", sig=sig))
    assert not verify(hook(url.replace("ringing", "completed"), method="GET", sig=sig))
    # The query is not also appended as parameters.
    assert not verify(hook(url, method="GET", sig=sdk_sign(TOKEN, url, {"CallSid": ["CA1"]})))


def test_json_body_checked_against_body_sha256() -> None:
    body = b'{"CallSid": "CA1", "CallStatus": "completed", "Name": "\xc3\xa9"}'
    url = f"https://gw.example.com/webhooks/twilio/1/status?bodySHA256={hashlib.sha256(body).hexdigest()}"
    sig = sdk_sign(TOKEN, url, None)
    validator = RequestValidator(TOKEN)
    assert validator.validate(url, body.decode(), sig)
    assert verify(hook(url, body=body, sig=sig, content_type="application/json"))
    assert signature.is_valid(TOKEN, url, None, sig, body=body)

    tampered = body.replace(b"completed", b"failed   ")
    assert not validator.validate(url, tampered.decode(), sig)
    assert not verify(hook(url, body=tampered, sig=sig, content_type="application/json"))
    # Without bodySHA256 a JSON body is not authenticated at all: refused.
    bare = url.split("?")[0]
    assert not verify(
        hook(bare, body=body, sig=sdk_sign(TOKEN, bare, None), content_type="application/json")
    )
    # A non-hex, non-ASCII bodySHA256 is a mismatch, not a crash.
    odd = bare + "?bodySHA256=%C3%A9"
    assert not signature.is_valid(TOKEN, odd, None, sdk_sign(TOKEN, odd, None), body=body)


def test_hmac_sha256_with_a_shared_key() -> None:
    """Webhook Rules sign with a SharedKey and the algorithm named in a settings header."""
    url = "https://gw.example.com/webhooks/twilio/1/status"
    params = {"CallSid": ["CA1"], "CallStatus": ["ringing"]}
    body = urlencode([(k, v[0]) for k, v in params.items()]).encode()
    secret = "shared-key-secret-value"
    credentials = dict(CREDENTIALS, shared_keys={"KS123": secret})
    settings = {"X-Twilio-Webhooks-Signature-Settings": "key=KS123,algorithm=HMAC_SHA256"}
    sig = sdk_sign(secret, url, params, "HMAC_SHA256")
    assert sig != sdk_sign(secret, url, params, "HMAC_SHA1")
    assert verify(hook(url, body=body, sig=sig, extra=settings), credentials)
    # The same signature without the header is read as HMAC-SHA1 over the auth token.
    assert not verify(hook(url, body=body, sig=sig), credentials)
    # Signed with the auth token instead of the shared key.
    wrong = sdk_sign(TOKEN, url, params, "HMAC_SHA256")
    assert not verify(hook(url, body=body, sig=wrong, extra=settings), credentials)
    # An unknown key id, or an algorithm neither side supports.
    unknown = {"X-Twilio-Webhooks-Signature-Settings": "key=KS999,algorithm=HMAC_SHA256"}
    assert not verify(hook(url, body=body, sig=sig, extra=unknown), credentials)
    md5 = {"X-Twilio-Webhooks-Signature-Settings": "key=KS123,algorithm=HMAC_MD5"}
    assert not verify(hook(url, body=body, sig=sig, extra=md5), credentials)
    assert not RequestValidator(secret).validate(url, sdk_params(params), sig, "HMAC_MD5")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "key=KS1",
        "key=KS1,algorithm=HMAC_SHA256",
        "algorithm=hmac_sha256 , key=KS1",
        " key = KS1 , algorithm = HMAC_SHA1 ",
        "algorithm=",
        "garbage",
    ],
)
def test_signature_settings_header_read_as_the_sdk_reads_it(header: str | None) -> None:
    algorithm, _ = signature.algorithm_from_settings(header)
    assert algorithm == get_signature_algorithm(header).upper()


@pytest.mark.parametrize(
    "bad",
    [None, "", "not base64", "é" * 28, "\udcff" * 28, DOCS_SIGNATURE + " ", " " + DOCS_SIGNATURE],
)
def test_missing_or_garbled_signature_header_is_a_signature_error(bad: str | None) -> None:
    url = DOCS_URL
    body = urlencode([(k, v[0]) for k, v in DOCS_PARAMS.items()]).encode()
    credentials = dict(CREDENTIALS, auth_token=DOCS_TOKEN)
    assert verify(hook(url, body=body, sig=DOCS_SIGNATURE), credentials)
    with pytest.raises(SignatureError):
        TwilioCarrier().verify(credentials, hook(url, body=body, sig=bad))


def test_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert signature.is_valid(DOCS_TOKEN, DOCS_URL, DOCS_PARAMS, DOCS_SIGNATURE)
    assert not signature.is_valid(DOCS_TOKEN, DOCS_URL, DOCS_PARAMS, PY_EXPECTED)
    # Every comparison goes through compare_digest: the match on the first port variant,
    # and both variants of the mismatch.
    assert len(calls) == 3
    assert (DOCS_SIGNATURE.encode(), DOCS_SIGNATURE.encode()) in calls
