"""Publication rules of a framework (docs/domain.md §2): one test per rule on `rules.validate`, then
the same broken frameworks published through the aggregate, which must refuse them whole."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from libs.events.schemas.framework import (
    Anchor,
    Crossover,
    Framework,
    FrameworkPublished,
    LateralPath,
    Requirement,
    SubSkill,
)
from services.framework.domain.drafting import PublicationRefused
from services.framework.domain.rules import Problem, errors, validate
from tests.support.sample_frameworks import (
    CORE,
    T0,
    add_requirements,
    aggregate_with,
    anchors,
    apply_all,
    core_rule,
    extra_competencies,
    replace_competency,
    replace_level,
    replace_role,
    replace_track,
    valid_framework,
    with_competencies,
    with_data_family,
    with_rules,
    without_anchors,
    without_competencies,
    without_rules,
)

# -- broken variants of the valid sample, one per rule ----------------------------------------


def ic_role_of(size: int) -> Framework:
    """eng-l4 (IC) holds 5 competencies (3 core + coding + testing); grow it to `size`."""
    extra = size - 8
    framework = with_competencies(valid_framework(), *extra_competencies(max(extra, 0)))
    targets = {"design": 3, "operations": 3, "security": 3}
    targets |= {f"extra-{i}": 3 for i in range(1, extra + 1)}
    return add_requirements(framework, "eng-l4", dict(list(targets.items())[: size - 5]))


def manager_role_of(size: int) -> Framework:
    """eng-m1 (manager) holds 5 (3 core + coaching + design), 4 behavioural: share holds to 12."""
    extra = max(size - 9, 0)
    framework = with_competencies(valid_framework(), *extra_competencies(extra))
    targets = {"coding": 3, "testing": 3, "operations": 3, "security": 3}
    targets |= {f"extra-{i}": 3 for i in range(1, extra + 1)}
    return add_requirements(framework, "eng-m1", dict(list(targets.items())[: size - 5]))


def director_role_of(size: int) -> Framework:
    """eng-m2 (director tier) holds 5, 4 behavioural; one behavioural filler keeps the share."""
    technical = size - 10
    framework = with_competencies(
        valid_framework(),
        *extra_competencies(technical),
        *extra_competencies(1, "behavioural", prefix="lead"),
    )
    targets = {"coding": 3, "testing": 3, "operations": 3, "security": 3, "lead-1": 3}
    targets |= {f"extra-{i}": 3 for i in range(1, technical + 1)}
    return add_requirements(framework, "eng-m2", targets)


def two_behavioural() -> Framework:
    """Without one core rule, IC roles keep only 2 behavioural of 4 (share still holds)."""
    return without_rules(valid_framework(), "core-ownership")


def behaviourally_thin_manager() -> Framework:
    """eng-m1 without coaching: 3 behavioural of 10, under the manager cap but below a third."""
    framework = with_competencies(
        without_rules(valid_framework(), "managers-coach"), *extra_competencies(2)
    )
    technical = {"coding": 3, "testing": 3, "operations": 3, "security": 3}
    return add_requirements(framework, "eng-m1", technical | {"extra-1": 3, "extra-2": 3})


def unanchored_ic_target() -> Framework:
    return without_anchors(valid_framework(), "coding", "ic", [3])


def short_ic_track() -> Framework:
    return replace_level(valid_framework(), "eng", "manager", "M2", grade=5)


def zero_on_one_to_five() -> Framework:
    framework = valid_framework().model_copy(update={"scale": "1..5"})
    return replace_role(
        framework,
        "eng-l1",
        requirements=[
            Requirement(competency="coding", target=0),
            Requirement(competency="testing", target=1),
        ],
    )


def crossover_from_manager_level() -> Framework:
    return replace_track(
        valid_framework(),
        "eng",
        "manager",
        crossover=Crossover(from_level="M1", leadership_competencies=["coaching"]),
    )


def unknown_competency_in_role() -> Framework:
    return add_requirements(valid_framework(), "eng-l1", {"ghost": 1})


BLOCKING: dict[str, Callable[[], Framework]] = {
    "role-cap": lambda: ic_role_of(9),
    "behavioural-minimum": two_behavioural,
    "behavioural-share": behaviourally_thin_manager,
    "anchors-present": unanchored_ic_target,
    "ic-track-height": short_ic_track,
    "scale": zero_on_one_to_five,
    "crossover": crossover_from_manager_level,
    "references": unknown_competency_in_role,
}


def only(problems: list[Problem], rule: str) -> list[Problem]:
    return [p for p in problems if p.rule == rule]


def error_rules(framework: Framework) -> set[str]:
    return {p.rule for p in errors(validate(framework))}


# -- the valid sample ----------------------------------------------------------------------


def test_the_valid_sample_has_no_problem_at_all() -> None:
    """docs/domain.md §2: the sample obeys every rule, so each test below breaks exactly one."""
    assert validate(valid_framework()) == []


# -- role profile: caps ----------------------------------------------------------------------


def test_an_individual_contributor_role_holds_at_most_8_competencies() -> None:
    """docs/domain.md §2, Role profile: caps (8 for individual contributors); the message names
    the role, the rule and the numbers."""
    assert validate(ic_role_of(8)) == []

    problems = validate(ic_role_of(9))

    assert error_rules(ic_role_of(9)) == {"role-cap"}
    [cap] = only(problems, "role-cap")
    assert cap.role == "eng-l4"
    assert "'eng-l4'" in cap.message
    assert "9 competencies" in cap.message
    assert "cap for individual contributors is 8" in cap.message
    assert str(cap).startswith("[role-cap] ")


def test_a_manager_role_holds_at_most_10_competencies() -> None:
    """docs/domain.md §2, Role profile: caps (10 for managers)."""
    assert validate(manager_role_of(10)) == []

    [cap] = only(validate(manager_role_of(11)), "role-cap")

    assert error_rules(manager_role_of(11)) == {"role-cap"}
    assert cap.role == "eng-m1"
    assert "'eng-m1'" in cap.message
    assert "11 competencies" in cap.message
    assert "cap for managers is 10" in cap.message


def test_a_director_role_holds_at_most_12_competencies() -> None:
    """docs/domain.md §2, Role profile: caps (12 for directors); the level's tier decides the
    cap."""
    assert validate(director_role_of(12)) == []

    [cap] = only(validate(director_role_of(13)), "role-cap")

    assert error_rules(director_role_of(13)) == {"role-cap"}
    assert cap.role == "eng-m2"
    assert "'eng-m2'" in cap.message
    assert "13 competencies" in cap.message
    assert "cap for directors is 12" in cap.message


# -- role profile: floor ---------------------------------------------------------------------


def test_a_role_needs_at_least_3_behavioural_competencies() -> None:
    """docs/domain.md §2, Role profile: floor, at least 3 behavioural competencies."""
    problems = validate(two_behavioural())

    assert error_rules(two_behavioural()) == {"behavioural-minimum"}
    floor = only(problems, "behavioural-minimum")
    # Every IC role lost a core competency; manager roles keep coaching and stay at 3.
    assert [p.role for p in floor] == ["eng-l1", "eng-l2", "eng-l3", "eng-l4"]
    assert "'eng-l1'" in floor[0].message
    assert "2 behavioural competencies" in floor[0].message
    assert "at least 3" in floor[0].message


def test_an_empty_role_profile_breaks_the_behavioural_floor() -> None:
    """docs/domain.md §2, Role profile: floor. Zero behavioural competencies is fewer than 3, so an
    empty profile (no core rule reaches it, nothing listed) must not publish."""
    framework = without_rules(valid_framework(), *(f"core-{k}" for k in CORE))
    # The other roles list the core competencies themselves, so only eng-l1 is short.
    for role in framework.roles:
        framework = add_requirements(framework, role.key, dict.fromkeys(CORE, 2))
    framework = replace_role(framework, "eng-l1", requirements=[])

    assert [p.role for p in only(validate(framework), "behavioural-minimum")] == ["eng-l1"]


def test_behavioural_competencies_are_at_least_a_third_of_a_role() -> None:
    """docs/domain.md §2, Role profile: floor, behavioural competencies are at least one third."""
    assert error_rules(behaviourally_thin_manager()) == {"behavioural-share"}

    [share] = only(validate(behaviourally_thin_manager()), "behavioural-share")

    assert share.role == "eng-m1"
    assert "'eng-m1'" in share.message
    assert "3 behavioural competencies of 10" in share.message
    assert "one in 3 (4)" in share.message


# -- functional competencies per family --------------------------------------------------------


@pytest.mark.parametrize(("removed", "added", "count"), [(1, 0, 4), (0, 4, 9)])
def test_five_to_eight_functional_competencies_per_family_is_only_a_warning(
    removed: int, added: int, count: int
) -> None:
    """docs/domain.md §2, Competency category: 5 to 8 functional competencies per family is the
    practical ceiling; outside it HR is warned, publishing is not blocked."""
    framework = without_competencies(valid_framework(), *["security"][:removed])
    framework = with_competencies(framework, *extra_competencies(added))

    problems = validate(framework)

    assert errors(problems) == []
    [warning] = only(problems, "functional-per-family")
    assert warning.severity == "warning"
    assert f"family 'eng' has {count} functional competencies" in warning.message
    assert "5 to 8" in warning.message


# -- behavioural anchors ------------------------------------------------------------------------


def test_every_target_in_use_has_an_anchor_on_the_roles_track() -> None:
    """docs/domain.md §2, Behavioural anchors: one sentence per proficiency level in use, written
    separately per track, so an IC anchor does not describe what a manager role expects."""
    assert error_rules(unanchored_ic_target()) == {"anchors-present"}
    [missing] = only(validate(unanchored_ic_target()), "anchors-present")
    assert missing.role == "eng-l3"
    assert "'coding' has no ic-track anchor for proficiency 3" in missing.message

    # design keeps its IC anchors at 3 and 4, but the manager roles expect 3 and 4.
    manager_unanchored = without_anchors(valid_framework(), "design", "manager")
    problems = only(validate(manager_unanchored), "anchors-present")
    assert [(p.role, p.severity) for p in problems] == [("eng-m1", "error"), ("eng-m2", "error")]
    assert "'design' has no manager-track anchor for proficiency 3" in problems[0].message

    # An anchor nobody targets is not required: dropping the unused 5 changes nothing.
    assert validate(without_anchors(valid_framework(), "coding", "ic", [5])) == []


# -- sub-skill anchors ----------------------------------------------------------------------


def by_sub_skill(framework: Framework, **own: list[Anchor]) -> Framework:
    """Assessed at sub-skill level: every competency gets one sub-skill, `KEY-1`, without
    anchors of its own unless `own` gives them (by competency key)."""
    for competency in framework.competencies:
        skill = SubSkill(
            key=f"{competency.key}-1", name="Shows it", anchors=own.get(competency.key, [])
        )
        framework = replace_competency(framework, competency.key, sub_skills=[skill])
    return framework.model_copy(update={"granularity": "sub_skill"})


def test_a_sub_skills_anchors_follow_the_competency_anchor_rules() -> None:
    """docs/domain.md §2, Granularity: a sub-skill's own anchors are anchors like the
    competency's: one per track and proficiency (and family), on the scale, for a known family."""
    assert validate(by_sub_skill(valid_framework(), design=anchors("APIs"))) == []
    twice = Anchor(track="ic", proficiency=2, text="Once more.")
    elsewhere = Anchor(track="ic", proficiency=2, text="Elsewhere.", family="nowhere")
    broken = by_sub_skill(
        valid_framework().model_copy(update={"scale": "1..5"}),
        design=[*anchors("APIs"), twice, elsewhere, Anchor(track="ic", proficiency=0, text="-")],
    )
    design = "competencies[6].sub_skills[0]"
    assert [(p.rule, p.path) for p in errors(validate(broken))] == [
        ("anchors", design),
        ("references", f"{design}.anchors[11]"),
        ("scale", f"{design}.anchors[12]"),
    ]
    assert "competency 'design' sub-skill 'design-1' has more than one anchor for ['ic 2']" in (
        errors(validate(broken))[0].message
    )


