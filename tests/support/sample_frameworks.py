"""Small frameworks for tests: one that passes every publication rule, and helpers deriving
variants from it (each helper returns a new frozen `Framework` via `model_copy`).

`valid_framework()` yields no problem at all, not even a warning, so a test that breaks one
rule can expect exactly that rule's problems. Its shape:

- family `eng`: IC track L1..L4 (grades 1..4) and a manager track M1 (grade 3) and M2 (grade 4,
  director tier), entered from L2 with the leadership competency `coaching`;
- three core behavioural competencies, each deployed to every role by a core rule (target 2);
- `coaching` (leadership, behavioural) deployed by a level rule to the manager track, grade 3 up;
- five functional technical competencies of `eng`, two of them in every IC role, `design` in
  the manager roles, targets rising with the level;
- every competency anchored on both tracks at proficiencies 1..5.

`wide_framework()` is written the way large organisations write theirs: roles of 15
competencies, and managers in a family of their own; it publishes under `WIDE_POLICY` only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from libs.events.registry import Event
from libs.events.schemas.assessment import (
    AnchorFindingsRecorded,
    AnchorSpread,
    InconsistentAnchorsFound,
)
from libs.events.schemas.framework import (
    Anchor,
    Competency,
    CompetencyCategory,
    CompetencyKind,
    Crossover,
    DeploymentRule,
    Framework,
    JobFamily,
    LateralPath,
    Level,
    Nature,
    Policy,
    Requirement,
    RoleCaps,
    RoleProfile,
    SubSkill,
    Tier,
    Track,
    TrackKind,
)
from services.framework.domain.drafting import FrameworkAggregate

FAMILY = "eng"
CORE = ("collaboration", "ownership", "communication")
LEADERSHIP = "coaching"
FUNCTIONAL = ("coding", "testing", "design", "operations", "security")
DATA_FUNCTIONAL = ("analysis", "modelling", "statistics", "visualisation", "pipelines")
PROFICIENCIES = range(1, 6)
TRACKS: tuple[TrackKind, ...] = ("ic", "manager")
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


# -- building blocks ------------------------------------------------------------------------


def anchors(
    name: str,
    tracks: Iterable[TrackKind] = TRACKS,
    proficiencies: Iterable[int] = PROFICIENCIES,
) -> list[Anchor]:
    who = {"ic": "an individual contributor", "manager": "a manager"}
    return [
        Anchor(track=t, proficiency=p, text=f"{name} as {who[t]} shows it at step {p}.")
        for t in tracks
        for p in proficiencies
    ]


def competency(
    key: str,
    kind: CompetencyKind,
    nature: Nature,
    *,
    family: str | None = None,
    category: str | None = None,
) -> Competency:
    name = key.replace("-", " ").capitalize()
    return Competency(
        key=key,
        name=name,
        kind=kind,
        nature=nature,
        family=family,
        category=category or ("behaviour" if nature == "behavioural" else "craft"),
        anchors=anchors(name),
    )


def level(code: str, grade: int, tier: Tier | None = None) -> Level:
    return Level(code=code, name=f"Level {code}", grade=grade, tier=tier)


def role(
    key: str,
    track: TrackKind,
    level_code: str,
    targets: Mapping[str, int | None],
    family: str = FAMILY,
) -> RoleProfile:
    return RoleProfile(
        key=key,
        name=f"Role {key}",
        family=family,
        track=track,
        level=level_code,
        requirements=[Requirement(competency=c, target=t) for c, t in targets.items()],
    )


def core_rule(competency_key: str, target: int = 2) -> DeploymentRule:
    return DeploymentRule(
        key=f"core-{competency_key}", scope="core", competency=competency_key, target=target
    )


def level_rule(
    key: str,
    competency_key: str,
    from_grade: int,
    target: int = 3,
    track: TrackKind | None = None,
    family: str | None = None,
) -> DeploymentRule:
    return DeploymentRule(
        key=key,
        scope="level",
        competency=competency_key,
        target=target,
        from_grade=from_grade,
        track=track,
        family=family,
    )


def extra_competencies(
    count: int, nature: Nature = "technical", prefix: str = "extra"
) -> list[Competency]:
    """Anchored filler: functional ones of `eng` when technical, leadership when behavioural."""
    if nature == "technical":
        return [
            competency(f"{prefix}-{i}", "functional", "technical", family=FAMILY)
            for i in range(1, count + 1)
        ]
    return [competency(f"{prefix}-{i}", "leadership", "behavioural") for i in range(1, count + 1)]


# -- the valid sample -------------------------------------------------------------------------


def eng_family() -> JobFamily:
    return JobFamily(
        key=FAMILY,
        name="Engineering",
        tracks=[
            Track(kind="ic", levels=[level(f"L{g}", g) for g in range(1, 5)]),
            Track(
                kind="manager",
                levels=[level("M1", 3), level("M2", 4, tier="director")],
                crossover=Crossover(from_level="L2", leadership_competencies=[LEADERSHIP]),
            ),
        ],
    )


def valid_framework() -> Framework:
    return Framework(
        name="Test engineering",
        categories=[
            CompetencyCategory(key="behaviour", name="Behaviour"),
            CompetencyCategory(key="craft", name="Craft"),
        ],
        families=[eng_family()],
        competencies=[
            *(competency(k, "core", "behavioural") for k in CORE),
            competency(LEADERSHIP, "leadership", "behavioural"),
            *(competency(k, "functional", "technical", family=FAMILY) for k in FUNCTIONAL),
        ],
        roles=[
            role("eng-l1", "ic", "L1", {"coding": 1, "testing": 1}),
            role("eng-l2", "ic", "L2", {"coding": 2, "testing": 2}),
            role("eng-l3", "ic", "L3", {"coding": 3, "testing": 3}),
            role("eng-l4", "ic", "L4", {"coding": 4, "testing": 3}),
            role("eng-m1", "manager", "M1", {"design": 3}),
            role("eng-m2", "manager", "M2", {"design": 4}),
        ],
        rules=[
            *(core_rule(k) for k in CORE),
            level_rule("managers-coach", LEADERSHIP, from_grade=3, track="manager"),
        ],
    )


def with_data_family(framework: Framework) -> Framework:
    """A second, IC-only family `data` (D1..D4, grades 1..4) that also validates cleanly."""
    family = JobFamily(
        key="data",
        name="Data",
        tracks=[Track(kind="ic", levels=[level(f"D{g}", g) for g in range(1, 5)])],
    )
    return framework.model_copy(
        update={
            "families": [*framework.families, family],
            "competencies": [
                *framework.competencies,
                *(competency(k, "functional", "technical", family="data") for k in DATA_FUNCTIONAL),
            ],
            "roles": [
                *framework.roles,
                *(
                    role(f"data-d{g}", "ic", f"D{g}", {"analysis": g, "statistics": g}, "data")
                    for g in range(1, 5)
                ),
            ],
        }
    )


# The lateral path of `with_lateral_path`: from `eng` into `data`, the core competencies carry
# over and two of data's own are to be acquired.
LATERAL_GAPS = ("analysis", "statistics")


def with_lateral_path(
    framework: Framework,
    from_family: str = FAMILY,
    to_family: str = "data",
    transferable: Iterable[str] = CORE,
    gaps: Iterable[str] = LATERAL_GAPS,
) -> Framework:
    """`framework` (with `with_data_family`'s `data` by default) and a lateral path between
    two of its families; it publishes as cleanly."""
    path = LateralPath(
        from_family=from_family,
        to_family=to_family,
        transferable=list(transferable),
        gaps=list(gaps),
    )
    return framework.model_copy(update={"lateral_paths": [*framework.lateral_paths, path]})


WIDE_CORE = ("collaboration", "ownership", "communication", "judgement", "curiosity")
WIDE_LEADERSHIP = ("coaching", "hiring", "delegation", "strategy")
WIDE_CRAFT = tuple(f"craft-{i}" for i in range(1, 11))
WIDE_MANAGEMENT = tuple(f"management-{i}" for i in range(1, 7))
WIDE_POLICY = Policy(
    role_caps=RoleCaps(individual_contributor=15, manager=15, director=15),
    functional_per_family_max=10,
)


def wide_framework() -> Framework:
    """Family `eng`: IC track L1..L4 (grades 1..4), each role 5 core + 10 functional = 15
    competencies. Family `em`: a manager track only, M1 (grade 3) and M2 (grade 4, director),
    whose managers cross over from `eng` at L2; each role 5 core + 4 leadership + 6 functional
    = 15. `eng` has 10 functional competencies, `em` 6. Under the default policy every role
    breaks its cap; under `WIDE_POLICY` nothing but the policy's departures is reported."""
    manager_track = Track(
        kind="manager",
        levels=[level("M1", 3), level("M2", 4, tier="director")],
        crossover=Crossover(
            from_family=FAMILY, from_level="L2", leadership_competencies=[WIDE_LEADERSHIP[0]]
        ),
    )
    return Framework(
        name="Wide engineering",
        categories=[
            CompetencyCategory(key="behaviour", name="Behaviour"),
            CompetencyCategory(key="craft", name="Craft"),
        ],
        families=[
            JobFamily(
                key=FAMILY,
                name="Engineering",
                tracks=[Track(kind="ic", levels=[level(f"L{g}", g) for g in range(1, 5)])],
            ),
            JobFamily(key="em", name="Engineering management", tracks=[manager_track]),
        ],
        competencies=[
            *(competency(k, "core", "behavioural") for k in WIDE_CORE),
            *(competency(k, "leadership", "behavioural") for k in WIDE_LEADERSHIP),
            *(competency(k, "functional", "technical", family=FAMILY) for k in WIDE_CRAFT),
            *(competency(k, "functional", "technical", family="em") for k in WIDE_MANAGEMENT),
        ],
        roles=[
            *(role(f"eng-l{g}", "ic", f"L{g}", dict.fromkeys(WIDE_CRAFT, g)) for g in range(1, 5)),
            *(
                role(
                    f"em-m{g - 2}",
                    "manager",
                    f"M{g - 2}",
                    dict.fromkeys((*WIDE_LEADERSHIP, *WIDE_MANAGEMENT), g),
                    family="em",
                )
                for g in (3, 4)
            ),
        ],
        rules=[core_rule(k) for k in WIDE_CORE],
    )


# -- deriving variants ------------------------------------------------------------------------


def replace_role(framework: Framework, key: str, **update: Any) -> Framework:
    roles = [r.model_copy(update=update) if r.key == key else r for r in framework.roles]
    return framework.model_copy(update={"roles": roles})


def add_requirements(
    framework: Framework, role_key: str, targets: Mapping[str, int | None]
) -> Framework:
    found = framework.role(role_key)
    assert found is not None, role_key
    added = [Requirement(competency=c, target=t) for c, t in targets.items()]
    return replace_role(framework, role_key, requirements=[*found.requirements, *added])


def without_roles(framework: Framework, *keys: str) -> Framework:
    return framework.model_copy(update={"roles": [r for r in framework.roles if r.key not in keys]})


def with_competencies(framework: Framework, *competencies: Competency) -> Framework:
    return framework.model_copy(update={"competencies": [*framework.competencies, *competencies]})


def replace_competency(framework: Framework, key: str, **update: Any) -> Framework:
    competencies = [
        c.model_copy(update=update) if c.key == key else c for c in framework.competencies
    ]
    return framework.model_copy(update={"competencies": competencies})


def with_standard_terms(
    framework: Framework, terms: dict[str, str], taxonomy: str | None = None
) -> Framework:
    """The framework with these competencies (by key) mapped to these standard terms."""
    for key, term in terms.items():
        framework = replace_competency(framework, key, standard_term=term)
    return framework.model_copy(update={"taxonomy": taxonomy or framework.taxonomy})


def without_competencies(framework: Framework, *keys: str) -> Framework:
    return framework.model_copy(
        update={"competencies": [c for c in framework.competencies if c.key not in keys]}
    )


def without_anchors(
    framework: Framework,
    competency_key: str,
    track: TrackKind,
    proficiencies: Iterable[int] = PROFICIENCIES,
) -> Framework:
    found = framework.competency(competency_key)
    assert found is not None, competency_key
    dropped = set(proficiencies)
    kept = [a for a in found.anchors if not (a.track == track and a.proficiency in dropped)]
    return replace_competency(framework, competency_key, anchors=kept)


def reword_anchor(
    framework: Framework, competency_key: str, track: TrackKind, proficiency: int, text: str
) -> Framework:
    found = framework.competency(competency_key)
    assert found is not None, competency_key
    reworded = [
        a.model_copy(update={"text": text})
        if (a.track, a.proficiency) == (track, proficiency)
        else a
        for a in found.anchors
    ]
    return replace_competency(framework, competency_key, anchors=reworded)


def with_family_anchor(
    framework: Framework,
    competency_key: str,
    family: str,
    track: TrackKind,
    proficiency: int,
    text: str,
) -> Framework:
    """The competency gets `family`'s own wording for one track and proficiency."""
    found = framework.competency(competency_key)
    assert found is not None, competency_key
    own = Anchor(track=track, proficiency=proficiency, text=text, family=family)
    return replace_competency(framework, competency_key, anchors=[*found.anchors, own])


def with_sub_skill(framework: Framework, competency_key: str, skill: SubSkill) -> Framework:
    """The competency gets one more sub-skill."""
    found = framework.competency(competency_key)
    assert found is not None, competency_key
    return replace_competency(framework, competency_key, sub_skills=[*found.sub_skills, skill])


def assessed_per_sub_skill(framework: Framework) -> Framework:
    """Granularity `sub_skill`: every competency without sub-skills gets one, `basics`, which
    reads its competency's anchors."""
    basics = [
        c
        if c.sub_skills
        else c.model_copy(update={"sub_skills": [SubSkill(key="basics", name=f"Shows {c.name}")]})
        for c in framework.competencies
    ]
    return framework.model_copy(update={"granularity": "sub_skill", "competencies": basics})


def with_rules(framework: Framework, *rules: DeploymentRule) -> Framework:
    return framework.model_copy(update={"rules": [*framework.rules, *rules]})


def without_rules(framework: Framework, *keys: str) -> Framework:
    return framework.model_copy(update={"rules": [r for r in framework.rules if r.key not in keys]})


def replace_track(
    framework: Framework, family_key: str, kind: TrackKind, **update: Any
) -> Framework:
    families = [
        f.model_copy(
            update={
                "tracks": [t.model_copy(update=update) if t.kind == kind else t for t in f.tracks]
            }
        )
        if f.key == family_key
        else f
        for f in framework.families
    ]
    return framework.model_copy(update={"families": families})


def replace_level(
    framework: Framework, family_key: str, kind: TrackKind, code: str, **update: Any
) -> Framework:
    family = framework.family(family_key)
    track = family.track(kind) if family else None
    assert track is not None, (family_key, kind)
    levels = [lv.model_copy(update=update) if lv.code == code else lv for lv in track.levels]
    return replace_track(framework, family_key, kind, levels=levels)


def add_level(framework: Framework, family_key: str, kind: TrackKind, new: Level) -> Framework:
    family = framework.family(family_key)
    track = family.track(kind) if family else None
    assert track is not None, (family_key, kind)
    return replace_track(framework, family_key, kind, levels=[*track.levels, new])


# -- driving the aggregate --------------------------------------------------------------------


def apply_all(aggregate: FrameworkAggregate, events: Iterable[Event]) -> None:
    """Apply a command's events as if they had been appended to the stream."""
    for event in events:
        aggregate.apply(event, aggregate.stream_version + 1)


def aggregate_with(framework: Framework, framework_id: str = "eng") -> FrameworkAggregate:
    """An aggregate whose draft is `framework`, as after an import; nothing published yet."""
    aggregate = FrameworkAggregate(framework_id)
    apply_all(aggregate, aggregate.replace(framework, source="tests"))
    return aggregate


def anchors_found_inconsistent(framework_id: str) -> InconsistentAnchorsFound:
    """What calibration session `autumn` found about version 1's anchors, as the assessment
    service publishes it: raters read `design` very differently, `testing` a little."""
    return InconsistentAnchorsFound(
        session_id="autumn",
        framework_id=framework_id,
        framework_version=1,
        anchors=[
            AnchorSpread(competency="testing", flagged_items=2, compared_items=10, share=0.2),
            AnchorSpread(competency="design", flagged_items=6, compared_items=10, share=0.6),
        ],
    )


def findings_on_version_1(framework_id: str) -> AnchorFindingsRecorded:
    """What calibration session `autumn-eng` of campaign `autumn` found about version 1 of
    `valid_framework`, as the assessment service publishes it: raters read coding's anchor
    for L3 differently, too many L4s are outliers on testing, which a third of its raters
    marked not relevant to L4 and most left unscored."""
    l3 = {"family": FAMILY, "track": "ic", "level": "L3"}
    l4 = {"family": FAMILY, "track": "ic", "level": "L4"}
    return AnchorFindingsRecorded.model_validate(
        {
            "session_id": "autumn-eng",
            "campaign_id": "autumn",
            "framework_id": framework_id,
            "framework_version": 1,
            "anchors": [
                {
                    "kind": "inconsistent_use",
                    "competency": "coding",
                    **l3,
                    "items": 10,
                    "flagged": 4,
                },
                {"kind": "outliers", "competency": "testing", **l4, "items": 8, "flagged": 2},
            ],
            "not_relevant": [{"competency": "testing", **l4, "marked": 6, "answered": 12}],
            "use": [{"competency": "testing", **l4, "subjects": 8, "unscored": 5, "at_target": 1}],
        }
    )
