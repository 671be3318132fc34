"""The cycles service's admission of the intake and its outbox relay, in-process and
connected as the cycles identity: what carries outside systems' events onto the event
stream (libs/events/intake.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from faststream.nats import NatsBroker

from libs.events.broker import make_broker
from libs.events.intake import admit_outside_events
from libs.events.relay import OutboxRelay
from libs.events.store import EventStore
from tests.support.servers import Nats


@asynccontextmanager
async def admitting(nats: Nats, store: EventStore, **options: Any) -> AsyncIterator[NatsBroker]:
    """Admit the intake into `store`'s log (the cycles schema) and relay it, until the block
    ends; yields the cycles identity's broker. `options`: of `admit_outside_events`."""
    broker = make_broker(nats.url, client_name="cycles", credentials=nats.credentials("cycles"))
    admit_outside_events(broker, store, **options)
    await broker.start()
    stop = asyncio.Event()
    relay = asyncio.create_task(OutboxRelay(store, broker, poll_interval=0.2).run(stop))
    try:
        yield broker
    finally:
        stop.set()
        await asyncio.wait_for(relay, 20)
        await broker.stop()
