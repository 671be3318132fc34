"""Benchmark 4: a 360 campaign at full size, through the assessment service's own code.

A generated organisation (bench/assessment_model.py): 10,000 people, six raters each, ten
competencies per person, so 60,000 submissions and 600,000 ratings. The org chart and the
framework replica are seeded through their event handlers, the campaign is opened, peers
nominated and approved and most submissions made through the service's application modules
(8 concurrent tasks). Then, measured:

1. Submission ingest through the HTTP API: a sample of the submissions sent as `PUT
   /campaigns/{id}/submissions/{subject}` with each rater's token, by 8 concurrent clients on
   the service's FastAPI app in this process (httpx's ASGI transport). Baseline: the same
   submissions as plain psycopg INSERTs, one row per submission with its answers as JSONB,
   one transaction each, at the same concurrency. In rounds, taking turns.
2. Submission ingest through events: the outbox relay publishes the sample's events from the
   log to JetStream and a consumer in its own process, registered with `subscribe`, applies
   each `AssessmentSubmitted` in its inbox transaction. Baseline: JetStream alone, as many
   messages of the same size, published pipelined and pulled by a process of its own.
3. Aggregation of the whole population, after closing the campaign: `results.ratings`,
   `aggregate`, `subject_view` and the calibration signals. Baseline: the same rows read with
   plain psycopg into tuples, and a plain-Python pass computing each (subject, competency)'s
   mean.
4. Memory: the traced peak of reading and aggregating everything, against the size of the
   raw rating tuples.

Run as `python -m bench.assessment events|raw`, this module is the consumer process of 2.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import gc
import io
import json
import logging
import os
import pstats
import resource
import secrets
import sys
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO, TypeVar
from uuid import UUID, uuid4

import httpx
import jwt
import nats
import psutil
from cryptography.hazmat.primitives import serialization
from faststream.nats import NatsBroker
from nats.js import JetStreamContext, api
from psycopg import AsyncConnection, sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench.assessment_model import COMPETENCIES, RATERS, Organisation, Planned, organisation
from bench.children import child
from bench.cpu import CpuProbe, CpuUse, machine_busy, machine_times, nats_processes
from bench.cpu import postgres_processes as postgres_of
from bench.framework_model import build_framework
from bench.latency import quiet_faststream
from bench.stack import Roles, connect_nats, nats_env, nats_from_env
from libs.events.broker import ensure_streams, make_broker
from libs.events.consumer import BATCH_SIZE, EventHandler, pull_batch, subscribe
from libs.events.envelope import Envelope
from libs.events.migrations import migrate
from libs.events.migrations.roles import service_role
from libs.events.registry import IntegrationEvent
from libs.events.relay import OutboxRelay
from libs.events.schemas.assessment import AssessmentSubmitted
from libs.events.schemas.framework import Framework, FrameworkPublished, RoleProfileChanged
from libs.events.store import EventStore
from libs.events.subjects import EVENT_STREAM, context_subjects, every_version
from libs.personal.vault import MasterKeys, PostgresDataKeys
from libs.platform.auth import ALGORITHM, TokenVerifier, ensure_dev_keypair
from libs.platform.pagination import every_item_async
from libs.platform.runtime import Runtime
from libs.platform.settings import Settings
from libs.replicas.framework_versions import FrameworkVersions
from libs.replicas.org_chart import OrgChart
from services.assessment.adapters.postgres.campaign_records import CampaignTables
from services.assessment.adapters.postgres.work import Database
from services.assessment.application import closing, launching, nominations, rating
from services.assessment.application.campaigns import Campaigns
from services.assessment.application.launching import Population
from services.assessment.application.results import ratings as campaign_ratings
from services.assessment.domain.aggregation import aggregate, subject_view
from services.assessment.domain.calibration import (
    inconsistent_anchors,
    outliers,
    rater_offsets,
)
from services.assessment.domain.submissions import Answer
from services.assessment.service import build, definition
from services.framework.domain.profiles import effective_profiles
from talentledger.stack.database import migrate_personal_data_keys

# Not the service's own schema name: the relay publishes on talentledger.<schema>.…, and a
# shared NATS must not see benchmark submissions on the assessment service's subjects.
SCHEMA = "bench_assessment"
CONSUMER_SCHEMA = "bench_assessment_consumer"
RAW_SCHEMA = "bench_assessment_raw"
CAMPAIGN = "bench-360"
FRAMEWORK_ID = "bench-framework"
HR = "bench-hr"
POOL_SIZE = 10  # as runtime.serve configures a service's pool
CLIENTS = 8
ORG_CHART_BATCH = 500
DELIVERY_TIMEOUT = 300.0
EVENTS_SUBJECT = context_subjects(SCHEMA)

_RAW_TABLE = """
CREATE TABLE {table} (
    campaign_id    text NOT NULL,
    subject        text NOT NULL,
    rater          text NOT NULL,
    rater_group    text NOT NULL,
    final          boolean NOT NULL,
    answers        jsonb NOT NULL,
    stream_version integer NOT NULL,
    PRIMARY KEY (campaign_id, subject, rater)
)
"""
# The service's submissions upsert (CampaignRecords), into a table of the same shape.
_RAW_INSERT = """
INSERT INTO {table} (campaign_id, subject, rater, rater_group, final, answers, stream_version)
VALUES (%s, %s, %s, %s, %s, %s, 1)
ON CONFLICT (campaign_id, subject, rater) DO UPDATE SET
rater_group = excluded.rater_group, final = excluded.final, answers = excluded.answers,
stream_version = excluded.stream_version
"""
_RESPONSES_TABLE = """
CREATE TABLE {table} (
    event_id    uuid PRIMARY KEY,
    campaign_id text NOT NULL,
    subject     text NOT NULL,
    rater_group text NOT NULL,
    final       boolean NOT NULL
)
"""

T = TypeVar("T")


@dataclass(frozen=True)
class AssessmentSizes:
    people: int
    api_submissions: int
    """Submissions timed through the HTTP API (and as many raw INSERTs)."""
    rounds: int
    """The API sample is sent in this many parts, in turns with the baseline."""
    aggregation_runs: int
    """Timed runs of the aggregation and of its baseline; the best counts."""
    profile: bool = False
    """Also profile people's requests (`--profile`): the nominations while seeded, and
    `PROFILED` held-back submissions, questionnaires and assignments through the API."""


# Requests of each kind profiled with `--profile`, apart from the timed sample.
PROFILED = 300


FULL = AssessmentSizes(people=10_000, api_submissions=5_000, rounds=2, aggregation_runs=3)
QUICK = AssessmentSizes(people=300, api_submissions=300, rounds=2, aggregation_runs=2)


# -- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """`count` things done in `seconds`, and the CPU it took."""

    count: int
    seconds: float
    cpu: CpuUse | None = None

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else float("nan")

    def cpu_us(self, group: str) -> float | None:
        """CPU microseconds per thing of one group of processes."""
        seconds = self.cpu.seconds.get(group) if self.cpu else None
        return None if seconds is None else seconds / self.count * 1e6


@dataclass(frozen=True)
class Delivery:
    """A backlog of events taken from its source to a consumer."""

    events: int
    published: float
    """Seconds from the start until JetStream acknowledged the last one."""
    delivered: float
    """Seconds from the start until the consumer finished the last one."""
    cpu: CpuUse | None

    @property
    def rate(self) -> float:
        return self.events / self.delivered

    @property
    def publish_rate(self) -> float:
        return self.events / self.published


@dataclass(frozen=True)
class Memory:
    peak: int
    """Traced bytes at the peak of reading, aggregating and viewing everything."""
    ratings: int
    """Retained by the `Rating` list `results.ratings` returns."""
    results: int
    """Retained by the `CompetencyResult`s and the subject views."""
    raw_tuples: int
    """Retained by the same ratings as plain tuples (the baseline's)."""
    maxrss_delta: int
    """How far the process's maximum resident set rose over the first aggregation run."""
    maxrss: int


@dataclass
class AssessmentResults:
    sizes: AssessmentSizes
    people: int = 0
    submissions: int = 0
    ratings: int = 0
    groups: dict[str, int] = field(default_factory=dict)
    nominated: int = 0
    setup: dict[str, float] = field(default_factory=dict)
    """Seconds per setup step."""
    nominations: Rate | None = None
    """Nominate and approve commands through the application's `nominations`."""
    seeded: Rate | None = None
    """Submissions through `rating.submit`."""
    api: list[Rate] = field(default_factory=list)
    raw: list[Rate] = field(default_factory=list)
    health: Rate | None = None
    """`GET /health` through the same client and app: the HTTP stack's own cost."""
    events: Delivery | None = None
    jetstream: Delivery | None = None
    message_bytes: int = 0
    close: float = 0.0
    steps: dict[str, list[float]] = field(default_factory=dict)
    """Seconds per aggregation step, every run."""
    baseline: dict[str, list[float]] = field(default_factory=dict)
    results_http: tuple[float, int] = (0.0, 0)
    """`GET /campaigns/{id}/results` for everyone: seconds and response bytes."""
    memory: Memory | None = None
    found: dict[str, int] = field(default_factory=dict)
    """What aggregation and calibration found, as a sanity check."""
    busy: dict[str, float] = field(default_factory=dict)
    """How busy the machine was (all cores, 0 to 1) during each phase."""
    cores: int = field(default_factory=lambda: psutil.cpu_count() or 1)

    @property
    def api_best(self) -> Rate:
        return max(self.api, key=lambda r: r.rate)

    @property
    def raw_best(self) -> Rate:
        return max(self.raw, key=lambda r: r.rate)


# -- helpers --------------------------------------------------------------------------------


@contextlib.contextmanager
def phase(results: AssessmentResults, name: str) -> Iterator[None]:
    """Record how busy the machine was while the block ran."""
    before = machine_times()
    yield
    results.busy[name] = machine_busy(before, machine_times())


@contextlib.contextmanager
def progress(console: Console, label: str, total: int) -> Iterator[Callable[[], None]]:
    """A progress bar; yields the function that advances it by one."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)


async def concurrently(
    items: Sequence[T], workers: int, work: Callable[[T], Awaitable[None]], done: Callable[[], None]
) -> float:
    """Run `work` on every item, `workers` at a time; return the seconds it took."""
    queue = iter(items)  # shared: each worker takes the next item when it is free

    async def worker() -> None:
        for item in queue:
            await work(item)
            done()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return time.perf_counter() - started


def envelope(event: IntegrationEvent, stream_id: str, version: int = 1) -> Envelope:
    """An envelope as another context's relay would deliver `event`."""
    now = datetime.now(UTC)
    return Envelope(
        event_id=uuid4(),
        event_type=event.event_type,
        schema_version=event.schema_version,
        source=event.context,
        stream_id=stream_id,
        stream_version=version,
        global_position=0,
        occurred_at=now,
        recorded_at=now,
        actor="bench",
        correlation_id=uuid4(),
        payload=event.model_dump(mode="json"),
    )


class Tokens:
    """Bearer tokens as the development key signs them; the key is parsed once, since
    loading it takes longer than signing."""

    def __init__(self, private_key: Path, settings: Settings) -> None:
        self.key = serialization.load_pem_private_key(private_key.read_bytes(), password=None)
        self.settings = settings
        self._minted: dict[str, dict[str, str]] = {}

    def headers(self, subject: str, *roles: str) -> dict[str, str]:
        if subject not in self._minted:
            now = datetime.now(UTC)
            claims = {
                "sub": subject,
                "roles": list(roles or ("employee",)),
                "iss": self.settings.jwt_issuer,
                "aud": self.settings.jwt_audience,
                "iat": now,
                "exp": now + timedelta(hours=12),
            }
            token = jwt.encode(claims, self.key, algorithm=ALGORITHM)  # type: ignore[arg-type]
            self._minted[subject] = {"Authorization": f"Bearer {token}"}
        return self._minted[subject]


def answers_of(planned: Planned) -> list[Answer]:
    return [Answer(item=i, value=v, comment=c) for i, v, c in planned.answers]


def body_of(planned: Planned) -> bytes:
    answers = [{"item": i, "value": v, "comment": c} for i, v, c in planned.answers]
    return json.dumps({"answers": answers, "final": True}).encode()


# -- setup ----------------------------------------------------------------------------------


async def prepare(database_url: str) -> None:
    """Every schema and table as one role (the review-cycle benchmark's baseline database)."""
    await asyncio.to_thread(migrate, database_url, SCHEMA, *definition.migrations)
    await asyncio.to_thread(migrate, database_url, CONSUMER_SCHEMA)
    async with await AsyncConnection.connect(database_url, autocommit=True) as conn:
        await _tables(conn)


async def prepare_roles(roles: Roles) -> tuple[str, str]:
    """The schemas migrated by the owner, each for a role of its own as a service's is: the
    benchmark's assessment service writes as one, its consumer process as another. Returns
    their URLs (service, consumer).

    The baseline's raw table is the owner's and the service's role may read and upsert
    there (a read model's rights), so the raw upserts pay for the same role and connection.
    """
    service_url = await asyncio.to_thread(roles.migrate, SCHEMA, *definition.migrations)
    consumer_url = await asyncio.to_thread(roles.migrate, CONSUMER_SCHEMA)
    # Submissions' comments are sealed as a deployed service seals them (docs/privacy.md).
    await asyncio.to_thread(migrate_personal_data_keys, roles.owner_url, [service_role(SCHEMA)])
    rights = sql.SQL("GRANT SELECT, INSERT, UPDATE ON {} TO {}")
    async with await AsyncConnection.connect(roles.owner_url, autocommit=True) as conn:
        raw, responses = await _tables(conn)
        service = sql.Identifier(service_role(SCHEMA))
        await conn.execute(
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(RAW_SCHEMA), service)
        )
        await conn.execute(rights.format(raw, service))
        await conn.execute(rights.format(responses, sql.Identifier(service_role(CONSUMER_SCHEMA))))
    return service_url, consumer_url


