"""Phone normalization to E.164 and the keyed lookup index."""

import hashlib
import hmac
import random

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneMetadata
from phonenumbers.phonenumberutil import _number_type_helper

from bench.lead_import import generate_rows
from gateway.phones import (
    InvalidPhoneNumber,
    _type_in,
    format_e164,
    lookup_key,
    number_type,
    parse_plain,
    parse_typed,
    parse_valid,
    to_e164,
    try_e164,
)


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("98765 43210", "IN", "+919876543210"),
        ("098765-43210", "IN", "+919876543210"),
        ("+91 98765 43210", "IN", "+919876543210"),
        ("0091 98765 43210", "IN", "+919876543210"),
        ("91-98765-43210", "IN", "+919876543210"),
        ("(0) 98765 43210", "IN", "+919876543210"),
        ("080 2345 6789", "IN", "+918023456789"),
        ("+1 (212) 736-1234", "IN", "+12127361234"),
        ("(212) 736-1234", "US", "+12127361234"),
        ("212.736.1234", "US", "+12127361234"),
        ("001 212 736 1234", "IN", "+12127361234"),
        ("+44 20 7946 0958", "IN", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+44 (0)20 7946 0958", "US", "+442079460958"),
        ("07911 123456", "GB", "+447911123456"),
    ],
)
def test_formats_normalize_to_e164(raw: str, region: str, expected: str) -> None:
    assert to_e164(raw, region) == expected


@pytest.mark.parametrize("raw", ["", "   ", "abc", "12", "+91 12345", "98765 4321", "x" * 50])
def test_invalid_numbers_are_rejected(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber):
        to_e164(raw, "IN")
    assert try_e164(raw, "IN") is None


def test_region_decides_national_numbers() -> None:
    assert to_e164("020 7946 0958", "GB") != try_e164("020 7946 0958", "US")


def test_lookup_key_is_stable_keyed_and_hides_the_number() -> None:
    a = lookup_key("secret-one", "+919876543210")
    assert a == lookup_key("secret-one", "+919876543210")
    assert a != lookup_key("secret-two", "+919876543210")
    assert a != lookup_key("secret-one", "+919876543211")
    assert "9876543210" not in a
    assert len(a) == 64


@settings(max_examples=300, deadline=None)
@given(secret=st.text(max_size=150), number=st.text(max_size=30))
def test_lookup_key_is_hmac_sha256(secret: str, number: str) -> None:
    # The precomputed pads give RFC 2104's digest for keys shorter and longer than a block.
    expected = hmac.new(secret.encode(), number.encode(), hashlib.sha256).hexdigest()
    assert lookup_key(secret, number) == expected


def _typed_inputs() -> list[tuple[str, str]]:
    """Every region's example number of every type, typed nationally and internationally,
    the generated import rows, and text that is no valid number."""
    inputs: list[tuple[str, str]] = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in range(12):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            national = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
            inputs.append((national, region))
            inputs.append((format_e164(example), "IN"))
            inputs.append((format_e164(example)[:-1], region))
    inputs += [(row[3], "IN") for row in generate_rows(3000, seed=13)]
    inputs += [("", "IN"), ("abc", "US"), ("+999 123", "IN"), ("0000 1234", "GB")]
    return inputs


def test_parse_typed_accepts_exactly_the_valid_numbers_with_their_type() -> None:
    for raw, region in _typed_inputs():
        try:
            valid = parse_valid(raw, region)
        except InvalidPhoneNumber:
            with pytest.raises(InvalidPhoneNumber):
                parse_typed(raw, region)
            continue
        number, kind = parse_typed(raw, region)
        assert number == valid, raw
        assert kind == phonenumbers.number_type(valid) != phonenumbers.PhoneNumberType.UNKNOWN


REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)


