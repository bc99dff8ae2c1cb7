"""Number matching through the keyed lookup index: leads, agents, the organization's lines."""

from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from gateway.models import CarrierNumber, LeadPhone, User


@dataclass(frozen=True)
class LeadMatch:
    lead_ids: list[int]

    @property
    def unique(self) -> int | None:
        return self.lead_ids[0] if len(self.lead_ids) == 1 else None

    @property
    def ambiguous(self) -> bool:
        return len(self.lead_ids) > 1


async def leads_with_key(session: AsyncSession, *, org_id: int, key: str) -> LeadMatch:
    rows = await session.exec(
        select(LeadPhone.lead_id)
        .where(col(LeadPhone.org_id) == org_id, col(LeadPhone.phone_key) == key)
        .distinct()
        .order_by(col(LeadPhone.lead_id))
    )
    return LeadMatch(list(rows.all()))


async def agent_with_key(session: AsyncSession, *, org_id: int, key: str) -> User | None:
    return (
        await session.exec(
            select(User)
            .where(col(User.org_id) == org_id, col(User.phone_key) == key)
            .order_by(col(User.id))
        )
    ).first()


async def users_with_keys(session: AsyncSession, *, org_id: int, keys: set[str]) -> list[User]:
    """The organization's users whose phone has one of these keys, oldest first."""
    if not keys:
        return []
    rows = await session.exec(
        select(User)
        .where(col(User.org_id) == org_id, col(User.phone_key).in_(sorted(keys)))
        .order_by(col(User.id))
    )
    return list(rows.all())


async def is_internal(session: AsyncSession, *, org_id: int, key: str) -> str | None:
    """'agent' or 'carrier' if the number is one of the organization's own, else None."""
    if await agent_with_key(session, org_id=org_id, key=key) is not None:
        return "agent"
    return await carrier_number_internal(session, org_id=org_id, key=key)


async def carrier_number_internal(session: AsyncSession, *, org_id: int, key: str) -> str | None:
    """'carrier' if the number is one of the organization's carrier lines, else None."""
    carrier_number = (
        await session.exec(
            select(CarrierNumber.id).where(
                col(CarrierNumber.org_id) == org_id, col(CarrierNumber.phone_key) == key
            )
        )
    ).first()
    return "carrier" if carrier_number is not None else None
