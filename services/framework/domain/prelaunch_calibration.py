"""Calibration before launch (docs/framework.md, Calibration before launch): HR has
managers and senior ICs rate anonymised example profiles against a draft's anchors, and
learns which anchors raters read differently before the framework is used on anyone.

An exercise is opened on a draft with its examples and its raters; an example is aimed at a
competency, or, where the draft assesses per sub-skill, at a sub-skill and its own anchors. The
anchors each example is rated against are copied from the draft then, so later edits of the
draft do not move the scale under ratings already given. Each invited rater gives each example
at most one rating (a level the example's anchor scale has, or "cannot tell"), revisable until
HR closes the exercise. Closing computes the report, kept in the closing event as found.

Agreement per competency (per sub-skill, for the examples aimed at one) is Krippendorff's
alpha for ordinal data; where too few ratings pair up for alpha to mean anything, the spread
of levels instead. An anchor is flagged when the examples whose consensus lands on it were
rated far apart, or when raters split between it and another level.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import accumulate
from statistics import median_low
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.events.registry import PrivateEvent, registry
from libs.events.schemas.framework import (
    Anchor,
    Competency,
    Framework,
    Key,
    SubSkill,
    Text,
    TrackKind,
)
from services.framework.domain.drafting import FrameworkError

CANNOT_TELL = "cannot_tell"
Rating = int | Literal["cannot_tell"]

MIN_RATERS = 3
"""Fewer raters than three cannot show a split: two who differ are one against one."""

MIN_EXAMPLES_FOR_ALPHA = 3
MIN_RATINGS_FOR_ALPHA = 10
"""Alpha compares the disagreement within examples with the disagreement expected from all
the levels given. With fewer than three examples (or ten pairable ratings) that expectation
rests on one or two descriptions, and alpha swings from one rating to the next; the spread
is reported instead, which says plainly how far apart the raters were."""

MAX_MEAN_DEVIATION = 0.5
"""An anchor is flagged when the ratings of the examples whose consensus lands on it lie on
average more than half a level from that consensus: at least half the raters were a full
level off, or some two or more, on descriptions the anchor was meant to place."""

SPLIT_SHARE = 0.4
"""Raters split between two levels on an example when the second most chosen level has at
least 40% of its ratings (two of five): the boundary between those two anchors is unclear,
and both are flagged."""


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Example(_Part):
    """An anonymised description of what someone did, aimed at one competency, or at one of
    its sub-skills where the draft assesses per sub-skill."""

    key: Key = Field(description="the example's label, e.g. ex-07: never a person's name")
    competency: Key
    sub_skill: Key | None = Field(
        None,
        description="the competency's sub-skill it is aimed at, rated against the sub-skill's "
        "own anchors; only where the draft assesses per sub-skill",
    )
    track: TrackKind | None = Field(
        None, description="whose anchors it is rated against; needed when both tracks have some"
    )
    family: Key | None = Field(
        None,
        description="the job family whose wording it is rated against, where the family words "
        "the competency its own way; absent: the common anchors",
    )
    level: str | None = Field(
        None, min_length=1, max_length=40, description="the career level it was written at"
    )
    text: Text = Field(min_length=1)

    @property
    def aimed_at(self) -> str:
        """`coding`, or `coding/reviews` for a sub-skill: as messages name it."""
        return f"{self.competency}/{self.sub_skill}" if self.sub_skill else self.competency


class AnchorScale(_Part):
    """One competency's anchors on one track (or a sub-skill's own), as the draft had them
    when the exercise opened."""

    competency: Key
    name: str = Field(description="the competency's name")
    sub_skill: Key | None = Field(None, description="the sub-skill whose own anchors these are")
    sub_skill_name: str | None = None
    track: TrackKind
    family: Key | None = Field(None, description="whose own wording, where it has some")
    anchors: list[Anchor]

    @property
    def levels(self) -> list[int]:
        return sorted(a.proficiency for a in self.anchors)


Aim = tuple[str, str | None, TrackKind | None, str | None]
"""Whose anchors: competency, sub-skill (None: the competency's own), track, family."""


def aim(of: Example | AnchorScale) -> Aim:
    """Whose anchors an example is rated against, or a scale holds."""
    return (of.competency, of.sub_skill, of.track, of.family)


class CompetencyAgreement(_Part):
    competency: Key
    sub_skill: Key | None = Field(None, description="for the examples aimed at this sub-skill")
    method: Literal["alpha", "spread", "none"] = Field(
        description="alpha: Krippendorff's ordinal alpha; spread: too few pairable ratings "
        "for alpha (or all identical), the widest range of levels given to one example; "
        "none: no example has two ratings"
    )
    alpha: float | None
    spread: int | None = Field(description="levels between the lowest and highest rating")
    examples: int
    ratings: int = Field(description="levels given (cannot-tell answers excluded)")
    pairable: int = Field(description="levels given to examples that have at least two")
    cannot_tell: int


class AnchorAgreement(_Part):
    """The examples whose consensus (the lower median) lands on one anchor."""

    competency: Key
    sub_skill: Key | None = Field(None, description="the sub-skill's own anchor, if one")
    track: TrackKind
    family: Key | None = Field(None, description="whose own wording, where it has some")
    level: int
    examples: list[str]
    ratings: int
    mean_deviation: float = Field(description="mean distance of the ratings from consensus")
    split_with: list[int] = Field(description="levels raters split between this one and")
    reasons: list[str] = Field(description="why it is flagged; empty when it is not")

    @property
    def flagged(self) -> bool:
        return bool(self.reasons)


class CalibrationReport(_Part):
    competencies: list[CompetencyAgreement]
    anchors: list[AnchorAgreement]

    @property
    def flagged(self) -> list[AnchorAgreement]:
        return [a for a in self.anchors if a.flagged]


# -- events: private to the framework service's log, as draft edits are -------------------


class PrelaunchEvent(PrivateEvent):
    context = "framework"
    schema_version = 1


@registry.event
class PrelaunchCalibrationOpened(PrelaunchEvent):
    event_type = "PrelaunchCalibrationOpened"
    framework_id: str
    exercise_id: str
    draft_version: int = Field(description="the framework stream version the anchors are from")
    examples: list[Example]
    scales: list[AnchorScale]
    raters: list[str]


@registry.event
class PrelaunchExampleRated(PrelaunchEvent):
    event_type = "PrelaunchExampleRated"
    rater: str
    example: Key
    rating: Rating


@registry.event
class PrelaunchCalibrationClosed(PrelaunchEvent):
    event_type = "PrelaunchCalibrationClosed"
    closed_at: datetime
    report: CalibrationReport


# -- errors ------------------------------------------------------------------------------


class CalibrationError(FrameworkError):
    """A calibration command its exercise does not allow; the message says what to fix."""


class ExerciseExists(CalibrationError):
    pass


class UnknownExercise(CalibrationError):
    pass


class UnknownExample(CalibrationError):
    pass


class NotInvited(CalibrationError):
    pass


class ExerciseClosed(CalibrationError):
    pass


class ExerciseOpen(CalibrationError):
    pass


# An address or a handle in an example is someone identifiable; the check is a guard against
# slips, not a proof of anonymity (HR writes the examples and answers for them).
_CONTACT = re.compile(r"\S+@\S+")


@dataclass
class PrelaunchCalibration:
    """One exercise, rebuilt from its stream."""

    framework_id: str
    exercise_id: str
    stream_version: int = 0
    opened: PrelaunchCalibrationOpened | None = None
    ratings: dict[tuple[str, str], Rating] = field(default_factory=dict)
    closed: PrelaunchCalibrationClosed | None = None

    def apply(self, event: PrelaunchEvent, stream_version: int) -> None:
        self.stream_version = stream_version
        if isinstance(event, PrelaunchCalibrationOpened):
            self.opened = event
        elif isinstance(event, PrelaunchExampleRated):
            self.ratings[(event.rater, event.example)] = event.rating
        elif isinstance(event, PrelaunchCalibrationClosed):
            self.closed = event

    # -- commands --------------------------------------------------------------------------

    def open(
        self,
        draft: Framework,
        draft_version: int,
        examples: list[Example],
        raters: list[str],
    ) -> list[PrelaunchEvent]:
        if self.opened is not None:
            raise ExerciseExists(
                f"calibration {self.exercise_id!r} of framework {self.framework_id!r} exists "
                "already: choose another id"
            )
        invited = list(dict.fromkeys(raters))
        if len(invited) < MIN_RATERS:
            raise CalibrationError(
                f"invite at least {MIN_RATERS} different raters (got {len(invited)})"
            )
        if not examples:
            raise CalibrationError("give at least one example to rate")
        keys = Counter(e.key for e in examples)
        if repeated := sorted(k for k, n in keys.items() if n > 1):
            raise CalibrationError(f"example keys must be unique: {repeated} repeat")
        scales: dict[Aim, AnchorScale] = {}
        placed: list[Example] = []
        for example in examples:
            _anonymous(example, invited)
            scale = _scale(draft, example)
            scales[aim(scale)] = scale
            placed.append(example.model_copy(update={"track": scale.track}))
        return [
            PrelaunchCalibrationOpened(
                framework_id=self.framework_id,
                exercise_id=self.exercise_id,
                draft_version=draft_version,
                examples=placed,
                scales=list(scales.values()),
                raters=invited,
            )
        ]

    def rate(self, rater: str, example_key: str, rating: Rating) -> list[PrelaunchEvent]:
        self._still_open()
        self.invited(rater)
        example = self.example(example_key)
        if rating != CANNOT_TELL:
            levels = self.scale_of(example).levels
            if rating not in levels:
                raise CalibrationError(
                    f"level {rating} has no anchor for {example.aimed_at} on the "
                    f"{example.track} track: rate one of {levels} or {CANNOT_TELL!r}"
                )
        return [PrelaunchExampleRated(rater=rater, example=example_key, rating=rating)]

    def close(self, now: datetime) -> list[PrelaunchEvent]:
        self._still_open()
        return [PrelaunchCalibrationClosed(closed_at=now, report=self.report())]

    # -- queries ---------------------------------------------------------------------------

    @property
    def state(self) -> PrelaunchCalibrationOpened:
        if self.opened is None:
            raise UnknownExercise(
                f"framework {self.framework_id!r} has no calibration {self.exercise_id!r}"
            )
        return self.opened

    def example(self, key: str) -> Example:
        found = next((e for e in self.state.examples if e.key == key), None)
        if found is None:
            raise UnknownExample(f"calibration {self.exercise_id!r} has no example {key!r}")
        return found

    def scale_of(self, example: Example) -> AnchorScale:
        return next(s for s in self.state.scales if aim(s) == aim(example))

    def invited(self, rater: str) -> PrelaunchCalibrationOpened:
        """The exercise, for a rater it invites (others are told they are not invited)."""
        if rater not in self.state.raters:
            raise NotInvited(f"{rater!r} is not invited to rate calibration {self.exercise_id!r}")
        return self.state

    def ratings_by(self, rater: str) -> dict[str, Rating]:
        return {example: r for (who, example), r in self.ratings.items() if who == rater}

    @property
    def found(self) -> CalibrationReport:
        """The report as computed at closing; refused while raters may still change ratings."""
        opened = self.state  # an unknown exercise is not found, rather than "still open"
        if self.closed is None:
            raise ExerciseOpen(
                f"calibration {opened.exercise_id!r} is still open: close it to read its report"
            )
        return self.closed.report

    def report(self) -> CalibrationReport:
        """Agreement per competency (and sub-skill) and per anchor, from the ratings as they
        stand."""
        opened = self.state
        by_example: dict[str, list[Rating]] = {e.key: [] for e in opened.examples}
        for (_, example), rating in self.ratings.items():
            by_example[example].append(rating)
        aimed: dict[tuple[str, str | None], list[list[Rating]]] = {}
        for e in opened.examples:
            aimed.setdefault((e.competency, e.sub_skill), []).append(by_example[e.key])
        return CalibrationReport(
            competencies=[_agreement(c, s, ratings) for (c, s), ratings in aimed.items()],
            anchors=_anchors(opened.examples, opened.scales, by_example),
        )

    def _still_open(self) -> None:
        opened = self.state  # an unknown exercise is not found, rather than closed
        if self.closed is not None:
            raise ExerciseClosed(
                f"calibration {opened.exercise_id!r} was closed at "
                f"{self.closed.closed_at.isoformat()}: it takes no more ratings"
            )


def _anonymous(example: Example, raters: list[str]) -> None:
    named = [
        r for r in raters if re.search(rf"(?<![\w-]){re.escape(r)}(?![\w-])", example.text, re.I)
    ]
    if named or _CONTACT.search(example.text):
        raise CalibrationError(
            f"example {example.key!r} names a person (a rater's id or an address): "
            "examples are anonymised, describe what was done without saying by whom"
        )


def _scale(draft: Framework, example: Example) -> AnchorScale:
    competency = draft.competency(example.competency)
    if competency is None:
        raise CalibrationError(
            f"example {example.key!r}: the draft has no competency {example.competency!r}"
        )
    owner: Competency | SubSkill = competency
    if example.sub_skill is not None:
        owner = _sub_skill(draft, competency, example.key, example.sub_skill)
    whose = example.aimed_at
    tracks = [t for t in ("ic", "manager") if any(a.track == t for a in owner.anchors)]
    track = example.track or (tracks[0] if len(tracks) == 1 else None)
    if track is None:
        raise CalibrationError(
            f"example {example.key!r}: {whose} has anchors on the tracks {tracks}: "
            "say which track's anchors it is rated against"
        )
    families = draft.families
    if example.family is not None:
        families = [f for f in draft.families if f.key == example.family]
        if not families:
            raise CalibrationError(
                f"example {example.key!r}: the draft has no job family {example.family!r}"
            )
    # The family's own wording where it has one, else the common anchor, one per level.
    chosen = (
        owner.anchor(track, proficiency, example.family)
        for proficiency in sorted({a.proficiency for a in owner.anchors if a.track == track})
    )
    anchors = [a for a in chosen if a is not None]
    if len(anchors) < 2:
        own = (
            " (a sub-skill without anchors of its own reads its competency's: aim the example "
            "at the competency)"
            if example.sub_skill
            else ""
        )
        raise CalibrationError(
            f"example {example.key!r}: {whose} has {len(anchors)} anchor(s) on the {track} "
            f"track; rating needs at least two levels to choose between{own}"
        )
    if example.level is not None and not any(
        lv.code == example.level
        for family in families
        for t in family.tracks
        if t.kind == track
        for lv in t.levels
    ):
        raise CalibrationError(
            f"example {example.key!r}: the {track} track of family {example.family!r} has no "
            f"level {example.level!r}"
            if example.family
            else f"example {example.key!r}: no {track} track of the draft has level "
            f"{example.level!r}"
        )
    return AnchorScale(
        competency=competency.key,
        name=competency.name,
        sub_skill=example.sub_skill,
        sub_skill_name=owner.name if isinstance(owner, SubSkill) else None,
        track=track,
        family=example.family,
        anchors=anchors,
    )


def _sub_skill(draft: Framework, competency: Competency, example: str, key: str) -> SubSkill:
    """The sub-skill an example is aimed at: rated only where the draft assesses per
    sub-skill, against its own anchors (one without reads its competency's, which examples
    aimed at the competency calibrate)."""
    if draft.granularity != "sub_skill":
        raise CalibrationError(
            f"example {example!r}: the draft assesses per competency, so no sub-skill is "
            f"rated: aim the example at {competency.key} itself"
        )
    skill = competency.sub_skill(key)
    if skill is None:
        raise CalibrationError(
            f"example {example!r}: competency {competency.key!r} has no sub-skill {key!r}"
        )
    return skill


# -- agreement -----------------------------------------------------------------------------


def levels_of(ratings: Iterable[Rating]) -> list[int]:
    """The levels given: "cannot tell" is no value (Krippendorff's missing data)."""
    return [r for r in ratings if isinstance(r, int)]


def ordinal_alpha(units: Iterable[Iterable[int]]) -> float | None:
    """Krippendorff's alpha for ordinal data, from the coincidence matrix.

    Each unit (an example) with m >= 2 levels adds, for every ordered pair of its values
    (c, k) taken from two different raters, 1 / (m - 1) to the coincidence o[c][k]; units
    with fewer values pair with nothing and are left out. n_c = sum over k of o[c][k], and
    n = sum of n_c (the pairable values). The ordinal distance of c and k is
    delta(c, k) = (sum of n_g for g from c to k - (n_c + n_k) / 2) ** 2: how many values lie
    between them, so a level nobody used adds no distance. Then
    alpha = 1 - (n - 1) * sum o[c][k] delta(c, k) / sum n_c n_k delta(c, k).
    None when no unit pairs up or every pairable value is the same (no disagreement to expect).
    """
    coincidences: Counter[tuple[int, int]] = Counter()
    for unit in units:
        values = list(unit)
        m = len(values)
        if m < 2:
            continue
        for i, c in enumerate(values):
            for j, k in enumerate(values):
                if i != j:
                    coincidences[(c, k)] += 1 / (m - 1)
    totals: Counter[int] = Counter()
    for (c, _), o in coincidences.items():
        totals[c] += o
    n = sum(totals.values())
    values = sorted(totals)
    if len(values) < 2:
        return None
    # cumulative[i]: n_g summed over the values up to values[i]
    cumulative = list(accumulate(totals[v] for v in values))
    position = {v: i for i, v in enumerate(values)}

    def delta(c: int, k: int) -> float:
        low, high = sorted((position[c], position[k]))
        between = cumulative[high] - (cumulative[low - 1] if low else 0)
        return (between - (totals[c] + totals[k]) / 2) ** 2

    observed = sum(o * delta(c, k) for (c, k), o in coincidences.items())
    expected = sum(totals[c] * totals[k] * delta(c, k) for c in values for k in values)
    return 1 - (n - 1) * observed / expected


def _agreement(
    competency: str, sub_skill: str | None, examples: list[list[Rating]]
) -> CompetencyAgreement:
    units = [levels_of(r) for r in examples]
    pairable = [u for u in units if len(u) >= 2]
    count = sum(len(u) for u in pairable)
    spread = max((max(u) - min(u) for u in pairable), default=None)
    alpha = (
        ordinal_alpha(pairable)
        if len(pairable) >= MIN_EXAMPLES_FOR_ALPHA and count >= MIN_RATINGS_FOR_ALPHA
        else None
    )
    method: Literal["alpha", "spread", "none"] = (
        "alpha" if alpha is not None else "spread" if pairable else "none"
    )
    return CompetencyAgreement(
        competency=competency,
        sub_skill=sub_skill,
        method=method,
        alpha=alpha,
        spread=spread,
        examples=len(examples),
        ratings=sum(len(u) for u in units),
        pairable=count,
        cannot_tell=sum(len(r) - len(u) for r, u in zip(examples, units, strict=True)),
    )


def _anchors(
    examples: list[Example], scales: list[AnchorScale], by_example: dict[str, list[Rating]]
) -> list[AnchorAgreement]:
    """Each example with two or more levels lands on its consensus, the lower median (a level
    someone actually gave, and of two the more cautious); each anchor gathers its examples."""
    # by competency, sub-skill ("" for the competency's own anchors), track, family ("" for
    # the common wording) and level: "" sorts first
    landed: dict[tuple[str, str, TrackKind, str, int], list[tuple[str, list[int]]]] = {}
    splits: dict[tuple[str, str, TrackKind, str, int], set[int]] = {}
    for example in examples:
        levels = levels_of(by_example[example.key])
        if len(levels) < 2:
            continue
        assert example.track is not None  # placed on a track when the exercise opened
        # Whose wording each level of the example's scale is: the family's own, or the common
        # one, so that one sentence is one anchor in the report.
        wording = {
            a.proficiency: a.family or ""
            for s in scales
            if aim(s) == aim(example)
            for a in s.anchors
        }
        owner = (example.competency, example.sub_skill or "", example.track)
        consensus = median_low(levels)
        anchor = (*owner, wording.get(consensus, ""), consensus)
        landed.setdefault(anchor, []).append((example.key, levels))
        ranked = Counter(levels).most_common()
        if len(ranked) > 1 and ranked[1][1] >= SPLIT_SHARE * len(levels):
            first, second = ranked[0][0], ranked[1][0]
            for one, other in ((first, second), (second, first)):
                key = (*owner, wording.get(one, ""), one)
                splits.setdefault(key, set()).add(other)
    found: list[AnchorAgreement] = []
    for anchor in sorted(landed.keys() | splits.keys()):
        competency, sub_skill, track, family, level = anchor
        rated = landed.get(anchor, [])
        ratings = [v for _, levels in rated for v in levels]
        deviation = sum(abs(v - level) for v in ratings) / len(ratings) if ratings else 0.0
        split_with = sorted(splits.get(anchor, ()))
        reasons = []
        if deviation > MAX_MEAN_DEVIATION:
            reasons.append(
                f"ratings of its examples lie {deviation:.2f} levels from consensus on "
                f"average (more than {MAX_MEAN_DEVIATION})"
            )
        if split_with:
            reasons.append(f"raters split between level {level} and {split_with}")
        found.append(
            AnchorAgreement(
                competency=competency,
                sub_skill=sub_skill or None,
                track=track,
                family=family or None,
                level=level,
                examples=[key for key, _ in rated],
                ratings=len(ratings),
                mean_deviation=deviation,
                split_with=split_with,
                reasons=reasons,
            )
        )
    return found
