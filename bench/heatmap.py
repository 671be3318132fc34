"""Benchmark 10: HR's gap heatmap by department and competency (the development service).

The organisation of benchmark 4 (10,000 people, each in a role profile of 10 competencies)
is hired through the org chart's handler and the framework seeded through the replica's, in
the schema `bench_heatmap` migrated with the service's migrations. One calibration's gaps
(benchmark 6's scores) are written as `on_calibration` writes them (`record_calibration`,
`record_gaps`), without the plans and events, which the heatmap does not read.

Timed, best of `repeats`: `Development.gap_heatmap()` for everyone (the gap rows streamed
from a server-side cursor joined to the org chart, tallied per cell in Python) and for one
department, against the baseline in the same run: a plain SQL GROUP BY over the same gap
rows and the same join, computing the same cells in PostgreSQL. The two answers are checked
equal. Memory: the traced peak of one heatmap for everyone.
"""

from __future__ import annotations

import asyncio
import gc
import math
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool
from rich.console import Console

from bench.assessment import FRAMEWORK_ID, seed_framework, seed_org_chart
from bench.assessment_model import Organisation, organisation
from bench.development import calibration
from bench.framework_model import build_framework
from libs.events.migrations import migrate
from libs.events.store import EventStore
from libs.replicas.framework_versions import FrameworkVersions
from libs.replicas.org_chart import OrgChart
from services.development.adapters.postgres.records import DevelopmentRecords
from services.development.adapters.postgres.work import Database
from services.development.application.development import Development
from services.development.domain.gaps import Gap, gaps
from services.development.domain.heatmap import HeatmapCell
from services.development.service import definition

SCHEMA = "bench_heatmap"
SESSION = "bench-heatmap-s1"


@dataclass(frozen=True)
class HeatmapSizes:
    people: int
    repeats: int


FULL = HeatmapSizes(people=10_000, repeats=5)
QUICK = HeatmapSizes(people=1_000, repeats=3)

# The baseline: the same cells, computed by PostgreSQL over the same rows and join.
_GROUP_BY = """
SELECT p.department, g.competency, count(*), count(g.current),
       avg(g.target - g.current), count(*) FILTER (WHERE g.current < g.target)
FROM {gaps} g JOIN {people} p USING (employee_id)
WHERE g.session_id = %(session)s AND p.hired_on IS NOT NULL AND p.left_on IS NULL
  AND p.department IS NOT NULL
  AND (%(department)s::text IS NULL OR p.department = %(department)s)
GROUP BY 1, 2 ORDER BY 1, 2
"""


