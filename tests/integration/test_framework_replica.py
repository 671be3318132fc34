"""What a consuming service holds of the framework, from events alone (issue: framework
service: consumers never need to call its API)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from faststream.nats import NatsBroker
from psycopg_pool import AsyncConnectionPool

from libs.events.consumer import subscribe
from libs.events.envelope import Envelope
from libs.events.migrations import migrate
from libs.events.registry import registry
from libs.events.relay import OutboxRelay
from libs.events.schemas.framework import FrameworkPublished, SubSkill
from libs.events.store import EventStore
from libs.replicas.framework_versions import MIGRATIONS, FrameworkVersions
from libs.workflows.messages import FrameworkRef
from tests.support.backbone import eventually
from tests.support.envelopes import envelope
from tests.support.framework_api import FrameworkApi, framework_api
from tests.support.sample_frameworks import (
    anchors,
    replace_role,
    valid_framework,
    with_sub_skill,
    without_roles,
)

CONSUMER = "assessment"


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[FrameworkApi]:
    async with framework_api(database_url, tmp_path / "keys") as api:
        yield api


@pytest.fixture
async def consumer_store(database_url: str) -> AsyncIterator[EventStore]:
    migrate(database_url, CONSUMER, MIGRATIONS)
    async with AsyncConnectionPool(database_url, min_size=1, max_size=4, open=False) as pool:
        store = EventStore(pool, CONSUMER)
        yield store
        await store.close()


async def test_role_profiles_and_documents_are_kept_per_version(
    api: FrameworkApi, broker: NatsBroker, consumer_store: EventStore
) -> None:
    replica = FrameworkVersions(CONSUMER)
    for handler in replica.handlers():
        subscribe(broker, consumer_store, handler)
    await broker.start()
    first = valid_framework()
    raised = [q.model_copy(update={"target": 2}) for q in first.roles[0].requirements]
    second = without_roles(replace_role(first, first.roles[0].key, requirements=raised), "eng-m2")
    # the published document carries a sub-skill's own anchors (FrameworkPublished v6)
    apis = SubSkill(key="apis", name="Designs APIs", anchors=anchors("APIs", ["manager"]))
    second = with_sub_skill(second, "design", apis)
    for framework in (first, second):
        await api.ok("PUT", "/frameworks/eng/draft", json=framework.model_dump(mode="json"))
        await api.ok("POST", "/frameworks/eng/versions", 201, json={})
    relay = OutboxRelay(api.store, broker)
    while await relay.relay_once():
        pass

    async def all_rows_held() -> bool:
        async with consumer_store.pool.connection() as conn:
            cur = await conn.execute(f"SELECT count(*) FROM {CONSUMER}.role_profiles")
            row = await cur.fetchone()
        # version 1 announces every role; version 2 one changed and one removed
        return row is not None and row[0] == len(first.roles) + 2

    await eventually(all_rows_held, 30, "every RoleProfileChanged in the replica")
    role = first.roles[0]
    async with consumer_store.pool.connection() as conn:
        at_1 = await replica.role_profile(conn, "eng", 1, (role.family, role.track, role.level))
        at_2 = await replica.role_profile(conn, "eng", 2, (role.family, role.track, role.level))
        gone_1 = await replica.role_profile(conn, "eng", 1, ("eng", "manager", "M2"))
        gone_2 = await replica.role_profile(conn, "eng", 2, ("eng", "manager", "M2"))
        unchanged = first.roles[1]
        kept = await replica.role_profile(
            conn, "eng", 2, (unchanged.family, unchanged.track, unchanged.level)
        )
        document = await replica.framework(conn, "eng", 2)
    assert at_1 is not None
    assert at_2 is not None
    own = {q.competency for q in role.requirements}
    assert {q.target for q in at_1.requirements if q.competency in own} != {2}
    assert {q.target for q in at_2.requirements if q.competency in own} == {2}
    assert gone_1 is not None
    assert gone_2 is None, "a removed role is gone from its version on"
    assert kept is not None
    assert kept.key == unchanged.key, "unchanged roles carry over"
    assert document == second


async def test_a_version_is_held_only_once_every_role_profile_it_announced_has_arrived(
    api: FrameworkApi, consumer_store: EventStore
) -> None:
    """FrameworkPublished and the RoleProfileChanged events reach a consumer on durables of
    their own: confirming or reading the version before its role profiles would let a cycle
    or a campaign read a questionnaire the replica cannot build yet."""
    replica = FrameworkVersions(CONSUMER)
    framework = valid_framework()
    await api.ok("PUT", "/frameworks/eng/draft", json=framework.model_dump(mode="json"))
    await api.ok("POST", "/frameworks/eng/versions", 201, json={})
    log = await api.store.read_log(0, limit=1000)
    [published] = [e for e in log if e.event_type == "FrameworkPublished"]
    roles = [e for e in log if e.event_type == "RoleProfileChanged"]
    assert len(roles) == len(framework.roles)
    assert published.payload["role_changes"] == len(roles)
    ref = FrameworkRef(framework_id="eng", version=1)

    def decoded(recorded: Envelope) -> Any:
        return registry.decode(recorded.event_type, recorded.schema_version, recorded.payload)

    async with consumer_store.pool.connection() as conn:
        await replica.apply(conn, published, decoded(published))
        for envelope in roles[:-1]:
            await replica.apply_role(conn, envelope, decoded(envelope))
        assert await replica.holds(conn, ref) is None, "one role profile is still on its way"
        # Nor is it read: a campaign launched or a plan made on it would miss that role.
        assert await replica.framework(conn, "eng", 1) is None
        await replica.apply_role(conn, roles[-1], decoded(roles[-1]))
        assert await replica.holds(conn, ref) == 1
        assert await replica.framework(conn, "eng", 1) == framework


async def test_a_version_published_before_role_changes_were_counted_is_held_on_arrival(
    consumer_store: EventStore,
) -> None:
    """A v4 FrameworkPublished (no count) is held as soon as it arrives, as before."""
    replica = FrameworkVersions(CONSUMER)
    payload = FrameworkPublished(
        framework_id="old",
        version=1,
        revision="initial",
        published_at=datetime.now(UTC),
        framework=valid_framework(),
    ).model_dump(mode="json", exclude={"role_changes"})
    event = registry.decode("FrameworkPublished", 4, payload)
    recorded = envelope(event, "framework-old")  # type: ignore[arg-type]
    async with consumer_store.pool.connection() as conn:
        await replica.apply(conn, recorded, event)  # type: ignore[arg-type]
        assert await replica.holds(conn, FrameworkRef(framework_id="old", version=1)) == 1