def test_a_sub_skill_with_anchors_of_its_own_describes_every_target_on_that_track() -> None:
    """docs/domain.md §2, Granularity: a sub-skill rated against its own anchors needs one at
    each target its roles expect, as a competency does; without anchors on the role's track it
    is rated against the competency's, which the competency rule already checks."""
    # manager anchors at 1 and 2 only: eng-m1 and eng-m2 expect design at 3 and 4
    short = by_sub_skill(valid_framework(), design=anchors("APIs", ["manager"], [1, 2]))
    problems = only(validate(short), "anchors-present")
    assert [(p.role, p.severity) for p in problems] == [("eng-m1", "error"), ("eng-m2", "error")]
    assert (
        "sub-skill 'design/design-1' has no manager-track anchor for proficiency 3, which roles "
        "['eng-m1'] expect"
    ) in problems[0].message
    # IC anchors only: managers read the competency's, and no IC role is asked about design
    assert validate(by_sub_skill(valid_framework(), design=anchors("APIs", ["ic"], [1]))) == []
    # assessed per competency, the sub-skill's anchors are asked of no one
    per_competency = short.model_copy(update={"granularity": "competency"})
    assert validate(per_competency) == []


# -- tracks -----------------------------------------------------------------------------------


def test_the_ic_track_reaches_as_high_as_the_manager_track() -> None:
    """docs/domain.md §2, Track: equal prestige, the IC track must reach as high as the manager
    track (compared on the organisation-wide grade)."""
    assert error_rules(short_ic_track()) == {"ic-track-height"}

    [height] = only(validate(short_ic_track()), "ic-track-height")

    assert "family 'eng'" in height.message
    assert "grade 4" in height.message
    assert "grade 5" in height.message

    # Equal height is enough.
    assert validate(replace_level(valid_framework(), "eng", "ic", "L4", grade=4)) == []


