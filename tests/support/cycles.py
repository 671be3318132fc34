"""Review cycles on a running stack, set up the way people do (the CLI and HTTP) and driven
by the simulated people (talentledger/cycle_driver.py)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from libs.platform.auth import TokenMinter
from libs.platform.settings import Settings
from services.promotion.adapters.postgres.decision_log import DecisionLog
from services.promotion.domain.decision_log import verify
from talentledger.cycle_driver import CycleDriver, managers_waited_on
from talentledger.inbound import integration_broker
from talentledger.lms_load import publish_completions
from talentledger.samples.organisation import as_csv, catalog_csv, org_chart
from talentledger.simulation import HR, Completes, Simulation, Urls
from talentledger.stack.supervisor import SERVICES, Stack, StackState, with_stack_addresses
from tests.support.stack import ROOT, RunningStack

SAMPLE = ROOT / "talentledger" / "samples" / "engineering-framework.yaml"
# A wait on the cycle fails once it has shown no progress for this long.
STALL = 120.0
DAY = timedelta(days=1).total_seconds()
# Deadlines far beyond a test: every stage ends by what people do, never by a timer.
FAR_DEADLINES = {
    "campaign": DAY,
    "reminders": [DAY / 2],
    "calibration_escalation": DAY,
    "gap_review": DAY,
    "between_cycles": DAY,
}


async def wait_for(check: Callable[[], Any], seconds: float, what: str) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if result := await asyncio.to_thread(check):
            return result
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


async def prepare(
    stack: RunningStack,
    folder: Path,
    people_count: int,
    last_number: int,
    schedule: dict[str, Any] | None = None,
    people_type: type[Simulation] = Simulation,
) -> CycleDriver:
    """The sample framework, the people and the catalog through the CLI; a cycle started,
    driven by the simulated people."""
    cli: Callable[..., Any] = lambda *args: asyncio.to_thread(stack.cli, *args)  # noqa: E731
    people = org_chart(people_count, prefix="C")
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
    settings = Settings()
    minter = TokenMinter(
        stack.home / "keys" / "dev-signing-key.pem",
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    driver = CycleDriver(
        people_type(urls_of(stack), minter, people, seed=5), stall=STALL, completes=lms_of(stack)
    )
    try:
        await driver.start(
            {"framework_id": "product-engineering"}, schedule=schedule, last_number=last_number
        )
    except BaseException:
        await driver.close()
        raise
    return driver


async def half_rated(cycle: CycleDriver, number: int) -> list[str]:
    """Cycle `number`'s campaign opened, peers nominated and approved, and the first half of
    those who respond (95%) rated; return the other half, who have yet to rate."""
    simulation = cycle.simulation
    campaign = f"{cycle.cycle_id}.{number}"
    await cycle.campaign_opened(number)
    await simulation.nominate_peers(campaign, lambda _: None)
    raters = simulation.responders(0.95)
    half = len(raters) // 2
    await simulation.rate(campaign, raters[:half], lambda _: None)
    return raters[half:]


async def calibrated_to_the_end(cycle: CycleDriver, number: int) -> None:
    """Cycle `number`'s calibration session, under review, calibrated by HR; the managers
    review their people's gaps, three people are nominated for promotion, and once the cycle
    has completed every case is decided."""
    simulation = cycle.simulation
    campaign = f"{cycle.cycle_id}.{number}"
    calibration = await simulation.calibrate(f"{campaign}.calibration")
    status = await cycle.at("gap review", number=number)
    managers = managers_waited_on(status)
    assert managers, "managers of people with gaps review them"
    cases = await simulation.nominate_promotions(
        campaign, f"{campaign}.calibration", calibration.averages, limit=3
    )
    assert cases, "some people are nominated for promotion"
    await simulation.acknowledge(cycle.cycle_id, managers, share=1.0)
    await cycle.at("completed", number=number)
    decided = await simulation.decide(cases)
    assert sum(decided.values()) == len(cases)


def lms_of(stack: RunningStack) -> Completes:
    """The LMS reporting a course completed today, as its integration publishes on the
    stack's NATS (talentledger/lms_load.py)."""

    async def completes(employee: str, course: str) -> None:
        home = Settings.model_validate({"TALENTLEDGER_HOME": str(stack.home)})
        settings = with_stack_addresses(home, nats_identity="lms")
        async with integration_broker(settings, "e2e-lms") as broker:
            today = datetime.now(UTC).date()
            await publish_completions(broker, [(employee, course, today)], "lms-load:e2e")

    return completes


def urls_of(stack: RunningStack) -> Urls:
    return Urls(*(stack.url(s) for s in ("assessment", "development", "promotion", "cycles")))


