"""The event store: one append-only log per service, in that service's PostgreSQL schema.

Global order without holes
--------------------------
A reader that follows the log by position must never skip an event, yet PostgreSQL
transactions commit in a different order than they draw sequence numbers: with a plain
sequence, position 11 can become visible while position 10 is still uncommitted, and a
reader that moved past 11 would never see 10.

This store ties each event's position to its transaction id (xid8) and only lets readers
see positions below the oldest transaction still in flight:

* `global_position = (xid << 16) + n`, where n = 1, 2, ... numbers the events written by
  that transaction. Positions are unique and increase along the log; they are not dense.
* `read_log` returns only rows whose xid is below `pg_snapshot_xmin(pg_current_snapshot())`,
  i.e. rows of transactions that have all finished. Every transaction still running, or
  started later, has an xid at or above that horizon, so nothing can ever appear below a
  position a reader has already passed.

Writers never wait for each other (no table lock), so concurrent appends keep PostgreSQL's
group commit. For the same reason the relay is woken by a NOTIFY sent after commit, not from
inside the writing transaction: a notifying commit takes a cluster-wide lock and holds it
through its WAL flush, which would serialise every writer (see `CommitNotifier`).

The cost: a long-running writing transaction anywhere in the cluster holds readers back
until it ends (it delays, never loses). One transaction may write at most 65,535 events;
a CHECK constraint refuses more rather than letting positions overlap (events_0003).

Personal fields
---------------
Every field an event marks `PersonalOf` is sealed before it is written, under the data key
of each person it belongs to (libs/personal, docs/privacy.md): the log, the outbox and
whatever the relay publishes hold only ciphertext for it, and destroying a person's keys
erases it from all of them. `decode` opens it again, as `[erased]` once an owner's key is
gone. A store given no data keys refuses such an event rather than write it in clear.

Outside events
--------------
`admit` records an event an outside system (HRIS, LMS) published on the intake as it was
given (its id, source, stream and version, times and actor), its personal fields sealed like
any other: the relay then publishes it on that system's subjects (libs/events/intake.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate
from psycopg import AsyncConnection, errors, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from pydantic import ValidationError

from libs.events.concurrency import ConcurrencyError
from libs.events.envelope import Appended, Envelope, EventMetadata, new_event_id, utcnow
from libs.events.registry import (
    Event,
    EventRegistry,
    IntegrationEvent,
    InvalidPayload,
    UnknownEventType,
    registry,
    validation_summary,
)
from libs.personal.sealing import DataKey, DataKeys, holds_personal_data, open_document, seal

log = logging.getLogger(__name__)

MAX_EVENTS_PER_TRANSACTION = 65_535
# Payloads serialised between two turns of the event loop (some 30 ms of work).
_SERIALISED_BETWEEN_TURNS = 1_000
# Bodies too large for one NATS message travel through JetStream's object store (see
# libs.events.broker), so this cap is about memory: every reader holds a whole event at once.
# An event that could never be published would hold back every event after it, so it is
# refused at append.
MAX_PAYLOAD_BYTES = 16 * 1024 * 1024


class EventTooLarge(ValueError):
    """An event payload over MAX_PAYLOAD_BYTES; nothing was written."""


class AdmissionRefused(ValueError):
    """An outside event the log cannot take as it was given; nothing was written. The message
    names fields, types and contexts, never payload values."""


class StreamVersionTaken(AdmissionRefused):
    """Another event already holds the (stream_id, stream_version) an outside event claims."""


class NoDataKeys(RuntimeError):
    """A store without data keys was asked to seal or open a personal field."""


class _WithoutDataKeys:
    """The keys of a store given none: personal fields are refused, never kept in clear,
    and a sealed one is an error, never read as erased."""

    async def for_people(self, people: Collection[str]) -> Mapping[str, DataKey]:
        raise NoDataKeys(
            "this event store has no data keys, so it cannot seal a personal field: "
            "configure the personal data master keys (docs/privacy.md)"
        )

    async def by_ids(self, key_ids: Collection[str]) -> Mapping[str, bytes]:
        raise NoDataKeys(
            "this event store has no data keys, so it cannot open a sealed personal field: "
            "configure the personal data master keys (docs/privacy.md)"
        )

    def forget(self, person: str) -> None:
        """Nothing is held to forget."""


_COLUMNS = (
    "global_position, event_id, event_type, schema_version, source, stream_id, stream_version, "
    "occurred_at, recorded_at, actor, correlation_id, causation_id, trace_context, payload"
)

# An append's statement: one row per event, the versions after the expected one, written only
# if the stream is at that version. A stream further on refuses it by its unique (stream,
# version) key, one behind by the EXISTS (versions are never deleted, so that one probe of
# the key is the whole check: no `max` over the stream). Nothing is returned: the caller
# knows each event's version, and reading back the position and time cost an append a
# tenth of its CPU. The positions follow the transaction's own (see above): from its base
# when nothing was written before in it, else after the last it wrote.
_POSITION = """
CASE WHEN %(own_transaction)s THEN pg_current_xact_id()::text::bigint << 16
     ELSE (SELECT coalesce(max(global_position), pg_current_xact_id()::text::bigint << 16)
           FROM {events}
           WHERE global_position >= pg_current_xact_id()::text::bigint << 16
             AND global_position < (pg_current_xact_id()::text::bigint + 1) << 16)
