"""The activities the review-cycle workflow calls on the services' task queues, on PostgreSQL
(docs/architecture.md §4: activities are idempotent and run on the owning service's queue).

Each activity is taken from its service's `build()`, as the service's Temporal worker gets
it, and called as a plain async function, or inside `ActivityEnvironment` where it reads its
activity info or heartbeats. Every one is shown to do its work once: a repeat (a Temporal
retry) gives the same answer and appends nothing, checked on the event streams; two attempts
at once leave one result; what retrying can fix is a retryable ApplicationError, what it
cannot is non-retryable and says what is wrong.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from libs.events.schemas.assessment import CalibrationCompleted
from libs.events.schemas.cycles import CycleRequested
from libs.events.store import EventStore
from libs.platform.auth import Actor
from libs.platform.runtime import Runtime, ServiceParts
from libs.platform.settings import Settings
from libs.replicas.cycles import MIGRATIONS as CYCLE_MIGRATIONS
from libs.replicas.cycles import UNKNOWN_GRACE, KnownCycles
from libs.replicas.framework_versions import MIGRATIONS as FRAMEWORK_MIGRATIONS
from libs.replicas.framework_versions import FrameworkVersions
from libs.replicas.org_chart import MIGRATIONS as ORG_CHART_MIGRATIONS
from libs.replicas.org_chart import OrgChart
from libs.workflows.contracts import (
    CLEAR_ERASURE,
    CLOSE_CAMPAIGN,
    EVALUATE_CYCLE,
    GAP_MOVEMENT,
    GAP_REVIEW,
    OPEN_CALIBRATION,
    OPEN_CAMPAIGN,
    SEND_REMINDERS,
    confirm_framework,
    erase_personal_data,
)
from libs.workflows.messages import (
    CalibrationOpened,
    CampaignStarted,
    CampaignStep,
    CycleCases,
    FrameworkRef,
    GapReview,
    MovementRequest,
    OpenCampaign,
    Population,
    PromotionEvaluations,
    ResponseCount,
    SessionRef,
    grant_digest,
)
from services.assessment import service as assessment_service
from services.cycles.workflows.review_cycle import ReviewCycleWorkflow
from services.development import service as development_service
from services.development.adapters.postgres import MIGRATIONS as DEVELOPMENT_MIGRATIONS
from services.development.adapters.postgres.work import Database
from services.development.application.development import Development, session_stream
from services.promotion import service as promotion_service
from services.promotion.adapters.activities import PromotionActivities
from services.promotion.adapters.checkpoints import CheckpointDirectory, ensure_checkpoint_key
from services.promotion.adapters.postgres import MIGRATIONS as PROMOTION_MIGRATIONS
from services.promotion.adapters.postgres.work import Database as PromotionDatabase
from services.promotion.application import cases, reactions
from services.promotion.application.promotion import Promotion, case_stream
from tests.support.activities import attempt as attempt_of
from tests.support.activities import refused
from tests.support.assessment_api import AssessmentApi, assessment_api
from tests.support.calibrations import ANN, BEN, CAT, EXPERT, FIRST, calibration
from tests.support.envelopes import envelope
from tests.support.replica_seeding import hire, hired, publish
from tests.support.review_cycle import HR as STEERING
from tests.support.review_cycle import MANAGERS as WORKFLOW_MANAGERS
from tests.support.review_cycle import running_cycles
from tests.support.sample_frameworks import valid_framework
from tests.support.service_api import ServiceApi, in_process

Activity = Callable[[Any], Any]
MIGRATIONS = [FRAMEWORK_MIGRATIONS, ORG_CHART_MIGRATIONS]


# The review cycle whose workflow schedules the activities here; its rounds are the campaign
# and the promotion cycle the tests use.
SERIES = "cycle-h1"


def wired(
    build: Callable[[Runtime], ServiceParts], store: EventStore, home: Path | None = None
) -> dict[str, Activity]:
    """The service's activities by name, as its worker registers them (with the keys of
    `home`, when given); called outside an activity context, each runs as a first attempt
    scheduled by SERIES's workflow."""
    settings = Settings() if home is None else Settings.model_validate({"TALENTLEDGER_HOME": home})
    runtime = Runtime(store.schema, settings, store.pool, store, broker=None, temporal=None)  # type: ignore[arg-type]

    def in_cycle(fn: Activity) -> Activity:
        async def call(arg: Any) -> Any:
            return await (fn(arg) if activity.in_activity() else attempt().run(fn, arg))

        return call

    return {
        activity._Definition.must_from_callable(fn).name: in_cycle(fn)
        for fn in build(runtime).activities
    }


