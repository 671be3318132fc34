"""The intake: where outside systems (HRIS, LMS) publish, and how their events are admitted.

An outside system's events carry personal fields in clear (an employee's name, a protected
attribute). Published on the event stream, they would stay there for the event retention,
out of reach of erasure by destroying keys (docs/privacy.md). So an outside system may
publish only on the intake, `intake.<context>.<event_name>.v<version>`
(libs/events/subjects.py): a work-queue stream that deletes each message once it is admitted
and keeps none longer than `TALENTLEDGER_INTAKE_RETENTION_DAYS`.

One service admits them: the cycles service, the orchestrator, which owns no business data.
A durable consumer on the intake checks each envelope against the registry and records it in
the service's log as it was given, its personal fields sealed (`EventStore.admit`); the
service's outbox relay then publishes it on the event's own subject (`talentledger.hris.…`),
where every consumer reads it as it always has, through the sealed-field path.

Order: the consumer holds at most one message unacknowledged (`max_ack_pending=1`) and
acknowledges it only once its admission has committed, so the intake is admitted one message
at a time in the order it was published, whichever replica of the service pulls it, and a
message redelivered after a crash comes before any later one. Positions in the log follow
that order, and the relay publishes in position order: one employee's events reach consumers
in the order the outside system sent them. More messages in flight, or a consumer per outside
system sharing one stream's events, could admit version 2 of a stream before version 1.

Refused, and dead-lettered at once with the reason (fields and kinds, never values): a message
that is not an envelope; of a type or version the registry does not know; whose payload its
schema refuses; published on the intake subject of another event or another system; of a
system this service does not admit; claiming a stream of the service's own (a stream id with
one of its prefixes, which an outside event taking first would make unusable to it); or
claiming a stream version already another event's.
A repeat of an admitted event id admits nothing. The database or the data keys being out of
reach is waited out; any other failure is retried, then dead-lettered. A dead letter holds
the message as it came, personal fields in clear, so it is kept no longer than the intake
keeps what it holds (a `Nats-TTL` of the intake retention), whatever the dead-letter retention.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from faststream.nats import NatsBroker
from nats.aio.msg import Msg
from nats.js import api
from pydantic import ValidationError

from libs.events.broker import DAY, INTAKE, StreamDefaults
from libs.events.consumer import (
    IDLE_WAIT,
    KEYS_OUT_OF_REACH,
    TRANSIENT,
    failure_reason,
    pull_batches,
    settle_failure,
)
from libs.events.envelope import Envelope
from libs.events.registry import InvalidPayload, UnknownEventType, validation_summary
from libs.events.store import AdmissionRefused, EventStore
from libs.events.subjects import (
    INTAKE_SUBJECTS,
    intake_consumer,
    intake_subject_for,
)

log = logging.getLogger(__name__)

# The outside systems that publish events TalentLedger consumes (libs/events/schemas).
OUTSIDE_CONTEXTS = ("hris", "lms")


class _Admission:
    def __init__(
        self,
        broker: NatsBroker,
        store: EventStore,
        contexts: Sequence[str],
        max_attempts: int,
        retention_days: float,
        own_streams: Sequence[str],
    ) -> None:
        self.broker = broker
        self.store = store
        self.contexts = tuple(contexts)
        self.own_streams = tuple(own_streams)
        self.max_attempts = max_attempts
        self.kept_for = retention_days * DAY
        self.consumer = intake_consumer(store.schema)

    async def settle(self, msg: Msg, reason: str, *, final: bool) -> None:
        await settle_failure(
            self.broker, self.consumer, msg, reason, final=final, kept_for=self.kept_for
        )

    async def on_batch(self, messages: list[Msg]) -> None:
        for msg in messages:
            await self.admit(msg)

    async def admit(self, msg: Msg) -> None:
        try:
            admitted = await self.store.admit(self.envelope_of(msg))
        except (AdmissionRefused, UnknownEventType, InvalidPayload) as error:
            await self.settle(msg, f"refused: {error}", final=True)
            return
        except (*TRANSIENT, *KEYS_OUT_OF_REACH) as error:  # waited out, never dead-lettered
            log.warning("%s: cannot admit yet: %s", self.consumer, failure_reason(error))
            await self.settle(msg, failure_reason(error), final=False)
            return
        except Exception as error:  # a bug, a constraint: retried, then dead-lettered
            attempts = msg.metadata.num_delivered or 1
            log.exception("%s failed on a message (attempt %d)", self.consumer, attempts)
            await self.settle(msg, failure_reason(error), final=attempts >= self.max_attempts)
            return
        if admitted is None:
            log.debug("%s: a repeat of an admitted event", self.consumer)
        await msg.ack()

    def envelope_of(self, msg: Msg) -> Envelope:
        """The envelope `msg` carries, if it came on its own event's intake subject from a
        system this service admits."""
        try:
            envelope = Envelope.model_validate_json(msg.data)
        except ValidationError as error:
            raise AdmissionRefused(f"not an event envelope: {validation_summary(error)}") from error
        expected = intake_subject_for(envelope.source, envelope.event_type, envelope.schema_version)
        if msg.subject != expected:
            # Each system may publish only on its own intake subjects: a forgery or a mistake.
            # The subject is quoted as it came, whatever its shape (`intake.hris.x`).
            raise AdmissionRefused(
                f"{envelope.event_type} v{envelope.schema_version} of source "
                f"{envelope.source!r} came on {msg.subject!r}, not on {expected}"
            )
        if envelope.source not in self.contexts:
            raise AdmissionRefused(
                f"source {envelope.source!r} is not an outside system: only "
                f"{', '.join(self.contexts)} events are admitted"
            )
        for prefix in self.own_streams:
            if envelope.stream_id.startswith(prefix):
                raise AdmissionRefused(
                    f"its stream_id starts with {prefix!r}, as the {self.store.schema} "
                    "service's own streams do: an outside event joins none of them"
                )
        return envelope


def admit_outside_events(
    broker: NatsBroker,
    store: EventStore,
    contexts: Sequence[str] = OUTSIDE_CONTEXTS,
    *,
    own_streams: Sequence[str] = (),
    retention_days: float = StreamDefaults.intake_retention_days,
    max_attempts: int = 5,
    ack_wait: float = 60.0,
    idle_wait: float = IDLE_WAIT,
) -> None:
    """Register the admission of the intake into `store`'s log on the broker (see the
    module docstring). `own_streams`: the prefixes of the stream ids `store`'s service
    appends to; `retention_days`: the intake's, which its dead letters are kept;
    `idle_wait`: how long one pull waits for a message while the intake is empty (it
    returns as soon as one arrives, as every consumer's does: `pull_batches`)."""
    admission = _Admission(broker, store, contexts, max_attempts, retention_days, own_streams)
    pull_batches(
        broker,
        INTAKE_SUBJECTS,
        INTAKE,
        admission.consumer,
        # One message in flight: the order of admission is the order of publication.
        api.ConsumerConfig(max_deliver=-1, ack_wait=ack_wait, max_ack_pending=1),
        f"{store.schema} admits outside events ({', '.join(contexts)})",
        admission.on_batch,
        batch_size=1,
        idle_wait=idle_wait,
    )
