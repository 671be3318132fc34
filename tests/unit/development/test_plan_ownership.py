"""Plans the employee owns (docs/domain.md §5, Development plans): proposals the manager
approves or declines, actions marked started or done with evidence, courses done by the LMS's
completion, comments, and progress (done / total of the actions in force), hand-computed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime

import pytest

from libs.events.registry import IntegrationEvent
from libs.events.schemas.development import (
    PlanActionApproved,
    PlanActionCompleted,
    PlanActionProgressed,
    PlanActionStep,
    PlannedAction,
)
from libs.events.schemas.lms import EnrolmentRequested
from libs.personal.sealing import ERASED, seal
from services.development.domain import plan_edits, plan_ownership
from services.development.domain.gaps import Gap
from services.development.domain.plan_edits import EditRefused, NewAction
from services.development.domain.plan_ownership import (
    ActionInWrongState,
    ActionTrack,
    NoSuchAction,
    OwnedPlan,
    PlanActionDeclined,
    PlanActionProposed,
)
from tests.support.personal_keys import KeysInMemory

PLAN, ANN = "s1:ann", "ann"
AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = date(2026, 3, 1)  # the plan's day: completions count from it
ACTIONS = [
    PlannedAction(action_id="a1", kind="on_the_job", competency="testing", description="Own CI"),
    PlannedAction(action_id="a2", kind="on_the_job", competency="testing", description="Review"),
    PlannedAction(
        action_id="a3",
        kind="course",
        competency="testing",
        description="Course",
        course_id="t-101",
    ),
]
PROPOSAL = PlannedAction(
    action_id="a4", kind="course", competency="testing", description="Mine", course_id="t-201"
)


class Plan:
    """A plan's actions and tracks, folded from its events as the read model is."""

    def __init__(self) -> None:
        self.actions: list[PlannedAction] = list(ACTIONS)
        self.tracks: dict[str, ActionTrack] = {}
        self.history: list[tuple[IntegrationEvent, str]] = []

    def record(self, events: Sequence[IntegrationEvent], actor: str) -> list[IntegrationEvent]:
        for event in events:
            self.actions = plan_edits.apply(self.actions, event)
            self.tracks = plan_ownership.apply(self.tracks, event, actor, AT)
            self.history.append((event, actor))
        return list(events)

    @property
    def now(self) -> OwnedPlan:
        return OwnedPlan(PLAN, ANN, self.actions, self.tracks, DAY)

    def propose(self) -> list[IntegrationEvent]:
        return self.record(plan_ownership.propose(self.now, PROPOSAL), ANN)

    def decide(self, approved: bool, comment: str = "") -> list[IntegrationEvent]:
        found = plan_ownership.decide(self.now, "a4", approved, comment)
        return self.record(found, "lead")

    def mark(
        self, action_id: str, status: PlanActionStep, evidence: str = ""
    ) -> list[IntegrationEvent]:
        found = plan_ownership.progress(self.now, action_id, status, evidence)
        return self.record(found, ANN)

    def lms(self, course_id: str, on: date = DAY) -> list[IntegrationEvent]:
        found = plan_ownership.complete_courses(self.now, course_id, on)
        return self.record(found, "service:development")

    def progress(self) -> tuple[int, int, float | None]:
        found = plan_ownership.completion(self.actions, self.tracks)
        return found.done, found.total, found.share

    def state(self, action_id: str) -> str:
        return plan_ownership.track_of(self.actions, self.tracks, action_id).state


def test_a_proposal_counts_nowhere_until_approved_then_it_is_in_force() -> None:
    """3 actions in force, none done: 0/3. A proposal is not in the plan's actions: still 0/3.
    Approved (a course: enrolment asked of the LMS), it is: 0/4."""
    plan = Plan()
    assert plan.progress() == (0, 3, 0.0)
    [proposed] = plan.propose()
    assert isinstance(proposed, PlanActionProposed)
    assert proposed.private
    assert plan.state("a4") == "proposed"
    assert plan.progress() == (0, 3, 0.0)
    assert [t.action_id for t in plan_ownership.statuses(plan.actions, plan.tracks)] == [
        "a1",
        "a2",
        "a3",
        "a4",
    ]
    approved, enrolment = plan.decide(True, "good idea")
    assert isinstance(approved, PlanActionApproved)
    assert not approved.private
    assert approved.action.description == "Mine"
    assert isinstance(enrolment, EnrolmentRequested)
    assert (enrolment.course_id, enrolment.plan_id) == ("t-201", PLAN)
    assert plan.actions[-1].action_id == "a4"
    track = plan.tracks["a4"]
    assert (track.state, track.decided_by, track.decision_comment) == (
        "approved",
        "lead",
        "good idea",
    )
    assert track.proposal is None, "in the plan's actions now"
    assert plan.progress() == (0, 4, 0.0)