def attempt(
    number: int = 1, scheduled: datetime | None = None, workflow_id: str = SERIES
) -> ActivityEnvironment:
    """An attempt scheduled by SERIES's workflow unless told otherwise."""
    return attempt_of(workflow_id, number, scheduled)


async def kinds(store: EventStore, stream: str) -> list[str]:
    return [e.event_type for e in await store.read_stream(stream)]


# -- assessment: open the campaign, remind, close, open its calibration ----------------------

CAMPAIGN = f"{SERIES}.1"
BOSS, LEAD, R1, R2, OUTSIDER = "emp-boss", "emp-lead", "emp-r1", "emp-r2", "emp-x"
HR = "hannah-hr"
MALLORY = "mallory"


# The secret the cycles API gives SERIES's workflow; its hash is in CycleRequested.
GRANT = "grant-of-cycle-h1"


async def requested(store: EventStore, series: str, by: str, *roles: str) -> None:
    """The cycles API's record of who started `series`, delivered as the service's consumer
    delivers it."""
    event = CycleRequested(
        series_id=series, requested_by=by, roles=list(roles), grant_sha256=grant_digest(GRANT)
    )
    async with store.transaction() as conn:
        await KnownCycles(store.schema).apply(conn, envelope(event, f"cycle-{series}"), event)


@pytest.fixture
async def assessment(database_url: str, tmp_path: Path) -> AsyncIterator[AssessmentApi]:
    async with assessment_api(database_url, tmp_path / "keys") as api:
        await api.publish("eng", 1, valid_framework())
        await api.hire(
            hired(BOSS, None, "manager", "M2"),
            hired(LEAD, BOSS, "manager", "M1"),
            hired(R1, LEAD, "ic", "L2"),
            hired(R2, LEAD, "ic", "L3"),
            hired("emp-far", None, "manager", "M2", department="Insights"),
            hired(OUTSIDER, "emp-far", "ic", "L1", department="Insights"),
        )
        await requested(api.store, SERIES, HR, "hr_admin")
        yield api


def open_request(**changes: Any) -> OpenCampaign:
    request = OpenCampaign(
        campaign_id=CAMPAIGN,
        framework=FrameworkRef(framework_id="eng", version=1),
        population=Population(department="Platform"),
        closes_at=datetime.now(UTC) + timedelta(days=14),
        actor=MALLORY,  # the input's actor: the activities act for the recorded starter
        grant=GRANT,
    )
    return request.model_copy(update=changes)


STEP = CampaignStep(campaign_id=CAMPAIGN, actor=MALLORY, grant=GRANT)
# Self, manager and direct reports (docs/domain.md §3) of the four people in Platform: the boss
# (self, 1 report), the lead (self, manager, 2 reports), two reports (self, manager).
SUBJECTS, ASSIGNMENTS = 4, 2 + 4 + 2 + 2


async def test_opening_a_campaign_twice_opens_it_once(assessment: AssessmentApi) -> None:
    """A retried OPEN_CAMPAIGN, and two attempts at once, find the campaign open and report
    it: one CampaignOpened, on the framework version the workflow pinned (docs/domain.md §2)."""
    run = wired(assessment_service.build, assessment.store)
    expected = CampaignStarted(campaign_id=CAMPAIGN, subjects=SUBJECTS, assignments=ASSIGNMENTS)

    first, alongside = await asyncio.gather(
        attempt().run(run[OPEN_CAMPAIGN.name], open_request()),
        attempt().run(run[OPEN_CAMPAIGN.name], open_request()),
    )
    assert first == alongside == expected
    assert await run[OPEN_CAMPAIGN.name](open_request()) == expected, "a direct call, a repeat"
    assert await kinds(assessment.store, f"campaign-{CAMPAIGN}") == ["CampaignOpened"]
    [opened] = await assessment.store.read_stream(f"campaign-{CAMPAIGN}")
    assert (opened.payload["framework_id"], opened.payload["framework_version"]) == ("eng", 1)
    assert opened.actor == HR
    assert OUTSIDER not in opened.payload["population"]

    other_version = open_request(framework=FrameworkRef(framework_id="eng", version=2))
    conflict = await refused(run[OPEN_CAMPAIGN.name](other_version))
    assert conflict.non_retryable
    assert "version 1, not 'eng' version 2" in conflict.message


