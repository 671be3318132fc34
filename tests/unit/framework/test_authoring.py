"""Co-authoring and review of a draft (docs/domain.md §2, Authoring; docs/framework.md,
Co-authoring and review), on the pure aggregates: sections a contributor may edit, review
rounds of 3 to 5 reviewers, approvals that cover the draft as approved, and publication
refused without the approvals the policy asks for."""

from __future__ import annotations

from datetime import timedelta

import pytest

from libs.events.registry import registry
from libs.events.schemas.framework import Anchor, Framework, FrameworkPublished, Policy, SubSkill
from services.framework.domain.authoring import (
    ApprovalsMissing,
    AuthoringError,
    DraftAuthoring,
    NotInvited,
    OutsideSection,
    Section,
    StaleDraft,
    publish,
)
from services.framework.domain.drafting import (
    NEW_FRAMEWORK_APPROVALS,
    FrameworkAggregate,
    UnknownElement,
)
from services.framework.domain.events import DraftStarted
from tests.support.sample_frameworks import (
    T0,
    aggregate_with,
    anchors,
    apply_all,
    replace_competency,
    valid_framework,
    with_data_family,
    with_sub_skill,
)

REVIEWERS = ["rita", "rob", "ravi"]


def with_approvals(framework: Framework, required: int) -> Framework:
    return framework.model_copy(
        update={"policy": framework.policy.model_copy(update={"approvals_required": required})}
    )


def authoring(**sections: list[Section]) -> DraftAuthoring:
    state = DraftAuthoring("eng")
    draft = with_data_family(valid_framework())
    for contributor, held in sections.items():
        for section in held:
            for event in state.invite(contributor, section, draft):
                state.apply(event, state.stream_version + 1)
    return state


def given(state: DraftAuthoring, events: list) -> DraftAuthoring:  # type: ignore[type-arg]
    for event in events:
        state.apply(event, state.stream_version + 1)
    return state


# -- sections ---------------------------------------------------------------------------------


def test_a_family_section_covers_the_family_its_roles_and_its_own_competencies() -> None:
    draft = with_data_family(valid_framework())
    state = authoring(mia=[Section(family="eng")])
    role = draft.role("eng-l2")
    coding = draft.competency("coding")
    assert role is not None
    assert coding is not None
    state.check_edit("mia", "roles", "eng-l2", role.model_copy(update={"name": "Eng 2"}), draft)
    state.check_edit("mia", "competencies", "coding", coding, draft)
    state.check_edit("mia", "families", "eng", draft.family("eng"), draft)
    state.check_edit("mia", "roles", "eng-l1", None, draft)  # removing one of its roles

    with pytest.raises(OutsideSection) as core:
        state.check_edit("mia", "competencies", "collaboration", None, draft)
    assert core.value.body["section"] == "competency 'collaboration'"
    assert core.value.body["your_sections"] == ["family 'eng'"]
    data_role = draft.role("data-d1")
    assert data_role is not None
    with pytest.raises(OutsideSection) as other:
        state.check_edit("mia", "roles", "data-d1", data_role, draft)
    assert other.value.body["section"] == "family 'data'"
    assert "'mia' may edit only their sections" in str(other.value)
    with pytest.raises(OutsideSection) as moved:
        # moving one of `data`'s roles into `eng` edits `data`'s section too
        state.check_edit(
            "mia", "roles", "data-d1", data_role.model_copy(update={"family": "eng"}), draft
        )
    assert moved.value.body["section"] == "family 'data'"
    state.check_edit("mia", "roles", "gone", None, draft)  # the removal answers 404
    with pytest.raises(OutsideSection) as hr_part:
        state.check_edit("mia", "categories", "craft", None, draft)
    assert "HR's part" in hr_part.value.body["section"]


def test_a_competency_section_covers_those_competencies_only() -> None:
    draft = valid_framework()
    state = authoring(cas=[Section(competencies=["collaboration", "coding"])])
    state.check_edit("cas", "competencies", "collaboration", None, draft)
    state.check_edit("cas", "competencies", "coding", draft.competency("coding"), draft)
    with pytest.raises(OutsideSection) as refused:
        state.check_edit("cas", "competencies", "testing", draft.competency("testing"), draft)
    assert refused.value.body["section"] == "family 'eng'"
    with pytest.raises(OutsideSection):
        state.check_edit("cas", "roles", "eng-l1", draft.role("eng-l1"), draft)


