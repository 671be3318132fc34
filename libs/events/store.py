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
group commit. The cost: a long-running writing transaction anywhere in the cluster holds
readers back until it ends (it delays, never loses). One transaction may write at most
65,535 events; a CHECK constraint refuses more rather than letting positions overlap.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from opentelemetry import propagate
from psycopg import AsyncConnection, errors, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from libs.events.envelope import Envelope, EventMetadata, new_event_id, utcnow
from libs.events.registry import EventRegistry, IntegrationEvent, registry

MAX_EVENTS_PER_TRANSACTION = 65_535


class ConcurrencyError(Exception):
    """The stream moved on since the caller read it; nothing was written. Reload and retry."""

    def __init__(self, stream_id: str, expected: int, actual: int | None) -> None:
        self.stream_id, self.expected, self.actual = stream_id, expected, actual
        found = "it moved on concurrently" if actual is None else f"it is at version {actual}"
        super().__init__(
            f"stream {stream_id!r}: expected version {expected} but {found}; "
            "reload the stream and retry the command"
        )


_COLUMNS = (
    "global_position, event_id, event_type, schema_version, stream_id, stream_version, "
    "occurred_at, recorded_at, actor, correlation_id, causation_id, trace_context, payload"
)

_APPEND = """
WITH current AS (
    SELECT coalesce(max(stream_version), 0) AS version
    FROM {events} WHERE stream_id = %(stream_id)s
), base AS (
    -- events already written by this transaction (an earlier append in it) come first
    SELECT coalesce(max(global_position), pg_current_xact_id()::text::bigint << 16) AS position
    FROM {events}
    WHERE global_position >= pg_current_xact_id()::text::bigint << 16
      AND global_position < (pg_current_xact_id()::text::bigint + 1) << 16
)
INSERT INTO {events} (
    global_position, event_id, event_type, schema_version, stream_id, stream_version,
    occurred_at, actor, correlation_id, causation_id, trace_context, payload)
SELECT base.position + e.n, e.event_id, e.event_type, e.schema_version, %(stream_id)s,
       current.version + e.n, %(occurred_at)s, %(actor)s, %(correlation_id)s,
       %(causation_id)s, %(trace_context)s, e.payload
FROM current, base,
     unnest(%(event_ids)s::uuid[], %(event_types)s::text[], %(schema_versions)s::int[],
            %(payloads)s::jsonb[]) WITH ORDINALITY AS e(event_id, event_type, schema_version,
                                                         payload, n)
WHERE current.version = %(expected_version)s
RETURNING {columns}
"""

_READ_STREAM = """
SELECT {columns} FROM {events}
WHERE stream_id = %(stream_id)s AND stream_version > %(after)s
ORDER BY stream_version
"""

_READ_LOG = """
SELECT {columns} FROM {events}
WHERE global_position > %(after)s
  AND global_position < pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16
ORDER BY global_position
LIMIT %(limit)s
"""

_STREAM_VERSION = "SELECT coalesce(max(stream_version), 0) FROM {events} WHERE stream_id = %s"


