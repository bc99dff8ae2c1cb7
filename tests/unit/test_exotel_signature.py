"""Exotel's callback-URL tokens: agreement with an independent HMAC, tampering, expiry, rotation.

Exotel signs no webhook and ships no SDK signer (https://developer.exotel.com/docs/references/
webhooks advises only HTTPS and source IPs), so there is no vendor oracle to agree with. The
scheme is ours (gateway/carriers/exotel/signature.py); these tests hold the gateway's code to an
independent implementation (`cryptography`'s HMAC) and to RFC 4231's HMAC-SHA256 vectors.
"""

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes, hmac
from hypothesis import given
from hypothesis import strategies as st

from gateway.carriers.base import (
    InboundWebhook,
    InvalidCredentials,
    OriginateRequest,
    SignatureError,
)
from gateway.carriers.exotel import const, signature
from gateway.carriers.exotel.adapter import ExotelCarrier
from gateway.carriers.exotel.originate import connect_form

SECRET = "a" * 64
OLD = "b" * 64
BASE = "https://gw.example.com/webhooks/exotel/3"
NOW = 1767607200


def independent(secret: str, message: str) -> str:
    h = hmac.HMAC(secret.encode(), hashes.SHA256())
    h.update(message.encode())
    return h.finalize().hex()


def callback_url(call_id: int = 7, *, secret: str = SECRET, ttl: int = 3600) -> str:
    return signature.signed_callback_url(
        secret, f"{BASE}/status?call_id={call_id}", expires_at=NOW + ttl
    )


def hook(url: str, kind: str = "status", *, received_at: float = NOW) -> InboundWebhook:
    parts = urlsplit(url)
    return InboundWebhook(
        method="POST" if kind == "status" else "GET",
        url=url,
        headers={},
        body=b"",
        query={k: v[0] for k, v in parse_qs(parts.query).items()},
        kind=kind,
        received_at=received_at,
    )


def credentials(*secrets: str) -> dict[str, Any]:
    return ExotelCarrier().check_credentials(
        {
            "account_sid": "acme1",
            "api_key": "key-0123456789",
            "api_token": "token-0123456789",
            "callback_secrets": list(secrets or (SECRET,)),
        }
    )


# --- the primitive and the message -----------------------------------------------------------


