"""Benchmark 1: append throughput, one event per transaction, against raw INSERTs.

Each writer is an asyncio task appending to its own 50 streams with locally tracked
versions; writers share an AsyncConnectionPool sized to their number, so each effectively
owns one connection. The baseline inserts the same rows (same columns, types, unique keys
and payload, no triggers, no gap-free positions) with plain psycopg, one transaction each.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from uuid import UUID

from psycopg import AsyncConnection, sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from rich.console import Console

from bench.children import child
from bench.cpu import machine_busy, machine_times
from bench.events import APPENDS_SCHEMA, METADATA, BenchEvent, payload
from bench.stack import Roles
from libs.events.envelope import new_event_id, utcnow
from libs.events.migrations.roles import service_role
from libs.events.store import EventStore

WRITER_COUNTS = (1, 8)
STREAMS_PER_WRITER = 50
TARGET_RATIO = 0.8

# Appends one event: (writer, stream_id, expected_version, n).
Append = Callable[[int, str, int, int], Awaitable[None]]

RAW_SCHEMA = "bench_raw"

# The event log's columns and types (libs/events/migrations/versions/events_0001), with a
# plain identity key instead of the xid-derived position, and without the CHECKs.
_RAW_TABLE = """
CREATE TABLE {table} (
    global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        uuid NOT NULL UNIQUE,
    event_type      text NOT NULL,
    schema_version  integer NOT NULL,
    stream_id       text NOT NULL,
    stream_version  integer NOT NULL,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    actor           text NOT NULL,
    correlation_id  uuid NOT NULL,
    causation_id    uuid,
    trace_context   jsonb NOT NULL DEFAULT '{{}}',
    payload         jsonb NOT NULL,
    UNIQUE (stream_id, stream_version)
)
"""

RAW_INSERT = """
INSERT INTO {table} (event_id, event_type, schema_version, stream_id, stream_version,
                     occurred_at, actor, correlation_id, causation_id, trace_context, payload)
VALUES (%(event_id)s, %(event_type)s, %(schema_version)s, %(stream_id)s, %(stream_version)s,
        %(occurred_at)s, %(actor)s, %(correlation_id)s, %(causation_id)s, %(trace_context)s,
        %(payload)s)
"""


@dataclass(frozen=True)
class Run:
    """One timed run: its rate, and where the CPU went while it ran."""

    rate: float
    client_cpu_us: float | None
    """CPU time of this (the client) process per event, in microseconds."""
    machine_busy: float
    """Share of all cores' time that was not idle, 0 to 1."""


@dataclass
class Throughput:
    """Repeated timed runs of one way of appending."""

    label: str
    writers: int
    events: int
    runs: list[Run] = field(default_factory=list)

    @property
    def rates(self) -> list[float]:
        return [r.rate for r in self.runs]

    @property
    def best_run(self) -> Run | None:
        return max(self.runs, key=lambda r: r.rate, default=None)

    @property
    def best(self) -> float:
        return self.best_run.rate if self.best_run else 0.0


@dataclass(frozen=True)
class LogCheck:
    """Whether reading the log found every appended event once, in position order."""

    how: str
    expected: int
    read: int
    duplicates: int
    missing: int
    unexpected: int
    out_of_order: int

    @property
    def ok(self) -> bool:
        return not (self.duplicates or self.missing or self.unexpected or self.out_of_order)

    def summary(self) -> str:
        if self.ok:
            return (
                f"{self.how}: all {self.expected:,} appended events read exactly once, "
                "positions strictly increasing"
            )
        return (
            f"{self.how}: FAILED: {self.read:,} read of {self.expected:,} appended; "
            f"{self.missing} missing, {self.duplicates} duplicated, {self.unexpected} unexpected, "
            f"{self.out_of_order} out of order"
        )


