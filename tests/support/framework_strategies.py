"""Hypothesis strategies for random, model-valid `Framework` documents (docs/domain.md §2).

Random families, tracks, levels, competencies, sub-skills, anchors (a competency's and a
sub-skill's), roles, requirements and deployment rules, with any text a UTF-8 file can hold
(line breaks, control characters, emoji), empty lists and dangling references: the model lets
a key point nowhere (publication rules report it), so every reader and writer of frameworks
must cope with that. Sizes stay small by default.
"""

from __future__ import annotations

import operator
import string
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from libs.events.schemas.framework import (
    MAX_ROLE_CAP,
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
    Policy,
    Requirement,
    RoleCaps,
    RoleProfile,
    SubSkill,
    Track,
)

# surrogates are the only characters a UTF-8 file cannot hold
_CHARACTERS = st.characters(codec="utf-8")
_ALNUM = string.ascii_lowercase + string.digits
# built from pieces: st.from_regex is several times slower to draw
KEYS = st.builds(operator.add, st.sampled_from(_ALNUM), st.text(_ALNUM + "._-", max_size=7))
NAMES = st.text(_CHARACTERS, min_size=1, max_size=12)
TEXTS = st.text(_CHARACTERS, max_size=24)
LINES = st.text(
    st.characters(codec="utf-8", exclude_characters="\r\n"), min_size=1, max_size=12
).filter(lambda text: not text.isspace())
CODES = st.builds("{}{}".format, st.sampled_from(["L", "IC", "M"]), st.integers(1, 9)) | NAMES
TRACK_KINDS = st.sampled_from(["ic", "manager"])
PROFICIENCIES = st.integers(0, 5)


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def _reference(defined: list[str]) -> st.SearchStrategy[str]:
    """A key pointing at something defined about half of the time, else (most likely) nowhere."""
    return st.sampled_from(defined) | KEYS if defined else KEYS