async def _tables(conn: AsyncConnection[Any]) -> tuple[sql.Identifier, sql.Identifier]:
    """The baseline's raw submissions and the consumer's effect; returns both tables."""
    raw = sql.Identifier(RAW_SCHEMA, "submissions")
    responses = sql.Identifier(CONSUMER_SCHEMA, "responses")
    await conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(RAW_SCHEMA)))
    await conn.execute(sql.SQL(_RAW_TABLE).format(table=raw))
    await conn.execute(sql.SQL(_RESPONSES_TABLE).format(table=responses))
    return raw, responses


async def seed_org_chart(store: EventStore, org: Organisation, schema: str = SCHEMA) -> None:
    """Every person hired, through the org chart's EmployeeHired handler."""
    org_chart = OrgChart(schema)
    for start in range(0, len(org.hires), ORG_CHART_BATCH):
        async with store.transaction() as conn:
            for hire in org.hires[start : start + ORG_CHART_BATCH]:
                await org_chart.hired(conn, envelope(hire, f"employee-{hire.employee_id}"), hire)


async def seed_framework(store: EventStore, framework: Framework, schema: str = SCHEMA) -> None:
    """Version 1 as the framework service's FrameworkPublished and RoleProfileChanged deliver
    it, through the replica's handlers."""
    replica = FrameworkVersions(schema)
    stream = f"framework-{FRAMEWORK_ID}"
    published = FrameworkPublished(
        framework_id=FRAMEWORK_ID,
        version=1,
        revision="initial",
        published_at=datetime.now(UTC),
        framework=framework,
    )
    async with store.transaction() as conn:
        await replica.apply(conn, envelope(published, stream), published)
        for role in effective_profiles(framework).values():
            changed = RoleProfileChanged(
                framework_id=FRAMEWORK_ID, version=1, change="added", role=role
            )
            await replica.apply_role(conn, envelope(changed, stream), changed)


