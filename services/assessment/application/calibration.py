"""Command and query handlers of calibration sessions (docs/domain.md §4).

A session is opened on a closed campaign, for its whole population or part of it (one
department's session, say). Its review shows the aggregated scores as calibrated so far, a
page of subjects at a time, and the three signals over its population (rater
leniency/severity, inconsistent anchors, outliers), each read on its own; adjustments are
appended one by one; completing it publishes CalibrationCompleted, and InconsistentAnchorsFound
for the framework's next minor revision.

The review names raters (their offsets): it is for HR's session only, never for a subject.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from libs.events.envelope import Envelope, EventMetadata
from libs.events.registry import IntegrationEvent
from libs.events.schemas.assessment import CalibrationCompleted
from libs.events.schemas.framework import SCALE_RANGE, Framework
from services.assessment.application.campaigns import Campaigns, UnknownFrameworkVersion
from services.assessment.application.results import counted_ratings
from services.assessment.domain.aggregation import CompetencyResult
from services.assessment.domain.anchor_findings import competency_use
from services.assessment.domain.calibration import Adjustment, CalibratedScore, calibrated_scores
from services.assessment.domain.calibration_inputs import PopulationTally, SignalKind, Signals
from services.assessment.domain.calibration_sessions import (
    CalibrationError,
    CalibrationSession,
    ScoreAdjusted,
)
from services.assessment.domain.standard_terms import StandardTermScores, by_standard_term


class InvalidSession(CalibrationError):
    """A session that cannot be opened on these subjects."""


class SessionNotCompleted(CalibrationError):
    """Scores are exported by standard term once final: a session in progress may still
    change them, and a comparison across organisations would compare drafts."""


class SessionNotFound(CalibrationError):
    def __init__(self, session_id: str) -> None:
        super().__init__(f"calibration session {session_id!r} not found")


@dataclass(frozen=True)
class SessionSummary:
    """A session as it stands, without its scores or signals: at 10,000 people those are
    megabytes, and are read a page at a time (docs/domain.md §4, Calibration at scale)."""

    session_id: str
    campaign_id: str
    completed: bool
    subjects: int
    adjustments: int

    @classmethod
    def of(cls, session: CalibrationSession) -> SessionSummary:
        assert session.opened is not None
        return cls(
            session_id=session.session_id,
            campaign_id=session.opened.campaign_id,
            completed=session.completed,
            subjects=len(session.opened.subjects),
            adjustments=len(session.adjustments),
        )

    @classmethod
    def completed_by(cls, completed: CalibrationCompleted) -> SessionSummary:
        return cls(
            session_id=completed.session_id,
            campaign_id=completed.campaign_id,
            completed=True,
            subjects=len(completed.scores),
            adjustments=len(completed.adjustments),
        )


@dataclass(frozen=True)
class SubjectReview:
    """One subject's scores as calibrated so far, per item, with the adjustments behind them."""

    subject: str
    scores: list[CalibratedScore]


def stream_of(session_id: str) -> str:
    return f"calibration-{session_id}"


async def session(campaigns: Campaigns, session_id: str) -> CalibrationSession:
    """The session as it stands; SessionNotFound when it was never opened."""
    return (await _opened(campaigns, session_id))[0]


async def _opened(
    campaigns: Campaigns, session_id: str
) -> tuple[CalibrationSession, Envelope | None]:
    """The session as it stands and the envelope of its completion (None while it is not
    completed), from one read of its stream; SessionNotFound when it was never opened."""
    found, completion = await _read(campaigns, session_id)
    if found.opened is None:
        raise SessionNotFound(session_id)
    return found, completion


async def _read(
    campaigns: Campaigns, session_id: str
) -> tuple[CalibrationSession, Envelope | None]:
    found = CalibrationSession(session_id)
    completion: Envelope | None = None
    log = campaigns.events
    for envelope in await log.read_stream(stream_of(session_id)):
        if envelope.event_type == CalibrationCompleted.event_type:
            # Not decoded: opening its sealed fields walks every subject's scores, 0.3 s on
            # the event loop at 10,000 people, on every request about a completed session.
            found.completed_at(envelope.stream_version)
            completion = envelope
        else:
            found.apply(await log.decode(envelope), envelope.stream_version)
    return found, completion


# Subjects per group when a session's inputs are computed: at six raters and ten
# competencies each, some 6,000 ratings, a few tens of milliseconds of work in a thread, so
# that no step holds the service's event loop for long (docs/domain.md §4, Calibration at
# scale).
SUBJECTS_PER_GROUP = 100
# Items read per query when a session's whole population is read back.
ITEMS_PER_READ = 5_000


async def _store_inputs(campaigns: Campaigns, session: CalibrationSession) -> None:
    """The session's items and signals stored, unless they already are: asked whether they
    exist, since reading the signals would make PostgreSQL read their megabyte at 10,000
    people on every page of scores."""
    async with campaigns.unit_of_work.reading() as work:
        if await work.records.calibration_prepared(session.session_id):
            return
    await _compute(campaigns, session)


