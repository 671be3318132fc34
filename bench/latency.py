"""Benchmark 2: latency from a committed append to a consumer's committed effect.

Events are appended at a steady rate on an absolute schedule: each append starts at its
slot whether or not earlier ones have returned, so a slow append cannot lower the offered
load. An OutboxRelay task publishes them to JetStream; a consumer registered with
`subscribe` applies each in a transaction that also claims the inbox. The clock starts
when `append` returns and stops when the consumer's transaction has committed.

The consumer runs in a process of its own, as a consuming service does, and again in the
appending process itself (everything on one event loop), to show what sharing one Python
core costs. The baseline is JetStream alone: a message published (awaited) on a scratch
stream, timed from the start of the publish to its arrival at a plain subscriber.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import nats
import psutil
from faststream.nats import NatsBroker
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from psycopg import AsyncConnection, sql
from psycopg_pool import AsyncConnectionPool
from rich.console import Console

from bench.children import child
from bench.cpu import CpuProbe, CpuUse, nats_processes, postgres_processes
from bench.events import LATENCY_SCHEMA, METADATA, LatencyProbe
from bench.stack import Roles, connect_nats, nats_env
from libs.events.broker import ensure_streams, make_broker
from libs.events.consumer import BATCH_SIZE, IDLE_WAIT, EventHandler, pull_batch, subscribe
from libs.events.envelope import Envelope, new_event_id, utcnow
from libs.events.migrations.roles import service_role
from libs.events.relay import OutboxRelay
from libs.events.store import EventStore
from libs.events.subjects import EVENT_STREAM, context_subjects

RATE = 500.0
TARGET_P99_MS = 100.0
RELAY_POLL_INTERVAL = 0.05
# How the event consumers pull (libs/events/consumer.py), for the pull baseline.
CONSUMER_FETCH_BATCH, CONSUMER_IDLE_WAIT = BATCH_SIZE, IDLE_WAIT
DELIVERY_TIMEOUT = 60.0
POOL_MIN, POOL_MAX = 4, 8
APPENDING = "appending process (appends + relay)"
CONSUMING = "consumer process"

# Event ids applied by the consumer transaction running in the current task.
_applied: ContextVar[list[UUID] | None] = ContextVar("bench_applied", default=None)
_EFFECTS = sql.Identifier(LATENCY_SCHEMA, "effects")


@dataclass(frozen=True)
class Latencies:
    """Latency percentiles of one path, in milliseconds."""

    label: str
    sent: int
    received: int
    offered_rate: float
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, label: str, seconds: Sequence[float], sent: int, offered_rate: float) -> Latencies:
        ms = sorted(s * 1000 for s in seconds)
        if len(ms) < 2:
            nan = float("nan")
            return cls(label, sent, len(ms), offered_rate, nan, nan, nan, nan)
        cuts = statistics.quantiles(ms, n=100, method="inclusive")
        return cls(label, sent, len(ms), offered_rate, cuts[49], cuts[94], cuts[98], ms[-1])


@dataclass(frozen=True)
class Pipeline:
    """One measurement of append → relay → JetStream → consumer."""

    setup: str
    total: Latencies
    stages: list[Latencies]
    """Append to relay publish, relay publish to consumer commit, the append call."""
    applied_once: bool
    cpu: CpuUse
    """From the first measured append until the last effect committed."""
    events: int


@dataclass(frozen=True)
class LatencyResults:
    rate: float
    seconds: float
    pipelines: list[Pipeline]
    """The first is the deployment-like setup that ratios are taken for."""
    baselines: list[Latencies]
    """The first is the one ratios are taken against."""

    @property
    def ours(self) -> Latencies:
        return self.pipelines[0].total

    @property
    def baseline(self) -> Latencies:
        return self.baselines[0]


# -- the consumer ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Consumer:
    """A running benchmark consumer: when it committed each event, and its own processes."""

    committed: dict[UUID, float]
    processes: list[psutil.Process]


class CommitClockStore(EventStore):
    """An EventStore whose `transaction()` reports, once it has committed, every event the
    consumer's apply function recorded in it."""

    def __init__(
        self, pool: AsyncConnectionPool, schema: str, on_commit: Callable[[UUID, float], None]
    ) -> None:
        super().__init__(pool, schema)
        self.on_commit = on_commit

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection[Any]]:
        applied: list[UUID] = []
        token = _applied.set(applied)
        try:
            async with super().transaction() as conn:
                yield conn
            now = time.perf_counter()
            for event_id in applied:
                self.on_commit(event_id, now)
        finally:
            _applied.reset(token)