END"""

_AT_EXPECTED_VERSION = """
WHERE %(expected_version)s = 0
   OR EXISTS (SELECT FROM {events}
              WHERE stream_id = %(stream_id)s AND stream_version = %(expected_version)s)
"""

_INSERT = """
INSERT INTO {events} (
    global_position, event_id, event_type, schema_version, stream_id, stream_version,
    occurred_at, actor, correlation_id, causation_id, trace_context, payload)
"""

_APPEND = (
    _INSERT
    + "SELECT "
    + _POSITION
    + """ + e.n, e.event_id, e.event_type, e.schema_version, %(stream_id)s,
       %(expected_version)s + e.n, %(occurred_at)s, %(actor)s, %(correlation_id)s,
       %(causation_id)s, %(trace_context)s, e.payload
FROM -- payloads go binary: a text-format array escapes every quote of every document
     unnest(%(event_ids)s::uuid[], %(event_types)s::text[], %(schema_versions)s::int[],
            %(payloads)b::text[]::jsonb[])
       WITH ORDINALITY AS e(event_id, event_type, schema_version, payload, n)
"""
    + _AT_EXPECTED_VERSION
)

# One event (the usual command): the same insert without arrays, which cost the client
# a third more CPU to adapt and the server to unnest.
_APPEND_ONE = (
    _INSERT
    + "SELECT "
    + _POSITION
    + """ + 1, %(event_id)s, %(event_type)s, %(schema_version)s, %(stream_id)s,
       %(expected_version)s + 1, %(occurred_at)s, %(actor)s, %(correlation_id)s,
       %(causation_id)s, %(trace_context)s, %(payload)s::jsonb
"""
    + _AT_EXPECTED_VERSION
)

# An outside event as given, alone in its transaction. A repeat of an event id is dropped;
# a stream of another context (this log's own, or another system's) is never joined.
_ADMIT = """
INSERT INTO {events} (
    global_position, event_id, event_type, schema_version, source, stream_id, stream_version,
    occurred_at, actor, correlation_id, causation_id, trace_context, payload)
SELECT (pg_current_xact_id()::text::bigint << 16) + 1, %(event_id)s, %(event_type)s,
       %(schema_version)s, %(source)s, %(stream_id)s, %(stream_version)s, %(occurred_at)s,
       %(actor)s, %(correlation_id)s, %(causation_id)s, %(trace_context)s, %(payload)s::jsonb
WHERE NOT EXISTS (SELECT 1 FROM {events}
                  WHERE stream_id = %(stream_id)s AND source IS DISTINCT FROM %(source)s)
ON CONFLICT (event_id) DO NOTHING
RETURNING global_position, recorded_at
"""

_HAS_EVENT = "SELECT 1 FROM {events} WHERE event_id = %s"

_READ_STREAM = """
SELECT {columns} FROM {events}
WHERE stream_id = %(stream_id)s AND stream_version > %(after)s
  AND (%(until)s::int IS NULL OR stream_version <= %(until)s)
