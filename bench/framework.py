"""Benchmark 3: the framework service on a large framework (bench/framework_model.py).

1. Import and publish: parse the framework's YAML export with `formats.read`, replace the
   draft (`Frameworks.execute`), publish version 1 (`Frameworks.publish`), each run on a fresh
   framework id. Baseline: the same YAML parser on the same text, then the document as one JSONB
   row plus one row per role profile, in one transaction, with plain psycopg.
2. History: 49 more versions, each a minor revision (a few anchors reworded), published
   through the same commands; then `Frameworks.published(id, as_of=...)` at random
   instants over the history against a primary-key SELECT of the same row with plain
   psycopg, and the time to load the aggregate (`Frameworks.draft`), which every draft command
   and every publish pays.

Everything runs in this process on one connection pool configured as the service's
(`libs.platform.runtime.serve`); the service's schema is migrated as the service does it.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import gc
import json
import random
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

import yaml
from psycopg import AsyncConnection, sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from rich.console import Console

from bench.cpu import machine_busy, machine_times
from bench.framework_model import (
    COMPETENCIES_PER_FAMILY,
    FAMILIES,
    LEVELS,
    build_framework,
    reworded,
)
from libs.events.migrations import migrate
from libs.events.schemas.framework import Framework, FrameworkPublished
from libs.events.store import MAX_PAYLOAD_BYTES, EventStore
from libs.platform.stalls import StallWatch
from services.framework.adapters.files import formats, yaml_source
from services.framework.adapters.postgres.published_versions import MIGRATIONS
from services.framework.adapters.postgres.work import Database
from services.framework.application.frameworks import Frameworks, stream_of
from services.framework.domain import rules
from services.framework.domain.drafting import FrameworkAggregate
from services.framework.domain.events import DraftReplaced
from services.framework.domain.profiles import effective_profiles

SCHEMA = "framework"  # the service's own schema name (runtime.name)
RAW_SCHEMA = "bench_framework_raw"
ACTOR = "bench-hr"
SOURCE = "bench.yaml"
TARGET_VERSION = 50
POOL_SIZE = 2

_RAW_TABLES = (
    """
    CREATE TABLE {schema}.documents (
        framework_id text NOT NULL,
        version      integer NOT NULL,
        published_at timestamptz NOT NULL DEFAULT now(),
        document     jsonb NOT NULL,
        PRIMARY KEY (framework_id, version)
    )
    """,
    """
    CREATE TABLE {schema}.role_profiles (
        framework_id text NOT NULL,
        version      integer NOT NULL,
        role         text NOT NULL,
        profile      jsonb NOT NULL,
        PRIMARY KEY (framework_id, version, role)
    )
    """,
)


@dataclass(frozen=True)
class FrameworkSizes:
    import_runs: int
    """Timed import-and-publish runs of each (service and baseline); the best counts."""
    versions: int
    """Versions published before the as-of queries (the issue: 50)."""
    queries: int
    """As-of queries (and as many baseline queries)."""
    loads: int
    """Timed `Frameworks.draft` calls at the last version."""


FULL = FrameworkSizes(import_runs=5, versions=TARGET_VERSION, queries=300, loads=5)
QUICK = FrameworkSizes(import_runs=2, versions=5, queries=40, loads=2)


# -- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportRun:
    """One import and publish through the service, in seconds."""

    parse: float
    """`formats.read`: YAML parse and model validation."""
    replace: float
    """`Frameworks.execute` with `replace`: load (empty), decide, append DraftReplaced."""
    publish: float
    """`Frameworks.publish`: load, rules, decide, append the events and the version row."""
    wal_bytes: int
    stall: float
    """Longest the event loop went without running other tasks, in seconds."""

    @property
    def total(self) -> float:
        return self.parse + self.replace + self.publish


@dataclass(frozen=True)
class BaselineRun:
    parse: float
    """`yaml.load` with the loader the service uses (libyaml's when present)."""
    store: float
    """One transaction: the document row and one row per role profile."""
    wal_bytes: int

    @property
    def total(self) -> float:
        return self.parse + self.store


@dataclass(frozen=True)
class Written:
    """What one import-and-publish wrote, by kind of row."""

    what: str
    rows: int
    json_bytes: int
    """As sent: the payloads' JSON text."""
    stored_bytes: int
    """`pg_column_size` of the JSONB values (after TOAST compression)."""


@dataclass(frozen=True)
class Spread:
    """Durations in milliseconds."""

    samples: int
    p50: float
    p99: float
    max: float
    mean: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Spread:
        ms = sorted(s * 1000 for s in seconds)
        if len(ms) < 2:
            value = ms[0] if ms else float("nan")
            return cls(len(ms), value, value, value, value)
        cuts = statistics.quantiles(ms, n=100, method="inclusive")
        return cls(len(ms), cuts[49], cuts[98], ms[-1], statistics.fmean(ms))


@dataclass(frozen=True)
class LoadRun:
    total: float
    read: float
    """`EventStore.read_stream` alone (query, transfer, psycopg's JSON parse)."""
    decode: float
    """Decoding and applying the envelopes read (pydantic validation)."""
    stall: float
    without_gc: float
    """`Frameworks.draft` again with Python's cyclic garbage collector paused (diagnostic)."""


@dataclass
class FrameworkResults:
    sizes: FrameworkSizes
    shape: dict[str, int] = field(default_factory=dict)
    yaml_bytes: int = 0
    warnings: list[str] = field(default_factory=list)
    imports: list[ImportRun] = field(default_factory=list)
    baselines: list[BaselineRun] = field(default_factory=list)
    domain: dict[str, float] = field(default_factory=dict)
    """CPU-only steps of publishing version 1, best of 3, in seconds."""
    written: list[Written] = field(default_factory=list)
    baseline_written: list[Written] = field(default_factory=list)
    published_bytes: int = 0
    """JSON size of FrameworkPublished's payload (what `MAX_PAYLOAD_BYTES` limits)."""
    largest_event: tuple[str, int] = ("", 0)
    history: list[float] = field(default_factory=list)
    """Seconds to publish each of versions 2.. (replace + publish)."""
    revisions: dict[str, int] = field(default_factory=dict)
    stream_events: int = 0
    stream_json_bytes: int = 0
    """The stream's payloads in jsonb's text form (a few % over compact JSON)."""
    as_of: Spread | None = None
    by_key: Spread | None = None
    as_of_stall: float = 0.0
    loads: list[LoadRun] = field(default_factory=list)
    busy: dict[str, float] = field(default_factory=dict)
    """How busy the machine was (all cores, 0 to 1) during each phase."""

    @property
    def best_import(self) -> ImportRun:
        return min(self.imports, key=lambda r: r.total)

    @property
    def best_baseline(self) -> BaselineRun:
        return min(self.baselines, key=lambda r: r.total)

    @property
    def ratio(self) -> float:
        """Service time / baseline time, best runs: how many times the baseline's time."""
        return self.best_import.total / self.best_baseline.total

    @property
    def versions(self) -> int:
        return self.sizes.versions


# -- measuring helpers ----------------------------------------------------------------------


def stall_watch() -> StallWatch:
    """The longest time the event loop ran a 1 ms ticker late: how long the measured code
    blocked every other request a service process would be serving (the services' own
    watch, libs/platform/stalls.py, with a finer ticker and no warnings)."""
    return StallWatch(interval=0.001)


async def wal_position(pool: AsyncConnectionPool) -> str:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT pg_current_wal_insert_lsn()::text")
        row = await cur.fetchone()
        assert row is not None
        return str(row[0])


async def wal_since(pool: AsyncConnectionPool, start: str) -> int:
    """WAL bytes written since `start` (by the whole server: approximate if it is shared)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)", (start,)
        )
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])


T = TypeVar("T")


def best_of(repeats: int, fn: Callable[[], T]) -> tuple[float, T]:
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result  # type: ignore[return-value]


# -- 1. import and publish ------------------------------------------------------------------


async def service_import(
    store: EventStore, frameworks: Frameworks, text: str, framework_id: str
) -> ImportRun:
    """Parse, replace the draft, publish version 1: the service's import and publish."""
    wal = await wal_position(store.pool)
    async with stall_watch() as stall:
        started = time.perf_counter()
        result = formats.read(text, SOURCE, "yaml")
        framework = result.framework
        parsed = time.perf_counter()
        if framework is None or result.errors:
            raise AssertionError(f"the benchmark framework does not import: {result.errors}")
        await frameworks.execute(framework_id, ACTOR, lambda a: a.replace(framework, SOURCE))
        replaced = time.perf_counter()
        published, _ = await frameworks.publish(framework_id, ACTOR)
        done = time.perf_counter()
    assert published.version == 1
    return ImportRun(
        parse=parsed - started,
        replace=replaced - parsed,
        publish=done - replaced,
        wal_bytes=await wal_since(store.pool, wal),
        stall=stall.longest,
    )


def raw_statements() -> tuple[sql.Composed, sql.Composed]:
    schema = sql.Identifier(RAW_SCHEMA)
    document = sql.SQL(
        "INSERT INTO {}.documents (framework_id, version, document) VALUES (%s, 1, %s)"
    ).format(schema)
    role = sql.SQL(
        "INSERT INTO {}.role_profiles (framework_id, version, role, profile) VALUES (%s, 1, %s, %s)"
    ).format(schema)
    return document, role


async def baseline_import(pool: AsyncConnectionPool, text: str, framework_id: str) -> BaselineRun:
    """The same YAML parser as the service's, then the document and one row per role in one
    transaction."""
    insert_document, insert_role = raw_statements()
    wal = await wal_position(pool)
    started = time.perf_counter()
    data = yaml.load(text, Loader=yaml_source.Loader)
    document = {k: v for k, v in data.items() if k not in ("format", "id")}
    parsed = time.perf_counter()
    async with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        await cur.execute(insert_document, (framework_id, Jsonb(document)))
        await cur.executemany(
            insert_role, [(framework_id, r["key"], Jsonb(r)) for r in document["roles"]]
        )
    done = time.perf_counter()
    return BaselineRun(
        parse=parsed - started, store=done - parsed, wal_bytes=await wal_since(pool, wal)
    )


def json_size(value: object) -> int:
    """Bytes of `value` as compact JSON (as the store sends payloads: model_dump_json)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


async def written_by(store: EventStore, framework_id: str) -> list[Written]:
    """The events (by type) and the version row one import-and-publish wrote."""
    stream = stream_of(framework_id)
    tally: dict[str, tuple[int, int]] = {}
    for envelope in await store.read_stream(stream):
        rows, size = tally.get(envelope.event_type, (0, 0))
        tally[envelope.event_type] = (rows + 1, size + json_size(envelope.payload))
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            sql.SQL(
                "SELECT event_type, sum(pg_column_size(payload)) FROM {} WHERE stream_id = %s "
                "GROUP BY event_type"
            ).format(sql.Identifier(SCHEMA, "events")),
            (stream,),
        )
        stored = {str(t): int(n) for t, n in await cur.fetchall()}
        cur = await conn.execute(
            sql.SQL(
                "SELECT framework, pg_column_size(framework) FROM {} WHERE framework_id = %s"
            ).format(sql.Identifier(SCHEMA, "published_versions")),
            (framework_id,),
        )
        versions = await cur.fetchall()
    written = [
        Written(f"event {event_type}", rows, size, stored[event_type])
        for event_type, (rows, size) in tally.items()
    ]
    written.append(
        Written(
            "row published_versions",
            len(versions),
            sum(json_size(v[0]) for v in versions),
            sum(int(v[1]) for v in versions),
        )
    )
    return written


async def event_sizes(store: EventStore, framework_id: str) -> tuple[int, tuple[str, int]]:
    """The JSON size of FrameworkPublished's payload, and the largest event's type and size."""
    published, largest = 0, ("", 0)
    for envelope in await store.read_stream(stream_of(framework_id)):
        event = await store.decode(envelope)
        size = len(event.model_dump_json().encode())
        if isinstance(event, FrameworkPublished):
            published = size
        if size > largest[1]:
            largest = (envelope.event_type, size)
    return published, largest


async def baseline_written(pool: AsyncConnectionPool, framework_id: str) -> list[Written]:
    out = []
    async with pool.connection() as conn:
        for table, column in (("documents", "document"), ("role_profiles", "profile")):
            cur = await conn.execute(
                sql.SQL("SELECT {c}, pg_column_size({c}) FROM {t} WHERE framework_id = %s").format(
                    c=sql.Identifier(column), t=sql.Identifier(RAW_SCHEMA, table)
                ),
                (framework_id,),
            )
            rows = await cur.fetchall()
            out.append(
                Written(
                    f"row {table}",
                    len(rows),
                    sum(json_size(r[0]) for r in rows),
                    sum(int(r[1]) for r in rows),
                )
            )
    return out


def domain_steps(framework: Framework) -> dict[str, float]:
    """The CPU-only parts of publishing version 1, without the database."""
    aggregate = FrameworkAggregate("bench-domain")
    aggregate.apply(DraftReplaced(framework=framework, source=SOURCE), 1)
    now = datetime.now().astimezone()
    steps: dict[str, float] = {}
    steps["rules.validate"], _ = best_of(3, lambda: rules.validate(framework))
    steps["aggregate.publish (rules, profiles, events)"], (events, _) = best_of(
        3, lambda: aggregate.publish(now)
    )
    steps["events to JSON (model_dump_json)"], _ = best_of(
        3, lambda: [e.model_dump_json() for e in events]
    )
    return steps


# -- 2. history, as-of queries and the aggregate's load -------------------------------------


async def publish_history(
    store: EventStore,
    frameworks: Frameworks,
    base: Framework,
    framework_id: str,
    upto: int,
    console: Console,
    results: FrameworkResults,
) -> list[datetime]:
    """Publish versions 2..upto of `framework_id`; return every version's published_at."""
    for version in range(2, upto + 1):
        draft = reworded(base, version)
        with console.status(f"publishing version {version}/{upto}"):
            started = time.perf_counter()
            await frameworks.execute(framework_id, ACTOR, lambda a, d=draft: a.replace(d, SOURCE))
            published, _ = await frameworks.publish(framework_id, ACTOR)
            results.history.append(time.perf_counter() - started)
        assert published.version == version
        results.revisions[published.revision] = results.revisions.get(published.revision, 0) + 1
        if version in (2, upto) or version % 10 == 0:  # the report's milestones
            console.print(
                f"  version {version}: replace + publish {results.history[-1] * 1000:,.0f} ms"
            )
    history = await frameworks.history(framework_id)
    assert [v.version for v in history] == list(range(1, upto + 1))
    return [v.published_at for v in history]


async def measure_as_of(
    pool: AsyncConnectionPool,
    frameworks: Frameworks,
    framework_id: str,
    instants: list[datetime],
    queries: int,
    results: FrameworkResults,
) -> None:
    """`published(as_of=...)` at random instants over the history, against a PK SELECT of the
    same row; the two take turns, the first of each pair alternating."""
    rng = random.Random(50)
    first, last = instants[0], instants[-1]
    span = (last - first).total_seconds()
    # A little past the last version too: "now" is the commonest as-of.
    points = [first + timedelta(seconds=rng.uniform(0, span * 1.02)) for _ in range(queries)]
    select = sql.SQL("SELECT framework FROM {} WHERE framework_id = %s AND version = %s").format(
        sql.Identifier(SCHEMA, "published_versions")
    )

    async def ours(at: datetime, expected: int) -> None:
        found = await frameworks.published(framework_id, as_of=at)
        assert found is not None
        assert found.version == expected, (at, found.version, expected)

    async def baseline(at: datetime, expected: int) -> None:
        async with pool.connection() as conn:
            cur = await conn.execute(select, (framework_id, expected))
            row = await cur.fetchone()
        assert row is not None
        assert isinstance(row[0], dict)

    timings: dict[str, list[float]] = {"ours": [], "baseline": []}
    calls: dict[str, Callable[[datetime, int], Awaitable[None]]] = {
        "ours": ours,
        "baseline": baseline,
    }
    for at in points[:10]:  # warm-up
        expected = bisect.bisect_right(instants, at)
        await ours(at, expected)
        await baseline(at, expected)
    async with stall_watch() as stall:
        for i, at in enumerate(points):
            expected = bisect.bisect_right(instants, at)
            order = ("ours", "baseline") if i % 2 else ("baseline", "ours")
            for name in order:
                started = time.perf_counter()
                await calls[name](at, expected)
                timings[name].append(time.perf_counter() - started)
    results.as_of = Spread.of(timings["ours"])
    results.by_key = Spread.of(timings["baseline"])
    results.as_of_stall = stall.longest


async def measure_load(
    store: EventStore, frameworks: Frameworks, framework_id: str, repeats: int
) -> list[LoadRun]:
    runs = []
    for _ in range(repeats):
        async with stall_watch() as stall:
            started = time.perf_counter()
            aggregate = await frameworks.draft(framework_id)
            total = time.perf_counter() - started
        # The same work in two parts, to say where the time goes.
        started = time.perf_counter()
        envelopes = await store.read_stream(stream_of(framework_id))
        read = time.perf_counter() - started
        started = time.perf_counter()
        again = FrameworkAggregate(framework_id)
        for envelope in envelopes:
            again.apply(await store.decode(envelope), envelope.stream_version)
        decode = time.perf_counter() - started
        assert again.stream_version == aggregate.stream_version
        del envelopes, again, aggregate
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter()
            await frameworks.draft(framework_id)
            without_gc = time.perf_counter() - started
        finally:
            gc.enable()
        runs.append(LoadRun(total, read, decode, stall.longest, without_gc))
    return runs


async def stream_size(pool: AsyncConnectionPool, framework_id: str) -> tuple[int, int]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            sql.SQL(
                "SELECT count(*), coalesce(sum(octet_length(payload::text)), 0) FROM {} "
                "WHERE stream_id = %s"
            ).format(sql.Identifier(SCHEMA, "events")),
            (stream_of(framework_id),),
        )
        row = await cur.fetchone()
        assert row is not None
        return int(row[0]), int(row[1])