async def test_opening_refuses_what_retrying_cannot_fix_and_waits_for_a_version(
    assessment: AssessmentApi,
) -> None:
    run = wired(assessment_service.build, assessment.store)[OPEN_CAMPAIGN.name]

    nobody = await refused(run(open_request(population=Population(employee_ids=["emp-ghost"]))))
    assert (nobody.non_retryable, nobody.type) == (True, "UnknownPopulation")
    assert "emp-ghost" in nobody.message
    empty = await refused(run(open_request(population=Population(job_family="sales"))))
    assert empty.non_retryable
    assert "job family 'sales'" in empty.message
    past = await refused(run(open_request(closes_at=datetime.now(UTC) - timedelta(days=1))))
    assert past.non_retryable
    assert "has passed" in past.message
    unpinned = await refused(run(open_request(framework=FrameworkRef(framework_id="eng"))))
    assert (unpinned.non_retryable, unpinned.type) == (True, "FrameworkNotPinned")

    on_its_way = open_request(framework=FrameworkRef(framework_id="eng", version=2))
    waiting = await refused(run(on_its_way))
    assert (waiting.non_retryable, waiting.type) == (False, "FrameworkNotReplicated")
    assert "version 2" in waiting.message
    assert await kinds(assessment.store, f"campaign-{CAMPAIGN}") == [], "nothing opened"

    await assessment.publish("eng", 2, valid_framework())
    started = await run(on_its_way)  # the retry once the version has arrived
    assert started.subjects == SUBJECTS


async def test_reminders_close_and_calibration_each_happen_once(
    assessment: AssessmentApi,
) -> None:
    """docs/domain.md §3 (reminders to non-responders, close) and §4 (the calibration session of
    the population): retries report and append nothing."""
    run = wired(assessment_service.build, assessment.store)
    await run[OPEN_CAMPAIGN.name](open_request())
    rater = assessment.as_(R1, "employee")
    form = await assessment.ok("GET", f"/campaigns/{CAMPAIGN}/questionnaires/{R1}", headers=rater)
    answers = [{"item": item["id"], "value": 3} for item in form["items"]]
    await assessment.ok(
        "PUT",
        f"/campaigns/{CAMPAIGN}/submissions/{R1}",
        json={"answers": answers, "final": True},
        headers=rater,
    )
    waiting = ResponseCount(
        campaign_id=CAMPAIGN, assignments=ASSIGNMENTS, outstanding=ASSIGNMENTS - 1, closed=False
    )
    stream = f"campaign-{CAMPAIGN}"

    first = attempt()
    assert await first.run(run[SEND_REMINDERS.name], STEP) == waiting
    scheduled = first.info.scheduled_time
    retry = attempt(2, scheduled=scheduled)
    assert await retry.run(run[SEND_REMINDERS.name], STEP) == waiting
    assert (await kinds(assessment.store, stream)).count("RemindersSent") == 1, (
        "the retry found its first attempt's reminder"
    )
    [reminder] = [e for e in await assessment.store.read_stream(stream) if e.payload.get("raters")]
    owed = {r["rater"]: r["pending"] for r in reminder.payload["raters"]}
    assert owed[R1] == 1, "R1 finalised their self-assessment; their lead is still owed"
    later = attempt(scheduled=datetime.now(UTC))
    assert await later.run(run[SEND_REMINDERS.name], STEP) == waiting
    assert (await kinds(assessment.store, stream)).count("RemindersSent") == 2, (
        "the next reminder of the schedule is another activity: it reminds"
    )

    closed = waiting.model_copy(update={"closed": True})
    both = await asyncio.gather(run[CLOSE_CAMPAIGN.name](STEP), run[CLOSE_CAMPAIGN.name](STEP))
    assert both == [closed, closed]
    assert await run[CLOSE_CAMPAIGN.name](STEP) == closed
    assert await attempt().run(run[SEND_REMINDERS.name], STEP) == closed, "closed: only reports"
    assert await kinds(assessment.store, stream) == [
        "CampaignOpened",
        "RemindersSent",
        "RemindersSent",
        "CampaignClosed",
    ]

    session = f"{CAMPAIGN}.calibration"
    expected = CalibrationOpened(session_id=session, subjects=SUBJECTS)
    both_sessions = await asyncio.gather(
        run[OPEN_CALIBRATION.name](STEP), run[OPEN_CALIBRATION.name](STEP)
    )
    assert both_sessions == [expected, expected]
    assert await run[OPEN_CALIBRATION.name](STEP) == expected
    assert await kinds(assessment.store, f"calibration-{session}") == ["CalibrationSessionOpened"]
    review = await assessment.ok("GET", f"/calibrations/{session}")
    assert review["campaign_id"] == CAMPAIGN


