"""Benchmark 7: a whole review cycle on the embedded stack, at several head counts.

For each size a fresh stack is started as `talentledger up` starts it (PostgreSQL, NATS,
the Temporal dev server and the five services as processes) in a temporary
`TALENTLEDGER_HOME`, so that no size inherits data, caches or peak memory from another. Then,
through the real APIs, as the demo does: the framework is imported and published through the
framework service's import endpoint, the organisation loaded through the HRIS path and a
catalog through the LMS path, a cycle started over the cycles API, and the simulated people
(`talentledger.simulation`) nominate peers, rate, calibrate, nominate promotions and
acknowledge gaps while the workflow moves the cycle on. The stack is stopped and its home
removed after each size.

The framework is the framework benchmark's (`framework_model`) and the organisation the
assessment benchmark's (`assessment_model`): everyone holds a role profile of 10
competencies. The sample framework's profiles have 6 to 8, which is why it is not used.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import resource
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
from faststream.nats import NatsBroker
from psycopg import AsyncConnection, sql
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from bench import assessment
from bench.assessment import Rate, raw_ingest
from bench.assessment_model import COMPETENCIES, HIRED_ON, RATERS, Organisation, organisation
from bench.cpu import CpuProbe, postgres_processes
from bench.development import FULL as DEVELOPMENT_FULL
from bench.development import catalog
from bench.framework import service_pool
from bench.framework_model import build_framework
from bench.report import table
from bench.stack import machine_info, with_database
from libs.events.subjects import EVENT_STREAM, INTAKE_STREAM
from libs.platform import temporal
from libs.platform.auth import TokenMinter, ensure_dev_keypair
from libs.platform.pagination import every_item_async
from libs.platform.settings import Settings, replica_stem
from libs.platform.stalls import INTERVAL, QUIET, Stalls, logged_stalls
from libs.platform.temporal import PayloadKeys
from services.framework.adapters.files import formats
from talentledger.cycle_driver import (
    Conduct,
    CycleDriver,
    CycleFailed,
    CycleStalled,
    Phase,
    Round,
    Watcher,
)
from talentledger.framework_files import import_file
from talentledger.hris_load import publish_hires, read_people
from talentledger.inbound import integration_broker
from talentledger.lms_load import publish_catalog
from talentledger.samples.organisation import Employee, as_csv
from talentledger.simulation import HR, Simulation, Urls
from talentledger.stack.broker_identities import OPERATOR_IDENTITY, credentials_file
from talentledger.stack.supervisor import SERVICES, Stack, StackState

FRAMEWORK_ID = "bench-cycle"
REPLICAS = ("assessment", "development", "promotion")
# Everyone answers and every manager acknowledges, so that each stage ends on the people's
# last call rather than on a deadline; the deadlines are there only to bound a stuck run.
SCHEDULE = {
    "campaign": timedelta(days=14).total_seconds(),
    "reminders": [timedelta(days=7).total_seconds()],
    "calibration_escalation": timedelta(days=3).total_seconds(),
    "gap_review": timedelta(hours=2).total_seconds(),
    "between_cycles": timedelta(days=90).total_seconds(),
}
# A wait on the cycle fails once it has shown no progress for this long.
STALL = 1800.0
POLL = 0.25
# How often a wait looks for progress of the stack's consumers.
PROGRESS_EVERY = 5.0
RAW_DATABASE = "bench_cycle_raw"


@dataclass(frozen=True)
class CycleSizes:
    people: tuple[int, ...]


# 3,000 between them would add about 12 minutes to a run of about 45.
FULL = CycleSizes(people=(1_000, 10_000))
QUICK = CycleSizes(people=(300, 1_000))  # below 300 the generated departments are too small


@dataclass
class Calls:
    """HTTP calls of one kind made by the simulated people (time to the response headers)."""

    count: int = 0
    seconds: float = 0.0
    slowest: float = 0.0

    @property
    def mean_ms(self) -> float:
        return self.seconds / self.count * 1000 if self.count else 0.0


@dataclass
class SizeResult:
    people: int
    setup: dict[str, float] = field(default_factory=dict)
    """Seconds: stack up, framework import and replication, organisation load."""
    stages: list[tuple[str, float]] = field(default_factory=list)
    """Each stage the cycle entered and the seconds until the next (event timestamps)."""
    acting: dict[str, tuple[float, int]] = field(default_factory=dict)
    """What the simulated people did: seconds and requests, by phase."""
    waiting: dict[str, float] = field(default_factory=dict)
    """Seconds the people waited on orchestration alone, by step."""
    counts: dict[str, int] = field(default_factory=dict)
    calls: dict[str, Calls] = field(default_factory=dict)
    memory: dict[str, int] = field(default_factory=dict)
    """Peak resident set (VmHWM, bytes) by process."""
    cpu: dict[str, float | None] = field(default_factory=dict)
    """CPU seconds from starting the cycle to its completion, by process."""
    busy: float = 0.0
    stalls: dict[str, Stalls] = field(default_factory=dict)
    """The event-loop stalls over the threshold each service logged during the cycle."""
    stall_threshold: float = 0.0
    cycle_seconds: float = 0.0
    """From starting the cycle to its last stage event."""
    baseline: Rate | None = None
    privacy: dict[str, float] = field(default_factory=dict)
    """Seconds, after the cycle: an access request and an erasure of one person, each end to
    end through the cycles API."""
    failure: str | None = None


# -- timing the people's calls --------------------------------------------------------------


_ID = re.compile(r"[^/]*\d[^/]*")


def route_of(request: httpx.Request) -> str:
    """`PUT /campaigns/{}/submissions/{}`: the path with every segment holding a digit (ids)
    replaced, so that calls group by endpoint."""
    return f"{request.method} {_ID.sub('{}', request.url.path)}"


class TimedTransport(httpx.AsyncBaseTransport):
    """Notes each request's time to its response headers, by route."""

    def __init__(self, calls: dict[str, Calls]) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.calls = calls

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        response = await self.inner.handle_async_request(request)
        took = time.perf_counter() - started
        calls = self.calls.setdefault(route_of(request), Calls())
        calls.count += 1
        calls.seconds += took
        calls.slowest = max(calls.slowest, took)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


