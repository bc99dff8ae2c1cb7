"""Vonage signed webhooks: an HS256 JWT (signature secret) whose `payload_hash` covers the payload.

Vonage sends `Authorization: Bearer <JWT>` with the claims `iat`, `jti`, `iss`, `payload_hash`,
`api_key` and `application_id`; `payload_hash` is the SHA-256 hex digest of the payload
(https://developer.vonage.com/en/getting-started/concepts/webhooks#decoding-signed-webhooks,
https://api.support.vonage.com/hc/en-us/articles/19033783342876). The URL is not signed.

HS256 is checked here by hand (a few lines of `hmac`), which keeps the checks against the
request's arrival time rather than the clock and never warns about short secrets; tests hold
it to `vonage_jwt.verify_signature` and the SDK's published vector.
"""

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from typing import Any

from gateway.carriers.base import SignatureError
from gateway.carriers.vonage.const import OUR_PARAMS

# An `exp` claim (Vonage's tokens carry none today) is honoured with this much clock skew.
EXP_LEEWAY_S = 30


def b64url_decode(segment: str) -> bytes:
    """Strict base64url without padding, as JWTs use (RFC 7515 §2)."""
    if not segment.isascii() or "=" in segment:
        raise ValueError("not base64url")
    padded = segment + "=" * (-len(segment) % 4)
    try:
        return base64.b64decode(padded.translate(str.maketrans("-_", "+/")), validate=True)
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc


def bearer_token(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def verified_claims(token: str, secrets: Iterable[str]) -> dict[str, Any] | None:
    """The claims of an HS256 JWT signed with one of `secrets`; None for anything else."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header = json.loads(b64url_decode(parts[0]))
        signature = b64url_decode(parts[2])
        signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    except ValueError:
        return None
    # Only HS256: a token naming another algorithm (or `none`) is not Vonage's.
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        return None
    matched = False
    for secret in secrets:
        mac = hmac.new(secret.encode("utf-8"), signing_input, hashlib.sha256).digest()
        # No short-circuit: every secret costs the same whichever one signed.
        matched |= hmac.compare_digest(mac, signature)
    if not matched:
        return None
    try:
        claims = json.loads(b64url_decode(parts[1]))
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


def _compact_json(value: object) -> bytes:
    """JSON as JavaScript's JSON.stringify writes it: no whitespace, non-ASCII kept."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def payload_hashes(method: str, body: bytes, query: Sequence[tuple[str, str]]) -> list[str]:
    """SHA-256 hex digests that a genuine `payload_hash` may hold for this request.

    POST: the body as sent, or (Vonage's recipe) the body's object re-serialized without
    whitespace. GET: the query parameters as a JSON object, in their order, without
    whitespace; with or without the parameters of our own callback URL, as the recipe does
    not say whether Vonage counts those.
    """
    if method == "GET":
        params = dict(query)
        theirs = {k: v for k, v in params.items() if k not in OUR_PARAMS}
        candidates = [_compact_json(params), _compact_json(theirs)]
    else:
        candidates = [body]
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            candidates.append(_compact_json(parsed))
    return list(dict.fromkeys(hashlib.sha256(c).hexdigest() for c in candidates))


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SignatureError(f"JWT claim {name} is not a number")
    return float(value)


def check(
    secrets: Sequence[str],
    authorization: str | None,
    *,
    method: str,
    body: bytes,
    query: Sequence[tuple[str, str]],
    now: float,
    tolerance_s: int,
    application_id: str | None = None,
) -> dict[str, Any]:
    """The verified claims of a signed Vonage webhook; SignatureError saying why not."""
    token = bearer_token(authorization)
    if token is None:
        raise SignatureError("missing Authorization: Bearer JWT")
    claims = verified_claims(token, secrets)
    if claims is None:
        raise SignatureError("JWT signature does not match")
    issued_at = _number(claims, "iat")
    if issued_at is None:
        raise SignatureError("JWT has no iat")
    if abs(now - issued_at) > tolerance_s:
        raise SignatureError("JWT iat outside the tolerance")
    expires = _number(claims, "exp")
    if expires is not None and now > expires + EXP_LEEWAY_S:
        raise SignatureError("JWT expired")
    claimed = claims.get("payload_hash")
    if not isinstance(claimed, str) or not claimed.isascii():
        raise SignatureError("JWT has no payload_hash")
    matched = False
    for digest in payload_hashes(method, body, query):
        matched |= hmac.compare_digest(digest, claimed.lower())
    if not matched:
        raise SignatureError("payload_hash does not match the payload")
    claimed_app = claims.get("application_id")
    if application_id is not None and claimed_app is not None and claimed_app != application_id:
        raise SignatureError("JWT is for another application")
    return claims
