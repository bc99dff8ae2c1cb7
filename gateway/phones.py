"""Phone numbers: parse any input format to E.164 and derive the keyed lookup index."""

import hashlib
import re
from functools import cache, lru_cache
from typing import Any

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata

# Keep every compiled metadata pattern: without this, each of the dozen pattern matches of a
# parse looks its pattern up in the `re` module's cache first, a tenth of a parse's time.
# (A switch of recent phonenumbers releases; older ones simply go without.)
_enable_pattern_cache = getattr(phonenumbers, "enable_pattern_cache", None)
if _enable_pattern_cache is not None:
    _enable_pattern_cache()


class InvalidPhoneNumber(ValueError):
    """The text is not a valid, dialable phone number for the given region."""


@lru_cache(maxsize=65536)
def to_e164(raw: str, region: str) -> str:
    """Normalize `raw` (any common format) to E.164, or raise InvalidPhoneNumber.

    Cached: parsing and validating costs about 28 µs and the same numbers recur
    (carrier callbacks, agents' phones, imports with repeated rows).
    """
    return format_e164(parse_valid(raw, region))


def _parse(raw: str, region: str) -> phonenumbers.PhoneNumber:
    text = raw.strip()
    if not text or len(text) > 40:
        raise InvalidPhoneNumber("not a phone number")
    # "00" international prefix and bare country codes without "+" are common in imports.
    if text.startswith("00") and not text.startswith("000"):
        text = "+" + text[2:]
    number = parse_plain(text, region)
    if number is not None:
        return number
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(str(exc)) from exc


# Digits with the usual separators, "+" only in front: what people type and files hold.
_PLAIN = re.compile(r"\+?[0-9 ().\-]+")
_SEPARATORS = str.maketrans("", "", " ().-+")


def parse_plain(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    """`phonenumbers.parse(text, region)` for plain input, or None to leave it to `parse`.

    Most numbers are digits with spaces, dashes, dots or brackets, perhaps after a "+".
    For those, `parse` comes down to: the country calling code (after a "+") or the
    region's, then the digits after it as the national number. Whenever one of its other
    steps could apply (the region's international or national prefix, a national number
    starting with the country code or with 0, an unknown code, odd lengths, anything but
    plain characters) the answer is None and `parse` decides. A third of `parse`'s time;
    a property test holds the two to the same answers.
    """
    if _PLAIN.fullmatch(text) is None:
        return None
    digits = text.translate(_SEPARATORS)
    if len(digits) < 4:
        return None
    if text[0] == "+":
        if digits[0] == "0":
            return None
        for width in (1, 2, 3):
            code = int(digits[:width])
            if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
                break
        else:
            return None
        prefixes = _calling_code_prefixes(code)
        national = digits[width:]
    else:
        prefixes = _region_prefixes(region)
        if prefixes is None:
            return None
        code, _, international = prefixes
        if (international is not None and international.match(digits)) or digits.startswith(
            str(code)
        ):
            return None
        national = digits
    if prefixes is None or not 2 <= len(national) <= 17 or national[0] == "0":
        return None
    national_prefix = prefixes[1]
    if national_prefix is not None and national_prefix.match(national):
        return None
    return phonenumbers.PhoneNumber(country_code=code, national_number=int(national))


_Prefixes = tuple[int, "re.Pattern[str] | None", "re.Pattern[str] | None"]


@lru_cache(maxsize=512)
def _region_prefixes(region: str) -> _Prefixes | None:
    """(country code, national prefix, international prefix) of a default region."""
    if region not in phonenumbers.SUPPORTED_REGIONS:
        return None
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region, None)
    return None if metadata is None else _prefixes(metadata)


@lru_cache(maxsize=512)
def _calling_code_prefixes(code: int) -> _Prefixes | None:
    """The same of the metadata `parse` reads for a number under a country calling code."""
    main = phonenumbers.region_code_for_country_code(code)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(code, main)
    return None if metadata is None else _prefixes(metadata)


