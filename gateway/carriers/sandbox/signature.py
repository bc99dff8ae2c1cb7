"""Sandbox webhook signatures: HMAC-SHA256 over timestamp, exact URL and raw body.

Header: `X-Sandbox-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]`. Binding the URL
stops a callback for one account being replayed to another; the timestamp bounds replay.
"""

import hashlib
import hmac
import time


def compute(secret: str, timestamp: int, url: str, body: bytes) -> str:
    message = f"{timestamp}.{url}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def header_value(secret: str, url: str, body: bytes, *, timestamp: int | None = None) -> str:
    ts = int(time.time()) if timestamp is None else timestamp
    return f"t={ts},v1={compute(secret, ts, url, body)}"


def is_valid(
    secrets: list[str],
    url: str,
    body: bytes,
    header: str | None,
    *,
    tolerance_s: int,
    now: float | None = None,
) -> bool:
    if not header:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            return False
        if name == "t":
            if not value.isdigit():
                return False
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    ok = False
    for secret in secrets:
        expected = compute(secret, timestamp, url, body)
        for candidate in candidates:
            ok |= hmac.compare_digest(expected, candidate)
    return ok