@dataclass
class AppendResults:
    events_per_run: int
    repeats: int
    configs: list[tuple[Throughput, Throughput]] = field(default_factory=list)
    """(store, baseline) per writer count."""
    checks: list[LogCheck] = field(default_factory=list)

    def ratio(self, writers: int) -> float:
        for store, baseline in self.configs:
            if store.writers == writers:
                return paired_ratio(store, baseline)
        return 0.0


def paired_ratio(ours: Throughput, baseline: Throughput) -> float:
    """The median, over rounds, of our rate against the baseline's in the same round.

    The two run back to back in each round, so they share the machine's state of the
    moment: on a virtual machine whose speed moves by half within seconds, the best run of
    each apart can pair one's lucky moment with the other's unlucky one.
    """
    pairs = [o / b for o, b in zip(ours.rates, baseline.rates, strict=True) if b]
    return statistics.median(pairs) if pairs else 0.0


# -- ways of appending ----------------------------------------------------------------------


def store_append(store: EventStore, appended: list[UUID] | None = None) -> Append:
    """`EventStore.append` without a connection: each append is its own transaction."""

    async def append(writer: int, stream_id: str, expected: int, n: int) -> None:
        envelopes = await store.append(
            stream_id, expected, [BenchEvent(n=n, writer=writer)], METADATA
        )
        if appended is not None:
            appended.extend(e.event_id for e in envelopes)

    return append


def raw_insert(pool: AsyncConnectionPool, schema: str) -> Append:
    """A single-row INSERT in its own transaction: the baseline."""
    insert = sql.SQL(RAW_INSERT).format(table=sql.Identifier(schema, "events"))
    correlation_id = METADATA.correlation_id

    async def append(writer: int, stream_id: str, expected: int, n: int) -> None:
        # Same round trips as the store: the statement alone, its own transaction
        # (the pool's connections are in autocommit).
        async with pool.connection() as conn:
            await conn.execute(
                insert,
                {
                    "event_id": new_event_id(),
                    "event_type": BenchEvent.event_type,
                    "schema_version": BenchEvent.schema_version,
                    "stream_id": stream_id,
                    "stream_version": expected + 1,
                    "occurred_at": utcnow(),
                    "actor": METADATA.actor,
                    "correlation_id": correlation_id,
                    "causation_id": None,
                    "trace_context": Jsonb({}),
                    "payload": Jsonb(payload(n, writer)),
                },
            )

    return append


# -- running --------------------------------------------------------------------------------


