"""Turning CSV records into lead values: pure and CPU-bound, so it runs in worker processes."""

import gc
import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from crm.assignment.territory import place_of
from crm.importer.bulk import json_text
from crm.importer.mapping import FIELDS
from gateway.phones import InvalidPhoneNumber, format_e164, lookup_key, parse_typed, to_e164

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LIST_SPLIT = re.compile(r"[;,|]")
MAX_LEN = {"name": 200, "company": 200, "email": 320, "address": 500, "source": 64}
MAX_CUSTOM_LEN = 1000
MAX_TAGS = 50
MAX_TAG_LEN = 64
MAX_ALT_PHONES = 10
# Fields whose cell is stored as it is (after the checks below): the others are read apart.
PLAIN_FIELDS = FIELDS - {"phone", "name", "alt_phones", "tags"}
# The JSON columns' text as SQLAlchemy's default serializer writes it (see `Parsed.stored`).
_json = json_text()


@dataclass(frozen=True)
class RowConfig:
    """What a worker needs to read rows (small and picklable)."""

    columns: tuple[tuple[int, str], ...]
    width: int
    region: str
    secret: str
    # Lower-cased status keys and labels of the organization, to its status key.
    statuses: dict[str, str]
    # The new leads go through assignment rules: their numbers' time zones (for the
    # `lead.assigned` events) and, for territory rules, where they are. Work for the workers,
    # not for the job's process.
    zones: bool = False
    where: bool = False


class Parsed(NamedTuple):
    row: int
    e164: str
    key: str
    # (E.164, lookup key) of each distinct alternate number.
    alts: list[tuple[str, str]]
    values: dict[str, Any]
    # (code, field, message) of what was dropped while the row itself is imported.
    warnings: list[tuple[str, str, str]]
    # `territory.place` of the primary number when the config asks for it.
    place: tuple[str | None, str | None, tuple[str, ...]] | None = None
    # What a new lead stores of the row, in `STORED` order, the JSON columns as text: built
    # here, in the parsing processes, so that the job's own process only prepends its part.
    stored: tuple[Any, ...] = ()


# The lead columns `Parsed.stored` holds, in order.
STORED = (
    "name",
    "company",
    "email",
    "phone",
    "alt_phones",
    "address",
    "status",
    "tags",
    "custom_fields",
)


_new = tuple.__new__


class Rejected(NamedTuple):
    row: int
    code: str
    field: str | None
    message: str


def _phone(raw: str, region: str, secret: str, cache: dict[str, tuple[str, str] | None]) -> Any:
    if raw in cache:
        return cache[raw]
    try:
        e164 = to_e164(raw, region)
    except InvalidPhoneNumber:
        cache[raw] = None
        return None
    result = (e164, lookup_key(secret, e164))
    cache[raw] = result
    return result


def _located(raw: str, cfg: RowConfig, cache: dict[Any, Any]) -> Any:
    """`_phone` with the number's `place`, from the one parse (a new number, most rows)."""
    hit = cache.get(("place", raw))
    if hit is not None or ("place", raw) in cache:
        return hit
    try:
        number, kind = parse_typed(raw, cfg.region)
    except InvalidPhoneNumber:
        cache[("place", raw)] = None
        return None
    e164 = format_e164(number)
    result = (e164, lookup_key(cfg.secret, e164), place_of(number, where=cfg.where, kind=kind))
    cache[("place", raw)] = result
    return result


def _split(value: str) -> list[str]:
    return [x.strip() for x in LIST_SPLIT.split(value) if x.strip()]