async def test_steps_on_a_campaign_that_is_not_there_or_still_open_are_refused(
    assessment: AssessmentApi,
) -> None:
    run = wired(assessment_service.build, assessment.store)
    unknown = CampaignStep(campaign_id=f"{SERIES}.9", actor=HR, grant=GRANT)
    for name in (SEND_REMINDERS.name, CLOSE_CAMPAIGN.name, OPEN_CALIBRATION.name):
        error = await refused(run[name](unknown))
        assert (error.non_retryable, error.type) == (True, "CampaignNotFound"), name
        assert f"'{SERIES}.9' not found" in error.message

    await run[OPEN_CAMPAIGN.name](open_request())
    still_open = await refused(run[OPEN_CALIBRATION.name](STEP))
    assert still_open.non_retryable
    assert "still open" in still_open.message
    assert await kinds(assessment.store, f"calibration-{CAMPAIGN}.calibration") == []


async def test_campaign_steps_act_only_for_a_cycle_hr_started(
    assessment: AssessmentApi,
) -> None:
    """Opening, reminding, closing and calibrating act for the recorded starter of the
    cycle, never for the input's actor: a cycle nobody started through the cycles API, an
    activity another workflow scheduled, and one without the cycle's grant are refused and
    open nothing."""
    run = wired(assessment_service.build, assessment.store)
    forged = "cycle-forged"
    steps = [
        (OPEN_CAMPAIGN.name, open_request(campaign_id=f"{forged}.1", actor=HR)),
        (SEND_REMINDERS.name, CampaignStep(campaign_id=f"{forged}.1", actor=HR)),
        (CLOSE_CAMPAIGN.name, CampaignStep(campaign_id=f"{forged}.1", actor=HR)),
        (OPEN_CALIBRATION.name, CampaignStep(campaign_id=f"{forged}.1", actor=HR)),
    ]
    # Unknown past the grace in which its request could still be on the broker.
    long_ago = datetime.now(UTC) - UNKNOWN_GRACE - timedelta(seconds=1)
    for name, request in steps:
        for env in (attempt(scheduled=long_ago, workflow_id=forged), attempt()):
            error = await refused(env.run(run[name], request))
            assert (error.type, error.non_retryable) == ("CycleNotAuthorised", True), name
    assert await kinds(assessment.store, f"campaign-{forged}.1") == []
    # HR's own cycle, under its id, but without its grant: a workflow started later under
    # the id of a cycle HR started (once it has closed, Temporal allows that).
    reused = await refused(run[OPEN_CAMPAIGN.name](open_request(grant="guessed")))
    assert (reused.type, reused.non_retryable) == ("CycleNotAuthorised", True)
    assert "does not carry the grant" in reused.message
    assert await kinds(assessment.store, f"campaign-{CAMPAIGN}") == []


# -- development: gap review and re-assessment ---------------------------------------------

MANAGER, OTHER_MANAGER, THIRD_MANAGER = "emp-lead", "emp-other", "emp-third"


