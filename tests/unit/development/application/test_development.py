"""The development service's use cases on in-memory ports (docs/domain.md §5): plans from a
calibration, who sees and edits them, what the review cycle asks. The same flows run on
PostgreSQL in tests/integration/test_development_service.py."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta

import pytest

from libs.events.registry import IntegrationEvent
from libs.events.schemas.lms import CourseCatalogUpdated, CourseCompleted
from services.development.application.development import (
    ACTOR,
    CalibrationNotReceived,
    Development,
    FrameworkVersionMissing,
    NotAllowed,
    NotFound,
    plan_stream,
    session_stream,
)
from services.development.domain.plan_edits import EditRefused, NewAction
from tests.support.calibrations import ANN, BEN, CAT, EXPERT, FIRST, calibration
from tests.support.courses import course
from tests.support.development_memory import (
    DIRECTOR,
    MANAGER,
    OTHER_MANAGER,
    MemoryDevelopmentWork,
    seeded_development,
)
from tests.support.envelopes import envelope
from tests.support.sample_frameworks import valid_framework, with_family_anchor

TESTING_101 = course("testing-101", "testing")
PAIRING = NewAction(
    kind="mentoring", competency="testing", description="Pair on test design", mentor=EXPERT
)


@pytest.fixture
def world() -> tuple[Development, MemoryDevelopmentWork]:
    return seeded_development()


async def deliver(
    development: Development, work: MemoryDevelopmentWork, event: IntegrationEvent, day: int = 1
) -> None:
    """As the consumer hands the event over: in the work of its inbox transaction."""
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=day)
    delivered = envelope(event, f"from-{event.context}", at=at)
    react = {
        "CalibrationCompleted": development.on_calibration,
        "CourseCatalogUpdated": development.on_catalog,
        "CourseCompleted": development.on_completion,
    }[event.event_type]
    await react(work, delivered, event)  # type: ignore[operator]


async def planned(world: tuple[Development, MemoryDevelopmentWork]) -> None:
    development, work = world
    await deliver(development, work, CourseCatalogUpdated(courses=[TESTING_101]))
    await deliver(development, work, calibration("s1", FIRST))


# -- plan generation ---------------------------------------------------------------------------


async def test_a_calibration_becomes_gaps_plans_and_enrolments_on_the_session_stream(
    world: tuple[Development, MemoryDevelopmentWork],
) -> None:
    """docs/domain.md §5: gap = target - calibrated score; a plan for everyone with an open
    gap, with a course matched to competency and level; one append, caused by the event."""
    development, work = world
    await deliver(development, work, CourseCatalogUpdated(courses=[TESTING_101]))
    event = calibration("s1", FIRST)
    delivered = envelope(event, "calibration-s1")
    await development.on_calibration(work, delivered, event)

    appended = work.events.stream(session_stream("s1"))
    kinds = [e.event_type for e in appended]
    assert kinds.count("GapsIdentified") == 4
    assert kinds.count("DevelopmentPlanGenerated") == 3, "the expert has no open gap: no plan"
    enrolments = {
        (e.payload["employee_id"], e.payload["course_id"])
        for e in appended
        if e.event_type == "EnrolmentRequested"
    }
    assert enrolments == {(ANN, "testing-101"), (BEN, "testing-101"), (CAT, "testing-101")}
    assert {(e.actor, e.causation_id, e.correlation_id) for e in appended} == {
        (ACTOR, delivered.event_id, delivered.correlation_id)
    }

    gaps = await development.gaps_of(ANN, ANN, hr=False)
    assert (gaps.session_id, gaps.role) == ("s1", "eng-l3")
    assert {g.competency: g.gap for g in gaps.gaps} == {
        "coding": 0,
        "testing": 2,
        "collaboration": 0,
        "ownership": None,  # not observed: no gap claimed
        "communication": 1,
    }
    plan = await development.plan_of(ANN, MANAGER, hr=False)
    mentors = {a.mentor for a in plan.of_kind("mentoring")}
    assert EXPERT in mentors, "the only expert, not the manager"
    assert MANAGER not in mentors
    assert {a.competency for a in plan.actions} <= {"testing", "communication"}


async def test_the_same_session_delivered_again_plans_nothing_more(
    world: tuple[Development, MemoryDevelopmentWork],
) -> None:
    development, work = world
    await planned(world)
    before = list(work.events.envelopes)
    plans = copy.deepcopy(work.records.plans)
    await deliver(development, work, calibration("s1", FIRST))  # another event id
    assert work.events.envelopes == before
    assert work.records.plans == plans


async def test_a_calibration_waits_for_its_framework_version(
    world: tuple[Development, MemoryDevelopmentWork],
) -> None:
    """The consumer retries until the version reaches the replica; nothing is recorded."""
    development, work = world
    with pytest.raises(FrameworkVersionMissing, match="version 2"):
        await deliver(development, work, calibration("s1", FIRST, version=2))
    assert not await work.records.recorded("s1")
    assert work.events.envelopes == []


async def test_someone_assessed_without_a_position_gets_no_gaps(
    world: tuple[Development, MemoryDevelopmentWork],
) -> None:
    development, work = world
    event = calibration("s1", FIRST)
    event.scores[0] = event.scores[0].model_copy(update={"position": None})
    await deliver(development, work, event)
    with pytest.raises(NotFound):
        await development.gaps_of(ANN, ANN, hr=False)
    assert set(await work.records.session_gaps("s1")) == {BEN, CAT, EXPERT}


# -- who sees what -------------------------------------------------------------------------------


async def test_views_follow_the_reporting_line(
    world: tuple[Development, MemoryDevelopmentWork],
) -> None:
    """The person, everyone above them in the reporting line, and HR."""
    development, _ = world
    await planned(world)
    for viewer in (ANN, MANAGER, DIRECTOR):
        assert (await development.plan_of(ANN, viewer, hr=False)).employee_id == ANN
    assert (await development.gaps_of(ANN, "hr-person", hr=True)).employee_id == ANN
    for viewer in (BEN, OTHER_MANAGER):
        with pytest.raises(NotAllowed):
            await development.gaps_of(ANN, viewer, hr=False)
    with pytest.raises(NotFound, match="no open gap"):
        await development.plan_of(EXPERT, OTHER_MANAGER, hr=False)


async def test_team_and_department_gaps(world: tuple[Development, MemoryDevelopmentWork]) -> None:
    development, _ = world
    await planned(world)
    team = await development.team_gaps(DIRECTOR, DIRECTOR, hr=False)
    assert team.people == 3, "everyone below the director, however many levels down"
    testing = next(c for c in team.competencies if c.competency == "testing")
    assert (testing.open_gaps, testing.mean_gap) == (3, 2)
    with pytest.raises(NotAllowed):
        await development.team_gaps(MANAGER, ANN, hr=False)
    assert (await development.department_gaps("Insights")).people == 1
    with pytest.raises(NotFound):
        await development.department_gaps("Nowhere")


async def test_gaps_against_another_role_use_the_calibrations_framework_version(
    world: tuple[Development, MemoryDevelopmentWork],
) -> None:
    development, _ = world
    await planned(world)
    against = await development.gaps_against(ANN, ("eng", "ic", "L4"), ANN, hr=False)
    assert against.role == "eng-l4"
    assert {g.competency: g.gap for g in against.gaps}["coding"] == 1
    with pytest.raises(NotFound, match="no role at eng/ic/L9"):
        await development.gaps_against(ANN, ("eng", "ic", "L9"), ANN, hr=False)


async def test_a_persons_gaps_name_the_target_anchor_and_their_strengths(
    world: tuple[Development, MemoryDevelopmentWork],
) -> None:
    """Each gap names what its target looks like (the anchor of the target level on the
    role's track, a family's own wording first); strengths are the competencies scored above
    their target, the widest margin first."""
    development, work = world
    work.frameworks.publish(
        "eng",
        1,
        with_family_anchor(valid_framework(), "testing", "eng", "ic", 3, "Designs the tests."),
    )
    await planned(world)
    ann = await development.gaps_of(ANN, ANN, hr=False)
    assert {g.competency: g.target_anchor for g in ann.gaps} == {
        "coding": "Coding as an individual contributor shows it at step 3.",
        "testing": "Designs the tests.",
        "collaboration": "Collaboration as an individual contributor shows it at step 2.",
        "ownership": "Ownership as an individual contributor shows it at step 2.",
        "communication": "Communication as an individual contributor shows it at step 2.",
    }
    assert ann.strengths == [], "Ann meets coding and collaboration, exceeds nothing"
    expert = await development.gaps_of(EXPERT, "hr-person", hr=True)
    assert [(s.competency, s.target, s.current, s.above_by) for s in expert.strengths] == [
        ("collaboration", 2, 4, 2),
        ("communication", 2, 4, 2),
        ("testing", 3, 4.5, 1.5),
        ("coding", 3, 4, 1),
        ("ownership", 2, 3, 1),
    ]
    against = await development.gaps_against(ANN, ("eng", "ic", "L4"), ANN, hr=False)
    coding = next(g for g in against.gaps if g.competency == "coding")
    assert (coding.target, coding.target_anchor) == (
        4,
        "Coding as an individual contributor shows it at step 4.",
    )


async def test_the_gap_heatmap_tallies_the_latest_calibration_by_department(
    world: tuple[Development, MemoryDevelopmentWork],
) -> None:
    """L3 targets: coding 3, testing 3, collaboration, ownership, communication 2."""
    development, work = world
    with pytest.raises(NotFound, match="no calibrated gaps"):
        await development.gap_heatmap()
    await planned(world)
    found = await development.gap_heatmap()
    assert found.session_id == "s1"
    cells = {
        (c.department, c.competency): (
            c.people,
            c.observed,
            c.mean_gap,
            c.below_target,
            c.share_below_target,
        )
        for c in found.cells
    }
    assert len(cells) == 10, "two departments x five competencies"
    # Ann, Ben, Cat: coding 3, 3, 2; testing 1, 1, 1; ownership not observed, 2, 2.
    assert cells[("Platform", "coding")] == (3, 3, pytest.approx(1 / 3), 1, pytest.approx(1 / 3))
    assert cells[("Platform", "testing")] == (3, 3, 2, 3, 1)
    assert cells[("Platform", "ownership")] == (3, 2, 0, 0, 0)
    assert cells[("Insights", "testing")] == (1, 1, -1.5, 0, 0)

    # The next calibration is the one read; Cat has left and is in no cell.
    work.org_chart.leave(CAT, date(2026, 2, 1))
    second = {e: dict(s) for e, s in FIRST.items()}
    second[ANN]["testing"] = 3
    await deliver(development, work, calibration("s2", second), day=90)
    platform = await development.gap_heatmap("Platform")
    assert (platform.session_id, platform.department) == ("s2", "Platform")
    testing = next(c for c in platform.cells if c.competency == "testing")
    assert (testing.people, testing.mean_gap, testing.below_target) == (2, 1, 1)
    assert {c.department for c in platform.cells} == {"Platform"}
    with pytest.raises(NotFound, match="'Nowhere'"):
        await development.gap_heatmap("Nowhere")

    # A cycle for Insights alone: Platform's latest calibration is still s2.
    await deliver(development, work, calibration("s3", {EXPERT: FIRST[EXPERT]}), day=120)
    assert (await development.gap_heatmap()).session_id == "s3"
    assert (await development.gap_heatmap("Insights")).session_id == "s3"
    assert (await development.gap_heatmap("Platform")).session_id == "s2"


async def test_the_plan_report_counts_course_completions_after_the_plan(
    world: tuple[Development, MemoryDevelopmentWork],
) -> None:
    """Ann, Ben and Cat each have testing-101 in their plan (day 1); Ann completes it after,
    Ben had completed it before the plan: it does not count. Cat marks her first on-the-job
    action done: 1 of the 21, and started is not done."""
    development, work = world
    await deliver(
        development,
        work,
        CourseCompleted(employee_id=BEN, course_id="testing-101", completed_on=date(2026, 1, 1)),
    )
    await planned(world)
    done = CourseCompleted(employee_id=ANN, course_id="testing-101", completed_on=date(2026, 3, 1))
    await deliver(development, work, done)
    report = await development.plan_report("Platform")
    courses = next(r for r in report.rows if r.kind == "course")
    assert (courses.people, courses.actions, courses.completed) == (3, 3, 1)
    assert courses.share_completed == pytest.approx(1 / 3)
    assert {r.completed for r in report.rows if r.kind != "course"} == {0}
    await development.progress_action(CAT, "a1", "done", "Shipped it", CAT)
    await development.progress_action(CAT, "a2", "started", "", CAT)
    on_the_job = next(r for r in (await development.plan_report()).rows if r.kind == "on_the_job")
    assert (on_the_job.actions, on_the_job.completed) == (21, 1)
    assert on_the_job.share_completed == pytest.approx(1 / 21)
    with pytest.raises(NotFound, match="'Insights' has a development plan"):
        await development.plan_report("Insights")  # the expert has no open gap: no plan


# -- plan edits ----------------------------------------------------------------------------------


async def test_the_manager_edits_a_plan_by_events_on_its_stream(
    world: tuple[Development, MemoryDevelopmentWork],
) -> None:
    """An edit is an event, not an overwrite; each edit appends at the version the last one
    left, so two edits in a row both land."""
    development, work = world
    await planned(world)
    plan_id = (await development.plan_of(ANN, MANAGER, hr=False)).plan_id
    edited = await development.add_action(ANN, PAIRING, MANAGER, hr=False)
    added = edited.actions[-1]
    assert (added.mentor, added.competency) == (EXPERT, "testing")
    first = edited.actions[0].action_id
    edited = await development.remove_action(ANN, first, "Project cancelled", MANAGER, hr=False)
    assert first not in [a.action_id for a in edited.actions]
    assert await development.plan_of(ANN, ANN, hr=False) == edited
    history = work.events.stream(plan_stream(plan_id))
    assert [(e.event_type, e.actor, e.stream_version) for e in history] == [
        ("PlanActionAdded", MANAGER, 1),
        ("PlanActionRemoved", MANAGER, 2),
    ]
    assert work.records.plans[plan_id].stream_version == 2


async def test_only_the_direct_manager_or_hr_edits_a_plan(
    world: tuple[Development, MemoryDevelopmentWork],
) -> None:
    development, work = world
    await planned(world)
    before = list(work.events.envelopes)
    for editor in (DIRECTOR, OTHER_MANAGER):
        with pytest.raises(NotAllowed, match="manager"):
            await development.add_action(ANN, PAIRING, editor, hr=False)
    # The employee proposes for their own plan (plan_ownership), but removes nothing.
    with pytest.raises(NotAllowed, match="manager"):
        await development.remove_action(ANN, "a1", "not mine to remove", ANN, hr=False)
    assert work.events.envelopes == before
    edited = await development.add_action(ANN, PAIRING, "hr-person", hr=True)
    assert edited.actions[-1].mentor == EXPERT


async def test_a_refused_edit_changes_neither_the_plan_nor_its_stream(
    world: tuple[Development, MemoryDevelopmentWork],
) -> None:
    development, work = world
    await planned(world)
    plan = await development.plan_of(ANN, MANAGER, hr=False)
    before = list(work.events.envelopes)
    with pytest.raises(EditRefused, match="their own manager"):
        await development.add_action(
            ANN, PAIRING.model_copy(update={"mentor": MANAGER}), MANAGER, hr=False
        )
    with pytest.raises(EditRefused):
        await development.remove_action(ANN, "no-such-action", "gone", MANAGER, hr=False)
    assert work.events.envelopes == before
    assert await development.plan_of(ANN, MANAGER, hr=False) == plan
    with pytest.raises(NotFound):
        await development.add_action(EXPERT, PAIRING, OTHER_MANAGER, hr=False)


# -- what the review cycle asks ------------------------------------------------------------------


async def test_gap_review_waits_for_the_calibration_then_names_the_reviewing_managers(
    world: tuple[Development, MemoryDevelopmentWork],
) -> None:
    development, work = world
    with pytest.raises(CalibrationNotReceived, match="'s1'"):
        await development.gap_review("s1")
    await planned(world)
    work.org_chart.leave(CAT, date(2026, 2, 1))
    review = await development.gap_review("s1")
    assert review.model_dump() == {
        "session_id": "s1",
        "people": 4,
        "open_gaps": 2 + 2 + 3,  # Ann: testing, communication; Ben the same; Cat coding too
        "plans": 3,
        "managers": [MANAGER],  # not the expert's (nothing open), Cat has left
    }


async def test_gap_movement_and_course_effectiveness_compare_two_calibrations(
    world: tuple[Development, MemoryDevelopmentWork],
) -> None:
    """docs/domain.md §5, Re-assessment: score movement between cycles, not completion."""
    development, work = world
    comms = course("comms-201", "communication")
    await deliver(development, work, CourseCatalogUpdated(courses=[TESTING_101, comms]))
    await deliver(development, work, calibration("s1", FIRST))
    finished = date(2026, 3, 1)
    for employee, course_id in ((ANN, "testing-101"), (BEN, "comms-201")):
        done = CourseCompleted(employee_id=employee, course_id=course_id, completed_on=finished)
        await deliver(development, work, done)
    with pytest.raises(CalibrationNotReceived, match="'s2'"):
        await development.gap_movement("s1", "s2")

    second = {e: dict(s) for e, s in FIRST.items() if e != CAT}
    second[ANN]["testing"] = 3
    await deliver(development, work, calibration("s2", second), day=90)
    moved = await development.gap_movement("s1", "s2")
    assert (moved.people, moved.compared, moved.improved, moved.declined) == (3, 14, 1, 0)
    assert moved.mean_change == pytest.approx(2 / 14)

    effects = {(e.course_id, e.competency): e for e in await development.effectiveness()}
    assert effects[("testing-101", "testing")].working is True
    assert effects[("comms-201", "communication")].working is False
    assert (await development.gaps_of(ANN, ANN, hr=False)).session_id == "s2"


async def test_a_generated_course_action_whose_course_is_completed_already_is_done_at_once(
    world: tuple[Development, MemoryDevelopmentWork],
) -> None:
    """The plans of s1 are made on 2 January (day 1). Ben's testing-101 completion dated that
    day arrives first: his course action is done as the plan is generated, by one
    PlanActionCompleted on the plan's stream; Cat's, dated 1 January, is earlier work. By
    hand: Ben 1 of 10, Cat 0 of 10, the report's course row 1 of 3. In s2 (made 1 April) Ben's
    new plan starts afresh: a completion of 2 January is not its work."""
    development, work = world
    for employee, on in ((BEN, date(2026, 1, 2)), (CAT, date(2026, 1, 1))):
        done = CourseCompleted(employee_id=employee, course_id="testing-101", completed_on=on)
        await deliver(development, work, done)
    await planned(world)
    ben = await development.plan_of(BEN, BEN, hr=False)
    [course_action] = ben.of_kind("course")
    [track] = [t for t in ben.statuses if t.action_id == course_action.action_id]
    assert (track.state, [(s.by, s.completed_on) for s in track.steps]) == (
        "done",
        [(ACTOR, date(2026, 1, 2))],
    )
    assert (ben.completion.done, ben.completion.total) == (1, 10)
    assert [e.event_type for e in work.events.stream(plan_stream(ben.plan_id))] == [
        "PlanActionCompleted"
    ]
    cat = await development.plan_of(CAT, CAT, hr=False)
    assert (cat.completion.done, cat.completion.total) == (0, 10)
    report = await development.plan_report()
    courses = next(r for r in report.rows if r.kind == "course")
    assert (courses.actions, courses.completed) == (3, 1)

    await deliver(development, work, calibration("s2", FIRST), day=90)
    again = await development.plan_of(BEN, BEN, hr=False)
    assert again.plan_id != ben.plan_id
    assert again.completion.done == 0, "its day is 1 April"
