"""Which CSV column fills which lead field: an explicit mapping, or detected from the header."""

import re
from typing import Any

from gateway.errors import InvalidInput

FIELDS = frozenset(
    {"name", "company", "email", "phone", "alt_phones", "address", "status", "source", "tags"}
)
CUSTOM_PREFIX = "custom:"
CUSTOM_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_ .-]{0,63}$")

# Header names (lower case, separators collapsed to one space) recognized without a mapping.
_NAMES: dict[str, tuple[str, ...]] = {
    "name": (
        "name",
        "full name",
        "contact name",
        "lead name",
        "customer name",
        "client name",
        "contact person",
        "first name",
        "last name",
        "given name",
        "family name",
        "surname",
    ),
    "company": (
        "company",
        "company name",
        "organization",
        "organisation",
        "business",
        "account",
        "firm",
    ),
    "email": ("email", "e mail", "email address", "mail"),
    "phone": (
        "phone",
        "phone number",
        "phone no",
        "mobile",
        "mobile number",
        "mobile no",
        "number",
        "telephone",
        "tel",
        "contact number",
        "contact no",
        "cell",
        "cell phone",
        "primary phone",
        "whatsapp",
    ),
    "alt_phones": (
        "alt phone",
        "alt phones",
        "alternate phone",
        "alternative phone",
        "other phone",
        "secondary phone",
        "phone 2",
        "mobile 2",
        "landline",
        "work phone",
        "home phone",
        "alt number",
        "alternate number",
    ),
    "address": ("address", "street address", "full address", "postal address"),
    "status": ("status", "lead status", "stage"),
    "source": ("source", "lead source"),
    "tags": ("tags", "tag", "labels", "label"),
}
SYNONYMS = {name: field for field, names in _NAMES.items() for name in names}


def header_key(text: str) -> str:
    return " ".join(re.sub(r"[\s_.\-/#]+", " ", text.lower()).split())


def _field(value: Any, column: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"the field for column {column!r} must be a string", field="mapping")
    if value in ("alt_phone", "alt_phones"):
        return "alt_phones"
    if value in FIELDS:
        return value
    if value.startswith(CUSTOM_PREFIX) and CUSTOM_NAME.match(value[len(CUSTOM_PREFIX) :]):
        return value
    raise InvalidInput(
        f"unknown field {value!r} for column {column!r}: use name, company, email, phone, "
        "alt_phones, address, status, source, tags or custom:<name>",
        field="mapping",
    )


def resolve(header: list[str], mapping: dict[str, Any] | None) -> list[tuple[int, str]]:
    """(column index, field) pairs in column order; exactly one column is the phone.

    With a mapping, only its columns are read (matched exactly, then ignoring case); without,
    known header names are recognized and other columns ignored. A second phone-like column
    becomes an alternate number.
    """
    columns: list[tuple[int, str]] = []
    if mapping is not None:
        exact = {h: i for i, h in reversed(list(enumerate(header)))}
        folded = {header_key(h): i for i, h in reversed(list(enumerate(header)))}
        for column, value in mapping.items():
            field = _field(value, column)
            if field is None:
                continue
            index = exact.get(column.strip())
            if index is None:
                index = folded.get(header_key(column))
            if index is None:
                raise InvalidInput(f"the file has no column {column!r}", field="mapping")
            columns.append((index, field))
        phones = [c for c in columns if c[1] == "phone"]
        if len(phones) > 1:
            raise InvalidInput("map exactly one column to phone", field="mapping")
    else:
        seen_phone = False
        for index, name in enumerate(header):
            field = SYNONYMS.get(header_key(name))
            if field is None:
                continue
            if field == "phone":
                if seen_phone:
                    field = "alt_phones"
                seen_phone = True
            columns.append((index, field))
    if not any(field == "phone" for _, field in columns):
        raise InvalidInput(
            "no phone column: name one Phone or Mobile, or send a mapping", field="mapping"
        )
    return sorted(columns)