@pytest.fixture
async def development(database_url: str, tmp_path: Path) -> AsyncIterator[ServiceApi]:
    migrations = [*MIGRATIONS, DEVELOPMENT_MIGRATIONS]
    async with in_process(
        ServiceApi, development_service.build, "development", migrations, database_url, tmp_path
    ) as api:
        await publish(api.store, "eng", 1, valid_framework())
        await hire(
            api.store,
            hired(MANAGER, None, "manager", "M2"),
            hired(ANN, MANAGER, "ic", "L3"),
            hired(BEN, MANAGER, "ic", "L3"),
            hired(OTHER_MANAGER, None, "manager", "M2", department="Insights"),
            hired(CAT, OTHER_MANAGER, "ic", "L3", department="Insights"),
            hired(THIRD_MANAGER, None, "manager", "M2"),
            hired(EXPERT, THIRD_MANAGER, "ic", "L3"),
        )
        yield api


async def deliver(store: EventStore, event: CalibrationCompleted) -> None:
    """CalibrationCompleted as the development service's consumer hands it over."""
    schema = store.schema
    database = Database(store, OrgChart(schema), FrameworkVersions(schema))
    async with store.transaction() as conn:
        await Development(database).on_calibration(
            database.bind(conn), envelope(event, f"calibration-{event.session_id}"), event
        )


async def test_gap_review_waits_for_the_calibration_then_reports_it_unchanged(
    development: ServiceApi,
) -> None:
    """docs/domain.md §5: gaps (target - calibrated) and plans come from CalibrationCompleted;
    the review names the direct managers of the people with an open gap."""
    run = wired(development_service.build, development.store)[GAP_REVIEW.name]
    early = await refused(run(SessionRef(session_id="s1")))
    assert (early.non_retryable, early.type) == (False, "CalibrationNotReceived")
    assert "'s1'" in early.message

    await deliver(development.store, calibration("s1", FIRST))
    expected = GapReview(
        session_id="s1",
        people=4,
        # Ann: testing, communication; Ben: the same; Cat: coding too; the expert none.
        open_gaps=2 + 2 + 3,
        plans=3,
        managers=[MANAGER, OTHER_MANAGER],  # not the expert's: nothing to review there
    )
    events = await kinds(development.store, session_stream("s1"))
    assert await run(SessionRef(session_id="s1")) == expected
    assert await attempt().run(run, SessionRef(session_id="s1")) == expected
    assert await kinds(development.store, session_stream("s1")) == events, "nothing generated"


async def test_gap_movement_compares_two_sessions_once_both_have_arrived(
    development: ServiceApi,
) -> None:
    """docs/domain.md §5, Re-assessment: the metric is score movement between cycles, per person
    and competency observed in both."""
    run = wired(development_service.build, development.store)[GAP_MOVEMENT.name]
    request = MovementRequest(previous_session_id="s1", session_id="s2")
    await deliver(development.store, calibration("s1", FIRST))
    early = await refused(run(request))
    assert (early.non_retryable, early.type) == (False, "CalibrationNotReceived")
    assert "'s2'" in early.message

    second = {e: dict(s) for e, s in FIRST.items() if e != CAT}  # Cat was not calibrated
    second[ANN]["testing"] = 3
    second[BEN]["communication"] = 0.5
    await deliver(development.store, calibration("s2", second))
    moved = await run(request)
    assert moved.model_dump(exclude={"mean_change"}) == {
        "previous_session_id": "s1",
        "session_id": "s2",
        "people": 3,
        "compared": 4 + 5 + 5,  # Ann's ownership was observed in neither
        "improved": 1,
        "declined": 1,
    }
    assert moved.mean_change == pytest.approx((2 - 0.5) / 14)
    assert await run(request) == moved

    same = await refused(run(MovementRequest(previous_session_id="s2", session_id="s2")))
    assert (same.non_retryable, same.type) == (True, "SameSession")


# -- promotion: the cycle's cases evaluated ------------------------------------------------

CYCLE = f"{SERIES}.1"
COMMITTEE, DAN, EVE = "cara-committee", "emp-dan", "emp-eve"
RUNNER = "cycle-runner"
STRONG: dict[str, float | None] = {
    "coding": 4,
    "testing": 4,
    "collaboration": 3.5,
    "ownership": 3,
    "communication": 3,
}
WEAK: dict[str, float | None] = {
    "coding": 2.5,
    "testing": 3,
    "collaboration": 3,
    "ownership": 3,
    "communication": 3,
}


