"""Small helpers shared by carrier adapters (no web framework here)."""

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qs

from gateway.carriers.base import InboundWebhook, MalformedWebhook


def form_params(hook: InboundWebhook) -> dict[str, list[str]]:
    """Parameters the carrier sent: the query for GET, the form body for POST."""
    if hook.method == "GET":
        return {k: [v] for k, v in hook.query.items()}
    try:
        text = hook.body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedWebhook("body is not UTF-8", field="body") from exc
    return parse_qs(text, keep_blank_values=True)


def first(params: Mapping[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[0] if values else None


def required(params: Mapping[str, list[str]], name: str) -> str:
    value = first(params, name)
    if not value:
        raise MalformedWebhook(f"{name} is required", field=name)
    return value


def optional_int(params: Mapping[str, list[str]], name: str) -> int | None:
    value = first(params, name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise MalformedWebhook(f"{name} must be an integer", field=name) from exc


def rfc2822(value: str | None, field: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError) as exc:
        raise MalformedWebhook(f"{field} is not an RFC 2822 date", field=field) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def local_call_id(hook: InboundWebhook) -> int | None:
    """Dialgate's call id, carried in the (signed) callback URL we handed the carrier."""
    value = hook.query.get("call_id")
    if value is None:
        return None
    if not value.isdigit():
        raise MalformedWebhook("call_id must be an integer", field="call_id")
    return int(value)
