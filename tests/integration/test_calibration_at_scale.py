"""Calibration on stored inputs (docs/domain.md §4, Calibration at scale), through the
assessment service's HTTP API on PostgreSQL: what review, adjustments and completion give is
what the whole-population functions give on the same ratings, and opening a session on a
population large enough to matter leaves the event loop free."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from libs.events.envelope import Envelope
from libs.events.schemas.assessment import AnchorFindingsRecorded
from libs.events.store import EventStore
from services.assessment.adapters.postgres.campaign_records import CampaignRecords
from services.assessment.application import calibration
from services.assessment.domain.aggregation import aggregate, aggregate_sub_skills
from services.assessment.domain.anchor_findings import anchor_findings, not_relevant_marks
from services.assessment.domain.calibration import (
    Adjustment,
    calibrated_scores,
    inconsistent_anchors,
    items,
    outliers,
    rater_offsets,
    roll_up,
)
from services.assessment.domain.calibration_inputs import PopulationTally
from services.assessment.domain.campaigns import CampaignSettings
from tests.support.assessment_api import AssessmentApi, assessment_api
from tests.support.calibration_population import person_id, seed_closed_campaign, track_of
from tests.support.sample_frameworks import valid_framework

SETTINGS = CampaignSettings()
SCALE = (0, 5)


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[AssessmentApi]:
    async with assessment_api(database_url, tmp_path / "keys") as api:
        await api.publish("eng", 1, valid_framework())
        yield api


def dumped(models: Any) -> list[Any]:
    return [m.model_dump(mode="json") for m in models]


def flat(reviewed: list[Any]) -> list[Any]:
    """The scores of a review's pages, subject after subject."""
    return [score for subject in reviewed for score in subject["scores"]]


