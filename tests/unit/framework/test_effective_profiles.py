"""Effective role profiles and the grid (docs/domain.md §2, Deployment scopes, Role profile and
The grid). Edits go through the aggregate's commands and their events, as in the service."""

from __future__ import annotations

import pytest

from libs.events.schemas.framework import (
    DeploymentRule,
    EffectiveRequirement,
    EffectiveRoleProfile,
    Framework,
    Requirement,
    TrackKind,
)
from services.framework.domain.drafting import FrameworkAggregate
from services.framework.domain.profiles import effective_profile, effective_profiles, grid
from tests.support.sample_frameworks import (
    add_requirements,
    aggregate_with,
    apply_all,
    core_rule,
    level_rule,
    replace_role,
    role,
    valid_framework,
    with_data_family,
    with_rules,
    without_roles,
)


def draft(aggregate: FrameworkAggregate) -> Framework:
    assert aggregate.draft is not None
    return aggregate.draft


def profile_of(framework: Framework, key: str) -> EffectiveRoleProfile:
    found = framework.role(key)
    assert found is not None, key
    profile = effective_profile(framework, found)
    assert profile is not None, key
    return profile


def requirement(framework: Framework, role_key: str, competency: str) -> EffectiveRequirement:
    profile = profile_of(framework, role_key)
    return next(q for q in profile.requirements if q.competency == competency)


def holders(framework: Framework, competency: str) -> set[str]:
    """The roles whose effective profile includes the competency."""
    return {
        key
        for key, profile in effective_profiles(framework).items()
        if any(q.competency == competency for q in profile.requirements)
    }


def fresh_aggregate() -> FrameworkAggregate:
    """A framework built element by element: categories, the family and the competencies of
    the valid sample, but no role and no rule yet."""
    sample = valid_framework()
    aggregate = FrameworkAggregate("eng")
    apply_all(aggregate, aggregate.start(sample.name))
    for category in sample.categories:
        apply_all(aggregate, aggregate.define("categories", category))
    for family in sample.families:
        apply_all(aggregate, aggregate.define("families", family))
    for competency in sample.competencies:
        apply_all(aggregate, aggregate.define("competencies", competency))
    return aggregate


ENGINEER = role("eng-l3", "ic", "L3", {"coding": 3, "testing": 3})


# -- core ---------------------------------------------------------------------------------------


def test_a_core_rule_reaches_roles_that_existed_before_it() -> None:
    """docs/domain.md §2, Deployment scopes: core reaches every role."""
    aggregate = fresh_aggregate()
    apply_all(aggregate, aggregate.define("roles", ENGINEER))
    assert holders(draft(aggregate), "ownership") == set()

    apply_all(aggregate, aggregate.define("rules", core_rule("ownership")))

    found = requirement(draft(aggregate), "eng-l3", "ownership")
    assert (found.target, found.origins) == (2, ["core:core-ownership"])


def test_a_core_rule_reaches_roles_created_after_it() -> None:
    """docs/domain.md §2, Deployment scopes: core reaches roles created after the rule was made."""
    aggregate = fresh_aggregate()
    apply_all(aggregate, aggregate.define("rules", core_rule("ownership")))

    apply_all(aggregate, aggregate.define("roles", ENGINEER))

    found = requirement(draft(aggregate), "eng-l3", "ownership")
    assert (found.target, found.origins) == (2, ["core:core-ownership"])
    # The rule stays a rule: the role's own requirements are untouched.
    stored = draft(aggregate).role("eng-l3")
    assert stored is not None
    assert [q.competency for q in stored.requirements] == ["coding", "testing"]


