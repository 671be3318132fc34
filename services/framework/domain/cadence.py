"""When a framework is due for review and for a major revision (docs/domain.md §2, Upkeep).

- A **review** is any published version (putting a draft through publication is reviewing
  it), or a review HR records of the latest version when it finds nothing to change
  (`FrameworkReviewRecorded`: publishing an unchanged draft is refused).
- A **major revision** is a version published as major or the first version: structure
  changed, as `services.framework.domain.versions` classifies it (or HR declared it major).
- A framework is **untouched** since its latest published version, whatever its revision:
  a review recorded without a change does not touch it.

A review is due `review_months` after the last review, a major revision `major_months`
after the last major one (or the first version), and a framework untouched for
`at_risk_months` is at risk. Ages are calendar months; a day the month lacks falls on its
last day (29 February plus 12 months is 28 February).

Each due obligation is announced once per due period: the period is named by what started
it (the instant of the last review, the version of the last major revision), and the
announcement carries that name, so finding it in the log says the period was announced,
whatever the ages were when it was.
"""

from __future__ import annotations

import calendar
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.events.registry import PrivateEvent, registry
from libs.events.schemas.framework import FrameworkReviewDue, FrameworkRevisionDue, Revision

REVIEW_MONTHS = 12
MAJOR_REVISION_MONTHS = 36
AT_RISK_MONTHS = 36
MAX_MONTHS = 240

Obligation = Literal["current", "due"]


@registry.event
class FrameworkReviewRecorded(PrivateEvent):
    """HR reviewed the latest published version and found nothing to change."""

    event_type = "FrameworkReviewRecorded"
    schema_version = 1
    context = "framework"

    version: int = Field(ge=1, description="the published version reviewed (the latest)")
    reviewed_at: datetime


class CadencePolicy(BaseModel):
    """The ages at which upkeep falls due, in months (the organisation's settings)."""

    model_config = ConfigDict(frozen=True)

    review_months: int = Field(REVIEW_MONTHS, ge=1, le=MAX_MONTHS)
    major_revision_months: int = Field(MAJOR_REVISION_MONTHS, ge=1, le=MAX_MONTHS)
    at_risk_months: int = Field(AT_RISK_MONTHS, ge=1, le=MAX_MONTHS)


class Publication(BaseModel):
    """A published version, as the cadence reads it."""

    model_config = ConfigDict(frozen=True)

    version: int
    revision: Revision
    published_at: datetime


class Milestone(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: int = Field(description="the version published, or reviewed")
    at: datetime
    by: Literal["publication", "review"] = "publication"


class Cadence(BaseModel):
    """A framework's upkeep at one instant."""

    model_config = ConfigDict(frozen=True)

    framework_id: str
    latest_version: int
    last_review: Milestone
    last_major_revision: Milestone
    last_change: Milestone = Field(description="the latest published version")
    review_due_at: datetime
    major_revision_due_at: datetime
    at_risk_from: datetime
    review: Obligation
    major_revision: Obligation
    at_risk: bool = Field(description="untouched (nothing published) for the at-risk age")
    status: Literal["current", "due", "at_risk"] = Field(
        description="at_risk, else due when a review or a major revision is due, else current"
    )
    as_of: datetime


def add_months(at: datetime, months: int) -> datetime:
    """`at` moved `months` calendar months on, on the month's last day if it lacks `at`'s."""
    index = at.month - 1 + months
    year, month = at.year + index // 12, index % 12 + 1
    return at.replace(year=year, month=month, day=min(at.day, calendar.monthrange(year, month)[1]))


def cadence(
    framework_id: str,
    publications: list[Publication],
    reviews: list[FrameworkReviewRecorded],
    policy: CadencePolicy,
    now: datetime,
) -> Cadence:
    """The framework's upkeep at `now`, from its published versions (at least one) and the
    reviews recorded."""
    if not publications:
        raise ValueError(f"framework {framework_id!r} has no published version")
    latest = max(publications, key=lambda p: p.version)
    change = Milestone(version=latest.version, at=latest.published_at)
    review = max(
        [change, *(Milestone(version=r.version, at=r.reviewed_at, by="review") for r in reviews)],
        key=lambda m: m.at,
    )
    major = max(
        (p for p in publications if p.revision in ("initial", "major")),
        key=lambda p: p.version,
        default=min(publications, key=lambda p: p.version),
    )
    structure = Milestone(version=major.version, at=major.published_at)
    review_due = add_months(review.at, policy.review_months)
    major_due = add_months(structure.at, policy.major_revision_months)
    at_risk_from = add_months(change.at, policy.at_risk_months)
    review_state: Obligation = "due" if now >= review_due else "current"
    major_state: Obligation = "due" if now >= major_due else "current"
    at_risk = now >= at_risk_from
    return Cadence(
        framework_id=framework_id,
        latest_version=latest.version,
        last_review=review,
        last_major_revision=structure,
        last_change=change,
        review_due_at=review_due,
        major_revision_due_at=major_due,
        at_risk_from=at_risk_from,
        review=review_state,
        major_revision=major_state,
        at_risk=at_risk,
        status="at_risk"
        if at_risk
        else ("due" if "due" in (review_state, major_state) else "current"),
        as_of=now,
    )


Announcement = FrameworkReviewDue | FrameworkRevisionDue


def announcements(state: Cadence, announced: list[Announcement]) -> list[Announcement]:
    """The due events to publish for `state`: each due obligation whose period (named by the
    last review's instant, or the last major revision's version) has none yet."""
    reviews = {a.last_reviewed_at for a in announced if isinstance(a, FrameworkReviewDue)}
    revisions = {a.last_major_version for a in announced if isinstance(a, FrameworkRevisionDue)}
    common = {
        "framework_id": state.framework_id,
        "version": state.latest_version,
        "at_risk": state.at_risk,
    }
    due: list[tuple[type[Announcement], dict[str, object]]] = []
    if state.review == "due" and state.last_review.at not in reviews:
        review = state.last_review
        period = {"last_reviewed_at": review.at, "last_reviewed_version": review.version}
        due.append((FrameworkReviewDue, period | {"due_at": state.review_due_at}))
    if state.major_revision == "due" and state.last_major_revision.version not in revisions:
        major = state.last_major_revision
        period = {"last_major_version": major.version, "last_major_at": major.at}
        due.append((FrameworkRevisionDue, period | {"due_at": state.major_revision_due_at}))
    return [kind.model_validate(common | fields) for kind, fields in due]
