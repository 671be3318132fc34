"""Alembic environment shared by every service schema (see `libs.events.migrations`)."""

from alembic import context
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from libs.events.migrations.roles import sync_grants

config = context.config
schema: str = config.attributes["schema"]
service_role: str | None = config.attributes.get("service_role")
engine = create_engine(config.attributes["url"], poolclass=NullPool)

with engine.connect() as connection, connection.begin():
    # Concurrent starts of the same service must not race to create or upgrade its schema.
    connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": schema})
    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    connection.execute(text(f'SET LOCAL search_path TO "{schema}"'))
    context.configure(connection=connection, version_table_schema=schema)
    with context.begin_transaction():
        context.run_migrations()
    if service_role is not None:
        # In the same transaction: the service never sees a table without its grants.
        sync_grants(connection, schema, service_role)
engine.dispose()