async def _apply(conn: AsyncConnection[Any], envelope: Envelope, event: LatencyProbe) -> None:
    await conn.execute(
        sql.SQL("INSERT INTO {} (event_id, n) VALUES (%s, %s)").format(_EFFECTS),
        (envelope.event_id, event.n),
    )
    applied = _applied.get()
    if applied is not None:
        applied.append(envelope.event_id)


def latency_handler(name: str) -> EventHandler:
    """The benchmark consumer; `name` makes its durable consumer unique to the run."""
    return EventHandler(service="bench", name=name, event=LatencyProbe, apply=_apply)


def quiet_faststream() -> None:
    """FastStream logs every subscriber task start and stop at INFO; keep warnings only."""
    logging.getLogger("faststream.access.nats").addFilter(
        lambda record: record.levelno >= logging.WARNING
    )


@asynccontextmanager
async def running_consumer(
    database_url: str,
    nats_url: str,
    nats_credentials: Path | None,
    name: str,
    on_commit: Callable[[UUID, float], None],
) -> AsyncIterator[None]:
    """The benchmark's consumer, subscribed and started on the running event loop."""
    broker = make_broker(nats_url, client_name="bench-consumer", credentials=nats_credentials)
    async with AsyncConnectionPool(
        database_url, min_size=POOL_MIN, max_size=POOL_MAX, open=False
    ) as pool:
        await pool.wait()
        store = CommitClockStore(pool, LATENCY_SCHEMA, on_commit)
        subscribe(broker, store, latency_handler(name))
        await broker.start()
        try:
            yield
        finally:
            await broker.stop()


@asynccontextmanager
async def consumer_here(
    database_url: str, nats_url: str, nats_credentials: Path | None, name: str
) -> AsyncIterator[Consumer]:
    """The consumer on this process's event loop."""
    committed: dict[UUID, float] = {}

    def record(event_id: UUID, at: float) -> None:
        committed.setdefault(event_id, at)

    async with running_consumer(database_url, nats_url, nats_credentials, name, record):
        yield Consumer(committed, [])


@asynccontextmanager
async def consumer_process(
    database_url: str, nats_url: str, nats_credentials: Path | None, name: str
) -> AsyncIterator[Consumer]:
    """The consumer in a child process (bench.consumer_process); its commit times are
    filled in as the child reports them."""
    env = {
        "BENCH_DATABASE_URL": database_url,
        "BENCH_CONSUMER": name,
        **nats_env(nats_url, nats_credentials),
    }
    committed: dict[UUID, float] = {}

    async def read(stdout: asyncio.StreamReader) -> None:
        async for line in stdout:
            event_id, at = line.split()
            committed.setdefault(UUID(event_id.decode()), float(at))

    reader: asyncio.Task[None] | None = None
    try:
        async with child("bench.consumer_process", env=env) as process:
            assert process.stdout is not None  # a pipe, see bench.children
            reader = asyncio.create_task(read(process.stdout))
            yield Consumer(committed, [psutil.Process(process.pid)])
    finally:
        if reader is not None:
            # The child has exited: its output ends, and so does the reader.
            await asyncio.wait_for(reader, 10)


# -- the pipeline ---------------------------------------------------------------------------


class TimedRelay(OutboxRelay):
    """An OutboxRelay noting when JetStream acknowledged each event it published."""

    def __init__(self, store: EventStore, broker: NatsBroker, **options: Any) -> None:
        super().__init__(store, broker, **options)
        self.published: dict[UUID, float] = {}

    async def _send(self, js: JetStreamContext, envelope: Envelope) -> asyncio.Future[Any]:
        ack = await super()._send(js, envelope)

        def acknowledged(future: asyncio.Future[Any]) -> None:
            if not future.cancelled() and future.exception() is None:
                self.published.setdefault(envelope.event_id, time.perf_counter())

        ack.add_done_callback(acknowledged)
        return ack


async def paced(
    rate: float, count: int, fire: Callable[[int], Awaitable[None]]
) -> tuple[float, list[asyncio.Task[None]]]:
    """Start `fire(i)` at `start + i / rate` (at once when late, never waiting for earlier
    calls to return); return the offered rate and the started tasks."""
    tasks: list[asyncio.Task[None]] = []
    start = time.perf_counter()
    for i in range(count):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(fire(i)))
    elapsed = time.perf_counter() - start
    return ((count - 1) / elapsed if elapsed > 0 else float("inf")), tasks