def test_marking_started_then_done_with_evidence_and_the_lms_closing_a_course() -> None:
    """a1 started then done, a3 done by the LMS: 2 done of 3 in force = 2/3."""
    plan = Plan()
    plan.mark("a1", "started")
    assert (plan.state("a1"), plan.progress()) == ("started", (0, 3, 0.0))
    [done] = plan.mark("a1", "done", "PR 42 merged")
    assert isinstance(done, PlanActionProgressed)
    assert done.evidence == "PR 42 merged"
    [completed] = plan.lms("t-101")
    assert isinstance(completed, PlanActionCompleted)
    assert (completed.action_id, completed.completed_on) == ("a3", date(2026, 3, 1))
    assert plan.progress() == (2, 3, 2 / 3)
    steps = plan.tracks["a1"].steps
    assert [(s.status, s.by, s.evidence) for s in steps] == [
        ("started", ANN, ""),
        ("done", ANN, "PR 42 merged"),
    ]
    [lms_step] = plan.tracks["a3"].steps
    assert (lms_step.by, lms_step.course_id) == ("service:development", "t-101")


def test_a_completion_reported_again_or_of_another_course_changes_nothing() -> None:
    plan = Plan()
    assert len(plan.lms("t-101")) == 1
    assert plan.lms("t-101") == [], "done already: exactly once"
    assert plan.lms("t-999") == [], "no action names it"
    plan.propose()
    assert (
        plan.record(
            plan_ownership.complete_courses(plan.now, "t-201", DAY),
            "service:development",
        )
        == []
    ), "a proposal is not in force: the LMS does not close it"
    assert plan.progress() == (1, 3, 1 / 3)


def test_a_completion_dated_before_the_plans_day_does_not_close_its_course_action() -> None:
    """Completed on 28 February, the day before the plan: earlier work, not this plan's."""
    plan = Plan()
    assert plan.lms("t-101", date(2026, 2, 28)) == []
    assert plan.state("a3") == "approved"
    assert len(plan.lms("t-101", DAY)) == 1, "on the plan's day: counts"
    assert plan.progress() == (1, 3, 1 / 3)


def test_a_course_action_coming_into_force_after_its_completion_is_done_then_once() -> None:
    """t-201 completed on 5 March, t-101 on 28 February (before the plan's day), then the
    proposal a4 (t-201) approved: the completions on record close a4 only, and asked again
    nothing more. 1 of 4 done."""
    plan = Plan()
    plan.propose()
    on_record = {"t-201": date(2026, 3, 5), "t-101": date(2026, 2, 28)}
    assert plan_ownership.complete_on_record(plan.now, on_record) == [], "a4 not in force"
    plan.decide(True)
    closed = plan.record(
        plan_ownership.complete_on_record(plan.now, on_record), "service:development"
    )
    assert [(e.action_id, e.course_id, e.completed_on) for e in closed] == [  # type: ignore[attr-defined]
        ("a4", "t-201", date(2026, 3, 5))
    ]
    assert plan_ownership.complete_on_record(plan.now, on_record) == [], "once"
    assert plan.lms("t-201", date(2026, 3, 5)) == [], "the completion again: nothing"
    assert (plan.state("a3"), plan.state("a4")) == ("approved", "done")
    assert plan.progress() == (1, 4, 1 / 4)


def test_an_action_done_by_hand_is_not_done_again_by_the_lms() -> None:
    plan = Plan()
    plan.mark("a3", "done", "certificate")
    assert plan.lms("t-101") == []
    assert plan.progress() == (1, 3, 1 / 3)


def test_changes_the_state_does_not_allow_are_refused_by_kind() -> None:
    plan = Plan()
    with pytest.raises(NoSuchAction, match=r"no action 'a9'.*'a1', 'a2', 'a3'"):
        plan.mark("a9", "started")
    with pytest.raises(ActionInWrongState, match="'a1' is approved: only a proposed action"):
        plan_ownership.decide(plan.now, "a1", True, "")
    plan.propose()
    with pytest.raises(ActionInWrongState, match="only an action in force"):
        plan.mark("a4", "started")
    with pytest.raises(EditRefused, match="say why"):
        plan.decide(False, "  ")
    [declined] = plan.decide(False, "not this quarter")
    assert isinstance(declined, PlanActionDeclined)
    assert declined.private
    with pytest.raises(ActionInWrongState, match="'a4' is declined"):
        plan.decide(True)
    with pytest.raises(ActionInWrongState, match="'a4' is declined"):
        plan.mark("a4", "done", "did it anyway")
    assert plan.progress() == (0, 3, 0.0), "declined counts nowhere"
    with pytest.raises(EditRefused, match="needs evidence"):
        plan.mark("a1", "done", " ")
    plan.mark("a1", "started")
    with pytest.raises(ActionInWrongState, match="started already"):
        plan.mark("a1", "started")
    plan.mark("a1", "done", "shipped")
    with pytest.raises(ActionInWrongState, match="done already"):
        plan.mark("a1", "started")
    with pytest.raises(EditRefused, match="needs text"):
        plan_ownership.comment_on(plan.now, "a1", "")


