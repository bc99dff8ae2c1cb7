"""Reading and replacing an organization's lead statuses, dispositions and pause reasons."""

import re
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.orgconfig import dispositions, lead_statuses, pause_reasons
from gateway.auth import Principal
from gateway.errors import Conflict, Forbidden, InvalidInput
from gateway.models import Lead, Organization, Role

KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
VOCABULARIES = ("lead_statuses", "dispositions", "pause_reasons")


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    # Keys are stored on rows (Lead.status is 32 characters) and appear in URLs and reports.
    key: str = Field(min_length=1, max_length=32)
    label: str = Field(min_length=1, max_length=100)

    @field_validator("key")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not KEY_RE.match(value):
            raise ValueError("use lower-case letters, digits, '-' and '_' (e.g. not-interested)")
        return value


class StatusEntry(_Entry):
    terminal: bool = False
    # A lead moved to this status has its numbers put on the do-not-call list.
    dnc: bool = False


class DispositionEntry(_Entry):
    lead_status: str | None = None
    dnc: bool = False
    follow_up: bool = False


class PauseReasonEntry(_Entry):
    pass


class CrmSettingsUpdate(BaseModel):
    """Any of the three lists, each replaced whole; a list left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    lead_statuses: list[StatusEntry] | None = Field(default=None, max_length=100)
    dispositions: list[DispositionEntry] | None = Field(default=None, max_length=100)
    pause_reasons: list[PauseReasonEntry] | None = Field(default=None, max_length=100)


def crm_settings(org: Organization) -> dict[str, list[dict[str, Any]]]:
    return {
        "lead_statuses": lead_statuses(org),
        "dispositions": dispositions(org),
        "pause_reasons": pause_reasons(org),
    }


def _checked(name: str, entries: list[Any] | None) -> list[dict[str, Any]]:
    if not entries:
        raise InvalidInput("must be a non-empty list", field=name)
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        if entry.key in seen:
            raise InvalidInput(f"the key {entry.key!r} is used twice", field=f"{name}.{i}.key")
        seen.add(entry.key)
    return [e.model_dump(exclude_none=True) for e in entries]


async def _statuses_in_use(session: AsyncSession, org_id: int, removed: set[str]) -> dict[str, int]:
    if not removed:
        return {}
    rows = await session.exec(
        select(Lead.status, sa.func.count())
        .where(
            col(Lead.org_id) == org_id,
            col(Lead.merged_into_id).is_(None),
            col(Lead.status).in_(removed),
        )
        .group_by(col(Lead.status))
    )
    return {status: int(count) for status, count in rows.all()}


async def update_crm_settings(
    session: AsyncSession, principal: Principal, data: CrmSettingsUpdate
) -> Organization:
    """Validate and store the lists sent; the caller commits."""
    if principal.role != Role.ADMIN:
        raise Forbidden("only admins change the organization's vocabularies")
    org = (
        await session.exec(
            select(Organization)
            .where(col(Organization.id) == principal.org_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one()
    sent = data.model_fields_set
    if not sent:
        raise InvalidInput(f"send at least one of {', '.join(VOCABULARIES)}", field="body")
    statuses = (
        _checked("lead_statuses", data.lead_statuses)
        if "lead_statuses" in sent
        else lead_statuses(org)
    )
    status_keys = {s["key"] for s in statuses}
    if "dispositions" in sent:
        new_dispositions = _checked("dispositions", data.dispositions)
        for i, entry in enumerate(new_dispositions):
            if entry.get("lead_status") is not None and entry["lead_status"] not in status_keys:
                raise InvalidInput(
                    f"{entry['lead_status']!r} is not one of the lead statuses",
                    field=f"dispositions.{i}.lead_status",
                )
    else:
        new_dispositions = dispositions(org)
        for entry in new_dispositions:
            if entry.get("lead_status") is not None and entry["lead_status"] not in status_keys:
                raise Conflict(
                    f"the disposition {entry['key']!r} moves leads to {entry['lead_status']!r}; "
                    "change the dispositions in the same request",
                    field="lead_statuses",
                    code="status_in_use",
                    status=entry["lead_status"],
                )
    if "lead_statuses" in sent:
        removed = {s["key"] for s in lead_statuses(org)} - status_keys
        in_use = await _statuses_in_use(session, org.id or 0, removed)
        if in_use:
            status, count = sorted(in_use.items())[0]
            raise Conflict(
                f"the status {status!r} is still used by {count} lead(s); "
                "move them to another status first",
                field="lead_statuses",
                code="status_in_use",
                status=status,
                count=count,
                in_use=in_use,
            )
        org.lead_statuses = statuses
    if "dispositions" in sent:
        org.dispositions = new_dispositions
    if "pause_reasons" in sent:
        org.pause_reasons = _checked("pause_reasons", data.pause_reasons)
    session.add(org)
    return org
