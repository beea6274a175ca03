"""Alembic migrations build exactly the schema the models describe, and can be re-run."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from bot.platform import db
from bot.platform.models import Base
from bot.platform.settings import PROJECT_ROOT


@pytest.fixture
def fresh_url(tmp_path):
    return f"sqlite:///{tmp_path / 'fresh.db'}"


def alembic_config(url: str | None = None) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "bot" / "platform" / "migrations"))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url)
    return config


def head_revision():
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_migrate_creates_every_model_table(fresh_url):
    db.migrate(fresh_url)
    tables = set(sa.inspect(db.engine_for(fresh_url)).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert tables - set(Base.metadata.tables) == {"alembic_version"}


def test_migrate_records_the_head_revision(fresh_url):
    db.migrate(fresh_url)
    with db.engine_for(fresh_url).connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    assert current is not None
    assert current == head_revision()


def test_migrations_match_the_models(fresh_url):
    """Autogenerate finds nothing to do: models and migrations have not drifted apart."""
    db.migrate(fresh_url)
    with db.engine_for(fresh_url).connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_comparison_would_notice_drift(fresh_url):
    """The check above is able to fail: a column the migrations lack is reported."""
    db.migrate(fresh_url)
    drifted = sa.MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["orders"].append_column(sa.Column("extra_note", sa.String(50)))
    with db.engine_for(fresh_url).connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), drifted)
    assert [d[0] for d in differences] == ["add_column"]
    assert differences[0][3].name == "extra_note"


def test_migrate_is_idempotent_and_keeps_data(fresh_url):
    db.migrate(fresh_url)
    engine = db.engine_for(fresh_url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO shops (id, name, settings, created_at) "
                "VALUES ('mama-put', 'Mama Put', '{}', '2024-01-01 00:00:00')"
            )
        )
    db.migrate(fresh_url)
    with engine.connect() as connection:
        names = connection.execute(sa.text("SELECT name FROM shops")).scalars().all()
        versions = connection.execute(sa.text("SELECT * FROM alembic_version")).all()
    assert names == ["Mama Put"]
    assert len(versions) == 1


def test_the_test_database_is_migrated_too(session):
    """The per-test database from conftest has the same tables (it came from migrate)."""
    tables = set(sa.inspect(session.get_bind()).get_table_names())
    assert set(Base.metadata.tables) <= tables


# Buyers carried over to identities (0005), on SQLite and on the machine's PostgreSQL


def migrate_to(url: str, revision: str, downgrade: bool = False) -> None:
    from alembic import command

    (command.downgrade if downgrade else command.upgrade)(alembic_config(url), revision)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'carried.db'}"
        return
    from tests.helpers.postgres import throwaway_database

    with throwaway_database() as url:
        yield url


def insert_order(connection: sa.engine.Connection) -> None:
    """ORD-7F3K9Q, pending, of Mama Put's first buyer."""
    connection.execute(
        sa.text(
            "INSERT INTO orders (id, shop_id, buyer_id, amount_kobo, description, status,"
            " created_at, updated_at) VALUES ('ORD-7F3K9Q', 'mama-put', 1, 2500000,"
            " 'Ankara', 'pending', '2026-01-01', '2026-01-01')"
        )
    )


def test_buyers_are_carried_over_with_their_conversations_and_orders(any_url):
    migrate_to(any_url, "0004")
    engine = db.engine_for(any_url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO shops (id, name, settings, created_at) VALUES"
                " ('mama-put', 'Mama Put', '{}', '2026-01-01'),"
                " ('iya-basket', 'Iya Basket', '{}', '2026-01-01')"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO buyers (shop_id, channel, channel_user_id, verified_at, created_at)"
                " VALUES ('mama-put', 'whatsapp', '2348012345678', '2026-01-02', '2026-01-01'),"
                " ('iya-basket', 'whatsapp', '2348012345678', NULL, '2026-01-01'),"
                " ('mama-put', 'instagram', 'IGSID-1', NULL, '2026-01-01'),"
                " ('mama-put', 'rest', 'ada', NULL, '2026-01-01'),"
                " ('mama-put', 'whatsapp', '15550001234', NULL, '2026-01-01')"
            )
        )
        insert_order(connection)
    migrate_to(any_url, "head")

    with engine.connect() as connection:
        identities = connection.execute(
            sa.text(
                "SELECT buyer_id, shop_id, channel, key, wa_id FROM buyer_identities ORDER BY id"
            )
        ).all()
        phones = connection.execute(
            sa.text("SELECT id, phone, phone_verified_at IS NOT NULL FROM buyers ORDER BY id")
        ).all()
        owner = connection.execute(
            sa.text("SELECT buyer_id FROM orders WHERE id = 'ORD-7F3K9Q'")
        ).scalar_one()
    assert [tuple(row) for row in identities] == [
        (1, "mama-put", "whatsapp", "2348012345678", "2348012345678"),
        (2, "iya-basket", "whatsapp", "2348012345678", "2348012345678"),
        (3, "mama-put", "instagram", "IGSID-1", None),
        (4, "mama-put", "rest", "ada", None),
        (5, "mama-put", "whatsapp", "15550001234", "15550001234"),
    ]
    assert [tuple(row) for row in phones] == [
        (1, "+2348012345678", True),
        (2, "+2348012345678", True),
        (3, None, False),
        (4, None, False),
        (5, None, False),  # not a valid number: the conversation is kept, no phone is claimed
    ]
    assert owner == 1

    migrate_to(any_url, "0004", downgrade=True)
    with engine.connect() as connection:
        restored = connection.execute(
            sa.text("SELECT id, channel, channel_user_id FROM buyers ORDER BY id")
        ).all()
    assert [tuple(row) for row in restored][:4] == [
        (1, "whatsapp", "2348012345678"),
        (2, "whatsapp", "2348012345678"),
        (3, "instagram", "IGSID-1"),
        (4, "rest", "ada"),
    ]


