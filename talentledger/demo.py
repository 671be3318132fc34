"""The main job: a full review cycle on the embedded stack, through the real APIs and events.

Starts the stack, publishes the sample framework through the framework import, loads a
generated organisation through the HRIS path and an L&D catalog through the LMS path, then
runs one review cycle on Temporal: simulated people nominate peers and rate, HR closes the
campaign and calibrates, managers acknowledge gaps (some stay silent, and the cycle records
it), plans are generated, managers nominate promotions and a committee decides. Then
employees set goals their managers agree and work on their plans, and the LMS reports a
course completed. Ends with a summary and where to look: the APIs, the Temporal UI, the
traces.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
from faststream.nats import NatsBroker
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
from rich.table import Table

from libs.platform.auth import TokenMinter, ensure_dev_keypair
from libs.platform.pagination import every_item
from libs.platform.settings import Settings
from libs.platform.telemetry import read_spans
from services.promotion.adapters.audit import verify_stored_log
from talentledger.cycle_driver import (
    CAMPAIGN_OPENED,
    CLOSED,
    DECIDING,
    DEVELOPING,
    ENDED,
    GAPS_FOUND,
    RATING,
    Conduct,
    CycleDriver,
    Phase,
    Watcher,
)
from talentledger.framework_files import FrameworkRequestFailed, import_file
from talentledger.hris_load import publish_hires, read_people
from talentledger.inbound import integration_broker
from talentledger.lms_load import publish_catalog, publish_completions, read_catalog
from talentledger.samples.organisation import as_csv, catalog_csv, org_chart
from talentledger.simulation import HR, Journey, Simulation, Urls
from talentledger.stack.supervisor import SERVICES, Stack, StackState, with_stack_addresses

FRAMEWORK_ID = "product-engineering"
GOAL_STATES = ("proposed", "open", "rejected", "met", "missed", "dropped")
SAMPLE = "engineering-framework.yaml"
CONSUMERS = ("assessment", "development", "promotion")
# Real time on the embedded Temporal server: the campaign is closed by HR once everyone has
# rated, and calibration completes as soon as HR has adjusted; the gap review waits briefly
# for the managers who stay silent.
SCHEDULE = {
    "campaign": timedelta(days=14).total_seconds(),
    "reminders": [timedelta(days=7).total_seconds()],
    "calibration_escalation": timedelta(days=3).total_seconds(),
    "gap_review": 20,
    "between_cycles": timedelta(days=90).total_seconds(),
}
ACKNOWLEDGING = 0.8
# After the cycle, this many of the strongest and of the weakest set goals, and as many others
# work on their plans.
DEVELOPING_PEOPLE = 3
# A wait on the cycle fails once it has shown no progress for this long.
STALL = 180.0


class DemoFailed(RuntimeError):
    pass


def _wait(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.25)
    raise DemoFailed(f"timed out after {timeout:.0f}s waiting for {what}")


class _Following(Watcher):
    """The cycle on the progress bars: its stage as it moves, a bar for each counted phase,
    and a step of the cycle's bar as each of these phases ends."""

    STEPS = (CAMPAIGN_OPENED, RATING, CLOSED, GAPS_FOUND, ENDED, DECIDING, DEVELOPING)

    def __init__(self, progress: Progress, stages: TaskID) -> None:
        self.progress = progress
        self.stages = stages

    def status(self, status: dict[str, Any]) -> None:
        description = f"cycle: {status.get('stage') or status['status']}"
        self.progress.update(self.stages, description=description)

    def started(self, phase: Phase, total: int | None) -> Callable[[int], None]:
        if not phase.counted:
            return super().started(phase, total)
        task = self.progress.add_task(phase.counted, total=total)
        return lambda n: self.progress.advance(task, n)

    def ended(self, phase: Phase) -> None:
        if phase in self.STEPS:
            self.progress.advance(self.stages)


