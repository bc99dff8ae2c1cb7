"""Who may see what: agents their own leads and calls, managers their team's, admins all."""

from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from gateway.auth import Principal
from gateway.models import Call, Lead, Role, User


def lead_scope(principal: Principal) -> Any:
    base = col(Lead.org_id) == principal.org_id
    if principal.role == Role.ADMIN:
        return base
    if principal.role == Role.MANAGER:
        team_members = sa.select(col(User.id)).where(
            col(User.org_id) == principal.org_id, col(User.team_id) == principal.team_id
        )
        return sa.and_(
            base,
            sa.or_(
                col(Lead.team_id) == principal.team_id,
                Lead.owner_id.in_(team_members),  # type: ignore[union-attr]
            ),
        )
    return sa.and_(base, col(Lead.owner_id) == principal.user_id)


def call_scope(principal: Principal) -> Any:
    base = col(Call.org_id) == principal.org_id
    if principal.role == Role.ADMIN:
        return base
    if principal.role == Role.MANAGER:
        return sa.and_(base, col(Call.team_id) == principal.team_id)
    return sa.and_(base, col(Call.agent_id) == principal.user_id)


def can_see_lead(principal: Principal, lead: Lead, owner_team_id: int | None) -> bool:
    if lead.org_id != principal.org_id:
        return False
    if principal.role == Role.ADMIN:
        return True
    if principal.role == Role.MANAGER:
        return principal.team_id is not None and principal.team_id in (
            lead.team_id,
            owner_team_id,
        )
    return lead.owner_id == principal.user_id