def _prefixes(metadata: phonenumbers.PhoneMetadata) -> _Prefixes:
    def pattern(text: str | None) -> "re.Pattern[str] | None":
        return re.compile(text) if text else None

    return (
        int(metadata.country_code or 0),
        pattern(metadata.national_prefix_for_parsing),
        pattern(metadata.international_prefix),
    )


def parse_valid(raw: str, region: str) -> phonenumbers.PhoneNumber:
    """`raw` parsed and validated (uncached), or InvalidPhoneNumber: `to_e164` before the
    formatting, for callers that go on to look the number up (its zones, its place)."""
    number = _parse(raw, region)
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber("not a valid number for its region")
    return number


def parse_typed(raw: str, region: str) -> tuple[phonenumbers.PhoneNumber, int]:
    """`parse_valid` with the number's `PhoneNumberType`, from the one type check.

    A number is valid exactly when its type is known (`is_valid_number` finds the type and
    throws it away); the zones and the place of a number start by finding it again. Finding
    it once is a third of the work of a number an import locates.
    """
    number = _parse(raw, region)
    kind = number_type(number)
    if kind == phonenumbers.PhoneNumberType.UNKNOWN:
        raise InvalidPhoneNumber("not a valid number for its region")
    return number, kind


def number_type(number: phonenumbers.PhoneNumber) -> int:
    """`phonenumbers.number_type`, in fewer steps (each held to it by tests).

    A calling code shared by several regions (+1: the US, Canada and the Caribbean; +44: the
    UK and the Crown Dependencies) finds the number's region by checking its type against each
    region in turn, then checks the type again against the region found: the same check, the
    same answer. Here the first one is kept. And each check is `_type_in`'s.
    """
    code = number.country_code
    regions = COUNTRY_CODE_TO_REGION_CODE.get(code) if code is not None else None
    if code is None or regions is None:
        return phonenumbers.PhoneNumberType.UNKNOWN
    national = phonenumbers.national_significant_number(number)
    if len(regions) == 1:
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, regions[0])
        if metadata is None:
            return phonenumbers.PhoneNumberType.UNKNOWN
        return _type_in(national, metadata)
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
        if metadata is None:
            continue
        if metadata.leading_digits is not None:
            if re.match(metadata.leading_digits, national):
                return _type_in(national, metadata)
            continue
        kind = _type_in(national, metadata)
        if kind != phonenumbers.PhoneNumberType.UNKNOWN:
            return kind
    return phonenumbers.PhoneNumberType.UNKNOWN


# The types `_number_type_helper` tries before fixed line and mobile, in its order.
_SPECIAL_TYPES = (
    ("premium_rate", phonenumbers.PhoneNumberType.PREMIUM_RATE),
    ("toll_free", phonenumbers.PhoneNumberType.TOLL_FREE),
    ("shared_cost", phonenumbers.PhoneNumberType.SHARED_COST),
    ("voip", phonenumbers.PhoneNumberType.VOIP),
    ("personal_number", phonenumbers.PhoneNumberType.PERSONAL_NUMBER),
    ("pager", phonenumbers.PhoneNumberType.PAGER),
    ("uan", phonenumbers.PhoneNumberType.UAN),
    ("voicemail", phonenumbers.PhoneNumberType.VOICEMAIL),
)
_special: dict[tuple[int, int], tuple[Any, re.Pattern[str] | None, tuple[int, ...]]] = {}


def _special_matcher(metadata: Any, length: int) -> tuple[re.Pattern[str] | None, tuple[int, ...]]:
    """One pattern for the special types a number of `length` digits may be, in the order
    `_number_type_helper` tries them: an alternation chooses its first alternative that matches
    the whole number, as that function returns the first type whose pattern does. The types
    in the order of the alternatives; (None, ()) when none can match."""
    key = (id(metadata), length)
    found = _special.get(key)
    if found is None or found[0] is not metadata:
        parts: list[str] = []
        kinds: list[int] = []
        for name, kind in _SPECIAL_TYPES:
            desc = getattr(metadata, name)
            if desc is None or not desc.national_number_pattern:
                continue
            if desc.possible_length and length not in desc.possible_length:
                continue
            parts.append(f"(?P<t{len(parts)}>{desc.national_number_pattern})")
            kinds.append(int(kind))
        pattern = re.compile("|".join(parts)) if parts else None
        found = _special[key] = (metadata, pattern, tuple(kinds))
    return found[1], found[2]