# RFC 4231 §4.3 (test case 2) and §4.4 (test case 3, key and data as hex).
@pytest.mark.parametrize(
    ("key", "data", "digest"),
    [
        (
            b"Jefe",
            b"what do ya want for nothing?",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        (
            b"\xaa" * 20,
            b"\xdd" * 50,
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
        ),
    ],
)
def test_the_independent_hmac_meets_rfc_4231(key: bytes, data: bytes, digest: str) -> None:
    h = hmac.HMAC(key, hashes.SHA256())
    h.update(data)
    assert h.finalize().hex() == digest


def test_callback_token_is_hmac_sha256_of_path_call_id_and_expiry() -> None:
    url = callback_url(7)
    query = parse_qs(urlsplit(url).query)
    assert query["call_id"] == ["7"]
    assert query["exp"] == [str(NOW + 3600)]
    assert query["token"] == [independent(SECRET, f"/webhooks/exotel/3/status:7:{NOW + 3600}")]


def test_inbound_token_is_hmac_sha256_of_the_path() -> None:
    url = signature.inbound_url(SECRET, f"{BASE}/passthru")
    assert url == f"{BASE}/passthru?token=" + independent(
        SECRET, "/webhooks/exotel/3/passthru:inbound"
    )


@given(
    secret=st.text(min_size=32, max_size=80),
    path=st.text(alphabet=st.characters(codec="ascii", exclude_characters="?#"), max_size=60),
    call_id=st.integers(min_value=1, max_value=10**12),
    expires_at=st.integers(min_value=0, max_value=2**40),
)
def test_tokens_agree_with_the_independent_implementation(
    secret: str, path: str, call_id: int, expires_at: int
) -> None:
    assert signature.callback_token(secret, path, str(call_id), str(expires_at)) == independent(
        secret, f"{path}:{call_id}:{expires_at}"
    )
    assert signature.inbound_token(secret, path) == independent(secret, f"{path}:inbound")


def test_signed_url_needs_exactly_one_numeric_call_id() -> None:
    for url in (f"{BASE}/status", f"{BASE}/status?call_id=x", f"{BASE}/status?call_id=1&call_id=2"):
        with pytest.raises(ValueError, match="call_id"):
            signature.signed_callback_url(SECRET, url, expires_at=NOW)


# --- verification -------------------------------------------------------------------------------


def test_a_fresh_callback_url_verifies_until_it_expires() -> None:
    url = callback_url(ttl=60)
    signature.verify_callback([SECRET], url, now=NOW)
    signature.verify_callback([SECRET], url, now=NOW + 60)
    with pytest.raises(SignatureError, match="expired"):
        signature.verify_callback([SECRET], url, now=NOW + 61)


def _replace(url: str, old: str, new: str) -> str:
    assert old in url
    return url.replace(old, new, 1)


def _token(url: str) -> str:
    return url.rsplit("&token=", 1)[1]


def _with_token(url: str, token: str) -> str:
    return url.rsplit("&token=", 1)[0] + "&token=" + token


TAMPERINGS: dict[str, Callable[[str], str]] = {
    "another call": lambda u: _replace(u, "call_id=7", "call_id=8"),
    "a later expiry": lambda u: _replace(u, f"exp={NOW + 3600}", f"exp={NOW + 7200}"),
    "one token digit": lambda u: u[:-1] + ("0" if u[-1] != "0" else "1"),
    "upper-case token": lambda u: _with_token(u, _token(u).upper()),
    "another account": lambda u: _replace(u, "/exotel/3/", "/exotel/4/"),
    "another kind": lambda u: _replace(u, "/status?", "/hangup?"),
    "no token": lambda u: u.split("&token=")[0],
    "no expiry": lambda u: _replace(u, f"exp={NOW + 3600}&", ""),
    "no call id": lambda u: _replace(u, "call_id=7&", ""),
    "a repeated call id": lambda u: u + "&call_id=8",
    "a repeated token": lambda u: u + "&token=" + "0" * 64,
    "unicode digits": lambda u: _replace(u, "call_id=7", "call_id=%D9%A7"),
    "a non-ASCII token": lambda u: _with_token(u, "%C3%A9" * 32),
    "a static key instead": lambda u: f"{BASE}/status?call_id=7&key={SECRET}",
}


@pytest.mark.parametrize("how", sorted(TAMPERINGS))
def test_tampered_callback_urls_are_refused(how: str) -> None:
    url = TAMPERINGS[how](callback_url())
    assert url != callback_url()
    with pytest.raises(SignatureError):
        signature.verify_callback([SECRET], url, now=NOW)


def test_the_host_is_not_bound_so_a_new_public_base_url_keeps_live_calls() -> None:
    # Only the path is signed: the account's secret already binds the account, and a call
    # placed before PUBLIC_BASE_URL changed keeps reporting (the path names the account).
    moved = callback_url().replace("https://gw.example.com", "http://10.0.0.5:8080")
    signature.verify_callback([SECRET], moved, now=NOW)


def test_rotation_accepts_every_listed_secret_and_signs_with_the_first() -> None:
    old_url = callback_url(secret=OLD)
    signature.verify_callback([SECRET, OLD], old_url, now=NOW)
    with pytest.raises(SignatureError):
        signature.verify_callback([SECRET], old_url, now=NOW)
    with pytest.raises(SignatureError):
        signature.verify_callback([], old_url, now=NOW)
    creds = credentials(SECRET, OLD)
    request = OriginateRequest(
        call_id=7,
        agent_number="+919000012345",
        customer_number="+919876543210",
        caller_id="+918047180000",
        status_callback_url=f"{BASE}/status?call_id=7",
        customer_status_callback_url=f"{BASE}/status?call_id=7",
        webhook_base=BASE,
    )
    form = dict(connect_form(creds, request, now=NOW))
    signature.verify_callback([SECRET], form["StatusCallback"], now=NOW)
    with pytest.raises(SignatureError):
        signature.verify_callback([OLD], form["StatusCallback"], now=NOW)


def test_every_secret_is_tried_even_after_a_match(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = signature.callback_token

    def counting(secret: str, path: str, call_id: str, expires_at: str) -> str:
        calls.append(secret)
        return real(secret, path, call_id, expires_at)

    url = callback_url()
    monkeypatch.setattr(signature, "callback_token", counting)
    signature.verify_callback([SECRET, OLD, "c" * 64], url, now=NOW)
    assert calls == [SECRET, OLD, "c" * 64]


def test_inbound_tokens_are_per_kind_and_account_and_rotate() -> None:
    passthru = signature.inbound_url(SECRET, f"{BASE}/passthru")
    signature.verify_inbound([SECRET], passthru + "&CallSid=abc&CallType=call-attempt")
    for forged in (
        passthru.replace("/passthru?", "/connect?"),
        passthru.replace("/exotel/3/", "/exotel/4/"),
        passthru.split("?")[0],
        passthru + "&token=" + "0" * 64,
        f"{BASE}/passthru?token=" + SECRET,
    ):
        with pytest.raises(SignatureError):
            signature.verify_inbound([SECRET], forged)
    old = signature.inbound_url(OLD, f"{BASE}/passthru")
    signature.verify_inbound([SECRET, OLD], old)
    with pytest.raises(SignatureError):
        signature.verify_inbound([SECRET], old)


# --- through the adapter --------------------------------------------------------------------


def test_adapter_judges_expiry_against_the_time_the_request_arrived() -> None:
    adapter = ExotelCarrier()
    url = callback_url(ttl=10)
    adapter.verify(credentials(), hook(url, received_at=NOW + 10))
    with pytest.raises(SignatureError):
        adapter.verify(credentials(), hook(url, received_at=NOW + 11))


def test_adapter_checks_each_kind_with_its_own_scheme() -> None:
    adapter = ExotelCarrier()
    creds = credentials()
    adapter.verify(creds, hook(callback_url(), "status"))
    for kind in ("passthru", "connect", "hangup"):
        adapter.verify(creds, hook(signature.inbound_url(SECRET, f"{BASE}/{kind}"), kind))
        # A per-call callback URL is not an inbound URL, nor the other way round.
        with pytest.raises(SignatureError):
            adapter.verify(creds, hook(callback_url().replace("/status?", f"/{kind}?"), kind))
    with pytest.raises(SignatureError):
        adapter.verify(creds, hook(signature.inbound_url(SECRET, f"{BASE}/status"), "status"))


def test_inbound_urls_for_the_admin_verify() -> None:
    adapter = ExotelCarrier()
    creds = credentials()
    urls = adapter.inbound_urls(creds, BASE)
    assert set(urls) == const.INBOUND_KINDS
    for kind, url in urls.items():
        adapter.verify(creds, hook(url + "&CallSid=abc", kind))


# --- the secret itself ------------------------------------------------------------------------


def test_check_credentials_generates_a_fresh_secret_per_account() -> None:
    adapter = ExotelCarrier()
    given_creds = {"account_sid": "acme1", "api_key": "key-0123456789", "api_token": "tok-01234567"}
    first = adapter.check_credentials(given_creds)["callback_secrets"]
    second = adapter.check_credentials(given_creds)["callback_secrets"]
    assert len(first) == 1 and len(first[0]) == 64
    assert first != second
    kept = adapter.check_credentials({**given_creds, "callback_secrets": [SECRET, OLD]})
    assert kept["callback_secrets"] == [SECRET, OLD]


@pytest.mark.parametrize(
    "secrets",
    [[], ["short"], [SECRET, 5], "a" * 64, [SECRET] * 6],
)
def test_check_credentials_refuses_weak_secret_lists(secrets: Any) -> None:
    with pytest.raises(InvalidCredentials) as info:
        ExotelCarrier().check_credentials(
            {
                "account_sid": "acme1",
                "api_key": "key-0123456789",
                "api_token": "tok-01234567",
                "callback_secrets": secrets,
            }
        )
    assert info.value.field == "credentials.callback_secrets"
