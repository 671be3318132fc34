"""Promotion criteria and readiness (docs/domain.md §6, Criteria): "calibrated average at least 3.5
with no competency below 3; operating at the next level for at least 1 to 2 quarters; scope
evidence named by the criteria; manager endorsement; confirmation in a calibration session",
per transition "level L to L+1 in a track, or a crossover IC to manager" (and back,
docs/domain.md §2).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from importlib import resources

import pytest
import yaml
from pydantic import ValidationError

from libs.events.schemas.assessment import CalibrationCompleted, SubjectScores
from libs.events.schemas.framework import (
    Crossover,
    EffectiveRequirement,
    EffectiveRoleProfile,
    Framework,
    JobFamily,
    Level,
    Track,
)
from services.promotion.domain.criteria import (
    Criteria,
    CriteriaOverride,
    CriteriaSet,
    Transition,
    TransitionError,
    back_to_ic,
    crossover,
    next_level,
    transitions_from,
)
from services.promotion.domain.readiness import (
    CalibratedScores,
    EvidenceRecord,
    HrisPosition,
    Readiness,
    target_competencies,
    whole_quarters,
)
from tests.support.readiness import (
    AS_OF,
    COMPETENCIES,
    L3_TO_L4,
    LEAD,
    calibration,
    criteria,
    evidence,
    ready_case,
    strong,
)
from tests.support.sample_frameworks import wide_framework


def level(code: str, grade: int) -> Level:
    return Level(code=code, name=f"Level {code}", grade=grade)


def framework(scale: str = "0..5") -> Framework:
    """IC L1..L5 (grades 1..5), manager M1..M3 (grades 3..5), entered from IC L2."""
    return Framework(
        name="Test",
        scale=scale,
        families=[
            JobFamily(
                key="eng",
                name="Engineering",
                tracks=[
                    Track(kind="ic", levels=[level(f"L{g}", g) for g in range(1, 6)]),
                    Track(
                        kind="manager",
                        levels=[level("M1", 3), level("M2", 4), level("M3", 5)],
                        crossover=Crossover(from_level="L2", leadership_competencies=["coaching"]),
                    ),
                ],
            ),
            JobFamily(
                key="sales",
                name="Sales",
                tracks=[Track(kind="ic", levels=[level("S1", 1), level("S2", 2)])],
            ),
        ],
    )


# -- criteria ----------------------------------------------------------------------------------


def test_default_criteria_are_the_domain_defaults() -> None:
    """docs/domain.md §6: average 3.5, no competency below 3, at least 1 quarter at the next level,
    manager endorsement and calibration confirmation."""
    default = Criteria()
    assert (default.minimum_average, default.competency_floor) == (3.5, 3.0)
    assert default.quarters_at_next_level == 1
    assert default.endorsement_required
    assert default.calibration_confirmation_required
    assert default.evidence == ()


def test_the_same_numbers_hold_on_both_scales_and_thresholds_outside_the_scale_are_refused() -> (
    None
):
    """docs/domain.md §2: thresholds are on the framework's own scale; 3.5 / 3 keep their anchored
    meaning on 0..5 and 1..5. A floor of 0 cannot be expressed on 1..5."""
    assert CriteriaSet(version=1, scale="1..5").criteria_for(L3_TO_L4) == Criteria()
    assert CriteriaSet(version=1, scale="0..5").criteria_for(L3_TO_L4) == Criteria()
    with pytest.raises(ValidationError, match=r"competency_floor 0.0 is outside the scale 1..5"):
        CriteriaSet(version=1, scale="1..5", default=Criteria(competency_floor=0))


def test_criteria_are_immutable_and_evidence_items_are_named_once() -> None:
    with pytest.raises(ValidationError):
        Criteria().minimum_average = 3.0  # type: ignore[misc]
    with pytest.raises(ValidationError, match="repeated"):
        Criteria(evidence=(LEAD, LEAD))


def test_the_most_specific_override_applies_per_transition() -> None:
    """Per-transition criteria: a level override beats a family override beats a kind
    override beats the default; versions are numbered."""
    senior = Criteria(minimum_average=4.0, quarters_at_next_level=2)
    managers = Criteria(evidence=(LEAD,))
    eng = Criteria(minimum_average=3.75)
    cs = CriteriaSet(
        version=7,
        overrides=(
            CriteriaOverride(kind="ic_to_manager", criteria=managers),
            CriteriaOverride(family="eng", criteria=eng),
            CriteriaOverride(family="eng", from_level="L4", to_level="L5", criteria=senior),
        ),
    )
    fw = framework()
    assert cs.criteria_for(next_level(fw, "eng", "ic", "L4")) == senior
    assert cs.criteria_for(next_level(fw, "eng", "ic", "L3")) == eng
    assert cs.criteria_for(crossover(fw, "eng", "L2")) == eng  # family beats kind
    assert cs.criteria_for(next_level(fw, "sales", "ic", "S1")) == Criteria()
    only_kind = CriteriaSet(
        version=1, overrides=(CriteriaOverride(kind="ic_to_manager", criteria=managers),)
    )
    assert only_kind.criteria_for(crossover(fw, "eng", "L2")) == managers
    with pytest.raises(ValidationError, match="repeat the same match"):
        CriteriaSet(
            version=1,
            overrides=(
                CriteriaOverride(family="eng", criteria=eng),
                CriteriaOverride(family="eng", criteria=senior),
            ),
        )


# -- transitions -------------------------------------------------------------------------------


def test_next_level_follows_the_grades_of_the_track() -> None:
    fw = framework()
    assert next_level(fw, "eng", "ic", "L3") == L3_TO_L4
    assert next_level(fw, "eng", "ic", "L3").kind == "next_level"
    move = next_level(fw, "eng", "manager", "M1")
    assert (move.to_track, move.to_level, move.kind) == ("manager", "M2", "next_level")


def test_levels_listed_out_of_grade_order_still_give_the_next_grade() -> None:
    shuffled = Framework(
        name="Shuffled",
        families=[
            JobFamily(
                key="ops",
                name="Ops",
                tracks=[Track(kind="ic", levels=[level("O3", 3), level("O1", 1), level("O2", 2)])],
            )
        ],
    )
    assert next_level(shuffled, "ops", "ic", "O1").to_level == "O2"


def test_top_of_a_track_has_no_next_level() -> None:
    with pytest.raises(TransitionError, match=r"'L5' is the top of the ic track of family 'eng'"):
        next_level(framework(), "eng", "ic", "L5")
    with pytest.raises(TransitionError, match="top of the manager track"):
        next_level(framework(), "eng", "manager", "M3")


def test_unknown_family_track_or_level_is_a_clear_error() -> None:
    fw = framework()
    with pytest.raises(TransitionError, match="no job family 'hr'"):
        next_level(fw, "hr", "ic", "L1")
    with pytest.raises(TransitionError, match="'sales' has no manager track"):
        next_level(fw, "sales", "manager", "S1")
    with pytest.raises(TransitionError, match=r"no level 'L9'; levels: \['L1', 'L2'"):
        next_level(fw, "eng", "ic", "L9")


def test_crossover_from_the_crossover_point_enters_the_manager_track() -> None:
    """docs/domain.md §2: "M1 requires operating at IC L3 plus leadership competencies": the
    crossover's leadership competencies travel with the transition."""
    move = crossover(framework(), "eng", "L2")
    assert move.kind == "ic_to_manager"
    assert (move.from_level, move.to_track, move.to_level) == ("L2", "manager", "M1")
    assert move.leadership_competencies == ("coaching",)
    # Above the crossover point: the manager level at the same grade or the nearest above.
    assert crossover(framework(), "eng", "L4").to_level == "M2"
    assert crossover(framework(), "eng", "L3", to_level="M1").to_level == "M1"
    with pytest.raises(TransitionError, match="below the crossover point"):
        crossover(framework(), "eng", "L1")
    with pytest.raises(TransitionError, match="'sales' has no manager track"):
        crossover(framework(), "sales", "S2")


