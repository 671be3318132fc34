"""How long JetStream keeps events, dead letters and large bodies is configured, and a
changed setting reaches streams that already exist (docs/privacy.md)."""

from __future__ import annotations

import pytest
from faststream.nats import NatsBroker

from libs.events.broker import DAY, StreamDefaults, ensure_streams
from libs.events.subjects import DEAD_LETTER_STREAM, EVENT_STREAM, PAYLOAD_BUCKET

pytestmark = pytest.mark.backbone


async def test_retention_is_set_on_creation_and_brought_up_to_date(broker: NatsBroker) -> None:
    js = broker.connection.jetstream()

    async def kept() -> tuple[float | None, ...]:
        events = await js.stream_info(EVENT_STREAM)
        dead = await js.stream_info(DEAD_LETTER_STREAM)
        bodies = await (await js.object_store(PAYLOAD_BUCKET)).status()
        return events.config.max_age, dead.config.max_age, bodies.ttl

    defaults = StreamDefaults()
    assert await kept() == (
        defaults.event_retention_days * DAY,
        defaults.dead_letter_retention_days * DAY,
        defaults.event_retention_days * DAY,
    )
    shorter = StreamDefaults(event_retention_days=30, dead_letter_retention_days=7)
    await ensure_streams(broker, shorter)
    assert await kept() == (30 * DAY, 7 * DAY, 30 * DAY)
