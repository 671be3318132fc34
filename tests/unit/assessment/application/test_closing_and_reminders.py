"""Deadlines, reminders and closing (docs/domain.md §3): who owes a final submission, reminding
them while the campaign is open, and closing it behind every subject command in flight."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.assessment.application import closing, reminders
from services.assessment.application.campaigns import Campaigns, stream_of
from services.assessment.domain.campaigns import CampaignError
from services.assessment.domain.submissions import SubmissionRefused
from tests.support.assessment_ports import (
    CAMPAIGN,
    CLOSES,
    HR,
    NOW,
    Hold,
    MemoryAssessment,
    approve_peers,
    open_spring,
    rate,
)


async def test_non_responders_are_the_assignments_without_a_final_submission(
    spring: Campaigns,
) -> None:
    await approve_peers(spring, "ann", "mgr", "p1")
    every = await reminders.non_responders(spring, CAMPAIGN)
    # ann: self, mgr, r1..r3, p1; cat: self, mgr.
    assert len(every) == 8
    assert {a.rater for a in every if a.subject == "ann"} == {"ann", "mgr", "r1", "r2", "r3", "p1"}
    await rate(spring, "ann", "r1", 3, final=True)
    await rate(spring, "ann", "r2", 3)  # not final: still owed
    left = await reminders.non_responders(spring, CAMPAIGN)
    assert {(a.subject, a.rater) for a in every} - {(a.subject, a.rater) for a in left} == {
        ("ann", "r1")
    }
    progress = await reminders.progress(spring, await spring.campaign(CAMPAIGN))
    assert (len(progress.expected), len(progress.outstanding)) == (8, 7)


async def test_reminders_name_each_rater_with_what_they_owe(
    spring: Campaigns, uow: MemoryAssessment
) -> None:
    sent = await reminders.remind(spring, CAMPAIGN, HR, NOW)
    assert sent is not None
    owed = {r.rater: r.pending for r in sent.raters}
    assert owed == {"ann": 1, "cat": 1, "mgr": 2, "r1": 1, "r2": 1, "r3": 1}
    assert sent.closes_at == CLOSES
    [_, reminded] = await uow.work.events.read_stream(stream_of(CAMPAIGN))
    assert (reminded.event_type, reminded.actor) == ("RemindersSent", HR)
    assert await reminders.reminded_since(spring, CAMPAIGN, reminded.occurred_at)
    assert not await reminders.reminded_since(
        spring, CAMPAIGN, reminded.occurred_at + timedelta(seconds=1)
    )


async def test_nobody_is_reminded_when_nobody_owes_anything(
    campaigns: Campaigns, uow: MemoryAssessment
) -> None:
    await open_spring(campaigns, ["p1"])  # rated by themself and boss only
    await rate(campaigns, "p1", "p1", 4, final=True)
    await rate(campaigns, "p1", "boss", 3, final=True)
    assert await reminders.remind(campaigns, CAMPAIGN, HR, NOW) is None
    assert len(await uow.work.events.read_stream(stream_of(CAMPAIGN))) == 1


async def test_nobody_is_reminded_past_the_close_date_or_once_closed(spring: Campaigns) -> None:
    with pytest.raises(CampaignError, match="not open"):
        await reminders.remind(spring, CAMPAIGN, HR, CLOSES)
    await closing.close(spring, CAMPAIGN, HR)
    with pytest.raises(CampaignError, match="not open"):
        await reminders.remind(spring, CAMPAIGN, HR, NOW)


async def test_closing_holds_the_campaign_exclusively_and_counts_what_came_in(
    spring: Campaigns, uow: MemoryAssessment
) -> None:
    await rate(spring, "ann", "r1", 3, final=True)
    await rate(spring, "ann", "r2", 3)
    uow.work.holds.clear()
    closed = await closing.close(spring, CAMPAIGN, HR)
    assert (closed.submissions, closed.non_responders) == (2, 6)
    assert uow.work.holds == [Hold(CAMPAIGN, exclusive=True)]
    assert (await spring.campaign(CAMPAIGN)).closed


async def test_a_closed_campaign_takes_no_submission_and_closes_once(
    spring: Campaigns, uow: MemoryAssessment
) -> None:
    await rate(spring, "ann", "r1", 3)
    await closing.close(spring, CAMPAIGN, HR)
    with pytest.raises(SubmissionRefused, match="closed"):
        await rate(spring, "ann", "r1", 4)
    with pytest.raises(CampaignError, match="not open"):
        await closing.close(spring, CAMPAIGN, HR)
    assert {r.value for r in await uow.work.records.ratings(CAMPAIGN)} == {3}
