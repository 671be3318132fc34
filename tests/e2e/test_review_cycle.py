"""Two review cycles for 50 people on the real stack (issue: full review cycles on Temporal).

Every service runs as its own process on embedded PostgreSQL and NATS; Temporal is the
time-skipping test server, so the 21-day campaigns and the 90-day wait between cycles take
seconds. Simulated people act through the HTTP APIs (talentledger/simulation.py); HRIS and
LMS data arrive through the CLI loaders. The second cycle reports how scores moved, and each
stage of each cycle is a trace of its own across the services (docs/cycles.md, Tracing).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from libs.platform.telemetry import read_spans
from libs.workflows.contracts import (
    CLOSE_CAMPAIGN,
    EVALUATE_CYCLE,
    GAP_REVIEW,
    OPEN_CAMPAIGN,
)
from talentledger.cycle_driver import Conduct, CycleDriver
from tests.support.cycles import assert_each_effect_once, prepare, wait_for
from tests.support.stack import RunningStack, running_stack
from tests.support.temporal import time_skipping

PEOPLE = 50


async def test_two_cycles_for_50_people_run_every_stage_and_report_movement(
    tmp_path: Path,
) -> None:
    async with time_skipping(pydantic_data_converter) as env:
        address = env.client.service_client.config.target_host
        with running_stack(TEMPORAL_ADDRESS=address) as stack:
            await run_two_cycles(env, stack, tmp_path)


async def run_two_cycles(env: WorkflowEnvironment, stack: RunningStack, folder: Path) -> None:
    driver = await prepare(stack, folder, PEOPLE, last_number=2)
    simulation = driver.simulation
    try:
        first = await one_cycle(env, driver, 1)
        assert first["stage"] == "waiting for the next cycle"
        assert first["progress"]["counts"]["plans"] > 0
        assert first["progress"]["counts"]["promotion_cases"] >= 1

        # Development works: everyone's level rises before the next cycle.
        simulation.level = {p: level + 0.6 for p, level in simulation.level.items()}
        await env.sleep(timedelta(days=91))
        await driver.at("campaign open", number=2)
        done = await one_cycle(env, driver, 2)
    finally:
        await driver.close()

    outcome = done["outcome"]
    assert done["status"] == "COMPLETED"
    assert outcome["number"] == 2
    movement = outcome["movement"]
    assert movement["previous_session_id"] == f"{driver.cycle_id}.1.calibration"
    assert movement["people"] == PEOPLE
    assert movement["improved"] > movement["declined"]
    assert movement["mean_change"] > 0
    assert_each_effect_once(stack.state["database_url"], driver.cycle_id, 2)
    # Each promotion stage left a checkpoint signed with the stack's pinned key; the
    # decisions taken since are counted, not yet anchored.
    verified = " ".join(stack.cli("audit", "verify").split())
    assert "signed with the pinned key" in verified
    assert "entries after the last checkpoint" in verified
    assert len(list((stack.home / "checkpoints").iterdir())) >= 2
    # Spans leave each service in batches every half second.
    await wait_for(lambda: stage_traces(stack.home / "traces", 2), 15, "every stage's trace")


async def one_cycle(env: WorkflowEnvironment, driver: CycleDriver, number: int) -> dict[str, Any]:
    """Rate, let the 21 days pass, calibrate, nominate, acknowledge: what people do."""

    async def let_the_campaign_run_out() -> None:
        await env.sleep(timedelta(days=22))  # reminders at 7 and 14 days, the close at 21

    lived = await driver.one_cycle(
        number, Conduct(responding=0.95, promotions=3), close=let_the_campaign_run_out
    )
    assert lived.calibration.subjects == len(driver.simulation.people)
    assert lived.managers, "managers of people with gaps review them"
    assert sum(lived.decisions.values()) == len(lived.cases)
    return lived.ended


def stage_traces(traces: Path, cycles: int) -> bool:
    """Each stage of each cycle is a trace of its own, rooted at its stage span and linked to
    the trace that started the cycle. The campaign's trace goes from the workflow through the
    assessment service's activities and relay to the cycles service's consumer, which signals
    the workflow that the campaign closed; the gap review and the promotion evaluation run in
    the traces of their stages. False while spans are still missing."""
    spans = read_spans(traces)
    by_trace: dict[str, list[dict[str, Any]]] = defaultdict(list)
    roots: dict[tuple[str, int], str] = {}
    for span in spans:
        by_trace[span["context"]["trace_id"]].append(span)
        if span["name"].startswith("cycle stage: "):
            assert span["parent_id"] is None, span
            assert len(span["links"]) == 1, span
            stage = span["name"].removeprefix("cycle stage: ")
            roots[stage, span["attributes"]["talentledger.cycle.number"]] = span["context"][
                "trace_id"
            ]

    def names(stage: str, number: int) -> set[tuple[str, str]]:
        trace_id = roots.get((stage, number))
        return {(_service(s), s["name"]) for s in by_trace[trace_id]} if trace_id else set()

    closed = "talentledger.assessment.campaign_closed.v1"
    for number in range(1, cycles + 1):
        expected = {
            "campaign open": {
                ("assessment", f"RunActivity:{OPEN_CAMPAIGN.name}"),
                ("assessment", f"RunActivity:{CLOSE_CAMPAIGN.name}"),
                ("assessment", f"{closed} publish"),
                ("cycles", f"{closed} process"),
                ("cycles", "SignalWorkflow:campaign_closed"),
            },
            "calibration": {("development", f"RunActivity:{GAP_REVIEW.name}")},
            "promotion evaluation": {("promotion", f"RunActivity:{EVALUATE_CYCLE.name}")},
        }
        for stage, wanted in expected.items():
            if not wanted <= names(stage, number):
                return False
    assert len(set(roots.values())) == len(roots), "a trace per stage"
    return True


def _service(span: dict[str, Any]) -> str:
    return str(span["resource"]["attributes"]["service.name"])
