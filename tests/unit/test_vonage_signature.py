"""Vonage's signed webhooks and application JWTs, held to vonage-jwt and its published vector."""

import base64
import hashlib
import json
import warnings
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from hypothesis import given, settings
from hypothesis import strategies as st
from vonage_jwt import JwtClient
from vonage_jwt.verify_jwt import VonageVerifyJwtError, verify_signature

from gateway.carriers.base import InboundWebhook, SignatureError
from gateway.carriers.vonage import signature
from gateway.carriers.vonage.adapter import VonageCarrier
from gateway.carriers.vonage.originate import application_jwt
from tests.standins.vonage_api import compact, new_private_key, signed_jwt

# vonage-python-sdk jwt/tests/test_verify_jwt.py (github.com/Vonage/vonage-python-sdk).
SDK_TOKEN = (
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJPbmxpbmUgSldUIEJ1aWxkZXIiLCJpYXQiOjE2OTc2"
    "MzQ2ODAsImV4cCI6MzMyNTQ1NDA4MjgsImF1ZCI6IiIsInN1YiI6IiJ9.88vJc3I2HhuqEDixHXVhc9R30tA6U_HQ"
    "HZTC29y6CGM"
)
SDK_SECRET = "qwertyuiopasdfghjklzxcvbnm123456"
SDK_WRONG_SECRET = "asdf"

APP_ID = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
SECRET = "unit-test-signature-secret-000001"
OLD_SECRET = "unit-test-signature-secret-000000"
NOW = 1767607200.0
URL = "https://gw.example.com/webhooks/vonage/1/event?call_id=7&leg=customer"
BODY = compact(
    {
        "from": "442079460000",
        "to": "919876543210",
        "uuid": "bbbbbbbb-cccc-dddd-eeee-0123456789ab",
        "conversation_uuid": "CON-aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
        "status": "completed",
        "direction": "outbound",
        "timestamp": "2026-01-05T10:00:45.000Z",
        "duration": "42",
    }
)


def sdk_verifies(token: str, secret: str) -> bool:
    """vonage_jwt.verify_signature, the oracle; a token it cannot even decode is False."""
    with warnings.catch_warnings():
        # PyJWT warns about HMAC keys under 32 bytes (the SDK's own `asdf` vector).
        warnings.simplefilter("ignore", UserWarning)
        try:
            return bool(verify_signature(token, secret))
        except VonageVerifyJwtError:
            return False


def token_for(payload: bytes, *, secret: str = SECRET, iat: float = NOW, **extra: Any) -> str:
    return signed_jwt(secret, payload, application_id=APP_ID, iat=iat, jti="j1", extra=extra)


def check(
    token: str | None,
    *,
    body: bytes = BODY,
    method: str = "POST",
    url: str = URL,
    now: float = NOW,
    secrets: tuple[str, ...] = (SECRET,),
    scheme: str = "Bearer",
) -> dict[str, Any]:
    return signature.check(
        list(secrets),
        None if token is None else f"{scheme} {token}",
        method=method,
        body=body,
        query=parse_qsl(urlsplit(url).query, keep_blank_values=True),
        now=now,
        tolerance_s=300,
        application_id=APP_ID,
    )


def hook(token: str | None, *, body: bytes = BODY, received_at: float = NOW) -> InboundWebhook:
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return InboundWebhook(
        method="POST",
        url=URL,
        headers=headers,
        body=body,
        query=dict(parse_qsl(urlsplit(URL).query)),
        kind="event",
        received_at=received_at,
    )


def credentials(**extra: Any) -> dict[str, Any]:
    return {
        "application_id": APP_ID,
        "private_key": "unused by verify",
        "signature_secret": SECRET,
        **extra,
    }


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- the SDK's published vector ------------------------------------------------------------


def test_sdk_vector_verifies_with_its_secret_like_vonage_jwt() -> None:
    assert sdk_verifies(SDK_TOKEN, SDK_SECRET)
    claims = signature.verified_claims(SDK_TOKEN, [SDK_SECRET])
    assert claims == jwt.decode(
        SDK_TOKEN, SDK_SECRET, algorithms=["HS256"], options={"verify_aud": False}
    )
    assert claims is not None and claims["iat"] == 1697634680


def test_sdk_vector_fails_with_the_wrong_secret_like_vonage_jwt() -> None:
    assert not sdk_verifies(SDK_TOKEN, SDK_WRONG_SECRET)
    assert signature.verified_claims(SDK_TOKEN, [SDK_WRONG_SECRET]) is None
    # The SDK raises for a token that is not a JWT at all; here it is simply not verified.
    with pytest.raises(VonageVerifyJwtError):
        verify_signature("asdf", SDK_SECRET)
    assert signature.verified_claims("asdf", [SDK_SECRET]) is None


