"""Effective role profiles and the grid (docs/domain.md §2, Role profile and Deployment scopes).

A role's effective profile is its own requirements (including one-time pushes) plus every
standing deployment rule that reaches it: a core rule reaches every role, whenever either was
created; a level rule reaches roles at its grade and above. Each competency appears once, with
every origin that put it there; the role's own target wins over a rule's. Where the role's
family words some of a competency's anchors its own way, the requirement carries the anchors
the role reads, so a questionnaire shows the family's wording without knowing about families;
elsewhere it carries none and the track's common anchors apply (which keeps profiles, and the
events announcing them, as small as before family wording existed).
"""

from __future__ import annotations

from libs.events.schemas.framework import (
    DeploymentRule,
    EffectiveRequirement,
    EffectiveRoleProfile,
    Framework,
    Level,
    RoleProfile,
    Tier,
    TrackKind,
)

DEFAULT_TIER: dict[TrackKind, Tier] = {"ic": "individual_contributor", "manager": "manager"}


def level_of(framework: Framework, role: RoleProfile) -> Level | None:
    family = framework.family(role.family)
    track = family.track(role.track) if family else None
    return next((lv for lv in track.levels if lv.code == role.level), None) if track else None


def reaches(rule: DeploymentRule, role: RoleProfile, level: Level) -> bool:
    """Whether a standing rule puts its competency into this role."""
    if rule.scope == "core":
        return True
    return (
        rule.from_grade is not None
        and level.grade >= rule.from_grade
        and rule.track in (None, role.track)
        and rule.family in (None, role.family)
    )


def effective_profile(framework: Framework, role: RoleProfile) -> EffectiveRoleProfile | None:
    """None when the role names a level its family's track does not have."""
    level = level_of(framework, role)
    if level is None:
        return None
    merged: dict[str, EffectiveRequirement] = {}

    def add(key: str, target: int | None, behaviours: list[str], origin: str) -> None:
        competency = framework.competency(key)
        if competency is None:
            return  # a dangling reference: reported by the publication rules
        if (known := merged.get(key)) is not None:
            merged[key] = known.model_copy(
                update={
                    "target": known.target if known.target is not None else target,
                    "behaviours": known.behaviours or behaviours,
                    "origins": [*known.origins, origin],
                }
            )
            return
        merged[key] = EffectiveRequirement(
            competency=key,
            name=competency.name,
            kind=competency.kind,
            nature=competency.nature,
            target=target,
            behaviours=behaviours,
            origins=[origin],
            anchors=competency.family_wording(role.track, role.family),
        )

    for requirement in role.requirements:
        add(requirement.competency, requirement.target, requirement.behaviours, requirement.origin)
    for rule in framework.rules:
        if reaches(rule, role, level):
            add(rule.competency, rule.target, [], f"{rule.scope}:{rule.key}")
    return EffectiveRoleProfile(
        key=role.key,
        name=role.name,
        family=role.family,
        track=role.track,
        level=role.level,
        grade=level.grade,
        tier=level.tier or DEFAULT_TIER[role.track],
        requirements=list(merged.values()),
    )


def effective_profiles(framework: Framework) -> dict[str, EffectiveRoleProfile]:
    """Every role whose level exists, by role key."""
    profiles = (effective_profile(framework, role) for role in framework.roles)
    return {p.key: p for p in profiles if p is not None}


def grid(
    framework: Framework, family: str, track: TrackKind
) -> dict[str, dict[str, EffectiveRequirement]]:
    """Rows are competencies, columns are level codes; a cell is the leveled expectation.

    Levels without a role profile have no column entries; a competency absent at a level has
    no cell there.
    """
    job_family = framework.family(family)
    ladder = job_family.track(track) if job_family else None
    profiles = {
        p.level: p
        for p in effective_profiles(framework).values()
        if p.family == family and p.track == track
    }
    rows: dict[str, dict[str, EffectiveRequirement]] = {}
    for level in ladder.levels if ladder else []:  # columns junior to senior
        if (profile := profiles.get(level.code)) is not None:
            for requirement in profile.requirements:
                rows.setdefault(requirement.competency, {})[level.code] = requirement
    return rows
