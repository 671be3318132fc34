"""Gaps against a role other than the person's own (docs/domain.md §5, Gaps; §2, lateral
paths; §6, Lateral moves).

A role of the person's own family is measured on its whole profile, as their own role is;
so is a role across a crossover (an individual contributor into the manager track entered
from their family, or a manager back to the IC track their managers come from): promotion
judges those moves on the whole profile as well.

A lateral move is what promotion judges as one: into another family along the framework's
lateral path from the person's family, onto the same kind of track at the same grade. Such a
role is measured as that move is judged: the path's competencies to acquire are the gaps,
each against the target role's own target; the transferable ones carry over and are not
gaps; nothing else of the target profile is compared. A competency to acquire the target role
sets no target for has no level to measure against: it is named, without a gap.

Another role of a family a path leads to (another grade, or the other kind of track) is not
a lateral move: reaching it is a lateral move and then a move within that family, which
promotion judges on the whole profile. It is measured on the whole target profile
(`role_profile`), and `not_lateral` says why the path was not used.

With no path between the two families the framework says nothing of what carries over, and
promotion refuses the move: refused here too (NoLateralPath), rather than guessed from the
whole profile, which would ask again for what the person does in their own family and plan
towards a move the organisation has no route for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from libs.events.schemas.framework import (
    EffectiveRoleProfile,
    Framework,
    LateralPath,
    RoleProfile,
)
from services.development.domain.gaps import Gap, gaps

Basis = Literal["role_profile", "lateral_path"]


class NoLateralPath(ValueError):
    """The target role is in another family, and the framework has no lateral path there
    from the person's family; the message names the paths it has from it."""


@dataclass(frozen=True, slots=True)
class Against:
    """The person's gaps against a target role, and what they were measured on."""

    basis: Basis
    gaps: list[Gap]
    # Along a lateral path: the path, the competencies that carry over (not gaps), and those
    # to acquire that the target role sets no target for (no gap to measure).
    path: LateralPath | None = None
    carried_over: tuple[str, ...] = ()
    without_target: tuple[str, ...] = ()
    # On the whole profile although a lateral path leads into the target's family: why.
    not_lateral: str | None = None


def lateral_path(framework: Framework, from_family: str, to_family: str) -> LateralPath | None:
    """The path from one family to the other; a path runs one way only."""
    return next(
        (
            p
            for p in framework.lateral_paths
            if (p.from_family, p.to_family) == (from_family, to_family)
        ),
        None,
    )


def grade_of(framework: Framework, role: RoleProfile) -> int | None:
    """The grade of the role's level in its family's track (None: the framework has no such
    level)."""
    family = framework.family(role.family)
    track = None if family is None else family.track(role.track)
    levels = [] if track is None else track.levels
    return next((lv.grade for lv in levels if lv.code == role.level), None)


def crosses_over(framework: Framework, own: RoleProfile, target: EffectiveRoleProfile) -> bool:
    """A move between a family's IC track and the manager track entered from it (the manager
    track may be another family's: one holding only managers, who come from this one)."""
    if own.track == target.track:
        return False
    ic_family, manager_family = (
        (own.family, target.family) if own.track == "ic" else (target.family, own.family)
    )
    family = framework.family(manager_family)
    track = None if family is None else family.track("manager")
    crossover = None if track is None else track.crossover
    return crossover is not None and (crossover.from_family or manager_family) == ic_family


def against(
    framework: Framework,
    own: RoleProfile | None,
    target: EffectiveRoleProfile,
    scores: Mapping[str, float | None],
) -> Against:
    """The gaps of someone in role `own` (None: a role the framework no longer has, so no
    family to start from: the whole profile) against `target`, from their calibrated
    scores. Raises NoLateralPath for another family's role that no path leads to; a role
    of a family a path leads to is measured along it only on the same kind of track at the
    same grade (a lateral move), on its whole profile otherwise."""
    if own is None or own.family == target.family or crosses_over(framework, own, target):
        return Against("role_profile", gaps(target, scores))
    path = lateral_path(framework, own.family, target.family)
    if path is None:
        offered = [p.to_family for p in framework.lateral_paths if p.from_family == own.family]
        raise NoLateralPath(
            f"the framework has no lateral path from family {own.family!r} to "
            f"{target.family!r}, so nothing says what carries over into {target.key!r}; "
            f"from {own.family!r} it has lateral paths to: {offered or 'none'}"
        )
    grade = grade_of(framework, own)
    if (own.track, grade) != (target.track, target.grade):
        return Against(
            "role_profile",
            gaps(target, scores),
            not_lateral=(
                f"{target.key!r} ({target.track}, grade {target.grade}) is not a lateral move "
                f"from {own.key!r} ({own.track}, grade {grade}): a lateral move keeps the kind "
                f"of track and the grade, so the path from {own.family!r} to "
                f"{target.family!r} does not apply and the whole role profile is compared"
            ),
        )
    return along(path, target, scores)


def along(
    path: LateralPath, target: EffectiveRoleProfile, scores: Mapping[str, float | None]
) -> Against:
    """The gaps along a lateral path: the competencies to acquire, against the target role's
    targets, in its profile's order. One named both to acquire and transferable is acquired:
    the path asks for it to be shown in the new family."""
    acquire = set(path.gaps)
    found = [g for g in gaps(target, scores) if g.competency in acquire]
    measured = {g.competency for g in found}
    return Against(
        "lateral_path",
        found,
        path,
        carried_over=tuple(c for c in path.transferable if c not in acquire),
        without_target=tuple(c for c in path.gaps if c not in measured),
    )