async def seed_nominations(
    campaigns: Campaigns, org: Organisation, console: Console
) -> tuple[int, float]:
    """Each subject nominates their peers, then their manager approves each."""
    managers = org.managers()
    subjects = sorted(org.peers)
    commands = 2 * sum(len(p) for p in org.peers.values())

    async def nominate(subject: str) -> None:
        manager = managers[subject]
        assert manager is not None
        for peer in org.peers[subject]:
            await nominations.nominate(
                campaigns, CAMPAIGN, subject, peer, subject, datetime.now(UTC)
            )
        for peer in org.peers[subject]:
            await nominations.decide_nomination(
                campaigns, CAMPAIGN, subject, peer, True, manager, datetime.now(UTC)
            )

    with progress(console, f"nominating peers of {len(subjects):,} people", len(subjects)) as done:
        seconds = await concurrently(subjects, CLIENTS, nominate, done)
    return commands, seconds


async def seed_submissions(
    campaigns: Campaigns, planned: Sequence[Planned], console: Console
) -> float:
    async def submit(p: Planned) -> None:
        recorded = await rating.submit(
            campaigns, CAMPAIGN, p.subject, p.rater, answers_of(p), True, datetime.now(UTC)
        )
        assert recorded, f"{p.rater} on {p.subject} was not recorded"

    with progress(console, "submitting through rating.submit", len(planned)) as done:
        return await concurrently(planned, CLIENTS, submit, done)


# -- 1. ingest through the API --------------------------------------------------------------