async def timed_run(append: Append, writers: int, events: int, prefix: str) -> Run:
    """Append `events` events with `writers` concurrent writers."""

    async def writer(w: int, count: int) -> None:
        versions = [0] * STREAMS_PER_WRITER
        for i in range(count):
            s = i % STREAMS_PER_WRITER
            await append(w, f"{prefix}w{w}-{s}", versions[s], i * writers + w)
            versions[s] += 1

    shares = [events // writers + (1 if w < events % writers else 0) for w in range(writers)]
    cpu, machine = time.process_time(), machine_times()
    started = time.perf_counter()
    await asyncio.gather(*(writer(w, count) for w, count in enumerate(shares)))
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    return Run(events / elapsed, cpu / events * 1e6, machine_busy(machine, machine_times()))


class Runner:
    """Runs appends, each run to fresh streams of its own."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.runs = 0
        self._token = secrets.token_hex(3)

    def prefix(self) -> str:
        """Stream id prefix for the next run: unique across runs and runners."""
        self.runs += 1
        return f"{self._token}-{self.runs}-"

    async def warm_up(self, append: Append, writers: int, events: int) -> None:
        await timed_run(append, writers, events, self.prefix())

    async def measure(self, result: Throughput, append: Append, run: int, repeats: int) -> None:
        with self.console.status(f"{result.label}, {result.writers} writer(s), run {run}"):
            measured = await timed_run(append, result.writers, result.events, self.prefix())
        result.runs.append(measured)
        self.show(result, measured, run, repeats)

    def show(self, result: Throughput, measured: Run, run: int, repeats: int) -> None:
        cpu = measured.client_cpu_us
        client = f", client CPU {cpu:5,.0f} µs/event" if cpu is not None else ""
        self.console.print(
            f"  {result.label:<44} {result.writers} writer(s), run {run}/{repeats}: "
            f"{measured.rate:6,.0f} events/s{client}, machine {measured.machine_busy:4.0%} busy"
        )

    async def interleaved(
        self, candidates: Sequence[tuple[Throughput, Append]], repeats: int, warmup: int
    ) -> None:
        """Warm every candidate up, then run them in turns, reversing the order each round
        so that drift (table growth, a checkpoint, a noisy neighbour) hits all alike."""
        for result, append in candidates:
            await self.warm_up(append, result.writers, warmup)
        for run in range(1, repeats + 1):
            ordered = candidates if run % 2 else list(reversed(candidates))
            for result, append in ordered:
                await self.measure(result, append, run, repeats)


@asynccontextmanager
async def writer_pool(database_url: str, size: int) -> AsyncIterator[AsyncConnectionPool]:
    """A pool with one connection per writer (autocommit: transactions are explicit)."""
    async with AsyncConnectionPool(
        database_url, min_size=size, max_size=size, open=False, kwargs={"autocommit": True}
    ) as pool:
        await pool.wait()
        yield pool


@asynccontextmanager
async def listening(database_url: str, schema: str = APPENDS_SCHEMA) -> AsyncIterator[None]:
    """A process LISTENing on the log's NOTIFY channel and draining it, as the outbox relay
    does in production, so that notifications are delivered and read as they would be. A
    process of its own, so that its CPU time does not count as the writers'."""
    channels = [f"{schema}_events"]
    async with child("bench.listener", *channels, env={"BENCH_DATABASE_URL": database_url}):
        yield


async def prepare_schemas(roles: Roles) -> str:
    """The event log, migrated like a service's (by the owner, for its own role), and the
    baseline's raw table; return the URL of the role both are written as.

    The raw table is the owner's too, and its role may read and insert there, as in the
    event log: the baseline pays for the same role, connection and authentication, so the
    ratio compares the two ways of writing alone.
    """
    url = await asyncio.to_thread(roles.migrate, APPENDS_SCHEMA)
    role, schema = sql.Identifier(service_role(APPENDS_SCHEMA)), sql.Identifier(RAW_SCHEMA)
    table = sql.Identifier(RAW_SCHEMA, "events")
    async with await AsyncConnection.connect(roles.owner_url, autocommit=True) as conn:
        await conn.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
        await conn.execute(sql.SQL(_RAW_TABLE).format(table=table))
        await conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, role))
        await conn.execute(sql.SQL("GRANT SELECT, INSERT ON {} TO {}").format(table, role))
    return url


async def check_log(
    store: EventStore, appended: Sequence[UUID], how: str, *, attempts: int = 10
) -> LogCheck:
    """Read the whole log with `read_log`, in batches, and compare it with what was appended.

    A transaction running elsewhere on the server holds `read_log`'s horizon back (see
    libs/events/store.py), so events can be missing for a while: read again before failing.
    """
    check = await _read_whole_log(store, appended, how)
    for _ in range(attempts - 1):
        if not check.missing:
            break
        await asyncio.sleep(1)
        check = await _read_whole_log(store, appended, how)
    return check


async def _read_whole_log(store: EventStore, appended: Sequence[UUID], how: str) -> LogCheck:
    after, read, out_of_order = 0, 0, 0
    counts: Counter[UUID] = Counter()
    while batch := await store.read_log(after=after, limit=1000):
        for envelope in batch:
            if envelope.global_position <= after:
                out_of_order += 1
            after = envelope.global_position
            counts[envelope.event_id] += 1
            read += 1
    return _compare(how, appended, counts, read, out_of_order)


def _compare(
    how: str, appended: Sequence[UUID], counts: Counter[UUID], read: int, out_of_order: int
) -> LogCheck:
    expected = set(appended)
    return LogCheck(
        how=how,
        expected=len(appended),
        read=read,
        duplicates=sum(c - 1 for c in counts.values() if c > 1),
        missing=len(expected - counts.keys()),
        unexpected=len(counts.keys() - expected),
        out_of_order=out_of_order,
    )