def parse_row(
    row: int, cells: list[str] | None, cfg: RowConfig, cache: dict[Any, Any]
) -> Parsed | Rejected | None:
    """The row's lead values, or why it is rejected; None for a blank line."""
    if cells is None:
        return Rejected(row, "bad_row", None, "the row is not valid CSV (check its quotes)")
    # Joined, then stripped: every cell blank exactly when the whole is (one C call, not one
    # per cell).
    if len(cells) > cfg.width and "".join(cells[cfg.width :]).strip():
        return Rejected(
            row,
            "bad_row",
            None,
            f"the row has {len(cells)} cells but the header has {cfg.width} (a stray delimiter?)",
        )
    if not "".join(cells).strip():
        return None
    phone_raw = ""
    names: list[str] = []
    alt_raw: list[str] = []
    values: dict[str, Any] = {}
    custom: dict[str, str] = {}
    warnings: list[tuple[str, str, str]] = []
    width = len(cells)
    for index, field in cfg.columns:
        value = cells[index].strip() if index < width else ""
        if not value:
            continue
        if field in PLAIN_FIELDS:
            values[field] = value
        elif field == "phone":
            phone_raw = value
        elif field == "name":
            names.append(value)
        elif field == "alt_phones":
            alt_raw.extend(_split(value))
        elif field == "tags":
            tags = list(dict.fromkeys(values.get("tags", []) + _split(value)))
            if len(tags) > MAX_TAGS or any(len(t) > MAX_TAG_LEN for t in tags):
                return Rejected(
                    row, "bad_row", "tags", f"at most {MAX_TAGS} tags of {MAX_TAG_LEN} characters"
                )
            values["tags"] = tags
        elif field.startswith("custom:"):
            if len(value) > MAX_CUSTOM_LEN:
                return Rejected(row, "bad_row", field, f"longer than {MAX_CUSTOM_LEN} characters")
            custom[field[7:]] = value
    if names:
        values["name"] = " ".join(names)
    if not phone_raw:
        return Rejected(row, "missing_phone", "phone", "the row has no phone number")
    for field, limit in MAX_LEN.items():
        text = values.get(field)
        if text is not None and len(text) > limit:
            return Rejected(row, "bad_row", field, f"longer than {limit} characters")
    if "status" in values:
        status = cfg.statuses.get(values["status"].lower())
        if status is None:
            return Rejected(row, "bad_row", "status", f"unknown status {values['status'][:40]!r}")
        values["status"] = status
    email = values.get("email")
    if email is not None:
        if EMAIL_RE.match(email):
            values["email"] = email.lower()
        else:
            del values["email"]
            warnings.append(("invalid_email", "email", f"{email[:100]!r} is not an e-mail address"))
    if custom:
        values["custom_fields"] = custom
    where = None
    if cfg.zones:
        located = _located(phone_raw, cfg, cache)
        if located is None:
            primary = None
        else:
            e164, key, where = located
            primary = (e164, key)
    else:
        primary = _phone(phone_raw, cfg.region, cfg.secret, cache)
    if primary is None:
        return Rejected(
            row, "invalid_phone", "phone", f"{phone_raw[:40]!r} is not a valid phone number"
        )
    alts: list[tuple[str, str]] = []
    for raw in alt_raw:
        alt = _phone(raw, cfg.region, cfg.secret, cache)
        if alt is None:
            warnings.append(
                ("invalid_phone", "alt_phones", f"{raw[:40]!r} is not a valid phone number")
            )
        elif alt[1] != primary[1] and alt not in alts and len(alts) < MAX_ALT_PHONES:
            alts.append(alt)
    stored = (
        values.get("name", ""),
        values.get("company"),
        values.get("email"),
        primary[0],
        _json([e for e, _ in alts]) if alts else "[]",
        values.get("address"),
        values.get("status", "new"),
        _json(values["tags"]) if values.get("tags") else "[]",
        _json(custom) if custom else "{}",
    )
    # The tuple made directly (a named tuple's own constructor is a Python call).
    return _new(Parsed, (row, primary[0], primary[1], alts, values, warnings, where, stored))


def parse_chunk(
    cfg: RowConfig, chunk: list[tuple[int, list[str] | None]]
) -> list[Parsed | Rejected]:
    """The chunk's records parsed, blank lines left out. The entry point of the workers."""
    cache: dict[Any, Any] = {}
    parsed = (parse_row(row, cells, cfg, cache) for row, cells in chunk)
    return [p for p in parsed if p is not None]


def parse_chunk_in_worker(
    cfg: RowConfig, chunk: list[tuple[int, list[str] | None]]
) -> list[tuple[Any, ...]]:
    """`parse_chunk` in a parsing process, with the cycle collector paused for the chunk, its
    results as plain tuples (`from_worker` makes them `Parsed` and `Rejected` again).

    Parsing makes no reference cycles, but its tens of thousands of short-lived containers
    set off a young-generation pass every 700 allocations: an eighth of the chunk's time. A
    parsing process runs one call at a time on its only thread, so pausing is safe there
    (never in the job's own process, whose other threads allocate too). Named tuples are
    pickled and unpickled through a Python call each; plain ones in C: half the time.
    """
    gc.disable()
    try:
        return [tuple(p) for p in parse_chunk(cfg, chunk)]
    finally:
        gc.enable()


_PARSED_FIELDS = len(Parsed._fields)


def from_worker(results: list[tuple[Any, ...]]) -> list[Parsed | Rejected]:
    """`parse_chunk_in_worker`'s tuples as the `Parsed` and `Rejected` they were."""
    make = tuple.__new__
    return [make(Parsed, t) if len(t) == _PARSED_FIELDS else make(Rejected, t) for t in results]


def phone_keys(cfg: RowConfig, chunk: list[tuple[int, list[str] | None]]) -> list[str]:
    """Lookup keys of the valid rows' primary numbers (rebuilding a resumed job's seen set)."""
    return [p.key for p in parse_chunk(cfg, chunk) if isinstance(p, Parsed)]