def test_sdk_vector_is_not_a_signed_webhook_it_has_no_payload_hash() -> None:
    with pytest.raises(SignatureError, match="payload_hash"):
        signature.check(
            [SDK_SECRET],
            f"Bearer {SDK_TOKEN}",
            method="POST",
            body=b"{}",
            query=[],
            now=1697634680,
            tolerance_s=300,
        )


@settings(max_examples=60, deadline=None)
@given(
    payload=st.binary(max_size=300),
    secret=st.text(min_size=32, max_size=64),
    other=st.text(min_size=32, max_size=64),
    claims=st.dictionaries(st.sampled_from(["iss", "api_key", "sub", "n"]), st.text(max_size=20)),
)
def test_agrees_with_vonage_jwt_on_any_token(
    payload: bytes, secret: str, other: str, claims: dict[str, str]
) -> None:
    token = signed_jwt(secret, payload, application_id=APP_ID, iat=NOW, extra=claims)
    assert signature.verified_claims(token, [secret]) is not None
    assert sdk_verifies(token, secret)
    assert (signature.verified_claims(token, [other]) is not None) == sdk_verifies(token, other)
    head, body, sig = token.split(".")
    flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    for forged in (f"{head}.{body}.{flipped}", f"{head}.{b64(b'{}')}.{sig}"):
        assert signature.verified_claims(forged, [secret]) is None
        assert not sdk_verifies(forged, secret)


# The HS512 token is made with the account's (short for SHA-512) secret on purpose.
@pytest.mark.filterwarnings("ignore:The HMAC key")
def test_only_hs256_is_accepted() -> None:
    claims = {"iat": int(NOW), "payload_hash": hashlib.sha256(BODY).hexdigest()}
    hs512 = jwt.encode(claims, SECRET, algorithm="HS512")
    unsigned = f"{b64(json.dumps({'alg': 'none'}).encode())}.{b64(json.dumps(claims).encode())}."
    for token in (hs512, unsigned):
        assert not sdk_verifies(token, SECRET)
        assert signature.verified_claims(token, [SECRET]) is None
        with pytest.raises(SignatureError):
            check(token)


# --- a signed webhook: body, URL, headers, time -----------------------------------------------


def test_genuine_webhook_passes_and_returns_its_claims() -> None:
    claims = check(token_for(BODY))
    assert claims["payload_hash"] == hashlib.sha256(BODY).hexdigest()
    assert claims["application_id"] == APP_ID
    assert claims["iss"] == "Vonage"


def test_changed_body_fails() -> None:
    token = token_for(BODY)
    for body in (BODY.replace(b'"42"', b'"4200"'), BODY.replace(b"to", b"To"), b"", b"{}"):
        with pytest.raises(SignatureError, match="payload_hash"):
            check(token, body=body)


def test_body_reserialized_without_whitespace_is_the_documented_hash() -> None:
    """Vonage's recipe hashes the payload object as compact JSON; the raw body may differ."""
    pretty = json.dumps(json.loads(BODY), indent=2).encode()
    assert check(token_for(BODY), body=pretty)
    with pytest.raises(SignatureError):
        check(token_for(pretty), body=BODY)


def test_get_webhook_hashes_its_query_and_detects_changes() -> None:
    fields = {"to": "442079460000", "from": "447700900000", "uuid": "u-1", "conversation_uuid": "C"}
    url = "https://gw.example.com/webhooks/vonage/1/answer?" + urlencode(fields)
    token = token_for(compact(fields))
    assert check(token, method="GET", url=url, body=b"")
    # Our own callback parameters may or may not be part of what Vonage hashed.
    ours = (
        f"https://gw.example.com/webhooks/vonage/1/answer?call_id=7&leg=agent&{urlencode(fields)}"
    )
    assert check(token, method="GET", url=ours, body=b"")
    assert check(
        token_for(compact({"call_id": "7", "leg": "agent", **fields})),
        method="GET",
        url=ours,
        body=b"",
    )
    for changed in (
        url.replace("447700900000", "447700900001"),
        url + "&extra=1",
        url.replace(urlencode(fields), urlencode(dict(reversed(list(fields.items()))))),
    ):
        with pytest.raises(SignatureError):
            check(token, method="GET", url=changed, body=b"")


def test_url_is_not_signed_by_vonage() -> None:
    """Vonage signs the payload only: the same request verifies at any URL (the pipeline's
    dedupe keys come from the signed payload, so a replay elsewhere changes nothing)."""
    assert check(token_for(BODY), url=URL.replace("call_id=7", "call_id=8"))


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("Bearer", "missing"),
        ("Basic dXNlcjpwYXNz", "missing"),
        ("Bearer not-a-jwt", "does not match"),
        ("Bearer a.b.c", "does not match"),
        ("Bearer é.é.é", "does not match"),
        ("Bearer " + "=" * 10 + ".x.y", "does not match"),
    ],
)
def test_bad_authorization_headers_fail(authorization: str | None, reason: str) -> None:
    with pytest.raises(SignatureError, match=reason):
        signature.check(
            [SECRET], authorization, method="POST", body=BODY, query=[], now=NOW, tolerance_s=300
        )


