"""A lead's status changes, each recorded with who made it and why."""

from sqlmodel.ext.asyncio.session import AsyncSession

from gateway.models import Lead, LeadStatusChange, utcnow


def change_status(
    session: AsyncSession,
    lead: Lead,
    to_status: str,
    *,
    changed_by: int | None,
    reason: str | None = None,
) -> bool:
    """Set the lead's status and record the change; False (nothing recorded) if unchanged.

    The caller validated `to_status` against the organization's statuses and commits.
    """
    if lead.status == to_status:
        return False
    assert lead.id is not None
    now = utcnow()
    session.add(
        LeadStatusChange(
            org_id=lead.org_id,
            lead_id=lead.id,
            from_status=lead.status,
            to_status=to_status,
            changed_by=changed_by,
            reason=reason,
            created_at=now,
        )
    )
    lead.status = to_status
    lead.updated_at = now
    session.add(lead)
    return True
