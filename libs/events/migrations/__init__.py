"""Versioned schema migrations (Alembic), one PostgreSQL schema per service.

Every service schema gets two migration branches: `events` (this folder's `versions/`: the
event log, inbox and relay checkpoint, identical for every service) and the service's own
(its read models, in `services/<name>/adapters/postgres/migrations/`). Migrations are
written without schema names: `env.py` sets `search_path` to the target schema.
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

HERE = Path(__file__).parent


def sqlalchemy_url(database_url: str) -> str:
    """SQLAlchemy wants its driver named; psycopg 3 is the one we use everywhere."""
    scheme, _, rest = database_url.partition("://")
    return f"postgresql+psycopg://{rest}" if scheme in {"postgres", "postgresql"} else database_url


def _config(database_url: str, schema: str, service_versions: tuple[Path, ...]) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("path_separator", "os")
    locations = [HERE / "versions", *service_versions]
    config.set_main_option("version_locations", os.pathsep.join(str(p) for p in locations))
    config.attributes["url"] = sqlalchemy_url(database_url)
    config.attributes["schema"] = schema
    return config


def migrate(
    database_url: str,
    schema: str,
    *service_versions: Path,
    service_role: str | None = None,
    to: str = "heads",
) -> None:
    """Bring `schema` to the newest revision of the events branch and the service's branches
    (or only as far as revision `to`, with what it depends on: what a schema held before).

    Run as the owner role (see `roles`); with `service_role`, that role's privileges on the
    schema are brought in step with its tables afterwards, in the same transaction.
    Safe to run from several processes at once: `env.py` serialises on an advisory lock.
    """
    config = _config(database_url, schema, service_versions)
    config.attributes["service_role"] = service_role
    command.upgrade(config, to)


class NotMigrated(RuntimeError):
    """The schema lacks migrations: `talentledger db migrate` (or `up`) has not run yet."""


def check_migrated(database_url: str, schema: str, *service_versions: Path) -> None:
    """Raise `NotMigrated` unless `schema` is at the newest revision of every branch.

    Services call this at start instead of migrating: their role may not change the schema.
    """
    config = _config(database_url, schema, service_versions)
    heads = set(ScriptDirectory.from_config(config).get_heads())
    engine = create_engine(config.attributes["url"], poolclass=NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"version_table_schema": schema})
            current = set(context.get_current_heads())
    finally:
        engine.dispose()
    if not heads <= current:
        missing = ", ".join(sorted(heads - current))
        raise NotMigrated(
            f"schema {schema!r} lacks migrations up to {missing}: run `talentledger db migrate` "
            "with DATABASE_OWNER_URL (`talentledger up` does it for the embedded stack)"
        )
