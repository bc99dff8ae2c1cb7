"""Phone normalization to E.164 and the keyed lookup index."""

import pytest

from gateway.phones import InvalidPhoneNumber, lookup_key, to_e164, try_e164


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
