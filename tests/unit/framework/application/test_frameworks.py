"""The framework service's use cases on in-memory ports: drafting, publishing a version with
its read-model row in one transaction, finding versions by number or instant, and the anchor
reviews calibration feeds back (docs/domain.md §4). The same flows run on PostgreSQL in
tests/integration/test_framework_service.py."""

from __future__ import annotations

import pytest

from libs.events.envelope import Appended
from libs.events.schemas.framework import Framework, FrameworkPublished
from services.framework.application.frameworks import Frameworks, stream_of
from services.framework.domain.drafting import FrameworkAggregate, PublicationRefused
from tests.support.envelopes import envelope
from tests.support.framework_memory import MemoryFrameworkWork, memory_frameworks
from tests.support.sample_frameworks import (
    anchors_found_inconsistent,
    reword_anchor,
    valid_framework,
)

ID, HR = "eng", "alice"


@pytest.fixture
def world() -> tuple[Frameworks, MemoryFrameworkWork]:
    return memory_frameworks()


def reworded(framework: Framework, text: str) -> Framework:
    """The first competency's first anchor reworded: a minor revision."""
    chosen = framework.competencies[0]
    anchor = chosen.anchors[0]
    return reword_anchor(framework, chosen.key, anchor.track, anchor.proficiency, text)


async def imported(frameworks: Frameworks, framework: Framework) -> None:
    await frameworks.execute(ID, HR, lambda a: a.replace(framework, "eng.yaml"))


async def test_draft_commands_append_to_the_frameworks_stream_and_load_back(
    world: tuple[Frameworks, MemoryFrameworkWork],
) -> None:
    frameworks, work = world
    started = await frameworks.execute(ID, HR, lambda a: a.start("Engineering"))
    assert started.draft is not None
    assert started.draft.name == "Engineering"
    changed = await frameworks.execute(
        ID, "bob", lambda a: a.change_settings({"name": "Engineering ladder"})
    )
    assert changed.stream_version == 2
    loaded = await frameworks.draft(ID)
    assert (loaded.draft, loaded.stream_version) == (changed.draft, 2)
    assert [e.actor for e in work.events.stream(stream_of(ID))] == [HR, "bob"]


async def test_publishing_records_the_version_with_its_events(
    world: tuple[Frameworks, MemoryFrameworkWork],
) -> None:
    frameworks, work = world
    await imported(frameworks, valid_framework())
    published, warnings = await frameworks.publish(ID, HR)
    assert (published.version, published.revision) == (1, "initial")
    assert all(w.severity != "error" for w in warnings)
    events = work.events.events(stream_of(ID))
    assert [e for e in events if isinstance(e, FrameworkPublished)] == [published]
    [summary] = await frameworks.history(ID)
    assert (summary.version, summary.actor, summary.published_at) == (
        1,
        HR,
        published.published_at,
    )
    found = await frameworks.published(ID)
    assert found is not None
    assert found.framework == valid_framework()


async def test_a_refused_publication_writes_nothing(
    world: tuple[Frameworks, MemoryFrameworkWork],
) -> None:
    frameworks, work = world
    await frameworks.execute(ID, HR, lambda a: a.start("Empty"))
    before = list(work.events.envelopes)
    with pytest.raises(PublicationRefused, match="no role profiles"):
        await frameworks.publish(ID, HR)
    assert work.events.envelopes == before
    assert await frameworks.history(ID) == []


async def test_a_version_is_published_whole_or_not_at_all(
    world: tuple[Frameworks, MemoryFrameworkWork], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The events and the published-versions row are one transaction: when the row cannot
    be written, no FrameworkPublished is on the stream either."""
    frameworks, work = world
    await imported(frameworks, valid_framework())
    before = list(work.events.envelopes)

    async def broken(envelope: Appended, event: FrameworkPublished) -> None:
        raise OSError("the read model is unreachable")

    monkeypatch.setattr(work.versions, "record", broken)
    with pytest.raises(OSError, match="unreachable"):
        await frameworks.publish(ID, HR)
    assert work.events.envelopes == before
    assert await frameworks.published(ID) is None


async def test_versions_are_found_by_number_by_instant_or_latest(
    world: tuple[Frameworks, MemoryFrameworkWork],
) -> None:
    frameworks, _ = world
    first = valid_framework()
    second = reworded(first, "Writes tests nobody has to explain")
    await imported(frameworks, first)
    v1, _ = await frameworks.publish(ID, HR)
    await imported(frameworks, second)
    v2, _ = await frameworks.publish(ID, HR)
    assert (v2.version, v2.revision) == (2, "minor")

    assert [v.version for v in await frameworks.history(ID)] == [1, 2]
    [latest] = await frameworks.latest_of_each()
    assert (latest.framework_id, latest.version) == (ID, 2)
    by_number = await frameworks.published(ID, version=1)
    in_force = await frameworks.published(ID, as_of=v1.published_at)
    newest = await frameworks.published(ID)
    assert by_number is not None
    assert in_force is not None
    assert newest is not None
    assert (by_number.framework, in_force.version, newest.framework) == (first, 1, second)
    assert await frameworks.published(ID, version=3) is None
    assert await frameworks.published("unknown") is None


async def test_loading_from_the_latest_whole_documents_equals_replaying_the_stream(
    world: tuple[Frameworks, MemoryFrameworkWork],
) -> None:
    """`load` starts at the latest publication or replacement, not at the stream's start:
    the state it builds is the one the whole stream gives."""
    frameworks, work = world
    base = valid_framework()
    await imported(frameworks, base)
    await frameworks.publish(ID, HR)
    await imported(frameworks, reworded(base, "Second wording"))
    await frameworks.publish(ID, HR)
    await imported(frameworks, reworded(base, "Third wording"))
    await frameworks.execute(ID, HR, lambda a: a.change_settings({"name": "Renamed"}))

    replayed = FrameworkAggregate(ID)
    for recorded in work.events.stream(stream_of(ID)):
        replayed.apply(await work.events.decode(recorded), recorded.stream_version)
    loaded = await frameworks.draft(ID)
    assert loaded.stream_version == replayed.stream_version
    assert loaded.draft == replayed.draft
    assert loaded.latest == replayed.latest
    assert loaded.latest is not None
    assert loaded.latest.version == 2


async def test_anchor_reviews_are_kept_once_and_listed_worst_first(
    world: tuple[Frameworks, MemoryFrameworkWork],
) -> None:
    frameworks, work = world
    found = anchors_found_inconsistent(ID)
    for _ in range(2):  # redelivered: recorded once
        await frameworks.on_inconsistent_anchors(work, envelope(found, "calibration-autumn"), found)
    listed = await frameworks.anchor_reviews(ID)
    assert [(r.competency, r.share) for r in listed] == [("design", 0.6), ("testing", 0.2)]
    assert await frameworks.anchor_reviews(ID, since_version=2) == []
    assert await frameworks.anchor_reviews("other") == []