def test_the_crossover_point_is_an_ic_level_and_names_leadership_competencies() -> None:
    """docs/domain.md §2, Track: the crossover point is the IC level from which one may enter the
    manager track, plus leadership competencies."""
    [level] = only(validate(crossover_from_manager_level()), "crossover")
    assert level.severity == "error"
    assert "'M1' is not a level of its IC track" in level.message

    not_leadership = replace_track(
        valid_framework(),
        "eng",
        "manager",
        crossover=Crossover(from_level="L2", leadership_competencies=["coding"]),
    )
    [kind] = only(validate(not_leadership), "crossover")
    assert "'coding' is not a leadership competency" in kind.message

    # A manager track that names no crossover point is a warning only.
    unnamed = replace_track(valid_framework(), "eng", "manager", crossover=None)
    assert [(p.rule, p.severity) for p in validate(unnamed)] == [("crossover", "warning")]


# -- proficiency scale --------------------------------------------------------------------------


def test_targets_and_anchors_stay_on_the_frameworks_scale() -> None:
    """docs/domain.md §2, Proficiency scale: 0..5 by default or 1..5, and every threshold is on the
    framework's own scale, so a 1..5 framework refuses a target (or an anchor) of 0."""
    scale = only(validate(zero_on_one_to_five()), "scale")
    assert [(p.severity, p.path) for p in scale] == [("error", "roles[0].requirements[0]")]
    assert "target proficiency 0" in scale[0].message
    assert "1..5" in scale[0].message

    one_to_five = valid_framework().model_copy(update={"scale": "1..5"})
    assert validate(one_to_five) == []
    zero_rule = with_rules(without_rules(one_to_five, "core-ownership"), core_rule("ownership", 0))
    assert "target proficiency 0" in only(validate(zero_rule), "scale")[0].message
    coding = one_to_five.competency("coding")
    assert coding is not None
    zero_anchor = replace_competency(
        one_to_five,
        "coding",
        anchors=[*coding.anchors, Anchor(track="ic", proficiency=0, text="Not shown yet.")],
    )
    assert "anchor at proficiency 0" in only(validate(zero_anchor), "scale")[0].message


