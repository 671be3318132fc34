"""Idempotent event consumers: inbox, bounded retries, dead letters and their replay.

A handler's effects and the inbox row recording the event id commit in one transaction,
and the message is acknowledged only after that commit. A crash before the commit leaves
nothing; a crash after it (before the ack) brings a redelivery that the inbox recognises
and acknowledges without a second effect. Events are pulled in batches, and a batch is
applied in one transaction (one commit for many events); when that fails, its events are
applied one by one so that only the failing one is retried. Order is mostly, not strictly,
kept (a retried event lands after later ones): handlers that need order per stream check
`stream_version`.

Pulling: one pull request waits up to `IDLE_WAIT` for the consumer's next message and is
answered as soon as one is there; the batch is then whatever else the consumer already holds
for us, up to `BATCH_SIZE`, taken without waiting for more (`pull_batches`). An idle consumer
thus asks once per `IDLE_WAIT` instead of polling, and a lone event is applied as soon as it
arrives; under load the batches fill with what queued up while the previous one was applied.

Failures:
* a message that cannot be an event (not JSON, not an envelope, an unknown type or
  version, a payload its schema refuses) will never succeed: it goes to the dead-letter
  subject at once, with the reason;
* an envelope whose `source` is not the context that owns its subject is refused the same
  way, before it has any effect: a context speaks only for itself, whoever published it;
* the database being unreachable is waited out: retried with backoff for as long as it
  lasts;
* personal fields are opened before anything applies (docs/privacy.md): a seal that does not
  open was altered and is dead-lettered at once, while keys out of reach (their database,
  the master keys) are waited out like an outage, never read as erased;
* any other error (a bug, a constraint) is retried with backoff, `max_attempts` times in
  all, then dead-lettered with the error. A dead letter is published before the original
  is acknowledged, so an event is never dropped, even when publishing the dead letter fails.

Dead-letter reasons name fields, error kinds and constraints, never payload values: the
full error is in the service's log.

`talentledger events replay-dead-letters` re-drives dead letters to the consumer that gave
up on them, through its replay subject; the inbox keeps a replay from applying twice.
Inbox rows older than JetStream keeps events are pruned (`libs.events.pruning`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg
from cryptography.exceptions import InvalidTag
from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.annotations import NatsMessage
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext, api
from opentelemetry import propagate, trace
from psycopg import AsyncConnection, sql
from psycopg_pool import PoolTimeout
from pydantic import ValidationError

from libs.events.broker import (
    BODY_OBJECT,
    DEAD_LETTERS,
    DEFAULT_INBOX,
    EVENTS,
    INTAKE,
    BodyRefused,
    IdentifiedBroker,
    claimed_body,
    supports_message_ttl,
)
from libs.events.envelope import Envelope
from libs.events.registry import (
    Event,
    IntegrationEvent,
    InvalidPayload,
    UnknownEventType,
    validation_summary,
)
from libs.events.store import EventStore, NoDataKeys
from libs.events.subjects import (
    DEAD_LETTER_STREAM,
    DEAD_LETTER_SUBJECTS,
    consumer_and_subject,
    dead_letter_subject,
    every_version,
    is_intake_subject,
    original_subject,
    owning_context,
    redrive_subject,
    replay_subject,
)
from libs.personal.keyring import KeyRingError
from libs.personal.sealing import SealingError

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

Apply = Callable[[AsyncConnection[Any], Envelope, Any], Awaitable[None]]

# A pull waits up to IDLE_WAIT for the first message and returns with it: what an idle
# consumer costs is one request per IDLE_WAIT (bench/, benchmark 9). The batch is then topped
# up to BATCH_SIZE with what is already there; the top-up's answer is waited for at most
# TOP_UP_WAIT (it comes at once unless another replica took those messages meanwhile). A pull
# lost with the server it reached is asked again as soon as the connection is back
# (`pull_again`); one lost with a cluster node the consumer was not connected to is renewed
# only at the end of its wait: IDLE_WAIT is how long a consumer may stay deaf then.
BATCH_SIZE = 10
IDLE_WAIT = 10.0
TOP_UP_WAIT = 0.05

DEAD_LETTER_HEADERS = ("tl-dead-letter-reason", "tl-consumer", "tl-original-subject", "tl-attempts")


class MalformedEvent(ValueError):
    """The message cannot be read as an event this consumer handles; retrying cannot help."""


@dataclass(frozen=True)
class EventHandler:
    """One durable consumer: which event it handles and the effect it applies.

    `apply(conn, envelope, payload)` runs inside the transaction that also records the
    event in the inbox; it must do all its writes through `conn`.
    """

    service: str
    name: str
    event: type[IntegrationEvent]
    apply: Apply

    @property
    def consumer(self) -> str:
        """The durable consumer name (NATS forbids dots in it)."""
        return f"{self.service}-{self.name}"

    @property
    def subject(self) -> str:
        """Every schema version of the event: older ones are upcast on receipt."""
        return every_version(self.event.context, self.event.event_type)

    @property
    def replay_subject(self) -> str:
        return replay_subject(self.consumer)

    @property
    def durables(self) -> tuple[str, str]:
        """The durable consumers on its event subject and on its replay subject."""
        return self.consumer, f"{self.consumer}-replay"


class Inbox:
    """Which events a consumer has already applied, in the service's own schema."""

    def __init__(self, schema: str) -> None:
        table = sql.Identifier(schema, "inbox")
        self._claim = sql.SQL(
            "INSERT INTO {} (consumer, event_id) SELECT %s, unnest(%s::uuid[]) "
            "ON CONFLICT DO NOTHING RETURNING event_id"
        ).format(table)
        # A few rows at a time, found by the index on handled_at and deleted by their row
        # address (a TID scan), so that a delete locks little and briefly; rows another
        # pruning process holds are skipped, never waited for.
        self._prune = sql.SQL(
            "DELETE FROM {t} WHERE ctid = ANY(ARRAY("
            "SELECT ctid FROM {t} WHERE handled_at < now() - %s "
            "LIMIT %s FOR UPDATE SKIP LOCKED))"
        ).format(t=table)

    async def claim_all(
        self, conn: AsyncConnection[Any], consumer: str, envelopes: list[Envelope]
    ) -> set[UUID]:
        """The ids among `envelopes` not handled before, claimed in the caller's transaction."""
        cur = await conn.execute(self._claim, (consumer, [e.event_id for e in envelopes]))
        return {row[0] for row in await cur.fetchall()}

    async def prune(self, conn: AsyncConnection[Any], older_than: timedelta, limit: int) -> int:
        """Delete up to `limit` rows of every consumer written more than `older_than` ago (by
        the database's clock, which wrote them); how many were deleted."""
        cur = await conn.execute(self._prune, (older_than, limit))
        return cur.rowcount


