"""Manager edits of a plan (docs/domain.md §5): events under the rules generated plans follow."""

from __future__ import annotations

import json

import pytest

from libs.events.registry import registry
from libs.events.schemas.development import PlannedAction
from libs.events.schemas.lms import Course, CourseCompetency, EnrolmentRequested
from libs.personal.sealing import ERASED, open_document, seal
from services.development.domain import plan_edits
from services.development.domain.gaps import Gap
from services.development.domain.plan_edits import (
    EditRefused,
    NewAction,
    PlanActionAdded,
    PlanActionRemoved,
)
from services.development.domain.plans import owner_of_plan, plan_id_for
from tests.support.personal_keys import KeysInMemory

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
    taken = {a.action_id for a in ACTIONS}
    action = plan_edits.checked("ann", "lead", taken, new, GAPS, SCORES, CATALOG)
    return plan_edits.add("s1:ann", "ann", action)


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
    [removed] = plan_edits.remove("s1:ann", "ann", ACTIONS, "a1", "Project cancelled")
    assert plan_edits.apply(ACTIONS, removed) == []
    with pytest.raises(EditRefused, match="no action 'a9'"):
        plan_edits.remove("s1:ann", "ann", ACTIONS, "a9", "why")
    with pytest.raises(EditRefused, match="say why"):
        plan_edits.remove("s1:ann", "ann", ACTIONS, "a1", " ")


async def test_a_managers_text_is_sealed_under_the_key_of_the_person_whose_plan_it_is() -> None:
    [added] = add(NewAction(kind="on_the_job", competency="testing", description="Fix Ann's CI"))
    [removed] = plan_edits.remove("s1:ann", "ann", ACTIONS, "a1", "Ann is on leave")
    keys = KeysInMemory()
    sealed = [(await seal(event, keys), event) for event in (added, removed)]
    for document, event in sealed:
        assert ("Fix Ann's CI" if event is added else "Ann is on leave") not in json.dumps(document)
        assert registry.decode(event.event_type, 2, await open_document(document, keys)) == event
    keys.erase("ann")
    gone = [registry.decode(e.event_type, 2, await open_document(d, keys)) for d, e in sealed]
    assert isinstance(gone[0], PlanActionAdded)
    assert gone[0].action.description == ERASED
    assert isinstance(gone[1], PlanActionRemoved)
    assert gone[1].reason == ERASED


def test_version_1_edits_are_read_with_the_owner_the_plan_id_names_and_their_text_as_it_was() -> (
    None
):
    action = {"action_id": "a2", "kind": "on_the_job", "competency": "testing"}
    added = registry.decode(
        "PlanActionAdded",
        1,
        {"plan_id": "cal-2026.h1:emp-7", "action": {**action, "description": "Pair on CI"}},
    )
    assert isinstance(added, PlanActionAdded)
    assert (added.employee_id, added.action.description) == ("emp-7", "Pair on CI")
    removed = registry.decode(
        "PlanActionRemoved", 1, {"plan_id": "s1:ann", "action_id": "a2", "reason": "Done"}
    )
    assert isinstance(removed, PlanActionRemoved)
    assert (removed.employee_id, removed.reason) == ("ann", "Done")


def test_a_plan_id_names_its_owner_and_nothing_else_is_taken_for_one() -> None:
    assert owner_of_plan(plan_id_for("cal-1", "emp:odd")) == "emp:odd"
    for wrong in ("no-session", ":ann", "s1:"):
        with pytest.raises(ValueError, match="not a plan id"):
            owner_of_plan(wrong)
