"""When the subject may see an anonymous rater group (docs/domain.md §3, Anonymity).

Peer and direct-report ratings reach the subject only aggregated per group, and only when the
group has enough responses that no single rater can be singled out. Self and manager ratings
are attributed, so they are always shown.

The threshold is counted **per subject and competency**, not per subject: a group is shown for
a competency only when enough distinct raters gave that competency an observed value. Counting
per subject would be weaker: three peers may respond overall while only one of them rates
"coaching" (the others mark it not observed), and the "coaching" peer mean would then be that
one peer's rating, attributed in all but name.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, field_validator

from services.assessment.domain.ratings import ANONYMOUS_GROUPS, RaterGroup

# docs/domain.md §3: "at least 3 responses (configurable, never below 2)".
DEFAULT_MINIMUM_RESPONSES = 3
LOWEST_MINIMUM_RESPONSES = 2


class AnonymityPolicy(BaseModel):
    """An organisation's anonymity setting: the fewest responses an anonymous group needs."""

    model_config = ConfigDict(frozen=True)

    minimum_responses: int = DEFAULT_MINIMUM_RESPONSES

    @field_validator("minimum_responses")
    @classmethod
    def never_below_two(cls, value: int) -> int:
        """With one response the group mean is that rater's own rating, so 2 is the floor."""
        if value < LOWEST_MINIMUM_RESPONSES:
            raise ValueError(
                f"minimum_responses is {value}, but anonymous groups need at least "
                f"{LOWEST_MINIMUM_RESPONSES} responses: a group of one would expose its rater"
            )
        return value


def group_visible(group: RaterGroup, responses: int, policy: AnonymityPolicy) -> bool:
    """Whether the subject may see `group`'s ratings for one competency.

    `responses` is the number of distinct raters in the group who gave that subject an observed
    rating (not "not observed") for that competency. Attributed groups are always visible.
    """
    return group not in ANONYMOUS_GROUPS or responses >= policy.minimum_responses