@dataclasses.dataclass
class PromotionStack:
    store: EventStore
    promotion: Promotion
    cases: dict[str, str]
    cycles: KnownCycles
    home: Path

    def activities(self, **options: Any) -> PromotionActivities:
        return PromotionActivities(self.promotion, self.cycles, self.store.pool, **options)

    async def calibrate(self, session: str, scores: dict[str, dict[str, float | None]]) -> None:
        event = calibration(session, scores)
        async with self.promotion.uow.transaction() as tx:
            await reactions.on_calibration(tx, envelope(event, f"calibration-{session}"), event)

    async def evaluations(self) -> dict[str, int]:
        """PromotionEvaluated events per person."""
        return {
            person: (await kinds(self.store, case_stream(case))).count("PromotionEvaluated")
            for person, case in self.cases.items()
        }


@pytest.fixture
async def promotion(database_url: str, tmp_path: Path) -> AsyncIterator[PromotionStack]:
    migrations = [*MIGRATIONS, CYCLE_MIGRATIONS, PROMOTION_MIGRATIONS]
    async with in_process(
        ServiceApi, promotion_service.build, "promotion", migrations, database_url, tmp_path
    ) as api:
        await publish(api.store, "eng", 1, valid_framework())
        await hire(
            api.store,
            hired(MANAGER, None, "manager", "M2"),
            *(hired(e, MANAGER, "ic", "L3") for e in (ANN, BEN, CAT, DAN, EVE)),
        )
        schema = api.store.schema
        stack = PromotionStack(
            api.store,
            Promotion(PromotionDatabase(api.store), "promotion_committee"),
            {},
            KnownCycles(schema, unknown_grace=timedelta(0)),
            tmp_path / "home",
        )
        ensure_checkpoint_key(
            Settings.model_validate({"TALENTLEDGER_HOME": stack.home}).checkpoint_key
        )
        await stack.calibrate("s1", {ANN: STRONG, BEN: WEAK, EVE: WEAK})
        lead = Actor(MANAGER, frozenset({"manager"}))
        hr = Actor(HR, frozenset({"hr_admin"}))
        for person in (ANN, BEN, CAT, EVE):
            case = await cases.nominate(
                stack.promotion, person, CYCLE, lead, operating_since=date(2025, 6, 1)
            )
            stack.cases[person] = case.case_id
        other = await cases.nominate(stack.promotion, DAN, "2025-h2", lead)
        stack.cases[DAN] = other.case_id
        # Ann has everything the default criteria ask for; Eve's case is decided (closed).
        await cases.endorse(stack.promotion, stack.cases[ANN], lead)
        await cases.confirm(stack.promotion, stack.cases[ANN], "s1", True, "", hr)
        await cases.endorse(stack.promotion, stack.cases[EVE], lead)
        committee = Actor(COMMITTEE, frozenset({"promotion_committee"}))
        await cases.decide(stack.promotion, stack.cases[EVE], "deny", "Not at L4 yet.", committee)
        yield stack