async def test_review_adjustments_and_completion_are_the_whole_population_computation(
    api: AssessmentApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 people with random ratings: the session's scores and signals, after three
    adjustments, and its completion, against `aggregate`, `items`, `calibrated_scores`,
    `roll_up` and the signal functions over every rating at once."""
    size = 200
    ratings = await seed_closed_campaign(api, "big", size)
    positions = {person_id(i): ("eng", *track_of(i)) for i in range(size)}
    results = aggregate(ratings, SETTINGS.weights, SETTINGS.anonymity)
    expected = items(results, aggregate_sub_skills(ratings, SETTINGS.weights, SETTINGS.anonymity))

    opened = await api.ok("POST", "/calibrations", 201, json={"id": "big", "campaign_id": "big"})
    assert (opened["subjects"], opened["adjustments"]) == (size, 0)
    assert flat(await api.items("/calibrations/big/scores")) == dumped(
        calibrated_scores(expected, []).values()
    )
    offsets = rater_offsets(ratings)
    found = await api.items("/calibrations/big/rater-offsets")
    assert [(o["rater"], o["compared_items"], o["tendency"]) for o in found] == [
        (o.rater, o.compared_items, o.tendency) for o in offsets
    ]
    assert [o["offset"] for o in found] == pytest.approx(
        [o.offset for o in offsets], rel=1e-12, abs=1e-12
    )
    anchors = await api.items("/calibrations/big/inconsistent-anchors")
    assert anchors == dumped(inconsistent_anchors(ratings))
    flagged = await api.items("/calibrations/big/outliers")
    assert flagged == dumped(outliers(expected))
    assert anchors
    assert flagged

    scored = [s for s in dumped(calibrated_scores(expected, []).values()) if s["calibrated"]]
    adjustments: list[Adjustment] = []
    for n, score in enumerate(scored[:: len(scored) // 3][:3]):
        made = await api.ok(
            "POST",
            "/calibrations/big/adjustments",
            201,
            json={
                "subject": score["subject"],
                "competency": score["competency"],
                "new_value": n + 1,
                "justification": "Agreed in the session",
                "seen_value": score["calibrated"],
            },
        )
        adjustments.append(Adjustment.model_validate(made))
    calibrated = calibrated_scores(expected, adjustments)
    # Pages smaller than the population, each of whole subjects.
    pages = await api.ok("GET", "/calibrations/big/scores?limit=7")
    assert [p["subject"] for p in pages["items"]] == [person_id(i) for i in range(7)]
    assert flat(await api.items("/calibrations/big/scores")) == dumped(calibrated.values())
    one = adjustments[1].subject
    # A subject's page asks whether the session's inputs are stored: it neither reads the
    # signals (a megabyte of JSONB at 10,000 people) nor stores the items again.
    inputs: list[str] = []
    with monkeypatch.context() as patched:
        for name in ("calibration_signals", "record_calibration_items"):
            read = getattr(CampaignRecords, name)

            async def counted(*args: Any, name: str = name, read: Any = read) -> Any:
                inputs.append(name)
                return await read(*args)

            patched.setattr(CampaignRecords, name, counted)
        theirs = await api.ok("GET", f"/calibrations/big/scores?subject={one}")
    assert inputs == []
    assert flat(theirs["items"]) == dumped(s for s in calibrated.values() if s.subject == one)

    summary = await api.ok("POST", "/calibrations/big/complete")
    assert (summary["completed"], summary["subjects"], summary["adjustments"]) == (True, size, 3)
    decoded: list[str] = []
    decode = EventStore.decode

    async def counted(store: EventStore, envelope: Envelope) -> Any:
        decoded.append(envelope.event_type)
        return await decode(store, envelope)

    monkeypatch.setattr(EventStore, "decode", counted)
    assert await api.ok("GET", "/calibrations/big") == summary
    assert decoded
    assert "CalibrationCompleted" not in decoded, "every subject's final scores, opened again"
    monkeypatch.undo()
    completed = await api.completed("big")
    rolled = roll_up((s.subject, s.competency, s.calibrated) for s in calibrated.values())
    assert {s.subject: (s.scores, s.sub_skills) for s in completed.scores} == {
        subject: (dict(sorted(c.items())), dict(sorted(k.items())))
        for subject, (c, k) in rolled.items()
    }
    assert len(completed.adjustments) == 3
    log = api.store
    [findings] = [
        event
        for envelope in await log.read_stream("calibration-big")
        if isinstance(event := await log.decode(envelope), AnchorFindingsRecorded)
    ]
    assert findings.anchors == anchor_findings(ratings, results, positions, SCALE)
    assert findings.not_relevant == not_relevant_marks(ratings, positions)


async def test_opening_a_session_leaves_the_event_loop_free(
    api: AssessmentApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2,000 people, some 8,000 submissions: the session's inputs are computed a group of
    subjects at a time, in a worker thread, and a ticker on the service's event loop keeps
    ticking while the session opens (the 100 ms target is measured in bench/README.md; the
    bound here leaves room for a loaded machine)."""
    size = 2_000
    await seed_closed_campaign(api, "large", size)
    loop_thread = threading.get_ident()
    threads: list[int] = []
    add = PopulationTally.add

    def tallied(self: PopulationTally, ratings: Any) -> Any:
        threads.append(threading.get_ident())
        return add(self, ratings)

    monkeypatch.setattr(PopulationTally, "add", tallied)
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.002)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    # The collector's pauses are the interpreter's, and this process holds the test run's
    # objects too: what is measured is the session's own steps.
    gc.disable()
    ticking = asyncio.create_task(ticker())
    try:
        opened = await api.ok(
            "POST", "/calibrations", 201, json={"id": "large", "campaign_id": "large"}
        )
    finally:
        ticking.cancel()
        gc.enable()
    assert opened["subjects"] == size
    assert len(threads) == -(-size // calibration.SUBJECTS_PER_GROUP)
    assert loop_thread not in threads, "the aggregation ran on the event loop"
    longest = max(gaps)
    print(f"longest event-loop stall while opening a {size}-person session: {longest:.3f} s")
    assert longest < 0.5
