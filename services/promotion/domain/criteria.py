"""Promotion criteria per transition, versioned (docs/domain.md §6).

A transition is a move from one level of a job family's track to another: the next level in
the same track, a crossover from the IC track into the manager track, a move from the manager
track back to the IC track (allowed, and not a demotion: docs/domain.md §2), or a lateral move
along one of the framework's lateral paths into another family, at the same grade. Transitions
are derived from a published `Framework`, so nobody can be evaluated for a move the framework
does not have.

Criteria are the objective, recorded bar a move is judged against (docs/domain.md §6): a minimum
calibrated average, a floor no competency may fall below, time operating at the next level,
named scope-evidence items, manager endorsement and confirmation in a calibration session.

Scale. Thresholds are on the framework's own scale (docs/domain.md §2); §6 gives the defaults
on a 1..5 scale (average 3.5, floor 3); on a 0..5 (Dreyfus) framework the same numbers
apply unchanged. Both scales share their top (5, expert) and every proficiency number names the
same anchored level (3 competent, 4 proficient), so 3.5 still means "above competent, on the way
to proficient" and 3 still means "competent". A linear rescaling would turn 3.5 into 3.125 on
0..5, a point no anchor describes, and make the bar easier only because the scale gained a
"not demonstrated" step at the bottom. Each `CriteriaSet` names its scale, and thresholds
outside that scale are refused.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from libs.events.schemas.framework import (
    SCALE_RANGE,
    Framework,
    JobFamily,
    Key,
    Level,
    Scale,
    Track,
    TrackKind,
)
from libs.events.schemas.promotion import Move

# docs/domain.md §6 defaults, on the framework's own scale (see the module docstring).
DEFAULT_MINIMUM_AVERAGE = 3.5
DEFAULT_COMPETENCY_FLOOR = 3.0
# docs/domain.md §6 says "at least 1 to 2 quarters": the default takes the lower end, an
# organisation that wants two raises it per transition.
DEFAULT_QUARTERS_AT_NEXT_LEVEL = 1

TransitionKind = Literal["next_level", "ic_to_manager", "manager_to_ic", "lateral"]
LevelCode = Annotated[str, StringConstraints(min_length=1, max_length=40)]
EvidenceItem = Annotated[
    str,
    StringConstraints(min_length=1, max_length=400, pattern=r"^[^\r\n]*[^\s][^\r\n]*$"),
    Field(description="a named piece of scope evidence, on one line"),
]


class TransitionError(ValueError):
    """A move the framework does not have: unknown family, track or level, top of a track."""


class NoLateralPath(TransitionError):
    """A lateral move between two families the framework joins by no lateral path."""


def _empty(keys: tuple[str, ...]) -> bool:
    return not keys


def kind_of(move: Move) -> TransitionKind:
    """What kind of move it is: within a track to the next level, or into another family on
    the same kind of track (lateral), or across tracks (a crossover, or back to IC)."""
    if move.from_track == move.to_track:
        return "next_level" if move.to_family is None else "lateral"
    return "ic_to_manager" if move.from_track == "ic" else "manager_to_ic"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Transition(Move):
    """A move from (family, from_track, from_level) to (to_track, to_level), in the same
    family or into `to_family`: across tracks, a family holding only a manager track whose
    managers cross over from `family` (or back from it to the family they came from); on the
    same kind of track, a lateral move along the framework's lateral path between the two.

    `leadership_competencies` are the competencies a crossover into the manager track
    requires on top of the target role profile (the framework's `Crossover`); empty otherwise.
    A lateral move carries its path's competencies: `to_acquire` (the path's `gaps`), the only
    ones it is judged on, and `transferable`, which carry over and are not judged again. Both
    are left out of the dump while empty, so transitions recorded before lateral moves
    existed dump back to the bytes the decision log hashed.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    from_level: LevelCode
    to_level: LevelCode
    leadership_competencies: tuple[Key, ...] = ()
    to_acquire: tuple[Key, ...] = Field(
        (),
        description="a lateral move: the lateral path's competencies to acquire (its gaps), "
        "the ones readiness judges",
        exclude_if=_empty,
    )
    transferable: tuple[Key, ...] = Field(
        (),
        description="a lateral move: the lateral path's competencies that carry over, not "
        "judged again",
        exclude_if=_empty,
    )

    @property
    def kind(self) -> TransitionKind:
        return kind_of(self)

    def move(self) -> Move:
        """The move as cases and events name it, without what the framework attaches."""
        return Move(**self.model_dump(include=set(Move.model_fields)))

    def __str__(self) -> str:
        into = f"{self.to_family} " if self.to_family else ""
        return (
            f"{self.family}: {self.from_track} {self.from_level} -> "
            f"{into}{self.to_track} {self.to_level}"
        )

    @model_validator(mode="after")
    def _a_move(self) -> Transition:
        if self.to_family == self.family:
            raise ValueError(f"transition {self}: name to_family only for another family")
        if self.kind == "lateral" and not self.to_acquire:
            raise ValueError(
                f"transition {self}: a lateral move is judged on the competencies its path "
                "names to acquire; it names none"
            )
        if (self.to_acquire or self.transferable) and self.kind != "lateral":
            raise ValueError(
                f"transition {self}: competencies to acquire and transferable ones belong to "
                "a lateral move only"
            )
        if (self.target_family, self.to_track, self.to_level) == (
            self.family,
            self.from_track,
            self.from_level,
        ):
            raise ValueError(f"transition {self} goes nowhere: from and to are the same level")
        if self.leadership_competencies and self.kind != "ic_to_manager":
            raise ValueError(
                f"transition {self}: leadership competencies belong to a crossover into the "
                "manager track only"
            )
        return self