def test_unknown_action_is_refused_before_its_state() -> None:
    plan = Plan()
    with pytest.raises(NoSuchAction):
        plan_ownership.decide(plan.now, "a9", True, "")


def test_a_removed_action_leaves_the_plan_and_its_progress() -> None:
    """a1 done, then removed by the manager: 0 done of the 2 left."""
    plan = Plan()
    plan.mark("a1", "done", "shipped")
    plan.record(plan_edits.remove(PLAN, ANN, plan.actions, "a1", "merged into a2"), "lead")
    assert plan.progress() == (0, 2, 0.0)
    with pytest.raises(NoSuchAction):
        plan.mark("a1", "done", "again")
    assert [t.action_id for t in plan_ownership.statuses(plan.actions, plan.tracks)] == ["a2", "a3"]


def test_folding_the_plans_events_again_gives_the_same_tracks() -> None:
    """The read model is the fold of the stream: rebuilt, it shows the same."""
    plan = Plan()
    plan.propose()
    plan.decide(True)
    plan.mark("a4", "started")
    plan.lms("t-201")
    plan.record(plan_ownership.comment_on(plan.now, "a2", "Hi"), "lead")
    rebuilt: dict[str, ActionTrack] = {}
    for event, actor in plan.history:
        rebuilt = plan_ownership.apply(rebuilt, event, actor, AT)
    assert rebuilt == plan.tracks
    assert plan.progress() == (1, 4, 0.25)
    assert [c.comment for c in plan.tracks["a2"].comments] == ["Hi"]


async def test_texts_about_the_employee_are_sealed_under_their_key() -> None:
    plan = Plan()
    events = [
        *plan.propose(),
        *plan.decide(True, "agreed, go"),
        *plan.mark("a4", "done", "PR 7"),
        *plan.record(
            plan_ownership.comment_on(plan.now, "a1", "Nice"),
            "lead",
        ),
    ]
    events.append(
        PlanActionDeclined(plan_id=PLAN, employee_id=ANN, action_id="a4", comment="why not")
    )
    keys = KeysInMemory()
    for event in events:
        if isinstance(event, EnrolmentRequested):
            continue
        sealed = json.dumps(await seal(event, keys))
        for text in ("Mine", "agreed, go", "PR 7", "Nice", "why not"):
            assert text not in sealed, (event.event_type, text)


def test_erasure_scrubs_every_text_of_the_tracks_once() -> None:
    """Proposal description, decision comment, evidence and a comment: 4 texts; 0 again."""
    plan = Plan()
    plan.propose()
    plan.decide(False, "not now")
    plan.mark("a1", "done", "PR 1")
    plan.record(plan_ownership.comment_on(plan.now, "a1", "Well"), "l")
    scrubbed, count = plan_ownership.scrub(plan.tracks, ERASED)
    assert count == 4
    assert scrubbed["a4"].proposal is not None
    assert scrubbed["a4"].proposal.description == ERASED
    assert scrubbed["a1"].steps[0].evidence == ERASED
    assert plan_ownership.scrub(scrubbed, ERASED)[1] == 0


def test_the_employee_proposes_under_the_manager_rules_with_a_fresh_id() -> None:
    """A proposal is held to the plan rules (plan_edits.checked) and numbered after the
    actions and the proposals before it, as the manager's additions are."""
    new = NewAction(kind="on_the_job", competency="testing", description="Pair")
    gaps = [Gap("testing", "technical", 3, 1.0)]
    action = plan_edits.checked(ANN, "lead", {"a1", "a2", "a3", "a4"}, new, gaps, {}, {})
    assert action.action_id == "a5"
    [proposed] = plan_ownership.propose(Plan().now, action)
    assert proposed.action.action_id == "a5"  # type: ignore[attr-defined]
    with pytest.raises(EditRefused, match="role profile"):
        plan_edits.checked(
            ANN, "lead", set(), new.model_copy(update={"competency": "x"}), gaps, {}, {}
        )
