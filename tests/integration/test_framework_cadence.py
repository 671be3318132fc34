"""The framework's review and revision cadence on PostgreSQL, through its HTTP API and its
periodic check (docs/domain.md §2, Upkeep; docs/framework.md, Review and revision cadence).

The clock is moved on rather than waited for; the check's announcements land once however
many checkers race and however often one restarts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from faststream.nats import NatsBroker

from libs.events.envelope import Envelope, EventMetadata
from libs.events.registry import Event
from libs.events.relay import OutboxRelay
from libs.events.store import EventStore
from libs.events.subjects import EVENT_STREAM
from services.framework.adapters.cadence_schedule import check_on_schedule
from services.framework.adapters.postgres.work import Database
from services.framework.application.cadence import (
    ACTOR,
    FrameworkCadence,
    cadence_stream,
)
from services.framework.domain.cadence import CadencePolicy, add_months
from tests.support.framework_api import FrameworkApi, framework_api
from tests.support.sample_frameworks import add_level, level, reword_anchor, valid_framework

ID = "eng"


class Clock:
    """A clock a test moves on."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def move_to(self, at: datetime) -> None:
        self.now = at


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[FrameworkApi]:
    async with framework_api(database_url, tmp_path / "keys") as api:
        yield api


@pytest.fixture
def clock(api: FrameworkApi) -> Clock:
    clock = Clock()
    api.app.state.framework_cadence.clock = clock
    return clock


def checker(api: FrameworkApi, clock: Clock, events: Any = None) -> FrameworkCadence:
    """A checker as another replica (or the same one restarted) builds it."""
    return FrameworkCadence(events or api.store, Database(api.store), CadencePolicy(), clock)


async def publish(api: FrameworkApi, framework_id: str = ID, **body: Any) -> dict[str, Any]:
    framework = valid_framework()
    versions = await api.ok("GET", "/frameworks", headers=api.hr)
    if framework_id not in {v["framework_id"] for v in versions["items"]}:
        await api.ok("PUT", f"/frameworks/{framework_id}/draft", json=_json(framework))
    return await api.ok("POST", f"/frameworks/{framework_id}/versions", 201, json=body)


def _json(framework: Any) -> dict[str, Any]:
    return framework.model_dump(mode="json")


async def announced(api: FrameworkApi, framework_id: str = ID) -> list[Envelope]:
    return [
        e
        for e in await api.store.read_stream(cadence_stream(framework_id))
        if e.event_type in ("FrameworkReviewDue", "FrameworkRevisionDue")
    ]


async def test_past_the_review_age_the_review_is_due_and_announced_once(
    api: FrameworkApi, clock: Clock, broker: NatsBroker
) -> None:
    published = await publish(api)
    at = datetime.fromisoformat(published["published_at"])
    state = await api.ok("GET", f"/frameworks/{ID}/cadence")
    assert (state["review"], state["major_revision"], state["status"]) == (
        "current",
        "current",
        "current",
    )
    assert state["last_review"] == {
        "version": 1,
        "at": published["published_at"],
        "by": "publication",
    }
    assert await checker(api, clock).check() == [], "nothing due yet"

    clock.move_to(add_months(at, 12) + timedelta(minutes=1))
    state = await api.ok("GET", f"/frameworks/{ID}/cadence")
    assert (state["review"], state["major_revision"], state["status"]) == ("due", "current", "due")
    assert datetime.fromisoformat(state["review_due_at"]) == add_months(at, 12)
    first = await checker(api, clock).check()
    assert [e.event_type for e in first] == ["FrameworkReviewDue"]
    assert await checker(api, clock).check() == [], "a restarted checker finds it announced"
    clock.move_to(add_months(at, 13))
    assert await checker(api, clock).check() == [], "still the same due period"
    (envelope,) = await announced(api)
    assert envelope.actor == ACTOR
    assert envelope.payload["last_reviewed_at"] == published["published_at"]

    relay = OutboxRelay(api.store, broker)
    while await relay.relay_once():
        pass
    js = broker.connection.jetstream()
    sub = await js.pull_subscribe(
        "talentledger.framework.framework_review_due.v1", stream=EVENT_STREAM
    )
    try:
        (message,) = await sub.fetch(1, timeout=5)
        assert b'"framework_id":"eng"' in message.data.replace(b" ", b"")
        with pytest.raises(TimeoutError):
            await sub.fetch(1, timeout=1)
    finally:
        # A pull subscription left open makes the broker's stop wait out its drain timeout.
        await sub.unsubscribe()


async def test_two_checkers_racing_announce_each_due_period_once(
    api: FrameworkApi, clock: Clock
) -> None:
    published = await publish(api)
    clock.move_to(add_months(datetime.fromisoformat(published["published_at"]), 37))
    late = checker(api, clock, StaleAppends(api.store, checker(api, clock)))
    appended = await late.check()
    assert appended == [], "the other checker announced first; the late one found it so"
    kinds = sorted(e.event_type for e in await announced(api))
    assert kinds == ["FrameworkReviewDue", "FrameworkRevisionDue"]

    sales = await publish(api, "sales")
    clock.move_to(add_months(datetime.fromisoformat(sales["published_at"]), 13))
    rounds = await asyncio.gather(*(checker(api, clock).check() for _ in range(4)))
    landed = [e for found in rounds for e in found if e.framework_id == "sales"]
    assert sorted(e.event_type for e in landed) == ["FrameworkReviewDue"]
    assert len(await announced(api, "sales")) == 1
    assert len(await announced(api)) == 2, "eng's periods were announced already"


