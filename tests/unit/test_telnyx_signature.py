"""Telnyx's Ed25519 webhook check agrees with telnyx-python's verifier and RFC 8032's vector.

Telnyx publishes no fixed signature vector (its SDK test suites sign with random keys per run,
team-telnyx/telnyx-python `tests/api_resources/test_webhooks.py`), so the oracle is the SDK's
verifier, `telnyx/lib/webhook_verification.py` (telnyx 4.189.0), fed requests signed with
RFC 8032 §7.1 TEST 1's key, whose signature of the empty message is published.
"""

import base64
import importlib.util
import json
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.carriers.base import InboundWebhook, InvalidCredentials, SignatureError
from gateway.carriers.telnyx import signature
from gateway.carriers.telnyx.adapter import TelnyxCarrier
from tests.standins.telnyx_api import (
    RFC8032_TEST1_PUBLIC,
    RFC8032_TEST1_SECRET,
    TEST_PRIVATE_KEY,
    TEST_PUBLIC_KEY,
    public_key_of,
    sign,
    signed_headers,
)

# RFC 8032 §7.1 TEST 1: SIGNATURE of the empty MESSAGE under the published SECRET KEY.
RFC8032_TEST1_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)
TOLERANCE = 300
FIXTURES = Path(__file__).parents[1] / "fixtures" / "carriers" / "telnyx"
BODY = json.dumps(
    {
        "data": {
            "record_type": "event",
            "event_type": "call.hangup",
            "id": "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0",
            "occurred_at": "2018-02-02T22:25:27.521992Z",
            "payload": {"call_control_id": "v3:abc", "hangup_cause": "call_rejected"},
        }
    }
).encode()
CREDENTIALS = {
    "api_key": "KEY0190F1B2C3D4E5F60718293A4B5C6D7E_unit",
    "public_key": TEST_PUBLIC_KEY,
    "connection_id": "1494404757140276705",
}

SdkVerify = Callable[[bytes, Mapping[str, str], str, float], bool]


def _nacl_shim() -> dict[str, ModuleType]:
    """PyNaCl's two names the SDK imports, on `cryptography`'s Ed25519.

    telnyx-python imports PyNaCl lazily and does not depend on it; where PyNaCl is missing
    this stands in for it, so the SDK's own header, timestamp and message handling still runs
    as the oracle (the primitive itself is checked against RFC 8032 below).
    """

    class BadSignatureError(Exception):
        pass

    class VerifyKey:
        def __init__(self, key: bytes) -> None:
            self._key = Ed25519PublicKey.from_public_bytes(key)

        def verify(self, message: bytes, sig: bytes) -> bytes:
            try:
                self._key.verify(sig, message)
            except InvalidSignature as exc:
                raise BadSignatureError("signature was forged or corrupt") from exc
            return message

    nacl = ModuleType("nacl")
    signing = ModuleType("nacl.signing")
    exceptions = ModuleType("nacl.exceptions")
    setattr(signing, "VerifyKey", VerifyKey)  # noqa: B010
    setattr(exceptions, "BadSignatureError", BadSignatureError)  # noqa: B010
    setattr(nacl, "signing", signing)  # noqa: B010
    setattr(nacl, "exceptions", exceptions)  # noqa: B010
    return {"nacl": nacl, "nacl.signing": signing, "nacl.exceptions": exceptions}


@pytest.fixture
def sdk_verify(monkeypatch: pytest.MonkeyPatch) -> Iterator[SdkVerify]:
    """telnyx-python's verifier, with its clock set to the given `now`."""
    if importlib.util.find_spec("nacl") is None:
        for name, module in _nacl_shim().items():
            monkeypatch.setitem(sys.modules, name, module)
    from telnyx.lib import webhook_verification

    def verify(body: bytes, headers: Mapping[str, str], public_key: str, now: float) -> bool:
        monkeypatch.setattr(webhook_verification, "time", SimpleNamespace(time=lambda: now))
        try:
            webhook_verification.verify_webhook_signature(body, headers, public_key)
        except webhook_verification.WebhookVerificationError:
            return False
        return True

    yield verify


def ours(body: bytes, headers: Mapping[str, str], keys: str | list[str], now: float) -> bool:
    lower = {k.lower(): v for k, v in headers.items()}
    return signature.is_valid(
        [keys] if isinstance(keys, str) else keys,
        body,
        lower.get("telnyx-signature-ed25519"),
        lower.get("telnyx-timestamp"),
        now=now,
        tolerance_s=TOLERANCE,
    )


def hook(
    headers: Mapping[str, str], body: bytes = BODY, received_at: float = 0.0
) -> InboundWebhook:
    return InboundWebhook(
        method="POST",
        url="https://gw.example.com/webhooks/telnyx/1/status?call_id=7",
        headers={k.lower(): v for k, v in headers.items()},
        body=body,
        query={"call_id": "7"},
        kind="status",
        received_at=received_at,
    )


# --- the primitive and the test key ------------------------------------------------------------