def test_manager_back_to_ic_is_a_move_at_the_same_grade() -> None:
    """docs/domain.md §2: movement back from manager to IC is allowed and is not a demotion."""
    move = back_to_ic(framework(), "eng", "M2")
    assert move.kind == "manager_to_ic"
    assert (move.to_track, move.to_level) == ("ic", "L4")
    assert move.leadership_competencies == ()
    assert back_to_ic(framework(), "eng", "M1", to_level="L4").to_level == "L4"
    with pytest.raises(TransitionError, match="would lower the grade"):
        back_to_ic(framework(), "eng", "M2", to_level="L3")


def test_the_project_sample_framework_offers_its_documented_moves() -> None:
    """talentledger/samples: engineers "may join [management] from E3 and leave again";
    EM1 sits at grade 4, so coming back from EM1 lands on E4 (a sideways move)."""
    text = resources.files("talentledger.samples").joinpath("engineering-framework.yaml")
    document = yaml.safe_load(text.read_text(encoding="utf-8"))
    sample = Framework.model_validate(
        {k: v for k, v in document.items() if k not in {"format", "id"}}
    )
    into = crossover(sample, "product-engineering", "E3")
    assert (into.to_level, into.leadership_competencies) == ("EM1", ("developing-people",))
    assert back_to_ic(sample, "product-engineering", "EM1").to_level == "E4"
    assert next_level(sample, "product-engineering", "ic", "E3").to_level == "E4"
    with pytest.raises(TransitionError, match="top of the ic track"):
        next_level(sample, "product-engineering", "ic", "E6")