async def _wait_for(predicate: Callable[[], bool], within: float) -> bool:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def _all_in(ids: Sequence[UUID], committed: Mapping[UUID, float]) -> Callable[[], bool]:
    """Whether every id is in `committed`, which only grows: each check resumes where the
    last one stopped, so waiting costs the appending process one look-up per event in all
    (a check from the start every 50 ms took seconds of its CPU at 5,000 events)."""
    seen = 0

    def done() -> bool:
        nonlocal seen
        while seen < len(ids) and ids[seen] in committed:
            seen += 1
        return seen == len(ids)

    return done


@dataclass
class _Load:
    """What the appending side saw: when each measured append returned, and its duration."""

    appended: dict[UUID, float] = field(default_factory=dict)
    append_calls: list[float] = field(default_factory=list)
    warm: list[UUID] = field(default_factory=list)
    offered: float = 0.0


@asynccontextmanager
async def _running(relay: OutboxRelay) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        yield
    finally:
        stop.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(task, 20)


async def _forget(js: JetStreamContext, handler: EventHandler) -> None:
    """Remove what a measurement left on NATS: its durable consumers and its events."""
    with contextlib.suppress(Exception):
        for durable in handler.durables:
            await js.delete_consumer(EVENT_STREAM, durable)
        await js.purge_stream(EVENT_STREAM, subject=context_subjects(LATENCY_SCHEMA))


async def _drive(
    store: EventStore,
    consumer: Consumer,
    probe: Callable[[], Awaitable[CpuProbe]],
    console: Console,
    *,
    rate: float,
    count: int,
    label: str,
) -> tuple[_Load, CpuUse]:
    """A 1 s warm-up, then `count` appends at `rate`, until every effect has committed."""
    load = _Load()
    prefix = secrets.token_hex(4)

    async def append(i: int, measured: bool = True) -> None:
        called = time.perf_counter()
        [envelope] = await store.append(
            f"{prefix}-{i}-{measured}", 0, [LatencyProbe(n=i)], METADATA
        )
        if measured:
            load.appended[envelope.event_id] = returned = time.perf_counter()
            load.append_calls.append(returned - called)
        else:
            load.warm.append(envelope.event_id)

    committed = consumer.committed
    with console.status(f"latency ({label}): warming up"):
        _, tasks = await paced(rate, int(rate), lambda i: append(i, measured=False))
        await asyncio.gather(*tasks)
        await _wait_for(_all_in(load.warm, committed), DELIVERY_TIMEOUT)
    cpu = await probe()
    cpu.start()
    with console.status(f"latency ({label}): {count:,} appends at {rate:,.0f}/s"):
        load.offered, tasks = await paced(rate, count, append)
        await asyncio.gather(*tasks)
    with console.status(f"latency ({label}): waiting for the last effects"):
        if not await _wait_for(_all_in(list(load.appended), committed), DELIVERY_TIMEOUT):
            console.print(f"[red]events not applied within {DELIVERY_TIMEOUT:g} s[/]")
    return load, cpu.stop()