# -- running --------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def service_pool(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    """Configured as the service's pool (runtime.serve): transactions implicit."""
    async with AsyncConnectionPool(
        database_url, min_size=POOL_SIZE, max_size=POOL_SIZE, open=False
    ) as pool:
        await pool.wait()
        yield pool


async def prepare(database_url: str) -> None:
    await asyncio.to_thread(migrate, database_url, SCHEMA, MIGRATIONS)
    async with await AsyncConnection.connect(database_url, autocommit=True) as conn:
        schema = sql.Identifier(RAW_SCHEMA)
        await conn.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
        for statement in _RAW_TABLES:
            await conn.execute(sql.SQL(statement).format(schema=schema))


def describe(framework: Framework) -> dict[str, int]:
    """The framework's size; checks the shape the benchmark promises."""
    per_family: dict[str, set[str]] = {}
    for profile in effective_profiles(framework).values():
        per_family.setdefault(profile.family, set()).update(
            q.competency for q in profile.requirements
        )
    counts = {len(keys) for keys in per_family.values()}
    tracks = {len(f.tracks) for f in framework.families}
    levels = {len(t.levels) for f in framework.families for t in f.tracks}
    if (len(per_family), counts, tracks, levels) != (
        FAMILIES,
        {COMPETENCIES_PER_FAMILY},
        {2},
        {LEVELS},
    ):
        raise AssertionError(f"unexpected framework shape: {counts=} {tracks=} {levels=}")
    return {
        "job families": len(framework.families),
        "tracks per family": 2,
        "levels per track": LEVELS,
        "competencies per family (in its role profiles)": COMPETENCIES_PER_FAMILY,
        "competencies in the catalogue": len(framework.competencies),
        "anchors": sum(len(c.anchors) for c in framework.competencies),
        "role profiles": len(framework.roles),
        "requirements in role profiles": sum(len(r.requirements) for r in framework.roles),
        "deployment rules": len(framework.rules),
    }


