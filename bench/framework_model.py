"""A generated career framework of the size the framework benchmark asks for.

10 job families, each with an IC track and a manager track of 7 levels (grades 1..7, the IC
track as high as the manager track, crossover from IC level 3), and 12 competencies per
family: 8 functional ones of its own (6 technical, 2 behavioural) plus 2 core behavioural
competencies deployed to every role by core rules and 2 leadership competencies deployed to
every manager role by level rules. Every competency has an anchor for each proficiency 1..5
on both tracks. One role profile per family x track x level (140), each within its cap:

- IC (cap 8): the 2 core, 1 behavioural functional and 5 technical competencies.
- Manager, grades 1-5 (cap 10): the 2 core, the 2 leadership, 2 behavioural functional and
  4 technical competencies.
- Manager, grades 6-7, tier director (cap 12): all 12 of the family.

All text is generated from the word lists below (seeded, so every run publishes the same
document). `reworded(framework, n)` gives version n's minor revision: a few anchors reworded.
"""

from __future__ import annotations

import random

from libs.events.schemas.framework import (
    Anchor,
    Competency,
    CompetencyCategory,
    Crossover,
    DeploymentRule,
    Framework,
    JobFamily,
    LateralPath,
    Level,
    LevelDescriptor,
    Requirement,
    RoleProfile,
    SubSkill,
    Track,
    TrackKind,
)

FAMILIES = 10
LEVELS = 7
COMPETENCIES_PER_FAMILY = 12
PROFICIENCIES = range(1, 6)
CROSSOVER_LEVEL = 3
DIRECTOR_FROM_GRADE = 6
TRACKS: tuple[TrackKind, ...] = ("ic", "manager")

FAMILY_NAMES = (
    "Platform Engineering",
    "Data Analytics",
    "Product Management",
    "Experience Design",
    "Field Sales",
    "Customer Support",
    "Financial Planning",
    "People Partnering",
    "Brand Marketing",
    "Information Security",
)
TECHNICAL_TOPICS = (
    "domain knowledge",
    "tooling",
    "quality practice",
    "planning and estimation",
    "operational health",
    "measurement",
)
BEHAVIOURAL_TOPICS = ("stakeholder partnership", "craft mentoring")
CORE = (("clear-communication", "Clear communication"), ("teamwork", "Teamwork"))
LEADERSHIP = (("coaching", "Coaching"), ("direction-setting", "Direction setting"))

# A role's target proficiency by grade; functional competencies shift it by their index.
TARGET_BY_GRADE = {1: 1, 2: 2, 3: 2, 4: 3, 5: 4, 6: 4, 7: 5}

_VERBS = (
    "applies",
    "adapts",
    "reviews",
    "shapes",
    "explains",
    "improves",
    "plans",
    "questions",
    "documents",
    "balances",
    "prioritises",
    "simplifies",
)
_OBJECTS = (
    "the practices of {topic}",
    "decisions that touch {topic}",
    "the team's approach to {topic}",
    "trade-offs in {topic}",
    "shared standards for {topic}",
    "the risks that {topic} carries",
    "the next steps in {topic}",
)
_REACH = {
    1: ("with guidance on familiar tasks", "on well-defined pieces of work", "when asked"),
    2: ("on their own for routine work", "within a single project", "with occasional review"),
    3: ("independently across the team's work", "for a whole workstream", "without prompting"),
    4: ("across several teams", "when the situation is ambiguous", "and helps others do so"),
    5: (
        "for the whole organisation",
        "and sets the direction others follow",
        "where no precedent exists",
    ),
}
_TRACK_ANGLE = {
    "ic": ("in their own work", "through hands-on contribution", "by example"),
    "manager": ("through the people they lead", "by building team habits", "by setting goals"),
}
_EVIDENCE = (
    "Peers can point to recent examples.",
    "The outcome is visible in the work delivered.",
    "Others seek them out for it.",
    "Their reviews show it consistently.",
    "It holds up under time pressure.",
)
_SCOPE = ("a task", "a feature", "a project", "a product area", "a portfolio", "a function")
_AUTONOMY = ("close guidance", "regular check-ins", "light review", "full ownership")
_IMPACT = ("their own output", "their team", "several teams", "the business line", "the company")