# -- the stack -------------------------------------------------------------------------------


def vm_hwm(pid: int | None) -> int | None:
    """The process's peak resident set in bytes, from /proc (None when it is gone)."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def processes(stack: Stack, state: StackState) -> dict[str, int | None]:
    """The pid of every server and service of the stack, by name."""
    pids: dict[str, int | None] = {f"{s} service": state.services[s].pids[0] for s in SERVICES}
    pids["Temporal server"] = stack.temporal.pid
    pids["NATS server"] = stack.nats.pid
    return pids


def service_logs(home: Path, state: StackState) -> dict[str, list[Path]]:
    """Each service's log files under the stack's home, one a replica."""
    return {
        name: [home / "logs" / f"{replica_stem(name, n)}.log" for n in state.services[name].numbers]
        for name in SERVICES
    }


def log_ends(logs: dict[str, list[Path]]) -> dict[Path, int]:
    """Where each log ends now: what is written after, `stalls_logged` reads."""
    return {
        path: path.stat().st_size if path.exists() else 0
        for paths in logs.values()
        for path in paths
    }


def stalls_logged(logs: dict[str, list[Path]], since: dict[Path, int]) -> dict[str, Stalls]:
    """The event-loop stalls each service's watch (libs/platform/stalls.py) logged after
    `since`, over all its replicas. A log rotated meanwhile (at midnight UTC) is read from
    its start: what went to the rotated file is not counted."""
    return {name: logged_stalls(_lines_after(paths, since)) for name, paths in logs.items()}


def _lines_after(paths: list[Path], since: dict[Path, int]) -> list[str]:
    lines: list[str] = []
    for path in paths:
        if not path.exists():
            continue
        with path.open("rb") as log:
            if path.stat().st_size >= since.get(path, 0):
                log.seek(since.get(path, 0))
            lines += log.read().decode(errors="replace").splitlines()
    return lines


def embedded_settings(home: Path) -> Settings:
    """Settings for a stack of embedded servers only, whatever the environment names."""
    return Settings().model_copy(
        update={
            "home": home,
            "database_url": None,
            "nats_url": None,
            "nats_credentials": None,
            "temporal_address": None,
            "trace_dir": None,
        }
    )


@contextmanager
def bars(console: Console) -> Iterator[Progress]:
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        yield progress


def advancer(progress: Progress, task: TaskID) -> Callable[[int], None]:
    return lambda n: progress.advance(task, n)


async def poll(
    check: Callable[[], Awaitable[Any]],
    within: float,
    what: str,
    progress: Callable[[], Awaitable[object]] | None = None,
) -> Any:
    """Wait until `check` answers; fail after `within` seconds in which nothing progressed
    (`progress` returned the same), so that a loaded machine slows the run without failing it."""
    deadline = time.monotonic() + within
    seen = await progress() if progress else None
    looked = time.monotonic()
    while time.monotonic() < deadline:
        if result := await check():
            return result
        await asyncio.sleep(POLL)
        if progress and time.monotonic() - looked >= PROGRESS_EVERY:
            looked = time.monotonic()
            if (now := await progress()) != seen:
                seen, deadline = now, looked + within
    raise CycleFailed(f"{what}: nothing moved for {within:.0f}s")


class Timings(Watcher):
    """Times each phase of the cycle (what the people did, and what they waited on the
    orchestration alone) and shows the cycle on the progress bars."""

    def __init__(self, run: CycleRun, stages: TaskID) -> None:
        self.run = run
        self.stages = stages
        self.task: TaskID | None = None
        self.began = 0.0
        self.requests = 0

    def _made(self) -> int:
        return sum(c.count for c in self.run.calls.values())

    def status(self, status: dict[str, Any]) -> None:
        description = f"cycle: {status.get('stage') or status['status']}"
        self.run.progress.update(self.stages, description=description)

    def started(self, phase: Phase, total: int | None) -> Callable[[int], None]:
        self.began, self.requests = time.perf_counter(), self._made()
        if not phase.counted:
            return super().started(phase, total)
        self.task = self.run.progress.add_task(phase.counted, total=total)
        return advancer(self.run.progress, self.task)

    def ended(self, phase: Phase) -> None:
        seconds = time.perf_counter() - self.began
        if phase.acting:
            self.run.result.acting[phase.name] = (seconds, self._made() - self.requests)
        else:
            self.run.result.waiting[phase.name] = seconds
        if self.task is not None:
            self.run.progress.remove_task(self.task)
            self.task = None


# -- one size --------------------------------------------------------------------------------


class CycleRun:
    def __init__(self, people: int, console: Console, progress: Progress) -> None:
        self.console = console
        self.progress = progress
        self.home = Path(tempfile.mkdtemp(prefix="talentledger-bench-cycle-"))
        # PostgreSQL runs as its own system user when we are root: it must reach its data.
        self.home.chmod(0o755)
        self.settings = embedded_settings(self.home)
        self.stack = Stack(self.settings)
        self.framework = build_framework()
        self.org: Organisation = organisation(people, self.framework)
        self.result = SizeResult(people)
        self.calls = self.result.calls
        self.state: StackState | None = None

    def url(self, service: str) -> str:
        assert self.state is not None
        return self.state.services[service].url

    async def up(self) -> StackState:
        steps = ["PostgreSQL", "NATS JetStream", "Temporal", *(f"{s} service" for s in SERVICES)]
        task = self.progress.add_task("starting the stack", total=len(steps))
        started = time.perf_counter()
        self.state = await asyncio.to_thread(
            self.stack.up,
            lambda part: self.progress.update(task, advance=1, description=f"starting {part}"),
        )
        self.result.setup["stack up"] = time.perf_counter() - started
        self.progress.remove_task(task)
        return self.state

    async def down(self) -> None:
        with self.console.status("stopping the stack (talentledger down)"):
            await asyncio.to_thread(self.stack.down)
        if self.result.failure:
            # What went wrong is in the services' logs and spans: kept for whoever looks.
            self.console.print(f"the failed run's logs and spans are kept in {self.home}")
            return
        shutil.rmtree(self.home, ignore_errors=True)

    async def run(self) -> SizeResult:
        try:
            await self._run()
        except (CycleFailed, httpx.HTTPError, RuntimeError) as error:
            self.result.failure = f"{type(error).__name__}: {error}"
            self.console.print(f"[red]{self.result.people:,} people: {self.result.failure}[/]")
        return self.result

    async def _run(self) -> None:
        state = await self.up()
        keys = ensure_dev_keypair(self.home / "keys")[0]
        self.minter = TokenMinter(
            keys, issuer=self.settings.jwt_issuer, audience=self.settings.jwt_audience
        )
        headers = {"Authorization": f"Bearer {self.minter.mint(HR, ['hr_admin'])}"}
        async with httpx.AsyncClient(headers=headers, timeout=120) as self.http:
            version = await self._framework()
            await self._organisation(state)
            await self._cycle(state, version)
            await self._privacy(state)
        await self._baseline(state)

    async def _framework(self) -> int:
        task = self.progress.add_task("importing the framework", total=1 + len(REPLICAS))
        started = time.perf_counter()
        path = self.home / "framework.yaml"
        path.write_text(formats.write(self.framework, FRAMEWORK_ID, "yaml"), encoding="utf-8")
        with httpx.Client(headers=self.http.headers, timeout=120) as http:
            imported = await asyncio.to_thread(
                import_file, http, self.url("framework"), path, FRAMEWORK_ID, publish=True
            )
        version = imported.version
        assert version is not None
        self.progress.advance(task)
        for service in REPLICAS:

            async def holds(service: str = service) -> bool:
                url = f"{self.url(service)}/framework-versions"

                async def page(params: dict[str, str]) -> dict[str, Any]:
                    return (await self.http.get(url, params=params)).json()

                known = await every_item_async(page)
                return any(
                    v["framework_id"] == FRAMEWORK_ID and v["version"] == version for v in known
                )

            await poll(holds, 120, f"{service} to receive FrameworkPublished", self._consumed)
            self.progress.advance(task)
        self.result.setup["framework import and replication"] = time.perf_counter() - started
        self.progress.remove_task(task)
        return version

    async def _consumed(self) -> tuple[int, int]:
        """How far the stack has got with the events: the outside events still waiting on
        the intake, and the events every durable consumer has acknowledged."""
        async with self._broker_as(OPERATOR_IDENTITY) as broker:
            js = broker.connection.jetstream()
            waiting = (await js.stream_info(INTAKE_STREAM)).state.messages
            acknowledged = sum(
                c.ack_floor.stream_seq if c.ack_floor else 0
                for c in await js.consumers_info(EVENT_STREAM)
            )
        return waiting, acknowledged

    def _broker_as(self, identity: str) -> AbstractAsyncContextManager[NatsBroker]:
        """A broker connected as one of the stack's identities (`hris`, `lms`, `operator`)."""
        assert self.state is not None
        settings = self.settings.model_copy(
            update={
                "nats_url": self.state.nats_url,
                "nats_credentials": credentials_file(self.home, identity),
            }
        )
        return integration_broker(settings, f"bench-cycle-{identity}")

    async def _organisation(self, state: StackState) -> None:
        """The org chart as an HRIS CSV export and the catalog, as the demo loads them."""
        employees = [
            Employee(
                employee_id=h.employee_id,
                name=h.name,
                department=h.department,
                job_family=h.job_family,
                track=h.track,
                level=h.level,
                manager_id=h.manager_id or "",
                hired_on=HIRED_ON.isoformat(),
            )
            for h in self.org.hires
        ]
        self.employees = employees
        started = time.perf_counter()
        hires = read_people(as_csv(employees))
        competencies = sorted({c for cs in self.org.competencies.values() for c in cs})
        courses = catalog(competencies, DEVELOPMENT_FULL.courses)
        async with self._broker_as("hris") as broker:
            task = self.progress.add_task("loading the org chart (HRIS)", total=len(hires.hires))
            await publish_hires(
                broker, hires.hires, "hris-load:bench", advancer(self.progress, task)
            )
            self.progress.remove_task(task)
        async with self._broker_as("lms") as broker:
            task = self.progress.add_task("loading the catalog (LMS)", total=len(courses))
            await publish_catalog(broker, courses, "lms-load:bench", advancer(self.progress, task))
            self.progress.remove_task(task)
        last = employees[-1].employee_id

        async def arrived() -> bool:
            url = f"{self.url('assessment')}/org-chart/people/{last}"
            return (await self.http.get(url)).status_code == 200

        with self.console.status("waiting for the org chart to reach the assessment service"):
            await poll(
                arrived, 120, "the org chart to reach the assessment service", self._consumed
            )
        self.result.setup["organisation load"] = time.perf_counter() - started
        self.result.counts["courses"] = len(courses)

    async def _diagnosis(self, cycle: str) -> str:
        """The activities the workflow waits on."""
        assert self.state is not None
        client = await temporal.connect(
            self.state.temporal_address, PayloadKeys.load(self.settings.temporal_payload_keys)
        )
        described = await client.get_workflow_handle(cycle).describe()
        pending = [
            f"{a.activity_type.name} attempt {a.attempt}"
            + (f" (last failure: {a.last_failure.message})" if a.last_failure.message else "")
            for a in described.raw_description.pending_activities
        ]
        return f"pending activities: {pending or 'none'}"

    async def _cycle(self, state: StackState, version: int) -> None:
        urls = Urls(*(self.url(s) for s in ("assessment", "development", "promotion", "cycles")))
        simulation = Simulation(urls, self.minter, self.employees)
        await simulation.client.aclose()
        simulation.client = httpx.AsyncClient(timeout=120, transport=TimedTransport(self.calls))
        stages = self.progress.add_task("review cycle", total=None)
        driver = CycleDriver(simulation, stall=STALL, watcher=Timings(self, stages))
        pids = processes(self.stack, state)
        async with await AsyncConnection.connect(state.database_url) as conn:
            postgres = await postgres_processes(conn, state.database_url)
        groups = {name: [psutil.Process(pid)] if pid else [] for name, pid in pids.items()}
        # The simulated people share the machine's two cores with the stack: what they
        # cost shows beside what the services cost.
        probe = CpuProbe(
            {
                **groups,
                "PostgreSQL (all processes)": postgres,
                "the benchmark (simulated people)": [psutil.Process()],
            }
        )
        logs = service_logs(self.home, state)
        logged_from = log_ends(logs)
        probe.start()
        try:
            cycle = await driver.start(
                {"framework_id": FRAMEWORK_ID, "version": version},
                schedule=SCHEDULE,
                last_number=1,
            )
            try:
                lived = await driver.one_cycle(conduct=Conduct(track=self.org.hires[0].track))
            except CycleStalled as error:
                raise CycleStalled(f"{error}; {await self._diagnosis(cycle)}") from None
        finally:
            await driver.close()
        use = probe.stop()
        self.progress.remove_task(stages)
        # A watch folds the stalls of a storm into a line at most every QUIET seconds: give
        # it the time to write what it held back.
        await asyncio.sleep(QUIET + 2 * INTERVAL)
        self.result.stalls = stalls_logged(logs, logged_from)
        self.result.stall_threshold = self.settings.loop_stall_threshold
        self.result.cpu, self.result.busy = dict(use.seconds), use.machine_busy
        for name, pid in pids.items():
            if (peak := vm_hwm(pid)) is not None:
                self.result.memory[name] = peak
        self._count(lived)
        await self._stage_times(state, cycle)

    def _count(self, lived: Round) -> None:
        counts = lived.opened["progress"]["counts"]
        gap_review = lived.ended["outcome"]["gap_review"]
        # At opening: self, manager and reports; approved peers are added as they come.
        self.result.counts.update(
            {
                "subjects": counts["subjects"],
                "assignments at opening": counts["assignments"],
                "peer nominations": lived.peer_nominations,
                "submissions": lived.ratings.submissions,
                "ratings": lived.ratings.answers,
                "calibration adjustments": lived.calibration.adjustments,
                "managers in gap review": len(lived.managers),
                "promotion cases": len(lived.cases),
                "acknowledged": lived.acknowledged,
                "open gaps": gap_review["open_gaps"],
                "plans": gap_review["plans"],
                "decisions": sum(lived.decisions.values()),
            }
        )

    async def _stage_times(self, state: StackState, cycle: str) -> None:
        """Each stage's duration from the recorded times of the cycle's stage events."""
        query = sql.SQL(
            "SELECT payload->>'stage', recorded_at FROM {} WHERE stream_id = %s "
            "ORDER BY stream_version"
        ).format(sql.Identifier("cycles", "events"))
        async with await AsyncConnection.connect(state.database_url) as conn:
            cursor = await conn.execute(query, (f"cycle-{cycle}.1",))
            rows: list[tuple[str, datetime]] = await cursor.fetchall()
        self.result.stages = [
            (stage, (after - at).total_seconds())
            for (stage, at), (_, after) in itertools.pairwise(rows)
        ]
        self.result.cycle_seconds = (rows[-1][1] - rows[0][1]).total_seconds()

    async def _privacy(self, state: StackState) -> None:
        """One person who rated, was rated and had a promotion case decided is exported,
        then erased (docs/privacy.md, Requests): the access request gathers what every
        service holds of them, and is the erasure's baseline in the same run, since both
        reach every service for one person; the erasure also clears legal holds, destroys
        their keys and waits for every service's confirmation."""
        async with await AsyncConnection.connect(state.database_url) as conn:
            cursor = await conn.execute(
                "SELECT employee_id FROM promotion.decision_log WHERE kind = 'decision' "
                "ORDER BY sequence LIMIT 1"
            )
            row = await cursor.fetchone()
        if row is None:
            return
        person = row[0]
        token = self.minter.mint("bench-privacy-officer", ["privacy_officer"])
        officer = {"Authorization": f"Bearer {token}"}
        requests = f"{self.url('cycles')}/privacy/requests"
        with self.console.status(f"privacy: access request and erasure of {person}"):
            started = time.perf_counter()
            response = await self.http.post(
                requests, json={"kind": "access", "employee_id": person}, headers=officer
            )
            response.raise_for_status()
            self.result.privacy["access request"] = time.perf_counter() - started
            started = time.perf_counter()
            body = {"kind": "erasure", "employee_id": person, "request_ref": "bench-erasure-1"}
            response = await self.http.post(requests, json=body, headers=officer)
            response.raise_for_status()

            async def erased() -> bool:
                status = await self.http.get(f"{requests}/bench-erasure-1", headers=officer)
                status.raise_for_status()
                body = status.json()
                if body.get("outcome") == "erased":
                    return True
                if body.get("outcome") or body["status"] not in ("RUNNING", "NOT_STARTED"):
                    raise RuntimeError(f"the erasure did not erase: {body}")
                return False

            await poll(erased, 600, "the erasure", self._consumed)
            self.result.privacy["erasure"] = time.perf_counter() - started

    async def _baseline(self, state: StackState) -> None:
        """As many submissions as the people made, as plain psycopg upserts (benchmark 4's
        baseline), on this stack's PostgreSQL in a database of their own, 8 writers."""
        count = min(self.result.counts.get("submissions", 0), len(self.org.submissions))
        async with await AsyncConnection.connect(state.database_url, autocommit=True) as admin:
            await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(RAW_DATABASE)))
        url = with_database(state.database_url, RAW_DATABASE)
        with self.console.status(f"baseline: {count:,} raw submission upserts"):
            await assessment.prepare(url)
            async with service_pool(url) as pool:
                self.result.baseline = await raw_ingest(
                    pool, self.org.submissions[:count], CpuProbe({})
                )


