"""In-memory implementations of the ports every service's application shares: the event log
and the unit of work (docs/architecture.md §1, Inside a service), and the replicas several
services keep alike (libs/replicas: the org chart, the framework versions). Application tests
run on them in milliseconds; the PostgreSQL adapters have integration tests of their own."""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Generic, TypeVar

from libs.events.envelope import Appended, Envelope, EventMetadata
from libs.events.registry import IntegrationEvent, registry
from libs.events.schemas.framework import EffectiveRoleProfile, Framework
from libs.events.store import ConcurrencyError
from libs.personal.sealing import ERASED
from libs.replicas.people import Person, RoleFact
from services.framework.domain.profiles import effective_profiles

W = TypeVar("W")


class MemoryEventLog:
    """One service's log in a list. An append names the stream's expected version and, on a
    conflict, raises and writes nothing (docs/architecture.md §3, Append)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.envelopes: list[Envelope] = []

    def stream(self, stream_id: str) -> list[Envelope]:
        return [e for e in self.envelopes if e.stream_id == stream_id]

    def events(self, stream_id: str) -> list[IntegrationEvent]:
        return [self._decoded(e) for e in self.stream(stream_id)]

    def everything(self) -> list[IntegrationEvent]:
        """Every event of the log, in the order appended."""
        return [self._decoded(e) for e in self.envelopes]

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[IntegrationEvent],
        metadata: EventMetadata,
    ) -> list[Appended]:
        if not events:
            return []
        current = len(self.stream(stream_id))
        if current != expected_version:
            raise ConcurrencyError(stream_id, expected_version, current)
        now = datetime.now(UTC)
        appended = [
            Envelope(
                event_id=uuid.uuid4(),
                event_type=event.event_type,
                schema_version=event.schema_version,
                source=self.source,
                stream_id=stream_id,
                stream_version=current + n,
                global_position=len(self.envelopes) + n,
                occurred_at=now,
                recorded_at=now,
                actor=metadata.actor,
                correlation_id=metadata.correlation_id,
                causation_id=metadata.causation_id,
                payload=event.model_dump(mode="json"),
            )
            for n, event in enumerate(events, start=1)
        ]
        self.envelopes += appended
        return [
            Appended(
                e.event_id,
                e.event_type,
                e.schema_version,
                e.stream_id,
                e.stream_version,
                e.occurred_at,
                e.actor,
                e.correlation_id,
                e.causation_id,
            )
            for e in appended
        ]

    async def read_stream(
        self, stream_id: str, *, after_version: int = 0, until_version: int | None = None
    ) -> list[Envelope]:
        return [
            e
            for e in self.stream(stream_id)
            if e.stream_version > after_version
            and (until_version is None or e.stream_version <= until_version)
        ]

    async def read_streams(self, after: Mapping[str, int]) -> dict[str, list[Envelope]]:
        return {
            stream: await self.read_stream(stream, after_version=version)
            for stream, version in after.items()
        }

    async def last_version_of(self, stream_id: str, event_types: Sequence[str]) -> int:
        found = [e.stream_version for e in self.stream(stream_id) if e.event_type in event_types]
        return max(found, default=0)

    async def decode(self, envelope: Envelope) -> IntegrationEvent:
        return self._decoded(envelope)

    @staticmethod
    def _decoded(envelope: Envelope) -> IntegrationEvent:
        # Kept in memory, nothing is sealed: personal fields are in clear, as they read.
        return registry.decode(envelope.event_type, envelope.schema_version, envelope.payload)


class MemoryUnitOfWork(Generic[W]):
    """Hands out one in-memory `work`. A transaction that raises puts every object in
    `kept` back as it found it, as a rollback would; `commits` and `rollbacks` count them."""

    def __init__(self, work: W, *kept: object) -> None:
        self.work = work
        self.kept = kept
        self.commits = 0
        self.rollbacks = 0
        # What each open transaction, innermost last, puts back if it rolls back: the
        # transactions of a test nest, they never interleave.
        self._saved: list[list[dict[str, object]]] = []

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[W]:
        yield self.work

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[W]:
        self._saved.append(self._state())
        try:
            yield self.work
        except BaseException:
            for kept, state in zip(self.kept, self._saved[-1], strict=True):
                vars(kept).clear()
                vars(kept).update(state)
            self.rollbacks += 1
            raise
        finally:
            self._saved.pop()
        self.commits += 1

    def committed_meanwhile(self) -> None:
        """What changed since the innermost open transaction began was committed by another
        transaction: a rollback of this one keeps it."""
        if self._saved:
            self._saved[-1] = self._state()

    def _state(self) -> list[dict[str, object]]:
        return [copy.deepcopy(vars(kept)) for kept in self.kept]


def person(
    employee_id: str,
    manager_id: str | None = None,
    *,
    department: str = "Platform",
    job_family: str | None = "eng",
    track: str = "ic",
    level: str | None = "L3",
    left: bool = False,
    level_since: date | None = date(2024, 1, 2),
) -> Person:
    """Someone for the org chart to hire, hired in 2024 at the level they hold (`left`: gone
    since mid-2025)."""
    return Person(
        employee_id=employee_id,
        name=None,
        department=department,
        job_family=job_family,
        track=track,
        level=level,
        manager_id=manager_id,
        hired_on=date(2024, 1, 2),
        left_on=date(2025, 6, 30) if left else None,
        level_since=level_since,
    )


class MemoryOrgChart:
    """The org chart replica's queries, on the people hired here."""

    def __init__(self) -> None:
        self.people: dict[str, Person] = {}
        self.histories: dict[str, list[RoleFact]] = {}
        # The HRIS versions marked seen by handlers of events the org chart does not keep.
        self.seen_versions: dict[str, set[int]] = {}

    def hire(self, *people: Person) -> None:
        for p in people:
            self.people[p.employee_id] = p

    def leave(self, employee_id: str, on: date) -> None:
        self.people[employee_id] = self.people[employee_id].model_copy(update={"left_on": on})

    async def erase(self, employee_id: str) -> int:
        found = self.people.get(employee_id)
        if found is None or found.name == ERASED:
            return 0
        self.people[employee_id] = found.model_copy(update={"name": ERASED})
        return 1

    async def person(self, employee_id: str) -> Person | None:
        return self.people.get(employee_id)

    async def seen(self, envelope: Envelope, employee_id: str) -> None:
        self.seen_versions.setdefault(employee_id, set()).add(envelope.stream_version)

    async def position_history(self, employee_id: str) -> list[RoleFact]:
        return list(self.histories.get(employee_id, []))

    async def reports_of(self, manager_id: str) -> list[Person]:
        return [
            p
            for _, p in sorted(self.people.items())
            if p.manager_id == manager_id and p.left_on is None
        ]

    async def everyone(self) -> list[Person]:
        return [p for _, p in sorted(self.people.items())]

    async def managers_of(self, employee_id: str) -> list[str]:
        chain: list[str] = []
        person = self.people.get(employee_id)
        while person is not None and person.manager_id and person.manager_id not in chain:
            chain.append(person.manager_id)
            person = self.people.get(person.manager_id)
        return chain

    async def around(self, subject: str, also: Iterable[str] = ()) -> list[Person]:
        named = {subject, *also}
        if (found := self.people.get(subject)) is not None and found.manager_id:
            named.add(found.manager_id)
        return [
            p
            for i, p in sorted(self.people.items())
            if i in named or (p.manager_id == subject and p.left_on is None)
        ]


@dataclass(frozen=True)
class KnownVersion:
    framework_id: str
    version: int


class MemoryFrameworkVersions:
    """The framework versions replica's queries, on the versions published here."""

    def __init__(self) -> None:
        self.versions: dict[tuple[str, int], Framework] = {}

    def publish(self, framework_id: str, version: int, framework: Framework) -> None:
        self.versions[(framework_id, version)] = framework

    async def framework(self, framework_id: str, version: int) -> Framework | None:
        return self.versions.get((framework_id, version))

    async def role_profile(
        self, framework_id: str, version: int, position: tuple[str, str, str]
    ) -> EffectiveRoleProfile | None:
        """As of that version: from the latest version at or before it that has the role."""
        for (fid, v), framework in sorted(self.versions.items(), reverse=True):
            if fid == framework_id and v <= version:
                for profile in effective_profiles(framework).values():
                    if (profile.family, profile.track, profile.level) == position:
                        return profile
        return None

    async def all(self) -> list[KnownVersion]:
        return [KnownVersion(fid, version) for fid, version in sorted(self.versions)]
