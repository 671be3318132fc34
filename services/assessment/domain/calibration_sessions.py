"""The calibration session (docs/domain.md §4): opened on a closed campaign's population, it
records adjustments, each with who, the old and new value and a mandatory justification, and
completes with the final calibrated score per subject and competency.

The aggregated scores are computed from the campaign's ratings once, when the session opens,
and kept beside it (domain.calibration_inputs); the session's stream holds only what the
session decided.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from math import isclose

from libs.events.registry import IntegrationEvent, PrivateEvent, registry
from libs.events.schemas.assessment import (
    AnchorFinding,
    AnchorFindingsRecorded,
    CalibrationAdjustment,
    CalibrationCompleted,
    CompetencyUse,
    NotRelevantMarks,
    SubjectScores,
)
from services.assessment.domain.aggregation import CompetencyResult
from services.assessment.domain.calibration import (
    Adjustment,
    AdjustmentRefused,
    CalibratedScore,
    RolledUp,
    calibrated_scores,
    roll_up,
)

# A client shows and sends back scores through decimal text; this absorbs the rounding.
SEEN_TOLERANCE = 1e-6


class CalibrationError(ValueError):
    """A session command its state does not allow; the message says why."""


class StaleAdjustment(CalibrationError):
    """The adjuster saw an older value than the score holds now: someone adjusted it since."""


@registry.event
class CalibrationSessionOpened(PrivateEvent):
    event_type = "CalibrationSessionOpened"
    context = "assessment"
    schema_version = 1

    session_id: str
    campaign_id: str
    framework_id: str
    framework_version: int
    subjects: list[str]
    scale: tuple[int, int]


@registry.event
class ScoreAdjusted(PrivateEvent):
    event_type = "ScoreAdjusted"
    context = "assessment"
    schema_version = 1

    session_id: str
    adjustment: Adjustment
    adjusted_at: datetime


@dataclass
class CalibrationSession:
    session_id: str
    stream_version: int = 0
    opened: CalibrationSessionOpened | None = None
    adjustments: list[ScoreAdjusted] = field(default_factory=list)
    completed: bool = False

    def apply(self, event: IntegrationEvent, stream_version: int) -> None:
        self.stream_version = stream_version
        if isinstance(event, CalibrationSessionOpened):
            self.opened = event
        elif isinstance(event, ScoreAdjusted):
            self.adjustments.append(event)
        elif isinstance(event, CalibrationCompleted):
            self.completed_at(stream_version)

    def completed_at(self, stream_version: int) -> None:
        """The session completed, at this version of its stream. What completing it
        published (every subject's final scores) is no part of its state: a reader may
        take this from the event's envelope without decoding its megabytes."""
        self.stream_version = stream_version
        self.completed = True

    def open(
        self,
        campaign_id: str,
        campaign_closed: bool,
        framework_id: str,
        framework_version: int,
        subjects: list[str],
        scale: tuple[int, int],
    ) -> list[IntegrationEvent]:
        if self.opened is not None:
            raise CalibrationError(f"calibration session {self.session_id!r} already exists")
        if not campaign_closed:
            raise CalibrationError(
                f"campaign {campaign_id!r} is still open: calibrate once it has closed"
            )
        if not subjects:
            raise CalibrationError("a calibration session needs at least one subject")
        return [
            CalibrationSessionOpened(
                session_id=self.session_id,
                campaign_id=campaign_id,
                framework_id=framework_id,
                framework_version=framework_version,
                subjects=sorted(set(subjects)),
                scale=scale,
            )
        ]

    def _require_open(self) -> CalibrationSessionOpened:
        if self.opened is None:
            raise CalibrationError(f"calibration session {self.session_id!r} not found")
        if self.completed:
            raise CalibrationError(f"calibration session {self.session_id!r} is completed")
        return self.opened

    def scores(self, results: Iterable[CompetencyResult]) -> dict[tuple[str, str], CalibratedScore]:
        """Per (subject, item) of `results` (calibration.items), as calibrated so far."""
        return calibrated_scores(results, [a.adjustment for a in self.adjustments])

    def rolled_up(self, results: Iterable[CompetencyResult]) -> dict[str, RolledUp]:
        """Per subject: the calibrated score per competency, rolled up from its sub-skills
        where it was asked per sub-skill, and per sub-skill (calibration.roll_up)."""
        results = list(results)
        adjusted = {a.adjustment.subject for a in self.adjustments}
        # The adjusted subjects' scores only are worked out one by one (`scores`): every
        # other item's calibrated score is its aggregate, and a CalibratedScore for each of
        # a 10,000-person session's items was most of the time it took to complete it.
        scored = self.scores(r for r in results if r.subject in adjusted)
        return roll_up(
            chain(
                ((r.subject, r.item, r.overall) for r in results if r.subject not in adjusted),
                ((subject, item, score.calibrated) for (subject, item), score in scored.items()),
            )
        )

    def adjust(
        self,
        subject: str,
        competency: str,
        new_value: float,
        justification: str | None,
        actor: str,
        results: Iterable[CompetencyResult],
        now: datetime,
        seen_value: float | None = None,
    ) -> list[IntegrationEvent]:
        """Adjust one score. `seen_value`, when given, is the value the adjuster saw: if the
        score has changed since, the adjustment is refused rather than silently replacing a
        colleague's. Only the subject's `results` count, so a caller may pass only theirs:
        the population's are not needed to change one score."""
        opened = self._require_open()
        results = list(results)
        if subject not in opened.subjects:
            raise AdjustmentRefused(
                f"{subject!r} is not in calibration session {self.session_id!r}"
            )
        sub_skills = [
            r.item
            for r in results
            if r.subject == subject and r.competency == competency and r.sub_skill is not None
        ]
        # Refused here, when made: a stored one, from before sub-skills were scored, still
        # counts (calibration.calibrated_scores).
        if sub_skills:
            raise AdjustmentRefused(
                f"adjustment of {subject!r} on {competency!r} refused: it was assessed per "
                f"sub-skill and rolls up from them; adjust one of {sub_skills}"
            )
        current = calibrated_scores(
            (r for r in results if r.subject == subject),
            (a.adjustment for a in self.adjustments if a.adjustment.subject == subject),
        ).get((subject, competency))
        if current is None:
            raise AdjustmentRefused(
                f"adjustment of {subject!r} on {competency!r} refused: no such score in this "
                "session (the competency is not in their role profile, or nobody rated it)"
            )
        if seen_value is not None and (
            current.calibrated is None
            or not isclose(seen_value, current.calibrated, abs_tol=SEEN_TOLERANCE)
        ):
            now_reads = "unscored" if current.calibrated is None else current.calibrated
            raise StaleAdjustment(
                f"{subject!r} on {competency!r} is {now_reads}, not {seen_value}: review the "
                "current score and adjust from it"
            )
        adjustment = Adjustment.model_validate(
            {
                "subject": subject,
                "competency": competency,
                "old_value": current.calibrated,
                "new_value": new_value,
                "justification": justification,
                "actor": actor,
                "scale": opened.scale,
            }
        )
        return [ScoreAdjusted(session_id=self.session_id, adjustment=adjustment, adjusted_at=now)]

    def complete(
        self,
        rolled: Mapping[str, RolledUp],
        positions: Mapping[str, tuple[str, str, str]] | None = None,
        anchors: Iterable[AnchorFinding] = (),
        not_relevant: Iterable[NotRelevantMarks] = (),
        use: Iterable[CompetencyUse] = (),
    ) -> list[IntegrationEvent]:
        """CalibrationCompleted with every subject's final scores and the adjustments behind
        them, and AnchorFindingsRecorded with what the anchors and the role profiles showed,
        for the framework's upkeep (domain.anchor_findings). `rolled`: the final scores,
        `rolled_up` of the session's items, taken once by the caller, who counts on them too."""
        opened = self._require_open()
        empty: RolledUp = ({}, {})
        per_subject = {s: rolled.get(s, empty) for s in sorted({*opened.subjects, *rolled})}
        events: list[IntegrationEvent] = [
            CalibrationCompleted(
                session_id=self.session_id,
                campaign_id=opened.campaign_id,
                framework_id=opened.framework_id,
                framework_version=opened.framework_version,
                scores=[
                    SubjectScores(
                        subject=s,
                        position=(positions or {}).get(s),
                        scores=dict(sorted(c.items())),
                        sub_skills=dict(sorted(k.items())),
                    )
                    for s, (c, k) in per_subject.items()
                ],
                adjustments=[
                    CalibrationAdjustment(
                        subject=a.adjustment.subject,
                        competency=a.adjustment.competency,
                        old_value=a.adjustment.old_value,
                        new_value=a.adjustment.new_value,
                        justification=a.adjustment.justification,
                        actor=a.adjustment.actor,
                        adjusted_at=a.adjusted_at,
                    )
                    for a in self.adjustments
                ],
            )
        ]
        findings, marks, used = list(anchors), list(not_relevant), list(use)
        if findings or marks or used:
            events.append(
                AnchorFindingsRecorded(
                    session_id=self.session_id,
                    campaign_id=opened.campaign_id,
                    framework_id=opened.framework_id,
                    framework_version=opened.framework_version,
                    anchors=findings,
                    not_relevant=marks,
                    use=used,
                )
            )
        return events