class _Writer:
    """Generated sentences, from a seeded random source."""

    def __init__(self, seed: int = 2026) -> None:
        self.random = random.Random(seed)

    def pick(self, options: tuple[str, ...]) -> str:
        return self.random.choice(options)

    def anchor(self, topic: str, track: TrackKind, proficiency: int) -> str:
        verb, obj = self.pick(_VERBS), self.pick(_OBJECTS).format(topic=topic)
        return (
            f"{verb.capitalize()} {obj} {self.pick(_REACH[proficiency])}, "
            f"{self.pick(_TRACK_ANGLE[track])}. {self.pick(_EVIDENCE)}"
        )

    def description(self, topic: str) -> str:
        return (
            f"How well someone {self.pick(_VERBS)} {self.pick(_OBJECTS).format(topic=topic)} "
            f"and {self.pick(_VERBS)} {self.pick(_OBJECTS).format(topic=topic)}."
        )

    def behaviour(self, topic: str, grade: int) -> str:
        reach = self.pick(_REACH[TARGET_BY_GRADE[grade]])
        return (
            f"{self.pick(_VERBS).capitalize()} {self.pick(_OBJECTS).format(topic=topic)} {reach}."
        )

    def descriptor(self, grade: int) -> LevelDescriptor:
        step = (grade - 1) * len(_SCOPE) // LEVELS
        reach = self.pick(_REACH[TARGET_BY_GRADE[grade]])
        return LevelDescriptor(
            scope=f"Works on {_SCOPE[step]} at a time, {reach}.",
            autonomy=f"Operates with {_AUTONOMY[(grade - 1) * len(_AUTONOMY) // LEVELS]}.",
            impact=f"Shapes the results of {_IMPACT[(grade - 1) * len(_IMPACT) // LEVELS]}.",
        )


def _slug(name: str) -> str:
    return name.lower().replace(" ", "-")


def _competency(
    writer: _Writer,
    key: str,
    name: str,
    *,
    kind: str,
    nature: str,
    category: str,
    family: str | None = None,
) -> Competency:
    topic = name.lower()
    return Competency(
        key=key,
        name=name,
        category=category,
        kind=kind,  # type: ignore[arg-type]
        nature=nature,  # type: ignore[arg-type]
        family=family,
        description=writer.description(topic),
        sub_skills=[
            SubSkill(key=f"{key}.{n}", name=writer.behaviour(topic, 3 + n)) for n in range(3)
        ],
        anchors=[
            Anchor(track=track, proficiency=p, text=writer.anchor(topic, track, p))
            for track in TRACKS
            for p in PROFICIENCIES
        ],
    )


def _levels(writer: _Writer, kind: TrackKind) -> list[Level]:
    prefix = "IC" if kind == "ic" else "M"
    title = "Individual contributor" if kind == "ic" else "Manager"
    return [
        Level(
            code=f"{prefix}{grade}",
            name=f"{title} {grade}",
            grade=grade,
            tier="director" if kind == "manager" and grade >= DIRECTOR_FROM_GRADE else None,
            descriptor=writer.descriptor(grade),
        )
        for grade in range(1, LEVELS + 1)
    ]


def _target(grade: int, shift: int = 0) -> int:
    return max(1, min(5, TARGET_BY_GRADE[grade] + shift))


def _requirements(
    writer: _Writer,
    framework_competencies: dict[str, Competency],
    keys: list[str],
    grade: int,
) -> list[Requirement]:
    return [
        Requirement(
            competency=key,
            target=_target(grade, (i % 3) - 1 if grade not in (1, LEVELS) else 0),
            behaviours=[writer.behaviour(framework_competencies[key].name.lower(), grade)],
        )
        for i, key in enumerate(keys)
    ]