async def parse(
    body: bytes, subject: str, handler: EventHandler, store: EventStore
) -> tuple[Envelope, Event]:
    """Read a message received on `subject`, its personal fields opened; raise MalformedEvent
    when it can never apply. The data keys being out of reach (the database, the master
    keys) is not the message's fault: that raises as it is, to be retried."""
    try:
        envelope = Envelope.model_validate_json(body)
    except ValidationError as error:
        raise MalformedEvent(f"not an event envelope: {validation_summary(error)}") from error
    if envelope.event_type != handler.event.event_type:
        raise MalformedEvent(
            f"{handler.consumer} handles {handler.event.event_type}, got {envelope.event_type}"
        )
    owner = owning_context(subject)
    if envelope.source != owner:
        # Only `owner` may publish on its subjects, so this is a forgery or a misrouting.
        raise MalformedEvent(f"source {envelope.source!r} on a subject of context {owner!r}")
    try:
        return envelope, await store.decode(envelope)
    except (UnknownEventType, InvalidPayload, SealingError) as error:
        # SealingError: a seal that does not open was altered; it never will.
        raise MalformedEvent(str(error)) from error
    except OPENING_FAILED:
        raise
    except Exception as error:  # an upcaster choking on an odd old payload: never succeeds
        raise MalformedEvent(f"cannot upcast: {type(error).__name__}") from error


def failure_reason(error: BaseException) -> str:
    """Why a handler failed, without the values its message may quote.

    Database errors name their SQLSTATE and the constraint, table and column involved
    (their messages and details quote the offending values); other errors their type.
    """
    if isinstance(error, psycopg.Error):
        diag = error.diag
        named = (
            ("constraint", diag.constraint_name),
            ("table", diag.table_name),
            ("column", diag.column_name),
        )
        parts = [f"{type(error).__name__} (SQLSTATE {error.sqlstate or 'unknown'})"]
        parts += [f"{label} {value}" for label, value in named if value]
        return ", ".join(parts)
    return type(error).__name__


def backoff(attempt: int) -> float:
    return min(30.0, 0.2 * 2 ** (attempt - 1))