# -- all sizes -------------------------------------------------------------------------------


async def run(console: Console, sizes: CycleSizes) -> tuple[dict[str, str], str]:
    """Every size on a stack of its own; returns the machine's description and the report."""
    results: list[SizeResult] = []
    machine: dict[str, str] = {}
    for people in sizes.people:
        console.print(f"[bold]Review cycle: {people:,} people[/]")
        with bars(console) as progress:
            one = CycleRun(people, console, progress)
            try:
                result = await one.run()
                if not machine and one.state is not None:
                    origin = "embedded (talentledger up)"
                    machine = await machine_info(
                        one.state.database_url,
                        origin,
                        one.state.nats_url,
                        origin,
                        credentials_file(one.home, OPERATOR_IDENTITY),
                    )
            finally:
                await one.down()
        results.append(result)
        console.print(_summary(result))
    return machine, render(results)


def _summary(result: SizeResult) -> str:
    if result.failure:
        return f"{result.people:,} people: did not complete ({result.failure})"
    return f"{result.people:,} people: cycle took {result.cycle_seconds:,.1f} s"


# -- the report ------------------------------------------------------------------------------


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:,.1f}"


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f}"


def _growth(first: float, last: float, people: float) -> str:
    """How time grew against head count: 1.0 is linear, below is better."""
    if first <= 0:
        return "-"
    return f"{last / first:,.1f}x ({last / first / people:.2f} of linear)"


