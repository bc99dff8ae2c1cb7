"""partial indexes on the lead columns most leads leave empty

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 17:25:00.000000

`team_id`, `next_follow_up_at` and `merged_into_id` of a lead, and `agent_id` of an
assignment row, are indexed only where they are set: their lookups are `= value` or
ranges, which imply it. `ix_lead_org_id` goes: `ix_lead_org_created` starts with `org_id`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PARTIAL = (
    ("lead", "ix_lead_team_id", "team_id"),
    ("lead", "ix_lead_next_follow_up_at", "next_follow_up_at"),
    ("lead", "ix_lead_merged_into_id", "merged_into_id"),
    ("lead_assignment", "ix_lead_assignment_agent_id", "agent_id"),
)


def upgrade() -> None:
    op.drop_index("ix_lead_org_id", table_name="lead")
    for table, name, column in PARTIAL:
        where = sa.text(f"{column} IS NOT NULL")
        op.drop_index(name, table_name=table)
        op.create_index(
            name, table, [column], unique=False, sqlite_where=where, postgresql_where=where
        )


def downgrade() -> None:
    for table, name, column in PARTIAL:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, [column], unique=False)
    op.create_index("ix_lead_org_id", "lead", ["org_id"], unique=False)