class _Consumer:
    """Applies one handler's events: a pulled batch in one transaction, and one by one when
    that transaction fails, so that a failing event is retried and dead-lettered alone."""

    def __init__(
        self, broker: NatsBroker, store: EventStore, handler: EventHandler, max_attempts: int
    ) -> None:
        self.broker = broker
        self.store = store
        self.handler = handler
        self.max_attempts = max_attempts
        self.inbox = Inbox(store.schema)

    async def on_batch(self, messages: list[Msg]) -> None:
        parsed: list[tuple[Msg, Envelope, Event]] = []
        for msg in messages:
            try:
                body = await self.body_of(msg)
                parsed.append((msg, *await parse(body, msg.subject, self.handler, self.store)))
            except MalformedEvent as error:
                await self.settle_failure(msg, f"malformed: {error}", final=True)
            except (NatsError, TimeoutError) as error:  # the payload store did not answer
                log.warning("%s: cannot fetch a message body: %s", self.handler.consumer, error)
                await self.settle_failure(msg, f"{type(error).__name__}: {error}", final=False)
            except OPENING_FAILED as error:
                # The keys its personal fields open with are out of reach: wait, never drop.
                log.warning("%s: cannot open an event: %s", self.handler.consumer, error)
                await self.settle_failure(msg, failure_reason(error), final=False)
        if not parsed:
            return
        try:
            async with self.store.transaction() as conn:
                fresh = await self.inbox.claim_all(
                    conn, self.handler.consumer, [envelope for _, envelope, _ in parsed]
                )
                for msg, envelope, payload in parsed:
                    if envelope.event_id in fresh:
                        with self._span(msg, envelope):
                            await self.handler.apply(conn, envelope, payload)
                    fresh.discard(envelope.event_id)  # a repeat within the batch
        except Exception:  # noqa: BLE001 - find the failing event: each in its own transaction
            log.info("%s: a batch failed; applying it event by event", self.handler.consumer)
            for msg, envelope, payload in parsed:
                await self.on_event(msg, envelope, payload)
            return
        for msg, _, _ in parsed:
            await msg.ack()

    async def body_of(self, msg: Msg) -> bytes:
        """The message's body, fetched from the payload store when it carries a claim check."""
        headers = msg.headers or {}
        if BODY_OBJECT not in headers:
            return msg.data
        try:
            return await claimed_body(self.broker, headers)
        except BodyRefused as error:
            raise MalformedEvent(str(error)) from error

    async def on_event(self, msg: Msg, envelope: Envelope, payload: Event) -> None:
        try:
            async with self.store.transaction() as conn:
                if await self.inbox.claim_all(conn, self.handler.consumer, [envelope]):
                    with self._span(msg, envelope):
                        await self.handler.apply(conn, envelope, payload)
        except Exception as error:  # whatever failed is retried, then dead-lettered
            attempts = _attempts(msg)
            log.exception(
                "%s failed on %s (attempt %d)", self.handler.consumer, envelope.event_id, attempts
            )
            reason = failure_reason(error)
            final = attempts >= self.max_attempts and not isinstance(
                error, (*TRANSIENT, *KEYS_OUT_OF_REACH)
            )
            await self.settle_failure(msg, reason, final=final)
            return
        await msg.ack()

    def _span(self, msg: Msg, envelope: Envelope) -> AbstractContextManager[Any]:
        # Each event continues the trace that caused it, whatever batch it arrived in.
        return tracer.start_as_current_span(
            f"{msg.subject} process",
            context=propagate.extract(dict(msg.headers or {})),
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "nats",
                "messaging.consumer.group.name": self.handler.consumer,
                "messaging.message.id": str(envelope.event_id),
            },
        )

    async def settle_failure(self, msg: Msg, reason: str, *, final: bool) -> None:
        await settle_failure(self.broker, self.handler.consumer, msg, reason, final=final)


async def settle_failure(
    broker: NatsBroker,
    consumer: str,
    msg: Msg,
    reason: str,
    *,
    final: bool,
    kept_for: float | None = None,
) -> None:
    """Have `msg` redelivered after a backoff, or (`final`) dead-letter it for `consumer` and
    acknowledge it, never before its dead letter is stored. `kept_for`: seconds the dead
    letter is kept, when less than the dead-letter retention."""
    attempts = _attempts(msg)
    if not final:
        await msg.nak(delay=backoff(attempts))
        return
    try:
        await dead_letter(broker, consumer, msg, reason, attempts, kept_for)
    except Exception:  # keep the original until its dead letter is stored
        log.exception("%s could not dead-letter a message; will retry", consumer)
        await msg.nak(delay=backoff(attempts))
        return
    await msg.ack()


