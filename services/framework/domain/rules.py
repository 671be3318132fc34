"""Publication rules for a framework (docs/domain.md §2): what must hold before a version is
published. Errors block publishing; warnings are returned with the version but do not block.
The limits (role caps, behavioural floor, functional competencies per family) are the
framework's own `Policy`, defaulting to the domain's; a policy that departs from a default is
reported as a warning, so every publication says which defaults it moved.

Every problem names its rule, so HR and the tests can tell them apart, and says what to fix
with the numbers involved. `validate` never raises: any framework the model accepts, however
inconsistent, gets a list of problems.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Literal

from pydantic import BaseModel, ConfigDict

from libs.events.schemas.framework import (
    SCALE_RANGE,
    Anchor,
    EffectiveRoleProfile,
    Framework,
    JobFamily,
    Policy,
    Tier,
    Track,
)
from services.framework.domain.profiles import effective_profiles, level_of

CAP_NAMES: dict[Tier, str] = {
    "individual_contributor": "individual contributors",
    "manager": "managers",
    "director": "directors",
}
DEFAULT_POLICY = Policy()
NORMAL_LEVELS_PER_FAMILY = range(4, 8)


class Problem(BaseModel):
    model_config = ConfigDict(frozen=True)

    rule: str
    severity: Literal["error", "warning"]
    message: str
    path: str = ""
    role: str | None = None

    def __str__(self) -> str:
        return f"[{self.rule}] {self.message}"


def validate(
    framework: Framework, profiles: dict[str, EffectiveRoleProfile] | None = None
) -> list[Problem]:
    """Every problem with the framework, errors first, in document order within each.

    `profiles`: its effective role profiles, when the caller has them already.
    """
    problems = [
        *_policy(framework.policy),
        *_unique_keys(framework),
        *_families(framework),
        *_competencies(framework),
        *_deployment_rules(framework),
        *_lateral_paths(framework),
        *_roles(framework),
        *_effective_profiles(
            framework, effective_profiles(framework) if profiles is None else profiles
        ),
    ]
    return sorted(problems, key=lambda p: p.severity != "error")


def errors(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def _error(rule: str, message: str, path: str = "", role: str | None = None) -> Problem:
    return Problem(rule=rule, severity="error", message=message, path=path, role=role)


def _warning(rule: str, message: str, path: str = "", role: str | None = None) -> Problem:
    return Problem(rule=rule, severity="warning", message=message, path=path, role=role)


def _repeated(values: Iterable[str]) -> list[str]:
    return sorted(v for v, n in Counter(values).items() if n > 1)


def _policy(policy: Policy) -> Iterator[Problem]:
    """One warning per limit the framework moved from the domain's default. The approvals
    a review round needs limit no document: publishing refuses without them and the version
    names who approved (services/framework/domain/authoring.py)."""
    review = {"approvals_required"}
    for name, value, default in _departures(
        policy.model_dump(mode="json", exclude=review),
        DEFAULT_POLICY.model_dump(mode="json", exclude=review),
    ):
        yield _warning(
            "policy",
            f"the policy sets {name} to {value}, departing from the default {default}",
            f"policy.{name}",
        )


def _departures(
    values: dict[str, object], defaults: dict[str, object], prefix: str = ""
) -> Iterator[tuple[str, object, object]]:
    for name, default in defaults.items():
        value = values[name]
        if isinstance(default, dict) and isinstance(value, dict):
            yield from _departures(value, default, f"{prefix}{name}.")
        elif value != default:
            yield f"{prefix}{name}", value, default


def _unique_keys(framework: Framework) -> Iterator[Problem]:
    collections: dict[str, Iterable[str]] = {
        "categories": (c.key for c in framework.categories),
        "families": (f.key for f in framework.families),
        "competencies": (c.key for c in framework.competencies),
        "roles": (r.key for r in framework.roles),
        "rules": (r.key for r in framework.rules),
    }
    for name, keys in collections.items():
        if dupes := _repeated(keys):
            yield _error("unique-keys", f"{name} keys must be unique; repeated: {dupes}", name)
    # Both the organisation's term and the standard term stay valid names: neither may be
    # ambiguous.
    if dupes := _repeated(c.name.casefold() for c in framework.competencies):
        yield _error("vocabulary", f"competency names must be unique; repeated: {dupes}")
    by_name = {c.name.casefold(): c.key for c in framework.competencies}
    for c, competency in enumerate(framework.competencies):
        term = competency.standard_term
        other = by_name.get(term.casefold(), competency.key) if term else competency.key
        if other != competency.key:
            yield _error(
                "vocabulary",
                f"competency {competency.key!r} maps to standard term {term!r}, which is the "
                f"name of competency {other!r}: a term must name one competency",
                f"competencies[{c}].standard_term",
            )


def _families(framework: Framework) -> Iterator[Problem]:
    for f, family in enumerate(framework.families):
        path = f"families[{f}]"
        kinds = [t.kind for t in family.tracks]
        if dupes := _repeated(kinds):
            yield _error("tracks", f"family {family.key!r} has more than one {dupes} track", path)
        if "ic" not in kinds and _crossover_family(family) == family.key:
            yield _error(
                "tracks",
                f"family {family.key!r} has no IC track: give it one, or name in its manager "
                "track's crossover the family (from_family) and IC level its managers cross "
                "over from",
                path,
            )
        if dupes := _repeated(lv.code for t in family.tracks for lv in t.levels):
            yield _error("levels", f"family {family.key!r} repeats level codes {dupes}", path)
        for t, track in enumerate(family.tracks):
            for lv in track.levels:
                if track.kind == "ic" and lv.tier not in (None, "individual_contributor"):
                    yield _error(
                        "tiers",
                        f"family {family.key!r} IC level {lv.code!r} has tier {lv.tier!r}: "
                        "IC levels are individual contributors (cap "
                        f"{framework.policy.role_caps.individual_contributor}), however senior",
                        f"{path}.tracks[{t}].levels",
                    )
            grades = [lv.grade for lv in track.levels]
            if grades != sorted(set(grades)):
                yield _error(
                    "levels",
                    f"family {family.key!r} {track.kind} track: grades must rise from junior "
                    f"to senior without repeats; got {grades}",
                    f"{path}.tracks[{t}].levels",
                )
            if track.kind == "ic" and len(track.levels) not in NORMAL_LEVELS_PER_FAMILY:
                yield _warning(
                    "levels-per-family",
                    f"family {family.key!r} has {len(track.levels)} IC levels; 4 to 7 is normal",
                    f"{path}.tracks[{t}].levels",
                )
        yield from _track_height(framework, family, path)
        yield from _crossover(framework, family, path)


def _crossover_family(family: JobFamily) -> str:
    """The family whose IC track this family's managers cross over from."""
    manager = family.track("manager")
    crossover = manager.crossover if manager else None
    return crossover.from_family if crossover and crossover.from_family else family.key