async def measure_pipeline(
    roles: Roles,
    database_url: str,
    nats_url: str,
    nats_credentials: Path | None,
    console: Console,
    *,
    rate: float,
    seconds: float,
    separate_consumer: bool,
) -> Pipeline:
    """Append at `rate` for `seconds` and time each event to its consumer's commit.

    `database_url`: the log's own role, which the appends, the relay and the consumer use;
    the owner (`roles`) empties the effects between measurements.
    """
    setup = "consumer in its own process" if separate_consumer else "all on one event loop"
    handler = latency_handler(f"latency{secrets.token_hex(4)}")
    count = int(rate * seconds)
    async with contextlib.AsyncExitStack() as stack:
        # Unwound in reverse: consumer, relay, NATS leftovers, broker, pool, connection.
        admin = await stack.enter_async_context(
            await AsyncConnection.connect(roles.owner_url, autocommit=True)
        )
        await admin.execute(sql.SQL("TRUNCATE {}").format(_EFFECTS))
        pool = await stack.enter_async_context(
            AsyncConnectionPool(database_url, min_size=POOL_MIN, max_size=POOL_MAX, open=False)
        )
        await pool.wait()
        store = EventStore(pool, LATENCY_SCHEMA)
        broker = make_broker(nats_url, client_name="bench-relay", credentials=nats_credentials)
        await broker.connect()
        stack.push_async_callback(broker.stop)
        await ensure_streams(broker)
        js = broker.connection.jetstream()
        # A fresh durable consumer starts at the beginning of the stream: nothing may be
        # left there from an earlier run against the same NATS.
        await _forget(js, handler)
        stack.push_async_callback(_forget, js, handler)
        # Its checkpoint (relay_checkpoints) resumes it after earlier measurements' events.
        relay = TimedRelay(store, broker, poll_interval=RELAY_POLL_INTERVAL)
        await stack.enter_async_context(_running(relay))
        start_consumer = consumer_process if separate_consumer else consumer_here
        consumer = await stack.enter_async_context(
            start_consumer(database_url, nats_url, nats_credentials, handler.name)
        )

        async def probe() -> CpuProbe:
            # Called after the warm-up: every pooled connection's backend exists by then.
            return CpuProbe(
                {
                    APPENDING: [psutil.Process()],
                    CONSUMING: consumer.processes,
                    "PostgreSQL": await postgres_processes(admin, database_url),
                    "NATS": nats_processes(nats_url),
                }
            )

        load, cpu = await _drive(
            store, consumer, probe, console, rate=rate, count=count, label=setup
        )
    async with await AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute(
            sql.SQL("SELECT count(*), count(DISTINCT event_id) FROM {}").format(_EFFECTS)
        )
        row = await cur.fetchone()
    expected = len(load.warm) + len(load.appended)
    applied_once = row is not None and row[0] == row[1] == expected
    if not applied_once:
        console.print(f"[red]effects (rows, distinct events): {row}; expected {expected}[/]")
    committed, published = consumer.committed, relay.published
    appended, offered = load.appended, load.offered
    total = [committed[e] - t for e, t in appended.items() if e in committed]
    relayed = [published[e] - t for e, t in appended.items() if e in published]
    onward = [committed[e] - published[e] for e in appended if e in committed and e in published]
    return Pipeline(
        setup,
        Latencies.of(f"append → consumer committed ({setup})", total, count, offered),
        [
            Latencies.of("append → relay published", relayed, count, offered),
            Latencies.of("relay published → consumer committed", onward, count, offered),
            # Not part of the path: shows whether the appends themselves kept up.
            Latencies.of("(the append call itself)", load.append_calls, count, offered),
        ],
        applied_once,
        cpu,
        count,
    )


# -- the baseline ---------------------------------------------------------------------------


