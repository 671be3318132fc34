"""Lateral moves (docs/domain.md §6, Lateral moves): a case may move someone into another family
along one of the framework's lateral paths, at the same grade, judged only on the competencies
the path names to acquire; what carries over is not judged again.

The framework: `eng` (IC L1..L4, grades 1..4) and `data` (IC D1..D4, grades 1..4), and a
lateral path from `eng` to `data` on which the three core competencies carry over and
`analysis` and `statistics` are to be acquired. The role profile of data D3 asks analysis 3 and
statistics 3, and the core competencies 2 each.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from libs.events.schemas.framework import EffectiveRoleProfile
from services.framework.domain.profiles import effective_profiles
from services.promotion.domain.audit_report import report
from services.promotion.domain.cases import Case
from services.promotion.domain.criteria import (
    Criteria,
    CriteriaOverride,
    CriteriaSet,
    NoLateralPath,
    TransitionError,
    kind_of,
    lateral,
    transitions_from,
)
from services.promotion.domain.decision_log import canonical, verify
from services.promotion.domain.payloads import EntryPayload, parse
from services.promotion.domain.readiness import Readiness, target_competencies
from tests.support.decision_log_entries import T0, Log
from tests.support.readiness import L3_TO_L4, calibration, nomination, ready_case
from tests.support.sample_frameworks import (
    CORE,
    LATERAL_GAPS,
    level,
    replace_track,
    valid_framework,
    with_data_family,
    with_lateral_path,
)

FRAMEWORK = with_lateral_path(with_data_family(valid_framework()))
INTO_DATA = lateral(FRAMEWORK, "eng", "ic", "L3", "data")


def d3_profile() -> EffectiveRoleProfile:
    """data D3 as the framework deploys it: its role's two competencies, and the core ones
    every role has."""
    return effective_profiles(FRAMEWORK)["data-d3"]


def judged(**scores: float | None) -> Readiness:
    """Ann's readiness for the move into data D3, every other criterion met."""
    return ready_case(
        transition=INTO_DATA,
        calibration=calibration(**scores),
        required_competencies=target_competencies(d3_profile(), INTO_DATA),
    )


# -- the move ----------------------------------------------------------------------------------


def test_a_lateral_move_goes_to_the_other_family_s_level_of_the_same_grade() -> None:
    """eng L3 is grade 3, and data's IC level of grade 3 is D3; the path's competencies to
    acquire and the transferable ones travel with the move."""
    move = INTO_DATA
    assert (move.family, move.from_track, move.from_level) == ("eng", "ic", "L3")
    assert (move.to_family, move.to_track, move.to_level) == ("data", "ic", "D3")
    assert move.kind == "lateral"
    assert move.to_acquire == LATERAL_GAPS == ("analysis", "statistics")
    assert move.transferable == CORE
    assert lateral(FRAMEWORK, "eng", "ic", "L1", "data").to_level == "D1"
    assert lateral(FRAMEWORK, "eng", "ic", "L3", "data", to_level="D3") == move


def test_the_move_as_a_case_names_it_carries_no_path_and_reads_back_as_lateral() -> None:
    """What nominations and events carry is the plain move; its kind is read from it."""
    plain = INTO_DATA.move()
    assert plain.model_dump() == {
        "family": "eng",
        "from_track": "ic",
        "from_level": "L3",
        "to_track": "ic",
        "to_level": "D3",
        "to_family": "data",
    }
    assert kind_of(plain) == "lateral"
    assert kind_of(L3_TO_L4) == "next_level"
    dumped = INTO_DATA.model_dump(mode="json")
    assert (dumped["to_acquire"], dumped["transferable"]) == (list(LATERAL_GAPS), list(CORE))
    assert not {"to_acquire", "transferable"} & set(L3_TO_L4.model_dump()), (
        "other moves dump as before: the decision log hashes them"
    )


def test_a_lateral_move_without_a_path_is_refused_with_a_typed_error() -> None:
    """A path runs one way: data has none back to eng."""
    with pytest.raises(NoLateralPath, match="no lateral path from family 'data' to 'eng'"):
        lateral(FRAMEWORK, "data", "ic", "D3", "eng")
    with pytest.raises(NoLateralPath, match="lateral paths to: none"):
        lateral(with_data_family(valid_framework()), "eng", "ic", "L3", "data")
    assert issubclass(NoLateralPath, TransitionError), "answered as any move the framework lacks"
    with pytest.raises(TransitionError, match="no job family 'sales'"):
        lateral(FRAMEWORK, "eng", "ic", "L3", "sales")


def test_a_lateral_move_keeps_the_grade_and_needs_a_level_and_competencies_to_judge() -> None:
    with pytest.raises(TransitionError, match="keeps the grade: 'data' ic 'D4' is grade 4"):
        lateral(FRAMEWORK, "eng", "ic", "L3", "data", to_level="D4")
    with pytest.raises(TransitionError, match="track has no level 'D9'"):
        lateral(FRAMEWORK, "eng", "ic", "L3", "data", to_level="D9")
    gapless = replace_track(
        FRAMEWORK, "data", "ic", levels=[level("D1", 1), level("D2", 2), level("D4", 4)]
    )
    with pytest.raises(TransitionError, match="no level at grade 3"):
        lateral(gapless, "eng", "ic", "L3", "data")
    with pytest.raises(TransitionError, match="family 'data' has no manager track"):
        lateral(FRAMEWORK, "eng", "manager", "M1", "data")
    nothing_to_learn = with_lateral_path(with_data_family(valid_framework()), gaps=())
    with pytest.raises(TransitionError, match="names no competency to acquire"):
        lateral(nothing_to_learn, "eng", "ic", "L3", "data")