def test_transitions_from_a_level_list_every_move_the_framework_offers() -> None:
    fw = framework()
    assert [t.kind for t in transitions_from(fw, "eng", "ic", "L2")] == [
        "next_level",
        "ic_to_manager",
    ]
    assert [t.kind for t in transitions_from(fw, "eng", "ic", "L1")] == ["next_level"]
    assert [t.kind for t in transitions_from(fw, "eng", "manager", "M3")] == ["manager_to_ic"]
    assert transitions_from(fw, "sales", "ic", "S2") == []
    with pytest.raises(TransitionError):
        transitions_from(fw, "eng", "ic", "L9")


def test_a_crossover_reaches_a_manager_only_family_and_comes_back() -> None:
    """wide_framework: `em` holds only a manager track (M1 grade 3, M2 grade 4) whose managers
    cross over from `eng` at L2: an `eng` IC enters it, and its managers go back to `eng`."""
    wide = wide_framework()
    into = crossover(wide, "eng", "L2")
    assert (into.family, into.to_family, into.to_track, into.to_level) == (
        "eng",
        "em",
        "manager",
        "M1",
    )
    assert into.leadership_competencies == ("coaching",)
    assert crossover(wide, "eng", "L4").to_level == "M2"
    with pytest.raises(TransitionError, match="below the crossover point"):
        crossover(wide, "eng", "L1")
    back = back_to_ic(wide, "em", "M1")
    assert (back.family, back.to_family, back.to_track, back.to_level) == ("em", "eng", "ic", "L3")
    assert [(t.kind, t.target_family) for t in transitions_from(wide, "eng", "ic", "L2")] == [
        ("next_level", "eng"),
        ("ic_to_manager", "em"),
    ]
    assert [(t.kind, t.target_family) for t in transitions_from(wide, "em", "manager", "M1")] == [
        ("next_level", "em"),
        ("manager_to_ic", "eng"),
    ]
    assert "to_family" not in crossover(framework(), "eng", "L2").model_dump(), (
        "a move within one family dumps as before: the decision log hashes it"
    )
    assert into.model_dump()["to_family"] == "em"
    # Another family on the same track is a lateral move, which needs its path's competencies.
    with pytest.raises(ValidationError, match="a lateral move is judged on the competencies"):
        Transition(
            family="eng",
            from_track="ic",
            from_level="L1",
            to_track="ic",
            to_level="L2",
            to_family="em",
        )


def test_a_transition_must_move_and_only_a_crossover_adds_leadership() -> None:
    with pytest.raises(ValidationError, match="goes nowhere"):
        Transition(family="eng", from_track="ic", from_level="L1", to_track="ic", to_level="L1")
    with pytest.raises(ValidationError, match="crossover into the manager track only"):
        Transition(
            family="eng",
            from_track="ic",
            from_level="L1",
            to_track="ic",
            to_level="L2",
            leadership_competencies=("coaching",),
        )


# -- readiness: each criterion on its own ------------------------------------------------------


def test_a_case_meeting_every_default_criterion_is_ready() -> None:
    readiness = ready_case()
    assert readiness.ready
    assert [r.name for r in readiness.results] == [
        "average",
        "competency_floor:communication",
        "competency_floor:collaboration",
        "competency_floor:delivery",
        "competency_floor:design",
        "time_at_level",
        f"evidence:{LEAD}",
        "endorsement",
        "calibration_confirmation",
    ]
    assert all(r.met for r in readiness.results)
    assert readiness.unmet == []


