"""Keeping a framework in use honest (docs/domain.md §2, Upkeep; docs/framework.md, Upkeep):
calibration findings become revision items on anchors, later versions resolve them, and after
each cycle a health report says how the framework served.

A finding names a role (family, track, level) and a competency; the anchor it is about is the
one that role is measured against: the competency's wording at the role's target proficiency
on its track, in the family's own words where the family has them. At sub-skill granularity
raters read each sub-skill against its own anchors where it has some on that track, else the
competency's (docs/domain.md §2, Granularity): a finding on the competency is then about
every anchor its sub-skills were read against, one item each. An item is resolved by the
first later version in which that wording changed (reworded, or gone with its competency,
sub-skill or level): whoever rewords an anchor need not also close its items by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from libs.events.schemas.assessment import AnchorFindingsRecorded, NotRelevantMarks
from libs.events.schemas.framework import Competency, Framework, SubSkill
from services.framework.domain.profiles import effective_profiles

# The share of anchors revised per cycle that upkeep expects (docs/domain.md §2, Versions).
REVISED_SHARE = (0.10, 0.20)
# Above this share of unscored subjects, a competency is mostly not observed.
MOSTLY_UNOBSERVED = 0.5


class AnchorRef(BaseModel):
    """One anchor: a competency's wording (or one of its sub-skills' own) at a proficiency on
    a track, common or a family's."""

    model_config = ConfigDict(frozen=True)

    competency: str
    track: str
    proficiency: int
    family: str | None
    sub_skill: str | None = Field(None, description="the sub-skill whose own anchor it is")


class RevisionItem(BaseModel):
    """A finding on the anchor one role is measured against, open until a later version
    changes the text that role reads there."""

    model_config = ConfigDict(frozen=True)

    anchor: AnchorRef
    text: str
    family: str = Field(description="the role the finding is about: its job family")
    track: str
    level: str
    kind: str
    session_id: str
    campaign_id: str
    found_in_version: int
    items: int
    flagged: int
    resolved_in_version: int | None

    @property
    def key(self) -> tuple[str, ...]:
        """What tells one item from every other: its session, kind, role, competency and
        sub-skill."""
        return (
            self.session_id,
            self.kind,
            self.anchor.competency,
            self.anchor.sub_skill or "",
            self.family,
            self.track,
            self.level,
        )


def anchor_texts(framework: Framework) -> dict[AnchorRef, str]:
    """Every anchor of the framework and its wording, its sub-skills' own included."""
    texts: dict[AnchorRef, str] = {}
    for c in framework.competencies:
        owners = [(None, c.anchors), *((s.key, s.anchors) for s in c.sub_skills)]
        for sub_skill, anchors in owners:
            for a in anchors:
                ref = AnchorRef(
                    competency=c.key,
                    sub_skill=sub_skill,
                    track=a.track,
                    proficiency=a.proficiency,
                    family=a.family,
                )
                texts[ref] = a.text
    return texts


class VersionIndex:
    """One version's role profiles by position and anchors by reference, built once: finding
    the anchor a role is measured against is then a lookup, however many findings there are."""

    def __init__(self, framework: Framework) -> None:
        self.framework = framework
        self.profiles = {
            (p.family, p.track, p.level): p for p in effective_profiles(framework).values()
        }
        self.texts = anchor_texts(framework)

    def read_on(self, competency: str) -> list[str | None]:
        """What raters rate of `competency`: each of its sub-skills at sub-skill granularity,
        else the competency itself (None)."""
        found = self.framework.competency(competency)
        if self.framework.granularity == "sub_skill" and found is not None and found.sub_skills:
            return [s.key for s in found.sub_skills]
        return [None]

    def measured_against(
        self, family: str, track: str, level: str, competency: str, sub_skill: str | None = None
    ) -> AnchorRef | None:
        """The anchor a role at (family, track, level) is measured against on `competency`,
        or on its `sub_skill`: the wording at its target proficiency, the sub-skill's own where
        it has some on the role's track (as the questionnaire shows them), else the
        competency's (as for a sub-skill not rated: gone, or the framework assessed per
        competency); None when the role, target or anchor is missing."""
        profile = self.profiles.get((family, track, level))
        if profile is None:
            return None
        requirement = next((r for r in profile.requirements if r.competency == competency), None)
        found = self.framework.competency(competency)
        if requirement is None or requirement.target is None or found is None:
            return None
        owner: Competency | SubSkill = found
        if sub_skill is not None and sub_skill in self.read_on(competency):
            skill = found.sub_skill(sub_skill)
            if skill is not None and skill.wording(profile.track, family):
                owner = skill
        anchor = owner.anchor(profile.track, requirement.target, family)
        if anchor is None:
            return None
        return AnchorRef(
            competency=competency,
            sub_skill=sub_skill if owner is not found else None,
            track=anchor.track,
            proficiency=anchor.proficiency,
            family=anchor.family,
        )


