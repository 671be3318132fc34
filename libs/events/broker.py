"""JetStream wiring through FastStream: streams, publishing envelopes, and the broker factory."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from faststream.nats import JStream, NatsBroker
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from faststream.nats.security import NatsCredentials, NatsNKey, NatsSecurity
from nats.js import api
from nats.js.errors import (
    BucketNotFoundError,
    NotFoundError,
    ObjectDeletedError,
    ObjectNotFoundError,
)
from opentelemetry.trace import TracerProvider

from libs.events.envelope import Envelope
from libs.events.identities import Credentials, inbox_prefix
from libs.events.subjects import (
    DEAD_LETTER_STREAM,
    DEAD_LETTER_SUBJECTS,
    EVENT_STREAM,
    EVENT_SUBJECTS,
    INTAKE_STREAM,
    INTAKE_SUBJECTS,
    PAYLOAD_BUCKET,
    PAYLOAD_STREAM,
    payload_chunks_subject,
    subject_for,
)

log = logging.getLogger(__name__)

DEFAULT_INBOX = "_INBOX"
DAY = 24 * 3600.0
# Message bodies above this go to the payload object store and the message carries a claim
# check (`BODY_OBJECT` header): NATS refuses messages over its max_payload (1 MiB by default).
INLINE_LIMIT = 512 * 1024
BODY_OBJECT = "tl-body-object"
# The body's SHA-256, carried by the message: the payload store is shared by every service, so
# only the message (on a subject only its context may publish) vouches for the body.
BODY_DIGEST = "tl-body-sha256"

# Streams are declared explicitly by `ensure_streams`, so FastStream must not redeclare them
# with different settings.
EVENTS = JStream(EVENT_STREAM, subjects=[EVENT_SUBJECTS], declare=False)
DEAD_LETTERS = JStream(DEAD_LETTER_STREAM, subjects=[DEAD_LETTER_SUBJECTS], declare=False)
INTAKE = JStream(INTAKE_STREAM, subjects=[INTAKE_SUBJECTS], declare=False)


class StreamSettings(Protocol):
    """How the streams are kept (`libs.platform.settings.Settings` is one)."""

    @property
    def nats_stream_replicas(self) -> int: ...

    @property
    def event_retention_days(self) -> float: ...

    @property
    def dead_letter_retention_days(self) -> float: ...

    @property
    def intake_retention_days(self) -> float: ...


@dataclass(frozen=True)
class StreamDefaults:
    """The defaults of `Settings`, for callers without settings (tests, benchmarks)."""

    nats_stream_replicas: int = 1
    event_retention_days: float = 365
    dead_letter_retention_days: float = 90
    intake_retention_days: float = 7


def _stream(
    name: str,
    description: str,
    subjects: str,
    days: float,
    replicas: int,
    retention: api.RetentionPolicy = api.RetentionPolicy.LIMITS,
    *,
    message_ttl: bool = False,
) -> api.StreamConfig:
    return api.StreamConfig(
        name=name,
        description=description,
        subjects=[subjects],
        storage=api.StorageType.FILE,
        retention=retention,
        max_age=days * DAY,
        # The relay may republish after a crash: JetStream drops repeats of a
        # Nats-Msg-Id seen within this window, and consumers' inboxes catch the rest.
        duplicate_window=10 * 60.0,
        num_replicas=replicas,
        # A message may carry a shorter life of its own (the `Nats-TTL` header).
        allow_msg_ttl=message_ttl or None,
    )


# A message's own time to live (`Nats-TTL`) came with nats-server 2.11; older servers keep
# every dead letter for the dead-letter retention.
MESSAGE_TTL_SINCE = (2, 11)


def supports_message_ttl(broker: NatsBroker) -> bool:
    """Whether the connected NATS server honours a message's own time to live."""
    version = broker.connection.connected_server_version
    return (version.major, version.minor) >= MESSAGE_TTL_SINCE