def _ic_track_beside(framework: Framework, family: JobFamily) -> tuple[str, Track | None]:
    """The IC track a family's manager track stands beside: its own, else the one of the
    family its managers cross over from."""
    if (own := family.track("ic")) is not None:
        return family.key, own
    source = framework.family(_crossover_family(family))
    return (source.key, source.track("ic")) if source else (family.key, None)


def _track_height(framework: Framework, family: JobFamily, path: str) -> Iterator[Problem]:
    """Equal prestige: the IC track reaches as high as the manager track, across families
    when the managers cross over from another family."""
    manager = family.track("manager")
    owner, ic = _ic_track_beside(framework, family)
    if ic is None or manager is None:
        return
    top_ic = max(lv.grade for lv in ic.levels)
    top_manager = max(lv.grade for lv in manager.levels)
    if top_ic < top_manager:
        whose = "the IC track" if owner == family.key else f"the IC track of family {owner!r}"
        yield _error(
            "ic-track-height",
            f"family {family.key!r}: {whose} tops out at grade {top_ic} but the manager "
            f"track reaches grade {top_manager}; the IC track must reach as high as the "
            "manager track",
            path,
        )


def _crossover(framework: Framework, family: JobFamily, path: str) -> Iterator[Problem]:
    source = framework.family(_crossover_family(family))
    ic = source.track("ic") if source else None
    ic_codes = {lv.code for lv in ic.levels} if ic else set()
    for t, track in enumerate(family.tracks):
        where = f"{path}.tracks[{t}].crossover"
        if track.kind == "ic" and track.crossover is not None:
            yield _error(
                "crossover",
                f"family {family.key!r}: only a manager track has a crossover point",
                where,
            )
        if track.kind != "manager":
            continue
        if track.crossover is None:
            yield _warning(
                "crossover",
                f"family {family.key!r}: the manager track names no crossover point (the IC "
                "level from which one may enter it)",
                where,
            )
            continue
        if source is None:
            yield _error(
                "references",
                f"family {family.key!r}: its managers cross over from unknown family "
                f"{track.crossover.from_family!r}",
                where,
            )
        elif track.crossover.from_level not in ic_codes:
            whose = "its IC track" if source is family else f"family {source.key!r}'s IC track"
            yield _error(
                "crossover",
                f"family {family.key!r}: crossover level {track.crossover.from_level!r} is not "
                f"a level of {whose} {sorted(ic_codes)}",
                where,
            )
        for key in track.crossover.leadership_competencies:
            competency = framework.competency(key)
            if competency is None or competency.kind != "leadership":
                yield _error(
                    "crossover",
                    f"family {family.key!r}: crossover competency {key!r} is not a leadership "
                    "competency of this framework",
                    where,
                )


