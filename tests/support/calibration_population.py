"""A generated population for calibration at scale: a reporting tree, each person rated by
themselves, their manager and their direct reports, with random answers (some not
observed, some not relevant, a few commented), reproducible from a seed; and a closed
campaign on it in the assessment service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from random import Random

from libs.events.schemas.framework import TrackKind
from services.assessment.adapters.postgres.campaign_records import CampaignRecords, CampaignTables
from services.assessment.domain.campaigns import SubmissionRecorded, submission_ratings
from services.assessment.domain.ratings import RaterGroup, Rating
from services.assessment.domain.submissions import Answer, Submission
from tests.support.assessment_api import AssessmentApi
from tests.support.replica_seeding import hired

StoredRow = tuple[str, int | None, str | None, bool]
"""(item, value, comment, not relevant), as the campaign records keep an answer."""


def manager_of(index: int) -> int | None:
    """In the tree, person i reports to person (i - 1) // 3: three reports each."""
    return None if index == 0 else (index - 1) // 3


def person_id(index: int) -> str:
    return f"emp-{index:05d}"


def raters(size: int) -> list[tuple[str, str, RaterGroup]]:
    """(subject, rater, group) of everyone in a tree of `size` people."""
    found: list[tuple[str, str, RaterGroup]] = []
    for index in range(size):
        subject = person_id(index)
        found.append((subject, subject, "self"))
        manager = manager_of(index)
        if manager is not None:
            found.append((subject, person_id(manager), "manager"))
        found += [
            (subject, person_id(report), "direct_report")
            for report in range(3 * index + 1, min(3 * index + 4, size))
        ]
    return found


def answers(rng: Random, items: list[str], top: int = 5) -> list[StoredRow]:
    """One submission's answers to `items`, on a 0..`top` scale."""
    found: list[StoredRow] = []
    for item in items:
        roll = rng.random()
        if roll < 0.08:
            found.append((item, None, None, False))
        elif roll < 0.12:
            found.append((item, None, None, True))
        else:
            found.append((item, rng.randint(0, top), "seen it" if roll > 0.95 else None, False))
    return found


def track_of(index: int) -> tuple[TrackKind, str]:
    """The top of the tree on the manager track, everyone else an engineer."""
    return ("manager", "M1") if index < 13 else ("ic", "L3")


async def seed_closed_campaign(
    api: AssessmentApi, campaign: str, size: int, seed: int = 1
) -> list[Rating]:
    """A closed campaign on a tree of `size` people, everyone rated as `raters` says with
    random `answers`; the ratings it recorded. The org chart and the campaign go through
    the service (replica seeding, its API); the submissions are written as the campaign
    records keep them, in batches, since what is measured is calibration, not ingest."""
    await api.hire(
        *(
            hired(person_id(i), None if i == 0 else person_id((i - 1) // 3), *track_of(i))
            for i in range(size)
        )
    )
    people = [person_id(i) for i in range(size)]
    closes = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    body = {"id": campaign, "framework_id": "eng", "framework_version": 1, "closes_at": closes}
    await api.ok("POST", "/campaigns", 201, json=body | {"employee_ids": people})
    asked: dict[tuple[TrackKind, str], list[str]] = {}
    for i in {0, size - 1}:
        form = await api.ok(
            "GET",
            f"/campaigns/{campaign}/questionnaires/{person_id(i)}",
            headers=api.as_(person_id(i), "employee"),
        )
        asked[track_of(i)] = [item["id"] for item in form["items"]]
    rng = Random(seed)
    tables = CampaignTables("assessment")
    everyone = raters(size)
    ratings: list[Rating] = []
    for start in range(0, len(everyone), 2_000):
        async with api.store.transaction() as conn:
            records = CampaignRecords(tables, conn)
            for subject, rater, group in everyone[start : start + 2_000]:
                given = answers(rng, asked[track_of(int(subject.removeprefix("emp-")))])
                submission = Submission(
                    campaign=campaign,
                    subject=subject,
                    rater=rater,
                    final=True,
                    answers=[
                        Answer(item=i, value=v, comment=c, not_relevant=n) for i, v, c, n in given
                    ],
                )
                recorded = SubmissionRecorded(
                    submission=submission, group=group, recorded_at=datetime.now(UTC)
                )
                await records.record_submission(recorded, 1)
                ratings += submission_ratings(subject, rater, group, given)
    await api.ok("POST", f"/campaigns/{campaign}/close")
    return ratings