def _stream_configs(settings: StreamSettings, message_ttl: bool) -> tuple[api.StreamConfig, ...]:
    replicas = settings.nats_stream_replicas
    return (
        _stream(
            EVENT_STREAM,
            "TalentLedger integration events",
            EVENT_SUBJECTS,
            settings.event_retention_days,
            replicas,
        ),
        _stream(
            DEAD_LETTER_STREAM,
            "Events a consumer gave up on, with the error; see replay-dead-letters",
            DEAD_LETTER_SUBJECTS,
            settings.dead_letter_retention_days,
            replicas,
            # An outside event's dead letter is in clear: kept only as long as the intake.
            message_ttl=message_ttl,
        ),
        # Outside events wait here, in clear, only until admitted: a work queue deletes each
        # message once the admission acknowledges it (libs/events/intake.py).
        _stream(
            INTAKE_STREAM,
            "Events from outside systems (HRIS, LMS) awaiting admission by the cycles service",
            INTAKE_SUBJECTS,
            settings.intake_retention_days,
            replicas,
            api.RetentionPolicy.WORK_QUEUE,
        ),
    )


class IdentifiedBroker(NatsBroker):
    """A broker connected as one identity, which knows where its replies arrive: pull
    subscriptions must ask for their messages there too, the only inbox it may read.

    `on_reconnect` hooks run each time the connection is back after a loss (to the same
    server or, in a cluster, another one)."""

    def __init__(self, *args: Any, reply_inbox: str = DEFAULT_INBOX, **kwargs: Any) -> None:
        self._reconnect_hooks: list[Callable[[], Awaitable[None]]] = []
        super().__init__(
            *args, inbox_prefix=reply_inbox, reconnected_cb=self._reconnected, **kwargs
        )
        self.reply_inbox = reply_inbox

    def on_reconnect(self, hook: Callable[[], Awaitable[None]]) -> None:
        self._reconnect_hooks.append(hook)

    async def _reconnected(self) -> None:
        # nats-py awaits this inside its reconnect loop: a hook's failure must not reach it.
        for hook in self._reconnect_hooks:
            try:
                await hook()
            except Exception:
                log.warning("a reconnect hook failed", exc_info=True)


def make_broker(
    nats_url: str,
    *,
    client_name: str,
    credentials: Path | None = None,
    tls_ca_file: Path | None = None,
    tracer_provider: TracerProvider | None = None,
) -> NatsBroker:
    """A broker that reconnects forever: a NATS outage delays work, it never ends a process.

    `credentials`: the identity to connect as, an NKey seed file or a `.creds` file (see
    libs.events.identities); none for a server without authentication, or with a user and
    password in the URL. `tls_ca_file`: the CA to verify `tls://` servers with, when not
    one the system trusts.
    """
    context = ssl.create_default_context(cafile=str(tls_ca_file)) if tls_ca_file else None
    security: NatsSecurity | None = NatsSecurity(ssl_context=context) if context else None
    reply_inbox = DEFAULT_INBOX
    if credentials is not None:
        given = Credentials(credentials)
        kind = NatsCredentials if given.is_creds_file else NatsNKey
        security = kind.from_file(credentials, ssl_context=context)
        reply_inbox = inbox_prefix(given.public_key)
    return IdentifiedBroker(
        [server.strip() for server in nats_url.split(",")],  # a cluster: comma-separated
        name=client_name,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        middlewares=[NatsTelemetryMiddleware(tracer_provider=tracer_provider)],
        log_level=logging.DEBUG,  # per-message access logs only when debugging
        graceful_timeout=15,
        security=security,
        reply_inbox=reply_inbox,
    )


def _up_to_date(current: api.StreamConfig, wanted: api.StreamConfig) -> bool:
    fields = ("subjects", "description", "storage", "retention", "max_age", "duplicate_window")
    return (
        all(getattr(current, f) == getattr(wanted, f) for f in fields)
        and (current.num_replicas or 1) == (wanted.num_replicas or 1)
        and bool(current.allow_msg_ttl) == bool(wanted.allow_msg_ttl)
    )


