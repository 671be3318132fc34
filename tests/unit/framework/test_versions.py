"""Framework versions (docs/domain.md §2, Versions): what makes a revision minor or major, the
diff HR reviews, and numbered, immutable versions published through the aggregate."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from libs.events.schemas.framework import (
    Anchor,
    Framework,
    FrameworkPublished,
    LevelDescriptor,
    Revision,
    SubSkill,
    Track,
    TrackKind,
)
from services.framework.domain.drafting import FrameworkAggregate, PublicationRefused
from services.framework.domain.versions import Change, choose_revision, diff, revision_of
from tests.support.sample_frameworks import (
    T0,
    add_level,
    add_requirements,
    aggregate_with,
    anchors,
    apply_all,
    competency,
    core_rule,
    level,
    replace_competency,
    replace_level,
    replace_role,
    reword_anchor,
    role,
    valid_framework,
    with_competencies,
    with_data_family,
    with_rules,
    with_sub_skill,
    without_rules,
)

# -- wording and structure ------------------------------------------------------------------


def reworded_anchors(framework: Framework) -> Framework:
    framework = reword_anchor(framework, "coding", "ic", 3, "Keeps a module readable for others.")
    return reword_anchor(framework, "coaching", "manager", 3, "Plans each report's next step.")


WORDING: dict[str, Callable[[Framework], Framework]] = {
    "anchors": reworded_anchors,
    "competency name": lambda f: replace_competency(f, "coding", name="Writing code"),
    "level descriptor": lambda f: replace_level(
        f, "eng", "ic", "L2", descriptor=LevelDescriptor(scope="A feature at a time.")
    ),
    "standard term": lambda f: replace_competency(f, "testing", standard_term="Quality checks"),
}


def data_manager_track_added(framework: Framework) -> Framework:
    data = framework.family("data")
    assert data is not None
    split = data.model_copy(
        update={"tracks": [*data.tracks, Track(kind="manager", levels=[level("DM1", 4)])]}
    )
    families = [split if f.key == "data" else f for f in framework.families]
    return framework.model_copy(update={"families": families})


def role_target_raised(framework: Framework) -> Framework:
    """eng-l3 expects coding at 4 instead of 3."""
    engineer = framework.role("eng-l3")
    assert engineer is not None
    raised = [
        q.model_copy(update={"target": 4}) if q.competency == "coding" else q
        for q in engineer.requirements
    ]
    return replace_role(framework, "eng-l3", requirements=raised)


STRUCTURE: dict[str, Callable[[Framework], Framework]] = {
    "a level added": lambda f: add_level(f, "eng", "ic", level("L5", 5)),
    "a track added": data_manager_track_added,
    "a role's target changed": role_target_raised,
    "a rule's target changed": lambda f: with_rules(
        without_rules(f, "core-ownership"), core_rule("ownership", target=3)
    ),
    "a grade moved": lambda f: replace_level(f, "eng", "manager", "M1", grade=2),
}


@pytest.mark.parametrize("edit", WORDING)
def test_rewording_is_a_minor_revision(edit: str) -> None:
    """docs/domain.md §2, Versions: a minor revision rewords (anchors after calibration feedback,
    names, level descriptors, vocabulary)."""
    before = with_data_family(valid_framework())

    changes = diff(before, WORDING[edit](before))

    assert changes
    assert all(c.change == "changed" for c in changes)
    assert revision_of(changes) == "minor"


@pytest.mark.parametrize("edit", STRUCTURE)
def test_changing_structure_is_a_major_revision(edit: str) -> None:
    """docs/domain.md §2, Versions: a major revision changes structure (a level added, a track
    split); a target moved changes what people are assessed against, so it is major too."""
    before = with_data_family(valid_framework())

    changes = diff(before, STRUCTURE[edit](before))

    assert changes
    assert revision_of(changes) == "major"


def test_changing_a_target_is_major_even_alongside_rewording() -> None:
    """docs/domain.md §2, Versions: one structural change makes the whole revision major."""
    before = valid_framework()
    after = reworded_anchors(replace_level(before, "eng", "manager", "M1", grade=2))

    assert revision_of(diff(before, after)) == "major"


def anchor_text(framework: Framework, key: str, track: TrackKind, proficiency: int) -> str:
    found = framework.competency(key)
    anchor = found.anchor(track, proficiency) if found else None
    assert anchor is not None
    return anchor.text


def test_the_diff_names_each_changed_anchor_by_competency_track_and_proficiency() -> None:
    """docs/domain.md §2, Versions and Behavioural anchors: HR reviews which anchors a revision
    rewords, each addressed by competency, track and proficiency."""
    before = valid_framework()

    changes = diff(before, reworded_anchors(before))

    # Document order: coaching is listed before coding.
    assert [(c.path, c.change, c.before, c.after) for c in changes] == [
        (
            "competencies[coaching].anchors[manager/3].text",
            "changed",
            anchor_text(before, "coaching", "manager", 3),
            "Plans each report's next step.",
        ),
        (
            "competencies[coding].anchors[ic/3].text",
            "changed",
            anchor_text(before, "coding", "ic", 3),
            "Keeps a module readable for others.",
        ),
    ]


def test_a_sub_skills_anchors_are_reworded_written_and_withdrawn_like_a_competencys() -> None:
    """docs/domain.md §2, Versions and Granularity: a sub-skill's own anchors are wording, each
    addressed under its competency and sub-skill; adding a sub-skill changes structure."""
    apis = SubSkill(key="apis", name="Designs APIs", anchors=anchors("APIs", ["manager"], [3, 4]))
    before = replace_competency(valid_framework(), "design", sub_skills=[apis])
    at_3, at_4 = apis.anchors
    own = Anchor(track="manager", proficiency=3, text="Designs APIs data can use.", family="eng")
    reworded = at_3.model_copy(update={"text": "Designs an API others extend."})
    after = replace_competency(
        before, "design", sub_skills=[apis.model_copy(update={"anchors": [reworded, own]})]
    )

    changes = diff(before, after)

    where = "competencies[design].sub_skills[apis].anchors"
    assert [(c.path, c.change) for c in changes] == [
        (f"{where}[manager/3].text", "changed"),
        (f"{where}[manager/4]", "removed"),
        (f"{where}[eng:manager/3]", "added"),
    ]
    assert (changes[0].before, changes[0].after) == (at_3.text, reworded.text)
    assert at_4.text == changes[1].before["text"]
    assert revision_of(changes) == "minor"
    another = SubSkill(key="contracts", name="Keeps contracts")
    added = replace_competency(before, "design", sub_skills=[apis, another])
    assert revision_of(diff(before, added)) == "major"


def expecting_x_descriptor_coding(framework: Framework, target: int) -> Framework:
    """A competency keyed `x.descriptor.coding`, which eng-l3 expects at `target`."""
    odd = competency("x.descriptor.coding", "functional", "technical", family="eng")
    return add_requirements(with_competencies(framework, odd), "eng-l3", {odd.key: target})


def test_keys_and_codes_that_read_like_a_descriptor_or_an_anchor_are_still_structure() -> None:
    """docs/domain.md §2, Versions: keys may hold dots and level codes any text, so a change
    is classified by the fields it is in, not by how its path reads."""
    before = valid_framework()
    cases = {
        "a sub-skill x.descriptor.y added": (
            before,
            with_sub_skill(before, "design", SubSkill(key="x.descriptor.y", name="Y")),
            "competencies[design].sub_skills[x.descriptor.y]",
        ),
        "a target moved on x.descriptor.coding": (
            expecting_x_descriptor_coding(before, 2),
            expecting_x_descriptor_coding(before, 3),
            "roles[eng-l3].requirements[x.descriptor.coding].target",
        ),
        "a level L5.descriptor.x added": (
            before,
            add_level(before, "eng", "ic", level("L5.descriptor.x", 5)),
            "families[eng].tracks[ic].levels[L5.descriptor.x]",
        ),
        "a level L5.anchors[x added": (
            before,
            add_level(before, "eng", "ic", level("L5.anchors[x", 5)),
            "families[eng].tracks[ic].levels[L5.anchors[x]",
        ),
    }
    for case, (old, new, path) in cases.items():
        changes = diff(old, new)
        assert [c.path for c in changes] == [path], case
        assert revision_of(changes) == "major", case


def test_a_descriptor_reworded_at_a_level_whose_code_reads_like_an_anchor_is_wording() -> None:
    """The same fields under an odd level code still reword: a descriptor is a descriptor."""
    before = add_level(valid_framework(), "eng", "ic", level("L5.anchors[x", 5))
    after = replace_level(
        before, "eng", "ic", "L5.anchors[x", descriptor=LevelDescriptor(impact="The team's.")
    )

    changes = diff(before, after)

    assert [(c.path, c.before, c.after) for c in changes] == [
        ("families[eng].tracks[ic].levels[L5.anchors[x].descriptor.impact", "", "The team's.")
    ]
    assert revision_of(changes) == "minor"


def test_a_change_made_by_hand_has_no_fields_and_counts_as_structure() -> None:
    """Only `diff` knows which parts of a path are fields: a change built from a path alone
    is never taken for a rewording."""
    change = Change(path="competencies[coding].name", change="changed", before="a", after="b")

    assert not change.is_wording
    assert revision_of([change]) == "major"


def test_the_diff_names_added_levels_and_changed_targets() -> None:
    """docs/domain.md §2, Versions: a structural change is shown where it happened."""
    before = valid_framework()
    after = add_level(before, "eng", "ic", level("L5", 5))
    after = with_rules(without_rules(after, "core-ownership"), core_rule("ownership", target=3))

    changes = {c.path: c for c in diff(before, after)}

    assert changes["families[eng].tracks[ic].levels[L5]"].change == "added"
    target = changes["rules[core-ownership].target"]
    assert (target.change, target.before, target.after) == ("changed", 2, 3)
    raised = diff(before, role_target_raised(before))
    assert [(c.path, c.before, c.after) for c in raised] == [
        ("roles[eng-l3].requirements[coding].target", 3, 4)
    ]


def test_an_identical_framework_has_no_diff() -> None:
    """docs/domain.md §2, Versions: nothing changed, nothing to publish."""
    assert diff(valid_framework(), valid_framework()) == []


# -- the revision HR asks for -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("structural", "requested", "expected"),
    [
        (False, None, "minor"),
        (False, "minor", "minor"),
        (False, "major", "major"),
        (True, None, "major"),
        (True, "minor", "major"),
        (True, "major", "major"),
    ],
)
def test_hr_may_raise_a_minor_revision_to_major_but_never_lower_a_major_one(
    structural: bool, requested: Revision | None, expected: Revision
) -> None:
    """docs/domain.md §2, Versions: a revision that changes structure is major whatever HR asks;
    HR may still announce a rewording as major."""
    previous = valid_framework()
    draft = reworded_anchors(previous)
    if structural:
        draft = add_level(draft, "eng", "ic", level("L5", 5))

    assert choose_revision(diff(previous, draft), requested) == expected


@pytest.mark.parametrize("requested", [None, "minor", "major"])
def test_the_first_version_is_initial(requested: Revision | None) -> None:
    """docs/domain.md §2, Versions: the first published version has nothing to be a revision of."""
    assert choose_revision(None, requested) == "initial"


# -- publishing through the aggregate ---------------------------------------------------------


def publish(
    aggregate: FrameworkAggregate, at: timedelta = timedelta(), requested: Revision | None = None
) -> FrameworkPublished:
    events, problems = aggregate.publish(T0 + at, requested)
    assert problems == []
    apply_all(aggregate, events)
    [published] = [e for e in events if isinstance(e, FrameworkPublished)]
    return published


def edit(aggregate: FrameworkAggregate, change: Callable[[Framework], Framework]) -> None:
    assert aggregate.draft is not None
    apply_all(aggregate, aggregate.replace(change(aggregate.draft), source="tests"))


def test_successive_publications_are_numbered_and_classified() -> None:
    """docs/domain.md §2, Versions: each publication is an immutable, numbered version; the first is
    initial, a rewording minor, a structural change major."""
    aggregate = aggregate_with(valid_framework())

    first = publish(aggregate)
    edit(aggregate, reworded_anchors)
    second = publish(aggregate, timedelta(days=30))
    edit(aggregate, role_target_raised)
    third = publish(aggregate, timedelta(days=60))

    assert [(v.version, v.revision) for v in (first, second, third)] == [
        (1, "initial"),
        (2, "minor"),
        (3, "major"),
    ]
    assert aggregate.latest == third
    # Each version keeps the framework as published; later edits do not reach it.
    assert first.framework == valid_framework()
    assert second.framework == reworded_anchors(valid_framework())


def test_hr_can_announce_a_rewording_as_major_through_the_aggregate() -> None:
    """docs/domain.md §2, Versions: the requested revision raises, never lowers."""
    aggregate = aggregate_with(valid_framework())
    publish(aggregate)
    edit(aggregate, reworded_anchors)

    assert publish(aggregate, timedelta(days=1), requested="major").revision == "major"
    edit(aggregate, STRUCTURE["a grade moved"])
    assert publish(aggregate, timedelta(days=2), requested="minor").revision == "major"


def test_publishing_an_unchanged_draft_is_refused() -> None:
    """docs/domain.md §2, Versions: a version is a change to publish; the same framework again is
    refused with rule 'unchanged' and nothing is published."""
    aggregate = aggregate_with(valid_framework())
    publish(aggregate)

    with pytest.raises(PublicationRefused) as refused:
        aggregate.publish(T0 + timedelta(days=1))

    assert [p.rule for p in refused.value.problems] == ["unchanged"]
    assert "identical to version 1" in str(refused.value)
    assert aggregate.published_versions == 1


def test_publication_instants_only_rise_even_when_the_clock_goes_back() -> None:
    """docs/domain.md §2, Versions: the version in force at any past date can be reconstructed,
    which needs each version published strictly after the one before."""
    aggregate = aggregate_with(valid_framework())

    first = publish(aggregate)
    edit(aggregate, reworded_anchors)
    second = publish(aggregate, -timedelta(hours=1))  # the clock stepped back
    edit(aggregate, STRUCTURE["a grade moved"])
    third = publish(aggregate, -timedelta(hours=2))

    assert first.published_at == T0
    assert first.published_at < second.published_at < third.published_at
    assert second.published_at - first.published_at < timedelta(seconds=1)


def test_a_new_role_in_a_new_version_is_structural() -> None:
    """docs/domain.md §2, Versions: adding a role profile changes what can be assessed: major."""
    before = valid_framework()
    after = add_level(before, "eng", "ic", level("L5", 5))
    after = after.model_copy(
        update={"roles": [*after.roles, role("eng-l5", "ic", "L5", {"coding": 5, "testing": 4})]}
    )

    assert revision_of(diff(before, after)) == "major"