async def best_of(repeats: int, timed: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    """The fastest of `repeats` runs, and the last answer."""
    best, answer = math.inf, None
    for _ in range(repeats):
        gc.collect()
        began = time.perf_counter()
        answer = await timed()
        best = min(best, time.perf_counter() - began)
    return best, answer


def _same(cells: list[HeatmapCell], grouped: list[tuple[Any, ...]]) -> bool:
    """The service's cells and the GROUP BY's rows say the same."""
    if len(cells) != len(grouped):
        return False
    for cell, (department, competency, people, observed, mean, below) in zip(
        cells, grouped, strict=True
    ):
        if (cell.department, cell.competency, cell.people, cell.observed, cell.below_target) != (
            department,
            competency,
            people,
            observed,
            below,
        ):
            return False
        if (cell.mean_gap is None) != (mean is None) or (
            mean is not None and not math.isclose(cell.mean_gap or 0.0, mean, abs_tol=1e-9)
        ):
            return False
    return True


@asynccontextmanager
async def organisation_in(
    database_url: str, schema: str, migrations: Sequence[Path], people: int
) -> AsyncIterator[tuple[EventStore, Organisation]]:
    """Benchmark 4's organisation of `people`, hired through the org chart's handler and its
    framework seeded through the replica's, in `schema` migrated with `migrations`; the
    schema is dropped afterwards."""
    await asyncio.to_thread(migrate, database_url, schema, *migrations)
    framework = build_framework()
    org = organisation(people, framework)
    async with AsyncConnectionPool(database_url, min_size=1, max_size=4, open=False) as pool:
        store = EventStore(pool, schema)
        await seed_framework(store, framework, schema)
        await seed_org_chart(store, org, schema)
        try:
            yield store, org
        finally:
            await store.close()
    with psycopg.connect(database_url, autocommit=True) as c:
        c.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


async def run(database_url: str, console: Console, sizes: HeatmapSizes) -> str:
    people = organisation_in(database_url, SCHEMA, definition.migrations, sizes.people)
    async with people as (store, org):
        pool = store.pool
        replica = FrameworkVersions(SCHEMA)
        development = Development(Database(store, OrgChart(SCHEMA), replica))

        event = calibration(SESSION, org, 1)
        found: list[tuple[str, str, list[Gap]]] = []
        async with store.transaction() as conn:
            profiles: dict[tuple[str, str, str], Any] = {}
            for scored in event.scores:
                position = scored.position
                assert position is not None
                if position not in profiles:
                    profiles[position] = await replica.role_profile(conn, FRAMEWORK_ID, 1, position)
                profile = profiles[position]
                if profile is not None:
                    found.append((scored.subject, profile.key, gaps(profile, scored.scores)))
            records = DevelopmentRecords(conn, SCHEMA)
            at = datetime.now(UTC)
            await records.record_calibration(event, at)
            await records.record_gaps(SESSION, at, found)
        rows = sum(len(g) for _, _, g in found)
        departments = sorted({h.department for h in org.hires})
        console.print(
            f"heatmap: {len(org.hires):,} people, {rows:,} gap rows, {len(departments)} departments"
        )

        query = sql.SQL(_GROUP_BY).format(
            gaps=sql.Identifier(SCHEMA, "gaps"), people=sql.Identifier(SCHEMA, "people")
        )

        def group_by(department: str | None) -> Callable[[], Awaitable[list[tuple[Any, ...]]]]:
            async def timed() -> list[tuple[Any, ...]]:
                async with pool.connection() as conn:
                    cur = await conn.execute(query, {"session": SESSION, "department": department})
                    return await cur.fetchall()

            return timed

        one = departments[0]
        heatmap_s, everyone = await best_of(sizes.repeats, development.gap_heatmap)
        grouped_s, grouped = await best_of(sizes.repeats, group_by(None))
        one_s, in_one = await best_of(sizes.repeats, lambda: development.gap_heatmap(one))
        one_grouped_s, one_grouped = await best_of(sizes.repeats, group_by(one))
        same = _same(everyone.cells, grouped) and _same(in_one.cells, one_grouped)

        gc.collect()
        tracemalloc.start()
        await development.gap_heatmap()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

    one_rows = sum(c.people for c in in_one.cells)
    lines = [
        "## 10. Gap heatmap by department and competency",
        "",
        f"{len(org.hires):,} people x 10 competencies: {rows:,} gap rows of one calibration, "
        f"{len(departments)} departments. Best of {sizes.repeats}.",
        "",
        "| What | Seconds | Rows in | Cells | Ratio |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| `Development.gap_heatmap()`: rows streamed, tallied in Python | **{heatmap_s:.3f}** "
        f"| {rows:,} | {len(everyone.cells):,} | **{heatmap_s / grouped_s:.1f}** |",
        f"| baseline: SQL GROUP BY over the same rows and join | {grouped_s:.3f} | {rows:,} | "
        f"{len(grouped):,} | 1 |",
        f"| `gap_heatmap({one!r})`: one department | {one_s:.3f} | {one_rows:,} | "
        f"{len(in_one.cells):,} | {one_s / one_grouped_s:.1f} |",
        f"| baseline: the GROUP BY for that department | {one_grouped_s:.3f} | {one_rows:,} | "
        f"{len(one_grouped):,} | 1 |",
        "",
        f"Same cells as the GROUP BY: **{'yes' if same else 'NO'}**. Memory: traced peak of one "
        f"heatmap for everyone **{peak / 2**20:,.1f} MiB**.",
    ]
    return "\n".join(lines)