async def _prepared(
    campaigns: Campaigns, session: CalibrationSession, only: Collection[SignalKind]
) -> Signals:
    """The session's signals (those named in `only`, the other lists empty), computed first
    if they are not yet stored."""
    async with campaigns.unit_of_work.reading() as work:
        stored = await work.records.calibration_signals(session.session_id, only)
    if stored is not None:
        return stored
    return await _compute(campaigns, session)


async def _compute(campaigns: Campaigns, session: CalibrationSession) -> Signals:
    """Compute and store the session's items and signals: once, from its subjects' ratings a
    group at a time, when it opens (or on first need, if it opened before the inputs were
    stored). The campaign has closed, so its ratings no longer change."""
    opened = session.opened
    assert opened is not None
    campaign = await campaigns.campaign(opened.campaign_id)
    settings = campaign.settings
    positions = await _positions(campaigns, session)
    tally = PopulationTally(settings.weights, settings.anonymity, positions, opened.scale)
    counted = 0
    for start in range(0, len(opened.subjects), SUBJECTS_PER_GROUP):
        group = opened.subjects[start : start + SUBJECTS_PER_GROUP]
        async with campaigns.unit_of_work.reading() as work:
            ratings = await counted_ratings(work, campaign, group)
        scored = await asyncio.to_thread(tally.add, ratings)
        async with campaigns.unit_of_work.transaction() as work:
            await work.records.record_calibration_items(session.session_id, counted, scored)
        counted += len(scored)
    signals = await asyncio.to_thread(tally.signals)
    async with campaigns.unit_of_work.transaction() as work:
        await work.records.record_calibration_signals(session.session_id, signals)
    return signals


async def _items(
    campaigns: Campaigns, session: CalibrationSession, subjects: Sequence[str] | None = None
) -> list[CompetencyResult]:
    """The items the session scores (domain.calibration.items), of these subjects if given,
    as stored when it opened; the population's read in pages, the event loop free between."""
    await _store_inputs(campaigns, session)
    async with campaigns.unit_of_work.reading() as work:
        if subjects is not None:
            return await work.records.calibration_items(session.session_id, subjects)
        found: list[CompetencyResult] = []
        while True:
            page = await work.records.calibration_items(
                session.session_id, first=len(found), limit=ITEMS_PER_READ
            )
            found += page
            if len(page) < ITEMS_PER_READ:
                return found


def _scores(
    session: CalibrationSession, scored: list[CompetencyResult], subjects: Collection[str]
) -> list[CalibratedScore]:
    """The scores as calibrated so far of `scored`, these subjects' items."""
    adjustments = [a.adjustment for a in session.adjustments if a.adjustment.subject in subjects]
    return list(calibrated_scores(scored, adjustments).values())


async def _positions(
    campaigns: Campaigns, session: CalibrationSession
) -> dict[str, tuple[str, str, str]]:
    """Each subject's position as the campaign assessed them."""
    assert session.opened is not None
    campaign = await campaigns.campaign(session.opened.campaign_id)
    assert campaign.opened is not None
    # A set: looking each subject up in the session's list took seconds at 10,000 people.
    subjects = set(session.opened.subjects)
    return {s: p for s, p in campaign.opened.positions.items() if s in subjects}


async def _framework(campaigns: Campaigns, framework_id: str, version: int) -> Framework:
    """The framework version as the replica holds it; UnknownFrameworkVersion if it does not."""
    async with campaigns.unit_of_work.reading() as work:
        framework = await work.frameworks.framework(framework_id, version)
    if framework is None:
        raise UnknownFrameworkVersion(
            f"framework {framework_id!r} version {version} is missing from the assessment service"
        )
    return framework


async def _append(
    campaigns: Campaigns, session: CalibrationSession, events: list[IntegrationEvent], actor: str
) -> None:
    await campaigns.events.append(
        stream_of(session.session_id),
        session.stream_version,
        events,
        EventMetadata(actor=actor),
    )


async def open_session(
    campaigns: Campaigns,
    session_id: str,
    campaign_id: str,
    subjects: Iterable[str] | None,
    actor: str,
) -> SessionSummary:
    """Open the session and compute its inputs (domain.calibration_inputs)."""
    campaign = await campaigns.campaign(campaign_id)
    assert campaign.opened is not None
    population = campaign.opened.population
    chosen = population if subjects is None else list(subjects)
    outside = sorted(set(chosen) - set(population))
    if outside:
        raise InvalidSession(f"not assessed in campaign {campaign_id!r}: {outside}")
    opened = campaign.opened
    framework = await _framework(campaigns, opened.framework_id, opened.framework_version)
    scale = SCALE_RANGE[framework.scale]
    new, _ = await _read(campaigns, session_id)
    events = new.open(
        campaign_id,
        campaign.closed,
        opened.framework_id,
        opened.framework_version,
        chosen,
        (scale[0], scale[-1]),
    )
    async with campaigns.unit_of_work.transaction() as work:
        taken = await work.records.claim_for_calibration(campaign_id, session_id, chosen)
        if taken:
            raise InvalidSession(
                "already calibrated in another session of this campaign: "
                + ", ".join(f"{s!r} ({taken[s]!r})" for s in sorted(taken))
            )
        await work.events.append(
            stream_of(session_id), new.stream_version, events, EventMetadata(actor=actor)
        )
    found = await session(campaigns, session_id)
    await _store_inputs(campaigns, found)
    return SessionSummary.of(found)