@asynccontextmanager
async def service_api(
    pool: AsyncConnectionPool, store: EventStore, campaigns: Campaigns, keys: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, Tokens]]:
    """The service's FastAPI app in this process, behind an httpx client, with real tokens."""
    private, public = ensure_dev_keypair(keys)
    settings = Settings.model_validate({"TALENTLEDGER_JWT_PUBLIC_KEY_FILE": public})
    # The HTTP API needs neither the broker nor Temporal (the relay is measured on its own).
    runtime = Runtime(SCHEMA, settings, pool, store, broker=None, temporal=None)  # type: ignore[arg-type]
    app = build(runtime).api
    app.state.runtime = runtime
    app.state.token_verifier = TokenVerifier(settings)
    # build() reads the replica from the service's own schema name; ours is SCHEMA.
    app.state.campaigns = campaigns
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://assessment") as client:
        yield client, Tokens(private, settings)


async def api_ingest(
    client: httpx.AsyncClient, tokens: Tokens, planned: Sequence[Planned], probe: CpuProbe
) -> Rate:
    # Tokens and bodies are made first: a rater's client has them ready.
    requests = [
        (
            f"/campaigns/{CAMPAIGN}/submissions/{p.subject}",
            {**tokens.headers(p.rater), "Content-Type": "application/json"},
            body_of(p),
        )
        for p in planned
    ]

    async def put(request: tuple[str, dict[str, str], bytes]) -> None:
        path, headers, body = request
        response = await client.put(path, content=body, headers=headers)
        if response.status_code != 200 or not response.json()["recorded"]:
            raise AssertionError(f"PUT {path}: {response.status_code} {response.text}")

    probe.start()
    seconds = await concurrently(requests, CLIENTS, put, lambda: None)
    return Rate(len(planned), seconds, probe.stop())


async def raw_ingest(
    pool: AsyncConnectionPool, planned: Sequence[Planned], probe: CpuProbe
) -> Rate:
    """The same rows as plain INSERTs, one transaction each."""
    insert = sql.SQL(_RAW_INSERT).format(table=sql.Identifier(RAW_SCHEMA, "submissions"))
    rows = [
        (CAMPAIGN, p.subject, p.rater, p.group, True, [list(a) for a in p.answers]) for p in planned
    ]

    async def write(row: tuple[Any, ...]) -> None:
        *columns, answers = row
        async with pool.connection() as conn, conn.transaction():
            await conn.execute(insert, (*columns, Jsonb(answers)))

    probe.start()
    seconds = await concurrently(rows, CLIENTS, write, lambda: None)
    return Rate(len(planned), seconds, probe.stop())


@contextlib.contextmanager
def profiled(console: Console, enabled: bool, what: str, requests: int = 0) -> Iterator[None]:
    """cProfile the block and print its top costs, by own time and by cumulative time."""
    if not enabled:
        yield
        return
    # Timed by this process's CPU clock: what the requests cost the service, not how long
    # they waited on PostgreSQL or for a busy machine's cores.
    profiler = cProfile.Profile(time.process_time)
    cpu = time.process_time()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        spent = time.process_time() - cpu
        per = f", {spent / requests * 1000:.2f} ms CPU per request (profiled)" if requests else ""
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).strip_dirs()
        stats.sort_stats("tottime").print_stats(15)
        stats.sort_stats("cumulative").print_stats(30)
        console.print(f"[bold]profile: {what}[/]: {spent:.2f} s CPU{per}")
        console.print(out.getvalue(), markup=False, highlight=False, width=200, crop=False)


async def profile_requests(
    client: httpx.AsyncClient, tokens: Tokens, held: Sequence[Planned], console: Console
) -> None:
    """Profile each people's endpoint on the held-back raters: the questionnaire, their
    assignments, then the submission itself, 8 clients at a time as timed."""

    async def expect(response: httpx.Response) -> None:
        if response.status_code != 200:
            raise AssertionError(f"{response.request.url}: {response.status_code}")

    async def questionnaire(p: Planned) -> None:
        path = f"/campaigns/{CAMPAIGN}/questionnaires/{p.subject}"
        await expect(await client.get(path, headers=tokens.headers(p.rater)))

    async def mine(p: Planned) -> None:
        path = f"/campaigns/{CAMPAIGN}/assignments/mine"
        await expect(await client.get(path, headers=tokens.headers(p.rater)))

    async def put(p: Planned) -> None:
        path = f"/campaigns/{CAMPAIGN}/submissions/{p.subject}"
        headers = {**tokens.headers(p.rater), "Content-Type": "application/json"}
        await expect(await client.put(path, content=body_of(p), headers=headers))

    for what, send in (
        ("GET /campaigns/{id}/questionnaires/{subject}", questionnaire),
        ("GET /campaigns/{id}/assignments/mine", mine),
        ("PUT /campaigns/{id}/submissions/{subject}", put),
    ):
        for p in held:
            tokens.headers(p.rater)  # minted before the profile starts
        with profiled(console, True, what, len(held)):
            await concurrently(held, CLIENTS, send, lambda: None)


async def health_floor(client: httpx.AsyncClient, count: int) -> Rate:
    """`GET /health` (no database, no token check) through the same client and app stack."""
    started = time.perf_counter()

    async def get(_: int) -> None:
        response = await client.get("/health")
        assert response.status_code == 200

    await concurrently(range(count), CLIENTS, get, lambda: None)
    return Rate(count, time.perf_counter() - started)


# -- 2. ingest through events ---------------------------------------------------------------


_applied: ContextVar[list[UUID] | None] = ContextVar("bench_assessment_applied", default=None)


@dataclass(frozen=True)
class SubmittedHandler(EventHandler):
    """The consumer of AssessmentSubmitted, on the subjects the benchmark's schema publishes."""

    @property
    def subject(self) -> str:
        return every_version(SCHEMA, self.event.event_type)


async def _record_response(
    conn: AsyncConnection[Any], envelope: Envelope, event: AssessmentSubmitted
) -> None:
    """A response-rate read model: one row per submission announced."""
    await conn.execute(
        sql.SQL(
            "INSERT INTO {} (event_id, campaign_id, subject, rater_group, final) "
            "VALUES (%s, %s, %s, %s, %s)"
        ).format(sql.Identifier(CONSUMER_SCHEMA, "responses")),
        (envelope.event_id, event.campaign_id, event.subject, event.group, event.final),
    )
    applied = _applied.get()
    if applied is not None:
        applied.append(envelope.event_id)