async def measure_jetstream(
    nats_url: str,
    nats_credentials: Path | None,
    console: Console,
    *,
    rate: float,
    seconds: float,
    size: int,
    pull: bool,
) -> Latencies:
    """Publish `size`-byte messages at `rate` on a scratch stream; time each to receipt.

    `pull=False`: a push subscriber (the transport's floor). `pull=True`: a pull
    subscription fetching as the event consumers do (same batch size and wait).
    """
    token = secrets.token_hex(4)
    stream, subject = f"BENCH_BASELINE_{token}", f"benchbaseline.{token}"
    label = f"pull, batch {CONSUMER_FETCH_BATCH}" if pull else "push"
    started: dict[int, float] = {}
    received: dict[int, float] = {}
    padding = b"x" * max(0, size - 10)
    count = int(rate * seconds)

    def arrived(msg: Msg) -> None:
        received.setdefault(int(msg.data[:10]), time.perf_counter())

    async def on_message(msg: Msg) -> None:
        arrived(msg)
        await msg.ack()

    async def fetch_loop(sub: JetStreamContext.PullSubscription) -> None:
        last = None
        while True:
            try:
                batch = await pull_batch(sub, CONSUMER_FETCH_BATCH, CONSUMER_IDLE_WAIT, last)
            except nats.errors.TimeoutError:
                last = None
                continue
            last = batch[-1]
            for msg in batch:
                arrived(msg)
            await asyncio.gather(*(msg.ack() for msg in batch))

    async with contextlib.AsyncExitStack() as cleanup:
        # Unwound in reverse: the fetcher, the stream, then both connections.
        publisher = await connect_nats(nats_url, nats_credentials, "bench-baseline-publisher")
        cleanup.push_async_callback(publisher.close)
        receiver = await connect_nats(nats_url, nats_credentials, "bench-baseline-receiver")
        cleanup.push_async_callback(receiver.close)
        js = publisher.jetstream()
        await js.add_stream(
            api.StreamConfig(name=stream, subjects=[subject], storage=api.StorageType.FILE)
        )
        cleanup.push_async_callback(js.delete_stream, stream)
        if pull:
            sub = await receiver.jetstream().pull_subscribe(
                subject, durable=f"bench{token}", stream=stream
            )
            fetcher = asyncio.create_task(fetch_loop(sub))
            cleanup.push_async_callback(_cancel, fetcher)
        else:
            await receiver.jetstream().subscribe(
                subject, stream=stream, cb=on_message, manual_ack=True
            )

        async def publish(i: int) -> None:
            started[i] = time.perf_counter()
            await js.publish(subject, b"%010d" % i + padding, stream=stream)

        with console.status(f"baseline: JetStream {label}, warming up"):
            # Negative numbers: warm-up messages never count.
            _, tasks = await paced(rate, int(rate), lambda i: publish(-1 - i))
            await asyncio.gather(*tasks)
        with console.status(f"baseline: JetStream {label}, {count:,} messages at {rate:,.0f}/s"):
            offered, tasks = await paced(rate, count, publish)
            await asyncio.gather(*tasks)
            await _wait_for(lambda: all(i in received for i in range(count)), DELIVERY_TIMEOUT)
    taken = [received[i] - started[i] for i in range(count) if i in received]
    return Latencies.of(f"JetStream publish → {label} subscriber", taken, count, offered)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def envelope_size() -> int:
    """Bytes of a LatencyProbe envelope on the wire, so that the baseline sends as much."""
    now = utcnow()
    sample = Envelope(
        event_id=new_event_id(),
        event_type=LatencyProbe.event_type,
        schema_version=LatencyProbe.schema_version,
        source=LATENCY_SCHEMA,
        stream_id="latency00000000-1000-True",
        stream_version=1,
        global_position=1 << 40,
        occurred_at=now,
        recorded_at=now,
        actor=METADATA.actor,
        correlation_id=METADATA.correlation_id,
        payload=LatencyProbe(n=1000).model_dump(mode="json"),
    )
    return len(sample.model_dump_json())


async def run(
    roles: Roles,
    nats_url: str,
    nats_credentials: Path | None,
    console: Console,
    *,
    seconds: float,
    rate: float = RATE,
) -> LatencyResults:
    """Benchmark 2: the pipeline (consumer apart, then together) and the JetStream baselines.

    The log and the consumer's effects are written as the log's own role, as a service
    writes; the JetStream clients connect as `nats_credentials`, as every process does.
    """
    console.print(f"[bold]Latency at {rate:,.0f} events/s for {seconds:g} s[/]")
    quiet_faststream()
    with console.status("migrating the latency schema"):
        database_url = await asyncio.to_thread(roles.migrate, LATENCY_SCHEMA)
        role = sql.Identifier(service_role(LATENCY_SCHEMA))
        async with await AsyncConnection.connect(roles.owner_url, autocommit=True) as conn:
            # No unique key on purpose: an event applied twice would show as two rows.
            await conn.execute(
                sql.SQL("CREATE TABLE {} (event_id uuid NOT NULL, n int NOT NULL)").format(_EFFECTS)
            )
            # The effect is the consumer's read model: what a service role gets on one.
            await conn.execute(
                sql.SQL("GRANT SELECT, INSERT, UPDATE ON {} TO {}").format(_EFFECTS, role)
            )
    pipelines = []
    for separate in (True, False):
        pipeline = await measure_pipeline(
            roles,
            database_url,
            nats_url,
            nats_credentials,
            console,
            rate=rate,
            seconds=seconds,
            separate_consumer=separate,
        )
        _show(console, pipeline.total, *pipeline.stages)
        pipelines.append(pipeline)
    baselines = []
    for pull in (False, True):
        result = await measure_jetstream(
            nats_url,
            nats_credentials,
            console,
            rate=rate,
            seconds=seconds,
            size=envelope_size(),
            pull=pull,
        )
        _show(console, result)
        baselines.append(result)
    return LatencyResults(rate, seconds, pipelines, baselines)


def _show(console: Console, *results: Latencies) -> None:
    for r in results:
        console.print(
            f"  {r.label}: p50 {r.p50:.1f}, p95 {r.p95:.1f}, p99 {r.p99:.1f}, "
            f"max {r.max:.1f} ms ({r.received:,}/{r.sent:,} at {r.offered_rate:,.0f}/s)"
        )