def _matches(national: str, desc: Any) -> bool:
    """`_is_number_matching_desc`: the number's length among the description's possible ones
    (when it has any) and its pattern matching the whole number (the library also matches it
    at the start first, which a whole match implies)."""
    if desc is None:
        return False
    lengths = desc.possible_length
    if lengths and len(national) not in lengths:
        return False
    pattern = desc.national_number_pattern
    return bool(pattern) and _compiled(pattern).fullmatch(national) is not None


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _type_in(national: str, metadata: Any) -> int:
    """`_number_type_helper(national, metadata)`: the eight special types' patterns as one
    alternation (one match where the library makes up to eight), then fixed line and mobile
    as it checks them."""
    if not _matches(national, metadata.general_desc):
        return phonenumbers.PhoneNumberType.UNKNOWN
    pattern, kinds = _special_matcher(metadata, len(national))
    if pattern is not None:
        match = pattern.fullmatch(national)
        if match is not None:
            for i, kind in enumerate(kinds):
                if match.start(f"t{i}") != -1:
                    return kind
    if _matches(national, metadata.fixed_line):
        if metadata.same_mobile_and_fixed_line_pattern or _matches(national, metadata.mobile):
            return phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE
        return phonenumbers.PhoneNumberType.FIXED_LINE
    if not metadata.same_mobile_and_fixed_line_pattern and _matches(national, metadata.mobile):
        return phonenumbers.PhoneNumberType.MOBILE
    return phonenumbers.PhoneNumberType.UNKNOWN


def format_e164(number: phonenumbers.PhoneNumber) -> str:
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def try_e164(raw: str | None, region: str) -> str | None:
    if not raw:
        return None
    try:
        return to_e164(raw, region)
    except InvalidPhoneNumber:
        return None


def lookup_key(secret: str, e164: str) -> str:
    """Blind index of an E.164 number: equal numbers give equal keys, the key reveals nothing.

    HMAC-SHA256 (RFC 2104) with the key's padded hash states made once per secret: the same
    digest as `hmac.new(secret, e164, sha256)`, in a third of its time (imports key every row).
    """
    inner, outer = _hmac_states(secret)
    h = inner.copy()
    h.update(e164.encode())
    o = outer.copy()
    o.update(h.digest())
    return o.hexdigest()


_BLOCK = hashlib.sha256().block_size


@lru_cache(maxsize=16)
def _hmac_states(secret: str) -> tuple["hashlib._Hash", "hashlib._Hash"]:
    key = secret.encode()
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return (
        hashlib.sha256(bytes(b ^ 0x36 for b in key)),
        hashlib.sha256(bytes(b ^ 0x5C for b in key)),
    )


# phonenumbers still answers with some zones' old names; show their current ones.
RENAMED_ZONES = {
    "Africa/Asmera": "Africa/Asmara",
    "America/Buenos_Aires": "America/Argentina/Buenos_Aires",
    "America/Godthab": "America/Nuuk",
    "Asia/Calcutta": "Asia/Kolkata",
    "Asia/Katmandu": "Asia/Kathmandu",
    "Asia/Rangoon": "Asia/Yangon",
    "Atlantic/Faeroe": "Atlantic/Faroe",
    "Pacific/Enderbury": "Pacific/Kanton",
    "Pacific/Ponape": "Pacific/Pohnpei",
    "Pacific/Truk": "Pacific/Chuuk",
}


def current_zone(name: str) -> str:
    """The IANA zone's current name (phonenumbers answers Asia/Calcutta for Asia/Kolkata)."""
    return RENAMED_ZONES.get(name, name)
