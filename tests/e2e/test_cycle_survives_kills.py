"""A review cycle survives its services being killed in every stage (issue: full review cycles
on Temporal; docs/architecture.md §4).

Every service runs as its own process on the embedded stack, Temporal included (the dev
server, on the wall clock: a killed worker's sticky queue times out in seconds there). In each
stage, the process of a service the stage depends on gets SIGKILL (its HTTP API, outbox relay,
consumers and Temporal worker die at once, mid-write or mid-activity) and is started again
with `talentledger up`. Both cycles of the series must still complete, with each effect once:
one plan per person and calibration, one nomination, evaluation and decision per case, one
campaign opened, closed and calibrated per cycle, and a decision log that verifies.

People act through the HTTP APIs (talentledger/simulation.py); HR closes the campaign and
starts the next cycle by signal, so no stage waits for its calendar deadline.
"""

from __future__ import annotations

from pathlib import Path

from talentledger.cycle_driver import CycleDriver, managers_waited_on
from tests.support.cycles import (
    FAR_DEADLINES,
    assert_each_effect_once,
    half_rated,
    kill,
    prepare,
    restart,
)
from tests.support.stack import RunningStack, running_stack

PEOPLE = 30


async def test_a_cycle_completes_with_each_effect_once_when_services_are_killed_in_every_stage(
    tmp_path: Path,
) -> None:
    with running_stack() as stack:
        cycle = await prepare(stack, tmp_path, PEOPLE, last_number=2, schedule=FAR_DEADLINES)
        try:
            await first_cycle(stack, cycle)
            await second_cycle(stack, cycle)
            done = await cycle.status()
        finally:
            await cycle.close()
        assert done["status"] == "COMPLETED", done
        movement = done["outcome"]["movement"]
        assert movement["previous_session_id"] == f"{cycle.cycle_id}.1.calibration"
        assert movement["people"] == PEOPLE
        assert_each_effect_once(stack.state["database_url"], cycle.cycle_id, 2)


async def first_cycle(stack: RunningStack, cycle: CycleDriver) -> None:
    simulation = cycle.simulation

    async def kill_and_restart(*services: str) -> None:
        await kill(stack, *services)
        await restart(stack, simulation)

    campaign = f"{cycle.cycle_id}.1"
    session = f"{campaign}.calibration"
    rest = await half_rated(cycle, 1)
    # Submissions just committed are still being relayed; the cycle's worker holds the
    # campaign's reminder timer.
    await kill_and_restart("assessment", "cycles")
    await simulation.rate(campaign, rest, lambda _: None)
    await cycle.control("close-campaign")

    await cycle.at("calibration", number=1)
    await kill_and_restart("assessment")  # the session is open and under review
    calibration = await simulation.calibrate(session)
    # CalibrationCompleted is on its way to the cycle (as a signal), to development (plans)
    # and to promotion (readiness) while all three die.
    await kill_and_restart("cycles", "development", "promotion")

    status = await cycle.at("gap review", number=1)
    managers = managers_waited_on(status)
    assert managers, "managers of people with gaps review them"
    await kill_and_restart("development")
    cases = await simulation.nominate_promotions(campaign, session, calibration.averages, limit=3)
    assert cases, "some people are nominated for promotion"
    await simulation.acknowledge(cycle.cycle_id, managers[: len(managers) // 2], share=1.0)
    await kill_and_restart("cycles")  # acknowledgements so far live only in the history
    # No promotion worker when the evaluation starts: it waits on its task queue, and runs
    # once the worker is back.
    await kill(stack, "promotion")
    await simulation.acknowledge(cycle.cycle_id, managers[len(managers) // 2 :], share=1.0)
    await cycle.at("promotion evaluation", number=1)
    await restart(stack, simulation)
    await kill_and_restart("promotion")  # mid-evaluation, or just after it
    status = await cycle.at("waiting for the next cycle", number=1)
    assert status["progress"]["counts"]["promotion_cases"] == len(cases)
    decided = await simulation.decide(cases)
    assert sum(decided.values()) == len(cases)


async def second_cycle(stack: RunningStack, cycle: CycleDriver) -> None:
    simulation = cycle.simulation

    async def kill_and_restart(*services: str) -> None:
        await kill(stack, *services)
        await restart(stack, simulation)

    campaign = f"{cycle.cycle_id}.2"
    session = f"{campaign}.calibration"
    await kill_and_restart("cycles", "development")  # the cycle holds its durable timer
    await cycle.control("start-next-cycle")
    await cycle.campaign_opened(2)
    # Development works: everyone's level rises before the next cycle.
    simulation.level = {p: level + 0.6 for p, level in simulation.level.items()}
    await simulation.nominate_peers(campaign, lambda _: None)
    await simulation.rate(campaign, simulation.responders(0.95), lambda _: None)
    await cycle.control("close-campaign")
    await cycle.at("calibration", number=2)
    await simulation.calibrate(session)
    status = await cycle.at("gap review", number=2)
    managers = managers_waited_on(status)
    # No development worker when re-assessment starts: the movement waits for it.
    await kill(stack, "development")
    await simulation.acknowledge(cycle.cycle_id, managers, share=1.0)
    await cycle.at("re-assessment", number=2)
    await restart(stack, simulation)
    await cycle.at("completed", number=2)