def submitted_handler(name: str) -> SubmittedHandler:
    return SubmittedHandler(
        service="bench", name=name, event=AssessmentSubmitted, apply=_record_response
    )


class ReportingStore(EventStore):
    """An EventStore whose transactions report, once committed, how many events the
    consumer applied in them."""

    def __init__(
        self, pool: AsyncConnectionPool, schema: str, report: Callable[[int], None]
    ) -> None:
        super().__init__(pool, schema)
        self.report = report

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection[Any]]:
        applied: list[UUID] = []
        token = _applied.set(applied)
        try:
            async with super().transaction() as conn:
                yield conn
            if applied:
                self.report(len(applied))
        finally:
            _applied.reset(token)


@dataclass
class Tally:
    """What a consumer process reported: events finished, and when the last were."""

    count: int = 0
    last: float = 0.0


@asynccontextmanager
async def consumer_child(mode: str, env: dict[str, str]) -> AsyncIterator[tuple[Tally, int]]:
    """`python -m bench.assessment <mode>`: yields its tally and its pid."""
    tally = Tally()

    async def read(stdout: asyncio.StreamReader) -> None:
        async for line in stdout:
            count, at = line.split()
            tally.count += int(count)
            tally.last = float(at)

    reader: asyncio.Task[None] | None = None
    try:
        async with child("bench.assessment", mode, env=env) as process:
            assert process.stdout is not None  # a pipe, see bench.children
            reader = asyncio.create_task(read(process.stdout))
            yield tally, process.pid
    finally:
        if reader is not None:
            await asyncio.wait_for(reader, 10)


async def _until(predicate: Callable[[], bool], within: float) -> bool:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.005)
    return True


async def _forget(js: JetStreamContext, handler: EventHandler) -> None:
    """Remove what the measurement leaves on NATS: its durable consumers and its events."""
    with contextlib.suppress(Exception):
        for durable in handler.durables:
            await js.delete_consumer(EVENT_STREAM, durable)
    with contextlib.suppress(Exception):
        await js.purge_stream(EVENT_STREAM, subject=EVENTS_SUBJECT)


async def log_head(pool: AsyncConnectionPool) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(
            sql.SQL("SELECT coalesce(max(global_position), 0) FROM {}").format(
                sql.Identifier(SCHEMA, "events")
            )
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0


async def skip_relay_to(pool: AsyncConnectionPool, position: int) -> None:
    """Start the relay after `position`: the seeded events are setup, not measured, and
    never need to leave the database."""
    async with pool.connection() as conn:
        await conn.execute(
            sql.SQL("INSERT INTO {} (relay, position) VALUES ('jetstream', %s)").format(
                sql.Identifier(SCHEMA, "relay_checkpoints")
            ),
            (position,),
        )


async def submitted_after(store: EventStore, position: int) -> tuple[int, int]:
    """How many AssessmentSubmitted events follow `position`, and one's size on the wire."""
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            sql.SQL(
                "SELECT count(*) FROM {} WHERE global_position > %s AND event_type = %s"
            ).format(sql.Identifier(SCHEMA, "events")),
            (position, AssessmentSubmitted.event_type),
        )
        row = await cur.fetchone()
    count = int(row[0]) if row else 0
    sample = next(
        e
        for e in await store.read_log(after=position, limit=10)
        if e.event_type == AssessmentSubmitted.event_type
    )
    return count, len(sample.model_dump_json().encode())


async def relay_delivery(
    store: EventStore,
    consumer_url: str,
    nats_url: str,
    nats_credentials: Path | None,
    expected: int,
    console: Console,
) -> Delivery:
    """From the relay's start until the consumer process (writing as `consumer_url`) has
    applied the `expected` AssessmentSubmitted events logged after the relay's checkpoint."""
    head = await log_head(store.pool)
    handler = submitted_handler(f"assessment{secrets.token_hex(4)}")
    broker = make_broker(
        nats_url, client_name="bench-assessment-relay", credentials=nats_credentials
    )
    await broker.connect()
    try:
        await ensure_streams(broker)
        js = broker.connection.jetstream()
        await _forget(js, handler)  # a fresh durable starts at the stream's beginning
        try:
            env = {
                "BENCH_DATABASE_URL": consumer_url,
                "BENCH_CONSUMER": handler.name,
                **nats_env(nats_url, nats_credentials),
            }
            async with consumer_child("events", env) as (tally, pid):
                return await _drain(store, broker, head, expected, tally, pid, nats_url, console)
        finally:
            await _forget(js, handler)
    finally:
        await broker.stop()


async def _drain(
    store: EventStore,
    broker: NatsBroker,
    head: int,
    expected: int,
    tally: Tally,
    pid: int,
    nats_url: str,
    console: Console,
) -> Delivery:
    async with store.pool.connection() as conn:
        postgres = await postgres_of(conn, store.pool.conninfo)
    probe = CpuProbe(
        {
            "benchmark process (relay)": [psutil.Process()],
            "consumer process": [psutil.Process(pid)],
            "PostgreSQL": postgres,
            "NATS": nats_processes(nats_url),
        }
    )
    relay = OutboxRelay(store, broker)  # as runtime.serve runs it
    stop = asyncio.Event()
    with console.status(f"relay → JetStream → consumer: {expected:,} AssessmentSubmitted"):
        probe.start()
        started = time.perf_counter()
        task = asyncio.create_task(relay.run(stop))
        try:
            if not await _until(lambda: relay.position >= head, DELIVERY_TIMEOUT):
                raise AssertionError(f"the relay reached {relay.position} of {head}")
            published = time.perf_counter() - started
            if not await _until(lambda: tally.count >= expected, DELIVERY_TIMEOUT):
                raise AssertionError(f"the consumer applied {tally.count} of {expected}")
            cpu = probe.stop()
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)
    if tally.count != expected:
        raise AssertionError(f"the consumer applied {tally.count} events, expected {expected}")
    return Delivery(expected, published, tally.last - started, cpu)