# -- references -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        (unknown_competency_in_role, "role 'eng-l1': unknown competency 'ghost'"),
        (
            lambda: with_rules(valid_framework(), core_rule("ghost")),
            "deployment rule 'core-ghost': unknown competency 'ghost'",
        ),
        (
            lambda: replace_competency(valid_framework(), "coding", category="nowhere"),
            "unknown category 'nowhere'",
        ),
        (
            lambda: replace_competency(valid_framework(), "coding", family="nowhere"),
            "functional competency 'coding' must name its job family",
        ),
        (
            lambda: replace_role(valid_framework(), "eng-l1", level="L9"),
            "family 'eng' has no ic level 'L9'",
        ),
        (
            lambda: valid_framework().model_copy(
                update={"lateral_paths": [LateralPath(from_family="eng", to_family="sales")]}
            ),
            "lateral path: unknown family 'sales'",
        ),
    ],
    ids=["role", "rule", "category", "family", "level", "lateral-path"],
)
def test_every_reference_names_something_the_framework_defines(
    broken: Callable[[], Framework], expected: str
) -> None:
    """docs/domain.md §2: roles, rules, competencies and lateral paths refer to families, levels,
    categories and competencies of the same framework."""
    found = only(validate(broken()), "references")

    assert [p.severity for p in found] == ["error"]
    assert expected in found[0].message


# -- gaps against docs/domain.md §2 -----------------------------------------------------------


