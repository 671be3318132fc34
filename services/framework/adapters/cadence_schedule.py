"""The framework cadence check on a schedule (docs/framework.md, Review and revision
cadence): every replica runs it; the check's guarded appends announce each due period once."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg
from psycopg_pool import PoolTimeout

from services.framework.application.cadence import FrameworkCadence

log = logging.getLogger(__name__)


async def check_on_schedule(
    cadence: FrameworkCadence, stop: asyncio.Event, interval: float
) -> None:
    """Check now and then every `interval` seconds until `stop`. A round the database fails
    is logged and left to the next: an announcement made late is still made once."""
    while not stop.is_set():
        try:
            announced = await cadence.check()
        except (psycopg.Error, PoolTimeout) as error:
            log.warning("framework cadence check failed, next try in %ss: %s", interval, error)
        else:
            for event in announced:
                log.info("announced %s of framework %r", event.event_type, event.framework_id)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