async def jetstream_delivery(
    nats_url: str, nats_credentials: Path | None, count: int, size: int, console: Console
) -> Delivery:
    """Baseline: `count` messages of `size` bytes published as the relay publishes (pipelined,
    500 acknowledgements awaited together) on a scratch stream, pulled by a process of its
    own as the consumers pull (the next message, then what is already there, up to
    BATCH_SIZE), each acknowledged."""
    token = secrets.token_hex(4)
    stream, subject = f"BENCH_BASELINE_{token}", f"benchbaseline.{token}"
    body = b"x" * size
    batch = 500  # OutboxRelay's default batch_size
    publisher = await connect_nats(nats_url, nats_credentials, "bench-assessment-baseline")
    try:
        js = publisher.jetstream()
        await js.add_stream(
            api.StreamConfig(name=stream, subjects=[subject], storage=api.StorageType.FILE)
        )
        try:
            env = {
                "BENCH_STREAM": stream,
                "BENCH_SUBJECT": subject,
                **nats_env(nats_url, nats_credentials),
            }
            async with consumer_child("raw", env) as (tally, pid):
                probe = CpuProbe(
                    {
                        "benchmark process (publisher)": [psutil.Process()],
                        "consumer process": [psutil.Process(pid)],
                        "NATS": nats_processes(nats_url),
                    }
                )
                with console.status(f"baseline: JetStream alone, {count:,} messages"):
                    probe.start()
                    started = time.perf_counter()
                    for first in range(0, count, batch):
                        acks = [
                            await js.publish_async(
                                subject, body, headers={"Nats-Msg-Id": f"{token}-{n}"}
                            )
                            for n in range(first, min(first + batch, count))
                        ]
                        await asyncio.gather(*acks)
                    published = time.perf_counter() - started
                    if not await _until(lambda: tally.count >= count, DELIVERY_TIMEOUT):
                        raise AssertionError(f"the raw consumer got {tally.count} of {count}")
                    cpu = probe.stop()
        finally:
            with contextlib.suppress(Exception):
                await js.delete_stream(stream)
    finally:
        await publisher.close()
    return Delivery(count, published, tally.last - started, cpu)


# -- 3. aggregation -------------------------------------------------------------------------


async def raw_ratings(pool: AsyncConnectionPool) -> list[tuple[str, str, str, str, Any, Any]]:
    """Baseline read: the same rows, plain psycopg, one (subject, rater, group, competency,
    value, comment) tuple per rating."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            sql.SQL(
                "SELECT subject, rater, rater_group, answers FROM {} WHERE campaign_id = %s"
            ).format(sql.Identifier(SCHEMA, "submissions")),
            (CAMPAIGN,),
        )
        rows = await cur.fetchall()
    return [
        (subject, rater, group, item, value, comment)
        for subject, rater, group, answers in rows
        for item, value, comment, *_ in answers
    ]


def plain_means(ratings: Sequence[tuple[str, str, str, str, Any, Any]]) -> dict[Any, float]:
    """Baseline pass: each (subject, competency)'s mean over its observed values."""
    sums: dict[tuple[str, str], float] = {}
    counts: dict[tuple[str, str], int] = {}
    for subject, _, _, competency, value, _ in ratings:
        if value is not None:
            key = (subject, competency)
            sums[key] = sums.get(key, 0.0) + value
            counts[key] = counts.get(key, 0) + 1
    return {key: total / counts[key] for key, total in sums.items()}


def _timed(steps: dict[str, list[float]], name: str, started: float) -> float:
    now = time.perf_counter()
    steps.setdefault(name, []).append(now - started)
    return now


async def aggregation_run(
    campaigns: Campaigns,
    pool: AsyncConnectionPool,
    results: AssessmentResults,
    baseline_first: bool,
) -> None:
    async def ours() -> None:
        steps = results.steps
        started = time.perf_counter()
        campaign, ratings = await campaign_ratings(campaigns, CAMPAIGN)
        at = _timed(steps, "read", started)
        settings = campaign.settings
        found = aggregate(ratings, settings.weights, settings.anonymity)
        at = _timed(steps, "aggregate", at)
        views = subject_view(found, settings.anonymity, settings.weights)
        at = _timed(steps, "subject_view", at)
        offsets = rater_offsets(ratings)
        at = _timed(steps, "rater_offsets", at)
        anchors = inconsistent_anchors(ratings)
        at = _timed(steps, "inconsistent_anchors", at)
        unusual = outliers(found)
        _timed(steps, "outliers", at)
        results.found |= {
            "ratings": len(ratings),
            "results": len(found),
            "subject views": len(views),
            "suppressed groups": sum(g.suppressed for v in views for g in v.groups),
            "raters with an offset": len(offsets),
            "lenient or severe raters": sum(o.tendency in ("lenient", "severe") for o in offsets),
            "competencies with inconsistent anchors": len(anchors),
            "outliers": len(unusual),
        }

    async def baseline() -> None:
        started = time.perf_counter()
        ratings = await raw_ratings(pool)
        at = _timed(results.baseline, "read", started)
        means = plain_means(ratings)
        _timed(results.baseline, "aggregate", at)
        results.found["baseline means"] = len(means)

    for measure in (baseline, ours) if baseline_first else (ours, baseline):
        gc.collect()  # each starts without the other's garbage
        await measure()


