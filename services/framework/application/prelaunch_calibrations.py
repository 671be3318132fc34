"""Calibration before launch, as use cases (docs/framework.md, Calibration before
launch): HR opens an exercise on a framework's draft, invited raters rate its examples, HR
closes it and reads the report.

Each exercise is a stream of its own in the framework service's log (never the framework's
stream: a rating must not race a draft edit), of private events. Appends are guarded by the
stream version read, as draft edits are.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

from libs.events.concurrency import ConcurrencyError
from libs.events.envelope import EventMetadata
from libs.events.ports import EventLog
from services.framework.application.frameworks import load
from services.framework.domain.drafting import NoDraft
from services.framework.domain.prelaunch_calibration import (
    CalibrationReport,
    Example,
    PrelaunchCalibration,
    PrelaunchEvent,
    Rating,
)

# A rating that loses a race to another is decided again on fresh state, this many times at most.
ATTEMPTS = 10
EXERCISE_STREAMS = "prelaunch-calibration-"
"""What every exercise's stream id starts with."""


def exercise_stream(framework_id: str, exercise_id: str) -> str:
    # '/' is in neither id, so no two (framework, exercise) pairs share a stream.
    return f"{EXERCISE_STREAMS}{framework_id}/{exercise_id}"


class PrelaunchCalibrations:
    def __init__(self, events: EventLog) -> None:
        self.events = events

    async def exercise(self, framework_id: str, exercise_id: str) -> PrelaunchCalibration:
        exercise = PrelaunchCalibration(framework_id, exercise_id)
        stream = exercise_stream(framework_id, exercise_id)
        for envelope in await self.events.read_stream(stream):
            event = await self.events.decode(envelope)
            assert isinstance(event, PrelaunchEvent), envelope.event_type
            exercise.apply(event, envelope.stream_version)
        return exercise

    async def open(
        self,
        framework_id: str,
        exercise_id: str,
        actor: str,
        examples: list[Example],
        raters: list[str],
    ) -> PrelaunchCalibration:
        """Open an exercise on the draft as it stands (NoDraft when there is none)."""
        framework = await load(self.events, framework_id)
        if framework.draft is None:
            raise NoDraft(f"framework {framework_id!r} does not exist: create or import it first")
        exercise = await self.exercise(framework_id, exercise_id)
        events = exercise.open(framework.draft, framework.stream_version, examples, raters)
        return await self._append(exercise, actor, events)

    async def rate(
        self, framework_id: str, exercise_id: str, rater: str, example: str, rating: Rating
    ) -> PrelaunchCalibration:
        """Ratings of different raters never conflict, but they append to one stream: one
        that loses a race is decided again on fresh state (where the exercise may have
        closed meanwhile)."""
        for attempt in range(ATTEMPTS):
            exercise = await self.exercise(framework_id, exercise_id)
            events = exercise.rate(rater, example, rating)
            try:
                return await self._append(exercise, rater, events)
            except ConcurrencyError:
                if attempt == ATTEMPTS - 1:
                    raise
                # Raters often rate at the same moment: jitter, so the losers do not collide
                # again on the next attempt.
                await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def close(self, framework_id: str, exercise_id: str, actor: str) -> CalibrationReport:
        exercise = await self.exercise(framework_id, exercise_id)
        exercise = await self._append(exercise, actor, exercise.close(datetime.now(UTC)))
        return exercise.found

    async def report(self, framework_id: str, exercise_id: str) -> CalibrationReport:
        """The report as found at closing; refused while raters may still change ratings."""
        return (await self.exercise(framework_id, exercise_id)).found

    async def _append(
        self, exercise: PrelaunchCalibration, actor: str, events: list[PrelaunchEvent]
    ) -> PrelaunchCalibration:
        recorded = await self.events.append(
            exercise_stream(exercise.framework_id, exercise.exercise_id),
            exercise.stream_version,
            events,
            EventMetadata(actor=actor),
        )
        for event, envelope in zip(events, recorded, strict=True):
            exercise.apply(event, envelope.stream_version)
        return exercise
