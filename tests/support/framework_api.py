"""The framework service's HTTP API in-process, on a real PostgreSQL, with real tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from services.framework.service import build, definition
from tests.support.service_api import ServiceApi, in_process

SCHEMA = "framework"


class FrameworkApi(ServiceApi):
    pass


@asynccontextmanager
async def framework_api(database_url: str, keys_dir: Path) -> AsyncIterator[FrameworkApi]:
    migrations = definition.migrations
    async with in_process(FrameworkApi, build, SCHEMA, migrations, database_url, keys_dir) as api:
        yield api
