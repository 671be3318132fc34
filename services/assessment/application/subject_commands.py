"""How a command about one subject of a campaign (a nomination, its decision, a submission)
is decided and recorded.

Concurrency: commands about one subject append to that subject's stream with the version
they read, so a lost race is decided again on fresh state. Closing must not let a submission
through that read the campaign as open: subject commands hold the campaign shared before
they read it, in the transaction they append in; closing holds it exclusively. Subjects
never wait for each other, only for a close.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence

from libs.events.concurrency import ConcurrencyError
from libs.events.envelope import EventMetadata
from libs.events.registry import IntegrationEvent
from services.assessment.application.campaigns import Campaigns, subject_stream_of
from services.assessment.application.ports import Work
from services.assessment.domain.campaigns import (
    Campaign,
    PeerNominated,
    PeerNominationDecided,
    SubjectAssessment,
    SubmissionRecorded,
)
from services.assessment.domain.raters import Nomination

# The public AssessmentSubmitted is relayed in its whole envelope, actor included, so naming
# the rater there would expose peers and direct reports (docs/domain.md §3, Anonymity). The rater
# is the actor of the private SubmissionRecorded; the announcement is the service's own,
# caused by it, in the same transaction.
ANNOUNCER = "service:assessment"
# Commands about different subjects never conflict; one about the same subject that loses a
# race is decided again on fresh state, this many times at most.
ATTEMPTS = 10

Decide = Callable[[Campaign, SubjectAssessment, Work], Awaitable[list[IntegrationEvent]]]


async def on_subject(
    campaigns: Campaigns, campaign_id: str, subject: str, decide: Decide, actor: str
) -> list[IntegrationEvent]:
    """Run a command on one subject's assessment and append what it decides, retrying a
    lost race on fresh state."""
    for attempt in range(ATTEMPTS):
        try:
            # Reads, decision and append on one connection in one transaction: each
            # statement and transaction costs the service's CPU (and the server's), and
            # these commands are most of its requests.
            async with campaigns.unit_of_work.transaction() as work:
                # Held before the campaign is read: a close either committed first, and is
                # read here, or waits for this transaction.
                await work.hold_campaign(campaign_id, exclusive=False)
                campaign, assessment = await campaigns.campaign_and_subject(
                    campaign_id, subject, work.events
                )
                events = await decide(campaign, assessment, work)
                await _append(work, campaign, assessment, events, actor)
        except ConcurrencyError:
            if attempt == ATTEMPTS - 1:
                raise
            # Raters of one subject submit at the same moment: back off with jitter so
            # that the losers do not collide again on the next attempt.
            await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))
            continue
        return events
    raise AssertionError("unreachable: the last attempt returns or raises")


async def _append(
    work: Work,
    campaign: Campaign,
    assessment: SubjectAssessment,
    events: Sequence[IntegrationEvent],
    actor: str,
) -> None:
    """Append to the subject's stream and update the campaign records; a stream another
    command appended to since it was read raises ConcurrencyError (decide again)."""
    stream = subject_stream_of(campaign.campaign_id, assessment.subject)
    version = assessment.stream_version
    own = EventMetadata(actor=actor)
    announcement: EventMetadata | None = None

    # Events go in as few appends as their metadata allows (each append is a statement):
    # a submission's announcement is the service's, caused by the record before it, so the
    # record ends an append.
    def metadata_of(event: IntegrationEvent) -> EventMetadata:
        return own if announcement is None or event.private else announcement

    start = 0
    while start < len(events):
        metadata = metadata_of(events[start])
        end = start + 1
        while (
            end < len(events)
            and not isinstance(events[end - 1], SubmissionRecorded)
            and metadata_of(events[end]) is metadata
        ):
            end += 1
        run = events[start:end]
        envelopes = await work.events.append(stream, version, run, metadata)
        start = end
        for event, envelope in zip(run, envelopes, strict=True):
            version = envelope.stream_version
            if isinstance(event, SubmissionRecorded):
                # Its public announcement is the service's, caused by this record.
                announcement = EventMetadata.reacting_to(envelope, ANNOUNCER)
                await work.records.record_submission(event, version)
            elif isinstance(event, PeerNominated):
                nomination = Nomination(event.subject, event.peer, event.nominated_by)
                await work.records.record_nomination(campaign.campaign_id, nomination)
            elif isinstance(event, PeerNominationDecided):
                state = "approved" if event.approved else "rejected"
                decided = Nomination(event.subject, event.peer, "", state)
                await work.records.record_nomination(campaign.campaign_id, decided)