async def test_a_cycle_s_open_cases_are_evaluated_once_with_heartbeats(
    promotion: PromotionStack,
) -> None:
    """docs/domain.md §6: readiness of every open case of the cycle, recorded in the decision log
    and published; a case without a calibration waits; a repeat evaluates nothing again."""
    await requested(promotion.store, SERIES, RUNNER, "hr_admin")
    # The workflow input names someone else: the evaluation is the recorded starter's.
    request = CycleCases(cycle_id=CYCLE, actor=MALLORY, grant=GRANT)
    env = attempt(workflow_id=SERIES)
    beats: list[tuple[Any, ...]] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    activities = promotion.activities(heartbeat_every=2)
    first = await env.run(activities.evaluate_cycle, request)
    # Ann, Ben and Cat are open (Eve's is decided, Dan's another cycle's); Cat has no
    # calibration yet: not evaluated, and the activity does not fail for it.
    assert first == PromotionEvaluations(cycle_id=CYCLE, cases=3, evaluated=2, ready=1)
    assert beats == [(2,)], "a heartbeat every 2 cases here"
    assert await promotion.evaluations() == {ANN: 1, BEN: 1, CAT: 0, DAN: 0, EVE: 0}
    [evaluated] = [
        e
        for e in await promotion.store.read_stream(case_stream(promotion.cases[ANN]))
        if e.event_type == "PromotionEvaluated"
    ]
    assert (evaluated.actor, evaluated.payload["ready"]) == (RUNNER, True)

    evaluate = wired(promotion_service.build, promotion.store, promotion.home)[EVALUATE_CYCLE.name]

    def run(request: CycleCases) -> Any:
        return attempt(workflow_id=SERIES).run(evaluate, request)

    again = await run(request)
    assert again == first.model_copy(update={"evaluated": 0}), "found done"
    # The stage's entries are anchored outside the database before the cycle moves on.
    sink = CheckpointDirectory(promotion.home / "checkpoints")
    anchored = sink.latest()
    async with promotion.store.pool.connection() as conn:
        cur = await conn.execute("SELECT max(sequence) FROM promotion.decision_log")
        head = await cur.fetchone()
    assert anchored is not None
    assert head is not None
    assert anchored.sequence == head[0]
    assert await promotion.evaluations() == {ANN: 1, BEN: 1, CAT: 0, DAN: 0, EVE: 0}

    # Cat's calibration arrives, then a newer one of Ben's: each is evaluated once more.
    await promotion.calibrate("s2", {CAT: WEAK})
    assert await run(request) == PromotionEvaluations(cycle_id=CYCLE, cases=3, evaluated=1, ready=1)
    await promotion.calibrate("s3", {BEN: WEAK})
    both = await asyncio.gather(run(request), run(request), return_exceptions=True)
    done = [r for r in both if isinstance(r, PromotionEvaluations)]
    busy = [r for r in both if isinstance(r, ApplicationError)]
    assert len(done) + len(busy) == 2, both
    assert sum(r.evaluated for r in done) == 1, "two attempts at once evaluate Ben once"
    assert all((b.type, b.non_retryable) == ("EvaluationInProgress", False) for b in busy)
    assert await promotion.evaluations() == {ANN: 1, BEN: 2, CAT: 1, DAN: 0, EVE: 0}
    assert await run(request) == PromotionEvaluations(cycle_id=CYCLE, cases=3, evaluated=0, ready=1)


async def test_evaluating_a_cycle_without_an_id_is_refused(promotion: PromotionStack) -> None:
    await requested(promotion.store, SERIES, RUNNER, "hr_admin")
    evaluate = wired(promotion_service.build, promotion.store, promotion.home)[EVALUATE_CYCLE.name]
    env = attempt(workflow_id=SERIES)
    error = await refused(env.run(evaluate, CycleCases(cycle_id=" ", actor=RUNNER, grant=GRANT)))
    assert (error.non_retryable, error.type) == (True, "InvalidRequest")
    empty = await env.run(evaluate, CycleCases(cycle_id=f"{SERIES}.2", actor=RUNNER, grant=GRANT))
    assert empty == PromotionEvaluations(cycle_id=f"{SERIES}.2", cases=0, evaluated=0, ready=0)


async def test_evaluation_acts_only_for_a_cycle_hr_started_and_only_from_its_workflow(
    promotion: PromotionStack,
) -> None:
    """The workflow input grants nothing: a cycle nobody started through the cycles API, one
    a non-HR subject started, an activity scheduled by another workflow, and a call outside
    any workflow are each refused, non-retryable, and evaluate nothing."""
    evaluate = promotion.activities().evaluate_cycle
    request = CycleCases(cycle_id=CYCLE, actor=HR, grant=GRANT)
    cases = [
        (attempt(workflow_id=SERIES), "was not started through the cycles API"),
        (attempt(workflow_id="forged-workflow"), "but workflow 'forged-workflow' scheduled"),
    ]
    for env, reason in cases:
        error = await refused(env.run(evaluate, request))
        assert (error.type, error.non_retryable) == ("CycleNotAuthorised", True)
        assert reason in error.message
    outside = await refused(evaluate(request))
    assert (outside.type, outside.non_retryable) == ("CycleNotAuthorised", True)
    not_a_cycle = await refused(
        attempt(workflow_id="2026").run(evaluate, request.model_copy(update={"cycle_id": "2026"}))
    )
    assert not_a_cycle.type == "CycleNotAuthorised"

    # An unknown cycle is retried while its request may still be on the broker.
    patient = PromotionActivities(
        promotion.promotion, KnownCycles("promotion"), promotion.store.pool
    )
    waiting = await refused(attempt(workflow_id=SERIES).run(patient.evaluate_cycle, request))
    assert (waiting.type, waiting.non_retryable) == ("CycleNotReceived", False)

    await requested(promotion.store, SERIES, MALLORY, "manager", "employee")
    error = await refused(attempt(workflow_id=SERIES).run(evaluate, request))
    assert (error.type, error.non_retryable) == ("CycleNotAuthorised", True)
    assert "'mallory', who is not hr_admin" in error.message
    assert await promotion.evaluations() == {ANN: 0, BEN: 0, CAT: 0, DAN: 0, EVE: 0}


