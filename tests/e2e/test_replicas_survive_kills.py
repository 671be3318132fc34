"""A review cycle runs on two replicas of every service and survives losing one of each
(issue: scale, replicas; deploy/README.md).

`talentledger up --replicas 2` starts two processes of every service on one address per
service (SO_REUSEPORT): their consumers share the durable consumers, their Temporal workers
the task queues, and one outbox relay per service is active while the other stands by. One
replica of every service gets SIGKILL mid-campaign and nothing is restarted: the people go on
rating through the same addresses, served by the replicas left; both replicas of the
assessment service served the people before. The killed ones are started again
(`talentledger up`, which keeps each service's count), and the other replica of every
service gets SIGKILL while the calibration session is under review, once it holds its
service's relay lock: the restarted replica's standby relay must take over within seconds.
HR calibrates, and the completed calibration reaches the cycle, the plans and the readiness
evaluations, through the replicas left. The cycle must complete with each effect once.

Killed right after the calibration completes instead, a replica may die holding
`CalibrationCompleted` unacknowledged, which comes back to the other after its ack wait (60 s,
docs/architecture.md §3, Inbox): the services' own kill test covers that
(tests/e2e/test_cycle_survives_kills.py), and this one stays within its time.
"""

from __future__ import annotations

from pathlib import Path

from talentledger.cycle_driver import CycleDriver
from talentledger.stack.supervisor import SERVICES
from tests.support.cycles import (
    FAR_DEADLINES,
    assert_each_effect_once,
    calibrated_to_the_end,
    half_rated,
    kill,
    prepare,
    relay_leaders,
    restart,
    wait_for,
)
from tests.support.stack import RunningStack, running_stack

PEOPLE = 50
# A standby relay tries for the lock every second; the killed one's lock goes with its
# connection, which PostgreSQL closes as soon as the process is gone.
TAKEOVER = 15.0


async def test_a_cycle_completes_with_each_effect_once_when_a_replica_of_every_service_is_killed(
    tmp_path: Path,
) -> None:
    with running_stack("--replicas", "2") as stack:
        assert all(stack.state["services"][s]["pids"][1] for s in SERVICES), stack.state
        cycle = await prepare(stack, tmp_path, PEOPLE, last_number=1, schedule=FAR_DEADLINES)
        try:
            await the_cycle(stack, cycle)
            done = await cycle.status()
        finally:
            await cycle.close()
        assert done["status"] == "COMPLETED", done
        assert_each_effect_once(stack.state["database_url"], cycle.cycle_id, 1)


def replica_of_each(replica: int) -> dict[str, str]:
    """Replica number `replica` of every service, as its connections name it."""
    return {service: f"{service}-{replica}" for service in SERVICES}


def requests_served(stack: RunningStack, file_stem: str) -> int:
    """How many HTTP requests the process writing `<file_stem>.jsonl` traced serving."""
    spans = stack.traces / f"{file_stem}.jsonl"
    lines = spans.read_text(encoding="utf-8").splitlines() if spans.exists() else []
    return sum('"kind": "SpanKind.SERVER"' in line for line in lines)


async def the_cycle(stack: RunningStack, cycle: CycleDriver) -> None:
    simulation = cycle.simulation
    addresses = simulation.urls
    campaign = f"{cycle.cycle_id}.1"
    rest = await half_rated(cycle, 1)
    # Spans reach their files within a second (libs/platform/telemetry.py).
    await wait_for(
        lambda: all(requests_served(stack, stem) for stem in ("assessment", "assessment-2")),
        TAKEOVER,
        "both replicas of the assessment service to have served the people's requests",
    )
    # Submissions just committed are being relayed and consumed; the cycle's worker holds
    # the campaign's reminder timer.
    await kill(stack, *SERVICES, replica=1)
    await simulation.rate(campaign, rest, lambda _: None)
    await cycle.control("close-campaign")
    await cycle.at("calibration", number=1)

    await restart(stack, simulation)
    assert simulation.urls == addresses, "each service keeps its one address"
    database = stack.state["database_url"]
    # Replica 2 of each service was alone a while: its relay leads, the restarted one waits.
    await wait_for(
        lambda: relay_leaders(database) == replica_of_each(2),
        TAKEOVER,
        "the relay of replica 2 of every service to be the active one",
    )
    # The session is open and under review; the cycle's worker waits for its completion.
    await kill(stack, *SERVICES, replica=2)
    await wait_for(
        lambda: relay_leaders(database) == replica_of_each(1),
        TAKEOVER,
        "the standby relays of the restarted replicas to take over",
    )
    await calibrated_to_the_end(cycle, 1)