async def run(database_url: str, console: Console, sizes: FrameworkSizes) -> FrameworkResults:
    results = FrameworkResults(sizes=sizes)
    console.print(
        f"[bold]Framework: {FAMILIES} families x 2 tracks x {LEVELS} levels x "
        f"{COMPETENCIES_PER_FAMILY} competencies[/]"
    )
    base = build_framework()
    problems = rules.validate(base)
    if failing := rules.errors(problems):
        raise AssertionError(f"the benchmark framework breaks publication rules: {failing}")
    results.warnings = sorted({p.rule for p in problems})
    results.shape = describe(base)
    text = formats.write(base, "bench", "yaml")
    results.yaml_bytes = len(text.encode())
    sample = FrameworkPublished(
        framework_id="bench",
        version=1,
        revision="initial",
        published_at=datetime.now().astimezone(),
        framework=base,
    )
    if len(sample.model_dump_json().encode()) > MAX_PAYLOAD_BYTES:
        raise AssertionError("the benchmark framework does not fit one event")
    results.domain = domain_steps(base)
    with console.status("migrating the framework schema"):
        await prepare(database_url)
    async with service_pool(database_url) as pool:
        store = EventStore(pool, SCHEMA)
        frameworks = Frameworks(store, Database(store))
        try:
            await _measure(store, frameworks, pool, base, text, console, results)
        finally:
            await store.close()
    return results