def test_average_of_exactly_3_5_meets_the_bar_and_just_below_does_not() -> None:
    """docs/domain.md §6: calibrated average at least 3.5 (boundary inclusive)."""
    at_bar = ready_case().result("average")
    assert (at_bar.met, at_bar.expected, at_bar.actual) == (True, 3.5, 3.5)
    assert "mean of 4 calibrated scores in calibration session 'cal-2025-q2'" in at_bar.evidence

    below = ready_case(
        calibration=calibration(communication=3.0, collaboration=4.0, delivery=3.5, design=3.4)
    )
    average = below.result("average")
    assert not average.met
    assert average.actual == pytest.approx(3.475)
    assert not below.ready
    assert [r.name for r in below.unmet] == ["average"]


def test_an_average_reached_only_up_to_float_rounding_meets_the_bar() -> None:
    """0.1-step scores whose exact mean is 3.5 can come out a hair under in floating point."""
    scores = calibration(communication=3.3, collaboration=3.3, delivery=3.9, design=3.5)
    assert ready_case(calibration=scores).result("average").met


def test_a_competency_at_2_9_fails_the_floor_and_is_named() -> None:
    """docs/domain.md §6: no competency below 3, even when the average is high."""
    readiness = ready_case(
        calibration=calibration(communication=2.9, collaboration=5.0, delivery=4.0, design=4.0)
    )
    assert readiness.result("average").met
    floor = readiness.result("competency_floor:communication")
    assert (floor.met, floor.expected, floor.actual) == (False, 3.0, 2.9)
    assert "below the floor 3" in floor.evidence
    assert readiness.below_floor == ["communication"]
    assert not readiness.ready
    assert (
        ready_case(
            calibration=calibration(communication=3.0, collaboration=4, delivery=4, design=4)
        )
        .result("competency_floor:communication")
        .met
    )


def test_a_competency_nobody_observed_fails_the_floor_and_stays_out_of_the_average() -> None:
    readiness = ready_case(
        calibration=calibration(communication=None, collaboration=4.0, delivery=3.0),
    )
    not_observed = readiness.result("competency_floor:communication")
    assert (not_observed.met, not_observed.actual) == (False, None)
    assert "not observed: no calibrated score" in not_observed.evidence
    absent = readiness.result("competency_floor:design")
    assert not absent.met
    assert "not assessed: absent from the calibration" in absent.evidence
    average = readiness.result("average")
    assert average.actual == 3.5  # (4 + 3) / 2: unobserved ones are not zeros
    assert "left out, not observed: communication, design" in average.evidence
    assert readiness.below_floor == ["communication", "design"]
    assert not readiness.ready


def test_nothing_observed_means_no_average() -> None:
    average = ready_case(calibration=calibration()).result("average")
    assert (average.met, average.actual) == (False, None)


@pytest.mark.parametrize(
    ("level_since", "quarters", "met"),
    [
        (date(2025, 3, 30), 1, True),  # three calendar months to the day
        (date(2025, 3, 31), 1, True),  # month end to month end
        (date(2025, 4, 1), 0, False),  # one day short
        (date(2024, 12, 31), 2, True),
        (date(2025, 7, 1), 0, False),  # starts after the evaluation date
    ],
)
def test_time_at_level_counts_whole_quarters_from_the_hris_level_start(
    level_since: date, quarters: int, met: bool
) -> None:
    """docs/domain.md §6, Readiness: at least 1 quarter (default) at the level, counted from
    the day the HRIS says it began."""
    readiness = ready_case(level_since=level_since)
    result = readiness.result("time_at_level")
    assert (result.met, result.expected, result.actual) == (met, 1, quarters)
    assert f"the HRIS dates the current level from {level_since.isoformat()}" in result.evidence
    assert (readiness.operating_since, readiness.level_start_from) == (level_since, "hris")
    assert result.disagreement is None, "no nomination date, nothing to disagree with"


