"""Where a lead is, from its number: ISO country and a state/province, for territory rules."""

from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumber, geocoder
from phonenumbers import timezone as phone_timezone
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

from gateway.phones import current_zone

# The geocoder names big cities without their state; these are the ones agents' territories
# ("IN:Maharashtra") would otherwise miss.
_CITY_STATE = {
    ("IN", "mumbai"): "Maharashtra",
    ("IN", "new delhi"): "Delhi",
    ("IN", "delhi"): "Delhi",
}

# The geocoder writes North American places as "City, ST".
_US_STATES = (
    "AL=Alabama, AK=Alaska, AZ=Arizona, AR=Arkansas, CA=California, CO=Colorado, "
    "CT=Connecticut, DE=Delaware, DC=District of Columbia, FL=Florida, GA=Georgia, "
    "HI=Hawaii, ID=Idaho, IL=Illinois, IN=Indiana, IA=Iowa, KS=Kansas, KY=Kentucky, "
    "LA=Louisiana, ME=Maine, MD=Maryland, MA=Massachusetts, MI=Michigan, MN=Minnesota, "
    "MS=Mississippi, MO=Missouri, MT=Montana, NE=Nebraska, NV=Nevada, NH=New Hampshire, "
    "NJ=New Jersey, NM=New Mexico, NY=New York, NC=North Carolina, ND=North Dakota, OH=Ohio, "
    "OK=Oklahoma, OR=Oregon, PA=Pennsylvania, RI=Rhode Island, SC=South Carolina, "
    "SD=South Dakota, TN=Tennessee, TX=Texas, UT=Utah, VT=Vermont, VA=Virginia, "
    "WA=Washington, WV=West Virginia, WI=Wisconsin, WY=Wyoming, PR=Puerto Rico"
)
_CA_PROVINCES = (
    "AB=Alberta, BC=British Columbia, MB=Manitoba, NB=New Brunswick, "
    "NL=Newfoundland and Labrador, NS=Nova Scotia, ON=Ontario, PE=Prince Edward Island, "
    "QC=Quebec, SK=Saskatchewan"
)
_STATE_NAMES = {
    country: dict(pair.strip().split("=") for pair in table.split(","))
    for country, table in (("US", _US_STATES), ("CA", _CA_PROVINCES))
}


def region_name(country: str, region: str) -> str:
    """A region's full name: "CA" in the US is "California"; other names pass through."""
    text = region.strip()
    return _STATE_NAMES.get(country.upper(), {}).get(text.upper(), text)