def test_someone_not_invited_is_refused_and_a_reviewer_may_not_edit() -> None:
    draft = valid_framework()
    state = authoring(mia=[Section(family="eng")])
    with pytest.raises(NotInvited):
        state.check_edit("eve", "roles", "eng-l1", draft.role("eng-l1"), draft)
    given(state, state.open_round(["rita", "rob", "ravi"], 3, 1))
    with pytest.raises(OutsideSection) as refused:
        state.check_edit("rita", "roles", "eng-l1", draft.role("eng-l1"), draft)
    assert refused.value.body["your_sections"] == []
    state.require_invited("rita")  # a reviewer reads and comments


def test_a_section_is_a_family_or_competencies_of_the_draft() -> None:
    with pytest.raises(ValueError, match="a job family"):
        Section()
    with pytest.raises(ValueError, match="a job family"):
        Section(family="eng", competencies=["coding"])
    with pytest.raises(UnknownElement, match="no family 'sales'"):
        authoring(mia=[Section(family="sales")])
    with pytest.raises(UnknownElement, match=r"no competencies \['negotiation'\]"):
        authoring(mia=[Section(competencies=["coding", "negotiation"])])


# -- comments ---------------------------------------------------------------------------------


def test_comments_name_a_competency_an_anchor_or_a_role_of_the_draft() -> None:
    draft = valid_framework()
    state = authoring()
    for element in ("competencies[coding]", "competencies[coding].anchors[ic/3]", "roles[eng-m1]"):
        [event] = state.comment("hannah", element, "Reads well.", draft, 4)
        assert (event.author, event.element, event.draft_version) == ("hannah", element, 4)
    with pytest.raises(UnknownElement):
        state.comment("hannah", "competencies[coding].anchors[ic/0]", "x", draft, 4)
    with pytest.raises(UnknownElement):
        state.comment("hannah", "roles[sales-1]", "x", draft, 4)
    with pytest.raises(AuthoringError, match="names no element"):
        state.comment("hannah", "families[eng]", "x", draft, 4)


def test_comments_name_a_sub_skill_and_its_own_anchors_as_the_diff_does() -> None:
    """A sub-skill's anchor is named as versions.diff names it:
    `competencies[x].sub_skills[y].anchors[track/level]`, a family's own `[family:track/level]`."""
    own = Anchor(track="ic", proficiency=3, text="Reviews data pipelines.", family="data")
    reviews = SubSkill(key="reviews", name="Reviews code", anchors=[*anchors("Reviews"), own])
    draft = with_sub_skill(with_data_family(valid_framework()), "coding", reviews)
    state = authoring()
    for element in (
        "competencies[coding].sub_skills[reviews]",
        "competencies[coding].sub_skills[reviews].anchors[manager/2]",
        "competencies[coding].sub_skills[reviews].anchors[data:ic/3]",
    ):
        [event] = state.comment("hannah", element, "Reads well.", draft, 4)
        assert event.element == element
    for element, message in (
        ("competencies[coding].sub_skills[pairing]", "competency 'coding' has no sub-skill"),
        (
            "competencies[coding].sub_skills[pairing].anchors[ic/3]",
            "competency 'coding' has no sub-skill 'pairing'",
        ),
        (
            "competencies[coding].sub_skills[reviews].anchors[eng:ic/3]",
            "sub-skill 'coding/reviews' has no anchor",
        ),
        (
            "competencies[testing].sub_skills[reviews].anchors[ic/3]",
            "competency 'testing' has no sub-skill 'reviews'",
        ),
    ):
        with pytest.raises(UnknownElement, match=message):
            state.comment("hannah", element, "x", draft, 4)
    with pytest.raises(AuthoringError, match="names no element"):
        state.comment("hannah", "competencies[coding].sub_skills[reviews].name", "x", draft, 4)
    # a sub-skill without anchors of its own has none to comment on
    bare = with_sub_skill(valid_framework(), "coding", SubSkill(key="pairing", name="Pairs"))
    with pytest.raises(UnknownElement, match="sub-skill 'coding/pairing' has no anchor"):
        state.comment(
            "hannah", "competencies[coding].sub_skills[pairing].anchors[ic/3]", "x", bare, 4
        )


