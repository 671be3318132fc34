"""Publishing a framework version: what must hold, and whether the change is minor or major.

This is the thin first cut of the framework model (DOMAIN.md section 2): a scale, levels per
track and competencies. Publishing is refused with every problem named at once.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.events.schemas.framework import FrameworkPublished, PublishedCompetency, PublishedLevel

Revision = Literal["initial", "minor", "major"]
SCALES = {(0, 5): "Dreyfus 0..5", (1, 5): "1..5"}


class PublicationRefused(ValueError):
    """The draft breaks publication rules; `problems` says each one and how to fix it."""

    def __init__(self, framework_id: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"framework {framework_id!r} cannot be published: " + "; ".join(problems))


class FrameworkDraft(BaseModel):
    """What HR submits for publication."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    scale_min: int = 0
    scale_max: int = 5
    levels: list[PublishedLevel] = Field(min_length=1)
    competencies: list[PublishedCompetency] = Field(min_length=1)


def _duplicates(values: list[str]) -> list[str]:
    seen: set[str] = set()
    return sorted({v for v in values if v in seen or seen.add(v)})


def check(framework_id: str, draft: FrameworkDraft) -> None:
    problems: list[str] = []
    if (draft.scale_min, draft.scale_max) not in SCALES:
        allowed = ", ".join(f"{lo}..{hi}" for lo, hi in SCALES)
        problems.append(f"scale {draft.scale_min}..{draft.scale_max} is not one of {allowed}")
    if dupes := _duplicates([level.code for level in draft.levels]):
        problems.append(f"level codes must be unique; repeated: {', '.join(dupes)}")
    for track in ("ic", "manager"):
        ranks = sorted(level.rank for level in draft.levels if level.track == track)
        if ranks and ranks != list(range(1, len(ranks) + 1)):
            problems.append(f"{track} track ranks must run 1..{len(ranks)} without gaps: {ranks}")
    if dupes := _duplicates([c.key for c in draft.competencies]):
        problems.append(f"competency keys must be unique; repeated: {', '.join(dupes)}")
    if problems:
        raise PublicationRefused(framework_id, problems)


def revision_of(previous: FrameworkPublished | None, draft: FrameworkDraft) -> Revision:
    """Major when structure changed (levels, competencies, scale); minor otherwise."""
    if previous is None:
        return "initial"
    structure = (
        (draft.scale_min, draft.scale_max),
        sorted((lv.code, lv.track, lv.rank) for lv in draft.levels),
        sorted(c.key for c in draft.competencies),
    )
    before = (
        (previous.scale_min, previous.scale_max),
        sorted((lv.code, lv.track, lv.rank) for lv in previous.levels),
        sorted(c.key for c in previous.competencies),
    )
    return "major" if structure != before else "minor"
