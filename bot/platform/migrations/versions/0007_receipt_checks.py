"""receipts you can trust: upload links, receipts bound to their buyer, checks and verdicts

A receipt is now a stored file (in S3 or a local directory, ``storage_key``) bound to its buyer,
attached to an order once (``order_id`` is empty while a chat receipt waits for its order). The
upload page's links live in ``upload_links``. Rows of the old presigned uploads that never
received a file (status ``expected``) carry nothing and are removed; received ones were sent in
the chat.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upload_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("shop_id", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=16), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("conversation_key", sa.String(length=160), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["buyer_id"], ["buyers.id"]),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("upload_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_upload_links_shop_id"), ["shop_id"], unique=False)

    op.execute("DELETE FROM receipts WHERE status = 'expected' OR s3_key IS NULL")
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.alter_column(
            "s3_key",
            new_column_name="storage_key",
            existing_type=sa.String(length=500),
            nullable=False,
        )
        batch_op.alter_column("order_id", existing_type=sa.String(length=16), nullable=True)
        batch_op.drop_column("s3_key_prefix")
        batch_op.drop_column("expires_at")
        batch_op.add_column(sa.Column("source", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("phash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("amount_read_kobo", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("paid_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("paid_time", sa.Time(), nullable=True))
        batch_op.add_column(sa.Column("reference", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("verdict", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("flagged", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("attached_at", sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_receipts_sha256"), ["sha256"], unique=False)
    op.execute("UPDATE receipts SET source = 'chat', attached_at = created_at")
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.alter_column("source", existing_type=sa.String(length=16), nullable=False)


def downgrade() -> None:
    op.execute("DELETE FROM receipts WHERE order_id IS NULL")
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_receipts_sha256"))
        batch_op.drop_column("attached_at")
        batch_op.drop_column("flagged")
        batch_op.drop_column("verdict")
        batch_op.drop_column("reference")
        batch_op.drop_column("paid_time")
        batch_op.drop_column("paid_on")
        batch_op.drop_column("amount_read_kobo")
        batch_op.drop_column("phash")
        batch_op.drop_column("source")
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("s3_key_prefix", sa.String(length=500), nullable=True))
        batch_op.alter_column("order_id", existing_type=sa.String(length=16), nullable=False)
        batch_op.alter_column(
            "storage_key",
            new_column_name="s3_key",
            existing_type=sa.String(length=500),
            nullable=True,
        )
    op.execute("UPDATE receipts SET expires_at = created_at, s3_key_prefix = s3_key")
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.alter_column("expires_at", existing_type=sa.DateTime(), nullable=False)
        batch_op.alter_column("s3_key_prefix", existing_type=sa.String(length=500), nullable=False)

    with op.batch_alter_table("upload_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_upload_links_shop_id"))
    op.drop_table("upload_links")