async def measure_memory(
    campaigns: Campaigns, pool: AsyncConnectionPool, maxrss_delta: int
) -> Memory:
    """Traced Python allocations: the peak of reading, aggregating and viewing everything,
    and what each part retains. tracemalloc slows the code down, so this is a run of its own."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        campaign, ratings = await campaign_ratings(campaigns, CAMPAIGN)
        with_ratings = tracemalloc.get_traced_memory()[0]
        settings = campaign.settings
        found = aggregate(ratings, settings.weights, settings.anonymity)
        views = subject_view(found, settings.anonymity, settings.weights)
        current, peak = tracemalloc.get_traced_memory()
        del campaign, ratings, found, views
        gc.collect()
        before_raw = tracemalloc.get_traced_memory()[0]
        raw = await raw_ratings(pool)
        raw_size = tracemalloc.get_traced_memory()[0] - before_raw
        del raw
    finally:
        tracemalloc.stop()
    return Memory(
        peak=peak - base,
        ratings=with_ratings - base,
        results=current - with_ratings,
        raw_tuples=raw_size,
        maxrss_delta=maxrss_delta,
        maxrss=_maxrss(),
    )


def _maxrss() -> int:
    """The process's maximum resident set so far, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


async def hr_results(client: httpx.AsyncClient, tokens: Tokens) -> tuple[float, int]:
    """What HR's results requests cost for the whole population, page after page."""
    size = 0

    async def page(params: dict[str, str]) -> dict[str, Any]:
        nonlocal size
        response = await client.get(
            f"/campaigns/{CAMPAIGN}/results", params=params, headers=tokens.headers(HR, "hr_admin")
        )
        assert response.status_code == 200, response.text[:500]
        size += len(response.content)
        return response.json()

    started = time.perf_counter()
    await every_item_async(page)
    return time.perf_counter() - started, size


# -- running --------------------------------------------------------------------------------


async def run(
    roles: Roles,
    nats_url: str,
    nats_credentials: Path | None,
    console: Console,
    sizes: AssessmentSizes,
) -> AssessmentResults:
    results = AssessmentResults(sizes=sizes)
    quiet_faststream()
    console.print(
        f"[bold]Assessment: {sizes.people:,} people x {RATERS} raters x {COMPETENCIES} "
        "competencies[/]"
    )
    with console.status("generating the organisation"):
        started = time.perf_counter()
        framework = build_framework()
        org = organisation(sizes.people, framework)
        results.setup["generate the organisation (in memory)"] = time.perf_counter() - started
        # The plan's objects live to the end: keep the garbage collector from walking them
        # over and over, which a service process holding no such plan would not pay.
        gc.collect()
        gc.freeze()
    results.people, results.submissions, results.ratings = (
        org.people,
        len(org.submissions),
        org.ratings,
    )
    for p in org.submissions:
        results.groups[p.group] = results.groups.get(p.group, 0) + 1
    results.nominated = sum(len(p) for p in org.peers.values())
    try:
        await _run(roles, nats_url, nats_credentials, console, org, framework, results)
    finally:
        gc.unfreeze()
    return results


async def _run(
    roles: Roles,
    nats_url: str,
    nats_credentials: Path | None,
    console: Console,
    org: Organisation,
    framework: Framework,
    results: AssessmentResults,
) -> None:
    with console.status("migrating the assessment schemas"):
        service_url, consumer_url = await prepare_roles(roles)
    async with AsyncConnectionPool(
        service_url, min_size=POOL_SIZE, max_size=POOL_SIZE, open=False
    ) as pool:
        await pool.wait()
        store = EventStore(pool, SCHEMA, keys=PostgresDataKeys(pool, MasterKeys.generate()))
        try:
            with tempfile.TemporaryDirectory(prefix="talentledger-bench-keys-") as keys:
                await _measure(
                    store,
                    consumer_url,
                    nats_url,
                    nats_credentials,
                    org,
                    framework,
                    Path(keys),
                    console,
                    results,
                )
        finally:
            await store.close()


async def _measure(
    store: EventStore,
    consumer_url: str,
    nats_url: str,
    nats_credentials: Path | None,
    org: Organisation,
    framework: Framework,
    keys: Path,
    console: Console,
    results: AssessmentResults,
) -> None:
    pool = store.pool
    campaigns = Campaigns(
        store, Database(store, OrgChart(SCHEMA), FrameworkVersions(SCHEMA), CampaignTables(SCHEMA))
    )
    setup = results.setup
    with console.status(f"hiring {org.people:,} people into the org chart"):
        started = time.perf_counter()
        await seed_org_chart(store, org)
        at = _lap(setup, "org chart (EmployeeHired handler)", started)
        await seed_framework(store, framework)
        at = _lap(setup, "framework replica (FrameworkPublished, RoleProfileChanged)", at)
        await launching.open_campaign(
            campaigns,
            CAMPAIGN,
            FRAMEWORK_ID,
            1,
            Population(),
            datetime.now(UTC) + timedelta(days=30),
            HR,
            datetime.now(UTC),
        )
        _lap(setup, "open the campaign for everyone", at)
    async with pool.connection() as conn:
        postgres = await postgres_of(conn, pool.conninfo)
    here = "benchmark process"

    def probe() -> CpuProbe:
        return CpuProbe({here: [psutil.Process()], "PostgreSQL": postgres})

    cpu = probe()
    cpu.start()
    planned = 2 * sum(len(p) for p in org.peers.values())
    what = "nominate and approve (application layer)"
    with profiled(console, results.sizes.profile, what, planned):
        commands, seconds = await seed_nominations(campaigns, org, console)
    results.nominations = Rate(commands, seconds, cpu.stop())
    console.print(
        f"  {commands:,} nominate and approve commands: {results.nominations.rate:,.0f}/s"
    )
    sample = org.submissions[-results.sizes.api_submissions :]
    seeded = org.submissions[: -results.sizes.api_submissions]
    held = seeded[-PROFILED:] if results.sizes.profile else []
    seeded = seeded[: len(seeded) - len(held)]
    cpu = probe()
    cpu.start()
    seconds = await seed_submissions(campaigns, seeded, console)
    results.seeded = Rate(len(seeded), seconds, cpu.stop())
    console.print(
        f"  {len(seeded):,} submissions through rating.submit: {results.seeded.rate:,.0f}/s"
    )
    head = await log_head(pool)
    await skip_relay_to(pool, head)
    async with service_api(pool, store, campaigns, keys) as (client, tokens):
        results.health = await health_floor(client, 2000)
        await _api_rounds(client, tokens, pool, sample, probe, console, results)
        expected, results.message_bytes = await submitted_after(store, head)
        results.events = await relay_delivery(
            store, consumer_url, nats_url, nats_credentials, expected, console
        )
        results.jetstream = await jetstream_delivery(
            nats_url, nats_credentials, results.events.events, results.message_bytes, console
        )
        console.print(
            f"  relay → consumer: {results.events.rate:,.0f} events/s; JetStream alone: "
            f"{results.jetstream.rate:,.0f}/s"
        )
        if held:
            await profile_requests(client, tokens, held, console)
        with console.status("closing the campaign"):
            started = time.perf_counter()
            await closing.close(campaigns, CAMPAIGN, HR)
            results.close = time.perf_counter() - started
        with phase(results, "aggregation"):
            await _aggregation(campaigns, pool, console, results)
        with console.status("GET /campaigns/{id}/results for everyone"):
            gc.collect()
            results.results_http = await hr_results(client, tokens)