async def kill(stack: RunningStack, *services: str, replica: int | None = None) -> None:
    """SIGKILL the services' processes (only replica number `replica` of each, when given):
    HTTP API, outbox relay, consumers and Temporal worker die at once, whatever they were
    writing or running."""
    supervisor = Stack(Settings.model_validate({"TALENTLEDGER_HOME": str(stack.home)}))
    state = StackState.load(stack.home)
    assert state is not None
    killed = {
        service: [replica] if replica else state.services[service].numbers for service in services
    }
    for service, replicas in killed.items():
        process = state.services[service]
        assert all(map(process.replica_running, replicas)), f"{service} should be running"
    await asyncio.to_thread(supervisor.stop_services, list(services), signal.SIGKILL, replica)
    for service, replicas in killed.items():
        process = state.services[service]
        assert not any(map(process.replica_running, replicas)), f"{service} survived SIGKILL"


def relay_leaders(database: str) -> dict[str, str]:
    """The process holding each service's active outbox relay's advisory lock
    (libs/events/relay.py), by its connection's application name: `<service>-<replica>` for
    a replica `talentledger up` started."""
    with psycopg.connect(database) as conn:
        found = {
            service: conn.execute(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
                "AND (l.classid::bigint << 32 | l.objid::bigint) = hashtext(%s)",
                (f"relay:{service}:jetstream",),
            ).fetchone()
            for service in SERVICES
        }
    return {service: row[0] for service, row in found.items() if row}


async def restart(stack: RunningStack, simulation: Simulation) -> None:
    """`talentledger up` starts what is not running. A restarted service may listen on
    another port, so the simulation learns the addresses again."""
    await asyncio.to_thread(stack.cli, "up")
    simulation.urls = urls_of(stack)


def assert_each_effect_once(database: str, cycle_id: str, cycles: int) -> None:
    """No duplicated plan, decision or event effect, whatever was retried or redelivered."""
    with psycopg.connect(database) as conn:

        def rows(query: str) -> list[tuple[Any, ...]]:
            return conn.execute(query).fetchall()  # type: ignore[arg-type]

        plans = rows(
            "SELECT session_id, employee_id FROM development.plans GROUP BY 1, 2 "
            "HAVING count(*) > 1"
        )
        # The cycles log also holds the outside events it admitted, in their own streams.
        stages = rows(
            "SELECT DISTINCT stream_id FROM cycles.events "
            "WHERE event_type <> 'CycleRequested' AND stream_id LIKE 'cycle-%' ORDER BY 1"
        )
        requests = rows("SELECT stream_id FROM cycles.events WHERE event_type = 'CycleRequested'")
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
    published = [s for (s,) in stages]
    assert published == [f"cycle-{cycle_id}.{n}" for n in range(1, cycles + 1)], (
        f"each cycle's stage transitions, published for integrators: {published}"
    )
    assert requests == [(f"cycle-{cycle_id}",)], "who started the cycle, recorded once"
    assert dict(assessment) == {
        "CampaignOpened": cycles,
        "CampaignClosed": cycles,
        "CalibrationCompleted": cycles,
    }
    assert steps == [], "one nomination, evaluation and decision per case"
    assert repeated_events(database) == [], "each effect published once"
    assert verify(DecisionLog("promotion").entries(database)).ok


# What makes each effect one: an event repeated with the same key is an effect done twice.
ONCE_PER_KEY = {
    "development": {
        "GapsIdentified": ("session_id", "employee_id"),
        "DevelopmentPlanGenerated": ("session_id", "employee_id"),
        "EnrolmentRequested": ("plan_id", "course_id"),
    },
    "promotion": {
        "PromotionNominated": ("case_id",),
        "PromotionEvaluated": ("case_id", "session_id"),
        "PromotionDecided": ("case_id",),
    },
    "cycles": {
        "CycleStarted": ("cycle_id",),
        "CycleStageChanged": ("cycle_id", "sequence"),
    },
}


def repeated_events(database: str) -> list[tuple[Any, ...]]:
    """(schema, event type, key, count) of every business event written more than once."""
    found: list[tuple[Any, ...]] = []
    with psycopg.connect(database) as conn:
        for schema, types in ONCE_PER_KEY.items():
            for event_type, fields in types.items():
                key = ", ".join(f"payload->>'{f}'" for f in fields)
                query = (
                    f"SELECT {key}, count(*) FROM {schema}.events WHERE event_type = %s "
                    f"GROUP BY {key} HAVING count(*) > 1"
                )
                for row in conn.execute(query, (event_type,)):  # type: ignore[arg-type]
                    found.append((schema, event_type, row[:-1], row[-1]))
    return found
