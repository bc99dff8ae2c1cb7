"""pending progressive dial on the agent's presence row

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 10:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import gateway.models


revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('agent_presence', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_token', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(sa.Column('next_lead_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('next_dial_at', gateway.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('next_skipped', sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f('ix_agent_presence_next_dial_at'), ['next_dial_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('agent_presence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agent_presence_next_dial_at'))
        batch_op.drop_column('next_skipped')
        batch_op.drop_column('next_dial_at')
        batch_op.drop_column('next_lead_id')
        batch_op.drop_column('next_token')