@contextlib.contextmanager
def phase(results: FrameworkResults, name: str) -> Iterator[None]:
    """Record how busy the machine was while the block ran."""
    before = machine_times()
    yield
    results.busy[name] = machine_busy(before, machine_times())


async def _measure(
    store: EventStore,
    frameworks: Frameworks,
    pool: AsyncConnectionPool,
    base: Framework,
    text: str,
    console: Console,
    results: FrameworkResults,
) -> None:
    await _imports(store, frameworks, pool, text, console, results)
    # The first measured import's framework goes on to version N.
    framework_id = "import-1"
    results.written = await written_by(store, framework_id)
    results.baseline_written = await baseline_written(pool, framework_id)
    results.published_bytes, results.largest_event = await event_sizes(store, framework_id)
    console.print(
        f"  FrameworkPublished payload {results.published_bytes:,} bytes, "
        f"{results.published_bytes / MAX_PAYLOAD_BYTES:.1%} of MAX_PAYLOAD_BYTES"
    )
    n = results.versions
    console.print(f"[bold]Framework history: versions 2 to {n}[/]")
    with phase(results, "history"):
        instants = await publish_history(store, frameworks, base, framework_id, n, console, results)
    results.stream_events, results.stream_json_bytes = await stream_size(pool, framework_id)
    with console.status(f"as-of queries at version {n}"), phase(results, "as-of"):
        await measure_as_of(
            pool, frameworks, framework_id, instants, results.sizes.queries, results
        )
    assert results.as_of is not None
    assert results.by_key is not None
    console.print(
        f"  find(as_of): p50 {results.as_of.p50:.1f} ms, p99 {results.as_of.p99:.1f} ms; "
        f"PK SELECT: p50 {results.by_key.p50:.1f} ms, p99 {results.by_key.p99:.1f} ms"
    )
    with console.status(f"loading the aggregate at version {n}"), phase(results, "load"):
        results.loads = await measure_load(store, frameworks, framework_id, results.sizes.loads)
    best = min(results.loads, key=lambda r: r.total)
    console.print(
        f"  Frameworks.draft at version {n}: {best.total * 1000:,.0f} ms "
        f"({best.without_gc * 1000:,.0f} ms with the GC paused; {results.stream_events} events, "
        f"{results.stream_json_bytes / 1e6:.1f} MB of JSON)"
    )