# -- review rounds ----------------------------------------------------------------------------


@pytest.mark.parametrize("count", [2, 6])
def test_a_review_round_names_three_to_five_reviewers(count: int) -> None:
    with pytest.raises(AuthoringError, match=f"3 to 5 reviewers; {count} named"):
        DraftAuthoring("eng").open_round([f"r{i}" for i in range(count)], 3, 1)


def test_a_review_round_names_no_one_twice_and_enough_for_the_policy() -> None:
    with pytest.raises(AuthoringError, match=r"repeated: \['rob'\]"):
        DraftAuthoring("eng").open_round(["rob", "rita", "rob"], 0, 1)
    with pytest.raises(AuthoringError, match="asks for 4 approvals: name at least 4"):
        DraftAuthoring("eng").open_round(REVIEWERS, 4, 1)


def test_only_the_rounds_reviewers_judge_and_only_the_draft_they_read() -> None:
    state = given(DraftAuthoring("eng"), DraftAuthoring("eng").open_round(REVIEWERS, 3, 5))
    with pytest.raises(NotInvited, match="not a reviewer of round 1"):
        state.give_verdict("mia", "approve", "Fine.", 5, 5, T0)
    with pytest.raises(StaleDraft, match="changed since version 4: it is at version 5"):
        state.give_verdict("rita", "approve", "Fine.", 4, 5, T0)


def test_an_edit_after_an_approval_leaves_it_no_longer_counting() -> None:
    framework = aggregate_with(with_approvals(valid_framework(), 3))
    state = given(DraftAuthoring("eng"), DraftAuthoring("eng").open_round(REVIEWERS, 3, 1))
    version = framework.stream_version
    given(state, state.give_verdict("rita", "approve", "Good.", version, version, T0))
    given(state, state.give_verdict("rob", "request_changes", "Reword L3.", version, version, T0))
    given(state, state.give_verdict("ravi", "approve", "Good.", version, version, T0))
    apply_all(framework, framework.replace(reword(framework), None))  # an edit, by anyone

    with pytest.raises(ApprovalsMissing) as refused:
        publish(framework, state, T0)
    body = refused.value.body
    assert body["approvals_required"] == 3
    assert body["approved_by"] == []
    assert [(m["reviewer"], m["status"]) for m in body["not_approved"]] == [
        ("rita", "approved_earlier_draft"),
        ("rob", "changes_requested"),
        ("ravi", "approved_earlier_draft"),
    ]
    assert "not approved: rita (approved earlier draft), rob (changes requested)" in str(
        refused.value
    )

    version = framework.stream_version
    for reviewer in ("ravi", "rob", "rita"):
        given(state, state.give_verdict(reviewer, "approve", "Now yes.", version, version, T0))
    events, closing, _ = publish(framework, state, T0 + timedelta(hours=1))
    published = events[0]
    assert isinstance(published, FrameworkPublished)
    assert [a.reviewer for a in published.approvals] == REVIEWERS, "in the round's order"
    [closed] = closing
    assert (closed.round, closed.version, closed.approvals) == (1, 1, published.approvals)
    given(state, closing)
    assert state.round is None


def test_too_few_approvals_name_who_has_not_approved() -> None:
    framework = aggregate_with(with_approvals(valid_framework(), 2))
    state = given(DraftAuthoring("eng"), DraftAuthoring("eng").open_round(REVIEWERS, 2, 1))
    version = framework.stream_version
    given(state, state.give_verdict("rob", "approve", "Good.", version, version, T0))
    with pytest.raises(ApprovalsMissing) as refused:
        publish(framework, state, T0)
    assert refused.value.body["approved_by"] == ["rob"]
    assert [m["reviewer"] for m in refused.value.body["not_approved"]] == ["rita", "ravi"]
    given(state, state.give_verdict("ravi", "approve", "Good.", version, version, T0))
    events, _, _ = publish(framework, state, T0)
    assert [a.reviewer for a in events[0].approvals] == ["rob", "ravi"]  # type: ignore[attr-defined]