def render(results: list[SizeResult]) -> str:
    done = [r for r in results if not r.failure]
    parts = [
        "## 7. Review cycle",
        "",
        f"A whole cycle on a fresh embedded stack per size, {RATERS} raters per person on "
        f"average over {COMPETENCIES} competencies; everyone answers, every manager "
        "acknowledges. Each stage's time is from its `CycleStageChanged` event to the next "
        "(`recorded_at` in the cycles service's event log).",
    ]
    for failed in (r for r in results if r.failure):
        parts += ["", f"**{failed.people:,} people did not complete:** {failed.failure}"]
    if not done:
        return "\n".join(parts) + "\n"
    names = [f"{r.people:,}" for r in done]
    first, last = done[0], done[-1]
    scale = last.people / first.people
    growth = f"t({last.people:,}) / t({first.people:,})"

    def rows(values: list[dict[str, float]]) -> list[list[str]]:
        keys = list(dict.fromkeys(k for v in values for k in v))
        out = []
        for key in keys:
            cells = [_s(v.get(key)) for v in values]
            a, b = values[0].get(key), values[-1].get(key)
            out.append(
                [key, *cells, _growth(a, b, scale) if a is not None and b is not None else "-"]
            )
        return out

    header = ["", *(f"{n} people, s" for n in names), f"{growth} (linear: {scale:.0f}x)"]
    align = "l" + "r" * (len(done) + 1)
    stage_rows = rows([dict(r.stages) for r in done])
    stage_rows.append(
        [
            "**whole cycle**",
            *(f"**{_s(r.cycle_seconds)}**" for r in done),
            f"**{_growth(first.cycle_seconds, last.cycle_seconds, scale)}**",
        ]
    )
    acting = [{k: s for k, (s, _) in r.acting.items()} for r in done]
    parts += [
        "",
        "Stages (wall time from each stage event to the next):",
        "",
        table(header, stage_rows, align),
        "",
        "The simulated people's calls, by phase (8 concurrent requests), and what each size "
        "waited on orchestration alone:",
        "",
        table(header, rows(acting), align),
        "",
        table(header, rows([r.waiting for r in done]), align),
        "",
        "Setup before the cycle (not part of it):",
        "",
        table(header, rows([r.setup for r in done]), align),
        "",
        _baseline(done),
        "",
        _privacy(done),
        "",
        "The people's busiest endpoints (time to the response headers, 8 in flight):",
        "",
        _calls(done),
        "",
        "Peak resident set (VmHWM) of each process over the whole size's run, MiB, and its CPU "
        "seconds from starting the cycle to its completion:",
        "",
        _processes(done),
        "",
        _stalls(done),
        "",
        "Counts:",
        "",
        _counts(done),
        "",
        f"The benchmark's own process (simulated people): peak {_mib(_self_peak())} MiB.",
    ]
    return "\n".join(parts) + "\n"