async def review(campaigns: Campaigns, session_id: str) -> SessionSummary:
    return SessionSummary.of(await session(campaigns, session_id))


async def subject_scores(
    campaigns: Campaigns, session: CalibrationSession, subjects: Sequence[str]
) -> list[SubjectReview]:
    """These subjects' scores in the session (a page of its subjects): only theirs are read."""
    scored = await _items(campaigns, session, subjects)
    scores = await asyncio.to_thread(_scores, session, scored, set(subjects))
    by_subject: dict[str, list[CalibratedScore]] = {s: [] for s in subjects}
    for score in scores:
        by_subject[score.subject].append(score)
    return [SubjectReview(subject, found) for subject, found in by_subject.items()]


async def signals(campaigns: Campaigns, session_id: str, *kinds: SignalKind) -> Signals:
    """The session's signals over its population, of these kinds (the other lists empty):
    they name raters, for HR's session only."""
    return await _prepared(campaigns, await session(campaigns, session_id), kinds)


async def scores_of(
    campaigns: Campaigns, session_id: str, subject: str
) -> tuple[CalibrationSession, list[CalibratedScore]]:
    """The session and one subject's scores in it, with the adjustments behind them: no
    other subject's scores are read, and no rater's figure is shown."""
    found = await session(campaigns, session_id)
    [reviewed] = await subject_scores(campaigns, found, [subject])
    return found, reviewed.scores


async def adjust(
    campaigns: Campaigns,
    session_id: str,
    subject: str,
    competency: str,
    new_value: float,
    justification: str | None,
    actor: str,
    now: datetime,
    seen_value: float | None = None,
) -> Adjustment:
    found = await session(campaigns, session_id)
    # One subject's items, not the population's.
    scored = await _items(campaigns, found, [subject])
    events = found.adjust(
        subject, competency, new_value, justification, actor, scored, now, seen_value
    )
    await _append(campaigns, found, events, actor)
    adjusted = events[0]
    assert isinstance(adjusted, ScoreAdjusted)
    return adjusted.adjustment


async def complete(campaigns: Campaigns, session_id: str, actor: str) -> CalibrationCompleted:
    found = await session(campaigns, session_id)
    signals = await _prepared(campaigns, found, ("anchor_findings", "not_relevant"))
    scored = await _items(campaigns, found)
    positions = await _positions(campaigns, found)
    opened = found.opened
    assert opened is not None
    targets: dict[tuple[str, str, str], dict[str, int]] = {}
    async with campaigns.unit_of_work.reading() as work:
        for position in set(positions.values()):
            profile = await work.frameworks.role_profile(
                opened.framework_id, opened.framework_version, position
            )
            targets[position] = {
                r.competency: r.target
                for r in (profile.requirements if profile else [])
                if r.target is not None
            }
    events = await asyncio.to_thread(_completion, found, scored, positions, targets, signals)
    await _append(campaigns, found, events, actor)
    completed = events[0]
    assert isinstance(completed, CalibrationCompleted)
    return completed


def _completion(
    session: CalibrationSession,
    scored: list[CompetencyResult],
    positions: dict[str, tuple[str, str, str]],
    targets: dict[tuple[str, str, str], dict[str, int]],
    signals: Signals,
) -> list[IntegrationEvent]:
    """The events completing the session: the work of a whole population, for a thread."""
    rolled = session.rolled_up(scored)
    # Gap data is counted per competency: rolled up from its sub-skills where it has them.
    scores = {
        (subject, competency): score
        for subject, (competencies, _) in rolled.items()
        for competency, score in competencies.items()
    }
    return session.complete(
        rolled,
        positions,
        signals.anchor_findings,
        signals.not_relevant,
        competency_use(scores, positions, targets),
    )


async def standard_term_scores(
    campaigns: Campaigns, session_id: str, term: str | None = None
) -> StandardTermScores:
    """A completed session's final scores by standard term, of one term when given
    (domain.standard_terms): the scores CalibrationCompleted published, with the framework
    version the session calibrated against, so the anonymity rule behind them holds as is."""
    _, envelope = await _opened(campaigns, session_id)
    if envelope is None:
        raise SessionNotCompleted(
            f"calibration session {session_id!r} is not completed: its scores are exported "
            "by standard term once it is"
        )
    completion = await campaigns.events.decode(envelope)
    assert isinstance(completion, CalibrationCompleted)
    framework = await _framework(campaigns, completion.framework_id, completion.framework_version)
    return by_standard_term(framework, completion, term)
