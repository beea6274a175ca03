"""the inbox as the queue of several turn servers: claims with a lease, per conversation

A claimed message now names the worker holding it (``claimed_by``) and until when
(``lease_until``, renewed while its turn runs), and when its first reply went out
(``replied_at``); the index serves the claim's "no earlier unfinished message of this
conversation" check.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 14:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox_messages") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("replied_at", sa.DateTime(), nullable=True))
        batch.create_index(
            "ix_inbox_messages_conversation", ["shop_id", "channel", "sender", "state"]
        )
    # Claimed by a server of the old version, which is stopped by now: free to take over.
    op.execute("UPDATE inbox_messages SET lease_until = claimed_at WHERE state = 'processing'")


def downgrade() -> None:
    with op.batch_alter_table("inbox_messages") as batch:
        batch.drop_index("ix_inbox_messages_conversation")
        batch.drop_column("replied_at")
        batch.drop_column("lease_until")
        batch.drop_column("claimed_by")
