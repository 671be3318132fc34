"""Pruning the consumers' inbox (docs/architecture.md §3, Inbox).

An inbox row is there to drop a redelivery of its event. JetStream redelivers a message
only while it is in the stream, at most `event_retention_days` after it was stored
(docs/privacy.md, The broker), and a row is written after the message it records was
stored: once the row is older than the retention, no copy that could have reached its
consumer before it is left. `MARGIN` more covers the broker's and the database's clocks
disagreeing, and a copy stored a little later than the one applied (the relay
republishing after a crash, a dead letter replayed).

Every service prunes its own inbox on a schedule (`libs.platform.runtime`), in small
batches, each its own short transaction: a busy inbox never waits long on a pruning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

import psycopg
from psycopg_pool import PoolTimeout

from libs.events.consumer import Inbox
from libs.events.store import EventStore

log = logging.getLogger(__name__)

MARGIN = timedelta(days=1)
BATCH_SIZE = 1000


class InboxPruning:
    """Deletes a service's inbox rows older than the event retention plus `MARGIN`."""

    def __init__(
        self, store: EventStore, retention_days: float, *, batch_size: int = BATCH_SIZE
    ) -> None:
        self.pool = store.pool
        self.inbox = Inbox(store.schema)
        self.kept_for = timedelta(days=retention_days) + MARGIN
        self.batch_size = batch_size

    async def prune(self, stop: asyncio.Event | None = None) -> int:
        """Delete every row past `kept_for`, a batch per transaction, until none is left or
        `stop` is set; how many were deleted. Running it again (or at once from several
        processes) deletes only what is left."""
        pruned = 0
        while stop is None or not stop.is_set():
            async with self.pool.connection() as conn:  # committed on leaving
                deleted = await self.inbox.prune(conn, self.kept_for, self.batch_size)
            pruned += deleted
            if deleted < self.batch_size:
                break
        return pruned

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        """Prune now and then every `interval` seconds until `stop`. A round the database
        fails is logged and left to the next one: nothing is lost by waiting."""
        while not stop.is_set():
            try:
                pruned = await self.prune(stop)
            except (psycopg.Error, PoolTimeout) as error:
                log.warning("inbox pruning failed, next try in %ss: %s", interval, error)
            else:
                if pruned:
                    log.info("pruned %d inbox rows older than %s", pruned, self.kept_for)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