# -- level --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("track", "family", "reached"),
    [
        (None, None, {"eng-l3", "eng-l4", "eng-m1", "eng-m2", "data-d3", "data-d4"}),
        ("ic", None, {"eng-l3", "eng-l4", "data-d3", "data-d4"}),
        ("manager", None, {"eng-m1", "eng-m2"}),
        (None, "data", {"data-d3", "data-d4"}),
        ("ic", "eng", {"eng-l3", "eng-l4"}),
    ],
)
def test_a_level_rule_reaches_its_grade_and_above_within_its_filters(
    track: TrackKind | None, family: str | None, reached: set[str]
) -> None:
    """docs/domain.md §2, Deployment scopes: level reaches every role at that career level and above
    (grade 3 up here), never below, and only on the track and family it names."""
    aggregate = aggregate_with(with_data_family(valid_framework()))
    rule = level_rule("seniors-secure", "security", from_grade=3, track=track, family=family)

    apply_all(aggregate, aggregate.define("rules", rule))

    assert holders(draft(aggregate), "security") == reached
    for key in reached:
        assert requirement(draft(aggregate), key, "security").origins == ["level:seniors-secure"]


def test_deploying_at_manager_level_reaches_directors_too() -> None:
    """docs/domain.md §2, Deployment scopes: deploy coaching at manager level and directors receive
    it automatically (M2 is director tier, one grade up)."""
    framework = valid_framework()

    assert holders(framework, "coaching") == {"eng-m1", "eng-m2"}
    assert profile_of(framework, "eng-m2").tier == "director"
    assert requirement(framework, "eng-m2", "coaching").origins == ["level:managers-coach"]


# -- push ---------------------------------------------------------------------------------------


def test_a_push_reaches_only_the_roles_named_at_the_time() -> None:
    """docs/domain.md §2, Deployment scopes: push is a one-time assignment to explicitly selected
    roles with no standing rule, so a role created afterwards does not receive it."""
    sample = valid_framework()
    aggregate = aggregate_with(without_roles(sample, "eng-l4"))
    rules_before = draft(aggregate).rules

    apply_all(aggregate, aggregate.push("security", 2, ["eng-l2", "eng-l3"]))
    later = sample.role("eng-l4")
    assert later is not None
    apply_all(aggregate, aggregate.define("roles", later))

    assert holders(draft(aggregate), "security") == {"eng-l2", "eng-l3"}
    pushed = requirement(draft(aggregate), "eng-l2", "security")
    assert (pushed.target, pushed.origins) == (2, ["push"])
    assert draft(aggregate).rules == rules_before


def test_a_push_leaves_a_roles_own_requirement_alone() -> None:
    """docs/domain.md §2, Deployment scopes: push; a role that lists the competency keeps its own
    target rather than gaining a second entry."""
    aggregate = aggregate_with(valid_framework())

    apply_all(aggregate, aggregate.push("coding", 5, ["eng-l1"]))

    found = requirement(draft(aggregate), "eng-l1", "coding")
    assert (found.target, found.origins) == (1, ["role"])


# -- origins and targets -------------------------------------------------------------------------


def test_each_requirement_shows_every_origin_that_put_it_there() -> None:
    """docs/domain.md §2, Deployment scopes: HR sees why a competency applies: 'role', 'push',
    'core:<rule>' or 'level:<rule>', once per competency."""
    framework = add_requirements(valid_framework(), "eng-m1", {"coaching": 4, "ownership": 3})
    aggregate = aggregate_with(framework)
    apply_all(aggregate, aggregate.push("security", 2, ["eng-m1"]))

    profile = profile_of(draft(aggregate), "eng-m1")

    assert {q.competency: q.origins for q in profile.requirements} == {
        "design": ["role"],
        "coaching": ["role", "level:managers-coach"],
        "ownership": ["role", "core:core-ownership"],
        "security": ["push"],
        "collaboration": ["core:core-collaboration"],
        "communication": ["core:core-communication"],
    }


def test_a_roles_own_target_wins_over_a_rules() -> None:
    """docs/domain.md §2, Role profile: the role states its target proficiency; a rule's target
    only fills in where the role gives none (lower or higher, the role's own one stands)."""
    framework = add_requirements(valid_framework(), "eng-l1", {"collaboration": 1})
    framework = add_requirements(framework, "eng-m2", {"coaching": 5, "ownership": None})

    assert requirement(framework, "eng-l1", "collaboration").target == 1  # the rule says 2
    assert requirement(framework, "eng-m2", "coaching").target == 5  # the rule says 3
    assert requirement(framework, "eng-m2", "ownership").target == 2  # no own target: the rule's


