"""Plivo's V3 webhook signature (X-Plivo-Signature-V3), computed as Plivo's SDKs do.

https://www.plivo.com/docs/voice/xml/request/validation; the algorithm follows
plivo-python's `plivo/utils/signature_v3.py` (the tests hold this module to it):

* the base is `scheme://host[:port]/path` of the URL Plivo requested;
* GET: the URL's query and the callback parameters, merged and sorted, as `k=v&k=v`;
* POST: the URL's sorted query as `k=v&...`, a `.` if there was one, then every POST
  parameter as `key` + `value`, sorted by key (values of a repeated key sorted too);
* `base64(HMAC-SHA256(auth_token, signed_string + "." + nonce))`.

V3 signs a nonce, not a timestamp, so there is no replay window to enforce here: a replayed
callback carries the same dedupe key and changes nothing. The header may hold several
comma-separated signatures; one match is enough (as in plivo-python and plivo-node).
"""

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qs, urlparse, urlunparse

Params = Mapping[str, Sequence[str]]


def _query_string(params: Params) -> str:
    return "&".join(f"{key}={value}" for key in sorted(params) for value in sorted(params[key]))


def signing_string(method: str, url: str, params: Params | None) -> str:
    """The string Plivo signs for a request to `url` carrying `params` (before the nonce)."""
    parts = urlparse(url)
    base = urlunparse((parts.scheme, parts.netloc, parts.path, "", "", ""))
    query = parse_qs(parts.query, keep_blank_values=True)
    if method.upper() == "GET":
        # The URL's own query wins over a callback parameter of the same name, as in the SDK.
        merged: dict[str, Sequence[str]] = {**(params or {}), **query}
        text = _query_string(merged)
        return f"{base}?{text}" if text else base
    text = _query_string(query)
    if not params:
        return f"{base}?{text}" if text else base
    body = "".join(key + value for key in sorted(params) for value in sorted(params[key]))
    return f"{base}?{text}{'.' if text else ''}{body}"


def compute(auth_token: str, method: str, url: str, params: Params | None, nonce: str) -> str:
    message = f"{signing_string(method, url, params)}.{nonce}".encode()
    digest = hmac.new(auth_token.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _equal(a: str, b: str) -> bool:
    """Constant-time equality of UTF-8 bytes (`compare_digest` refuses non-ASCII `str`)."""
    return hmac.compare_digest(
        a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
    )


def is_valid(
    auth_tokens: Sequence[str],
    method: str,
    url: str,
    params: Params | None,
    nonce: str | None,
    header: str | None,
) -> bool:
    """True if any signature in `header` is the V3 signature of the request under any token."""
    if not nonce or not header:
        return False
    candidates = [part.strip() for part in header.split(",") if part.strip()]
    if not candidates:
        return False
    matched = False
    for token in auth_tokens:
        expected = compute(token, method, url, params, nonce)
        for candidate in candidates:
            # No short-circuit: the time taken does not depend on which candidate matched.
            matched |= _equal(expected, candidate)
    return matched