async def ensure_streams(broker: NatsBroker, settings: StreamSettings | None = None) -> None:
    """Create the event, dead-letter and intake streams and the payload store, or bring
    their settings (retention, replicas) up to date: every one of them is replicated
    `nats_stream_replicas` times.

    Streams already as wanted are only read, so an identity that may not manage streams (a
    service, an integration) passes here once the operator identity has set them up.
    Replicas: 3 on a 3-node JetStream cluster, so a node can fail without losing events.
    Retention: events (and the bodies too large for a message) are kept
    `event_retention_days`, dead letters `dead_letter_retention_days`, outside events not
    yet admitted `intake_retention_days` (docs/privacy.md).
    """
    settings = settings or StreamDefaults()
    js = broker.connection.jetstream()
    message_ttl = supports_message_ttl(broker)
    if not message_ttl:
        log.warning(
            "NATS %s does not honour a message's own time to live (2.11 does): an outside "
            "event's dead letter is kept for the dead-letter retention, not the intake's",
            broker.connection.connected_server_version,
        )
    for config in _stream_configs(settings, message_ttl):
        try:
            info = await js.stream_info(config.name or "")
        except NotFoundError:
            await js.add_stream(config)
            continue
        if not _up_to_date(info.config, config):
            await js.update_stream(config)
    ttl = settings.event_retention_days * DAY
    try:
        store = await js.object_store(PAYLOAD_BUCKET)
    except (NotFoundError, BucketNotFoundError):
        await js.create_object_store(
            PAYLOAD_BUCKET,
            config=api.ObjectStoreConfig(
                description="Bodies of events too large for one message, by event id",
                ttl=ttl,
                storage=api.StorageType.FILE,
                replicas=settings.nats_stream_replicas,
            ),
        )
        return
    kept = (await store.status()).stream_info.config
    replicas = settings.nats_stream_replicas
    if kept.max_age != ttl or (kept.num_replicas or 1) != replicas:
        await js.update_stream(dataclasses.replace(kept, max_age=ttl, num_replicas=replicas))


class BodyRefused(ValueError):
    """A claimed body that is missing, or not the one its message vouches for."""


async def stash_body(
    broker: NatsBroker, envelope: Envelope, body: bytes
) -> tuple[bytes, dict[str, str]]:
    """Store a body too large for one message; return the stand-in body and the headers
    that claim it (the object name and the body's digest).

    The object is named by the event id, so a republish after a crash rewrites the same
    object with the same bytes. The stand-in is the envelope without its payload.
    """
    name = str(envelope.event_id)
    store = await broker.connection.jetstream().object_store(PAYLOAD_BUCKET)
    await store.put(name, body)
    stand_in = envelope.model_copy(update={"payload": {}}).model_dump_json().encode()
    return stand_in, {BODY_OBJECT: name, BODY_DIGEST: hashlib.sha256(body).hexdigest()}


async def claimed_body(broker: NatsBroker, headers: dict[str, str]) -> bytes:
    """The body stored for a message that carries a claim check, if its digest matches.

    The chunks are read with one message get each rather than with `ObjectStore.get`, which
    looks its stream up by subject (`$JS.API.STREAM.NAMES`, a request no service identity may
    make: libs.events.identities) and reads through an ordered push consumer that can wait
    for ever when the event loop stalls as the read begins; a wait with no end holds the
    consumer that asked. A get that gets no answer raises TimeoutError, and the message is
    tried again.
    """
    name, digest = headers[BODY_OBJECT], headers.get(BODY_DIGEST)
    if digest is None:
        raise BodyRefused(f"the claim check for {name!r} carries no body digest")
    js = broker.connection.jetstream()
    store = await js.object_store(PAYLOAD_BUCKET)
    try:
        info = await store.get_info(name)
    except (ObjectNotFoundError, ObjectDeletedError) as error:
        raise BodyRefused(f"its body {name!r} is not in the payload store") from error
    chunks = payload_chunks_subject(info.nuid or "")
    body = bytearray()
    sequence = 1
    for _ in range(info.chunks or 0):
        try:
            chunk = await js.get_msg(PAYLOAD_STREAM, seq=sequence, subject=chunks, next=True)
        except NotFoundError as error:
            raise BodyRefused(f"its body {name!r} is missing a part") from error
        body += chunk.data or b""
        sequence = (chunk.seq or sequence) + 1
    if hashlib.sha256(body).hexdigest() != digest:
        raise BodyRefused(f"the stored body {name!r} does not match its message's digest")
    return bytes(body)


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