async def _imports(
    store: EventStore,
    frameworks: Frameworks,
    pool: AsyncConnectionPool,
    text: str,
    console: Console,
    results: FrameworkResults,
) -> None:
    """Import and publish, in turns with the baseline, reversing the order every round."""
    runs = results.sizes.import_runs
    with console.status("import and publish, warming up"):
        await service_import(store, frameworks, text, "warm-up")
        await baseline_import(pool, text, "warm-up")
    with phase(results, "import"):
        for run in range(1, runs + 1):
            framework_id = f"import-{run}"
            order = ("service", "baseline") if run % 2 else ("baseline", "service")
            for which in order:
                with console.status(f"import and publish, {which}, run {run}/{runs}"):
                    if which == "service":
                        results.imports.append(
                            await service_import(store, frameworks, text, framework_id)
                        )
                    else:
                        results.baselines.append(await baseline_import(pool, text, framework_id))
            ours, raw = results.imports[-1], results.baselines[-1]
            console.print(
                f"  run {run}/{runs}: service {ours.total * 1000:,.0f} ms (parse "
                f"{ours.parse * 1000:,.0f}, replace {ours.replace * 1000:,.0f}, publish "
                f"{ours.publish * 1000:,.0f}); baseline {raw.total * 1000:,.0f} ms (parse "
                f"{raw.parse * 1000:,.0f}, store {raw.store * 1000:,.0f})"
            )
    console.print(f"  ratio service/baseline (best runs): [bold]{results.ratio:.2f}[/]")