async def dead_letter(
    broker: NatsBroker,
    consumer: str,
    msg: Msg,
    reason: str,
    attempts: int,
    kept_for: float | None = None,
) -> None:
    subject = original_subject(msg.subject)
    # The stream allows a message's own time to live (libs.events.broker), at least a second,
    # where the server honours one; an older server keeps it for the stream's retention.
    ttl = (
        {api.Header.MSG_TTL: f"{max(1, int(kept_for))}s"}
        if kept_for is not None and supports_message_ttl(broker)
        else {}
    )
    await broker.publish(
        msg.data,
        dead_letter_subject(consumer, subject),
        headers={
            **{k: v for k, v in (msg.headers or {}).items() if k != "Nats-Msg-Id"},
            **ttl,
            "Nats-Msg-Id": f"{consumer}:{msg.metadata.sequence.stream}",
            # NATS headers are single lines: a newline would cut off the rest.
            "tl-dead-letter-reason": " ".join(reason.split())[:4000],
            "tl-consumer": consumer,
            "tl-original-subject": subject,
            "tl-attempts": str(attempts),
        },
        stream=DEAD_LETTER_STREAM,
        timeout=5,
    )
    log.warning("%s dead-lettered a message from %s: %s", consumer, subject, reason)


def _attempts(msg: Msg) -> int:
    return msg.metadata.num_delivered or 1


def _undecoded(message: Any) -> None:
    """FastStream must not decode bodies: a body that is not what its content type says
    would fail before our handler could dead-letter it, and come back forever."""
    return None


# Errors that say the database is unreachable, not that the event is bad: retried for as
# long as the outage lasts, never dead-lettered.
TRANSIENT = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)
# Errors that say the keys personal fields open with are out of reach (no keys configured, a
# master key missing from the key file or not the one a data key was wrapped in): a
# configuration to fix, after which the event applies, so it is retried, never dead-lettered.
KEYS_OUT_OF_REACH = (NoDataKeys, KeyRingError, InvalidTag)
# What keeps a message's personal fields from being opened without being its fault: the keys
# out of reach, or the database they are in failing or refusing (a schema not migrated or
# granted yet). Retried until fixed, never dead-lettered.
OPENING_FAILED = (psycopg.Error, PoolTimeout, *KEYS_OUT_OF_REACH)


def subscribe(
    broker: NatsBroker,
    store: EventStore,
    handler: EventHandler,
    *,
    max_attempts: int = 5,
    ack_wait: float = 60.0,
    batch_size: int = BATCH_SIZE,
    idle_wait: float = IDLE_WAIT,
) -> None:
    """Register `handler` on the broker: its event subject and its replay subject.

    `ack_wait` is how long JetStream waits for the ack of a delivered message before it
    redelivers it (a consumer that died mid-message). Events are pulled up to `batch_size`
    at a time and applied in order; a pull waits up to `idle_wait` seconds for the next
    event and returns as soon as one arrives (see `pull_batches`).
    """
    consumer = _Consumer(broker, store, handler, max_attempts)
    config = api.ConsumerConfig(max_deliver=-1, ack_wait=ack_wait)
    for subject, durable in zip(
        (handler.subject, handler.replay_subject), handler.durables, strict=True
    ):
        pull_batches(
            broker,
            subject,
            EVENTS,
            durable,
            config,
            f"{handler.service} applies {handler.event.event_type} ({handler.name})",
            consumer.on_batch,
            batch_size=batch_size,
            idle_wait=idle_wait,
        )


def pull_batches(
    broker: NatsBroker,
    subject: str,
    stream: JStream,
    durable: str,
    config: api.ConsumerConfig,
    description: str,
    handle: Callable[[list[Msg]], Awaitable[None]],
    *,
    batch_size: int = BATCH_SIZE,
    idle_wait: float = IDLE_WAIT,
) -> None:
    """Register `handle`, which acknowledges each message itself, for batches of raw
    messages of a durable pull consumer, received on the broker's own inbox.

    FastStream's pull loop asks for one message at a time, each request waiting up to
    `idle_wait` seconds and answered as soon as a message is there (stopping the broker
    cancels a waiting request at once). That message's batch is then topped up with what
    the consumer already holds, up to `batch_size`, without waiting for more (`the_rest`).
    While the consumer held more when a batch's last message was delivered, the next batch
    is taken the same way as soon as that one is handled, one request per batch, until the
    backlog is drained or the subscriber stops. On a broker from `make_broker`, a pull is
    asked again as soon as a lost connection is back (`pull_again`).
    """
    inbox = broker.reply_inbox if isinstance(broker, IdentifiedBroker) else DEFAULT_INBOX
    subscriber = broker.subscriber(
        subject,
        stream=stream,
        durable=durable,
        config=config,
        pull_sub=PullSub(batch_size=1, timeout=idle_wait, batch=True),
        inbox_prefix=f"{inbox}.".encode(),
        decoder=_undecoded,
        ack_policy=AckPolicy.MANUAL,
        title=f"{durable}:{subject}",
        description=description,
    )

    async def on_pulled(message: NatsMessage) -> None:
        batch = list(message.raw_message)
        batch += await the_rest(subscriber.subscription, batch[-1], batch_size - len(batch))
        while batch:
            await handle(batch)
            if not subscriber.running:
                return
            # A backlog: the next batch at once, one request each, without a long pull first.
            batch = await the_rest(subscriber.subscription, batch[-1], batch_size)

    subscriber(on_pulled)
    if isinstance(broker, IdentifiedBroker):
        broker.on_reconnect(lambda: pull_again(subscriber.subscription, idle_wait))