async def test_a_workflow_under_the_id_of_hr_s_cycle_without_its_grant_is_refused(
    promotion: PromotionStack,
) -> None:
    await requested(promotion.store, SERIES, HR, "hr_admin")
    evaluate = promotion.activities().evaluate_cycle
    for grant in ("", "guessed"):
        request = CycleCases(cycle_id=CYCLE, actor=HR, grant=grant)
        error = await refused(attempt().run(evaluate, request))
        assert (error.type, error.non_retryable) == ("CycleNotAuthorised", True)
        assert "does not carry the grant" in error.message
    assert await promotion.evaluations() == {ANN: 0, BEN: 0, CAT: 0, DAN: 0, EVE: 0}


@pytest.mark.parametrize("reusing_hr_s_cycle_id", [False, True])
async def test_a_workflow_started_directly_on_temporal_gets_no_hr_privilege(
    promotion: PromotionStack, reusing_hr_s_cycle_id: bool
) -> None:
    """The issue's acceptance: a review cycle started on Temporal itself, not through the
    cycles API, its input naming an hr_admin, reaches the promotion stage and is refused
    there by the real promotion activity; no case is evaluated. So is one started under the
    id of a cycle HR did start (Temporal allows that once that cycle has closed)."""
    if reusing_hr_s_cycle_id:
        await requested(promotion.store, SERIES, HR, "hr_admin")
    async with running_cycles(evaluate_cycle=promotion.activities().evaluate_cycle) as cycles:
        handle = await cycles.start(SERIES, last_number=1)  # "requested by" hannah-hr
        await cycles.reach(handle, "campaign open")
        await handle.signal(ReviewCycleWorkflow.close_campaign, STEERING)
        await cycles.reach(handle, "calibration")
        await handle.signal(ReviewCycleWorkflow.calibration_completed, f"{CYCLE}.calibration")
        await cycles.reach(handle, "gap review")
        for manager in WORKFLOW_MANAGERS:
            await handle.execute_update(ReviewCycleWorkflow.acknowledge, manager)
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    services = cycles.services
    cause = failed.value.cause
    while cause.__cause__ is not None:
        cause = cause.__cause__
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.non_retryable) == ("CycleNotAuthorised", True)
    assert services.stage_names(CYCLE)[-1] == "promotion evaluation"
    assert await promotion.evaluations() == {ANN: 0, BEN: 0, CAT: 0, DAN: 0, EVE: 0}


async def test_each_service_registers_its_cycle_activities(
    assessment: AssessmentApi,
) -> None:
    """The contracts the workflow calls on a service's task queue are the activities that
    service's worker registers, by the contracts' names."""
    contracts = (
        OPEN_CAMPAIGN,
        SEND_REMINDERS,
        CLOSE_CAMPAIGN,
        OPEN_CALIBRATION,
        GAP_REVIEW,
        GAP_MOVEMENT,
        EVALUATE_CYCLE,
        CLEAR_ERASURE,
    )
    # services whose part of an erasure is wired
    erasing = {"assessment", "development", "promotion"}

    def on_queue(service: str) -> set[str]:
        mine = {c.name for c in contracts if c.task_queue == service}
        if service in erasing:
            mine.add(erase_personal_data(service).name)
        return {confirm_framework(service).name, *mine}

    assert set(wired(assessment_service.build, assessment.store)) == on_queue("assessment")
    # The other services' builds need only a store to list theirs.
    for build, service in (
        (development_service.build, "development"),
        (promotion_service.build, "promotion"),
    ):
        store = EventStore(assessment.store.pool, service)
        assert set(wired(build, store)) == on_queue(service)