def frameworks(max_size: int = 3, unique_keys: bool = True) -> st.SearchStrategy[Framework]:
    """Frameworks with at most `max_size` items per list.

    unique_keys: every keyed list has distinct keys (tracks distinct by kind, levels by code),
    as a framework must to be published; False lets keys repeat, for code that must not crash.
    """

    def keyed(
        items: st.SearchStrategy[Any], key: Callable[[Any], Any], min_size: int = 0
    ) -> st.SearchStrategy[list[Any]]:
        return st.lists(
            items, min_size=min_size, max_size=max_size, unique_by=key if unique_keys else None
        )

    levels = keyed(
        st.builds(
            Level,
            code=CODES,
            name=NAMES,
            grade=st.integers(1, 50),
            tier=_optional(st.sampled_from(["individual_contributor", "manager", "director"])),
            descriptor=st.builds(LevelDescriptor, scope=TEXTS, autonomy=TEXTS, impact=TEXTS),
        ),
        lambda level: level.code,
        min_size=1,
    )
    crossovers = st.builds(
        Crossover,
        from_level=CODES,
        from_family=_optional(KEYS),
        leadership_competencies=st.lists(KEYS, max_size=2),
    )
    tracks = st.builds(Track, kind=TRACK_KINDS, levels=levels, crossover=_optional(crossovers))
    families = keyed(
        st.builds(
            JobFamily,
            key=KEYS,
            name=NAMES,
            description=TEXTS,
            tracks=st.lists(
                tracks,
                min_size=1,
                max_size=2,
                unique_by=(lambda t: t.kind) if unique_keys else None,
            ),
        ),
        lambda family: family.key,
    )
    # within the policy's bounds: a floor below every cap, a range whose minimum is below its max
    caps = st.integers(1, MAX_ROLE_CAP)
    policies = st.builds(
        Policy,
        role_caps=st.builds(RoleCaps, individual_contributor=caps, manager=caps, director=caps),
        behavioural_minimum=st.integers(0, 1),
        behavioural_one_in=st.integers(1, MAX_ROLE_CAP),
        functional_per_family_min=st.integers(0, 5),
        functional_per_family_max=st.integers(5, 100),
    )
    categories = keyed(
        st.builds(CompetencyCategory, key=KEYS, name=NAMES), lambda category: category.key
    )

    @st.composite
    def build(draw: st.DrawFn) -> Framework:
        drawn_categories = draw(categories)
        drawn_families = draw(families)
        family_keys = [family.key for family in drawn_families]
        anchors = st.lists(
            st.builds(
                Anchor,
                track=TRACK_KINDS,
                proficiency=PROFICIENCIES,
                text=NAMES,
                family=_optional(_reference(family_keys)),
            ),
            max_size=max_size,
        )
        sub_skills = st.lists(
            st.builds(SubSkill, key=KEYS, name=NAMES, anchors=anchors),
            max_size=2,
            unique_by=(lambda skill: skill.key) if unique_keys else None,
        )
        competencies = draw(
            keyed(
                st.builds(
                    Competency,
                    key=KEYS,
                    name=NAMES,
                    category=_optional(_reference([c.key for c in drawn_categories])),
                    kind=st.sampled_from(["core", "functional", "leadership"]),
                    nature=st.sampled_from(["behavioural", "technical"]),
                    family=_optional(_reference(family_keys)),
                    description=TEXTS,
                    sub_skills=sub_skills,
                    anchors=anchors,
                    standard_term=_optional(NAMES),
                ),
                lambda competency: competency.key,
            )
        )
        competency_keys = [competency.key for competency in competencies]
        levels_at = [
            (family.key, track.kind, level.code)
            for family in drawn_families
            for track in family.tracks
            for level in track.levels
        ]
        # targets that have an anchor somewhere, so that grids show anchors often enough
        anchored = [a.proficiency for c in competencies for a in c.anchors]
        targets = PROFICIENCIES | st.sampled_from(anchored) if anchored else PROFICIENCIES
        places = st.tuples(_reference(family_keys), TRACK_KINDS, CODES)
        requirements = st.builds(
            Requirement,
            competency=_reference(competency_keys),
            target=_optional(targets),
            behaviours=st.lists(LINES, max_size=2),
            origin=st.sampled_from(["role", "push"]),
        )

        @st.composite
        def role(draw: st.DrawFn) -> RoleProfile:
            family, track, level = draw(
                st.sampled_from(levels_at) | places if levels_at else places
            )
            return RoleProfile(
                key=draw(KEYS),
                name=draw(NAMES),
                family=family,
                track=track,
                level=level,
                requirements=draw(st.lists(requirements, max_size=max_size)),
            )

        return Framework(
            name=draw(NAMES),
            description=draw(TEXTS),
            scale=draw(st.sampled_from(["0..5", "1..5"])),
            granularity=draw(st.sampled_from(["competency", "sub_skill"])),
            taxonomy=draw(_optional(NAMES)),
            policy=draw(policies),
            categories=drawn_categories,
            families=drawn_families,
            lateral_paths=draw(
                st.lists(
                    st.builds(
                        LateralPath,
                        from_family=_reference(family_keys),
                        to_family=_reference(family_keys),
                        transferable=st.lists(_reference(competency_keys), max_size=2),
                        gaps=st.lists(_reference(competency_keys), max_size=2),
                    ),
                    max_size=max_size,
                )
            ),
            competencies=competencies,
            roles=draw(keyed(role(), lambda r: r.key)),
            rules=draw(
                keyed(
                    st.builds(
                        DeploymentRule,
                        key=KEYS,
                        scope=st.sampled_from(["core", "level"]),
                        competency=_reference(competency_keys),
                        target=_optional(PROFICIENCIES),
                        from_grade=_optional(st.integers(1, 50)),
                        track=_optional(TRACK_KINDS),
                        family=_optional(_reference(family_keys)),
                    ),
                    lambda rule: rule.key,
                )
            ),
        )

    return build()