@lru_cache(maxsize=65536)
def locate(e164: str) -> tuple[str | None, str | None]:
    """(ISO country, state or province) of an E.164 number; either may be unknown (None)."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None, None
    return _locate(number, geocoder.description_for_number(number, "en"))


def _locate(number: PhoneNumber, description: str) -> tuple[str | None, str | None]:
    country = phonenumbers.region_code_for_number(number)
    if not country or country == "001":
        return None, None
    country_name = _country_name(number)
    if not description or description == country_name:
        return country, None
    last = description.rsplit(",", 1)[-1].strip()
    if "," not in description:
        last = _CITY_STATE.get((country, last.lower()), last)
    return country, region_name(country, last)[:100]


def _country_name(number: PhoneNumber) -> str:
    code = number.country_code
    if code is not None and len(phonenumbers.region_codes_for_country_code(code)) == 1:
        # One region for the code: the name depends on the code alone.
        return _single_country_name(code)
    return str(geocoder.country_name_for_number(number, "en"))


@lru_cache(maxsize=1024)
def _single_country_name(country_code: int) -> str:
    return str(geocoder.country_name_for_number(PhoneNumber(country_code=country_code), "en"))


UNKNOWN_ZONE = "Etc/Unknown"


def time_zones(number: PhoneNumber, kind: int | None = None) -> tuple[str, ...]:
    """The number's time zones by their current names, as `crm.leads.number_location` has them.

    `kind`: the number's `PhoneNumberType` when the caller found it (`parse_typed`), which
    `time_zones_for_number` would otherwise find again.
    """
    geographical = _geographical(number, kind)
    code = number.country_code
    if geographical is None or code is None:
        return _current_zones(tuple(phone_timezone.time_zones_for_number(number)))
    if not geographical:
        # Mobile numbers in most countries: the zones of the country calling code.
        return _country_zones(code)
    # `time_zones_for_geographical_number`: the longest prefix of the E.164 digits in the
    # zone table. No longer prefix than the longest key under the number's country code
    # can match, so the search starts there rather than at the table's longest key.
    digits = f"{code}{phonenumbers.national_significant_number(number)}"
    for length in range(_longest_zone_prefix(code), 0, -1):
        found = TIMEZONE_DATA.get(digits[:length])
        if found is not None:
            return _current_zones(found)
    return ()


@lru_cache(maxsize=1024)
def _country_zones(country_code: int) -> tuple[str, ...]:
    """`timezone._country_level_time_zones_for_number`, its search as it is written, once per
    country calling code (it reads nothing else of the number)."""
    code = str(country_code)
    for length in range(TIMEZONE_LONGEST_PREFIX, 0, -1):
        found = TIMEZONE_DATA.get(code[: 1 + length])
        if found is not None:
            return _current_zones(found)
    return ()


@lru_cache(maxsize=1024)
def _longest_zone_prefix(country_code: int) -> int:
    code = str(country_code)
    return max((len(k) for k in TIMEZONE_DATA if k.startswith(code)), default=len(code))


@lru_cache(maxsize=4096)
def _current_zones(found: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(current_zone(z) for z in found if z != UNKNOWN_ZONE)


def place(e164: str, *, where: bool) -> tuple[str | None, str | None, tuple[str, ...]]:
    """The number's time zones, with `locate(e164)` before them when `where` (else two Nones),
    from one parse: what an import's assignment needs of each new lead's number."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None, None, ()
    return place_of(number, where=where)


def place_of(
    number: PhoneNumber, *, where: bool, kind: int | None = None
) -> tuple[str | None, str | None, tuple[str, ...]]:
    """`place` of a number already parsed (and valid); `kind` as for `time_zones`."""
    country, region = _locate(number, _description(number, kind)) if where else (None, None)
    return country, region, time_zones(number, kind)


def _description(number: PhoneNumber, kind: int | None) -> str:
    """`geocoder.description_for_number(number, "en")`, skipping its type check when the
    number's type is known (the geocoder's own branches)."""
    geographical = _geographical(number, kind)
    if geographical is None:
        return str(geocoder.description_for_number(number, "en"))
    if not geographical:
        return str(geocoder.country_name_for_number(number, "en"))
    return str(geocoder.description_for_valid_number(number, "en"))


def _geographical(number: PhoneNumber, kind: int | None) -> bool | None:
    """Whether a number of a known, valid type is tied to a place; None when its type is not
    known (or not valid): the library's own lookups then find it and answer."""
    code = number.country_code
    if kind is None or kind == phonenumbers.PhoneNumberType.UNKNOWN or code is None:
        return None
    return bool(phonenumbers.is_number_type_geographical(kind, code))


def parse_territory(entry: str) -> tuple[str, str | None]:
    """ "IN" -> ("IN", None); "IN:Maharashtra" or "IN-Maharashtra" -> ("IN", "Maharashtra")."""
    text = entry.strip()
    country, sep, region = text[:2], text[2:3], text[3:]
    if sep and sep in ":-" and region.strip():
        return country.upper(), region_name(country, region)
    return text.upper(), None


def valid_territory(entry: str) -> bool:
    country, region = parse_territory(entry)
    rest = entry.strip()[2:]
    if rest and region is None:
        return False
    return country in phonenumbers.SUPPORTED_REGIONS