def test_a_later_rule_on_the_same_competency_adds_an_origin_not_a_second_entry() -> None:
    """docs/domain.md §2, Deployment scopes: a competency appears once in a profile, whatever the
    number of rules that deploy it."""
    framework = with_rules(
        valid_framework(), level_rule("seniors-own", "ownership", from_grade=4, target=4)
    )

    found = [q for q in profile_of(framework, "eng-l4").requirements if q.competency == "ownership"]

    assert [(q.target, q.origins) for q in found] == [
        (2, ["core:core-ownership", "level:seniors-own"])
    ]


# -- the grid ----------------------------------------------------------------------------------


def test_the_grid_has_competencies_as_rows_and_level_codes_as_columns() -> None:
    """docs/domain.md §2, The grid: rows are competencies, columns are career levels, a cell is the
    leveled expectation of that competency at that level in that track."""
    framework = valid_framework()

    ic = grid(framework, "eng", "ic")
    manager = grid(framework, "eng", "manager")

    assert set(ic) == {"collaboration", "ownership", "communication", "coding", "testing"}
    assert {row: list(cells) for row, cells in ic.items()}["coding"] == ["L1", "L2", "L3", "L4"]
    assert [cell.target for cell in ic["coding"].values()] == [1, 2, 3, 4]
    assert [cell.target for cell in ic["testing"].values()] == [1, 2, 3, 3]
    assert set(manager) == {"collaboration", "ownership", "communication", "coaching", "design"}
    assert list(manager["coaching"]) == ["M1", "M2"]
    assert manager["design"]["M2"] == requirement(framework, "eng-m2", "design")


def test_the_grid_leaves_a_cell_empty_where_a_competency_does_not_apply() -> None:
    """docs/domain.md §2, The grid: a level rule from grade 3 has no cell at L1 and L2."""
    framework = with_rules(
        valid_framework(), level_rule("seniors-secure", "security", from_grade=3, track="ic")
    )

    assert list(grid(framework, "eng", "ic")["security"]) == ["L3", "L4"]
    assert "security" not in grid(framework, "eng", "manager")


def test_the_grid_columns_run_junior_to_senior_whatever_the_role_order() -> None:
    """docs/domain.md §2, The grid and Level: columns are career levels, which are ordered stages;
    listing the roles in another order must not reorder the columns."""
    framework = valid_framework()
    framework = framework.model_copy(update={"roles": list(reversed(framework.roles))})

    assert list(grid(framework, "eng", "ic")["coding"]) == ["L1", "L2", "L3", "L4"]


def test_a_requirement_with_behaviours_keeps_them_in_the_cell() -> None:
    """docs/domain.md §2, Role profile: each requirement may say what the competency looks like at
    that level; the grid cell carries it."""
    framework = replace_role(
        valid_framework(),
        "eng-l2",
        requirements=[
            Requirement(competency="coding", target=2, behaviours=["Ships small changes."]),
            Requirement(competency="testing", target=2),
        ],
    )

    assert grid(framework, "eng", "ic")["coding"]["L2"].behaviours == ["Ships small changes."]


def test_a_level_rule_without_a_grade_reaches_no_role() -> None:
    """docs/domain.md §2, Deployment scopes: level counts from a career level; a rule naming none
    reaches nothing (publishing reports it under 'deployment')."""
    gradeless = with_rules(
        valid_framework(), DeploymentRule(key="orphan", scope="level", competency="security")
    )

    assert holders(gradeless, "security") == set()


def test_a_role_on_a_missing_level_has_no_effective_profile() -> None:
    """docs/domain.md §2, Role profile: a role sits at a level of its family's track; without one
    there is no grade to deploy against (publishing reports it under 'references')."""
    framework = replace_role(valid_framework(), "eng-l1", level="L9")

    assert "eng-l1" not in effective_profiles(framework)
    assert set(effective_profiles(framework)) == {r.key for r in framework.roles} - {"eng-l1"}
