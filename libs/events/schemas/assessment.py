"""Events the assessment service publishes about 360 campaigns and calibration.

None of them identifies a peer or a direct report as the rater of anyone: those raters appear
only as their rater group, or as a count (docs/domain.md §3, Anonymity). Ratings themselves never
leave the service; what other contexts use are calibrated scores, computed from the groups the
subject may see.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.events.registry import IntegrationEvent, registry
from libs.events.schemas.framework import Key
from libs.personal.sealing import PersonalOf


class _CampaignEvent(IntegrationEvent):
    context = "assessment"
    schema_version = 1

    campaign_id: Key


@registry.event
class CampaignOpened(_CampaignEvent):
    """A 360 campaign opened for a population, pinned to one published framework version.

    The settings fields were added with defaults, so events recorded before them read as a
    campaign on the documented defaults.
    """

    event_type = "CampaignOpened"

    framework_id: str
    framework_version: int = Field(ge=1)
    population: list[str] = Field(description="employee ids of the people assessed")
    closes_at: datetime
    minimum_responses: int = Field(
        3, ge=2, description="responses a peer or direct-report group needs to be shown"
    )
    group_weights: dict[str, float] = Field(
        default_factory=lambda: {"self": 0.0, "manager": 0.4, "peer": 0.3, "direct_report": 0.3},
        description="weight of each rater group in the overall score",
    )
    peers_minimum: int = Field(3, ge=0, description="approved peers each person needs")
    peers_maximum: int = Field(8, ge=1, description="peers one may have nominated")
    positions: dict[str, tuple[str, str, str]] = Field(
        default_factory=dict,
        description="each assessed person's (job family, track, level) when the campaign "
        "opened: the role profile they are assessed against, whatever moves follow",
    )


@registry.event
class RatersNominated(_CampaignEvent):
    """A subject's manager approved or rejected a peer: where the subject's peer group stands.

    Counts only: who the peers are stays in the service.
    """

    event_type = "RatersNominated"

    subject: str
    approved_peers: int = Field(ge=0)
    pending_peers: int = Field(ge=0)
    peers_needed: int = Field(ge=0, description="approved peers still missing to the minimum")


@registry.event
class AssessmentSubmitted(_CampaignEvent):
    """A rater submitted (or revised, or finalised) their assessment of a subject."""

    event_type = "AssessmentSubmitted"

    subject: str
    group: str = Field(description="self, manager, peer or direct_report; never the rater")
    final: bool
    answered: int = Field(ge=0, description="items rated or marked not observed")


class PendingRater(BaseModel):
    model_config = ConfigDict(frozen=True)

    rater: str
    pending: int = Field(ge=1, description="assessments the rater has not finalised")


@registry.event
class RemindersSent(_CampaignEvent):
    """Raters with assessments still to finalise, for a notification system to remind.

    It names raters and how many assessments each owes, never whom they rate.
    """

    event_type = "RemindersSent"

    raters: list[PendingRater]
    closes_at: datetime


@registry.event
class CampaignClosed(_CampaignEvent):
    """Submissions are no longer accepted; the campaign moves on to calibration."""

    event_type = "CampaignClosed"

    submissions: int = Field(ge=0)
    non_responders: int = Field(ge=0, description="assignments without a final submission")


def score_key(competency: str, sub_skill: str | None) -> str:
    """What a score is keyed by wherever it goes: the competency, or for a sub-skill
    `competency/sub-skill`, as its questionnaire item and a goal's target name it."""
    return competency if sub_skill is None else f"{competency}/{sub_skill}"


def competency_of(key: str) -> str:
    """The competency a score key is of: the key itself, or a sub-skill's competency."""
    return key.split("/", 1)[0]


class CalibrationAdjustment(BaseModel):
    """One change a calibration session made to a score: who, from what, to what, and why."""

    model_config = ConfigDict(frozen=True)

    subject: str
    competency: str = Field(
        description="the competency adjusted, or `competency/sub-skill` when it was assessed "
        "per sub-skill (docs/domain.md §4)"
    )
    old_value: float | None
    new_value: float
    justification: Annotated[str, PersonalOf("subject")] = Field(
        description="why; sealed under the subject's key (docs/privacy.md)"
    )
    actor: str
    adjusted_at: datetime