def _baseline(done: list[SizeResult]) -> str:
    rows = []
    for r in done:
        seconds, requests = r.acting.get("rate (assignments, questionnaires, submissions)", (0, 0))
        submissions = r.counts.get("submissions", 0)
        api = submissions / seconds if seconds else float("nan")
        raw = r.baseline.rate if r.baseline else float("nan")
        rows.append(
            [
                f"{r.people:,}",
                f"{submissions:,}",
                f"{requests:,}",
                f"{api:,.0f}",
                f"{raw:,.0f}",
                f"**{api / raw:.3f}**" if r.baseline else "-",
            ]
        )
    return (
        "Submissions through the API against the baseline (as many raw psycopg upserts into "
        "a table of the submissions' shape, 8 writers, benchmark 4's `raw_ingest`, on the same "
        "PostgreSQL after the cycle):\n\n"
        + table(
            [
                "People",
                "Submissions",
                "Requests (with reads)",
                "API submissions/s",
                "Raw upserts/s",
                "Ratio",
            ],
            rows,
            "rrrrrr",
        )
    )


def _privacy(done: list[SizeResult]) -> str:
    rows = [
        [
            f"{r.people:,}",
            _s(r.privacy.get("access request")),
            _s(r.privacy.get("erasure")),
            f"**{r.privacy['erasure'] / r.privacy['access request']:.1f}**"
            if {"erasure", "access request"} <= set(r.privacy)
            else "-",
        ]
        for r in done
    ]
    return (
        "Erasing one person after the cycle (someone who rated, was rated and had a promotion "
        "decided), end to end through the cycles API until every service confirmed, against "
        "an access request for the same person on the same stack (both reach every service):"
        "\n\n"
        + table(["People", "Access request s", "Erasure s", "Erasure / access"], rows, "rrrr")
    )