ORDER BY stream_version
"""

# Several streams, each after its own version, in one statement: a command about a
# subject reads the campaign's and the subject's at once. Found by the streams' index,
# each row's version compared with its own stream's: a join on the given streams, once
# prepared (a generic plan), cost the server 3 to 5 ms a command on a log of a few
# hundred thousand events.
_READ_STREAMS = """
SELECT {columns} FROM {events}
WHERE stream_id = ANY(%(streams)s::text[])
  AND stream_version > (%(after)s::int[])[array_position(%(streams)s::text[], stream_id)]
ORDER BY stream_id, stream_version
"""

_READ_LOG = """
SELECT {columns} FROM {events}
WHERE global_position > %(after)s
  AND global_position < pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16
ORDER BY global_position
LIMIT %(limit)s
"""

_STREAM_VERSION = "SELECT coalesce(max(stream_version), 0) FROM {events} WHERE stream_id = %s"
_LAST_OF_TYPES = (
    "SELECT coalesce(max(stream_version), 0) FROM {events} "
    "WHERE stream_id = %s AND event_type = ANY(%s)"
)


class EventStore:
    """Appends to and reads from one service's event log (`<schema>.events`)."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        schema: str,
        *,
        events: EventRegistry = registry,
        keys: DataKeys | None = None,
    ) -> None:
        self.pool = pool
        self.schema = schema
        self.registry = events
        # Where personal fields' keys are made and read: on connections of their own, not
        # an appending transaction's, so that a key is stored before anything sealed under
        # it (and before a process caches it) whether or not that transaction commits.
        self.keys: DataKeys = keys if keys is not None else _WithoutDataKeys()
        table = sql.Identifier(schema, "events")
        # The statements of every command rendered once: psycopg renders a composed query
        # again on each execution.
        self._append = sql.SQL(_APPEND).format(events=table).as_bytes()
        self._append_one = sql.SQL(_APPEND_ONE).format(events=table).as_bytes()
        fmt = {"events": table, "columns": sql.SQL(_COLUMNS)}
        self._read_stream = sql.SQL(_READ_STREAM).format(**fmt).as_bytes()
        self._read_streams = sql.SQL(_READ_STREAMS).format(**fmt).as_bytes()
        self._read_log = sql.SQL(_READ_LOG).format(**fmt).as_bytes()
        self._stream_version = sql.SQL(_STREAM_VERSION).format(**fmt).as_bytes()
        self._last_of_types = sql.SQL(_LAST_OF_TYPES).format(**fmt).as_bytes()
        self._admit = sql.SQL(_ADMIT).format(**fmt)
        self._has_event = sql.SQL(_HAS_EVENT).format(**fmt)
        self.notifier = CommitNotifier(pool.conninfo, self.notify_channel)
        # The connections of open `transaction()`s, and whether each has appended yet.
        self._appended: dict[AsyncConnection[Any], bool] = {}

    @property
    def notify_channel(self) -> str:
        """The LISTEN channel on which committed appends are announced."""
        return f"{self.schema}_events"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A connection in a transaction: commit on success, roll back on any error.

        Once it has committed, listeners hear of it if anything was appended through it: a
        transaction that only read, or only wrote read models, costs the relay nothing.
        """
        async with self.pool.connection() as conn:
            self._appended[conn] = False
            try:
                async with conn.transaction():
                    yield conn
                appended = self._appended[conn]
            finally:
                del self._appended[conn]
        if appended:
            self.notifier.poke()

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[Event],
        metadata: EventMetadata,
        *,
        conn: AsyncConnection[Any] | None = None,
    ) -> list[Appended]:
        """Append `events` to `stream_id` if it is at `expected_version` (0: a new stream).

        Pass `conn` to write in the caller's transaction (with its read-model changes or
        its inbox claim), opened with `transaction()` so that the commit is announced;
        otherwise the append is its own transaction. Raises
        `ConcurrencyError` when the stream is not at the expected version or another writer
        appends to it concurrently: alone, having written nothing; in the caller's
        transaction, which must then be rolled back.
        """
        if not events:
            return []
        if len(events) > MAX_EVENTS_PER_TRANSACTION:
            raise ValueError(f"at most {MAX_EVENTS_PER_TRANSACTION} events per append")
        trace_context: dict[str, str] = {}
        if otel_context.get_current():  # nothing to carry outside any trace: skip the walk
            propagate.inject(trace_context)
        occurred_at = utcnow()
        appended: list[Appended] = []
        payloads: list[str] = []
        for n, event in enumerate(events, start=1):
            appended.append(
                Appended(
                    new_event_id(),
                    event.event_type,
                    event.schema_version,
                    stream_id,
                    expected_version + n,
                    occurred_at,
                    metadata.actor,
                    metadata.correlation_id,
                    metadata.causation_id,
                )
            )
            payloads.append(await self._stored_json(event))
            if n % _SERIALISED_BETWEEN_TURNS == 0:
                # A population's append (tens of thousands of events) lets the loop run
                # between batches rather than hold it for the whole serialisation.
                await asyncio.sleep(0)
        params: dict[str, Any] = {
            "stream_id": stream_id,
            "expected_version": expected_version,
            "occurred_at": occurred_at,
            "actor": metadata.actor,
            "correlation_id": metadata.correlation_id,
            "causation_id": metadata.causation_id,
            "trace_context": Jsonb(trace_context),
        }
        if len(appended) == 1:
            [one] = appended
            statement = self._append_one
            params |= {
                "event_id": one.event_id,
                "event_type": one.event_type,
                "schema_version": one.schema_version,
                "payload": payloads[0],
            }
        else:
            statement = self._append
            params |= {
                "event_ids": [e.event_id for e in appended],
                "event_types": [e.event_type for e in appended],
                "schema_versions": [e.schema_version for e in appended],
                "payloads": payloads,
            }
        if conn is None:
            # A transaction of its own: one statement is atomic, so in autocommit it needs
            # no BEGIN and COMMIT, each a round trip to the server and a turn of the event
            # loop. Nothing was written before in it: positions start right at its base.
            params["own_transaction"] = True
            async with self.pool.connection() as own:
                switched = not own.autocommit
                if switched:
                    await own.set_autocommit(True)
                try:
                    await self._insert(own, statement, params, len(appended))
                finally:
                    if switched:
                        await own.set_autocommit(False)
            self.notifier.poke()
        else:
            if conn not in self._appended:
                # Anywhere else (a reading connection) the events would go into a
                # transaction that is rolled back when the connection returns to its pool.
                raise RuntimeError("append(conn=...) takes a connection from transaction()")
            # No savepoint around it (two more round trips per append): a caller whose
            # append conflicts rolls its transaction back, and decides again, or not at all.
            params["own_transaction"] = False
            await self._insert(conn, statement, params, len(appended))
            self._appended[conn] = True
        return appended

    async def admit(self, envelope: Envelope) -> Envelope | None:
        """Record an outside system's event as it was given, its personal fields sealed;
        return it as recorded, or None when its event id is already in the log (a repeat).

        Its stream versions may arrive in any order (2 before 1): the log only keeps each
        (stream_id, stream_version) to one event. Raises `UnknownEventType`, `InvalidPayload`
        or `AdmissionRefused` (a private or this log's own type, a source that is not the
        type's context, a stream version or stream already another event's), writing nothing.
        """
        model = self.registry.model(envelope.event_type, envelope.schema_version)
        if not issubclass(model, IntegrationEvent) or model.context != envelope.source:
            raise AdmissionRefused(
                f"{envelope.event_type} v{envelope.schema_version} is not an event of "
                f"{envelope.source!r}, whose events alone its envelope may carry"
            )
        if envelope.source == self.schema:
            raise AdmissionRefused(f"{self.schema!r} events are appended, never admitted")
        try:
            event = model.model_validate(envelope.payload)
        except ValidationError as error:
            raise InvalidPayload(
                f"{envelope.event_type} v{envelope.schema_version}: {validation_summary(error)}"
            ) from error
        stored = await self._stored_json(event)
        params = {
            **envelope.model_dump(
                include={
                    "event_id",
                    "event_type",
                    "schema_version",
                    "source",
                    "stream_id",
                    "stream_version",
                    "occurred_at",
                    "actor",
                    "correlation_id",
                    "causation_id",
                }
            ),
            "trace_context": Jsonb(envelope.trace_context),
            "payload": stored,
        }
        async with self.transaction() as conn:
            try:
                cur = await conn.execute(self._admit, params)
            except errors.UniqueViolation:
                raise StreamVersionTaken(
                    "its stream_id and stream_version are already another event's"
                ) from None
            row = await cur.fetchone()
            if row is None:
                if await (await conn.execute(self._has_event, (envelope.event_id,))).fetchone():
                    return None
                raise AdmissionRefused("its stream_id is a stream of another context's events")
            self._appended[conn] = True
        position, recorded_at = row
        return envelope.model_copy(
            update={
                "payload": json.loads(stored),
                "global_position": position,
                "recorded_at": recorded_at,
            }
        )

    async def _stored_json(self, event: Event) -> str:
        """The payload's JSON as stored, its personal fields sealed."""
        if not holds_personal_data(type(event)):
            # Most events: as they always were, byte for byte.
            return _checked(event)
        payload = await seal(event, self.keys)
        return _checked(event, json.dumps(payload, ensure_ascii=False, separators=(",", ":")))

    async def _insert(
        self,
        conn: AsyncConnection[Any],
        statement: bytes,
        params: dict[str, Any],
        count: int,
    ) -> None:
        """Run an append statement for `count` events; raise if it wrote none."""
        stream_id, expected = params["stream_id"], params["expected_version"]
        try:
            cur = await conn.execute(statement, params)
        except errors.UniqueViolation:
            # A transaction of its own can still say where the stream is; a caller's is
            # aborted, and only its rollback is left to do.
            alone = params["own_transaction"]
            actual = await self.stream_version(stream_id, conn=conn) if alone else None
            raise ConcurrencyError(stream_id, expected, actual) from None
        if cur.rowcount != count:
            raise ConcurrencyError(
                stream_id, expected, await self.stream_version(stream_id, conn=conn)
            )

    async def stream_version(
        self, stream_id: str, *, conn: AsyncConnection[Any] | None = None
    ) -> int:
        async with self._conn(conn) as c:
            cur = await c.execute(self._stream_version, (stream_id,))
            row = await cur.fetchone()
            return int(row[0]) if row else 0

    async def read_stream(
        self,
        stream_id: str,
        *,
        after_version: int = 0,
        until_version: int | None = None,
        conn: AsyncConnection[Any] | None = None,
    ) -> list[Envelope]:
        """The stream's events after `after_version`, up to `until_version` if given."""
        params = {"stream_id": stream_id, "after": after_version, "until": until_version}
        async with self._conn(conn) as c, c.cursor(row_factory=dict_row) as cur:
            await cur.execute(self._read_stream, params)
            return [self._envelope(r) for r in await cur.fetchall()]

    async def read_streams(
        self, after: Mapping[str, int], *, conn: AsyncConnection[Any] | None = None
    ) -> dict[str, list[Envelope]]:
        """Each stream's events after its version in `after`, all in one statement."""
        found: dict[str, list[Envelope]] = {stream: [] for stream in after}
        params = {"streams": list(after), "after": list(after.values())}
        async with self._conn(conn) as c, c.cursor(row_factory=dict_row) as cur:
            await cur.execute(self._read_streams, params)
            for row in await cur.fetchall():
                found[row["stream_id"]].append(self._envelope(row))
        return found

    async def last_version_of(
        self,
        stream_id: str,
        event_types: Sequence[str],
        *,
        conn: AsyncConnection[Any] | None = None,
    ) -> int:
        """The stream version of its latest event of these types; 0 when there is none.

        Lets an aggregate whose state some events replace whole (a snapshot-like event)
        read its stream from the latest of them instead of from the start.
        """
        async with self._conn(conn) as c:
            cur = await c.execute(self._last_of_types, (stream_id, list(event_types)))
            row = await cur.fetchone()
            return int(row[0]) if row else 0

    async def read_log(self, after: int = 0, limit: int = 500) -> list[Envelope]:
        """Events after position `after`, in position order, from finished transactions only.

        Safe to call repeatedly with the last position seen: no event is ever skipped.
        """
        async with self.pool.connection() as c, c.cursor(row_factory=dict_row) as cur:
            await cur.execute(self._read_log, {"after": after, "limit": limit})
            return [self._envelope(r) for r in await cur.fetchall()]

    async def close(self) -> None:
        """Release the connection that announces commits (the pool is the caller's)."""
        await self.notifier.close()

    async def decode(self, envelope: Envelope) -> Event:
        """The payload as the current schema version of its type (upcast when older), its
        personal fields opened: `[erased]` where a key they were sealed under is destroyed."""
        payload = envelope.payload
        if self._may_be_sealed(envelope.event_type, envelope.schema_version):
            payload = await open_document(payload, self.keys)
        return self.registry.decode(envelope.event_type, envelope.schema_version, payload)

    def _may_be_sealed(self, event_type: str, version: int) -> bool:
        # Only a version whose model marks personal fields was ever sealed (a mark, once
        # given, stays on its version), so other payloads skip the walk looking for seals.
        try:
            return holds_personal_data(self.registry.model(event_type, version))
        except UnknownEventType:
            return False  # decoding says why

    @asynccontextmanager
    async def _conn(self, conn: AsyncConnection[Any] | None) -> AsyncIterator[AsyncConnection[Any]]:
        if conn is not None:
            yield conn
        else:
            async with self.pool.connection() as own:
                yield own

    def _envelope(self, row: dict[str, Any]) -> Envelope:
        # Rows of our own log are valid envelopes: skip re-validating them on every read.
        # Only an admitted outside event records its source (events_0005).
        return Envelope.model_construct(**{**row, "source": row["source"] or self.schema})


