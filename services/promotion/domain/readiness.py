"""Readiness (docs/domain.md §6): for a person and a target level, which criteria are met and which
are not, with the evidence for each.

`evaluate` is a pure function of its inputs, and the `Readiness` it returns carries every one of
them: the criteria version and the criteria it resolved to, the named calibration (session,
framework id and version) with the scores as they were, the dates, the evidence records, the
endorsement and the confirmation. An auditor can recompute the result from the record alone,
long after the framework or the criteria moved on (docs/domain.md §6, decision log).

Rules, one `CriterionResult` each:

- average: the mean of the calibrated scores of the target profile's competencies (plus the
  crossover's leadership competencies; for a lateral move, its path's competencies to acquire
  instead, see `target_competencies`) that were observed, at least `minimum_average`;
- competency floor, one result per competency: the calibrated score at least
  `competency_floor`. A competency nobody observed (null score, or absent from the
  calibration) is not met: the floor cannot be shown to hold, and a promotion must not rest
  on what nobody looked at. The same competency is left out of the average rather than
  counted as zero;
- time at level: whole quarters (three calendar months each) from the day the HRIS says the
  person's current level began (the org chart's level start) up to `as_of`, counted only
  when the HRIS has the person in the position the move is from (family, track and level):
  time at another level says nothing of the move judged, so the criterion is then not met,
  saying where the HRIS has them. A date the nomination gives (`operating_since`, the
  nominator's word for when the current level began) is kept beside it as evidence and
  never judged; when it differs, the result says so in `disagreement`, with the quarters
  each date would give. Without a level start from the HRIS (the person unknown to it, or
  the start unknown) the criterion is not met (nothing shows the time), as it was for a
  nomination without a date;
- each named evidence item: a record exists, dated on or before `as_of`;
- manager endorsement: someone other than the person endorsed;
- calibration confirmation: a calibration session confirmed the nomination.

A criterion that asks nothing (no time requirement, endorsement or confirmation not required)
yields no result; the criteria themselves are in the record. Scores are compared with a
tolerance of 1e-9, so an average of exactly 3.5 computed in floating point meets 3.5.

Entries of the decision log hold readinesses recorded before the level start came from the
HRIS: their `operating_since` is the nomination's date, and it was judged. The fields added
since (`level_start_from`, `nominated_since`, `hris_position`, a result's `disagreement`) are
left out of the dump while they hold their defaults, which are what those entries mean, so
an old entry dumps back to the bytes that were hashed and a new one names where its date
came from.
"""

from __future__ import annotations

import json
from calendar import monthrange
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from statistics import fmean
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from libs.events.schemas.assessment import CalibrationCompleted
from libs.events.schemas.framework import SCALE_RANGE, EffectiveRoleProfile, Key, Scale
from services.promotion.domain.criteria import Criteria, CriteriaSet, Transition

# Floating-point slack when comparing a score or an average with a threshold.
TOLERANCE = 1e-9
MONTHS_PER_QUARTER = 3

Filled = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Score = Annotated[float, Field(allow_inf_nan=False)]
CriterionKind = Literal[
    "average",
    "competency_floor",
    "time_at_level",
    "evidence",
    "endorsement",
    "calibration_confirmation",
]
Value = int | float | str | None


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EvidenceRecord(_Frozen):
    """Scope evidence attached to a case: who provided it, when, and what it is."""

    provided_by: Filled
    at: datetime
    note: str = Field("", max_length=4000)


class CalibratedScores(_Frozen):
    """One subject's calibrated scores from a named calibration session (docs/domain.md §4).

    Kept sorted by competency, so equal inputs serialise to equal bytes.
    """

    session_id: Key
    framework_id: str
    framework_version: int = Field(ge=1)
    subject: Filled
    scores: dict[str, Score | None] = Field(
        description="calibrated score per competency; null: nobody observed it"
    )

    @field_validator("scores")
    @classmethod
    def _sorted(cls, scores: dict[str, float | None]) -> dict[str, float | None]:
        return dict(sorted(scores.items()))

    @classmethod
    def from_event(cls, event: CalibrationCompleted, subject: str) -> CalibratedScores:
        """The subject's scores as `CalibrationCompleted` carried them."""
        found = next((s for s in event.scores if s.subject == subject), None)
        if found is None:
            raise ValueError(
                f"calibration session {event.session_id!r} has no scores for {subject!r}"
            )
        return cls(
            session_id=event.session_id,
            framework_id=event.framework_id,
            framework_version=event.framework_version,
            subject=subject,
            scores=found.scores,
        )


def _absent(value: object) -> bool:
    return value is None


