"""Readiness (docs/domain.md §6), always computed from this service's own read models: the
calibrated scores `CalibrationCompleted` brought, the framework version those scores were
calibrated under (its target role profile), the start of the person's current level in the
org chart the HRIS feeds, and the latest criteria version."""

from __future__ import annotations

from typing import Any, cast, get_args

from libs.events.schemas.framework import Framework, TrackKind
from libs.events.schemas.promotion import Move
from libs.replicas.people import Person
from services.promotion.application.criteria import in_force
from services.promotion.application.ports import Acting, Calibrated, Work
from services.promotion.application.promotion import Promotion, may_read
from services.promotion.domain.cases import Case, CaseRefused, WrongState
from services.promotion.domain.criteria import (
    Transition,
    TransitionError,
    lateral,
    next_level,
    transitions_from,
)
from services.promotion.domain.readiness import (
    HrisPosition,
    Readiness,
    evaluate,
    target_competencies,
)


async def readiness_of(
    promotion: Promotion,
    employee_id: str,
    actor: Acting,
    to_track: TrackKind | None = None,
    to_level: str | None = None,
    to_family: str | None = None,
) -> Readiness:
    """Where the person stands against a target (default: the next level in their track)
    on their latest calibration, before any case: endorsement, confirmation and evidence
    show as not yet there."""
    async with promotion.uow.transaction() as tx:
        await may_read(promotion, tx, actor, employee_id)
        calibrated = await tx.records.latest_calibration(employee_id)
        if calibrated is None or calibrated.position is None:
            raise WrongState(f"no calibration has scored {employee_id!r} in a position yet")
        scores = calibrated.scores
        framework = await framework_at(tx, scores.framework_id, scores.framework_version)
        family, track, level = calibrated.position
        label = framework_label(scores.framework_id, scores.framework_version)
        move = move_from(framework, label, family, track, level, to_track, to_level, to_family)
        readiness, _ = await judge(promotion, tx, employee_id, move, scores.framework_id, None)
        return readiness


async def judge(
    promotion: Promotion,
    tx: Work,
    employee_id: str,
    move: Move,
    framework_id: str | None,
    case: Case | None,
) -> tuple[Readiness, Calibrated]:
    """The person's readiness for the move now, on their latest calibration (on the case's
    framework), with what the case holds; and that calibration."""
    calibrated = await tx.records.latest_calibration(employee_id, framework_id)
    if calibrated is None:
        raise WrongState(
            f"no calibration has scored {employee_id!r} yet: readiness needs calibrated "
            "scores (docs/domain.md §6)"
        )
    scores = calibrated.scores
    framework = await framework_at(tx, scores.framework_id, scores.framework_version)
    transition = transition_at(
        framework, framework_label(scores.framework_id, scores.framework_version), move
    )
    profile = await tx.frameworks.role_profile(
        scores.framework_id,
        scores.framework_version,
        (move.target_family, move.to_track, move.to_level),
    )
    if profile is None:
        raise WrongState(
            f"framework {scores.framework_id!r} version {scores.framework_version} has no "
            f"role profile at {move.target_family} {move.to_track} {move.to_level}"
        )
    # Time at level is judged on the HRIS's level start, when the HRIS has the person in the
    # position moved from; a person the org chart does not know has none, and the criterion
    # is then not met (docs/domain.md §6, Readiness).
    person = await tx.org_chart.person(employee_id)
    readiness = evaluate(
        await in_force(promotion, tx),
        transition,
        scores,
        required_competencies=target_competencies(profile, transition),
        as_of=promotion.clock().date(),
        hris_position=hris_position(person),
        level_since=person.level_since if person else None,
        nominated_since=case.operating_since if case else None,
        evidence=case.evidence if case else None,
        endorsed_by=case.endorsed_by if case else None,
        confirmed_in_session=case.confirmed_in_session if case else None,
    )
    return readiness, calibrated