def test_the_moves_from_a_level_end_with_its_lateral_ones() -> None:
    assert [(t.kind, t.target_family) for t in transitions_from(FRAMEWORK, "eng", "ic", "L3")] == [
        ("next_level", "eng"),
        ("ic_to_manager", "eng"),
        ("lateral", "data"),
    ]
    assert [t.kind for t in transitions_from(FRAMEWORK, "data", "ic", "D3")] == ["next_level"]


def test_criteria_overrides_pin_lateral_moves_as_other_kinds() -> None:
    settled = Criteria(quarters_at_next_level=0, minimum_average=3.0)
    cs = CriteriaSet(version=2, overrides=(CriteriaOverride(kind="lateral", criteria=settled),))
    assert cs.criteria_for(INTO_DATA) == settled
    assert cs.criteria_for(L3_TO_L4) == Criteria()


# -- readiness ---------------------------------------------------------------------------------


def test_the_target_competencies_of_a_lateral_move_are_exactly_the_path_s_gaps() -> None:
    """data D3's profile has five competencies; the move is judged on the two to acquire."""
    assert [r.competency for r in d3_profile().requirements] == [
        "analysis",
        "statistics",
        *CORE,
    ]
    assert target_competencies(d3_profile(), INTO_DATA) == ["analysis", "statistics"]
    with pytest.raises(ValueError, match="not the target of transition"):
        target_competencies(d3_profile(), lateral(FRAMEWORK, "eng", "ic", "L2", "data"))


def test_readiness_judges_the_gaps_and_leaves_what_carries_over_unjudged() -> None:
    """Hand computation: analysis 4 and statistics 3 average 3.5, both at or above the floor
    of 3: ready. Ownership (not observed) and collaboration 2 carry over, and coding 1 is eng's:
    none of them is judged, though each would fail the floor."""
    readiness = judged(
        analysis=4, statistics=3, collaboration=2, ownership=None, communication=3, coding=1
    )
    assert readiness.required_competencies == ("analysis", "statistics")
    floors = [r.name for r in readiness.results if r.kind == "competency_floor"]
    assert floors == ["competency_floor:analysis", "competency_floor:statistics"]
    assert readiness.result("average").actual == 3.5
    assert readiness.ready
    assert readiness.transition.transferable == CORE, "the record names what carried over"


def test_a_gap_below_the_floor_or_never_assessed_is_not_met() -> None:
    """Hand computation: analysis 4, statistics 2.5: average 3.25 < 3.5, and statistics is
    below the floor of 3. A gap the calibration never assessed fails its floor."""
    short = judged(analysis=4, statistics=2.5, collaboration=5)
    assert short.result("average").actual == 3.25
    assert short.below_floor == ["statistics"]
    assert not short.ready
    unassessed = judged(analysis=4, coding=5)
    assert unassessed.below_floor == ["statistics"]
    never = unassessed.result("competency_floor:statistics")
    assert "absent from the calibration" in never.evidence


# -- the decision log and the audit report ------------------------------------------------------


def test_a_lateral_case_is_logged_verifies_and_reads_back_to_its_bytes() -> None:
    """Nominated, decided on the lateral readiness: each payload parses back to the bytes that
    were hashed, and the report names the move lateral and what it was judged on."""
    log = Log()

    def add(actor: str, payload: EntryPayload) -> Case:
        log.add(actor, payload, case_id="case-lateral")
        return Case.replay(log.entries)

    case = add("mgr-1", nomination("Moves to data.", transition=INTO_DATA))
    readiness = judged(analysis=4, statistics=3)
    case = add("mgr-1", case.endorse("mgr-1", "mgr-1", "Ready for data."))
    add("committee-1", case.decide("committee-1", "approve", "Met.", readiness, "c-1", True))
    entries = log.entries
    assert verify(entries).ok
    for entry in entries:
        assert canonical(parse(entry.kind, entry.payload).record()) == canonical(entry.payload)
    assert entries[0].payload["move"]["to_family"] == "data"
    assert "to_acquire" not in entries[0].payload["move"], "a case's move names no path"
    assert entries[-1].payload["readiness"]["transition"]["to_acquire"] == list(LATERAL_GAPS)

    text = report("case case-lateral", entries, T0 + timedelta(days=1))
    assert "Move: eng: ic L3 to data ic D3 (a lateral move). Cycle: 2025-h1." in text
    assert (
        "- Lateral move: judged only on the competencies its lateral path names to acquire "
        "(analysis, statistics); carried over and not judged again: collaboration, ownership, "
        "communication." in text
    )
    assert "| competency_floor:statistics | 3 | 3 | yes |" in text
    assert "competency_floor:collaboration" not in text