def _competencies(framework: Framework) -> Iterator[Problem]:
    categories = {c.key for c in framework.categories}
    families = {f.key for f in framework.families}
    for c, competency in enumerate(framework.competencies):
        path = f"competencies[{c}]"
        name = repr(competency.key)
        if competency.category is not None and competency.category not in categories:
            yield _error(
                "references", f"competency {name}: unknown category {competency.category!r}", path
            )
        if competency.kind == "functional" and competency.family not in families:
            yield _error(
                "references",
                f"functional competency {name} must name its job family; "
                f"{competency.family!r} is not one of {sorted(families)}",
                path,
            )
        if competency.kind != "functional" and competency.family is not None:
            yield _error(
                "references",
                f"{competency.kind} competency {name} belongs to no family; remove its family",
                path,
            )
        if dupes := _repeated(s.key for s in competency.sub_skills):
            yield _error("unique-keys", f"competency {name} repeats sub-skills {dupes}", path)
        yield from _anchors(framework, f"competency {name}", competency.anchors, path)
        for s, skill in enumerate(competency.sub_skills):
            owner = f"competency {name} sub-skill {skill.key!r}"
            yield from _anchors(framework, owner, skill.anchors, f"{path}.sub_skills[{s}]")
        if framework.granularity == "sub_skill" and not competency.sub_skills:
            yield _error(
                "granularity",
                f"competency {name} has no sub-skills, but the framework assesses at "
                "sub-skill level",
                path,
            )
    counts = Counter(c.family for c in framework.competencies if c.kind == "functional")
    low = framework.policy.functional_per_family_min
    high = framework.policy.functional_per_family_max
    for family in framework.families:
        if not low <= counts[family.key] <= high:
            yield _warning(
                "functional-per-family",
                f"family {family.key!r} has {counts[family.key]} functional competencies; "
                f"{low} to {high} per family is the practical ceiling",
            )


def _anchors(
    framework: Framework, owner: str, anchors: list[Anchor], path: str
) -> Iterator[Problem]:
    """A competency's anchors, or a sub-skill's: one per place, each on the scale and for a
    family of the framework."""
    if dupes := _repeated(
        f"{a.family + ' ' if a.family else ''}{a.track} {a.proficiency}" for a in anchors
    ):
        yield _error(
            "anchors",
            f"{owner} has more than one anchor for {dupes}: one sentence per "
            "proficiency level and track (and family, for a family's own wording)",
            path,
        )
    families = {f.key for f in framework.families}
    for a, anchor in enumerate(anchors):
        if anchor.family is not None and anchor.family not in families:
            yield _error(
                "references",
                f"{owner}: anchor for unknown family {anchor.family!r}",
                f"{path}.anchors[{a}]",
            )
        if anchor.proficiency not in SCALE_RANGE[framework.scale]:
            yield _error(
                "scale",
                f"{owner}: anchor at proficiency {anchor.proficiency} is off the "
                f"framework's {framework.scale} scale",
                f"{path}.anchors[{a}]",
            )


