"""Rating (docs/domain.md §3): questionnaires for the subject's raters only, submissions
recorded privately with a public announcement naming no rater, revisable until final; a
command that loses a race is decided again on fresh state, and none gets through a close."""

from __future__ import annotations

import time
from collections.abc import Mapping

import pytest

from libs.events.concurrency import ConcurrencyError
from libs.events.envelope import Envelope, EventMetadata
from libs.events.registry import IntegrationEvent
from libs.personal import vault
from libs.workflows.contracts import KEY_CACHES_EXPIRE
from services.assessment.application import campaigns as campaigns_module
from services.assessment.application import closing, rating, subject_commands
from services.assessment.application.campaigns import (
    Campaigns,
    NoRoleProfile,
    NotInCampaign,
    stream_of,
    subject_stream_of,
)
from services.assessment.application.rating import NotARater
from services.assessment.application.subject_commands import ANNOUNCER, ATTEMPTS
from services.assessment.domain.campaigns import PeerNominated
from services.assessment.domain.submissions import Answer, SubmissionRefused
from tests.support.assessment_ports import (
    CAMPAIGN,
    HR,
    NOW,
    Hold,
    MemoryAssessment,
    approve_peers,
    open_spring,
    rate,
)
from tests.support.memory import person


async def test_the_questionnaire_is_the_subjects_role_profile_for_their_raters_only(
    spring: Campaigns,
) -> None:
    form = await rating.questionnaire_for(spring, CAMPAIGN, "ann", "r1")
    assert (form.framework_id, form.version, form.role) == ("eng", 1, "eng-l3")
    assert form.items
    assert await rating.questionnaire_for(spring, CAMPAIGN, "ann", "mgr") == form
    with pytest.raises(NotARater):
        await rating.questionnaire_for(spring, CAMPAIGN, "ann", "p1")
    with pytest.raises(NotInCampaign):
        await rating.questionnaire_for(spring, CAMPAIGN, "mgr", "mgr")


async def test_a_subject_without_a_role_profile_has_no_questionnaire(
    campaigns: Campaigns, uow: MemoryAssessment
) -> None:
    uow.work.org_chart.hire(person("odd", "mgr", level="L9"))
    await open_spring(campaigns, ["ann", "odd"])
    with pytest.raises(NoRoleProfile, match="no role profile"):
        await rating.questionnaire_for(campaigns, CAMPAIGN, "odd", "odd")


async def test_a_submission_is_recorded_privately_and_announced_by_the_service(
    spring: Campaigns, uow: MemoryAssessment
) -> None:
    assert await rate(spring, "ann", "r1", 3)
    recorded, announced = await uow.work.events.read_stream(subject_stream_of(CAMPAIGN, "ann"))
    assert (recorded.event_type, recorded.actor) == ("SubmissionRecorded", "r1")
    assert (announced.event_type, announced.actor) == ("AssessmentSubmitted", ANNOUNCER)
    assert announced.causation_id == recorded.event_id
    assert announced.correlation_id == recorded.correlation_id
    assert "r1" not in announced.model_dump_json()
    assert announced.payload["group"] == "direct_report"
    assert uow.work.holds == [Hold(CAMPAIGN, exclusive=False)]
    [stored] = uow.work.records.submissions.values()
    assert (stored.group, stored.final) == ("direct_report", False)


async def test_the_same_submission_twice_is_recorded_once_and_a_revision_replaces_it(
    spring: Campaigns, uow: MemoryAssessment
) -> None:
    assert await rate(spring, "ann", "r1", 3)
    assert not await rate(spring, "ann", "r1", 3)
    assert await rate(spring, "ann", "r1", 4, final=True)
    assert len(await uow.work.events.read_stream(subject_stream_of(CAMPAIGN, "ann"))) == 4
    assert await uow.work.records.submission_count(CAMPAIGN) == 1
    assert await uow.work.records.finalised(CAMPAIGN) == {("ann", "r1")}
    assert {r.value for r in await uow.work.records.ratings(CAMPAIGN)} == {4}


async def test_a_final_submission_is_not_revised(spring: Campaigns) -> None:
    await rate(spring, "ann", "ann", 3, final=True)
    with pytest.raises(SubmissionRefused, match="finalised"):
        await rate(spring, "ann", "ann", 2)


async def test_a_refused_submission_names_every_problem_and_records_nothing(
    spring: Campaigns, uow: MemoryAssessment
) -> None:
    form = await rating.questionnaire_for(spring, CAMPAIGN, "ann", "ann")
    item = form.items[0].id
    answers = [Answer(item=item, value=9), Answer(item="nonsense", value=1)]
    with pytest.raises(SubmissionRefused) as refused:
        await rating.submit(spring, CAMPAIGN, "ann", "ann", answers, False, NOW)
    assert len(refused.value.problems) == 2
    with pytest.raises(SubmissionRefused, match="not an assigned rater"):
        await rating.submit(spring, CAMPAIGN, "ann", "p1", [Answer(item=item, value=1)], False, NOW)
    assert uow.work.records.submissions == {}
    assert uow.commits == 0


async def test_my_assignments_are_self_manager_reports_and_approved_peers_with_progress(
    spring: Campaigns,
) -> None:
    await approve_peers(spring, "cat", "mgr", "ann")
    await rate(spring, "ann", "ann", 3, final=True)
    mine = await rating.my_assignments(spring, CAMPAIGN, "ann")
    assert [(a.subject, a.group, a.submitted, a.final) for a in mine] == [
        ("ann", "self", True, True),
        ("cat", "peer", False, False),
    ]
    managing = await rating.my_assignments(spring, CAMPAIGN, "mgr")
    assert [(a.subject, a.group) for a in managing] == [("ann", "manager"), ("cat", "manager")]