def hris_position(person: Person | None) -> HrisPosition | None:
    """Where the HRIS has the person, when the org chart holds a whole position of theirs."""
    if person is None:
        return None
    family, track, level = person.job_family, person.track, person.level
    if family is None or track is None or level is None:
        return None
    return HrisPosition(family=family, track=track, level=level)


def basis(readiness: Readiness) -> dict[str, Any]:
    """What a readiness was judged on, as the integration events carry it."""
    return {
        "criteria_version": readiness.criteria_version,
        "session_id": readiness.calibration.session_id,
        "framework_id": readiness.calibration.framework_id,
        "framework_version": readiness.calibration.framework_version,
    }


async def framework_at(tx: Work, framework_id: str, version: int) -> Framework:
    framework = await tx.frameworks.framework(framework_id, version)
    if framework is None:
        raise WrongState(
            f"framework {framework_id!r} version {version} has not reached the promotion "
            "service yet; try again once it is published"
        )
    return framework


async def framework_with(
    tx: Work, family: str, framework_id: str | None
) -> tuple[str, int, Framework]:
    """The latest version of the one framework (or of the one named) with the job family."""
    latest: dict[str, int] = {}
    for k in await tx.frameworks.all():
        if framework_id in (None, k.framework_id):
            latest[k.framework_id] = max(latest.get(k.framework_id, 0), k.version)
    having = []
    for fid, version in sorted(latest.items()):
        framework = await framework_at(tx, fid, version)
        if framework.family(family) is not None:
            having.append((fid, version, framework))
    if not having:
        raise WrongState(f"no published framework has the job family {family!r}")
    if len(having) > 1:
        names = [fid for fid, _, _ in having]
        raise CaseRefused(f"several frameworks have job family {family!r}: name one of {names}")
    return having[0]


def framework_label(framework_id: str, version: int) -> str:
    return f"framework {framework_id!r} version {version}"


def move_from(
    framework: Framework,
    label: str,
    family: str,
    position_track: str,
    level: str,
    to_track: TrackKind | None,
    to_level: str | None,
    to_family: str | None = None,
) -> Move:
    """The move from a position: the next level in the track unless a target is named (and,
    where two families' tracks offer it, the family moved into). Another family on the same
    track is a lateral move, and only then: a move named without that family is never taken
    for one, so a target level whose code another family shares stays the move it was."""
    if position_track not in get_args(TrackKind):
        raise WrongState(f"{position_track!r} is not a track of the framework: no move from it")
    track = cast(TrackKind, position_track)
    if to_track is None and to_level is None and to_family is None:
        t = next_level(framework, family, track, level)
    elif to_family not in (None, family) and to_track in (None, track):
        # Its own errors say what is missing: the path, the track or the level at the grade.
        t = lateral(framework, family, track, level, to_family, to_level)
    else:
        wanted = (to_track or track, to_level)
        offered = transitions_from(framework, family, track, level)
        found = [
            m
            for m in offered
            if (m.to_track, m.to_level if to_level else None) == wanted
            and to_family in (None, m.target_family)
            and m.kind != "lateral"
        ]
        if len(found) != 1:
            moves = [
                f"{m.to_family + ' ' if m.to_family else ''}{m.to_track} {m.to_level}"
                for m in offered
            ] or ["none"]
            raise TransitionError(
                f"{label} offers {'several moves' if found else 'no move'} "
                f"from {family} {track} {level} to {wanted[0]} {to_level or ''}".rstrip()
                + f"; it offers: {', '.join(moves)}"
                + ("; more than one family has that level: name to_family" if found else "")
            )
        t = found[0]
    return t.move()


def transition_at(framework: Framework, label: str, move: Move) -> Transition:
    """The case's move as that framework version defines it (with its crossover's
    leadership competencies): a version that dropped the move cannot judge it."""
    for t in transitions_from(framework, move.family, move.from_track, move.from_level):
        if (t.target_family, t.to_track, t.to_level) == (
            move.target_family,
            move.to_track,
            move.to_level,
        ):
            return t
    raise TransitionError(
        f"{label} has no move "
        f"{move.family}: {move.from_track} {move.from_level} to {move.to_track} {move.to_level}"
    )
