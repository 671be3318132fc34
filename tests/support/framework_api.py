"""The framework service's HTTP API in-process, on a real PostgreSQL, with real tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from libs.personal.vault import MasterKeys
from services.framework.service import build, definition
from tests.support.servers import Nats
from tests.support.service_api import ServiceApi, in_process

SCHEMA = "framework"


class FrameworkApi(ServiceApi):
    pass


@asynccontextmanager
async def framework_api(
    database_url: str, keys_dir: Path, nats: Nats | None = None, master: MasterKeys | None = None
) -> AsyncIterator[FrameworkApi]:
    """`nats`: with the service's consumers and outbox relay (see `in_process`)."""
    migrations = definition.migrations
    async with in_process(
        FrameworkApi, build, SCHEMA, migrations, database_url, keys_dir, nats=nats, master=master
    ) as api:
        yield api
