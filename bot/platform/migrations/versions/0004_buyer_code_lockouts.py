"""wrong codes counted per buyer, with growing cool-downs

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("buyers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("code_failures", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("code_lockouts", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("code_locked_until", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("code_failed_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("buyers", schema=None) as batch_op:
        batch_op.drop_column("code_failed_at")
        batch_op.drop_column("code_locked_until")
        batch_op.drop_column("code_lockouts")
        batch_op.drop_column("code_failures")
