"""The sandbox carrier's signatures, parsing and deterministic outcomes."""

import json
import time

import pytest

from gateway.carriers.base import InboundWebhook, MalformedWebhook, SignatureError
from gateway.carriers.sandbox import signature
from gateway.carriers.sandbox.adapter import SandboxCarrier
from gateway.carriers.sandbox.const import scripted_outcome
from gateway.models import CallOutcome, CallStatus

URL = "https://gw.example.com/webhooks/sandbox/7/status?call_id=12"
KEY = "sk_sandbox_0123456789abcdef"


def hook(body: bytes, header: str | None, url: str = URL) -> InboundWebhook:
    headers = {"content-type": "application/json"}
    if header is not None:
        headers["x-sandbox-signature"] = header
    return InboundWebhook(
        method="POST", url=url, headers=headers, body=body, query={"call_id": "12"}, kind="status"
    )


def payload(**overrides: object) -> bytes:
    data: dict[str, object] = {
        "call_id": "SBabc",
        "status": "ringing",
        "sequence": 1,
        "direction": "outbound",
        "from": "+918047180000",
        "to": "+919876543210",
        "timestamp": "2026-01-05T10:00:00+00:00",
    }
    data.update(overrides)
    return json.dumps(data).encode()


def test_valid_signature_passes() -> None:
    body = payload()
    SandboxCarrier().verify({"api_key": KEY}, hook(body, signature.header_value(KEY, URL, body)))


@pytest.mark.parametrize(
    "tamper",
    ["body", "url", "key", "missing", "garbage", "old", "no-v1"],
)
def test_tampered_requests_fail(tamper: str) -> None:
    body = payload()
    header: str | None = signature.header_value(KEY, URL, body)
    url = URL
    if tamper == "body":
        body = payload(status="answered")
    elif tamper == "url":
        url = URL.replace("/7/", "/8/")
    elif tamper == "key":
        header = signature.header_value(KEY + "x", URL, body)
    elif tamper == "missing":
        header = None
    elif tamper == "garbage":
        header = "nonsense"
    elif tamper == "old":
        header = signature.header_value(KEY, URL, body, timestamp=int(time.time()) - 3600)
    elif tamper == "no-v1":
        header = f"t={int(time.time())}"
    with pytest.raises(SignatureError):
        SandboxCarrier().verify({"api_key": KEY}, hook(body, header, url))


def test_any_of_several_secrets_verifies_for_rotation() -> None:
    body = payload()
    header = signature.header_value("new-secret-0123456789", URL, body)
    assert signature.is_valid(
        ["old-secret-0123456789", "new-secret-0123456789"], URL, body, header, tolerance_s=300
    )


def test_parse_normalizes_every_documented_status() -> None:
    carrier = SandboxCarrier()
    expected = {
        "queued": (CallStatus.QUEUED, None),
        "initiated": (CallStatus.INITIATED, None),
        "ringing": (CallStatus.RINGING, None),
        "answered": (CallStatus.IN_PROGRESS, None),
        "completed": (CallStatus.COMPLETED, CallOutcome.COMPLETED),
        "busy": (CallStatus.COMPLETED, CallOutcome.BUSY),
        "no-answer": (CallStatus.COMPLETED, CallOutcome.NO_ANSWER),
        "failed": (CallStatus.COMPLETED, CallOutcome.FAILED),
        "canceled": (CallStatus.COMPLETED, CallOutcome.CANCELED),
    }
    assert set(carrier.documented_statuses) == set(expected)
    for value, (status, outcome) in expected.items():
        (event,) = carrier.parse(hook(payload(status=value), None), {})
        assert (event.status, event.outcome) == (status, outcome)
        assert event.local_call_id == 12
        assert event.dedupe_key == "SBabc:seq:1"


def test_unknown_status_is_kept_unmapped() -> None:
    (event,) = SandboxCarrier().parse(hook(payload(status="teleported"), None), {})
    assert event.status is None and event.carrier_status == "teleported"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "body"),
        (b"[1, 2]", "body"),
        (payload(call_id=None), "call_id"),
        (payload(status=""), "status"),
        (payload(sequence="one"), "sequence"),
        (payload(duration=-3), "duration"),
        (payload(timestamp="yesterday"), "timestamp"),
    ],
)
def test_malformed_payloads_name_the_field(body: bytes, field: str) -> None:
    with pytest.raises(MalformedWebhook) as info:
        SandboxCarrier().parse(hook(body, None), {})
    assert info.value.field == field


@pytest.mark.parametrize(
    ("number", "outcome"),
    [
        ("+919876500001", "busy"),
        ("+919876500002", "no-answer"),
        ("+919876500003", "failed"),
        ("+919876500004", "completed"),
        ("+14155550100", "completed"),
    ],
)
def test_outcome_follows_last_four_digits(number: str, outcome: str) -> None:
    assert scripted_outcome(number) == outcome
