"""How long JetStream keeps events, dead letters, large bodies and outside events awaiting
admission is configured, and a changed setting reaches streams that already exist
(docs/privacy.md)."""

from __future__ import annotations

import pytest
from faststream.nats import NatsBroker
from nats.js import api

from libs.events.broker import DAY, StreamDefaults, ensure_streams, supports_message_ttl
from libs.events.subjects import DEAD_LETTER_STREAM, EVENT_STREAM, INTAKE_STREAM, PAYLOAD_BUCKET

pytestmark = pytest.mark.backbone


async def test_retention_is_set_on_creation_and_brought_up_to_date(broker: NatsBroker) -> None:
    js = broker.connection.jetstream()

    async def kept() -> tuple[float | None, ...]:
        events = await js.stream_info(EVENT_STREAM)
        dead = await js.stream_info(DEAD_LETTER_STREAM)
        bodies = await (await js.object_store(PAYLOAD_BUCKET)).status()
        intake = await js.stream_info(INTAKE_STREAM)
        return events.config.max_age, dead.config.max_age, bodies.ttl, intake.config.max_age

    defaults = StreamDefaults()
    assert await kept() == (
        defaults.event_retention_days * DAY,
        defaults.dead_letter_retention_days * DAY,
        defaults.event_retention_days * DAY,
        7 * DAY,
    )
    shorter = StreamDefaults(
        event_retention_days=30, dead_letter_retention_days=7, intake_retention_days=2
    )
    await ensure_streams(broker, shorter)
    assert await kept() == (30 * DAY, 7 * DAY, 30 * DAY, 2 * DAY)
    # A dead letter may be kept less, where the server allows it: an outside event's is in
    # clear (docs/privacy.md).
    allowed = (await js.stream_info(DEAD_LETTER_STREAM)).config.allow_msg_ttl
    assert bool(allowed) == supports_message_ttl(broker)


async def test_the_intake_deletes_a_message_once_it_is_acknowledged(broker: NatsBroker) -> None:
    """A work queue: an outside event waits there in clear only until it is admitted."""
    js = broker.connection.jetstream()
    assert (await js.stream_info(INTAKE_STREAM)).config.retention == (
        api.RetentionPolicy.WORK_QUEUE
    )
    await js.publish("intake.hris.employee_hired.v1", b"{}", stream=INTAKE_STREAM)
    subscription = await js.pull_subscribe("intake.>", durable="admits", stream=INTAKE_STREAM)
    [message] = await subscription.fetch(1, timeout=5)
    assert (await js.stream_info(INTAKE_STREAM)).state.messages == 1, "kept until acknowledged"
    await message.ack_sync()
    assert (await js.stream_info(INTAKE_STREAM)).state.messages == 0