def test_without_a_level_start_from_the_hris_time_at_level_is_not_met() -> None:
    """A person the org chart does not know, or whose level start is unknown: not met, as a
    nomination without a date was before; a date the nomination gives does not stand in
    for it, and is set against the same fact (when the current level began)."""
    readiness = ready_case(hris_position=None, level_since=None, nominated_since=date(2024, 6, 30))
    result = readiness.result("time_at_level")
    assert (result.met, result.actual) == (False, None)
    assert result.evidence == (
        "the org chart holds no HRIS record of the person: no level start to count time at "
        "level from"
    )
    assert result.disagreement == (
        "the nomination dates the current level from 2024-06-30 (4 whole quarter(s) by "
        "2025-06-30), but the org chart holds no HRIS record of the person; only the HRIS is "
        "judged"
    )
    assert (readiness.operating_since, readiness.nominated_since) == (None, date(2024, 6, 30))

    unknown = ready_case(level_since=None, nominated_since=date(2024, 6, 30))
    result = unknown.result("time_at_level")
    assert (result.met, result.actual) == (False, None)
    assert result.evidence == (
        "the start of their current level (eng ic L3) is unknown: an earlier HRIS event of "
        "theirs has not arrived, or the position was held before the org chart kept the days "
        "positions began"
    )
    assert result.disagreement == (
        "the nomination dates the current level from 2024-06-30 (4 whole quarter(s) by "
        "2025-06-30), but the start of their current level (eng ic L3) is unknown; only the "
        "HRIS is judged"
    )


@pytest.mark.parametrize(
    "held",
    [
        HrisPosition(family="eng", track="ic", level="L4"),  # promoted since the calibration
        HrisPosition(family="eng", track="manager", level="L3"),  # another track, same code
        HrisPosition(family="data", track="ic", level="L3"),  # another family
    ],
)
def test_time_at_level_counts_only_when_the_hris_has_them_at_the_level_moved_from(
    held: HrisPosition,
) -> None:
    """The move is eng ic L3 to L4; two years at another position say nothing of it."""
    readiness = ready_case(hris_position=held, level_since=date(2023, 6, 30))
    result = readiness.result("time_at_level")
    assert (result.met, result.actual) == (False, None)
    assert result.evidence == (
        f"the HRIS has them at {held}, the move is from eng ic L3: time at level counts only "
        "the level moved from"
    )
    assert not readiness.ready
    assert readiness.hris_position == held


def test_a_nomination_date_that_contradicts_the_hris_is_shown_and_not_judged() -> None:
    """The nominator says the current level began 2024-06-30 (4 whole quarters by
    2025-06-30: Jun 30 to Sep 30, Dec 30, Mar 30, Jun 30); the HRIS says it began 2025-04-15
    (0 whole quarters: 15 July is after 30 June). The HRIS is judged: not met; both dates of
    the same fact and both counts are shown."""
    readiness = ready_case(level_since=date(2025, 4, 15), nominated_since=date(2024, 6, 30))
    result = readiness.result("time_at_level")
    assert (result.met, result.actual) == (False, 0)
    assert not readiness.ready
    assert result.disagreement == (
        "the nomination dates the current level from 2024-06-30 (4 whole quarter(s) by "
        "2025-06-30), but the HRIS dates the current level from 2025-04-15; only the HRIS is "
        "judged"
    )
    assert (readiness.operating_since, readiness.nominated_since) == (
        date(2025, 4, 15),
        date(2024, 6, 30),
    )
    # And the other way round: the HRIS's longer time is met whatever the nomination says.
    longer = ready_case(level_since=date(2024, 6, 30), nominated_since=date(2025, 4, 15))
    assert (longer.result("time_at_level").met, longer.result("time_at_level").actual) == (
        True,
        4,
    )
    assert longer.result("time_at_level").disagreement is not None


def test_a_nomination_date_that_agrees_with_the_hris_is_kept_without_a_disagreement() -> None:
    readiness = ready_case(level_since=date(2025, 3, 30), nominated_since=date(2025, 3, 30))
    assert readiness.nominated_since == date(2025, 3, 30)
    assert readiness.result("time_at_level").disagreement is None
    assert readiness.ready


def test_two_quarters_when_the_criteria_ask_for_two() -> None:
    one = ready_case(criteria=criteria(quarters_at_next_level=2))
    assert not one.result("time_at_level").met
    two = ready_case(criteria=criteria(quarters_at_next_level=2), level_since=date(2024, 12, 30))
    assert two.result("time_at_level").met


