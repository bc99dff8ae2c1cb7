"""Request parameters of list and detail routes: keyset cursors, limits, path ids."""

import base64
import binascii

from aiohttp import web

from gateway.errors import InvalidInput, NotFound

MAX_LIMIT = 200
DEFAULT_LIMIT = 50


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput("cursor is not valid", field="cursor") from None
    prefix, _, value = text.partition(":")
    if prefix != "id" or not value.isdigit():
        raise InvalidInput("cursor is not valid", field="cursor")
    return int(value)


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_LIMIT}", field="limit")
    return int(raw)


def parse_int(raw: str | None, field: str) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise InvalidInput(f"{field} must be an integer", field=field)
    return int(raw)


def path_id(request: web.Request, name: str) -> int:
    """A numeric id from the URL path; anything else is the same 404 as an unknown id."""
    raw = request.match_info[name]
    if not raw.isdigit():
        raise NotFound(f"no such {name.removesuffix('_id').replace('_', '-')}", field=name)
    return int(raw)
