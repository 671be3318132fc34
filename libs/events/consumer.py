"""Idempotent event consumers: inbox, bounded retries, dead letters and their replay.

A handler's effects and the inbox row recording the event id commit in one transaction,
and the message is acknowledged only after that commit. A crash before the commit leaves
nothing; a crash after it (before the ack) brings a redelivery that the inbox recognises
and acknowledges without a second effect.

Failures:
* a message that cannot be an event (not JSON, not an envelope, an unknown type or
  version, a payload its schema refuses) will never succeed: it goes to the dead-letter
  subject at once, with the reason;
* any other error (database down, a bug) is retried with backoff, `max_attempts` times in
  all, then dead-lettered with the error. A dead letter is published before the original
  is acknowledged, so an event is never dropped, even when publishing the dead letter fails.

`talentledger events replay-dead-letters` re-drives dead letters to the consumer that gave
up on them, through its replay subject; the inbox keeps a replay from applying twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from faststream import AckPolicy
from faststream.nats import NatsBroker, PullSub
from faststream.nats.annotations import NatsMessage
from nats.js import api
from opentelemetry import trace
from psycopg import AsyncConnection, sql
from pydantic import ValidationError

from libs.events.broker import DEAD_LETTERS, EVENTS
from libs.events.envelope import Envelope
from libs.events.registry import IntegrationEvent, InvalidPayload, UnknownEventType
from libs.events.store import EventStore
from libs.events.subjects import (
    DEAD_LETTER_STREAM,
    consumer_and_subject,
    dead_letter_subject,
    snake_case,
)

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

Apply = Callable[[AsyncConnection[Any], Envelope, Any], Awaitable[None]]

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
        return f"talentledger.{self.event.context}.{snake_case(self.event.event_type)}.*"

    @property
    def replay_subject(self) -> str:
        return f"talentledger.replay.{self.consumer}.>"


class Inbox:
    """Which events a consumer has already applied, in the service's own schema."""

    def __init__(self, schema: str) -> None:
        self._claim = sql.SQL(
            "INSERT INTO {} (consumer, event_id) VALUES (%s, %s) ON CONFLICT DO NOTHING"
        ).format(sql.Identifier(schema, "inbox"))

    async def claim(self, conn: AsyncConnection[Any], consumer: str, envelope: Envelope) -> bool:
        """True the first time, inside the caller's transaction; False if already handled."""
        cur = await conn.execute(self._claim, (consumer, envelope.event_id))
        return cur.rowcount == 1


def parse(
    body: bytes, handler: EventHandler, store: EventStore
) -> tuple[Envelope, IntegrationEvent]:
    try:
        envelope = Envelope.model_validate_json(body)
    except ValidationError as error:
        raise MalformedEvent(f"not an event envelope: {error}") from error
    if envelope.event_type != handler.event.event_type:
        raise MalformedEvent(
            f"{handler.consumer} handles {handler.event.event_type}, got {envelope.event_type}"
        )
    try:
        return envelope, store.decode(envelope)
    except (UnknownEventType, InvalidPayload) as error:
        raise MalformedEvent(str(error)) from error


def backoff(attempt: int) -> float:
    return min(30.0, 0.2 * 2 ** (attempt - 1))


def subscribe(
    broker: NatsBroker,
    store: EventStore,
    handler: EventHandler,
    *,
    max_attempts: int = 5,
    ack_wait: float = 60.0,
) -> None:
    """Register `handler` on the broker: its event subject and its replay subject.

    `ack_wait` is how long JetStream waits for the ack of a delivered message before it
    redelivers it (a consumer that died mid-message).
    """
    inbox = Inbox(store.schema)

    async def dead_letter(message: NatsMessage, reason: str, attempts: int) -> None:
        subject = message.raw_message.subject
        if subject.startswith("talentledger.replay."):
            subject = subject.split(".", 3)[3]
        await broker.publish(
            message.body,
            dead_letter_subject(handler.consumer, subject),
            headers={
                "Nats-Msg-Id": f"{handler.consumer}:{message.raw_message.metadata.sequence.stream}",
                # NATS headers are single lines: a newline would cut off the rest.
                "tl-dead-letter-reason": " ".join(reason.split())[:4000],
                "tl-consumer": handler.consumer,
                "tl-original-subject": subject,
                "tl-attempts": str(attempts),
            },
            stream=DEAD_LETTER_STREAM,
            timeout=5,
        )
        log.warning("%s dead-lettered a message from %s: %s", handler.consumer, subject, reason)

    async def on_message(message: NatsMessage) -> None:
        attempts = message.raw_message.metadata.num_delivered or 1
        try:
            envelope, payload = parse(message.body, handler, store)
        except MalformedEvent as error:
            await settle_failure(message, f"malformed: {error}", attempts, final=True)
            return
        try:
            async with store.transaction() as conn:
                if await inbox.claim(conn, handler.consumer, envelope):
                    await handler.apply(conn, envelope, payload)
        except Exception as error:  # whatever failed is retried, then dead-lettered
            log.exception(
                "%s failed on %s (attempt %d)", handler.consumer, envelope.event_id, attempts
            )
            final = attempts >= max_attempts
            await settle_failure(message, f"{type(error).__name__}: {error}", attempts, final=final)
            return
        await message.ack()

    async def settle_failure(
        message: NatsMessage, reason: str, attempts: int, *, final: bool
    ) -> None:
        if not final:
            await message.nack(delay=backoff(attempts))
            return
        try:
            await dead_letter(message, reason, attempts)
        except Exception:  # keep the original until its dead letter is stored
            log.exception("%s could not dead-letter a message; will retry", handler.consumer)
            await message.nack(delay=backoff(attempts))
            return
        await message.ack()

    config = api.ConsumerConfig(max_deliver=-1, ack_wait=ack_wait)
    for subject, durable in (
        (handler.subject, handler.consumer),
        (handler.replay_subject, f"{handler.consumer}-replay"),
    ):
        broker.subscriber(
            subject,
            stream=EVENTS,
            durable=durable,
            config=config,
            pull_sub=PullSub(batch_size=64, timeout=1.0),
            ack_policy=AckPolicy.MANUAL,
            title=f"{durable}:{subject}",
            description=f"{handler.service} applies {handler.event.event_type} ({handler.name})",
        )(on_message)


async def replay_dead_letters(broker: NatsBroker, consumer: str | None = None) -> int:
    """Re-drive pending dead letters (of one consumer, or all) and return how many.

    Each goes to its consumer's replay subject with a fresh message id; the dead letter
    stays in its stream for the record and is acknowledged on the replayer's cursor.
    """
    js = broker.connection.jetstream()
    subject = f"deadletter.{consumer}.>" if consumer else "deadletter.>"
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
                target = f"talentledger.replay.{owner}.{original}"
                for name in (*DEAD_LETTER_HEADERS, "Nats-Msg-Id"):
                    headers.pop(name, None)
                headers["Nats-Msg-Id"] = f"replay:{msg.metadata.sequence.stream}"
                await js.publish(target, msg.data, headers=headers, stream=EVENTS.name)
                await msg.ack()
                replayed += 1
    finally:
        await sub.unsubscribe()
