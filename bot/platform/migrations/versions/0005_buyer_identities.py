"""buyers as people: a phone per buyer, identities per channel account, phone-proof codes

Every existing buyer keeps its conversation: its (channel, channel user id) becomes an identity
whose key is that id, so Rasa's sender id ``shop:channel:user`` is unchanged. A WhatsApp buyer's
id is their number, which WhatsApp showed, so it becomes the buyer's proven phone.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 11:00:00
"""

import phonenumbers
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "buyer_identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.String(length=64), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("wa_id", sa.String(length=32), nullable=True),
        sa.Column("bsuid", sa.String(length=160), nullable=True),
        sa.Column("parent_bsuid", sa.String(length=160), nullable=True),
        sa.Column("username", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["buyer_id"], ["buyers.id"]),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("shop_id", "bsuid"),
        sa.UniqueConstraint("shop_id", "channel", "key"),
        sa.UniqueConstraint("shop_id", "wa_id"),
    )
    with op.batch_alter_table("buyer_identities", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_buyer_identities_buyer_id"), ["buyer_id"], unique=False
        )
    with op.batch_alter_table("otp_challenges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone", sa.String(length=20), nullable=True))
    # A conversation's key may be a business-scoped user id: up to 131 characters.
    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.alter_column(
            "sender", existing_type=sa.String(length=128), type_=sa.String(length=160)
        )
    with op.batch_alter_table("buyers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("phone_verified_at", sa.DateTime(), nullable=True))

    _carry_buyers_over()

    old_key = _unique_constraint("buyers", {"shop_id", "channel", "channel_user_id"})
    with op.batch_alter_table("buyers", schema=None) as batch_op:
        if old_key:
            batch_op.drop_constraint(old_key, type_="unique")
        batch_op.drop_column("channel_user_id")
        batch_op.drop_column("channel")
        batch_op.create_unique_constraint("uq_buyers_shop_id_phone", ["shop_id", "phone"])


def _carry_buyers_over() -> None:
    connection = op.get_bind()
    buyers = connection.execute(
        sa.text("SELECT id, shop_id, channel, channel_user_id, created_at FROM buyers")
    ).all()
    for buyer_id, shop_id, channel, user_id, created_at in buyers:
        whatsapp = channel == "whatsapp"
        connection.execute(
            sa.text(
                "INSERT INTO buyer_identities (shop_id, buyer_id, channel, key, wa_id, created_at)"
                " VALUES (:shop_id, :buyer_id, :channel, :key, :wa_id, :created_at)"
            ),
            {
                "shop_id": shop_id,
                "buyer_id": buyer_id,
                "channel": channel,
                "key": user_id,
                "wa_id": user_id if whatsapp else None,
                "created_at": created_at,
            },
        )
        phone = _phone_of_wa_id(user_id) if whatsapp else None
        if phone:
            connection.execute(
                sa.text("UPDATE buyers SET phone = :phone, phone_verified_at = :at WHERE id = :id"),
                {"phone": phone, "at": created_at, "id": buyer_id},
            )


def _unique_constraint(table: str, columns: set[str]) -> str | None:
    """The name of a unique constraint made unnamed by 0001: PostgreSQL named it, SQLite did
    not (batch mode then drops it with the table it rebuilds)."""
    for constraint in sa.inspect(op.get_bind()).get_unique_constraints(table):
        if set(constraint["column_names"]) == columns:
            return constraint["name"]
    return None


def _phone_of_wa_id(wa_id: str) -> str | None:
    """Frozen here as it was when this revision was written."""
    if not wa_id.isdigit():
        return None
    try:
        number = phonenumbers.parse(f"+{wa_id}")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def downgrade() -> None:
    with op.batch_alter_table("buyers", schema=None) as batch_op:
        batch_op.drop_constraint("uq_buyers_shop_id_phone", type_="unique")
        batch_op.add_column(sa.Column("channel", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("channel_user_id", sa.String(length=128), nullable=True))
    connection = op.get_bind()
    # Each buyer gets back the first account it had; later ones cannot be kept.
    connection.execute(
        sa.text(
            "UPDATE buyers SET channel = (SELECT i.channel FROM buyer_identities i"
            " WHERE i.buyer_id = buyers.id ORDER BY i.id LIMIT 1),"
            " channel_user_id = (SELECT i.key FROM buyer_identities i"
            " WHERE i.buyer_id = buyers.id ORDER BY i.id LIMIT 1)"
        )
    )
    connection.execute(
        sa.text(
            "UPDATE buyers SET channel = 'rest', channel_user_id = 'buyer-' || id"
            " WHERE channel IS NULL"
        )
    )
    with op.batch_alter_table("buyers", schema=None) as batch_op:
        batch_op.alter_column("channel", existing_type=sa.String(length=16), nullable=False)
        batch_op.alter_column(
            "channel_user_id", existing_type=sa.String(length=128), nullable=False
        )
        batch_op.create_unique_constraint(
            "uq_buyers_channel_user", ["shop_id", "channel", "channel_user_id"]
        )
        batch_op.drop_column("phone_verified_at")
        batch_op.drop_column("phone")
    with op.batch_alter_table("otp_challenges", schema=None) as batch_op:
        batch_op.drop_column("phone")
    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.alter_column(
            "sender", existing_type=sa.String(length=160), type_=sa.String(length=128)
        )
    with op.batch_alter_table("buyer_identities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_buyer_identities_buyer_id"))
    op.drop_table("buyer_identities")
