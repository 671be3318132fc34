"""Ratings as the 360 collects them (docs/domain.md §3): who rated whom, in which rater group."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RaterGroup = Literal["self", "manager", "peer", "direct_report"]
# Peers and direct reports are never attributed to the subject (docs/domain.md §3, Anonymity).
ANONYMOUS_GROUPS: frozenset[RaterGroup] = frozenset({"peer", "direct_report"})


class Rating(BaseModel):
    """One item of one submission: a value on the framework's scale, or not observed."""

    model_config = ConfigDict(frozen=True)

    subject: str
    rater: str
    group: RaterGroup
    competency: str
    value: float | None = Field(
        description="on the scale; a rater's mean over the competency's sub-skills at sub-skill "
        "granularity; None: not observed, or not relevant (excluded, never a zero)"
    )
    # The rater marked every item of the competency not relevant to the subject's role.
    not_relevant: bool = False
    comment: str | None = None
    # At sub-skill granularity, the rater's value per sub-skill of the competency (None: not
    # observed or not relevant), which calibration scores per sub-skill (docs/domain.md §4);
    # None when the competency was asked as one item.
    sub_skills: dict[str, int | None] | None = None