def _calls(done: list[SizeResult]) -> str:
    """The endpoints that took the people longest at the largest size, and their mean time
    per request at every size: a mean that grows with the head count is a cost per request
    that depends on the population."""
    last = done[-1]
    busiest = sorted(last.calls.items(), key=lambda kv: -kv[1].seconds)[:10]
    header = [
        "Endpoint",
        f"Requests at {last.people:,}",
        *(f"Mean ms at {r.people:,}" for r in done),
        f"Slowest ms at {last.people:,}",
        f"Total s at {last.people:,}",
    ]
    rows = [
        [
            f"`{route}`",
            f"{c.count:,}",
            *(f"{r.calls[route].mean_ms:.1f}" if route in r.calls else "-" for r in done),
            f"{c.slowest * 1000:,.0f}",
            _s(c.seconds),
        ]
        for route, c in busiest
    ]
    return table(header, rows, "l" + "r" * (len(done) + 3))


def _processes(done: list[SizeResult]) -> str:
    names = list(dict.fromkeys(k for r in done for k in [*r.memory, *r.cpu]))
    header = ["Process", *(f"{r.people:,}: MiB / CPU s" for r in done)]
    rows = [
        [name, *(f"{_mib(r.memory.get(name))} / {_s(r.cpu.get(name))}" for r in done)]
        for name in names
    ]
    rows.append(["machine busy during the cycle", *(f"{r.busy:.0%}" for r in done)])
    return table(header, rows, "l" + "r" * len(done))