# The shops' own systems (0006), on SQLite and on the machine's PostgreSQL


def test_api_tables_come_and_go_and_orders_keep_their_rows(any_url):
    migrate_to(any_url, "0005")
    engine = db.engine_for(any_url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO shops (id, name, settings, created_at)"
                " VALUES ('mama-put', 'Mama Put', '{}', '2026-01-01')"
            )
        )
        connection.execute(
            sa.text("INSERT INTO buyers (shop_id, created_at) VALUES ('mama-put', '2026-01-01')")
        )
        connection.execute(
            sa.text(
                "INSERT INTO orders (id, shop_id, buyer_id, amount_kobo, description, status,"
                " created_at, updated_at) VALUES ('ORD-7F3K9Q', 'mama-put', 1, 2500000,"
                " 'Ankara', 'pending', '2026-01-01', '2026-01-01')"
            )
        )
    migrate_to(any_url, "head")
    insert = (
        "INSERT INTO orders (id, shop_id, buyer_id, amount_kobo, description, status, reference,"
        " created_at, updated_at) VALUES (:id, 'mama-put', 1, 100, 'x', 'pending', :reference,"
        " '2026-01-01', '2026-01-01')"
    )
    with engine.begin() as connection:
        connection.execute(sa.text(insert), {"id": "ORD-AAAAAA", "reference": "shopify-1"})
        connection.execute(sa.text(insert), {"id": "ORD-BBBBBB", "reference": None})
    # One reference per order of a shop; orders without one are many.
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(sa.text(insert), {"id": "ORD-CCCCCC", "reference": "shopify-1"})

    migrate_to(any_url, "0005", downgrade=True)
    with engine.connect() as connection:
        ids = connection.execute(sa.text("SELECT id FROM orders ORDER BY id")).scalars().all()
        tables = set(sa.inspect(connection).get_table_names())
    assert ids == ["ORD-7F3K9Q", "ORD-AAAAAA", "ORD-BBBBBB"]
    assert not tables & {"api_keys", "shop_events", "notifications", "service_windows"}
    migrate_to(any_url, "head")


def test_received_receipts_are_carried_over_and_unused_upload_forms_dropped(any_url):
    """0007: a receipt received in the chat keeps its file (now ``storage_key``, from the
    chat); a presigned form that never received a file (``expected``) carries nothing."""
    migrate_to(any_url, "0006")
    engine = db.engine_for(any_url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO shops (id, name, settings, created_at)"
                " VALUES ('mama-put', 'Mama Put', '{}', '2026-01-01')"
            )
        )
        connection.execute(
            sa.text("INSERT INTO buyers (shop_id, created_at) VALUES ('mama-put', '2026-01-01')")
        )
        insert_order(connection)
        connection.execute(
            sa.text(
                "INSERT INTO receipts (shop_id, order_id, buyer_id, s3_key_prefix, status,"
                " s3_key, sha256, expires_at, created_at) VALUES"
                " ('mama-put', 'ORD-7F3K9Q', 1, 'shops/mama-put/orders/ORD-7F3K9Q/receipts/x',"
                " 'expected', NULL, NULL, '2026-01-01', '2026-01-01'),"
                " ('mama-put', 'ORD-7F3K9Q', 1, 'shops/mama-put/receipts/incoming/',"
                " 'received', 'shops/mama-put/receipts/incoming/7-ab.jpg', 'ab', '2026-01-02',"
                " '2026-01-02')"
            )
        )
    migrate_to(any_url, "head")
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT order_id, status, source, storage_key, flagged, attached_at FROM receipts"
            )
        ).all()
    assert [tuple(row)[:5] for row in rows] == [
        ("ORD-7F3K9Q", "received", "chat", "shops/mama-put/receipts/incoming/7-ab.jpg", False)
    ]
    assert rows[0].attached_at is not None
    migrate_to(any_url, "0006", downgrade=True)
    with engine.connect() as connection:
        key = connection.execute(sa.text("SELECT s3_key FROM receipts")).scalar_one()
    assert key == "shops/mama-put/receipts/incoming/7-ab.jpg"
