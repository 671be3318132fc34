"""The promotion use cases' ports in memory, for testing the application on its own.

A transaction works on a copy of the committed state and, if it wrote anything, replaces
it when the block ends without raising: a refused step leaves nothing behind, as on
PostgreSQL. Locks are held per transaction, so two overlapping runs see each other's.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any

from libs.events.envelope import Envelope
from libs.events.registry import IntegrationEvent
from libs.events.schemas.assessment import CalibrationCompleted
from libs.events.schemas.framework import EffectiveRoleProfile, Framework
from libs.events.schemas.hris import ProtectedAttributeRecorded
from libs.replicas.people import Person
from services.promotion.application.ports import Calibrated, PublishedCriteria
from services.promotion.domain.criteria import CriteriaSet
from services.promotion.domain.decision_log import EntryKind, LogEntry, next_entry
from services.promotion.domain.readiness import CalibratedScores


@dataclass(frozen=True)
class Actor:
    """Who acts, as the use cases see them (`Acting`)."""

    subject: str
    roles: frozenset[str]

    def has(self, role: str) -> bool:
        return role in self.roles


@dataclass(frozen=True)
class Known:
    framework_id: str
    version: int


@dataclass
class State:
    """Everything the ports hold; one copy per open transaction."""

    log: list[LogEntry] = field(default_factory=list)
    calibrations: list[Calibrated] = field(default_factory=list)
    criteria: list[PublishedCriteria] = field(default_factory=list)
    attributes: dict[tuple[str, str], tuple[str | None, int]] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)
    frameworks: dict[tuple[str, int], Framework] = field(default_factory=dict)
    profiles: dict[tuple[str, int, tuple[str, str, str]], EffectiveRoleProfile] = field(
        default_factory=dict
    )
    events: list[tuple[str, int, IntegrationEvent, str]] = field(default_factory=list)
    # Whether a transaction wrote to its copy.
    written: bool = False

    def copy(self) -> State:
        """Every container copied; what they hold is immutable."""
        containers = {
            f.name: type(value)(value)
            for f in fields(self)
            if isinstance(value := getattr(self, f.name), list | dict)
        }
        return replace(self, **containers, written=False)


class MemoryUnitOfWork:
    def __init__(self) -> None:
        self.state = State()
        self.held: set[str] = set()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[MemoryTransaction]:
        tx = MemoryTransaction(self, self.state.copy())
        try:
            yield tx
            if tx.state.written:
                self.state = tx.state
        finally:
            self.held -= tx.locks


class MemoryTransaction:
    def __init__(self, uow: MemoryUnitOfWork, state: State) -> None:
        self.uow = uow
        self.state = state
        self.locks: set[str] = set()
        self.log = MemoryLog(state)
        self.records = MemoryRecords(state)
        self.org_chart = MemoryOrgChart(state)
        self.frameworks = MemoryFrameworks(state)
        self.events = MemoryEvents(state)

    async def lock(self, name: str) -> None:
        # One coroutine at a time in these tests: a held lock would wait forever.
        assert name not in self.uow.held or name in self.locks, f"{name} is held"
        self._take(name)

    async def try_lock(self, name: str) -> bool:
        if name in self.uow.held and name not in self.locks:
            return False
        self._take(name)
        return True

    def _take(self, name: str) -> None:
        self.uow.held.add(name)
        self.locks.add(name)


class MemoryLog:
    def __init__(self, state: State) -> None:
        self.state = state

    async def lock(self) -> None:
        return None

    async def of_case(self, case_id: str) -> list[LogEntry]:
        return [e for e in self.state.log if e.case_id == case_id]

    async def of_employee(self, employee_id: str) -> list[LogEntry]:
        return [e for e in self.state.log if e.employee_id == employee_id]

    async def of_cycle(self, cycle_id: str) -> list[LogEntry]:
        cases = {
            e.case_id
            for e in self.state.log
            if e.kind == "nomination" and e.payload["cycle_id"] == cycle_id
        }
        return [e for e in self.state.log if e.case_id in cases]

    async def decisions(self) -> list[LogEntry]:
        return [e for e in self.state.log if e.kind in ("decision", "appeal_outcome")]

    async def append(
        self,
        *,
        kind: EntryKind,
        case_id: str,
        employee_id: str,
        actor: str,
        recorded_at: datetime,
        payload: Mapping[str, Any],
    ) -> LogEntry:
        entry = next_entry(
            self.state.log[-1] if self.state.log else None,
            kind=kind,
            case_id=case_id,
            employee_id=employee_id,
            actor=actor,
            recorded_at=recorded_at,
            payload=payload,
        )
        # Stored as read back: the payload as the JSON its body holds.
        assert entry.body is not None
        self.state.written = True
        self.state.log.append(LogEntry.from_body(entry.body, entry.hash))
        return entry

    async def batches(self) -> AsyncGenerator[list[LogEntry], None]:
        for start in range(0, len(self.state.log), 2):
            yield self.state.log[start : start + 2]


class MemoryRecords:
    def __init__(self, state: State) -> None:
        self.state = state

    async def record_calibration(self, event: CalibrationCompleted, at: datetime) -> bool:
        if any(c.scores.session_id == event.session_id for c in self.state.calibrations):
            return False
        self.state.written = True
        for s in event.scores:
            self.state.calibrations.append(
                Calibrated(
                    campaign_id=event.campaign_id,
                    completed_at=at,
                    position=tuple(s.position) if s.position else None,  # type: ignore[arg-type]
                    scores=CalibratedScores(
                        session_id=event.session_id,
                        framework_id=event.framework_id,
                        framework_version=event.framework_version,
                        subject=s.subject,
                        scores=s.scores,
                    ),
                )
            )
        return True

    async def latest_calibration(
        self, employee_id: str, framework_id: str | None = None
    ) -> Calibrated | None:
        found = [
            c
            for c in self.state.calibrations
            if c.scores.subject == employee_id and framework_id in (None, c.scores.framework_id)
        ]
        return max(found, key=lambda c: (c.completed_at, c.scores.session_id), default=None)

    async def calibration_of(self, session_id: str, employee_id: str) -> Calibrated | None:
        for c in self.state.calibrations:
            if (c.scores.session_id, c.scores.subject) == (session_id, employee_id):
                return c
        return None

    async def criteria(self, version: int | None = None) -> PublishedCriteria | None:
        found = [c for c in self.state.criteria if version in (None, c.criteria.version)]
        return found[-1] if found else None

    async def publish_criteria(self, draft: dict[str, Any], by: str, at: datetime) -> CriteriaSet:
        published = CriteriaSet.model_validate({**draft, "version": len(self.state.criteria) + 1})
        self.state.written = True
        self.state.criteria.append(PublishedCriteria(published, by, at))
        return published

    async def record_attribute(self, envelope: Envelope, event: ProtectedAttributeRecorded) -> None:
        key = (event.employee_id, event.attribute)
        held = self.state.attributes.get(key)
        if held is None or held[1] < envelope.stream_version:
            self.state.written = True
            self.state.attributes[key] = (event.value, envelope.stream_version)

    async def attribute(self, attribute: str) -> dict[str, str | None]:
        return {p: v for (p, a), (v, _) in self.state.attributes.items() if a == attribute}


class MemoryOrgChart:
    def __init__(self, state: State) -> None:
        self.state = state

    async def person(self, employee_id: str) -> Person | None:
        return self.state.people.get(employee_id)

    async def managers_of(self, employee_id: str) -> list[str]:
        above: list[str] = []
        person = self.state.people.get(employee_id)
        while person is not None and person.manager_id and person.manager_id not in above:
            above.append(person.manager_id)
            person = self.state.people.get(person.manager_id)
        return above


class MemoryFrameworks:
    def __init__(self, state: State) -> None:
        self.state = state

    async def framework(self, framework_id: str, version: int) -> Framework | None:
        return self.state.frameworks.get((framework_id, version))

    async def role_profile(
        self, framework_id: str, version: int, position: tuple[str, str, str]
    ) -> EffectiveRoleProfile | None:
        return self.state.profiles.get((framework_id, version, position))

    async def all(self) -> list[Known]:
        return [Known(fid, version) for fid, version in sorted(self.state.frameworks)]


class MemoryEvents:
    def __init__(self, state: State) -> None:
        self.state = state

    async def publish(
        self, stream: str, expected: int, event: IntegrationEvent, actor: str
    ) -> None:
        held = sum(1 for s, *_ in self.state.events if s == stream)
        assert held == expected, f"{stream} is at version {held}, not {expected}"
        self.state.written = True
        self.state.events.append((stream, expected + 1, event, actor))