class HrisPosition(_Frozen):
    """Where the HRIS has the person: the position their level start is the start of."""

    family: str
    track: str
    level: str

    def __str__(self) -> str:
        return f"{self.family} {self.track} {self.level}"


class CriterionResult(_Frozen):
    """One criterion: met or not, what was expected, what was found, and on what evidence."""

    kind: CriterionKind
    name: str = Field(description="unique within a readiness: the kind, ':' and its subject")
    met: bool
    expected: Value
    actual: Value
    evidence: str
    disagreement: str | None = Field(
        None,
        description="where the sources of the criterion disagree (a nomination's date against "
        "the HRIS's), and which one was judged",
        exclude_if=_absent,
    )


class Readiness(_Frozen):
    """The result of `evaluate` with every input it used, for the decision log and audits."""

    transition: Transition
    criteria_version: int = Field(ge=1)
    scale: Scale
    criteria: Criteria
    calibration: CalibratedScores
    required_competencies: tuple[str, ...]
    as_of: date
    operating_since: date | None = Field(
        description="the day time at level is counted from: the start of the current level "
        "in the HRIS (level_start_from 'hris'; counted only when hris_position is the "
        "position moved from), or, in entries recorded before, the date the nomination gave"
    )
    level_start_from: Literal["nomination", "hris"] = Field(
        "nomination",
        description="where operating_since came from; 'nomination' only in entries recorded "
        "before the HRIS gave it",
        exclude_if=lambda source: source == "nomination",
    )
    nominated_since: date | None = Field(
        None,
        description="the day the nomination gave for the start of the person's current "
        "level, kept as evidence beside the HRIS's and not judged",
        exclude_if=_absent,
    )
    hris_position: HrisPosition | None = Field(
        None,
        description="where the HRIS had the person when judged (the position operating_since "
        "is the start of); None: the org chart held no record of them, or, in entries "
        "recorded before, not read",
        exclude_if=_absent,
    )
    evidence: dict[str, EvidenceRecord] = Field(description="the records of the named items")
    endorsed_by: str | None
    confirmed_in_session: str | None
    results: tuple[CriterionResult, ...]
    ready: bool

    @model_validator(mode="after")
    def _ready_is_all_met(self) -> Readiness:
        if self.ready != all(r.met for r in self.results):
            raise ValueError("ready must be true exactly when every criterion is met")
        return self

    @property
    def subject(self) -> str:
        return self.calibration.subject

    @property
    def unmet(self) -> list[CriterionResult]:
        return [r for r in self.results if not r.met]

    @property
    def below_floor(self) -> list[str]:
        """The competencies that fail the floor: scored below it or not observed."""
        return [
            r.name.split(":", 1)[1]
            for r in self.results
            if r.kind == "competency_floor" and not r.met
        ]

    def result(self, name: str) -> CriterionResult:
        found = next((r for r in self.results if r.name == name), None)
        if found is None:
            raise KeyError(name)
        return found

    def canonical_json(self) -> bytes:
        """Sorted keys, no whitespace, UTF-8: the same readiness always gives the same bytes."""
        return json.dumps(
            self.model_dump(mode="json"),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        ).encode()


def target_competencies(profile: EffectiveRoleProfile, transition: Transition) -> list[str]:
    """The competencies a transition is judged on: those of the target role profile (every
    deployment rule applied), then the crossover's leadership competencies not already in it.

    A lateral move is judged on exactly its path's competencies to acquire: the framework's
    lateral path says what carries over and what must be learned, and what carries over is
    not judged again (docs/domain.md §6, Lateral moves). The target profile must still exist:
    the role moved into is one the framework has."""
    target = (transition.target_family, transition.to_track, transition.to_level)
    if (profile.family, profile.track, profile.level) != target:
        raise ValueError(
            f"role profile {profile.key!r} is {profile.family} {profile.track} {profile.level}, "
            f"not the target of transition {transition}"
        )
    if transition.kind == "lateral":
        return list(transition.to_acquire)
    keys = [r.competency for r in profile.requirements]
    return list(dict.fromkeys([*keys, *transition.leadership_competencies]))


def _add_months(day: date, months: int) -> date:
    years, month0 = divmod(day.month - 1 + months, 12)
    year = day.year + years
    return date(year, month0 + 1, min(day.day, monthrange(year, month0 + 1)[1]))


def whole_quarters(since: date, until: date) -> int:
    """Complete quarters from `since` to `until`: three calendar months each, so 15 January
    to 15 April is one; a month-end start is clamped (31 January to 30 April is one). 0 if
    `until` is before `since`."""
    if until < since:
        return 0
    months = (until.year - since.year) * 12 + until.month - since.month
    if _add_months(since, months) > until:
        months -= 1
    return months // MONTHS_PER_QUARTER