def test_a_functional_competency_stays_within_its_job_family() -> None:
    """docs/domain.md §2, Competency category: functional competencies are specific to a job family,
    so one reaching a role of another family is a problem HR must see."""
    framework = add_requirements(with_data_family(valid_framework()), "data-d2", {"coding": 2})

    flagged = [p for p in validate(framework) if p.role == "data-d2" or "'data-d2'" in p.message]

    assert any("'coding'" in p.message for p in flagged)


def test_a_standard_term_may_not_be_another_competencys_name() -> None:
    """docs/domain.md §2, Vocabulary mapping: the organisation's name and the standard term both
    stay valid, so a term may not already name a different competency."""
    clash = replace_competency(valid_framework(), "coding", standard_term="Testing")

    [problem] = only(validate(clash), "vocabulary")

    assert problem.severity == "error"
    assert "'coding' maps to standard term 'Testing'" in problem.message


def test_two_competencies_may_map_to_one_standard_term() -> None:
    """docs/domain.md §2, Vocabulary mapping: organisation terms map to a standard taxonomy term so
    results compare across organisations; a taxonomy term may cover several local ones."""
    shared = replace_competency(valid_framework(), "coding", standard_term="Building software")
    shared = replace_competency(shared, "testing", standard_term="Building software")

    assert not only(validate(shared), "vocabulary")


# -- through the aggregate: nothing is published -------------------------------------------------


@pytest.mark.parametrize("rule", BLOCKING)
def test_publishing_a_framework_that_breaks_a_rule_publishes_nothing(rule: str) -> None:
    """docs/domain.md §2, Role profile and Versions: breaking a rule is a validation error on
    publish naming the rule; no version is produced and the draft stays as it was."""
    aggregate = aggregate_with(valid_framework())
    published, _ = aggregate.publish(T0)
    apply_all(aggregate, published)
    broken = BLOCKING[rule]()
    apply_all(aggregate, aggregate.replace(broken, source="tests"))
    latest, stream_version = aggregate.latest, aggregate.stream_version

    with pytest.raises(PublicationRefused) as refused:
        aggregate.publish(T0)

    assert rule in {p.rule for p in errors(refused.value.problems)}
    assert f"[{rule}]" in str(refused.value)
    assert str(refused.value).startswith("framework 'eng' cannot be published: ")
    assert aggregate.latest == latest
    assert aggregate.published_versions == 1
    assert aggregate.stream_version == stream_version
    assert aggregate.draft == broken


def test_a_warning_does_not_block_publishing() -> None:
    """docs/domain.md §2, Competency category: too few functional competencies is a warning; the
    version is published and the warning comes back with it."""
    aggregate = aggregate_with(without_competencies(valid_framework(), "security"))

    events, problems = aggregate.publish(T0)

    assert [p.rule for p in problems] == ["functional-per-family"]
    assert isinstance(events[0], FrameworkPublished)
    assert events[0].version == 1


def test_an_ic_level_cannot_claim_a_larger_cap_through_its_tier() -> None:
    """docs/domain.md §2, Role profile: at most 8 competencies for individual contributors,
    however senior; a director tier on the IC track would lift the cap to 12."""
    framework = replace_level(valid_framework(), "eng", "ic", "L4", tier="director")

    [problem] = only(validate(framework), "tiers")

    assert problem.severity == "error"
    assert "'L4'" in problem.message
    assert "cap 8" in problem.message


def test_a_lateral_path_joins_two_families_once() -> None:
    """docs/domain.md §2, Track: lateral paths are between families."""
    framework = with_data_family(valid_framework())
    looped = framework.model_copy(
        update={"lateral_paths": [LateralPath(from_family="eng", to_family="eng")]}
    )
    twice = framework.model_copy(
        update={"lateral_paths": [LateralPath(from_family="eng", to_family="data")] * 2}
    )

    assert [p.severity for p in only(validate(looped), "lateral-paths")] == ["error"]
    assert "to itself" in only(validate(looped), "lateral-paths")[0].message
    assert "given twice" in only(validate(twice), "lateral-paths")[0].message


def test_a_core_competency_that_misses_roles_is_a_warning() -> None:
    """docs/domain.md §2, Competency category: core means everyone in the organisation."""
    framework = without_rules(valid_framework(), "core-collaboration")

    [problem] = only(validate(framework), "core-everywhere")

    assert problem.severity == "warning"
    assert "'collaboration' does not reach 6 role(s)" in problem.message
