"""JetStream wiring through FastStream: streams, publishing envelopes, and the broker factory."""

from __future__ import annotations

import dataclasses
import logging

from faststream.nats import JStream, NatsBroker
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from nats.js import api
from nats.js.errors import BucketNotFoundError, NotFoundError
from opentelemetry.trace import TracerProvider

from libs.events.envelope import Envelope
from libs.events.subjects import (
    DEAD_LETTER_STREAM,
    DEAD_LETTER_SUBJECTS,
    EVENT_STREAM,
    EVENT_SUBJECTS,
    PAYLOAD_BUCKET,
    subject_for,
)

DAY = 24 * 3600.0
RETENTION = 365 * DAY
# Message bodies above this go to the payload object store and the message carries a claim
# check (`BODY_OBJECT` header): NATS refuses messages over its max_payload (1 MiB by default).
INLINE_LIMIT = 512 * 1024
BODY_OBJECT = "tl-body-object"

# Streams are declared explicitly by `ensure_streams`, so FastStream must not redeclare them
# with different settings.
EVENTS = JStream(EVENT_STREAM, subjects=[EVENT_SUBJECTS], declare=False)
DEAD_LETTERS = JStream(DEAD_LETTER_STREAM, subjects=[DEAD_LETTER_SUBJECTS], declare=False)


def _stream(name: str, description: str, subjects: str) -> api.StreamConfig:
    return api.StreamConfig(
        name=name,
        description=description,
        subjects=[subjects],
        storage=api.StorageType.FILE,
        retention=api.RetentionPolicy.LIMITS,
        max_age=RETENTION,
        # The relay may republish after a crash: JetStream drops repeats of a
        # Nats-Msg-Id seen within this window, and consumers' inboxes catch the rest.
        duplicate_window=10 * 60.0,
    )


_STREAM_CONFIGS = (
    _stream(EVENT_STREAM, "TalentLedger integration events", EVENT_SUBJECTS),
    _stream(
        DEAD_LETTER_STREAM,
        "Events a consumer gave up on, with the error; see replay-dead-letters",
        DEAD_LETTER_SUBJECTS,
    ),
)


def make_broker(
    nats_url: str, *, client_name: str, tracer_provider: TracerProvider | None = None
) -> NatsBroker:
    """A broker that reconnects forever: a NATS outage delays work, it never ends a process."""
    return NatsBroker(
        [server.strip() for server in nats_url.split(",")],  # a cluster: comma-separated
        name=client_name,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        middlewares=[NatsTelemetryMiddleware(tracer_provider=tracer_provider)],
        log_level=logging.DEBUG,  # per-message access logs only when debugging
        graceful_timeout=15,
    )


async def ensure_streams(broker: NatsBroker, replicas: int = 1) -> None:
    """Create the event and dead-letter streams, or bring their settings up to date.

    `replicas`: 3 on a 3-node JetStream cluster, so a node can fail without losing events.
    """
    js = broker.connection.jetstream()
    for template in _STREAM_CONFIGS:
        config = dataclasses.replace(template, num_replicas=replicas)
        try:
            await js.update_stream(config)
        except NotFoundError:
            await js.add_stream(config)
    try:
        await js.object_store(PAYLOAD_BUCKET)
    except (NotFoundError, BucketNotFoundError):
        await js.create_object_store(
            PAYLOAD_BUCKET,
            config=api.ObjectStoreConfig(
                description="Bodies of events too large for one message, by event id",
                ttl=RETENTION,
                storage=api.StorageType.FILE,
                replicas=replicas,
            ),
        )


async def stash_body(broker: NatsBroker, envelope: Envelope, body: bytes) -> tuple[bytes, str]:
    """Store a body too large for one message; return the stand-in body and the object name.

    The object is named by the event id, so a republish after a crash rewrites the same
    object with the same bytes. The stand-in is the envelope without its payload.
    """
    name = str(envelope.event_id)
    store = await broker.connection.jetstream().object_store(PAYLOAD_BUCKET)
    await store.put(name, body)
    return envelope.model_copy(update={"payload": {}}).model_dump_json().encode(), name


async def claimed_body(broker: NatsBroker, name: str) -> bytes:
    """The body stored for a message that carries a claim check."""
    store = await broker.connection.jetstream().object_store(PAYLOAD_BUCKET)
    return (await store.get(name)).data or b""


def subject_of_envelope(envelope: Envelope) -> str:
    return subject_for(envelope.source, envelope.event_type, envelope.schema_version)


def headers_of(envelope: Envelope) -> dict[str, str]:
    """The event id is the `Nats-Msg-Id`, so JetStream keeps one copy of a republished event."""
    return {
        "Nats-Msg-Id": str(envelope.event_id),
        "content-type": "application/json",
        "correlation_id": str(envelope.correlation_id),
        "tl-event-type": envelope.event_type,
        "tl-schema-version": str(envelope.schema_version),
    }
