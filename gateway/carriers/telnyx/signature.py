"""Telnyx webhook signatures: Ed25519 over `{telnyx-timestamp}|{raw body}`, verified per key.

Headers `telnyx-signature-ed25519` (base64 of the 64-byte signature) and `telnyx-timestamp`
(Unix seconds); the key is the account's base64 Ed25519 public key from the Mission Control
portal. This follows telnyx-python `lib/webhook_verification.py` (the tests hold it to that
module): same message, same 300 s tolerance, but judged against when the request arrived, and
stricter about encodings (the SDK's base64 decoder skips characters outside the alphabet).

The signature covers the timestamp and body only, not the URL: our call id travels in the
signed body (`client_state`), not in the callback URL's query.
"""

import base64
import binascii
from collections.abc import Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


def signed_message(timestamp: str, body: bytes) -> bytes:
    return timestamp.encode("ascii") + b"|" + body


def load_public_key(value: str) -> Ed25519PublicKey:
    """The key from its base64 text (ValueError if it is not a 32-byte Ed25519 key)."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("public key is not base64") from exc
    if len(raw) != PUBLIC_KEY_BYTES:
        raise ValueError(f"public key must be {PUBLIC_KEY_BYTES} bytes, got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def _decode_signature(value: str) -> bytes | None:
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == SIGNATURE_BYTES else None


def _timestamp(value: str) -> int | None:
    if not value.isascii() or not value.isdigit():
        return None
    return int(value)


def is_valid(
    public_keys: Sequence[str],
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    *,
    now: float,
    tolerance_s: int,
) -> bool:
    """True if any of the keys (several during a rotation) signed this timestamp and body.

    Any malformed header is a plain mismatch, never an exception.
    """
    if not signature or not timestamp:
        return False
    sent_at = _timestamp(timestamp)
    raw_signature = _decode_signature(signature)
    if sent_at is None or raw_signature is None or abs(now - sent_at) > tolerance_s:
        return False
    message = signed_message(timestamp, body)
    valid = False
    for text in public_keys:
        try:
            key = load_public_key(text)
        except ValueError:
            continue
        try:
            key.verify(raw_signature, message)
        except InvalidSignature:
            continue
        valid = True
    return valid