def test_rfc8032_test1_vector() -> None:
    key = Ed25519PrivateKey.from_private_bytes(RFC8032_TEST1_SECRET)
    assert key.sign(b"") == RFC8032_TEST1_SIGNATURE
    assert public_key_of(key) == base64.b64encode(RFC8032_TEST1_PUBLIC).decode() == TEST_PUBLIC_KEY
    signature.load_public_key(TEST_PUBLIC_KEY).verify(RFC8032_TEST1_SIGNATURE, b"")


def test_signed_message_is_timestamp_bar_body() -> None:
    """The signed bytes are exactly `{telnyx-timestamp}|{raw body}`."""
    ts = "1767607200"
    sig = base64.b64decode(sign(TEST_PRIVATE_KEY, ts, BODY))
    assert signature.signed_message(ts, BODY) == b"1767607200|" + BODY
    TEST_PRIVATE_KEY.public_key().verify(sig, b"1767607200|" + BODY)


# --- agreement with telnyx-python -------------------------------------------------------------


def test_sdk_and_ours_accept_a_genuine_webhook(sdk_verify: SdkVerify) -> None:
    now = time.time()
    headers = signed_headers(BODY, timestamp=int(now))
    assert sdk_verify(BODY, headers, TEST_PUBLIC_KEY, now)
    assert ours(BODY, headers, TEST_PUBLIC_KEY, now)


def _variants(now: int) -> dict[str, tuple[bytes, dict[str, str]]]:
    good = signed_headers(BODY, timestamp=now)
    other_key = Ed25519PrivateKey.generate()
    sig = good["telnyx-signature-ed25519"]
    raw = base64.b64decode(sig)
    return {
        "genuine": (BODY, good),
        "body changed": (BODY.replace(b"call_rejected", b"user_busy"), good),
        "body with a trailing newline": (BODY + b"\n", good),
        "timestamp changed": (BODY, {**good, "telnyx-timestamp": str(now + 1)}),
        "another key": (BODY, signed_headers(BODY, private_key=other_key, timestamp=now)),
        "signature bit flipped": (
            BODY,
            {
                **good,
                "telnyx-signature-ed25519": base64.b64encode(
                    bytes([raw[0] ^ 1]) + raw[1:]
                ).decode(),
            },
        ),
        "signature truncated": (
            BODY,
            {**good, "telnyx-signature-ed25519": base64.b64encode(raw[:63]).decode()},
        ),
        "signature not base64": (BODY, {**good, "telnyx-signature-ed25519": "%" * 88}),
        "signature empty": (BODY, {**good, "telnyx-signature-ed25519": ""}),
        "signature missing": (
            BODY,
            {k: v for k, v in good.items() if k != "telnyx-signature-ed25519"},
        ),
        "timestamp missing": (BODY, {k: v for k, v in good.items() if k != "telnyx-timestamp"}),
        "timestamp not a number": (BODY, {**good, "telnyx-timestamp": "yesterday"}),
        "signed 301 s ago": (BODY, signed_headers(BODY, timestamp=now - 301)),
        "signed 301 s ahead": (BODY, signed_headers(BODY, timestamp=now + 301)),
        "signed 300 s ago": (BODY, signed_headers(BODY, timestamp=now - 300)),
        "signed 300 s ahead": (BODY, signed_headers(BODY, timestamp=now + 300)),
    }


ACCEPTED = {"genuine", "signed 300 s ago", "signed 300 s ahead"}


@pytest.mark.parametrize("case", sorted(_variants(0)))
def test_sdk_and_ours_agree_on_tampering(sdk_verify: SdkVerify, case: str) -> None:
    now = int(time.time())
    body, headers = _variants(now)[case]
    expected = case in ACCEPTED
    assert sdk_verify(body, headers, TEST_PUBLIC_KEY, float(now)) is expected
    assert ours(body, headers, TEST_PUBLIC_KEY, float(now)) is expected


