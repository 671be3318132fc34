"""The outbox relay: tails a service's event log and publishes it to JetStream.

Events are committed in the service's own transaction (the log *is* the outbox); the relay
publishes them in position order, each with its event id as `Nats-Msg-Id`, and records
the last published position in `relay_checkpoints`: while it runs, in the background,
so that the next batch need not wait for that commit. A crash before the checkpoint is
saved republishes the events after it, which JetStream de-duplicates (and consumers'
inboxes would drop); a broker outage stops the relay at the first unpublished event until
the broker is back. It wakes on the log's
NOTIFY channel and also polls, so a missed notification only delays.

Only one relay per service schema is active at a time (a PostgreSQL advisory lock), so
extra replicas wait as hot standbys.

Services run it in their own process; `talentledger events relay --schema NAME` runs it alone.

It fails closed on an event type the registry does not know, or a version of it that does not
upcast to the current one (older versions that do are published on their own subject, which
consumers read with the rest): it cannot tell whether the event is private, so it publishes
the events before it, keeps its checkpoint just before it and stops with
`UnpublishableEvent`, which ends the service with that error in its log.
Skipping the event would lose it for every consumer; publishing it could leak a private
fact; retrying cannot help, since only new code registers a type. The event waits in the
log until a release that registers its type (or marks it private) is deployed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from faststream.nats import NatsBroker
from nats.js import JetStreamContext
from opentelemetry import propagate, trace
from psycopg import AsyncConnection, sql

from libs.events.broker import (
    INLINE_LIMIT,
    headers_of,
    stash_body,
    subject_of_envelope,
)
from libs.events.envelope import Envelope
from libs.events.registry import registry
from libs.events.store import EventStore
from libs.events.subjects import EVENT_STREAM

log = logging.getLogger(__name__)


class RelayStalled(RuntimeError):
    """JetStream did not acknowledge part of a batch; it is sent again from the checkpoint."""


class UnpublishableEvent(RuntimeError):
    """The log holds an event of a type this process does not know; it is never published."""


tracer = trace.get_tracer(__name__)


class OutboxRelay:
    def __init__(
        self,
        store: EventStore,
        broker: NatsBroker,
        *,
        name: str = "jetstream",
        batch_size: int = 500,
        poll_interval: float = 1.0,
    ) -> None:
        self.store = store
        self.broker = broker
        self.name = name
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        table = sql.Identifier(store.schema, "relay_checkpoints")
        self._read_checkpoint = sql.SQL("SELECT position FROM {} WHERE relay = %s").format(table)
        self._upsert_checkpoint = sql.SQL(
            "INSERT INTO {t} (relay, position) VALUES (%s, %s) ON CONFLICT (relay) DO UPDATE "
            "SET position = excluded.position, updated_at = now() "
            "WHERE {t}.position < excluded.position"
        ).format(t=table)
        self.ack_timeout = 10.0
        self.position = 0
        self._saved = 0  # the position relay_checkpoints holds, as far as this relay knows
        self._saving: asyncio.Task[None] | None = None
        self.failures = 0  # consecutive, for backoff
        self._js: JetStreamContext | None = None

    async def checkpoint(self) -> int:
        async with self.store.pool.connection() as conn:
            row = await (await conn.execute(self._read_checkpoint, (self.name,))).fetchone()
            return int(row[0]) if row else 0

    async def relay_once(self) -> int:
        """Publish the next batch after the position reached and save the checkpoint;
        return how many were published."""
        try:
            return await self._publish_next()
        finally:
            await self._save_checkpoint()

    async def _publish_next(self) -> int:
        """Publish the next batch after the position reached; return how many were published.

        Publishes are pipelined: sent one after another in position order on one connection,
        then their acknowledgements awaited together. The checkpoint moves to the last event
        of the unbroken run of acknowledged ones; anything after it is sent again next time
        (JetStream drops the repeats of those it had stored, so a resent event can land after
        a later one: publication order is position order except around failures).
        """
        events = await self.store.read_log(after=self.position, limit=self.batch_size)
        unknown = next((e for e in events if not _known(e)), None)
        if unknown is not None:
            events = events[: events.index(unknown)]
        if not events:
            self.failures = 0
            if unknown is not None:
                raise _unpublishable(self.store.schema, unknown)
            return 0
        if self._js is None:
            self._js = self.broker.connection.jetstream()
        acks: list[asyncio.Future[Any]] = []
        try:
            for envelope in events:
                if registry.is_private(envelope.event_type):
                    acks.append(_already_done())
                else:
                    acks.append(await self._send(self._js, envelope))
        except Exception:
            log.warning("relay %s: sending failed", self.store.schema, exc_info=True)
            # nats-py leaves its pending-publish bookkeeping behind: start afresh.
            self._js = None
        # Whatever was sent may still be acknowledged: wait for it, then give up on the rest.
        await asyncio.wait(acks or [asyncio.sleep(0)], timeout=self.ack_timeout)
        for ack in acks:
            ack.cancel()
        published = next(
            (n for n, ack in enumerate(acks) if ack.cancelled() or ack.exception()), len(acks)
        )
        if published:
            self.position = events[published - 1].global_position
        if published < len(events):
            raise RelayStalled(f"JetStream acknowledged {published} of {len(events)} events")
        self.failures = 0
        if unknown is not None:
            raise _unpublishable(self.store.schema, unknown)
        return published

    async def _save_checkpoint(self) -> None:
        """Save the position reached, and any reached while saving."""
        while self.position > self._saved:
            position = self.position
            async with self.store.pool.connection() as conn:
                await conn.execute(self._upsert_checkpoint, (self.name, position))
            self._saved = position

    def _save_checkpoint_soon(self) -> None:
        if self._saving is None or self._saving.done():
            self._saving = asyncio.create_task(self._save_checkpoint_logged())

    async def _save_checkpoint_logged(self) -> None:
        try:
            await self._save_checkpoint()
        except Exception:  # the database is down: the next batch, or the restart, saves it
            log.warning("relay %s: checkpoint not saved yet", self.store.schema, exc_info=True)

    async def _finish_saving(self) -> None:
        saving, self._saving = self._saving, None
        if saving is not None:
            await saving
        await self._save_checkpoint_logged()

    async def _send(self, js: JetStreamContext, envelope: Envelope) -> asyncio.Future[Any]:
        subject = subject_of_envelope(envelope)
        headers = headers_of(envelope)
        body = envelope.model_dump_json().encode()
        if len(body) > INLINE_LIMIT:
            body, claim = await stash_body(self.broker, envelope, body)
            headers.update(claim)
        # The span continues the trace of the request that caused the event, and travels on
        # in the message headers to every consumer.
        with tracer.start_as_current_span(
            f"{subject} publish",
            context=propagate.extract(envelope.trace_context),
            kind=trace.SpanKind.PRODUCER,
            attributes={
                "messaging.system": "nats",
                "messaging.destination.name": subject,
                "messaging.message.id": str(envelope.event_id),
                "talentledger.global_position": envelope.global_position,
            },
        ):
            propagate.inject(headers)
            # No stall timeout: with one, nats-py waits for its pending-publish semaphore
            # in a task of its own, a trip round the event loop per event, and on a busy
            # loop a batch took a round of every other task per event. A batch (at most
            # `batch_size`, far below the semaphore's 4,000) is acknowledged or cancelled
            # before the next is sent, so the semaphore is never exhausted.
            return await js.publish_async(subject, body, headers=headers, stream=EVENT_STREAM)

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set. Database or broker outages are waited out, never fatal;
        an event of an unknown type is (UnpublishableEvent, see the module docstring)."""
        while not stop.is_set():
            try:
                await self._run_connected(stop)
            except UnpublishableEvent as error:
                log.error("relay %s stopped: %s", self.store.schema, error)
                raise
            except Exception:  # database or broker down: restart from the checkpoint
                self.failures += 1
                log.warning("relay %s failed; restarting", self.store.schema, exc_info=True)
                await _sleep_or_stop(stop, min(5.0, 0.1 * 2**self.failures))

    async def _run_connected(self, stop: asyncio.Event) -> None:
        conninfo = self.store.pool.conninfo
        async with await AsyncConnection.connect(conninfo, autocommit=True) as listener:
            await self._lead(listener, stop)
            if stop.is_set():
                return
            channel = sql.Identifier(self.store.notify_channel)
            await listener.execute(sql.SQL("LISTEN {}").format(channel))
            self.position = self._saved = await self.checkpoint()
            try:
                while not stop.is_set():
                    published = await self._publish_next()
                    self._save_checkpoint_soon()
                    if published < self.batch_size:
                        await self._wait_for_notify(listener, stop)
            finally:
                await self._finish_saving()

    async def _lead(self, conn: AsyncConnection[Any], stop: asyncio.Event) -> None:
        key = f"relay:{self.store.schema}:{self.name}"
        while not stop.is_set():
            row = await (
                await conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,))
            ).fetchone()
            if row and row[0]:
                return
            await _sleep_or_stop(stop, self.poll_interval)

    async def _wait_for_notify(self, conn: AsyncConnection[Any], stop: asyncio.Event) -> None:
        if stop.is_set():
            return
        # Any notification, or the poll interval, ends the wait; the log is the truth. The
        # generator is closed here, not whenever it is collected: it holds the connection.
        async with contextlib.aclosing(
            conn.notifies(timeout=self.poll_interval, stop_after=1)
        ) as notifications:
            async for _ in notifications:
                break


def _known(envelope: Envelope) -> bool:
    # An older version its type upcasts from is known too: written by the release before a
    # version bump and not yet published when this one started (a broker outage across the
    # upgrade, a replica of the old release during a rolling one), it goes out on its own
    # version's subject, which consumers subscribe to with the rest and upcast.
    return registry.readable(envelope.event_type, envelope.schema_version)


def _unpublishable(schema: str, envelope: Envelope) -> UnpublishableEvent:
    return UnpublishableEvent(
        f"event {envelope.event_id} at position {envelope.global_position} of the {schema} "
        f"log is a {envelope.event_type} v{envelope.schema_version}, a type no schema is "
        "registered for, so it may be private and is not published; register it "
        "(registry.event, or a PrivateEvent) and restart; nothing after it is published"
    )


def _already_done() -> asyncio.Future[Any]:
    """Stands in for the acknowledgement of a private event, which is never sent."""
    done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
