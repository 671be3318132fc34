"""Benchmark 6: gaps and development plans for a population (the development service).

10,000 people on benchmark 4's org chart, spread over all 14 levels of their job family
(bench/development_model.py: a pyramid from IC1 to M7, 8 to 12 competencies each), are hired
through the org chart's handler and the framework seeded through the replica's, in the schema
`bench_development` migrated with the service's migrations. An L&D catalog of
2,000 courses arrives through `Development.on_catalog`. Then one `CalibrationCompleted` for
everyone goes through `Development.on_calibration`, in one transaction as its consumer runs
it: gaps against each role profile, 70/20/10 plans with mentors shared population-wide,
courses matched to competency and level, and every GapsIdentified, DevelopmentPlanGenerated
and EnrolmentRequested appended.

Baselines in the same run: (a) a plain-Python pass computing target minus score per person
and competency from the same inputs into a dict; (b) plain psycopg COPY of as many rows as the
service wrote gaps and plan actions into a table of the same width. A second calibration
(another session id) runs under tracemalloc for the memory peak.

Before the first calibration the garbage collector is settled as a service's runtime settles
it once started (`libs.platform.runtime.settle_start_up`), and the longest event-loop stall
during `on_calibration` and its commit is measured with a 1 ms ticker (issue 20: none over
100 ms).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import resource
import time
import tracemalloc
from dataclasses import dataclass
from typing import Any

import psutil
import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool
from rich.console import Console

from bench.assessment import FRAMEWORK_ID, envelope, seed_framework, seed_org_chart
from bench.cpu import CpuProbe, CpuUse, postgres_processes
from bench.development_model import levels, population
from bench.framework import stall_watch
from bench.framework_model import build_framework
from libs.events.migrations import migrate
from libs.events.schemas.assessment import CalibrationCompleted, SubjectScores
from libs.events.schemas.lms import Course, CourseCatalogUpdated, CourseCompetency
from libs.events.store import EventStore
from libs.platform.runtime import settle_start_up
from libs.replicas.framework_versions import FrameworkVersions
from libs.replicas.org_chart import OrgChart
from services.development.adapters.postgres.work import Database
from services.development.application.development import Development
from services.development.service import definition

SCHEMA = "bench_development"
RAW_SCHEMA = "bench_development_raw"


@dataclass(frozen=True)
class DevelopmentSizes:
    people: int
    courses: int


FULL = DevelopmentSizes(people=10_000, courses=2_000)
QUICK = DevelopmentSizes(people=500, courses=200)


def catalog(competencies: list[str], count: int) -> list[Course]:
    rng = random.Random(11)
    courses = []
    for n in range(count):
        low = rng.randint(0, 3)
        courses.append(
            Course(
                course_id=f"course-{n:05d}",
                title=f"Course {n}",
                format=rng.choice(["online", "classroom", "workshop", "blended", "self_paced"]),
                duration_hours=rng.choice([2, 4, 8, 16]),
                builds=[
                    CourseCompetency(
                        competency=rng.choice(competencies),
                        from_level=low,
                        to_level=rng.randint(low + 1, 5),
                    )
                ],
            )
        )
    return courses


def calibration(session: str, org: Any, seed: int) -> CalibrationCompleted:
    rng = random.Random(seed)
    scores = []
    for hire in org.hires:
        found = org.competencies[hire.employee_id]
        scores.append(
            SubjectScores(
                subject=hire.employee_id,
                position=(hire.job_family, hire.track, hire.level),
                scores={
                    c: None if rng.random() < 0.03 else round(rng.uniform(1, 5), 2) for c in found
                },
            )
        )
    return CalibrationCompleted(
        session_id=session,
        campaign_id=f"campaign-{session}",
        framework_id=FRAMEWORK_ID,
        framework_version=1,
        scores=scores,
        adjustments=[],
    )


def plain_gaps(event: CalibrationCompleted, targets: dict[tuple[str, ...], dict[str, int]]) -> int:
    gaps: dict[tuple[str, str], float] = {}
    for s in event.scores:
        wanted = targets.get(tuple(s.position or ()), {})
        for competency, score in s.scores.items():
            target = wanted.get(competency)
            if target is not None and score is not None and target > score:
                gaps[(s.subject, competency)] = target - score
    return len(gaps)


HERE = "benchmark process"
STALL_TARGET = 0.1
"""Seconds: issue 20 wants no event-loop stall over this during a review cycle."""
# The stalls over the target are counted for the report, not logged on stderr.
_UNHEARD = logging.getLogger("bench.development.stalls")
_UNHEARD.addHandler(logging.NullHandler())
_UNHEARD.propagate = False


def _cpu(use: CpuUse) -> str:
    """`benchmark / PostgreSQL | busy` cells; `-` for a group that could not be observed."""
    seconds = " / ".join("-" if s is None else f"{s:.2f}" for s in use.seconds.values())
    return f"{seconds} | {use.machine_busy:.0%}"


def _cpu_ratio(measured: CpuUse, baseline: CpuUse) -> str:
    """Ratio of the CPU seconds of every observed group, or `-` when some went unobserved."""
    if any(s is None for s in (*measured.seconds.values(), *baseline.seconds.values())):
        return "-"
    spent = sum(s for s in measured.seconds.values() if s is not None)
    base = sum(s for s in baseline.seconds.values() if s is not None)
    return f"{spent / base:.1f}" if base > 0 else "-"


async def run(database_url: str, console: Console, sizes: DevelopmentSizes) -> str:
    await asyncio.to_thread(migrate, database_url, SCHEMA, *definition.migrations)
    framework = build_framework()
    org = population(sizes.people, framework)
    async with AsyncConnectionPool(database_url, min_size=1, max_size=4, open=False) as pool:
        store = EventStore(pool, SCHEMA)
        await seed_framework(store, framework, SCHEMA)
        await seed_org_chart(store, org, SCHEMA)
        replica = FrameworkVersions(SCHEMA)
        database = Database(store, OrgChart(SCHEMA), replica)
        development = Development(database)
        competencies = sorted({c for cs in org.competencies.values() for c in cs})
        courses = catalog(competencies, sizes.courses)
        began = time.perf_counter()
        async with store.transaction() as conn:
            update = CourseCatalogUpdated(courses=courses)
            await development.on_catalog(
                database.bind(conn), envelope(update, "lms-catalog"), update
            )
        loaded = time.perf_counter() - began
        console.print(f"development: {len(org.hires):,} people, {len(courses):,} courses")

        # As a service does once started: what the process holds before the calibration
        # arrives (here the benchmark's own population and seeding) is out of the collector's
        # full passes, which then walk what the calibration makes, as they would there.
        settle_start_up()
        first = calibration("bench-s1", org, 1)
        targets: dict[tuple[str, ...], dict[str, int]] = {}
        async with pool.connection() as conn:
            for position in {tuple(s.position or ()) for s in first.scores}:
                profile = await replica.role_profile(conn, FRAMEWORK_ID, 1, position)  # type: ignore[arg-type]
                if profile is not None:
                    targets[position] = {
                        r.competency: r.target for r in profile.requirements if r.target is not None
                    }
        async with pool.connection() as conn:
            postgres = await postgres_processes(conn, database_url)
        groups = {HERE: [psutil.Process()], "PostgreSQL": postgres}
        gc.collect()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        probe = CpuProbe(groups)
        probe.start()
        began = time.perf_counter()
        stall = stall_watch()
        stall.threshold, stall.log = STALL_TARGET, _UNHEARD
        async with stall, store.transaction() as conn:
            await development.on_calibration(
                database.bind(conn), envelope(first, "calibration-bench-s1"), first
            )
        planned = time.perf_counter() - began
        planned_cpu = probe.stop()
        rss_rise = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024

        began = time.perf_counter()
        report = await development.coverage(False)
        coverage_s = time.perf_counter() - began

        async with pool.connection() as conn:
            row = await (
                await conn.execute(
                    sql.SQL(
                        "SELECT (SELECT count(*) FROM {}), (SELECT count(*) FROM {}), "
                        "(SELECT count(*) FROM {} WHERE stream_id LIKE 'development-session-%%')"
                    ).format(
                        sql.Identifier(SCHEMA, "gaps"),
                        sql.Identifier(SCHEMA, "plans"),
                        sql.Identifier(SCHEMA, "events"),
                    )
                )
            ).fetchone()
        gap_rows, plan_rows, events = row if row else (0, 0, 0)

        gc.collect()
        began = time.perf_counter()
        found = plain_gaps(first, targets)
        plain_s = time.perf_counter() - began

        rows = gap_rows + events
        async with pool.connection() as conn:
            await conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(RAW_SCHEMA))
            )
            await conn.execute(
                sql.SQL("CREATE TABLE {} (a text, b text, c text, d float, e jsonb)").format(
                    sql.Identifier(RAW_SCHEMA, "copied")
                )
            )
            await conn.commit()
            probe = CpuProbe(groups)
            probe.start()
            began = time.perf_counter()
            async with conn.cursor() as cur:
                copy_sql = sql.SQL("COPY {} FROM STDIN").format(
                    sql.Identifier(RAW_SCHEMA, "copied")
                )
                async with cur.copy(copy_sql) as copy:
                    for n in range(rows):
                        await copy.write_row((f"E{n}", "bench-s1", "competency", 1.5, '{"a": 1}'))
            await conn.commit()
            copy_s = time.perf_counter() - began
            copy_cpu = probe.stop()

        second = calibration("bench-s2", org, 2)
        gc.collect()
        tracemalloc.start()
        async with store.transaction() as conn:
            await development.on_calibration(
                database.bind(conn), envelope(second, "calibration-bench-s2"), second
            )
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        await store.close()
    # The benchmarks after this one in a full run see everything, as before.
    gc.unfreeze()
    with psycopg.connect(database_url, autocommit=True) as c:
        for schema in (SCHEMA, RAW_SCHEMA):
            c.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))

    open_gaps = sum(r.people for r in report.rows)
    needing = sum(1 for r in report.rows if r.needs_new_programme)
    held = sum(len(c) for c in org.competencies.values())
    lines = [
        "## 6. Development: gaps and plans for a population",
        "",
        f"{len(org.hires):,} people holding {held:,} competencies between them, a catalog of "
        f"{len(courses):,} courses (loaded through `on_catalog` in {loaded:.2f} s). One "
        "`CalibrationCompleted` through `Development.on_calibration`, in one transaction as "
        "its consumer runs it.",
        "",
        "People per level: " + ", ".join(f"{level} {n:,}" for level, n in levels(org)) + ".",
        f"People with a plan: {plan_rows:,} of {len(org.hires):,} "
        f"({plan_rows / len(org.hires):.0%}).",
        "",
        "| What | Seconds | Rows | Ratio | CPU s (benchmark / PostgreSQL) | Machine busy |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        f"| `on_calibration`: gaps, plans, mentors, courses, events | **{planned:.2f}** | "
        f"{gap_rows:,} gaps, {plan_rows:,} plans, {events:,} events | | "
        f"{_cpu(planned_cpu)} |",
        f"| baseline (a): target minus score in a dict, plain Python | {plain_s:.3f} | "
        f"{found:,} gaps | {planned / plain_s:,.0f} | | |",
        f"| baseline (b): COPY of as many rows as gaps and events | {copy_s:.2f} | {rows:,} | "
        f"**{planned / copy_s:.1f}** | {_cpu(copy_cpu)} |",
        f"| coverage report on the result | {coverage_s:.2f} | {open_gaps:,} open gaps, "
        f"{needing} competencies needing a programme | | | |",
        "",
        f"Longest event-loop stall during `on_calibration` and its commit: "
        f"**{stall.longest * 1000:,.0f} ms**, {stall.over} over {STALL_TARGET * 1000:.0f} ms "
        "(a 1 ms ticker on the loop, which in the service also runs its API, its other "
        "consumers, its relay and its Temporal worker).",
        "",
        f"Ratio in CPU seconds, benchmark process and PostgreSQL together: "
        f"**{_cpu_ratio(planned_cpu, copy_cpu)}** (the wall-clock ratio counts what other work "
        "on the machine takes from both; CPU seconds much less so).",
        "",
        "Memory: traced peak of a second `on_calibration` (another session) "
        f"**{peak / 2**20:,.0f} MiB**; the process's maximum resident set rose by "
        f"{rss_rise:,.0f} MiB during the first.",
    ]
    return "\n".join(lines)