def revision_items(
    findings: Iterable[AnchorFindingsRecorded], versions: Mapping[int, Framework]
) -> list[RevisionItem]:
    """The revision items of `findings` on the framework whose published `versions` are given,
    one per anchor the finding's role was measured against (several at sub-skill
    granularity), each resolved by the first later version in which the text its role reads
    there differs (reworded, given the family's own wording, or gone). Findings on a version
    not given, or on a role or anchor that version lacks, make no item."""
    ordered = sorted(versions)
    indexes = {number: VersionIndex(framework) for number, framework in versions.items()}
    items: list[RevisionItem] = []
    for event in findings:
        index = indexes.get(event.framework_version)
        if index is None:
            continue
        for finding in event.anchors:
            role = (finding.family, finding.track, finding.level, finding.competency)
            read = (index.measured_against(*role, s) for s in index.read_on(finding.competency))
            # sub-skills without anchors of their own share the competency's: one item for it
            for anchor in dict.fromkeys(a for a in read if a is not None):
                text = index.texts[anchor]

                def reads(
                    number: int,
                    role: tuple[str, str, str, str] = role,
                    where: str | None = anchor.sub_skill,
                ) -> str | None:
                    later = indexes[number]
                    found = later.measured_against(*role, where)
                    return later.texts[found] if found else None

                resolved = next(
                    (n for n in ordered if n > event.framework_version and reads(n) != text),
                    None,
                )
                items.append(
                    RevisionItem(
                        anchor=anchor,
                        text=text,
                        family=finding.family,
                        track=finding.track,
                        level=finding.level,
                        kind=finding.kind,
                        session_id=event.session_id,
                        campaign_id=event.campaign_id,
                        found_in_version=event.framework_version,
                        items=finding.items,
                        flagged=finding.flagged,
                        resolved_in_version=resolved,
                    )
                )
    return sorted(
        items, key=lambda i: (i.resolved_in_version is not None, -i.flagged / i.items, *i.key)
    )


class UnusedCompetency(BaseModel):
    """A competency that gave no useful gap data in a cycle, and why."""

    model_config = ConfigDict(frozen=True)

    competency: str
    reason: str
    subjects: int
    unscored: int
    at_target: int


class HealthReport(BaseModel):
    """How the framework served one cycle (a campaign's calibrations)."""

    model_config = ConfigDict(frozen=True)

    campaign_id: str
    framework_version: int
    latest_version: int
    anchors: int
    anchors_revised: int
    revised_share: float
    revised_guidance: tuple[float, float]
    revised_verdict: str
    no_gap_data: list[UnusedCompetency]
    not_relevant: list[NotRelevantMarks]
    open_items: int
    resolved_items: int


def health(
    campaign_id: str,
    findings: Sequence[AnchorFindingsRecorded],
    versions: Mapping[int, Framework],
    items: Sequence[RevisionItem],
) -> HealthReport:
    """The report on the cycle whose calibrations published `findings` (one campaign's, on
    one framework version): the share of that version's anchors reworded by the latest
    version, the competencies with no useful gap data, those marked not relevant per role,
    and the framework's open and resolved revision items."""
    used = findings[0].framework_version
    latest = max(versions)
    before, now = anchor_texts(versions[used]), anchor_texts(versions[latest])
    revised = sum(1 for anchor, text in before.items() if now.get(anchor) != text)
    share = revised / len(before) if before else 0.0
    low, high = REVISED_SHARE
    verdict = "below" if share < low else "above" if share > high else "within"
    totals: dict[str, list[int]] = {}
    for event in findings:
        for use in event.use:
            tally = totals.setdefault(use.competency, [0, 0, 0])
            tally[0] += use.subjects
            tally[1] += use.unscored
            tally[2] += use.at_target
    unused = []
    for competency, (subjects, unscored, at_target) in sorted(totals.items()):
        scored = subjects - unscored
        if unscored > MOSTLY_UNOBSERVED * subjects:
            reason = "mostly not observed"
        elif scored and at_target == scored:
            reason = "everyone at target"
        else:
            continue
        unused.append(
            UnusedCompetency(
                competency=competency,
                reason=reason,
                subjects=subjects,
                unscored=unscored,
                at_target=at_target,
            )
        )
    marks: dict[tuple[str, str, str, str], list[int]] = {}
    for event in findings:
        for m in event.not_relevant:
            tally = marks.setdefault((m.competency, m.family, m.track, m.level), [0, 0])
            tally[0] += m.marked
            tally[1] += m.answered
    not_relevant = [
        NotRelevantMarks(
            competency=competency,
            family=family,
            track=track,
            level=level,
            marked=marked,
            answered=answered,
        )
        for (competency, family, track, level), (marked, answered) in sorted(
            marks.items(), key=lambda kv: (-kv[1][0] / kv[1][1], kv[0])
        )
    ]
    open_items = sum(1 for i in items if i.resolved_in_version is None)
    return HealthReport(
        campaign_id=campaign_id,
        framework_version=used,
        latest_version=latest,
        anchors=len(before),
        anchors_revised=revised,
        revised_share=share,
        revised_guidance=REVISED_SHARE,
        revised_verdict=verdict,
        no_gap_data=unused,
        not_relevant=not_relevant,
        open_items=open_items,
        resolved_items=len(items) - open_items,
    )
