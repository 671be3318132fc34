"""A consumer process that dies after committing its effect and before acknowledging.

Run by tests as `python -m tests.support.crashing_consumer` with DATABASE_URL and NATS_URL
(and NATS_CREDENTIALS when the server wants an identity).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from libs.events.store import EventStore
from libs.platform.runtime import broker_for
from libs.platform.settings import Settings
from tests.support.backbone import start_consumer

CRASHED = 17


class DiesAfterCommit(EventStore):
    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection[Any]]:
        async with super().transaction() as conn:
            yield conn
        os._exit(CRASHED)  # committed; the consumer has not acknowledged yet


async def main() -> None:
    async with AsyncConnectionPool(os.environ["DATABASE_URL"], open=False) as pool:
        broker = broker_for(Settings(), "crashing-consumer")
        start_consumer(broker, DiesAfterCommit(pool, "svc"), ack_wait=2.0)
        await broker.start()
        await asyncio.sleep(50)
    raise SystemExit("no event arrived")


if __name__ == "__main__":
    asyncio.run(main())
