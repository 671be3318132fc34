"""Two review cycles for 50 people on the real stack (issue: full review cycles on Temporal).

Every service runs as its own process on embedded PostgreSQL and NATS; Temporal is the
time-skipping test server, so the 21-day campaigns and the 90-day wait between cycles take
seconds. Simulated people act through the HTTP APIs (talentledger/simulation.py); HRIS and
LMS data arrive through the CLI loaders. The second cycle reports how scores moved.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from libs.platform.auth import TokenMinter
from libs.platform.settings import Settings
from services.promotion.adapters.postgres.decision_log import DecisionLog
from services.promotion.domain.decision_log import verify
from talentledger.samples.organisation import as_csv, catalog_csv, org_chart
from talentledger.simulation import HR, Simulation, Urls
from tests.support.stack import ROOT, RunningStack, running_stack

TEST_SERVER = ROOT / ".venv" / "bin" / "temporal-test-server"
SAMPLE = ROOT / "talentledger" / "samples" / "engineering-framework.yaml"
PEOPLE = 50


async def wait_for(check: Callable[[], Any], seconds: float, what: str) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if result := await asyncio.to_thread(check):
            return result
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


class Cycle:
    def __init__(self, stack: RunningStack, cycle_id: str) -> None:
        self.stack, self.cycle_id = stack, cycle_id
        self.hr = stack.token("hr_admin", HR)

    def status(self) -> dict[str, Any]:
        return self.stack.get("cycles", f"/cycles/{self.cycle_id}", self.hr).json()

    async def at(self, stage: str, number: int | None = None) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            status = self.status()
            assert status["status"] in ("RUNNING", "COMPLETED"), status
            if status.get("stage") != stage:
                return None
            progress = status.get("progress")
            if number is not None and progress and progress["number"] != number:
                return None
            return status

        return await wait_for(reached, 120, f"stage {stage!r}")


@pytest.mark.skipif(not TEST_SERVER.exists(), reason=f"no time-skipping server at {TEST_SERVER}")
async def test_two_cycles_for_50_people_run_every_stage_and_report_movement(
    tmp_path: Path,
) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=str(TEST_SERVER)
    )
    address = env.client.service_client.config.target_host
    async with env:
        with running_stack(TEMPORAL_ADDRESS=address) as stack:
            await run_two_cycles(env, stack, tmp_path)


async def prepare(stack: RunningStack, folder: Path, last_number: int) -> tuple[Cycle, Simulation]:
    """The sample framework, 50 people and the catalog through the CLI; a cycle started."""
    cli: Callable[..., Any] = lambda *args: asyncio.to_thread(stack.cli, *args)  # noqa: E731
    people = org_chart(PEOPLE, prefix="C")
    (folder / "people.csv").write_text(as_csv(people), encoding="utf-8")
    (folder / "catalog.csv").write_text(catalog_csv(), encoding="utf-8")
    await cli(
        "framework", "import", str(SAMPLE), "--id", "product-engineering", "--publish", "--as", HR
    )
    await cli("hris", "load", str(folder / "people.csv"), "--as", "hris")
    await cli("lms", "load", str(folder / "catalog.csv"), "--as", "lms")
    hr = stack.token("hr_admin", HR)
    last = people[-1].employee_id
    await wait_for(
        lambda: stack.get("assessment", f"/org-chart/people/{last}", hr).status_code == 200,
        60,
        "the org chart",
    )
    async with httpx.AsyncClient(headers=hr, timeout=10) as client:
        response = await client.post(
            stack.url("cycles") + "/cycles",
            json={
                "framework": {"framework_id": "product-engineering"},
                "last_number": last_number,
            },
        )
    cycle = Cycle(stack, response.json()["cycle_id"])
    settings = Settings()
    minter = TokenMinter(
        stack.home / "keys" / "dev-signing-key.pem",
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    return cycle, Simulation(urls_of(stack), minter, people, seed=5)


def urls_of(stack: RunningStack) -> Urls:
    return Urls(*(stack.url(s) for s in ("assessment", "development", "promotion", "cycles")))


def assert_each_effect_once(database: str, cycle_id: str, cycles: int) -> None:
    """No duplicated plan, decision or event effect, whatever was retried or redelivered."""
    with psycopg.connect(database) as conn:

        def rows(query: str) -> list[tuple[Any, ...]]:
            return conn.execute(query).fetchall()  # type: ignore[arg-type]

        plans = rows(
            "SELECT session_id, employee_id FROM development.plans GROUP BY 1, 2 "
            "HAVING count(*) > 1"
        )
        stages = rows("SELECT DISTINCT stream_id FROM cycles.events ORDER BY 1")
        assessment = rows(
            "SELECT event_type, count(*) FROM assessment.events WHERE event_type IN "
            "('CampaignOpened', 'CampaignClosed', 'CalibrationCompleted') GROUP BY 1"
        )
        steps = rows(
            "SELECT case_id, kind FROM promotion.decision_log "
            "WHERE kind IN ('nomination', 'decision', 'readiness_evaluated') "
            "GROUP BY 1, 2 HAVING count(*) > 1"
        )
    assert plans == [], "one plan per person and calibration"
    assert [s for (s,) in stages] == [f"cycle-{cycle_id}.{n}" for n in range(1, cycles + 1)], (
        "each cycle's stage transitions, published for integrators"
    )
    assert dict(assessment) == {
        "CampaignOpened": cycles,
        "CampaignClosed": cycles,
        "CalibrationCompleted": cycles,
    }
    assert steps == [], "one nomination, evaluation and decision per case"
    assert verify(DecisionLog("promotion").entries(database)).ok


async def run_two_cycles(env: WorkflowEnvironment, stack: RunningStack, folder: Path) -> None:
    cycle, simulation = await prepare(stack, folder, last_number=2)
    try:
        first = await one_cycle(env, cycle, simulation, 1)
        assert first["stage"] == "waiting for the next cycle"
        assert first["progress"]["counts"]["plans"] > 0
        assert first["progress"]["counts"]["promotion_cases"] >= 1

        # Development works: everyone's level rises before the next cycle.
        simulation.level = {p: level + 0.6 for p, level in simulation.level.items()}
        await env.sleep(timedelta(days=91))
        await cycle.at("campaign open", number=2)
        done = await one_cycle(env, cycle, simulation, 2)
    finally:
        await simulation.close()

    outcome = done["outcome"]
    assert done["status"] == "COMPLETED"
    assert outcome["number"] == 2
    movement = outcome["movement"]
    assert movement["previous_session_id"] == f"{cycle.cycle_id}.1.calibration"
    assert movement["people"] == PEOPLE
    assert movement["improved"] > movement["declined"]
    assert movement["mean_change"] > 0
    assert_each_effect_once(stack.state["database_url"], cycle.cycle_id, 2)


async def one_cycle(
    env: WorkflowEnvironment,
    cycle: Cycle,
    simulation: Simulation,
    number: int,
) -> dict[str, Any]:
    """Rate, let the 21 days pass, calibrate, nominate, acknowledge: what people do."""
    campaign = f"{cycle.cycle_id}.{number}"
    await cycle.at("campaign open", number=number)
    await simulation.nominate_peers(campaign, lambda _: None)
    await simulation.rate(campaign, simulation.responders(0.95), lambda _: None)
    await env.sleep(timedelta(days=22))  # reminders at 7 and 14 days, the close at 21
    await cycle.at("calibration", number=number)
    session = f"{campaign}.calibration"
    calibration = await simulation.calibrate(session)
    assert calibration.subjects == len(simulation.people)
    status = await cycle.at("gap review", number=number)
    managers = [w.split()[1] for w in status["progress"]["waiting_on"]]
    assert managers, "managers of people with gaps review them"
    cases = await simulation.nominate_promotions(campaign, session, calibration.averages, limit=3)
    await simulation.acknowledge(cycle.cycle_id, managers, share=1.0)
    stage = "completed" if number == 2 else "waiting for the next cycle"
    reached = await cycle.at(stage)
    if cases:
        decided = await simulation.decide(cases)
        assert sum(decided.values()) == len(cases)
    return reached