class EventStore:
    """Appends to and reads from one service's event log (`<schema>.events`)."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        schema: str,
        *,
        events: EventRegistry = registry,
    ) -> None:
        self.pool = pool
        self.schema = schema
        self.registry = events
        table = sql.Identifier(schema, "events")
        fmt = {"events": table, "columns": sql.SQL(_COLUMNS)}
        self._append = sql.SQL(_APPEND).format(**fmt)
        self._read_stream = sql.SQL(_READ_STREAM).format(**fmt)
        self._read_log = sql.SQL(_READ_LOG).format(**fmt)
        self._stream_version = sql.SQL(_STREAM_VERSION).format(**fmt)

    @property
    def notify_channel(self) -> str:
        """The LISTEN channel a committed append notifies (see the migration's trigger)."""
        return f"{self.schema}_events"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A connection in a transaction: commit on success, roll back on any error."""
        async with self.pool.connection() as conn, conn.transaction():
            yield conn

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[IntegrationEvent],
        metadata: EventMetadata,
        *,
        conn: AsyncConnection[Any] | None = None,
    ) -> list[Envelope]:
        """Append `events` to `stream_id` if it is at `expected_version` (0: a new stream).

        Pass `conn` to write in the caller's transaction (with its read-model changes or
        its inbox claim); otherwise the append is its own transaction. Raises
        `ConcurrencyError`, having written nothing, when the stream is not at the expected
        version or another writer appends to it concurrently.
        """
        if not events:
            return []
        if len(events) > MAX_EVENTS_PER_TRANSACTION:
            raise ValueError(f"at most {MAX_EVENTS_PER_TRANSACTION} events per append")
        trace_context: dict[str, str] = {}
        propagate.inject(trace_context)
        params = {
            "stream_id": stream_id,
            "expected_version": expected_version,
            "occurred_at": utcnow(),
            "actor": metadata.actor,
            "correlation_id": metadata.correlation_id,
            "causation_id": metadata.causation_id,
            "trace_context": Jsonb(trace_context),
            "event_ids": [new_event_id() for _ in events],
            "event_types": [e.event_type for e in events],
            "schema_versions": [e.schema_version for e in events],
            "payloads": [Jsonb(e.model_dump(mode="json")) for e in events],
        }
        if conn is None:
            async with self.transaction() as own:
                return await self._insert(own, stream_id, expected_version, params)
        # A savepoint, so that a conflict leaves the caller's transaction usable.
        async with conn.transaction():
            return await self._insert(conn, stream_id, expected_version, params)

    async def _insert(
        self, conn: AsyncConnection[Any], stream_id: str, expected: int, params: dict[str, Any]
    ) -> list[Envelope]:
        try:
            async with conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(self._append, params)
                rows = await cur.fetchall()
        except errors.UniqueViolation:
            raise ConcurrencyError(stream_id, expected, None) from None
        if not rows:
            actual = await self.stream_version(stream_id, conn=conn)
            raise ConcurrencyError(stream_id, expected, actual)
        rows.sort(key=lambda r: r["stream_version"])
        return [self._envelope(r) for r in rows]

    async def stream_version(
        self, stream_id: str, *, conn: AsyncConnection[Any] | None = None
    ) -> int:
        async with self._conn(conn) as c:
            cur = await c.execute(self._stream_version, (stream_id,))
            row = await cur.fetchone()
            return int(row[0]) if row else 0

    async def read_stream(
        self, stream_id: str, *, after_version: int = 0, conn: AsyncConnection[Any] | None = None
    ) -> list[Envelope]:
        async with self._conn(conn) as c, c.cursor(row_factory=dict_row) as cur:
            await cur.execute(self._read_stream, {"stream_id": stream_id, "after": after_version})
            return [self._envelope(r) for r in await cur.fetchall()]

    async def read_log(self, after: int = 0, limit: int = 500) -> list[Envelope]:
        """Events after position `after`, in position order, from finished transactions only.

        Safe to call repeatedly with the last position seen: no event is ever skipped.
        """
        async with self.pool.connection() as c, c.cursor(row_factory=dict_row) as cur:
            await cur.execute(self._read_log, {"after": after, "limit": limit})
            return [self._envelope(r) for r in await cur.fetchall()]

    def decode(self, envelope: Envelope) -> IntegrationEvent:
        """The payload as the current schema version of its type (upcast when older)."""
        return self.registry.decode(envelope.event_type, envelope.schema_version, envelope.payload)

    @asynccontextmanager
    async def _conn(self, conn: AsyncConnection[Any] | None) -> AsyncIterator[AsyncConnection[Any]]:
        if conn is not None:
            yield conn
        else:
            async with self.pool.connection() as own:
                yield own

    def _envelope(self, row: dict[str, Any]) -> Envelope:
        return Envelope(source=self.schema, **row)