def test_publishing_without_a_round_is_refused_when_the_policy_asks_for_approvals() -> None:
    framework = aggregate_with(with_approvals(valid_framework(), 3))
    with pytest.raises(ApprovalsMissing, match="no review round is open"):
        publish(framework, DraftAuthoring("eng"), T0)


def test_a_policy_asking_for_none_publishes_as_before() -> None:
    framework = aggregate_with(valid_framework())
    events, closing, problems = publish(framework, DraftAuthoring("eng"), T0)
    assert (events[0].approvals, closing, problems) == ([], [], [])  # type: ignore[attr-defined]


# -- the policy's approvals -------------------------------------------------------------------


def test_a_framework_started_here_asks_for_three_approvals_and_keeps_asking() -> None:
    framework = FrameworkAggregate("eng")
    apply_all(framework, framework.start("Engineering"))
    assert framework.draft is not None
    assert framework.draft.policy.approvals_required == NEW_FRAMEWORK_APPROVALS == 3
    # A file that does not say (a CSV grid holds no policy) keeps what the draft asks for.
    apply_all(framework, framework.replace(valid_framework(), "eng.csv"))
    assert framework.draft.policy.approvals_required == 3
    # So does a policy edit that leaves it out; one that states it sets it.
    apply_all(framework, framework.change_settings({"policy": {"behavioural_minimum": 2}}))
    assert (
        framework.draft.policy.approvals_required,
        framework.draft.policy.behavioural_minimum,
    ) == (3, 2)
    apply_all(framework, framework.change_settings({"policy": {"approvals_required": 0}}))
    assert framework.draft.policy.approvals_required == 0
    # A file that states it sets it.
    apply_all(framework, framework.replace(with_approvals(valid_framework(), 4), "eng.yaml"))
    assert framework.draft.policy.approvals_required == 4


def test_frameworks_from_before_review_rounds_ask_for_none() -> None:
    """Old events are never rewritten: a draft started, or a version published, before the
    policy had approvals reads as asking for none, so it publishes as it did."""
    started = registry.decode("FrameworkDraftStarted", 1, {"name": "Engineering"})
    assert isinstance(started, DraftStarted)
    assert started.policy == Policy()
    assert started.policy.approvals_required == 0
    v3 = FrameworkPublished(
        framework_id="eng",
        version=1,
        revision="initial",
        published_at=T0,
        framework=valid_framework(),
    ).model_dump(mode="json", exclude={"approvals"})
    v3["framework"]["policy"].pop("approvals_required")
    read = registry.decode("FrameworkPublished", 3, v3)
    assert isinstance(read, FrameworkPublished)
    assert (read.approvals, read.framework.policy.approvals_required) == ([], 0)
    assert read.framework == valid_framework()


def reword(framework: FrameworkAggregate) -> Framework:
    assert framework.draft is not None
    return replace_competency(framework.draft, "coding", name="Writing code")


def test_a_new_round_replaces_the_open_one_and_its_verdicts() -> None:
    state = given(DraftAuthoring("eng"), DraftAuthoring("eng").open_round(REVIEWERS, 3, 1))
    given(state, state.give_verdict("rita", "approve", "Good.", 1, 1, T0))
    given(state, state.open_round(["rita", "rob", "rhea"], 3, 1))
    review = state.review(valid_framework(), 1)
    assert review.round == 2
    assert [(r.reviewer, r.status) for r in review.reviewers] == [
        ("rita", "pending"),
        ("rob", "pending"),
        ("rhea", "pending"),
    ]
    assert not state.is_invited("ravi"), "a reviewer of an earlier round only"


def test_every_step_of_authoring_and_review_stays_in_the_service() -> None:
    steps = {
        "FrameworkContributorInvited",
        "FrameworkDraftCommented",
        "FrameworkReviewRoundOpened",
        "FrameworkReviewVerdictGiven",
        "FrameworkReviewRoundClosed",
    }
    assert all(registry.is_private(step) for step in steps)
