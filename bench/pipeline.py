"""Benchmark 11: HR's readiness pipeline (the promotion service's `GET /reports/readiness`).

The organisation of benchmark 4 (10,000 people in 10 departments, each in a role profile of
10 competencies) is hired through the org chart's handler and the framework seeded through
the replica's, in the schema `bench_pipeline` migrated with the service's migrations. One
calibration (benchmark 6's scores) is recorded as `on_calibration` records it.

Timed, best of `repeats`: `readiness_pipeline()` for everyone and for one department (the
scores joined to the org chart and streamed a batch at a time, each person judged by the
readiness evaluation and tallied per department and position). **Baseline:** the criteria
preview of the same session (`preview_criteria` with the defaults as the draft), which reads
the population and the org chart whole and judges each person twice (draft and version in
force). Memory: the traced peak of one pipeline for everyone, against one preview's.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from bench.development import calibration
from bench.heatmap import HeatmapSizes, best_of, organisation_in
from services.promotion.adapters.postgres.records import PromotionRecords
from services.promotion.adapters.postgres.work import Database
from services.promotion.application.criteria_preview import preview_criteria
from services.promotion.application.promotion import Promotion
from services.promotion.application.readiness_pipeline import readiness_pipeline
from services.promotion.service import definition

SCHEMA = "bench_pipeline"
SESSION = "bench-pipeline-s1"


# The heatmap's knobs: how many people, and how many timed runs.
PipelineSizes = HeatmapSizes
FULL = PipelineSizes(people=10_000, repeats=3)
QUICK = PipelineSizes(people=1_000, repeats=3)


@dataclass(frozen=True)
class _Hr:
    subject: str = "bench-hr"

    def has(self, role: str) -> bool:
        return role == "hr_admin"


async def _peak(run: Callable[[], Awaitable[Any]]) -> int:
    """The traced memory peak of one run, in bytes."""
    gc.collect()
    tracemalloc.start()
    await run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


async def run(database_url: str, console: Console, sizes: PipelineSizes) -> str:
    people = organisation_in(database_url, SCHEMA, definition.migrations, sizes.people)
    async with people as (store, org):
        async with store.transaction() as conn:
            await PromotionRecords(conn, SCHEMA).record_calibration(
                calibration(SESSION, org, 1), datetime.now(UTC)
            )
        promotion = Promotion(Database(store), "promotion_committee")
        hr = _Hr()
        departments = sorted({h.department for h in org.hires})
        console.print(f"pipeline: {len(org.hires):,} people, {len(departments)} departments")

        one = departments[0]
        everyone_s, everyone = await best_of(
            sizes.repeats, lambda: readiness_pipeline(promotion, hr)
        )
        one_s, in_one = await best_of(sizes.repeats, lambda: readiness_pipeline(promotion, hr, one))
        preview_s, previewed = await best_of(
            sizes.repeats, lambda: preview_criteria(promotion, {}, hr)
        )
        pipeline_peak = await _peak(lambda: readiness_pipeline(promotion, hr))
        preview_peak = await _peak(lambda: preview_criteria(promotion, {}, hr))

    judged = sum(r.people for r in everyone.rows)
    one_judged = sum(r.people for r in in_one.rows)
    # The version in force judges each person once in the pipeline; the preview judges
    # the same people under it too, so their figures must agree.
    ready_or_awaiting = sum(r.ready + r.awaiting_case for r in everyone.rows)
    lines = [
        "## 11. Readiness pipeline by department and position",
        "",
        f"{len(org.hires):,} people of one calibration, {len(departments)} departments. "
        f"Best of {sizes.repeats}.",
        "",
        "| What | Seconds | People judged | Rows | Ratio | Traced peak MiB |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        f"| `readiness_pipeline()`: streamed, judged and tallied | **{everyone_s:.3f}** | "
        f"{judged:,} | {len(everyone.rows):,} | **{everyone_s / preview_s:.2f}** | "
        f"**{pipeline_peak / 2**20:,.1f}** |",
        f"| `readiness_pipeline({one!r})`: one department | {one_s:.3f} | {one_judged:,} | "
        f"{len(in_one.rows):,} | {one_s / preview_s:.2f} | |",
        f"| baseline: the criteria preview, read whole, judged twice | {preview_s:.3f} | "
        f"{previewed.in_force.people:,} | {len(previewed.in_force.targets):,} | 1 | "
        f"{preview_peak / 2**20:,.1f} |",
        "",
        f"Left out of the pipeline: {sum(everyone.left_out.values()):,} "
        f"({', '.join(f'{k}: {v:,}' for k, v in everyone.left_out.items()) or 'none'}). "
        f"Ready or awaiting a case: {ready_or_awaiting:,}; the preview's eligible under the "
        f"version in force (average and floor only): {previewed.in_force.eligible:,}.",
    ]
    return "\n".join(lines)