def test_whole_quarters_clamps_month_ends() -> None:
    assert whole_quarters(date(2025, 1, 31), date(2025, 4, 30)) == 1
    assert whole_quarters(date(2024, 11, 30), date(2025, 2, 28)) == 1
    assert whole_quarters(date(2025, 2, 28), date(2025, 5, 27)) == 0
    assert whole_quarters(date(2025, 1, 15), date(2026, 1, 14)) == 3
    assert whole_quarters(date(2025, 1, 15), date(2026, 1, 15)) == 4
    assert whole_quarters(date(2025, 5, 1), date(2025, 4, 1)) == 0


def test_a_missing_evidence_item_is_not_met_and_named() -> None:
    """docs/domain.md §6: scope evidence named by the criteria."""
    second = "mentored two engineers to the next level"
    readiness = ready_case(criteria=criteria(evidence=(LEAD, second)))
    assert readiness.result(f"evidence:{LEAD}").met
    assert "provided by mgr-1 on 2025-05-02" in readiness.result(f"evidence:{LEAD}").evidence
    missing = readiness.result(f"evidence:{second}")
    assert (missing.met, missing.actual) == (False, None)
    assert missing.evidence == "no evidence recorded for this item"
    assert [r.name for r in readiness.unmet] == [f"evidence:{second}"]


def test_evidence_recorded_after_the_evaluation_date_does_not_count() -> None:
    late = {LEAD: EvidenceRecord(provided_by="mgr-1", at=datetime(2025, 7, 1, 8, 0))}
    result = ready_case(evidence=late).result(f"evidence:{LEAD}")
    assert not result.met
    assert "after the evaluation date" in result.evidence


def test_evidence_for_items_the_criteria_do_not_name_is_ignored() -> None:
    extra = {**evidence(), "won a hackathon": evidence()[LEAD]}
    readiness = ready_case(evidence=extra)
    assert list(readiness.evidence) == [LEAD]
    assert readiness.ready


def test_missing_endorsement_is_not_met() -> None:
    """docs/domain.md §6: manager endorsement."""
    readiness = ready_case(endorsed_by=None)
    endorsement = readiness.result("endorsement")
    assert (endorsement.met, endorsement.actual) == (False, None)
    assert endorsement.evidence == "no manager endorsement recorded"
    assert not readiness.ready
    assert not ready_case(endorsed_by="   ").result("endorsement").met
    assert not ready_case(endorsed_by="ann").result("endorsement").met  # self-endorsement


def test_missing_calibration_confirmation_is_not_met() -> None:
    """docs/domain.md §6: confirmation in a calibration session (§4: calibration confirms or
    rejects promotion nominations)."""
    readiness = ready_case(confirmed_in_session=None)
    confirmation = readiness.result("calibration_confirmation")
    assert not confirmation.met
    assert [r.name for r in readiness.unmet] == ["calibration_confirmation"]


def test_criteria_that_ask_nothing_yield_no_result() -> None:
    relaxed = criteria(
        quarters_at_next_level=0,
        endorsement_required=False,
        calibration_confirmation_required=False,
    )
    readiness = ready_case(
        criteria=relaxed, level_since=None, endorsed_by=None, confirmed_in_session=None
    )
    assert readiness.ready
    assert {r.kind for r in readiness.results} == {"average", "competency_floor", "evidence"}


def test_a_crossover_is_judged_on_its_leadership_competencies_too() -> None:
    """docs/domain.md §2: M1 requires operating at the crossover level plus leadership
    competencies; a leadership competency nobody assessed fails the floor."""
    move = crossover(framework(), "eng", "L2")
    readiness = ready_case(transition=move)
    assert readiness.required_competencies == (*COMPETENCIES, "coaching")
    assert readiness.below_floor == ["coaching"]
    coached = calibration(
        communication=3.0, collaboration=4.0, delivery=3.5, design=3.5, coaching=3.5
    )
    assert ready_case(transition=move, calibration=coached).ready


def test_target_competencies_come_from_the_target_role_profile() -> None:
    def requirement(key: str) -> EffectiveRequirement:
        return EffectiveRequirement(
            competency=key, name=key, kind="core", nature="behavioural", target=3, origins=["role"]
        )

    profile = EffectiveRoleProfile(
        key="eng-m1",
        name="Engineering Manager",
        family="eng",
        track="manager",
        level="M1",
        grade=3,
        tier="manager",
        requirements=[requirement("communication"), requirement("coaching")],
    )
    move = crossover(framework(), "eng", "L2")
    assert target_competencies(profile, move) == ["communication", "coaching"]
    with pytest.raises(ValueError, match="not the target of transition"):
        target_competencies(profile, L3_TO_L4)