async def check_live_tail(
    database_url: str, store: EventStore, writers: int, events: int, runner: Runner
) -> LogCheck:
    """A reader tails the log by position while `writers` append concurrently (commits land
    out of position order): it must see every event once, in order, and skip none."""
    async with writer_pool(database_url, 1) as tail_pool:
        reader = EventStore(tail_pool, store.schema)
        start = 0
        while batch := await reader.read_log(after=start, limit=1000):
            start = batch[-1].global_position
        appended: list[UUID] = []
        done = asyncio.Event()
        counts: Counter[UUID] = Counter()
        progress = {"after": start, "read": 0, "out_of_order": 0}

        async def tail() -> None:
            # Stop only after a pass that began once the writers had finished came back empty.
            while True:
                finished = done.is_set()
                batch = await reader.read_log(after=progress["after"], limit=500)
                for envelope in batch:
                    if envelope.global_position <= progress["after"]:
                        progress["out_of_order"] += 1
                    progress["after"] = envelope.global_position
                    counts[envelope.event_id] += 1
                    progress["read"] += 1
                if finished and not batch and progress["read"] >= len(appended):
                    return
                if not batch:
                    await asyncio.sleep(0.001)

        tailer = asyncio.create_task(tail())
        with runner.console.status(f"live-tail check, {writers} writers"):
            await timed_run(store_append(store, appended), writers, events, runner.prefix())
            done.set()
            # Past the timeout the check fails with the events still missing, if any.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(tailer, 60)
    return _compare(
        f"live tail during {writers} concurrent writers",
        appended,
        counts,
        progress["read"],
        progress["out_of_order"],
    )


def warmup_events(events: int) -> int:
    return max(50, events // 10)


async def run(roles: Roles, console: Console, *, events: int, repeats: int) -> AppendResults:
    """Benchmark 1, with the gap-free checks after the 8-writer runs, as the log's own role."""
    results = AppendResults(events_per_run=events, repeats=repeats)
    runner = Runner(console)
    warmup = warmup_events(events)
    with console.status("migrating the benchmark schemas"):
        database_url = await prepare_schemas(roles)
    async with listening(database_url):
        await _measure(database_url, results, runner, warmup)
    return results


async def _measure(database_url: str, results: AppendResults, runner: Runner, warmup: int) -> None:
    console, events, repeats = runner.console, results.events_per_run, results.repeats
    appended: list[UUID] = []
    for writers in WRITER_COUNTS:
        console.print(f"[bold]Appends, {writers} writer(s)[/]")
        async with writer_pool(database_url, writers) as pool:
            store = EventStore(pool, APPENDS_SCHEMA)
            ours = Throughput("EventStore.append", writers, events)
            baseline = Throughput("raw INSERT (baseline)", writers, events)
            await runner.interleaved(
                [(baseline, raw_insert(pool, RAW_SCHEMA)), (ours, store_append(store, appended))],
                repeats,
                warmup,
            )
            results.configs.append((ours, baseline))
            console.print(
                f"  ratio store/baseline at {writers} writer(s): "
                f"[bold]{results.ratio(writers):.2f}[/]"
            )
            if writers == max(WRITER_COUNTS):
                # Warm-up appends count too: they are in the log like the others.
                with console.status("reading the whole log back"):
                    check = await check_log(store, appended, "whole log read back after the runs")
                results.checks.append(check)
                console.print(f"  gap-free check: {_verdict(check)}")
                check = await check_live_tail(database_url, store, writers, events, runner)
                results.checks.append(check)
                console.print(f"  gap-free check: {_verdict(check)}")


def _verdict(check: LogCheck) -> str:
    colour = "green" if check.ok else "red"
    return f"[{colour}]{'OK' if check.ok else 'FAILED'}[/] {check.summary()}"