async def test_a_command_that_loses_a_race_is_decided_again_on_fresh_state(
    spring: Campaigns, uow: MemoryAssessment
) -> None:
    async def another_rater_first() -> None:
        await rate(spring, "ann", "r2", 2)

    uow.before_append.append(another_rater_first)
    assert await rate(spring, "ann", "r1", 3)
    assert uow.rollbacks == 1  # the stale append, rolled back before deciding again
    assert {rater for _, _, rater in uow.work.records.submissions} == {"r1", "r2"}
    stream = await uow.work.events.read_stream(subject_stream_of(CAMPAIGN, "ann"))
    assert [e.actor for e in stream if e.event_type == "SubmissionRecorded"] == ["r2", "r1"]


async def test_a_command_that_keeps_losing_gives_up_after_so_many_attempts(
    spring: Campaigns, uow: MemoryAssessment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(subject_commands.random, "uniform", lambda low, high: 0.0)  # no backoff

    async def interfere() -> None:
        stream = subject_stream_of(CAMPAIGN, "ann")
        version = len(await uow.work.events.read_stream(stream))
        nominated = PeerNominated(campaign_id=CAMPAIGN, subject="ann", peer="p9", nominated_by="x")
        events: list[IntegrationEvent] = [nominated]
        await uow.work.events.append(stream, version, events, EventMetadata(actor="x"))

    uow.before_append.extend([interfere] * ATTEMPTS)
    with pytest.raises(ConcurrencyError):
        await rate(spring, "ann", "r1", 3)
    assert uow.work.records.submissions == {}


async def test_a_command_holds_the_campaign_before_it_reads_it(
    spring: Campaigns, uow: MemoryAssessment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read before the hold, the campaign could be read open, then closed and frozen
    before the submission lands."""
    read_streams = uow.work.events.read_streams
    held_at_each_read: list[list[Hold]] = []

    async def reading(after: Mapping[str, int]) -> dict[str, list[Envelope]]:
        held_at_each_read.append(list(uow.work.holds))
        return await read_streams(after)

    monkeypatch.setattr(uow.work.events, "read_streams", reading)
    uow.work.holds.clear()
    assert await rate(spring, "ann", "r1", 3)  # the questionnaire (no hold), then the command
    assert held_at_each_read == [[], [Hold(CAMPAIGN, exclusive=False)]]


async def test_no_submission_gets_through_a_close_it_did_not_see(
    spring: Campaigns, uow: MemoryAssessment
) -> None:
    """It had read the campaign open (and keeps it cached); closing committed since, in
    another process: the command holds the campaign before reading it in its transaction,
    reads the close, and is refused."""
    await spring.campaign(CAMPAIGN)
    await closing.close(Campaigns(uow.work.events, uow), CAMPAIGN, HR)
    with pytest.raises(SubmissionRefused, match="closed"):
        await rate(spring, "ann", "r1", 3)
    assert uow.work.records.submissions == {}
    closed = await uow.work.events.read_stream(stream_of(CAMPAIGN))
    assert closed[-1].event_type == "CampaignClosed"
    assert closed[-1].payload["submissions"] == 0


async def test_a_subject_is_read_on_from_the_version_last_read_until_it_expires(
    spring: Campaigns, uow: MemoryAssessment, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = subject_stream_of(CAMPAIGN, "ann")
    read_stream = uow.work.events.read_stream
    after: list[int] = []

    async def reading(stream_id: str, *, after_version: int = 0) -> list[Envelope]:
        if stream_id == stream:
            after.append(after_version)
        return await read_stream(stream_id, after_version=after_version)

    monkeypatch.setattr(uow.work.events, "read_stream", reading)
    assert await rate(spring, "ann", "r1", 3)  # the questionnaire, then the submission
    assert await rate(spring, "ann", "r2", 4)  # reads on after r1's record and announcement
    assert after == [0, 0, 0, 2]
    assert not await rate(spring, "ann", "r1", 3)  # a repeat, told from the cached record
    mine = await rating.my_assignments(spring, CAMPAIGN, "r2")
    assert [(a.subject, a.submitted) for a in mine] == [("ann", True)]
    # Once expired, as a personal data key it opened would be, the stream is read whole.
    later = time.monotonic() + campaigns_module.SUBJECT_SECONDS
    monkeypatch.setattr(campaigns_module.time, "monotonic", lambda: later)
    after.clear()
    assert not await rate(spring, "ann", "r2", 4)
    assert after == [0, 4]


async def test_the_least_recently_read_subject_is_forgotten_first(
    spring: Campaigns, uow: MemoryAssessment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(campaigns_module, "SUBJECTS_CACHED", 1)
    assert await rate(spring, "ann", "r1", 3)
    assert await rate(spring, "cat", "cat", 3)  # ann forgotten: her stream is read whole
    read_stream = uow.work.events.read_stream
    after: list[int] = []

    async def reading(stream_id: str, *, after_version: int = 0) -> list[Envelope]:
        if stream_id == subject_stream_of(CAMPAIGN, "ann"):
            after.append(after_version)
        return await read_stream(stream_id, after_version=after_version)

    monkeypatch.setattr(uow.work.events, "read_stream", reading)
    assert not await rate(spring, "ann", "r1", 3)
    assert after == [0, 2]


def test_a_subject_is_gone_from_the_cache_before_an_erasure_scrubs() -> None:
    """An entry may be built with a key another process opened just before the keys were
    destroyed; the erasure scrubs `KEY_CACHES_EXPIRE` after that: the entry must not outlive
    the difference."""
    window = KEY_CACHES_EXPIRE.total_seconds() - vault.CACHE_SECONDS
    assert 0 < campaigns_module.SUBJECT_SECONDS <= window
