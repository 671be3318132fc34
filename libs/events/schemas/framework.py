"""The career framework as other contexts see it, and the events the framework service publishes.

`Framework` is the whole model of docs/domain.md §2 as one document: it is the content of a
published version (carried in `FrameworkPublished`, so consumers never call the framework
service) and the service's documented exchange format (YAML / JSON, JSON Schema published).
Lists of keyed items keep their order; keys are stable slugs, names are what people read.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from libs.events.registry import IntegrationEvent, registry

Key = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=80),
    Field(description="stable identifier: lower-case letters, digits, '.', '_' or '-'"),
]
TEXT_LIMIT = 4000
MAX_GRADE = 50
Text = Annotated[str, StringConstraints(max_length=TEXT_LIMIT)]
Behaviour = Annotated[
    str,
    StringConstraints(max_length=TEXT_LIMIT, pattern=r"^[^\r\n]*[^\s][^\r\n]*$"),
    Field(description="one observable behaviour, on one line"),
]
TrackKind = Literal["ic", "manager"]
Tier = Literal["individual_contributor", "manager", "director"]
Scale = Literal["0..5", "1..5"]
CompetencyKind = Literal["core", "functional", "leadership"]
Nature = Literal["behavioural", "technical"]
Revision = Literal["initial", "minor", "major"]
Granularity = Literal["competency", "sub_skill"]

SCALE_RANGE: dict[str, range] = {"0..5": range(0, 6), "1..5": range(1, 6)}


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LevelDescriptor(_Part):
    """Scope, autonomy and impact at a level: not a competency statement."""

    scope: Text = ""
    autonomy: Text = ""
    impact: Text = ""


class Level(_Part):
    code: str = Field(min_length=1, max_length=40, description="e.g. L3, IC5, M1")
    name: str = Field(min_length=1, max_length=200)
    grade: int = Field(
        ge=1,
        le=MAX_GRADE,
        description="organisation-wide band: comparable across tracks and families, "
        "rising with seniority; level deployment rules and the track-height rule use it",
    )
    tier: Tier | None = Field(
        None,
        description="caps the role profile size; default: individual_contributor on the IC "
        "track, manager on the manager track",
    )
    descriptor: LevelDescriptor = LevelDescriptor()


class Crossover(_Part):
    """Where an individual contributor may enter the manager track."""

    from_level: str = Field(
        min_length=1, max_length=40, description="code of the IC level one must operate at"
    )
    from_family: Key | None = Field(
        None,
        description="the family whose IC track its managers come from, for a family holding "
        "only a manager track; default: this family",
    )
    leadership_competencies: list[Key] = Field(
        default_factory=list, description="leadership competencies required on top"
    )


class Track(_Part):
    kind: TrackKind
    levels: list[Level] = Field(min_length=1, description="junior to senior")
    crossover: Crossover | None = Field(None, description="manager track only")


class JobFamily(_Part):
    key: Key
    name: str = Field(min_length=1, max_length=200)
    description: Text = ""
    tracks: list[Track] = Field(min_length=1)

    def track(self, kind: TrackKind) -> Track | None:
        return next((t for t in self.tracks if t.kind == kind), None)


class LateralPath(_Part):
    """A sideways move between families: what carries over and what must be learned."""

    from_family: Key
    to_family: Key
    transferable: list[Key] = Field(default_factory=list)
    gaps: list[Key] = Field(default_factory=list)


class CompetencyCategory(_Part):
    key: Key
    name: str = Field(min_length=1, max_length=200)


class Anchor(_Part):
    """One observable sentence for one proficiency level, per track; a family's own wording
    where the competency reads differently there."""

    track: TrackKind
    proficiency: int = Field(ge=0, le=5)
    text: Text = Field(min_length=1)
    family: Key | None = Field(
        None,
        description="the family whose roles read this wording instead of the common anchor "
        "(the one without family) for the same track and proficiency",
    )


class _Anchored:
    """What has anchors of its own, a competency or a sub-skill: the wording a role reads."""

    if TYPE_CHECKING:
        anchors: list[Anchor]

    def anchor(
        self, track: TrackKind, proficiency: int, family: str | None = None
    ) -> Anchor | None:
        """The anchor a role of `family` reads: the family's own wording, else the common one
        (without `family`: the common one only)."""
        found = {
            a.family: a
            for a in self.anchors
            if a.track == track and a.proficiency == proficiency and a.family in (None, family)
        }
        return found.get(family) or found.get(None)

    def family_wording(self, track: TrackKind, family: str) -> dict[int, str] | None:
        """Proficiency -> the anchor sentence a role of this family and track reads, when the
        family words some of the track's anchors its own way; None when it reads the common
        ones."""
        if not any(a.track == track and a.family == family for a in self.anchors):
            return None
        return self.wording(track, family)

    def wording(self, track: TrackKind, family: str | None = None) -> dict[int, str]:
        """Proficiency -> the anchor sentence a role of this track (and family) reads: the
        family's own wording where it has one, else the common anchor; lowest level first."""
        read = {
            a.proficiency: a.text for a in self.anchors if a.track == track and a.family is None
        }
        if family is not None:
            read |= {
                a.proficiency: a.text
                for a in self.anchors
                if a.track == track and a.family == family
            }
        return dict(sorted(read.items()))


