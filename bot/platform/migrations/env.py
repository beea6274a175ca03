"""Alembic environment: migrates the database of DATABASE_URL, or the URL the caller set."""

import sqlalchemy as sa
from alembic import context

from bot.platform.db import engine_for
from bot.platform.models import Base
from bot.platform.settings import get_settings

# The advisory lock every migration run takes on PostgreSQL (any number unique to this app).
MIGRATION_LOCK = 0x7275_7374

url = context.config.get_main_option("sqlalchemy.url") or get_settings().database_url

if context.is_offline_mode():
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    with engine_for(url).connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch mode rebuilds a table by dropping it, which a referencing table's foreign
            # key would refuse; SQLite only allows switching them off outside a transaction.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            context.configure(
                connection=connection, target_metadata=Base.metadata, render_as_batch=True
            )
            with context.begin_transaction():
                if connection.dialect.name == "postgresql":
                    # Servers starting together migrate one after the other: the first brings
                    # the schema up, the others find it there.
                    connection.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))
                context.run_migrations()
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()