def _lap(steps: dict[str, float], name: str, started: float) -> float:
    now = time.perf_counter()
    steps[name] = now - started
    return now


async def _api_rounds(
    client: httpx.AsyncClient,
    tokens: Tokens,
    pool: AsyncConnectionPool,
    sample: Sequence[Planned],
    probe: Callable[[], CpuProbe],
    console: Console,
    results: AssessmentResults,
) -> None:
    rounds = results.sizes.rounds
    size = -(-len(sample) // rounds)
    with console.status("raw INSERTs, warming up"):
        warm = [Planned(f"warm-{p.subject}", p.rater, p.group, p.answers) for p in sample[:50]]
        await raw_ingest(pool, warm, probe())
    for n in range(rounds):
        part = sample[n * size : (n + 1) * size]
        order = ("api", "raw") if n % 2 == 0 else ("raw", "api")
        for which in order:
            with console.status(f"{which}: {len(part):,} submissions, round {n + 1}/{rounds}"):
                if which == "api":
                    results.api.append(await api_ingest(client, tokens, part, probe()))
                else:
                    results.raw.append(await raw_ingest(pool, part, probe()))
        console.print(
            f"  round {n + 1}/{rounds}: API {results.api[-1].rate:,.0f} submissions/s, "
            f"raw INSERT {results.raw[-1].rate:,.0f}/s"
        )


async def _aggregation(
    campaigns: Campaigns, pool: AsyncConnectionPool, console: Console, results: AssessmentResults
) -> None:
    runs = results.sizes.aggregation_runs
    maxrss_delta = 0
    for n in range(runs):
        with console.status(f"aggregating {results.ratings:,} ratings, run {n + 1}/{runs}"):
            before = _maxrss()
            await aggregation_run(campaigns, pool, results, baseline_first=n % 2 == 1)
            if n == 0:
                maxrss_delta = _maxrss() - before
        console.print(
            f"  run {n + 1}/{runs}: read {results.steps['read'][-1]:.2f} s, aggregate "
            f"{results.steps['aggregate'][-1]:.2f} s, subject_view "
            f"{results.steps['subject_view'][-1]:.2f} s; baseline read "
            f"{results.baseline['read'][-1]:.2f} s, means {results.baseline['aggregate'][-1]:.2f} s"
        )
    with console.status("aggregating again under tracemalloc"):
        results.memory = await measure_memory(campaigns, pool, maxrss_delta)
    console.print(
        f"  traced peak {results.memory.peak / 2**20:,.0f} MiB; raw tuples "
        f"{results.memory.raw_tuples / 2**20:,.0f} MiB"
    )


# -- the consumer process (python -m bench.assessment events|raw) ---------------------------


async def _serve_events(out: TextIO) -> None:
    """The AssessmentSubmitted consumer, as a consuming service runs it."""
    database_url = os.environ["BENCH_DATABASE_URL"]
    handler = submitted_handler(os.environ["BENCH_CONSUMER"])

    def report(count: int) -> None:
        out.write(f"{count} {time.perf_counter()!r}\n")

    nats_url, nats_credentials = nats_from_env()
    broker = make_broker(
        nats_url, client_name="bench-assessment-consumer", credentials=nats_credentials
    )
    async with AsyncConnectionPool(database_url, min_size=2, max_size=4, open=False) as pool:
        await pool.wait()
        store = ReportingStore(pool, CONSUMER_SCHEMA, report)
        subscribe(broker, store, handler)
        await broker.start()
        try:
            out.write("ready\n")
            await asyncio.to_thread(sys.stdin.readline)  # returns when the parent closes it
        finally:
            await broker.stop()
            await store.close()


async def _serve_raw(out: TextIO) -> None:
    """A plain pull subscriber, fetching and acknowledging as the event consumers do."""
    client = await connect_nats(*nats_from_env(), "bench-assessment-raw")
    try:
        sub = await client.jetstream().pull_subscribe(
            os.environ["BENCH_SUBJECT"], durable="bench-raw", stream=os.environ["BENCH_STREAM"]
        )

        async def pull() -> None:
            last = None
            while True:
                try:
                    batch = await pull_batch(sub, BATCH_SIZE, after=last)
                except nats.errors.TimeoutError:
                    last = None
                    continue
                last = batch[-1]
                for msg in batch:
                    await msg.ack()
                out.write(f"{len(batch)} {time.perf_counter()!r}\n")

        puller = asyncio.create_task(pull())
        out.write("ready\n")
        await asyncio.to_thread(sys.stdin.readline)
        puller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await puller
    finally:
        await client.close()


def main() -> None:
    # stdout carries the protocol alone ("ready", then "<count> <perf_counter>" lines);
    # whatever else writes to it (FastStream's access logger does) goes to stderr.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    logging.basicConfig(
        level=logging.WARNING, format="consumer %(levelname)s %(name)s: %(message)s"
    )
    quiet_faststream()
    serve = {"events": _serve_events, "raw": _serve_raw}[sys.argv[1]]
    with out:
        asyncio.run(serve(out))


if __name__ == "__main__":
    main()
