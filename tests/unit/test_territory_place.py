"""`territory.place`, the import workers' one-parse lookup, answers as `locate` and
`crm.leads.number_location` do for the same numbers."""

import phonenumbers
import pytest

from bench.lead_import import generate_rows
from crm.assignment.territory import locate, place, place_of, time_zones
from crm.leads import number_location
from gateway.phones import (
    InvalidPhoneNumber,
    format_e164,
    parse_typed,
    parse_valid,
    to_e164,
    try_e164,
)

ODD = [
    "+18005550199",  # US toll-free: many zones, no place
    "+14165550100",  # Canada: a region shared with the US under +1
    "+441534123456",  # Jersey: one of the regions under +44
    "+61412345678",
    "+81312345678",
    "+912240000000",  # Mumbai: the geocoder names the city, not the state
    "+80012345678",  # international freephone: region "001"
    "+99912345",  # no such country code
]


def _numbers() -> list[str]:
    found = {try_e164(row[3], "IN") for row in generate_rows(3000, seed=11)}
    return sorted({n for n in found if n} | set(ODD))


@pytest.mark.parametrize("where", [True, False])
def test_place_matches_locate_and_number_location(where: bool) -> None:
    for number in _numbers():
        country, region = locate(number) if where else (None, None)
        assert place(number, where=where) == (country, region, number_location(number)[2]), number


def test_place_of_the_typed_number_matches_place_of_its_e164() -> None:
    # The workers look up the number they parsed from the row, not its E.164 parsed again.
    for row in generate_rows(3000, seed=12):
        try:
            number = parse_valid(row[3], "IN")
        except InvalidPhoneNumber:
            continue
        e164 = format_e164(number)
        assert e164 == to_e164(row[3], "IN")
        assert place_of(number, where=True) == place(e164, where=True), row[3]


def test_a_known_type_gives_the_same_place_as_finding_it_again() -> None:
    # Every region's example number of every type: the zones and the place from the type
    # `parse_typed` found are what the geocoder and the zone table answer on their own.
    numbers = [
        example
        for region in sorted(phonenumbers.SUPPORTED_REGIONS)
        for kind in range(12)
        if (example := phonenumbers.example_number_for_type(region, kind)) is not None
    ]
    numbers += [phonenumbers.parse(n) for n in _numbers() if try_e164(n, "IN")]
    for number in numbers:
        e164 = format_e164(number)
        try:
            typed, kind = parse_typed(e164, "IN")
        except InvalidPhoneNumber:
            continue
        assert place_of(typed, where=True, kind=kind) == place_of(number, where=True), e164
        assert time_zones(typed, kind) == time_zones(number), e164
