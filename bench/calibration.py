"""Benchmark 12: a calibration session at 10,000 people, through the assessment service's
HTTP API (docs/domain.md §4, Calibration at scale).

The population of the calibration tests (`tests/support/calibration_population.py`: a
reporting tree, three reports each; self, manager and direct reports rate, random answers)
in a closed campaign, on the service's FastAPI app in this process (httpx's ASGI
transport), in a database of its own. Timed, each step once, in the order HR takes them:
open the session (its inputs computed and stored), read a page of subjects' scores, every
page of them, one subject's, a page of each signal, every page of rater offsets (the
largest), make one adjustment, complete, read the completed session. For each: the
seconds, the size of the answer, and the longest event-loop stall (a 1 ms ticker; the
answer is parsed after the ticker stops, as that is the client's work).
The garbage collector is settled after seeding as the service's runtime settles it once
started (`libs.platform.runtime.settle_start_up`). Memory: the process's resident set,
sampled every 10 ms from a thread, at its peak during the steps and before them (the
process holds the benchmark's and the seeding's objects too).
"""

from __future__ import annotations

import contextlib
import gc
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
from rich.console import Console

from bench.framework import stall_watch
from bench.report import table
from bench.stack import with_database
from libs.platform.pagination import MAX_LIMIT
from libs.platform.runtime import settle_start_up
from tests.support.assessment_api import AssessmentApi, assessment_api
from tests.support.calibration_population import person_id, seed_closed_campaign
from tests.support.sample_frameworks import valid_framework

CAMPAIGN = "bench-calibration"
SESSION = "bench-calibration"
BASE = f"/calibrations/{SESSION}"
MIB = 1024 * 1024


@dataclass(frozen=True)
class CalibrationSizes:
    people: int


FULL = CalibrationSizes(people=10_000)
QUICK = CalibrationSizes(people=1_000)


@dataclass(frozen=True)
class Step:
    name: str
    seconds: float
    stall: float
    size: int
    requests: int = 1


class RssPeak:
    """The process's highest resident set while inside, sampled every 10 ms in a thread."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self.peak = 0
        self._done = threading.Event()

    def _sample(self) -> None:
        while not self._done.wait(0.01):
            self.peak = max(self.peak, self._process.memory_info().rss)

    @contextlib.contextmanager
    def watching(self) -> Iterator[RssPeak]:
        self.peak = self._process.memory_info().rss
        sampler = threading.Thread(target=self._sample, daemon=True)
        sampler.start()
        try:
            yield self
        finally:
            self._done.set()
            sampler.join()


async def _timed(
    api: AssessmentApi, method: str, path: str, status: int, **kwargs: Any
) -> tuple[httpx.Response, float, float]:
    """The answer, the seconds it took and the longest stall meanwhile."""
    async with stall_watch() as stall:
        started = time.perf_counter()
        answer = await api.response(method, path, status, **kwargs)
        seconds = time.perf_counter() - started
    return answer, seconds, stall.longest


async def _steps(api: AssessmentApi, people: int) -> list[Step]:
    steps: list[Step] = []

    async def step(name: str, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        answer, seconds, stall = await _timed(api, method, path, status, **kw)
        steps.append(Step(name, seconds, stall, len(answer.content)))
        return answer.json()

    async def every_page(name: str, path: str) -> None:
        """The whole list, page by page: the time of all pages, the longest stall of any."""
        pages: list[Step] = []
        params: dict[str, str] | None = {"limit": str(MAX_LIMIT)}
        while params is not None:
            answer, seconds, stall = await _timed(api, "GET", path, 200, params=params)
            pages.append(Step(name, seconds, stall, len(answer.content)))
            cursor = answer.json()["next_cursor"]
            params = None if cursor is None else {**params, "cursor": cursor}
        seconds, stall = sum(p.seconds for p in pages), max(p.stall for p in pages)
        steps.append(Step(name, seconds, stall, sum(p.size for p in pages), len(pages)))

    body = {"id": SESSION, "campaign_id": CAMPAIGN}
    opening = "open the session (computes and stores its inputs)"
    await step(opening, "POST", "/calibrations", 201, json=body)
    await step(
        f"scores, one page ({MAX_LIMIT} subjects)", "GET", f"{BASE}/scores?limit={MAX_LIMIT}"
    )
    await every_page("scores, the whole population page by page", f"{BASE}/scores")
    subject = person_id(people // 2)
    [theirs] = (await step("scores of one subject", "GET", f"{BASE}/scores?subject={subject}"))[
        "items"
    ]
    for signal in ("rater-offsets", "inconsistent-anchors", "outliers"):
        await step(f"{signal}, one page", "GET", f"{BASE}/{signal}?limit={MAX_LIMIT}")
    await every_page("rater-offsets, every page", f"{BASE}/rater-offsets")
    score = next(s for s in theirs["scores"] if s["calibrated"] is not None)
    adjustment = {
        "subject": subject,
        "competency": score["competency"],
        "new_value": 3,
        "justification": "Agreed in the session",
        "seen_value": score["calibrated"],
    }
    await step("one adjustment", "POST", f"{BASE}/adjustments", 201, json=adjustment)
    await step("completion", "POST", f"{BASE}/complete")
    await step("the completed session", "GET", BASE)
    return steps


@contextlib.contextmanager
def _database(admin_url: str) -> Iterator[str]:
    """A database of the benchmark's own, beside the others' (it migrates the assessment
    schema as the service's tests do), dropped afterwards."""
    name = f"{psycopg.conninfo.conninfo_to_dict(admin_url).get('dbname', 'bench')}_calibration"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.asynccontextmanager
async def _service(database_url: str) -> AsyncIterator[AssessmentApi]:
    with tempfile.TemporaryDirectory() as keys:
        async with assessment_api(database_url, Path(keys)) as api:
            await api.publish("eng", 1, valid_framework())
            yield api


async def run(admin_url: str, console: Console, sizes: CalibrationSizes) -> str:
    with _database(admin_url) as database_url:
        async with _service(database_url) as api:
            with console.status(f"seeding a closed campaign of {sizes.people:,} people"):
                started = time.perf_counter()
                await seed_closed_campaign(api, CAMPAIGN, sizes.people)
                seeded = time.perf_counter() - started
            # As a service does once started: what the process holds is start-up's.
            settle_start_up()
            try:
                with console.status("calibrating"), RssPeak().watching() as rss:
                    before = rss.peak
                    steps = await _steps(api, sizes.people)
            finally:
                # The benchmarks after this one in a full run, in the same process, are
                # measured with the collector seeing everything, as before.
                gc.unfreeze()
    return _section(sizes, steps, seeded, before, rss.peak)


def _section(
    sizes: CalibrationSizes, steps: list[Step], seeded: float, before: int, peak: int
) -> str:
    rows = [
        [
            s.name,
            f"{s.seconds:.2f}",
            f"{s.stall * 1000:,.0f}",
            f"{s.size / 1000:,.1f}",
            f"{s.requests}",
        ]
        for s in steps
    ]
    return "\n".join(
        [
            f"## 12. Calibration session at {sizes.people:,} people (assessment service, HTTP API)",
            "",
            f"A closed campaign seeded in {seeded:.1f} s; then each step once, in this order.",
            "",
            table(["Step", "Seconds", "Longest stall ms", "Answer kB", "Requests"], rows, "lrrrr"),
            "",
            f"Resident set of the process: {before / MIB:,.0f} MiB before the steps, "
            f"{peak / MIB:,.0f} MiB at its peak during them (+{(peak - before) / MIB:,.0f} MiB).",
        ]
    )