@dataclass(frozen=True)
class StoreTransaction:
    """The store read and appended through one connection, inside its transaction: what a
    unit of work hands a use case beside its read models."""

    store: EventStore
    conn: AsyncConnection[Any]

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[Event],
        metadata: EventMetadata,
    ) -> list[Appended]:
        return await self.store.append(
            stream_id, expected_version, events, metadata, conn=self.conn
        )

    async def read_stream(
        self, stream_id: str, *, after_version: int = 0, until_version: int | None = None
    ) -> list[Envelope]:
        return await self.store.read_stream(
            stream_id, after_version=after_version, until_version=until_version, conn=self.conn
        )

    async def read_streams(self, after: Mapping[str, int]) -> dict[str, list[Envelope]]:
        return await self.store.read_streams(after, conn=self.conn)

    async def last_version_of(self, stream_id: str, event_types: Sequence[str]) -> int:
        return await self.store.last_version_of(stream_id, event_types, conn=self.conn)

    async def decode(self, envelope: Envelope) -> Event:
        return await self.store.decode(envelope)


def _checked(event: Event, payload: str | None = None) -> str:
    """The payload's JSON (`event`'s own unless given), refused when it is too large."""
    payload = event.model_dump_json() if payload is None else payload
    if len(payload) * 4 <= MAX_PAYLOAD_BYTES:  # at most 4 bytes a character: no need to encode
        return payload
    size = len(payload.encode())
    if size > MAX_PAYLOAD_BYTES:
        raise EventTooLarge(
            f"{event.event_type} payload is {size:,} bytes; at most "
            f"{MAX_PAYLOAD_BYTES:,} fit an event: split it or store the bulk elsewhere"
        )
    return payload