def _fmt(value: float) -> str:
    return f"{value:g}"


def _scores(
    criteria: Criteria, calibration: CalibratedScores, required: list[str]
) -> list[CriterionResult]:
    session = (
        f"calibration session {calibration.session_id!r} "
        f"({calibration.framework_id} v{calibration.framework_version})"
    )
    floor = criteria.competency_floor
    results: list[CriterionResult] = []
    observed: dict[str, float] = {}
    for key in required:
        score = calibration.scores.get(key)
        if score is None:
            why = (
                "not observed: no calibrated score"
                if key in calibration.scores
                else "not assessed: absent from the calibration"
            )
            evidence = f"{why} in {session}, so the floor of {_fmt(floor)} is not shown to be met"
            met = False
        else:
            observed[key] = score
            met = score >= floor - TOLERANCE
            relation = "at or above" if met else "below"
            evidence = f"calibrated {_fmt(score)} in {session}, {relation} the floor {_fmt(floor)}"
        results.append(
            CriterionResult(
                kind="competency_floor",
                name=f"competency_floor:{key}",
                met=met,
                expected=floor,
                actual=score,
                evidence=evidence,
            )
        )
    minimum = criteria.minimum_average
    missing = [k for k in required if k not in observed]
    if observed:
        average = fmean(observed.values())
        listed = ", ".join(f"{k} {_fmt(v)}" for k, v in observed.items())
        evidence = f"mean of {len(observed)} calibrated scores in {session}: {listed}" + (
            f"; left out, not observed: {', '.join(missing)}" if missing else ""
        )
        met = average >= minimum - TOLERANCE
    else:
        average = None
        evidence = f"no competency of the target profile was observed in {session}"
        met = False
    average_result = CriterionResult(
        kind="average",
        name="average",
        met=met,
        expected=minimum,
        actual=average,
        evidence=evidence,
    )
    return [average_result, *results]


def _time_at_level(
    criteria: Criteria,
    transition: Transition,
    hris_position: HrisPosition | None,
    level_since: date | None,
    nominated_since: date | None,
    as_of: date,
) -> CriterionResult:
    needed = criteria.quarters_at_next_level
    by = as_of.isoformat()
    moved_from = HrisPosition(
        family=transition.family, track=transition.from_track, level=transition.from_level
    )
    quarters: int | None = None
    if hris_position is None:
        hris = "the org chart holds no HRIS record of the person"
        evidence = f"{hris}: no level start to count time at level from"
    elif hris_position != moved_from:
        hris = f"the HRIS has them at {hris_position}, the move is from {moved_from}"
        evidence = f"{hris}: time at level counts only the level moved from"
    elif level_since is None:
        hris = f"the start of their current level ({hris_position}) is unknown"
        evidence = (
            f"{hris}: an earlier HRIS event of theirs has not arrived, or the position was "
            "held before the org chart kept the days positions began"
        )
    else:
        quarters = whole_quarters(level_since, as_of)
        hris = f"the HRIS dates the current level from {level_since.isoformat()}"
        evidence = f"{hris}: {quarters} whole quarter(s) by {by}"
        if level_since > as_of:
            evidence += " (the start date is after the evaluation date)"
    disagreement = None
    if nominated_since is not None and nominated_since != level_since:
        # Like with like: the nominator's word for when the current level began, against the
        # HRIS's start of the same level.
        claimed = whole_quarters(nominated_since, as_of)
        disagreement = (
            f"the nomination dates the current level from {nominated_since.isoformat()} "
            f"({claimed} whole quarter(s) by {by}), but {hris}; only the HRIS is judged"
        )
    return CriterionResult(
        kind="time_at_level",
        name="time_at_level",
        met=quarters is not None and quarters >= needed,
        expected=needed,
        actual=quarters,
        evidence=evidence,
        disagreement=disagreement,
    )


def _evidence_item(item: str, record: EvidenceRecord | None, as_of: date) -> CriterionResult:
    if record is None:
        met, actual, evidence = False, None, "no evidence recorded for this item"
    else:
        actual = record.provided_by
        met = record.at.date() <= as_of
        evidence = f"provided by {record.provided_by} on {record.at.isoformat()}"
        if record.note:
            evidence += f": {record.note}"
        if not met:
            evidence += f" (after the evaluation date {as_of.isoformat()}, so not counted)"
    return CriterionResult(
        kind="evidence",
        name=f"evidence:{item}",
        met=met,
        expected="provided",
        actual=actual,
        evidence=evidence,
    )