class SubSkill(_Anchored, _Part):
    """An observable behaviour under a competency ("gives credit to others"), with anchors of
    its own where it reads differently from the competency's (a questionnaire at sub-skill
    granularity shows them; without them, the competency's)."""

    key: Key
    name: Text = Field(min_length=1)
    anchors: list[Anchor] = Field(
        default_factory=list,
        description="the sub-skill's own anchors, as the competency's: one per track and "
        "proficiency (and family, for a family's own wording)",
    )


def normalise_term(term: str) -> str:
    """The form two standard terms are compared in (docs/domain.md §2, Vocabulary): case
    ignored (casefold) and runs of white space as one space, leading and trailing ones as
    none; spelling, punctuation and synonyms are the taxonomy's business."""
    return " ".join(term.split()).casefold()


class Competency(_Anchored, _Part):
    key: Key
    name: str = Field(min_length=1, max_length=200)
    category: Key | None = None
    kind: CompetencyKind
    nature: Nature
    family: Key | None = Field(None, description="owning job family of a functional competency")
    description: Text = ""
    sub_skills: list[SubSkill] = Field(default_factory=list)
    anchors: list[Anchor] = Field(default_factory=list)
    standard_term: str | None = Field(
        None,
        max_length=200,
        description="the standard taxonomy term this organisation term maps to; both stay valid",
    )

    def sub_skill(self, key: str) -> SubSkill | None:
        return next((s for s in self.sub_skills if s.key == key), None)


class Requirement(_Part):
    """A competency in a role profile: its target proficiency and the expected behaviours."""

    competency: Key
    target: int | None = Field(None, ge=0, le=5, description="on the framework's scale")
    behaviours: list[Behaviour] = Field(
        default_factory=list, description="what the competency looks like at this level"
    )
    origin: Literal["role", "push"] = Field(
        "role", description="push: assigned once to selected roles, no standing rule"
    )


class RoleProfile(_Part):
    """A position: job family + track + level + the competencies that apply."""

    key: Key
    name: str = Field(min_length=1, max_length=200)
    family: Key
    track: TrackKind
    level: str = Field(min_length=1, max_length=40, description="level code in the family's track")
    requirements: list[Requirement] = Field(default_factory=list)


class DeploymentRule(_Part):
    """A standing rule putting a competency into role profiles, including future ones.

    core: every role. level: every role from `from_grade` up (optionally one track or family).
    One-time pushes are not rules: they are recorded in the role profiles they reached.
    """

    key: Key
    scope: Literal["core", "level"]
    competency: Key
    target: int | None = Field(None, ge=0, le=5)
    from_grade: int | None = Field(
        None, ge=1, le=MAX_GRADE, description="level rules: lowest grade reached"
    )
    track: TrackKind | None = None
    family: Key | None = None


MAX_ROLE_CAP = 30
MAX_FUNCTIONAL_PER_FAMILY = 100
MAX_REVIEWERS = 5


class RoleCaps(_Part):
    """The most competencies a role profile of each tier may hold."""

    individual_contributor: int = Field(8, ge=1, le=MAX_ROLE_CAP)
    manager: int = Field(10, ge=1, le=MAX_ROLE_CAP)
    director: int = Field(12, ge=1, le=MAX_ROLE_CAP)

    def of(self, tier: Tier) -> int:
        return int(getattr(self, tier))


