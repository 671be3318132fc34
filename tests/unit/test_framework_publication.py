"""Publishing a framework version (DOMAIN.md section 2, Versions and Proficiency scale)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from libs.events.schemas.framework import FrameworkPublished, PublishedCompetency, PublishedLevel
from services.framework.domain.publication import (
    FrameworkDraft,
    PublicationRefused,
    check,
    revision_of,
)

LEVELS = [
    PublishedLevel(code="L1", name="One", track="ic", rank=1),
    PublishedLevel(code="L2", name="Two", track="ic", rank=2),
    PublishedLevel(code="M1", name="Manager", track="manager", rank=1),
]
COMPETENCIES = [
    PublishedCompetency(key="collab", name="Collaboration", kind="core", nature="behavioural"),
    PublishedCompetency(key="design", name="Design", kind="functional", nature="technical"),
]
DRAFT = FrameworkDraft(name="Engineering", levels=LEVELS, competencies=COMPETENCIES)


def published(draft: FrameworkDraft) -> FrameworkPublished:
    return FrameworkPublished(
        framework_id="eng",
        version=1,
        name=draft.name,
        revision="initial",
        scale_min=draft.scale_min,
        scale_max=draft.scale_max,
        levels=draft.levels,
        competencies=draft.competencies,
        published_at=datetime.now(UTC),
    )


def test_the_dreyfus_scale_and_a_one_to_five_scale_are_accepted() -> None:
    check("eng", DRAFT)
    check("eng", DRAFT.model_copy(update={"scale_min": 1}))


def test_every_problem_is_named_at_once() -> None:
    bad = DRAFT.model_copy(
        update={
            "scale_max": 7,
            "levels": [*LEVELS, PublishedLevel(code="L1", name="Again", track="ic", rank=4)],
            "competencies": [*COMPETENCIES, COMPETENCIES[0]],
        }
    )
    with pytest.raises(PublicationRefused) as refused:
        check("eng", bad)
    assert refused.value.problems == [
        "scale 0..7 is not one of 0..5, 1..5",
        "level codes must be unique; repeated: L1",
        "ic track ranks must run 1..3 without gaps: [1, 2, 4]",
        "competency keys must be unique; repeated: collab",
    ]
    assert str(refused.value).startswith("framework 'eng' cannot be published: scale 0..7")


def test_first_publication_is_initial_rewording_is_minor_structure_is_major() -> None:
    assert revision_of(None, DRAFT) == "initial"
    v1 = published(DRAFT)
    renamed = [c.model_copy(update={"name": c.name + " (reworded)"}) for c in COMPETENCIES]
    assert revision_of(v1, DRAFT.model_copy(update={"competencies": renamed})) == "minor"
    extra_level = [*LEVELS, PublishedLevel(code="L3", name="Three", track="ic", rank=3)]
    assert revision_of(v1, DRAFT.model_copy(update={"levels": extra_level})) == "major"
