"""The review and revision cadence (docs/domain.md §2, Upkeep): what counts as a review and
as a major revision, when each falls due, when a framework is at risk, and that each due
period is announced once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from libs.events.asyncapi import as_dict
from libs.events.schemas.framework import FrameworkReviewDue, FrameworkRevisionDue, Revision
from services.framework.domain.cadence import (
    CadencePolicy,
    FrameworkReviewRecorded,
    Publication,
    add_months,
    announcements,
    cadence,
)

START = datetime(2024, 2, 29, 9, 30, tzinfo=UTC)
DEFAULTS = CadencePolicy()


def published(version: int, revision: Revision, at: datetime) -> Publication:
    return Publication(version=version, revision=revision, published_at=at)


def test_ages_are_calendar_months_falling_on_the_months_last_day() -> None:
    assert add_months(START, 12) == datetime(2025, 2, 28, 9, 30, tzinfo=UTC)
    assert add_months(START, 48) == datetime(2028, 2, 29, 9, 30, tzinfo=UTC)
    assert add_months(datetime(2024, 1, 31, tzinfo=UTC), 1) == datetime(2024, 2, 29, tzinfo=UTC)
    assert add_months(datetime(2024, 11, 15, tzinfo=UTC), 14) == datetime(2026, 1, 15, tzinfo=UTC)


def test_the_defaults_are_a_yearly_review_and_a_major_revision_every_three_years() -> None:
    assert (DEFAULTS.review_months, DEFAULTS.major_revision_months) == (12, 36)
    assert DEFAULTS.at_risk_months == 36


def test_a_first_version_is_both_a_review_and_a_major_revision() -> None:
    state = cadence("eng", [published(1, "initial", START)], [], DEFAULTS, START)
    assert state.last_review.version == state.last_major_revision.version == 1
    assert state.review_due_at == datetime(2025, 2, 28, 9, 30, tzinfo=UTC)
    assert state.major_revision_due_at == datetime(2027, 2, 28, 9, 30, tzinfo=UTC)
    assert (state.review, state.major_revision, state.status) == ("current", "current", "current")


def test_the_review_falls_due_at_its_age_and_not_a_moment_before() -> None:
    history = [published(1, "initial", START)]
    due = add_months(START, 12)
    before = cadence("eng", history, [], DEFAULTS, due - timedelta(seconds=1))
    at = cadence("eng", history, [], DEFAULTS, due)
    assert (before.review, at.review) == ("current", "due")
    assert (at.major_revision, at.status, at.at_risk) == ("current", "due", False)


def test_every_published_version_counts_as_a_review_and_only_a_major_one_as_a_revision() -> None:
    minor_at = START + timedelta(days=300)
    history = [published(1, "initial", START), published(2, "minor", minor_at)]
    state = cadence("eng", history, [], DEFAULTS, add_months(START, 13))
    assert state.review == "current", "the minor version a year ago reset the review"
    assert (state.last_review.version, state.review_due_at) == (2, add_months(minor_at, 12))
    assert state.last_major_revision.version == 1, "a minor version changes no structure"
    major_at = START + timedelta(days=600)
    history.append(published(3, "major", major_at))
    state = cadence("eng", history, [], DEFAULTS, add_months(START, 37))
    assert state.last_major_revision.version == 3
    assert state.major_revision == "current"


def test_a_review_hr_records_resets_the_review_but_not_the_revision_or_the_risk() -> None:
    history = [published(1, "initial", START)]
    reviewed_at = add_months(START, 30)
    review = FrameworkReviewRecorded(version=1, reviewed_at=reviewed_at)
    state = cadence("eng", history, [review], DEFAULTS, add_months(START, 36))
    assert state.review == "current"
    assert state.last_review.model_dump() == {"version": 1, "at": reviewed_at, "by": "review"}
    assert (state.major_revision, state.at_risk, state.status) == ("due", True, "at_risk")
    assert state.last_change.version == 1, "a review without a change touches nothing"


def test_a_framework_untouched_for_the_at_risk_age_is_at_risk() -> None:
    history = [published(1, "initial", START), published(2, "major", add_months(START, 1))]
    almost = cadence("eng", history, [], DEFAULTS, add_months(START, 37) - timedelta(seconds=1))
    assert (almost.at_risk, almost.status) == (False, "due")
    assert cadence("eng", history, [], DEFAULTS, add_months(START, 37)).status == "at_risk"


def test_the_ages_are_the_policys() -> None:
    policy = CadencePolicy(review_months=6, major_revision_months=24, at_risk_months=48)
    state = cadence("eng", [published(1, "initial", START)], [], policy, add_months(START, 24))
    assert (state.review, state.major_revision, state.at_risk) == ("due", "due", False)


def test_each_due_period_is_announced_once() -> None:
    history = [published(1, "initial", START)]
    state = cadence("eng", history, [], DEFAULTS, add_months(START, 40))
    first = announcements(state, [])
    assert [type(a) for a in first] == [FrameworkReviewDue, FrameworkRevisionDue]
    review, revision = first
    assert isinstance(review, FrameworkReviewDue)
    assert isinstance(revision, FrameworkRevisionDue)
    assert (review.last_reviewed_at, review.due_at, review.at_risk) == (
        START,
        add_months(START, 12),
        True,
    )
    assert (revision.last_major_version, revision.version) == (1, 1)
    assert announcements(state, first) == [], "announced: nothing more, however late it is"
    later = cadence("eng", history, [], CadencePolicy(review_months=6), add_months(START, 50))
    assert announcements(later, first) == [], "the period is its start, whatever the age"


def test_a_new_review_opens_a_new_period_announced_in_its_turn() -> None:
    history = [published(1, "initial", START)]
    first = announcements(cadence("eng", history, [], DEFAULTS, add_months(START, 13)), [])
    assert [a.event_type for a in first] == ["FrameworkReviewDue"]
    review = FrameworkReviewRecorded(version=1, reviewed_at=add_months(START, 14))
    next_year = cadence("eng", history, [review], DEFAULTS, add_months(START, 26))
    again = announcements(next_year, first)
    assert len(again) == 1
    assert isinstance(again[0], FrameworkReviewDue)
    assert again[0].last_reviewed_at == add_months(START, 14)


def test_nothing_due_announces_nothing() -> None:
    state = cadence("eng", [published(1, "initial", START)], [], DEFAULTS, add_months(START, 11))
    assert announcements(state, []) == []


def test_the_announcements_are_public_events_in_the_asyncapi_document() -> None:
    channels = as_dict()["channels"]
    assert "talentledger.framework.framework_review_due.v1" in channels
    assert "talentledger.framework.framework_revision_due.v1" in channels
    assert FrameworkReviewRecorded.private, "a recorded review stays in the service"
