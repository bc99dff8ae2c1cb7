"""Reading and changing an organization's dialing rules: calling window, caps, wrap-up, zone.

Nothing here is cached: the dial guard, the queue, wrap-up and the presence sweep read the
organization row when they need it, so a change is in force for the next dial in every process.
"""

import re
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from sqlmodel.ext.asyncio.session import AsyncSession

from dialer.guard import parse_hhmm
from gateway.auth import Principal
from gateway.errors import Forbidden, InvalidInput
from gateway.models import Organization, Role

FIELDS = (
    "calling_window_start",
    "calling_window_end",
    "max_daily_attempts",
    "wrapup_limit_s",
    "wrapup_requires_disposition",
    "timezone",
    "default_region",
)
HHMM_RE = re.compile(r"^[0-9]{2}:[0-9]{2}$")
MAX_ATTEMPTS = 1000
MAX_WRAPUP_S = 24 * 60 * 60


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


class DialingSettingsUpdate(BaseModel):
    """Any of the fields; a field left out stays as it is, null removes a cap or limit."""

    # Strict: "5" is not a number of attempts and 1 is not true.
    model_config = ConfigDict(extra="forbid", strict=True)

    calling_window_start: str | None = None
    calling_window_end: str | None = None
    max_daily_attempts: int | None = Field(default=None, ge=0, le=MAX_ATTEMPTS)
    wrapup_limit_s: int | None = Field(default=None, ge=0, le=MAX_WRAPUP_S)
    wrapup_requires_disposition: bool | None = None
    timezone: str | None = None
    default_region: str | None = None

    @field_validator("calling_window_start", "calling_window_end")
    @classmethod
    def _hhmm(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        # Stored as written and shown to agents: always two-digit hours.
        if not HHMM_RE.match(value):
            raise ValueError(f"{value!r} is not HH:MM (e.g. 09:00)")
        parse_hhmm(value, is_end=info.field_name == "calling_window_end")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None and value not in _zone_names():
            raise ValueError(f"{value!r} is not an IANA time zone name (e.g. Asia/Kolkata)")
        return value

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is None:
            return None
        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not an ISO 3166 country code with a numbering plan")
        return region


def dialing_settings(org: Organization) -> dict[str, Any]:
    return {name: getattr(org, name) for name in FIELDS}


# Fields that must be present (not null) when sent: they have no "no limit" meaning.
_REQUIRED = (
    "calling_window_start",
    "calling_window_end",
    "wrapup_requires_disposition",
    "timezone",
    "default_region",
)


async def update_dialing_settings(
    session: AsyncSession, principal: Principal, data: DialingSettingsUpdate
) -> Organization:
    """Apply the fields sent (admin only); the caller commits."""
    if principal.role != Role.ADMIN:
        raise Forbidden("only admins change the organization's dialing settings")
    sent = data.model_dump(exclude_unset=True)
    for name in _REQUIRED:
        if name in sent and sent[name] is None:
            raise InvalidInput("may not be null", field=name)
    org = await session.get(Organization, principal.org_id, with_for_update=True)
    assert org is not None
    start = sent.get("calling_window_start", org.calling_window_start)
    end = sent.get("calling_window_end", org.calling_window_end)
    # Equal ends make an empty window (the guard would refuse every dial): a mistake, not a
    # setting. A start after the end is a window across midnight (e.g. 22:00-02:00).
    if parse_hhmm(start) == parse_hhmm(end, is_end=True):
        field = "calling_window_end" if "calling_window_end" in sent else "calling_window_start"
        raise InvalidInput(
            "the calling window must not be empty (start equals end)",
            field=field,
            code="empty_window",
        )
    for name, value in sent.items():
        setattr(org, name, value)
    session.add(org)
    await session.flush()
    return org
