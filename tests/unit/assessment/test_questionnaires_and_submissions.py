"""Questionnaires and submissions (docs/domain.md §3): items from the effective role profile, at
competency or sub-skill granularity; ratings on the framework's scale or not observed;
refused after close, from non-raters, off the scale, for unknown items, after finalising."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from libs.events.schemas.framework import Anchor, Framework, SubSkill
from libs.personal.sealing import ERASED
from services.assessment.domain.questionnaires import Questionnaire, questionnaire
from services.assessment.domain.raters import Assignment
from services.assessment.domain.submissions import (
    Answer,
    Submission,
    SubmissionRefused,
    check,
    unchanged,
    without_comments,
)
from services.framework.domain.profiles import effective_profiles
from tests.support.sample_frameworks import (
    anchors,
    replace_competency,
    valid_framework,
    with_data_family,
    with_family_anchor,
)

ROLE = "eng-m1"


def form(framework: Framework) -> Questionnaire:
    profile = effective_profiles(framework)[ROLE]
    return questionnaire("eng", 1, framework, profile)


def test_items_follow_the_effective_role_profile_with_the_tracks_anchors() -> None:
    framework = valid_framework()
    questions = form(framework)
    profile = effective_profiles(framework)[ROLE]
    assert [i.competency for i in questions.items] == [q.competency for q in profile.requirements]
    first = framework.competency(questions.items[0].competency)
    assert first is not None
    manager_anchors = {a.proficiency: a.text for a in first.anchors if a.track == "manager"}
    assert questions.items[0].anchors == manager_anchors, "a manager sees manager anchors"
    assert questions.scale == [0, 1, 2, 3, 4, 5]


def test_a_familys_roles_are_asked_in_the_familys_own_wording() -> None:
    """docs/domain.md §2, Behavioural anchors: the profile carries the wording its family reads;
    the questionnaire shows what the profile carries."""
    wording = "Explains an analysis to people who did not ask for it."
    framework = with_family_anchor(
        with_data_family(valid_framework()), "communication", "data", "ic", 2, wording
    )
    profiles = effective_profiles(framework)

    def communication(role: str) -> dict[int, str]:
        form = questionnaire("eng", 1, framework, profiles[role])
        item = form.item("communication")
        assert item is not None
        return item.anchors

    assert communication("data-d3")[2] == wording
    assert (
        communication("eng-l3")[2]
        == "Communication as an individual contributor shows it at step 2."
    )
    assert {k: v for k, v in communication("data-d3").items() if k != 2} == {
        k: v for k, v in communication("eng-l3").items() if k != 2
    }, "the family's wording replaces only the anchor it rewords"


def test_at_sub_skill_granularity_each_sub_skill_is_an_item() -> None:
    framework = replace_competency(
        valid_framework(),
        "design",
        sub_skills=[SubSkill(key="apis", name="Designs APIs"), SubSkill(key="data", name="Data")],
    ).model_copy(update={"granularity": "sub_skill"})
    ids = [i.id for i in form(framework).items]
    assert "design/apis" in ids
    assert "design/data" in ids
    assert "design" not in ids


def test_a_sub_skill_item_shows_the_sub_skills_own_anchors_else_the_competencys() -> None:
    """docs/domain.md §2, Granularity: a sub-skill with anchors of its own on the track of the
    assessed person's role is rated against them; one without reads the competency's."""
    own = anchors("Designs APIs", ["manager"])
    framework = replace_competency(
        valid_framework(),
        "design",
        sub_skills=[
            SubSkill(key="apis", name="Designs APIs", anchors=own),
            SubSkill(key="data", name="Data", anchors=anchors("Data", ["ic"])),
        ],
    ).model_copy(update={"granularity": "sub_skill"})
    questions = form(framework)
    apis, data = questions.item("design/apis"), questions.item("design/data")
    assert apis is not None
    assert data is not None
    assert apis.anchors == {
        1: "Designs APIs as a manager shows it at step 1.",
        2: "Designs APIs as a manager shows it at step 2.",
        3: "Designs APIs as a manager shows it at step 3.",
        4: "Designs APIs as a manager shows it at step 4.",
        5: "Designs APIs as a manager shows it at step 5.",
    }
    # data has IC anchors only: a manager's role reads design's own manager anchors
    assert data.anchors == {
        1: "Design as a manager shows it at step 1.",
        2: "Design as a manager shows it at step 2.",
        3: "Design as a manager shows it at step 3.",
        4: "Design as a manager shows it at step 4.",
        5: "Design as a manager shows it at step 5.",
    }


def test_a_sub_skill_item_reads_the_familys_own_wording_of_its_anchors() -> None:
    wording = "Designs an API a data scientist can call without help."
    own = Anchor(track="manager", proficiency=3, text=wording, family="eng")
    framework = replace_competency(
        valid_framework(),
        "design",
        sub_skills=[
            SubSkill(key="apis", name="Designs APIs", anchors=[*anchors("APIs", ["manager"]), own])
        ],
    ).model_copy(update={"granularity": "sub_skill"})
    item = form(framework).item("design/apis")
    assert item is not None
    assert item.anchors[3] == wording
    assert item.anchors[2] == "APIs as a manager shows it at step 2."


SUBJECT, RATER = "ann", "bob"
ASSIGNED = [Assignment(subject=SUBJECT, rater=RATER, group="peer")]


def submission(*answers: Answer) -> Submission:
    return Submission(campaign="c1", subject=SUBJECT, rater=RATER, answers=list(answers))


def test_a_valid_submission_with_not_observed_items_is_accepted() -> None:
    questions = form(valid_framework())
    first, second = questions.items[0].id, questions.items[1].id
    given = submission(Answer(item=first, value=3), Answer(item=second, value=None))
    assert check(given, questions, ASSIGNED, campaign_open=True, finalised=False) == ASSIGNED[0]


def test_an_item_is_rated_or_marked_not_relevant_never_both() -> None:
    questions = form(valid_framework())
    first = questions.items[0].id
    given = submission(Answer(item=first, value=None, not_relevant=True))
    assert check(given, questions, ASSIGNED, campaign_open=True, finalised=False) == ASSIGNED[0]
    with pytest.raises(ValidationError, match="marked not relevant and rated 3: send one"):
        Answer(item=first, value=3, not_relevant=True)


@pytest.mark.parametrize(
    ("rater", "answers", "open_", "finalised", "problem"),
    [
        (RATER, [("first", 3)], False, False, "campaign 'c1' is closed"),
        ("mallory", [("first", 3)], True, False, "'mallory' is not an assigned rater of 'ann'"),
        (RATER, [("first", 3)], True, True, "has finalised this submission"),
        (RATER, [("first", 9)], True, False, "9 is off the scale 0..5"),
        (RATER, [("nothing", 3)], True, False, "unknown item 'nothing'"),
        (RATER, [("first", 3), ("first", 2)], True, False, "answered 2 times"),
    ],
)
def test_a_refused_submission_names_the_problem(
    rater: str, answers: list[tuple[str, int]], open_: bool, finalised: bool, problem: str
) -> None:
    questions = form(valid_framework())
    first = questions.items[0].id
    given = Submission(
        campaign="c1",
        subject=SUBJECT,
        rater=rater,
        answers=[Answer(item=first if i == "first" else i, value=v) for i, v in answers],
    )
    with pytest.raises(SubmissionRefused, match=problem):
        check(given, questions, ASSIGNED, campaign_open=open_, finalised=finalised)


def test_the_same_submission_twice_changes_nothing() -> None:
    questions = form(valid_framework())
    given = submission(Answer(item=questions.items[0].id, value=3))
    assert unchanged(given, submission(Answer(item=questions.items[0].id, value=3)))
    assert not unchanged(given, submission(Answer(item=questions.items[0].id, value=4)))
    assert not unchanged(None, given)


def test_erasing_comments_keeps_every_value_and_counts_only_what_it_erased() -> None:
    answers = [
        ("a/1", 3, "kind words", False),
        ("a/2", None, None, False),
        ("b", 2, ERASED, False),
        ("c", 1, "", False),
        ("d", None, "not my role's work", True),
    ]
    kept, erased = without_comments(answers)
    assert kept == [
        ("a/1", 3, ERASED, False),
        ("a/2", None, None, False),
        ("b", 2, ERASED, False),
        ("c", 1, "", False),
        ("d", None, ERASED, True),
    ]
    assert erased == 2
    assert without_comments(kept) == (kept, 0)