def test_bearer_scheme_is_case_insensitive() -> None:
    assert check(token_for(BODY), scheme="bearer")


def test_wrong_secret_fails() -> None:
    with pytest.raises(SignatureError, match="does not match"):
        check(token_for(BODY, secret="another-accounts-signature-secret"))


@pytest.mark.parametrize(("offset", "ok"), [(0, True), (299, True), (-299, True), (301, False)])
def test_iat_is_judged_against_the_arrival_time(offset: float, ok: bool) -> None:
    token = token_for(BODY)
    for now in (NOW + offset, NOW - offset):
        if ok:
            assert check(token, now=now)
        else:
            with pytest.raises(SignatureError, match="iat"):
                check(token, now=now)


def test_missing_or_odd_iat_and_expired_tokens_fail() -> None:
    payload_hash = hashlib.sha256(BODY).hexdigest()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"payload_hash": payload_hash}, "no iat"),
        ({"payload_hash": payload_hash, "iat": "1767607200"}, "iat"),
        ({"payload_hash": payload_hash, "iat": True}, "iat"),
        ({"payload_hash": payload_hash, "iat": NOW, "exp": NOW - 60}, "expired"),
        ({"iat": NOW}, "payload_hash"),
        ({"iat": NOW, "payload_hash": 42}, "payload_hash"),
    ]
    for claims, reason in cases:
        with pytest.raises(SignatureError, match=reason):
            check(jwt.encode(claims, SECRET, algorithm="HS256"))
    assert check(jwt.encode({"payload_hash": payload_hash, "iat": NOW, "exp": NOW + 60}, SECRET))


def test_token_for_another_application_fails_and_none_named_passes() -> None:
    with pytest.raises(SignatureError, match="another application"):
        check(token_for(BODY, application_id="cccccccc-bbbb-cccc-dddd-0123456789ab"))
    no_app = jwt.encode({"iat": NOW, "payload_hash": hashlib.sha256(BODY).hexdigest()}, SECRET)
    assert check(no_app)


def test_upper_case_payload_hash_is_the_same_digest() -> None:
    assert check(token_for(BODY, payload_hash=hashlib.sha256(BODY).hexdigest().upper()))


# --- through the adapter: rotation ---------------------------------------------------------


def test_adapter_verifies_and_rotates_secrets() -> None:
    adapter = VonageCarrier()
    adapter.verify(credentials(), hook(token_for(BODY)))
    rotating = credentials(previous_signature_secrets=[OLD_SECRET])
    adapter.verify(rotating, hook(token_for(BODY, secret=OLD_SECRET)))
    adapter.verify(rotating, hook(token_for(BODY)))
    with pytest.raises(SignatureError):
        adapter.verify(credentials(), hook(token_for(BODY, secret=OLD_SECRET)))
    with pytest.raises(SignatureError):
        adapter.verify(credentials(), hook(None))
    with pytest.raises(SignatureError):
        adapter.verify(credentials(), hook(token_for(BODY), received_at=NOW + 3600))


# --- application JWTs (REST auth) ----------------------------------------------------------


@pytest.fixture(scope="module")
def private_key() -> str:
    return new_private_key()


def test_application_jwt_matches_vonage_jwt_client(private_key: str) -> None:
    ours = application_jwt(APP_ID, private_key, now=NOW, jti="fixed")
    sdk = JwtClient(APP_ID, private_key).generate_application_jwt({"iat": int(NOW), "jti": "fixed"})
    public = load_pem_private_key(private_key.encode(), password=None).public_key()
    assert isinstance(public, RSAPublicKey)
    assert jwt.get_unverified_header(ours) == jwt.get_unverified_header(sdk.decode())

    def decode(token: str) -> dict[str, Any]:
        return jwt.decode(token, public, algorithms=["RS256"], options={"verify_exp": False})

    assert decode(ours) == decode(sdk.decode())
    assert decode(ours) == {
        "application_id": APP_ID,
        "iat": int(NOW),
        "jti": "fixed",
        "exp": int(NOW) + 900,
    }


def test_application_jwts_get_fresh_ids(private_key: str) -> None:
    first, second = (application_jwt(APP_ID, private_key) for _ in range(2))
    claims = [jwt.decode(t, options={"verify_signature": False}) for t in (first, second)]
    assert claims[0]["jti"] != claims[1]["jti"]
