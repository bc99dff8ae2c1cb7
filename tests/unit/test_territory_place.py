"""`territory.place`, the import workers' one-parse lookup, answers as `locate` and
`crm.leads.number_location` do for the same numbers."""

import pytest

from bench.lead_import import generate_rows
from crm.assignment.territory import locate, place
from crm.leads import number_location
from gateway.phones import try_e164

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
