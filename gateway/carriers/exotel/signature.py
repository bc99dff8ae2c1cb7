"""Authenticating Exotel's webhooks, which Exotel itself does not sign.

Exotel sends no signature header: its docs only advise HTTPS and checking the source IP
(https://developer.exotel.com/docs/references/webhooks), and frappe/crm's integration notes
"exotel does not support request signature" and compares a static `?key=` with `==`. We do
better where we can by putting the proof in the URL we hand Exotel:

* Calls we place get a callback URL of their own:
  `.../status?call_id=N&exp=<unix>&token=<hex HMAC-SHA256(secret, "<path>:<N>:<exp>")>`.
  The token binds the account's webhook path (so another account's token fails), our call id
  (so it cannot be moved to another call) and an expiry (judged against the time the request
  arrived). The pipeline additionally refuses a callback whose CallSid is not the carrier call
  of that call id (webhooks/apply.py, CallMismatch). What the token cannot do is cover the body:
  whoever sees a callback URL of a live call can post made-up statuses for that one call until
  it expires. That is the limit of an unsigned carrier; HTTPS keeps the URL from onlookers.
* Inbound flows (Passthru, Connect "Dial whom") call a static URL pasted into Exotel's flow
  builder, where no per-call token is possible. Those URLs carry a per-account bearer token,
  `?token=<hex HMAC-SHA256(secret, "<path>:inbound")>`: it is different for each kind and
  account, it is not the secret itself, and it changes when the secret is rotated. It is NOT a
  signature: anyone holding the URL can call it, with any CallSid of the account they know.
  Exotel publishes no source IP ranges to pin (its IP-whitelisting page says to ask support),
  and adapters do not see the client address.

Secrets: the account's `callback_secrets`, newest first. New URLs are made with the first;
any of them verifies, so a new secret can be added, flows updated, then the old one dropped.
"""

import hashlib
import hmac
import re
from collections.abc import Callable, Sequence
from urllib.parse import parse_qs, urlencode, urlsplit

from gateway.carriers.base import SignatureError

CALL_ID_PARAM = "call_id"
EXPIRES_PARAM = "exp"
TOKEN_PARAM = "token"  # noqa: S105  (a parameter name, not a secret)
_DIGITS = re.compile(r"[0-9]{1,19}")


def callback_token(secret: str, path: str, call_id: str, expires_at: str) -> str:
    """The token of one call's callback URL (hex HMAC-SHA256)."""
    message = f"{path}:{call_id}:{expires_at}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def inbound_token(secret: str, path: str) -> str:
    """The bearer token of a static inbound-flow URL (hex HMAC-SHA256)."""
    return hmac.new(secret.encode(), f"{path}:inbound".encode(), hashlib.sha256).hexdigest()


def signed_callback_url(secret: str, url: str, *, expires_at: int) -> str:
    """`url` (which names our call: `...?call_id=N`) with its expiry and token added."""
    parts = urlsplit(url)
    call_ids = parse_qs(parts.query).get(CALL_ID_PARAM, [])
    if len(call_ids) != 1 or not _DIGITS.fullmatch(call_ids[0]):
        raise ValueError("the callback URL must carry exactly one numeric call_id")
    token = callback_token(secret, parts.path, call_ids[0], str(expires_at))
    extra = urlencode({EXPIRES_PARAM: expires_at, TOKEN_PARAM: token})
    return f"{url}&{extra}" if parts.query else f"{url}?{extra}"


def inbound_url(secret: str, url: str) -> str:
    """The URL to paste into an Exotel flow for an inbound webhook kind."""
    token = inbound_token(secret, urlsplit(url).path)
    return f"{url}?{urlencode({TOKEN_PARAM: token})}"


def _equal(a: str, b: str) -> bool:
    """Constant-time equality of two strings of any content (a query may hold anything)."""
    return hmac.compare_digest(
        a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
    )


def _single(params: dict[str, list[str]], name: str) -> str:
    values = params.get(name, [])
    # A repeated parameter could be read differently here and by whoever reads the call id.
    if len(values) != 1 or not values[0]:
        raise SignatureError(f"the URL needs exactly one {name}")
    return values[0]


def _any_matches(secrets: Sequence[str], token: str, expected: Callable[[str], str]) -> bool:
    matched = False
    for secret in secrets:
        # No short-circuit: every secret costs the same whether or not an earlier one matched.
        matched |= _equal(expected(secret), token)
    return matched


def verify_callback(secrets: Sequence[str], url: str, *, now: float) -> None:
    """Raise SignatureError unless `url` carries a valid, unexpired token for its call id."""
    parts = urlsplit(url)
    params = parse_qs(parts.query, keep_blank_values=True)
    call_id = _single(params, CALL_ID_PARAM)
    expires_at = _single(params, EXPIRES_PARAM)
    token = _single(params, TOKEN_PARAM)
    if not _DIGITS.fullmatch(call_id) or not _DIGITS.fullmatch(expires_at):
        raise SignatureError("call_id and exp must be numbers")
    path = parts.path
    if not _any_matches(
        secrets, token, lambda secret: callback_token(secret, path, call_id, expires_at)
    ):
        raise SignatureError("callback token does not match")
    if now > int(expires_at):
        raise SignatureError("callback token expired")


def verify_inbound(secrets: Sequence[str], url: str) -> None:
    """Raise SignatureError unless `url` carries this account's token for its path."""
    parts = urlsplit(url)
    params = parse_qs(parts.query, keep_blank_values=True)
    token = _single(params, TOKEN_PARAM)
    path = parts.path
    if not _any_matches(secrets, token, lambda secret: inbound_token(secret, path)):
        raise SignatureError("inbound token does not match")