def build_framework(seed: int = 2026) -> Framework:
    """The benchmark's framework, identical for the same seed."""
    writer = _Writer(seed)
    categories = [
        CompetencyCategory(key="craft", name="Craft"),
        CompetencyCategory(key="ways-of-working", name="Ways of working"),
        CompetencyCategory(key="leadership", name="Leadership"),
    ]
    competencies = [
        _competency(
            writer, key, name, kind="core", nature="behavioural", category="ways-of-working"
        )
        for key, name in CORE
    ] + [
        _competency(
            writer, key, name, kind="leadership", nature="behavioural", category="leadership"
        )
        for key, name in LEADERSHIP
    ]
    families: list[JobFamily] = []
    roles: list[RoleProfile] = []
    by_key = {c.key: c for c in competencies}
    core_keys = [key for key, _ in CORE]
    leadership_keys = [key for key, _ in LEADERSHIP]
    for name in FAMILY_NAMES[:FAMILIES]:
        family = _slug(name)
        technical = [
            _competency(
                writer,
                f"{family}.{_slug(topic)}",
                f"{name}: {topic}",
                kind="functional",
                nature="technical",
                category="craft",
                family=family,
            )
            for topic in TECHNICAL_TOPICS
        ]
        behavioural = [
            _competency(
                writer,
                f"{family}.{_slug(topic)}",
                f"{name}: {topic}",
                kind="functional",
                nature="behavioural",
                category="ways-of-working",
                family=family,
            )
            for topic in BEHAVIOURAL_TOPICS
        ]
        competencies += technical + behavioural
        by_key.update({c.key: c for c in technical + behavioural})
        tech = [c.key for c in technical]
        behav = [c.key for c in behavioural]
        families.append(
            JobFamily(
                key=family,
                name=name,
                description=writer.description(name.lower()),
                tracks=[
                    Track(kind="ic", levels=_levels(writer, "ic")),
                    Track(
                        kind="manager",
                        levels=_levels(writer, "manager"),
                        crossover=Crossover(
                            from_level=f"IC{CROSSOVER_LEVEL}",
                            leadership_competencies=leadership_keys,
                        ),
                    ),
                ],
            )
        )
        for grade in range(1, LEVELS + 1):
            # IC: 2 core + 1 behavioural + 5 technical = 8, 3 behavioural.
            ic = [*core_keys, behav[grade % 2], *tech[grade > 3 :][:5]]
            if grade >= DIRECTOR_FROM_GRADE:  # director: all 12 of the family
                manager = [*core_keys, *leadership_keys, *behav, *tech]
            else:  # manager: 2 core + 2 leadership + 2 behavioural + 4 technical = 10
                manager = [*core_keys, *leadership_keys, *behav, *tech[grade % 3 :][:4]]
            for track, keys in (("ic", ic), ("manager", manager)):
                code = f"{'IC' if track == 'ic' else 'M'}{grade}"
                roles.append(
                    RoleProfile(
                        key=f"{family}.{code.lower()}",
                        name=f"{name} {'engineer' if track == 'ic' else 'manager'} {grade}",
                        family=family,
                        track=track,  # type: ignore[arg-type]
                        level=code,
                        requirements=_requirements(writer, by_key, keys, grade),
                    )
                )
    rules = [
        DeploymentRule(key=f"core.{key}", scope="core", competency=key, target=2)
        for key in core_keys
    ] + [
        DeploymentRule(
            key=f"managers.{key}",
            scope="level",
            competency=key,
            target=3,
            from_grade=1,
            track="manager",
        )
        for key in leadership_keys
    ]
    family_keys = [f.key for f in families]
    lateral_paths = [
        LateralPath(
            from_family=source,
            to_family=target,
            transferable=core_keys,
            gaps=[f"{target}.{_slug(TECHNICAL_TOPICS[0])}"],
        )
        for source, target in zip(family_keys, family_keys[1:] + family_keys[:1], strict=True)
    ]
    return Framework(
        name="Benchmark Co career framework",
        description="A generated framework for the framework service benchmark.",
        scale="1..5",
        taxonomy="generated",
        categories=categories,
        families=families,
        lateral_paths=lateral_paths,
        competencies=competencies,
        roles=roles,
        rules=rules,
    )


REWORDED_PER_VERSION = 3


def reworded(framework: Framework, version: int) -> Framework:
    """Version `version`'s draft: a few anchors of the base framework reworded, the choice
    moving with the version and the wording alternating, so that each version differs from
    the one before by wording alone (a minor revision)."""
    count = len(framework.competencies)
    chosen = {(version * 7 + n * 29) % count for n in range(REWORDED_PER_VERSION)}
    variant = "Regularly" if version % 2 else "Consistently"
    competencies = []
    for index, competency in enumerate(framework.competencies):
        if index in chosen:
            at = version % len(competency.anchors)
            anchor = competency.anchors[at]
            changed = anchor.model_copy(
                update={"text": f"{variant} {anchor.text[0].lower()}{anchor.text[1:]}"}
            )
            anchors = [*competency.anchors[:at], changed, *competency.anchors[at + 1 :]]
            competency = competency.model_copy(update={"anchors": anchors})
        competencies.append(competency)
    return framework.model_copy(update={"competencies": competencies})