async def pull_again(
    subscription: JetStreamContext.PullSubscription | None, idle_wait: float
) -> None:
    """Ask again for the next message of the pull `subscription` waits on, when the
    connection is back: that pull may have been lost with the server it reached (restarted,
    or a cluster node gone), and the subscriber would stay deaf for the rest of its
    `idle_wait`. The message comes to the inbox the subscriber waits on. Should the first
    pull have survived, its message too comes there, and the next pull takes it."""
    if subscription is None:  # not started, or stopping
        return
    request = json.dumps({"batch": 1, "expires": int(idle_wait * 1e9)}).encode()
    # nats-py keeps a pull subscription's request subject and inbox to itself.
    await subscription._nc.publish(subscription._nms, request, reply=subscription._deliver)


async def the_rest(
    subscription: JetStreamContext.PullSubscription | None, after: Msg, room: int
) -> list[Msg]:
    """Up to `room` more messages of `subscription`, of those its consumer still held when
    `after` was delivered (the count `after` carries), without waiting for any to be
    published."""
    wanted = min(room, after.metadata.num_pending or 0)
    if subscription is None or wanted < 1:  # nothing more, or the subscriber is stopping
        return []
    try:
        # Those messages are there: the request (nats-py asks with `no_wait` first) is
        # answered at once, unless another replica of the consumer took them meanwhile.
        return await subscription.fetch(wanted, timeout=TOP_UP_WAIT)
    except (NatsError, TimeoutError):  # gone meanwhile, or the connection: apply the first
        return []


async def pull_batch(
    subscription: JetStreamContext.PullSubscription,
    batch_size: int = BATCH_SIZE,
    wait: float = IDLE_WAIT,
    after: Msg | None = None,
) -> list[Msg]:
    """One batch as the consumers pull it (`pull_batches`), for code that drives nats-py
    itself. `after`: the last message of the previous batch; while the consumer held more
    then, they come at once. Otherwise the next message, waited for up to `wait` seconds
    (else nats-py's TimeoutError), and what is already there behind it, up to `batch_size`."""
    if after is not None and (batch := await the_rest(subscription, after, batch_size)):
        return batch
    [first] = await subscription.fetch(1, timeout=wait)
    return [first, *await the_rest(subscription, first, batch_size - 1)]


async def replay_dead_letters(broker: NatsBroker, consumer: str | None = None) -> int:
    """Re-drive pending dead letters (of one consumer, or all) and return how many.

    Each goes to its consumer's replay subject with a fresh message id (an outside event
    back onto the intake, see `redrive_subject`); the dead letter
    stays in its stream for the record and is acknowledged on the replayer's cursor.
    """
    js = broker.connection.jetstream()
    subject = dead_letter_subject(consumer) if consumer else DEAD_LETTER_SUBJECTS
    durable = f"replayer-{consumer}" if consumer else "replayer"
    sub = await js.pull_subscribe(subject, durable=durable, stream=DEAD_LETTERS.name)
    replayed = 0
    try:
        while True:
            try:
                batch = await sub.fetch(100, timeout=1.0)
            except TimeoutError:
                return replayed
            for msg in batch:
                headers = dict(msg.headers or {})
                owner, original = consumer_and_subject(msg.subject)
                target = redrive_subject(owner, original)
                # A dead letter's own life (an outside event's, libs/events/intake.py) is
                # no message's once replayed: neither the intake nor the event stream
                # allows one (libs/events/broker.py).
                for name in (*DEAD_LETTER_HEADERS, "Nats-Msg-Id", api.Header.MSG_TTL):
                    headers.pop(name, None)
                headers["Nats-Msg-Id"] = f"replay:{msg.metadata.sequence.stream}"
                stream = INTAKE.name if is_intake_subject(target) else EVENTS.name
                await js.publish(target, msg.data, headers=headers, stream=stream)
                await msg.ack()
                replayed += 1
    finally:
        await sub.unsubscribe()