def test_scores_outside_the_scale_and_an_empty_profile_are_refused() -> None:
    with pytest.raises(ValueError, match=r"outside the scale 1\.\.5"):
        ready_case(
            criteria=CriteriaSet(version=1, scale="1..5"),
            calibration=calibration(communication=0.0, collaboration=4, delivery=4, design=4),
        )
    with pytest.raises(ValueError, match="no competencies to judge"):
        ready_case(required_competencies=[])


# -- reproducibility ---------------------------------------------------------------------------


def test_readiness_records_every_input_it_used() -> None:
    """docs/domain.md §6: the record names the framework version, the criteria version, the
    calibration it relied on and the scores as they were."""
    readiness = ready_case()
    assert readiness.criteria_version == 3
    assert readiness.criteria == criteria().default
    assert readiness.scale == "0..5"
    assert (readiness.calibration.session_id, readiness.calibration.framework_id) == (
        "cal-2025-q2",
        "fw-eng",
    )
    assert readiness.calibration.framework_version == 2
    assert readiness.calibration.scores == strong().scores
    assert readiness.subject == "ann"
    assert (readiness.as_of, readiness.operating_since) == (AS_OF, date(2025, 3, 30))
    assert (readiness.endorsed_by, readiness.confirmed_in_session) == ("mgr-1", "cal-2025-q2")


def test_readiness_serialises_canonically_and_round_trips() -> None:
    readiness = ready_case()
    again = ready_case(
        calibration=calibration(design=3.5, delivery=3.5, collaboration=4.0, communication=3.0)
    )
    assert readiness.canonical_json() == again.canonical_json()  # input order does not matter
    restored = Readiness.model_validate_json(readiness.model_dump_json())
    assert restored == readiness
    assert restored.canonical_json() == readiness.canonical_json()
    document = json.loads(readiness.canonical_json())
    assert document["calibration"]["framework_version"] == 2
    assert document["ready"] is True


def test_a_recorded_readiness_whose_verdict_disagrees_with_its_results_is_refused() -> None:
    document = ready_case(endorsed_by=None).model_dump()
    document["ready"] = True
    with pytest.raises(ValidationError, match="every criterion is met"):
        Readiness.model_validate(document)


def test_calibrated_scores_come_from_the_named_calibration_event() -> None:
    event = CalibrationCompleted(
        session_id="cal-2025-q2",
        campaign_id="camp-1",
        framework_id="fw-eng",
        framework_version=2,
        scores=[
            SubjectScores(subject="ann", scores={"delivery": 3.5, "design": None}),
            SubjectScores(subject="bob", scores={"delivery": 2.0}),
        ],
        adjustments=[],
    )
    scores = CalibratedScores.from_event(event, "ann")
    assert (scores.session_id, scores.framework_version) == ("cal-2025-q2", 2)
    assert scores.scores == {"delivery": 3.5, "design": None}
    with pytest.raises(ValueError, match="no scores for 'cid'"):
        CalibratedScores.from_event(event, "cid")


def test_a_move_names_its_family_where_two_manager_tracks_share_a_level() -> None:
    """`eng` gets a manager track of its own (M1 at grade 3, entered from L2) beside `em`'s:
    a crossover to "manager M1" from L3 is ambiguous until the family moved into is named."""
    from services.promotion.application.readiness import move_from
    from tests.support.sample_frameworks import level as level_of

    wide = wide_framework()
    own = Track(kind="manager", levels=[level_of("M1", 3)], crossover=Crossover(from_level="L2"))
    eng = wide.families[0].model_copy(update={"tracks": [*wide.families[0].tracks, own]})
    both = wide.model_copy(update={"families": [eng, *wide.families[1:]]})
    with pytest.raises(TransitionError, match=r"several moves .* name to_family"):
        move_from(both, "both", "eng", "ic", "L3", "manager", "M1")
    into_em = move_from(both, "both", "eng", "ic", "L3", "manager", "M1", "em")
    assert (into_em.target_family, into_em.to_family) == ("em", "em")
    stays = move_from(both, "both", "eng", "ic", "L3", "manager", "M1", "eng")
    assert (stays.target_family, stays.to_family) == ("eng", None)