def _deployment_rules(framework: Framework) -> Iterator[Problem]:
    families = {f.key for f in framework.families}
    for r, rule in enumerate(framework.rules):
        path = f"rules[{r}]"
        if framework.competency(rule.competency) is None:
            yield _error(
                "references",
                f"deployment rule {rule.key!r}: unknown competency {rule.competency!r}",
                path,
            )
        if rule.scope == "level" and rule.from_grade is None:
            yield _error("deployment", f"level rule {rule.key!r} needs from_grade", path)
        if rule.scope == "core" and (rule.from_grade, rule.track, rule.family) != (None,) * 3:
            yield _error(
                "deployment",
                f"core rule {rule.key!r} reaches every role: remove from_grade, track and family",
                path,
            )
        if rule.family is not None and rule.family not in families:
            yield _error(
                "references", f"deployment rule {rule.key!r}: unknown family {rule.family!r}", path
            )
        yield from _target_on_scale(framework, rule.target, f"deployment rule {rule.key!r}", path)


def _lateral_paths(framework: Framework) -> Iterator[Problem]:
    families = {f.key for f in framework.families}
    pairs = [(p.from_family, p.to_family) for p in framework.lateral_paths]
    if dupes := _repeated(f"{a}->{b}" for a, b in pairs):
        yield _error("lateral-paths", f"lateral paths are given twice: {dupes}", "lateral_paths")
    for p, lateral in enumerate(framework.lateral_paths):
        path = f"lateral_paths[{p}]"
        if lateral.from_family == lateral.to_family:
            yield _error(
                "lateral-paths",
                f"lateral path from {lateral.from_family!r} to itself: a lateral path "
                "joins two families",
                path,
            )
        for family in (lateral.from_family, lateral.to_family):
            if family not in families:
                yield _error("references", f"lateral path: unknown family {family!r}", path)
        for key in (*lateral.transferable, *lateral.gaps):
            if framework.competency(key) is None:
                yield _error("references", f"lateral path: unknown competency {key!r}", path)


def _roles(framework: Framework) -> Iterator[Problem]:
    if not framework.roles:
        yield _error("roles", "the framework has no role profiles: nothing could be assessed")
    seen: dict[tuple[str, str, str], str] = {}
    for r, role in enumerate(framework.roles):
        path = f"roles[{r}]"
        name = repr(role.key)
        if level_of(framework, role) is None:
            yield _error(
                "references",
                f"role {name}: family {role.family!r} has no {role.track} level {role.level!r}",
                path,
                role.key,
            )
        place = (role.family, role.track, role.level)
        if place in seen:
            yield _error(
                "roles",
                f"roles {seen[place]!r} and {role.key!r} are both {role.family} {role.track} "
                f"{role.level}: one role profile per level, so the grid has one cell each",
                path,
                role.key,
            )
        seen.setdefault(place, role.key)
        if dupes := _repeated(q.competency for q in role.requirements):
            yield _error("roles", f"role {name} lists {dupes} more than once", path, role.key)
        for q, requirement in enumerate(role.requirements):
            where = f"{path}.requirements[{q}]"
            if framework.competency(requirement.competency) is None:
                yield _error(
                    "references",
                    f"role {name}: unknown competency {requirement.competency!r}",
                    where,
                    role.key,
                )
            yield from _target_on_scale(framework, requirement.target, f"role {name}", where)


def _target_on_scale(
    framework: Framework, target: int | None, owner: str, path: str
) -> Iterator[Problem]:
    if target is not None and target not in SCALE_RANGE[framework.scale]:
        yield _error(
            "scale",
            f"{owner}: target proficiency {target} is off the framework's {framework.scale} scale",
            path,
        )