class Demo:
    def __init__(self, settings: Settings, console: Console, people: int) -> None:
        self.settings = settings
        self.console = console
        self.stack = Stack(settings)
        self.people = org_chart(people)
        self.facts: dict[str, Any] = {}

    def run(self) -> None:
        columns = (
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=self.console) as progress:
            self.progress = progress
            state = self._up()
            self.state = state
            keys = ensure_dev_keypair(self.stack.home / "keys")[0]
            minter = TokenMinter(
                keys, issuer=self.settings.jwt_issuer, audience=self.settings.jwt_audience
            )
            self.http = httpx.Client(
                headers={"Authorization": f"Bearer {minter.mint(HR, ['hr_admin'])}"}, timeout=30
            )
            with self.http:
                version = self._framework()
                asyncio.run(self._organisation())
                asyncio.run(self._cycle(minter, version))
        self._summary()

    # -- setting the scene ---------------------------------------------------------------

    def _up(self) -> StackState:
        steps = ["PostgreSQL", "NATS JetStream", "Temporal", *(f"{s} service" for s in SERVICES)]
        task = self.progress.add_task("starting the stack", total=len(steps))
        state = self.stack.up(
            progress=lambda part: self.progress.update(
                task, advance=1, description=f"starting {part}"
            )
        )
        self.progress.update(task, completed=len(steps), description="stack is up")
        return state

    def url(self, service: str) -> str:
        return self.state.services[service].url

    def _framework(self) -> int:
        task = self.progress.add_task("publishing the sample framework", total=1 + len(CONSUMERS))
        with resources.as_file(resources.files("talentledger.samples") / SAMPLE) as sample:
            try:
                imported = import_file(
                    self.http, self.url("framework"), sample, FRAMEWORK_ID, publish=True
                )
            except FrameworkRequestFailed as error:
                raise DemoFailed(str(error)) from None
        version = imported.version
        assert version is not None
        self.progress.update(task, advance=1, description=f"framework v{version} in force")
        for service in CONSUMERS:
            _wait(
                lambda s=service: any(
                    v["framework_id"] == FRAMEWORK_ID and v["version"] == version
                    for v in every_item(
                        lambda params: self.http.get(
                            f"{self.url(s)}/framework-versions", params=params
                        ).json()
                    )
                ),
                60,
                f"{service} to receive FrameworkPublished",
            )
            self.progress.update(task, advance=1, description=f"{service} holds v{version}")
        self.facts["framework"] = f"{FRAMEWORK_ID} v{version}"
        return version

    def _broker_as(self, identity: str) -> AbstractAsyncContextManager[NatsBroker]:
        """A broker connected as the integration `hris load` or `lms load` would use."""
        settings = with_stack_addresses(self.settings, nats_identity=identity)
        return integration_broker(settings, f"demo-{identity}")

    async def _organisation(self) -> None:
        """The org chart through the HRIS path and the catalog through the LMS path, as
        `talentledger hris load` and `lms load` publish them."""
        folder = self.stack.home / "demo"
        folder.mkdir(exist_ok=True)
        people_csv, courses_csv = folder / "people.csv", folder / "catalog.csv"
        people_csv.write_text(as_csv(self.people), encoding="utf-8")
        courses_csv.write_text(catalog_csv(), encoding="utf-8")
        hires, catalog = read_people(people_csv.read_text()), read_catalog(courses_csv)
        async with self._broker_as("hris") as broker:
            task = self.progress.add_task("loading the org chart (HRIS)", total=len(hires.hires))
            await publish_hires(broker, hires.hires, "hris-load:demo", self._advance(task))
        async with self._broker_as("lms") as broker:
            courses = self.progress.add_task(
                "loading the catalog (LMS)", total=len(catalog.courses)
            )
            await publish_catalog(broker, catalog.courses, "lms-load:demo", self._advance(courses))
        last = self.people[-1].employee_id
        _wait(
            lambda: (
                self.http.get(f"{self.url('assessment')}/org-chart/people/{last}").status_code
                == 200
            ),
            60,
            "the org chart to reach the assessment service",
        )
        self.facts["people"] = len(self.people)
        self.facts["courses"] = len(catalog.courses)
        self.facts["files"] = folder

    def _advance(self, task: TaskID) -> Callable[[int], None]:
        return lambda n: self.progress.advance(task, n)

    # -- the cycle -----------------------------------------------------------------------

    async def _cycle(self, minter: TokenMinter, version: int) -> None:
        urls = Urls(*(self.url(s) for s in ("assessment", "development", "promotion", "cycles")))
        stages = self.progress.add_task("review cycle", total=8)
        driver = CycleDriver(
            Simulation(urls, minter, self.people),
            stall=STALL,
            watcher=_Following(self.progress, stages),
            completes=self._completes,
        )
        try:
            self.facts["cycle"] = await driver.start(
                {"framework_id": FRAMEWORK_ID, "version": version},
                schedule=SCHEDULE,
                last_number=1,
            )
            lived = await driver.one_cycle(
                conduct=Conduct(
                    responding=0.93, acknowledging=ACKNOWLEDGING, developing=DEVELOPING_PEOPLE
                )
            )
        finally:
            await driver.close()
        self.facts.update(
            ratings=lived.ratings,
            calibration=lived.calibration,
            acknowledged=lived.acknowledged,
            managers=len(lived.managers),
            outcome=lived.ended["outcome"],
            decisions=lived.decisions,
        )
        assert lived.journey is not None, "the conduct has people developing"
        self.facts["development"] = await asyncio.to_thread(self._development, lived.journey)
        self.facts["log"] = await asyncio.to_thread(self._verify_log)
        self.progress.advance(stages)

    async def _completes(self, employee: str, course: str) -> None:
        """The LMS reports a course completed, as its integration publishes completions."""
        async with self._broker_as("lms") as broker:
            today = datetime.now(UTC).date()
            await publish_completions(broker, [(employee, course, today)], "lms-load:demo")

    def _development(self, journey: Journey) -> list[tuple[str, str]]:
        """The summary's rows on goals and plans, as HR reads them from the development
        service: goals per state, and progress of everyone's plans and of those worked on."""
        url = self.url("development")
        rows = self.http.get(f"{url}/reports/goals").json()["rows"]
        goals = Counter({state: sum(r[state] for r in rows) for state in GOAL_STATES})
        done = total = plans = 0
        for top in (p.employee_id for p in self.people if not p.manager_id):
            team = self.http.get(f"{url}/teams/{top}/plans").json()
            done, total, plans = (
                done + team["done"],
                total + team["total"],
                plans + len(team["people"]),
            )
        worked = []
        for employee, work in journey.plans.items():
            completion = self.http.get(f"{url}/plans/{employee}").json()["completion"]
            how = "a course done by the LMS" if work.completed else "their own action approved"
            worked.append(f"{employee} {completion['done']}/{completion['total']} done ({how})")
        approved = sum(w.approved is not None for w in journey.plans.values())
        return [
            (
                "goals",
                f"{sum(goals.values())} set ({journey.check_ins} check-ins): {goals['met']} met, "
                f"{goals['missed']} missed, {goals['open']} open (the next calibration judges "
                "those due)",
            ),
            (
                "plan progress",
                f"{done} of {total} actions in force done across {plans} plans"
                + (f" ({done / total:.0%})" if total else "")
                + f"; {approved} proposed by employees and approved by their managers",
            ),
            ("plans worked on", "; ".join(worked) or "none"),
        ]

    def _verify_log(self) -> str:
        result = verify_stored_log(self.state.database_url, "promotion").chain
        assert result is not None, "verified without a checkpoint: the chain is always read"
        if not result.ok:
            raise DemoFailed(f"the decision log does not verify: {result.failure}")
        head = f", head {result.head.hash[:16]}…" if result.head else ""
        return f"{result.entries} entries verified{head}"

    # -- the summary ---------------------------------------------------------------------

    def _summary(self) -> None:
        console, facts = self.console, self.facts
        outcome = facts["outcome"]
        campaign = outcome["campaign"]
        review = outcome["gap_review"]
        calibration = facts["calibration"]
        answered = campaign["assignments"] - campaign["outstanding"]
        console.rule("Review cycle")
        rows = [
            ("cycle", f"{facts['cycle']}: COMPLETED"),
            ("framework", facts["framework"]),
            (
                "organisation",
                f"{facts['people']} people, {facts['courses']} courses ({facts['files']})",
            ),
            (
                "responses",
                f"{answered} of {campaign['assignments']} assignments "
                f"({answered / max(campaign['assignments'], 1):.0%}); "
                f"{facts['ratings'].answers} ratings",
            ),
            (
                "calibration",
                f"{calibration.adjustments} adjustments with justification; "
                f"{calibration.lenient_or_severe} lenient or severe raters; "
                f"{calibration.outliers} outliers",
            ),
            ("gaps", f"{review['open_gaps']} open gaps across {review['people']} people"),
            ("gap review", f"{facts['acknowledged']} of {facts['managers']} managers acknowledged"),
            ("plans", f"{review['plans']} development plans (70/20/10)"),
            ("promotions", _outcomes(facts["decisions"])),
            *facts["development"],
            ("decision log", facts["log"]),
        ]
        for name, value in rows:
            console.print(f"{name:<16} {value}", soft_wrap=True)
        traces = self.settings.traces.absolute()
        console.print(f"{'widest trace':<16} {_widest_trace(traces)}", soft_wrap=True)
        console.print(f"{'spans':<16} {traces}/<service>.jsonl", soft_wrap=True)
        table = Table("where", "address")
        for service in SERVICES:
            table.add_row(f"{service} API", f"{self.state.services[service].url}/docs")
        table.add_row("Temporal UI", self.state.temporal_ui_url or self.state.temporal_address)
        table.add_row("NATS monitoring", self.state.nats_monitor_url or self.state.nats_url)
        table.add_row("data", str(self.stack.home))
        console.print(table)
        console.print(
            "The stack keeps running: `./tl status`, `./tl token --role hr_admin --sub you`,"
        )
        console.print("`./tl down` to stop it (data is kept).")


def _outcomes(decisions: Counter[str]) -> str:
    if not decisions:
        return "no nominations"
    return ", ".join(f"{n} {outcome}" for outcome, n in sorted(decisions.items()))


def _spans(traces: Path) -> Iterator[dict[str, Any]]:
    time.sleep(1)  # spans are exported in batches every half second
    yield from read_spans(traces)


def _widest_trace(traces: Path) -> str:
    services: dict[str, set[str]] = {}
    for span in _spans(traces):
        trace_id = str(span["context"]["trace_id"])  # type: ignore[index]
        services.setdefault(trace_id, set()).add(span["resource"]["attributes"]["service.name"])  # type: ignore[index]
    trace, names = max(services.items(), key=lambda item: len(item[1]), default=("-", set()))
    return f"{trace} across {', '.join(sorted(names))}"


def run(settings: Settings, console: Console, people: int) -> None:
    Demo(settings, console, people).run()