def test_sdk_and_ours_agree_on_random_requests(sdk_verify: SdkVerify) -> None:
    keys = [Ed25519PrivateKey.generate() for _ in range(3)]
    now = int(time.time())
    for n in range(60):
        signer = keys[n % 3]
        verifier = public_key_of(keys[(n // 3) % 3])
        body = json.dumps({"data": {"id": f"event-{n}", "text": "é" * (n % 5)}}).encode()
        headers = signed_headers(body, private_key=signer, timestamp=now - (n * 11) % 400)
        assert sdk_verify(body, headers, verifier, float(now)) == ours(
            body, headers, verifier, float(now)
        ), n


def test_valid_fixtures_pass_the_sdk(sdk_verify: SdkVerify) -> None:
    fixtures = [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json"))]
    assert fixtures
    for fixture in fixtures:
        body = fixture["body"].encode()
        key = fixture["credentials"]["public_key"]
        sdk = sdk_verify(body, fixture["headers"], key, fixture["received_at"])
        assert sdk is fixture["valid"], fixture["description"]
        assert ours(body, fixture["headers"], key, fixture["received_at"]) is fixture["valid"]


def test_the_url_is_not_signed() -> None:
    """Telnyx signs `{timestamp}|{body}` only; the call id is read from the signed body
    (see test_telnyx_parse: the call id comes from client_state, not the URL)."""
    now = int(time.time())
    moved = InboundWebhook(
        method="POST",
        url="https://elsewhere.example/webhooks/telnyx/2/status?call_id=8",
        headers=signed_headers(BODY, timestamp=now),
        body=BODY,
        query={"call_id": "8"},
        kind="status",
        received_at=now,
    )
    TelnyxCarrier().verify(CREDENTIALS, moved)


# --- tolerance is judged against arrival, and rotation ---------------------------------------


def test_timestamp_is_judged_against_received_at_not_the_clock() -> None:
    signed_at = 1_500_000_000  # long past: only `now` decides
    headers = signed_headers(BODY, timestamp=signed_at)
    assert ours(BODY, headers, TEST_PUBLIC_KEY, signed_at + 299.9)
    assert not ours(BODY, headers, TEST_PUBLIC_KEY, signed_at + 300.5)
    adapter = TelnyxCarrier()
    adapter.verify(CREDENTIALS, hook(headers, received_at=signed_at + 10))
    with pytest.raises(SignatureError):
        adapter.verify(CREDENTIALS, hook(headers, received_at=signed_at + 3600))


def test_rotation_accepts_any_listed_key() -> None:
    old, new, stranger = (Ed25519PrivateKey.generate() for _ in range(3))
    keys = [public_key_of(old), public_key_of(new)]
    now = int(time.time())
    for signer, expected in [(old, True), (new, True), (stranger, False)]:
        headers = signed_headers(BODY, private_key=signer, timestamp=now)
        assert ours(BODY, headers, keys, now) is expected
    # A broken entry never hides a good one.
    headers = signed_headers(BODY, private_key=new, timestamp=now)
    assert ours(BODY, headers, ["not base64!", base64.b64encode(b"x" * 31).decode(), keys[1]], now)
    assert not ours(BODY, headers, [], now)


def test_adapter_takes_a_list_of_keys_from_credentials() -> None:
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    adapter = TelnyxCarrier()
    credentials = adapter.check_credentials(
        {**CREDENTIALS, "public_key": [public_key_of(old), public_key_of(new)]}
    )
    now = int(time.time())
    for signer in (old, new):
        adapter.verify(
            credentials,
            hook(signed_headers(BODY, private_key=signer, timestamp=now), received_at=now),
        )
    with pytest.raises(SignatureError):
        adapter.verify(credentials, hook(signed_headers(BODY, timestamp=now), received_at=now))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"telnyx-signature-ed25519": "é" * 88, "telnyx-timestamp": "1767607200"},
        {"telnyx-signature-ed25519": "AAAA", "telnyx-timestamp": "١٧٦٧٦٠٧٢٠٠"},
        {"telnyx-signature-ed25519": "AAAA", "telnyx-timestamp": "-1767607200"},
        {"telnyx-signature-ed25519": "A" * 86 + "==", "telnyx-timestamp": " 1767607200"},
    ],
)
def test_malformed_headers_are_a_signature_error_not_a_crash(headers: dict[str, Any]) -> None:
    with pytest.raises(SignatureError):
        TelnyxCarrier().verify(CREDENTIALS, hook(headers, received_at=1767607200))


# --- credentials --------------------------------------------------------------------------------


def test_check_credentials_normalizes() -> None:
    checked = TelnyxCarrier().check_credentials(
        {
            **CREDENTIALS,
            "public_key": f" {TEST_PUBLIC_KEY}\n",
            "api_base_url": "http://127.0.0.1:9/",
        }
    )
    assert checked == {**CREDENTIALS, "api_base_url": "http://127.0.0.1:9"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"api_key": None}, "credentials.api_key"),
        ({"api_key": "short"}, "credentials.api_key"),
        ({"api_key": "KEY with spaces in it 0123"}, "credentials.api_key"),
        ({"connection_id": ""}, "credentials.connection_id"),
        ({"connection_id": 1494404757140276705}, "credentials.connection_id"),
        ({"public_key": None}, "credentials.public_key"),
        ({"public_key": "not base64!"}, "credentials.public_key"),
        ({"public_key": base64.b64encode(b"k" * 31).decode()}, "credentials.public_key"),
        ({"public_key": []}, "credentials.public_key"),
        ({"public_key": [TEST_PUBLIC_KEY, 7]}, "credentials.public_key"),
        ({"api_base_url": "ftp://api.telnyx.com"}, "credentials.api_base_url"),
    ],
)
def test_check_credentials_names_the_bad_field(change: dict[str, Any], field: str) -> None:
    credentials = {k: v for k, v in {**CREDENTIALS, **change}.items() if v is not None}
    with pytest.raises(InvalidCredentials) as exc:
        TelnyxCarrier().check_credentials(credentials)
    assert exc.value.field == field