def _effective_profiles(
    framework: Framework, profiles: dict[str, EffectiveRoleProfile]
) -> Iterator[Problem]:
    unanchored: dict[tuple[str, str, int], list[str]] = {}
    for profile in profiles.values():
        yield from _role_size(profile, framework.policy)
        yield from _competency_scope(framework, profile)
        for requirement in profile.requirements:
            target = requirement.target
            if target is None:
                yield _error(
                    "target-proficiency",
                    f"role {profile.key!r}: competency {requirement.competency!r} has no target "
                    "proficiency",
                    role=profile.key,
                )
                continue
            competency = framework.competency(requirement.competency)
            if competency is None:
                continue
            if competency.anchor(profile.track, target, profile.family) is None:
                place = (f"competency {competency.key!r}", profile.track, target)
                unanchored.setdefault(place, []).append(profile.key)
            if framework.granularity != "sub_skill":
                continue
            # A sub-skill with anchors of its own on the role's track is rated against them
            # instead of the competency's: they must describe the target too.
            for skill in competency.sub_skills:
                if (
                    skill.wording(profile.track, profile.family)
                    and skill.anchor(profile.track, target, profile.family) is None
                ):
                    place = (f"sub-skill '{competency.key}/{skill.key}'", profile.track, target)
                    unanchored.setdefault(place, []).append(profile.key)
    yield from _core_everywhere(framework, profiles)
    # Every proficiency level a role expects must be described on that role's track.
    for (owner, track, target), roles in unanchored.items():
        yield _error(
            "anchors-present",
            f"{owner} has no {track}-track anchor for proficiency {target}, "
            f"which roles {roles} expect",
            role=roles[0],
        )


def _core_everywhere(
    framework: Framework, profiles: dict[str, EffectiveRoleProfile]
) -> Iterator[Problem]:
    """A core competency is for everyone: say which roles it does not reach (a core rule
    deploys it to all, including roles created later)."""
    for competency in framework.competencies:
        if competency.kind != "core":
            continue
        missing = [
            key
            for key, profile in profiles.items()
            if all(q.competency != competency.key for q in profile.requirements)
        ]
        if missing:
            yield _warning(
                "core-everywhere",
                f"core competency {competency.key!r} does not reach {len(missing)} role(s) "
                f"{missing[:5]}{'...' if len(missing) > 5 else ''}: deploy it with a core rule",
            )


def _competency_scope(framework: Framework, profile: EffectiveRoleProfile) -> Iterator[Problem]:
    """Functional competencies belong to one family; leadership ones to managers and above."""
    for requirement in profile.requirements:
        competency = framework.competency(requirement.competency)
        if competency is None:
            continue
        if competency.kind == "functional" and competency.family != profile.family:
            yield _error(
                "functional-family",
                f"role {profile.key!r} of family {profile.family!r} has {competency.key!r}, a "
                f"functional competency of family {competency.family!r}: functional "
                "competencies are specific to their job family",
                role=profile.key,
            )
        if competency.kind == "leadership" and profile.track == "ic":
            yield _warning(
                "leadership-scope",
                f"role {profile.key!r} is on the IC track but has leadership competency "
                f"{competency.key!r}: leadership competencies are for managers and above",
                role=profile.key,
            )


def _role_size(profile: EffectiveRoleProfile, policy: Policy) -> Iterator[Problem]:
    """The policy's caps and behavioural floor, on the effective profile."""
    role = f"role {profile.key!r} ({profile.family} {profile.track} {profile.level})"
    size = len(profile.requirements)
    cap = policy.role_caps.of(profile.tier)
    if size > cap:
        yield _error(
            "role-cap",
            f"{role} has {size} competencies; the cap for {CAP_NAMES[profile.tier]} is {cap} "
            f"(policy.role_caps.{profile.tier})",
            role=profile.key,
        )
    behavioural = sum(1 for q in profile.requirements if q.nature == "behavioural")
    if behavioural < policy.behavioural_minimum:
        yield _error(
            "behavioural-minimum",
            f"{role} has {behavioural} behavioural competencies; at least "
            f"{policy.behavioural_minimum} are required",
            role=profile.key,
        )
    one_in = policy.behavioural_one_in
    if behavioural * one_in < size:
        yield _error(
            "behavioural-share",
            f"{role} has {behavioural} behavioural competencies of {size}; at least one in "
            f"{one_in} ({-(-size // one_in)}) must be behavioural",
            role=profile.key,
        )