class StaleAppends:
    """An event log whose first append waits for another checker to run a whole round:
    the append then expects a stream version the other has moved on."""

    def __init__(self, store: EventStore, other: FrameworkCadence) -> None:
        self.store = store
        self.other: FrameworkCadence | None = other

    async def append(
        self, stream_id: str, expected: int, events: Sequence[Event], metadata: EventMetadata
    ) -> list[Envelope]:
        if self.other is not None:
            other, self.other = self.other, None
            assert len(await other.check()) == 2
        return await self.store.append(stream_id, expected, events, metadata)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


async def test_a_review_hr_records_restarts_the_review_and_names_its_author(
    api: FrameworkApi, clock: Clock
) -> None:
    first = await publish(api)
    start = datetime.fromisoformat(first["published_at"])
    clock.move_to(add_months(start, 13))
    assert [e.event_type for e in await checker(api, clock).check()] == ["FrameworkReviewDue"]
    await api.ok("POST", f"/frameworks/{ID}/reviews", 409, json={"version": 2})
    reviewed = await api.ok("POST", f"/frameworks/{ID}/reviews", 201, json={"version": 1})
    assert reviewed["review"] == "current"
    assert reviewed["last_review"] == {"version": 1, "at": _iso(clock.now), "by": "review"}
    assert reviewed["last_change"]["version"] == 1, "a review without a change touches nothing"
    changes = await api.ok(
        "GET", "/privacy/people/hannah-hr", headers=api.as_("po", "privacy_officer")
    )
    made = next(s for s in changes["sections"] if s["topic"] == "framework changes they made")
    assert {"framework_id": ID, "change": "FrameworkReviewRecorded"}.items() <= made["items"][
        -1
    ].items()


async def test_a_major_version_restarts_the_review_and_the_revision_a_minor_the_review(
    api: FrameworkApi, clock: Clock
) -> None:
    first = await publish(api)
    start = datetime.fromisoformat(first["published_at"])
    framework = add_level(valid_framework(), "eng", "ic", level("L9", 9))
    await api.ok("PUT", f"/frameworks/{ID}/draft", json=_json(framework))
    clock.move_to(add_months(start, 40))
    state = await api.ok("GET", f"/frameworks/{ID}/cadence")
    assert (state["major_revision"], state["status"]) == ("due", "at_risk")
    major = await api.ok("POST", f"/frameworks/{ID}/versions", 201, json={})
    assert major["revision"] == "major"
    # (versions are published at the real time: the clock is brought back to it)
    clock.move_to(datetime.fromisoformat(major["published_at"]) + timedelta(days=1))
    state = await api.ok("GET", f"/frameworks/{ID}/cadence")
    assert state["last_major_revision"]["version"] == 2
    assert (state["review"], state["major_revision"], state["at_risk"]) == (
        "current",
        "current",
        False,
    )

    minor = reword_anchor(framework, "coding", "ic", 3, "Writes code others extend easily")
    await api.ok("PUT", f"/frameworks/{ID}/draft", json=_json(minor))
    assert (await api.ok("POST", f"/frameworks/{ID}/versions", 201, json={}))["revision"] == "minor"
    state = await api.ok("GET", f"/frameworks/{ID}/cadence")
    assert (state["last_review"]["version"], state["last_major_revision"]["version"]) == (3, 2)


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


async def test_every_frameworks_cadence_is_listed_for_hr_and_auditors_only(
    api: FrameworkApi, clock: Clock
) -> None:
    await api.ok("GET", f"/frameworks/{ID}/cadence", 404)
    await api.ok("POST", f"/frameworks/{ID}/reviews", 404, json={"version": 1})
    await publish(api)
    await publish(api, "sales")
    listed = await api.ok("GET", "/framework-cadence", headers=api.as_("aude", "auditor"))
    assert [c["framework_id"] for c in listed["items"]] == ["eng", "sales"]
    for headers in (api.employee, api.as_("max", "manager")):
        await api.ok("GET", "/framework-cadence", 403, headers=headers)
        await api.ok("GET", f"/frameworks/{ID}/cadence", 403, headers=headers)
    refused = await api.ok(
        "POST",
        f"/frameworks/{ID}/reviews",
        403,
        json={"version": 1},
        headers=api.as_("aude", "auditor"),
    )
    assert "hr_admin" in refused["detail"]
    await api.ok("POST", f"/frameworks/{ID}/reviews", 422, json={"version": 0})
    assert await announced(api) == [], "reading and refusals announce nothing"


class CountedRounds(FrameworkCadence):
    """A checker that says when it has run three rounds."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.rounds = 0
        self.three = asyncio.Event()

    async def check(self) -> list[Any]:
        found = await super().check()
        self.rounds += 1
        if self.rounds == 3:
            self.three.set()
        return found


async def test_the_scheduled_check_announces_once_over_many_rounds_and_stops(
    api: FrameworkApi, clock: Clock
) -> None:
    published = await publish(api)
    clock.move_to(add_months(datetime.fromisoformat(published["published_at"]), 12))
    counted = CountedRounds(api.store, Database(api.store), CadencePolicy(), clock)
    stop = asyncio.Event()
    task = asyncio.create_task(check_on_schedule(counted, stop, 0.01))
    await asyncio.wait_for(counted.three.wait(), 30)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert [e.event_type for e in await announced(api)] == ["FrameworkReviewDue"]
