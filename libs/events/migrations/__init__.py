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

HERE = Path(__file__).parent


def sqlalchemy_url(database_url: str) -> str:
    """SQLAlchemy wants its driver named; psycopg 3 is the one we use everywhere."""
    scheme, _, rest = database_url.partition("://")
    return f"postgresql+psycopg://{rest}" if scheme in {"postgres", "postgresql"} else database_url


def migrate(database_url: str, schema: str, *service_versions: Path) -> None:
    """Bring `schema` to the newest revision of the events branch and the service's branches.

    Safe to run from several processes at once: `env.py` serialises on an advisory lock.
    """
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("path_separator", "os")
    locations = [HERE / "versions", *service_versions]
    config.set_main_option("version_locations", os.pathsep.join(str(p) for p in locations))
    config.attributes["url"] = sqlalchemy_url(database_url)
    config.attributes["schema"] = schema
    command.upgrade(config, "heads")