class Criteria(_Frozen):
    """What one transition requires (docs/domain.md §6); defaults are those of §6."""

    minimum_average: float = Field(
        DEFAULT_MINIMUM_AVERAGE,
        ge=0,
        le=5,
        description="lowest calibrated average over the target profile's competencies",
    )
    competency_floor: float = Field(
        DEFAULT_COMPETENCY_FLOOR,
        ge=0,
        le=5,
        description="no competency of the target profile may be calibrated below this",
    )
    quarters_at_next_level: int = Field(
        DEFAULT_QUARTERS_AT_NEXT_LEVEL,
        ge=0,
        le=12,
        description="whole quarters operating at the next level; 0: no time requirement",
    )
    evidence: tuple[EvidenceItem, ...] = Field(
        (),
        description='named scope evidence, e.g. "has led a project with 3 or more '
        'cross-team stakeholders"',
    )
    endorsement_required: bool = True
    calibration_confirmation_required: bool = True

    @model_validator(mode="after")
    def _evidence_named_once(self) -> Criteria:
        repeated = sorted(item for item, n in Counter(self.evidence).items() if n > 1)
        if repeated:
            raise ValueError(f"evidence items must be named once; repeated: {repeated}")
        return self


class CriteriaOverride(_Frozen):
    """Criteria for the transitions matching every field given (None matches anything).

    Level codes are per family, so an override naming levels should name the family too.
    """

    family: Key | None = None
    kind: TransitionKind | None = None
    from_level: LevelCode | None = None
    to_level: LevelCode | None = None
    criteria: Criteria

    def _pattern(self) -> tuple[str | None, ...]:
        return (self.from_level, self.to_level, self.family, self.kind)

    def matches(self, transition: Transition) -> bool:
        actual = (transition.from_level, transition.to_level, transition.family, transition.kind)
        return all(p is None or p == a for p, a in zip(self._pattern(), actual, strict=True))

    def specificity(self) -> tuple[bool, ...]:
        """Which fields are pinned, most telling first: levels, then family, then kind."""
        return tuple(p is not None for p in self._pattern())