class SubjectScores(BaseModel):
    model_config = ConfigDict(frozen=True)

    subject: str
    position: tuple[str, str, str] | None = Field(
        None,
        description="(job family, track, level) the subject was assessed in: the role "
        "profile whose targets their gaps are measured against",
    )
    scores: dict[str, float | None] = Field(
        description="calibrated score per competency; null: nobody observed it. A competency "
        "assessed per sub-skill has the roll-up of its sub-skills' scores (docs/domain.md §4)"
    )
    sub_skills: dict[str, float | None] = Field(
        default_factory=dict,
        description="calibrated score per sub-skill, keyed `competency/sub-skill`, of the "
        "competencies assessed per sub-skill; null: nobody observed it. Empty at competency "
        "granularity",
    )


class _SessionEvent(IntegrationEvent):
    """What a calibration session published: its session, campaign and framework version."""

    context = "assessment"
    schema_version = 1

    session_id: Key
    campaign_id: Key
    framework_id: str
    framework_version: int = Field(ge=1)


@registry.event
class CalibrationCompleted(_SessionEvent):
    """The final calibrated scores of a session's population (docs/domain.md §4).

    One entry per subject with a score per competency (the aggregate, or the latest
    adjustment of it), per sub-skill where the framework assesses sub-skills (the
    competency's score then rolled up from them), and every adjustment with who made it and
    why.
    """

    event_type = "CalibrationCompleted"
    schema_version = 2

    scores: list[SubjectScores]
    adjustments: list[CalibrationAdjustment]


@registry.upcaster("CalibrationCompleted", 1)
def _calibration_completed_v1(payload: dict) -> dict:  # type: ignore[type-arg]
    """v2 added each subject's `sub_skills`, empty by default. A v1 payload reads as it is:
    its scores were per competency at either granularity (sub-skill ratings averaged into
    their competency then), which is what an empty `sub_skills` says."""
    return payload


class AnchorSpread(BaseModel):
    model_config = ConfigDict(frozen=True)

    competency: str
    flagged_items: int = Field(ge=1, description="subjects whose raters were far apart on it")
    compared_items: int = Field(ge=1)
    share: float = Field(ge=0, le=1)


@registry.event
class InconsistentAnchorsFound(IntegrationEvent):
    """Competencies whose anchors raters read differently, found by a calibration session:
    candidates for rewording in the framework's next minor revision (docs/domain.md §4).

    No longer published: AnchorFindingsRecorded says it per anchor. Kept for the events
    already in the stream, which the framework still records."""

    event_type = "InconsistentAnchorsFound"
    context = "assessment"
    schema_version = 1

    session_id: Key
    framework_id: str
    framework_version: int = Field(ge=1)
    anchors: list[AnchorSpread] = Field(min_length=1)


class RoleCompetency(BaseModel):
    """A competency in a role: the role profile at (family, track, level)."""

    model_config = ConfigDict(frozen=True)

    competency: str
    family: str
    track: str
    level: str


class AnchorFinding(RoleCompetency):
    """One finding on the anchor a role is measured against on a competency (docs/
    assessment.md, Findings for the framework, defines each kind and its threshold)."""

    kind: Literal["inconsistent_use", "leniency_clustering", "outliers"]
    items: int = Field(
        ge=1,
        description="what was looked at: compared items (inconsistent use), observed "
        "ratings (leniency clustering) or scored subjects (outliers)",
    )
    flagged: int = Field(ge=1, description="how many of them showed the finding")


class NotRelevantMarks(RoleCompetency):
    """Raters who marked a competency not relevant to a role, of those who answered it."""

    marked: int = Field(ge=1)
    answered: int = Field(ge=1)


class CompetencyUse(RoleCompetency):
    """How much gap data one competency gave in one role: of the role's subjects, how many
    ended the calibration unscored (nobody observed it) and how many at or above target."""

    subjects: int = Field(ge=1)
    unscored: int = Field(ge=0)
    at_target: int = Field(ge=0, description="scored at or above the role's target")


@registry.event
class AnchorFindingsRecorded(_SessionEvent):
    """What a calibration session found about the framework version it used: findings per
    anchor, competencies raters marked not relevant to a role, and how much gap data each
    competency gave per role. The framework turns them into revision items for its next
    version and its health report (docs/domain.md §2, Upkeep). Published only over
    enough items that no finding tells about one rater. Supersedes InconsistentAnchorsFound,
    which counted per competency only and is no longer published."""

    event_type = "AnchorFindingsRecorded"

    anchors: list[AnchorFinding]
    not_relevant: list[NotRelevantMarks]
    use: list[CompetencyUse] = Field(
        description="per role and competency with a target, over enough subjects"
    )