def _stalls(done: list[SizeResult]) -> str:
    """Each service's longest event-loop stall during the cycle, and how many went over the
    threshold, from what the services logged."""
    threshold = max(r.stall_threshold for r in done) * 1000

    def cell(stalls: Stalls | None) -> str:
        if stalls is None:
            return "?"
        return f"{stalls.longest * 1000:,.0f} ({stalls.count:,})" if stalls.count else "-"

    names = list(dict.fromkeys(k for r in done for k in r.stalls))
    rows = [[f"{name} service", *(cell(r.stalls.get(name)) for r in done)] for name in names]
    return (
        f"Event-loop stalls over {threshold:,.0f} ms of each service, from starting the cycle "
        "to its completion: the longest in ms and (how many). Every service runs a watch on "
        f"its loop (libs/platform/stalls.py), a ticker every {INTERVAL * 1000:.0f} ms that "
        "logs how much later than due it woke when that is over the threshold "
        "(`TALENTLEDGER_LOOP_STALL_THRESHOLD`); these are read from the services' logs, all "
        "replicas together. A stall is a lower bound of how long the loop was held (up to one "
        "tick of it passes unseen); '-': none over the threshold.\n\n"
        + table(["Service", *(f"{r.people:,} people" for r in done)], rows, "l" + "r" * len(done))
    )


def _counts(done: list[SizeResult]) -> str:
    keys = list(dict.fromkeys(k for r in done for k in r.counts))
    return table(
        ["", *(f"{r.people:,} people" for r in done)],
        [[k, *(f"{r.counts.get(k, 0):,}" for r in done)] for k in keys],
        "l" + "r" * len(done),
    )


def _self_peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