def _endorsement(subject: str, endorsed_by: str | None) -> CriterionResult:
    if endorsed_by is None:
        met, evidence = False, "no manager endorsement recorded"
    elif endorsed_by == subject:
        met, evidence = False, "endorsed by the person themselves: an endorsement is a manager's"
    else:
        met, evidence = True, f"endorsed by {endorsed_by}"
    return CriterionResult(
        kind="endorsement",
        name="endorsement",
        met=met,
        expected="manager endorsement",
        actual=endorsed_by,
        evidence=evidence,
    )


def _confirmation(confirmed_in_session: str | None) -> CriterionResult:
    return CriterionResult(
        kind="calibration_confirmation",
        name="calibration_confirmation",
        met=confirmed_in_session is not None,
        expected="confirmed in a calibration session",
        actual=confirmed_in_session,
        evidence=f"confirmed in calibration session {confirmed_in_session!r}"
        if confirmed_in_session is not None
        else "no calibration session has confirmed the nomination",
    )


def _blank_to_none(value: str | None) -> str | None:
    return (value.strip() or None) if value is not None else None


def evaluate(
    criteria: CriteriaSet,
    transition: Transition,
    calibration: CalibratedScores,
    *,
    required_competencies: Sequence[str],
    as_of: date,
    hris_position: HrisPosition | None = None,
    level_since: date | None = None,
    nominated_since: date | None = None,
    evidence: Mapping[str, EvidenceRecord] | None = None,
    endorsed_by: str | None = None,
    confirmed_in_session: str | None = None,
) -> Readiness:
    """Judge one person's readiness for one transition against one criteria version.

    `required_competencies` are the target role profile's (see `target_competencies`); the
    transition's leadership competencies are added when missing. `hris_position` is where
    the HRIS has the person (None: the org chart does not know them) and `level_since` the
    day it says their current level began (the org chart's level start, None when unknown):
    time at level is judged on that day, when that position is the one moved from.
    `nominated_since` is the day a nomination gave for the start of the current level,
    recorded beside it. Evidence records for items the criteria do not name are ignored and not
    recorded.
    """
    applied = criteria.criteria_for(transition)
    required = list(dict.fromkeys([*required_competencies, *transition.leadership_competencies]))
    if not required:
        raise ValueError(
            f"transition {transition}: no competencies to judge; pass the target role "
            "profile's competencies"
        )
    scale = SCALE_RANGE[criteria.scale]
    outside = {
        k: v
        for k, v in calibration.scores.items()
        if v is not None and not scale.start <= v <= scale.stop - 1
    }
    if outside:
        raise ValueError(
            f"calibration session {calibration.session_id!r}: scores {outside} are outside the "
            f"scale {criteria.scale} of criteria version {criteria.version}"
        )
    endorsed_by = _blank_to_none(endorsed_by)
    confirmed_in_session = _blank_to_none(confirmed_in_session)
    records = dict(evidence or {})
    kept = {item: records[item] for item in applied.evidence if item in records}

    results = _scores(applied, calibration, required)
    if applied.quarters_at_next_level > 0:
        results.append(
            _time_at_level(applied, transition, hris_position, level_since, nominated_since, as_of)
        )
    results.extend(_evidence_item(item, kept.get(item), as_of) for item in applied.evidence)
    if applied.endorsement_required:
        results.append(_endorsement(calibration.subject, endorsed_by))
    if applied.calibration_confirmation_required:
        results.append(_confirmation(confirmed_in_session))

    return Readiness(
        transition=transition,
        criteria_version=criteria.version,
        scale=criteria.scale,
        criteria=applied,
        calibration=calibration,
        required_competencies=tuple(required),
        as_of=as_of,
        operating_since=level_since,
        level_start_from="hris",
        nominated_since=nominated_since,
        hris_position=hris_position,
        evidence=kept,
        endorsed_by=endorsed_by,
        confirmed_in_session=confirmed_in_session,
        results=tuple(results),
        ready=all(r.met for r in results),
    )


def without_notes(readiness: Readiness) -> Readiness:
    """The same readiness with the evidence notes left out: what a decision-log entry of
    payload version 2 records. A note is personal text kept, erasably, by the evidence entry
    that attached it (docs/privacy.md); whether an item is met never depends on it."""
    evidence = {item: r.model_copy(update={"note": ""}) for item, r in readiness.evidence.items()}
    results = tuple(
        _evidence_item(item, evidence.get(item), readiness.as_of)
        if r.kind == "evidence" and (item := r.name.removeprefix("evidence:")) in evidence
        else r
        for r in readiness.results
    )
    return readiness.model_copy(update={"evidence": evidence, "results": results})
