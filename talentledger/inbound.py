"""Publishing events as an outside system (HRIS, LMS) would: envelopes with stable ids,
pipelined onto the intake with a window of acknowledgements in flight. The cycles service
admits them from there, personal fields sealed, for the services to consume
(libs/events/intake.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from faststream.nats import NatsBroker

from libs.events.broker import ensure_streams, headers_of
from libs.events.envelope import Envelope
from libs.events.registry import IntegrationEvent
from libs.events.subjects import INTAKE_STREAM, intake_subject_for
from libs.platform.runtime import broker_for
from libs.platform.settings import Settings


class BrokerUnreachable(RuntimeError):
    """NATS did not answer: the stack is down, or the address is wrong."""


@asynccontextmanager
async def integration_broker(
    settings: Settings, client_name: str, connect_timeout: float = 15
) -> AsyncIterator[NatsBroker]:
    """A broker connected as the settings' NATS identity (an outside system's: `hris`,
    `lms`), on streams known to be as they should be; stopped when the block ends."""
    broker = broker_for(settings, client_name)
    try:
        await asyncio.wait_for(broker.connect(), connect_timeout)
    except TimeoutError:
        raise BrokerUnreachable(
            f"cannot reach NATS at {settings.nats_url}: is the stack up?"
        ) from None
    try:
        await ensure_streams(broker, settings)
        yield broker
    finally:
        await broker.stop()


def outside_envelope(
    event: IntegrationEvent,
    event_id: uuid.UUID,
    stream_id: str,
    actor: str,
    correlation_id: uuid.UUID,
    stream_version: int = 1,
) -> Envelope:
    """An event in the standard envelope, as an integration publishes it."""
    now = datetime.now(UTC)
    return Envelope(
        event_id=event_id,
        event_type=event.event_type,
        schema_version=event.schema_version,
        source=event.context,
        stream_id=stream_id,
        stream_version=stream_version,
        global_position=0,  # events from outside have no place in a TalentLedger log
        occurred_at=now,
        recorded_at=now,
        actor=actor,
        correlation_id=correlation_id,
        payload=event.model_dump(mode="json"),
    )


@dataclass(frozen=True)
class Published:
    """What a load sent: events acknowledged, of which JetStream already had `repeats`, and
    how many items (rows' worth) they carried."""

    events: int = 0
    repeats: int = 0
    items: int = 0

    @property
    def new(self) -> int:
        return self.events - self.repeats


async def publish(
    broker: NatsBroker,
    envelopes: Iterable[tuple[Envelope, int]],
    advance: Callable[[int], None] = lambda _: None,
    window: int = 256,
) -> Published:
    """Publish (envelope, items it carries) pairs on the intake, `window` acknowledgements in
    flight at a time; `advance` is called with the items of each acknowledged event."""
    js = broker.connection.jetstream()
    pending: list[tuple[asyncio.Future[Any], int]] = []
    total = Published()
    for envelope, items in envelopes:
        ack = await js.publish_async(
            intake_subject_for(envelope.source, envelope.event_type, envelope.schema_version),
            envelope.model_dump_json().encode(),
            headers=headers_of(envelope),
            stream=INTAKE_STREAM,
        )
        pending.append((ack, items))
        if len(pending) >= window:
            total = await _settle(pending, total, advance)
    return await _settle(pending, total, advance)


async def _settle(
    pending: list[tuple[asyncio.Future[Any], int]],
    total: Published,
    advance: Callable[[int], None],
) -> Published:
    for future, items in pending:
        ack = await future
        total = Published(
            total.events + 1, total.repeats + (1 if ack.duplicate else 0), total.items + items
        )
        advance(items)
    pending.clear()
    return total