def _reference(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


@settings(max_examples=3000, deadline=None)
@given(
    plus=st.booleans(),
    body=st.text(alphabet="0123456789 ()-.", min_size=1, max_size=22),
    region=st.sampled_from([*REGIONS, "in", "ZZ", "001"]),
)
def test_plain_parse_answers_as_phonenumbers_parse(plus: bool, body: str, region: str) -> None:
    text = ("+" if plus else "") + body
    number = parse_plain(text, region)
    if number is not None:
        assert number == _reference(text, region), (text, region)


@settings(max_examples=2000, deadline=None)
@given(
    code=st.sampled_from(sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)),
    national=st.text(alphabet="0123456789", min_size=1, max_size=16),
    gap=st.sampled_from(["", " ", "-", " (0) "]),
    region=st.sampled_from(REGIONS),
)
def test_plain_parse_of_international_numbers(
    code: int, national: str, gap: str, region: str
) -> None:
    text = f"+{code}{gap}{national}"
    number = parse_plain(text, region)
    if number is not None:
        assert number == _reference(text, region), (text, region)


def test_plain_parse_of_every_region_example_in_every_format() -> None:
    taken = 0
    for region in REGIONS:
        for kind in range(12):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            for form in (0, 1, 2):  # E.164, international, national
                text = phonenumbers.format_number(example, form)
                for default in (region, "IN", "US", "GB"):
                    number = parse_plain(text, default)
                    if number is not None:
                        taken += 1
                        assert number == _reference(text, default), (text, default)
    # The plain path answers for most of them (the rest go to `parse`).
    assert taken > 5000


def test_plain_parse_takes_most_imported_numbers() -> None:
    texts = [row[3].strip() for row in generate_rows(5000, seed=14) if row[3].strip()]
    texts = ["+" + t[2:] if t.startswith("00") and not t.startswith("000") else t for t in texts]
    taken = [t for t in texts if parse_plain(t, "IN") is not None]
    assert len(taken) > 0.8 * len(texts)
    for text in taken:
        assert parse_plain(text, "IN") == _reference(text, "IN"), text


@pytest.mark.parametrize(
    ("text", "region"),
    [("990 44 20 7946 0958", "FI"), ("810 44 20 7946 0958", "TJ"), ("16 44 20 7946 0958", "TD")],
)
def test_a_region_s_international_prefix_without_zero_is_left_to_parse(
    text: str, region: str
) -> None:
    # Dialled from these regions, the number is British: the plain path must not read
    # the prefix as part of a national number.
    assert _reference(text, region) == phonenumbers.parse("+442079460958")
    assert parse_plain(text, region) in (None, _reference(text, region))


def test_number_type_answers_as_phonenumbers() -> None:
    # Every region's example of every type, and numbers near them that are of no type or of
    # another region sharing the calling code (+1, +44, +7, ...).
    numbers = []
    for region in REGIONS:
        for kind in range(12):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            national = example.national_number
            assert national is not None
            for other in (national, national // 10, national * 10 + 1, national + 1, 99):
                numbers.append(
                    phonenumbers.PhoneNumber(
                        country_code=example.country_code, national_number=other
                    )
                )
    assert len({n.country_code for n in numbers}) > 200
    for n in numbers:
        assert number_type(n) == phonenumbers.number_type(n), n


def test_each_region_s_types_are_found_as_phonenumbers_finds_them() -> None:
    # Every region's example of every type, with its last digits replaced at random (a few
    # thousand numbers near each pattern, some of several types' patterns at once, some of
    # a length a pattern allows but its type does not), against the library's own check.
    r = random.Random(20261127)
    tried = 0
    for region in REGIONS:
        metadata = PhoneMetadata.metadata_for_region(region, None)
        assert metadata is not None
        for kind in range(12):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            national = phonenumbers.national_significant_number(example)
            for keep in range(len(national) + 1):
                for extra in (-1, 0, 0, 1):
                    tail = max(0, len(national) - keep + extra)
                    digits = national[:keep] + "".join(r.choice("0123456789") for _ in range(tail))
                    assert _type_in(digits, metadata) == _number_type_helper(digits, metadata), (
                        region,
                        digits,
                    )
                    tried += 1
    assert tried > 20_000
