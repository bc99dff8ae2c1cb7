"""The demo organization: fixed logins, agents with phones, a sandbox line, mixed-format leads."""

import logging
from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from crm.leads import add_phone_keys
from gateway.accounts import CarrierAccountCreate, register_account
from gateway.carriers.registry import CarrierRegistry
from gateway.models import AssignmentRule, Lead, Organization, Role, Team, User, utcnow
from gateway.phones import to_e164
from gateway.settings import Settings
from gateway.users import create_user

log = logging.getLogger(__name__)

DEMO_PASSWORD = "demo"  # noqa: S105  (demo mode only; documented fixed login)
DEMO_ORG = "Demo Telecalling Co."
SANDBOX_NUMBER = "+91 80 4718 0000"


@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    role: Role
    phone: str | None


DEMO_USERS = (
    DemoUser("admin@demo.test", "Asha Admin", Role.ADMIN, None),
    DemoUser("manager@demo.test", "Manoj Manager", Role.MANAGER, None),
    DemoUser("agent1@demo.test", "Anita Agent", Role.AGENT, "+91 90000 12345"),
    DemoUser("agent2@demo.test", "Arjun Agent", Role.AGENT, "090000 23456"),
)

# (name, company, phone as people type it); numbers ending 0001/0002/0003 show the
# sandbox's busy / no-answer / failed outcomes.
DEMO_LEADS = (
    ("Priya Sharma", "Sharma Textiles", "98765 43210"),
    ("Rahul Verma", "Verma Motors", "+91 98200 11223"),
    ("Sneha Iyer", "Iyer & Sons", "09845012345"),
    ("Vikram Singh", "Singh Logistics", "91-99100-22334"),
    ("Kavya Reddy", "Reddy Pharma", "+91-97000-33445"),
    ("Arjun Nair", "Nair Exports", "0091 96000 44556"),
    ("Deepa Menon", "Menon Foods", "(0) 98450 55667"),
    ("Suresh Patel", "Patel Hardware", "+919898066778"),
    ("Anjali Gupta", "Gupta Jewellers", "9810077889"),
    ("Rohan Das", "Das Electronics", "080 2345 6789"),
    ("Meera Joshi", "Joshi Clinic", "+91 22 2345 6789"),
    ("Busy Bala", "Always Busy Ltd", "98765 00001"),
    ("Nora Noanswer", "Silent Partners", "+91 98765 00002"),
    ("Faisal Failed", "Dead Line Co", "98765-00003"),
    ("John Miller", "Miller Insurance", "+1 (212) 736-1234"),
    ("Emily Clark", "Clark Realty", "+1 650-253-4321"),
    ("Michael Brown", "Brown Legal", "001 415 555 0123"),
    ("Sarah Davis", "Davis Dental", "+1.312.555.0199"),
    ("David Wilson", "Wilson Roofing", "+1 617 555 0100"),
    ("Laura Moore", "Moore Bakery", "+1 202-555-0173"),
    ("Oliver Smith", "Smith & Co", "+44 20 7946 0958"),
    ("Amelia Jones", "Jones Florists", "0044 20 7946 0123"),
    ("Harry Taylor", "Taylor Builders", "+44 (0)161 496 0321"),
    ("Isla Brown", "Brown Books", "+44 117 496 0456"),
    ("George Evans", "Evans Garage", "+44 7911 123456"),
    ("Chloe Walker", "Walker Studio", "+44 7400 123 456"),
    ("Neha Kapoor", "Kapoor Travels", "99 8877 6655"),
    ("Imran Khan", "Khan Traders", "+91 94444 12121"),
    ("Pooja Bhat", "Bhat Consulting", "08023456780"),
    ("Tarun Mehta", "Mehta Steel", "+91 (79) 2658 1234"),
    ("Zoya Ali", "Ali Fabrics", "7045 123 456"),
    ("Karan Malhotra", "Malhotra Estates", "+91 88888 34343"),
)


async def seed_demo(session: AsyncSession, settings: Settings, registry: CarrierRegistry) -> bool:
    """Create the demo organization once; returns False when it already exists."""
    existing = (
        await session.exec(select(User.id).where(col(User.email) == DEMO_USERS[0].email))
    ).first()
    if existing is not None:
        return False
    # The whole day is the calling window, so that the demo dials at any hour of the day.
    org = Organization(
        name=DEMO_ORG,
        default_region="IN",
        timezone="Asia/Kolkata",
        calling_window_start="00:00",
        calling_window_end="24:00",
    )
    session.add(org)
    await session.flush()
    assert org.id is not None
    team = Team(org_id=org.id, name="Inside Sales")
    session.add(team)
    await session.flush()
    await register_account(
        session,
        settings,
        registry,
        org_id=org.id,
        data=CarrierAccountCreate(carrier="sandbox", name="Sandbox line", numbers=[SANDBOX_NUMBER]),
    )
    users: dict[str, User] = {}
    for spec in DEMO_USERS:
        users[spec.email] = await create_user(
            session,
            settings,
            org=org,
            email=spec.email,
            password=DEMO_PASSWORD,
            name=spec.name,
            role=spec.role,
            team=None if spec.role == Role.ADMIN else team,
            phone=spec.phone,
        )
    agents = [users["agent1@demo.test"], users["agent2@demo.test"]]
    # New unowned leads take turns between the team's agents who are online.
    session.add(AssignmentRule(org_id=org.id, team_id=team.id, kind="round_robin"))
    now = utcnow()
    for i, (name, company, raw) in enumerate(DEMO_LEADS):
        e164 = to_e164(raw, "IN")
        # Every fifth lead waits unassigned in the team's pool.
        owner = None if i % 5 == 4 else agents[i % 2]
        lead = Lead(
            org_id=org.id,
            name=name,
            company=company,
            email=f"{name.split()[0].lower()}@example.com",
            phone=e164,
            owner_id=owner.id if owner else None,
            team_id=team.id,
            source="demo",
            tags=["demo"],
            created_at=now,
            updated_at=now,
        )
        session.add(lead)
        await session.flush()
        await add_phone_keys(session, settings, lead)
    return True