class CriteriaSet(_Frozen):
    """One numbered version of an organisation's promotion criteria, on one scale.

    `criteria_for` picks the most specific matching override, else the default. Specificity
    compares which fields an override pins, in the order from_level, to_level, family, kind:
    an override naming a level beats one naming a family, which beats one naming a kind. Two
    overrides pinning the same fields to the same values are refused, so the choice is never
    left to list order. An override replaces the default as a whole: what a transition
    requires is readable in one place.
    """

    version: int = Field(ge=1)
    scale: Scale = Field("0..5", description="the framework's scale the thresholds are on")
    default: Criteria = Criteria()
    overrides: tuple[CriteriaOverride, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> CriteriaSet:
        scale = SCALE_RANGE[self.scale]
        low, high = scale.start, scale.stop - 1
        for where, criteria in [("default", self.default)] + [
            (f"override {o._pattern()}", o.criteria) for o in self.overrides
        ]:
            for name in ("minimum_average", "competency_floor"):
                value = getattr(criteria, name)
                if not low <= value <= high:
                    raise ValueError(
                        f"criteria version {self.version}, {where}: {name} {value} is outside "
                        f"the scale {self.scale}"
                    )
        patterns = [o._pattern() for o in self.overrides]
        repeated = sorted({p for p in patterns if patterns.count(p) > 1}, key=str)
        if repeated:
            raise ValueError(
                f"criteria version {self.version}: overrides repeat the same match {repeated}"
            )
        return self

    def criteria_for(self, transition: Transition) -> Criteria:
        matching = [o for o in self.overrides if o.matches(transition)]
        if not matching:
            return self.default
        return max(matching, key=CriteriaOverride.specificity).criteria


# -- transitions derived from a framework ------------------------------------------------------


def _family(framework: Framework, family: str) -> JobFamily:
    found = framework.family(family)
    if found is None:
        known = [f.key for f in framework.families]
        raise TransitionError(f"framework has no job family {family!r}; families: {known}")
    return found


def _track(family: JobFamily, kind: TrackKind) -> Track:
    track = family.track(kind)
    if track is None:
        raise TransitionError(f"family {family.key!r} has no {kind} track")
    return track


def _levels(track: Track) -> list[Level]:
    """Junior to senior, by grade (a published framework lists them so already)."""
    return sorted(track.levels, key=lambda lv: lv.grade)


def _level(family: JobFamily, track: Track, code: str) -> Level:
    found = next((lv for lv in track.levels if lv.code == code), None)
    if found is None:
        codes = [lv.code for lv in _levels(track)]
        raise TransitionError(
            f"family {family.key!r} {track.kind} track has no level {code!r}; levels: {codes}"
        )
    return found


def next_level(framework: Framework, family: str, track: TrackKind, level: str) -> Transition:
    """The move to the next level (by grade) of the same track.

    Raises TransitionError at the top of the track: there is no next level to promote to.
    """
    fam = _family(framework, family)
    trk = _track(fam, track)
    current = _level(fam, trk, level)
    above = [lv for lv in _levels(trk) if lv.grade > current.grade]
    if not above:
        raise TransitionError(
            f"level {level!r} is the top of the {track} track of family {family!r}: "
            "there is no next level in this track"
        )
    return Transition(
        family=fam.key, from_track=track, from_level=level, to_track=track, to_level=above[0].code
    )


def _across(
    family: JobFamily, current: Level, target: Track, to_level: str | None, what: str
) -> Level:
    """The target level of a move across tracks: the one named, else the lowest level of the
    target track whose grade is not below the current one. Moving across tracks never lowers
    the grade: going back to IC is not a demotion (docs/domain.md §2)."""
    if to_level is not None:
        named = _level(family, target, to_level)
        if named.grade < current.grade:
            raise TransitionError(
                f"family {family.key!r}: {what} from {current.code!r} (grade {current.grade}) "
                f"to {named.code!r} (grade {named.grade}) would lower the grade"
            )
        return named
    reachable = [lv for lv in _levels(target) if lv.grade >= current.grade]
    if not reachable:
        raise TransitionError(
            f"family {family.key!r}: {what} from {current.code!r} (grade {current.grade}) has "
            f"no {target.kind} level at grade {current.grade} or above"
        )
    return reachable[0]


def _managers_for(framework: Framework, ic_family: JobFamily, named: str | None) -> JobFamily:
    """The family whose manager track an IC of `ic_family` crosses over into: `named`, else
    `ic_family` itself when its own manager track takes its ICs, else the one family holding
    a manager track whose crossover names `ic_family`."""
    if named is not None:
        return _family(framework, named)
    own = ic_family.track("manager")
    if own is not None and own.crossover is not None and own.crossover.from_family is None:
        return ic_family
    elsewhere = [
        f
        for f in framework.families
        if (m := f.track("manager")) is not None
        and m.crossover is not None
        and m.crossover.from_family == ic_family.key
    ]
    if len(elsewhere) > 1:
        raise TransitionError(
            f"family {ic_family.key!r}: the managers of {[f.key for f in elsewhere]} all cross "
            "over from it; name the family to move into"
        )
    return elsewhere[0] if elsewhere else ic_family


def crossover(
    framework: Framework,
    family: str,
    from_level: str,
    to_level: str | None = None,
    to_family: str | None = None,
) -> Transition:
    """The move from an IC level into a manager track: the family's own, or that of the
    family whose managers cross over from it (`to_family`, found when only one does).

    Allowed from the crossover point (the IC level the manager track's `Crossover` names) or
    any IC level above it. The target is `to_level` when given, else the lowest manager level
    at the IC level's grade or above (at the crossover point: the entry level of the manager
    track). The crossover's leadership competencies travel with the transition.
    """
    fam = _family(framework, family)
    ic = _track(fam, "ic")
    managed = _managers_for(framework, fam, to_family)
    manager = _track(managed, "manager")
    if manager.crossover is None:
        raise TransitionError(
            f"family {managed.key!r}: the manager track names no crossover point, so there is "
            "no move from the IC track into it"
        )
    source = manager.crossover.from_family or managed.key
    if source != fam.key:
        raise TransitionError(
            f"family {managed.key!r}: its managers cross over from family {source!r}, not "
            f"{fam.key!r}"
        )
    point = _level(fam, ic, manager.crossover.from_level)
    current = _level(fam, ic, from_level)
    if current.grade < point.grade:
        raise TransitionError(
            f"family {managed.key!r}: the manager track is entered from IC {point.code!r} of "
            f"family {fam.key!r} or above; {from_level!r} is below the crossover point"
        )
    target = _across(managed, current, manager, to_level, "a crossover")
    return Transition(
        family=fam.key,
        from_track="ic",
        from_level=from_level,
        to_track="manager",
        to_level=target.code,
        to_family=None if managed.key == fam.key else managed.key,
        leadership_competencies=tuple(manager.crossover.leadership_competencies),
    )


def back_to_ic(
    framework: Framework, family: str, from_level: str, to_level: str | None = None
) -> Transition:
    """The move from a manager level back to the IC track: not a demotion (docs/domain.md §2).
    A family holding only a manager track sends its managers back to the IC track of the
    family they crossed over from.

    The target is `to_level` when given, else the IC level of the same grade, or failing that
    the nearest one above (the IC track reaches as high as the manager track, so one exists in
    a valid framework).
    """
    fam = _family(framework, family)
    manager = _track(fam, "manager")
    current = _level(fam, manager, from_level)
    came_from = manager.crossover.from_family if manager.crossover else None
    ic_family = _family(framework, came_from) if came_from else fam
    ic = _track(ic_family, "ic")
    target = _across(ic_family, current, ic, to_level, "a move back to the IC track")
    return Transition(
        family=fam.key,
        from_track="manager",
        from_level=from_level,
        to_track="ic",
        to_level=target.code,
        to_family=None if ic_family.key == fam.key else ic_family.key,
    )


def lateral(
    framework: Framework,
    family: str,
    track: TrackKind,
    level: str,
    to_family: str,
    to_level: str | None = None,
) -> Transition:
    """The lateral move from a level of `family` into `to_family`, along the framework's
    lateral path from the one to the other (a path runs one way: the way back is a path of
    its own).

    The target is on `to_family`'s track of the same kind, at the same grade: grades are the
    organisation-wide band (docs/domain.md §2), so a lateral move neither promotes nor
    demotes. It is `to_level` when given (refused unless at that grade), else the one level of
    that track at the grade. No such path, track or level raises; so does a path naming no
    competency to acquire, since there would be nothing to judge the move on.
    """
    fam = _family(framework, family)
    current = _level(fam, _track(fam, track), level)
    into = _family(framework, to_family)
    path = next(
        (p for p in framework.lateral_paths if (p.from_family, p.to_family) == (fam.key, into.key)),
        None,
    )
    if path is None:
        offered = [p.to_family for p in framework.lateral_paths if p.from_family == fam.key]
        raise NoLateralPath(
            f"the framework has no lateral path from family {fam.key!r} to {into.key!r}; "
            f"from {fam.key!r} it has lateral paths to: {offered or 'none'}"
        )
    target_track = _track(into, track)
    if to_level is not None:
        target = _level(into, target_track, to_level)
        if target.grade != current.grade:
            raise TransitionError(
                f"a lateral move keeps the grade: {into.key!r} {track} {target.code!r} is grade "
                f"{target.grade}, {fam.key!r} {track} {current.code!r} grade {current.grade}"
            )
    else:
        same = [lv for lv in _levels(target_track) if lv.grade == current.grade]
        if len(same) != 1:
            codes = [f"{lv.code} (grade {lv.grade})" for lv in _levels(target_track)]
            raise TransitionError(
                f"family {into.key!r} {track} track has "
                f"{'several levels' if same else 'no level'} at grade {current.grade}, the "
                f"grade of {fam.key!r} {current.code!r}"
                + ("; name to_level" if same else "")
                + f"; levels: {codes}"
            )
        target = same[0]
    if not path.gaps:
        raise TransitionError(
            f"the lateral path from {fam.key!r} to {into.key!r} names no competency to "
            "acquire: there is nothing to judge a lateral move on"
        )
    acquire = tuple(dict.fromkeys(path.gaps))
    return Transition(
        family=fam.key,
        from_track=track,
        from_level=level,
        to_track=track,
        to_level=target.code,
        to_family=into.key,
        to_acquire=acquire,
        transferable=tuple(k for k in dict.fromkeys(path.transferable) if k not in acquire),
    )


def transitions_from(
    framework: Framework, family: str, track: TrackKind, level: str
) -> list[Transition]:
    """Every move the framework offers from a level: the next level in the track (unless at
    the top), then the crossover (IC at or above the crossover point, into the family's own
    manager track or that of the family whose managers cross over from it) or the move back
    to IC (manager), then a lateral move along each lateral path from the family. Unknown
    family, track or level raise."""
    fam = _family(framework, family)
    _level(fam, _track(fam, track), level)
    makers: list[Callable[[], Transition]] = [lambda: next_level(framework, family, track, level)]
    if track == "manager":
        makers.append(lambda: back_to_ic(framework, family, level))
    else:
        makers += [
            lambda into=managed.key: crossover(framework, family, level, to_family=into)
            for managed in framework.families
            if (m := managed.track("manager")) is not None
            and m.crossover is not None
            and (m.crossover.from_family or managed.key) == fam.key
        ]
    makers += [
        lambda into=path.to_family: lateral(framework, family, track, level, into)
        for path in framework.lateral_paths
        if path.from_family == fam.key
    ]
    moves: list[Transition] = []
    for make in makers:
        try:
            moves.append(make())
        except TransitionError:
            continue
    return moves
