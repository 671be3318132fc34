"""Gaps against another family's role follow the lateral path into it (docs/domain.md §5,
Gaps; services/development/domain/lateral.py): the path's competencies to acquire are the
gaps, against the target role's targets, and the transferable ones carry over."""

from __future__ import annotations

import pytest

from services.development.domain.gaps import Gap
from services.development.domain.lateral import NoLateralPath, against
from services.framework.domain.profiles import effective_profiles
from tests.support.sample_frameworks import (
    valid_framework,
    wide_framework,
    with_data_family,
    with_lateral_path,
)

# eng -> data: collaboration, ownership, communication carry over; analysis and statistics
# are to be acquired. data-d3 targets analysis 3, statistics 3 and the three core ones 2.
LATERAL = with_lateral_path(with_data_family(valid_framework()))
PROFILES = effective_profiles(LATERAL)
ENG_L3 = LATERAL.role("eng-l3")
DATA_D3 = LATERAL.role("data-d3")
# An engineer at L3: collaboration below its target of 2 and communication not observed, in
# the family they are in; analysis 1 and statistics 3.5 of the data family.
SCORES: dict[str, float | None] = {
    "coding": 3,
    "testing": 2,
    "collaboration": 1,
    "ownership": 2,
    "communication": None,
    "analysis": 1,
    "statistics": 3.5,
}


def sizes(found: list[Gap]) -> dict[str, tuple[int, float | None]]:
    return {g.competency: (g.target, g.size) for g in found}


def test_another_familys_role_is_measured_on_the_paths_competencies_to_acquire_only() -> None:
    """By hand: analysis 3 - 1 = 2, statistics 3 - 3.5 = -0.5 (acquired already). The core
    competencies carry over: collaboration's 1 against data-d3's 2 is no gap there."""
    found = against(LATERAL, ENG_L3, PROFILES["data-d3"], SCORES)
    assert found.basis == "lateral_path"
    assert sizes(found.gaps) == {"analysis": (3, 2.0), "statistics": (3, -0.5)}
    assert found.carried_over == ("collaboration", "ownership", "communication")
    assert found.without_target == ()
    assert found.path is not None
    assert (found.path.from_family, found.path.to_family) == ("eng", "data")


def test_the_own_familys_roles_are_measured_on_the_whole_profile() -> None:
    found = against(LATERAL, ENG_L3, PROFILES["eng-l4"], SCORES)
    assert found.basis == "role_profile"
    assert found.path is None
    assert sizes(found.gaps) == {
        "coding": (4, 1.0),
        "testing": (3, 1.0),
        "collaboration": (2, 1.0),
        "ownership": (2, 0.0),
        "communication": (2, None),
    }


def test_a_path_runs_one_way_and_no_path_is_refused_naming_the_ones_there_are() -> None:
    """data -> eng has no path (only eng -> data does), and without one nothing says what
    carries over."""
    with pytest.raises(NoLateralPath, match=r"from family 'data' to 'eng'.*to: none"):
        against(LATERAL, DATA_D3, PROFILES["eng-l3"], SCORES)
    no_path = with_data_family(valid_framework())
    with pytest.raises(NoLateralPath, match="'eng' to 'data'"):
        against(no_path, ENG_L3, effective_profiles(no_path)["data-d3"], SCORES)


def test_a_competency_to_acquire_without_a_target_in_the_role_is_named_without_a_gap() -> None:
    """modelling is data's own but no data role targets it; statistics is named both to
    acquire and transferable: it is acquired, not carried over."""
    framework = with_lateral_path(
        with_data_family(valid_framework()),
        transferable=("collaboration", "statistics"),
        gaps=("modelling", "statistics"),
    )
    found = against(framework, ENG_L3, effective_profiles(framework)["data-d3"], SCORES)
    assert sizes(found.gaps) == {"statistics": (3, -0.5)}
    assert found.carried_over == ("collaboration",)
    assert found.without_target == ("modelling",)


def test_a_crossover_into_another_familys_manager_track_is_measured_on_the_whole_profile() -> None:
    """wide_framework's `em` holds only a manager track, entered from `eng` at L2: no lateral
    path is needed into it, nor back to eng's IC track."""
    framework = wide_framework()
    profiles = effective_profiles(framework)
    into = against(framework, framework.role("eng-l2"), profiles["em-m1"], {"coaching": 1})
    assert into.basis == "role_profile"
    assert len(into.gaps) == len(profiles["em-m1"].requirements) == 15
    back = against(framework, framework.role("em-m1"), profiles["eng-l3"], {})
    assert (back.basis, len(back.gaps)) == ("role_profile", len(profiles["eng-l3"].requirements))


def test_another_grade_or_track_of_a_family_a_path_leads_to_is_measured_on_the_whole_profile() -> (
    None
):
    """A lateral move keeps the kind of track and the grade: eng-l3 (ic, grade 3) into
    data-d3 follows the path, but data-d4 (grade 4) is a move up as well, judged on the whole
    profile. By hand, data-d4's targets: analysis 4 - 1 = 3, statistics 4 - 3.5 = 0.5, and
    the core ones at 2: collaboration 2 - 1 = 1, ownership 2 - 2 = 0, communication not
    observed."""
    d4 = PROFILES["data-d4"]
    found = against(LATERAL, ENG_L3, d4, SCORES)
    assert found.basis == "role_profile"
    assert (found.path, found.carried_over, found.without_target) == (None, (), ())
    assert sizes(found.gaps) == {
        "analysis": (4, 3.0),
        "statistics": (4, 0.5),
        "collaboration": (2, 1.0),  # carried over on the path; compared here
        "ownership": (2, 0.0),
        "communication": (2, None),
    }
    assert found.not_lateral is not None
    assert "'data-d4' (ic, grade 4) is not a lateral move from 'eng-l3' (ic, grade 3)" in (
        found.not_lateral
    )
    assert against(LATERAL, ENG_L3, PROFILES["data-d3"], SCORES).not_lateral is None