class CommitNotifier:
    """Announces committed appends on the log's channel with NOTIFY, coalesced.

    A `poke()` after a commit is followed by a NOTIFY attempt that starts after it. Pokes
    that come while one is being sent, or within `interval` of the last, share the next, so
    a busy writer costs a few notifications a second rather than one a commit. NOTIFY runs
    on its own connection in its own tiny transaction: writers never hold PostgreSQL's
    notify lock through their WAL flush. A failed or lost notification only delays the
    relay until its next poll.
    """

    def __init__(self, conninfo: str, channel: str, interval: float = 0.005) -> None:
        self._conninfo = conninfo
        self._channel = channel
        self._interval = interval
        self._pending = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: AsyncConnection[Any] | None = None
        self._closed = False

    def poke(self) -> None:
        if self._closed:
            return
        self._pending.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        try:
            while self._pending.is_set() and not self._closed:
                self._pending.clear()
                try:
                    if self._conn is None or self._conn.closed:
                        self._conn = await AsyncConnection.connect(self._conninfo, autocommit=True)
                    await self._conn.execute("SELECT pg_notify(%s, '')", (self._channel,))
                except Exception:  # the relay polls too; a missed wake-up only delays
                    log.debug("NOTIFY on %s failed", self._channel, exc_info=True)
                    self._conn = None
                await asyncio.sleep(self._interval)
        finally:
            self._task = None

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