class Policy(_Part):
    """The limits the publication rules apply to this framework (docs/domain.md §2, Policy).

    The defaults are the domain's; HR may move them, and each version records the policy it
    was published under. The bounds keep a questionnaire answerable (at most 30 competencies
    per role) and the limits consistent with each other.
    """

    role_caps: RoleCaps = RoleCaps()
    behavioural_minimum: int = Field(
        3, ge=0, le=MAX_ROLE_CAP, description="fewest behavioural competencies in a role profile"
    )
    behavioural_one_in: int = Field(
        3,
        ge=1,
        le=MAX_ROLE_CAP,
        description="at least one competency in this many is behavioural (3: a third)",
    )
    functional_per_family_min: int = Field(
        5, ge=0, le=MAX_FUNCTIONAL_PER_FAMILY, description="fewer warns"
    )
    functional_per_family_max: int = Field(
        8, ge=0, le=MAX_FUNCTIONAL_PER_FAMILY, description="more warns"
    )
    approvals_required: int = Field(
        0,
        ge=0,
        le=MAX_REVIEWERS,
        description="reviewers of a review round who must approve the draft before it is "
        "published; absent: 0, no review needed (a framework started in the service asks "
        "for 3)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        if self.functional_per_family_min > self.functional_per_family_max:
            raise ValueError(
                f"functional_per_family_min ({self.functional_per_family_min}) is above "
                f"functional_per_family_max ({self.functional_per_family_max}): lower the "
                "minimum or raise the maximum"
            )
        for tier, cap in self.role_caps:
            if self.behavioural_minimum > cap:
                raise ValueError(
                    f"behavioural_minimum ({self.behavioural_minimum}) is above the cap for "
                    f"{tier} ({cap}): no role profile could meet both; lower the minimum or "
                    "raise the cap"
                )
        return self


class Framework(_Part):
    """A career framework and competency model: the document HR edits, publishes and exports."""

    name: str = Field(min_length=1, max_length=200)
    description: Text = ""
    scale: Scale = Field("0..5", description="Dreyfus 0..5 (default) or 1..5")
    granularity: Granularity = Field(
        "competency", description="assess at competency level or at sub-skill level"
    )
    taxonomy: str | None = Field(
        None, max_length=200, description="the standard taxonomy competencies map to"
    )
    categories: list[CompetencyCategory] = Field(default_factory=list)
    families: list[JobFamily] = Field(default_factory=list)
    lateral_paths: list[LateralPath] = Field(default_factory=list)
    competencies: list[Competency] = Field(default_factory=list)
    roles: list[RoleProfile] = Field(default_factory=list)
    rules: list[DeploymentRule] = Field(default_factory=list)
    policy: Policy = Field(Policy(), description="limits the publication rules apply")

    def family(self, key: str) -> JobFamily | None:
        return next((f for f in self.families if f.key == key), None)

    def competency(self, key: str) -> Competency | None:
        return next((c for c in self.competencies if c.key == key), None)

    def role(self, key: str) -> RoleProfile | None:
        return next((r for r in self.roles if r.key == key), None)


class EffectiveRequirement(_Part):
    competency: Key
    name: str
    kind: CompetencyKind
    nature: Nature
    target: int | None
    behaviours: list[str] = Field(default_factory=list)
    origins: list[str] = Field(
        description="why it applies: 'role', 'push', 'core:<rule>' or 'level:<rule>'"
    )
    anchors: dict[int, str] | None = Field(
        None,
        description="proficiency -> the anchor this role reads, given when its family words "
        "some of its track's anchors its own way (the others are the common ones); absent: "
        "the role reads its track's common anchors",
    )


class EffectiveRoleProfile(_Part):
    """A role profile with every deployment rule applied, as assessed in a cycle."""

    key: Key
    name: str
    family: Key
    track: TrackKind
    level: str
    grade: int
    tier: Tier
    requirements: list[EffectiveRequirement]


class Approval(_Part):
    """A reviewer who approved the draft as it was published."""

    reviewer: str = Field(min_length=1, max_length=200, description="the reviewer's subject")
    approved_at: datetime


@registry.event
class FrameworkPublished(IntegrationEvent):
    """A framework version was published: immutable from now on, and citable by number.

    Carries the whole framework, so every consumer builds its read model from the event alone,
    and who approved it in review.
    """

    event_type = "FrameworkPublished"
    schema_version = 6
    context = "framework"

    framework_id: str
    version: int = Field(ge=1)
    revision: Revision
    published_at: datetime
    framework: Framework
    approvals: list[Approval] = Field(
        default_factory=list,
        description="the reviewers whose approval covers this version, in the order the "
        "review round named them; empty when the policy asked for none and none was given",
    )
    role_changes: int | None = Field(
        None,
        ge=0,
        description="how many RoleProfileChanged events were published with this version: a "
        "consumer holds the whole version once that many have arrived; None in versions "
        "published before it was counted",
    )


@registry.upcaster("FrameworkPublished", 1)
def _framework_published_v1(payload: dict) -> dict:  # type: ignore[type-arg]
    """v1 carried levels and competencies only: they become one family's tracks."""
    levels = payload["levels"]
    tracks = [
        {
            "kind": kind,
            "levels": [
                {"code": lv["code"], "name": lv["name"], "grade": lv["rank"]}
                for lv in sorted(levels, key=lambda lv: lv["rank"])
                if lv["track"] == kind
            ],
        }
        for kind in ("ic", "manager")
        if any(lv["track"] == kind for lv in levels)
    ]
    scale = f"{payload['scale_min']}..{payload['scale_max']}"
    return {
        "framework_id": payload["framework_id"],
        "version": payload["version"],
        "revision": payload["revision"],
        "published_at": payload["published_at"],
        "framework": {
            "name": payload["name"],
            "scale": scale,
            "families": [{"key": "default", "name": payload["name"], "tracks": tracks}]
            if tracks
            else [],
            "competencies": [
                {k: c[k] for k in ("key", "name", "kind", "nature")}
                for c in payload["competencies"]
            ],
        },
    }


@registry.upcaster("FrameworkPublished", 2)
def _framework_published_v2(payload: dict) -> dict:  # type: ignore[type-arg]
    """v3 added the policy, family anchors and cross-family crossovers, all optional with
    defaults meaning what v2 meant: a v2 payload reads as it is."""
    return payload


@registry.upcaster("FrameworkPublished", 3)
def _framework_published_v3(payload: dict) -> dict:  # type: ignore[type-arg]
    """v4 added the approvals and the policy's `approvals_required`, both with defaults
    meaning what v3 meant (no review asked for, none recorded): a v3 payload reads as it is."""
    return payload


@registry.upcaster("FrameworkPublished", 4)
def _framework_published_v4(payload: dict) -> dict:  # type: ignore[type-arg]
    """v5 added `role_changes`, optional: a v4 payload reads as it is, its count unknown."""
    return payload


@registry.upcaster("FrameworkPublished", 5)
def _framework_published_v5(payload: dict) -> dict:  # type: ignore[type-arg]
    """v6 added the sub-skills' own anchors, optional: a v5 payload reads as it is, its
    sub-skills reading their competency's anchors."""
    return payload


@registry.event
class RoleProfileChanged(IntegrationEvent):
    """A published version changed a role's effective profile (or added or removed the role)."""

    event_type = "RoleProfileChanged"
    schema_version = 2
    context = "framework"

    framework_id: str
    version: int = Field(ge=1)
    change: Literal["added", "changed", "removed"]
    role: EffectiveRoleProfile


@registry.upcaster("RoleProfileChanged", 1)
def _role_profile_changed_v1(payload: dict) -> dict:  # type: ignore[type-arg]
    """v2 added each requirement's anchors, optional: a v1 payload reads as it is, without
    them."""
    return payload


@registry.event
class FrameworkReviewDue(IntegrationEvent):
    """A framework's last review is older than the review age (docs/domain.md §2, Upkeep):
    announced once per due period, which `last_reviewed_at` names."""

    event_type = "FrameworkReviewDue"
    schema_version = 1
    context = "framework"

    framework_id: str
    version: int = Field(ge=1, description="the latest published version, the one to review")
    last_reviewed_at: datetime = Field(description="the last publication or recorded review")
    last_reviewed_version: int = Field(ge=1)
    due_at: datetime
    at_risk: bool = Field(description="untouched (nothing published) for the at-risk age")


@registry.event
class FrameworkRevisionDue(IntegrationEvent):
    """A framework's last major revision (or its first version) is older than the major
    revision age (docs/domain.md §2, Upkeep): announced once per due period, which
    `last_major_version` names."""

    event_type = "FrameworkRevisionDue"
    schema_version = 1
    context = "framework"

    framework_id: str
    version: int = Field(ge=1, description="the latest published version")
    last_major_version: int = Field(ge=1, description="the last major (or first) version")
    last_major_at: datetime
    due_at: datetime
    at_risk: bool = Field(description="untouched (nothing published) for the at-risk age")
