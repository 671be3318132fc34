"""Manager edits of a plan (docs/domain.md §5): events under the rules generated plans follow."""

from __future__ import annotations

import pytest

from libs.events.schemas.development import PlannedAction
from libs.events.schemas.lms import Course, CourseCompetency, EnrolmentRequested
from services.development.domain import plan_edits
from services.development.domain.gaps import Gap
from services.development.domain.plan_edits import EditRefused, NewAction, PlanActionAdded

GAPS = [Gap("testing", "technical", 3, 1.0), Gap("communication", "behavioural", 2, 1.0)]
SCORES = {"expert": {"testing": 4.5}, "novice": {"testing": 2.0}}
CATALOG = {
    "t-101": Course(
        course_id="t-101",
        title="Testing",
        format="online",
        duration_hours=4,
        builds=[CourseCompetency(competency="testing", from_level=0, to_level=3)],
    )
}
ACTIONS = [
    PlannedAction(action_id="a1", kind="on_the_job", competency="testing", description="Own CI")
]


def add(new: NewAction) -> list:
    return plan_edits.add("p1", "ann", "lead", ACTIONS, new, GAPS, SCORES, CATALOG)


def test_an_added_course_is_announced_for_enrolment_and_numbered_after_the_others() -> None:
    added, enrolment = add(
        NewAction(kind="course", competency="testing", description="Take it", course_id="t-101")
    )
    assert isinstance(added, PlanActionAdded)
    assert added.private
    assert added.action.action_id == "a2"
    assert isinstance(enrolment, EnrolmentRequested)
    assert (enrolment.employee_id, enrolment.course_id) == ("ann", "t-101")
    assert plan_edits.apply(ACTIONS, added)[-1] == added.action


@pytest.mark.parametrize(
    ("new", "message"),
    [
        (NewAction(kind="on_the_job", competency="juggling", description="x"), "role profile"),
        (NewAction(kind="mentoring", competency="testing", description="x"), "names its mentor"),
        (
            NewAction(kind="mentoring", competency="testing", description="x", mentor="lead"),
            "their own manager",
        ),
        (
            NewAction(kind="mentoring", competency="testing", description="x", mentor="novice"),
            "needs 4.0 or more",
        ),
        (
            NewAction(kind="course", competency="testing", description="x", course_id="nope"),
            "not offered",
        ),
        (
            NewAction(
                kind="course", competency="communication", description="x", course_id="t-101"
            ),
            "not 'communication'",
        ),
        (
            NewAction(kind="on_the_job", competency="testing", description="x", mentor="expert"),
            "only a mentoring action",
        ),
    ],
)
def test_edits_that_break_the_plan_rules_are_refused_with_the_reason(
    new: NewAction, message: str
) -> None:
    with pytest.raises(EditRefused, match=message):
        add(new)


def test_a_removal_names_an_existing_action_and_a_reason() -> None:
    [removed] = plan_edits.remove("p1", ACTIONS, "a1", "Project cancelled")
    assert plan_edits.apply(ACTIONS, removed) == []
    with pytest.raises(EditRefused, match="no action 'a9'"):
        plan_edits.remove("p1", ACTIONS, "a9", "why")
    with pytest.raises(EditRefused, match="say why"):
        plan_edits.remove("p1", ACTIONS, "a1", " ")
